//! The metric metadata the evaluator has read (remote write 1.0's
//! metadata entries, 2.0's per-series metadata) for `/api/v1/metadata`.
//! Like a Prometheus, which answers from its targets' metadata, it lists
//! every distinct type/help/unit a metric was declared with; pushed
//! groups' `# HELP`/`# TYPE` are added at query time from the groups
//! themselves (see `query`).

use closeloop_core::metadata::{Metadata, MetadataView};
use std::collections::{BTreeMap, HashMap};

/// Distinct entries kept per metric: a sender whose help text changes
/// with every request cannot grow the index without bound.
const PER_METRIC: usize = 16;

#[derive(Debug, Default)]
pub struct MetadataIndex {
    by_name: HashMap<String, Vec<Metadata>>,
}

impl MetadataIndex {
    /// Notes that `name` was declared with `view`; cheap when it is known
    /// (remote write 2.0 repeats it on every series of every request).
    pub fn note(&mut self, name: &str, view: MetadataView<'_>) {
        match self.by_name.get_mut(name) {
            Some(known) if known.iter().any(|m| m.is(&view)) => {}
            Some(known) if known.len() < PER_METRIC => known.push(Metadata::from(&view)),
            Some(_) => {}
            None => {
                self.by_name
                    .insert(name.to_string(), vec![Metadata::from(&view)]);
            }
        }
    }

    /// Every metric's entries (of `metric` only, when given), sorted.
    pub fn entries(&self, metric: Option<&str>) -> BTreeMap<String, Vec<Metadata>> {
        self.by_name
            .iter()
            .filter(|(name, _)| metric.is_none_or(|m| m == name.as_str()))
            .map(|(name, entries)| (name.clone(), entries.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view<'a>(metric_type: &'static str, help: &'a str) -> MetadataView<'a> {
        MetadataView {
            metric_type,
            help,
            unit: "",
        }
    }

    #[test]
    fn keeps_each_distinct_declaration_once_and_a_bounded_number() {
        let mut index = MetadataIndex::default();
        index.note("up", view("gauge", "1 if the target is up"));
        index.note("up", view("gauge", "1 if the target is up"));
        index.note("up", view("gauge", "other help"));
        index.note("http_requests_total", view("counter", "requests"));
        let all = index.entries(None);
        assert_eq!(all["up"].len(), 2);
        assert_eq!(all["http_requests_total"][0].metric_type, "counter");
        assert_eq!(index.entries(Some("up")).len(), 1);
        assert!(index.entries(Some("nope")).is_empty());
        for i in 0..100 {
            index.note("noisy", view("gauge", &format!("help {i}")));
        }
        assert_eq!(index.entries(Some("noisy"))["noisy"].len(), PER_METRIC);
    }
}
