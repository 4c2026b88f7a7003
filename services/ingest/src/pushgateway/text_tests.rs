//! The text parser on what real clients send and on each refusal.

use super::*;

fn value(metric: &PushedMetric) -> f64 {
    match metric.value {
        PushedValue::Value(v) => v.0,
        _ => panic!("not a simple value: {metric:?}"),
    }
}

#[test]
fn what_python_prometheus_client_generate_latest_writes() {
    // As prometheus_client 0.21 writes a Counter, a labelled Gauge, a
    // Histogram and a Summary (text format 0.0.4).
    let body = br#"# HELP backup_bytes_total Bytes written.
# TYPE backup_bytes_total counter
backup_bytes_total 1024.0
# HELP backup_bytes_created Bytes written.
# TYPE backup_bytes_created gauge
backup_bytes_created 1.7335e+09
# HELP backup_last_success_seconds Last time "the backup" succeeded.\nSecond line.
# TYPE backup_last_success_seconds gauge
backup_last_success_seconds{volume="data"} 1.7335000005e+09
backup_last_success_seconds{volume="logs \"x\" \\ y\nz"} 0.0
# HELP backup_duration_seconds How long.
# TYPE backup_duration_seconds histogram
backup_duration_seconds_bucket{le="1.0"} 0.0
backup_duration_seconds_bucket{le="10.0"} 0.0
backup_duration_seconds_bucket{le="60.0"} 1.0
backup_duration_seconds_bucket{le="+Inf"} 1.0
backup_duration_seconds_count 1.0
backup_duration_seconds_sum 42.0
# HELP backup_chunk_seconds Time per chunk.
# TYPE backup_chunk_seconds summary
backup_chunk_seconds_count 1.0
backup_chunk_seconds_sum 0.25
"#;
    let families = parse_text(body).unwrap();
    let names: Vec<&str> = families.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "backup_bytes_total",
            "backup_bytes_created",
            "backup_last_success_seconds",
            "backup_duration_seconds",
            "backup_chunk_seconds"
        ]
    );
    assert_eq!(families[0].kind, MetricKind::Counter);
    assert_eq!(value(&families[0].metrics[0]), 1024.0);
    let gauge = &families[2];
    assert_eq!(
        gauge.help,
        "Last time \"the backup\" succeeded.\nSecond line."
    );
    assert_eq!(gauge.metrics[1].labels["volume"], "logs \"x\" \\ y\nz");
    let PushedValue::Histogram {
        count,
        sum,
        buckets,
    } = &families[3].metrics[0].value
    else {
        panic!("{:?}", families[3]);
    };
    assert_eq!((count.0, sum.0, buckets.len()), (1.0, 42.0, 4));
    assert_eq!(buckets[3].0 .0, f64::INFINITY);
    let PushedValue::Summary {
        count, quantiles, ..
    } = &families[4].metrics[0].value
    else {
        panic!("{:?}", families[4]);
    };
    assert_eq!((count.0, quantiles.len()), (1.0, 0));
}

#[test]
fn summaries_and_histograms_group_by_labels_without_quantile_and_le() {
    let body = b"# TYPE s summary\n\
        s{a=\"1\",quantile=\"0.5\"} 3\n\
        s{a=\"2\",quantile=\"0.5\"} 4\n\
        s{quantile=\"0.9\",a=\"1\"} 5\n\
        s_sum{a=\"1\"} 10\n\
        s_count{a=\"1\"} 2\n";
    let families = parse_text(body).unwrap();
    assert_eq!(families.len(), 1);
    let metrics = &families[0].metrics;
    assert_eq!(metrics.len(), 2);
    let PushedValue::Summary {
        count,
        sum,
        quantiles,
    } = &metrics[0].value
    else {
        panic!()
    };
    assert_eq!((count.0, sum.0), (2.0, 10.0));
    assert_eq!(quantiles.len(), 2);
    assert_eq!(metrics[0].labels.len(), 1);
}

#[test]
fn untyped_samples_timestamps_blanks_and_comments() {
    let body =
        b"  # just a comment\n\n\tfoo{a=\"b\",} 1 1700000000000\nfoo\t2\n# TYPE other gauge\n";
    let families = parse_text(body).unwrap();
    // A family with only a TYPE line has no samples and is dropped.
    assert_eq!(families.len(), 1);
    assert_eq!(families[0].kind, MetricKind::Untyped);
    assert_eq!(families[0].metrics[0].timestamp_ms, Some(1_700_000_000_000));
    assert_eq!(value(&families[0].metrics[1]), 2.0);
    assert!(parse_text(b"x NaN\ny +Inf\nz -Inf\n").is_ok());
}

#[test]
fn every_refusal_names_its_line() {
    let cases: &[(&[u8], usize, &str)] = &[
        (
            b"# TYPE x gauge\nx 1\nx{a=\"b\" 2\n",
            3,
            "unexpected end of label value",
        ),
        (b"x abc\n", 1, "expected float as value"),
        (b"x 1 2.5\n", 1, "expected integer as timestamp"),
        (b"x 1 2 3\n", 1, "spurious string after timestamp"),
        (b"\n\n# TYPE x gaug\n", 3, "unknown metric type"),
        (b"# TYPE x gauge\n# TYPE x gauge\n", 2, "second TYPE line"),
        (b"x 1\n# TYPE x gauge\n", 2, "TYPE reported after samples"),
        (b"# HELP x a\n# HELP x b\n", 2, "second HELP line"),
        (b"x{a=\"1\",a=\"2\"} 1\n", 1, "duplicate label names"),
        (b"x{__name__=\"y\"} 1\n", 1, "is reserved"),
        (b"x{1a=\"y\"} 1\n", 1, "invalid label name"),
        (b"x{a=y} 1\n", 1, "expected '\"' at start of label value"),
        (b"x{a=\"\\q\"} 1\n", 1, "invalid escape sequence"),
        (b"x-y 1\n", 1, "invalid metric name"),
        (b"1x 1\n", 1, "invalid metric name"),
        (
            b"# TYPE h histogram\nh_bucket{le=\"x\"} 1\n",
            2,
            "'le' label",
        ),
        (b"# TYPE h histogram\nh_bucket 1\n", 2, "no le label"),
        (
            b"# TYPE s summary\ns{quantile=\"a\"} 1\n",
            2,
            "'quantile' label",
        ),
        (b"ok 1\nbad \xff 1\n", 2, "invalid UTF-8"),
        (b"# HELP 9x help\n", 1, "invalid metric name in comment"),
    ];
    for (body, line, needle) in cases {
        let err = parse_text(body).expect_err(&String::from_utf8_lossy(body));
        assert_eq!(err.line, *line, "{err}");
        assert!(err.message.contains(needle), "{err} should say {needle:?}");
        assert!(err
            .to_string()
            .starts_with(&format!("text format parsing error in line {line}: ")));
    }
}
