//! Argo CD notifications: a webhook whose body a user writes as a template
//! in `argocd-notifications-cm` (the README shows the template closeloop
//! expects). The body is this JSON object:
//!
//! ```json
//! {"app": "checkout", "environment": "production",
//!  "revision": "<sync revision sha>", "phase": "Succeeded",
//!  "finished_at": "2026-01-01T00:00:00Z", "started_at": "...",
//!  "url": "https://argocd/applications/checkout", "actor": "alice",
//!  "version": "v1.2.3"}
//! ```
//!
//! `phase` is the sync operation's phase (`Running`, `Succeeded`,
//! `Failed`, `Error`, `Terminating`); `version` defaults to `revision`.

use super::{decode, present, Mapped};
use crate::error::IngestError;
use chrono::{DateTime, Utc};
use closeloop_core::events::{Commit, DeployRecorded, DeployStatus};
use closeloop_core::LabelSet;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Notification {
    app: String,
    environment: String,
    revision: String,
    phase: String,
    version: Option<String>,
    started_at: Option<String>,
    finished_at: Option<String>,
    url: Option<String>,
    actor: Option<String>,
}

/// Argo CD's template renders an unset field as an empty string or as
/// Go's `<no value>`: both are absent.
fn given(text: Option<String>) -> Option<String> {
    present(text).filter(|t| t != "<no value>")
}

fn time(field: &str, text: Option<String>) -> Result<Option<DateTime<Utc>>, IngestError> {
    let Some(text) = given(text) else {
        return Ok(None);
    };
    // A template's `{{.app.status.operationState.finishedAt}}` prints Go's
    // `2026-11-22 10:01:30 +0000 UTC`; `| date` helpers print RFC 3339.
    let go_form = text
        .rsplit_once(' ')
        .map_or(text.as_str(), |(head, _)| head);
    DateTime::parse_from_rfc3339(&text)
        .or_else(|_| DateTime::parse_from_str(go_form, "%Y-%m-%d %H:%M:%S%.f %z"))
        .map(|t| Some(t.with_timezone(&Utc)))
        .map_err(|e| {
            IngestError::BadRequest(format!(
                "invalid Argo CD notification field `{field}`: {text:?}: {e}"
            ))
        })
}

pub fn map(body: &[u8]) -> Result<Mapped, IngestError> {
    let n: Notification = decode(body, "Argo CD notification")?;
    let status = match n.phase.as_str() {
        "Succeeded" => DeployStatus::Succeeded,
        "Failed" | "Error" => DeployStatus::Failed,
        "Running" => DeployStatus::Started,
        "Terminating" => return Ok(Mapped::Ignored("phase Terminating".into())),
        other => {
            return Err(IngestError::BadRequest(format!(
                "invalid Argo CD notification field `phase`: unknown phase {other:?}"
            )))
        }
    };
    for (field, value) in [
        ("app", &n.app),
        ("environment", &n.environment),
        ("revision", &n.revision),
    ] {
        if value.trim().is_empty() {
            return Err(IngestError::BadRequest(format!(
                "invalid Argo CD notification field `{field}`: must not be empty"
            )));
        }
    }
    let started_at = time("started_at", n.started_at)?;
    let finished_at = match status {
        DeployStatus::Started => None,
        _ => time("finished_at", n.finished_at)?,
    };
    let mut labels = LabelSet::new();
    labels.insert("source".into(), "argocd".into());
    Ok(Mapped::Deploy(Box::new(DeployRecorded {
        service: n.app,
        environment: n.environment,
        version: given(n.version).unwrap_or_else(|| n.revision.clone()),
        status,
        started_at,
        finished_at,
        commits: vec![Commit {
            sha: n.revision,
            authored_at: None,
        }],
        actor: given(n.actor),
        url: given(n.url),
        labels,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_rfc_3339_and_as_go_prints_them_both_parse() {
        let go = time("finished_at", Some("2026-11-22 10:01:30 +0000 UTC".into())).unwrap();
        let rfc = time("finished_at", Some("2026-11-22T10:01:30Z".into())).unwrap();
        assert_eq!(go, rfc);
        assert!(go.is_some());
        assert_eq!(time("started_at", Some("<no value>".into())).unwrap(), None);
        let err = time("started_at", Some("soon".into())).unwrap_err();
        assert!(err.to_string().contains("`started_at`"), "{err}");
    }
}
