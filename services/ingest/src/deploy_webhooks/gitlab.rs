//! GitLab deployment events (`X-Gitlab-Event: Deployment Hook`,
//! `object_kind: deployment`), mapped to `DeployRecorded`. Field names
//! and meanings from GitLab's "Webhook events" documentation, section
//! "Deployment events".

use super::{decode, present, Mapped};
use crate::error::IngestError;
use chrono::{DateTime, Utc};
use closeloop_core::events::{Commit, DeployRecorded, DeployStatus};
use closeloop_core::LabelSet;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct Payload {
    object_kind: String,
    status: Option<String>,
    status_changed_at: Option<String>,
    environment: Option<String>,
    deployable_url: Option<String>,
    short_sha: Option<String>,
    commit_url: Option<String>,
    project: Option<Project>,
    user: Option<User>,
}

#[derive(Debug, Deserialize)]
struct Project {
    name: String,
    path_with_namespace: Option<String>,
}

#[derive(Debug, Deserialize)]
struct User {
    username: Option<String>,
    name: Option<String>,
}

/// GitLab writes times as `2021-04-28 21:50:00 +0200`; RFC 3339 is
/// accepted too.
fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S %z")
        .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S %Z"))
        .or_else(|_| DateTime::parse_from_rfc3339(text))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn missing(field: &str) -> IngestError {
    IngestError::BadRequest(format!(
        "invalid GitLab deployment event field `{field}`: missing"
    ))
}

pub fn map(body: &[u8]) -> Result<Mapped, IngestError> {
    let payload: Payload = decode(body, "GitLab deployment event")?;
    if payload.object_kind != "deployment" {
        return Ok(Mapped::Ignored(format!(
            "object_kind {:?} is not deployment",
            payload.object_kind
        )));
    }
    let status_text = payload.status.ok_or_else(|| missing("status"))?;
    let status = match status_text.as_str() {
        "success" => DeployStatus::Succeeded,
        "failed" => DeployStatus::Failed,
        "running" => DeployStatus::Started,
        // Created but not started, or canceled before it ran: no deploy.
        "created" | "canceled" | "blocked" | "skipped" => {
            return Ok(Mapped::Ignored(format!("status {status_text}")))
        }
        other => {
            return Err(IngestError::BadRequest(format!(
                "invalid GitLab deployment event field `status`: unknown status {other:?}"
            )))
        }
    };
    let project = payload.project.ok_or_else(|| missing("project"))?;
    let environment = present(payload.environment).ok_or_else(|| missing("environment"))?;
    // The full sha ends the commit URL; the short one is always there.
    let full_sha = payload
        .commit_url
        .as_deref()
        .and_then(|u| u.rsplit('/').next())
        .filter(|s| s.len() >= 7 && s.chars().all(|c| c.is_ascii_hexdigit()))
        .map(str::to_string);
    let sha = full_sha
        .or(present(payload.short_sha))
        .ok_or_else(|| missing("short_sha"))?;
    let changed_at = match payload.status_changed_at.as_deref() {
        Some(text) => Some(parse_time(text).ok_or_else(|| {
            IngestError::BadRequest(format!(
                "invalid GitLab deployment event field `status_changed_at`: {text:?} is not a time"
            ))
        })?),
        None => None,
    };
    let (started_at, finished_at) = match status {
        DeployStatus::Started => (changed_at, None),
        _ => (None, changed_at),
    };
    let mut labels = LabelSet::new();
    if let Some(path) = project.path_with_namespace {
        labels.insert("repository".into(), path);
    }
    labels.insert("source".into(), "gitlab".into());
    Ok(Mapped::Deploy(Box::new(DeployRecorded {
        service: project.name,
        environment,
        version: sha.clone(),
        status,
        started_at,
        finished_at,
        commits: vec![Commit {
            sha,
            authored_at: None,
        }],
        actor: payload
            .user
            .and_then(|u| present(u.username).or(present(u.name))),
        url: present(payload.deployable_url),
        labels,
    })))
}
