//! Applying a batch: every change, then the checkpoint, in one `BEGIN
//! IMMEDIATE` transaction, skipping what the stored checkpoint says is
//! already applied.

use super::codec::{self, offset};
use crate::error::StoreError;
use crate::projection::{Change, IssueChange, IssueChangeKind};
use crate::store::{ActionFailureRow, Applied, Batch, DeliveryRow};
use chrono::{DateTime, Utc};
use closeloop_core::events::{AlertEvent, AlertState, DeployRecorded};
use sqlx::{Sqlite, SqlitePool, Transaction};
use uuid::Uuid;

type Tx = Transaction<'static, Sqlite>;

pub async fn apply(pool: &SqlitePool, batch: &Batch) -> Result<Applied, StoreError> {
    let cp = &batch.checkpoint;
    // IMMEDIATE takes the write lock up front, so reading the checkpoint
    // and writing rows cannot interleave with another writer.
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let stored: Option<i64> = sqlx::query_scalar(
        "SELECT next_offset FROM checkpoints WHERE consumer = ?1 AND topic = ?2 AND partition = ?3",
    )
    .bind(&cp.consumer)
    .bind(&cp.topic)
    .bind(i64::from(cp.partition))
    .fetch_optional(&mut *tx)
    .await?;
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
    sqlx::query(
        "INSERT INTO checkpoints (consumer, topic, partition, next_offset) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (consumer, topic, partition) DO UPDATE SET next_offset = excluded.next_offset",
    )
    .bind(&cp.consumer)
    .bind(&cp.topic)
    .bind(i64::from(cp.partition))
    .bind(offset(cp.next_offset))
    .execute(&mut *tx)
    .await?;
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
            sqlx::query("DELETE FROM alerts WHERE fingerprint = ?1")
                .bind(fingerprint)
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
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
         ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(event_id.to_string())
    .bind(&d.service)
    .bind(&d.environment)
    .bind(&d.version)
    .bind(codec::deploy_status(d.status))
    .bind(codec::opt_time(&d.started_at))
    .bind(codec::opt_time(&d.finished_at))
    .bind(codec::time(occurred_at))
    .bind(codec::json(&d.commits))
    .bind(&d.actor)
    .bind(&d.url)
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
    sqlx::query(
        "INSERT INTO alerts (fingerprint, alertname, rule_group, state, labels, annotations, value,
                             active_at, fired_at, resolved_at, suspect_deploys, generator_url,
                             updated_at, last_event_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
         ON CONFLICT (fingerprint) DO UPDATE SET
             alertname = excluded.alertname, rule_group = excluded.rule_group,
             state = excluded.state, labels = excluded.labels,
             annotations = excluded.annotations, value = excluded.value,
             active_at = excluded.active_at, fired_at = excluded.fired_at,
             resolved_at = excluded.resolved_at, suspect_deploys = excluded.suspect_deploys,
             generator_url = excluded.generator_url, updated_at = excluded.updated_at,
             last_event_id = excluded.last_event_id",
    )
    .bind(&a.fingerprint)
    .bind(&a.alertname)
    .bind(&a.rule_group)
    .bind(codec::alert_state(state))
    .bind(codec::json(&a.labels))
    .bind(codec::json(&a.annotations))
    .bind(codec::finite(a.value))
    .bind(codec::time(&a.active_at))
    .bind(codec::opt_time(&a.fired_at))
    .bind(codec::opt_time(&a.resolved_at))
    .bind(codec::json(&a.suspect_deploys))
    .bind(&a.generator_url)
    .bind(codec::time(occurred_at))
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
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
         ON CONFLICT (receiver, integration, fingerprint, issue_id) DO UPDATE SET "
    };
}

/// The row an issue change inserts when the issue is not known yet (a log
/// that starts mid-story), and the statement that updates it otherwise.
struct IssueUpsert {
    sql: &'static str,
    state: &'static str,
    url: Option<String>,
    title: Option<String>,
    adopted: bool,
    occurrences: u32,
    filed_at: Option<String>,
    closed_at: Option<String>,
}

fn issue_upsert(c: &IssueChange) -> IssueUpsert {
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
            url: Some(url.clone()),
            title: Some(title.clone()),
            adopted: *adopted,
            filed_at: Some(codec::time(&c.at)),
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
            closed_at: Some(codec::time(&c.at)),
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
        .bind(&c.key.receiver)
        .bind(&c.key.integration)
        .bind(&c.key.fingerprint)
        .bind(&c.key.issue_id)
        .bind(&c.tracker)
        .bind(u.url)
        .bind(u.title)
        .bind(u.state)
        .bind(i64::from(u.occurrences))
        .bind(u.adopted)
        .bind(u.filed_at)
        .bind(u.closed_at)
        .bind(codec::time(&c.at))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

async fn insert_delivery(tx: &mut Tx, d: &DeliveryRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO deliveries (event_id, request_id, receiver, integration, kind, fingerprint,
                                 target, http_status, attempts, occurred_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(d.event_id.to_string())
    .bind(d.request_id.to_string())
    .bind(&d.receiver)
    .bind(&d.integration)
    .bind(codec::delivery_kind(d.kind))
    .bind(&d.fingerprint)
    .bind(&d.target)
    .bind(d.http_status.map(i64::from))
    .bind(d.attempts.map(i64::from))
    .bind(codec::time(&d.occurred_at))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn insert_failure(tx: &mut Tx, f: &ActionFailureRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO action_failures (event_id, request_id, receiver, integration, attempt, error,
                                      retryable, gave_up, next_attempt_at, occurred_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(f.event_id.to_string())
    .bind(f.request_id.to_string())
    .bind(&f.receiver)
    .bind(&f.integration)
    .bind(i64::from(f.attempt))
    .bind(&f.error)
    .bind(f.retryable)
    .bind(f.gave_up)
    .bind(codec::opt_time(&f.next_attempt_at))
    .bind(codec::time(&f.occurred_at))
    .execute(&mut **tx)
    .await?;
    Ok(())
}
