//! The `scale_actions` read model in PostgreSQL: a request's decision and
//! its outcome are upserted into one row, in whichever order they arrive.

use super::codec::{self, text, Cols};
use crate::error::StoreError;
use crate::store::{
    ScaleActionFilter, ScaleActionRow, ScaleRequestRow, ScaleResult, ScaleResultRow, MAX_LIMIT,
};
use sqlx::{PgPool, Postgres, Transaction};

type Tx = Transaction<'static, Postgres>;

pub async fn upsert_request(tx: &mut Tx, r: &ScaleRequestRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO scale_actions (request_id, scaler, trigger, from_replicas, to_replicas,
                                    query_value, raw_desired, stabilized, limited_by,
                                    limiting_policy, reason, tick_at, result, updated_at)
         VALUES ($1::uuid, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $12)
         ON CONFLICT (request_id) DO UPDATE SET
             trigger = excluded.trigger, from_replicas = excluded.from_replicas,
             to_replicas = excluded.to_replicas, query_value = excluded.query_value,
             raw_desired = excluded.raw_desired, stabilized = excluded.stabilized,
             limited_by = excluded.limited_by, limiting_policy = excluded.limiting_policy,
             reason = excluded.reason, tick_at = excluded.tick_at",
    )
    .bind(r.request_id.to_string())
    .bind(text(&r.scaler))
    .bind(text(&r.trigger))
    .bind(i64::from(r.from_replicas))
    .bind(i64::from(r.to_replicas))
    .bind(r.query_value)
    .bind(r.raw_desired.map(i64::from))
    .bind(r.stabilized.map(i64::from))
    .bind(codec::json(&r.limited_by))
    .bind(codec::opt_text(&r.limiting_policy))
    .bind(text(&r.reason))
    .bind(r.tick_at)
    .bind(ScaleResult::Requested.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn upsert_result(tx: &mut Tx, r: &ScaleResultRow) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO scale_actions (request_id, scaler, result, observed_replicas,
                                    applied_replicas, error, attempts, updated_at)
         VALUES ($1::uuid, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (request_id) DO UPDATE SET
             result = excluded.result,
             observed_replicas = COALESCE(excluded.observed_replicas, scale_actions.observed_replicas),
             applied_replicas = COALESCE(excluded.applied_replicas, scale_actions.applied_replicas),
             error = excluded.error,
             attempts = COALESCE(excluded.attempts, scale_actions.attempts),
             updated_at = excluded.updated_at",
    )
    .bind(r.request_id.to_string())
    .bind(text(&r.scaler))
    .bind(r.result.as_str())
    .bind(r.observed_replicas.map(i64::from))
    .bind(r.applied_replicas.map(i64::from))
    .bind(codec::opt_text(&r.error))
    .bind(r.attempts.map(i64::from))
    .bind(r.at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn scale_actions(
    pool: &PgPool,
    filter: &ScaleActionFilter,
) -> Result<Vec<ScaleActionRow>, StoreError> {
    let rows = sqlx::query(
        "SELECT request_id::text AS request_id, scaler, trigger, from_replicas, to_replicas,
                query_value, raw_desired, stabilized, limited_by, limiting_policy, reason,
                tick_at, result, observed_replicas, applied_replicas, error, attempts, updated_at
         FROM scale_actions WHERE ($1::text IS NULL OR scaler = $1)
         ORDER BY COALESCE(tick_at, updated_at) DESC, scale_actions.request_id DESC LIMIT $2",
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
                scaler: c.get("scaler")?,
                trigger: c.get("trigger")?,
                from_replicas: c.opt_u32("from_replicas")?,
                to_replicas: c.opt_u32("to_replicas")?,
                query_value: c.finite_f64("query_value")?,
                raw_desired: c.opt_u32("raw_desired")?,
                stabilized: c.opt_u32("stabilized")?,
                limited_by: c.json("limited_by")?,
                limiting_policy: c.get("limiting_policy")?,
                reason: c.get("reason")?,
                tick_at: c.get("tick_at")?,
                result: c.name("result")?,
                observed_replicas: c.opt_u32("observed_replicas")?,
                applied_replicas: c.opt_u32("applied_replicas")?,
                error: c.get("error")?,
                attempts: c.opt_u32("attempts")?,
                updated_at: c.get("updated_at")?,
            })
        })
        .collect()
}
