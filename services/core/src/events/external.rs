//! `ExternalAlertReceived`: an alert another system (Prometheus, vmalert,
//! Loki, Grafana, an Alertmanager's webhook) sent to closeloop. The
//! evaluator folds these into `AlertFiring`/`AlertResolved`.

use crate::labels::LabelSet;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Which endpoint took the alert in; it decides how the alert resolves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExternalAlertSource {
    /// `POST /api/v2/alerts`: the sender re-sends while the alert is
    /// active, so one that stops being re-sent resolves after the resolve
    /// timeout (Alertmanager's semantics).
    AlertmanagerApiV2,
    /// `POST /api/v1/alertmanager`: an Alertmanager webhook notification.
    /// That Alertmanager already applied its resolve timeout and repeats
    /// only every `repeat_interval`, so a firing alert stays firing until
    /// a notification says it resolved.
    AlertmanagerWebhook,
}

/// One alert as received; the fields of Alertmanager's `PostableAlert`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalAlertReceived {
    /// `fingerprint(labels)` in hex; also the log key.
    pub fingerprint: String,
    pub source: ExternalAlertSource,
    pub labels: LabelSet,
    #[serde(default, skip_serializing_if = "LabelSet::is_empty")]
    pub annotations: LabelSet,
    /// As sent; absent means "since it was received".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<DateTime<Utc>>,
    /// As sent; absent means "until it stops being re-sent".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generator_url: Option<String>,
}
