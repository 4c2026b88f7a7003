//! An `ExportMetricsServiceRequest` as Prometheus series, following
//! Prometheus 3's OTLP receiver with its defaults:
//! - gauges as gauges; cumulative sums: monotonic → counter (`_total`),
//!   non-monotonic → gauge; cumulative histograms → classic `_bucket{le}`,
//!   `_sum` (when sent) and `_count`; summaries → `{quantile}`, `_sum`,
//!   `_count`;
//! - delta sums and histograms are rejected, as Prometheus 3 does unless
//!   started with `otlp-deltatocumulative`/`otlp-native-delta-ingestion`
//!   (closeloop keeps no per-stream state to accumulate them);
//!   exponential histograms are rejected (no native histograms here);
//! - `service.namespace`/`service.name` → `job` (`ns/name`),
//!   `service.instance.id` → `instance`; the other resource attributes go
//!   to one `target_info` sample per resource (value 1, at its newest
//!   point), not onto each series (no `promote_resource_attributes`, no
//!   `otel_scope_*` labels: neither is configurable here yet);
//! - attribute keys sanitised to label names; keys that collide after
//!   sanitising have their values joined with `;` in key order;
//! - a point flagged "no recorded value" becomes a staleness marker.
//!
//! Rejected points are counted with why, for OTLP's `partial_success`.

use super::names::{label_name, metric_name, MetricKind};
use super::*;
use crate::remote_write::{Sample, STALE_NAN_BITS};
use std::collections::BTreeMap;

/// One Prometheus series: labels sorted by name, samples in point order.
#[derive(Debug, Clone, PartialEq)]
pub struct TranslatedSeries {
    pub labels: Vec<(String, String)>,
    pub samples: Vec<Sample>,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Translated {
    pub series: Vec<TranslatedSeries>,
    /// Data points turned into samples (one histogram point is one point).
    pub accepted_points: u64,
    pub rejected_points: u64,
    /// Why points were rejected, one line per metric, in request order.
    pub errors: Vec<String>,
}

impl Translated {
    pub fn samples(&self) -> usize {
        self.series.iter().map(|s| s.samples.len()).sum()
    }

    pub fn min_max_timestamp_ms(&self) -> Option<(i64, i64)> {
        let mut times = self
            .series
            .iter()
            .flat_map(|s| s.samples.iter().map(|x| x.timestamp));
        let first = times.next()?;
        Some(times.fold((first, first), |(lo, hi), t| (lo.min(t), hi.max(t))))
    }

    fn reject(&mut self, points: usize, why: String) {
        self.rejected_points += points as u64;
        self.errors.push(why);
    }
}

fn stale() -> f64 {
    f64::from_bits(STALE_NAN_BITS)
}

/// An attribute value as Prometheus writes it into a label value.
fn value_string(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        None => String::new(),
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::DoubleValue(d)) => d.to_string(),
        Some(Value::BytesValue(b)) => {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(b)
        }
        Some(other) => json_of(other).to_string(),
    }
}

fn json_of(value: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        Value::StringValue(s) => J::String(s.clone()),
        Value::BoolValue(b) => J::Bool(*b),
        Value::IntValue(i) => J::from(*i),
        Value::DoubleValue(d) => J::from(*d),
        Value::BytesValue(_) => J::String(value_string(Some(&AnyValue {
            value: Some(value.clone()),
        }))),
        Value::ArrayValue(a) => J::Array(
            a.values
                .iter()
                .map(|v| v.value.as_ref().map_or(J::Null, json_of))
                .collect(),
        ),
        Value::KvlistValue(kv) => J::Object(
            kv.values
                .iter()
                .map(|e| {
                    (
                        e.key.clone(),
                        e.value
                            .as_ref()
                            .and_then(|v| v.value.as_ref())
                            .map_or(J::Null, json_of),
                    )
                })
                .collect(),
        ),
    }
}

/// Attributes as label pairs; empty values are no label in Prometheus.
fn attribute_labels(attributes: &[KeyValue]) -> BTreeMap<String, String> {
    let mut by_key: Vec<&KeyValue> = attributes.iter().collect();
    by_key.sort_by(|a, b| a.key.cmp(&b.key));
    let mut labels: BTreeMap<String, String> = BTreeMap::new();
    for attribute in by_key {
        let name = label_name(&attribute.key);
        let value = value_string(attribute.value.as_ref());
        if name.is_empty() || value.is_empty() {
            continue;
        }
        labels
            .entry(name)
            .and_modify(|v| {
                v.push(';');
                v.push_str(&value);
            })
            .or_insert(value);
    }
    labels
}

const SERVICE_NAME: &str = "service.name";
const SERVICE_NAMESPACE: &str = "service.namespace";
const SERVICE_INSTANCE_ID: &str = "service.instance.id";

/// `job` and `instance` of a resource.
fn resource_identity(resource: Option<&Resource>) -> Vec<(String, String)> {
    let attribute = |key: &str| {
        resource
            .and_then(|r| r.attributes.iter().find(|a| a.key == key))
            .map(|a| value_string(a.value.as_ref()))
            .filter(|v| !v.is_empty())
    };
    let mut identity = Vec::new();
    if let Some(name) = attribute(SERVICE_NAME) {
        let job = match attribute(SERVICE_NAMESPACE) {
            Some(namespace) => format!("{namespace}/{name}"),
            None => name,
        };
        identity.push(("job".to_string(), job));
    }
    if let Some(instance) = attribute(SERVICE_INSTANCE_ID) {
        identity.push(("instance".to_string(), instance));
    }
    identity
}

/// Builds the series of one resource (its `job`/`instance` on each),
/// merging samples of identical label sets.
struct SeriesBuilder<'r> {
    identity: &'r [(String, String)],
    by_labels: BTreeMap<Vec<(String, String)>, Vec<Sample>>,
    order: Vec<Vec<(String, String)>>,
    newest_ms: Option<i64>,
}

impl SeriesBuilder<'_> {
    fn push(
        &mut self,
        name: &str,
        attributes: &BTreeMap<String, String>,
        extra: Option<(&str, String)>,
        t: i64,
        v: f64,
    ) {
        let mut labels = attributes.clone();
        for (k, v) in self.identity {
            labels.insert(k.clone(), v.clone());
        }
        if let Some((k, v)) = extra {
            labels.insert(k.to_string(), v);
        }
        labels.insert("__name__".to_string(), name.to_string());
        let labels: Vec<(String, String)> = labels.into_iter().collect();
        self.newest_ms = Some(self.newest_ms.map_or(t, |n| n.max(t)));
        let sample = Sample {
            value: v,
            timestamp: t,
        };
        match self.by_labels.get_mut(&labels) {
            Some(samples) => samples.push(sample),
            None => {
                self.order.push(labels.clone());
                self.by_labels.insert(labels, vec![sample]);
            }
        }
    }
}

fn millis(time_unix_nano: u64) -> Option<i64> {
    if time_unix_nano == 0 {
        return None;
    }
    i64::try_from(time_unix_nano / 1_000_000).ok()
}

fn number(point: &NumberDataPoint) -> f64 {
    if point.flags & FLAG_NO_RECORDED_VALUE != 0 {
        return stale();
    }
    match point.value {
        Some(NumberValue::AsDouble(d)) => d,
        Some(NumberValue::AsInt(i)) => i as f64,
        None => 0.0,
    }
}

/// Translates a whole request.
pub fn translate(request: &ExportMetricsServiceRequest) -> Translated {
    let mut out = Translated::default();
    for resource_metrics in &request.resource_metrics {
        let identity = resource_identity(resource_metrics.resource.as_ref());
        let mut builder = SeriesBuilder {
            identity: &identity,
            by_labels: BTreeMap::new(),
            order: Vec::new(),
            newest_ms: None,
        };
        for scope in &resource_metrics.scope_metrics {
            for metric in &scope.metrics {
                translate_metric(metric, &mut builder, &mut out);
            }
        }
        if let Some(newest) = builder.newest_ms {
            target_info(resource_metrics.resource.as_ref(), newest, &mut builder);
        }
        let SeriesBuilder {
            mut by_labels,
            order,
            ..
        } = builder;
        for labels in order {
            if let Some(samples) = by_labels.remove(&labels) {
                out.series.push(TranslatedSeries { labels, samples });
            }
        }
    }
    out
}

fn target_info(resource: Option<&Resource>, at_ms: i64, builder: &mut SeriesBuilder<'_>) {
    let Some(resource) = resource else { return };
    let rest: Vec<KeyValue> = resource
        .attributes
        .iter()
        .filter(|a| {
            ![SERVICE_NAME, SERVICE_NAMESPACE, SERVICE_INSTANCE_ID].contains(&a.key.as_str())
        })
        .cloned()
        .collect();
    let labels = attribute_labels(&rest);
    if labels.is_empty() {
        return;
    }
    builder.push("target_info", &labels, None, at_ms, 1.0);
}

fn translate_metric(metric: &Metric, builder: &mut SeriesBuilder<'_>, out: &mut Translated) {
    let named = |kind| metric_name(&metric.name, &metric.unit, kind);
    if let Some(gauge) = &metric.gauge {
        numbers(
            &named(MetricKind::Gauge),
            metric,
            &gauge.data_points,
            builder,
            out,
        );
    } else if let Some(sum) = &metric.sum {
        if sum.aggregation_temporality != TEMPORALITY_CUMULATIVE {
            return out.reject(
                sum.data_points.len(),
                temporality_error(metric, sum.aggregation_temporality),
            );
        }
        let kind = if sum.is_monotonic {
            MetricKind::Counter
        } else {
            MetricKind::Gauge
        };
        numbers(&named(kind), metric, &sum.data_points, builder, out);
    } else if let Some(histogram) = &metric.histogram {
        if histogram.aggregation_temporality != TEMPORALITY_CUMULATIVE {
            return out.reject(
                histogram.data_points.len(),
                temporality_error(metric, histogram.aggregation_temporality),
            );
        }
        histograms(
            &named(MetricKind::Other),
            metric,
            &histogram.data_points,
            builder,
            out,
        );
    } else if let Some(summary) = &metric.summary {
        summaries(
            &named(MetricKind::Other),
            metric,
            &summary.data_points,
            builder,
            out,
        );
    } else if let Some(exponential) = &metric.exponential_histogram {
        out.reject(
            exponential.data_points.len(),
            format!("metric {:?}: exponential histograms are not supported (closeloop has no native histograms)", metric.name),
        );
    }
    // A metric with no data at all has no points to reject.
}

fn temporality_error(metric: &Metric, temporality: i32) -> String {
    let what = if temporality == TEMPORALITY_DELTA {
        "delta"
    } else {
        "unspecified"
    };
    format!(
        "metric {:?}: {what} aggregation temporality is not supported; send cumulative (as Prometheus 3 without otlp-deltatocumulative)",
        metric.name
    )
}

fn unnamed(metric: &Metric, points: usize, out: &mut Translated) -> bool {
    if points > 0 {
        out.reject(
            points,
            format!(
                "metric {:?}: the name has no letters or digits",
                metric.name
            ),
        );
    }
    true
}

fn numbers(
    name: &str,
    metric: &Metric,
    points: &[NumberDataPoint],
    builder: &mut SeriesBuilder<'_>,
    out: &mut Translated,
) {
    if name.is_empty() && unnamed(metric, points.len(), out) {
        return;
    }
    let mut untimed = 0;
    for point in points {
        let Some(t) = millis(point.time_unix_nano) else {
            untimed += 1;
            continue;
        };
        builder.push(
            name,
            &attribute_labels(&point.attributes),
            None,
            t,
            number(point),
        );
        out.accepted_points += 1;
    }
    untimed_error(metric, untimed, out);
}

fn untimed_error(metric: &Metric, untimed: usize, out: &mut Translated) {
    if untimed > 0 {
        out.reject(
            untimed,
            format!(
                "metric {:?}: {untimed} points have no timeUnixNano",
                metric.name
            ),
        );
    }
}

fn histograms(
    name: &str,
    metric: &Metric,
    points: &[HistogramDataPoint],
    builder: &mut SeriesBuilder<'_>,
    out: &mut Translated,
) {
    if name.is_empty() && unnamed(metric, points.len(), out) {
        return;
    }
    let (bucket, sum, count) = (
        format!("{name}_bucket"),
        format!("{name}_sum"),
        format!("{name}_count"),
    );
    let mut untimed = 0;
    for point in points {
        let Some(t) = millis(point.time_unix_nano) else {
            untimed += 1;
            continue;
        };
        if !point.bucket_counts.is_empty()
            && point.bucket_counts.len() != point.explicit_bounds.len() + 1
        {
            out.reject(
                1,
                format!(
                    "metric {:?}: {} bucket counts for {} explicit bounds (must be one more)",
                    metric.name,
                    point.bucket_counts.len(),
                    point.explicit_bounds.len()
                ),
            );
            continue;
        }
        let no_value = point.flags & FLAG_NO_RECORDED_VALUE != 0;
        let value = |v: f64| if no_value { stale() } else { v };
        let attributes = attribute_labels(&point.attributes);
        let mut cumulative = 0u64;
        for (bound, count) in point.explicit_bounds.iter().zip(&point.bucket_counts) {
            cumulative = cumulative.saturating_add(*count);
            builder.push(
                &bucket,
                &attributes,
                Some(("le", le_string(*bound))),
                t,
                value(cumulative as f64),
            );
        }
        builder.push(
            &bucket,
            &attributes,
            Some(("le", "+Inf".to_string())),
            t,
            value(point.count as f64),
        );
        if let Some(s) = point.sum {
            builder.push(&sum, &attributes, None, t, value(s));
        }
        builder.push(&count, &attributes, None, t, value(point.count as f64));
        out.accepted_points += 1;
    }
    untimed_error(metric, untimed, out);
}

/// `le`/`quantile` values as Prometheus formats floats in labels.
fn le_string(bound: f64) -> String {
    if bound == f64::INFINITY {
        "+Inf".to_string()
    } else if bound == f64::NEG_INFINITY {
        "-Inf".to_string()
    } else {
        bound.to_string()
    }
}

fn summaries(
    name: &str,
    metric: &Metric,
    points: &[SummaryDataPoint],
    builder: &mut SeriesBuilder<'_>,
    out: &mut Translated,
) {
    if name.is_empty() && unnamed(metric, points.len(), out) {
        return;
    }
    let (sum, count) = (format!("{name}_sum"), format!("{name}_count"));
    let mut untimed = 0;
    for point in points {
        let Some(t) = millis(point.time_unix_nano) else {
            untimed += 1;
            continue;
        };
        let no_value = point.flags & FLAG_NO_RECORDED_VALUE != 0;
        let value = |v: f64| if no_value { stale() } else { v };
        let attributes = attribute_labels(&point.attributes);
        for quantile in &point.quantile_values {
            builder.push(
                name,
                &attributes,
                Some(("quantile", le_string(quantile.quantile))),
                t,
                value(quantile.value),
            );
        }
        builder.push(&sum, &attributes, None, t, value(point.sum));
        builder.push(&count, &attributes, None, t, value(point.count as f64));
        out.accepted_points += 1;
    }
    untimed_error(metric, untimed, out);
}
