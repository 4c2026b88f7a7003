//! One entry of `scalers:` in closeloop.yml, as users write it, with the
//! Kubernetes HPA `behavior` defaults filled in and `validate()` naming the
//! path of every problem.

use closeloop_core::duration::serde_duration;
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// Alert steps that come within this long of the scaler's last change are
/// dropped, unless the route's `scale_configs` says otherwise.
pub const DEFAULT_ALERT_COOLDOWN: Duration = Duration::from_secs(300);
/// HPA's default `--horizontal-pod-autoscaler-tolerance`.
pub const DEFAULT_TOLERANCE: f64 = 0.1;
/// HPAScalingRules: `stabilizationWindowSeconds` is at most one hour.
const MAX_STABILIZATION: Duration = Duration::from_secs(3600);
/// HPAScalingPolicy: `periodSeconds` is in (0, 1800].
const MAX_POLICY_PERIOD: Duration = Duration::from_secs(1800);

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScalerConfig {
    pub name: String,
    pub target: TargetConfig,
    /// PromQL returning one value: the total the replicas share.
    pub query: String,
    /// HPA AverageValue: desired = ceil(value / target_per_replica).
    pub target_per_replica: f64,
    pub min_replicas: u32,
    pub max_replicas: u32,
    #[serde(default = "default_tolerance")]
    pub tolerance: f64,
    #[serde(default)]
    pub behavior: BehaviorConfig,
    #[serde(default)]
    pub on_missing_data: OnMissingData,
    #[serde(default)]
    pub freeze_during_deploy: Option<FreezeConfig>,
    /// When the scaler's own trouble becomes an alert (issue item 6).
    #[serde(default)]
    pub health: HealthConfig,
    #[serde(default = "default_alert_cooldown", with = "serde_duration")]
    pub alert_cooldown: Duration,
    /// How often the scaler is evaluated; default `evaluation.interval`.
    #[serde(default, deserialize_with = "opt_duration")]
    pub interval: Option<Duration>,
}

/// Where replicas are changed: exactly one of `kubernetes` and `webhook`
/// (a struct, not an enum, so that `{kubernetes: {...}}` reads the same in
/// every serde format). Parsed here so that `closeloop config check`
/// refuses a bad target; the actuator has its own copy of these shapes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    #[serde(default)]
    pub kubernetes: Option<KubernetesTarget>,
    #[serde(default)]
    pub webhook: Option<WebhookTarget>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesTarget {
    pub api_url: String,
    pub namespace: String,
    pub kind: WorkloadKind,
    pub name: String,
    pub token_file: Option<String>,
    pub ca_file: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum WorkloadKind {
    Deployment,
    StatefulSet,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookTarget {
    pub url: String,
    #[serde(default)]
    pub headers: BTreeMap<String, Redacted>,
}

/// A header value that may be a credential: never printed.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Redacted(pub String);

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"<redacted>\"")
    }
}

/// `hold` or `{fallback_replicas: N}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnMissingData {
    #[default]
    Hold,
    Fallback(u32),
}

impl<'de> Deserialize<'de> for OnMissingData {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Fallback {
            fallback_replicas: u32,
        }
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Word(String),
            Fallback(Fallback),
        }
        match Raw::deserialize(d).map_err(|_| {
            serde::de::Error::custom("on_missing_data: expected `hold` or `{fallback_replicas: N}`")
        })? {
            Raw::Word(w) if w == "hold" => Ok(OnMissingData::Hold),
            Raw::Word(w) => Err(serde::de::Error::custom(format!(
                "on_missing_data: unknown value {w:?}, expected `hold` or `{{fallback_replicas: N}}`"
            ))),
            Raw::Fallback(f) => Ok(OnMissingData::Fallback(f.fallback_replicas)),
        }
    }
}

/// Hold scale-down for `for` after a deploy of this service/environment.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FreezeConfig {
    pub service: String,
    pub environment: String,
    #[serde(rename = "for", with = "serde_duration")]
    pub duration: Duration,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthConfig {
    /// Alert when the scaler wants `max_replicas` or more for this long.
    #[serde(default, deserialize_with = "opt_duration")]
    pub pinned_at_max_for: Option<Duration>,
    #[serde(default)]
    pub flapping: Option<FlappingConfig>,
    /// Alert when the query has returned nothing for this long.
    #[serde(default, deserialize_with = "opt_duration")]
    pub missing_data_for: Option<Duration>,
}

/// More than `direction_changes` reversals (up then down or down then up)
/// `within` a window is flapping.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlappingConfig {
    pub direction_changes: u32,
    #[serde(with = "serde_duration")]
    pub within: Duration,
}

/// `behavior` as written: every part optional, as in HPA's API.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BehaviorConfig {
    #[serde(default)]
    pub scale_up: Option<ScalingRulesConfig>,
    #[serde(default)]
    pub scale_down: Option<ScalingRulesConfig>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScalingRulesConfig {
    #[serde(default, deserialize_with = "opt_duration")]
    pub stabilization_window: Option<Duration>,
    #[serde(default)]
    pub select_policy: Option<SelectPolicy>,
    #[serde(default)]
    pub policies: Option<Vec<ScalingPolicy>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum SelectPolicy {
    /// The policy allowing the largest change (HPA default).
    Max,
    /// The policy allowing the smallest change.
    Min,
    /// No scaling in this direction.
    Disabled,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum PolicyType {
    Pods,
    Percent,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScalingPolicy {
    #[serde(rename = "type")]
    pub kind: PolicyType,
    pub value: u32,
    #[serde(with = "serde_duration")]
    pub period: Duration,
}

/// HPAScalingRules with the defaults applied: what the engine uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScalingRules {
    pub stabilization_window: Duration,
    pub select_policy: SelectPolicy,
    pub policies: Vec<ScalingPolicy>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Behavior {
    pub scale_up: ScalingRules,
    pub scale_down: ScalingRules,
}

fn policy(kind: PolicyType, value: u32, seconds: u64) -> ScalingPolicy {
    ScalingPolicy {
        kind,
        value,
        period: Duration::from_secs(seconds),
    }
}

impl ScalingRules {
    /// HPA's default scale-up: no stabilization; the larger of doubling
    /// and adding 4 pods every 15 seconds.
    pub fn default_scale_up() -> ScalingRules {
        ScalingRules {
            stabilization_window: Duration::ZERO,
            select_policy: SelectPolicy::Max,
            policies: vec![
                policy(PolicyType::Percent, 100, 15),
                policy(PolicyType::Pods, 4, 15),
            ],
        }
    }

    /// HPA's default scale-down: the highest recommendation of the last
    /// 300 seconds; then down to any count (100% per 15 seconds).
    pub fn default_scale_down() -> ScalingRules {
        ScalingRules {
            stabilization_window: Duration::from_secs(300),
            select_policy: SelectPolicy::Max,
            policies: vec![policy(PolicyType::Percent, 100, 15)],
        }
    }
}

impl ScalingRulesConfig {
    /// Fills each absent field from `defaults`, field by field, as the
    /// HPA API's defaulting does.
    fn resolve(&self, defaults: ScalingRules) -> ScalingRules {
        ScalingRules {
            stabilization_window: self
                .stabilization_window
                .unwrap_or(defaults.stabilization_window),
            select_policy: self.select_policy.unwrap_or(defaults.select_policy),
            policies: self.policies.clone().unwrap_or(defaults.policies),
        }
    }
}

impl BehaviorConfig {
    pub fn resolve(&self) -> Behavior {
        let rules = |c: &Option<ScalingRulesConfig>, d: ScalingRules| match c {
            Some(c) => c.resolve(d),
            None => d,
        };
        Behavior {
            scale_up: rules(&self.scale_up, ScalingRules::default_scale_up()),
            scale_down: rules(&self.scale_down, ScalingRules::default_scale_down()),
        }
    }
}

fn default_tolerance() -> f64 {
    DEFAULT_TOLERANCE
}
fn default_alert_cooldown() -> Duration {
    DEFAULT_ALERT_COOLDOWN
}

fn opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    serde_duration::deserialize(d).map(Some)
}

/// One thing wrong with a scaler, with its path in the config.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ScalerConfigProblem {
    /// e.g. `scalers[0].behavior.scale_up.policies[1].value`.
    pub path: String,
    pub message: String,
}

impl ScalerConfig {
    /// Checks what serde cannot; `path` is this scaler's place in the file,
    /// e.g. `scalers[0]`. Returns every problem, not just the first.
    pub fn validate(&self, path: &str) -> Result<(), Vec<ScalerConfigProblem>> {
        let mut problems = Vec::new();
        let mut bad = |field: &str, message: String| {
            problems.push(ScalerConfigProblem {
                path: format!("{path}.{field}"),
                message,
            })
        };
        if self.name.trim().is_empty() {
            bad("name", "must not be empty".into());
        }
        if self.query.trim().is_empty() {
            bad("query", "must not be empty".into());
        }
        if !(self.target_per_replica.is_finite() && self.target_per_replica > 0.0) {
            bad(
                "target_per_replica",
                format!("must be a number above 0, not {}", self.target_per_replica),
            );
        }
        // Scale-to-zero is not offered: HPA treats 0 replicas as "off".
        if self.min_replicas < 1 {
            bad("min_replicas", "must be at least 1".into());
        }
        if self.max_replicas < self.min_replicas {
            bad(
                "max_replicas",
                format!(
                    "{} is below min_replicas {}",
                    self.max_replicas, self.min_replicas
                ),
            );
        }
        if !(self.tolerance.is_finite() && (0.0..1.0).contains(&self.tolerance)) {
            bad(
                "tolerance",
                format!("must be in [0, 1), not {}", self.tolerance),
            );
        }
        if let OnMissingData::Fallback(n) = self.on_missing_data {
            if n < self.min_replicas || n > self.max_replicas {
                bad(
                    "on_missing_data.fallback_replicas",
                    format!(
                        "{n} is outside min_replicas..=max_replicas ({}..={})",
                        self.min_replicas, self.max_replicas
                    ),
                );
            }
        }
        if let Some(freeze) = &self.freeze_during_deploy {
            if freeze.service.is_empty() || freeze.environment.is_empty() {
                bad(
                    "freeze_during_deploy",
                    "needs both service and environment".into(),
                );
            }
            if freeze.duration.is_zero() {
                bad("freeze_during_deploy.for", "must be above 0s".into());
            }
        }
        if self.interval.is_some_and(|i| i.is_zero()) {
            bad("interval", "must be above 0s".into());
        }
        if let Some(flapping) = &self.health.flapping {
            if flapping.within.is_zero() {
                bad("health.flapping.within", "must be above 0s".into());
            }
        }
        for (direction, rules) in [
            ("scale_up", &self.behavior.scale_up),
            ("scale_down", &self.behavior.scale_down),
        ] {
            let Some(rules) = rules else { continue };
            if rules.stabilization_window.unwrap_or_default() > MAX_STABILIZATION {
                bad(
                    &format!("behavior.{direction}.stabilization_window"),
                    "must be at most 1h (as in HPAScalingRules)".into(),
                );
            }
            let Some(policies) = &rules.policies else {
                continue;
            };
            if policies.is_empty() {
                bad(
                    &format!("behavior.{direction}.policies"),
                    "needs at least one policy (or leave it out for the defaults)".into(),
                );
            }
            for (i, p) in policies.iter().enumerate() {
                if p.value == 0 {
                    bad(
                        &format!("behavior.{direction}.policies[{i}].value"),
                        "must be above 0".into(),
                    );
                }
                if p.period.is_zero() || p.period > MAX_POLICY_PERIOD {
                    bad(
                        &format!("behavior.{direction}.policies[{i}].period"),
                        "must be above 0s and at most 30m (as in HPAScalingPolicy)".into(),
                    );
                }
            }
        }
        if self.target.kubernetes.is_some() == self.target.webhook.is_some() {
            bad(
                "target",
                "needs exactly one of `kubernetes` and `webhook`".into(),
            );
        }
        if let Some(k) = &self.target.kubernetes {
            for (field, value) in [
                ("api_url", &k.api_url),
                ("namespace", &k.namespace),
                ("name", &k.name),
            ] {
                if value.trim().is_empty() {
                    bad(
                        &format!("target.kubernetes.{field}"),
                        "must not be empty".into(),
                    );
                }
            }
            if !is_http_url(&k.api_url) {
                bad(
                    "target.kubernetes.api_url",
                    format!("{:?} is not an http(s) URL", k.api_url),
                );
            }
        }
        if let Some(w) = &self.target.webhook {
            if !is_http_url(&w.url) {
                bad(
                    "target.webhook.url",
                    format!("{:?} is not an http(s) URL", w.url),
                );
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}

fn is_http_url(url: &str) -> bool {
    url.starts_with("https://") || url.starts_with("http://")
}
