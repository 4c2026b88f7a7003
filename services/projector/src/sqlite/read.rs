//! The queries behind the API and the gauges, and turning rows back into
//! typed values.

use super::codec::{self, Cols};
use crate::error::StoreError;
use crate::store::{
    ActionFailureRow, AlertFilter, AlertRow, Checkpoint, DeliveryRow, DeployFilter, DeployRow,
    HistoryFilter, IssueFilter, IssueRow, IssueState, MAX_LIMIT,
};
use closeloop_core::events::AlertState;
use closeloop_log::Offset;
use sqlx::sqlite::SqliteRow;
use sqlx::SqlitePool;

fn limit(l: u32) -> i64 {
    i64::from(l.min(MAX_LIMIT))
}

fn offset(table: &'static str, v: i64) -> Result<Offset, StoreError> {
    Offset::try_from(v).map_err(|e| StoreError::Corrupt {
        table,
        column: "next_offset",
        reason: e.to_string(),
    })
}

pub async fn checkpoint(
    pool: &SqlitePool,
    consumer: &str,
    topic: &str,
    partition: u32,
) -> Result<Option<Offset>, StoreError> {
    let stored: Option<i64> = sqlx::query_scalar(
        "SELECT next_offset FROM checkpoints WHERE consumer = ?1 AND topic = ?2 AND partition = ?3",
    )
    .bind(consumer)
    .bind(topic)
    .bind(i64::from(partition))
    .fetch_optional(pool)
    .await?;
    stored.map(|v| offset("checkpoints", v)).transpose()
}

pub async fn checkpoints(pool: &SqlitePool, consumer: &str) -> Result<Vec<Checkpoint>, StoreError> {
    let rows = sqlx::query(
        "SELECT consumer, topic, partition, next_offset FROM checkpoints WHERE consumer = ?1
         ORDER BY topic, partition",
    )
    .bind(consumer)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let c = Cols {
                row,
                table: "checkpoints",
            };
            Ok(Checkpoint {
                consumer: c.text("consumer")?,
                topic: c.text("topic")?,
                partition: c.u32("partition")?,
                next_offset: offset("checkpoints", c.int("next_offset")?)?,
            })
        })
        .collect()
}

pub async fn alerts(pool: &SqlitePool, filter: &AlertFilter) -> Result<Vec<AlertRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT * FROM alerts WHERE (?1 IS NULL OR state = ?1)
         ORDER BY active_at DESC, fingerprint",
    )
    .bind(filter.state.map(codec::alert_state))
    .fetch_all(pool)
    .await?;
    rows.iter().map(alert_row).collect()
}

fn alert_row(row: &SqliteRow) -> Result<AlertRow, StoreError> {
    let c = Cols {
        row,
        table: "alerts",
    };
    Ok(AlertRow {
        fingerprint: c.text("fingerprint")?,
        alertname: c.text("alertname")?,
        rule_group: c.text("rule_group")?,
        state: c.name("state")?,
        labels: c.json("labels")?,
        annotations: c.json("annotations")?,
        value: c.opt_f64("value")?,
        active_at: c.time("active_at")?,
        fired_at: c.opt_time("fired_at")?,
        resolved_at: c.opt_time("resolved_at")?,
        suspect_deploys: c.json("suspect_deploys")?,
        generator_url: c.opt_text("generator_url")?,
        updated_at: c.time("updated_at")?,
    })
}

pub async fn deploys(
    pool: &SqlitePool,
    filter: &DeployFilter,
) -> Result<Vec<DeployRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT * FROM deploys
         WHERE (?1 IS NULL OR service = ?1) AND (?2 IS NULL OR environment = ?2)
         ORDER BY occurred_at DESC, event_id DESC LIMIT ?3",
    )
    .bind(&filter.service)
    .bind(&filter.environment)
    .bind(limit(filter.limit))
    .fetch_all(pool)
    .await?;
    rows.iter().map(deploy_row).collect()
}

fn deploy_row(row: &SqliteRow) -> Result<DeployRow, StoreError> {
    let c = Cols {
        row,
        table: "deploys",
    };
    Ok(DeployRow {
        id: c.uuid("event_id")?,
        service: c.text("service")?,
        environment: c.text("environment")?,
        version: c.text("version")?,
        status: c.name("status")?,
        started_at: c.opt_time("started_at")?,
        finished_at: c.opt_time("finished_at")?,
        occurred_at: c.time("occurred_at")?,
        commits: c.json("commits")?,
        actor: c.opt_text("actor")?,
        url: c.opt_text("url")?,
        labels: c.json("labels")?,
    })
}

pub async fn issues(pool: &SqlitePool, filter: &IssueFilter) -> Result<Vec<IssueRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT * FROM issues WHERE (?1 IS NULL OR state = ?1)
         ORDER BY last_event_at DESC, fingerprint, issue_id",
    )
    .bind(filter.state.map(codec::issue_state))
    .fetch_all(pool)
    .await?;
    rows.iter().map(issue_row).collect()
}

fn issue_row(row: &SqliteRow) -> Result<IssueRow, StoreError> {
    let c = Cols {
        row,
        table: "issues",
    };
    Ok(IssueRow {
        receiver: c.text("receiver")?,
        integration: c.text("integration")?,
        fingerprint: c.text("fingerprint")?,
        tracker: c.text("tracker")?,
        issue_id: c.text("issue_id")?,
        url: c.opt_text("url")?,
        title: c.opt_text("title")?,
        state: c.name("state")?,
        occurrences: c.u32("occurrences")?,
        adopted: c.bool("adopted")?,
        filed_at: c.opt_time("filed_at")?,
        closed_at: c.opt_time("closed_at")?,
        last_event_at: c.time("last_event_at")?,
    })
}

pub async fn deliveries(
    pool: &SqlitePool,
    filter: &HistoryFilter,
) -> Result<Vec<DeliveryRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT * FROM deliveries WHERE (?1 IS NULL OR request_id = ?1)
         ORDER BY occurred_at DESC, event_id DESC LIMIT ?2",
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
                receiver: c.text("receiver")?,
                integration: c.text("integration")?,
                kind: c.name("kind")?,
                fingerprint: c.opt_text("fingerprint")?,
                target: c.text("target")?,
                http_status: c.opt_u16("http_status")?,
                attempts: c.opt_u32("attempts")?,
                occurred_at: c.time("occurred_at")?,
            })
        })
        .collect()
}

pub async fn action_failures(
    pool: &SqlitePool,
    filter: &HistoryFilter,
) -> Result<Vec<ActionFailureRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT * FROM action_failures WHERE (?1 IS NULL OR request_id = ?1)
         ORDER BY occurred_at DESC, event_id DESC LIMIT ?2",
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
                receiver: c.text("receiver")?,
                integration: c.text("integration")?,
                attempt: c.u32("attempt")?,
                error: c.text("error")?,
                retryable: c.bool("retryable")?,
                gave_up: c.bool("gave_up")?,
                next_attempt_at: c.opt_time("next_attempt_at")?,
                occurred_at: c.time("occurred_at")?,
            })
        })
        .collect()
}

pub async fn alert_counts(pool: &SqlitePool) -> Result<Vec<(AlertState, u64)>, StoreError> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT state, COUNT(*) FROM alerts GROUP BY state")
            .fetch_all(pool)
            .await?;
    Ok(crate::store::counts_by_state(&rows))
}

pub async fn open_issue_count(pool: &SqlitePool) -> Result<u64, StoreError> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM issues WHERE state = ?1")
        .bind(IssueState::Open.as_str())
        .fetch_one(pool)
        .await?;
    Ok(u64::try_from(n).unwrap_or(0))
}
