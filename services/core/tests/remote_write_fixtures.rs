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

#[test]
fn the_zero_copy_walk_agrees_with_the_prost_decode_on_every_fixture() {
    use closeloop_core::remote_write::decompress;
    use closeloop_core::remote_write_walk::validate_walk;
    let dir = testdata().join("prometheus-2.42/stream");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.extend(
        [
            "sample.remote_write.bin",
            "sample.remote_write.metadata.bin",
            "sample.remote_write.with_stale_marker.bin",
        ]
        .map(|f| testdata().join("prometheus-2.42").join(f)),
    );
    for file in files
        .iter()
        .filter(|p| p.extension().is_some_and(|x| x == "bin"))
    {
        let body = std::fs::read(file).unwrap();
        let request = decode(&body, 64 << 20).unwrap();
        let raw = decompress(&body, 64 << 20).unwrap();
        let mut walked = Vec::new();
        let summary = closeloop_core::remote_write_walk::walk(&raw, |_, s| {
            let labels: Vec<(String, String)> = s
                .labels
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect();
            let samples: Vec<(i64, u64)> = s
                .samples
                .iter()
                .map(|x| (x.timestamp, x.value.to_bits()))
                .collect();
            walked.push((labels, samples));
            Ok(())
        })
        .unwrap();
        validate_walk(&raw).unwrap();
        assert_eq!(summary.series as usize, request.timeseries.len());
        assert_eq!(summary.metadata as usize, request.metadata.len());
        for (series, (labels, samples)) in request.timeseries.iter().zip(&walked) {
            let expected: Vec<(String, String)> = series
                .labels
                .iter()
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect();
            assert_eq!(&expected, labels);
            let expected: Vec<(i64, u64)> = series
                .samples
                .iter()
                .map(|x| (x.timestamp, x.value.to_bits()))
                .collect();
            assert_eq!(&expected, samples, "stale markers keep their exact bits");
        }
    }
}

#[test]
fn the_walk_refuses_truncated_and_malformed_bodies_without_panicking() {
    use closeloop_core::remote_write::decompress;
    use closeloop_core::remote_write_walk::validate_walk;
    let body = std::fs::read(testdata().join("prometheus-2.42/sample.remote_write.bin")).unwrap();
    let raw = decompress(&body, 64 << 20).unwrap();
    for cut in [1, 2, 7, 100, raw.len() / 2, raw.len() - 1] {
        assert!(validate_walk(&raw[..cut]).is_err(), "cut at {cut}");
    }
    for garbage in [
        &[0xffu8; 16][..],
        &[0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f],
        &[0x08],
    ] {
        assert!(validate_walk(garbage).is_err());
    }
}
