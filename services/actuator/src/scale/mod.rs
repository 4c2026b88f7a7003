//! Scale targets: where a `ScaleRequested` becomes a replica count. One
//! trait, [`ScaleTarget`], with a Kubernetes scale-subresource client and a
//! webhook. A target reads the real count first and does not apply a
//! request made from a count the target no longer has (`Drifted`): the
//! scaler then works from the observed count at its next tick.
//!
//! Retries between attempts are the caller's, as for every other receiver
//! (the dispatcher's `with_retries` with `DeliveryError::retryable`); the
//! Kubernetes client itself only repeats once after a 409 Conflict.

pub mod config;
pub mod kubernetes;
pub mod webhook;

#[cfg(test)]
mod kubernetes_tests;
#[cfg(test)]
mod webhook_tests;

use crate::error::DeliveryError;
use async_trait::async_trait;
use closeloop_core::events::{ScaleApplied, ScaleOutcome, ScaleRequested};
use std::sync::Arc;
use std::time::Duration;

pub use config::{KubernetesTargetConfig, ScaleTargetConfig, WebhookTargetConfig, WorkloadKind};
pub use kubernetes::KubernetesTarget;
pub use webhook::WebhookTarget;

/// What a target found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaleResult {
    pub outcome: ScaleOutcome,
    pub observed_replicas: u32,
    pub applied_replicas: u32,
    pub status_replicas: Option<u32>,
    /// Short, without secrets: `resourceVersion 4711`, `HTTP 200`.
    pub answer: String,
}

impl ScaleResult {
    /// The outcome event for `request` after `attempts` attempts.
    pub fn applied_event(
        self,
        request: &ScaleRequested,
        target: &str,
        attempts: u32,
    ) -> ScaleApplied {
        ScaleApplied {
            scaler: request.scaler.clone(),
            request_id: request.request_id,
            target: target.to_string(),
            outcome: self.outcome,
            observed_replicas: self.observed_replicas,
            applied_replicas: self.applied_replicas,
            status_replicas: self.status_replicas,
            answer: self.answer,
            attempts,
        }
    }
}

#[async_trait]
pub trait ScaleTarget: Send + Sync {
    /// `kubernetes` or `webhook`: `ScaleApplied.target` and the
    /// `integration` of an `ActionFailed`.
    fn kind(&self) -> &'static str;

    /// Carries out one request (one attempt, as far as retries go).
    async fn scale(&self, request: &ScaleRequested) -> Result<ScaleResult, DeliveryError>;
}

/// A target could not be set up from its config (CA file, URL).
#[derive(Debug, thiserror::Error)]
#[error("scale target {what}: {reason}")]
pub struct ScaleSetupError {
    pub what: String,
    pub reason: String,
}

/// Builds the target a scaler's config names. `http` is the actuator's
/// shared client, used for webhooks; a Kubernetes target builds its own
/// because it trusts its `ca_file`.
pub fn build_target(
    config: &ScaleTargetConfig,
    http: reqwest::Client,
    timeout: Duration,
) -> Result<Arc<dyn ScaleTarget>, ScaleSetupError> {
    match (&config.kubernetes, &config.webhook) {
        (Some(k), None) => Ok(Arc::new(KubernetesTarget::new(k, timeout)?)),
        (None, Some(w)) => Ok(Arc::new(WebhookTarget::new(w.clone(), http, timeout))),
        _ => Err(ScaleSetupError {
            what: "target".into(),
            reason: "needs exactly one of `kubernetes` and `webhook`".into(),
        }),
    }
}
