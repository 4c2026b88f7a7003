//! The GitLab adapter against a stateful GitLab fake (GitLab cannot run
//! here) whose every request and answer is checked against GitLab's REST
//! v4 reference, transcribed into `tests/gitlab/gitlab-v4.openapi.json`
//! (see `tests/gitlab/contract.rs` for the pages it cites). Runs the shared
//! issue policy suite, then GitLab's own cases: the not-planned label, a
//! duplicate, a project path, assignees by username, GitLab's 429.

mod gitlab;
mod issue_suite;
mod openapi;

use chrono::{DateTime, Utc};
use closeloop_actuator::config::{GitlabConfig, OnResolved, RateLimitConfig};
use closeloop_actuator::issues::carry_out::IssueOutcome;
use closeloop_actuator::issues::gitlab::GitlabTracker;
use closeloop_actuator::issues::{ClosedAs, IssueTracker, Marker, NewIssue};
use closeloop_actuator::rate_budget::Budgets;
use gitlab::contract::contract;
use gitlab::fake::{GitlabFake, PROJECT, PROJECT_ID, TOKEN};
use issue_suite::{alert, t, Driver, FakeControl, FakeView, Harness};
use openapi::Request;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

const NOT_PLANNED: &str = "wontfix";

impl FakeControl for GitlabFake {
    fn issues(&self) -> Vec<FakeView> {
        GitlabFake::issues(self)
            .into_iter()
            .map(|i| FakeView {
                id: i.iid.to_string(),
                open: i.state == "opened",
                wont_fix: i.state == "closed" && i.labels.iter().any(|l| l == NOT_PLANNED),
                comments: i.notes.len(),
                labels: i.labels,
                body: i.description,
            })
            .collect()
    }
    fn close_as_wont_fix(&self, id: &str, at: DateTime<Utc>) {
        self.close(id.parse().expect("issue iid"), &[NOT_PLANNED], at);
    }
    fn close_as_completed(&self, id: &str, at: DateTime<Utc>) {
        self.close(id.parse().expect("issue iid"), &[], at);
    }
    fn requests(&self) -> usize {
        GitlabFake::requests(self)
    }
    fn violations(&self) -> Vec<String> {
        GitlabFake::violations(self)
    }
    fn throttle_every(&self, every: usize) {
        GitlabFake::throttle_every(self, every)
    }
    fn throttled(&self) -> usize {
        GitlabFake::throttled(self)
    }
}

/// The receiver config as a user writes it; `project` is a path or an id.
fn config(fake: &GitlabFake, project: &str, limit: RateLimitConfig) -> GitlabConfig {
    let yaml = format!(
        "url: {}\nproject: {project}\ntoken: {TOKEN}\nnot_planned_label: {NOT_PLANNED}\n",
        fake.url()
    );
    let mut config: GitlabConfig = serde_yaml::from_str(&yaml).expect("gitlab config");
    config.rate_limit = limit;
    config
}

async fn start_with(project: &str, limit: RateLimitConfig) -> (GitlabFake, Arc<GitlabTracker>) {
    let fake = GitlabFake::start().await;
    let tracker = GitlabTracker::new(
        &config(&fake, project, limit),
        reqwest::Client::new(),
        Duration::from_secs(10),
        &mut Budgets::default(),
    )
    .expect("gitlab tracker");
    (fake, Arc::new(tracker))
}

async fn harness(limit: RateLimitConfig) -> Harness {
    let (fake, tracker) = start_with(PROJECT, limit).await;
    Harness {
        tracker,
        fake: Arc::new(fake),
        labels: true,
        // list by label, description search (nothing labelled yet), create
        requests_per_filing: Some(3),
        counts_requests: true,
    }
}

issue_policy_suite!(harness);

fn marker() -> Marker {
    Marker {
        fingerprint: "0123456789abcdef".into(),
        receiver: "backlog".into(),
    }
}

fn new_issue(assignees: &[&str]) -> NewIssue {
    let m = marker();
    NewIssue {
        title: "CheckoutSlow checkout prod".into(),
        description: format!(
            "body\n<!--\n{}\n-->",
            closeloop_actuator::issues::render::marker_lines(&m.fingerprint, &m.receiver)
        ),
        labels: vec![m.label(), "incident".into(), "team, checkout".into()],
        assignees: assignees.iter().map(|a| a.to_string()).collect(),
    }
}

#[tokio::test]
async fn a_project_path_goes_as_one_escaped_segment_and_an_id_works_too() {
    for project in [PROJECT.to_string(), PROJECT_ID.to_string()] {
        let (fake, tracker) = start_with(&project, issue_suite::unlimited()).await;
        let created = tracker.create(&new_issue(&[])).await.expect("created");
        assert_eq!(created.id, "1");
        assert!(
            created.url.ends_with("/acme/shop/-/issues/1"),
            "{}",
            created.url
        );
        let found = tracker.find_by_marker(&marker()).await.expect("found");
        assert_eq!(found.len(), 1);
        assert!(fake.violations().is_empty(), "{:?}", fake.violations());
    }
}

#[tokio::test]
async fn a_comma_inside_a_label_does_not_split_it() {
    let (fake, tracker) = start_with(PROJECT, issue_suite::unlimited()).await;
    tracker.create(&new_issue(&[])).await.expect("created");
    let labels = &fake.issues()[0].labels;
    assert!(labels.contains(&"team  checkout".to_string()), "{labels:?}");
    assert_eq!(labels.len(), 3, "{labels:?}");
}

#[tokio::test]
async fn assignees_are_looked_up_by_username_once_and_unknown_ones_left_off() {
    let (fake, tracker) = start_with(PROJECT, issue_suite::unlimited()).await;
    tracker
        .create(&new_issue(&["alice", "nobody"]))
        .await
        .expect("created despite the unknown user");
    let before = fake.requests();
    let mut second = new_issue(&["alice", "nobody"]);
    second.description = "another".into();
    tracker.create(&second).await.expect("created");
    assert_eq!(fake.requests() - before, 1, "names are remembered");
    let issues = fake.issues();
    assert_eq!(issues[0].assignee_ids, vec![7]);
    assert_eq!(issues[1].assignee_ids, vec![7]);
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}

#[tokio::test]
async fn closed_with_the_not_planned_label_or_as_a_duplicate_reads_as_wont_fix() {
    let (fake, tracker) = start_with(PROJECT, issue_suite::unlimited()).await;
    for _ in 0..3 {
        tracker.create(&new_issue(&[])).await.expect("created");
    }
    fake.close(1, &[NOT_PLANNED], t(5));
    fake.close_as_duplicate(2, 1, t(5));
    fake.close(3, &[], t(5));
    let closed_as = |id: &'static str| {
        let tracker = Arc::clone(&tracker);
        async move {
            tracker
                .get(id)
                .await
                .expect("read")
                .expect("exists")
                .closed_as
        }
    };
    assert_eq!(closed_as("1").await, Some(ClosedAs::WontFix));
    assert_eq!(closed_as("2").await, Some(ClosedAs::WontFix));
    assert_eq!(closed_as("3").await, Some(ClosedAs::Completed));
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}

#[tokio::test]
async fn a_429_pauses_and_the_request_still_goes_through() {
    let (fake, tracker) = start_with(PROJECT, issue_suite::unlimited()).await;
    fake.throttle_next(2);
    let found = tracker
        .find_by_marker(&marker())
        .await
        .expect("throttled, then answered");
    assert!(found.is_empty());
    assert_eq!(fake.throttled(), 2);
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}

#[tokio::test]
async fn a_deleted_issue_reads_as_missing() {
    let (fake, tracker) = start_with(PROJECT, issue_suite::unlimited()).await;
    let h = Harness {
        tracker: tracker.clone(),
        fake: Arc::new(fake.clone()),
        labels: true,
        requests_per_filing: None,
        counts_requests: true,
    };
    let mut d = Driver::new(&h, OnResolved::Close);
    let a = alert("Deleted");
    assert!(matches!(d.fire(&a, t(0)).await, IssueOutcome::Filed(_)));
    fake.delete(1);
    assert_eq!(tracker.get("1").await.expect("read"), None);
}

#[test]
fn the_contract_rejects_what_gitlab_would_reject() {
    let contract = contract();
    let check =
        |method: &str, path: &str, query: &[(String, String)], body: Option<serde_json::Value>| {
            contract
                .check_request(&Request {
                    method,
                    path,
                    query,
                    body: body.as_ref(),
                })
                .map(|_| ())
        };
    let issue = "/projects/acme%2Fshop/issues/1";
    assert!(check("PUT", issue, &[], Some(json!({"state_event": "close"}))).is_ok());
    assert!(check("PUT", issue, &[], Some(json!({"state_event": "closed"}))).is_err());
    assert!(
        check("PUT", issue, &[], Some(json!({}))).is_err(),
        "one attribute at least"
    );
    assert!(
        check("PUT", issue, &[], Some(json!({"state": "closed"}))).is_err(),
        "GitHub's field"
    );
    let issues = "/projects/acme%2Fshop/issues";
    assert!(check(
        "POST",
        issues,
        &[],
        Some(json!({"title": "x", "labels": "a,b"}))
    )
    .is_ok());
    assert!(check(
        "POST",
        issues,
        &[],
        Some(json!({"description": "no title"}))
    )
    .is_err());
    assert!(
        check(
            "POST",
            issues,
            &[],
            Some(json!({"title": "x", "labels": ["a"]}))
        )
        .is_err(),
        "labels are one comma-separated string"
    );
    assert!(check("POST", issues, &[], Some(json!({"title": "x".repeat(256)}))).is_err());
    let q = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
    assert!(check("GET", issues, &q("state", "all"), None).is_ok());
    assert!(
        check("GET", issues, &q("state", "open"), None).is_err(),
        "GitLab says opened"
    );
    assert!(check("GET", issues, &q("per_page", "101"), None).is_err());
    assert!(check("GET", issues, &q("labels_any", "x"), None).is_err());
    assert!(check(
        "POST",
        &format!("{issue}/comments"),
        &[],
        Some(json!({"body": "x"}))
    )
    .is_err());
    assert!(check(
        "POST",
        &format!("{issue}/notes"),
        &[],
        Some(json!({"body": ""}))
    )
    .is_err());
    assert!(check("GET", "/projects/acme%2Fshop/issues/one", &[], None).is_err());
    let op = contract
        .check_request(&Request {
            method: "GET",
            path: issue,
            query: &[],
            body: None,
        })
        .expect("a documented operation");
    assert!(contract
        .check_response(&op, 200, Some(&json!({"iid": 1, "state": "open"})))
        .is_err());
    assert!(contract.check_response(&op, 418, Some(&json!({}))).is_err());
}
