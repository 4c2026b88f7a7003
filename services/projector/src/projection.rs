//! What each event means for the read models, as plain data: a pure
//! function from an event to the row changes it implies. Both stores apply
//! the same changes, so the meaning lives here once.

use crate::store::{ActionFailureRow, DeliveryKind, DeliveryRow};
use chrono::{DateTime, Utc};
use closeloop_core::events::{AlertEvent, AlertState, DeployRecorded};
use closeloop_core::{Event, EventPayload};
use uuid::Uuid;

/// One change to the read models. Every change is idempotent: applying it
/// twice in a row leaves the same rows as applying it once.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// Insert a deploy row keyed by its event id.
    DeployRecorded {
        event_id: Uuid,
        occurred_at: DateTime<Utc>,
        deploy: DeployRecorded,
    },
    /// Replace the current state of the alert with this fingerprint.
    AlertTransitioned {
        event_id: Uuid,
        occurred_at: DateTime<Utc>,
        state: AlertState,
        alert: AlertEvent,
    },
    /// A pending alert went away without firing: forget it.
    AlertCleared {
        fingerprint: String,
    },
    Issue(IssueChange),
    Delivered(DeliveryRow),
    ActionFailed(ActionFailureRow),
}

/// Identity of one issue row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueKey {
    pub receiver: String,
    pub integration: String,
    pub fingerprint: String,
    pub issue_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueChange {
    pub key: IssueKey,
    pub tracker: String,
    pub at: DateTime<Utc>,
    pub kind: IssueChangeKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssueChangeKind {
    Filed {
        url: String,
        title: String,
        adopted: bool,
    },
    /// Occurrences is the absolute count the actuator reported, so a
    /// repeated comment event does not count twice.
    Commented {
        occurrences: u32,
    },
    Closed,
    Reopened,
}

/// The changes an event implies; none for events the read models do not
/// hold (samples, action requests).
pub fn changes(event: Event) -> Vec<Change> {
    let event_id = event.envelope.id;
    let at = event.envelope.occurred_at;
    match event.payload {
        EventPayload::DeployRecorded(deploy) => vec![Change::DeployRecorded {
            event_id,
            occurred_at: at,
            deploy,
        }],
        EventPayload::AlertPending(alert) => {
            vec![transition(event_id, at, AlertState::Pending, alert)]
        }
        EventPayload::AlertFiring(alert) => {
            vec![transition(event_id, at, AlertState::Firing, alert)]
        }
        EventPayload::AlertResolved(alert) if alert.fired_at.is_none() => {
            vec![Change::AlertCleared {
                fingerprint: alert.fingerprint,
            }]
        }
        EventPayload::AlertResolved(alert) => {
            vec![transition(event_id, at, AlertState::Resolved, alert)]
        }
        EventPayload::IssueFiled(f) => issue_outcome(
            event_id,
            at,
            IssueOutcome {
                request_id: f.request_id,
                key: key(f.receiver, f.integration, f.fingerprint, f.issue_id),
                tracker: f.tracker,
            },
            IssueChangeKind::Filed {
                url: f.issue_url,
                title: f.title,
                adopted: f.adopted,
            },
            DeliveryKind::IssueFiled,
        ),
        EventPayload::IssueCommented(c) => issue_outcome(
            event_id,
            at,
            IssueOutcome {
                request_id: c.request_id,
                key: key(c.receiver, c.integration, c.fingerprint, c.issue_id),
                tracker: c.tracker,
            },
            IssueChangeKind::Commented {
                occurrences: c.occurrences,
            },
            DeliveryKind::IssueCommented,
        ),
        EventPayload::IssueClosed(c) => issue_outcome(
            event_id,
            at,
            IssueOutcome {
                request_id: c.request_id,
                key: key(c.receiver, c.integration, c.fingerprint, c.issue_id),
                tracker: c.tracker,
            },
            IssueChangeKind::Closed,
            DeliveryKind::IssueClosed,
        ),
        EventPayload::IssueReopened(r) => issue_outcome(
            event_id,
            at,
            IssueOutcome {
                request_id: r.request_id,
                key: key(r.receiver, r.integration, r.fingerprint, r.issue_id),
                tracker: r.tracker,
            },
            IssueChangeKind::Reopened,
            DeliveryKind::IssueReopened,
        ),
        EventPayload::WebhookDelivered(w) => vec![Change::Delivered(DeliveryRow {
            event_id,
            request_id: w.request_id,
            receiver: w.receiver,
            integration: w.integration,
            kind: DeliveryKind::Webhook,
            fingerprint: None,
            target: w.url,
            http_status: Some(w.status),
            attempts: Some(w.attempts),
            occurred_at: at,
        })],
        EventPayload::ActionFailed(f) => vec![Change::ActionFailed(ActionFailureRow {
            event_id,
            request_id: f.request_id,
            receiver: f.receiver,
            integration: f.integration,
            attempt: f.attempt,
            error: f.error,
            retryable: f.retryable,
            gave_up: f.gave_up,
            next_attempt_at: f.next_attempt_at,
            occurred_at: at,
        })],
        EventPayload::SamplesReceived(_)
        | EventPayload::SamplesRecorded(_)
        | EventPayload::IssueRequested(_)
        | EventPayload::WebhookRequested(_) => Vec::new(),
        // No scale-actions read model yet (issue 5 integration).
        EventPayload::ScaleRequested(_) | EventPayload::ScaleApplied(_) => Vec::new(),
    }
}

impl Change {
    /// Whether applying this changes the alerts table (and so the
    /// `closeloop_alerts` gauge).
    pub fn touches_alerts(&self) -> bool {
        matches!(
            self,
            Change::AlertTransitioned { .. } | Change::AlertCleared { .. }
        )
    }

    pub fn touches_issues(&self) -> bool {
        matches!(self, Change::Issue(_))
    }
}

fn transition(event_id: Uuid, at: DateTime<Utc>, state: AlertState, alert: AlertEvent) -> Change {
    Change::AlertTransitioned {
        event_id,
        occurred_at: at,
        state,
        alert,
    }
}

fn key(receiver: String, integration: String, fingerprint: String, issue_id: String) -> IssueKey {
    IssueKey {
        receiver,
        integration,
        fingerprint,
        issue_id,
    }
}

struct IssueOutcome {
    request_id: Uuid,
    key: IssueKey,
    tracker: String,
}

/// A tracker effect changes the issue's row and adds to delivery history.
fn issue_outcome(
    event_id: Uuid,
    at: DateTime<Utc>,
    outcome: IssueOutcome,
    kind: IssueChangeKind,
    delivery: DeliveryKind,
) -> Vec<Change> {
    let history = DeliveryRow {
        event_id,
        request_id: outcome.request_id,
        receiver: outcome.key.receiver.clone(),
        integration: outcome.key.integration.clone(),
        kind: delivery,
        fingerprint: Some(outcome.key.fingerprint.clone()),
        target: outcome.key.issue_id.clone(),
        http_status: None,
        attempts: None,
        occurred_at: at,
    };
    vec![
        Change::Issue(IssueChange {
            key: outcome.key,
            tracker: outcome.tracker,
            at,
            kind,
        }),
        Change::Delivered(history),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use closeloop_core::events::{IssueAction, IssueRequested};
    use closeloop_core::LabelSet;

    fn alert(fired: bool) -> AlertEvent {
        let at = DateTime::<Utc>::UNIX_EPOCH;
        AlertEvent {
            fingerprint: "00000000000000aa".into(),
            rule_group: "g".into(),
            alertname: "A".into(),
            labels: LabelSet::new(),
            annotations: LabelSet::new(),
            value: 1.0,
            active_at: at,
            fired_at: fired.then_some(at),
            resolved_at: Some(at),
            suspect_deploys: Vec::new(),
            generator_url: None,
        }
    }

    fn event(payload: EventPayload) -> Event {
        let at = DateTime::<Utc>::UNIX_EPOCH;
        Event::new(payload, "test", "k".into(), at, at)
    }

    #[test]
    fn a_resolved_alert_that_never_fired_clears_its_row() {
        let changes = changes(event(EventPayload::AlertResolved(alert(false))));
        assert_eq!(
            changes,
            [Change::AlertCleared {
                fingerprint: "00000000000000aa".into()
            }]
        );
    }

    #[test]
    fn a_resolved_alert_that_fired_keeps_its_row_as_resolved() {
        let changes = changes(event(EventPayload::AlertResolved(alert(true))));
        assert!(matches!(
            changes.as_slice(),
            [Change::AlertTransitioned {
                state: AlertState::Resolved,
                ..
            }]
        ));
    }

    #[test]
    fn action_requests_have_no_read_model() {
        let request = IssueRequested {
            receiver: "r".into(),
            integration: "i".into(),
            action: IssueAction::Open,
            cause_event_id: Uuid::now_v7(),
            alert: alert(true),
        };
        assert!(changes(event(EventPayload::IssueRequested(request))).is_empty());
    }
}
