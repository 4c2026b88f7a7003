//! Issue trackers as receivers: the [`IssueTracker`] boundary (Redmine
//! today; GitHub, GitLab and Jira later), the pure decision of what an
//! alert does to its issue, and the text of issues and notes.
//!
//! Policy, in short: one issue per (receiver, integration, fingerprint).
//! A recurrence while the issue is open adds a note with the occurrence
//! count. A resolve adds a note and, with `on_resolved: close`, closes it.
//! If closeloop closed it and the alert fires again, it is reopened. If
//! someone else closed it (rejected, won't fix, fixed by hand), closeloop
//! leaves it alone — no note, no reopen, no new issue — until a person
//! reopens it. Before filing, the tracker is searched for the fingerprint
//! marker so an issue created just before a crash is adopted, not doubled.

pub mod carry_out;
pub mod decide;
pub mod redmine;
pub mod render;

use crate::error::DeliveryError;
use async_trait::async_trait;

/// An issue as the tracker reports it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackerIssue {
    pub id: String,
    /// Where a person opens it.
    pub url: String,
    pub title: String,
    pub open: bool,
    /// The tracker's status, e.g. Redmine's status id `"5"`.
    pub status: String,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIssue {
    pub title: String,
    pub description: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    Close,
    Reopen,
}

/// A note, optionally with a status change, applied in one request so a
/// crash cannot leave one without the other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueUpdate {
    pub note: String,
    pub transition: Option<Transition>,
}

#[async_trait]
pub trait IssueTracker: Send + Sync {
    /// Tracker kind for events and metric labels: `redmine`, `github`, ...
    fn kind(&self) -> &'static str;

    /// The status closeloop sets when it closes an issue, so an issue in
    /// any other closed status is known to be closed by a person.
    fn closed_status(&self) -> String;

    /// Issues whose description contains `marker` (open or closed).
    async fn find_by_marker(&self, marker: &str) -> Result<Vec<TrackerIssue>, DeliveryError>;

    async fn create(&self, issue: &NewIssue) -> Result<TrackerIssue, DeliveryError>;

    /// `None` when the issue no longer exists (deleted).
    async fn get(&self, id: &str) -> Result<Option<TrackerIssue>, DeliveryError>;

    async fn update(&self, id: &str, update: &IssueUpdate) -> Result<(), DeliveryError>;
}
