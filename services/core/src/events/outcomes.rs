//! `closeloop.outcomes`: what happened when the actuator acted. Open
//! issues per fingerprint and delivery history are derived from these.

use super::alerts::SuspectDeploy;
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
    /// The deploy(s) the alert was attributed to when the issue was filed
    /// (service, environment, version, commits): the projector counts an
    /// issue with a suspect as an incident of that deploy (DORA). Empty
    /// when no deploy was suspected, and in records written before it
    /// existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suspect_deploys: Vec<SuspectDeploy>,
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
    /// `recurred`, `resolved`, or `counted`: a recurrence on an issue a
    /// person closed as won't fix, counted here and not written to the
    /// tracker (no note was added).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_issue_filed_written_before_suspect_deploys_existed_still_decodes() {
        let old = r#"{"request_id":"00000000-0000-0000-0000-000000000000",
            "fingerprint":"0123456789abcdef","receiver":"r","integration":"redmine_configs[0]",
            "tracker":"redmine","issue_id":"7","issue_url":"http://x/issues/7","title":"t"}"#;
        let filed: IssueFiled = serde_json::from_str(old).expect("old record decodes");
        assert!(filed.suspect_deploys.is_empty());
        assert!(!filed.adopted);
    }
}
