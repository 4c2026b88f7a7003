//! The Alertmanager version-4 webhook body, key for key and format for
//! format as Alertmanager 0.25 sends it (checked against captured payloads
//! in `tests/testdata/alertmanager-0.25/`).
//!
//! closeloop does not batch yet: each alert state change is one
//! notification holding that one alert (no `group_wait`/`group_interval`).

use crate::routing::Route;
use chrono::{DateTime, Timelike, Utc};
use closeloop_core::events::AlertEvent;
use closeloop_core::LabelSet;
use serde::Serialize;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Payload<'a> {
    receiver: &'a str,
    status: &'static str,
    alerts: Vec<Alert<'a>>,
    group_labels: LabelSet,
    common_labels: &'a LabelSet,
    common_annotations: &'a LabelSet,
    #[serde(rename = "externalURL")]
    external_url: &'a str,
    version: &'static str,
    group_key: String,
    truncated_alerts: u32,
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

/// The body for one alert that fired (`resolved == false`) or resolved.
pub fn webhook_payload(
    receiver: &str,
    route: &Route,
    alert: &AlertEvent,
    resolved: bool,
    external_url: &str,
) -> serde_json::Value {
    let status = if resolved { "resolved" } else { "firing" };
    // Prometheus sends the time the alert started firing as startsAt.
    let starts_at = alert.fired_at.unwrap_or(alert.active_at);
    let ends_at = match (resolved, alert.resolved_at) {
        (true, Some(at)) => go_time(at),
        _ => GO_ZERO_TIME.to_string(),
    };
    let payload = Payload {
        receiver,
        status,
        alerts: vec![Alert {
            status,
            labels: &alert.labels,
            annotations: &alert.annotations,
            starts_at: go_time(starts_at),
            ends_at,
            generator_url: alert.generator_url.as_deref().unwrap_or(""),
            fingerprint: &alert.fingerprint,
        }],
        group_labels: route.group_labels(&alert.labels),
        // With one alert per notification, what all alerts share is all of it.
        common_labels: &alert.labels,
        common_annotations: &alert.annotations,
        external_url,
        version: "4",
        group_key: route.group_key(&alert.labels),
        truncated_alerts: 0,
    };
    serde_json::to_value(payload).unwrap_or(serde_json::Value::Null)
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
