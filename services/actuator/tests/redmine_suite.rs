//! The shared issue policy suite against a real Redmine 5 (started by
//! `tests/setup/redmine.sh`; without it these tests fail saying how to
//! start it), each test in a fresh project. Redmine has no labels (the
//! label policy is skipped) and cannot throttle on demand (no storm);
//! requests are not counted.

mod issue_suite;

use chrono::{DateTime, Utc};
use closeloop_actuator::config::RateLimitConfig;
use closeloop_actuator::issues::redmine::RedmineTracker;
use closeloop_actuator::RedmineConfig;
use issue_suite::{FakeControl, FakeView, Harness};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

const HOW_TO_START: &str =
    "start it with tests/setup/redmine.sh (it prints REDMINE_URL and REDMINE_API_KEY_FILE)";

struct RealRedmine {
    url: String,
    key: String,
    project: String,
    http: reqwest::Client,
}

impl RealRedmine {
    /// The suite's control calls are synchronous; the test runtime is
    /// multi-threaded, so blocking on Redmine here is safe.
    fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(async {
                let mut request = self
                    .http
                    .request(method.clone(), format!("{}{path}", self.url))
                    .header("X-Redmine-API-Key", &self.key);
                if let Some(body) = body {
                    request = request.json(&body);
                }
                let response = request.send().await.expect("calling Redmine");
                let status = response.status();
                let text = response.text().await.expect("reading Redmine's answer");
                assert!(status.is_success(), "{method} {path}: {status}: {text}");
                serde_json::from_str(&text).unwrap_or(Value::Null)
            })
        })
    }

    fn set_status(&self, id: &str, status_id: u32) {
        self.call(
            reqwest::Method::PUT,
            &format!("/issues/{id}.json"),
            Some(json!({"issue": {"status_id": status_id}})),
        );
    }
}

impl FakeControl for RealRedmine {
    fn issues(&self) -> Vec<FakeView> {
        let list = self.call(
            reqwest::Method::GET,
            &format!(
                "/issues.json?project_id={}&status_id=*&limit=100",
                self.project
            ),
            None,
        );
        let ids: Vec<u64> = list["issues"]
            .as_array()
            .map(|a| a.iter().filter_map(|i| i["id"].as_u64()).collect())
            .unwrap_or_default();
        ids.into_iter()
            .map(|id| {
                let issue = self.call(
                    reqwest::Method::GET,
                    &format!("/issues/{id}.json?include=journals"),
                    None,
                )["issue"]
                    .clone();
                let status = issue["status"]["id"].as_u64().unwrap_or(0);
                let comments = issue["journals"]
                    .as_array()
                    .map(|j| {
                        j.iter()
                            .filter(|e| e["notes"].as_str().is_some_and(|n| !n.is_empty()))
                            .count()
                    })
                    .unwrap_or(0);
                FakeView {
                    id: id.to_string(),
                    open: !issue["status"]["is_closed"].as_bool().unwrap_or(false),
                    wont_fix: status == 6,
                    comments,
                    labels: Vec::new(),
                    body: issue["description"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                }
            })
            .collect()
    }
    fn close_as_wont_fix(&self, id: &str, _at: DateTime<Utc>) {
        self.set_status(id, 6);
    }
    fn close_as_completed(&self, id: &str, _at: DateTime<Utc>) {
        self.set_status(id, 5);
    }
    fn requests(&self) -> usize {
        0
    }
    fn violations(&self) -> Vec<String> {
        Vec::new()
    }
    fn throttle_every(&self, _every: usize) {}
    fn throttled(&self) -> usize {
        0
    }
}

async fn harness(_limit: RateLimitConfig) -> Harness {
    let url = std::env::var("REDMINE_URL").unwrap_or_else(|_| "http://127.0.0.1:3300".into());
    let key_file = std::env::var("REDMINE_API_KEY_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("/tmp/closeloop-redmine/api_key"));
    let key = std::fs::read_to_string(&key_file)
        .unwrap_or_else(|e| {
            panic!(
                "no Redmine API key at {} ({e}); {HOW_TO_START}",
                key_file.display()
            )
        })
        .trim()
        .to_string();
    let http = reqwest::Client::new();
    let id = uuid::Uuid::now_v7().simple().to_string();
    let project = format!("cl-suite-{}", &id[id.len() - 12..]);
    let redmine = RealRedmine {
        url: url.clone(),
        key: key.clone(),
        project: project.clone(),
        http: http.clone(),
    };
    let reachable = http
        .get(format!("{url}/users/current.json"))
        .header("X-Redmine-API-Key", &key)
        .timeout(Duration::from_secs(10))
        .send()
        .await;
    match reachable {
        Ok(r) if r.status().is_success() => {}
        Ok(r) => panic!("Redmine at {url} answered {}; {HOW_TO_START}", r.status()),
        Err(e) => panic!("Redmine is not reachable at {url} ({e}); {HOW_TO_START}"),
    }
    redmine.call(
        reqwest::Method::POST,
        "/projects.json",
        Some(json!({"project": {
            "name": project, "identifier": project,
            "tracker_ids": [1, 2, 3], "enabled_module_names": ["issue_tracking"],
        }})),
    );
    let config: RedmineConfig = serde_yaml::from_str(&format!(
        "url: {url}\napi_key: {key}\nproject: {project}\ntracker_id: 1\n"
    ))
    .expect("redmine config");
    let tracker = RedmineTracker::new(&config, http, Duration::from_secs(10)).expect("tracker");
    Harness {
        tracker: Arc::new(tracker),
        fake: Arc::new(redmine),
        labels: false,
        requests_per_filing: None,
        counts_requests: false,
    }
}

issue_policy_suite!(harness, without_storm);
