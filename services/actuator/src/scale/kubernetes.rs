//! The Kubernetes scale target: the `scale` subresource of a Deployment or
//! StatefulSet (`/apis/apps/v1/namespaces/{ns}/{resource}/{name}/scale`,
//! an autoscaling/v1 `Scale`), with a bearer token and the cluster's CA.
//!
//! Why GET then PUT with `metadata.resourceVersion`, not a merge PATCH: the
//! request says which count it was computed from, and the PUT only succeeds
//! if nobody changed the object since our GET (optimistic concurrency, 409
//! Conflict otherwise). A PATCH would silently overwrite someone else's
//! change made between our read and our write.

use super::config::KubernetesTargetConfig;
use super::{ScaleResult, ScaleSetupError, ScaleTarget};
use crate::error::DeliveryError;
use crate::http::send;
use async_trait::async_trait;
use closeloop_core::events::{ScaleOutcome, ScaleRequested};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

pub struct KubernetesTarget {
    http: reqwest::Client,
    /// The full scale subresource URL.
    url: String,
    /// `deployments/scale`, for messages about permissions.
    resource: String,
    namespace: String,
    token_file: Option<PathBuf>,
    timeout: Duration,
}

/// The parts of an autoscaling/v1 Scale the target reads.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ScaleView {
    spec_replicas: u32,
    status_replicas: Option<u32>,
    resource_version: Option<String>,
}

fn read_scale(what: &str, scale: &Value) -> Result<ScaleView, DeliveryError> {
    let count = |v: &Value| v.as_u64().and_then(|n| u32::try_from(n).ok());
    // spec.replicas is omitted when 0 (omitempty in the Go type).
    let spec_replicas = match scale.pointer("/spec/replicas") {
        None | Some(Value::Null) => 0,
        Some(v) => count(v).ok_or_else(|| DeliveryError::Invalid {
            what: what.to_string(),
            reason: format!("spec.replicas is not a replica count: {v}"),
        })?,
    };
    if scale.get("kind").and_then(Value::as_str) != Some("Scale") {
        return Err(DeliveryError::Invalid {
            what: what.to_string(),
            reason: "the answer is not a Scale object".into(),
        });
    }
    Ok(ScaleView {
        spec_replicas,
        status_replicas: scale.pointer("/status/replicas").and_then(count),
        resource_version: scale
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .map(str::to_string),
    })
}

impl KubernetesTarget {
    pub fn new(
        config: &KubernetesTargetConfig,
        timeout: Duration,
    ) -> Result<Self, ScaleSetupError> {
        let setup = |reason: String| ScaleSetupError {
            what: format!("kubernetes {}/{}", config.namespace, config.name),
            reason,
        };
        let mut builder = reqwest::Client::builder().user_agent(crate::http::USER_AGENT);
        if let Some(ca_file) = &config.ca_file {
            let pem = std::fs::read(ca_file)
                .map_err(|e| setup(format!("reading ca_file {}: {e}", ca_file.display())))?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| setup(format!("ca_file {} is not PEM: {e}", ca_file.display())))?;
            if certs.is_empty() {
                return Err(setup(format!(
                    "ca_file {} holds no certificate",
                    ca_file.display()
                )));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder
            .build()
            .map_err(|e| setup(format!("building the HTTP client: {e}")))?;
        let resource = config.kind.resource();
        let url = format!(
            "{}/apis/apps/v1/namespaces/{}/{resource}/{}/scale",
            config.api_url.trim_end_matches('/'),
            config.namespace,
            config.name
        );
        Ok(KubernetesTarget {
            http,
            url,
            resource: format!("{resource}/scale"),
            namespace: config.namespace.clone(),
            token_file: config.token_file.clone(),
            timeout,
        })
    }

    fn authorized(
        &self,
        what: &str,
        builder: reqwest::RequestBuilder,
    ) -> Result<reqwest::RequestBuilder, DeliveryError> {
        let Some(file) = &self.token_file else {
            return Ok(builder);
        };
        let token = std::fs::read_to_string(file).map_err(|e| DeliveryError::Invalid {
            what: what.to_string(),
            reason: format!("reading token_file {}: {e}", file.display()),
        })?;
        Ok(builder.bearer_auth(token.trim()))
    }

    async fn call(
        &self,
        what: &str,
        builder: reqwest::RequestBuilder,
    ) -> Result<Value, DeliveryError> {
        let builder = self.authorized(what, builder.timeout(self.timeout))?;
        let response = send(what, builder).await.map_err(|e| self.explain(e))?;
        response
            .json::<Value>()
            .await
            .map_err(|e| DeliveryError::from_reqwest(what, &e))
    }

    /// Turns a Status body into its message, and says what to do about 401/403/404.
    fn explain(&self, error: DeliveryError) -> DeliveryError {
        let DeliveryError::Status {
            what,
            status,
            body,
            retry_after,
        } = error
        else {
            return error;
        };
        let message = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|s| {
                let reason = s.get("reason").and_then(Value::as_str).unwrap_or("");
                let message = s.get("message").and_then(Value::as_str)?;
                Some(format!("{reason}: {message}"))
            })
            .unwrap_or(body);
        let hint = match status {
            401 => " (the token in token_file was refused: is it current?)".to_string(),
            403 => format!(
                " (the token needs get and update on {} in namespace {})",
                self.resource, self.namespace
            ),
            404 => " (no such workload: check namespace, kind and name)".to_string(),
            _ => String::new(),
        };
        DeliveryError::Status {
            what,
            status,
            body: format!("{message}{hint}"),
            retry_after,
        }
    }
}

#[async_trait]
impl ScaleTarget for KubernetesTarget {
    fn kind(&self) -> &'static str {
        "kubernetes"
    }

    async fn scale(&self, request: &ScaleRequested) -> Result<ScaleResult, DeliveryError> {
        // One retry after a 409: someone wrote between our GET and PUT; read
        // again and decide again (it may now be a drift).
        let mut retried = false;
        loop {
            let mut scale = self
                .call("kubernetes GET scale", self.http.get(&self.url))
                .await?;
            let seen = read_scale("kubernetes GET scale", &scale)?;
            let result = |outcome, applied, answer: String| ScaleResult {
                outcome,
                observed_replicas: seen.spec_replicas,
                applied_replicas: applied,
                status_replicas: seen.status_replicas,
                answer,
            };
            let version = seen.resource_version.clone().unwrap_or_default();
            if seen.spec_replicas == request.to_replicas {
                return Ok(result(
                    ScaleOutcome::Unchanged,
                    seen.spec_replicas,
                    format!("resourceVersion {version}"),
                ));
            }
            if seen.spec_replicas != request.from_replicas {
                return Ok(result(
                    ScaleOutcome::Drifted,
                    seen.spec_replicas,
                    format!(
                        "spec.replicas is {}, not {}: not applied",
                        seen.spec_replicas, request.from_replicas
                    ),
                ));
            }
            scale["spec"]["replicas"] = Value::from(request.to_replicas);
            match self
                .call(
                    "kubernetes PUT scale",
                    self.http.put(&self.url).json(&scale),
                )
                .await
            {
                Ok(updated) => {
                    let after = read_scale("kubernetes PUT scale", &updated)?;
                    let answer = format!(
                        "resourceVersion {}",
                        after.resource_version.unwrap_or_default()
                    );
                    return Ok(ScaleResult {
                        status_replicas: after.status_replicas.or(seen.status_replicas),
                        ..result(ScaleOutcome::Applied, after.spec_replicas, answer)
                    });
                }
                Err(DeliveryError::Status { status: 409, .. }) if !retried => retried = true,
                Err(e) => return Err(e),
            }
        }
    }
}
