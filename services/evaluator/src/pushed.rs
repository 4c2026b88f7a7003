//! Pushed groups as rules see them: as if Prometheus scraped a
//! Pushgateway every evaluation interval with `honor_labels: true`. Each
//! scrape writes every pushed series into the window at the scrape time,
//! so a pushed value stays current until its group is replaced or deleted
//! (no staleness from age), and a series that a later push or a delete
//! removed gets a stale marker at the next scrape, as a scrape that no
//! longer finds it would write.
//!
//! Scrapes are at multiples of the interval and see exactly the pushes
//! made at or before them, so the window is the same whether the pushes
//! were read live or replayed after a restart: the runner reads
//! `closeloop.pushgroups` from its start, and the first scrape after a
//! restart back-fills the whole window.

use closeloop_core::metadata::MetadataView;
use closeloop_core::pushed::groups::PushGroups;
use closeloop_core::EventPayload;
use closeloop_promql::{stale_marker, Labels, Storage};
use std::collections::HashSet;

pub struct PushedScrapes {
    interval_ms: i64,
    groups: PushGroups,
    /// Pushes not yet visible to a scrape: (time, arrival order, event).
    pending: Vec<(i64, u64, EventPayload)>,
    arrivals: u64,
    last_scrape_ms: Option<i64>,
    /// What the last scrape wrote, for stale markers.
    last_series: HashSet<Labels>,
}

impl PushedScrapes {
    pub fn new(interval_ms: i64) -> Self {
        PushedScrapes {
            interval_ms: interval_ms.max(1),
            groups: PushGroups::default(),
            pending: Vec::new(),
            arrivals: 0,
            last_scrape_ms: None,
            last_series: HashSet::new(),
        }
    }

    /// Each family the pushed groups expose (push-time gauges included) as
    /// metadata: name, and type, help and unit as Prometheus would read
    /// them when scraping a Pushgateway.
    pub fn for_each_family(&self, mut visit: impl FnMut(&str, MetadataView<'_>)) {
        for group in self.groups.groups() {
            for (family, _) in group.exposed_families() {
                let view = MetadataView {
                    metric_type: family.kind.api_name(),
                    help: &family.help,
                    unit: "",
                };
                visit(&family.name, view);
            }
        }
    }

    /// Queues one event of `closeloop.pushgroups`; others are ignored.
    /// Returns its time when it was a push event.
    pub fn record(&mut self, payload: &EventPayload) -> Option<i64> {
        let at = match payload {
            EventPayload::PushGroupReplaced(e) => e.pushed_at_ms,
            EventPayload::PushGroupDeleted(e) => e.deleted_at_ms,
            EventPayload::PushGroupRejected(e) => e.rejected_at_ms,
            _ => return None,
        };
        self.arrivals += 1;
        self.pending.push((at, self.arrivals, payload.clone()));
        Some(at)
    }

    /// Writes every scrape at or before `until_ms` into `storage`; the
    /// first scrape is the first one at or after `from_ms` (the oldest
    /// time the window needs).
    pub fn scrape_until(&mut self, from_ms: i64, until_ms: i64, storage: &mut Storage) {
        let first = match self.last_scrape_ms {
            Some(last) => last + self.interval_ms,
            None => from_ms.div_euclid(self.interval_ms) * self.interval_ms + self.interval_ms,
        };
        if first > until_ms {
            return;
        }
        // Partitions interleave, so pushes can be read slightly out of
        // time order; arrival order breaks ties within one group.
        self.pending.sort_by_key(|(at, arrival, _)| (*at, *arrival));
        let mut scrape = first;
        while scrape <= until_ms {
            let due = self.pending.partition_point(|(at, _, _)| *at <= scrape);
            for (_, _, event) in self.pending.drain(..due) {
                self.groups.apply(&event);
            }
            self.write_scrape(scrape, storage);
            self.last_scrape_ms = Some(scrape);
            scrape += self.interval_ms;
            // Nothing pushed and nothing left to mark stale: jump ahead.
            if self.last_series.is_empty() && self.groups.is_empty() {
                let next_push = self.pending.first().map(|(at, _, _)| *at);
                let skip_to = next_push.unwrap_or(until_ms).min(until_ms);
                let aligned = skip_to.div_euclid(self.interval_ms) * self.interval_ms;
                if aligned > scrape {
                    self.last_scrape_ms = Some(aligned - self.interval_ms);
                    scrape = aligned;
                }
            }
        }
    }

    fn write_scrape(&mut self, at_ms: i64, storage: &mut Storage) {
        let mut now = HashSet::with_capacity(self.last_series.len());
        self.groups.for_each_series(|pairs, value| {
            let labels = Labels::from_pairs(pairs.iter().copied());
            storage.append(&labels, at_ms, value);
            now.insert(labels);
        });
        for gone in self.last_series.difference(&now) {
            storage.append(gone, at_ms, stale_marker());
        }
        self.last_series = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use closeloop_core::events::{PushGroupDeleted, PushGroupReplaced};
    use closeloop_core::pushed::float::PromFloat;
    use closeloop_core::pushed::{
        GroupingKey, MetricKind, PushedFamily, PushedMetric, PushedValue,
    };
    use closeloop_promql::{eval_instant, parse, EvalOptions, Value};

    fn job() -> GroupingKey {
        [("job".to_string(), "backup".to_string())].into()
    }

    fn push(value: f64, at: i64) -> EventPayload {
        EventPayload::PushGroupReplaced(PushGroupReplaced {
            grouping: job(),
            whole_group: true,
            families: vec![PushedFamily {
                name: "backup_ok".into(),
                help: String::new(),
                kind: MetricKind::Gauge,
                metrics: vec![PushedMetric {
                    labels: Default::default(),
                    value: PushedValue::Value(PromFloat(value)),
                    timestamp_ms: None,
                }],
            }],
            pushed_at_ms: at,
        })
    }

    fn query(storage: &Storage, expr: &str, at: i64) -> Vec<f64> {
        match eval_instant(storage, &parse(expr).unwrap(), at, &EvalOptions::default()).unwrap() {
            Value::Vector(v) => v.into_iter().map(|s| s.value).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_pushed_value_stays_current_for_hours_until_deleted() {
        let mut scrapes = PushedScrapes::new(15_000);
        let mut storage = Storage::new();
        scrapes.record(&push(1.0, 10_000));
        scrapes.scrape_until(0, 3 * 3_600_000, &mut storage);
        // Far beyond the 5m lookback, the push is still the value.
        assert_eq!(query(&storage, "backup_ok", 3 * 3_600_000), [1.0]);
        assert_eq!(query(&storage, "push_time_seconds", 3 * 3_600_000), [10.0]);
        // Before the push, nothing.
        assert!(query(&storage, "backup_ok", 9_999).is_empty());

        scrapes.record(&EventPayload::PushGroupDeleted(PushGroupDeleted {
            grouping: job(),
            deleted_at_ms: 3 * 3_600_000 + 1,
        }));
        scrapes.scrape_until(0, 3 * 3_600_000 + 30_000, &mut storage);
        // The next scrape wrote a stale marker: gone at once.
        assert!(query(&storage, "backup_ok", 3 * 3_600_000 + 15_000).is_empty());
    }

    #[test]
    fn scrapes_see_only_pushes_made_before_them() {
        let mut live = PushedScrapes::new(10_000);
        let mut live_storage = Storage::new();
        live.record(&push(1.0, 5_000));
        live.scrape_until(0, 20_000, &mut live_storage);
        live.record(&push(2.0, 25_000));
        live.scrape_until(0, 60_000, &mut live_storage);

        // The same pushes read at once (a replay) give the same window.
        let mut replay = PushedScrapes::new(10_000);
        let mut replay_storage = Storage::new();
        replay.record(&push(1.0, 5_000));
        replay.record(&push(2.0, 25_000));
        replay.scrape_until(0, 60_000, &mut replay_storage);
        for at in [10_000, 20_000, 30_000, 60_000] {
            assert_eq!(
                query(&live_storage, "backup_ok", at),
                query(&replay_storage, "backup_ok", at),
                "at {at}"
            );
        }
        assert_eq!(query(&replay_storage, "backup_ok", 20_000), [1.0]);
        assert_eq!(query(&replay_storage, "backup_ok", 30_000), [2.0]);
    }
}
