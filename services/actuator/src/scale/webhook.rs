//! The webhook scale target: one POST per request with what the scaler
//! decided and why; the receiver does the scaling. A 2xx means applied.

use super::config::WebhookTargetConfig;
use super::{ScaleResult, ScaleTarget};
use crate::error::DeliveryError;
use crate::http::send;
use async_trait::async_trait;
use closeloop_core::events::{ScaleLimit, ScaleOutcome, ScaleRequested};
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use std::time::Duration;

pub struct WebhookTarget {
    config: WebhookTargetConfig,
    http: reqwest::Client,
    timeout: Duration,
}

impl WebhookTarget {
    pub fn new(config: WebhookTargetConfig, http: reqwest::Client, timeout: Duration) -> Self {
        WebhookTarget {
            config,
            http,
            timeout,
        }
    }
}

/// `{"scaler","from","to","reason", ...}`: the body plus every
/// decision field of the request, so the receiver can log why.
pub fn webhook_body(r: &ScaleRequested) -> Value {
    json!({
        "scaler": r.scaler,
        "from": r.from_replicas,
        "to": r.to_replicas,
        "reason": reason(r),
        "request_id": r.request_id,
        "trigger": r.trigger,
        "query_value": r.query_value,
        "raw_desired": r.raw_desired,
        "stabilized": r.stabilized,
        "limited_by": r.limited_by,
        "limiting_policy": r.limiting_policy,
        "cause": r.cause,
        "tick_at": r.tick_at,
    })
}

/// One line for people: `metric: value 612.5, raw desired 13, limited by policy (...)`.
pub fn reason(r: &ScaleRequested) -> String {
    let trigger = serde_json::to_value(r.trigger)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let mut parts = Vec::new();
    if let Some(v) = r.query_value {
        parts.push(format!("value {v}"));
    }
    if let Some(d) = r.raw_desired {
        parts.push(format!("raw desired {d}"));
    }
    if let Some(cause) = &r.cause {
        parts.push(format!("alert {}", cause.alertname));
    }
    let limits: Vec<String> = r
        .limited_by
        .iter()
        .map(|l| match (l, &r.limiting_policy) {
            (ScaleLimit::Policy, Some(p)) => format!("policy {p}"),
            _ => serde_json::to_value(l)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
        })
        .collect();
    if !limits.is_empty() {
        parts.push(format!("limited by {}", limits.join(", ")));
    }
    format!("{trigger}: {}", parts.join(", "))
}

#[async_trait]
impl ScaleTarget for WebhookTarget {
    fn kind(&self) -> &'static str {
        "webhook"
    }

    async fn scale(&self, request: &ScaleRequested) -> Result<ScaleResult, DeliveryError> {
        let mut builder = self
            .http
            .post(&self.config.url)
            .timeout(self.timeout)
            // Receivers can drop a repeated delivery of the same decision.
            .header("Idempotency-Key", request.request_id.to_string())
            .json(&webhook_body(request));
        for (name, value) in &self.config.headers {
            builder = builder.header(name.as_str(), value.expose_secret());
        }
        let response = send("scale webhook POST", builder).await?;
        Ok(ScaleResult {
            outcome: ScaleOutcome::Applied,
            observed_replicas: request.from_replicas,
            applied_replicas: request.to_replicas,
            status_replicas: None,
            answer: format!("HTTP {}", response.status().as_u16()),
        })
    }
}
