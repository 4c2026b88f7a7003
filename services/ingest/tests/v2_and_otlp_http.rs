//! Remote write 2.0 and OTLP/HTTP called in-process: status codes, the
//! `X-Prometheus-Remote-Write-*-Written` headers, OTLP's responses, and
//! what gets appended. v2 requests are built with the prost messages
//! declared from the published proto (core's test support, checked
//! against protoc there). The log is a recording stand-in that can refuse.

#[path = "../../core/tests/support/remote_v2_proto.rs"]
mod remote_v2_proto;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use closeloop_core::events::{OTLP_METRICS_JSON, REMOTE_WRITE_V2_SNAPPY};
use closeloop_core::otlp::*;
use closeloop_core::{Event, EventPayload};
use closeloop_ingest::{router, IngestLimits, IngestState};
use http_body_util::BodyExt;
use prost::Message;
use remote_v2_proto::RequestBuilder;
use std::sync::Arc;
use tower::ServiceExt;

mod support {
    pub mod recording_log;
}
use support::recording_log::RecordingLog;

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

async fn send(log: Arc<RecordingLog>, request: Request<Body>) -> Answer {
    let app = router(IngestState::new(log, "closeloop", IngestLimits::default()));
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

fn header(answer: &Answer, name: &str) -> String {
    answer
        .headers
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

fn written(answer: &Answer) -> (String, String, String) {
    (
        header(answer, "x-prometheus-remote-write-samples-written"),
        header(answer, "x-prometheus-remote-write-histograms-written"),
        header(answer, "x-prometheus-remote-write-exemplars-written"),
    )
}

fn v2(body: Vec<u8>) -> Request<Body> {
    Request::post("/api/v1/write")
        .header("content-encoding", "snappy")
        .header(
            "content-type",
            "application/x-protobuf;proto=io.prometheus.write.v2.Request",
        )
        .header("x-prometheus-remote-write-version", "2.0.0")
        .body(Body::from(
            snap::raw::Encoder::new().compress_vec(&body).unwrap(),
        ))
        .unwrap()
}

fn appended_event(log: &RecordingLog) -> closeloop_core::events::SamplesReceived {
    let appended = log.appended.lock().unwrap();
    assert_eq!(appended.len(), 1, "one record appended");
    let EventPayload::SamplesReceived(samples) =
        Event::from_json(&appended[0].1.value).unwrap().payload
    else {
        panic!("wrong type")
    };
    samples
}

#[tokio::test]
async fn a_v2_request_is_kept_as_sent_and_answered_204_with_the_written_counts() {
    let log = Arc::new(RecordingLog::default());
    let mut b = RequestBuilder::new();
    b.series(
        &[("__name__", "up"), ("job", "a")],
        &[(1_000, 1.0), (2_000, 1.0)],
    );
    b.series(&[("__name__", "up"), ("job", "b")], &[(1_000, 0.0)]);
    let request = v2(b.request.encode_to_vec());
    let answer = send(log.clone(), request).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    assert_eq!(written(&answer), ("3".into(), "0".into(), "0".into()));
    let samples = appended_event(&log);
    assert_eq!(samples.format, REMOTE_WRITE_V2_SNAPPY);
    assert_eq!(
        samples.body.as_ref(),
        snap::raw::Encoder::new()
            .compress_vec(&b.request.encode_to_vec())
            .unwrap(),
        "body kept byte for byte"
    );
    assert_eq!((samples.series, samples.samples), (2, 3));
}

#[tokio::test]
async fn a_bad_symbol_reference_is_400_naming_the_series_and_nothing_is_appended() {
    let log = Arc::new(RecordingLog::default());
    let mut b = RequestBuilder::new();
    b.series(&[("__name__", "up")], &[(1_000, 1.0)]);
    b.series(&[("__name__", "up"), ("job", "b")], &[(1_000, 1.0)]);
    b.request.timeseries[1].labels_refs[2] = 1000;
    let answer = send(log.clone(), v2(b.request.encode_to_vec())).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let body = String::from_utf8_lossy(&answer.body);
    assert!(
        body.contains("series 1: symbol reference 1000 is out of range"),
        "{body}"
    );
    assert_eq!(written(&answer), ("0".into(), "0".into(), "0".into()));
    assert!(log.appended.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_partial_write_stores_the_valid_series_and_answers_400_with_what_was_written() {
    let log = Arc::new(RecordingLog::default());
    let mut b = RequestBuilder::new();
    b.series(&[("__name__", "good")], &[(1_000, 1.0)]);
    b.series(&[("__name__", "hist")], &[])
        .histograms
        .push(vec![]);
    b.series(&[("no_name", "x")], &[(1_000, 1.0)]);
    let answer = send(log.clone(), v2(b.request.encode_to_vec())).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(written(&answer), ("1".into(), "0".into(), "0".into()));
    let body = String::from_utf8_lossy(&answer.body);
    assert!(
        body.contains("series 1: 1 native histogram samples not written"),
        "{body}"
    );
    assert!(body.contains("series 2: no __name__ label"), "{body}");
    assert_eq!(appended_event(&log).series, 1);
}

#[tokio::test]
async fn an_unknown_proto_is_415_and_a_log_that_refuses_is_503_with_retry_after() {
    let request = Request::post("/api/v1/write")
        .header(
            "content-type",
            "application/x-protobuf;proto=io.prometheus.write.v9.Request",
        )
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        send(Arc::default(), request).await.status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );

    let refusing = Arc::new(RecordingLog {
        refuse: true,
        ..Default::default()
    });
    let mut b = RequestBuilder::new();
    b.series(&[("__name__", "up")], &[(1_000, 1.0)]);
    let answer = send(refusing, v2(b.request.encode_to_vec())).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(header(&answer, "retry-after"), "5");
    assert_eq!(written(&answer).0, "0");
}

fn otlp_request() -> ExportMetricsServiceRequest {
    let point = |t: u64, v: i64| NumberDataPoint {
        attributes: vec![],
        time_unix_nano: t,
        value: Some(NumberValue::AsInt(v)),
        flags: 0,
    };
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue {
                        value: Some(Value::StringValue("api".into())),
                    }),
                }],
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![
                    Metric {
                        name: "jobs".into(),
                        sum: Some(Sum {
                            data_points: vec![point(1_700_000_000_000_000_000, 3)],
                            aggregation_temporality: TEMPORALITY_CUMULATIVE,
                            is_monotonic: true,
                        }),
                        ..Default::default()
                    },
                    Metric {
                        name: "delta.jobs".into(),
                        sum: Some(Sum {
                            data_points: vec![point(1_700_000_000_000_000_000, 1)],
                            aggregation_temporality: TEMPORALITY_DELTA,
                            is_monotonic: true,
                        }),
                        ..Default::default()
                    },
                ],
            }],
        }],
    }
}

fn otlp(content_type: &str, body: Vec<u8>) -> Request<Body> {
    Request::post("/v1/metrics")
        .header("content-type", content_type)
        .body(Body::from(body))
        .unwrap()
}

#[tokio::test]
async fn an_otlp_protobuf_export_is_stored_and_answered_with_partial_success_for_deltas() {
    let log = Arc::new(RecordingLog::default());
    let body = otlp_request().encode_to_vec();
    let answer = send(log.clone(), otlp("application/x-protobuf", body.clone())).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(header(&answer, "content-type"), "application/x-protobuf");
    let response = ExportMetricsServiceResponse::decode(answer.body.as_slice()).unwrap();
    let partial = response.partial_success.expect("partial success");
    assert_eq!(partial.rejected_data_points, 1);
    assert!(
        partial.error_message.contains("\"delta.jobs\": delta"),
        "{}",
        partial.error_message
    );
    let samples = appended_event(&log);
    assert_eq!(samples.body.as_ref(), body.as_slice(), "body kept as sent");
    assert_eq!((samples.series, samples.samples), (1, 1));
    assert_eq!(samples.max_timestamp_ms, Some(1_700_000_000_000));
}

#[tokio::test]
async fn an_otlp_json_export_is_answered_in_json() {
    let log = Arc::new(RecordingLog::default());
    let json = r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"temp","gauge":{"dataPoints":[{"timeUnixNano":"1700000000000000000","asDouble":1.5}]}}]}]}]}"#;
    let answer = send(log.clone(), otlp("application/json", json.into())).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(header(&answer, "content-type"), "application/json");
    assert_eq!(answer.body, b"{}");
    assert_eq!(appended_event(&log).format, OTLP_METRICS_JSON);
}

#[tokio::test]
async fn bad_otlp_input_is_400_415_or_413_with_a_status_message() {
    let answer = send(
        Arc::default(),
        otlp("application/json", b"{\"resourceMetrics\": 7}".to_vec()),
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let status: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(status["code"], 3);
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("not a valid ExportMetricsServiceRequest"),
        "{status}"
    );

    let answer = send(Arc::default(), otlp("text/plain", vec![])).await;
    assert_eq!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let bomb = {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(&vec![0u8; 80 << 20]).unwrap();
        e.finish().unwrap()
    };
    let request = Request::post("/v1/metrics")
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", "gzip")
        .body(Body::from(bomb))
        .unwrap();
    assert_eq!(
        send(Arc::default(), request).await.status,
        StatusCode::PAYLOAD_TOO_LARGE
    );

    let refusing = Arc::new(RecordingLog {
        refuse: true,
        ..Default::default()
    });
    let answer = send(
        refusing,
        otlp("application/x-protobuf", otlp_request().encode_to_vec()),
    )
    .await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(header(&answer, "retry-after"), "5");
}

async fn send_limited(
    log: Arc<RecordingLog>,
    limits: IngestLimits,
    request: Request<Body>,
) -> Answer {
    let app = router(IngestState::new(log, "closeloop", limits));
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

#[tokio::test]
async fn v2_and_otlp_requests_over_a_limit_are_refused_whole_naming_the_limit() {
    let tight = IngestLimits {
        max_series_per_request: 1,
        max_label_value_length: 8,
        ..IngestLimits::default()
    };
    let mut b = RequestBuilder::new();
    b.series(&[("__name__", "up"), ("job", "a")], &[(1_000, 1.0)]);
    b.series(&[("__name__", "up"), ("job", "b")], &[(1_000, 1.0)]);
    let log = Arc::new(RecordingLog::default());
    let answer = send_limited(log.clone(), tight.clone(), v2(b.request.encode_to_vec())).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(String::from_utf8_lossy(&answer.body).contains("ingest.max_series_per_request"));
    assert!(log.appended.lock().unwrap().is_empty());

    let mut b = RequestBuilder::new();
    b.series(
        &[("__name__", "up"), ("job", "much-too-long")],
        &[(1_000, 1.0)],
    );
    let answer = send_limited(log.clone(), tight.clone(), v2(b.request.encode_to_vec())).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(String::from_utf8_lossy(&answer.body).contains("ingest.max_label_value_length"));

    // OTLP: `service.name` "api" is short; a long attribute is not.
    let mut request = otlp_request();
    request.resource_metrics[0]
        .resource
        .as_mut()
        .unwrap()
        .attributes[0]
        .value = Some(AnyValue {
        value: Some(Value::StringValue("a-very-long-service".into())),
    });
    let answer = send_limited(
        log.clone(),
        tight,
        otlp("application/x-protobuf", request.encode_to_vec()),
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(
        String::from_utf8_lossy(&answer.body).contains("ingest.max_label_value_length"),
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    assert!(log.appended.lock().unwrap().is_empty());
}
