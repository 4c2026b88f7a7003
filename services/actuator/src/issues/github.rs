//! [`IssueTracker`] over GitHub's REST API v3 (api.github.com or GitHub
//! Enterprise's `/api/v3`), every request through the instance's
//! [`RateBudget`]. Shapes follow GitHub's OpenAPI description
//! (`@octokit/openapi`), against which `tests/github_fake.rs` checks each
//! request and answer.
//!
//! Finding closeloop's issue: the `closeloop:<fingerprint>` label is
//! listed first (`GET /repos/{o}/{r}/issues?labels=…&state=all`), which
//! reads the issues table and sees an issue the moment it is created;
//! issue search (`/search/issues`) is only a fallback, for an issue whose
//! label a person removed, because its index lags by seconds to minutes —
//! exactly the window of a crash between "create" and "record". Either
//! way only issues whose body carries the marker count.

use super::{numeric_id, ClosedAs, IssueTracker, Marker, NewIssue, TrackerIssue};
use crate::config::GithubConfig;
use crate::error::DeliveryError;
use crate::http::{base_url, json_body, with_segments};
use crate::rate_budget::{Budgets, RateBudget};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use reqwest::{Method, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// The REST API version this adapter is written against.
pub const API_VERSION: &str = "2022-11-28";
const ACCEPT: &str = "application/vnd.github+json";
/// One page is plenty: a fingerprint has one issue, a few after refiling.
const PER_PAGE: &str = "100";

pub struct GithubTracker {
    client: reqwest::Client,
    api: Url,
    owner: String,
    repo: String,
    token: SecretString,
    timeout: Duration,
    budget: Arc<RateBudget>,
}

#[derive(Debug, thiserror::Error)]
pub enum GithubConfigError {
    #[error("github api_url {0:?} is not a valid base URL")]
    Url(String),
    #[error("github repository {0:?} is not owner/name")]
    Repository(String),
    #[error("github token missing (set token, token_file or token_env, and call load_secrets)")]
    NoToken,
}

#[derive(Deserialize)]
struct GithubIssue {
    number: u64,
    html_url: String,
    title: String,
    #[serde(default)]
    body: Option<String>,
    state: String,
    #[serde(default)]
    state_reason: Option<String>,
    #[serde(default)]
    closed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    labels: Vec<GithubLabel>,
}

/// The API documents a label on an issue as an object or a bare name.
#[derive(Deserialize)]
#[serde(untagged)]
enum GithubLabel {
    Name(String),
    Object {
        #[serde(default)]
        name: Option<String>,
    },
}

#[derive(Deserialize)]
struct SearchResult {
    items: Vec<GithubIssue>,
}

impl GithubTracker {
    pub fn new(
        config: &GithubConfig,
        client: reqwest::Client,
        timeout: Duration,
        budgets: &mut Budgets,
    ) -> Result<GithubTracker, GithubConfigError> {
        let api = base_url(&config.api_url)
            .ok_or_else(|| GithubConfigError::Url(config.api_url.clone()))?;
        let (owner, repo) = config
            .repository
            .split_once('/')
            .filter(|(o, r)| !o.is_empty() && !r.is_empty() && !r.contains('/'))
            .ok_or_else(|| GithubConfigError::Repository(config.repository.clone()))?;
        let token = config.token.clone().ok_or(GithubConfigError::NoToken)?;
        let budget = budgets.budget_for(
            "github",
            api.as_str(),
            token.expose_secret(),
            config.rate_limit,
        );
        Ok(GithubTracker {
            client,
            api,
            owner: owner.to_string(),
            repo: repo.to_string(),
            token,
            timeout,
            budget,
        })
    }

    fn url(&self, segments: &[&str]) -> Url {
        with_segments(&self.api, segments)
    }

    fn issues_url(&self, rest: &[&str]) -> Url {
        let mut segments = vec!["repos", &self.owner, &self.repo, "issues"];
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
                    .bearer_auth(self.token.expose_secret())
                    .header(reqwest::header::ACCEPT, ACCEPT)
                    .header("X-GitHub-Api-Version", API_VERSION);
                match &body {
                    Some(json) => request.json(json),
                    None => request,
                }
            })
            .await
    }

    async fn issue_json(
        &self,
        what: &str,
        method: Method,
        url: Url,
        body: Option<serde_json::Value>,
    ) -> Result<GithubIssue, DeliveryError> {
        let response = self.call(what, method, url, body).await?;
        json_body(what, response).await
    }
}

fn to_tracker_issue(issue: GithubIssue) -> TrackerIssue {
    let closed_as = match (issue.state.as_str(), issue.state_reason.as_deref()) {
        ("open", _) => None,
        // A duplicate, like not planned, is a person's decision that
        // another issue (or nobody) carries the work.
        (_, Some("not_planned" | "duplicate")) => Some(ClosedAs::WontFix),
        _ => Some(ClosedAs::Completed),
    };
    TrackerIssue {
        id: issue.number.to_string(),
        url: issue.html_url,
        title: issue.title,
        closed_as,
        closed_at: issue.closed_at.filter(|_| closed_as.is_some()),
        status: match issue.state_reason {
            Some(reason) => format!("{}:{reason}", issue.state),
            None => issue.state,
        },
        description: issue.body.unwrap_or_default(),
        labels: issue
            .labels
            .into_iter()
            .filter_map(|l| match l {
                GithubLabel::Name(name) => Some(name),
                GithubLabel::Object { name } => name,
            })
            .collect(),
    }
}

fn number(id: &str) -> Result<&str, DeliveryError> {
    numeric_id(id, "GitHub issue number")
}

#[async_trait]
impl IssueTracker for GithubTracker {
    fn kind(&self) -> &'static str {
        "github"
    }

    fn hide_marker(&self, marker_lines: &str) -> String {
        format!("<!--\n{marker_lines}\n-->")
    }

    async fn find_by_marker(&self, marker: &Marker) -> Result<Vec<TrackerIssue>, DeliveryError> {
        let what = "github issue list by label";
        let mut url = self.issues_url(&[]);
        url.query_pairs_mut()
            .append_pair("labels", &marker.label())
            .append_pair("state", "all")
            .append_pair("per_page", PER_PAGE);
        let response = self.call(what, Method::GET, url, None).await?;
        let listed: Vec<GithubIssue> = json_body(what, response).await?;
        let listed: Vec<TrackerIssue> = listed.into_iter().map(to_tracker_issue).collect();
        if listed.iter().any(|i| marker.found_in(&i.description)) {
            return Ok(listed);
        }
        let what = "github issue search";
        let mut url = self.url(&["search", "issues"]);
        let query = format!(
            "\"{}\" in:body repo:{}/{} is:issue",
            marker.search_text(),
            self.owner,
            self.repo
        );
        url.query_pairs_mut()
            .append_pair("q", &query)
            .append_pair("per_page", PER_PAGE);
        let response = self.call(what, Method::GET, url, None).await?;
        let found: SearchResult = json_body(what, response).await?;
        Ok(found.items.into_iter().map(to_tracker_issue).collect())
    }

    async fn create(&self, issue: &NewIssue) -> Result<TrackerIssue, DeliveryError> {
        let mut fields = json!({
            "title": issue.title,
            "body": issue.description,
            "labels": issue.labels,
        });
        if !issue.assignees.is_empty() {
            fields["assignees"] = json!(issue.assignees);
        }
        let created = self
            .issue_json(
                "github issue create",
                Method::POST,
                self.issues_url(&[]),
                Some(fields),
            )
            .await?;
        Ok(to_tracker_issue(created))
    }

    async fn get(&self, id: &str) -> Result<Option<TrackerIssue>, DeliveryError> {
        let url = self.issues_url(&[number(id)?]);
        match self
            .issue_json("github issue read", Method::GET, url, None)
            .await
        {
            Ok(issue) => Ok(Some(to_tracker_issue(issue))),
            // 410: the issue was deleted (or issues turned off).
            Err(DeliveryError::Status {
                status: 404 | 410, ..
            }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn comment(&self, id: &str, text: &str) -> Result<(), DeliveryError> {
        let url = self.issues_url(&[number(id)?, "comments"]);
        self.call(
            "github issue comment",
            Method::POST,
            url,
            Some(json!({ "body": text })),
        )
        .await?;
        Ok(())
    }

    async fn close(&self, id: &str, note: &str) -> Result<(), DeliveryError> {
        self.comment(id, note).await?;
        let url = self.issues_url(&[number(id)?]);
        let state = json!({ "state": "closed", "state_reason": "completed" });
        self.issue_json("github issue close", Method::PATCH, url, Some(state))
            .await?;
        Ok(())
    }

    async fn reopen(&self, id: &str, note: &str) -> Result<(), DeliveryError> {
        self.comment(id, note).await?;
        let url = self.issues_url(&[number(id)?]);
        let state = json!({ "state": "open", "state_reason": "reopened" });
        self.issue_json("github issue reopen", Method::PATCH, url, Some(state))
            .await?;
        Ok(())
    }

    async fn add_label(&self, id: &str, label: &str, note: &str) -> Result<(), DeliveryError> {
        self.comment(id, note).await?;
        let url = self.issues_url(&[number(id)?, "labels"]);
        self.call(
            "github issue label",
            Method::POST,
            url,
            Some(json!({ "labels": [label] })),
        )
        .await?;
        Ok(())
    }

    async fn remove_label(&self, id: &str, label: &str) -> Result<(), DeliveryError> {
        let url = self.issues_url(&[number(id)?, "labels", label]);
        match self
            .call("github issue unlabel", Method::DELETE, url, None)
            .await
        {
            Ok(_) | Err(DeliveryError::Status { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}
