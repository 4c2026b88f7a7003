//! The groups pushes form, folded in log order with the Pushgateway's
//! semantics (prometheus/pushgateway 1.x `storage/diskmetricstore.go`):
//! `PUT` replaces the group's families, `POST` those of the same name,
//! `DELETE` drops the group; `push_time_seconds` and
//! `push_failure_time_seconds` are kept per group; every metric carries
//! the grouping labels (they win over pushed ones) and an `instance`
//! label, empty when neither has one. [`PushGroups::check`] is the
//! consistency check the Pushgateway runs before it accepts a push.

use super::float::{go_format, PromFloat};
use super::{GroupingKey, MetricKind, PushedFamily, PushedMetric, PushedValue};
use crate::events::{PushGroupDeleted, PushGroupRejected, PushGroupReplaced};
use crate::EventPayload;
use std::collections::{BTreeMap, HashMap, HashSet};

pub const PUSH_TIME: &str = "push_time_seconds";
pub const PUSH_TIME_HELP: &str =
    "Last Unix time when changing this group in the Pushgateway succeeded.";
pub const PUSH_FAILURE_TIME: &str = "push_failure_time_seconds";
pub const PUSH_FAILURE_TIME_HELP: &str =
    "Last Unix time when changing this group in the Pushgateway failed.";

/// One family as the group holds it, with the time of the push that set
/// it (the API's `time_stamp`).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredFamily {
    pub family: PushedFamily,
    pub pushed_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PushGroup {
    pub grouping: GroupingKey,
    /// By family name; the two push-time families are not among them.
    pub families: BTreeMap<String, StoredFamily>,
    /// Last successful change (unix ms); `None` shows as 0.
    pub push_time_ms: Option<i64>,
    /// Last refused change; `None` shows as 0.
    pub push_failure_time_ms: Option<i64>,
}

impl PushGroup {
    fn new(grouping: &GroupingKey) -> Self {
        PushGroup {
            grouping: grouping.clone(),
            families: BTreeMap::new(),
            push_time_ms: None,
            push_failure_time_ms: None,
        }
    }

    /// `false` when the last change was refused (the API's
    /// `last_push_successful`).
    pub fn last_push_successful(&self) -> bool {
        self.push_failure_time_ms.unwrap_or(0) <= self.push_time_ms.unwrap_or(0)
    }

    /// The labels of `metric` as the Pushgateway exposes them: pushed
    /// labels, grouping labels over them, `instance` added empty if absent.
    pub fn exposed_labels(&self, metric: &PushedMetric) -> BTreeMap<String, String> {
        let mut labels = metric.labels.clone();
        for (name, value) in &self.grouping {
            labels.insert(name.clone(), value.clone());
        }
        labels.entry("instance".into()).or_default();
        labels
    }

    /// The two push-time gauges, as families.
    pub fn push_time_families(&self) -> [(PushedFamily, i64); 2] {
        let gauge = |name: &str, help: &str, at: Option<i64>| PushedFamily {
            name: name.into(),
            help: help.into(),
            kind: MetricKind::Gauge,
            metrics: vec![PushedMetric {
                labels: BTreeMap::new(),
                value: PushedValue::Value(PromFloat(at.unwrap_or(0) as f64 / 1000.0)),
                timestamp_ms: None,
            }],
        };
        [
            (
                gauge(PUSH_TIME, PUSH_TIME_HELP, self.push_time_ms),
                self.push_time_ms.unwrap_or(0),
            ),
            (
                gauge(
                    PUSH_FAILURE_TIME,
                    PUSH_FAILURE_TIME_HELP,
                    self.push_failure_time_ms,
                ),
                self.push_failure_time_ms.or(self.push_time_ms).unwrap_or(0),
            ),
        ]
    }

    /// Every family the group exposes, push-time gauges included.
    pub fn exposed_families(&self) -> Vec<(PushedFamily, i64)> {
        let mut all: Vec<(PushedFamily, i64)> = self
            .families
            .values()
            .map(|f| (f.family.clone(), f.pushed_at_ms))
            .collect();
        all.extend(self.push_time_families());
        all
    }
}

/// Every group, keyed by its grouping labels.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PushGroups {
    groups: BTreeMap<GroupingKey, PushGroup>,
}

impl PushGroups {
    pub fn get(&self, grouping: &GroupingKey) -> Option<&PushGroup> {
        self.groups.get(grouping)
    }

    pub fn groups(&self) -> impl Iterator<Item = &PushGroup> {
        self.groups.values()
    }

    pub fn len(&self) -> usize {
        self.groups.len()
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Folds one event of `closeloop.pushgroups`; `false` for any other.
    pub fn apply(&mut self, payload: &EventPayload) -> bool {
        match payload {
            EventPayload::PushGroupReplaced(e) => self.replace(e),
            EventPayload::PushGroupDeleted(e) => self.delete(e),
            EventPayload::PushGroupRejected(e) => self.reject(e),
            _ => return false,
        }
        true
    }

    pub fn replace(&mut self, push: &PushGroupReplaced) {
        let group = self
            .groups
            .entry(push.grouping.clone())
            .or_insert_with(|| PushGroup::new(&push.grouping));
        if push.whole_group {
            group.families.clear();
        }
        for family in &push.families {
            group.families.insert(
                family.name.clone(),
                StoredFamily {
                    family: family.clone(),
                    pushed_at_ms: push.pushed_at_ms,
                },
            );
        }
        group.push_time_ms = Some(push.pushed_at_ms);
    }

    pub fn delete(&mut self, delete: &PushGroupDeleted) {
        self.groups.remove(&delete.grouping);
    }

    pub fn reject(&mut self, rejected: &PushGroupRejected) {
        self.groups
            .entry(rejected.grouping.clone())
            .or_insert_with(|| PushGroup::new(&rejected.grouping))
            .push_failure_time_ms = Some(rejected.rejected_at_ms);
    }

    /// Whether accepting `push` leaves every group consistent, as the
    /// Pushgateway checks by gathering all groups with the push applied:
    /// no timestamps, one type per metric name across groups, no series
    /// twice, no `_count`/`_sum`/`_bucket` name clashing with a summary or
    /// histogram. The error says what clashed.
    pub fn check(&self, push: &PushGroupReplaced) -> Result<(), String> {
        if push
            .families
            .iter()
            .any(|f| f.metrics.iter().any(|m| m.timestamp_ms.is_some()))
        {
            return Err("pushed metrics must not have timestamps".into());
        }
        let mut tentative = self
            .groups
            .get(&push.grouping)
            .cloned()
            .unwrap_or_else(|| PushGroup::new(&push.grouping));
        if push.whole_group {
            tentative.families.clear();
        }
        for family in &push.families {
            tentative.families.insert(
                family.name.clone(),
                StoredFamily {
                    family: family.clone(),
                    pushed_at_ms: push.pushed_at_ms,
                },
            );
        }
        tentative.push_time_ms = Some(push.pushed_at_ms);
        let others = self.groups.values().filter(|g| g.grouping != push.grouping);
        let mut gathered = Gathered::default();
        // The pushed group first: a clash is then reported against what
        // is already there, as "is not a <type of the existing>" reads.
        for group in others.chain(std::iter::once(&tentative)) {
            for (family, _) in group.exposed_families() {
                gathered.add(group, &family)?;
            }
        }
        gathered.check_suffix_collisions()
    }

    /// Every series a scrape of the groups would yield, with its value:
    /// summaries and histograms expanded into `_sum`, `_count`,
    /// `{quantile}` and `_bucket{le}` (with a `+Inf` bucket as the text
    /// exposition always writes), push-time gauges included, empty label
    /// values dropped. Labels are sorted by name, `__name__` among them.
    pub fn for_each_series(&self, mut visit: impl FnMut(&[(&str, &str)], f64)) {
        let mut pairs: Vec<(String, String)> = Vec::new();
        let mut emit = |base: &BTreeMap<String, String>,
                        name: &str,
                        extra: Option<(&str, String)>,
                        value: f64,
                        pairs: &mut Vec<(String, String)>| {
            pairs.clear();
            pairs.push(("__name__".into(), name.into()));
            pairs.extend(
                base.iter()
                    .filter(|(_, v)| !v.is_empty())
                    .map(|(n, v)| (n.clone(), v.clone())),
            );
            if let Some((n, v)) = extra {
                pairs.retain(|(existing, _)| existing != n);
                pairs.push((n.into(), v));
            }
            pairs.sort();
            let borrowed: Vec<(&str, &str)> = pairs
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            visit(&borrowed, value);
        };
        for group in self.groups.values() {
            for (family, _) in group.exposed_families() {
                for metric in &family.metrics {
                    let labels = group.exposed_labels(metric);
                    let name = family.name.as_str();
                    match &metric.value {
                        PushedValue::Value(v) => emit(&labels, name, None, v.0, &mut pairs),
                        PushedValue::Summary {
                            count,
                            sum,
                            quantiles,
                        } => {
                            for (q, v) in quantiles {
                                let quantile = Some(("quantile", go_format(q.0)));
                                emit(&labels, name, quantile, v.0, &mut pairs);
                            }
                            emit(&labels, &format!("{name}_sum"), None, sum.0, &mut pairs);
                            emit(&labels, &format!("{name}_count"), None, count.0, &mut pairs);
                        }
                        PushedValue::Histogram {
                            count,
                            sum,
                            buckets,
                        } => {
                            let bucket = format!("{name}_bucket");
                            for (le, c) in buckets {
                                emit(
                                    &labels,
                                    &bucket,
                                    Some(("le", go_format(le.0))),
                                    c.0,
                                    &mut pairs,
                                );
                            }
                            if !buckets.iter().any(|(le, _)| le.0 == f64::INFINITY) {
                                emit(
                                    &labels,
                                    &bucket,
                                    Some(("le", "+Inf".into())),
                                    count.0,
                                    &mut pairs,
                                );
                            }
                            emit(&labels, &format!("{name}_sum"), None, sum.0, &mut pairs);
                            emit(&labels, &format!("{name}_count"), None, count.0, &mut pairs);
                        }
                    }
                }
            }
        }
    }
}

/// What a gather across all groups has seen so far.
#[derive(Default)]
struct Gathered {
    kinds: HashMap<String, MetricKind>,
    series: HashSet<(String, Vec<(String, String)>)>,
}

impl Gathered {
    fn add(&mut self, group: &PushGroup, family: &PushedFamily) -> Result<(), String> {
        let kind = *self.kinds.entry(family.name.clone()).or_insert(family.kind);
        for metric in &family.metrics {
            let labels = group.exposed_labels(metric);
            if kind != family.kind || !metric.value.fits(kind) {
                return Err(format!(
                    "collected metric {:?} {} is not a {}",
                    family.name,
                    show_labels(&labels),
                    kind.text_name()
                ));
            }
            let key = (
                family.name.clone(),
                labels.into_iter().collect::<Vec<(String, String)>>(),
            );
            if !self.series.insert(key.clone()) {
                return Err(format!(
                    "collected metric {:?} {} was collected before with the same name and label values",
                    family.name,
                    show_labels(&key.1.iter().cloned().collect())
                ));
            }
        }
        Ok(())
    }

    fn check_suffix_collisions(&self) -> Result<(), String> {
        for (name, kind) in &self.kinds {
            let suffixes: &[&str] = match kind {
                MetricKind::Summary => &["_count", "_sum"],
                MetricKind::Histogram => &["_count", "_sum", "_bucket"],
                _ => continue,
            };
            for suffix in suffixes {
                let clash = format!("{name}{suffix}");
                if self.kinds.contains_key(&clash) {
                    return Err(format!(
                        "collected metric named {clash:?} collides with previously collected {} named {name:?}",
                        kind.text_name()
                    ));
                }
            }
        }
        Ok(())
    }
}

fn show_labels(labels: &BTreeMap<String, String>) -> String {
    let inner: Vec<String> = labels.iter().map(|(n, v)| format!("{n}={v:?}")).collect();
    format!("{{{}}}", inner.join(", "))
}

#[cfg(test)]
#[path = "groups_tests.rs"]
mod tests;
