//! Deploys announced by CI/CD systems' own webhooks, each verified and
//! mapped to `DeployRecorded`: GitHub `deployment_status`
//! (`X-Hub-Signature-256`), GitLab deployment events (`X-Gitlab-Token`)
//! and Argo CD notifications (the template documented in the README,
//! behind the deploys class's credentials). Mapping is pure (`github`,
//! `gitlab`, `argocd`); this module verifies, appends and answers.

pub mod argocd;
pub mod github;
pub mod gitlab;

use crate::deploys::append_deploy;
use crate::error::IngestError;
use crate::metrics;
use crate::remote_write::body_rejection;
use crate::IngestState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use closeloop_core::events::DeployRecorded;
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// The shared secrets the signed webhooks are checked against.
#[derive(Clone, Default)]
pub struct WebhookSecrets {
    /// The secret configured on the GitHub webhook (HMAC-SHA256 key).
    pub github: Option<Arc<SecretString>>,
    /// The secret token configured on the GitLab webhook.
    pub gitlab: Option<Arc<SecretString>>,
}

/// What a webhook delivery turned into.
#[derive(Debug, PartialEq)]
pub enum Mapped {
    Deploy(Box<DeployRecorded>),
    /// A delivery closeloop has nothing to record for (a ping, another
    /// event, a state that is no deploy), with why.
    Ignored(String),
}

/// Verification failed: 401, saying what was missing or wrong (never the
/// expected value).
fn unauthorized(why: &str) -> Response {
    let body = Json(serde_json::json!({"status": "error", "error": why}));
    (StatusCode::UNAUTHORIZED, body).into_response()
}

pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    bool::from(a.ct_eq(b))
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn finish(
    state: &IngestState,
    handler: &str,
    mapped: Result<Mapped, IngestError>,
) -> Response {
    let result = match mapped {
        Ok(Mapped::Deploy(deploy)) => append_deploy(state, *deploy).await.map(Some),
        Ok(Mapped::Ignored(why)) => {
            Ok(None).inspect(|_| tracing::debug!(handler, why, "webhook delivery ignored"))
        }
        Err(err) => Err(err),
    };
    let code = match &result {
        Ok(Some(_)) => StatusCode::ACCEPTED,
        Ok(None) => StatusCode::OK,
        Err(err) => err.status(),
    };
    metrics::count_request(handler, code.as_u16());
    match result {
        Ok(Some(event)) => (
            code,
            Json(serde_json::json!({
                "status": "success",
                "data": {"id": event.envelope.id, "occurred_at": event.envelope.occurred_at},
            })),
        )
            .into_response(),
        Ok(None) => (code, Json(serde_json::json!({"status": "ignored"}))).into_response(),
        Err(err) => err.into_response(),
    }
}

/// `POST /api/v1/deploys/github`.
pub async fn receive_github(
    State(state): State<IngestState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let handler = "deploy_webhook_github";
    let body = match body.map_err(body_rejection) {
        Ok(body) => body,
        Err(err) => return finish(&state, handler, Err(err)).await,
    };
    metrics::RECEIVED_BYTES.inc_by(body.len() as u64);
    let Some(secret) = &state.webhooks.github else {
        metrics::count_request(handler, 401);
        return unauthorized("GitHub webhooks are not enabled: set auth.github_webhook_secret");
    };
    let Some(signature) = header(&headers, "x-hub-signature-256") else {
        metrics::count_request(handler, 401);
        return unauthorized("missing X-Hub-Signature-256");
    };
    if !github::signature_matches(secret.expose_secret().as_bytes(), &body, signature) {
        metrics::count_request(handler, 401);
        tracing::warn!(handler, "GitHub webhook with a wrong signature refused");
        return unauthorized(
            "X-Hub-Signature-256 does not match the body and the configured secret",
        );
    }
    let event = header(&headers, "x-github-event").unwrap_or_default();
    finish(&state, handler, github::map(event, &body)).await
}

/// `POST /api/v1/deploys/gitlab`.
pub async fn receive_gitlab(
    State(state): State<IngestState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let handler = "deploy_webhook_gitlab";
    let body = match body.map_err(body_rejection) {
        Ok(body) => body,
        Err(err) => return finish(&state, handler, Err(err)).await,
    };
    metrics::RECEIVED_BYTES.inc_by(body.len() as u64);
    let Some(token) = &state.webhooks.gitlab else {
        metrics::count_request(handler, 401);
        return unauthorized("GitLab webhooks are not enabled: set auth.gitlab_webhook_token");
    };
    let given = header(&headers, "x-gitlab-token").unwrap_or_default();
    if !same(token.expose_secret().as_bytes(), given.as_bytes()) {
        metrics::count_request(handler, 401);
        tracing::warn!(
            handler,
            "GitLab webhook with a missing or wrong token refused"
        );
        return unauthorized("X-Gitlab-Token is missing or wrong");
    }
    finish(&state, handler, gitlab::map(&body)).await
}

/// `POST /api/v1/deploys/argocd`: authenticated as the deploys class.
pub async fn receive_argocd(
    State(state): State<IngestState>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let handler = "deploy_webhook_argocd";
    let mapped = body.map_err(body_rejection).and_then(|body| {
        metrics::RECEIVED_BYTES.inc_by(body.len() as u64);
        argocd::map(&body)
    });
    finish(&state, handler, mapped).await
}

/// Decodes JSON, naming the path of the first wrong field.
pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    body: &[u8],
    what: &str,
) -> Result<T, IngestError> {
    let deserializer = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if path == "." || path.is_empty() {
            IngestError::BadRequest(format!("invalid {what}: {inner}"))
        } else {
            IngestError::BadRequest(format!("invalid {what} field `{path}`: {inner}"))
        }
    })
}

/// Empty strings (GitHub sends `"target_url": ""`) are absent.
pub(crate) fn present(text: Option<String>) -> Option<String> {
    text.filter(|t| !t.trim().is_empty())
}
