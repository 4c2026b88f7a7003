//! The DORA read model in SQLite: commutative upserts of deploys per
//! version, commits, incidents and restorations, and the rows of one
//! service/environment a window needs.

use super::codec::{self, Cols};
use crate::dora::{DoraChange, DoraCommit, DoraDeploy, DoraIncident, DoraInputs, DoraQuery};
use crate::error::StoreError;
use crate::store::MAX_LIMIT;
use sqlx::{Sqlite, SqlitePool, Transaction};

type Tx = Transaction<'static, Sqlite>;

pub async fn apply(tx: &mut Tx, change: &DoraChange) -> Result<(), StoreError> {
    match change {
        DoraChange::Deployed {
            service,
            environment,
            version,
            at,
            succeeded,
            failed,
            commits,
        } => {
            sqlx::query(
                "INSERT INTO dora_deploys (service, environment, version, deployed_at, succeeded, failed)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (service, environment, version) DO UPDATE SET
                     deployed_at = MIN(dora_deploys.deployed_at, excluded.deployed_at),
                     succeeded = MAX(dora_deploys.succeeded, excluded.succeeded),
                     failed = MAX(dora_deploys.failed, excluded.failed)",
            )
            .bind(service)
            .bind(environment)
            .bind(version)
            .bind(codec::time(at))
            .bind(*succeeded)
            .bind(*failed)
            .execute(&mut **tx)
            .await?;
            for (sha, authored_at) in commits {
                sqlx::query(
                    "INSERT INTO dora_commits (service, environment, sha, authored_at, first_deployed_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (service, environment, sha) DO UPDATE SET
                         authored_at = MIN(dora_commits.authored_at, excluded.authored_at),
                         first_deployed_at = MIN(dora_commits.first_deployed_at, excluded.first_deployed_at)",
                )
                .bind(service)
                .bind(environment)
                .bind(sha)
                .bind(codec::time(authored_at))
                .bind(codec::time(at))
                .execute(&mut **tx)
                .await?;
            }
        }
        DoraChange::IncidentFiled {
            fingerprint,
            service,
            environment,
            version,
            at,
        } => {
            sqlx::query(
                "INSERT INTO dora_incidents (fingerprint, service, environment, version, filed_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (fingerprint, service, environment, version) DO UPDATE SET
                     filed_at = MIN(dora_incidents.filed_at, excluded.filed_at)",
            )
            .bind(fingerprint)
            .bind(service)
            .bind(environment)
            .bind(version)
            .bind(codec::time(at))
            .execute(&mut **tx)
            .await?;
        }
        DoraChange::Restored { fingerprint, at } => {
            sqlx::query(
                "INSERT INTO dora_restorations (fingerprint, restored_at) VALUES (?1, ?2)
                 ON CONFLICT DO NOTHING",
            )
            .bind(fingerprint)
            .bind(codec::time(at))
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

pub async fn inputs(pool: &SqlitePool, q: &DoraQuery) -> Result<DoraInputs, StoreError> {
    let since = codec::time(&q.since);
    let until = codec::time(&q.until);
    let deploys = sqlx::query(
        "SELECT version, deployed_at, succeeded, failed FROM dora_deploys
         WHERE service = ?1 AND environment = ?2 AND deployed_at > ?3 AND deployed_at <= ?4
         ORDER BY deployed_at, version",
    )
    .bind(&q.service)
    .bind(&q.environment)
    .bind(&since)
    .bind(&until)
    .fetch_all(pool)
    .await?;
    let deploys = deploys
        .iter()
        .map(|row| {
            let c = Cols {
                row,
                table: "dora_deploys",
            };
            Ok(DoraDeploy {
                version: c.text("version")?,
                deployed_at: c.time("deployed_at")?,
                succeeded: c.bool("succeeded")?,
                failed: c.bool("failed")?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;

    let commits = sqlx::query(
        "SELECT sha, authored_at, first_deployed_at FROM dora_commits
         WHERE service = ?1 AND environment = ?2
           AND first_deployed_at > ?3 AND first_deployed_at <= ?4
         ORDER BY first_deployed_at, sha",
    )
    .bind(&q.service)
    .bind(&q.environment)
    .bind(&since)
    .bind(&until)
    .fetch_all(pool)
    .await?;
    let commits = commits
        .iter()
        .map(|row| {
            let c = Cols {
                row,
                table: "dora_commits",
            };
            Ok(DoraCommit {
                sha: c.text("sha")?,
                authored_at: c.time("authored_at")?,
                first_deployed_at: c.time("first_deployed_at")?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;

    let incidents = sqlx::query(
        "SELECT i.fingerprint, i.version, i.filed_at,
                (SELECT MIN(r.restored_at) FROM dora_restorations r
                 WHERE r.fingerprint = i.fingerprint AND r.restored_at >= i.filed_at) AS restored_at
         FROM dora_incidents i
         WHERE i.service = ?1 AND i.environment = ?2 AND i.filed_at <= ?4
           AND (i.filed_at > ?3 OR i.version IN (
                SELECT d.version FROM dora_deploys d
                WHERE d.service = ?1 AND d.environment = ?2
                  AND d.deployed_at > ?3 AND d.deployed_at <= ?4))
         ORDER BY i.filed_at, i.fingerprint, i.version",
    )
    .bind(&q.service)
    .bind(&q.environment)
    .bind(&since)
    .bind(&until)
    .fetch_all(pool)
    .await?;
    let incidents = incidents
        .iter()
        .map(|row| {
            let c = Cols {
                row,
                table: "dora_incidents",
            };
            Ok(DoraIncident {
                fingerprint: c.text("fingerprint")?,
                version: c.text("version")?,
                filed_at: c.time("filed_at")?,
                restored_at: c.opt_time("restored_at")?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(DoraInputs {
        deploys,
        commits,
        incidents,
    })
}

pub async fn targets(pool: &SqlitePool, limit: u32) -> Result<Vec<(String, String)>, StoreError> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT service, environment FROM dora_deploys
         GROUP BY service, environment
         ORDER BY MAX(deployed_at) DESC, service, environment LIMIT ?1",
    )
    .bind(i64::from(limit.min(MAX_LIMIT)))
    .fetch_all(pool)
    .await?;
    Ok(rows)
}
