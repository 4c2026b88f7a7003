//! The Alertmanager version-4 webhook body for one flush of an
//! aggregation group, key for key and format for format as Alertmanager
//! 0.25 sends it (checked against captured payloads in
//! `tests/testdata/alertmanager-0.25/`).

use crate::grouping::GroupedAlert;
use chrono::{DateTime, Timelike, Utc};
use closeloop_core::LabelSet;
use serde::Serialize;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Payload<'a> {
    receiver: &'a str,
    status: &'static str,
    alerts: Vec<Alert<'a>>,
    group_labels: &'a LabelSet,
    common_labels: LabelSet,
    common_annotations: LabelSet,
    #[serde(rename = "externalURL")]
    external_url: &'a str,
    version: &'static str,
    group_key: &'a str,
    truncated_alerts: usize,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Alert<'a> {
    status: &'static str,
    labels: &'a LabelSet,
    annotations: &'a LabelSet,
    starts_at: String,
    ends_at: String,
    #[serde(rename = "generatorURL")]
    generator_url: &'a str,
    fingerprint: &'a str,
}

/// Go's zero `time.Time`, which Alertmanager sends as `endsAt` while an
/// alert fires.
pub const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// What one webhook call says about a group.
pub struct GroupMessage<'a> {
    pub receiver: &'a str,
    pub group_key: &'a str,
    pub group_labels: &'a LabelSet,
    /// In Alertmanager's order; resolved ones have `ends_at`.
    pub alerts: &'a [GroupedAlert],
    /// `max_alerts`: 0 sends them all.
    pub max_alerts: usize,
    pub external_url: &'a str,
}

/// The body: the first `max_alerts` alerts, then, over those kept (the
/// webhook notifier truncates before it builds the template data), status
/// `firing` while any fires and the labels and annotations they share.
pub fn webhook_payload(message: &GroupMessage<'_>) -> serde_json::Value {
    let all = message.alerts;
    let kept = if message.max_alerts == 0 {
        all.len()
    } else {
        all.len().min(message.max_alerts)
    };
    let alerts = &all[..kept];
    let any_firing = alerts.iter().any(|a| a.ends_at.is_none());
    let payload = Payload {
        receiver: message.receiver,
        status: if any_firing { "firing" } else { "resolved" },
        alerts: alerts.iter().map(alert).collect(),
        group_labels: message.group_labels,
        common_labels: common(alerts.iter().map(|a| &a.labels)),
        common_annotations: common(alerts.iter().map(|a| &a.annotations)),
        external_url: message.external_url,
        version: "4",
        group_key: message.group_key,
        truncated_alerts: all.len() - kept,
    };
    serde_json::to_value(payload).unwrap_or(serde_json::Value::Null)
}

fn alert(a: &GroupedAlert) -> Alert<'_> {
    Alert {
        status: if a.ends_at.is_some() {
            "resolved"
        } else {
            "firing"
        },
        labels: &a.labels,
        annotations: &a.annotations,
        starts_at: go_time(a.starts_at),
        ends_at: a.ends_at.map_or_else(|| GO_ZERO_TIME.to_string(), go_time),
        generator_url: &a.generator_url,
        fingerprint: &a.fingerprint,
    }
}

/// The pairs every set has with the same value (Alertmanager's
/// `commonLabels`/`commonAnnotations`).
fn common<'a>(mut sets: impl Iterator<Item = &'a LabelSet>) -> LabelSet {
    let Some(first) = sets.next() else {
        return LabelSet::new();
    };
    let mut shared = first.clone();
    for set in sets {
        shared.retain(|k, v| set.get(k) == Some(v));
    }
    shared
}

/// Go's `time.RFC3339Nano` as `encoding/json` writes it: fractional
/// seconds only when non-zero, trailing zeros trimmed.
pub fn go_time(t: DateTime<Utc>) -> String {
    let base = t.format("%Y-%m-%dT%H:%M:%S");
    let nanos = t.nanosecond() % 1_000_000_000;
    if nanos == 0 {
        return format!("{base}Z");
    }
    let digits = format!("{nanos:09}");
    format!("{base}.{}Z", digits.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_time_trims_trailing_zeros_of_the_fraction() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        assert_eq!(go_time(t("2026-11-22T02:36:47Z")), "2026-11-22T02:36:47Z");
        assert_eq!(
            go_time(t("2026-11-22T02:35:47.187Z")),
            "2026-11-22T02:35:47.187Z"
        );
        assert_eq!(
            go_time(t("2026-11-22T02:35:47.180Z")),
            "2026-11-22T02:35:47.18Z"
        );
        assert_eq!(
            go_time(t("2026-11-22T02:35:47.000000001Z")),
            "2026-11-22T02:35:47.000000001Z"
        );
    }
}
