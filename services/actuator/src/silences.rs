//! Silences with Alertmanager's semantics: the fold of
//! `closeloop.silences` (set, updated in place, expired), their state at a
//! time (pending, active, expired), which ones silence a label set, and
//! the rules a new or changed silence must pass. The actuator asks
//! [`Silences::silencing`] at each alert event's time before it notifies,
//! comments or files anything; the Alertmanager API reads the same fold.

use crate::matcher::{MatchType, Matcher};
use chrono::{DateTime, Duration, Utc};
use closeloop_core::events::{SilenceExpired, SilenceMatcher, SilenceSet};
use closeloop_core::topics::Topic;
use closeloop_core::{Event, EventPayload, LabelSet};
use closeloop_log::{EventLog, LogError, Offset};
use std::collections::BTreeMap;

/// Alertmanager keeps expired silences this long (`--data.retention`).
pub const EXPIRED_KEPT: Duration = Duration::hours(120);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SilenceState {
    Pending,
    Active,
    Expired,
}

impl SilenceState {
    pub fn as_str(self) -> &'static str {
        match self {
            SilenceState::Pending => "pending",
            SilenceState::Active => "active",
            SilenceState::Expired => "expired",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Silence {
    pub set: SilenceSet,
    matchers: Vec<Matcher>,
}

impl Silence {
    pub fn new(set: SilenceSet) -> Result<Silence, String> {
        let matchers = set
            .matchers
            .iter()
            .map(to_matcher)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Silence { set, matchers })
    }

    pub fn state_at(&self, at: DateTime<Utc>) -> SilenceState {
        if at < self.set.starts_at {
            SilenceState::Pending
        } else if at < self.set.ends_at {
            SilenceState::Active
        } else {
            SilenceState::Expired
        }
    }

    /// Whether every matcher matches `labels` (a missing label is "").
    pub fn matches(&self, labels: &LabelSet) -> bool {
        self.matchers.iter().all(|m| m.matches(labels))
    }

    /// Whether one of the silence's matchers equals `wanted` in name, type
    /// and value: how Alertmanager's silence query filter selects.
    pub fn has_matcher(&self, wanted: &Matcher) -> bool {
        self.matchers.contains(wanted)
    }
}

fn to_matcher(m: &SilenceMatcher) -> Result<Matcher, String> {
    let kind = match (m.is_regex, m.is_equal) {
        (false, true) => MatchType::Equal,
        (false, false) => MatchType::NotEqual,
        (true, true) => MatchType::Regex,
        (true, false) => MatchType::NotRegex,
    };
    Matcher::new(&m.name, kind, &m.value).map_err(|e| e.to_string())
}

/// Every silence, by id.
#[derive(Debug, Clone, Default)]
pub struct Silences {
    by_id: BTreeMap<String, Silence>,
}

impl Silences {
    pub fn get(&self, id: &str) -> Option<&Silence> {
        self.by_id.get(id)
    }

    /// Silences to show at `now`: all but those expired longer than
    /// [`EXPIRED_KEPT`] ago, newest change first.
    pub fn listed(&self, now: DateTime<Utc>) -> Vec<&Silence> {
        let mut out: Vec<&Silence> = self
            .by_id
            .values()
            .filter(|s| s.set.ends_at + EXPIRED_KEPT > now)
            .collect();
        out.sort_by(|a, b| b.set.updated_at.cmp(&a.set.updated_at));
        out
    }

    /// Ids of the silences active at `at` that match `labels`.
    pub fn silencing(&self, labels: &LabelSet, at: DateTime<Utc>) -> Vec<String> {
        self.by_id
            .values()
            .filter(|s| s.state_at(at) == SilenceState::Active && s.matches(labels))
            .map(|s| s.set.id.clone())
            .collect()
    }

    /// Folds one event of `closeloop.silences`.
    pub fn apply(&mut self, payload: &EventPayload) {
        match payload {
            EventPayload::SilenceSet(set) => match Silence::new(set.clone()) {
                Ok(silence) => {
                    self.by_id.insert(set.id.clone(), silence);
                }
                Err(e) => {
                    tracing::warn!(id = %set.id, error = %e, "skipping a silence whose matchers do not compile")
                }
            },
            EventPayload::SilenceExpired(SilenceExpired { id, expired_at }) => {
                if let Some(s) = self.by_id.get_mut(id) {
                    if *expired_at < s.set.starts_at {
                        s.set.starts_at = *expired_at;
                    }
                    s.set.ends_at = s.set.ends_at.min(*expired_at);
                    s.set.updated_at = *expired_at;
                }
            }
            _ => {}
        }
    }
}

/// Checks a silence a client posts, as Alertmanager's `validateSilence`
/// and API do; `now` decides "in the past".
pub fn validate(set: &SilenceSet, now: DateTime<Utc>) -> Result<(), String> {
    if set.matchers.is_empty() {
        return Err("at least one matcher required".into());
    }
    for m in &set.matchers {
        if !closeloop_core::pushed::valid_label_name(&m.name) {
            return Err(format!("invalid label name {:?}", m.name));
        }
    }
    let silence = Silence::new(set.clone()).map_err(|e| format!("invalid label matcher: {e}"))?;
    if silence
        .matchers
        .iter()
        .all(|m| m.matches(&LabelSet::default()))
    {
        return Err("at least one matcher must not match the empty string".into());
    }
    if set.ends_at < set.starts_at {
        return Err("end time must not be before start time".into());
    }
    if set.ends_at < now {
        return Err("end time can't be in the past".into());
    }
    if set.created_by.is_empty() {
        return Err("creator information missing".into());
    }
    if set.comment.is_empty() {
        return Err("comment missing".into());
    }
    Ok(())
}

/// Whether `prev` may be changed into `next` keeping its id, as
/// Alertmanager's `canUpdate`: same matchers; a pending silence may move
/// its start (not into the past); an active one keeps its start and may
/// move its end, not into the past; an expired one is never changed.
pub fn can_update(prev: &Silence, next: &SilenceSet, now: DateTime<Utc>) -> bool {
    if prev.set.matchers != next.matchers {
        return false;
    }
    match prev.state_at(now) {
        SilenceState::Expired => false,
        SilenceState::Pending => next.starts_at >= now,
        SilenceState::Active => next.starts_at == prev.set.starts_at && next.ends_at >= now,
    }
}

/// The fold kept current from the log, for readers that must see every
/// change appended before they read.
#[derive(Debug, Default)]
pub struct SilenceView {
    silences: Silences,
    next: Vec<Offset>,
}

impl SilenceView {
    pub fn silences(&self) -> &Silences {
        &self.silences
    }

    pub async fn catch_up(&mut self, log: &dyn EventLog, prefix: &str) -> Result<(), LogError> {
        let topic = Topic::Silences.name(prefix);
        let silences = &mut self.silences;
        closeloop_log::follow::read_new(log, &topic, &mut self.next, |record| {
            match Event::from_json(&record.value) {
                Ok(event) => silences.apply(&event.payload),
                Err(err) => {
                    tracing::warn!(topic = %topic, offset = record.offset, error = %err, "skipping undecodable silence record")
                }
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn set(id: &str, start: &str, end: &str) -> SilenceSet {
        SilenceSet {
            id: id.into(),
            matchers: vec![
                SilenceMatcher {
                    name: "alertname".into(),
                    value: "Down".into(),
                    is_regex: false,
                    is_equal: true,
                },
                SilenceMatcher {
                    name: "env".into(),
                    value: "dev|test".into(),
                    is_regex: true,
                    is_equal: false,
                },
            ],
            starts_at: at(start),
            ends_at: at(end),
            created_by: "alice".into(),
            comment: "maintenance".into(),
            updated_at: at(start),
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> LabelSet {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_silence_silences_matching_alerts_only_while_active() {
        let mut silences = Silences::default();
        silences.apply(&EventPayload::SilenceSet(set(
            "s1",
            "2024-01-01T10:00:00Z",
            "2024-01-01T12:00:00Z",
        )));
        let prod = labels(&[("alertname", "Down"), ("env", "prod")]);
        let dev = labels(&[("alertname", "Down"), ("env", "dev")]);
        assert_eq!(
            silences.silencing(&prod, at("2024-01-01T11:00:00Z")),
            ["s1"]
        );
        assert!(silences
            .silencing(&dev, at("2024-01-01T11:00:00Z"))
            .is_empty());
        assert!(silences
            .silencing(&prod, at("2024-01-01T09:59:59Z"))
            .is_empty());
        assert!(silences
            .silencing(&prod, at("2024-01-01T12:00:00Z"))
            .is_empty());
        silences.apply(&EventPayload::SilenceExpired(SilenceExpired {
            id: "s1".into(),
            expired_at: at("2024-01-01T10:30:00Z"),
        }));
        assert_eq!(
            silences.silencing(&prod, at("2024-01-01T10:29:59Z")),
            ["s1"]
        );
        assert!(silences
            .silencing(&prod, at("2024-01-01T10:30:00Z"))
            .is_empty());
        let s = silences.get("s1").unwrap();
        assert_eq!(
            s.state_at(at("2024-01-01T11:00:00Z")),
            SilenceState::Expired
        );
    }

    #[test]
    fn validation_and_updates_follow_alertmanager() {
        let now = at("2024-01-01T11:00:00Z");
        let good = set("s", "2024-01-01T10:00:00Z", "2024-01-01T12:00:00Z");
        assert!(validate(&good, now).is_ok());
        let mut empty = good.clone();
        empty.matchers.truncate(0);
        assert!(validate(&empty, now).is_err());
        let mut matches_empty = good.clone();
        matches_empty.matchers.remove(0);
        assert_eq!(
            validate(&matches_empty, now).unwrap_err(),
            "at least one matcher must not match the empty string"
        );
        let past = set("s", "2024-01-01T09:00:00Z", "2024-01-01T10:00:00Z");
        assert_eq!(
            validate(&past, now).unwrap_err(),
            "end time can't be in the past"
        );
        let mut no_comment = good.clone();
        no_comment.comment.clear();
        assert_eq!(validate(&no_comment, now).unwrap_err(), "comment missing");

        let active = Silence::new(good.clone()).unwrap();
        let mut longer = good.clone();
        longer.ends_at = at("2024-01-01T13:00:00Z");
        assert!(can_update(&active, &longer, now));
        let mut moved_start = longer.clone();
        moved_start.starts_at = at("2024-01-01T10:30:00Z");
        assert!(!can_update(&active, &moved_start, now));
        let mut other_matchers = longer;
        other_matchers.matchers.pop();
        assert!(!can_update(&active, &other_matchers, now));
    }
}
