//! `POST /api/v1/deploys`: a CI/CD pipeline reports a deploy. The body is
//! described by `schemas/DeployRequest.json`; every mistake is a 400 that
//! names the field.

use crate::error::IngestError;
use crate::metrics;
use crate::remote_write::body_rejection;
use crate::IngestState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use closeloop_core::events::{Commit, DeployRecorded, DeployStatus};
use closeloop_core::topics::Topic;
use closeloop_core::{Event, EventPayload, LabelSet};
use closeloop_log::NewRecord;
use serde::Deserialize;
use std::time::Instant;

const HANDLER: &str = "deploys";

/// The request body; unknown fields are refused so typos do not vanish.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployRequest {
    pub service: String,
    pub environment: String,
    pub version: String,
    #[serde(default)]
    pub status: DeployStatus,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub commits: Vec<CommitRequest>,
    pub actor: Option<String>,
    pub url: Option<String>,
    #[serde(default)]
    pub labels: LabelSet,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitRequest {
    pub sha: String,
    pub authored_at: Option<DateTime<Utc>>,
}

pub async fn record(
    State(state): State<IngestState>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = accept(&state, body).await;
    let code = match &result {
        Ok(_) => StatusCode::ACCEPTED,
        Err(err) => err.status(),
    };
    metrics::count_request(HANDLER, code.as_u16());
    match result {
        Ok(event) => (
            code,
            Json(serde_json::json!({
                "status": "success",
                "data": {"id": event.envelope.id, "occurred_at": event.envelope.occurred_at},
            })),
        )
            .into_response(),
        Err(err) => err.into_response(),
    }
}

async fn accept(
    state: &IngestState,
    body: Result<Bytes, BytesRejection>,
) -> Result<Event, IngestError> {
    let body = body.map_err(body_rejection)?;
    metrics::RECEIVED_BYTES.inc_by(body.len() as u64);
    let request = parse(&body)?;
    let deploy = into_event_payload(request)?;
    append_deploy(state, deploy).await
}

/// Appends one deploy to `closeloop.deploys`; shared with the CI webhooks.
pub(crate) async fn append_deploy(
    state: &IngestState,
    deploy: DeployRecorded,
) -> Result<Event, IngestError> {
    let now = (state.clock)();
    // A deploy happened when it finished; one still running, when it began.
    let occurred_at = deploy.finished_at.or(deploy.started_at).unwrap_or(now);
    let event = Event::new(
        EventPayload::DeployRecorded(deploy.clone()),
        "ingest",
        deploy.key(),
        occurred_at,
        now,
    );
    let topic = Topic::Deploys.name(&state.topic_prefix);
    let record = NewRecord {
        key: event.envelope.key.clone().into_bytes().into(),
        value: event.to_json().into(),
        timestamp_ms: occurred_at.timestamp_millis(),
    };
    let started = Instant::now();
    state.log.append(&topic, vec![record]).await?;
    metrics::APPEND_DURATION
        .with_label_values(&[&topic])
        .observe(started.elapsed().as_secs_f64());
    Ok(event)
}

/// Parses the body, naming the path of the first wrong field.
pub fn parse(body: &[u8]) -> Result<DeployRequest, IngestError> {
    let deserializer = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let message = if path == "." || path.is_empty() {
            format!("invalid deploy: {inner}")
        } else {
            format!("invalid deploy field `{path}`: {inner}")
        };
        IngestError::BadRequest(message)
    })
}

fn into_event_payload(request: DeployRequest) -> Result<DeployRecorded, IngestError> {
    for (field, value) in [
        ("service", &request.service),
        ("environment", &request.environment),
        ("version", &request.version),
    ] {
        if value.trim().is_empty() {
            return Err(IngestError::BadRequest(format!(
                "invalid deploy field `{field}`: must not be empty"
            )));
        }
    }
    if let (Some(start), Some(finish)) = (request.started_at, request.finished_at) {
        if finish < start {
            return Err(IngestError::BadRequest(
                "invalid deploy field `finished_at`: earlier than `started_at`".into(),
            ));
        }
    }
    let mut commits = Vec::with_capacity(request.commits.len());
    for (index, commit) in request.commits.into_iter().enumerate() {
        if commit.sha.trim().is_empty() {
            return Err(IngestError::BadRequest(format!(
                "invalid deploy field `commits[{index}].sha`: must not be empty"
            )));
        }
        commits.push(Commit {
            sha: commit.sha,
            authored_at: commit.authored_at,
        });
    }
    Ok(DeployRecorded {
        service: request.service,
        environment: request.environment,
        version: request.version,
        status: request.status,
        started_at: request.started_at,
        finished_at: request.finished_at,
        commits,
        actor: request.actor,
        url: request.url,
        labels: request.labels,
    })
}
