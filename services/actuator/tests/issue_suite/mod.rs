//! The issue policy suite, one set of tests for every tracker: recurrence,
//! reopen window, won't-fix, each resolve policy, a crash between create
//! and record, and a storm of 1,000 fingerprints under a rate budget. It
//! drives the real `carry_out` (decide + adapter) over `dyn IssueTracker`
//! and folds the outcome events into the real `ActuatorState`, as the
//! runner does, with time stepped by hand.
//!
//! To run it against another tracker (GitLab, Jira):
//! 1. implement [`FakeControl`] for your fake (what a person does in the
//!    tracker's web page, and what the fake saw);
//! 2. write `async fn harness(limit: RateLimitConfig) -> Harness` that
//!    starts the fake and builds your adapter with that rate limit;
//! 3. in `tests/<tracker>_tracker.rs`: `mod issue_suite;` and
//!    `issue_suite::issue_policy_suite!(harness);`.
//!
//! Trackers without labels set `Harness::labels` false (the label policy
//! is then skipped). `issue_policy_suite!(harness, without_storm)` leaves
//! the storm out (for a real server that cannot throttle on demand).

#![allow(dead_code)]

use chrono::{DateTime, Duration as ChronoDuration, Utc};
use closeloop_actuator::config::{IssuePolicy, OnResolved, RateLimitConfig};
use closeloop_actuator::issues::carry_out::{
    carry_out, outcome_events, IssueOutcome, IssueRequest, OutcomeContext,
};
use closeloop_actuator::issues::decide::wants_request;
use closeloop_actuator::issues::{IssueTracker, Marker};
use closeloop_actuator::state::{ActuatorState, IssueKey};
use closeloop_core::events::{AlertEvent, IssueAction};
use closeloop_core::{fingerprint, EventPayload, LabelSet};
use std::sync::Arc;
use std::time::Duration;

/// An issue as the fake holds it.
#[derive(Debug, Clone)]
pub struct FakeView {
    pub id: String,
    pub open: bool,
    pub wont_fix: bool,
    pub comments: usize,
    pub labels: Vec<String>,
    pub body: String,
}

/// What the suite needs from a tracker's fake besides the adapter.
pub trait FakeControl: Send + Sync {
    fn issues(&self) -> Vec<FakeView>;
    /// A person closes the issue as won't fix / not planned.
    fn close_as_wont_fix(&self, id: &str, at: DateTime<Utc>);
    /// A person closes the issue as done.
    fn close_as_completed(&self, id: &str, at: DateTime<Utc>);
    /// Requests served so far (throttled ones included).
    fn requests(&self) -> usize;
    /// Requests or answers that broke the tracker's contract.
    fn violations(&self) -> Vec<String>;
    /// From now on, throttle one request in `every` (429 + Retry-After).
    fn throttle_every(&self, every: usize);
    fn throttled(&self) -> usize;
}

pub struct Harness {
    pub tracker: Arc<dyn IssueTracker>,
    pub fake: Arc<dyn FakeControl>,
    pub labels: bool,
    /// Requests one first filing takes (lookups + create), when fixed.
    pub requests_per_filing: Option<usize>,
    /// The fake counts requests (a real server may not): the checks that
    /// no request was made run only then.
    pub counts_requests: bool,
}

/// A rate limit that does not slow the policy tests.
pub fn unlimited() -> RateLimitConfig {
    RateLimitConfig {
        requests_per_minute: 600_000,
        burst: 10_000,
    }
}

pub fn t(minutes: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-22T00:00:00Z")
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|e| panic!("{e}"))
        + ChronoDuration::minutes(minutes)
}

pub fn alert(name: &str) -> AlertEvent {
    let labels: LabelSet = [
        ("alertname".to_string(), name.to_string()),
        ("service".to_string(), "checkout".to_string()),
        ("environment".to_string(), "prod".to_string()),
    ]
    .into();
    AlertEvent {
        fingerprint: fingerprint(&labels).to_string(),
        rule_group: "checkout".into(),
        alertname: name.into(),
        labels,
        annotations: LabelSet::new(),
        value: 0.12,
        active_at: t(0),
        fired_at: Some(t(0)),
        resolved_at: None,
        suspect_deploys: Vec::new(),
        generator_url: None,
    }
}

pub fn policy(on_resolved: OnResolved) -> IssuePolicy {
    IssuePolicy {
        labels: vec!["incident".into()],
        assignees: Vec::new(),
        title: None,
        body: None,
        subject_labels: vec!["service".into(), "environment".into()],
        on_resolved,
        resolved_label: "resolved".into(),
        reopen_window: Duration::from_secs(60 * 60),
    }
}

/// One receiver's integration, as the runner drives it.
pub struct Driver {
    pub tracker: Arc<dyn IssueTracker>,
    pub state: ActuatorState,
    pub policy: IssuePolicy,
    pub receiver: String,
    pub events: Vec<EventPayload>,
}

impl Driver {
    pub fn new(h: &Harness, on_resolved: OnResolved) -> Driver {
        Driver {
            tracker: Arc::clone(&h.tracker),
            state: ActuatorState::default(),
            policy: policy(on_resolved),
            receiver: "backlog".into(),
            events: Vec::new(),
        }
    }

    pub async fn fire(&mut self, alert: &AlertEvent, now: DateTime<Utc>) -> IssueOutcome {
        self.step(alert, IssueAction::Open, now, true).await
    }

    pub async fn resolve(&mut self, alert: &AlertEvent, now: DateTime<Utc>) -> IssueOutcome {
        let mut resolved = alert.clone();
        resolved.resolved_at = Some(now);
        self.step(&resolved, IssueAction::Resolve, now, true).await
    }

    fn key(&self, alert: &AlertEvent) -> IssueKey {
        IssueKey {
            receiver: self.receiver.clone(),
            integration: "suite_configs[0]".into(),
            fingerprint: alert.fingerprint.clone(),
        }
    }

    /// `record: false` is a crash after the tracker answered and before
    /// the outcome reached the log.
    pub async fn step(
        &mut self,
        alert: &AlertEvent,
        action: IssueAction,
        now: DateTime<Utc>,
        record: bool,
    ) -> IssueOutcome {
        let known = self.state.issue(&self.key(alert)).cloned();
        if !wants_request(known.as_ref(), action, self.policy.on_resolved) {
            return IssueOutcome::Nothing;
        }
        let request = IssueRequest {
            receiver: &self.receiver,
            alert,
            action,
            policy: &self.policy,
            now,
        };
        let outcome = carry_out(self.tracker.as_ref(), known.as_ref(), &request)
            .await
            .unwrap_or_else(|e| panic!("{action:?} failed: {e}"));
        if record {
            let ctx = OutcomeContext {
                request_id: uuid::Uuid::now_v7(),
                fingerprint: &alert.fingerprint,
                receiver: &self.receiver,
                integration: "suite_configs[0]",
                tracker: self.tracker.kind(),
                suspect_deploys: &alert.suspect_deploys,
            };
            for event in outcome_events(&ctx, &outcome) {
                self.state.apply(&event, now);
                self.events.push(event);
            }
        }
        outcome
    }

    pub fn issue_id(&self, alert: &AlertEvent) -> String {
        self.state
            .issue(&self.key(alert))
            .map(|k| k.issue_id.clone())
            .unwrap_or_else(|| panic!("no issue recorded for {}", alert.alertname))
    }

    pub fn last_count(&self) -> Option<(String, u32)> {
        self.events.iter().rev().find_map(|e| match e {
            EventPayload::IssueCommented(c) => Some((c.reason.clone(), c.occurrences)),
            _ => None,
        })
    }
}

fn marked(h: &Harness, alert: &AlertEvent) -> Vec<FakeView> {
    let marker = Marker {
        fingerprint: alert.fingerprint.clone(),
        receiver: "backlog".into(),
    };
    h.fake
        .issues()
        .into_iter()
        .filter(|i| marker.found_in(&i.body))
        .collect()
}

fn no_violations(h: &Harness) {
    let v = h.fake.violations();
    assert!(v.is_empty(), "contract violations: {v:#?}");
}

pub async fn a_first_firing_files_one_marked_issue(h: Harness) {
    let mut d = Driver::new(&h, OnResolved::Close);
    let a = alert("FirstFiring");
    assert!(matches!(d.fire(&a, t(0)).await, IssueOutcome::Filed(_)));
    let issues = marked(&h, &a);
    assert_eq!(issues.len(), 1, "{issues:?}");
    if h.labels {
        let marker_label = format!("closeloop:{}", a.fingerprint);
        assert!(
            issues[0].labels.contains(&marker_label),
            "{:?}",
            issues[0].labels
        );
        assert!(issues[0].labels.contains(&"incident".to_string()));
    }
    no_violations(&h);
}

pub async fn a_recurrence_while_open_comments_with_the_count(h: Harness) {
    let mut d = Driver::new(&h, OnResolved::Close);
    let a = alert("Recurs");
    d.fire(&a, t(0)).await;
    d.fire(&a, t(5)).await;
    d.fire(&a, t(10)).await;
    let issues = marked(&h, &a);
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].comments, 2);
    assert_eq!(d.last_count(), Some(("recurred".into(), 3)));
    no_violations(&h);
}

pub async fn a_recurrence_inside_the_reopen_window_reopens_the_issue(h: Harness) {
    let mut d = Driver::new(&h, OnResolved::Close);
    let a = alert("Flaps");
    d.fire(&a, t(0)).await;
    d.resolve(&a, t(10)).await;
    assert!(!marked(&h, &a)[0].open, "closed on resolve");
    // when it fires again 30 minutes after closeloop closed it (window 1h)
    let outcome = d.fire(&a, t(40)).await;
    assert!(
        matches!(outcome, IssueOutcome::Reopened { occurrences: 2, .. }),
        "{outcome:?}"
    );
    let issues = marked(&h, &a);
    assert_eq!(issues.len(), 1);
    assert!(issues[0].open);
    no_violations(&h);
}

pub async fn a_recurrence_after_the_reopen_window_files_a_new_issue_linking_the_old(h: Harness) {
    let mut d = Driver::new(&h, OnResolved::Close);
    let a = alert("ComesBack");
    d.fire(&a, t(0)).await;
    let old = d.issue_id(&a);
    d.resolve(&a, t(10)).await;
    let outcome = d.fire(&a, t(10 + 61)).await;
    assert!(matches!(outcome, IssueOutcome::Filed(_)), "{outcome:?}");
    let issues = marked(&h, &a);
    assert_eq!(issues.len(), 2, "{issues:?}");
    let new = issues.iter().find(|i| i.id != old).expect("a new issue");
    let old_issue = issues.iter().find(|i| i.id == old).expect("the old issue");
    assert!(new.open && !old_issue.open);
    let known = d.state.issue(&d.key(&a)).expect("recorded").clone();
    assert_eq!(known.issue_id, new.id);
    assert!(new.body.contains("earlier issue"), "{}", new.body);
    no_violations(&h);
}

pub async fn an_issue_closed_as_wont_fix_is_only_counted(h: Harness) {
    let mut d = Driver::new(&h, OnResolved::Close);
    let a = alert("WontFix");
    d.fire(&a, t(0)).await;
    let id = d.issue_id(&a);
    h.fake.close_as_wont_fix(&id, t(1));
    let before = h.fake.requests();
    for minute in [2, 100, 10_000] {
        let outcome = d.fire(&a, t(minute)).await;
        assert!(
            matches!(outcome, IssueOutcome::Counted { .. }),
            "{outcome:?}"
        );
    }
    let issues = marked(&h, &a);
    assert_eq!(issues.len(), 1, "never refiled");
    assert!(!issues[0].open && issues[0].wont_fix, "never reopened");
    assert_eq!(issues[0].comments, 0, "never commented on");
    assert_eq!(d.last_count(), Some(("counted".into(), 4)));
    // only the three reads that found it closed as won't fix
    if h.counts_requests {
        assert_eq!(h.fake.requests() - before, 3);
    }
    no_violations(&h);
}

pub async fn an_issue_a_person_closed_as_completed_is_reopened_inside_the_window(h: Harness) {
    let mut d = Driver::new(&h, OnResolved::Comment);
    let a = alert("FixedByHand");
    d.fire(&a, t(0)).await;
    let id = d.issue_id(&a);
    h.fake.close_as_completed(&id, Utc::now());
    let outcome = d.fire(&a, Utc::now() + ChronoDuration::minutes(5)).await;
    assert!(
        matches!(outcome, IssueOutcome::Reopened { .. }),
        "{outcome:?}"
    );
    assert!(marked(&h, &a)[0].open);
    no_violations(&h);
}

pub async fn resolving_with_comment_leaves_the_issue_open(h: Harness) {
    let mut d = Driver::new(&h, OnResolved::Comment);
    let a = alert("CommentOnResolve");
    d.fire(&a, t(0)).await;
    d.resolve(&a, t(5)).await;
    let issues = marked(&h, &a);
    assert!(issues[0].open);
    assert_eq!(issues[0].comments, 1);
    no_violations(&h);
}

pub async fn resolving_with_none_makes_no_request(h: Harness) {
    let mut d = Driver::new(&h, OnResolved::None);
    let a = alert("NoneOnResolve");
    d.fire(&a, t(0)).await;
    let before = h.fake.requests();
    assert_eq!(d.resolve(&a, t(5)).await, IssueOutcome::Nothing);
    if h.counts_requests {
        assert_eq!(h.fake.requests(), before);
    }
    assert!(marked(&h, &a)[0].open);
}

pub async fn resolving_with_label_labels_and_a_recurrence_takes_it_off(h: Harness) {
    if !h.labels {
        return;
    }
    let mut d = Driver::new(&h, OnResolved::Label);
    let a = alert("LabelOnResolve");
    d.fire(&a, t(0)).await;
    d.resolve(&a, t(5)).await;
    let issue = &marked(&h, &a)[0];
    assert!(
        issue.open && issue.labels.contains(&"resolved".to_string()),
        "{issue:?}"
    );
    d.fire(&a, t(10)).await;
    let issue = &marked(&h, &a)[0];
    assert!(!issue.labels.contains(&"resolved".to_string()), "{issue:?}");
    no_violations(&h);
}

pub async fn a_crash_between_create_and_record_adopts_the_created_issue(h: Harness) {
    let mut d = Driver::new(&h, OnResolved::Close);
    let a = alert("Crash");
    // the tracker created it, the outcome never reached the log
    let first = d.step(&a, IssueAction::Open, t(0), false).await;
    assert!(matches!(first, IssueOutcome::Filed(_)));
    // the redelivered record runs again
    let again = d.fire(&a, t(0)).await;
    assert!(matches!(again, IssueOutcome::Adopted(_)), "{again:?}");
    assert_eq!(marked(&h, &a).len(), 1);
    no_violations(&h);
}

/// 1,000 fingerprints from 4 receivers' worth of concurrent drivers
/// sharing one tracker instance (one budget), while the tracker throttles
/// one request in 250: every fingerprint gets exactly one issue, and the
/// requests are exactly three per fingerprint (label list, search, create)
/// plus one per throttled answer.
pub async fn a_storm_of_a_thousand_fingerprints_files_each_once(h: Harness) {
    const FINGERPRINTS: usize = 1000;
    const DRIVERS: usize = 4;
    h.fake.throttle_every(250);
    let before = h.fake.requests();
    let mut tasks = Vec::new();
    for part in 0..DRIVERS {
        let mut d = Driver::new(&h, OnResolved::Close);
        tasks.push(tokio::spawn(async move {
            let mut filed = 0;
            for n in (part..FINGERPRINTS).step_by(DRIVERS) {
                let a = alert(&format!("Storm{n}"));
                if matches!(d.fire(&a, t(0)).await, IssueOutcome::Filed(_)) {
                    filed += 1;
                }
            }
            filed
        }));
    }
    let mut filed = 0;
    for task in tasks {
        filed += task.await.expect("storm task");
    }
    h.fake.throttle_every(0);
    assert_eq!(filed, FINGERPRINTS, "every fingerprint filed");
    let issues = h.fake.issues();
    let mut bodies: Vec<&str> = issues.iter().map(|i| i.body.as_str()).collect();
    bodies.sort();
    bodies.dedup();
    assert_eq!(issues.len(), FINGERPRINTS, "no duplicate, none lost");
    assert_eq!(bodies.len(), FINGERPRINTS);
    assert!(
        h.fake.throttled() > 0,
        "the tracker throttled some requests"
    );
    let requests = h.fake.requests() - before;
    if let Some(per_fingerprint) = h.requests_per_filing {
        assert_eq!(
            requests,
            FINGERPRINTS * per_fingerprint + h.fake.throttled()
        );
    }
    println!(
        "storm: {FINGERPRINTS} issues, {requests} requests, {} throttled",
        h.fake.throttled()
    );
    no_violations(&h);
}

/// Every test of the suite, as `#[tokio::test]`s calling `$harness(limit)`.
#[macro_export]
macro_rules! issue_policy_suite {
    ($harness:path, without_storm) => {
        macro_rules! suite_test {
            ($name:ident) => {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    issue_suite::$name($harness(issue_suite::unlimited()).await).await;
                }
            };
        }
        suite_test!(a_first_firing_files_one_marked_issue);
        suite_test!(a_recurrence_while_open_comments_with_the_count);
        suite_test!(a_recurrence_inside_the_reopen_window_reopens_the_issue);
        suite_test!(a_recurrence_after_the_reopen_window_files_a_new_issue_linking_the_old);
        suite_test!(an_issue_closed_as_wont_fix_is_only_counted);
        suite_test!(an_issue_a_person_closed_as_completed_is_reopened_inside_the_window);
        suite_test!(resolving_with_comment_leaves_the_issue_open);
        suite_test!(resolving_with_none_makes_no_request);
        suite_test!(resolving_with_label_labels_and_a_recurrence_takes_it_off);
        suite_test!(a_crash_between_create_and_record_adopts_the_created_issue);
    };
    ($harness:path) => {
        issue_policy_suite!($harness, without_storm);

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_storm_of_a_thousand_fingerprints_files_each_once_within_the_budget() {
            // A budget that binds (burst 20) yet keeps the test short.
            let limit = closeloop_actuator::config::RateLimitConfig {
                requests_per_minute: 60_000,
                burst: 20,
            };
            issue_suite::a_storm_of_a_thousand_fingerprints_files_each_once($harness(limit).await)
                .await;
        }
    };
}
