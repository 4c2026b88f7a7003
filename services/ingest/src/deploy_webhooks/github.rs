//! GitHub `deployment_status` webhooks: the signature check and the
//! mapping to `DeployRecorded`. Field meanings from GitHub's webhook
//! reference; tested on the payloads of `@octokit/webhooks-examples`.

use super::{decode, present, Mapped};
use crate::error::IngestError;
use chrono::{DateTime, Utc};
use closeloop_core::events::{Commit, DeployRecorded, DeployStatus};
use closeloop_core::LabelSet;
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::Sha256;

/// Whether `header` (`sha256=<hex>`) is the HMAC-SHA256 of `body` under
/// `secret`; compared in constant time by `verify_slice`.
pub fn signature_matches(secret: &[u8], body: &[u8], header: &str) -> bool {
    let Some(hex_digest) = header.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_digest) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// The signature GitHub would send for `body` under `secret`.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[derive(Debug, Deserialize)]
struct Payload {
    deployment_status: Status,
    deployment: Deployment,
    repository: Repository,
    sender: Option<User>,
}

#[derive(Debug, Deserialize)]
struct Status {
    state: String,
    target_url: Option<String>,
    log_url: Option<String>,
    environment_url: Option<String>,
    created_at: Option<DateTime<Utc>>,
    creator: Option<User>,
}

#[derive(Debug, Deserialize)]
struct Deployment {
    environment: String,
    sha: String,
    #[serde(rename = "ref")]
    git_ref: Option<String>,
    created_at: Option<DateTime<Utc>>,
    creator: Option<User>,
}

#[derive(Debug, Deserialize)]
struct Repository {
    name: String,
    full_name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct User {
    login: String,
}

/// Maps one delivery (`event` = the `X-GitHub-Event` header).
pub fn map(event: &str, body: &[u8]) -> Result<Mapped, IngestError> {
    match event {
        "deployment_status" => {}
        "ping" => return Ok(Mapped::Ignored("ping".into())),
        other => {
            return Ok(Mapped::Ignored(format!(
                "event {other:?} is not deployment_status"
            )))
        }
    }
    let payload: Payload = decode(body, "GitHub deployment_status")?;
    let status = match payload.deployment_status.state.as_str() {
        "success" => DeployStatus::Succeeded,
        "failure" | "error" => DeployStatus::Failed,
        "in_progress" | "queued" | "pending" => DeployStatus::Started,
        // A newer deploy replaced this one: nothing happened now.
        "inactive" => return Ok(Mapped::Ignored("state inactive".into())),
        other => {
            return Err(IngestError::BadRequest(format!(
                "invalid GitHub deployment_status field `deployment_status.state`: unknown state {other:?}"
            )))
        }
    };
    if payload.deployment.sha.trim().is_empty() {
        return Err(IngestError::BadRequest(
            "invalid GitHub deployment_status field `deployment.sha`: must not be empty".into(),
        ));
    }
    let finished_at = match status {
        DeployStatus::Started => None,
        _ => payload.deployment_status.created_at,
    };
    let Status {
        target_url,
        log_url,
        environment_url,
        creator: status_creator,
        ..
    } = payload.deployment_status;
    let actor = payload
        .deployment
        .creator
        .or(status_creator)
        .or(payload.sender)
        .map(|u| u.login);
    let mut labels = LabelSet::new();
    if let Some(full_name) = payload.repository.full_name {
        labels.insert("repository".into(), full_name);
    }
    if let Some(git_ref) = present(payload.deployment.git_ref) {
        labels.insert("ref".into(), git_ref);
    }
    labels.insert("source".into(), "github".into());
    Ok(Mapped::Deploy(Box::new(DeployRecorded {
        service: payload.repository.name,
        environment: payload.deployment.environment,
        version: payload.deployment.sha.clone(),
        status,
        started_at: payload.deployment.created_at,
        finished_at,
        commits: vec![Commit {
            sha: payload.deployment.sha,
            authored_at: None,
        }],
        actor,
        url: present(target_url)
            .or(present(log_url))
            .or(present(environment_url)),
        labels,
    })))
}
