//! What an alert transition does to its issue, given what closeloop has
//! recorded about the issue and what the tracker says about it now. Pure:
//! no I/O, no clock; the runner looks the issue up and carries it out.

use crate::config::OnResolved;
use closeloop_core::events::IssueAction;

/// What the outcomes log says about an alert's issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownIssue {
    pub issue_id: String,
    pub url: String,
    /// True after closeloop itself closed it (`IssueClosed`), false after
    /// it was filed, adopted or reopened.
    pub closed_by_closeloop: bool,
    /// How many times the alert has fired while this issue existed.
    pub occurrences: u32,
}

/// The tracker's view of a known issue, looked up just before deciding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observed {
    /// There is no known issue, so nothing was looked up.
    NotFiled,
    Open,
    Closed {
        status: String,
    },
    /// The issue was deleted from the tracker.
    Missing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueDecision {
    /// Look for the fingerprint marker, adopt what is found, else create.
    File,
    /// Add a recurrence note.
    Recur {
        occurrences: u32,
    },
    /// closeloop closed it on resolve; the alert is back: note and reopen.
    Reopen {
        occurrences: u32,
    },
    /// Add a resolution note, and close when the policy says so.
    Resolve {
        close: bool,
    },
    /// Someone other than closeloop closed it: respect that.
    LeaveClosed,
    Nothing,
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
    on_resolved: OnResolved,
    closeloop_closed_status: &str,
) -> IssueDecision {
    let Some(known) = known else {
        return match action {
            IssueAction::Open => IssueDecision::File,
            IssueAction::Resolve => IssueDecision::Nothing,
        };
    };
    match (observed, action) {
        // Deleted in the tracker, or never looked up: start over.
        (Observed::Missing | Observed::NotFiled, IssueAction::Open) => IssueDecision::File,
        (Observed::Missing | Observed::NotFiled, IssueAction::Resolve) => IssueDecision::Nothing,
        (Observed::Open, IssueAction::Open) => IssueDecision::Recur {
            occurrences: known.occurrences.saturating_add(1),
        },
        (Observed::Open, IssueAction::Resolve) => match on_resolved {
            OnResolved::Close => IssueDecision::Resolve { close: true },
            OnResolved::Comment => IssueDecision::Resolve { close: false },
            OnResolved::None => IssueDecision::Nothing,
        },
        (Observed::Closed { status }, action) => {
            // Ours only while it still has the status we set: a person who
            // changed Closed to Rejected has decided too.
            let ours = known.closed_by_closeloop && status == closeloop_closed_status;
            match (ours, action) {
                (true, IssueAction::Open) => IssueDecision::Reopen {
                    occurrences: known.occurrences.saturating_add(1),
                },
                (true, IssueAction::Resolve) => IssueDecision::Nothing,
                (false, _) => IssueDecision::LeaveClosed,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use IssueAction::{Open, Resolve};

    const CLOSED: &str = "5";

    fn issue(closed_by_closeloop: bool, occurrences: u32) -> KnownIssue {
        KnownIssue {
            issue_id: "7".into(),
            url: "http://redmine/issues/7".into(),
            closed_by_closeloop,
            occurrences,
        }
    }

    fn closed(status: &str) -> Observed {
        Observed::Closed {
            status: status.into(),
        }
    }

    #[test]
    fn a_first_firing_files_an_issue() {
        // given no issue, when the alert fires, then file one
        assert_eq!(
            decide(None, &Observed::NotFiled, Open, OnResolved::Close, CLOSED),
            IssueDecision::File
        );
    }

    #[test]
    fn firing_again_while_the_issue_is_open_adds_a_note_with_the_count() {
        let known = issue(false, 2);
        assert_eq!(
            decide(
                Some(&known),
                &Observed::Open,
                Open,
                OnResolved::Close,
                CLOSED
            ),
            IssueDecision::Recur { occurrences: 3 }
        );
    }

    #[test]
    fn resolving_follows_the_receivers_policy() {
        let known = issue(false, 1);
        let resolve = |policy| decide(Some(&known), &Observed::Open, Resolve, policy, CLOSED);
        assert_eq!(
            resolve(OnResolved::Close),
            IssueDecision::Resolve { close: true }
        );
        assert_eq!(
            resolve(OnResolved::Comment),
            IssueDecision::Resolve { close: false }
        );
        assert_eq!(resolve(OnResolved::None), IssueDecision::Nothing);
    }

    #[test]
    fn an_issue_a_person_closed_stays_closed_when_the_alert_fires_again() {
        // given an issue closeloop filed and a person rejected (status 6)
        let known = issue(false, 4);
        // when the alert fires or resolves, then closeloop leaves it alone
        for action in [Open, Resolve] {
            assert_eq!(
                decide(
                    Some(&known),
                    &closed("6"),
                    action,
                    OnResolved::Close,
                    CLOSED
                ),
                IssueDecision::LeaveClosed
            );
        }
        // even when the person picked the same "Closed" status closeloop uses
        assert_eq!(
            decide(
                Some(&known),
                &closed(CLOSED),
                Open,
                OnResolved::Close,
                CLOSED
            ),
            IssueDecision::LeaveClosed
        );
    }

    #[test]
    fn an_issue_closeloop_closed_is_reopened_when_the_alert_fires_again() {
        let known = issue(true, 1);
        assert_eq!(
            decide(
                Some(&known),
                &closed(CLOSED),
                Open,
                OnResolved::Close,
                CLOSED
            ),
            IssueDecision::Reopen { occurrences: 2 }
        );
    }

    #[test]
    fn a_person_changing_closeloops_closed_status_is_respected() {
        let known = issue(true, 1);
        assert_eq!(
            decide(Some(&known), &closed("6"), Open, OnResolved::Close, CLOSED),
            IssueDecision::LeaveClosed
        );
    }

    #[test]
    fn a_person_reopening_the_issue_brings_back_notes_and_closing() {
        let known = issue(true, 3);
        assert_eq!(
            decide(
                Some(&known),
                &Observed::Open,
                Open,
                OnResolved::Close,
                CLOSED
            ),
            IssueDecision::Recur { occurrences: 4 }
        );
    }

    #[test]
    fn an_issue_deleted_from_the_tracker_is_filed_again() {
        let known = issue(false, 1);
        assert_eq!(
            decide(
                Some(&known),
                &Observed::Missing,
                Open,
                OnResolved::Close,
                CLOSED
            ),
            IssueDecision::File
        );
        assert_eq!(
            decide(
                Some(&known),
                &Observed::Missing,
                Resolve,
                OnResolved::Close,
                CLOSED
            ),
            IssueDecision::Nothing
        );
    }

    #[test]
    fn resolving_an_alert_without_an_issue_requests_nothing() {
        assert!(!wants_request(None, Resolve, OnResolved::Close));
        assert!(!wants_request(
            Some(&issue(true, 1)),
            Resolve,
            OnResolved::Close
        ));
        assert!(!wants_request(
            Some(&issue(false, 1)),
            Resolve,
            OnResolved::None
        ));
        assert!(wants_request(
            Some(&issue(false, 1)),
            Resolve,
            OnResolved::Comment
        ));
        assert!(wants_request(None, Open, OnResolved::None));
    }
}
