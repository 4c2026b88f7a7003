//! The delimited protobuf push format: varint-length-prefixed
//! `io.prometheus.client.MetricFamily` messages (hand-written prost
//! structs matching prometheus/client_model `metrics.proto`, proto2, so
//! presence of `timestamp_ms` is kept). As the Pushgateway does, a later
//! family of the same name replaces an earlier one. Native-histogram
//! fields (spans, deltas, schema) are not decoded: a histogram is read
//! from its classic buckets.

use closeloop_core::pushed::float::PromFloat;
use closeloop_core::pushed::{
    valid_label_name, valid_metric_name, MetricKind, PushedFamily, PushedMetric, PushedValue,
};
use prost::Message;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("protobuf push: {0}")]
pub struct ProtobufError(pub String);

#[derive(Clone, PartialEq, Message)]
pub struct MetricFamily {
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    #[prost(string, optional, tag = "2")]
    pub help: Option<String>,
    #[prost(int32, optional, tag = "3")]
    pub r#type: Option<i32>,
    #[prost(message, repeated, tag = "4")]
    pub metric: Vec<Metric>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Metric {
    #[prost(message, repeated, tag = "1")]
    pub label: Vec<LabelPair>,
    #[prost(message, optional, tag = "2")]
    pub gauge: Option<SimpleValue>,
    #[prost(message, optional, tag = "3")]
    pub counter: Option<SimpleValue>,
    #[prost(message, optional, tag = "4")]
    pub summary: Option<Summary>,
    #[prost(message, optional, tag = "5")]
    pub untyped: Option<SimpleValue>,
    #[prost(message, optional, tag = "7")]
    pub histogram: Option<Histogram>,
    #[prost(int64, optional, tag = "6")]
    pub timestamp_ms: Option<i64>,
}

#[derive(Clone, PartialEq, Message)]
pub struct LabelPair {
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    #[prost(string, optional, tag = "2")]
    pub value: Option<String>,
}

/// `Gauge`, `Counter` and `Untyped` all hold `double value = 1`.
#[derive(Clone, PartialEq, Message)]
pub struct SimpleValue {
    #[prost(double, optional, tag = "1")]
    pub value: Option<f64>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Summary {
    #[prost(uint64, optional, tag = "1")]
    pub sample_count: Option<u64>,
    #[prost(double, optional, tag = "2")]
    pub sample_sum: Option<f64>,
    #[prost(message, repeated, tag = "3")]
    pub quantile: Vec<Quantile>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Quantile {
    #[prost(double, optional, tag = "1")]
    pub quantile: Option<f64>,
    #[prost(double, optional, tag = "2")]
    pub value: Option<f64>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Histogram {
    #[prost(uint64, optional, tag = "1")]
    pub sample_count: Option<u64>,
    #[prost(double, optional, tag = "4")]
    pub sample_count_float: Option<f64>,
    #[prost(double, optional, tag = "2")]
    pub sample_sum: Option<f64>,
    #[prost(message, repeated, tag = "3")]
    pub bucket: Vec<Bucket>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Bucket {
    #[prost(uint64, optional, tag = "1")]
    pub cumulative_count: Option<u64>,
    #[prost(double, optional, tag = "4")]
    pub cumulative_count_float: Option<f64>,
    #[prost(double, optional, tag = "2")]
    pub upper_bound: Option<f64>,
}

/// Parses a whole body; families in order of first appearance.
pub fn parse_delimited(mut body: &[u8]) -> Result<Vec<PushedFamily>, ProtobufError> {
    let mut families: Vec<PushedFamily> = Vec::new();
    let mut index = 0usize;
    while !body.is_empty() {
        let length = prost::decode_length_delimiter(&mut body)
            .map_err(|e| ProtobufError(format!("message {index}: bad length prefix: {e}")))?;
        if length > body.len() {
            return Err(ProtobufError(format!(
                "message {index}: {length} bytes announced, {} left",
                body.len()
            )));
        }
        let (message, rest) = body.split_at(length);
        body = rest;
        let family = MetricFamily::decode(message)
            .map_err(|e| ProtobufError(format!("message {index}: {e}")))?;
        let family = convert(family).map_err(|e| ProtobufError(format!("message {index}: {e}")))?;
        match families.iter_mut().find(|f| f.name == family.name) {
            Some(existing) => *existing = family,
            None => families.push(family),
        }
        index += 1;
    }
    // As the text format, a family without metrics is no family.
    families.retain(|f| !f.metrics.is_empty());
    Ok(families)
}

fn convert(family: MetricFamily) -> Result<PushedFamily, String> {
    let name = family.name.unwrap_or_default();
    if !valid_metric_name(&name) {
        return Err(format!("invalid metric name {name:?}"));
    }
    // proto2 default of `type` is its first value, COUNTER.
    let kind = match family.r#type.unwrap_or(0) {
        0 => MetricKind::Counter,
        1 => MetricKind::Gauge,
        2 => MetricKind::Summary,
        3 => MetricKind::Untyped,
        4 => MetricKind::Histogram,
        5 => return Err(format!("{name}: gauge histograms are not supported")),
        other => return Err(format!("{name}: unknown metric type {other}")),
    };
    let metrics = family
        .metric
        .into_iter()
        .map(|m| convert_metric(&name, kind, m))
        .collect::<Result<_, _>>()?;
    Ok(PushedFamily {
        name,
        help: family.help.unwrap_or_default(),
        kind,
        metrics,
    })
}

fn convert_metric(family: &str, kind: MetricKind, metric: Metric) -> Result<PushedMetric, String> {
    let mut labels = BTreeMap::new();
    for pair in metric.label {
        let name = pair.name.unwrap_or_default();
        if !valid_label_name(&name) || name == "__name__" {
            return Err(format!("{family}: invalid label name {name:?}"));
        }
        if labels
            .insert(name.clone(), pair.value.unwrap_or_default())
            .is_some()
        {
            return Err(format!("{family}: duplicate label name {name:?}"));
        }
    }
    let simple =
        |v: Option<SimpleValue>| v.map(|v| PushedValue::Value(PromFloat(v.value.unwrap_or(0.0))));
    let value = match kind {
        MetricKind::Counter => simple(metric.counter),
        MetricKind::Gauge => simple(metric.gauge),
        MetricKind::Untyped => simple(metric.untyped),
        MetricKind::Summary => metric.summary.map(|s| PushedValue::Summary {
            count: PromFloat(s.sample_count.unwrap_or(0) as f64),
            sum: PromFloat(s.sample_sum.unwrap_or(0.0)),
            quantiles: s
                .quantile
                .iter()
                .map(|q| {
                    (
                        PromFloat(q.quantile.unwrap_or(0.0)),
                        PromFloat(q.value.unwrap_or(0.0)),
                    )
                })
                .collect(),
        }),
        MetricKind::Histogram => metric.histogram.map(|h| PushedValue::Histogram {
            count: PromFloat(match h.sample_count_float {
                Some(c) if c > 0.0 => c,
                _ => h.sample_count.unwrap_or(0) as f64,
            }),
            sum: PromFloat(h.sample_sum.unwrap_or(0.0)),
            buckets: h
                .bucket
                .iter()
                .map(|b| {
                    let count = match b.cumulative_count_float {
                        Some(c) if c > 0.0 => c,
                        _ => b.cumulative_count.unwrap_or(0) as f64,
                    };
                    (PromFloat(b.upper_bound.unwrap_or(0.0)), PromFloat(count))
                })
                .collect(),
        }),
    };
    let value = value.ok_or_else(|| {
        format!(
            "{family} {labels:?}: metric is not a {} (its value field is missing)",
            kind.text_name()
        )
    })?;
    Ok(PushedMetric {
        labels,
        value,
        timestamp_ms: metric.timestamp_ms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gauge_family(name: &str, value: f64) -> MetricFamily {
        MetricFamily {
            name: Some(name.into()),
            help: Some("help".into()),
            r#type: Some(1),
            metric: vec![Metric {
                label: vec![LabelPair {
                    name: Some("a".into()),
                    value: Some("b".into()),
                }],
                gauge: Some(SimpleValue { value: Some(value) }),
                ..Default::default()
            }],
        }
    }

    fn delimited(families: &[MetricFamily]) -> Vec<u8> {
        let mut out = Vec::new();
        for f in families {
            f.encode_length_delimited(&mut out).unwrap();
        }
        out
    }

    #[test]
    fn families_decode_and_a_later_one_of_the_same_name_wins() {
        let histogram = MetricFamily {
            name: Some("h".into()),
            help: None,
            r#type: Some(4),
            metric: vec![Metric {
                histogram: Some(Histogram {
                    sample_count: Some(3),
                    sample_count_float: None,
                    sample_sum: Some(1.5),
                    bucket: vec![Bucket {
                        cumulative_count: Some(2),
                        cumulative_count_float: None,
                        upper_bound: Some(0.5),
                    }],
                }),
                timestamp_ms: Some(7),
                ..Default::default()
            }],
        };
        let body = delimited(&[gauge_family("g", 1.0), histogram, gauge_family("g", 2.0)]);
        let families = parse_delimited(&body).unwrap();
        assert_eq!(families.len(), 2);
        assert_eq!(families[0].name, "g");
        assert_eq!(
            families[0].metrics[0].value,
            PushedValue::Value(PromFloat(2.0))
        );
        assert_eq!(families[0].metrics[0].labels["a"], "b");
        assert_eq!(families[1].metrics[0].timestamp_ms, Some(7));
        assert_eq!(
            families[1].metrics[0].value,
            PushedValue::Histogram {
                count: PromFloat(3.0),
                sum: PromFloat(1.5),
                buckets: vec![(PromFloat(0.5), PromFloat(2.0))]
            }
        );
    }

    #[test]
    fn refusals_name_the_message() {
        let mut wrong_type = gauge_family("g", 1.0);
        wrong_type.r#type = Some(0);
        let err = parse_delimited(&delimited(&[gauge_family("ok", 1.0), wrong_type])).unwrap_err();
        assert!(err.0.starts_with("message 1: g"), "{err}");
        assert!(err.0.contains("is not a counter"), "{err}");

        let mut body = delimited(&[gauge_family("g", 1.0)]);
        body.truncate(body.len() - 2);
        assert!(parse_delimited(&body).unwrap_err().0.contains("announced"));

        let bad_name = gauge_family("1g", 1.0);
        assert!(parse_delimited(&delimited(&[bad_name]))
            .unwrap_err()
            .0
            .contains("invalid metric name"));
        assert!(parse_delimited(&[
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff
        ])
        .is_err());
    }
}
