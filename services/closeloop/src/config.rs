//! `closeloop.yml`: one typed config (unknown keys refused), validated
//! after parsing with errors that name the file and the path in it. Every
//! default is named here; CLI flags and `CLOSELOOP_*` variables override.

use anyhow::{bail, Context, Result};
use closeloop_actuator::config::{ActuatorConfig, DeliveryConfig, ReceiverConfig, RouteConfig};
use closeloop_core::duration::serde_duration;
use closeloop_core::LabelSet;
use closeloop_evaluator::scaling::config::{TargetConfig, WorkloadKind};
use closeloop_evaluator::scaling::{AlertAction, AlertScaleRouter, AlertScaleStep, ScalerConfig};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:9470";
pub const DEFAULT_DATA_DIR: &str = "./data";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub listen: Option<SocketAddr>,
    pub data_dir: Option<PathBuf>,
    /// Where people reach closeloop; used in generator URLs and webhooks.
    pub external_url: Option<String>,
    /// Prometheus rule files; globs, relative to the config file.
    #[serde(default)]
    pub rule_files: Vec<String>,
    #[serde(default)]
    pub external_labels: LabelSet,
    #[serde(default)]
    pub evaluation: EvaluationConfig,
    #[serde(default)]
    pub attribution: AttributionConfig,
    #[serde(default)]
    pub ingest: IngestConfig,
    /// Credentials per endpoint class (module `auth`).
    #[serde(default)]
    pub auth: crate::auth::AuthConfig,
    #[serde(default)]
    pub storage: StorageConfig,
    #[serde(default = "default_route")]
    pub route: RouteConfig,
    #[serde(default)]
    pub receivers: Vec<ReceiverConfig>,
    #[serde(default)]
    pub delivery: DeliveryConfig,
    /// Alertmanager's `inhibit_rules`: a firing source alert mutes the
    /// firing of matching targets with the same `equal` labels.
    #[serde(default)]
    pub inhibit_rules: Vec<closeloop_actuator::inhibit::InhibitRuleConfig>,
    /// Alertmanager's named time intervals, which routes name in
    /// `mute_time_intervals` / `active_time_intervals`.
    #[serde(default)]
    pub time_intervals: Vec<closeloop_actuator::time_intervals::TimeIntervalConfig>,
    /// The older name of `time_intervals`.
    #[serde(default)]
    pub mute_time_intervals: Vec<closeloop_actuator::time_intervals::TimeIntervalConfig>,
    /// HPA-style scalers (issue 5): a PromQL query, replicas bounds and
    /// behavior, and the target whose replicas they set.
    #[serde(default)]
    pub scalers: Vec<ScalerConfig>,
    /// Where this config came from, for resolving relative paths.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvaluationConfig {
    /// Interval of rule groups that do not set their own.
    #[serde(with = "serde_duration")]
    pub interval: Duration,
    /// How far event time trails the newest sample, for late shards.
    #[serde(with = "serde_duration")]
    pub lateness: Duration,
    /// With no samples arriving, event time follows the wall clock minus
    /// this, so rules over vanished data still evaluate.
    #[serde(with = "serde_duration")]
    pub idle_follow: Duration,
    /// Prometheus' `--query.lookback-delta`.
    #[serde(with = "serde_duration")]
    pub lookback_delta: Duration,
    /// Alertmanager's `resolve_timeout`: an alert posted to
    /// `/api/v2/alerts` without `endsAt` resolves this long after it was
    /// last re-sent.
    #[serde(with = "serde_duration")]
    pub resolve_timeout: Duration,
    /// How much history the window keeps for the query API beyond what
    /// the rules need (each series pays ~16 bytes per sample held).
    #[serde(with = "serde_duration")]
    pub query_window: Duration,
}

impl Default for EvaluationConfig {
    fn default() -> Self {
        EvaluationConfig {
            interval: Duration::from_secs(15),
            lateness: Duration::from_secs(10),
            idle_follow: Duration::from_secs(60),
            lookback_delta: Duration::from_secs(300),
            resolve_timeout: Duration::from_secs(300),
            query_window: Duration::ZERO,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AttributionConfig {
    /// How long before an alert became active a deploy stays a suspect.
    #[serde(with = "serde_duration")]
    pub window: Duration,
    /// The alert labels naming the service and the environment, in that order.
    pub labels: Vec<String>,
}

impl Default for AttributionConfig {
    fn default() -> Self {
        AttributionConfig {
            window: Duration::from_secs(3600),
            labels: vec!["service".into(), "environment".into()],
        }
    }
}

/// Where the event log and the read models live.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// `postgres://user@host/db`, `sqlite://path` or a path; default
    /// `<data_dir>/closeloop.db` (SQLite).
    pub database: Option<String>,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub retention: RetentionConfig,
}

/// How long the log keeps each class of topic. Only the samples topic is
/// trimmed today: the other topics (alerts, deploys, push groups, silences,
/// actions, outcomes) are read from their start when a role restarts, so
/// they are kept whole (on Kafka: created with `retention.ms=-1`, so a
/// broker default of 7 days cannot delete them) until restarts read a
/// snapshot instead.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    #[serde(default = "default_samples_retention")]
    pub samples: TopicRetention,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            samples: default_samples_retention(),
        }
    }
}

/// A limit by age (record timestamp) and by size per partition; either may
/// be left out. Whole segments go, oldest first, and never one the
/// evaluator has not read past (so its window survives any setting).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicRetention {
    #[serde(default, with = "closeloop_core::duration::serde_opt_duration")]
    pub time: Option<Duration>,
    /// Prometheus' size syntax (`512MB`, `20GB`; powers of 1024).
    #[serde(default, with = "closeloop_core::byte_size::serde_opt_byte_size")]
    pub size: Option<u64>,
}

/// Prometheus' default retention, 15 days, and no size limit.
fn default_samples_retention() -> TopicRetention {
    TopicRetention {
        time: Some(Duration::from_secs(15 * 24 * 3600)),
        size: None,
    }
}

/// The event log: the embedded one in `<data_dir>/log` unless `kafka` is set.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    pub kafka: Option<KafkaLogConfig>,
}

/// The log on a Kafka-protocol cluster (distributed mode).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaLogConfig {
    /// `host:port` of the brokers to bootstrap from.
    pub brokers: Vec<String>,
    /// Topics are `<prefix>.samples`, `<prefix>.deploys`, ...; one prefix
    /// per closeloop deployment sharing a cluster.
    #[serde(default = "default_topic_prefix")]
    pub topic_prefix: String,
    /// Partitions of the topics closeloop creates (existing topics keep
    /// theirs). Also the number of shards evaluators split rule groups into,
    /// so at most this many evaluators share the work.
    #[serde(default = "default_partitions")]
    pub partitions: u32,
    /// Replicas of the topics closeloop creates; default: the broker's.
    pub replication_factor: Option<u16>,
    /// How long a silent evaluator (or other member) keeps its share before
    /// the others take it over.
    #[serde(default = "default_session_timeout", with = "serde_duration")]
    pub session_timeout: Duration,
    /// How long an append waits for the brokers before ingest answers 503.
    #[serde(default = "default_kafka_timeout", with = "serde_duration")]
    pub append_timeout: Duration,
    #[serde(default = "default_kafka_timeout", with = "serde_duration")]
    pub request_timeout: Duration,
    /// librdkafka settings passed through unchanged (`security.protocol`,
    /// `sasl.mechanism`, `sasl.username`, `ssl.ca.location`, ...). Values
    /// whose name looks secret are never logged.
    #[serde(default)]
    pub client: BTreeMap<String, ScalarValue>,
}

/// A YAML scalar given as a string, number or bool (`linger.ms: 20`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ScalarValue {
    Text(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
}

impl std::fmt::Display for ScalarValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ScalarValue::Text(text) => f.write_str(text),
            ScalarValue::Integer(n) => write!(f, "{n}"),
            ScalarValue::Float(x) => write!(f, "{x}"),
            ScalarValue::Bool(b) => write!(f, "{b}"),
        }
    }
}

fn default_topic_prefix() -> String {
    closeloop_core::topics::DEFAULT_PREFIX.to_string()
}

fn default_partitions() -> u32 {
    6
}

fn default_session_timeout() -> Duration {
    Duration::from_secs(10)
}

fn default_kafka_timeout() -> Duration {
    Duration::from_secs(5)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    pub max_body_bytes: usize,
    pub max_decoded_bytes: usize,
    pub max_series_per_request: usize,
    pub max_label_name_length: usize,
    pub max_label_value_length: usize,
    /// Samples records (remote-write requests, OTLP exports) the evaluator
    /// may fall behind by before ingest answers samples with 503 and
    /// Retry-After, and `/-/ready` says why; 0 never refuses.
    pub max_evaluator_lag: u64,
}

impl Default for IngestConfig {
    fn default() -> Self {
        let limits = closeloop_ingest::IngestLimits::default();
        IngestConfig {
            max_body_bytes: limits.max_body_bytes,
            max_decoded_bytes: limits.max_decoded_bytes,
            max_series_per_request: limits.max_series_per_request,
            max_label_name_length: limits.max_label_name_length,
            max_label_value_length: limits.max_label_value_length,
            max_evaluator_lag: 50_000,
        }
    }
}

/// The evaluator's copy of a scaler target in the actuator's shape (both
/// parse the same YAML node; see `closeloop_actuator::scale::config`).
fn scale_target(target: &TargetConfig) -> closeloop_actuator::scale::ScaleTargetConfig {
    use closeloop_actuator::scale::{self as act};
    act::ScaleTargetConfig {
        kubernetes: target
            .kubernetes
            .as_ref()
            .map(|k| act::KubernetesTargetConfig {
                api_url: k.api_url.clone(),
                namespace: k.namespace.clone(),
                kind: match k.kind {
                    WorkloadKind::Deployment => act::WorkloadKind::Deployment,
                    WorkloadKind::StatefulSet => act::WorkloadKind::StatefulSet,
                },
                name: k.name.clone(),
                token_file: k.token_file.as_ref().map(PathBuf::from),
                ca_file: k.ca_file.as_ref().map(PathBuf::from),
            }),
        webhook: target.webhook.as_ref().map(|w| {
            act::WebhookTargetConfig::new(
                w.url.clone(),
                w.headers
                    .iter()
                    .map(|(k, v)| (k.clone(), v.0.clone()))
                    .collect(),
            )
        }),
    }
}

/// With no config at all, alerts still go somewhere visible: a receiver
/// named `default` with no integrations (they show in /api/v1/alert-history).
fn default_route() -> RouteConfig {
    RouteConfig {
        receiver: Some("default".into()),
        ..RouteConfig::default()
    }
}

impl Default for Config {
    fn default() -> Self {
        // An empty document takes every default.
        let mut config: Config = serde_yaml::from_str("{}").expect("empty config parses");
        config.base_dir = PathBuf::from(".");
        config.validate().expect("the default config is valid");
        config
    }
}

impl Config {
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        let mut config: Config = serde_yaml::from_str(&text)
            .with_context(|| format!("parsing config file {}", path.display()))?;
        config.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        if config.base_dir.as_os_str().is_empty() {
            config.base_dir = PathBuf::from(".");
        }
        config
            .validate()
            .with_context(|| format!("invalid config file {}", path.display()))?;
        Ok(config)
    }

    pub fn validate(&mut self) -> Result<()> {
        if self.evaluation.interval.is_zero() {
            bail!("evaluation.interval: must be greater than 0");
        }
        if let Some(kafka) = &self.storage.log.kafka {
            if kafka.brokers.is_empty() {
                bail!("storage.log.kafka.brokers: list at least one host:port");
            }
            if kafka.partitions == 0 {
                bail!("storage.log.kafka.partitions: must be at least 1");
            }
            let prefix_ok = !kafka.topic_prefix.is_empty()
                && kafka
                    .topic_prefix
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
            if !prefix_ok {
                bail!(
                    "storage.log.kafka.topic_prefix: {:?} is not a valid Kafka topic name part (letters, digits, '.', '_', '-')",
                    kafka.topic_prefix
                );
            }
        }
        let mut problems = Vec::new();
        let mut names = std::collections::BTreeSet::new();
        for (i, scaler) in self.scalers.iter().enumerate() {
            let path = format!("scalers[{i}]");
            if let Err(found) = scaler.validate(&path) {
                problems.extend(found.into_iter().map(|p| p.to_string()));
            }
            if !names.insert(scaler.name.as_str()) {
                problems.push(format!(
                    "{path}.name: duplicate scaler name {:?}",
                    scaler.name
                ));
            }
            if let Err(e) = closeloop_promql::parse(&scaler.query) {
                problems.push(format!("{path}.query: {e}"));
            }
        }
        if !problems.is_empty() {
            bail!("{}", problems.join("; "));
        }
        if self.attribution.labels.len() != 2 {
            bail!("attribution.labels: expected two label names (service, environment)");
        }
        if !self
            .receivers
            .iter()
            .any(|r| Some(&r.name) == self.route.receiver.as_ref())
            && self.route.receiver.as_deref() == Some("default")
        {
            // The implicit default receiver has no integrations.
            self.receivers
                .push(serde_yaml::from_str("name: default").expect("receiver parses"));
        }
        self.actuator()
            .validate()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(())
    }

    /// The prefix of every topic name.
    pub fn topic_prefix(&self) -> &str {
        match &self.storage.log.kafka {
            Some(kafka) => &kafka.topic_prefix,
            None => closeloop_core::topics::DEFAULT_PREFIX,
        }
    }

    pub fn actuator(&self) -> ActuatorConfig {
        ActuatorConfig {
            route: self.route.clone(),
            receivers: self.receivers.clone(),
            external_url: self.external_url.clone().unwrap_or_default(),
            delivery: self.delivery.clone(),
            inhibit_rules: self.inhibit_rules.clone(),
            time_intervals: self.time_intervals.clone(),
            mute_time_intervals: self.mute_time_intervals.clone(),
            scalers: self
                .scalers
                .iter()
                .map(|s| closeloop_actuator::ScalerTarget {
                    name: s.name.clone(),
                    target: scale_target(&s.target),
                })
                .collect(),
        }
    }

    /// `evaluator` with this config's scalers added, and alert steps
    /// routed as the actuator routes alerts: an alert whose route reaches
    /// a receiver with `scale_configs` steps those scalers. The evaluator
    /// decides the step (it owns the scaler's history); the actuator
    /// applies the resulting `ScaleRequested`.
    pub fn with_scalers(
        &self,
        evaluator: closeloop_evaluator::Evaluator,
    ) -> Result<closeloop_evaluator::Evaluator> {
        let mut evaluator = evaluator.with_scalers(self.scalers.clone());
        let tree = closeloop_actuator::RouteTree::new(&self.route)
            .map_err(|e| anyhow::anyhow!("route: {e}"))?;
        let steps: BTreeMap<String, Vec<AlertScaleStep>> = self
            .receivers
            .iter()
            .map(|r| {
                let steps = r
                    .scale_configs
                    .iter()
                    .filter_map(|c| {
                        let action = match (c.step, c.set) {
                            (Some(n), None) => AlertAction::Step(n),
                            (None, Some(n)) => AlertAction::Set(n),
                            _ => return None,
                        };
                        Some(AlertScaleStep {
                            scaler: c.scaler.clone(),
                            action,
                            cooldown: c.cooldown,
                        })
                    })
                    .collect();
                (r.name.clone(), steps)
            })
            .collect();
        if steps.values().any(|s| !s.is_empty()) {
            let router: AlertScaleRouter = std::sync::Arc::new(move |labels: &LabelSet| {
                let mut seen = std::collections::BTreeSet::new();
                closeloop_actuator::route(&tree, labels)
                    .into_iter()
                    .filter(|r| seen.insert(r.receiver.clone()))
                    .flat_map(|r| steps.get(&r.receiver).cloned().unwrap_or_default())
                    .collect()
            });
            evaluator.set_alert_router(router);
        }
        Ok(evaluator)
    }

    /// The evaluator as this config describes it, over the rule files
    /// `rule_files` names, or `override_rules` when given (replay's --rules).
    pub fn evaluator(&self, override_rules: &[PathBuf]) -> Result<closeloop_evaluator::Evaluator> {
        let paths = if override_rules.is_empty() {
            self.rule_file_paths()?
        } else {
            override_rules.to_vec()
        };
        let mut groups = Vec::new();
        for path in &paths {
            groups.extend(closeloop_evaluator::load_rule_file(path)?);
        }
        tracing::info!(groups = groups.len(), "rule groups loaded");
        let labels = &self.attribution.labels;
        let config = closeloop_evaluator::EvaluatorConfig {
            default_interval_ms: self.evaluation.interval.as_millis() as i64,
            lookback_ms: self.evaluation.lookback_delta.as_millis() as i64,
            attribution: closeloop_evaluator::deploys::Attribution {
                window_ms: self.attribution.window.as_millis() as i64,
                service_label: labels[0].clone(),
                environment_label: labels[1].clone(),
            },
            external_labels: self.external_labels.clone(),
            external_url: self.external_url.clone().unwrap_or_default(),
        };
        let mut evaluator = closeloop_evaluator::Evaluator::new(config, groups);
        evaluator.set_resolve_timeout(self.evaluation.resolve_timeout.as_millis() as i64);
        evaluator.keep_at_least(
            (self.evaluation.query_window + self.evaluation.lookback_delta).as_millis() as i64,
        );
        Ok(evaluator)
    }

    /// The rule files the globs name, sorted, relative to the config file.
    pub fn rule_file_paths(&self) -> Result<Vec<PathBuf>> {
        let mut paths = Vec::new();
        for pattern in &self.rule_files {
            let full = if Path::new(pattern).is_absolute() {
                PathBuf::from(pattern)
            } else {
                self.base_dir.join(pattern)
            };
            let full = full.to_string_lossy().into_owned();
            let matches = glob::glob(&full)
                .with_context(|| format!("rule_files: bad pattern {pattern:?}"))?;
            let mut found: Vec<PathBuf> = matches.filter_map(Result::ok).collect();
            found.sort();
            paths.extend(found);
        }
        Ok(paths)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config> {
        let mut config: Config = serde_yaml::from_str(text)?;
        config.base_dir = PathBuf::from(".");
        config.validate()?;
        Ok(config)
    }

    #[test]
    fn the_config_from_the_issue_parses_unchanged() {
        let config = parse(
            r#"
rule_files: [rules/*.yml]
evaluation: {interval: 15s}
attribution: {window: 1h, labels: [service, environment]}
route:
  receiver: default
  routes:
    - matchers: ['severity="page"']
      receiver: backlog
receivers:
  - name: default
    webhook_configs: [{url: http://127.0.0.1:5001/}]
  - name: backlog
    redmine_configs:
      - url: http://127.0.0.1:3300
        api_key_file: /path/to/key
        project: checkout
        on_resolved: close
"#,
        )
        .unwrap();
        assert_eq!(config.evaluation.interval, Duration::from_secs(15));
        assert_eq!(config.attribution.window, Duration::from_secs(3600));
        assert_eq!(config.receivers.len(), 2);
    }

    #[test]
    fn no_config_at_all_is_valid_and_uses_the_named_defaults() {
        let config = Config::default();
        assert_eq!(config.evaluation.interval, Duration::from_secs(15));
        assert_eq!(config.evaluation.lookback_delta, Duration::from_secs(300));
        assert!(config.storage.database.is_none());
    }

    #[test]
    fn the_kafka_log_from_the_issue_parses_with_client_settings() {
        let config = parse(
            r#"
storage:
  log:
    kafka:
      brokers: ["127.0.0.1:9092"]
      topic_prefix: closeloop
      client: {security.protocol: SASL_SSL, linger.ms: 20}
  database: postgres://closeloop@127.0.0.1/closeloop
"#,
        )
        .unwrap();
        let kafka = config.storage.log.kafka.as_ref().expect("kafka config");
        assert_eq!(kafka.brokers, ["127.0.0.1:9092"]);
        assert_eq!(kafka.partitions, 6);
        assert_eq!(kafka.session_timeout, Duration::from_secs(10));
        assert_eq!(kafka.client["linger.ms"].to_string(), "20");
        assert_eq!(kafka.client["security.protocol"].to_string(), "SASL_SSL");
        let bad = parse("storage: {log: {kafka: {brokers: [], topic_prefix: x}}}").unwrap_err();
        assert!(format!("{bad:#}").contains("brokers"), "{bad:#}");
        let bad =
            parse("storage: {log: {kafka: {brokers: [a:1], topic_prefix: 'a b'}}}").unwrap_err();
        assert!(format!("{bad:#}").contains("topic_prefix"), "{bad:#}");
    }

    #[test]
    fn scalers_and_scale_configs_parse_and_are_checked_against_each_other() {
        let config = parse(
            r#"
route: {receiver: default, routes: [{matchers: ['alertname="QueueBacklog"'], receiver: scale}]}
receivers:
  - name: default
  - name: scale
    scale_configs: [{scaler: checkout-workers, step: +2}]
scalers:
  - name: checkout-workers
    target: {webhook: {url: "http://127.0.0.1:9/scale", headers: {Authorization: Bearer x}}}
    query: sum(queue_depth)
    target_per_replica: 50
    min_replicas: 2
    max_replicas: 20
    behavior:
      scale_down: {stabilization_window: 10s}
    freeze_during_deploy: {service: checkout, environment: production, for: 10m}
"#,
        )
        .unwrap();
        assert_eq!(config.scalers.len(), 1);
        let actuator = config.actuator();
        assert_eq!(actuator.scalers[0].name, "checkout-workers");
        assert!(actuator.scalers[0].target.webhook.is_some());
        assert_eq!(actuator.receivers[1].scale_configs[0].step, Some(2));

        let bad = parse(
            r#"
receivers: [{name: default, scale_configs: [{scaler: nobody, set: 3}]}]
scalers:
  - {name: w, target: {webhook: {url: "ftp://x"}}, query: "sum(", target_per_replica: 0,
     min_replicas: 3, max_replicas: 2}
"#,
        )
        .unwrap_err();
        let text = format!("{bad:#}");
        for wanted in [
            "scalers[0].target_per_replica",
            "scalers[0].max_replicas",
            "scalers[0].target.webhook.url",
            "scalers[0].query",
        ] {
            assert!(text.contains(wanted), "{wanted} not in {text}");
        }
        let bad = parse(
            r#"
receivers: [{name: default, scale_configs: [{scaler: nobody, set: 3}]}]
"#,
        )
        .unwrap_err();
        assert!(
            format!("{bad:#}").contains("receivers[0].scale_configs[0].scaler"),
            "{bad:#}"
        );
    }

    #[test]
    fn mistakes_are_refused_with_where_they_are() {
        let unknown = parse("evaluation: {intervall: 15s}").unwrap_err();
        assert!(format!("{unknown:#}").contains("intervall"), "{unknown:#}");
        let duration = parse("evaluation: {interval: 15}").unwrap_err();
        assert!(
            format!("{duration:#}").contains("evaluation"),
            "{duration:#}"
        );
        let receiver = parse("route: {receiver: nobody}").unwrap_err();
        assert!(format!("{receiver:#}").contains("nobody"), "{receiver:#}");
    }
}
