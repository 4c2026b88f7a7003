//! `closeloop.outcomes`: what happened when the actuator acted. Open
//! issues per fingerprint and delivery history are derived from these.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A new issue was created in a tracker for an alert fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueFiled {
    pub request_id: Uuid,
    pub fingerprint: String,
    pub receiver: String,
    pub integration: String,
    pub tracker: String,
    pub issue_id: String,
    pub issue_url: String,
    pub title: String,
    /// True when the issue already existed in the tracker (found by its
    /// fingerprint marker after a crash) rather than created now.
    #[serde(default)]
    pub adopted: bool,
}

/// A note was added to an alert's issue (recurrence or resolution).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueCommented {
    pub request_id: Uuid,
    pub fingerprint: String,
    pub receiver: String,
    pub integration: String,
    pub tracker: String,
    pub issue_id: String,
    /// `recurred` or `resolved`.
    pub reason: String,
    /// How many times the alert has fired while this issue existed.
    pub occurrences: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueClosed {
    pub request_id: Uuid,
    pub fingerprint: String,
    pub receiver: String,
    pub integration: String,
    pub tracker: String,
    pub issue_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueReopened {
    pub request_id: Uuid,
    pub fingerprint: String,
    pub receiver: String,
    pub integration: String,
    pub tracker: String,
    pub issue_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookDelivered {
    pub request_id: Uuid,
    pub receiver: String,
    pub integration: String,
    pub url: String,
    pub status: u16,
    pub attempts: u32,
}

/// One failed attempt at an action. `gave_up` says whether another attempt
/// follows (at `next_attempt_at`) or the action is abandoned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionFailed {
    pub request_id: Uuid,
    pub receiver: String,
    pub integration: String,
    pub attempt: u32,
    pub error: String,
    pub retryable: bool,
    pub gave_up: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime<Utc>>,
}
