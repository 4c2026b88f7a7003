//! Metrics pushed the Pushgateway way: the families a push carried, as
//! ingest parsed and checked them (text exposition 0.0.4 or the delimited
//! protobuf `io.prometheus.client.MetricFamily`), and the groups they form
//! once folded in log order (module [`groups`]). The same fold serves
//! ingest (consistency checks, `GET /api/v1/metrics`) and the evaluator
//! (pushed series as Prometheus would scrape them from a Pushgateway).

pub mod float;
pub mod groups;

use float::PromFloat;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The labels that name a group: `job` and whatever the URL path adds.
pub type GroupingKey = BTreeMap<String, String>;

/// Metric type, as the exposition formats spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricKind {
    Counter,
    Gauge,
    Untyped,
    Summary,
    Histogram,
}

impl MetricKind {
    /// The type name Prometheus' `/api/v1/metadata` shows (an untyped
    /// family reads as `unknown`, as Prometheus' text parser has it).
    pub fn api_name(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Untyped => "unknown",
            MetricKind::Summary => "summary",
            MetricKind::Histogram => "histogram",
        }
    }

    /// The protobuf enum name, which `GET /api/v1/metrics` shows.
    pub fn proto_name(self) -> &'static str {
        match self {
            MetricKind::Counter => "COUNTER",
            MetricKind::Gauge => "GAUGE",
            MetricKind::Untyped => "UNTYPED",
            MetricKind::Summary => "SUMMARY",
            MetricKind::Histogram => "HISTOGRAM",
        }
    }

    /// The text format's `# TYPE` word.
    pub fn text_name(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Untyped => "untyped",
            MetricKind::Summary => "summary",
            MetricKind::Histogram => "histogram",
        }
    }
}

/// One metric family of a push.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushedFamily {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub help: String,
    #[serde(rename = "type")]
    pub kind: MetricKind,
    pub metrics: Vec<PushedMetric>,
}

/// One metric (one label set) of a family. `labels` hold the pushed labels
/// only; the grouping labels are applied when the group is read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushedMetric {
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(flatten)]
    pub value: PushedValue,
    /// A timestamp the sender set (unix ms). The Pushgateway refuses
    /// pushes that carry one; parsers keep it so the check can say so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_ms: Option<i64>,
}

/// The value of a metric, by kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PushedValue {
    /// Counter, gauge or untyped.
    Value(PromFloat),
    Summary {
        count: PromFloat,
        sum: PromFloat,
        /// (quantile, value), in the order pushed.
        #[serde(default)]
        quantiles: Vec<(PromFloat, PromFloat)>,
    },
    Histogram {
        count: PromFloat,
        sum: PromFloat,
        /// (upper bound, cumulative count), in the order pushed.
        #[serde(default)]
        buckets: Vec<(PromFloat, PromFloat)>,
    },
}

impl PushedValue {
    /// The kind of family this value belongs in.
    pub fn fits(&self, kind: MetricKind) -> bool {
        matches!(
            (self, kind),
            (
                PushedValue::Value(_),
                MetricKind::Counter | MetricKind::Gauge | MetricKind::Untyped
            ) | (PushedValue::Summary { .. }, MetricKind::Summary)
                | (PushedValue::Histogram { .. }, MetricKind::Histogram)
        )
    }
}

/// Whether `name` is a valid metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`).
pub fn valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Whether `name` is a valid label name (`[a-zA-Z_][a-zA-Z0-9_]*`).
pub fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
