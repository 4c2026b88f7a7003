//! The projector: SQL read models derived from the event log (deploys,
//! current alerts, issues, delivery history), each batch applied with its
//! log checkpoint in one transaction, and the query API that reads them.
//! It only reads the log; it never changes its history.

mod api;
mod error;
pub mod metrics;
pub mod projection;
mod runner;
mod sqlite;
pub mod store;

pub use api::query_router;
pub use error::{ProjectorError, StoreError};
pub use runner::{run, BATCH_RECORDS, CAUGHT_UP_WAIT, PROJECTED_TOPICS};
pub use sqlite::SqliteStore;
pub use store::ReadStore;
