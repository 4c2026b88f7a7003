//! `closeloop.silences`: Alertmanager-style silences, set and expired
//! through `POST /api/v2/silences` and `DELETE /api/v2/silence/{id}`.
//! Folded in log order they give every silence with its times; whether
//! one silences an alert is decided at the alert event's time, so a
//! replay silences the same notifications.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One matcher of a silence, as Alertmanager's API v2 spells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SilenceMatcher {
    pub name: String,
    pub value: String,
    pub is_regex: bool,
    /// `false` for `!=` / `!~`.
    pub is_equal: bool,
}

/// A silence created, or updated in place (same `id`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SilenceSet {
    pub id: String,
    pub matchers: Vec<SilenceMatcher>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub created_by: String,
    pub comment: String,
    pub updated_at: DateTime<Utc>,
}

/// A silence ended early (`DELETE /api/v2/silence/{id}`): it ends at
/// `expired_at`, or never starts if it was still pending.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SilenceExpired {
    pub id: String,
    pub expired_at: DateTime<Utc>,
}
