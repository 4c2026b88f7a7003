//! What can go wrong in the projector, in terms a caller can act on.

use closeloop_log::LogError;

/// A read-model store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("opening read model database {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: sqlx::Error,
    },
    /// `storage.database` names no store this version can open.
    #[error("read model database {url}: {reason}")]
    Url { url: String, reason: String },
    #[error("applying read model migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("read model database: {0}")]
    Database(#[from] sqlx::Error),
    /// A stored value that this version cannot read back (a bad time, JSON
    /// that does not fit its column's type).
    #[error("read model row {table}.{column} is corrupt: {reason}")]
    Corrupt {
        table: &'static str,
        column: &'static str,
        reason: String,
    },
}

/// Why the projector runner stopped before it was told to.
#[derive(Debug, thiserror::Error)]
pub enum ProjectorError {
    /// The log refused a request that retrying cannot fix (a bad topic, a
    /// corrupt segment).
    #[error("event log: {0}")]
    Log(#[from] LogError),
    #[error("projector task failed: {0}")]
    Task(String),
}
