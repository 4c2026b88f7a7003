//! Alertmanager's aggregation groups, run in event time: alerts that take
//! the same route and share its `group_by` labels wait together, and the
//! group is flushed `group_wait` after its first alert, then every
//! `group_interval` (`dispatch.go`'s `aggrGroup`). A flush is a time and
//! the group's alerts at that time; whether it notifies anyone is the
//! dedup stage's decision ([`dedup`]).
//!
//! Nothing here reads a clock: the caller inserts alert events in event
//! time order and asks for the flushes due before the next event, so the
//! same log gives the same flushes at the same times on every replay.

pub mod dedup;
mod order;

use crate::routing::{GroupTimers, Route};
use chrono::{DateTime, Utc};
use closeloop_core::events::AlertEvent;
use closeloop_core::LabelSet;
use std::collections::BTreeMap;

pub use order::sort_as_alertmanager;

/// One alert as a group holds it: its latest state.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupedAlert {
    pub fingerprint: String,
    pub labels: LabelSet,
    pub annotations: LabelSet,
    /// When it started firing (Prometheus' `startsAt`).
    pub starts_at: DateTime<Utc>,
    /// Set once it resolved.
    pub ends_at: Option<DateTime<Utc>>,
    pub generator_url: String,
    /// Event time of the insert that set this state: a resolved alert is
    /// dropped after a flush only if nothing replaced it since.
    pub updated_at: DateTime<Utc>,
}

impl GroupedAlert {
    /// The group's view of a firing (`resolved == false`) or resolved alert.
    pub fn from_event(alert: &AlertEvent, resolved: bool, at: DateTime<Utc>) -> GroupedAlert {
        GroupedAlert {
            fingerprint: alert.fingerprint.clone(),
            labels: alert.labels.clone(),
            annotations: alert.annotations.clone(),
            starts_at: alert.fired_at.unwrap_or(alert.active_at),
            ends_at: if resolved {
                Some(alert.resolved_at.unwrap_or(at))
            } else {
                None
            },
            generator_url: alert.generator_url.clone().unwrap_or_default(),
            updated_at: at,
        }
    }

    /// Alertmanager's `ResolvedAt(t)`: an end time not after `t`.
    pub fn resolved_at(&self, t: DateTime<Utc>) -> bool {
        self.ends_at.is_some_and(|end| end <= t)
    }
}

/// Which group: the route (its index in the tree's walk) and the labels
/// it groups by.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupId {
    pub route: usize,
    pub labels: LabelSet,
}

/// One aggregation group.
#[derive(Debug, Clone)]
pub struct Group {
    pub receiver: String,
    /// Alertmanager's `groupKey` (route key and group labels).
    pub key: String,
    pub labels: LabelSet,
    timers: GroupTimers,
    mute_time_intervals: Vec<String>,
    active_time_intervals: Vec<String>,
    alerts: BTreeMap<String, GroupedAlert>,
    next_flush: DateTime<Utc>,
    has_flushed: bool,
}

/// A flush: the group's alerts at `at`, in Alertmanager's order, firing
/// ones with no end time even if one was set for later.
#[derive(Debug, Clone)]
pub struct Flush {
    pub id: GroupId,
    pub receiver: String,
    pub key: String,
    pub labels: LabelSet,
    pub repeat: std::time::Duration,
    /// The route's `mute_time_intervals` and `active_time_intervals`.
    pub mute_time_intervals: Vec<String>,
    pub active_time_intervals: Vec<String>,
    pub at: DateTime<Utc>,
    pub alerts: Vec<GroupedAlert>,
}

/// How far [`Groups::take_due`] may go.
#[derive(Debug, Clone, Copy)]
pub enum Due {
    /// Timers strictly before an event about to be inserted: an alert
    /// event and a timer at the same instant put the alert in the flush.
    Before(DateTime<Utc>),
    /// Timers at or before the watermark: every event up to it is in.
    UpTo(DateTime<Utc>),
}

impl Due {
    fn covers(self, t: DateTime<Utc>) -> bool {
        match self {
            Due::Before(bound) => t < bound,
            Due::UpTo(bound) => t <= bound,
        }
    }
}

/// Every live group, with the timers that say when each flushes next.
#[derive(Debug, Default)]
pub struct Groups {
    groups: BTreeMap<GroupId, Group>,
}

impl Groups {
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    pub fn contains(&self, id: &GroupId) -> bool {
        self.groups.contains_key(id)
    }

    /// Puts an alert's new state into its group on `route` (index
    /// `route_index` in the tree's walk) at event time `at`, creating the
    /// group, and its `group_wait` timer, if it is new.
    pub fn insert(
        &mut self,
        route_index: usize,
        route: &Route,
        alert: GroupedAlert,
        at: DateTime<Utc>,
    ) {
        let labels = route.group_labels(&alert.labels);
        let id = GroupId {
            route: route_index,
            labels,
        };
        let group = self.groups.entry(id.clone()).or_insert_with(|| Group {
            receiver: route.receiver.clone(),
            key: route.group_key(&alert.labels),
            labels: id.labels.clone(),
            timers: route.timers,
            mute_time_intervals: route.mute_time_intervals.clone(),
            active_time_intervals: route.active_time_intervals.clone(),
            alerts: BTreeMap::new(),
            next_flush: later(at, route.timers.wait),
            has_flushed: false,
        });
        // An alert that has waited out group_wait already (it started
        // long before it reached us) flushes a new group at once.
        if !group.has_flushed && later(alert.starts_at, group.timers.wait) < at {
            group.next_flush = group.next_flush.min(at);
        }
        group.alerts.insert(alert.fingerprint.clone(), alert);
    }

    /// When the earliest timer fires.
    pub fn next_due(&self) -> Option<DateTime<Utc>> {
        self.groups.values().map(|g| g.next_flush).min()
    }

    /// The earliest flush due by `bound` (ties by group), with that
    /// group's timer moved on by `group_interval`; `None` when none is
    /// due. Hand the flush back to [`Groups::flushed`] once acted on.
    pub fn take_due(&mut self, bound: Due) -> Option<Flush> {
        let (id, group) = self
            .groups
            .iter_mut()
            .filter(|(_, g)| bound.covers(g.next_flush))
            .min_by_key(|(_, g)| g.next_flush)?;
        let at = group.next_flush;
        group.next_flush = later(at, group.timers.interval);
        group.has_flushed = true;
        let mut alerts: Vec<GroupedAlert> = group
            .alerts
            .values()
            .map(|a| {
                let mut a = a.clone();
                // Alerts don't resolve as time moves on (`aggrGroup.flush`).
                if !a.resolved_at(at) {
                    a.ends_at = None;
                }
                a
            })
            .collect();
        sort_as_alertmanager(&mut alerts);
        Some(Flush {
            id: id.clone(),
            receiver: group.receiver.clone(),
            key: group.key.clone(),
            labels: group.labels.clone(),
            repeat: group.timers.repeat,
            mute_time_intervals: group.mute_time_intervals.clone(),
            active_time_intervals: group.active_time_intervals.clone(),
            at,
            alerts,
        })
    }

    /// After a flush was acted on: its resolved alerts leave the group
    /// unless they changed since, and a group left empty is gone (a later
    /// alert starts a new one with a fresh `group_wait`).
    pub fn flushed(&mut self, flush: &Flush) {
        let Some(group) = self.groups.get_mut(&flush.id) else {
            return;
        };
        for sent in flush.alerts.iter().filter(|a| a.ends_at.is_some()) {
            if group
                .alerts
                .get(&sent.fingerprint)
                .is_some_and(|now| now.updated_at == sent.updated_at)
            {
                group.alerts.remove(&sent.fingerprint);
            }
        }
        if group.alerts.is_empty() {
            self.groups.remove(&flush.id);
        }
    }
}

/// `at + d`, saturating: a configured `100y` must not overflow.
pub fn later(at: DateTime<Utc>, d: std::time::Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| at.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

#[cfg(test)]
mod tests;
