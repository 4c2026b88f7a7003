//! Alertmanager's `inhibit_rules`: while an alert matching a rule's
//! `source_matchers` fires, alerts matching its `target_matchers` that
//! carry the same values of every label in `equal` (a label missing on
//! both counts as equal) are muted. An alert never inhibits itself.
//!
//! Decided at the target event's time over the firing spans of every
//! alert in `closeloop.alerts` (all partitions, kept current like the
//! silences), so a replay mutes the same notifications. Only firing
//! transitions are muted: an issue filed before its cause fired must
//! still close when it recovers, so resolutions go through (Alertmanager
//! would mute them too; closeloop's issues make that the wrong choice).

use crate::matcher::{parse_matchers, MatcherError, Matchers};
use chrono::{DateTime, Utc};
use closeloop_core::topics::Topic;
use closeloop_core::{Event, EventPayload, LabelSet};
use closeloop_log::{EventLog, LogError, Offset};
use serde::Deserialize;
use std::collections::HashMap;

/// One `inhibit_rules` entry as written in closeloop.yml.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InhibitRuleConfig {
    #[serde(default)]
    pub source_matchers: Vec<String>,
    #[serde(default)]
    pub target_matchers: Vec<String>,
    #[serde(default)]
    pub equal: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct InhibitRule {
    source: Matchers,
    target: Matchers,
    equal: Vec<String>,
}

impl InhibitRule {
    pub fn parse(config: &InhibitRuleConfig) -> Result<InhibitRule, MatcherError> {
        let all = |texts: &[String]| -> Result<Matchers, MatcherError> {
            let mut out = Vec::new();
            for text in texts {
                out.extend(parse_matchers(text)?);
            }
            Ok(Matchers::new(out))
        };
        Ok(InhibitRule {
            source: all(&config.source_matchers)?,
            target: all(&config.target_matchers)?,
            equal: config.equal.clone(),
        })
    }

    fn same_equal_labels(&self, a: &LabelSet, b: &LabelSet) -> bool {
        self.equal.iter().all(|name| a.get(name) == b.get(name))
    }
}

/// How many firing spans are kept per fingerprint: enough for a replay
/// of a flapping alert, bounded for one that flaps forever.
const SPANS_KEPT: usize = 16;

#[derive(Debug, Clone)]
struct Span {
    since: DateTime<Utc>,
    until: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
struct Firing {
    labels: LabelSet,
    spans: Vec<Span>,
}

/// When each alert fired and resolved, folded from `closeloop.alerts`.
#[derive(Debug, Default)]
pub struct FiringHistory {
    alerts: HashMap<String, Firing>,
}

impl FiringHistory {
    pub fn apply(&mut self, payload: &EventPayload, occurred_at: DateTime<Utc>) {
        match payload {
            EventPayload::AlertFiring(alert) => {
                let entry = self
                    .alerts
                    .entry(alert.fingerprint.clone())
                    .or_insert_with(|| Firing {
                        labels: alert.labels.clone(),
                        spans: Vec::new(),
                    });
                // A re-sent firing of an open span changes nothing.
                if entry.spans.last().is_some_and(|s| s.until.is_none()) {
                    return;
                }
                entry.spans.push(Span {
                    since: alert.fired_at.unwrap_or(occurred_at),
                    until: None,
                });
                if entry.spans.len() > SPANS_KEPT {
                    entry.spans.remove(0);
                }
            }
            EventPayload::AlertResolved(alert) => {
                if let Some(span) = self
                    .alerts
                    .get_mut(&alert.fingerprint)
                    .and_then(|f| f.spans.last_mut())
                    .filter(|s| s.until.is_none())
                {
                    span.until = Some(alert.resolved_at.unwrap_or(occurred_at));
                }
            }
            _ => {}
        }
    }

    fn firing_at(&self, at: DateTime<Utc>) -> impl Iterator<Item = (&String, &LabelSet)> {
        self.alerts.iter().filter_map(move |(fp, f)| {
            f.spans
                .iter()
                .any(|s| s.since <= at && s.until.is_none_or(|u| at < u))
                .then_some((fp, &f.labels))
        })
    }

    /// The labels of the alert with this fingerprint, if it ever fired.
    pub fn labels(&self, fingerprint: &str) -> Option<&LabelSet> {
        self.alerts.get(fingerprint).map(|f| &f.labels)
    }

    /// Fingerprints of the alerts that inhibit `labels` at `at`, sorted.
    pub fn inhibited_by(
        &self,
        rules: &[InhibitRule],
        fingerprint: &str,
        labels: &LabelSet,
        at: DateTime<Utc>,
    ) -> Vec<String> {
        let firing: Vec<(&str, &LabelSet)> =
            self.firing_at(at).map(|(fp, l)| (fp.as_str(), l)).collect();
        inhibiting(rules, fingerprint, labels, firing.into_iter())
    }
}

/// Fingerprints, sorted, of the `firing` alerts that inhibit the alert
/// (`fingerprint`, `labels`) under `rules`.
pub fn inhibiting<'a>(
    rules: &[InhibitRule],
    fingerprint: &str,
    labels: &LabelSet,
    firing: impl Iterator<Item = (&'a str, &'a LabelSet)> + Clone,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for rule in rules.iter().filter(|r| r.target.matches(labels)) {
        for (fp, source) in firing.clone() {
            if fp != fingerprint
                && rule.source.matches(source)
                && rule.same_equal_labels(source, labels)
                && !out.iter().any(|o| o == fp)
            {
                out.push(fp.to_string());
            }
        }
    }
    out.sort();
    out
}

/// The history kept current from the log before each decision.
#[derive(Debug, Default)]
pub struct InhibitionView {
    history: FiringHistory,
    next: Vec<Offset>,
}

impl InhibitionView {
    pub fn history(&self) -> &FiringHistory {
        &self.history
    }

    pub async fn catch_up(&mut self, log: &dyn EventLog, prefix: &str) -> Result<(), LogError> {
        let topic = Topic::Alerts.name(prefix);
        let history = &mut self.history;
        closeloop_log::follow::read_new(log, &topic, &mut self.next, |record| {
            // Undecodable records are the dispatcher's to report.
            if let Ok(event) = Event::from_json(&record.value) {
                history.apply(&event.payload, event.envelope.occurred_at);
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use closeloop_core::events::AlertEvent;

    fn at(minute: u32) -> DateTime<Utc> {
        format!("2026-12-07T10:{minute:02}:00Z").parse().unwrap()
    }

    fn labels(pairs: &[(&str, &str)]) -> LabelSet {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn alert(fp: &str, l: LabelSet, fired: Option<u32>, resolved: Option<u32>) -> AlertEvent {
        AlertEvent {
            fingerprint: fp.into(),
            rule_group: "g".into(),
            alertname: l.get("alertname").cloned().unwrap_or_default(),
            labels: l,
            annotations: LabelSet::new(),
            value: 1.0,
            active_at: at(0),
            fired_at: fired.map(at),
            resolved_at: resolved.map(at),
            suspect_deploys: Vec::new(),
            generator_url: None,
        }
    }

    fn rule(equal: &[&str]) -> InhibitRule {
        InhibitRule::parse(&InhibitRuleConfig {
            source_matchers: vec!["alertname=ClusterDown".into()],
            target_matchers: vec!["severity=~warning|page".into()],
            equal: equal.iter().map(|s| s.to_string()).collect(),
        })
        .unwrap()
    }

    #[test]
    fn a_firing_source_mutes_targets_with_the_same_equal_labels_while_it_fires() {
        let mut h = FiringHistory::default();
        let down = labels(&[("alertname", "ClusterDown"), ("cluster", "eu")]);
        h.apply(
            &EventPayload::AlertFiring(alert("src", down.clone(), Some(5), None)),
            at(5),
        );
        h.apply(
            &EventPayload::AlertResolved(alert("src", down, Some(5), Some(20))),
            at(20),
        );
        let rules = [rule(&["cluster"])];
        let eu = labels(&[
            ("alertname", "Slow"),
            ("cluster", "eu"),
            ("severity", "page"),
        ]);
        let us = labels(&[
            ("alertname", "Slow"),
            ("cluster", "us"),
            ("severity", "page"),
        ]);
        assert_eq!(h.inhibited_by(&rules, "t", &eu, at(10)), ["src"]);
        assert!(
            h.inhibited_by(&rules, "t", &us, at(10)).is_empty(),
            "other cluster"
        );
        assert!(
            h.inhibited_by(&rules, "t", &eu, at(4)).is_empty(),
            "before it fired"
        );
        assert!(
            h.inhibited_by(&rules, "t", &eu, at(20)).is_empty(),
            "after it resolved"
        );
        let info = labels(&[
            ("alertname", "Slow"),
            ("cluster", "eu"),
            ("severity", "info"),
        ]);
        assert!(
            h.inhibited_by(&rules, "t", &info, at(10)).is_empty(),
            "no target"
        );
    }

    #[test]
    fn a_label_missing_on_both_counts_as_equal_and_an_alert_never_inhibits_itself() {
        let mut h = FiringHistory::default();
        let down = labels(&[("alertname", "ClusterDown"), ("severity", "page")]);
        h.apply(
            &EventPayload::AlertFiring(alert("src", down.clone(), Some(1), None)),
            at(1),
        );
        let rules = [rule(&["cluster"])];
        let target = labels(&[("alertname", "Slow"), ("severity", "warning")]);
        assert_eq!(h.inhibited_by(&rules, "t", &target, at(2)), ["src"]);
        // ClusterDown matches source and target: it does not mute itself.
        assert!(h.inhibited_by(&rules, "src", &down, at(2)).is_empty());
    }
}
