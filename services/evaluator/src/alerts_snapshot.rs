//! The evaluator's snapshot of what it folds from `closeloop.alerts`, so a
//! restart reads it and the records after it instead of the whole topic.
//!
//! What the fold keeps is small: the state of each alert that is pending
//! or firing (its last decision replaces everything before it, see
//! `alerting::restore`), the external alerts being tracked, and, for the
//! scalers, the firing alerts whose steps may still be queued. So the
//! snapshot holds the external alerts' state as JSON and, verbatim, the
//! last decision record of every alert not resolved since; a restore feeds
//! those records through the same fold as the log's. A decision about an
//! external alert is in both, and folding it twice sets the same fields.
//!
//! Body: the external state on the first line, then one record per line
//! (events are compact JSON: no raw newline inside one).

use bytes::Bytes;
use closeloop_core::EventPayload;
use closeloop_log::snapshot::Schedule;
use std::collections::HashMap;
use std::time::Duration;

/// Whose snapshot this is in `closeloop.snapshots`.
pub const SNAPSHOT_OWNER: &str = "evaluator";
/// A snapshot is saved once this many alert records were read since the
/// last one, or after [`SNAPSHOT_EVERY`] with at least one.
const SNAPSHOT_AFTER_RECORDS: usize = 20_000;
const SNAPSHOT_EVERY: Duration = Duration::from_secs(300);

/// The last decision record of each alert still pending or firing.
#[derive(Debug)]
pub struct AlertsCompaction {
    /// By (rule group, fingerprint): read order and the record's value.
    live: HashMap<(String, String), (u64, Bytes)>,
    sequence: u64,
    pub schedule: Schedule,
}

impl Default for AlertsCompaction {
    fn default() -> Self {
        AlertsCompaction {
            live: HashMap::new(),
            sequence: 0,
            schedule: Schedule::new(SNAPSHOT_AFTER_RECORDS, SNAPSHOT_EVERY),
        }
    }
}

impl AlertsCompaction {
    /// Notes one alerts record (its value and decoded payload).
    pub fn observe(&mut self, value: &Bytes, payload: &EventPayload) {
        self.schedule.folded(1);
        let (alert, resolved) = match payload {
            EventPayload::AlertPending(e) | EventPayload::AlertFiring(e) => (e, false),
            EventPayload::AlertResolved(e) => (e, true),
            _ => return,
        };
        let key = (alert.rule_group.clone(), alert.fingerprint.clone());
        if resolved {
            self.live.remove(&key);
        } else {
            self.sequence += 1;
            self.live.insert(key, (self.sequence, value.clone()));
        }
    }

    /// How many alerts the snapshot would hold records for.
    pub fn live_alerts(&self) -> usize {
        self.live.len()
    }

    /// The snapshot body, with the records in the order they were read.
    pub fn encode(&self, external: &serde_json::Value) -> Vec<u8> {
        let mut records: Vec<&(u64, Bytes)> = self.live.values().collect();
        records.sort_by_key(|(sequence, _)| *sequence);
        let mut body = serde_json::to_vec(external).unwrap_or_default();
        for (_, value) in records {
            body.push(b'\n');
            body.extend_from_slice(value);
        }
        body
    }
}

/// A body [`AlertsCompaction::encode`] wrote: the external state and the
/// records to fold, in order.
pub fn decode(body: &[u8]) -> Result<(serde_json::Value, Vec<Bytes>), String> {
    let mut lines = body.split(|b| *b == b'\n');
    let external = lines.next().ok_or("empty alerts snapshot")?;
    let external = serde_json::from_slice(external).map_err(|e| format!("external alerts: {e}"))?;
    let records = lines.map(Bytes::copy_from_slice).collect();
    Ok((external, records))
}

#[cfg(test)]
mod tests {
    use super::*;
    use closeloop_core::events::AlertEvent;

    fn alert(fingerprint: &str) -> AlertEvent {
        serde_json::from_value(serde_json::json!({
            "rule_group": "g", "alertname": "A", "fingerprint": fingerprint,
            "labels": {"alertname": "A"}, "annotations": {}, "value": 1.0,
            "active_at": "2026-12-07T00:00:00Z"
        }))
        .expect("an alert event")
    }

    #[test]
    fn keeps_the_last_decision_of_each_alert_not_resolved_in_read_order() {
        let mut compaction = AlertsCompaction::default();
        let record = |s: &str| Bytes::copy_from_slice(s.as_bytes());
        let read = [
            ("a pending", EventPayload::AlertPending(alert("a"))),
            ("b pending", EventPayload::AlertPending(alert("b"))),
            ("a firing", EventPayload::AlertFiring(alert("a"))),
            ("c pending", EventPayload::AlertPending(alert("c"))),
            ("b resolved", EventPayload::AlertResolved(alert("b"))),
        ];
        for (value, payload) in &read {
            compaction.observe(&record(value), payload);
        }
        assert_eq!(compaction.live_alerts(), 2);
        let external = serde_json::json!({"x": {"y": 1}});
        let (back, records) = decode(&compaction.encode(&external)).expect("decodes");
        assert_eq!(back, external);
        assert_eq!(records, vec![record("a firing"), record("c pending")]);
        assert!(decode(b"").is_err());
    }
}
