//! Ingest routes called in-process: what gets appended, and how every kind
//! of bad input is answered. The log here is a recording stand-in so a test
//! can make it refuse writes; the real log has its own suite.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use bytes::Bytes;
use closeloop_core::{Event, EventPayload};
use closeloop_ingest::{router, IngestLimits, IngestState};
use http_body_util::BodyExt;
use std::sync::Arc;
use tower::ServiceExt;

mod support {
    pub mod recording_log;
}
use support::recording_log::RecordingLog;

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../../tests/testdata/prometheus-2.42/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(path).unwrap()
}

fn app(log: Arc<RecordingLog>, limits: IngestLimits) -> axum::Router {
    router(IngestState::new(log, "closeloop", limits))
}

async fn send(app: axum::Router, request: Request<Body>) -> (StatusCode, String, Option<String>) {
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        String::from_utf8_lossy(&body).into_owned(),
        retry_after,
    )
}

fn remote_write(body: Vec<u8>) -> Request<Body> {
    Request::post("/api/v1/write")
        .header("content-encoding", "snappy")
        .header("content-type", "application/x-protobuf")
        .header("x-prometheus-remote-write-version", "0.1.0")
        .body(Body::from(body))
        .unwrap()
}

fn deploy(json: &str) -> Request<Body> {
    Request::post("/api/v1/deploys")
        .header("content-type", "application/json")
        .body(Body::from(json.to_string()))
        .unwrap()
}

#[tokio::test]
async fn a_captured_prometheus_request_is_appended_as_it_came() {
    let log = Arc::new(RecordingLog::default());
    let body = fixture("sample.remote_write.bin");
    let (status, _, _) = send(
        app(log.clone(), IngestLimits::default()),
        remote_write(body.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let appended = log.appended.lock().unwrap();
    assert_eq!(appended.len(), 1);
    assert_eq!(appended[0].0, "closeloop.samples");
    let event = Event::from_json(&appended[0].1.value).unwrap();
    let EventPayload::SamplesReceived(samples) = event.payload else {
        panic!("wrong type")
    };
    assert_eq!(samples.body, Bytes::from(body), "body kept byte for byte");
    assert_eq!(
        (samples.series, samples.samples, samples.metadata),
        (1043, 1043, 0)
    );
}

#[tokio::test]
async fn a_metadata_only_request_is_accepted() {
    let log = Arc::new(RecordingLog::default());
    let body = fixture("sample.remote_write.metadata.bin");
    let (status, _, _) = send(
        app(log.clone(), IngestLimits::default()),
        remote_write(body),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let appended = log.appended.lock().unwrap();
    let event = Event::from_json(&appended[0].1.value).unwrap();
    let EventPayload::SamplesReceived(samples) = event.payload else {
        panic!("wrong type")
    };
    assert_eq!((samples.series, samples.metadata), (0, 462));
}

#[tokio::test]
async fn garbage_gets_400_with_the_reason_and_nothing_is_appended() {
    let log = Arc::new(RecordingLog::default());
    let (status, body, _) = send(
        app(log.clone(), IngestLimits::default()),
        remote_write(b"garbage".to_vec()),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("snappy"), "{body}");
    assert!(log.appended.lock().unwrap().is_empty());
}

#[tokio::test]
async fn valid_snappy_around_invalid_protobuf_gets_400() {
    let log = Arc::new(RecordingLog::default());
    let body = snap::raw::Encoder::new().compress_vec(&[0xff; 64]).unwrap();
    let (status, body, _) = send(app(log, IngestLimits::default()), remote_write(body)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("protobuf"), "{body}");
}

#[tokio::test]
async fn a_body_over_the_limit_gets_413() {
    let log = Arc::new(RecordingLog::default());
    let limits = IngestLimits {
        max_body_bytes: 1024,
        ..IngestLimits::default()
    };
    let (status, _, _) = send(
        app(log, limits),
        remote_write(fixture("sample.remote_write.bin")),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn a_body_that_inflates_over_the_limit_gets_413() {
    let log = Arc::new(RecordingLog::default());
    let limits = IngestLimits {
        max_decoded_bytes: 4096,
        ..IngestLimits::default()
    };
    let (status, body, _) = send(
        app(log, limits),
        remote_write(fixture("sample.remote_write.bin")),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
}

#[tokio::test]
async fn a_log_that_cannot_take_data_gets_503_with_retry_after() {
    let log = Arc::new(RecordingLog {
        refuse: true,
        ..Default::default()
    });
    let (status, _, retry_after) = send(
        app(log, IngestLimits::default()),
        remote_write(fixture("sample.remote_write.bin")),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(retry_after.as_deref(), Some("5"));
}

#[tokio::test]
async fn an_unknown_remote_write_proto_is_refused_with_415_so_senders_fall_back() {
    let log = Arc::new(RecordingLog::default());
    let request = Request::post("/api/v1/write")
        .header("content-encoding", "snappy")
        .header(
            "content-type",
            "application/x-protobuf;proto=io.prometheus.write.v3.Request",
        )
        .body(Body::from(fixture("sample.remote_write.bin")))
        .unwrap();
    let (status, _, _) = send(app(log, IngestLimits::default()), request).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn a_deploy_is_recorded_with_its_defaults() {
    let log = Arc::new(RecordingLog::default());
    let json = r#"{"service":"checkout","environment":"prod","version":"v1.2.3",
        "finished_at":"2026-11-22T10:00:00Z","commits":[{"sha":"abc123"}],"labels":{"team":"payments"}}"#;
    let (status, _, _) = send(app(log.clone(), IngestLimits::default()), deploy(json)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let appended = log.appended.lock().unwrap();
    assert_eq!(appended[0].0, "closeloop.deploys");
    let event = Event::from_json(&appended[0].1.value).unwrap();
    assert_eq!(event.envelope.key, "checkout/prod");
    assert_eq!(
        event.envelope.occurred_at.to_rfc3339(),
        "2026-11-22T10:00:00+00:00"
    );
    let EventPayload::DeployRecorded(deploy) = event.payload else {
        panic!("wrong type")
    };
    assert_eq!(deploy.status.as_str(), "succeeded");
    assert_eq!(deploy.labels["team"], "payments");
}

#[tokio::test]
async fn deploy_mistakes_get_400_naming_the_field() {
    let cases = [
        (r#"{"environment":"prod","version":"1"}"#, "service"),
        (
            r#"{"service":"a","environment":"prod","version":7}"#,
            "version",
        ),
        (
            r#"{"service":"a","environment":"prod","version":"1","status":"done"}"#,
            "status",
        ),
        (
            r#"{"service":"","environment":"prod","version":"1"}"#,
            "service",
        ),
        (
            r#"{"service":"a","environment":"prod","version":"1","commits":[{"sha":1}]}"#,
            "commits[0].sha",
        ),
        (
            r#"{"service":"a","environment":"prod","version":"1","started_at":"yesterday"}"#,
            "started_at",
        ),
        (
            r#"{"service":"a","environment":"prod","version":"1","sevrice":"x"}"#,
            "sevrice",
        ),
        (r#"not json"#, "invalid deploy"),
    ];
    for (json, field) in cases {
        let log = Arc::new(RecordingLog::default());
        let (status, body, _) = send(app(log.clone(), IngestLimits::default()), deploy(json)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{json}");
        assert!(body.contains(field), "{json}: {body} should name {field}");
        assert!(log.appended.lock().unwrap().is_empty());
    }
}
