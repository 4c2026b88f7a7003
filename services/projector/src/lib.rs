//! The projector: SQL read models derived from the event log (deploys,
//! current alerts, issues, delivery history), each batch applied with its
//! log checkpoint in one transaction, and the query API that reads them.
//! It only reads the log; it never changes its history. Two stores
//! implement [`ReadStore`]: [`SqliteStore`] (embedded) and
//! [`PostgresStore`] (distributed); [`open_store`] picks one from a URL.

mod api;
pub mod dora;
mod error;
pub mod metrics;
mod open;
mod postgres;
pub mod projection;
mod runner;
mod sqlite;
pub mod store;

pub use api::query_router;
pub use error::{ProjectorError, StoreError};
pub use open::open_store;
pub use postgres::{PostgresStore, NUL_REPLACEMENT};
pub use runner::{run, BATCH_RECORDS, CAUGHT_UP_WAIT, PROJECTED_TOPICS};
pub use sqlite::SqliteStore;
pub use store::ReadStore;
