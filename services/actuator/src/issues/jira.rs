//! [`IssueTracker`] over Jira's REST API: Cloud v3 (bodies in ADF, search
//! by `GET /rest/api/3/search/jql`, basic auth with e-mail + API token)
//! and Data Center v2 (bodies in wiki markup, `GET /rest/api/2/search`,
//! a personal access token as bearer). Every request goes through the
//! instance's [`RateBudget`]; Jira Cloud throttles with 429 and
//! `Retry-After`, which the budget honours.
//!
//! Finding closeloop's issue: one JQL query for the `closeloop:<fp>`
//! label or, for an issue whose label a person removed, the fingerprint
//! in the description; only issues whose body carries the marker count.
//! Closing and reopening are workflow transitions, looked up by name on
//! the issue (`resolve_transition`, `reopen_transition`); a done issue
//! whose resolution is one of `wont_fix_resolutions` is a person's "won't
//! fix". A closing transition whose screen asks for a resolution gets a
//! done one (Done, Fixed, Resolved, else the first that is no won't-fix).
//! The request shapes are Atlassian's published REST reference
//! (`tests/jira_tracker.rs` checks each against it).
//!
//! Known limit: Jira Cloud's `/search/jql` is eventually consistent, so a
//! crash in the moment between a create and its indexing can still yield
//! a second issue there.

use super::{adf, ClosedAs, IssueTracker, Marker, NewIssue, TrackerIssue};
use crate::config::{JiraApiVersion, JiraConfig};
use crate::error::DeliveryError;
use crate::http::{base_url, json_body, with_segments};
use crate::rate_budget::{Budgets, RateBudget};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reqwest::{Method, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// The fields closeloop reads; the enhanced search returns only `id`
/// unless told.
const FIELDS: &str = "summary,description,status,resolution,resolutiondate,labels";
/// One page is plenty: a fingerprint has one issue, a few after refiling.
const MAX_RESULTS: &str = "100";
/// Fields closeloop sets itself; `custom_fields` cannot override them.
const OWN_FIELDS: [&str; 6] = [
    "project",
    "summary",
    "issuetype",
    "description",
    "labels",
    "assignee",
];

pub struct JiraTracker {
    client: reqwest::Client,
    base: Url,
    version: JiraApiVersion,
    /// Jira Cloud (v3, or v2 on an `atlassian.net` site): search by
    /// `/search/jql` (the old search is gone there) and users by account id.
    cloud: bool,
    user: Option<String>,
    token: SecretString,
    project_key: String,
    issue_type: String,
    resolve_transition: String,
    reopen_transition: String,
    wont_fix: Vec<String>,
    custom_fields: BTreeMap<String, Value>,
    timeout: Duration,
    budget: Arc<RateBudget>,
}

#[derive(Debug, thiserror::Error)]
pub enum JiraConfigError {
    #[error("jira url {0:?} is not a valid base URL")]
    Url(String),
    #[error("jira project_key {0:?} is not a project key (letters, digits, _)")]
    ProjectKey(String),
    #[error("jira token missing (set token, token_file or token_env, and call load_secrets)")]
    NoToken,
}

#[derive(Deserialize)]
struct JiraIssue {
    key: String,
    #[serde(default)]
    fields: JiraFields,
}

#[derive(Deserialize, Default)]
struct JiraFields {
    #[serde(default)]
    summary: Option<String>,
    /// ADF (v3) or a string (v2), null when empty.
    #[serde(default)]
    description: Option<Value>,
    #[serde(default)]
    status: Option<Named>,
    #[serde(default)]
    resolution: Option<Named>,
    #[serde(default)]
    resolutiondate: Option<String>,
    #[serde(default)]
    labels: Vec<String>,
}

#[derive(Deserialize)]
struct Named {
    #[serde(default)]
    name: String,
    #[serde(default, rename = "statusCategory")]
    status_category: Option<Category>,
}

#[derive(Deserialize)]
struct Category {
    #[serde(default)]
    key: String,
}

#[derive(Deserialize)]
struct SearchResult {
    #[serde(default)]
    issues: Vec<JiraIssue>,
}

#[derive(Deserialize)]
struct Created {
    key: String,
}

#[derive(Deserialize)]
struct Transitions {
    #[serde(default)]
    transitions: Vec<Transition>,
}

#[derive(Deserialize)]
struct Transition {
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    to: Option<Named>,
    /// The transition screen's fields (`expand=transitions.fields`).
    #[serde(default)]
    fields: BTreeMap<String, FieldMeta>,
}

#[derive(Deserialize)]
struct FieldMeta {
    #[serde(default, rename = "allowedValues")]
    allowed_values: Vec<Value>,
}

/// Resolutions picked, in this order, when a closing transition's screen
/// asks for one; otherwise the first that is not a won't-fix.
const DONE_RESOLUTIONS: [&str; 3] = ["Done", "Fixed", "Resolved"];

impl JiraTracker {
    pub fn new(
        config: &JiraConfig,
        client: reqwest::Client,
        timeout: Duration,
        budgets: &mut Budgets,
    ) -> Result<JiraTracker, JiraConfigError> {
        let base = base_url(&config.url).ok_or_else(|| JiraConfigError::Url(config.url.clone()))?;
        let key = &config.project_key;
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(JiraConfigError::ProjectKey(key.clone()));
        }
        let token = config.token.clone().ok_or(JiraConfigError::NoToken)?;
        let credential = format!(
            "{}:{}",
            config.user.as_deref().unwrap_or_default(),
            token.expose_secret()
        );
        let budget = budgets.budget_for("jira", base.as_str(), &credential, config.rate_limit);
        let cloud = is_cloud(config.api_version, &base);
        Ok(JiraTracker {
            client,
            base,
            version: config.api_version,
            cloud,
            user: config.user.clone(),
            token,
            project_key: key.clone(),
            issue_type: config.issue_type.clone(),
            resolve_transition: config.resolve_transition.clone(),
            reopen_transition: config.reopen_transition.clone(),
            wont_fix: config.wont_fix_resolutions.clone(),
            custom_fields: config.custom_fields.clone(),
            timeout,
            budget,
        })
    }

    /// `{url}/rest/api/{2|3}/` with these segments, each escaped.
    fn api(&self, segments: &[&str]) -> Url {
        let version = match self.version {
            JiraApiVersion::V3 => "3",
            JiraApiVersion::V2 => "2",
        };
        let mut all = vec!["rest", "api", version];
        all.extend_from_slice(segments);
        with_segments(&self.base, &all)
    }

    fn issue_url(&self, key: &str, rest: &[&str]) -> Url {
        let mut segments = vec!["issue", key];
        segments.extend_from_slice(rest);
        self.api(&segments)
    }

    /// A body (description, comment) in this API version's format.
    fn body(&self, text: &str) -> Value {
        match self.version {
            JiraApiVersion::V3 => adf::to_adf(text),
            JiraApiVersion::V2 => Value::String(adf::to_wiki(text)),
        }
    }

    async fn call(
        &self,
        what: &str,
        method: Method,
        url: Url,
        body: Option<Value>,
    ) -> Result<reqwest::Response, DeliveryError> {
        self.budget
            .send(what, || {
                let request = self
                    .client
                    .request(method.clone(), url.clone())
                    .timeout(self.timeout)
                    .header(reqwest::header::ACCEPT, "application/json");
                let request = match &self.user {
                    Some(user) => request.basic_auth(user, Some(self.token.expose_secret())),
                    None => request.bearer_auth(self.token.expose_secret()),
                };
                match &body {
                    Some(json) => request.json(json),
                    None => request,
                }
            })
            .await
    }

    fn to_tracker_issue(&self, issue: JiraIssue) -> TrackerIssue {
        let fields = issue.fields;
        let done = fields
            .status
            .as_ref()
            .and_then(|s| s.status_category.as_ref())
            .is_some_and(|c| c.key == "done");
        let resolution = fields.resolution.map(|r| r.name);
        let closed_as = match (done, &resolution) {
            (false, _) => None,
            (true, Some(name)) if self.is_wont_fix(name) => Some(ClosedAs::WontFix),
            (true, _) => Some(ClosedAs::Completed),
        };
        let status = fields.status.map(|s| s.name).unwrap_or_default();
        TrackerIssue {
            url: self.browse_url(&issue.key),
            id: issue.key,
            title: fields.summary.unwrap_or_default(),
            closed_as,
            closed_at: fields
                .resolutiondate
                .as_deref()
                .and_then(parse_jira_time)
                .filter(|_| closed_as.is_some()),
            status: match resolution {
                Some(r) => format!("{status}:{r}"),
                None => status,
            },
            description: match fields.description {
                Some(Value::String(text)) => text,
                Some(doc @ Value::Object(_)) => adf::to_text(&doc),
                _ => String::new(),
            },
            labels: fields.labels,
        }
    }

    fn is_wont_fix(&self, resolution: &str) -> bool {
        self.wont_fix
            .iter()
            .any(|w| w.trim().eq_ignore_ascii_case(resolution.trim()))
    }

    /// The resolution to close with among those a screen allows.
    fn done_resolution(&self, allowed: &[Value]) -> Option<String> {
        let names: Vec<&str> = allowed
            .iter()
            .filter_map(|v| v.get("name").and_then(Value::as_str))
            .filter(|n| !self.is_wont_fix(n))
            .collect();
        DONE_RESOLUTIONS
            .iter()
            .find_map(|d| names.iter().find(|n| n.eq_ignore_ascii_case(d)))
            .or(names.first())
            .map(|n| n.to_string())
    }

    fn browse_url(&self, key: &str) -> String {
        with_segments(&self.base, &["browse", key]).to_string()
    }

    /// Runs the workflow transition named `name` (or leading to a status
    /// of that name) on the issue. `closing`: a resolution the
    /// transition's screen offers is set to a done one (company-managed
    /// workflows ask for it on "Resolve Issue"/"Done"), never a won't-fix.
    async fn transition(&self, key: &str, name: &str, closing: bool) -> Result<(), DeliveryError> {
        let what = "jira issue transitions";
        let url = self.issue_url(key, &["transitions"]);
        let mut listing = url.clone();
        listing
            .query_pairs_mut()
            .append_pair("expand", "transitions.fields");
        let response = self.call(what, Method::GET, listing, None).await?;
        let listed: Transitions = json_body(what, response).await?;
        let wanted = name.trim();
        let found = listed
            .transitions
            .iter()
            .find(|t| t.name.trim().eq_ignore_ascii_case(wanted))
            .or_else(|| {
                listed.transitions.iter().find(|t| {
                    t.to.as_ref()
                        .is_some_and(|to| to.name.trim().eq_ignore_ascii_case(wanted))
                })
            });
        let Some(transition) = found else {
            let names: Vec<&str> = listed.transitions.iter().map(|t| t.name.as_str()).collect();
            return Err(DeliveryError::Invalid {
                what: format!("jira transition {name:?} on {key}"),
                reason: format!("no such transition from its status; it offers {names:?}"),
            });
        };
        let mut body = json!({ "transition": { "id": transition.id } });
        let resolution = transition
            .fields
            .get("resolution")
            .filter(|_| closing)
            .and_then(|meta| self.done_resolution(&meta.allowed_values));
        if let Some(resolution) = resolution {
            body["fields"] = json!({ "resolution": { "name": resolution } });
        }
        self.call("jira issue transition", Method::POST, url, Some(body))
            .await?;
        Ok(())
    }

    async fn update_labels(&self, key: &str, op: &str, label: &str) -> Result<(), DeliveryError> {
        let body = json!({ "update": { "labels": [{ op: label_of(label) }] } });
        let url = self.issue_url(issue_key(key)?, &[]);
        self.call("jira issue labels", Method::PUT, url, Some(body))
            .await?;
        Ok(())
    }
}

/// REST v3 is Cloud's alone; v2 is Cloud's too on its `*.atlassian.net`
/// sites (`*.jira.com` for older ones).
fn is_cloud(version: JiraApiVersion, base: &Url) -> bool {
    let host = base.host_str().unwrap_or_default().to_ascii_lowercase();
    version == JiraApiVersion::V3 || host.ends_with(".atlassian.net") || host.ends_with(".jira.com")
}

/// Jira refuses labels with spaces; closeloop's templated labels may
/// have them.
fn label_of(label: &str) -> String {
    label.split_whitespace().collect::<Vec<_>>().join("_")
}

/// JQL string literal: quotes and backslashes escaped.
fn jql_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `2026-11-22T00:10:00.000+0000`, Jira's format, or RFC 3339.
fn parse_jira_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z")
        .or_else(|_| DateTime::parse_from_rfc3339(text))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// An issue key (`OPS-12`) or numeric id; anything else must not reach a
/// URL path.
fn issue_key(id: &str) -> Result<&str, DeliveryError> {
    let ok = match id.rsplit_once('-') {
        Some((project, number)) => {
            !project.is_empty()
                && project
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !number.is_empty()
                && number.chars().all(|c| c.is_ascii_digit())
        }
        None => !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()),
    };
    if ok {
        Ok(id)
    } else {
        Err(DeliveryError::Invalid {
            what: "jira issue key".into(),
            reason: format!("{id:?} is not a Jira issue key"),
        })
    }
}

#[async_trait]
impl IssueTracker for JiraTracker {
    fn kind(&self) -> &'static str {
        "jira"
    }

    fn hide_marker(&self, marker_lines: &str) -> String {
        match self.version {
            // `to_adf` greys the marker paragraph itself.
            JiraApiVersion::V3 => marker_lines.to_string(),
            JiraApiVersion::V2 => adf::wiki_hidden(marker_lines),
        }
    }

    async fn find_by_marker(&self, marker: &Marker) -> Result<Vec<TrackerIssue>, DeliveryError> {
        let what = "jira issue search";
        let jql = format!(
            "project = {} AND (labels = {} OR description ~ {}) ORDER BY created DESC",
            jql_string(&self.project_key),
            jql_string(&label_of(&marker.label())),
            jql_string(&marker.fingerprint),
        );
        let mut url = match self.cloud {
            true => self.api(&["search", "jql"]),
            false => self.api(&["search"]),
        };
        url.query_pairs_mut()
            .append_pair("jql", &jql)
            .append_pair("fields", FIELDS)
            .append_pair("maxResults", MAX_RESULTS);
        let response = self.call(what, Method::GET, url, None).await?;
        let found: SearchResult = json_body(what, response).await?;
        Ok(found
            .issues
            .into_iter()
            .map(|i| self.to_tracker_issue(i))
            .collect())
    }

    async fn create(&self, issue: &NewIssue) -> Result<TrackerIssue, DeliveryError> {
        let labels: Vec<String> = issue.labels.iter().map(|l| label_of(l)).collect();
        let mut fields = Map::new();
        for (name, value) in &self.custom_fields {
            if !OWN_FIELDS.contains(&name.as_str()) {
                fields.insert(name.clone(), value.clone());
            }
        }
        fields.insert("project".into(), json!({ "key": self.project_key }));
        fields.insert("summary".into(), json!(issue.title));
        fields.insert("issuetype".into(), json!({ "name": self.issue_type }));
        fields.insert("description".into(), self.body(&issue.description));
        fields.insert("labels".into(), json!(labels));
        // Jira has one assignee: the first configured. Cloud names users
        // by account id, Data Center by user name.
        if let Some(who) = issue.assignees.first() {
            let user = match self.cloud {
                true => json!({ "accountId": who }),
                false => json!({ "name": who }),
            };
            fields.insert("assignee".into(), user);
        }
        let what = "jira issue create";
        let body = json!({ "fields": fields });
        let response = self
            .call(what, Method::POST, self.api(&["issue"]), Some(body))
            .await?;
        let created: Created = json_body(what, response).await?;
        // The answer carries only id, key and self; the rest is what was
        // sent, which saves a read per filing under a storm.
        Ok(TrackerIssue {
            url: self.browse_url(&created.key),
            id: created.key,
            title: issue.title.clone(),
            closed_as: None,
            closed_at: None,
            status: "created".into(),
            description: issue.description.clone(),
            labels,
        })
    }

    async fn get(&self, id: &str) -> Result<Option<TrackerIssue>, DeliveryError> {
        let what = "jira issue read";
        let mut url = self.issue_url(issue_key(id)?, &[]);
        url.query_pairs_mut().append_pair("fields", FIELDS);
        match self.call(what, Method::GET, url, None).await {
            Ok(response) => {
                let issue: JiraIssue = json_body(what, response).await?;
                Ok(Some(self.to_tracker_issue(issue)))
            }
            Err(DeliveryError::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn comment(&self, id: &str, text: &str) -> Result<(), DeliveryError> {
        let url = self.issue_url(issue_key(id)?, &["comment"]);
        let body = json!({ "body": self.body(text) });
        self.call("jira issue comment", Method::POST, url, Some(body))
            .await?;
        Ok(())
    }

    async fn close(&self, id: &str, note: &str) -> Result<(), DeliveryError> {
        self.comment(id, note).await?;
        self.transition(issue_key(id)?, &self.resolve_transition, true)
            .await
    }

    async fn reopen(&self, id: &str, note: &str) -> Result<(), DeliveryError> {
        self.comment(id, note).await?;
        self.transition(issue_key(id)?, &self.reopen_transition, false)
            .await
    }

    async fn add_label(&self, id: &str, label: &str, note: &str) -> Result<(), DeliveryError> {
        self.comment(id, note).await?;
        self.update_labels(id, "add", label).await
    }

    async fn remove_label(&self, id: &str, label: &str) -> Result<(), DeliveryError> {
        // Removing an absent label is no error in Jira; a vanished issue
        // (404) has nothing left to take off either.
        match self.update_labels(id, "remove", label).await {
            Ok(()) | Err(DeliveryError::Status { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jira_times_parse_with_and_without_a_colon_in_the_offset() {
        let a = parse_jira_time("2026-11-22T00:10:00.000+0000");
        let b = parse_jira_time("2026-11-22T01:10:00+01:00");
        assert!(a.is_some() && a == b, "{a:?} {b:?}");
        assert_eq!(parse_jira_time("yesterday"), None);
    }

    #[test]
    fn only_keys_and_ids_reach_a_path() {
        for ok in ["OPS-12", "A_B2-1", "10001"] {
            assert!(issue_key(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-1", "OPS-", "OPS-1/../x", "a b-1", "OPS-1a"] {
            assert!(issue_key(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn v2_on_a_cloud_site_is_cloud() {
        let url = |u: &str| Url::parse(u).expect("url");
        assert!(is_cloud(
            JiraApiVersion::V3,
            &url("https://jira.acme.example")
        ));
        assert!(is_cloud(
            JiraApiVersion::V2,
            &url("https://acme.atlassian.net")
        ));
        assert!(!is_cloud(
            JiraApiVersion::V2,
            &url("https://jira.acme.example/jira")
        ));
    }

    #[test]
    fn jql_literals_and_labels_are_escaped() {
        assert_eq!(jql_string(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(label_of("team checkout"), "team_checkout");
    }
}
