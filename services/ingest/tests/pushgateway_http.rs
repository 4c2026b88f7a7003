//! The Pushgateway API in-process over the real embedded log: PUT/POST/
//! DELETE semantics, the consistency check against earlier pushes (also
//! after a restart of ingest over the same log), refusals that keep
//! nothing, limits and `GET /api/v1/metrics`. Python's prometheus_client
//! and the real Pushgateway are compared in closeloop's e2e_pushgateway.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use closeloop_ingest::{router, IngestLimits, IngestState};
use closeloop_log::embedded::{EmbeddedLog, EmbeddedOptions};
use closeloop_log::EventLog;
use http_body_util::BodyExt;
use serde_json::Value;
use std::sync::Arc;
use tower::ServiceExt;

mod support {
    pub mod recording_log;
}
use support::recording_log::RecordingLog;

struct Gateway {
    state: IngestState,
}

impl Gateway {
    async fn open(dir: &std::path::Path, limits: IngestLimits) -> Gateway {
        let options = EmbeddedOptions {
            fsync: false,
            ..EmbeddedOptions::default()
        };
        let log: Arc<dyn EventLog> = Arc::new(EmbeddedLog::open(dir, options).await.unwrap());
        Gateway {
            state: IngestState::new(log, "closeloop", limits),
        }
    }

    async fn call(&self, method: &str, path: &str, body: &str) -> (StatusCode, String) {
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header("content-type", "text/plain; version=0.0.4")
            .body(Body::from(body.to_string()))
            .unwrap();
        let response = router(self.state.clone()).oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    async fn groups(&self) -> Vec<Value> {
        let (status, body) = self.call("GET", "/api/v1/metrics", "").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let answer: Value = serde_json::from_str(&body).unwrap();
        let mut groups = answer["data"].as_array().unwrap().clone();
        groups.sort_by_key(|g| g["labels"].to_string());
        groups
    }
}

fn family_names(group: &Value) -> Vec<String> {
    let mut names: Vec<String> = group
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| *k != "labels" && *k != "last_push_successful")
        .cloned()
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn put_post_and_delete_work_on_groups_as_the_pushgateway_does() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::open(dir.path(), IngestLimits::default()).await;
    let path = "/metrics/job/batch/instance/a";
    assert_eq!(gw.call("PUT", path, "a 1\nb 2\n").await.0, StatusCode::OK);
    assert_eq!(gw.call("POST", path, "b 3\nc 4\n").await.0, StatusCode::OK);
    let groups = gw.groups().await;
    assert_eq!(
        family_names(&groups[0]),
        [
            "a",
            "b",
            "c",
            "push_failure_time_seconds",
            "push_time_seconds"
        ]
    );
    assert_eq!(groups[0]["b"]["metrics"][0]["value"], "3");
    assert_eq!(groups[0]["a"]["metrics"][0]["labels"]["instance"], "a");
    assert_eq!(groups[0]["last_push_successful"], true);

    assert_eq!(gw.call("PUT", path, "z 9\n").await.0, StatusCode::OK);
    assert_eq!(
        family_names(&gw.groups().await[0]),
        ["push_failure_time_seconds", "push_time_seconds", "z"]
    );
    // An empty PUT keeps the group, empty.
    assert_eq!(gw.call("PUT", path, "").await.0, StatusCode::OK);
    assert_eq!(
        family_names(&gw.groups().await[0]),
        ["push_failure_time_seconds", "push_time_seconds"]
    );
    assert_eq!(gw.call("DELETE", path, "").await.0, StatusCode::ACCEPTED);
    assert!(gw.groups().await.is_empty());
}

#[tokio::test]
async fn a_push_clashing_with_another_group_is_refused_even_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let gw = Gateway::open(dir.path(), IngestLimits::default()).await;
        let put = "# TYPE jobs counter\njobs 1\n";
        assert_eq!(
            gw.call("PUT", "/metrics/job/a", put).await.0,
            StatusCode::OK
        );
    }
    // A new ingest over the same log knows the group from the log alone.
    let gw = Gateway::open(dir.path(), IngestLimits::default()).await;
    let (status, body) = gw
        .call("PUT", "/metrics/job/b", "# TYPE jobs gauge\njobs 2\n")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.starts_with("pushed metrics are invalid or inconsistent with existing metrics: "),
        "{body}"
    );
    assert!(body.contains("is not a counter"), "{body}");
    let groups = gw.groups().await;
    assert_eq!(
        groups.len(),
        2,
        "the refused push created its group: {groups:?}"
    );
    assert_eq!(groups[1]["labels"]["job"], "b");
    assert_eq!(groups[1]["last_push_successful"], false);
    assert_eq!(
        family_names(&groups[1]),
        ["push_failure_time_seconds", "push_time_seconds"]
    );
    assert_eq!(groups[1]["push_time_seconds"]["metrics"][0]["value"], "0");
}

#[tokio::test]
async fn malformed_bodies_and_paths_are_400_and_keep_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let gw = Gateway::open(dir.path(), IngestLimits::default()).await;
    let cases = [
        (
            "/metrics/job/x",
            "ok 1\nbad{ 1\n",
            "text format parsing error in line 2",
        ),
        (
            "/metrics/job/x/instance",
            "a 1\n",
            "odd number of components",
        ),
        ("/metrics/job/x/__a/1", "a 1\n", "improper label name"),
        (
            "/metrics/job@base64/%21%21",
            "a 1\n",
            "invalid base64 encoding in job name",
        ),
    ];
    for (path, body, needle) in cases {
        let (status, text) = gw.call("PUT", path, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {text}");
        assert!(text.contains(needle), "{path}: {text}");
    }
    assert!(
        gw.groups().await.is_empty(),
        "a parse error leaves no trace"
    );
    // base64 job and label values, `=` for the empty value.
    let (status, _) = gw
        .call(
            "PUT",
            "/metrics/job@base64/L2pvYg/path@base64/L3Zhcg/empty@base64/=",
            "a 1\n",
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let labels = &gw.groups().await[0]["labels"];
    assert_eq!(labels["job"], "/job");
    assert_eq!(labels["path"], "/var");
    assert_eq!(labels["empty"], "");
}

#[tokio::test]
async fn limits_apply_to_pushes_with_the_limit_named() {
    let dir = tempfile::tempdir().unwrap();
    let limits = IngestLimits {
        max_series_per_request: 2,
        max_label_value_length: 5,
        ..IngestLimits::default()
    };
    let gw = Gateway::open(dir.path(), limits).await;
    let (status, body) = gw.call("PUT", "/metrics/job/x", "a 1\nb 1\nc 1\n").await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(body.contains("ingest.max_series_per_request"), "{body}");
    let (status, body) = gw
        .call("PUT", "/metrics/job/x", "a{v=\"toolong\"} 1\n")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("ingest.max_label_value_length"), "{body}");
    assert!(gw.groups().await.is_empty());
}

#[tokio::test]
async fn a_log_that_cannot_take_the_push_is_503_with_retry_after() {
    let log = Arc::new(RecordingLog {
        refuse: true,
        ..RecordingLog::default()
    });
    let state = IngestState::new(log, "closeloop", IngestLimits::default());
    let request = Request::put("/metrics/job/x")
        .body(Body::from("a 1\n"))
        .unwrap();
    let response = router(state).oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
}
