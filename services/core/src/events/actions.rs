//! `closeloop.actions`: what the actuator decided to do, written before it
//! does it. The request event's id is the idempotency key of its effect.

use super::alerts::AlertEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssueAction {
    /// The alert fired: file an issue, or comment on the open one.
    Open,
    /// The alert resolved: apply the receiver's resolve policy.
    Resolve,
}

/// Ask a tracker integration to file/update the issue of one alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IssueRequested {
    pub receiver: String,
    /// Which tracker integration of the receiver, e.g. `redmine_configs[0]`.
    pub integration: String,
    pub action: IssueAction,
    /// The alert event that caused this request.
    pub cause_event_id: Uuid,
    pub alert: AlertEvent,
}

/// Ask for one Alertmanager-compatible webhook notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookRequested {
    pub receiver: String,
    /// e.g. `webhook_configs[0]`.
    pub integration: String,
    pub url: String,
    pub cause_event_id: Uuid,
    /// The Alertmanager v4 JSON body to POST.
    pub payload: serde_json::Value,
}
