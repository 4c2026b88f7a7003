//! `GET /api/v1/dora` and the `closeloop_dora_*` gauges: the endpoint's
//! parameters and answer, and both agreeing on the same log projected by
//! the real runner (in their own test binary, so no other test moves the
//! process-wide gauges meanwhile).

mod common;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use chrono::{DateTime, SecondsFormat, Utc};
use closeloop_core::events::DeployStatus::{RolledBack, Succeeded};
use closeloop_core::Event;
use closeloop_log::embedded::{EmbeddedLog, EmbeddedOptions};
use closeloop_log::{EventLog, NewRecord};
use closeloop_projector::{query_router, run, ReadStore};
use common::*;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
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

#[tokio::test]
async fn a_service_without_deploys_answers_zero_counts_and_null_figures() {
    let (_dir, store) = temp_store().await;
    let router = query_router(store as Arc<dyn ReadStore>);
    let (status, body) = get(
        &router,
        "/api/v1/dora?service=checkout&environment=production",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["data"],
        json!({
            "service": "checkout",
            "environment": "production",
            "window": "30d",
            "deployment_frequency_per_day": 0.0,
            "deployments": 0,
            "successful_deployments": 0,
            "lead_time_seconds_median": null,
            "change_failure_rate": null,
            "failed_deployments": 0,
            "time_to_restore_seconds_median": null,
            "incidents": 0,
        })
    );
}

#[tokio::test]
async fn bad_dora_parameters_get_a_400_naming_the_parameter() {
    let (_dir, store) = temp_store().await;
    let router = query_router(store as Arc<dyn ReadStore>);
    for (uri, named) in [
        ("/api/v1/dora?environment=production", "service"),
        ("/api/v1/dora?service=checkout", "environment"),
        ("/api/v1/dora?service=&environment=production", "service"),
        (
            "/api/v1/dora?service=checkout&environment=production&window=30x",
            "window",
        ),
        (
            "/api/v1/dora?service=checkout&environment=production&window=0",
            "window",
        ),
        (
            "/api/v1/dora?service=checkout&environment=production&window=-1d",
            "window",
        ),
        (
            "/api/v1/dora?service=checkout&environment=production&window=1000y",
            "window",
        ),
        ("/api/v1/dora?service=checkout&env=production", "env"),
        (
            "/api/v1/dora?service=a&service=b&environment=production",
            "service",
        ),
    ] {
        let (status, body) = get(&router, uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.contains(&format!("`{named}`")), "{uri}: {error}");
    }
}

fn ago(now: DateTime<Utc>, hours: i64) -> String {
    (now - chrono::Duration::hours(hours)).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A log in the last 30 days, relative to now: the API reads the clock.
fn recent_log(now: DateTime<Utc>) -> Vec<Event> {
    let t = |hours| ago(now, hours);
    let prod = |version, status, at: &str, commits: &[(&str, &str)]| {
        deploy_report("checkout", "production", version, status, at, commits)
    };
    vec![
        // v1, 10 days ago: lead times 24h and 2h.
        prod(
            "v1",
            Succeeded,
            &t(240),
            &[("c1", &t(264)), ("c2", &t(242))],
        ),
        // v2, 5 days ago: rolled back.
        prod("v2", RolledBack, &t(120), &[]),
        // v3, 2 days ago.
        prod("v3", Succeeded, &t(48), &[]),
        deploy_report("checkout", "staging", "v3", Succeeded, &t(50), &[]),
        // An incident of v1 filed by two receivers, restored 2h later.
        issue_filed_for(
            "HighErrorRatio",
            "payments-team",
            "1",
            &t(239),
            Some(("checkout", "production", "v1")),
        ),
        issue_filed_for(
            "HighErrorRatio",
            "sre",
            "2",
            &t(239),
            Some(("checkout", "production", "v1")),
        ),
        alert("HighErrorRatio", "resolved", &t(237)),
    ]
}

/// A gauge's value for one service/environment, `None` if it has no
/// series (reading through the registry creates none).
fn gauge(name: &str, service: &str, environment: &str) -> Option<f64> {
    prometheus::default_registry()
        .gather()
        .iter()
        .filter(|family| family.name() == name)
        .flat_map(|family| family.get_metric().iter())
        .find(|metric| {
            let label = |n: &str| {
                metric
                    .get_label()
                    .iter()
                    .find(|l| l.name() == n)
                    .map(|l| l.value().to_string())
            };
            label("service").as_deref() == Some(service)
                && label("environment").as_deref() == Some(environment)
        })
        .map(|metric| metric.get_gauge().get_value())
}

/// The endpoint's figures as the gauges would show them.
fn from_gauges(service: &str, environment: &str) -> Value {
    let g = |name| gauge(name, service, environment);
    json!({
        "deployment_frequency_per_day": g("closeloop_dora_deployment_frequency_per_day"),
        "deployments": g("closeloop_dora_deployments"),
        "failed_deployments": g("closeloop_dora_failed_deployments"),
        "change_failure_rate": g("closeloop_dora_change_failure_ratio"),
        "lead_time_seconds_median": g("closeloop_dora_lead_time_seconds"),
        "time_to_restore_seconds_median": g("closeloop_dora_time_to_restore_seconds"),
        "incidents": g("closeloop_dora_incidents"),
    })
}

fn from_endpoint(data: &Value) -> Value {
    let number = |key: &str| data[key].as_f64().map_or(Value::Null, |v| json!(v));
    json!({
        "deployment_frequency_per_day": number("deployment_frequency_per_day"),
        "deployments": number("deployments"),
        "failed_deployments": number("failed_deployments"),
        "change_failure_rate": number("change_failure_rate"),
        "lead_time_seconds_median": number("lead_time_seconds_median"),
        "time_to_restore_seconds_median": number("time_to_restore_seconds_median"),
        "incidents": number("incidents"),
    })
}

/// Polls `check` until it holds; a bound only for a runner that never
/// gets there (the test then fails saying what it last saw).
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> Result<(), String>) {
    let started = Instant::now();
    loop {
        match check().await {
            Ok(()) => return,
            Err(last) if started.elapsed() > Duration::from_secs(30) => {
                panic!("{what} not reached in 30s; last: {last}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

#[tokio::test]
async fn the_dora_endpoint_and_the_dora_gauges_agree_on_the_same_log() {
    let log_dir = tempfile::tempdir().expect("log dir");
    let log: Arc<dyn EventLog> = Arc::new(
        EmbeddedLog::open(log_dir.path(), EmbeddedOptions::default())
            .await
            .expect("open log"),
    );
    let (_db_dir, store) = temp_store().await;
    for event in recent_log(Utc::now()) {
        let topic = event.payload.topic().name("m");
        log.append(
            &topic,
            vec![NewRecord {
                key: event.envelope.key.clone().into_bytes().into(),
                value: event.to_json().into(),
                timestamp_ms: event.envelope.occurred_at.timestamp_millis(),
            }],
        )
        .await
        .expect("append");
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let runner_store: Arc<dyn ReadStore> = store.clone();
    let task = tokio::spawn(run(log, "m", runner_store, async {
        let _ = stopped.await;
    }));
    let router = query_router(store.clone() as Arc<dyn ReadStore>);
    let uri = "/api/v1/dora?service=checkout&environment=production&window=30d";

    // By hand: v1 v2 v3 deployed, v1 v3 succeeded: 2 / 30 per day; v1
    // (incident) and v2 (rolled back) failed: 2 / 3; lead times 86400 and
    // 7200: median 46800; one incident (two receivers), restored in 7200.
    let expected = json!({
        "deployment_frequency_per_day": 2.0 / 30.0,
        "deployments": 3.0,
        "failed_deployments": 2.0,
        "change_failure_rate": 2.0 / 3.0,
        "lead_time_seconds_median": 46_800.0,
        "time_to_restore_seconds_median": 7_200.0,
        "incidents": 1.0,
    });
    eventually("the endpoint's hand-computed figures", async || {
        let (status, body) = get(&router, uri).await;
        let seen = from_endpoint(&body["data"]);
        (status == StatusCode::OK && seen == expected)
            .then_some(())
            .ok_or(format!("{status} {body}"))
    })
    .await;
    eventually("gauges equal to the endpoint", async || {
        let (_, body) = get(&router, uri).await;
        let endpoint = from_endpoint(&body["data"]);
        let gauges = from_gauges("checkout", "production");
        (gauges == endpoint)
            .then_some(())
            .ok_or(format!("gauges {gauges} endpoint {endpoint}"))
    })
    .await;

    // Staging: one deploy, no incident. Undefined figures are null in
    // the endpoint and have no series among the gauges.
    let (_, body) = get(
        &router,
        "/api/v1/dora?service=checkout&environment=staging&window=30d",
    )
    .await;
    assert_eq!(body["data"]["lead_time_seconds_median"], Value::Null);
    assert_eq!(
        from_gauges("checkout", "staging"),
        from_endpoint(&body["data"])
    );
    assert_eq!(
        gauge("closeloop_dora_lead_time_seconds", "checkout", "staging"),
        None
    );

    let _ = stop.send(());
    task.await
        .expect("runner task")
        .expect("runner ends cleanly");
}
