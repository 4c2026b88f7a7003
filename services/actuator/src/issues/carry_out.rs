//! One attempt at an issue request against a tracker: look the issue up,
//! decide (pure), act; and the outcome events that record what was done.
//! An attempt can be repeated safely: it looks again before acting, and
//! filing searches for the fingerprint marker before it creates.

use super::decide::{decide, IssueDecision, KnownIssue, Observed};
use super::render;
use super::{IssueTracker, IssueUpdate, NewIssue, TrackerIssue, Transition};
use crate::config::OnResolved;
use crate::error::DeliveryError;
use closeloop_core::events::{
    AlertEvent, IssueAction, IssueClosed, IssueCommented, IssueFiled, IssueReopened, SuspectDeploy,
};
use closeloop_core::EventPayload;
use uuid::Uuid;

/// What an attempt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssueOutcome {
    Filed(TrackerIssue),
    /// Found by its marker: created before a crash, never recorded.
    Adopted(TrackerIssue),
    Recurred {
        issue_id: String,
        occurrences: u32,
    },
    Reopened {
        issue_id: String,
        occurrences: u32,
    },
    Resolved {
        issue_id: String,
        closed: bool,
        occurrences: u32,
    },
    /// Closed by someone else; left as it is.
    LeftClosed {
        issue_id: String,
    },
    Nothing,
}

pub struct IssueRequest<'a> {
    pub receiver: &'a str,
    pub alert: &'a AlertEvent,
    pub action: IssueAction,
    pub on_resolved: OnResolved,
    pub subject_labels: &'a [String],
}

pub async fn carry_out(
    tracker: &dyn IssueTracker,
    known: Option<&KnownIssue>,
    request: &IssueRequest<'_>,
) -> Result<IssueOutcome, DeliveryError> {
    let observed = match known {
        None => Observed::NotFiled,
        Some(k) => match tracker.get(&k.issue_id).await? {
            None => Observed::Missing,
            Some(issue) if issue.open => Observed::Open,
            Some(issue) => Observed::Closed {
                status: issue.status,
            },
        },
    };
    let closed_status = tracker.closed_status();
    let decision = decide(
        known,
        &observed,
        request.action,
        request.on_resolved,
        &closed_status,
    );
    let alert = request.alert;
    // `known` is Some for every decision but File and Nothing.
    let issue_id = known.map(|k| k.issue_id.clone()).unwrap_or_default();
    let occurrences = known.map_or(0, |k| k.occurrences);
    match decision {
        IssueDecision::File => file(tracker, request).await,
        IssueDecision::Recur { occurrences } => {
            let update = IssueUpdate {
                note: render::recurrence_note(alert, occurrences),
                transition: None,
            };
            tracker.update(&issue_id, &update).await?;
            Ok(IssueOutcome::Recurred {
                issue_id,
                occurrences,
            })
        }
        IssueDecision::Reopen { occurrences } => {
            let update = IssueUpdate {
                note: render::reopen_note(alert, occurrences),
                transition: Some(Transition::Reopen),
            };
            tracker.update(&issue_id, &update).await?;
            Ok(IssueOutcome::Reopened {
                issue_id,
                occurrences,
            })
        }
        IssueDecision::Resolve { close } => {
            let update = IssueUpdate {
                note: render::resolved_note(alert, close),
                transition: close.then_some(Transition::Close),
            };
            tracker.update(&issue_id, &update).await?;
            Ok(IssueOutcome::Resolved {
                issue_id,
                closed: close,
                occurrences,
            })
        }
        IssueDecision::LeaveClosed => Ok(IssueOutcome::LeftClosed { issue_id }),
        IssueDecision::Nothing => Ok(IssueOutcome::Nothing),
    }
}

async fn file(
    tracker: &dyn IssueTracker,
    request: &IssueRequest<'_>,
) -> Result<IssueOutcome, DeliveryError> {
    let alert = request.alert;
    let marker = render::fingerprint_marker(&alert.fingerprint);
    let mut found: Vec<TrackerIssue> = tracker
        .find_by_marker(&marker)
        .await?
        .into_iter()
        .filter(|i| render::has_markers(&i.description, &alert.fingerprint, request.receiver))
        .collect();
    // An open one first; among equals the newest (highest numeric id).
    found.sort_by_key(|i| (i.open, i.id.parse::<u64>().unwrap_or(0)));
    if let Some(existing) = found.pop() {
        return Ok(IssueOutcome::Adopted(existing));
    }
    let new_issue = NewIssue {
        title: render::title(alert, request.subject_labels),
        description: render::description(alert, request.receiver),
    };
    Ok(IssueOutcome::Filed(tracker.create(&new_issue).await?))
}

/// Identifies the request an outcome belongs to.
pub struct OutcomeContext<'a> {
    pub request_id: Uuid,
    pub fingerprint: &'a str,
    pub receiver: &'a str,
    pub integration: &'a str,
    pub tracker: &'a str,
    /// The alert's suspect deploys, carried into `IssueFiled` so the log
    /// says which deploy each incident is attributed to (DORA).
    pub suspect_deploys: &'a [SuspectDeploy],
}

/// The events that record an outcome. When two are written, the status
/// change comes first: if only it reaches the log, the state is still
/// right about the issue (only the count lags).
pub fn outcome_events(ctx: &OutcomeContext<'_>, outcome: &IssueOutcome) -> Vec<EventPayload> {
    let filed = |issue: &TrackerIssue, adopted| {
        EventPayload::IssueFiled(IssueFiled {
            request_id: ctx.request_id,
            fingerprint: ctx.fingerprint.to_string(),
            receiver: ctx.receiver.to_string(),
            integration: ctx.integration.to_string(),
            tracker: ctx.tracker.to_string(),
            issue_id: issue.id.clone(),
            issue_url: issue.url.clone(),
            title: issue.title.clone(),
            adopted,
            suspect_deploys: ctx.suspect_deploys.to_vec(),
        })
    };
    let commented = |issue_id: &str, reason: &str, occurrences| {
        EventPayload::IssueCommented(IssueCommented {
            request_id: ctx.request_id,
            fingerprint: ctx.fingerprint.to_string(),
            receiver: ctx.receiver.to_string(),
            integration: ctx.integration.to_string(),
            tracker: ctx.tracker.to_string(),
            issue_id: issue_id.to_string(),
            reason: reason.to_string(),
            occurrences,
        })
    };
    match outcome {
        IssueOutcome::Filed(issue) => vec![filed(issue, false)],
        IssueOutcome::Adopted(issue) => vec![filed(issue, true)],
        IssueOutcome::Recurred {
            issue_id,
            occurrences,
        } => vec![commented(issue_id, "recurred", *occurrences)],
        IssueOutcome::Reopened {
            issue_id,
            occurrences,
        } => vec![
            EventPayload::IssueReopened(IssueReopened {
                request_id: ctx.request_id,
                fingerprint: ctx.fingerprint.to_string(),
                receiver: ctx.receiver.to_string(),
                integration: ctx.integration.to_string(),
                tracker: ctx.tracker.to_string(),
                issue_id: issue_id.clone(),
            }),
            commented(issue_id, "recurred", *occurrences),
        ],
        IssueOutcome::Resolved {
            issue_id,
            closed,
            occurrences,
        } => {
            let mut events = Vec::new();
            if *closed {
                events.push(EventPayload::IssueClosed(IssueClosed {
                    request_id: ctx.request_id,
                    fingerprint: ctx.fingerprint.to_string(),
                    receiver: ctx.receiver.to_string(),
                    integration: ctx.integration.to_string(),
                    tracker: ctx.tracker.to_string(),
                    issue_id: issue_id.clone(),
                }));
            }
            events.push(commented(issue_id, "resolved", *occurrences));
            events
        }
        IssueOutcome::LeftClosed { .. } | IssueOutcome::Nothing => Vec::new(),
    }
}

/// The `kind` label of `closeloop_issue_updates_total` for an outcome.
pub fn update_kinds(outcome: &IssueOutcome) -> &'static [&'static str] {
    match outcome {
        IssueOutcome::Filed(_) | IssueOutcome::LeftClosed { .. } | IssueOutcome::Nothing => &[],
        IssueOutcome::Adopted(_) => &["adopted"],
        IssueOutcome::Recurred { .. } => &["recurred"],
        IssueOutcome::Reopened { .. } => &["reopened"],
        IssueOutcome::Resolved { closed: true, .. } => &["resolved", "closed"],
        IssueOutcome::Resolved { closed: false, .. } => &["resolved"],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use std::sync::Mutex;

    /// An in-memory tracker: just enough to test filing and adoption.
    #[derive(Default)]
    struct FakeTracker {
        issues: Mutex<Vec<TrackerIssue>>,
    }

    #[async_trait]
    impl IssueTracker for FakeTracker {
        fn kind(&self) -> &'static str {
            "fake"
        }
        fn closed_status(&self) -> String {
            "closed".into()
        }
        async fn find_by_marker(&self, marker: &str) -> Result<Vec<TrackerIssue>, DeliveryError> {
            let issues = self.issues.lock().expect("lock");
            Ok(issues
                .iter()
                .filter(|i| i.description.contains(marker))
                .cloned()
                .collect())
        }
        async fn create(&self, issue: &NewIssue) -> Result<TrackerIssue, DeliveryError> {
            let mut issues = self.issues.lock().expect("lock");
            let created = TrackerIssue {
                id: (issues.len() + 1).to_string(),
                url: String::new(),
                title: issue.title.clone(),
                open: true,
                status: "open".into(),
                description: issue.description.clone(),
            };
            issues.push(created.clone());
            Ok(created)
        }
        async fn get(&self, id: &str) -> Result<Option<TrackerIssue>, DeliveryError> {
            let issues = self.issues.lock().expect("lock");
            Ok(issues.iter().find(|i| i.id == id).cloned())
        }
        async fn update(&self, _id: &str, _update: &IssueUpdate) -> Result<(), DeliveryError> {
            Ok(())
        }
    }

    fn alert() -> AlertEvent {
        let labels: closeloop_core::LabelSet = [("alertname".to_string(), "X".to_string())].into();
        AlertEvent {
            fingerprint: closeloop_core::fingerprint(&labels).to_string(),
            rule_group: "g".into(),
            alertname: "X".into(),
            labels,
            annotations: Default::default(),
            value: 1.0,
            active_at: chrono::DateTime::UNIX_EPOCH,
            fired_at: Some(chrono::DateTime::UNIX_EPOCH),
            resolved_at: None,
            suspect_deploys: Vec::new(),
            generator_url: None,
        }
    }

    fn existing(id: &str, open: bool, receiver: &str, alert: &AlertEvent) -> TrackerIssue {
        TrackerIssue {
            id: id.into(),
            url: String::new(),
            title: "t".into(),
            open,
            status: if open { "open" } else { "rejected" }.into(),
            description: render::description(alert, receiver),
        }
    }

    fn request(alert: &AlertEvent) -> IssueRequest<'_> {
        IssueRequest {
            receiver: "backlog",
            alert,
            action: IssueAction::Open,
            on_resolved: OnResolved::Close,
            subject_labels: &[],
        }
    }

    #[tokio::test]
    async fn filing_adopts_this_receivers_open_issue_over_a_closed_one() {
        let alert = alert();
        let tracker = FakeTracker::default();
        *tracker.issues.lock().expect("lock") = vec![
            existing("1", false, "backlog", &alert),
            existing("2", true, "backlog", &alert),
            existing("3", true, "other-receiver", &alert),
        ];
        let outcome = carry_out(&tracker, None, &request(&alert)).await;
        assert!(
            matches!(outcome, Ok(IssueOutcome::Adopted(ref i)) if i.id == "2"),
            "{outcome:?}"
        );
    }

    #[tokio::test]
    async fn filing_creates_when_only_other_receivers_have_an_issue() {
        let alert = alert();
        let tracker = FakeTracker::default();
        *tracker.issues.lock().expect("lock") = vec![existing("1", true, "other-receiver", &alert)];
        let outcome = carry_out(&tracker, None, &request(&alert)).await;
        assert!(
            matches!(outcome, Ok(IssueOutcome::Filed(ref i)) if i.id == "2"),
            "{outcome:?}"
        );
    }

    #[test]
    fn closing_is_recorded_before_the_resolution_note() {
        let ctx = OutcomeContext {
            request_id: Uuid::nil(),
            fingerprint: "f",
            receiver: "r",
            integration: "redmine_configs[0]",
            tracker: "redmine",
            suspect_deploys: &[],
        };
        let outcome = IssueOutcome::Resolved {
            issue_id: "7".into(),
            closed: true,
            occurrences: 2,
        };
        let types: Vec<&str> = outcome_events(&ctx, &outcome)
            .iter()
            .map(|e| e.type_name())
            .collect();
        assert_eq!(types, ["IssueClosed", "IssueCommented"]);
    }

    #[test]
    fn a_filed_issue_records_the_alerts_suspect_deploy() {
        let suspect = SuspectDeploy {
            deploy_id: Uuid::nil(),
            service: "checkout".into(),
            environment: "prod".into(),
            version: "1.4.2".into(),
            deployed_at: chrono::DateTime::UNIX_EPOCH,
            url: None,
            actor: None,
            commits: vec!["9fceb02d".into()],
        };
        let suspects = [suspect.clone()];
        let ctx = OutcomeContext {
            request_id: Uuid::nil(),
            fingerprint: "f",
            receiver: "r",
            integration: "redmine_configs[0]",
            tracker: "redmine",
            suspect_deploys: &suspects,
        };
        let issue = existing("7", true, "r", &alert());
        for outcome in [
            IssueOutcome::Filed(issue.clone()),
            IssueOutcome::Adopted(issue),
        ] {
            let events = outcome_events(&ctx, &outcome);
            let [EventPayload::IssueFiled(filed)] = events.as_slice() else {
                panic!("one IssueFiled expected: {events:?}");
            };
            assert_eq!(filed.suspect_deploys, [suspect.clone()]);
        }
    }
}
