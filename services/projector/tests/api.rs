//! The query API, called in-process over an SQLite store in a temp dir.

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use closeloop_projector::{query_router, ReadStore};
use common::*;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use std::sync::Arc;
use tower::ServiceExt;

async fn get(router: &Router, uri: &str) -> (StatusCode, Value) {
    let response = router
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).expect("request"))
        .await
        .expect("router answers");
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{uri}: body is not JSON ({e}): {bytes:?}"));
    (status, body)
}

async fn seeded() -> (
    tempfile::TempDir,
    Arc<closeloop_projector::SqliteStore>,
    Router,
) {
    let (dir, store) = temp_store().await;
    store
        .apply(&batch(
            "closeloop.deploys",
            0,
            vec![
                deploy("checkout", "production", "v1", "2024-05-01T09:00:00Z"),
                deploy("checkout", "staging", "v2", "2024-05-01T10:00:00Z"),
                deploy("checkout", "production", "v2", "2024-05-02T09:00:00.5Z"),
                deploy("search", "production", "v7", "2024-05-02T10:00:00Z"),
            ],
        ))
        .await
        .expect("deploys");
    store
        .apply(&batch(
            "closeloop.alerts",
            0,
            vec![
                alert("A", "pending", "2024-05-02T10:00:00Z"),
                alert("B", "firing", "2024-05-02T10:01:00Z"),
                alert("C", "resolved", "2024-05-02T10:02:00Z"),
            ],
        ))
        .await
        .expect("alerts");
    store
        .apply(&batch(
            "closeloop.outcomes",
            0,
            vec![
                issue_filed("B", "1", "2024-05-02T10:01:05Z"),
                issue_filed("C", "2", "2024-05-02T09:00:00Z"),
                issue_closed("C", "2", "2024-05-02T10:02:05Z"),
            ],
        ))
        .await
        .expect("issues");
    let router = query_router(store.clone());
    (dir, store, router)
}

fn field<'a>(rows: &'a Value, name: &str) -> Vec<&'a str> {
    rows["data"]
        .as_array()
        .expect("data is an array")
        .iter()
        .map(|row| row[name].as_str().expect("string field"))
        .collect()
}

#[tokio::test]
async fn alerts_are_listed_with_labels_as_objects_and_rfc3339_times() {
    let (_dir, _store, router) = seeded().await;
    let (status, body) = get(&router, "/api/v1/alert-history").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "success");
    let rows = body["data"].as_array().expect("array");
    assert_eq!(rows.len(), 3);
    let b = rows
        .iter()
        .find(|r| r["alertname"] == "B")
        .expect("alert B");
    assert_eq!(b["state"], "firing");
    assert_eq!(b["fingerprint"], json!(fp("B")));
    assert_eq!(
        b["labels"],
        json!({"alertname": "B", "service": "checkout", "severity": "page"})
    );
    assert_eq!(b["annotations"]["summary"], "B on checkout");
    assert_eq!(b["active_at"], "2024-05-02T10:00:00Z");
    assert_eq!(b["fired_at"], "2024-05-02T10:01:00Z");
    assert_eq!(b["resolved_at"], Value::Null);
    assert_eq!(b["value"], 0.07);
    assert_eq!(b["suspect_deploys"][0]["version"], "v2.14.0");
}

#[tokio::test]
async fn alerts_filter_by_state_parameter() {
    let (_dir, _store, router) = seeded().await;
    for (state, name) in [("firing", "B"), ("pending", "A"), ("resolved", "C")] {
        let (status, body) = get(&router, &format!("/api/v1/alert-history?state={state}")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(field(&body, "alertname"), [name]);
    }
}

#[tokio::test]
async fn deploys_are_newest_first_and_filter_by_service_environment_and_limit() {
    let (_dir, _store, router) = seeded().await;
    let (status, body) = get(&router, "/api/v1/deploys").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(field(&body, "version"), ["v7", "v2", "v2", "v1"]);
    let first = &body["data"][0];
    assert_eq!(first["service"], "search");
    assert_eq!(first["status"], "succeeded");
    assert_eq!(first["labels"], json!({"team": "payments"}));
    assert_eq!(first["commits"][0]["sha"], "9f2c1e7a4b0d");
    assert_eq!(first["occurred_at"], "2024-05-02T10:00:00Z");

    let (_, body) = get(
        &router,
        "/api/v1/deploys?service=checkout&environment=production",
    )
    .await;
    assert_eq!(field(&body, "version"), ["v2", "v1"]);
    assert_eq!(body["data"][0]["occurred_at"], "2024-05-02T09:00:00.500Z");

    let (_, body) = get(&router, "/api/v1/deploys?limit=1").await;
    assert_eq!(field(&body, "version"), ["v7"]);
}

#[tokio::test]
async fn issues_filter_by_state_parameter() {
    let (_dir, _store, router) = seeded().await;
    let (_, body) = get(&router, "/api/v1/issues").await;
    assert_eq!(field(&body, "issue_id").len(), 2);
    let (_, body) = get(&router, "/api/v1/issues?state=open").await;
    assert_eq!(field(&body, "issue_id"), ["1"]);
    assert_eq!(body["data"][0]["url"], "http://127.0.0.1:3000/issues/1");
    assert_eq!(body["data"][0]["occurrences"], 1);
    let (_, body) = get(&router, "/api/v1/issues?state=closed").await;
    assert_eq!(field(&body, "issue_id"), ["2"]);
    assert_eq!(body["data"][0]["closed_at"], "2024-05-02T10:02:05Z");
}

#[tokio::test]
async fn bad_query_parameters_get_a_400_naming_the_parameter() {
    let (_dir, _store, router) = seeded().await;
    for (uri, parameter) in [
        ("/api/v1/alert-history?state=burning", "state"),
        ("/api/v1/issues?state=firing", "state"),
        ("/api/v1/deploys?limit=0", "limit"),
        ("/api/v1/deploys?limit=ten", "limit"),
        ("/api/v1/deploys?limit=1000000", "limit"),
        ("/api/v1/deploys?service=", "service"),
        ("/api/v1/deploys?sevice=checkout", "sevice"),
        ("/api/v1/alert-history?state=firing&state=pending", "state"),
    ] {
        let (status, body) = get(&router, uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(body["status"], "error", "{uri}");
        let message = body["error"].as_str().expect("error message");
        assert!(
            message.contains(&format!("`{parameter}`")),
            "{uri}: message {message:?} does not name `{parameter}`"
        );
    }
}

#[tokio::test]
async fn a_store_failure_is_a_500_without_internals() {
    let (_dir, store, router) = seeded().await;
    store.close().await;
    let (status, body) = get(&router, "/api/v1/deploys").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        body,
        json!({"status": "error", "error": "reading the read models failed"})
    );
}

#[tokio::test]
async fn an_empty_store_answers_empty_lists() {
    let (_dir, store) = temp_store().await;
    let router = query_router(store as Arc<dyn ReadStore>);
    for uri in ["/api/v1/alert-history", "/api/v1/deploys", "/api/v1/issues"] {
        let (status, body) = get(&router, uri).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, json!({"status": "success", "data": []}));
    }
}

#[tokio::test]
async fn scale_actions_show_the_decision_and_its_result_per_scaler() {
    use closeloop_core::events::{ScaleRequested, ScaleTrigger};
    use closeloop_core::{Event, EventPayload};
    let (_dir, store) = temp_store().await;
    let tick = at("2024-05-02T10:00:00Z");
    let request = ScaleRequested {
        scaler: "workers".into(),
        request_id: uuid::Uuid::now_v7(),
        trigger: ScaleTrigger::Metric,
        from_replicas: 2,
        to_replicas: 4,
        query_value: Some(35.0),
        raw_desired: Some(4),
        stabilized: Some(4),
        limited_by: Vec::new(),
        limiting_policy: None,
        cause: None,
        tick_at: tick,
    };
    let event = Event::new(
        EventPayload::ScaleRequested(request.clone()),
        "evaluator",
        "workers".into(),
        tick,
        tick,
    );
    store
        .apply(&batch("closeloop.actions", 0, vec![event]))
        .await
        .expect("actions");
    let router = query_router(store.clone() as Arc<dyn ReadStore>);

    let (status, body) = get(&router, "/api/v1/scale-actions?scaler=workers").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let row = &body["data"][0];
    assert_eq!(row["request_id"], request.request_id.to_string());
    assert_eq!(
        (row["from_replicas"].clone(), row["to_replicas"].clone()),
        (json!(2), json!(4))
    );
    assert_eq!(row["query_value"], 35.0);
    assert_eq!(row["result"], "requested");
    assert_eq!(row["reason"], "metric: value 35, raw desired 4");

    let (status, body) = get(&router, "/api/v1/scale-actions?scaler=other").await;
    assert_eq!((status, body["data"].clone()), (StatusCode::OK, json!([])));
    let (status, body) = get(&router, "/api/v1/scale-actions?scalr=workers").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"].as_str().unwrap_or_default().contains("scalr"),
        "{body}"
    );
}
