//! OTLP metrics → Prometheus series, against what Prometheus 3's OTLP
//! receiver documents for its default `UnderscoreEscapingWithSuffixes`:
//! names and suffixes, label sanitising, `job`/`instance`/`target_info`,
//! the metric types, rejected deltas and exponential histograms; and the
//! JSON encoding (OTLP's JSON mapping) giving the same series as protobuf.

use closeloop_core::events::{GZIP_SUFFIX, OTLP_METRICS_JSON, OTLP_METRICS_PROTOBUF};
use closeloop_core::otlp::*;
use closeloop_core::received::{for_each_series, translate_otlp, ReceivedError};
use prost::Message;

#[test]
fn metric_names_get_unit_and_type_suffixes_as_prometheus_3_writes_them() {
    let cases = [
        (
            "http.server.duration",
            "s",
            MetricKind::Other,
            "http_server_duration_seconds",
        ),
        (
            "process.cpu.utilization",
            "1",
            MetricKind::Gauge,
            "process_cpu_utilization_ratio",
        ),
        (
            "requests",
            "{requests}",
            MetricKind::Counter,
            "requests_total",
        ),
        ("requests_total", "", MetricKind::Counter, "requests_total"),
        (
            "network.io",
            "By/s",
            MetricKind::Gauge,
            "network_io_bytes_per_second",
        ),
        (
            "queue.items",
            "{item}/min",
            MetricKind::Gauge,
            "queue_items_per_min",
        ),
        ("2xx.responses", "", MetricKind::Gauge, "_2xx_responses"),
        (
            "foo__bar",
            "ms",
            MetricKind::Counter,
            "foo_bar_milliseconds_total",
        ),
        (
            "duration_seconds",
            "s",
            MetricKind::Other,
            "duration_seconds",
        ),
        ("jobs.done", "1", MetricKind::Counter, "jobs_done_total"),
        ("temp", "Cel", MetricKind::Gauge, "temp_celsius"),
        ("...", "s", MetricKind::Gauge, ""),
    ];
    for (name, unit, kind, want) in cases {
        assert_eq!(
            metric_name(name, unit, kind),
            want,
            "{name} [{unit}] {kind:?}"
        );
    }
}

#[test]
fn attribute_keys_become_valid_label_names() {
    assert_eq!(label_name("http.request.method"), "http_request_method");
    assert_eq!(label_name("0abc"), "key_0abc");
    assert_eq!(label_name("_private"), "key_private");
    assert_eq!(label_name("__reserved"), "__reserved");
    assert_eq!(label_name("k8s-pod/name"), "k8s_pod_name");
}

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
    }
}

fn s(v: &str) -> Value {
    Value::StringValue(v.into())
}

const T1: u64 = 1_700_000_000_123_000_000; // ns
const T1_MS: i64 = 1_700_000_000_123;

fn number_point(attributes: Vec<KeyValue>, value: NumberValue) -> NumberDataPoint {
    NumberDataPoint {
        attributes,
        time_unix_nano: T1,
        value: Some(value),
        flags: 0,
    }
}

fn metric(name: &str, unit: &str) -> Metric {
    Metric {
        name: name.into(),
        unit: unit.into(),
        ..Default::default()
    }
}

fn request() -> ExportMetricsServiceRequest {
    let gauge = Metric {
        gauge: Some(Gauge {
            data_points: vec![number_point(
                vec![kv("room", s("a"))],
                NumberValue::AsInt(21),
            )],
        }),
        ..metric("room.temperature", "Cel")
    };
    let counter = Metric {
        sum: Some(Sum {
            data_points: vec![number_point(
                vec![kv("http.method", s("GET")), kv("http_method", s("get"))],
                NumberValue::AsDouble(7.5),
            )],
            aggregation_temporality: TEMPORALITY_CUMULATIVE,
            is_monotonic: true,
        }),
        ..metric("http.requests", "{request}")
    };
    let up_down = Metric {
        sum: Some(Sum {
            data_points: vec![number_point(vec![], NumberValue::AsInt(-3))],
            aggregation_temporality: TEMPORALITY_CUMULATIVE,
            is_monotonic: false,
        }),
        ..metric("queue.depth", "")
    };
    let histogram = Metric {
        histogram: Some(Histogram {
            data_points: vec![HistogramDataPoint {
                attributes: vec![kv("route", s("/"))],
                time_unix_nano: T1,
                count: 6,
                sum: Some(4.25),
                bucket_counts: vec![1, 2, 3],
                explicit_bounds: vec![0.1, 1.0],
                flags: 0,
            }],
            aggregation_temporality: TEMPORALITY_CUMULATIVE,
        }),
        ..metric("http.server.duration", "s")
    };
    let delta = Metric {
        sum: Some(Sum {
            data_points: vec![number_point(vec![], NumberValue::AsInt(1)); 2],
            aggregation_temporality: TEMPORALITY_DELTA,
            is_monotonic: true,
        }),
        ..metric("deltas", "")
    };
    let exponential = Metric {
        exponential_histogram: Some(ExponentialHistogram {
            data_points: vec![Opaque {}],
        }),
        ..metric("latency.exp", "ms")
    };
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", s("checkout")),
                    kv("service.namespace", s("shop")),
                    kv("service.instance.id", s("pod-1")),
                    kv("host.name", s("node-7")),
                    kv("process.pid", Value::IntValue(42)),
                ],
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![gauge, counter, up_down, histogram, delta, exponential],
            }],
        }],
    }
}

fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut labels: Vec<(String, String)> = pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .chain([
            ("job".into(), "shop/checkout".into()),
            ("instance".into(), "pod-1".into()),
        ])
        .collect();
    labels.sort();
    labels
}

type Series = Vec<(Vec<(String, String)>, Vec<(i64, f64)>)>;

fn series(translated: &Translated) -> Series {
    translated
        .series
        .iter()
        .map(|s| {
            (
                s.labels.clone(),
                s.samples.iter().map(|x| (x.timestamp, x.value)).collect(),
            )
        })
        .collect()
}

#[test]
fn gauges_sums_and_histograms_translate_to_the_prometheus_series_with_job_instance_and_target_info()
{
    let translated = translate(&request());
    let at = |v: f64| vec![(T1_MS, v)];
    assert_eq!(
        series(&translated),
        vec![
            (
                labels(&[("__name__", "room_temperature_celsius"), ("room", "a")]),
                at(21.0)
            ),
            // Keys that sanitise to one name join their values in key order.
            (
                labels(&[
                    ("__name__", "http_requests_total"),
                    ("http_method", "GET;get")
                ]),
                at(7.5)
            ),
            (labels(&[("__name__", "queue_depth")]), at(-3.0)),
            (
                labels(&[
                    ("__name__", "http_server_duration_seconds_bucket"),
                    ("le", "0.1"),
                    ("route", "/")
                ]),
                at(1.0)
            ),
            (
                labels(&[
                    ("__name__", "http_server_duration_seconds_bucket"),
                    ("le", "1"),
                    ("route", "/")
                ]),
                at(3.0)
            ),
            (
                labels(&[
                    ("__name__", "http_server_duration_seconds_bucket"),
                    ("le", "+Inf"),
                    ("route", "/")
                ]),
                at(6.0)
            ),
            (
                labels(&[
                    ("__name__", "http_server_duration_seconds_sum"),
                    ("route", "/")
                ]),
                at(4.25)
            ),
            (
                labels(&[
                    ("__name__", "http_server_duration_seconds_count"),
                    ("route", "/")
                ]),
                at(6.0)
            ),
            (
                labels(&[
                    ("__name__", "target_info"),
                    ("host_name", "node-7"),
                    ("process_pid", "42")
                ]),
                at(1.0)
            ),
        ]
    );
    assert_eq!(translated.accepted_points, 4);
    assert_eq!(
        translated.rejected_points, 3,
        "two delta points and one exponential histogram point"
    );
    assert!(
        translated.errors[0].contains("\"deltas\": delta aggregation temporality is not supported"),
        "{:?}",
        translated.errors
    );
    assert!(
        translated.errors[1].contains("exponential histograms are not supported"),
        "{:?}",
        translated.errors
    );
}

#[test]
fn a_point_with_no_recorded_value_is_a_staleness_marker() {
    let mut request = request();
    let metrics = &mut request.resource_metrics[0].scope_metrics[0].metrics;
    metrics.truncate(1);
    metrics[0].gauge.as_mut().unwrap().data_points[0].flags = FLAG_NO_RECORDED_VALUE;
    let translated = translate(&request);
    let value = translated.series[0].samples[0].value;
    assert!(closeloop_core::remote_write::is_stale_marker(value));
}

/// The same request as `request()` in OTLP's JSON mapping, written as an
/// SDK's JSON exporter writes it (int64 as strings, enums as numbers).
const JSON_REQUEST: &str = r#"{"resourceMetrics":[{"resource":{"attributes":[
  {"key":"service.name","value":{"stringValue":"checkout"}},
  {"key":"service.namespace","value":{"stringValue":"shop"}},
  {"key":"service.instance.id","value":{"stringValue":"pod-1"}},
  {"key":"host.name","value":{"stringValue":"node-7"}},
  {"key":"process.pid","value":{"intValue":"42"}}]},
 "scopeMetrics":[{"scope":{"name":"test","version":"1"},"metrics":[
  {"name":"room.temperature","unit":"Cel","gauge":{"dataPoints":[
    {"attributes":[{"key":"room","value":{"stringValue":"a"}}],"timeUnixNano":"1700000000123000000","asInt":"21"}]}},
  {"name":"http.requests","unit":"{request}","sum":{"aggregationTemporality":2,"isMonotonic":true,"dataPoints":[
    {"attributes":[{"key":"http.method","value":{"stringValue":"GET"}},{"key":"http_method","value":{"stringValue":"get"}}],
     "startTimeUnixNano":"1700000000000000000","timeUnixNano":"1700000000123000000","asDouble":7.5}]}},
  {"name":"queue.depth","sum":{"aggregationTemporality":2,"dataPoints":[{"timeUnixNano":1700000000123000000,"asInt":-3}]}},
  {"name":"http.server.duration","unit":"s","histogram":{"aggregationTemporality":2,"dataPoints":[
    {"attributes":[{"key":"route","value":{"stringValue":"/"}}],"timeUnixNano":"1700000000123000000",
     "count":"6","sum":4.25,"bucketCounts":["1","2","3"],"explicitBounds":[0.1,1],"min":0.01,"max":2}]}},
  {"name":"deltas","sum":{"aggregationTemporality":1,"isMonotonic":true,"dataPoints":[
    {"timeUnixNano":"1700000000123000000","asInt":"1"},{"timeUnixNano":"1700000000123000000","asInt":"1"}]}},
  {"name":"latency.exp","unit":"ms","exponentialHistogram":{"aggregationTemporality":2,"dataPoints":[
    {"timeUnixNano":"1700000000123000000","count":"1","scale":3,"positive":{"offset":1,"bucketCounts":["1"]}}]}}
 ]}]}]}"#;

#[test]
fn the_json_encoding_gives_the_same_series_as_protobuf() {
    let from_json = translate_otlp(OTLP_METRICS_JSON, JSON_REQUEST.as_bytes(), 1 << 20).unwrap();
    let protobuf = request().encode_to_vec();
    let from_protobuf = translate_otlp(OTLP_METRICS_PROTOBUF, &protobuf, 1 << 20).unwrap();
    assert_eq!(from_json, from_protobuf);
    assert_eq!(from_json.series.len(), 9);
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

#[test]
fn gzipped_bodies_decode_and_one_inflating_past_the_limit_is_refused() {
    let format = format!("{OTLP_METRICS_PROTOBUF}{GZIP_SUFFIX}");
    let raw = request().encode_to_vec();
    let mut seen = 0;
    for_each_series(&format, &gzip(&raw), 1 << 20, |_, samples| {
        seen += samples.len()
    })
    .unwrap();
    assert_eq!(seen, 9);
    let bomb = gzip(&vec![0u8; 1 << 20]);
    let err = translate_otlp(&format, &bomb, 64 << 10).unwrap_err();
    assert!(
        matches!(err, ReceivedError::Otlp(OtlpError::TooLarge { .. })),
        "{err:?}"
    );
}

#[test]
fn malformed_bodies_are_errors_naming_the_problem_not_panics() {
    let err = translate_otlp(OTLP_METRICS_JSON, br#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"x","gauge":{"dataPoints":[{"asInt":"twelve"}]}}]}]}]}"#, 1 << 20).unwrap_err();
    assert!(
        err.to_string()
            .contains("\"twelve\" is not a 64-bit integer"),
        "{err}"
    );
    let raw = request().encode_to_vec();
    for cut in 1..raw.len() {
        let _ = translate_otlp(OTLP_METRICS_PROTOBUF, &raw[..cut], 1 << 20);
    }
    assert!(translate_otlp("otlp+yaml", b"", 10).is_err());
}
