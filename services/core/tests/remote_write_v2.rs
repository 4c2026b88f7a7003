//! Remote write 2.0 decoding against requests built from the published
//! proto: each request is encoded with prost messages declared from
//! tests/data/remote_v2.proto, those bytes are checked byte for byte
//! against `protoc --encode` of the same request in text format (so the
//! declarations cannot drift from the .proto), and our walk must give back
//! exactly the series and samples that went in.

#[path = "support/remote_v2_proto.rs"]
mod remote_v2_proto;

use closeloop_core::remote_write::RemoteWriteError;
use closeloop_core::remote_write_v2::{walk_v2, V2Summary};
use prost::Message;
use remote_v2_proto::{Exemplar, Metadata, Request, RequestBuilder};
use std::io::Write;
use std::process::{Command, Stdio};

/// The request in protobuf text format, for protoc.
fn to_text(request: &Request) -> String {
    let mut text = String::new();
    for symbol in &request.symbols {
        text.push_str(&format!("symbols: {symbol:?}\n"));
    }
    for series in &request.timeseries {
        text.push_str("timeseries {\n");
        if !series.labels_refs.is_empty() {
            text.push_str(&format!("  labels_refs: {:?}\n", series.labels_refs));
        }
        for s in &series.samples {
            text.push_str(&format!(
                "  samples {{ value: {:?} timestamp: {} }}\n",
                s.value, s.timestamp
            ));
        }
        for e in &series.exemplars {
            text.push_str(&format!(
                "  exemplars {{ labels_refs: {:?} value: {:?} timestamp: {} }}\n",
                e.labels_refs, e.value, e.timestamp
            ));
        }
        if let Some(m) = &series.metadata {
            text.push_str(&format!(
                "  metadata {{ type: {} help_ref: {} unit_ref: {} }}\n",
                m.r#type, m.help_ref, m.unit_ref
            ));
        }
        if series.created_timestamp != 0 {
            text.push_str(&format!(
                "  created_timestamp: {}\n",
                series.created_timestamp
            ));
        }
        text.push_str("}\n");
    }
    text
}

fn protoc_encode(request: &Request) -> Vec<u8> {
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");
    let mut child = Command::new("protoc")
        .args([
            &format!("--proto_path={data}"),
            "--encode=io.prometheus.write.v2.Request",
            "remote_v2.proto",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("protoc is not installed: run `bash tests/setup/packages.sh` (Debian package protobuf-compiler)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(to_text(request).as_bytes())
        .expect("write to protoc");
    let output = child.wait_with_output().expect("protoc runs");
    assert!(
        output.status.success(),
        "protoc --encode failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// Encodes with prost, checks the bytes against protoc's, returns them.
fn encoded(request: &Request) -> Vec<u8> {
    let bytes = request.encode_to_vec();
    assert_eq!(
        bytes,
        protoc_encode(request),
        "prost and protoc encodings differ"
    );
    bytes
}

type Decoded = Vec<(usize, Vec<(String, String)>, Vec<(i64, f64)>)>;

fn decode(raw: &[u8]) -> Result<(Decoded, V2Summary), RemoteWriteError> {
    let mut series = Vec::new();
    let summary = walk_v2(raw, |index, view| {
        series.push((
            index,
            view.labels
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            view.samples
                .iter()
                .map(|s| (s.timestamp, s.value))
                .collect(),
        ));
        Ok(())
    })?;
    Ok((series, summary))
}

fn owned(labels: &[(&str, &str)]) -> Vec<(String, String)> {
    labels
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

#[test]
fn series_samples_metadata_and_exemplars_decode_exactly_as_built_from_the_published_proto() {
    let mut b = RequestBuilder::new();
    // Label refs in the order a sender chose; the walk sorts them by name.
    b.series(
        &[
            ("job", "api"),
            ("__name__", "http_requests_total"),
            ("code", "200"),
        ],
        &[(1_000, 1.0), (16_000, 4.5)],
    );
    let help = b.symbol("Requests served.");
    let unit = b.symbol("requests");
    let exemplar_refs = b.refs(&[("trace_id", "abc")]);
    let series = b.request.timeseries.last_mut().unwrap();
    series.metadata = Some(Metadata {
        r#type: 1,
        help_ref: help,
        unit_ref: unit,
    });
    series.exemplars.push(Exemplar {
        labels_refs: exemplar_refs,
        value: 4.5,
        timestamp: 16_000,
    });
    b.series(
        &[("__name__", "temperature_celsius"), ("room", "a")],
        &[(2_000, -3.25)],
    );

    let raw = encoded(&b.request);
    let (series, summary) = decode(&raw).unwrap();
    assert_eq!(
        series,
        vec![
            (
                0,
                owned(&[
                    ("__name__", "http_requests_total"),
                    ("code", "200"),
                    ("job", "api")
                ]),
                vec![(1_000, 1.0), (16_000, 4.5)]
            ),
            (
                1,
                owned(&[("__name__", "temperature_celsius"), ("room", "a")]),
                vec![(2_000, -3.25)]
            ),
        ]
    );
    assert_eq!(summary.series, 2);
    assert_eq!(summary.samples, 3);
    assert_eq!(summary.metadata, 1);
    assert_eq!(summary.exemplars_dropped, 1);
    assert_eq!(summary.histograms_refused, 0);
    assert_eq!(
        (summary.min_timestamp_ms, summary.max_timestamp_ms),
        (Some(1_000), Some(16_000))
    );
    assert!(summary.refused.is_empty());

    // The metadata reaches the visitor with its series, resolved.
    let mut declared = Vec::new();
    walk_v2(&raw, |_, view| {
        declared.push(
            view.metadata
                .map(|m| (m.metric_type, m.help.to_string(), m.unit.to_string())),
        );
        Ok(())
    })
    .unwrap();
    assert_eq!(
        declared,
        vec![
            Some((
                "counter",
                "Requests served.".to_string(),
                "requests".to_string()
            )),
            None
        ]
    );
}

#[test]
fn a_created_timestamp_before_the_first_sample_adds_a_zero_sample_at_that_time() {
    let mut b = RequestBuilder::new();
    b.series(&[("__name__", "jobs_total")], &[(10_000, 7.0)])
        .created_timestamp = 4_000;
    // Not older than the sample: nothing is added (Prometheus refuses a
    // created timestamp newer than its sample too).
    b.series(&[("__name__", "late_total")], &[(10_000, 1.0)])
        .created_timestamp = 10_000;
    let (series, summary) = decode(&encoded(&b.request)).unwrap();
    assert_eq!(series[0].2, vec![(4_000, 0.0), (10_000, 7.0)]);
    assert_eq!(series[1].2, vec![(10_000, 1.0)]);
    assert_eq!(
        summary.samples, 2,
        "the zero samples are not counted as written samples"
    );
    assert_eq!(summary.created_zero_samples, 1);
    assert_eq!(summary.min_timestamp_ms, Some(4_000));
}

#[test]
fn a_symbol_reference_past_the_table_refuses_the_request_naming_the_series() {
    let mut b = RequestBuilder::new();
    b.series(&[("__name__", "up")], &[(1, 1.0)]);
    b.series(&[("__name__", "up"), ("job", "x")], &[(1, 1.0)]);
    b.request.timeseries[1].labels_refs[3] = 99;
    let err = decode(&encoded(&b.request)).unwrap_err();
    assert!(
        matches!(
            err,
            RemoteWriteError::BadSymbolRef {
                index: 1,
                reference: 99,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().starts_with("series 1:"), "{err}");
}

#[test]
fn an_odd_number_of_label_refs_and_a_non_empty_first_symbol_are_refused() {
    let mut b = RequestBuilder::new();
    b.series(&[("__name__", "up")], &[(1, 1.0)])
        .labels_refs
        .pop();
    assert!(matches!(
        decode(&encoded(&b.request)).unwrap_err(),
        RemoteWriteError::OddLabelRefs { index: 0 }
    ));

    let mut b = RequestBuilder::new();
    b.series(&[("__name__", "up")], &[(1, 1.0)]);
    b.request.symbols[0] = "oops".into();
    assert!(matches!(
        decode(&encoded(&b.request)).unwrap_err(),
        RemoteWriteError::FirstSymbolNotEmpty
    ));
}

#[test]
fn series_with_invalid_labels_or_native_histograms_are_refused_alone_and_the_rest_is_written() {
    let mut b = RequestBuilder::new();
    b.series(&[("__name__", "good")], &[(1, 1.0)]);
    b.series(&[("job", "no-name")], &[(1, 1.0)]);
    b.series(&[("__name__", "bad"), ("1st", "x")], &[(1, 1.0)]);
    b.series(&[("__name__", "hist")], &[])
        .histograms
        .push(vec![]);
    b.series(
        &[("__name__", "twice"), ("a", "1"), ("a", "2")],
        &[(1, 1.0)],
    );
    // The shared .proto leaves `histograms` out, so protoc cannot encode
    // this request: these bytes come from prost alone (tag 3, length 0).
    let (series, summary) = decode(&b.request.encode_to_vec()).unwrap();
    assert_eq!(series.len(), 1);
    assert_eq!(series[0].1, owned(&[("__name__", "good")]));
    assert_eq!(summary.series, 1);
    assert_eq!(summary.histograms_refused, 1);
    let refused: Vec<usize> = summary.refused.iter().map(|r| r.0).collect();
    assert_eq!(refused, vec![1, 2, 3, 4]);
    let message = summary.refusal_message().unwrap();
    assert!(message.contains("series 1: no __name__ label"), "{message}");
    assert!(
        message.contains("series 2: invalid label name \"1st\""),
        "{message}"
    );
    assert!(
        message.contains("series 3: 1 native histogram samples not written"),
        "{message}"
    );
    assert!(
        message.contains("series 4: label name \"a\" appears twice"),
        "{message}"
    );
}

#[test]
fn truncated_or_garbage_bytes_are_a_wire_error_not_a_panic() {
    let mut b = RequestBuilder::new();
    b.series(&[("__name__", "up")], &[(1, 1.0)]);
    let raw = encoded(&b.request);
    for cut in 1..raw.len() {
        let _ = decode(&raw[..cut]);
    }
    assert!(decode(&[0x2a, 0xff, 0xff]).is_err());
    assert!(
        decode(&[0x2a, 0x02, 0xff, 0xfe]).is_err(),
        "symbols must be UTF-8"
    );
}
