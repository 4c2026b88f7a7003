//! [`IssueTracker`] over Redmine's REST API (JSON, `X-Redmine-API-Key`),
//! as measured against Redmine 5.0 in `shared/notes/redmine.md`.

use super::{ClosedAs, IssueTracker, Marker, NewIssue, TrackerIssue};
use crate::config::RedmineConfig;
use crate::error::DeliveryError;
use crate::http::json_body;
use crate::http::send;
use crate::rate_budget::RateBudget;
use async_trait::async_trait;
use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

const API_KEY_HEADER: &str = "X-Redmine-API-Key";
/// Marker lookups expect a handful of hits; more is a misconfiguration.
const SEARCH_LIMIT: &str = "100";

pub struct RedmineTracker {
    client: reqwest::Client,
    base: Url,
    api_key: SecretString,
    project: String,
    tracker_id: Option<u32>,
    closed_status_id: u32,
    reopened_status_id: u32,
    wont_fix_status_ids: Vec<u32>,
    timeout: Duration,
    budget: Option<Arc<RateBudget>>,
}

#[derive(Debug, thiserror::Error)]
pub enum RedmineConfigError {
    #[error("redmine url {0:?} is not a valid base URL")]
    Url(String),
    #[error("redmine api key missing (set api_key, or api_key_file and call load_secrets)")]
    NoApiKey,
}

#[derive(Deserialize)]
struct IssueEnvelope {
    issue: RedmineIssue,
}

#[derive(Deserialize)]
struct IssueList {
    issues: Vec<RedmineIssue>,
}

#[derive(Deserialize)]
struct RedmineIssue {
    id: u64,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    description: Option<String>,
    status: RedmineStatus,
    #[serde(default)]
    closed_on: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Deserialize)]
struct RedmineStatus {
    id: u32,
    /// Present since Redmine 5.0; older servers leave it out.
    #[serde(default)]
    is_closed: Option<bool>,
}

impl RedmineTracker {
    pub fn new(
        config: &RedmineConfig,
        client: reqwest::Client,
        timeout: Duration,
    ) -> Result<RedmineTracker, RedmineConfigError> {
        // A trailing slash makes `join` keep any path prefix (sub-URI installs).
        let with_slash = format!("{}/", config.url.trim_end_matches('/'));
        let base =
            Url::parse(&with_slash).map_err(|_| RedmineConfigError::Url(config.url.clone()))?;
        if base.cannot_be_a_base() {
            return Err(RedmineConfigError::Url(config.url.clone()));
        }
        let api_key = config.api_key.clone().ok_or(RedmineConfigError::NoApiKey)?;
        Ok(RedmineTracker {
            client,
            base,
            api_key,
            project: config.project.clone(),
            tracker_id: config.tracker_id,
            closed_status_id: config.closed_status_id,
            reopened_status_id: config.reopened_status_id,
            wont_fix_status_ids: config.wont_fix_status_ids.clone(),
            timeout,
            budget: None,
        })
    }

    fn url(&self, path: &str) -> Result<Url, DeliveryError> {
        self.base.join(path).map_err(|e| DeliveryError::Invalid {
            what: "redmine URL".into(),
            reason: e.to_string(),
        })
    }

    fn request(&self, method: reqwest::Method, url: Url) -> reqwest::RequestBuilder {
        self.client
            .request(method, url)
            .timeout(self.timeout)
            .header(API_KEY_HEADER, self.api_key.expose_secret())
    }

    fn issue_url(&self, id: u64) -> String {
        self.url(&format!("issues/{id}"))
            .map(String::from)
            .unwrap_or_default()
    }

    fn to_tracker_issue(&self, issue: RedmineIssue) -> TrackerIssue {
        let open = match issue.status.is_closed {
            Some(closed) => !closed,
            // Without is_closed, the statuses of Redmine's default data.
            None => issue.status.id != self.closed_status_id && issue.status.id != 6,
        };
        let closed_as = if open {
            None
        } else if self.wont_fix_status_ids.contains(&issue.status.id) {
            Some(ClosedAs::WontFix)
        } else {
            Some(ClosedAs::Completed)
        };
        TrackerIssue {
            id: issue.id.to_string(),
            url: self.issue_url(issue.id),
            title: issue.subject,
            closed_as,
            closed_at: issue.closed_on.filter(|_| !open),
            status: issue.status.id.to_string(),
            description: issue.description.unwrap_or_default(),
            labels: Vec::new(),
        }
    }
}

/// Redmine ids are numbers; anything else must not reach a URL path.
fn numeric_id(id: &str) -> Result<u64, DeliveryError> {
    id.parse().map_err(|_| DeliveryError::Invalid {
        what: "redmine issue id".into(),
        reason: format!("{id:?} is not a Redmine issue id"),
    })
}

#[async_trait]
impl IssueTracker for RedmineTracker {
    fn kind(&self) -> &'static str {
        "redmine"
    }

    async fn find_by_marker(&self, marker: &Marker) -> Result<Vec<TrackerIssue>, DeliveryError> {
        let what = "redmine issue search";
        let mut url = self.url("issues.json")?;
        url.query_pairs_mut()
            .append_pair("project_id", &self.project)
            .append_pair("status_id", "*")
            .append_pair("description", &format!("~{}", marker.search_text()))
            .append_pair("sort", "id:desc")
            .append_pair("limit", SEARCH_LIMIT);
        let response = self
            .send(what, || self.request(reqwest::Method::GET, url.clone()))
            .await?;
        let list: IssueList = json_body(what, response).await?;
        Ok(list
            .issues
            .into_iter()
            .map(|i| self.to_tracker_issue(i))
            .collect())
    }

    async fn create(&self, issue: &NewIssue) -> Result<TrackerIssue, DeliveryError> {
        let what = "redmine issue create";
        let mut fields = json!({
            "project_id": self.project,
            "subject": issue.title,
            "description": issue.description,
        });
        if let Some(tracker_id) = self.tracker_id {
            fields["tracker_id"] = json!(tracker_id);
        }
        let url = self.url("issues.json")?;
        let body = json!({ "issue": fields });
        let response = self
            .send(what, || {
                self.request(reqwest::Method::POST, url.clone()).json(&body)
            })
            .await?;
        let created: IssueEnvelope = json_body(what, response).await?;
        Ok(self.to_tracker_issue(created.issue))
    }

    async fn get(&self, id: &str) -> Result<Option<TrackerIssue>, DeliveryError> {
        let what = "redmine issue read";
        let url = self.url(&format!("issues/{}.json", numeric_id(id)?))?;
        match self
            .send(what, || self.request(reqwest::Method::GET, url.clone()))
            .await
        {
            Ok(response) => {
                let found: IssueEnvelope = json_body(what, response).await?;
                Ok(Some(self.to_tracker_issue(found.issue)))
            }
            Err(DeliveryError::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn comment(&self, id: &str, text: &str) -> Result<(), DeliveryError> {
        self.put(id, json!({ "notes": text })).await
    }

    async fn close(&self, id: &str, note: &str) -> Result<(), DeliveryError> {
        self.put(
            id,
            json!({ "notes": note, "status_id": self.closed_status_id }),
        )
        .await
    }

    async fn reopen(&self, id: &str, note: &str) -> Result<(), DeliveryError> {
        self.put(
            id,
            json!({ "notes": note, "status_id": self.reopened_status_id }),
        )
        .await
    }

    async fn add_label(&self, _id: &str, _label: &str, _note: &str) -> Result<(), DeliveryError> {
        Err(DeliveryError::Invalid {
            what: "redmine issue label".into(),
            reason: "Redmine issues have no labels".into(),
        })
    }

    async fn remove_label(&self, _id: &str, _label: &str) -> Result<(), DeliveryError> {
        Ok(())
    }
}

impl RedmineTracker {
    /// Sends every request through this instance's rate budget, if
    /// `rate_limit` is configured (self-hosted Redmine has no limit of
    /// its own by default).
    pub fn with_budget(mut self, budget: Option<Arc<RateBudget>>) -> RedmineTracker {
        self.budget = budget;
        self
    }

    async fn send(
        &self,
        what: &str,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, DeliveryError> {
        match &self.budget {
            Some(budget) => budget.send(what, build).await,
            None => send(what, build()).await,
        }
    }

    /// Note and status change in one request, so neither lands alone.
    async fn put(&self, id: &str, fields: serde_json::Value) -> Result<(), DeliveryError> {
        let what = "redmine issue update";
        let url = self.url(&format!("issues/{}.json", numeric_id(id)?))?;
        let body = json!({ "issue": fields });
        self.send(what, || {
            self.request(reqwest::Method::PUT, url.clone()).json(&body)
        })
        .await?;
        Ok(())
    }
}
