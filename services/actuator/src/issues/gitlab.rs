//! [`IssueTracker`] over GitLab's REST API v4 (gitlab.com or a
//! self-managed instance), every request through the instance's
//! [`RateBudget`]. Shapes follow GitLab's Issues, Notes and Users API
//! reference (docs.gitlab.com/ee/api/issues.html, notes.html, users.html),
//! transcribed into `tests/gitlab/gitlab-v4.openapi.json`, against which
//! the test fake checks each request and answer.
//!
//! Finding closeloop's issue: the `closeloop:<fingerprint>` label is
//! listed first (`GET /projects/:id/issues?labels=…`, every state), then
//! a description search (`search=…&in=description`) for an issue whose
//! label a person removed. Only issues whose body carries the marker
//! count.
//!
//! GitLab has no "closed as not planned": a person closes the issue and
//! puts the configured `not_planned_label` on it (default `wontfix`), or
//! closes it as a duplicate (`_links.closed_as_duplicate_of`). Either is a
//! won't-fix to closeloop.
//!
//! Assignees are configured by username, as a person writes them; the API
//! takes user ids, so each name is looked up once (`GET /users?username=`)
//! and remembered. A name GitLab does not know is left off the issue with
//! a warning rather than holding the issue back.

use super::{numeric_id, ClosedAs, IssueTracker, Marker, NewIssue, TrackerIssue};
use crate::error::DeliveryError;
use crate::http::{base_url, json_body, with_segments};
use crate::rate_budget::{Budgets, RateBudget};
use crate::tracker_config::GitlabConfig;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reqwest::{Method, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::warn;

/// One page is plenty: a fingerprint has one issue, a few after refiling.
/// GitLab's maximum page size is 100.
const PER_PAGE: &str = "100";

pub struct GitlabTracker {
    client: reqwest::Client,
    /// `<url>/api/v4`.
    api: Url,
    /// Numeric id or `group/project` path, sent as one escaped segment.
    project: String,
    token: SecretString,
    not_planned_label: String,
    timeout: Duration,
    budget: Arc<RateBudget>,
    /// Username → user id, filled as assignees are first used.
    user_ids: Mutex<HashMap<String, Option<u64>>>,
}

#[derive(Debug, thiserror::Error)]
pub enum GitlabConfigError {
    #[error("gitlab url {0:?} is not a valid base URL")]
    Url(String),
    #[error("gitlab project is empty (a numeric id or group/project path)")]
    Project,
    #[error("gitlab token missing (set token, token_file or token_env, and call load_secrets)")]
    NoToken,
}

#[derive(Deserialize)]
struct GitlabIssue {
    iid: u64,
    web_url: String,
    title: String,
    #[serde(default)]
    description: Option<String>,
    state: String,
    #[serde(default)]
    closed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    labels: Vec<String>,
    #[serde(default, rename = "_links")]
    links: Option<IssueLinks>,
}

#[derive(Deserialize)]
struct IssueLinks {
    #[serde(default)]
    closed_as_duplicate_of: Option<String>,
}

#[derive(Deserialize)]
struct GitlabUser {
    id: u64,
    username: String,
}

impl GitlabTracker {
    pub fn new(
        config: &GitlabConfig,
        client: reqwest::Client,
        timeout: Duration,
        budgets: &mut Budgets,
    ) -> Result<GitlabTracker, GitlabConfigError> {
        let base =
            base_url(&config.url).ok_or_else(|| GitlabConfigError::Url(config.url.clone()))?;
        let api = with_segments(&base, &["api", "v4"]);
        if config.project.trim().is_empty() {
            return Err(GitlabConfigError::Project);
        }
        let token = config.token.clone().ok_or(GitlabConfigError::NoToken)?;
        let budget = budgets.budget_for(
            "gitlab",
            api.as_str(),
            token.expose_secret(),
            config.rate_limit,
        );
        Ok(GitlabTracker {
            client,
            api,
            project: config.project.trim().trim_matches('/').to_string(),
            token,
            not_planned_label: config.not_planned_label.clone(),
            timeout,
            budget,
            user_ids: Mutex::new(HashMap::new()),
        })
    }

    /// The API URL with these path segments appended, each escaped (a
    /// project path's `/` becomes `%2F`, as GitLab requires).
    fn url(&self, segments: &[&str]) -> Url {
        with_segments(&self.api, segments)
    }

    fn issues_url(&self, rest: &[&str]) -> Url {
        let mut segments = vec!["projects", self.project.as_str(), "issues"];
        segments.extend_from_slice(rest);
        self.url(&segments)
    }

    async fn call(
        &self,
        what: &str,
        method: Method,
        url: Url,
        body: Option<serde_json::Value>,
    ) -> Result<reqwest::Response, DeliveryError> {
        self.budget
            .send(what, || {
                let request = self
                    .client
                    .request(method.clone(), url.clone())
                    .timeout(self.timeout)
                    .header("PRIVATE-TOKEN", self.token.expose_secret());
                match &body {
                    Some(json) => request.json(json),
                    None => request,
                }
            })
            .await
    }

    async fn list(&self, what: &str, url: Url) -> Result<Vec<TrackerIssue>, DeliveryError> {
        let response = self.call(what, Method::GET, url, None).await?;
        let listed: Vec<GitlabIssue> = json_body(what, response).await?;
        Ok(listed
            .into_iter()
            .map(|i| self.to_tracker_issue(i))
            .collect())
    }

    /// `PUT /projects/:id/issues/:iid` with these attributes.
    async fn edit(
        &self,
        what: &str,
        id: &str,
        fields: serde_json::Value,
    ) -> Result<(), DeliveryError> {
        let url = self.issues_url(&[iid(id)?]);
        let response = self.call(what, Method::PUT, url, Some(fields)).await?;
        let _: GitlabIssue = json_body(what, response).await?;
        Ok(())
    }

    /// The user ids of these usernames, each looked up once.
    async fn assignee_ids(&self, names: &[String]) -> Result<Vec<u64>, DeliveryError> {
        let mut ids = Vec::new();
        for name in names {
            let known = self.lock_users().get(name).copied();
            let id = match known {
                Some(id) => id,
                None => {
                    let id = self.look_up_user(name).await?;
                    if id.is_none() {
                        warn!(username = %name, "gitlab has no such user; filing without this assignee");
                    }
                    self.lock_users().insert(name.clone(), id);
                    id
                }
            };
            ids.extend(id);
        }
        Ok(ids)
    }

    fn lock_users(&self) -> std::sync::MutexGuard<'_, HashMap<String, Option<u64>>> {
        self.user_ids.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn look_up_user(&self, name: &str) -> Result<Option<u64>, DeliveryError> {
        let what = "gitlab user lookup";
        let mut url = self.url(&["users"]);
        url.query_pairs_mut().append_pair("username", name);
        let response = self.call(what, Method::GET, url, None).await?;
        let users: Vec<GitlabUser> = json_body(what, response).await?;
        // The username filter is case-insensitive on GitLab.
        Ok(users
            .into_iter()
            .find(|u| u.username.eq_ignore_ascii_case(name))
            .map(|u| u.id))
    }

    fn to_tracker_issue(&self, issue: GitlabIssue) -> TrackerIssue {
        let duplicate = issue
            .links
            .as_ref()
            .and_then(|l| l.closed_as_duplicate_of.as_ref())
            .is_some();
        let closed_as = match issue.state.as_str() {
            "opened" => None,
            _ if duplicate || issue.labels.contains(&self.not_planned_label) => {
                Some(ClosedAs::WontFix)
            }
            _ => Some(ClosedAs::Completed),
        };
        TrackerIssue {
            id: issue.iid.to_string(),
            url: issue.web_url,
            title: issue.title,
            closed_as,
            closed_at: issue.closed_at.filter(|_| closed_as.is_some()),
            status: issue.state,
            description: issue.description.unwrap_or_default(),
            labels: issue.labels,
        }
    }
}

fn iid(id: &str) -> Result<&str, DeliveryError> {
    numeric_id(id, "GitLab issue iid")
}

/// GitLab takes labels as one comma-separated string, so a comma inside a
/// label would split it in two: it becomes a space.
fn label_list<'a>(labels: impl IntoIterator<Item = &'a String>) -> String {
    labels
        .into_iter()
        .map(|l| l.replace(',', " "))
        .collect::<Vec<_>>()
        .join(",")
}

#[async_trait]
impl IssueTracker for GitlabTracker {
    fn kind(&self) -> &'static str {
        "gitlab"
    }

    fn hide_marker(&self, marker_lines: &str) -> String {
        // GitLab Flavored Markdown does not render HTML comments.
        format!("<!--\n{marker_lines}\n-->")
    }

    async fn find_by_marker(&self, marker: &Marker) -> Result<Vec<TrackerIssue>, DeliveryError> {
        let mut url = self.issues_url(&[]);
        url.query_pairs_mut()
            .append_pair("labels", &label_list([&marker.label()]))
            .append_pair("state", "all")
            .append_pair("per_page", PER_PAGE);
        let listed = self.list("gitlab issue list by label", url).await?;
        if listed.iter().any(|i| marker.found_in(&i.description)) {
            return Ok(listed);
        }
        let mut url = self.issues_url(&[]);
        url.query_pairs_mut()
            .append_pair("search", &marker.search_text())
            .append_pair("in", "description")
            .append_pair("state", "all")
            .append_pair("per_page", PER_PAGE);
        self.list("gitlab issue search", url).await
    }

    async fn create(&self, issue: &NewIssue) -> Result<TrackerIssue, DeliveryError> {
        let mut fields = json!({
            "title": issue.title,
            "description": issue.description,
            "labels": label_list(&issue.labels),
        });
        let assignees = self.assignee_ids(&issue.assignees).await?;
        if !assignees.is_empty() {
            fields["assignee_ids"] = json!(assignees);
        }
        let what = "gitlab issue create";
        let response = self
            .call(what, Method::POST, self.issues_url(&[]), Some(fields))
            .await?;
        let created: GitlabIssue = json_body(what, response).await?;
        Ok(self.to_tracker_issue(created))
    }

    async fn get(&self, id: &str) -> Result<Option<TrackerIssue>, DeliveryError> {
        let what = "gitlab issue read";
        let url = self.issues_url(&[iid(id)?]);
        match self.call(what, Method::GET, url, None).await {
            Ok(response) => {
                let issue: GitlabIssue = json_body(what, response).await?;
                Ok(Some(self.to_tracker_issue(issue)))
            }
            Err(DeliveryError::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn comment(&self, id: &str, text: &str) -> Result<(), DeliveryError> {
        let url = self.issues_url(&[iid(id)?, "notes"]);
        self.call(
            "gitlab issue note",
            Method::POST,
            url,
            Some(json!({ "body": text })),
        )
        .await?;
        Ok(())
    }

    async fn close(&self, id: &str, note: &str) -> Result<(), DeliveryError> {
        self.comment(id, note).await?;
        self.edit("gitlab issue close", id, json!({ "state_event": "close" }))
            .await
    }

    async fn reopen(&self, id: &str, note: &str) -> Result<(), DeliveryError> {
        self.comment(id, note).await?;
        self.edit(
            "gitlab issue reopen",
            id,
            json!({ "state_event": "reopen" }),
        )
        .await
    }

    async fn add_label(&self, id: &str, label: &str, note: &str) -> Result<(), DeliveryError> {
        self.comment(id, note).await?;
        let labels = label_list([&label.to_string()]);
        self.edit("gitlab issue label", id, json!({ "add_labels": labels }))
            .await
    }

    async fn remove_label(&self, id: &str, label: &str) -> Result<(), DeliveryError> {
        // Removing a label the issue does not have is no error on GitLab.
        let labels = label_list([&label.to_string()]);
        self.edit(
            "gitlab issue unlabel",
            id,
            json!({ "remove_labels": labels }),
        )
        .await
    }
}
