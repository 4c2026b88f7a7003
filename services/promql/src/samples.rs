//! One series' samples, packed: timestamps as delta-of-delta varints,
//! values as plain floats.
//!
//! Scrapes come at a steady interval, so the delta of deltas is nearly
//! always a few milliseconds of jitter: one byte per timestamp instead of
//! eight. Values stay uncompressed: they are read on every evaluation and
//! change on every scrape in the data that matters.

/// Free slots left after a truncation: room for the samples that arrive
/// before the next one (one scrape per evaluation is the usual pace).
const PUSH_HEADROOM: usize = 2;

/// Samples in ascending time order, each timestamp unique.
#[derive(Debug, Default)]
pub(crate) struct Samples {
    /// Zigzag LEB128 delta-of-deltas; the first sample's entry is its time
    /// itself (delta from 0 with a previous delta of 0).
    times: Vec<u8>,
    values: Vec<f64>,
    last_t: i64,
    last_delta: i64,
}

impl Samples {
    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn last(&self) -> Option<(i64, f64)> {
        self.values.last().map(|v| (self.last_t, *v))
    }

    /// Timestamps in order.
    pub fn times(&self) -> Times<'_> {
        Times {
            bytes: &self.times,
            t: 0,
            delta: 0,
        }
    }

    /// `(t, value)` pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (i64, f64)> + '_ {
        self.times().zip(self.values.iter().copied())
    }

    /// Appends a sample later than every stored one.
    pub fn push(&mut self, t: i64, v: f64) {
        debug_assert!(self.is_empty() || t > self.last_t);
        let (prev_t, prev_delta) = if self.is_empty() {
            (0, 0)
        } else {
            (self.last_t, self.last_delta)
        };
        let delta = t.wrapping_sub(prev_t);
        if self.values.len() == self.values.capacity() {
            // Grow by a quarter, not double: a window holds a steady number
            // of samples and doubling would waste up to half the memory.
            let more = self.values.len() / 4 + 4;
            self.values.reserve_exact(more);
            self.times.reserve_exact(more + 8);
        }
        write_varint(&mut self.times, zigzag(delta.wrapping_sub(prev_delta)));
        self.values.push(v);
        self.last_t = t;
        self.last_delta = delta;
    }

    /// Inserts or replaces a sample at any time (a later one is a push).
    /// Returns whether a sample was added (false: a value was replaced).
    pub fn insert(&mut self, t: i64, v: f64) -> bool {
        if self.is_empty() || t > self.last_t {
            self.push(t, v);
            return true;
        }
        if t == self.last_t {
            if let Some(last) = self.values.last_mut() {
                *last = v;
            }
            return false;
        }
        // Samples read from several partitions of the log arrive a little
        // out of order all the time, so this must not rebuild the series:
        // find the place, then re-encode only the entries whose
        // delta-of-delta changes (the new one and the two after it).
        let (index, at, mut rest) = self.seek(t);
        if rest.clone().next() == Some(t) {
            self.values[index] = v;
            return false;
        }
        let (mut prev_t, mut prev_delta) = (rest.t, rest.delta);
        // The entry at `at` and the one after it follow the new sample.
        let mut reencode = [t, 0, 0];
        let mut count = 1;
        for slot in reencode.iter_mut().skip(1) {
            match rest.next() {
                Some(ts) => {
                    *slot = ts;
                    count += 1;
                }
                None => break,
            }
        }
        let end = self.times.len() - rest.bytes.len();
        let mut buf = [0u8; 30];
        let mut len = 0;
        for ts in &reencode[..count] {
            let delta = ts.wrapping_sub(prev_t);
            len += write_varint_into(&mut buf[len..], zigzag(delta.wrapping_sub(prev_delta)));
            prev_t = *ts;
            prev_delta = delta;
        }
        self.times.splice(at..end, buf[..len].iter().copied());
        if index + 1 == self.values.len() {
            // The new sample went right before the newest one.
            self.last_delta = self.last_t.wrapping_sub(t);
        }
        self.values.insert(index, v);
        true
    }

    /// Drops the samples before `t`; returns how many.
    ///
    /// The kept samples move into allocations sized to fit (plus room for
    /// the next pushes): a window slides forever, and a vector that grew
    /// once would otherwise keep its slack for the life of the series.
    pub fn drop_before(&mut self, t: i64) -> usize {
        let (cut, at, mut rest) = self.seek(t);
        if cut == 0 {
            return 0;
        }
        if cut == self.len() {
            *self = Samples::default();
            return cut;
        }
        let kept = self.len() - cut;
        let headroom = PUSH_HEADROOM.max(kept / 16);
        let mut values = Vec::with_capacity(kept + headroom);
        values.extend_from_slice(&self.values[cut..]);
        let mut bytes = Vec::with_capacity(self.times.len() - at + headroom + 16);
        // The first kept entry becomes an absolute time; the second one's
        // delta-of-delta changes with it; the rest are copied as they are.
        let first_t = rest.next().unwrap_or(0);
        write_varint(&mut bytes, zigzag(first_t));
        if rest.next().is_some() {
            write_varint(&mut bytes, zigzag(rest.delta.wrapping_sub(first_t)));
            bytes.extend_from_slice(rest.bytes);
        }
        self.times = bytes;
        self.values = values;
        if kept == 1 {
            self.last_delta = first_t;
        }
        cut
    }

    /// A cursor at the first sample, for [`Samples::window_from`].
    pub fn cursor(&self) -> Cursor<'_> {
        Cursor {
            times: self.times(),
            index: 0,
            after: i64::MIN,
        }
    }

    /// Calls `visit` with each sample with `start < t <= end`, moving
    /// `cursor` to the first sample after `start` on the way. The windows of
    /// a range query's steps slide forward, so each step decodes only from
    /// where the last one started, not from the series' first sample; a
    /// window that starts earlier than the last one rewinds the cursor.
    pub fn window_from<'a>(
        &'a self,
        cursor: &mut Cursor<'a>,
        start: i64,
        end: i64,
        mut visit: impl FnMut(i64, f64),
    ) {
        if start < cursor.after {
            *cursor = self.cursor();
        }
        cursor.after = start;
        loop {
            let mut ahead = cursor.times.clone();
            match ahead.next() {
                Some(t) if t <= start => {
                    cursor.times = ahead;
                    cursor.index += 1;
                }
                _ => break,
            }
        }
        let mut times = cursor.times.clone();
        for value in &self.values[cursor.index..] {
            match times.next() {
                Some(t) if t <= end => visit(t, *value),
                _ => break,
            }
        }
    }

    /// Where the first sample at or after `t` is: how many come before it,
    /// the byte offset of its entry, and a decoder positioned at that entry
    /// (holding the time and delta of the sample before it).
    fn seek(&self, t: i64) -> (usize, usize, Times<'_>) {
        let mut times = self.times();
        let mut index = 0;
        loop {
            let here = times.clone();
            match times.next() {
                Some(ts) if ts < t => index += 1,
                _ => return (index, self.times.len() - here.bytes.len(), here),
            }
        }
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        self.times.capacity() + self.values.capacity() * std::mem::size_of::<f64>()
    }
}

/// A position in a series' samples that moves forward with the windows
/// read through it (see [`Samples::window_from`]).
#[derive(Clone)]
pub(crate) struct Cursor<'a> {
    /// Decoder at the first sample after `after`.
    times: Times<'a>,
    /// That sample's index.
    index: usize,
    /// Start of the last window read.
    after: i64,
}

/// Decodes timestamps front to back.
#[derive(Clone)]
pub(crate) struct Times<'a> {
    bytes: &'a [u8],
    t: i64,
    delta: i64,
}

impl Iterator for Times<'_> {
    type Item = i64;

    #[inline]
    fn next(&mut self) -> Option<i64> {
        let (dod, rest) = read_varint(self.bytes)?;
        self.bytes = rest;
        self.delta = self.delta.wrapping_add(unzigzag(dod));
        self.t = self.t.wrapping_add(self.delta);
        Some(self.t)
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn write_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Writes a varint into `out` (at least 10 bytes); returns its length.
fn write_varint_into(out: &mut [u8], mut v: u64) -> usize {
    let mut n = 0;
    while v >= 0x80 {
        out[n] = (v as u8) | 0x80;
        v >>= 7;
        n += 1;
    }
    out[n] = v as u8;
    n + 1
}

#[inline]
fn read_varint(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let first = *bytes.first()?;
    if first < 0x80 {
        return Some((first as u64, &bytes[1..]));
    }
    let mut v = 0u64;
    for (i, b) in bytes.iter().enumerate().take(10) {
        v |= ((b & 0x7f) as u64) << (7 * i);
        if b & 0x80 == 0 {
            return Some((v, &bytes[i + 1..]));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(s: &Samples) -> Vec<(i64, f64)> {
        s.iter().collect()
    }

    #[test]
    fn a_cursor_reads_the_same_windows_as_a_scan_forward_and_after_a_rewind() {
        let mut s = Samples::default();
        for i in 0..200 {
            s.push(i * 15_000 + (i % 3), i as f64);
        }
        let scan = |start: i64, end: i64| -> Vec<(i64, f64)> {
            s.iter().filter(|(t, _)| *t > start && *t <= end).collect()
        };
        let mut cursor = s.cursor();
        // Forward steps, a repeated start, a rewind, windows before and
        // after every sample.
        let starts = [
            -100_000, 0, 14_999, 15_000, 15_001, 300_000, 300_000, 1_000_000, 120_000, 2_985_002,
            2_985_003, 9_000_000,
        ];
        for start in starts {
            let end = start + 300_000;
            let mut got = Vec::new();
            s.window_from(&mut cursor, start, end, |t, v| got.push((t, v)));
            assert_eq!(got, scan(start, end), "window ({start}, {end}]");
        }
    }

    #[test]
    fn extreme_and_irregular_timestamps_round_trip() {
        let times = [
            i64::MIN,
            -5,
            0,
            1,
            15_000,
            30_003,
            44_990,
            1_700_000_000_000,
            i64::MAX - 1,
            i64::MAX,
        ];
        let mut s = Samples::default();
        for (i, t) in times.iter().enumerate() {
            s.push(*t, i as f64);
        }
        let expected: Vec<(i64, f64)> = times
            .iter()
            .enumerate()
            .map(|(i, t)| (*t, i as f64))
            .collect();
        assert_eq!(collect(&s), expected);
        assert_eq!(s.last(), Some((i64::MAX, 9.0)));
    }

    #[test]
    fn steady_scrapes_take_one_byte_per_timestamp() {
        let mut s = Samples::default();
        for i in 0..40i64 {
            s.push(1_700_000_000_000 + i * 15_000 + (i % 3), i as f64);
        }
        // The first time and first delta take a few bytes, the rest one each.
        assert!(s.times.len() <= 40 + 10, "{} bytes", s.times.len());
    }

    #[test]
    fn out_of_order_inserts_and_truncation_keep_order() {
        let mut s = Samples::default();
        for t in [30, 10, 50, 20, 40] {
            assert!(s.insert(t, t as f64));
        }
        assert!(!s.insert(20, 2.5));
        assert_eq!(
            collect(&s),
            vec![(10, 10.0), (20, 2.5), (30, 30.0), (40, 40.0), (50, 50.0)]
        );
        assert_eq!(s.drop_before(25), 2);
        assert_eq!(collect(&s), vec![(30, 30.0), (40, 40.0), (50, 50.0)]);
        s.push(60, 6.0);
        assert_eq!(s.last(), Some((60, 6.0)));
        assert_eq!(s.drop_before(100), 4);
        assert!(s.is_empty());
        s.push(-7, 1.0);
        assert_eq!(collect(&s), vec![(-7, 1.0)]);
    }

    #[test]
    fn truncation_at_every_point_keeps_the_rest_and_later_pushes() {
        let times = [
            i64::MIN + 3,
            -40,
            0,
            7,
            15_000,
            30_003,
            44_990,
            1_700_000_000_000,
            i64::MAX - 9,
        ];
        for cut in 0..=times.len() {
            let mut s = Samples::default();
            for (i, t) in times.iter().enumerate() {
                s.push(*t, i as f64);
            }
            let bound = times.get(cut).copied().unwrap_or(i64::MAX);
            assert_eq!(s.drop_before(bound), cut, "cut at {cut}");
            let expected: Vec<(i64, f64)> = times
                .iter()
                .enumerate()
                .skip(cut)
                .map(|(i, t)| (*t, i as f64))
                .collect();
            assert_eq!(collect(&s), expected, "cut at {cut}");
            s.push(i64::MAX, -1.0);
            assert_eq!(s.iter().last(), Some((i64::MAX, -1.0)), "cut at {cut}");
            assert_eq!(s.len(), times.len() - cut + 1);
        }
    }

    #[test]
    fn a_sliding_window_does_not_keep_growth_slack() {
        let mut s = Samples::default();
        for i in 0..10_000i64 {
            s.push(i * 15_000, i as f64);
            s.drop_before((i - 39) * 15_000);
        }
        assert_eq!(s.len(), 40);
        assert!(
            s.values.capacity() <= 40 + PUSH_HEADROOM,
            "{}",
            s.values.capacity()
        );
    }

    #[test]
    fn out_of_order_inserts_match_a_sorted_model() {
        use std::collections::BTreeMap;
        // A small deterministic generator: no test depends on a seed crate.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for round in 0..200 {
            let mut s = Samples::default();
            let mut model = BTreeMap::new();
            for i in 0..60 {
                let t = match next() % 4 {
                    0 => (next() % 2_000) as i64 * 15 - 9_000,
                    _ => i * 15_000 - (next() % 40_000) as i64,
                };
                let v = (round * 100 + i) as f64;
                assert_eq!(
                    s.insert(t, v),
                    model.insert(t, v).is_none(),
                    "round {round}"
                );
                if next() % 10 == 0 {
                    let cut = (next() % 900_000) as i64 - 9_000;
                    let before = model.len();
                    model.retain(|k, _| *k >= cut);
                    assert_eq!(s.drop_before(cut), before - model.len());
                }
                let expected: Vec<(i64, f64)> = model.iter().map(|(k, v)| (*k, *v)).collect();
                assert_eq!(collect(&s), expected, "round {round}, sample {i}");
                assert_eq!(s.last(), expected.last().copied());
            }
            // Pushing after inserts continues the encoding correctly.
            let after = s.last().map_or(0, |(t, _)| t) + 15_000;
            s.insert(after, 1.0);
            assert_eq!(s.iter().last(), Some((after, 1.0)));
        }
    }
}
