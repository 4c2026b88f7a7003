//! What an alert transition does to its issue, given what closeloop has
//! recorded about the issue and what the tracker says about it now. Pure:
//! no I/O, no clock (`now` is an argument); the runner looks the issue up
//! and carries the decision out. The same policy holds for every tracker.
//!
//! The policy, per (receiver, integration, fingerprint):
//!
//! - **First firing**: file an issue — after searching the tracker for the
//!   fingerprint marker, so an issue created just before a crash (created,
//!   never recorded) is adopted instead of doubled.
//! - **Fires again while the issue is open**: a comment with the
//!   occurrence count. With `on_resolved: label`, the resolved label is
//!   taken off again.
//! - **Fires again after the issue was closed as completed**: reopen it if
//!   it was closed no longer than `reopen_window` ago, otherwise file a
//!   new issue whose body links the old one. *Completed by a person* is
//!   treated exactly like closed by closeloop: "fixed" is a claim, and a
//!   recurrence is news the team must see; the window is counted from the
//!   tracker's close time (or, if it gives none, the new issue is filed).
//!   When closeloop closed it, its own recorded close time is used, so a
//!   tracker's clock or a later edit cannot move the window.
//! - **Closed as won't fix / not planned** (by a person, in any tracker's
//!   terms, see [`super::ClosedAs::WontFix`]): never reopened, never
//!   duplicated, never commented on. A recurrence is counted silently: it
//!   is recorded in the outcome events, and no tracker call is made.
//! - **Resolves**: `on_resolved` — `close` (note and close as completed),
//!   `comment` (note), `label` (note and the resolved label), `none`.
//!   An issue that is already closed is left as it is.
//! - **Deleted from the tracker**: filed again on the next firing.

use crate::config::OnResolved;
use chrono::{DateTime, Utc};
use closeloop_core::events::IssueAction;
use std::time::Duration;

pub use super::ClosedAs;

/// What the outcomes log says about an alert's issue.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KnownIssue {
    pub issue_id: String,
    pub url: String,
    /// True after closeloop itself closed it (`IssueClosed`), false after
    /// it was filed, adopted or reopened.
    pub closed_by_closeloop: bool,
    /// When closeloop closed it (the `IssueClosed` event's time).
    pub closed_at: Option<DateTime<Utc>>,
    /// How many times the alert has fired while this issue existed.
    pub occurrences: u32,
}

/// The tracker's view of a known issue, looked up just before deciding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    /// There is no known issue, so nothing was looked up.
    NotFiled,
    Open {
        /// It carries the receiver's resolved label.
        has_resolved_label: bool,
    },
    Closed {
        closed_as: ClosedAs,
        /// The tracker's close time, if it gives one.
        closed_at: Option<DateTime<Utc>>,
    },
    /// The issue was deleted from the tracker.
    Missing,
}

/// The receiver's settings the policy needs.
#[derive(Debug, Clone)]
pub struct Policy {
    pub on_resolved: OnResolved,
    pub resolved_label: String,
    pub reopen_window: Duration,
}

/// The known issue a new one replaces, to link from its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Previous {
    pub issue_id: String,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssueDecision {
    /// Look for the fingerprint marker, adopt an open issue found (other
    /// than `previous`), else create; link `previous` when there is one.
    File {
        previous: Option<Previous>,
    },
    /// Add a recurrence comment; take `unlabel` off first if set.
    Recur {
        occurrences: u32,
        unlabel: Option<String>,
    },
    /// Closed as completed within the reopen window: note and reopen.
    Reopen {
        occurrences: u32,
    },
    /// Closed as won't fix: record the count, touch nothing.
    CountSilently {
        occurrences: u32,
    },
    /// Add a resolution note and apply the policy.
    Resolve {
        how: Resolution,
    },
    Nothing,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    Close,
    Comment,
    Label(String),
}

/// Whether a request is worth writing at all before looking anything up:
/// resolving an alert with no issue, or under `on_resolved: none`, is a
/// no-op, and so is resolving one closeloop already closed.
pub fn wants_request(
    known: Option<&KnownIssue>,
    action: IssueAction,
    on_resolved: OnResolved,
) -> bool {
    match action {
        IssueAction::Open => true,
        IssueAction::Resolve => {
            on_resolved != OnResolved::None && known.is_some_and(|k| !k.closed_by_closeloop)
        }
    }
}

pub fn decide(
    known: Option<&KnownIssue>,
    observed: &Observed,
    action: IssueAction,
    policy: &Policy,
    now: DateTime<Utc>,
) -> IssueDecision {
    let Some(known) = known else {
        return match action {
            IssueAction::Open => IssueDecision::File { previous: None },
            IssueAction::Resolve => IssueDecision::Nothing,
        };
    };
    let next = known.occurrences.saturating_add(1);
    match (observed, action) {
        // Deleted in the tracker, or never looked up: start over.
        (Observed::Missing | Observed::NotFiled, IssueAction::Open) => {
            IssueDecision::File { previous: None }
        }
        (Observed::Open { has_resolved_label }, IssueAction::Open) => IssueDecision::Recur {
            occurrences: next,
            unlabel: (*has_resolved_label && policy.on_resolved == OnResolved::Label)
                .then(|| policy.resolved_label.clone()),
        },
        (Observed::Open { .. }, IssueAction::Resolve) => match policy.on_resolved {
            OnResolved::Close => IssueDecision::Resolve {
                how: Resolution::Close,
            },
            OnResolved::Comment => IssueDecision::Resolve {
                how: Resolution::Comment,
            },
            OnResolved::Label => IssueDecision::Resolve {
                how: Resolution::Label(policy.resolved_label.clone()),
            },
            OnResolved::None => IssueDecision::Nothing,
        },
        (
            Observed::Closed {
                closed_as: ClosedAs::WontFix,
                ..
            },
            IssueAction::Open,
        ) => IssueDecision::CountSilently { occurrences: next },
        (
            Observed::Closed {
                closed_as: ClosedAs::Completed,
                closed_at,
            },
            IssueAction::Open,
        ) => {
            let closed_at = if known.closed_by_closeloop {
                known.closed_at.or(*closed_at)
            } else {
                *closed_at
            };
            let within = closed_at.is_some_and(|at| {
                (now - at)
                    .to_std()
                    .map_or(true, |ago| ago <= policy.reopen_window)
            });
            if within {
                IssueDecision::Reopen { occurrences: next }
            } else {
                IssueDecision::File {
                    previous: Some(Previous {
                        issue_id: known.issue_id.clone(),
                        url: known.url.clone(),
                    }),
                }
            }
        }
        (
            Observed::Missing | Observed::NotFiled | Observed::Closed { .. },
            IssueAction::Resolve,
        ) => IssueDecision::Nothing,
    }
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
