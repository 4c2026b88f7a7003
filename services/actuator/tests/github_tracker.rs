//! The GitHub adapter against a stateful GitHub fake (GitHub cannot run
//! here) whose every request and answer is validated against GitHub's
//! official OpenAPI description, npm `@octokit/openapi`: install it with
//! `export "$(bash tests/setup/github_openapi.sh | grep ^CLOSELOOP_GITHUB_OPENAPI=)"`.
//! Without it these tests fail saying so. Runs the shared issue policy
//! suite, then GitHub's own cases.

mod github;
mod issue_suite;

use chrono::{DateTime, Utc};
use closeloop_actuator::config::{GithubConfig, OnResolved, RateLimitConfig};
use closeloop_actuator::issues::carry_out::IssueOutcome;
use closeloop_actuator::issues::github::GithubTracker;
use closeloop_actuator::issues::{IssueTracker, Marker};
use closeloop_actuator::rate_budget::Budgets;
use closeloop_core::events::IssueAction;
use github::contract::{contract, Request};
use github::fake::{GithubFake, OWNER, REPO, TOKEN};
use issue_suite::{alert, t, Driver, FakeControl, FakeView, Harness};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

impl FakeControl for GithubFake {
    fn issues(&self) -> Vec<FakeView> {
        GithubFake::issues(self)
            .into_iter()
            .map(|i| FakeView {
                id: i.number.to_string(),
                open: i.state == "open",
                wont_fix: i.state_reason.as_deref() == Some("not_planned"),
                comments: i.comments.len(),
                labels: i.labels,
                body: i.body,
            })
            .collect()
    }
    fn close_as_wont_fix(&self, id: &str, at: DateTime<Utc>) {
        self.close(id.parse().expect("issue number"), "not_planned", at);
    }
    fn close_as_completed(&self, id: &str, at: DateTime<Utc>) {
        self.close(id.parse().expect("issue number"), "completed", at);
    }
    fn requests(&self) -> usize {
        GithubFake::requests(self)
    }
    fn violations(&self) -> Vec<String> {
        GithubFake::violations(self)
    }
    fn throttle_every(&self, every: usize) {
        GithubFake::throttle_every(self, every)
    }
    fn throttled(&self) -> usize {
        GithubFake::throttled(self)
    }
}

fn config(fake: &GithubFake, limit: RateLimitConfig) -> GithubConfig {
    let yaml = format!(
        "api_url: {}\nrepository: {OWNER}/{REPO}\ntoken: {TOKEN}\n",
        fake.api_url()
    );
    let mut config: GithubConfig = serde_yaml::from_str(&yaml).expect("github config");
    config.rate_limit = limit;
    config
}

async fn start(limit: RateLimitConfig) -> (GithubFake, Arc<GithubTracker>) {
    let fake = GithubFake::start().await;
    let tracker = GithubTracker::new(
        &config(&fake, limit),
        reqwest::Client::new(),
        Duration::from_secs(10),
        &mut Budgets::default(),
    )
    .expect("github tracker");
    (fake, Arc::new(tracker))
}

async fn harness(limit: RateLimitConfig) -> Harness {
    let (fake, tracker) = start(limit).await;
    Harness {
        tracker,
        fake: Arc::new(fake),
        labels: true,
        // list by label, search (nothing labelled yet), create
        requests_per_filing: Some(3),
        counts_requests: true,
    }
}

issue_policy_suite!(harness);

#[tokio::test]
async fn the_label_listing_finds_a_fresh_issue_that_search_does_not_see_yet() {
    let h = harness(issue_suite::unlimited()).await;
    let (fake, tracker) = start(issue_suite::unlimited()).await;
    drop(h);
    let mut d = Driver::new(
        &Harness {
            tracker,
            fake: Arc::new(fake.clone()),
            labels: true,
            requests_per_filing: None,
            counts_requests: true,
        },
        OnResolved::Close,
    );
    let a = alert("SearchLags");
    let first = d.step(&a, IssueAction::Open, t(0), false).await;
    assert!(matches!(first, IssueOutcome::Filed(_)));
    // GitHub's search index has not caught up: only the label can find it
    fake.search_lags(true);
    let again = d.fire(&a, t(0)).await;
    assert!(matches!(again, IssueOutcome::Adopted(_)), "{again:?}");
    assert_eq!(fake.issues().len(), 1);
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}

#[tokio::test]
async fn a_secondary_rate_limit_403_pauses_and_the_request_still_goes_through() {
    let (fake, tracker) = start(issue_suite::unlimited()).await;
    fake.throttle_next(2, true);
    let marker = Marker {
        fingerprint: "0123456789abcdef".into(),
        receiver: "r".into(),
    };
    let found = tracker
        .find_by_marker(&marker)
        .await
        .expect("throttled, then answered");
    assert!(found.is_empty());
    assert_eq!(fake.throttled(), 2);
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
}

#[tokio::test]
async fn a_deleted_issue_reads_as_missing() {
    let (fake, tracker) = start(issue_suite::unlimited()).await;
    let h = Harness {
        tracker: tracker.clone(),
        fake: Arc::new(fake.clone()),
        labels: true,
        requests_per_filing: None,
        counts_requests: true,
    };
    let mut d = Driver::new(&h, OnResolved::Close);
    let a = alert("Deleted");
    d.fire(&a, t(0)).await;
    fake.delete(1);
    assert_eq!(tracker.get("1").await.expect("read"), None);
}

#[test]
fn the_contract_rejects_what_github_would_reject() {
    let contract = contract();
    let patch = |body: serde_json::Value| {
        contract
            .check_request(&Request {
                method: "PATCH",
                path: "/repos/acme/shop/issues/1",
                query: &[],
                body: Some(&body),
            })
            .map(|_| ())
    };
    assert!(patch(json!({"state": "closed", "state_reason": "completed"})).is_ok());
    assert!(patch(json!({"state": "closed", "state_reason": "wontfix"})).is_err());
    assert!(patch(json!({"state": "done"})).is_err());
    let create = |body: serde_json::Value| {
        contract
            .check_request(&Request {
                method: "POST",
                path: "/repos/acme/shop/issues",
                query: &[],
                body: Some(&body),
            })
            .map(|_| ())
    };
    assert!(create(json!({"title": "x", "labels": ["a"]})).is_ok());
    assert!(
        create(json!({"body": "no title"})).is_err(),
        "title is required"
    );
    let list = |query: &[(String, String)]| {
        contract
            .check_request(&Request {
                method: "GET",
                path: "/repos/acme/shop/issues",
                query,
                body: None,
            })
            .map(|_| ())
    };
    assert!(list(&[("state".into(), "all".into())]).is_ok());
    assert!(list(&[("state".into(), "everything".into())]).is_err());
    assert!(list(&[("per_page".into(), "many".into())]).is_err());
    assert!(
        contract
            .check_request(&Request {
                method: "PUT",
                path: "/repos/acme/shop/issues/1",
                query: &[],
                body: None
            })
            .is_err(),
        "no such operation"
    );

    // answers too: an issue without its required `number` is refused
    let op = contract
        .check_request(&Request {
            method: "GET",
            path: "/repos/acme/shop/issues/1",
            query: &[],
            body: None,
        })
        .expect("a documented operation");
    let broken = json!({"title": "x", "state": "open"});
    assert!(contract.check_response(&op, 200, &broken).is_err());
    assert!(
        contract.check_response(&op, 418, &json!({})).is_err(),
        "undocumented status"
    );
}
