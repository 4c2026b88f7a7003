//! `closeloop.alerts`: transitions of alerts in Prometheus' state machine.

use crate::labels::LabelSet;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    Pending,
    Firing,
    Resolved,
}

/// A deploy that may have caused an alert: the same service/environment,
/// within the attribution window before the alert became active.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuspectDeploy {
    pub deploy_id: Uuid,
    pub service: String,
    pub environment: String,
    pub version: String,
    pub deployed_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// The shas of the deploy's commits, as the pipeline reported them: an
    /// issue names what changed, and DORA's change failure rate is counted
    /// per deploy. Absent in records written before it existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub commits: Vec<String>,
}

/// The payload of `AlertPending`, `AlertFiring` and `AlertResolved`.
///
/// `AlertResolved` with `fired_at: None` means a pending alert went away
/// before it ever fired (Prometheus drops it silently; we record it so the
/// read models can drop it too). Receivers act only on alerts that fired.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertEvent {
    /// `fingerprint(labels)` in hex; also the log key.
    pub fingerprint: String,
    pub rule_group: String,
    pub alertname: String,
    pub labels: LabelSet,
    #[serde(default)]
    pub annotations: LabelSet,
    /// The value of the alert's expression at the last evaluation; NaN is
    /// written as null.
    #[serde(with = "nullable_f64")]
    pub value: f64,
    pub active_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fired_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolved_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub suspect_deploys: Vec<SuspectDeploy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator_url: Option<String>,
}

mod nullable_f64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else {
            // JSON has no NaN/Inf: keep their text like Prometheus' API does.
            s.serialize_str(&v.to_string())
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumOrText {
        Num(f64),
        Text(String),
        Null(()),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(match NumOrText::deserialize(d)? {
            NumOrText::Num(v) => v,
            NumOrText::Text(t) => match t.as_str() {
                "inf" | "+Inf" | "Inf" => f64::INFINITY,
                "-inf" | "-Inf" => f64::NEG_INFINITY,
                _ => f64::NAN,
            },
            NumOrText::Null(()) => f64::NAN,
        })
    }
}
