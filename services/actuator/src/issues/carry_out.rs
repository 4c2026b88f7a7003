//! One attempt at an issue request against a tracker: look the issue up,
//! decide (pure, [`super::decide`]), act; and the outcome events that
//! record what was done. An attempt can be repeated safely: it looks again
//! before acting, and filing searches for the fingerprint marker before it
//! creates.

use super::decide::{decide, IssueDecision, KnownIssue, Observed, Policy, Previous, Resolution};
use super::render;
use super::{IssueTracker, Marker, NewIssue, TrackerIssue};
use crate::config::IssuePolicy;
use crate::error::DeliveryError;
use chrono::{DateTime, Utc};
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
    /// Closed as won't fix: the recurrence is only counted.
    Counted {
        issue_id: String,
        occurrences: u32,
    },
    Resolved {
        issue_id: String,
        how: Resolution,
        occurrences: u32,
    },
    Nothing,
}

pub struct IssueRequest<'a> {
    pub receiver: &'a str,
    pub alert: &'a AlertEvent,
    pub action: IssueAction,
    pub policy: &'a IssuePolicy,
    /// Decisions are made at this time (the reopen window).
    pub now: DateTime<Utc>,
}

/// The tracker's issue seen through the policy's eyes.
pub fn observe(issue: Option<&TrackerIssue>, resolved_label: &str) -> Observed {
    match issue {
        None => Observed::Missing,
        Some(issue) => match issue.closed_as {
            None => Observed::Open {
                has_resolved_label: issue.labels.iter().any(|l| l == resolved_label),
            },
            Some(closed_as) => Observed::Closed {
                closed_as,
                closed_at: issue.closed_at,
            },
        },
    }
}

pub async fn carry_out(
    tracker: &dyn IssueTracker,
    known: Option<&KnownIssue>,
    request: &IssueRequest<'_>,
) -> Result<IssueOutcome, DeliveryError> {
    let config = request.policy;
    let observed = match known {
        None => Observed::NotFiled,
        Some(k) => observe(
            tracker.get(&k.issue_id).await?.as_ref(),
            &config.resolved_label,
        ),
    };
    let policy = Policy {
        on_resolved: config.on_resolved,
        resolved_label: config.resolved_label.clone(),
        reopen_window: config.reopen_window,
    };
    let decision = decide(known, &observed, request.action, &policy, request.now);
    let alert = request.alert;
    // `known` is Some for every decision but File and Nothing.
    let issue_id = known.map(|k| k.issue_id.clone()).unwrap_or_default();
    let occurrences = known.map_or(0, |k| k.occurrences);
    match decision {
        IssueDecision::File { previous } => file(tracker, request, previous.as_ref()).await,
        IssueDecision::Recur {
            occurrences,
            unlabel,
        } => {
            if let Some(label) = unlabel {
                tracker.remove_label(&issue_id, &label).await?;
            }
            tracker
                .comment(&issue_id, &render::recurrence_note(alert, occurrences))
                .await?;
            Ok(IssueOutcome::Recurred {
                issue_id,
                occurrences,
            })
        }
        IssueDecision::Reopen { occurrences } => {
            tracker
                .reopen(&issue_id, &render::reopen_note(alert, occurrences))
                .await?;
            Ok(IssueOutcome::Reopened {
                issue_id,
                occurrences,
            })
        }
        IssueDecision::CountSilently { occurrences } => Ok(IssueOutcome::Counted {
            issue_id,
            occurrences,
        }),
        IssueDecision::Resolve { how } => {
            let closing = how == Resolution::Close;
            let note = render::resolved_note(alert, closing);
            match &how {
                Resolution::Close => tracker.close(&issue_id, &note).await?,
                Resolution::Comment => tracker.comment(&issue_id, &note).await?,
                Resolution::Label(label) => tracker.add_label(&issue_id, label, &note).await?,
            }
            Ok(IssueOutcome::Resolved {
                issue_id,
                how,
                occurrences,
            })
        }
        IssueDecision::Nothing => Ok(IssueOutcome::Nothing),
    }
}

/// The issue as closeloop would create it, marker and labels included.
pub fn new_issue(
    tracker: &dyn IssueTracker,
    request: &IssueRequest<'_>,
    previous: Option<&Previous>,
) -> NewIssue {
    let alert = request.alert;
    let marker = Marker {
        fingerprint: alert.fingerprint.clone(),
        receiver: request.receiver.to_string(),
    };
    let policy = request.policy;
    let description = format!(
        "{}\n{}\n",
        render::body_for(alert, policy.body.as_deref(), previous),
        tracker.hide_marker(&render::marker_lines(&alert.fingerprint, request.receiver))
    );
    let mut labels = render::labels(&request.policy.labels, alert);
    for extra in ["closeloop".to_string(), marker.label()] {
        if !labels.contains(&extra) {
            labels.push(extra);
        }
    }
    NewIssue {
        title: render::title_for(alert, policy.title.as_deref(), &policy.subject_labels),
        description,
        labels,
        assignees: request.policy.assignees.clone(),
    }
}

/// Adopts an open issue of this (receiver, fingerprint) other than the
/// one being replaced — created just before a crash and never recorded —
/// or creates one.
async fn file(
    tracker: &dyn IssueTracker,
    request: &IssueRequest<'_>,
    previous: Option<&Previous>,
) -> Result<IssueOutcome, DeliveryError> {
    let alert = request.alert;
    let marker = Marker {
        fingerprint: alert.fingerprint.clone(),
        receiver: request.receiver.to_string(),
    };
    let mut found: Vec<TrackerIssue> = tracker
        .find_by_marker(&marker)
        .await?
        .into_iter()
        .filter(|i| i.open() && marker.found_in(&i.description))
        .filter(|i| previous.is_none_or(|p| p.issue_id != i.id))
        .collect();
    // The newest (highest numeric id; Jira keys sort by their number).
    found.sort_by_key(|i| issue_number(&i.id));
    if let Some(existing) = found.pop() {
        return Ok(IssueOutcome::Adopted(existing));
    }
    let new_issue = new_issue(tracker, request, previous);
    Ok(IssueOutcome::Filed(tracker.create(&new_issue).await?))
}

/// `42` of `42`, `#42` or `OPS-42`.
fn issue_number(id: &str) -> u64 {
    let digits: String = id
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    digits.parse().unwrap_or(0)
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
        IssueOutcome::Counted {
            issue_id,
            occurrences,
        } => vec![commented(issue_id, "counted", *occurrences)],
        IssueOutcome::Resolved {
            issue_id,
            how,
            occurrences,
        } => {
            let mut events = Vec::new();
            if *how == Resolution::Close {
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
        IssueOutcome::Nothing => Vec::new(),
    }
}

/// The `kind` label of `closeloop_issue_updates_total` for an outcome.
pub fn update_kinds(outcome: &IssueOutcome) -> &'static [&'static str] {
    match outcome {
        IssueOutcome::Filed(_) | IssueOutcome::Nothing => &[],
        IssueOutcome::Adopted(_) => &["adopted"],
        IssueOutcome::Recurred { .. } => &["recurred"],
        IssueOutcome::Reopened { .. } => &["reopened"],
        IssueOutcome::Counted { .. } => &["counted"],
        IssueOutcome::Resolved {
            how: Resolution::Close,
            ..
        } => &["resolved", "closed"],
        IssueOutcome::Resolved {
            how: Resolution::Label(_),
            ..
        } => &["resolved", "labelled"],
        IssueOutcome::Resolved { .. } => &["resolved"],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            how: Resolution::Close,
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
        let issue = TrackerIssue {
            id: "7".into(),
            url: String::new(),
            title: "t".into(),
            closed_as: None,
            closed_at: None,
            status: "open".into(),
            description: String::new(),
            labels: Vec::new(),
        };
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
