//! Every remote-write body captured from a real Prometheus 2.42 decodes with
//! exactly the series, sample, stale-marker and metadata counts an
//! independent decoder found (tests/testdata/prometheus-2.42/expected_counts.tsv).

use closeloop_core::remote_write::{decode, is_stale_marker, validate};
use std::path::PathBuf;

fn testdata() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/testdata")
}

#[test]
fn every_captured_prometheus_request_decodes_with_exact_counts() {
    let table = std::fs::read_to_string(testdata().join("prometheus-2.42/expected_counts.tsv"))
        .expect("expected_counts.tsv");
    let mut checked = 0;
    for line in table.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (file, series, samples, stale, metadata) = (
            cols[0],
            cols[1].parse::<usize>().unwrap(),
            cols[2].parse::<usize>().unwrap(),
            cols[3].parse::<usize>().unwrap(),
            cols[4].parse::<usize>().unwrap(),
        );
        let body = std::fs::read(testdata().join(file)).unwrap();
        let request = decode(&body, 64 << 20).unwrap_or_else(|e| panic!("{file}: {e}"));
        validate(&request).unwrap_or_else(|e| panic!("{file}: {e}"));
        let got_samples: usize = request.timeseries.iter().map(|s| s.samples.len()).sum();
        let got_stale = request
            .timeseries
            .iter()
            .flat_map(|s| &s.samples)
            .filter(|s| is_stale_marker(s.value))
            .count();
        assert_eq!(request.timeseries.len(), series, "{file}: series");
        assert_eq!(got_samples, samples, "{file}: samples");
        assert_eq!(got_stale, stale, "{file}: stale markers");
        assert_eq!(request.metadata.len(), metadata, "{file}: metadata");
        checked += 1;
    }
    assert_eq!(checked, 278, "3 single requests and 275 stream requests");
}

#[test]
fn the_single_sample_fixture_has_the_documented_shape() {
    let body = std::fs::read(testdata().join("prometheus-2.42/sample.remote_write.bin")).unwrap();
    let request = decode(&body, 64 << 20).unwrap();
    assert_eq!(request.timeseries.len(), 1043);
    let first = &request.timeseries[0];
    assert_eq!(
        first.labels[0].name, "__name__",
        "labels arrive sorted, __name__ first"
    );
}

#[test]
fn garbage_is_rejected_with_a_snappy_error() {
    let err = decode(b"definitely not snappy", 1 << 20).unwrap_err();
    assert!(err.to_string().starts_with("snappy"), "{err}");
}

#[test]
fn a_body_that_inflates_past_the_limit_is_refused_before_decompressing() {
    let body = std::fs::read(testdata().join("prometheus-2.42/sample.remote_write.bin")).unwrap();
    let err = decode(&body, 1000).unwrap_err();
    assert!(err.to_string().contains("exceeds the limit"), "{err}");
}
