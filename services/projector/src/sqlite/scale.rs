//! The `scale_actions` read model in SQLite: a request's decision and its
//! outcome are upserted into one row, in whichever order they arrive.

use super::codec::{self, Cols};
use crate::error::StoreError;
use crate::store::{
    ScaleActionFilter, ScaleActionRow, ScaleRequestRow, ScaleResult, ScaleResultRow, MAX_LIMIT,
};
use sqlx::{Sqlite, SqlitePool, Transaction};

type Tx = Transaction<'static, Sqlite>;

pub async fn upsert_request(tx: &mut Tx, r: &ScaleRequestRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO scale_actions (request_id, scaler, trigger, from_replicas, to_replicas,
                                    query_value, raw_desired, stabilized, limited_by,
                                    limiting_policy, reason, tick_at, result, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?12)
         ON CONFLICT (request_id) DO UPDATE SET
             trigger = excluded.trigger, from_replicas = excluded.from_replicas,
             to_replicas = excluded.to_replicas, query_value = excluded.query_value,
             raw_desired = excluded.raw_desired, stabilized = excluded.stabilized,
             limited_by = excluded.limited_by, limiting_policy = excluded.limiting_policy,
             reason = excluded.reason, tick_at = excluded.tick_at",
    )
    .bind(r.request_id.to_string())
    .bind(&r.scaler)
    .bind(&r.trigger)
    .bind(i64::from(r.from_replicas))
    .bind(i64::from(r.to_replicas))
    .bind(r.query_value.and_then(codec::finite))
    .bind(r.raw_desired.map(i64::from))
    .bind(r.stabilized.map(i64::from))
    .bind(codec::json(&r.limited_by))
    .bind(&r.limiting_policy)
    .bind(&r.reason)
    .bind(codec::time(&r.tick_at))
    .bind(ScaleResult::Requested.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn upsert_result(tx: &mut Tx, r: &ScaleResultRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO scale_actions (request_id, scaler, result, observed_replicas,
                                    applied_replicas, error, attempts, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (request_id) DO UPDATE SET
             result = excluded.result,
             observed_replicas = COALESCE(excluded.observed_replicas, scale_actions.observed_replicas),
             applied_replicas = COALESCE(excluded.applied_replicas, scale_actions.applied_replicas),
             error = excluded.error,
             attempts = COALESCE(excluded.attempts, scale_actions.attempts),
             updated_at = excluded.updated_at",
    )
    .bind(r.request_id.to_string())
    .bind(&r.scaler)
    .bind(r.result.as_str())
    .bind(r.observed_replicas.map(i64::from))
    .bind(r.applied_replicas.map(i64::from))
    .bind(&r.error)
    .bind(r.attempts.map(i64::from))
    .bind(codec::time(&r.at))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn scale_actions(
    pool: &SqlitePool,
    filter: &ScaleActionFilter,
) -> Result<Vec<ScaleActionRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT * FROM scale_actions WHERE (?1 IS NULL OR scaler = ?1)
         ORDER BY COALESCE(tick_at, updated_at) DESC, request_id DESC LIMIT ?2",
    )
    .bind(&filter.scaler)
    .bind(i64::from(filter.limit.min(MAX_LIMIT)))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let c = Cols {
                row,
                table: "scale_actions",
            };
            Ok(ScaleActionRow {
                request_id: c.uuid("request_id")?,
                scaler: c.text("scaler")?,
                trigger: c.opt_text("trigger")?,
                from_replicas: c.opt_u32("from_replicas")?,
                to_replicas: c.opt_u32("to_replicas")?,
                query_value: c.opt_f64("query_value")?,
                raw_desired: c.opt_u32("raw_desired")?,
                stabilized: c.opt_u32("stabilized")?,
                limited_by: c.json("limited_by")?,
                limiting_policy: c.opt_text("limiting_policy")?,
                reason: c.opt_text("reason")?,
                tick_at: c.opt_time("tick_at")?,
                result: c.name("result")?,
                observed_replicas: c.opt_u32("observed_replicas")?,
                applied_replicas: c.opt_u32("applied_replicas")?,
                error: c.opt_text("error")?,
                attempts: c.opt_u32("attempts")?,
                updated_at: c.time("updated_at")?,
            })
        })
        .collect()
}
