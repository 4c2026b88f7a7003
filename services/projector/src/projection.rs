//! What each event means for the read models, as plain data: a pure
//! function from an event to the row changes it implies. Both stores apply
//! the same changes, so the meaning lives here once.

use crate::dora::DoraChange;
use crate::store::{
    ActionFailureRow, DeliveryKind, DeliveryRow, ScaleRequestRow, ScaleResult, ScaleResultRow,
};
use chrono::{DateTime, Utc};
use closeloop_core::events::{
    AlertEvent, AlertState, DeployRecorded, ScaleLimit, ScaleOutcome, ScaleRequested,
};
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
    /// Upsert the decision columns of a scale action.
    ScaleRequested(ScaleRequestRow),
    /// Upsert the outcome columns of a scale action.
    ScaleResult(ScaleResultRow),
    /// The DORA read model (deploys per version, commits, incidents).
    Dora(DoraChange),
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
    let dora = crate::dora::changes(&event);
    let mut changes = row_changes(event);
    changes.extend(dora.into_iter().map(Change::Dora));
    changes
}

fn row_changes(event: Event) -> Vec<Change> {
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
        EventPayload::ActionFailed(f) => {
            // A scale target's failure names the scaler as receiver and the
            // target kind as integration (receivers' integrations are
            // `webhook_configs[i]`, `redmine_configs[i]`).
            let scale = SCALE_TARGET_KINDS
                .contains(&f.integration.as_str())
                .then(|| {
                    Change::ScaleResult(ScaleResultRow {
                        request_id: f.request_id,
                        scaler: f.receiver.clone(),
                        result: if f.gave_up {
                            ScaleResult::Failed
                        } else {
                            ScaleResult::Retrying
                        },
                        observed_replicas: None,
                        applied_replicas: None,
                        error: Some(f.error.clone()),
                        attempts: Some(f.attempt),
                        at,
                    })
                });
            let failure = Change::ActionFailed(ActionFailureRow {
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
            });
            std::iter::once(failure).chain(scale).collect()
        }
        EventPayload::ScaleRequested(r) => vec![Change::ScaleRequested(scale_request_row(r))],
        EventPayload::ScaleApplied(a) => vec![Change::ScaleResult(ScaleResultRow {
            request_id: a.request_id,
            scaler: a.scaler,
            result: match a.outcome {
                ScaleOutcome::Applied => ScaleResult::Applied,
                ScaleOutcome::Unchanged => ScaleResult::Unchanged,
                ScaleOutcome::Drifted => ScaleResult::Drifted,
            },
            observed_replicas: Some(a.observed_replicas),
            applied_replicas: Some(a.applied_replicas),
            error: None,
            attempts: Some(a.attempts),
            at,
        })],
        // Samples, issue and webhook requests, and alerts received from
        // outside before the evaluator judged them have no read model;
        // a new event type has none until one is written for it.
        _ => Vec::new(),
    }
}

/// The `integration` of an `ActionFailed` from a scale target.
const SCALE_TARGET_KINDS: [&str; 3] = ["kubernetes", "webhook", "none"];

fn snake_name<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn scale_request_row(r: ScaleRequested) -> ScaleRequestRow {
    let reason = scale_reason(&r);
    ScaleRequestRow {
        request_id: r.request_id,
        trigger: snake_name(&r.trigger),
        from_replicas: r.from_replicas,
        to_replicas: r.to_replicas,
        query_value: r.query_value,
        raw_desired: r.raw_desired,
        stabilized: r.stabilized,
        limited_by: r.limited_by.iter().map(snake_name).collect(),
        limiting_policy: r.limiting_policy,
        reason,
        tick_at: r.tick_at,
        scaler: r.scaler,
    }
}

/// `metric: value 612.5, raw desired 13, limited by policy scale_up.policies[1] (Pods 4 per 15s)`.
fn scale_reason(r: &ScaleRequested) -> String {
    let mut parts = Vec::new();
    if let Some(v) = r.query_value {
        parts.push(format!("value {v}"));
    }
    if let Some(d) = r.raw_desired {
        parts.push(format!("raw desired {d}"));
    }
    if let Some(cause) = &r.cause {
        parts.push(format!("alert {}", cause.alertname));
    }
    let limits: Vec<String> = r
        .limited_by
        .iter()
        .map(|l| match (l, &r.limiting_policy) {
            (ScaleLimit::Policy, Some(p)) => format!("policy {p}"),
            _ => snake_name(l),
        })
        .collect();
    if !limits.is_empty() {
        parts.push(format!("limited by {}", limits.join(", ")));
    }
    format!("{}: {}", snake_name(&r.trigger), parts.join(", "))
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

    /// Whether applying this can move the `closeloop_dora_*` gauges.
    pub fn touches_dora(&self) -> bool {
        matches!(self, Change::Dora(_))
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
            [
                Change::AlertTransitioned {
                    state: AlertState::Resolved,
                    ..
                },
                Change::Dora(DoraChange::Restored { .. })
            ]
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
