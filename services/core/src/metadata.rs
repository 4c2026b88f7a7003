//! Metric metadata (type, help, unit) as senders declare it: remote write
//! 1.0's `WriteRequest.metadata`, 2.0's per-series `Metadata`, and the
//! `# HELP`/`# TYPE` lines of pushed groups. Prometheus'
//! `/api/v1/metadata` answers with it.

/// The type names Prometheus' API uses, by remote write's `MetricType`
/// number (1.0 and 2.0 number them alike; 0 is unknown/unspecified).
pub fn type_name(code: u64) -> &'static str {
    match code {
        1 => "counter",
        2 => "gauge",
        3 => "histogram",
        4 => "gaugehistogram",
        5 => "summary",
        6 => "info",
        7 => "stateset",
        _ => "unknown",
    }
}

/// One metadata entry, borrowed from the body it was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetadataView<'a> {
    pub metric_type: &'static str,
    pub help: &'a str,
    pub unit: &'a str,
}

/// An owned entry, as the evaluator keeps it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Metadata {
    pub metric_type: &'static str,
    pub help: String,
    pub unit: String,
}

impl Metadata {
    pub fn is(&self, view: &MetadataView<'_>) -> bool {
        self.metric_type == view.metric_type && self.help == view.help && self.unit == view.unit
    }
}

impl From<&MetadataView<'_>> for Metadata {
    fn from(view: &MetadataView<'_>) -> Self {
        Metadata {
            metric_type: view.metric_type,
            help: view.help.to_string(),
            unit: view.unit.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_numbers_are_remote_writes() {
        assert_eq!(type_name(0), "unknown");
        assert_eq!(type_name(1), "counter");
        assert_eq!(type_name(2), "gauge");
        assert_eq!(type_name(5), "summary");
        assert_eq!(type_name(7), "stateset");
        assert_eq!(type_name(99), "unknown");
    }
}
