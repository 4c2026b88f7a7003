//! The policy table, given/when/then, time stepped by hand.

use super::*;
use IssueAction::{Open, Resolve};

fn t(minutes: i64) -> DateTime<Utc> {
    DateTime::UNIX_EPOCH + chrono::Duration::minutes(minutes)
}

fn policy(on_resolved: OnResolved) -> Policy {
    Policy {
        on_resolved,
        resolved_label: "resolved".into(),
        reopen_window: Duration::from_secs(60 * 60),
    }
}

fn issue(
    closed_by_closeloop: bool,
    closed_at: Option<DateTime<Utc>>,
    occurrences: u32,
) -> KnownIssue {
    KnownIssue {
        issue_id: "7".into(),
        url: "https://tracker/issues/7".into(),
        closed_by_closeloop,
        closed_at,
        occurrences,
    }
}

fn open() -> Observed {
    Observed::Open {
        has_resolved_label: false,
    }
}

fn closed(closed_as: ClosedAs, closed_at: Option<DateTime<Utc>>) -> Observed {
    Observed::Closed {
        closed_as,
        closed_at,
    }
}

#[test]
fn a_first_firing_files_an_issue() {
    let decision = decide(
        None,
        &Observed::NotFiled,
        Open,
        &policy(OnResolved::Close),
        t(0),
    );
    assert_eq!(decision, IssueDecision::File { previous: None });
}

#[test]
fn firing_again_while_the_issue_is_open_comments_with_the_count() {
    let known = issue(false, None, 2);
    let decision = decide(
        Some(&known),
        &open(),
        Open,
        &policy(OnResolved::Close),
        t(0),
    );
    assert_eq!(
        decision,
        IssueDecision::Recur {
            occurrences: 3,
            unlabel: None
        }
    );
}

#[test]
fn firing_again_on_an_issue_labelled_resolved_takes_the_label_off() {
    let known = issue(false, None, 1);
    let observed = Observed::Open {
        has_resolved_label: true,
    };
    let decision = decide(
        Some(&known),
        &observed,
        Open,
        &policy(OnResolved::Label),
        t(0),
    );
    assert_eq!(
        decision,
        IssueDecision::Recur {
            occurrences: 2,
            unlabel: Some("resolved".into())
        }
    );
}

#[test]
fn resolving_follows_each_resolve_policy() {
    let known = issue(false, None, 1);
    let resolve = |p| decide(Some(&known), &open(), Resolve, &policy(p), t(0));
    assert_eq!(
        resolve(OnResolved::Close),
        IssueDecision::Resolve {
            how: Resolution::Close
        }
    );
    assert_eq!(
        resolve(OnResolved::Comment),
        IssueDecision::Resolve {
            how: Resolution::Comment
        }
    );
    assert_eq!(
        resolve(OnResolved::Label),
        IssueDecision::Resolve {
            how: Resolution::Label("resolved".into())
        }
    );
    assert_eq!(resolve(OnResolved::None), IssueDecision::Nothing);
}

#[test]
fn a_recurrence_inside_the_reopen_window_reopens_what_closeloop_closed() {
    // given closeloop closed the issue at minute 10
    let known = issue(true, Some(t(10)), 1);
    let observed = closed(ClosedAs::Completed, Some(t(10)));
    // when it fires again 60 minutes later (the window's edge), then reopen
    let decision = decide(
        Some(&known),
        &observed,
        Open,
        &policy(OnResolved::Close),
        t(70),
    );
    assert_eq!(decision, IssueDecision::Reopen { occurrences: 2 });
}

#[test]
fn a_recurrence_after_the_reopen_window_files_a_new_issue_linking_the_old() {
    let known = issue(true, Some(t(10)), 1);
    let observed = closed(ClosedAs::Completed, Some(t(10)));
    let decision = decide(
        Some(&known),
        &observed,
        Open,
        &policy(OnResolved::Close),
        t(71),
    );
    assert_eq!(
        decision,
        IssueDecision::File {
            previous: Some(Previous {
                issue_id: "7".into(),
                url: "https://tracker/issues/7".into()
            })
        }
    );
}

#[test]
fn closeloops_recorded_close_time_wins_over_the_trackers() {
    // the tracker says it was closed long ago (clock skew, an edit); the
    // log says closeloop closed it 5 minutes ago
    let known = issue(true, Some(t(100)), 1);
    let observed = closed(ClosedAs::Completed, Some(t(0)));
    let decision = decide(
        Some(&known),
        &observed,
        Open,
        &policy(OnResolved::Close),
        t(105),
    );
    assert_eq!(decision, IssueDecision::Reopen { occurrences: 2 });
}

#[test]
fn an_issue_a_person_closed_as_completed_is_treated_like_one_closeloop_closed() {
    let known = issue(false, None, 3);
    let inside = closed(ClosedAs::Completed, Some(t(0)));
    assert_eq!(
        decide(
            Some(&known),
            &inside,
            Open,
            &policy(OnResolved::Comment),
            t(30)
        ),
        IssueDecision::Reopen { occurrences: 4 }
    );
    // without a close time from the tracker, a new issue is filed
    let unknown_time = closed(ClosedAs::Completed, None);
    assert!(matches!(
        decide(
            Some(&known),
            &unknown_time,
            Open,
            &policy(OnResolved::Comment),
            t(30)
        ),
        IssueDecision::File { previous: Some(_) }
    ));
}

#[test]
fn an_issue_closed_as_wont_fix_is_never_reopened_nor_refiled_only_counted() {
    // whether closeloop had closed it before the person rejected it or not,
    // inside the window or after it
    for known in [issue(false, None, 4), issue(true, Some(t(0)), 4)] {
        for now in [t(1), t(10_000)] {
            let observed = closed(ClosedAs::WontFix, Some(t(0)));
            assert_eq!(
                decide(
                    Some(&known),
                    &observed,
                    Open,
                    &policy(OnResolved::Close),
                    now
                ),
                IssueDecision::CountSilently { occurrences: 5 }
            );
            assert_eq!(
                decide(
                    Some(&known),
                    &observed,
                    Resolve,
                    &policy(OnResolved::Close),
                    now
                ),
                IssueDecision::Nothing
            );
        }
    }
}

#[test]
fn resolving_an_issue_that_is_already_closed_does_nothing() {
    let known = issue(false, None, 1);
    let observed = closed(ClosedAs::Completed, Some(t(0)));
    assert_eq!(
        decide(
            Some(&known),
            &observed,
            Resolve,
            &policy(OnResolved::Close),
            t(1)
        ),
        IssueDecision::Nothing
    );
}

#[test]
fn an_issue_deleted_from_the_tracker_is_filed_again() {
    let known = issue(false, None, 1);
    assert_eq!(
        decide(
            Some(&known),
            &Observed::Missing,
            Open,
            &policy(OnResolved::Close),
            t(0)
        ),
        IssueDecision::File { previous: None }
    );
    assert_eq!(
        decide(
            Some(&known),
            &Observed::Missing,
            Resolve,
            &policy(OnResolved::Close),
            t(0)
        ),
        IssueDecision::Nothing
    );
}

#[test]
fn resolving_an_alert_without_an_issue_requests_nothing() {
    assert!(!wants_request(None, Resolve, OnResolved::Close));
    assert!(!wants_request(
        Some(&issue(true, Some(t(0)), 1)),
        Resolve,
        OnResolved::Close
    ));
    assert!(!wants_request(
        Some(&issue(false, None, 1)),
        Resolve,
        OnResolved::None
    ));
    assert!(wants_request(
        Some(&issue(false, None, 1)),
        Resolve,
        OnResolved::Label
    ));
    assert!(wants_request(None, Open, OnResolved::None));
}
