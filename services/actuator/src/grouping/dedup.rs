//! Alertmanager's dedup stage and notification log: what each integration
//! was last told about each group, and whether a flush has news for it
//! (`notify.go`'s `DedupStage.needsUpdate`).

use chrono::{DateTime, Utc};
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

/// What one integration was last sent for one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notified {
    pub firing: BTreeSet<String>,
    pub resolved: BTreeSet<String>,
    pub at: DateTime<Utc>,
}

/// A flush's alerts (after muting) split by state, as fingerprints.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sets {
    pub firing: BTreeSet<String>,
    pub resolved: BTreeSet<String>,
}

/// Whether to notify: something new fired, everything resolved after a
/// firing notification, something new resolved (with `send_resolved`),
/// or nothing changed for longer than `repeat`.
pub fn needs_update(
    last: Option<&Notified>,
    now: &Sets,
    send_resolved: bool,
    repeat: Duration,
    at: DateTime<Utc>,
) -> bool {
    let Some(last) = last else {
        // Never notified: only worth it if something fires.
        return !now.firing.is_empty();
    };
    if !now.firing.is_subset(&last.firing) {
        return true;
    }
    if now.firing.is_empty() {
        // Sent even without send_resolved, so the receiver's firing set
        // is cleared in the log; skipped when it never heard of any.
        return !last.firing.is_empty();
    }
    if send_resolved && !now.resolved.is_subset(&last.resolved) {
        return true;
    }
    let repeat = chrono::Duration::from_std(repeat).unwrap_or(chrono::Duration::MAX);
    at.signed_duration_since(last.at) > repeat
}

/// The notification log, by (receiver, integration, group key).
#[derive(Debug, Default)]
pub struct NotifyLog {
    entries: HashMap<(String, String, String), Notified>,
}

impl NotifyLog {
    pub fn last(&self, receiver: &str, integration: &str, group: &str) -> Option<&Notified> {
        self.entries.get(&(
            receiver.to_string(),
            integration.to_string(),
            group.to_string(),
        ))
    }

    pub fn record(&mut self, receiver: &str, integration: &str, group: &str, entry: Notified) {
        self.entries.insert(
            (
                receiver.to_string(),
                integration.to_string(),
                group.to_string(),
            ),
            entry,
        );
    }

    /// Drops what was logged for a group that no longer exists, so the
    /// log stays as large as the live groups, not as alert history.
    /// Alertmanager expires entries after its retention (120h); a group
    /// that is gone had all its alerts resolved and sent, which is what
    /// a fresh group starts from anyway.
    pub fn forget_group(&mut self, group: &str) {
        self.entries.retain(|(_, _, g), _| g != group);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(fps: &[&str]) -> BTreeSet<String> {
        fps.iter().map(|s| s.to_string()).collect()
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn sets(firing: &[&str], resolved: &[&str]) -> Sets {
        Sets {
            firing: set(firing),
            resolved: set(resolved),
        }
    }

    const HOUR: Duration = Duration::from_secs(3600);

    // The cases of Alertmanager's `TestDedupStageNeedsUpdate`.
    #[test]
    fn needs_update_as_alertmanager_decides() {
        let t = at("2026-12-07T10:00:00Z");
        let last = |firing: &[&str], resolved: &[&str], ago_s: i64| Notified {
            firing: set(firing),
            resolved: set(resolved),
            at: t - chrono::Duration::seconds(ago_s),
        };
        // No entry: notify if something fires.
        assert!(needs_update(None, &sets(&["1"], &[]), false, HOUR, t));
        assert!(!needs_update(None, &sets(&[], &["1"]), true, HOUR, t));
        // A new firing alert.
        let e = last(&["1", "2"], &[], 10);
        assert!(needs_update(
            Some(&e),
            &sets(&["1", "2", "3"], &[]),
            false,
            HOUR,
            t
        ));
        // The same firing alerts, inside the repeat interval.
        assert!(!needs_update(
            Some(&e),
            &sets(&["1", "2"], &[]),
            false,
            HOUR,
            t
        ));
        // Fewer firing alerts, without send_resolved: no news.
        assert!(!needs_update(
            Some(&e),
            &sets(&["1"], &["2"]),
            false,
            HOUR,
            t
        ));
        // ... with send_resolved: a new resolution is news.
        assert!(needs_update(Some(&e), &sets(&["1"], &["2"]), true, HOUR, t));
        // All resolved: sent whatever send_resolved says.
        assert!(needs_update(
            Some(&e),
            &sets(&[], &["1", "2"]),
            false,
            HOUR,
            t
        ));
        // All resolved, but the receiver never saw any fire.
        let quiet = last(&[], &["1"], 10);
        assert!(!needs_update(
            Some(&quiet),
            &sets(&[], &["1", "2"]),
            true,
            HOUR,
            t
        ));
        // Unchanged past the repeat interval; exactly at it is not past.
        let old = last(&["1"], &[], 3601);
        assert!(needs_update(Some(&old), &sets(&["1"], &[]), false, HOUR, t));
        let edge = last(&["1"], &[], 3600);
        assert!(!needs_update(
            Some(&edge),
            &sets(&["1"], &[]),
            false,
            HOUR,
            t
        ));
    }

    #[test]
    fn forgetting_a_group_drops_only_its_entries() {
        let mut log = NotifyLog::default();
        let e = Notified {
            firing: set(&["1"]),
            resolved: set(&[]),
            at: at("2026-12-07T10:00:00Z"),
        };
        log.record("r", "webhook[0]", "{}:{a=\"1\"}", e.clone());
        log.record("r", "webhook[0]", "{}:{a=\"2\"}", e);
        log.forget_group("{}:{a=\"1\"}");
        assert_eq!(log.len(), 1);
        assert!(log.last("r", "webhook[0]", "{}:{a=\"2\"}").is_some());
    }
}
