//! The actuator's part of `closeloop.yml`: an Alertmanager-shaped `route`
//! tree and `receivers`, so an Alertmanager config ports with few edits,
//! plus closeloop's delivery settings. Parsed with serde, then checked by
//! [`ActuatorConfig::validate`], which names every problem with its path.

use crate::matcher::parse_matchers;
use crate::scale::ScaleTargetConfig;
pub use crate::tracker_config::{
    GithubConfig, GitlabConfig, IssuePolicy, JiraApiVersion, JiraConfig, RateLimitConfig,
};
use closeloop_core::duration::parse_duration;
use secrecy::SecretString;
use serde::{Deserialize, Deserializer};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActuatorConfig {
    pub route: RouteConfig,
    #[serde(default)]
    pub receivers: Vec<ReceiverConfig>,
    /// Where people reach closeloop; sent as `externalURL` in webhook
    /// payloads (Alertmanager's `--web.external-url`).
    #[serde(default)]
    pub external_url: String,
    #[serde(default)]
    pub delivery: DeliveryConfig,
    /// The scalers' targets (closeloop.yml's `scalers:`, the part the
    /// actuator needs): where a scaler's `ScaleRequested` is applied.
    #[serde(default)]
    pub scalers: Vec<ScalerTarget>,
    /// Alertmanager's `inhibit_rules` (module `inhibit`).
    #[serde(default)]
    pub inhibit_rules: Vec<crate::inhibit::InhibitRuleConfig>,
    /// Alertmanager's named `time_intervals` (module `time_intervals`).
    #[serde(default)]
    pub time_intervals: Vec<crate::time_intervals::TimeIntervalConfig>,
    /// The older name of the same list; both may be used.
    #[serde(default)]
    pub mute_time_intervals: Vec<crate::time_intervals::TimeIntervalConfig>,
}

impl ActuatorConfig {
    /// Every named time interval with its config path.
    pub fn named_time_intervals(
        &self,
    ) -> impl Iterator<Item = (String, crate::time_intervals::TimeIntervalConfig)> + '_ {
        let paths = |key: &'static str| {
            move |(i, c): (usize, &crate::time_intervals::TimeIntervalConfig)| {
                (format!("{key}[{i}]"), c.clone())
            }
        };
        self.time_intervals
            .iter()
            .enumerate()
            .map(paths("time_intervals"))
            .chain(
                self.mute_time_intervals
                    .iter()
                    .enumerate()
                    .map(paths("mute_time_intervals")),
            )
    }
}

/// A scaler's name and target. Deserializing a whole `scalers:` entry
/// takes only these two fields; the rest is the evaluator's.
#[derive(Debug, Clone, Deserialize)]
pub struct ScalerTarget {
    pub name: String,
    pub target: ScaleTargetConfig,
}

/// A receiver's `scale_configs` entry: an alert routed here moves
/// `scaler` by `step` replicas or to `set` replicas (exactly one), within
/// the scaler's min/max, at most once per `cooldown` (default: the
/// scaler's `alert_cooldown`). The evaluator that owns the scaler makes
/// the decision (module `closeloop_evaluator::scaling`); the actuator only
/// applies the resulting `ScaleRequested`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleConfig {
    pub scaler: String,
    #[serde(default)]
    pub step: Option<i64>,
    #[serde(default)]
    pub set: Option<u32>,
    #[serde(default, deserialize_with = "optional_duration")]
    pub cooldown: Option<Duration>,
}

/// One node of the routing tree. Children inherit `receiver`, `group_by`
/// and the group timers when they leave them out.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    #[serde(default)]
    pub receiver: Option<String>,
    /// Label names; `['...']` groups by all labels.
    #[serde(default)]
    pub group_by: Option<Vec<String>>,
    #[serde(default, rename = "continue")]
    pub continue_matching: bool,
    /// Alertmanager matcher syntax: `severity="page"`, `team=~"a|b"`.
    #[serde(default)]
    pub matchers: Vec<String>,
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
    /// Alertmanager's group timers (defaults 30s, 5m, 4h at the root):
    /// they batch webhook notifications (`crate::grouping`).
    #[serde(default, deserialize_with = "optional_duration")]
    pub group_wait: Option<Duration>,
    #[serde(default, deserialize_with = "optional_duration")]
    pub group_interval: Option<Duration>,
    #[serde(default, deserialize_with = "optional_duration")]
    pub repeat_interval: Option<Duration>,
    /// Names of `time_intervals` inside which this route's groups send
    /// nothing. Not inherited, as in Alertmanager.
    #[serde(default)]
    pub mute_time_intervals: Vec<String>,
    /// Names of `time_intervals` outside which this route's groups send
    /// nothing. Not inherited.
    #[serde(default)]
    pub active_time_intervals: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverConfig {
    pub name: String,
    #[serde(default)]
    pub webhook_configs: Vec<WebhookConfig>,
    #[serde(default)]
    pub redmine_configs: Vec<RedmineConfig>,
    #[serde(default)]
    pub github_configs: Vec<GithubConfig>,
    #[serde(default)]
    pub gitlab_configs: Vec<GitlabConfig>,
    #[serde(default)]
    pub jira_configs: Vec<JiraConfig>,
    #[serde(default)]
    pub scale_configs: Vec<ScaleConfig>,
}

/// Alertmanager's `webhook_config`: POSTs the version-4 JSON payload.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub url: String,
    #[serde(default = "default_true")]
    pub send_resolved: bool,
    /// 0 means no limit (Alertmanager's meaning).
    #[serde(default)]
    pub max_alerts: u32,
}

/// What to do with an alert's issue when the alert resolves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnResolved {
    /// Add a note and set the closed status.
    #[default]
    Close,
    /// Add a note, leave the status alone.
    Comment,
    /// Add a note and the receiver's `resolved_label` (trackers with labels).
    Label,
    /// Do nothing.
    None,
}

/// Files one Redmine issue per alert fingerprint (REST API).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedmineConfig {
    /// Base URL, e.g. `http://127.0.0.1:3300`.
    pub url: String,
    #[serde(default)]
    pub api_key: Option<SecretString>,
    /// Read by [`ActuatorConfig::load_secrets`]; trailing newline trimmed.
    #[serde(default)]
    pub api_key_file: Option<PathBuf>,
    /// Set by `load_secrets`, so the key it read is not taken for a second
    /// key written in the file beside `api_key_file`.
    #[serde(skip)]
    pub(crate) api_key_loaded: bool,
    /// Project identifier (or numeric id).
    pub project: String,
    #[serde(default)]
    pub tracker_id: Option<u32>,
    #[serde(default)]
    pub on_resolved: OnResolved,
    #[serde(default = "default_closed_status_id")]
    pub closed_status_id: u32,
    /// Status set when an alert fires again after closeloop closed its
    /// issue (Redmine's default "In Progress").
    #[serde(default = "default_reopened_status_id")]
    pub reopened_status_id: u32,
    /// Closed statuses that mean "won't fix" (Redmine's default
    /// "Rejected" is 6): closeloop never reopens nor refiles those.
    #[serde(default = "default_wont_fix_status_ids")]
    pub wont_fix_status_ids: Vec<u32>,
    /// A rate budget for this Redmine (shared by every receiver with the
    /// same URL and key); none by default.
    #[serde(default)]
    pub rate_limit: Option<RateLimitConfig>,
    /// How long after closeloop closed an issue a recurrence reopens it
    /// rather than filing a new one.
    #[serde(default = "default_reopen_window", deserialize_with = "duration")]
    pub reopen_window: Duration,
    /// Labels named in the issue subject, in this order, when present.
    #[serde(default = "default_subject_labels")]
    pub subject_labels: Vec<String>,
}

/// Timeouts and retries of every outgoing call (closeloop's own section).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    #[serde(default = "default_timeout", deserialize_with = "duration")]
    pub timeout: Duration,
    #[serde(default = "default_initial_backoff", deserialize_with = "duration")]
    pub initial_backoff: Duration,
    #[serde(default = "default_max_backoff", deserialize_with = "duration")]
    pub max_backoff: Duration,
    /// After this long since the first attempt an action is given up.
    #[serde(default = "default_deadline", deserialize_with = "duration")]
    pub deadline: Duration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            timeout: default_timeout(),
            initial_backoff: default_initial_backoff(),
            max_backoff: default_max_backoff(),
            deadline: default_deadline(),
        }
    }
}

pub const DEFAULT_CLOSED_STATUS_ID: u32 = 5;
pub const DEFAULT_REOPENED_STATUS_ID: u32 = 2;

fn default_true() -> bool {
    true
}
fn default_closed_status_id() -> u32 {
    DEFAULT_CLOSED_STATUS_ID
}
fn default_reopened_status_id() -> u32 {
    DEFAULT_REOPENED_STATUS_ID
}
fn default_wont_fix_status_ids() -> Vec<u32> {
    vec![6]
}
fn default_reopen_window() -> Duration {
    crate::tracker_config::DEFAULT_REOPEN_WINDOW
}
fn default_subject_labels() -> Vec<String> {
    vec!["service".into(), "environment".into()]
}
fn default_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_initial_backoff() -> Duration {
    Duration::from_millis(500)
}
fn default_max_backoff() -> Duration {
    Duration::from_secs(30)
}
fn default_deadline() -> Duration {
    Duration::from_secs(5 * 60)
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    parse_duration(&text).map_err(serde::de::Error::custom)
}

fn optional_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration(d).map(Some)
}

/// Everything wrong with a config, each problem with its path.
#[derive(Debug, thiserror::Error)]
#[error("invalid actuator config: {}", list(.0))]
pub struct ConfigError(pub Vec<ConfigProblem>);

fn list(problems: &[ConfigProblem]) -> String {
    let texts: Vec<String> = problems.iter().map(ToString::to_string).collect();
    texts.join("; ")
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ConfigProblem {
    /// Where in the config, e.g. `route.routes[1].matchers[0]`.
    pub path: String,
    pub message: String,
}

fn problem(path: impl Into<String>, message: impl Into<String>) -> ConfigProblem {
    ConfigProblem {
        path: path.into(),
        message: message.into(),
    }
}

impl ActuatorConfig {
    /// Checks what serde cannot: receiver references, duplicate names,
    /// matcher syntax, URLs and credentials.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        let mut names = BTreeSet::new();
        for (i, receiver) in self.receivers.iter().enumerate() {
            let path = format!("receivers[{i}]");
            if receiver.name.is_empty() {
                problems.push(problem(format!("{path}.name"), "receiver name is empty"));
            } else if !names.insert(receiver.name.as_str()) {
                problems.push(problem(
                    format!("{path}.name"),
                    format!("duplicate receiver name {:?}", receiver.name),
                ));
            }
            check_receiver(receiver, &path, &mut problems);
            check_trackers(receiver, &path, &mut problems);
            check_scale_configs(receiver, &path, &self.scalers, &mut problems);
        }
        for (i, rule) in self.inhibit_rules.iter().enumerate() {
            if let Err(e) = crate::inhibit::InhibitRule::parse(rule) {
                problems.push(problem(format!("inhibit_rules[{i}]"), e.to_string()));
            }
        }
        let mut scaler_names = BTreeSet::new();
        for (i, scaler) in self.scalers.iter().enumerate() {
            if !scaler_names.insert(scaler.name.as_str()) {
                problems.push(problem(
                    format!("scalers[{i}].name"),
                    format!("duplicate scaler name {:?}", scaler.name),
                ));
            }
        }
        if self.route.receiver.is_none() {
            problems.push(problem("route.receiver", "the root route needs a receiver"));
        }
        if !self.route.matchers.is_empty() {
            problems.push(problem(
                "route.matchers",
                "the root route must not have matchers (it takes every alert)",
            ));
        }
        let intervals =
            match crate::time_intervals::TimeIntervals::parse(self.named_time_intervals()) {
                Ok(intervals) => intervals,
                Err(found) => {
                    problems.extend(
                        found
                            .into_iter()
                            .map(|(path, message)| problem(path, message)),
                    );
                    crate::time_intervals::TimeIntervals::default()
                }
            };
        if !self.route.mute_time_intervals.is_empty()
            || !self.route.active_time_intervals.is_empty()
        {
            problems.push(problem(
                "route",
                "the root route cannot have mute_time_intervals or active_time_intervals",
            ));
        }
        check_route(&self.route, "route", &names, &intervals, &mut problems);
        if !self.external_url.is_empty() {
            check_url(&self.external_url, "external_url", &mut problems);
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError(problems))
        }
    }

    /// Reads every `api_key_file` into `api_key`, once at startup, so a
    /// missing file fails the start rather than the first issue.
    pub fn load_secrets(&mut self) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        for (i, receiver) in self.receivers.iter_mut().enumerate() {
            for (j, redmine) in receiver.redmine_configs.iter_mut().enumerate() {
                let Some(file) = &redmine.api_key_file else {
                    continue;
                };
                let path = format!("receivers[{i}].redmine_configs[{j}].api_key_file");
                match std::fs::read_to_string(file) {
                    Ok(text) if !text.trim().is_empty() => {
                        redmine.api_key = Some(SecretString::from(text.trim().to_string()));
                        redmine.api_key_loaded = true;
                    }
                    Ok(_) => problems.push(problem(path, format!("{} is empty", file.display()))),
                    Err(e) => problems.push(problem(
                        path,
                        format!("cannot read {}: {e}", file.display()),
                    )),
                }
            }
        }
        for (i, receiver) in self.receivers.iter_mut().enumerate() {
            let path = |kind: &str, j: usize| format!("receivers[{i}].{kind}[{j}]");
            for (j, c) in receiver.github_configs.iter_mut().enumerate() {
                load_token(
                    &path("github_configs", j),
                    &mut c.token,
                    &c.token_file,
                    &c.token_env,
                    &mut c.token_loaded,
                    &mut problems,
                );
            }
            for (j, c) in receiver.gitlab_configs.iter_mut().enumerate() {
                load_token(
                    &path("gitlab_configs", j),
                    &mut c.token,
                    &c.token_file,
                    &c.token_env,
                    &mut c.token_loaded,
                    &mut problems,
                );
            }
            for (j, c) in receiver.jira_configs.iter_mut().enumerate() {
                load_token(
                    &path("jira_configs", j),
                    &mut c.token,
                    &c.token_file,
                    &c.token_env,
                    &mut c.token_loaded,
                    &mut problems,
                );
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError(problems))
        }
    }

    pub fn receiver(&self, name: &str) -> Option<&ReceiverConfig> {
        self.receivers.iter().find(|r| r.name == name)
    }
}

fn check_receiver(receiver: &ReceiverConfig, path: &str, problems: &mut Vec<ConfigProblem>) {
    for (j, webhook) in receiver.webhook_configs.iter().enumerate() {
        check_url(
            &webhook.url,
            &format!("{path}.webhook_configs[{j}].url"),
            problems,
        );
    }
    for (j, redmine) in receiver.redmine_configs.iter().enumerate() {
        let path = format!("{path}.redmine_configs[{j}]");
        check_url(&redmine.url, &format!("{path}.url"), problems);
        if let Some(rate) = &redmine.rate_limit {
            if rate.requests_per_minute == 0 || rate.burst == 0 {
                problems.push(problem(
                    format!("{path}.rate_limit"),
                    "requests_per_minute and burst must be above 0",
                ));
            }
        }
        if redmine.on_resolved == OnResolved::Label {
            problems.push(problem(
                format!("{path}.on_resolved"),
                "Redmine issues have no labels: use close, comment or none",
            ));
        }
        if redmine.project.is_empty() {
            problems.push(problem(format!("{path}.project"), "project is empty"));
        }
        match (&redmine.api_key, &redmine.api_key_file) {
            (Some(_), Some(_)) if !redmine.api_key_loaded => problems.push(problem(
                path.clone(),
                "set api_key or api_key_file, not both",
            )),
            (None, None) => {
                problems.push(problem(path.clone(), "api_key or api_key_file is required"))
            }
            _ => {}
        }
    }
}

/// Reads `token_file` or `token_env` into `token`.
fn load_token(
    path: &str,
    token: &mut Option<SecretString>,
    file: &Option<PathBuf>,
    env: &Option<String>,
    loaded: &mut bool,
    problems: &mut Vec<ConfigProblem>,
) {
    if let Some(file) = file {
        let path = format!("{path}.token_file");
        match std::fs::read_to_string(file) {
            Ok(text) if !text.trim().is_empty() => {
                *token = Some(SecretString::from(text.trim().to_string()));
                *loaded = true;
            }
            Ok(_) => problems.push(problem(path, format!("{} is empty", file.display()))),
            Err(e) => problems.push(problem(
                path,
                format!("cannot read {}: {e}", file.display()),
            )),
        }
    } else if let Some(name) = env {
        let path = format!("{path}.token_env");
        match std::env::var(name) {
            Ok(text) if !text.trim().is_empty() => {
                *token = Some(SecretString::from(text.trim().to_string()));
                *loaded = true;
            }
            _ => problems.push(problem(
                path,
                format!("environment variable {name} is unset or empty"),
            )),
        }
    }
}

/// Exactly one token source; a loaded one counts once.
fn check_token(
    path: &str,
    token: &Option<SecretString>,
    file: &Option<PathBuf>,
    env: &Option<String>,
    loaded: bool,
    problems: &mut Vec<ConfigProblem>,
) {
    let sources = usize::from(token.is_some() && !loaded)
        + usize::from(file.is_some())
        + usize::from(env.is_some());
    match sources {
        0 if token.is_none() => {
            problems.push(problem(path, "token, token_file or token_env is required"))
        }
        0 | 1 => {}
        _ => problems.push(problem(path, "set one of token, token_file and token_env")),
    }
}

fn check_common(
    path: &str,
    policy: &IssuePolicy,
    rate: &RateLimitConfig,
    problems: &mut Vec<ConfigProblem>,
) {
    if rate.requests_per_minute == 0 {
        problems.push(problem(
            format!("{path}.rate_limit.requests_per_minute"),
            "must be above 0",
        ));
    }
    if rate.burst == 0 {
        problems.push(problem(
            format!("{path}.rate_limit.burst"),
            "must be above 0",
        ));
    }
    if policy.on_resolved == OnResolved::Label && policy.resolved_label.is_empty() {
        problems.push(problem(
            format!("{path}.resolved_label"),
            "on_resolved: label needs a label",
        ));
    }
    for (field, template) in [("title", &policy.title), ("body", &policy.body)] {
        if let Some(text) = template {
            if let Err(e) = crate::issues::render::check_template(text) {
                problems.push(problem(format!("{path}.{field}"), e));
            }
        }
    }
    for (k, text) in policy.labels.iter().enumerate() {
        if let Err(e) = crate::issues::render::check_template(text) {
            problems.push(problem(format!("{path}.labels[{k}]"), e));
        }
    }
}

fn check_trackers(receiver: &ReceiverConfig, path: &str, problems: &mut Vec<ConfigProblem>) {
    for (j, c) in receiver.github_configs.iter().enumerate() {
        let path = format!("{path}.github_configs[{j}]");
        check_url(&c.api_url, &format!("{path}.api_url"), problems);
        let parts: Vec<&str> = c.repository.split('/').collect();
        if parts.len() != 2 || parts.iter().any(|p| p.is_empty()) {
            problems.push(problem(
                format!("{path}.repository"),
                format!("{:?} is not owner/name", c.repository),
            ));
        }
        check_token(
            &path,
            &c.token,
            &c.token_file,
            &c.token_env,
            c.token_loaded,
            problems,
        );
        check_common(&path, &c.policy(), &c.rate_limit, problems);
    }
    for (j, c) in receiver.gitlab_configs.iter().enumerate() {
        let path = format!("{path}.gitlab_configs[{j}]");
        check_url(&c.url, &format!("{path}.url"), problems);
        if c.project.is_empty() {
            problems.push(problem(format!("{path}.project"), "project is empty"));
        }
        check_token(
            &path,
            &c.token,
            &c.token_file,
            &c.token_env,
            c.token_loaded,
            problems,
        );
        check_common(&path, &c.policy(), &c.rate_limit, problems);
    }
    for (j, c) in receiver.jira_configs.iter().enumerate() {
        let path = format!("{path}.jira_configs[{j}]");
        check_url(&c.url, &format!("{path}.url"), problems);
        if c.project_key.is_empty() {
            problems.push(problem(
                format!("{path}.project_key"),
                "project_key is empty",
            ));
        }
        check_token(
            &path,
            &c.token,
            &c.token_file,
            &c.token_env,
            c.token_loaded,
            problems,
        );
        check_common(&path, &c.policy(), &c.rate_limit, problems);
    }
}

fn check_scale_configs(
    receiver: &ReceiverConfig,
    path: &str,
    scalers: &[ScalerTarget],
    problems: &mut Vec<ConfigProblem>,
) {
    for (j, scale) in receiver.scale_configs.iter().enumerate() {
        let path = format!("{path}.scale_configs[{j}]");
        if !scalers.iter().any(|s| s.name == scale.scaler) {
            problems.push(problem(
                format!("{path}.scaler"),
                format!("no scaler named {:?} in `scalers`", scale.scaler),
            ));
        }
        match (scale.step, scale.set) {
            (Some(0), None) => {
                problems.push(problem(format!("{path}.step"), "a step of 0 does nothing"))
            }
            (Some(_), None) | (None, Some(_)) => {}
            _ => problems.push(problem(
                path.clone(),
                "needs exactly one of `step` and `set`",
            )),
        }
    }
}

fn check_route(
    route: &RouteConfig,
    path: &str,
    receivers: &BTreeSet<&str>,
    intervals: &crate::time_intervals::TimeIntervals,
    problems: &mut Vec<ConfigProblem>,
) {
    for (key, names) in [
        ("mute_time_intervals", &route.mute_time_intervals),
        ("active_time_intervals", &route.active_time_intervals),
    ] {
        for (i, name) in names.iter().enumerate() {
            if !intervals.knows(name) {
                problems.push(problem(
                    format!("{path}.{key}[{i}]"),
                    format!("unknown time interval {name:?} (not in time_intervals)"),
                ));
            }
        }
    }
    if let Some(name) = &route.receiver {
        if !receivers.contains(name.as_str()) {
            problems.push(problem(
                format!("{path}.receiver"),
                format!("unknown receiver {name:?} (not in receivers)"),
            ));
        }
    }
    for (i, text) in route.matchers.iter().enumerate() {
        if let Err(e) = parse_matchers(text) {
            problems.push(problem(format!("{path}.matchers[{i}]"), e.to_string()));
        }
    }
    if let Some(group_by) = &route.group_by {
        if group_by.iter().any(|l| l == "...") && group_by.len() > 1 {
            problems.push(problem(
                format!("{path}.group_by"),
                "'...' groups by all labels and must be alone",
            ));
        }
    }
    for (i, child) in route.routes.iter().enumerate() {
        check_route(
            child,
            &format!("{path}.routes[{i}]"),
            receivers,
            intervals,
            problems,
        );
    }
}

fn check_url(url: &str, path: &str, problems: &mut Vec<ConfigProblem>) {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => {}
        Ok(u) => problems.push(problem(
            path,
            format!("URL scheme {:?} is not http or https", u.scheme()),
        )),
        Err(e) => problems.push(problem(path, format!("not a URL ({e}): {url:?}"))),
    }
}
