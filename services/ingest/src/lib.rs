//! The write side of closeloop's HTTP API: decode, validate and append to
//! the log; answer 2xx only once the log says the data is durable. Nothing
//! here evaluates anything.

mod alerts_in;
pub mod backpressure;
mod deploy_webhooks;
mod deploys;
mod error;
pub mod limits;
pub mod metrics;
mod otlp;
pub mod pushgateway;
mod remote_write;
mod remote_write_v2;
mod samples_append;

pub use deploy_webhooks::{github::sign as github_signature, WebhookSecrets};
pub use error::IngestError;

use axum::extract::DefaultBodyLimit;
use axum::routing::post;
use axum::Router;
use chrono::{DateTime, Utc};
use closeloop_log::EventLog;
use std::sync::Arc;

/// Limits on what a client may send.
#[derive(Debug, Clone)]
pub struct IngestLimits {
    /// Largest request body accepted on the wire (413 above).
    pub max_body_bytes: usize,
    /// Largest remote-write body after snappy decompression (413 above).
    pub max_decoded_bytes: usize,
    /// Most series one request may carry (413 above; 0: no limit).
    pub max_series_per_request: usize,
    /// Longest label name and value in bytes (400 above; 0: no limit).
    pub max_label_name_length: usize,
    pub max_label_value_length: usize,
}

impl Default for IngestLimits {
    fn default() -> Self {
        // Prometheus sends at most a few hundred KB per request; these leave
        // ample room while bounding memory per request.
        IngestLimits {
            max_body_bytes: 16 << 20,
            max_decoded_bytes: 64 << 20,
            // Prometheus sends at most max_samples_per_send (2000 in 2.42)
            // series a request; label bounds as Cortex/Mimir default them.
            max_series_per_request: 100_000,
            max_label_name_length: 1024,
            max_label_value_length: 2048,
        }
    }
}

/// Everything the handlers need, injected so tests can pin the clock.
#[derive(Clone)]
pub struct IngestState {
    pub log: Arc<dyn EventLog>,
    pub topic_prefix: String,
    pub limits: IngestLimits,
    pub clock: Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>,
    /// Secrets of the signed deploy webhooks (GitHub, GitLab).
    pub webhooks: WebhookSecrets,
    /// The pushed groups, folded from `closeloop.pushgroups`; one lock
    /// serializes pushes as the Pushgateway's write queue does.
    pub push_view: Arc<tokio::sync::Mutex<pushgateway::PushView>>,
    /// Set while the evaluator is too far behind to take more samples.
    pub backpressure: backpressure::Backpressure,
}

impl IngestState {
    pub fn new(log: Arc<dyn EventLog>, topic_prefix: &str, limits: IngestLimits) -> Self {
        IngestState {
            log,
            topic_prefix: topic_prefix.to_string(),
            limits,
            clock: Arc::new(Utc::now),
            webhooks: WebhookSecrets::default(),
            push_view: Arc::default(),
            backpressure: backpressure::Backpressure::default(),
        }
    }

    /// 503 (with Retry-After) for samples while back-pressure is on.
    pub(crate) fn refuse_if_behind(&self) -> Result<(), IngestError> {
        match self.backpressure.refusal() {
            Some(reason) => {
                metrics::REFUSED_BEHIND.inc();
                Err(IngestError::Overloaded(reason))
            }
            None => Ok(()),
        }
    }
}

/// The ingest routes: `POST /api/v1/write`, `POST /api/v1/deploys`.
pub fn router(state: IngestState) -> Router {
    let body_limit = state.limits.max_body_bytes;
    Router::new()
        .route("/api/v1/write", post(remote_write::receive))
        .route("/v1/metrics", post(otlp::receive))
        .route("/api/v1/deploys", post(deploys::record))
        .route("/api/v2/alerts", post(alerts_in::post_alerts))
        .route("/api/v1/alertmanager", post(alerts_in::post_webhook))
        .route(
            "/api/v1/deploys/github",
            post(deploy_webhooks::receive_github),
        )
        .route(
            "/api/v1/deploys/gitlab",
            post(deploy_webhooks::receive_gitlab),
        )
        .route(
            "/api/v1/deploys/argocd",
            post(deploy_webhooks::receive_argocd),
        )
        .merge(pushgateway::routes())
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}
