//! Label sets: the identity of a series, sorted by name and cheap to clone.

use std::fmt;
use std::sync::Arc;

/// The label holding a series' metric name.
pub const METRIC_NAME: &str = "__name__";

/// A sorted set of label pairs including `__name__`.
///
/// Shared behind an `Arc` because the same set travels from storage through
/// every intermediate vector of an evaluation; cloning must not copy strings.
/// All pairs live in one allocation (a small offset table, then the text) to
/// keep a stored series well under a kilobyte; offsets take two bytes each
/// unless the text is longer than 64 KiB. Empty values are never
/// stored: in Prometheus an empty value means "absent".
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Labels(Arc<[u8]>);

/// Bytes before the offset table: the pair count, with [`WIDE`] set when
/// offsets take four bytes instead of two.
const HEADER: usize = 4;
const WIDE: u32 = 1 << 31;

impl Default for Labels {
    fn default() -> Self {
        Labels::encode(&[])
    }
}

impl Labels {
    /// The address of this label set's allocation: clones share it, so a
    /// stored series' labels have one identity while it lives.
    pub(crate) fn identity(&self) -> usize {
        Arc::as_ptr(&self.0) as *const u8 as usize
    }

    /// The empty label set.
    pub fn empty() -> Self {
        Labels::default()
    }

    /// Builds a label set from pairs in any order; a later duplicate name wins
    /// and pairs with an empty value are dropped.
    pub fn from_pairs<N, V>(pairs: impl IntoIterator<Item = (N, V)>) -> Self
    where
        N: AsRef<str>,
        V: AsRef<str>,
    {
        let owned: Vec<(N, V)> = pairs.into_iter().collect();
        let mut v: Vec<(&str, &str)> = owned
            .iter()
            .map(|(n, v)| (n.as_ref(), v.as_ref()))
            .collect();
        // Stable sort keeps input order among equal names so "last wins" below.
        v.sort_by(|a, b| a.0.cmp(b.0));
        let mut out: Vec<(&str, &str)> = Vec::with_capacity(v.len());
        for pair in v {
            match out.last_mut() {
                Some(last) if last.0 == pair.0 => *last = pair,
                _ => out.push(pair),
            }
        }
        out.retain(|(_, v)| !v.is_empty());
        Labels::encode(&out)
    }

    /// Packs pairs that are already sorted, unique and non-empty.
    fn encode(pairs: &[(&str, &str)]) -> Self {
        let text: usize = pairs.iter().map(|(n, v)| n.len() + v.len()).sum();
        let wide = text > usize::from(u16::MAX);
        let width = if wide { 4 } else { 2 };
        let mut buf = Vec::with_capacity(HEADER + 2 * width * pairs.len() + text);
        let count = pairs.len() as u32 | if wide { WIDE } else { 0 };
        buf.extend_from_slice(&count.to_le_bytes());
        let mut end = 0usize;
        let put = |buf: &mut Vec<u8>, end: usize| match wide {
            true => buf.extend_from_slice(&(end as u32).to_le_bytes()),
            false => buf.extend_from_slice(&(end as u16).to_le_bytes()),
        };
        for (n, v) in pairs {
            end += n.len();
            put(&mut buf, end);
            end += v.len();
            put(&mut buf, end);
        }
        for (n, v) in pairs {
            buf.extend_from_slice(n.as_bytes());
            buf.extend_from_slice(v.as_bytes());
        }
        Labels(Arc::from(buf))
    }

    fn header(&self) -> u32 {
        match self.0.get(..HEADER) {
            Some(b) => u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            None => 0,
        }
    }

    /// Bytes per offset.
    fn width(&self) -> usize {
        if self.header() & WIDE != 0 {
            4
        } else {
            2
        }
    }

    fn offset(&self, i: usize) -> usize {
        let width = self.width();
        let at = HEADER + width * i;
        match self.0.get(at..at + width) {
            Some(&[a, b]) => u16::from_le_bytes([a, b]) as usize,
            Some(&[a, b, c, d]) => u32::from_le_bytes([a, b, c, d]) as usize,
            _ => 0,
        }
    }

    /// Bytes of the i-th string (names at even, values at odd positions).
    fn bytes_at(&self, i: usize) -> &[u8] {
        let base = HEADER + 2 * self.width() * self.len();
        let start = if i == 0 { 0 } else { self.offset(i - 1) };
        self.0
            .get(base + start..base + self.offset(i))
            .unwrap_or(&[])
    }

    fn str_at(&self, i: usize) -> &str {
        // Always valid: the bytes were copied from `&str`s.
        std::str::from_utf8(self.bytes_at(i)).unwrap_or("")
    }

    /// The value of label `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.bytes_at(2 * mid).cmp(name.as_bytes()) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(self.str_at(2 * mid + 1)),
            }
        }
        None
    }

    /// The value of label `name`, or "" when absent, as matchers see it.
    pub fn get_or_empty(&self, name: &str) -> &str {
        self.get(name).unwrap_or("")
    }

    /// The metric name, if any.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// Pairs as bytes, skipping UTF-8 checks in hot comparisons.
    pub(crate) fn raw_iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + Clone {
        (0..self.len()).map(move |i| (self.bytes_at(2 * i), self.bytes_at(2 * i + 1)))
    }

    /// Pairs in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        (0..self.len()).map(move |i| (self.str_at(2 * i), self.str_at(2 * i + 1)))
    }

    pub fn len(&self) -> usize {
        (self.header() & !WIDE) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy without `__name__` (no allocation when there is none).
    pub fn without_metric_name(&self) -> Labels {
        if self.metric_name().is_none() {
            return self.clone();
        }
        self.filter(|n| n != METRIC_NAME)
    }

    /// A copy keeping only the labels for which `keep` is true.
    pub fn filter(&self, mut keep: impl FnMut(&str) -> bool) -> Labels {
        let pairs: Vec<(&str, &str)> = self.iter().filter(|(n, _)| keep(n)).collect();
        Labels::encode(&pairs)
    }

    /// A copy with `name` set to `value` (removed when `value` is empty).
    pub fn with(&self, name: &str, value: &str) -> Labels {
        let mut v: Vec<(&str, &str)> = self.iter().collect();
        match v.binary_search_by(|(n, _)| (*n).cmp(name)) {
            Ok(i) if value.is_empty() => {
                v.remove(i);
            }
            Ok(i) => v[i].1 = value,
            Err(_) if value.is_empty() => {}
            Err(i) => v.insert(i, (name, value)),
        }
        Labels::encode(&v)
    }

    /// Prometheus' `labels.Hash()`: xxHash64 over `name 0xff value 0xff ...`.
    /// Used where results depend on the hash (e.g. `limit_ratio`).
    pub fn prometheus_hash(&self) -> u64 {
        let mut h = xxhash_rust::xxh64::Xxh64::new(0);
        for (n, v) in self.iter() {
            h.update(n.as_bytes());
            h.update(&[0xff]);
            h.update(v.as_bytes());
            h.update(&[0xff]);
        }
        h.digest()
    }

    /// Heap bytes used by this label set (shared copies counted once each).
    pub fn heap_bytes(&self) -> usize {
        // The Arc's two counters plus the packed bytes.
        16 + self.0.len()
    }
}

impl PartialOrd for Labels {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Labels {
    /// Prometheus' `labels.Compare`: pair by pair, name then value.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // UTF-8 byte order is code point order, so bytes compare like strs.
        self.raw_iter().cmp(other.raw_iter())
    }
}

impl<N: AsRef<str>, V: AsRef<str>> FromIterator<(N, V)> for Labels {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(iter: I) -> Self {
        Labels::from_pairs(iter)
    }
}

impl<N: AsRef<str>, V: AsRef<str>, const K: usize> From<[(N, V); K]> for Labels {
    fn from(pairs: [(N, V); K]) -> Self {
        Labels::from_pairs(pairs)
    }
}

impl fmt::Display for Labels {
    /// Renders `{__name__="x", a="b"}` with Go-style escaping of values.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, (n, v)) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{n}=\"{}\"", escape_value(v))?;
        }
        f.write_str("}")
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

fn escape_value(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            _ => s.push(c),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_sorted_and_empty_values_dropped() {
        let l = Labels::from_pairs([("b", "2"), ("a", "1"), ("c", "")]);
        assert_eq!(l.to_string(), r#"{a="1", b="2"}"#);
        assert_eq!(l.get("c"), None);
    }

    #[test]
    fn later_duplicate_label_wins() {
        let l = Labels::from_pairs([("a", "1"), ("a", "2")]);
        assert_eq!(l.get("a"), Some("2"));
    }

    #[test]
    fn setting_an_empty_value_removes_the_label() {
        let l = Labels::from_pairs([("a", "1"), ("b", "2")]).with("a", "");
        assert_eq!(l.to_string(), r#"{b="2"}"#);
    }

    #[test]
    fn label_text_over_64_kib_round_trips() {
        let long = "x".repeat(70_000);
        let l = Labels::from_pairs([("a", "1"), ("b", long.as_str()), ("c", "3")]);
        assert_eq!(l.get("b"), Some(long.as_str()));
        assert_eq!(l.get("c"), Some("3"));
        assert_eq!(l.len(), 3);
        let short = Labels::from_pairs([("a", "1"), ("c", "3")]);
        assert_eq!(short.get("c"), Some("3"));
        assert!(l < short);
    }

    #[test]
    fn hash_matches_prometheus_for_empty_labels() {
        // xxhash64 of the empty input with seed 0.
        assert_eq!(Labels::empty().prometheus_hash(), 0xef46db3751d8e999);
    }
}
