//! The two databases the read-model suite runs against, each fresh per
//! test: SQLite in a temp dir, and PostgreSQL in a schema of its own in
//! the database `CLOSELOOP_TEST_DATABASE_URL` names (default
//! [`DEFAULT_DATABASE_URL`]), dropped when the test ends. A PostgreSQL
//! that cannot be reached fails the test; it never skips.

use closeloop_projector::{PostgresStore, ReadStore, SqliteStore};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
// The SQL built with format! below holds only test constants and schema
// names made of a prefix and a uuid's hex digits.
use sqlx::{AssertSqlSafe, ConnectOptions, PgPool};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

pub const DATABASE_URL_VAR: &str = "CLOSELOOP_TEST_DATABASE_URL";
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// One test's database and the store open on it.
pub struct Harness {
    pub backend: Backend,
    pub store: Arc<dyn ReadStore>,
    place: Place,
}

enum Place {
    Sqlite {
        _dir: tempfile::TempDir,
        path: PathBuf,
    },
    Postgres(Schema),
}

impl Harness {
    pub async fn new(backend: Backend) -> Harness {
        let place = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let path = dir.path().join("read.db");
                Place::Sqlite { _dir: dir, path }
            }
            Backend::Postgres => Place::Postgres(Schema::create().await),
        };
        let store = place.open().await;
        Harness {
            backend,
            store,
            place,
        }
    }

    /// Another store on the same database, as a second projector process
    /// or a restarted one would open it.
    pub async fn open_again(&self) -> Arc<dyn ReadStore> {
        self.place.open().await
    }

    /// The URL `storage.database` would hold for this database.
    pub fn url(&self) -> String {
        match &self.place {
            Place::Sqlite { path, .. } => format!("sqlite://{}", path.display()),
            Place::Postgres(schema) => {
                let separator = if schema.url.contains('?') { '&' } else { '?' };
                format!(
                    "{}{separator}options[search_path]={}",
                    schema.url, schema.name
                )
            }
        }
    }

    /// Makes inserting a deploy of `version` (a plain word) fail, as a
    /// full disk would.
    pub async fn refuse_deploys_of(&self, version: &str) {
        assert!(version.chars().all(|c| c.is_ascii_alphanumeric()));
        match &self.place {
            Place::Sqlite { path, .. } => {
                let side = sqlite_side(path).await;
                sqlx::query(AssertSqlSafe(format!(
                    "CREATE TRIGGER refuse BEFORE INSERT ON deploys WHEN NEW.version = '{version}'
                     BEGIN SELECT RAISE(ABORT, 'disk full'); END"
                )))
                .execute(&side)
                .await
                .expect("create trigger");
                side.close().await;
            }
            Place::Postgres(schema) => {
                let side = schema.side().await;
                sqlx::query(AssertSqlSafe(format!(
                    "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
                     BEGIN
                         IF NEW.version = '{version}' THEN RAISE EXCEPTION 'disk full'; END IF;
                         RETURN NEW;
                     END $$"
                )))
                .execute(&side)
                .await
                .expect("create trigger function");
                sqlx::query(
                    "CREATE TRIGGER refuse BEFORE INSERT ON deploys
                     FOR EACH ROW EXECUTE FUNCTION refuse()",
                )
                .execute(&side)
                .await
                .expect("create trigger");
                side.close().await;
            }
        }
    }

    pub async fn allow_all_deploys(&self) {
        let sql = match self.backend {
            Backend::Sqlite => "DROP TRIGGER refuse",
            Backend::Postgres => "DROP TRIGGER refuse ON deploys",
        };
        match &self.place {
            Place::Sqlite { path, .. } => {
                let side = sqlite_side(path).await;
                sqlx::query(sql).execute(&side).await.expect("drop trigger");
                side.close().await;
            }
            Place::Postgres(schema) => {
                let side = schema.side().await;
                sqlx::query(sql).execute(&side).await.expect("drop trigger");
                side.close().await;
            }
        }
    }

    /// What the `alerts.value` column holds, read with SQL as a dashboard
    /// would rather than through the store.
    pub async fn stored_alert_value(&self, fingerprint: &str) -> Option<f64> {
        let sql = match self.backend {
            Backend::Sqlite => "SELECT value FROM alerts WHERE fingerprint = ?1",
            Backend::Postgres => "SELECT value FROM alerts WHERE fingerprint = $1",
        };
        match &self.place {
            Place::Sqlite { path, .. } => {
                let side = sqlite_side(path).await;
                let value: Option<f64> = sqlx::query_scalar(sql)
                    .bind(fingerprint)
                    .fetch_one(&side)
                    .await
                    .expect("alert value");
                side.close().await;
                value
            }
            Place::Postgres(schema) => {
                let side = schema.side().await;
                let value: Option<f64> = sqlx::query_scalar(sql)
                    .bind(fingerprint)
                    .fetch_one(&side)
                    .await
                    .expect("alert value");
                side.close().await;
                value
            }
        }
    }
}

impl Place {
    async fn open(&self) -> Arc<dyn ReadStore> {
        match self {
            Place::Sqlite { path, .. } => {
                Arc::new(SqliteStore::open(path).await.expect("open SQLite store"))
            }
            Place::Postgres(schema) => Arc::new(
                PostgresStore::connect_with(schema.options())
                    .await
                    .expect("connect PostgreSQL store"),
            ),
        }
    }
}

async fn sqlite_side(path: &std::path::Path) -> sqlx::SqlitePool {
    sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .expect("side connection to SQLite")
}

/// A schema of its own in the test database, so tests running in parallel
/// (and several `cargo test` runs at once) never see each other's rows.
pub struct Schema {
    url: String,
    name: String,
}

impl Schema {
    /// An empty schema, dropped with the value.
    pub async fn create() -> Schema {
        let url =
            std::env::var(DATABASE_URL_VAR).unwrap_or_else(|_| DEFAULT_DATABASE_URL.to_string());
        let admin = admin_pool(&url).await;
        let name = format!("closeloop_test_{}", Uuid::now_v7().simple());
        sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA {name}")))
            .execute(&admin)
            .await
            .unwrap_or_else(|e| {
                panic!("creating schema {name} in {url}: {e} (does the user own the database? see tests/setup/postgres.sh)")
            });
        admin.close().await;
        Schema { url, name }
    }

    /// Connect options that put the schema first on the search path.
    pub fn options(&self) -> PgConnectOptions {
        PgConnectOptions::from_str(&self.url)
            .expect("test database URL parses")
            .options([("search_path", self.name.as_str())])
    }

    async fn side(&self) -> PgPool {
        PgPoolOptions::new()
            .max_connections(1)
            .connect_with(self.options())
            .await
            .expect("side connection to PostgreSQL")
    }
}

async fn admin_pool(url: &str) -> PgPool {
    let options = PgConnectOptions::from_str(url)
        .unwrap_or_else(|e| panic!("{DATABASE_URL_VAR}={url} is not a PostgreSQL URL: {e}"));
    // A single connection first, for the reason a pool would hide.
    let probe = tokio::time::timeout(Duration::from_secs(5), options.connect())
        .await
        .map_err(|_| "timed out".to_string())
        .and_then(|connected| connected.map_err(|e| e.to_string()));
    if let Err(e) = probe {
        panic!(
            "cannot reach PostgreSQL at {url} ({e}); these tests need it: run \
             tests/setup/postgres.sh and export the {DATABASE_URL_VAR} it prints"
        );
    }
    PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "cannot reach PostgreSQL at {url} ({e}); these tests need it: run \
                 tests/setup/postgres.sh and export the {DATABASE_URL_VAR} it prints"
            )
        })
}

impl Drop for Schema {
    /// Drops the schema, also when the test panicked. Drop cannot await,
    /// so a thread with its own runtime does the work.
    fn drop(&mut self) {
        let url = self.url.clone();
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let admin = PgPoolOptions::new()
                    .max_connections(1)
                    .acquire_timeout(Duration::from_secs(5))
                    .connect(&url)
                    .await
                    .map_err(|e| e.to_string())?;
                // A connection a panicking test left in a transaction
                // would make the drop wait forever.
                sqlx::query("SET lock_timeout = '10s'")
                    .execute(&admin)
                    .await
                    .map_err(|e| e.to_string())?;
                sqlx::query(AssertSqlSafe(format!(
                    "DROP SCHEMA IF EXISTS {name} CASCADE"
                )))
                .execute(&admin)
                .await
                .map_err(|e| e.to_string())?;
                admin.close().await;
                Ok::<_, String>(())
            })
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("leaving test schema {} behind: {e}", self.name);
        }
    }
}
