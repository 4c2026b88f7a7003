//! The in-memory window of float series that queries read.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::hashing::{self, FastMap};

use promql_parser::label::{MatchOp, Matcher};

use crate::labels::{Labels, METRIC_NAME};
use crate::samples::{Cursor, Samples};
use crate::value::is_stale_marker;

/// Index of a series inside [`Storage`]; only valid until the next truncation.
pub(crate) type SeriesId = u32;

/// One stored series: its labels and samples sorted by time.
#[derive(Debug)]
pub(crate) struct StoredSeries {
    pub labels: Labels,
    /// Ascending; stale markers kept as values.
    samples: Samples,
}

impl StoredSeries {
    /// Fills `out` with the samples with `start < t <= end`, stale markers
    /// removed.
    pub fn window_into(&self, start: i64, end: i64, out: &mut Vec<(i64, f64)>) {
        self.window_from(&mut self.cursor(), start, end, out);
    }

    /// As [`Self::window_into`], reading from `cursor` on (see
    /// [`Samples::window_from`]).
    pub(crate) fn window_from<'a>(
        &'a self,
        cursor: &mut Cursor<'a>,
        start: i64,
        end: i64,
        out: &mut Vec<(i64, f64)>,
    ) {
        out.clear();
        self.samples.window_from(cursor, start, end, |t, v| {
            if !is_stale_marker(v) {
                out.push((t, v));
            }
        });
    }

    /// As [`Self::at`], reading from `cursor` on when the newest sample is
    /// after `t` (a range query's earlier steps).
    pub(crate) fn at_from<'a>(
        &'a self,
        cursor: &mut Cursor<'a>,
        t: i64,
        lookback: i64,
    ) -> Option<(i64, f64)> {
        match self.samples.last() {
            Some((last, _)) if last <= t => self.at(t, lookback),
            Some(_) => {
                let mut latest = None;
                self.samples
                    .window_from(cursor, t - lookback, t, |ts, v| latest = Some((ts, v)));
                latest.filter(|(_, v)| !is_stale_marker(*v))
            }
            None => None,
        }
    }

    pub(crate) fn cursor(&self) -> Cursor<'_> {
        self.samples.cursor()
    }

    /// The latest sample with `t - lookback < ts <= t`, unless it is a stale
    /// marker: a marker ends the series at once.
    pub fn at(&self, t: i64, lookback: i64) -> Option<(i64, f64)> {
        let (ts, v) = match self.samples.last() {
            // Usually the newest sample is the one.
            Some((last, v)) if last <= t => (last, v),
            Some(_) => self.samples.iter().take_while(|(ts, _)| *ts <= t).last()?,
            None => return None,
        };
        if ts <= t - lookback || is_stale_marker(v) {
            return None;
        }
        Some((ts, v))
    }

    #[cfg(test)]
    fn all(&self) -> Vec<(i64, f64)> {
        self.samples.iter().collect()
    }
}

/// Passes a [`Storage`] key through: it is already a seeded hash.
#[derive(Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed; fold anything else in all the same.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

/// Series in memory, with an index by metric name.
#[derive(Debug)]
pub struct Storage {
    series: Vec<StoredSeries>,
    /// Series by the seeded hash of their label pairs ([`Storage::key`]):
    /// 16 bytes an entry instead of a label set's 24, and a series already
    /// stored is found from the wire's pairs without building its labels.
    by_key: HashMap<u64, SeriesId, BuildHasherDefault<KeyHasher>>,
    /// Series whose key another label set held first (a collision, so
    /// almost always empty); always checked by full label comparison.
    collided: FastMap<Labels, SeriesId>,
    seed: u64,
    /// Reused buffer for hashing label pairs.
    scratch: Vec<u8>,
    /// Series ids per metric name, kept sorted by labels so selections come
    /// out in Prometheus' order (which topk ties and limitk depend on).
    by_name: HashMap<Box<str>, Vec<SeriesId>>,
    /// Series without a metric name (rare; only reachable by label matchers).
    nameless: Vec<SeriesId>,
    samples: usize,
}

impl Default for Storage {
    fn default() -> Self {
        Storage {
            series: Vec::new(),
            by_key: HashMap::default(),
            collided: hashing::fast_map(),
            // Label sets come from outside: a per-storage seed keeps a sender
            // from crafting keys that collide (which would only slow lookups).
            seed: hashing::random_seed(),
            scratch: Vec::new(),
            by_name: HashMap::new(),
            nameless: Vec::new(),
            samples: 0,
        }
    }
}

impl Storage {
    pub fn new() -> Self {
        Storage::default()
    }

    /// Adds a sample. Out-of-order samples are inserted in place; a sample
    /// at an existing timestamp replaces the old one.
    pub fn append(&mut self, labels: &Labels, t_ms: i64, v: f64) {
        let id = self.id_of(labels.raw_iter(), || labels.clone());
        self.push_sample(id, t_ms, v);
    }

    /// Adds samples of a series given as label pairs in wire order, building
    /// its label set only when the series is new. Pairs that are not sorted
    /// by name, repeat a name or hold an empty value are normalised as
    /// [`Labels::from_pairs`] does.
    pub fn append_pairs(
        &mut self,
        pairs: &[(&str, &str)],
        samples: impl IntoIterator<Item = (i64, f64)>,
    ) {
        let canonical =
            pairs.windows(2).all(|w| w[0].0 < w[1].0) && pairs.iter().all(|(_, v)| !v.is_empty());
        let id = if canonical {
            let raw = pairs.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes()));
            self.id_of(raw, || Labels::from_pairs(pairs.iter().copied()))
        } else {
            let labels = Labels::from_pairs(pairs.iter().copied());
            self.id_of(labels.raw_iter(), || labels.clone())
        };
        for (t_ms, v) in samples {
            self.push_sample(id, t_ms, v);
        }
    }

    /// The id of the series with these pairs (sorted, unique, non-empty),
    /// added if new; `labels` builds its label set only when needed.
    fn id_of<'a>(
        &mut self,
        pairs: impl Iterator<Item = (&'a [u8], &'a [u8])> + Clone,
        labels: impl Fn() -> Labels,
    ) -> SeriesId {
        let key = self.key(pairs.clone());
        match self.find(key, pairs, &labels) {
            Some(id) => id,
            None => self.insert_series(key, labels()),
        }
    }

    fn push_sample(&mut self, id: SeriesId, t_ms: i64, v: f64) {
        if self.series[id as usize].samples.insert(t_ms, v) {
            self.samples += 1;
        }
    }

    /// The seeded hash of label pairs in name order.
    fn key<'a>(&mut self, pairs: impl Iterator<Item = (&'a [u8], &'a [u8])>) -> u64 {
        self.scratch.clear();
        for (n, v) in pairs {
            self.scratch.extend_from_slice(n);
            self.scratch.push(0xff);
            self.scratch.extend_from_slice(v);
            self.scratch.push(0xff);
        }
        xxhash_rust::xxh3::xxh3_64_with_seed(&self.scratch, self.seed)
    }

    /// The stored series with these pairs (sorted, unique, non-empty);
    /// `labels` builds them for the rare look into the collision map.
    fn find<'a>(
        &self,
        key: u64,
        pairs: impl Iterator<Item = (&'a [u8], &'a [u8])>,
        labels: impl FnOnce() -> Labels,
    ) -> Option<SeriesId> {
        let id = *self.by_key.get(&key)?;
        let mut stored = self.series[id as usize].labels.raw_iter();
        let same = pairs
            .into_iter()
            .all(|(n, v)| stored.next().is_some_and(|(sn, sv)| sn == n && sv == v))
            && stored.next().is_none();
        if same {
            return Some(id);
        }
        self.collided.get(&labels()).copied()
    }

    fn index_key(&mut self, key: u64, labels: &Labels, id: SeriesId) {
        match self.by_key.entry(key) {
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(id);
            }
            std::collections::hash_map::Entry::Occupied(_) => {
                self.collided.insert(labels.clone(), id);
            }
        }
    }

    fn insert_series(&mut self, key: u64, labels: Labels) -> SeriesId {
        let id = self.series.len() as SeriesId;
        self.index_key(key, &labels, id);
        let list = match labels.metric_name() {
            Some(name) => self.by_name.entry(Box::from(name)).or_default(),
            None => &mut self.nameless,
        };
        let series = &self.series;
        let pos = list.partition_point(|other| series[*other as usize].labels < labels);
        list.insert(pos, id);
        self.series.push(StoredSeries {
            labels,
            samples: Samples::default(),
        });
        id
    }

    /// Drops samples older than `t_ms` and series left without samples.
    pub fn truncate_before(&mut self, t_ms: i64) {
        let mut removed_series = false;
        for s in &mut self.series {
            let cut = s.samples.drop_before(t_ms);
            self.samples -= cut;
            if cut > 0 && s.samples.is_empty() {
                removed_series = true;
            }
        }
        if removed_series {
            self.series.retain(|s| !s.samples.is_empty());
            self.rebuild_index();
        }
    }

    fn rebuild_index(&mut self) {
        self.by_key.clear();
        self.collided.clear();
        self.by_name.clear();
        self.nameless.clear();
        for i in 0..self.series.len() {
            let id = i as SeriesId;
            let labels = self.series[i].labels.clone();
            let key = self.key(labels.raw_iter());
            self.index_key(key, &labels, id);
        }
        for (i, s) in self.series.iter().enumerate() {
            let id = i as SeriesId;
            match s.labels.metric_name() {
                Some(name) => self.by_name.entry(Box::from(name)).or_default().push(id),
                None => self.nameless.push(id),
            }
        }
        let series = &self.series;
        for list in self
            .by_name
            .values_mut()
            .chain(std::iter::once(&mut self.nameless))
        {
            list.sort_by(|a, b| series[*a as usize].labels.cmp(&series[*b as usize].labels));
        }
    }

    /// Removes every series.
    pub fn clear(&mut self) {
        *self = Storage::default();
    }

    pub fn series_count(&self) -> usize {
        self.series.len()
    }

    pub fn sample_count(&self) -> usize {
        self.samples
    }

    /// Approximate heap bytes held, for checking the per-series budget.
    pub fn approximate_bytes(&self) -> usize {
        let per_series: usize = self
            .series
            .iter()
            .map(|s| {
                s.labels.heap_bytes()
                    + s.samples.heap_bytes()
                    + std::mem::size_of::<StoredSeries>()
                    // by_key entry and the by_name id.
                    + std::mem::size_of::<(u64, SeriesId)>()
                    + std::mem::size_of::<SeriesId>()
            })
            .sum();
        per_series + self.by_name.keys().map(|k| k.len() + 48).sum::<usize>()
    }

    /// Labels of the series matching all `matchers` that hold a sample
    /// (stale markers aside) in `[start_ms, end_ms]`, in label order: what
    /// Prometheus' `/api/v1/series` lists.
    pub fn matching_series(&self, matchers: &[Matcher], start_ms: i64, end_ms: i64) -> Vec<Labels> {
        let mut window = Vec::new();
        self.select(matchers)
            .into_iter()
            .filter_map(|id| {
                let series = &self.series[id as usize];
                window.clear();
                series.window_into(start_ms.saturating_sub(1), end_ms, &mut window);
                (!window.is_empty()).then(|| series.labels.clone())
            })
            .collect()
    }

    /// The time of the oldest sample held, if any: where the window starts.
    pub fn oldest_sample_ms(&self) -> Option<i64> {
        self.series
            .iter()
            .filter_map(|s| s.samples.iter().next().map(|(t, _)| t))
            .min()
    }

    pub(crate) fn series(&self, id: SeriesId) -> &StoredSeries {
        &self.series[id as usize]
    }

    /// Ids of series matching all `matchers`, in label order.
    pub(crate) fn select(&self, matchers: &[Matcher]) -> Vec<SeriesId> {
        let name_eq = matchers
            .iter()
            .find(|m| m.name == METRIC_NAME && matches!(m.op, MatchOp::Equal));
        let mut ids: Vec<SeriesId> = match name_eq {
            Some(m) => self
                .by_name
                .get(m.value.as_str())
                .cloned()
                .unwrap_or_default(),
            None => {
                // Filter on the (few) names first, then merge their lists.
                let name_matchers: Vec<&Matcher> =
                    matchers.iter().filter(|m| m.name == METRIC_NAME).collect();
                let mut ids: Vec<SeriesId> = Vec::new();
                let mut lists = 0;
                for (name, list) in &self.by_name {
                    if name_matchers.iter().all(|m| m.is_match(name)) {
                        ids.extend_from_slice(list);
                        lists += 1;
                    }
                }
                if name_matchers.iter().all(|m| m.is_match("")) {
                    ids.extend_from_slice(&self.nameless);
                    lists += 1;
                }
                if lists > 1 {
                    ids.sort_by(|a, b| {
                        self.series[*a as usize]
                            .labels
                            .cmp(&self.series[*b as usize].labels)
                    });
                }
                ids
            }
        };
        ids.retain(|id| {
            let labels = &self.series[*id as usize].labels;
            matchers
                .iter()
                .all(|m| m.is_match(labels.get_or_empty(&m.name)))
        });
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::stale_marker;

    fn labels(name: &str) -> Labels {
        Labels::from_pairs([("__name__", name), ("job", "a")])
    }

    #[test]
    fn out_of_order_samples_are_inserted_in_time_order() {
        let mut s = Storage::new();
        let l = labels("m");
        s.append(&l, 20, 2.0);
        s.append(&l, 10, 1.0);
        s.append(&l, 30, 3.0);
        assert_eq!(s.series(0).all(), vec![(10, 1.0), (20, 2.0), (30, 3.0)]);
        assert_eq!(s.sample_count(), 3);
    }

    #[test]
    fn a_second_write_at_the_same_timestamp_wins() {
        let mut s = Storage::new();
        let l = labels("m");
        s.append(&l, 10, 1.0);
        s.append(&l, 20, 2.0);
        s.append(&l, 10, 5.0);
        assert_eq!(s.series(0).all(), vec![(10, 5.0), (20, 2.0)]);
        assert_eq!(s.sample_count(), 2);
    }

    #[test]
    fn truncation_drops_old_samples_and_empty_series() {
        let mut s = Storage::new();
        s.append(&labels("old"), 10, 1.0);
        s.append(&labels("new"), 10, 1.0);
        s.append(&labels("new"), 30, 1.0);
        s.truncate_before(20);
        assert_eq!(s.series_count(), 1);
        assert_eq!(s.sample_count(), 1);
        let m = Matcher::new(MatchOp::Equal, "__name__", "new");
        assert_eq!(s.select(&[m]).len(), 1);
    }

    #[test]
    fn a_stale_marker_hides_the_series_at_once() {
        let mut s = Storage::new();
        let l = labels("m");
        s.append(&l, 10, 1.0);
        s.append(&l, 20, stale_marker());
        let series = s.series(0);
        assert_eq!(series.at(15, 300_000), Some((10, 1.0)));
        assert_eq!(series.at(25, 300_000), None);
        let mut window = Vec::new();
        series.window_into(0, 30, &mut window);
        assert_eq!(window, vec![(10, 1.0)]);
    }

    #[test]
    fn wire_pairs_find_the_series_their_label_set_stored() {
        let mut s = Storage::new();
        let l = labels("m");
        s.append(&l, 10, 1.0);
        s.append_pairs(&[("__name__", "m"), ("job", "a")], [(20, 2.0)]);
        // Unsorted, with an empty value and a repeated name: normalised.
        s.append_pairs(
            &[("job", "b"), ("x", ""), ("__name__", "m"), ("job", "a")],
            [(30, 3.0)],
        );
        assert_eq!(s.series_count(), 1);
        assert_eq!(s.series(0).all(), vec![(10, 1.0), (20, 2.0), (30, 3.0)]);
        s.append_pairs(&[("__name__", "m"), ("job", "c")], [(10, 1.0)]);
        assert_eq!(s.series_count(), 2);
    }

    #[test]
    fn label_sets_whose_keys_collide_stay_apart() {
        let mut s = Storage::new();
        let (a, b) = (labels("a"), labels("b"));
        let id_a = s.insert_series(7, a.clone());
        let id_b = s.insert_series(7, b.clone());
        assert_ne!(id_a, id_b);
        assert_eq!(s.find(7, a.raw_iter(), || a.clone()), Some(id_a));
        assert_eq!(s.find(7, b.raw_iter(), || b.clone()), Some(id_b));
        let c = labels("c");
        assert_eq!(s.find(7, c.raw_iter(), || c.clone()), None);
    }
}
