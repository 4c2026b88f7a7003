//! Issue trackers as receivers: the [`IssueTracker`] boundary (Redmine,
//! GitHub, GitLab, Jira), the pure decision of what an alert
//! does to its issue ([`decide`]), and the text of issues and notes.
//!
//! The trait is deliberately thin: each method is one thing a person could
//! do in the tracker's web page (file, comment, close, reopen, label), and
//! an adapter only maps it onto HTTP. Every choice — whether to comment,
//! reopen, file anew, or leave a person's "won't fix" alone — is made in
//! [`decide`] from the [`TrackerIssue`] the adapter reports. The policy is
//! written out in the doc of [`decide`].
//!
//! Notes and state changes are separate calls on most trackers. Adapters
//! that need two requests post the note first, then change the state: if
//! the process dies in between, the retry sees the issue unchanged and
//! does the whole step again (a second note at worst), whereas a state
//! change without its record would read as a person's doing.

pub mod adf;
pub mod carry_out;
pub mod decide;
pub mod github;
pub mod gitlab;
pub mod jira;
pub mod redmine;
pub mod render;

use crate::error::DeliveryError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// An issue number (GitHub) or iid (GitLab) as the tracker takes it in a
/// URL path; anything but digits must not reach one. `what` names it in
/// the error, e.g. "GitHub issue number".
pub(crate) fn numeric_id<'a>(id: &'a str, what: &str) -> Result<&'a str, DeliveryError> {
    match id.parse::<u64>() {
        Ok(_) => Ok(id),
        Err(_) => Err(DeliveryError::Invalid {
            what: what.to_lowercase(),
            reason: format!("{id:?} is not a {what}"),
        }),
    }
}

/// How a closed issue was closed, in the tracker's own terms mapped to the
/// two meanings that matter to closeloop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClosedAs {
    /// Done / fixed / resolved: GitHub `state_reason: completed` (or none),
    /// Redmine "Closed", a Jira resolution other than the won't-fix ones,
    /// a GitLab close without the not-planned label.
    Completed,
    /// A person decided not to act: GitHub `not_planned` (and `duplicate`),
    /// Jira "Won't Do"/"Won't Fix" (configurable), the configured GitLab
    /// label, Redmine "Rejected". closeloop never reopens nor refiles it.
    WontFix,
}

/// An issue as the tracker reports it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackerIssue {
    /// The id the tracker's API takes back: GitHub/GitLab issue number
    /// (iid), Jira key, Redmine id.
    pub id: String,
    /// Where a person opens it.
    pub url: String,
    pub title: String,
    /// `None` while open.
    pub closed_as: Option<ClosedAs>,
    /// When it was closed, if closed and the tracker says.
    pub closed_at: Option<DateTime<Utc>>,
    /// The tracker's raw status, for logs only (`"5"`, `"closed"`, `"Done"`).
    pub status: String,
    /// The body as stored, marker included.
    pub description: String,
    /// Labels (empty on trackers without them).
    pub labels: Vec<String>,
}

impl TrackerIssue {
    pub fn open(&self) -> bool {
        self.closed_as.is_none()
    }
}

/// What identifies closeloop's issue for one (receiver, fingerprint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    pub fingerprint: String,
    pub receiver: String,
}

impl Marker {
    /// Text that appears verbatim in the body: search for this.
    pub fn search_text(&self) -> String {
        render::fingerprint_marker(&self.fingerprint)
    }

    /// The label put on the issue where the tracker has labels, e.g.
    /// `closeloop:776a2feeb0b80e00`: listing by label is consistent at
    /// once, unlike full-text search indexes.
    pub fn label(&self) -> String {
        format!("closeloop:{}", self.fingerprint)
    }

    /// True when `body` carries this marker (fingerprint and receiver).
    pub fn found_in(&self, body: &str) -> bool {
        render::has_markers(body, &self.fingerprint, &self.receiver)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIssue {
    pub title: String,
    /// Rendered body, marker included (see [`IssueTracker::hide_marker`]).
    pub description: String,
    /// Labels to set, the marker's label among them; trackers without
    /// labels ignore them.
    pub labels: Vec<String>,
    /// User names (GitHub login, GitLab username, Jira account id).
    pub assignees: Vec<String>,
}

#[async_trait]
pub trait IssueTracker: Send + Sync {
    /// Tracker kind for events and metric labels: `redmine`, `github`,
    /// `gitlab`, `jira`.
    fn kind(&self) -> &'static str;

    /// Wraps the marker lines so they do not show to readers where the
    /// format allows (an HTML comment in Markdown). The text of
    /// `marker_lines` must survive verbatim in the stored body.
    fn hide_marker(&self, marker_lines: &str) -> String {
        marker_lines.to_string()
    }

    /// Every issue (open or closed) of the target that may carry `marker`:
    /// listed by `marker.label()` where the tracker has labels, and/or by
    /// full-text search for `marker.search_text()`. May return extra
    /// issues; the caller keeps only those whose body `marker.found_in`.
    async fn find_by_marker(&self, marker: &Marker) -> Result<Vec<TrackerIssue>, DeliveryError>;

    /// Creates the issue with its labels and assignees; returns it as
    /// stored.
    async fn create(&self, issue: &NewIssue) -> Result<TrackerIssue, DeliveryError>;

    /// The issue now; `None` when it no longer exists (deleted, 404/410).
    async fn get(&self, id: &str) -> Result<Option<TrackerIssue>, DeliveryError>;

    /// Adds a comment (note) to the issue, leaving its state alone.
    async fn comment(&self, id: &str, text: &str) -> Result<(), DeliveryError>;

    /// Adds `note` and closes the issue as completed (GitHub
    /// `state_reason: completed`, Jira's `resolve_transition`, Redmine's
    /// closed status, GitLab `state_event: close`).
    async fn close(&self, id: &str, note: &str) -> Result<(), DeliveryError>;

    /// Adds `note` and reopens the issue (Jira: `reopen_transition`).
    async fn reopen(&self, id: &str, note: &str) -> Result<(), DeliveryError>;

    /// Adds `note` and the label `label`, leaving the state alone
    /// (`on_resolved: label`). Trackers without labels answer
    /// `DeliveryError::Invalid` (config validation rules that out).
    async fn add_label(&self, id: &str, label: &str, note: &str) -> Result<(), DeliveryError>;

    /// Removes the label if present (the "resolved" label when the alert
    /// fires again); absent is not an error.
    async fn remove_label(&self, id: &str, label: &str) -> Result<(), DeliveryError>;
}
