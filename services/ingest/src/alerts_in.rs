//! Alerts from other systems: `POST /api/v2/alerts` (Alertmanager API v2
//! `PostableAlerts`, what Prometheus, vmalert, Loki and Grafana send) and
//! `POST /api/v1/alertmanager` (an Alertmanager webhook v4 notification).
//! Each alert becomes one `ExternalAlertReceived` in `closeloop.alerts`,
//! keyed by its fingerprint; the evaluator decides firing and resolution.

use crate::error::IngestError;
use crate::metrics;
use crate::remote_write::body_rejection;
use crate::IngestState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Datelike, Utc};
use closeloop_core::events::{ExternalAlertReceived, ExternalAlertSource};
use closeloop_core::topics::Topic;
use closeloop_core::{fingerprint, Event, EventPayload, LabelSet};
use closeloop_log::NewRecord;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::time::Instant;

/// One alert of `POST /api/v2/alerts`. Unknown fields are ignored, as
/// Alertmanager's generated server ignores them.
#[derive(Debug, Deserialize)]
pub struct PostableAlert {
    pub labels: LabelSet,
    #[serde(default)]
    pub annotations: LabelSet,
    #[serde(rename = "startsAt", default)]
    pub starts_at: Option<DateTime<Utc>>,
    #[serde(rename = "endsAt", default)]
    pub ends_at: Option<DateTime<Utc>>,
    #[serde(rename = "generatorURL", default)]
    pub generator_url: Option<String>,
}

/// The Alertmanager webhook v4 body; only what closeloop uses.
#[derive(Debug, Deserialize)]
pub struct WebhookMessage {
    pub version: String,
    pub alerts: Vec<WebhookAlert>,
}

#[derive(Debug, Deserialize)]
pub struct WebhookAlert {
    pub status: String,
    pub labels: LabelSet,
    #[serde(default)]
    pub annotations: LabelSet,
    #[serde(rename = "startsAt", default)]
    pub starts_at: Option<DateTime<Utc>>,
    #[serde(rename = "endsAt", default)]
    pub ends_at: Option<DateTime<Utc>>,
    #[serde(rename = "generatorURL", default)]
    pub generator_url: Option<String>,
}

pub async fn post_alerts(
    State(state): State<IngestState>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = async {
        let body = body.map_err(body_rejection)?;
        metrics::RECEIVED_BYTES.inc_by(body.len() as u64);
        let alerts = parse_api_v2(&body)?;
        append(&state, alerts).await
    }
    .await;
    respond("alerts_v2", result)
}

pub async fn post_webhook(
    State(state): State<IngestState>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = async {
        let body = body.map_err(body_rejection)?;
        metrics::RECEIVED_BYTES.inc_by(body.len() as u64);
        let alerts = parse_webhook(&body)?;
        append(&state, alerts).await
    }
    .await;
    respond("alertmanager_webhook", result)
}

fn respond(handler: &str, result: Result<(), IngestError>) -> Response {
    let code = match &result {
        Ok(()) => StatusCode::OK,
        Err(err) => err.status(),
    };
    metrics::count_request(handler, code.as_u16());
    match result {
        // Alertmanager answers an empty 200; senders only look at the code.
        Ok(()) => code.into_response(),
        Err(err) => err.into_response(),
    }
}

/// Decodes JSON, naming the path of the first wrong field.
fn decode<T: DeserializeOwned>(body: &[u8], what: &str) -> Result<T, IngestError> {
    let deserializer = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(deserializer).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if path == "." || path.is_empty() {
            IngestError::BadRequest(format!("invalid {what}: {inner}"))
        } else {
            IngestError::BadRequest(format!("invalid {what} field `{path}`: {inner}"))
        }
    })
}

/// Go's zero `time.Time` (`0001-01-01T00:00:00Z`) means "not set".
fn set(time: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    time.filter(|t| t.year() > 1)
}

/// `POST /api/v2/alerts` body to events, checked as Alertmanager's
/// `Alert.Validate` does: labels present and well named, end not before
/// start.
pub fn parse_api_v2(body: &[u8]) -> Result<Vec<ExternalAlertReceived>, IngestError> {
    let alerts: Vec<PostableAlert> = decode(body, "alerts")?;
    alerts
        .into_iter()
        .enumerate()
        .map(|(index, alert)| {
            build(
                index,
                ExternalAlertSource::AlertmanagerApiV2,
                alert.labels,
                alert.annotations,
                set(alert.starts_at),
                set(alert.ends_at),
                alert.generator_url,
            )
        })
        .collect()
}

/// An Alertmanager webhook v4 notification to events. A firing alert's
/// `endsAt` is ignored: the sending Alertmanager resolves it itself and
/// says so in a later notification.
pub fn parse_webhook(body: &[u8]) -> Result<Vec<ExternalAlertReceived>, IngestError> {
    let message: WebhookMessage = decode(body, "webhook message")?;
    if message.version != "4" {
        return Err(IngestError::BadRequest(format!(
            "invalid webhook message field `version`: {:?} is not the Alertmanager webhook version 4",
            message.version
        )));
    }
    message
        .alerts
        .into_iter()
        .enumerate()
        .map(|(index, alert)| {
            let ends_at = match alert.status.as_str() {
                "firing" => None,
                "resolved" => set(alert.ends_at),
                other => {
                    return Err(IngestError::BadRequest(format!(
                        "invalid webhook message field `alerts[{index}].status`: {other:?} is neither \"firing\" nor \"resolved\""
                    )))
                }
            };
            if alert.status == "resolved" && ends_at.is_none() {
                return Err(IngestError::BadRequest(format!(
                    "invalid webhook message field `alerts[{index}].endsAt`: a resolved alert needs an end time"
                )));
            }
            build(
                index,
                ExternalAlertSource::AlertmanagerWebhook,
                alert.labels,
                alert.annotations,
                set(alert.starts_at),
                ends_at,
                alert.generator_url,
            )
        })
        .collect()
}

fn build(
    index: usize,
    source: ExternalAlertSource,
    labels: LabelSet,
    annotations: LabelSet,
    starts_at: Option<DateTime<Utc>>,
    ends_at: Option<DateTime<Utc>>,
    generator_url: Option<String>,
) -> Result<ExternalAlertReceived, IngestError> {
    let bad = |field: &str, why: String| {
        IngestError::BadRequest(format!("invalid alert field `[{index}].{field}`: {why}"))
    };
    if labels.is_empty() {
        return Err(bad("labels", "at least one label pair required".into()));
    }
    for name in labels.keys().chain(annotations.keys()) {
        if !valid_label_name(name) {
            return Err(bad("labels", format!("invalid label name {name:?}")));
        }
    }
    if !labels.get("alertname").is_some_and(|v| !v.is_empty()) {
        return Err(bad(
            "labels.alertname",
            "missing: closeloop routes and files issues by alertname".into(),
        ));
    }
    if let (Some(start), Some(end)) = (starts_at, ends_at) {
        if end < start {
            return Err(bad(
                "endsAt",
                "end time must not be before start time".into(),
            ));
        }
    }
    Ok(ExternalAlertReceived {
        fingerprint: fingerprint(&labels).to_string(),
        source,
        labels,
        annotations,
        starts_at,
        ends_at,
        generator_url: generator_url.filter(|u| !u.is_empty()),
    })
}

/// Alertmanager 0.25's `model.LabelName.IsValid`: `[a-zA-Z_][a-zA-Z0-9_]*`.
fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

async fn append(
    state: &IngestState,
    alerts: Vec<ExternalAlertReceived>,
) -> Result<(), IngestError> {
    if alerts.is_empty() {
        return Ok(());
    }
    let now = (state.clock)();
    let records: Vec<NewRecord> = alerts
        .into_iter()
        .map(|alert| {
            // Event time is the receipt: the resolve timeout counts from it.
            let event = Event::new(
                EventPayload::ExternalAlertReceived(alert.clone()),
                "ingest",
                alert.fingerprint,
                now,
                now,
            );
            NewRecord {
                key: event.envelope.key.clone().into_bytes().into(),
                value: event.to_json().into(),
                timestamp_ms: now.timestamp_millis(),
            }
        })
        .collect();
    let topic = Topic::Alerts.name(&state.topic_prefix);
    let started = Instant::now();
    state.log.append(&topic, records).await?;
    metrics::APPEND_DURATION
        .with_label_values(&[&topic])
        .observe(started.elapsed().as_secs_f64());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/testdata/alertmanager-0.25")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
    }

    #[test]
    fn a_real_alertmanager_firing_notification_keeps_its_fingerprint_and_has_no_end() {
        let alerts = parse_webhook(&fixture("alertmanager_webhook_from_prometheus.json")).unwrap();
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].fingerprint, "776a2feeb0b80e00");
        assert_eq!(alerts[0].ends_at, None);
        assert!(alerts[0].starts_at.is_some());
        assert_eq!(alerts[0].source, ExternalAlertSource::AlertmanagerWebhook);
    }

    #[test]
    fn a_real_resolved_notification_carries_its_end_time() {
        let alerts = parse_webhook(&fixture("alertmanager_webhook_resolved.json")).unwrap();
        assert_eq!(alerts[0].fingerprint, "d6b8568132f3f58a");
        assert_eq!(
            alerts[0].ends_at.map(|t| t.to_rfc3339()),
            Some("2026-11-22T02:36:55+00:00".into())
        );
    }

    #[test]
    fn postable_alerts_as_prometheus_sends_them_parse() {
        let body = br#"[{"labels":{"alertname":"Up","job":"x"},"annotations":{"summary":"s"},
            "startsAt":"2026-11-22T02:35:47.187Z","endsAt":"2026-11-22T02:39:47.187Z",
            "generatorURL":"http://prom/graph"}]"#;
        let alerts = parse_api_v2(body).unwrap();
        assert_eq!(alerts[0].labels.get("job").map(String::as_str), Some("x"));
        assert!(alerts[0].ends_at.is_some());
        assert_eq!(
            alerts[0].generator_url.as_deref(),
            Some("http://prom/graph")
        );
    }

    #[test]
    fn go_zero_times_mean_not_set() {
        let body = br#"[{"labels":{"alertname":"Up"},"startsAt":"0001-01-01T00:00:00Z","endsAt":"0001-01-01T00:00:00Z"}]"#;
        let alerts = parse_api_v2(body).unwrap();
        assert_eq!((alerts[0].starts_at, alerts[0].ends_at), (None, None));
    }

    #[test]
    fn bad_alerts_are_refused_naming_what_was_wrong() {
        for (body, names) in [
            (&br#"[{"labels":{}}]"#[..], "`[0].labels`"),
            (br#"[{"labels":{"alertname":"A","bad-name":"x"}}]"#, "bad-name"),
            (br#"[{"labels":{"job":"x"}}]"#, "alertname"),
            (br#"[{"labels":{"alertname":"A"},"startsAt":"2026-01-02T00:00:00Z","endsAt":"2026-01-01T00:00:00Z"}]"#, "endsAt"),
            (br#"[{"labels":{"alertname":"A"},"startsAt":"yesterday"}]"#, "startsAt"),
            (br#"{"labels":{}}"#, "invalid alerts"),
        ] {
            let err = parse_api_v2(body).unwrap_err();
            assert_eq!(err.status(), StatusCode::BAD_REQUEST);
            assert!(err.to_string().contains(names), "{err} should name {names}");
        }
        let err = parse_webhook(br#"{"version":"3","alerts":[]}"#).unwrap_err();
        assert!(err.to_string().contains("version"), "{err}");
    }
}
