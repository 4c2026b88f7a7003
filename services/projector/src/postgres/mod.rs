//! The distributed read-model store: a PostgreSQL database shared by every
//! projector process and API replica, migrated at connect from
//! `migrations/postgres`.

mod codec;
mod dora;
mod read;
mod scale;
mod write;

pub use codec::NUL_REPLACEMENT;

use crate::error::StoreError;
use crate::open::redacted;
use crate::store::{
    ActionFailureRow, AlertFilter, AlertRow, Applied, Batch, Checkpoint, DeliveryRow, DeployFilter,
    DeployRow, HistoryFilter, IssueFilter, IssueRow, ReadStore, ScaleActionFilter, ScaleActionRow,
};
use async_trait::async_trait;
use closeloop_core::events::AlertState;
use closeloop_log::Offset;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgPool};
use std::str::FromStr;
use std::time::Duration;

/// Connections per process: one per partition follower applying a batch
/// at a time, plus the API's readers. PostgreSQL's default
/// `max_connections` of 100 leaves room for several processes.
pub const MAX_CONNECTIONS: u32 = 10;

/// How long a query waits for a free connection (or a new one to open)
/// before failing; the runner then retries with backoff.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// The [`ReadStore`] on PostgreSQL. It answers exactly as
/// [`crate::SqliteStore`] does (same rows, same order, same filters), with
/// three documented differences in what it can hold:
/// - times have microseconds (`timestamptz`); SQLite keeps nanoseconds;
/// - a NaN or infinite alert value stays in the `value` column for SQL
///   readers, where SQLite stores NULL; both read it back as `None`, so
///   the API answers `null` either way;
/// - a NUL character in text is stored as [`NUL_REPLACEMENT`] (U+FFFD),
///   since neither `text` nor `jsonb` can hold it; SQLite keeps it.
///
/// Many processes may share one database: each batch locks its
/// partition's checkpoint row, so processes that briefly follow the same
/// partition during a consumer group rebalance apply each record once.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user@host/db`, with
    /// any libpq-style parameters sqlx understands, such as
    /// `?options[search_path]=closeloop`) and applies pending migrations.
    pub async fn connect(url: &str) -> Result<PostgresStore, StoreError> {
        let options = PgConnectOptions::from_str(url).map_err(|source| StoreError::Open {
            path: redacted(url),
            source,
        })?;
        Self::connect_with(options).await
    }

    /// Connects with `options` and applies pending migrations. Several
    /// processes may start at once: sqlx serializes migrations with an
    /// advisory lock.
    pub async fn connect_with(options: PgConnectOptions) -> Result<PostgresStore, StoreError> {
        let described = describe(&options);
        // One connection first: the pool retries until its timeout and then
        // reports only that it timed out, hiding why (refused, bad
        // password, no such database).
        let probe = options.connect().await.map_err(|source| StoreError::Open {
            path: described.clone(),
            source,
        })?;
        probe.close().await.map_err(|source| StoreError::Open {
            path: described.clone(),
            source,
        })?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|source| StoreError::Open {
                path: described,
                source,
            })?;
        sqlx::migrate!("../../migrations/postgres")
            .run(&pool)
            .await?;
        Ok(PostgresStore { pool })
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Where `options` point, without the password.
fn describe(options: &PgConnectOptions) -> String {
    format!(
        "postgres://{}@{}:{}/{}",
        options.get_username(),
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or_default()
    )
}

#[async_trait]
impl ReadStore for PostgresStore {
    async fn apply(&self, batch: &Batch) -> Result<Applied, StoreError> {
        write::apply(&self.pool, batch).await
    }

    async fn checkpoint(
        &self,
        consumer: &str,
        topic: &str,
        partition: u32,
    ) -> Result<Option<Offset>, StoreError> {
        read::checkpoint(&self.pool, consumer, topic, partition).await
    }

    async fn checkpoints(&self, consumer: &str) -> Result<Vec<Checkpoint>, StoreError> {
        read::checkpoints(&self.pool, consumer).await
    }

    async fn alerts(&self, filter: &AlertFilter) -> Result<Vec<AlertRow>, StoreError> {
        read::alerts(&self.pool, filter).await
    }

    async fn deploys(&self, filter: &DeployFilter) -> Result<Vec<DeployRow>, StoreError> {
        read::deploys(&self.pool, filter).await
    }

    async fn issues(&self, filter: &IssueFilter) -> Result<Vec<IssueRow>, StoreError> {
        read::issues(&self.pool, filter).await
    }

    async fn deliveries(&self, filter: &HistoryFilter) -> Result<Vec<DeliveryRow>, StoreError> {
        read::deliveries(&self.pool, filter).await
    }

    async fn action_failures(
        &self,
        filter: &HistoryFilter,
    ) -> Result<Vec<ActionFailureRow>, StoreError> {
        read::action_failures(&self.pool, filter).await
    }

    async fn scale_actions(
        &self,
        filter: &ScaleActionFilter,
    ) -> Result<Vec<ScaleActionRow>, StoreError> {
        scale::scale_actions(&self.pool, filter).await
    }

    async fn alert_counts(&self) -> Result<Vec<(AlertState, u64)>, StoreError> {
        read::alert_counts(&self.pool).await
    }

    async fn dora_inputs(
        &self,
        query: &crate::dora::DoraQuery,
    ) -> Result<crate::dora::DoraInputs, StoreError> {
        dora::inputs(&self.pool, query).await
    }

    async fn dora_targets(&self, limit: u32) -> Result<Vec<(String, String)>, StoreError> {
        dora::targets(&self.pool, limit).await
    }

    async fn open_issue_count(&self) -> Result<u64, StoreError> {
        read::open_issue_count(&self.pool).await
    }
}
