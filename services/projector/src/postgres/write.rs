//! Applying a batch: lock the partition's checkpoint row, then every
//! change not yet applied, then the new checkpoint, in one transaction.
//!
//! The row lock is what makes overlapping projector processes safe: during
//! a consumer group rebalance two processes may briefly follow the same
//! partition. The second to arrive waits on the lock, then sees the
//! first's committed checkpoint and skips what it already applied, so an
//! older batch never overwrites the rows of a newer one.

use super::codec::{self, offset, text};
use crate::error::StoreError;
use crate::projection::{Change, IssueChange, IssueChangeKind};
use crate::store::{alert_state_name, ActionFailureRow, Applied, Batch, DeliveryRow};
use chrono::{DateTime, Utc};
use closeloop_core::events::{AlertEvent, AlertState, DeployRecorded};
use sqlx::{PgPool, Postgres, Transaction};
use std::borrow::Cow;
use uuid::Uuid;

type Tx = Transaction<'static, Postgres>;

pub async fn apply(pool: &PgPool, batch: &Batch) -> Result<Applied, StoreError> {
    let cp = &batch.checkpoint;
    let consumer = text(&cp.consumer);
    let topic = text(&cp.topic);
    let partition = i64::from(cp.partition);
    let mut tx = pool.begin().await?;

    // The first batch of a partition creates its checkpoint row, which
    // holds the lock until commit; a concurrent first batch waits on the
    // insert and then finds the row. Every later batch locks the row.
    let created: Option<i64> = sqlx::query_scalar(
        "INSERT INTO checkpoints (consumer, topic, partition, next_offset)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (consumer, topic, partition) DO NOTHING
         RETURNING next_offset",
    )
    .bind(&consumer)
    .bind(&topic)
    .bind(partition)
    .bind(offset(cp.next_offset))
    .fetch_optional(&mut *tx)
    .await?;
    let stored: Option<i64> = match created {
        Some(_) => None,
        None => Some(
            sqlx::query_scalar(
                "SELECT next_offset FROM checkpoints
                 WHERE consumer = $1 AND topic = $2 AND partition = $3
                 FOR UPDATE",
            )
            .bind(&consumer)
            .bind(&topic)
            .bind(partition)
            .fetch_one(&mut *tx)
            .await?,
        ),
    };
    let applied_up_to = stored.unwrap_or(0);
    if stored.is_some() && offset(cp.next_offset) <= applied_up_to {
        tx.rollback().await?;
        return Ok(Applied {
            already_applied: batch.changes.len(),
            ..Applied::default()
        });
    }

    let mut applied = Applied::default();
    let mut last_record = None;
    for (at_offset, change) in &batch.changes {
        if offset(*at_offset) < applied_up_to {
            applied.already_applied += 1;
            continue;
        }
        apply_change(&mut tx, change).await?;
        applied.changes += 1;
        if last_record != Some(*at_offset) {
            applied.events += 1;
            last_record = Some(*at_offset);
        }
    }
    if stored.is_some() {
        sqlx::query(
            "UPDATE checkpoints SET next_offset = $4
             WHERE consumer = $1 AND topic = $2 AND partition = $3",
        )
        .bind(&consumer)
        .bind(&topic)
        .bind(partition)
        .bind(offset(cp.next_offset))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(applied)
}

async fn apply_change(tx: &mut Tx, change: &Change) -> Result<(), StoreError> {
    match change {
        Change::DeployRecorded {
            event_id,
            occurred_at,
            deploy,
        } => insert_deploy(tx, event_id, occurred_at, deploy).await,
        Change::AlertTransitioned {
            event_id,
            occurred_at,
            state,
            alert,
        } => upsert_alert(tx, event_id, occurred_at, *state, alert).await,
        Change::AlertCleared { fingerprint } => {
            sqlx::query("DELETE FROM alerts WHERE fingerprint = $1")
                .bind(text(fingerprint))
                .execute(&mut **tx)
                .await?;
            Ok(())
        }
        Change::Issue(issue) => upsert_issue(tx, issue).await,
        Change::Delivered(row) => insert_delivery(tx, row).await,
        Change::ActionFailed(row) => insert_failure(tx, row).await,
        Change::ScaleRequested(row) => super::scale::upsert_request(tx, row).await,
        Change::ScaleResult(row) => super::scale::upsert_result(tx, row).await,
        Change::Dora(change) => super::dora::apply(tx, change).await,
    }
}

async fn insert_deploy(
    tx: &mut Tx,
    event_id: &Uuid,
    occurred_at: &DateTime<Utc>,
    d: &DeployRecorded,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO deploys (event_id, service, environment, version, status, started_at,
                              finished_at, occurred_at, commits, actor, url, labels)
         VALUES ($1::uuid, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
         ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(event_id.to_string())
    .bind(text(&d.service))
    .bind(text(&d.environment))
    .bind(text(&d.version))
    .bind(d.status.as_str())
    .bind(d.started_at)
    .bind(d.finished_at)
    .bind(occurred_at)
    .bind(codec::json(&d.commits))
    .bind(codec::opt_text(&d.actor))
    .bind(codec::opt_text(&d.url))
    .bind(codec::json(&d.labels))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn upsert_alert(
    tx: &mut Tx,
    event_id: &Uuid,
    occurred_at: &DateTime<Utc>,
    state: AlertState,
    a: &AlertEvent,
) -> Result<(), StoreError> {
    // The row is the latest transition as a whole: every column is
    // replaced, so a new pending episode after a resolution starts clean.
    // The value goes in as evaluated, NaN and infinities included.
    sqlx::query(
        "INSERT INTO alerts (fingerprint, alertname, rule_group, state, labels, annotations, value,
                             active_at, fired_at, resolved_at, suspect_deploys, generator_url,
                             updated_at, last_event_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::uuid)
         ON CONFLICT (fingerprint) DO UPDATE SET
             alertname = excluded.alertname, rule_group = excluded.rule_group,
             state = excluded.state, labels = excluded.labels,
             annotations = excluded.annotations, value = excluded.value,
             active_at = excluded.active_at, fired_at = excluded.fired_at,
             resolved_at = excluded.resolved_at, suspect_deploys = excluded.suspect_deploys,
             generator_url = excluded.generator_url, updated_at = excluded.updated_at,
             last_event_id = excluded.last_event_id",
    )
    .bind(text(&a.fingerprint))
    .bind(text(&a.alertname))
    .bind(text(&a.rule_group))
    .bind(alert_state_name(state))
    .bind(codec::json(&a.labels))
    .bind(codec::json(&a.annotations))
    .bind(a.value)
    .bind(a.active_at)
    .bind(a.fired_at)
    .bind(a.resolved_at)
    .bind(codec::json(&a.suspect_deploys))
    .bind(codec::opt_text(&a.generator_url))
    .bind(occurred_at)
    .bind(event_id.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The insert half of every issue upsert; each kind of change adds its own
/// `ON CONFLICT` clause.
macro_rules! insert_issue {
    () => {
        "INSERT INTO issues (receiver, integration, fingerprint, issue_id, tracker, url, title,
                             state, occurrences, adopted, filed_at, closed_at, last_event_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
         ON CONFLICT (receiver, integration, fingerprint, issue_id) DO UPDATE SET "
    };
}

/// The row an issue change inserts when the issue is not known yet (a log
/// that starts mid-story), and the statement that updates it otherwise.
struct IssueUpsert<'c> {
    sql: &'static str,
    state: &'static str,
    url: Option<Cow<'c, str>>,
    title: Option<Cow<'c, str>>,
    adopted: bool,
    occurrences: u32,
    filed_at: Option<DateTime<Utc>>,
    closed_at: Option<DateTime<Utc>>,
}

fn issue_upsert(c: &IssueChange) -> IssueUpsert<'_> {
    let unknown = IssueUpsert {
        sql: "",
        state: "open",
        url: None,
        title: None,
        adopted: false,
        occurrences: 1,
        filed_at: None,
        closed_at: None,
    };
    match &c.kind {
        IssueChangeKind::Filed {
            url,
            title,
            adopted,
        } => IssueUpsert {
            sql: concat!(
                insert_issue!(),
                "tracker = excluded.tracker, url = excluded.url, title = excluded.title,
                 adopted = excluded.adopted,
                 filed_at = COALESCE(issues.filed_at, excluded.filed_at),
                 last_event_at = excluded.last_event_at"
            ),
            url: Some(text(url)),
            title: Some(text(title)),
            adopted: *adopted,
            filed_at: Some(c.at),
            ..unknown
        },
        IssueChangeKind::Commented { occurrences } => IssueUpsert {
            sql: concat!(
                insert_issue!(),
                "occurrences = excluded.occurrences, last_event_at = excluded.last_event_at"
            ),
            occurrences: *occurrences,
            ..unknown
        },
        IssueChangeKind::Closed => IssueUpsert {
            sql: concat!(
                insert_issue!(),
                "state = 'closed', closed_at = excluded.closed_at,
                 last_event_at = excluded.last_event_at"
            ),
            state: "closed",
            closed_at: Some(c.at),
            ..unknown
        },
        IssueChangeKind::Reopened => IssueUpsert {
            sql: concat!(
                insert_issue!(),
                "state = 'open', closed_at = NULL, last_event_at = excluded.last_event_at"
            ),
            ..unknown
        },
    }
}

async fn upsert_issue(tx: &mut Tx, c: &IssueChange) -> Result<(), StoreError> {
    let u = issue_upsert(c);
    sqlx::query(u.sql)
        .bind(text(&c.key.receiver))
        .bind(text(&c.key.integration))
        .bind(text(&c.key.fingerprint))
        .bind(text(&c.key.issue_id))
        .bind(text(&c.tracker))
        .bind(u.url)
        .bind(u.title)
        .bind(u.state)
        .bind(i64::from(u.occurrences))
        .bind(u.adopted)
        .bind(u.filed_at)
        .bind(u.closed_at)
        .bind(c.at)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn insert_delivery(tx: &mut Tx, d: &DeliveryRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO deliveries (event_id, request_id, receiver, integration, kind, fingerprint,
                                 target, http_status, attempts, occurred_at)
         VALUES ($1::uuid, $2::uuid, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(d.event_id.to_string())
    .bind(d.request_id.to_string())
    .bind(text(&d.receiver))
    .bind(text(&d.integration))
    .bind(d.kind.as_str())
    .bind(codec::opt_text(&d.fingerprint))
    .bind(text(&d.target))
    .bind(d.http_status.map(i32::from))
    .bind(d.attempts.map(i64::from))
    .bind(d.occurred_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn insert_failure(tx: &mut Tx, f: &ActionFailureRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO action_failures (event_id, request_id, receiver, integration, attempt, error,
                                      retryable, gave_up, next_attempt_at, occurred_at)
         VALUES ($1::uuid, $2::uuid, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(f.event_id.to_string())
    .bind(f.request_id.to_string())
    .bind(text(&f.receiver))
    .bind(text(&f.integration))
    .bind(i64::from(f.attempt))
    .bind(text(&f.error))
    .bind(f.retryable)
    .bind(f.gave_up)
    .bind(f.next_attempt_at)
    .bind(f.occurred_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
