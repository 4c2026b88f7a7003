//! The queries behind the API and the gauges, and turning rows back into
//! typed values. Each query orders rows as its SQLite twin does, ties
//! included, so both backends answer the same.

use super::codec::{text, Cols};
use crate::error::StoreError;
use crate::store::{
    alert_state_name, ActionFailureRow, AlertFilter, AlertRow, Checkpoint, DeliveryRow,
    DeployFilter, DeployRow, HistoryFilter, IssueFilter, IssueRow, IssueState, MAX_LIMIT,
};
use closeloop_core::events::AlertState;
use closeloop_log::Offset;
use sqlx::postgres::PgRow;
use sqlx::PgPool;

fn limit(l: u32) -> i64 {
    i64::from(l.min(MAX_LIMIT))
}

pub async fn checkpoint(
    pool: &PgPool,
    consumer: &str,
    topic: &str,
    partition: u32,
) -> Result<Option<Offset>, StoreError> {
    let row = sqlx::query(
        "SELECT next_offset FROM checkpoints
         WHERE consumer = $1 AND topic = $2 AND partition = $3",
    )
    .bind(text(consumer))
    .bind(text(topic))
    .bind(i64::from(partition))
    .fetch_optional(pool)
    .await?;
    row.map(|row| {
        Cols {
            row: &row,
            table: "checkpoints",
        }
        .offset("next_offset")
    })
    .transpose()
}

pub async fn checkpoints(pool: &PgPool, consumer: &str) -> Result<Vec<Checkpoint>, StoreError> {
    let rows = sqlx::query(
        "SELECT consumer, topic, partition, next_offset FROM checkpoints WHERE consumer = $1
         ORDER BY topic, partition",
    )
    .bind(text(consumer))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let c = Cols {
                row,
                table: "checkpoints",
            };
            Ok(Checkpoint {
                consumer: c.get("consumer")?,
                topic: c.get("topic")?,
                partition: c.u32("partition")?,
                next_offset: c.offset("next_offset")?,
            })
        })
        .collect()
}

pub async fn alerts(pool: &PgPool, filter: &AlertFilter) -> Result<Vec<AlertRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT fingerprint, alertname, rule_group, state, labels, annotations, value,
                active_at, fired_at, resolved_at, suspect_deploys, generator_url, updated_at
         FROM alerts WHERE ($1::text IS NULL OR state = $1)
         ORDER BY active_at DESC, fingerprint",
    )
    .bind(filter.state.map(alert_state_name))
    .fetch_all(pool)
    .await?;
    rows.iter().map(alert_row).collect()
}

fn alert_row(row: &PgRow) -> Result<AlertRow, StoreError> {
    let c = Cols {
        row,
        table: "alerts",
    };
    Ok(AlertRow {
        fingerprint: c.get("fingerprint")?,
        alertname: c.get("alertname")?,
        rule_group: c.get("rule_group")?,
        state: c.name("state")?,
        labels: c.json("labels")?,
        annotations: c.json("annotations")?,
        value: c.finite_f64("value")?,
        active_at: c.get("active_at")?,
        fired_at: c.get("fired_at")?,
        resolved_at: c.get("resolved_at")?,
        suspect_deploys: c.json("suspect_deploys")?,
        generator_url: c.get("generator_url")?,
        updated_at: c.get("updated_at")?,
    })
}

pub async fn deploys(pool: &PgPool, filter: &DeployFilter) -> Result<Vec<DeployRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT event_id::text AS event_id, service, environment, version, status, started_at,
                finished_at, occurred_at, commits, actor, url, labels
         FROM deploys
         WHERE ($1::text IS NULL OR service = $1) AND ($2::text IS NULL OR environment = $2)
         ORDER BY occurred_at DESC, deploys.event_id DESC LIMIT $3",
    )
    .bind(filter.service.as_deref().map(text))
    .bind(filter.environment.as_deref().map(text))
    .bind(limit(filter.limit))
    .fetch_all(pool)
    .await?;
    rows.iter().map(deploy_row).collect()
}

fn deploy_row(row: &PgRow) -> Result<DeployRow, StoreError> {
    let c = Cols {
        row,
        table: "deploys",
    };
    Ok(DeployRow {
        id: c.uuid("event_id")?,
        service: c.get("service")?,
        environment: c.get("environment")?,
        version: c.get("version")?,
        status: c.name("status")?,
        started_at: c.get("started_at")?,
        finished_at: c.get("finished_at")?,
        occurred_at: c.get("occurred_at")?,
        commits: c.json("commits")?,
        actor: c.get("actor")?,
        url: c.get("url")?,
        labels: c.json("labels")?,
    })
}

pub async fn issues(pool: &PgPool, filter: &IssueFilter) -> Result<Vec<IssueRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT receiver, integration, fingerprint, tracker, issue_id, url, title, state,
                occurrences, adopted, filed_at, closed_at, last_event_at
         FROM issues WHERE ($1::text IS NULL OR state = $1)
         ORDER BY last_event_at DESC, fingerprint, issue_id",
    )
    .bind(filter.state.map(IssueState::as_str))
    .fetch_all(pool)
    .await?;
    rows.iter().map(issue_row).collect()
}

fn issue_row(row: &PgRow) -> Result<IssueRow, StoreError> {
    let c = Cols {
        row,
        table: "issues",
    };
    Ok(IssueRow {
        receiver: c.get("receiver")?,
        integration: c.get("integration")?,
        fingerprint: c.get("fingerprint")?,
        tracker: c.get("tracker")?,
        issue_id: c.get("issue_id")?,
        url: c.get("url")?,
        title: c.get("title")?,
        state: c.name("state")?,
        occurrences: c.u32("occurrences")?,
        adopted: c.get("adopted")?,
        filed_at: c.get("filed_at")?,
        closed_at: c.get("closed_at")?,
        last_event_at: c.get("last_event_at")?,
    })
}

pub async fn deliveries(
    pool: &PgPool,
    filter: &HistoryFilter,
) -> Result<Vec<DeliveryRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT event_id::text AS event_id, request_id::text AS request_id, receiver,
                integration, kind, fingerprint, target, http_status, attempts, occurred_at
         FROM deliveries WHERE ($1::uuid IS NULL OR deliveries.request_id = $1::uuid)
         ORDER BY occurred_at DESC, deliveries.event_id DESC LIMIT $2",
    )
    .bind(filter.request_id.map(|id| id.to_string()))
    .bind(limit(filter.limit))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let c = Cols {
                row,
                table: "deliveries",
            };
            Ok(DeliveryRow {
                event_id: c.uuid("event_id")?,
                request_id: c.uuid("request_id")?,
                receiver: c.get("receiver")?,
                integration: c.get("integration")?,
                kind: c.name("kind")?,
                fingerprint: c.get("fingerprint")?,
                target: c.get("target")?,
                http_status: c.opt_u16("http_status")?,
                attempts: c.opt_u32("attempts")?,
                occurred_at: c.get("occurred_at")?,
            })
        })
        .collect()
}

pub async fn action_failures(
    pool: &PgPool,
    filter: &HistoryFilter,
) -> Result<Vec<ActionFailureRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT event_id::text AS event_id, request_id::text AS request_id, receiver,
                integration, attempt, error, retryable, gave_up, next_attempt_at, occurred_at
         FROM action_failures
         WHERE ($1::uuid IS NULL OR action_failures.request_id = $1::uuid)
         ORDER BY occurred_at DESC, action_failures.event_id DESC LIMIT $2",
    )
    .bind(filter.request_id.map(|id| id.to_string()))
    .bind(limit(filter.limit))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let c = Cols {
                row,
                table: "action_failures",
            };
            Ok(ActionFailureRow {
                event_id: c.uuid("event_id")?,
                request_id: c.uuid("request_id")?,
                receiver: c.get("receiver")?,
                integration: c.get("integration")?,
                attempt: c.u32("attempt")?,
                error: c.get("error")?,
                retryable: c.get("retryable")?,
                gave_up: c.get("gave_up")?,
                next_attempt_at: c.get("next_attempt_at")?,
                occurred_at: c.get("occurred_at")?,
            })
        })
        .collect()
}

pub async fn alert_counts(pool: &PgPool) -> Result<Vec<(AlertState, u64)>, StoreError> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT state, COUNT(*) FROM alerts GROUP BY state")
            .fetch_all(pool)
            .await?;
    Ok(crate::store::counts_by_state(&rows))
}

pub async fn open_issue_count(pool: &PgPool) -> Result<u64, StoreError> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM issues WHERE state = $1")
        .bind(IssueState::Open.as_str())
        .fetch_one(pool)
        .await?;
    Ok(u64::try_from(n).unwrap_or(0))
}
