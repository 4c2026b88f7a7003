//! The embedded read-model store: one SQLite database file in WAL mode,
//! migrated at open from `migrations/sqlite`.

mod codec;
mod dora;
mod read;
mod scale;
mod write;

use crate::error::StoreError;
use crate::store::{
    ActionFailureRow, AlertFilter, AlertRow, Applied, Batch, Checkpoint, DeliveryRow, DeployFilter,
    DeployRow, HistoryFilter, IssueFilter, IssueRow, ReadStore, ScaleActionFilter, ScaleActionRow,
};
use async_trait::async_trait;
use closeloop_core::events::AlertState;
use closeloop_log::Offset;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;
use std::path::Path;
use std::time::Duration;

/// Readers run beside the single writer thanks to WAL; a few are enough
/// for an API that answers from indexes.
const READERS: u32 = 4;

#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// One connection: writes are serialized in the process instead of
    /// contending for SQLite's write lock and sleeping in busy handlers.
    writer: SqlitePool,
    reader: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating it and its directory if needed) the database at
    /// `path` and applies any pending migrations.
    pub async fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref();
        let open_error = |source| StoreError::Open {
            path: path.display().to_string(),
            source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| open_error(sqlx::Error::Io(e)))?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // With WAL, NORMAL can lose the last commits on power loss but
            // never corrupts; rows and checkpoint are lost together, so
            // the projector re-reads them from the log.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5));
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .map_err(open_error)?;
        sqlx::migrate!("../../migrations/sqlite")
            .run(&writer)
            .await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(READERS)
            .connect_with(options)
            .await
            .map_err(open_error)?;
        Ok(SqliteStore { writer, reader })
    }

    /// Closes both pools, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}

#[async_trait]
impl ReadStore for SqliteStore {
    async fn apply(&self, batch: &Batch) -> Result<Applied, StoreError> {
        write::apply(&self.writer, batch).await
    }

    async fn checkpoint(
        &self,
        consumer: &str,
        topic: &str,
        partition: u32,
    ) -> Result<Option<Offset>, StoreError> {
        read::checkpoint(&self.reader, consumer, topic, partition).await
    }

    async fn checkpoints(&self, consumer: &str) -> Result<Vec<Checkpoint>, StoreError> {
        read::checkpoints(&self.reader, consumer).await
    }

    async fn alerts(&self, filter: &AlertFilter) -> Result<Vec<AlertRow>, StoreError> {
        read::alerts(&self.reader, filter).await
    }

    async fn deploys(&self, filter: &DeployFilter) -> Result<Vec<DeployRow>, StoreError> {
        read::deploys(&self.reader, filter).await
    }

    async fn issues(&self, filter: &IssueFilter) -> Result<Vec<IssueRow>, StoreError> {
        read::issues(&self.reader, filter).await
    }

    async fn deliveries(&self, filter: &HistoryFilter) -> Result<Vec<DeliveryRow>, StoreError> {
        read::deliveries(&self.reader, filter).await
    }

    async fn action_failures(
        &self,
        filter: &HistoryFilter,
    ) -> Result<Vec<ActionFailureRow>, StoreError> {
        read::action_failures(&self.reader, filter).await
    }

    async fn scale_actions(
        &self,
        filter: &ScaleActionFilter,
    ) -> Result<Vec<ScaleActionRow>, StoreError> {
        scale::scale_actions(&self.reader, filter).await
    }

    async fn alert_counts(&self) -> Result<Vec<(AlertState, u64)>, StoreError> {
        read::alert_counts(&self.reader).await
    }

    async fn dora_inputs(
        &self,
        query: &crate::dora::DoraQuery,
    ) -> Result<crate::dora::DoraInputs, StoreError> {
        dora::inputs(&self.reader, query).await
    }

    async fn dora_targets(&self, limit: u32) -> Result<Vec<(String, String)>, StoreError> {
        dora::targets(&self.reader, limit).await
    }

    async fn open_issue_count(&self) -> Result<u64, StoreError> {
        read::open_issue_count(&self.reader).await
    }
}
