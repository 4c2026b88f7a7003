//! The `target` of a scaler in closeloop.yml, as the actuator needs it.
//! The evaluator parses the same node for validation (its
//! `scaling::config::TargetConfig`); the shapes must stay alike.

use secrecy::SecretString;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Exactly one of `kubernetes` and `webhook` (a struct rather than an
/// enum so that `{kubernetes: {...}}` reads the same in every serde format;
/// `build_target` refuses none or both).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleTargetConfig {
    #[serde(default)]
    pub kubernetes: Option<KubernetesTargetConfig>,
    #[serde(default)]
    pub webhook: Option<WebhookTargetConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesTargetConfig {
    /// e.g. `https://k8s:6443`.
    pub api_url: String,
    pub namespace: String,
    pub kind: WorkloadKind,
    pub name: String,
    /// A bearer token, read at every call: service-account tokens rotate.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// PEM CA bundle the API server's certificate must chain to.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
}

impl WorkloadKind {
    /// The resource name in the apps/v1 API path.
    pub fn resource(self) -> &'static str {
        match self {
            WorkloadKind::Deployment => "deployments",
            WorkloadKind::StatefulSet => "statefulsets",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookTargetConfig {
    pub url: String,
    /// Sent with every POST; values may be credentials and are never logged.
    #[serde(default)]
    pub headers: BTreeMap<String, SecretString>,
}

impl WebhookTargetConfig {
    /// For callers that hold the header values as plain strings (the
    /// binary converting the evaluator's parse of the same node).
    pub fn new(url: String, headers: BTreeMap<String, String>) -> WebhookTargetConfig {
        WebhookTargetConfig {
            url,
            headers: headers
                .into_iter()
                .map(|(k, v)| (k, SecretString::from(v)))
                .collect(),
        }
    }
}
