//! Alerts other systems send (`ExternalAlertReceived`) folded into the
//! same `AlertFiring`/`AlertResolved` events closeloop's own rules
//! produce, with Alertmanager's resolve-timeout semantics: an alert sent
//! without `endsAt` that stops being re-sent resolves `resolve_timeout`
//! after its last receipt, and one whose `endsAt` has passed resolves then.
//! All in event time (receipt times and the watermark), so replaying the
//! log decides the same.
//!
//! The state is a fold of the alerts stream: receipts and this module's own
//! decisions (rule group [`EXTERNAL_GROUP`]), so a restart or a takeover
//! knows what was already fired and resolved and does not repeat it. Only
//! the evaluator owning the shard of [`EXTERNAL_GROUP_KEY`] decides; every
//! evaluator folds.

use closeloop_core::events::{
    AlertEvent, ExternalAlertReceived, ExternalAlertSource, SuspectDeploy,
};
use closeloop_core::time::from_millis;
use closeloop_core::{EventPayload, LabelSet};
use std::collections::BTreeMap;

/// The pseudo rule group external alerts belong to, in their events.
pub const EXTERNAL_GROUP: &str = "external";
/// The shard key of external alerts: one fixed pseudo group, so exactly
/// one evaluator decides for all of them.
pub const EXTERNAL_GROUP_KEY: &str = "external;external";
/// Alertmanager's default `resolve_timeout`.
pub const DEFAULT_RESOLVE_TIMEOUT_MS: i64 = 5 * 60 * 1000;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Tracked {
    labels: LabelSet,
    annotations: LabelSet,
    generator_url: Option<String>,
    source: ExternalAlertSource,
    starts_at_ms: i64,
    /// The `startsAt` of the latest receipt: where a re-activation starts.
    sent_starts_at_ms: i64,
    last_receipt_ms: i64,
    /// The `endsAt` of the latest receipt, if it had one.
    ends_at_ms: Option<i64>,
    /// Set once this alert's `AlertFiring` was decided (or read back).
    fired_at_ms: Option<i64>,
    suspect_deploys: Vec<SuspectDeploy>,
}

impl Tracked {
    /// When the alert resolves unless another receipt comes: its `endsAt`,
    /// else (API v2 only) the resolve timeout after the last receipt. A
    /// webhook's firing alert waits for the sending Alertmanager's word.
    fn end_ms(&self, resolve_timeout_ms: i64) -> Option<i64> {
        match (self.ends_at_ms, self.source) {
            (Some(end), _) => Some(end),
            (None, ExternalAlertSource::AlertmanagerApiV2) => {
                Some(self.last_receipt_ms + resolve_timeout_ms)
            }
            (None, ExternalAlertSource::AlertmanagerWebhook) => None,
        }
    }
}

/// A decision: the event, its event time and its log key.
pub type ExternalDecision = (EventPayload, i64, String);

#[derive(Debug)]
pub struct ExternalAlerts {
    resolve_timeout_ms: i64,
    by_fingerprint: BTreeMap<String, Tracked>,
}

impl Default for ExternalAlerts {
    fn default() -> Self {
        ExternalAlerts::new(DEFAULT_RESOLVE_TIMEOUT_MS)
    }
}

impl ExternalAlerts {
    pub fn new(resolve_timeout_ms: i64) -> Self {
        ExternalAlerts {
            resolve_timeout_ms,
            by_fingerprint: BTreeMap::new(),
        }
    }

    pub fn set_resolve_timeout(&mut self, resolve_timeout_ms: i64) {
        self.resolve_timeout_ms = resolve_timeout_ms;
    }

    /// The tracked alerts, for a snapshot (module `alerts_snapshot`).
    pub fn to_snapshot(&self) -> serde_json::Value {
        serde_json::to_value(&self.by_fingerprint).unwrap_or_default()
    }

    /// Replaces the tracked alerts with a snapshot's.
    pub fn restore_snapshot(&mut self, snapshot: serde_json::Value) -> Result<(), String> {
        self.by_fingerprint = serde_json::from_value(snapshot).map_err(|e| e.to_string())?;
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.by_fingerprint.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_fingerprint.is_empty()
    }

    /// Folds one receipt, received at `received_ms`.
    pub fn receive(&mut self, alert: &ExternalAlertReceived, received_ms: i64) {
        let starts_at_ms = alert
            .starts_at
            .map(|t| t.timestamp_millis())
            .unwrap_or(received_ms);
        let ends_at_ms = alert.ends_at.map(|t| t.timestamp_millis());
        match self.by_fingerprint.get_mut(&alert.fingerprint) {
            Some(tracked) => {
                tracked.annotations = alert.annotations.clone();
                tracked.generator_url = alert.generator_url.clone();
                tracked.last_receipt_ms = tracked.last_receipt_ms.max(received_ms);
                tracked.ends_at_ms = ends_at_ms;
                tracked.source = alert.source;
                // As Alertmanager merges: the earlier start wins.
                tracked.starts_at_ms = tracked.starts_at_ms.min(starts_at_ms);
                tracked.sent_starts_at_ms = starts_at_ms;
            }
            None => {
                self.by_fingerprint.insert(
                    alert.fingerprint.clone(),
                    Tracked {
                        labels: alert.labels.clone(),
                        annotations: alert.annotations.clone(),
                        generator_url: alert.generator_url.clone(),
                        source: alert.source,
                        starts_at_ms,
                        sent_starts_at_ms: starts_at_ms,
                        last_receipt_ms: received_ms,
                        ends_at_ms,
                        fired_at_ms: None,
                        suspect_deploys: Vec::new(),
                    },
                );
            }
        }
    }

    /// Folds this module's own decision read back from the log.
    pub fn fold_decision(&mut self, payload: &EventPayload) {
        match payload {
            EventPayload::AlertFiring(e) if e.rule_group == EXTERNAL_GROUP => {
                if let Some(tracked) = self.by_fingerprint.get_mut(&e.fingerprint) {
                    tracked.fired_at_ms = e.fired_at.map(|t| t.timestamp_millis());
                    tracked.suspect_deploys = e.suspect_deploys.clone();
                }
            }
            EventPayload::AlertResolved(e) if e.rule_group == EXTERNAL_GROUP => {
                let resolved_ms = e.resolved_at.map_or(i64::MIN, |t| t.timestamp_millis());
                let timeout = self.resolve_timeout_ms;
                let Some(tracked) = self.by_fingerprint.get_mut(&e.fingerprint) else {
                    return;
                };
                // A receipt after the resolution (read before it here, after
                // it by the decider) is a new activation, as it was live.
                let reactivated = tracked.last_receipt_ms > resolved_ms
                    && tracked.end_ms(timeout).is_none_or(|end| end > resolved_ms);
                if reactivated {
                    tracked.fired_at_ms = None;
                    tracked.suspect_deploys.clear();
                    tracked.starts_at_ms = tracked.sent_starts_at_ms;
                } else {
                    self.by_fingerprint.remove(&e.fingerprint);
                }
            }
            _ => {}
        }
    }

    /// Fires what is new and resolves what ended by `watermark_ms`, in
    /// fingerprint order. `suspects` names the suspect deploys of an
    /// alert's labels as of its start.
    pub fn decide(
        &mut self,
        watermark_ms: i64,
        suspects: &dyn Fn(&LabelSet, i64) -> Vec<SuspectDeploy>,
    ) -> Vec<ExternalDecision> {
        let mut out = Vec::new();
        let mut ended = Vec::new();
        for (fp, tracked) in &mut self.by_fingerprint {
            let end = tracked.end_ms(self.resolve_timeout_ms);
            if let Some(end) = end.filter(|end| *end <= watermark_ms) {
                if let Some(fired) = tracked.fired_at_ms {
                    let event = alert_event(fp, tracked, fired, Some(end));
                    out.push((
                        EventPayload::AlertResolved(event),
                        end.max(fired),
                        fp.clone(),
                    ));
                }
                // One that ended before it ever fired is dropped unseen.
                ended.push(fp.clone());
                continue;
            }
            if tracked.fired_at_ms.is_none() {
                let fired = tracked.last_receipt_ms;
                tracked.fired_at_ms = Some(fired);
                tracked.suspect_deploys = suspects(&tracked.labels, tracked.starts_at_ms);
                let event = alert_event(fp, tracked, fired, None);
                out.push((EventPayload::AlertFiring(event), fired, fp.clone()));
            }
        }
        for fp in ended {
            self.by_fingerprint.remove(&fp);
        }
        out
    }
}

fn alert_event(fp: &str, tracked: &Tracked, fired_ms: i64, resolved_ms: Option<i64>) -> AlertEvent {
    AlertEvent {
        fingerprint: fp.to_string(),
        rule_group: EXTERNAL_GROUP.to_string(),
        alertname: tracked.labels.get("alertname").cloned().unwrap_or_default(),
        labels: tracked.labels.clone(),
        annotations: tracked.annotations.clone(),
        // An external alert carries no expression value.
        value: f64::NAN,
        active_at: from_millis(tracked.starts_at_ms.min(fired_ms)),
        fired_at: Some(from_millis(fired_ms)),
        resolved_at: resolved_ms.map(from_millis),
        suspect_deploys: tracked.suspect_deploys.clone(),
        generator_url: tracked.generator_url.clone(),
    }
}

#[cfg(test)]
#[path = "external_tests.rs"]
mod tests;
