//! Choosing the read-model store from the configured `storage.database`:
//! an SQLite file for the embedded default, PostgreSQL when distributed.

use crate::error::StoreError;
use crate::postgres::PostgresStore;
use crate::sqlite::SqliteStore;
use crate::store::ReadStore;
use std::sync::Arc;

/// Opens the store `url` names, applying its migrations:
/// - `postgres://...` or `postgresql://...`: [`PostgresStore`];
/// - `sqlite://path`, `sqlite:path` (query parameters are ignored), or a
///   bare file path: [`SqliteStore`], creating the file and its directory.
///
/// An in-memory SQLite database is refused: the store's writer and
/// readers are separate connections that must see one database.
pub async fn open_store(url: &str) -> Result<Arc<dyn ReadStore>, StoreError> {
    match Location::parse(url)? {
        Location::Postgres => Ok(Arc::new(PostgresStore::connect(url).await?)),
        Location::Sqlite(path) => Ok(Arc::new(SqliteStore::open(path).await?)),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Location<'u> {
    Postgres,
    Sqlite(&'u str),
}

impl<'u> Location<'u> {
    fn parse(url: &'u str) -> Result<Location<'u>, StoreError> {
        let bad = |reason: &str| StoreError::Url {
            url: redacted(url),
            reason: reason.to_string(),
        };
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Location::Postgres);
        }
        let path = match url.strip_prefix("sqlite:") {
            Some(rest) => {
                let rest = rest.strip_prefix("//").unwrap_or(rest);
                rest.split_once('?').map_or(rest, |(path, _)| path)
            }
            None if url.contains("://") => {
                return Err(bad(
                    "unsupported scheme: use postgres://, sqlite:// or a file path",
                ))
            }
            None => url,
        };
        if path.is_empty() {
            return Err(bad("no database file given"));
        }
        if path == ":memory:" || url.contains("mode=memory") {
            return Err(bad("an in-memory SQLite database cannot be shared by the store's connections; give a file path"));
        }
        Ok(Location::Sqlite(path))
    }
}

/// `url` with the password, if any, replaced by `***`, for errors and logs.
pub(crate) fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_urls_pick_postgres() {
        for url in [
            "postgres://closeloop@127.0.0.1/closeloop",
            "postgresql://u:p@db:5432/x?sslmode=require",
        ] {
            assert_eq!(Location::parse(url).ok(), Some(Location::Postgres), "{url}");
        }
    }

    #[test]
    fn sqlite_urls_and_bare_paths_pick_sqlite() {
        for (url, path) in [
            (
                "sqlite:///var/lib/closeloop/read.db",
                "/var/lib/closeloop/read.db",
            ),
            ("sqlite://data/read.db?mode=rwc", "data/read.db"),
            ("sqlite:read.db", "read.db"),
            ("/var/lib/closeloop/read.db", "/var/lib/closeloop/read.db"),
            ("data/closeloop.db", "data/closeloop.db"),
        ] {
            assert_eq!(
                Location::parse(url).ok(),
                Some(Location::Sqlite(path)),
                "{url}"
            );
        }
    }

    #[test]
    fn unknown_schemes_empty_paths_and_memory_databases_are_refused() {
        for url in [
            "mysql://root@localhost/x",
            "sqlite://",
            "",
            "sqlite::memory:",
            "sqlite://x.db?mode=memory",
        ] {
            assert!(
                matches!(Location::parse(url), Err(StoreError::Url { .. })),
                "{url}"
            );
        }
    }

    #[test]
    fn passwords_never_appear_in_a_redacted_url() {
        assert_eq!(
            redacted("postgres://closeloop:s3cret@db:5432/closeloop?sslmode=require"),
            "postgres://closeloop:***@db:5432/closeloop?sslmode=require"
        );
        assert_eq!(
            redacted("postgres://closeloop@db/closeloop"),
            "postgres://closeloop@db/closeloop"
        );
        assert_eq!(redacted("data/read.db"), "data/read.db");
        let err = Location::parse("mysql://root:hunter2@localhost/x")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(!err.contains("hunter2"), "{err}");
    }
}
