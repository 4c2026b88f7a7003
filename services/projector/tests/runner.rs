//! The runner against a real embedded log: what is appended to the log
//! shows up in the query API, and a restart resumes from the checkpoint.

mod common;

use axum::body::Body;
use axum::http::Request;
use closeloop_core::Event;
use closeloop_log::embedded::{EmbeddedLog, EmbeddedOptions};
use closeloop_log::{EventLog, NewRecord};
use closeloop_projector::store::{DeployFilter, CONSUMER};
use closeloop_projector::{metrics, query_router, run, ReadStore, SqliteStore};
use common::*;
use http_body_util::BodyExt;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tower::ServiceExt;

const PREFIX: &str = "it";

struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), closeloop_projector::ProjectorError>>,
}

impl Running {
    fn start(log: Arc<dyn EventLog>, store: Arc<dyn ReadStore>) -> Running {
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            run(log, PREFIX, store, async {
                let _ = stopped.await;
            })
            .await
        });
        Running { stop, task }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        let ended = tokio::time::timeout(Duration::from_secs(5), self.task)
            .await
            .expect("runner stops within 5s of shutdown")
            .expect("runner task did not panic");
        ended.expect("runner ends cleanly on shutdown");
    }
}

async fn open_log(dir: &std::path::Path, partitions: u32) -> Arc<EmbeddedLog> {
    let options = EmbeddedOptions {
        default_partitions: partitions,
        ..EmbeddedOptions::default()
    };
    Arc::new(EmbeddedLog::open(dir, options).await.expect("open log"))
}

async fn append(log: &dyn EventLog, event: &Event) {
    let topic = event.payload.topic().name(PREFIX);
    append_raw(log, &topic, event.envelope.key.as_bytes(), event.to_json()).await;
}

async fn append_raw(log: &dyn EventLog, topic: &str, key: &[u8], value: Vec<u8>) {
    log.append(
        topic,
        vec![NewRecord {
            key: key.to_vec().into(),
            value: value.into(),
            timestamp_ms: 0,
        }],
    )
    .await
    .expect("append");
}

async fn get_data(router: &axum::Router, uri: &str) -> Vec<Value> {
    let response = router
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).expect("request"))
        .await
        .expect("router answers");
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let body: Value = serde_json::from_slice(&bytes).expect("JSON body");
    body["data"].as_array().cloned().unwrap_or_default()
}

/// Polls `uri` until it lists `count` rows; panics after `within`.
async fn wait_for_rows(
    router: &axum::Router,
    uri: &str,
    count: usize,
    within: Duration,
) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let rows = get_data(router, uri).await;
        if rows.len() >= count {
            return rows;
        }
        assert!(
            started.elapsed() < within,
            "{uri} listed {} rows, not {count}, after {within:?}",
            rows.len()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_deploy_appended_to_the_log_is_queryable_within_a_second() {
    let log_dir = tempfile::tempdir().expect("log dir");
    let log = open_log(log_dir.path(), 1).await;
    let (_db_dir, store) = temp_store().await;
    let router = query_router(store.clone());
    let running = Running::start(log.clone(), store.clone());
    // Let the runner reach its first idle read, as in a running server.
    tokio::time::sleep(Duration::from_millis(300)).await;

    let event = deploy("checkout", "production", "v2.14.0", "2024-05-02T09:58:12Z");
    append(log.as_ref(), &event).await;
    let appended = Instant::now();
    let rows = wait_for_rows(&router, "/api/v1/deploys", 1, Duration::from_secs(1)).await;
    let latency = appended.elapsed();
    assert_eq!(rows[0]["id"], event.envelope.id.to_string());
    assert_eq!(rows[0]["version"], "v2.14.0");
    assert!(latency < Duration::from_secs(1), "took {latency:?}");

    running.stop().await;
}

#[tokio::test]
async fn alerts_and_issues_from_every_partition_reach_the_api() {
    let log_dir = tempfile::tempdir().expect("log dir");
    let log = open_log(log_dir.path(), 4).await;
    let (_db_dir, store) = temp_store().await;
    let router = query_router(store.clone());
    let running = Running::start(log.clone(), store.clone());

    let names = ["A", "B", "C", "D", "E", "F", "G", "H"];
    for name in names {
        append(
            log.as_ref(),
            &alert(name, "pending", "2024-05-02T10:00:00Z"),
        )
        .await;
        append(log.as_ref(), &alert(name, "firing", "2024-05-02T10:05:00Z")).await;
        append(
            log.as_ref(),
            &issue_filed(name, name, "2024-05-02T10:05:01Z"),
        )
        .await;
    }
    append(
        log.as_ref(),
        &alert("A", "resolved", "2024-05-02T10:30:00Z"),
    )
    .await;
    append(
        log.as_ref(),
        &issue_closed("A", "A", "2024-05-02T10:30:01Z"),
    )
    .await;

    wait_for_rows(
        &router,
        "/api/v1/alert-history?state=firing",
        7,
        Duration::from_secs(5),
    )
    .await;
    wait_for_rows(
        &router,
        "/api/v1/alert-history?state=resolved",
        1,
        Duration::from_secs(5),
    )
    .await;
    wait_for_rows(
        &router,
        "/api/v1/issues?state=closed",
        1,
        Duration::from_secs(5),
    )
    .await;
    let open = wait_for_rows(
        &router,
        "/api/v1/issues?state=open",
        7,
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(open.len(), 7);
    assert!(get_data(&router, "/api/v1/alert-history?state=pending")
        .await
        .is_empty());

    running.stop().await;
    // Keys spread over the partitions, and each has its own checkpoint.
    let checkpoints = store.checkpoints(CONSUMER).await.expect("checkpoints");
    let alert_partitions = checkpoints
        .iter()
        .filter(|c| c.topic == "it.alerts")
        .count();
    assert!(alert_partitions > 1, "{checkpoints:?}");
}

#[tokio::test]
async fn undecodable_records_are_skipped_and_counted() {
    let log_dir = tempfile::tempdir().expect("log dir");
    let log = open_log(log_dir.path(), 1).await;
    let (_db_dir, store) = temp_store().await;
    let router = query_router(store.clone());
    let failures_before = metrics::DECODE_FAILURES
        .with_label_values(&["alerts"])
        .get();
    let running = Running::start(log.clone(), store.clone());

    append_raw(log.as_ref(), "it.alerts", b"k", b"{not json".to_vec()).await;
    append_raw(
        log.as_ref(),
        "it.alerts",
        b"k",
        br#"{"id":"0190d3c0-0000-7000-8000-000000000000","type":"AlertExploded","version":1,"source":"x","key":"k","occurred_at":"2024-05-02T10:00:00Z","recorded_at":"2024-05-02T10:00:00Z","payload":{}}"#.to_vec(),
    )
    .await;
    append(log.as_ref(), &alert("A", "firing", "2024-05-02T10:05:00Z")).await;

    wait_for_rows(&router, "/api/v1/alert-history", 1, Duration::from_secs(5)).await;
    running.stop().await;
    let failures = metrics::DECODE_FAILURES
        .with_label_values(&["alerts"])
        .get()
        - failures_before;
    assert!(failures >= 2, "counted {failures} decode failures");
    assert_eq!(
        store
            .checkpoint(CONSUMER, "it.alerts", 0)
            .await
            .expect("cp"),
        Some(3)
    );
}

#[tokio::test]
async fn a_restarted_projector_resumes_from_its_checkpoint() {
    let log_dir = tempfile::tempdir().expect("log dir");
    let db_dir = tempfile::tempdir().expect("db dir");
    let db = db_dir.path().join("read.db");
    let log = open_log(log_dir.path(), 1).await;

    let store = Arc::new(SqliteStore::open(&db).await.expect("open store"));
    let running = Running::start(log.clone(), store.clone());
    for version in ["v1", "v2", "v3"] {
        append(
            log.as_ref(),
            &deploy("checkout", "production", version, "2024-05-02T09:00:00Z"),
        )
        .await;
    }
    let router = query_router(store.clone());
    wait_for_rows(&router, "/api/v1/deploys", 3, Duration::from_secs(5)).await;
    running.stop().await;
    store.close().await;

    append(
        log.as_ref(),
        &deploy("checkout", "production", "v4", "2024-05-02T10:00:00Z"),
    )
    .await;
    let store = Arc::new(SqliteStore::open(&db).await.expect("reopen store"));
    assert_eq!(
        store
            .checkpoint(CONSUMER, "it.deploys", 0)
            .await
            .expect("cp"),
        Some(3)
    );
    let running = Running::start(log.clone(), store.clone());
    let router = query_router(store.clone());
    let rows = wait_for_rows(&router, "/api/v1/deploys", 4, Duration::from_secs(5)).await;
    assert_eq!(rows[0]["version"], "v4");
    running.stop().await;
    assert_eq!(
        store
            .deploys(&DeployFilter::default())
            .await
            .expect("q")
            .len(),
        4
    );
    assert_eq!(
        store
            .checkpoint(CONSUMER, "it.deploys", 0)
            .await
            .expect("cp"),
        Some(4)
    );
}

#[tokio::test]
async fn samples_are_not_projected() {
    let log_dir = tempfile::tempdir().expect("log dir");
    let log = open_log(log_dir.path(), 1).await;
    let (_db_dir, store) = temp_store().await;
    let router = query_router(store.clone());
    let running = Running::start(log.clone(), store.clone());
    append_raw(log.as_ref(), "it.samples", b"0", b"{}".to_vec()).await;
    append(
        log.as_ref(),
        &deploy("checkout", "production", "v1", "2024-05-02T09:00:00Z"),
    )
    .await;
    wait_for_rows(&router, "/api/v1/deploys", 1, Duration::from_secs(5)).await;
    running.stop().await;
    let topics: Vec<String> = store
        .checkpoints(CONSUMER)
        .await
        .expect("checkpoints")
        .into_iter()
        .map(|c| c.topic)
        .collect();
    assert_eq!(topics, ["it.deploys"]);
}
