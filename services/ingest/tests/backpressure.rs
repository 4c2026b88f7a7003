//! Back-pressure over the real embedded log: while the evaluator's
//! reported progress is more than the limit behind the samples topic,
//! remote write (a body Prometheus 2.42 sent) gets 503 with Retry-After and
//! a reason; deploys are still taken; once the evaluator catches up,
//! samples are taken again. Nothing is appended while refusing.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use bytes::Bytes;
use closeloop_core::topics::{SamplesProgress, EVALUATOR_SAMPLES_GROUP};
use closeloop_ingest::backpressure::{evaluator_lag, Backpressure};
use closeloop_ingest::{router, IngestLimits, IngestState};
use closeloop_log::embedded::{EmbeddedLog, EmbeddedOptions};
use closeloop_log::{CommittedPosition, EventLog, NewRecord};
use http_body_util::BodyExt;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

const SAMPLES: &str = "closeloop.samples";

fn captured_body() -> Vec<u8> {
    let path = format!(
        "{}/../../tests/testdata/prometheus-2.42/sample.remote_write.bin",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(path).unwrap()
}

fn remote_write() -> Request<Body> {
    Request::post("/api/v1/write")
        .header("content-encoding", "snappy")
        .header("content-type", "application/x-protobuf")
        .header("x-prometheus-remote-write-version", "0.1.0")
        .body(Body::from(captured_body()))
        .unwrap()
}

async fn report_progress(log: &dyn EventLog, read_next: u64) {
    let metadata = serde_json::to_string(&SamplesProgress { read_next }).unwrap();
    log.commit(
        EVALUATOR_SAMPLES_GROUP,
        SAMPLES,
        0,
        CommittedPosition {
            next_offset: 0,
            metadata,
        },
    )
    .await
    .unwrap();
}

async fn wait_until(what: &str, mut probe: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !probe() {
        assert!(std::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn samples_get_503_with_the_reason_while_the_evaluator_is_behind() {
    let dir = tempfile::tempdir().unwrap();
    let options = EmbeddedOptions {
        fsync: false,
        ..EmbeddedOptions::default()
    };
    let log: Arc<dyn EventLog> = Arc::new(EmbeddedLog::open(dir.path(), options).await.unwrap());
    // No evaluator has reported: the lag is unknown, nothing is refused.
    assert_eq!(evaluator_lag(&*log, SAMPLES).await.unwrap(), None);

    for i in 0..10 {
        log.append(
            SAMPLES,
            vec![NewRecord {
                key: Bytes::from(format!("k{i}")),
                value: Bytes::from_static(b"{}"),
                timestamp_ms: 0,
            }],
        )
        .await
        .unwrap();
    }
    report_progress(&*log, 2).await;
    assert_eq!(evaluator_lag(&*log, SAMPLES).await.unwrap(), Some(8));

    let mut state = IngestState::new(log.clone(), "closeloop", IngestLimits::default());
    let backpressure = Backpressure::default();
    state.backpressure = backpressure.clone();
    let app = router(state);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let watcher = {
        let (backpressure, log) = (backpressure.clone(), log.clone());
        tokio::spawn(async move {
            backpressure
                .watch(log, "closeloop", 5, async {
                    let _ = stop_rx.await;
                })
                .await
        })
    };
    wait_until("back-pressure to turn on", || {
        backpressure.refusal().is_some()
    })
    .await;

    let response = app.clone().oneshot(remote_write()).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().get("retry-after").is_some());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let body = String::from_utf8_lossy(&body);
    assert!(
        body.contains("evaluator is 8 samples records behind (limit 5"),
        "{body}"
    );
    assert_eq!(
        log.end_offset(SAMPLES, 0).await.unwrap(),
        10,
        "nothing appended"
    );

    // Deploys are not samples: still taken.
    let deploy = Request::post("/api/v1/deploys")
        .header("content-type", "application/json")
        .body(Body::from(
            r#"{"service":"api","environment":"prod","version":"v1.2.3"}"#,
        ))
        .unwrap();
    let status = app.clone().oneshot(deploy).await.unwrap().status();
    assert!(status.is_success(), "deploy answered {status}");

    // The evaluator catches up: samples are taken again.
    report_progress(&*log, 10).await;
    wait_until("back-pressure to turn off", || {
        backpressure.refusal().is_none()
    })
    .await;
    let status = app.oneshot(remote_write()).await.unwrap().status();
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(log.end_offset(SAMPLES, 0).await.unwrap(), 11);

    let _ = stop_tx.send(());
    watcher.await.unwrap();
}
