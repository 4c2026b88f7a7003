//! Receiver configs of the planning trackers — `github_configs`,
//! `gitlab_configs`, `jira_configs` — and what they share: templates,
//! labels, assignees, resolve policy, reopen window, rate limit, token.
//! Tokens are `SecretString`s: never logged, never in events.

use crate::config::OnResolved;
use closeloop_core::duration::parse_duration;
use secrecy::SecretString;
use serde::{Deserialize, Deserializer};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// A token bucket for one tracker instance (API URL + credential), shared
/// by every receiver that uses it. When two receivers configure different
/// limits for the same instance, the smallest wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    pub requests_per_minute: u32,
    /// Requests that may go at once after a quiet spell.
    pub burst: u32,
}

impl Default for RateLimitConfig {
    /// GitHub allows 80 content-creating requests a minute and 500 an
    /// hour; 30 a minute keeps a storm well inside that.
    fn default() -> Self {
        RateLimitConfig {
            requests_per_minute: 30,
            burst: 10,
        }
    }
}

/// Files one GitHub issue per (receiver, alert fingerprint), REST v3.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GithubConfig {
    /// `https://api.github.com`, or `https://ghe.example/api/v3`.
    #[serde(default = "default_github_api_url")]
    pub api_url: String,
    /// `owner/name`.
    pub repository: String,
    #[serde(default)]
    pub token: Option<SecretString>,
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    #[serde(default)]
    pub token_env: Option<String>,
    #[serde(skip)]
    pub(crate) token_loaded: bool,
    #[serde(default)]
    pub labels: Vec<String>,
    #[serde(default)]
    pub assignees: Vec<String>,
    /// Prometheus template; default: alert name and `subject_labels`.
    #[serde(default)]
    pub title: Option<String>,
    /// Prometheus template; default: `render::DEFAULT_BODY`.
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default = "default_subject_labels")]
    pub subject_labels: Vec<String>,
    #[serde(default)]
    pub on_resolved: OnResolved,
    /// Added with `on_resolved: label`; removed when the alert fires again.
    #[serde(default = "default_resolved_label")]
    pub resolved_label: String,
    #[serde(default = "default_reopen_window", deserialize_with = "duration")]
    pub reopen_window: Duration,
    #[serde(default)]
    pub rate_limit: RateLimitConfig,
}

/// Files one GitLab issue per (receiver, alert fingerprint), REST v4.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GitlabConfig {
    /// `https://gitlab.com` or a self-managed instance's base URL.
    #[serde(default = "default_gitlab_url")]
    pub url: String,
    /// Numeric id or `group/project` path.
    pub project: String,
    #[serde(default)]
    pub token: Option<SecretString>,
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    #[serde(default)]
    pub token_env: Option<String>,
    #[serde(skip)]
    pub(crate) token_loaded: bool,
    #[serde(default)]
    pub labels: Vec<String>,
    #[serde(default)]
    pub assignees: Vec<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default = "default_subject_labels")]
    pub subject_labels: Vec<String>,
    #[serde(default)]
    pub on_resolved: OnResolved,
    #[serde(default = "default_resolved_label")]
    pub resolved_label: String,
    #[serde(default = "default_reopen_window", deserialize_with = "duration")]
    pub reopen_window: Duration,
    #[serde(default)]
    pub rate_limit: RateLimitConfig,
    /// A closed issue with this label was closed as "won't fix".
    #[serde(default = "default_not_planned_label")]
    pub not_planned_label: String,
}

/// Jira's REST API flavour: Cloud v3 (ADF bodies) or Data Center v2
/// (wiki markup).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum JiraApiVersion {
    #[default]
    V3,
    V2,
}

impl<'de> Deserialize<'de> for JiraApiVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match serde_yaml_number_or_text(d)?.as_str() {
            "3" => Ok(JiraApiVersion::V3),
            "2" => Ok(JiraApiVersion::V2),
            other => Err(serde::de::Error::custom(format!(
                "api_version must be 3 (Cloud) or 2 (Data Center), not {other:?}"
            ))),
        }
    }
}

fn serde_yaml_number_or_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumberOrText {
        Number(u64),
        Text(String),
    }
    Ok(match NumberOrText::deserialize(d)? {
        NumberOrText::Number(n) => n.to_string(),
        NumberOrText::Text(t) => t,
    })
}

/// Files one Jira issue per (receiver, alert fingerprint).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JiraConfig {
    /// `https://example.atlassian.net` or a Data Center base URL.
    pub url: String,
    #[serde(default)]
    pub api_version: JiraApiVersion,
    /// Cloud: the account e-mail for basic auth with an API token. Unset:
    /// the token is sent as a bearer personal access token (Data Center).
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub token: Option<SecretString>,
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    #[serde(default)]
    pub token_env: Option<String>,
    #[serde(skip)]
    pub(crate) token_loaded: bool,
    pub project_key: String,
    #[serde(default = "default_issue_type")]
    pub issue_type: String,
    #[serde(default)]
    pub labels: Vec<String>,
    #[serde(default)]
    pub assignees: Vec<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub body: Option<String>,
    #[serde(default = "default_subject_labels")]
    pub subject_labels: Vec<String>,
    #[serde(default)]
    pub on_resolved: OnResolved,
    #[serde(default = "default_resolved_label")]
    pub resolved_label: String,
    #[serde(default = "default_reopen_window", deserialize_with = "duration")]
    pub reopen_window: Duration,
    #[serde(default)]
    pub rate_limit: RateLimitConfig,
    /// Transition names, looked up per issue.
    #[serde(default = "default_resolve_transition")]
    pub resolve_transition: String,
    #[serde(default = "default_reopen_transition")]
    pub reopen_transition: String,
    /// Resolution names that mean "won't fix".
    #[serde(default = "default_wont_fix_resolutions")]
    pub wont_fix_resolutions: Vec<String>,
    /// Extra fields set on create, e.g. `customfield_10010: {id: "42"}`.
    #[serde(default)]
    pub custom_fields: BTreeMap<String, serde_json::Value>,
}

/// What every tracker receiver shares, for the policy and the renderer.
#[derive(Debug, Clone)]
pub struct IssuePolicy {
    pub labels: Vec<String>,
    pub assignees: Vec<String>,
    pub title: Option<String>,
    pub body: Option<String>,
    pub subject_labels: Vec<String>,
    pub on_resolved: OnResolved,
    pub resolved_label: String,
    pub reopen_window: Duration,
}

macro_rules! policy_of {
    ($($ty:ty),*) => {$(
        impl $ty {
            pub fn policy(&self) -> IssuePolicy {
                IssuePolicy {
                    labels: self.labels.clone(),
                    assignees: self.assignees.clone(),
                    title: self.title.clone(),
                    body: self.body.clone(),
                    subject_labels: self.subject_labels.clone(),
                    on_resolved: self.on_resolved,
                    resolved_label: self.resolved_label.clone(),
                    reopen_window: self.reopen_window,
                }
            }
        }
    )*};
}
policy_of!(GithubConfig, GitlabConfig, JiraConfig);

pub fn default_github_api_url() -> String {
    "https://api.github.com".into()
}
fn default_gitlab_url() -> String {
    "https://gitlab.com".into()
}
fn default_issue_type() -> String {
    "Bug".into()
}
fn default_subject_labels() -> Vec<String> {
    vec!["service".into(), "environment".into()]
}
fn default_resolved_label() -> String {
    "resolved".into()
}
fn default_not_planned_label() -> String {
    "wontfix".into()
}
fn default_resolve_transition() -> String {
    "Done".into()
}
fn default_reopen_transition() -> String {
    "Reopen".into()
}
fn default_wont_fix_resolutions() -> Vec<String> {
    vec!["Won't Do".into(), "Won't Fix".into()]
}
/// A recurrence within a day of closeloop closing the issue is the same
/// incident flapping; later it is a new one.
pub const DEFAULT_REOPEN_WINDOW: Duration = Duration::from_secs(24 * 3600);
fn default_reopen_window() -> Duration {
    DEFAULT_REOPEN_WINDOW
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    parse_duration(&text).map_err(serde::de::Error::custom)
}
