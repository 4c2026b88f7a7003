//! What the actuator knows, derived only from `closeloop.outcomes`: the
//! issue of each (receiver, integration, fingerprint) and which requests
//! already have a final outcome. Rebuilt by replaying the topic at start;
//! updated by the same `apply` as outcomes are written.

use crate::issues::decide::KnownIssue;
use chrono::{DateTime, Utc};
use closeloop_core::EventPayload;
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct IssueKey {
    pub receiver: String,
    pub integration: String,
    pub fingerprint: String,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct ActuatorState {
    issues: HashMap<IssueKey, KnownIssue>,
    /// Requests that succeeded or were given up: never acted on again.
    finished: HashSet<Uuid>,
}

impl ActuatorState {
    /// The state as a snapshot body: the issues as JSON (its length first,
    /// 4 bytes big-endian), then the finished request ids, 16 bytes each
    /// (a third of their JSON size: they are most of the state).
    pub fn to_snapshot(&self) -> Vec<u8> {
        let mut issues: Vec<(&IssueKey, &KnownIssue)> = self.issues.iter().collect();
        issues.sort_by(|a, b| a.0.cmp(b.0));
        let json = serde_json::to_vec(&issues).unwrap_or_default();
        let mut body = Vec::with_capacity(4 + json.len() + 16 * self.finished.len());
        body.extend_from_slice(&(json.len() as u32).to_be_bytes());
        body.extend_from_slice(&json);
        for id in &self.finished {
            body.extend_from_slice(id.as_bytes());
        }
        body
    }

    /// The state [`ActuatorState::to_snapshot`] wrote.
    pub fn from_snapshot(body: &[u8]) -> Result<ActuatorState, String> {
        let (len, rest) = body
            .split_first_chunk::<4>()
            .ok_or("snapshot shorter than its header")?;
        let len = u32::from_be_bytes(*len) as usize;
        if rest.len() < len || (rest.len() - len) % 16 != 0 {
            return Err(format!(
                "snapshot of {} bytes does not hold {len} bytes of issues and whole ids",
                body.len()
            ));
        }
        let (json, ids) = rest.split_at(len);
        let issues: Vec<(IssueKey, KnownIssue)> =
            serde_json::from_slice(json).map_err(|e| format!("snapshot issues: {e}"))?;
        let finished = ids
            .chunks_exact(16)
            .map(|id| Uuid::from_slice(id).map_err(|e| e.to_string()))
            .collect::<Result<_, _>>()?;
        Ok(ActuatorState {
            issues: issues.into_iter().collect(),
            finished,
        })
    }

    pub fn issue(&self, key: &IssueKey) -> Option<&KnownIssue> {
        self.issues.get(key)
    }

    pub fn is_finished(&self, request_id: Uuid) -> bool {
        self.finished.contains(&request_id)
    }

    pub fn issue_count(&self) -> usize {
        self.issues.len()
    }

    /// Folds one outcome event in, recorded at `at` (the envelope's
    /// `occurred_at`); other events are ignored.
    pub fn apply(&mut self, payload: &EventPayload, at: DateTime<Utc>) {
        let key = |receiver: &str, integration: &str, fingerprint: &str| IssueKey {
            receiver: receiver.to_string(),
            integration: integration.to_string(),
            fingerprint: fingerprint.to_string(),
        };
        match payload {
            EventPayload::IssueFiled(f) => {
                self.issues.insert(
                    key(&f.receiver, &f.integration, &f.fingerprint),
                    KnownIssue {
                        issue_id: f.issue_id.clone(),
                        url: f.issue_url.clone(),
                        closed_by_closeloop: false,
                        closed_at: None,
                        occurrences: 1,
                    },
                );
                self.finished.insert(f.request_id);
            }
            EventPayload::IssueCommented(c) => {
                if let Some(issue) = self.issue_mut(
                    &key(&c.receiver, &c.integration, &c.fingerprint),
                    &c.issue_id,
                ) {
                    issue.occurrences = c.occurrences;
                }
                self.finished.insert(c.request_id);
            }
            EventPayload::IssueClosed(c) => {
                if let Some(issue) = self.issue_mut(
                    &key(&c.receiver, &c.integration, &c.fingerprint),
                    &c.issue_id,
                ) {
                    issue.closed_by_closeloop = true;
                    issue.closed_at = Some(at);
                }
                self.finished.insert(c.request_id);
            }
            EventPayload::IssueReopened(r) => {
                if let Some(issue) = self.issue_mut(
                    &key(&r.receiver, &r.integration, &r.fingerprint),
                    &r.issue_id,
                ) {
                    issue.closed_by_closeloop = false;
                    issue.closed_at = None;
                }
                self.finished.insert(r.request_id);
            }
            EventPayload::WebhookDelivered(d) => {
                self.finished.insert(d.request_id);
            }
            EventPayload::ScaleApplied(a) => {
                self.finished.insert(a.request_id);
            }
            EventPayload::ActionFailed(f) if f.gave_up => {
                self.finished.insert(f.request_id);
            }
            _ => {}
        }
    }

    /// Updates only touch the issue they name: an outcome about an older
    /// issue of the same key (deleted and refiled) must not rewrite the
    /// current one.
    fn issue_mut(&mut self, key: &IssueKey, issue_id: &str) -> Option<&mut KnownIssue> {
        self.issues.get_mut(key).filter(|i| i.issue_id == issue_id)
    }
}

/// The id of the request an alert event causes at one integration: the
/// same every time the alert record is read, so a redelivered record finds
/// its earlier outcome. UUIDv7-shaped, with the alert event's timestamp,
/// so ids stay time-ordered.
pub fn request_id(cause_event_id: Uuid, receiver: &str, integration: &str) -> Uuid {
    let millis = cause_event_id
        .get_timestamp()
        .map(|ts| {
            let (secs, nanos) = ts.to_unix();
            secs.saturating_mul(1000) + u64::from(nanos / 1_000_000)
        })
        .unwrap_or(0);
    derived_uuid(millis, cause_event_id.as_bytes(), receiver, integration)
}

/// The cause id of one flush of an aggregation group (the group key and
/// the flush's event time), from which [`request_id`] derives each
/// webhook's request: a recomputed flush finds the outcome of the first.
pub fn flush_cause_id(group_key: &str, at: DateTime<Utc>) -> Uuid {
    let millis = u64::try_from(at.timestamp_millis()).unwrap_or(0);
    derived_uuid(millis, group_key.as_bytes(), "flush", "")
}

/// A UUIDv7-shaped id at `millis` whose random bits are two rounds of
/// FNV-1a over the parts: the same parts always give the same id.
fn derived_uuid(millis: u64, cause: &[u8], receiver: &str, integration: &str) -> Uuid {
    let first = fnv1a(0xcbf2_9ce4_8422_2325, cause, receiver, integration);
    let second = fnv1a(first, cause, receiver, integration);
    let mut bytes = [0u8; 10];
    bytes[..8].copy_from_slice(&first.to_be_bytes());
    bytes[8..].copy_from_slice(&second.to_be_bytes()[..2]);
    uuid::Builder::from_unix_timestamp_millis(millis, &bytes).into_uuid()
}

/// FNV-1a: stable across Rust versions, unlike `DefaultHasher`.
fn fnv1a(seed: u64, cause: &[u8], receiver: &str, integration: &str) -> u64 {
    let mut hash = seed;
    let parts: [&[u8]; 5] = [
        cause,
        &[0xff],
        receiver.as_bytes(),
        &[0xff],
        integration.as_bytes(),
    ];
    for byte in parts.iter().flat_map(|p| p.iter()) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use closeloop_core::events::{ActionFailed, IssueClosed, IssueCommented, IssueFiled};

    fn filed(request_id: Uuid, issue_id: &str) -> EventPayload {
        EventPayload::IssueFiled(IssueFiled {
            request_id,
            fingerprint: "f".into(),
            receiver: "r".into(),
            integration: "redmine_configs[0]".into(),
            tracker: "redmine".into(),
            issue_id: issue_id.into(),
            issue_url: format!("http://x/issues/{issue_id}"),
            title: "t".into(),
            adopted: false,
            suspect_deploys: Vec::new(),
        })
    }

    fn key() -> IssueKey {
        IssueKey {
            receiver: "r".into(),
            integration: "redmine_configs[0]".into(),
            fingerprint: "f".into(),
        }
    }

    #[test]
    fn replaying_outcomes_rebuilds_the_issue_and_its_count() {
        let mut state = ActuatorState::default();
        let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        state.apply(&filed(a, "7"), chrono::DateTime::UNIX_EPOCH);
        state.apply(
            &EventPayload::IssueCommented(IssueCommented {
                request_id: b,
                fingerprint: "f".into(),
                receiver: "r".into(),
                integration: "redmine_configs[0]".into(),
                tracker: "redmine".into(),
                issue_id: "7".into(),
                reason: "recurred".into(),
                occurrences: 2,
            }),
            chrono::DateTime::UNIX_EPOCH,
        );
        state.apply(
            &EventPayload::IssueClosed(IssueClosed {
                request_id: c,
                fingerprint: "f".into(),
                receiver: "r".into(),
                integration: "redmine_configs[0]".into(),
                tracker: "redmine".into(),
                issue_id: "7".into(),
            }),
            chrono::DateTime::UNIX_EPOCH,
        );
        let issue = state.issue(&key()).unwrap();
        assert_eq!((issue.occurrences, issue.closed_by_closeloop), (2, true));
        assert!(state.is_finished(a) && state.is_finished(b) && state.is_finished(c));
    }

    #[test]
    fn a_snapshot_gives_back_the_same_state() {
        let mut state = ActuatorState::default();
        state.apply(&filed(Uuid::now_v7(), "7"), chrono::DateTime::UNIX_EPOCH);
        state.apply(
            &EventPayload::IssueClosed(IssueClosed {
                request_id: Uuid::now_v7(),
                fingerprint: "f".into(),
                receiver: "r".into(),
                integration: "redmine_configs[0]".into(),
                tracker: "redmine".into(),
                issue_id: "7".into(),
            }),
            chrono::Utc::now(),
        );
        let body = state.to_snapshot();
        assert_eq!(ActuatorState::from_snapshot(&body), Ok(state));
        assert_eq!(
            ActuatorState::from_snapshot(&ActuatorState::default().to_snapshot()),
            Ok(ActuatorState::default())
        );
        assert!(ActuatorState::from_snapshot(&body[..body.len() - 3]).is_err());
        assert!(ActuatorState::from_snapshot(b"").is_err());
    }

    #[test]
    fn only_a_given_up_failure_finishes_a_request() {
        let mut state = ActuatorState::default();
        let id = Uuid::now_v7();
        let failed = |gave_up| {
            EventPayload::ActionFailed(ActionFailed {
                request_id: id,
                receiver: "r".into(),
                integration: "webhook_configs[0]".into(),
                attempt: 1,
                error: "HTTP 503".into(),
                retryable: true,
                gave_up,
                next_attempt_at: None,
            })
        };
        state.apply(&failed(false), chrono::DateTime::UNIX_EPOCH);
        assert!(!state.is_finished(id));
        state.apply(&failed(true), chrono::DateTime::UNIX_EPOCH);
        assert!(state.is_finished(id));
    }

    #[test]
    fn the_request_id_is_the_same_for_the_same_cause_and_integration_only() {
        let cause = Uuid::now_v7();
        let id = request_id(cause, "backlog", "redmine_configs[0]");
        assert_eq!(id, request_id(cause, "backlog", "redmine_configs[0]"));
        assert_ne!(id, request_id(cause, "backlog", "redmine_configs[1]"));
        assert_ne!(
            id,
            request_id(Uuid::now_v7(), "backlog", "redmine_configs[0]")
        );
        assert_eq!(id.get_version_num(), 7);
        assert_eq!(
            id.get_timestamp().map(|t| t.to_unix().0),
            cause.get_timestamp().map(|t| t.to_unix().0)
        );
    }
}
