//! The Kubernetes scale target against a local axum server. No Kubernetes
//! API server can run here: the request and response shapes are taken from
//! the Kubernetes API reference — the `scale` subresource of apps/v1
//! Deployments and StatefulSets (GET/PUT `/apis/apps/v1/namespaces/{ns}/
//! {deployments|statefulsets}/{name}/scale`, body an autoscaling/v1 `Scale`:
//! apiVersion, kind, metadata{name, namespace, uid, resourceVersion,
//! creationTimestamp}, spec{replicas}, status{replicas, selector}) and the
//! `Status` object of failures (kind Status, status Failure, message,
//! reason Conflict/Forbidden/NotFound, code).

use super::config::{KubernetesTargetConfig, WorkloadKind};
use super::kubernetes::KubernetesTarget;
use super::ScaleTarget;
use crate::error::DeliveryError;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use axum::{Json, Router};
use closeloop_core::events::{ScaleOutcome, ScaleRequested, ScaleTrigger};
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;

const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.test-token";

#[derive(Default)]
struct Server {
    spec_replicas: u32,
    status_replicas: u32,
    resource_version: u64,
    /// Canned failures for the next PUTs (status code, Status reason).
    put_failures: VecDeque<(u16, &'static str)>,
    get_failure: Option<(u16, &'static str)>,
    /// Someone else scales to this count when a 409 is served.
    concurrent_change: Option<u32>,
    gets: u32,
    puts: Vec<Value>,
    delay: Option<Duration>,
}

type Shared = Arc<Mutex<Server>>;

fn scale_object(s: &Server, resource: &str) -> Value {
    json!({
        "apiVersion": "autoscaling/v1",
        "kind": "Scale",
        "metadata": {
            "name": "checkout-worker",
            "namespace": "shop",
            "uid": "5d1c3a9e-7f0b-4c55-9a35-0c2f5e4d8b11",
            "resourceVersion": s.resource_version.to_string(),
            "creationTimestamp": "2024-05-01T08:00:00Z",
        },
        "spec": {"replicas": s.spec_replicas},
        "status": {"replicas": s.status_replicas, "selector": format!("app=checkout-worker,kind={resource}")},
    })
}

fn status(code: u16, reason: &str, message: &str) -> (StatusCode, Json<Value>) {
    (
        StatusCode::from_u16(code).expect("status code"),
        Json(json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "details": {"name": "checkout-worker", "group": "apps", "kind": "deployments"},
            "code": code,
        })),
    )
}

fn authorized(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {TOKEN}"))
}

async fn get_scale(State(s): State<Shared>, headers: HeaderMap) -> (StatusCode, Json<Value>) {
    let delay = s.lock().expect("lock").delay;
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    let mut s = s.lock().expect("lock");
    s.gets += 1;
    if !authorized(&headers) {
        return status(401, "Unauthorized", "Unauthorized");
    }
    if let Some((code, reason)) = s.get_failure {
        return status(
            code,
            reason,
            "deployments.apps \"checkout-worker\" not found",
        );
    }
    (StatusCode::OK, Json(scale_object(&s, "deployments")))
}

async fn put_scale(
    State(s): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let mut s = s.lock().expect("lock");
    if !authorized(&headers) {
        return status(401, "Unauthorized", "Unauthorized");
    }
    s.puts.push(body.clone());
    if let Some((code, reason)) = s.put_failures.pop_front() {
        if code == 409 {
            if let Some(n) = s.concurrent_change {
                s.spec_replicas = n;
            }
            s.resource_version += 1;
            return status(409, reason, "Operation cannot be fulfilled on deployments.apps \"checkout-worker\": the object has been modified; please apply your changes to the latest version and try again");
        }
        return status(code, reason, "deployments.apps \"checkout-worker\" is forbidden: User \"system:serviceaccount:closeloop:default\" cannot update resource \"deployments/scale\" in API group \"apps\" in the namespace \"shop\"");
    }
    // Optimistic concurrency: a stale resourceVersion is a conflict.
    let sent = body
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    if sent != s.resource_version.to_string() {
        return status(409, "Conflict", "the object has been modified");
    }
    s.spec_replicas = body
        .pointer("/spec/replicas")
        .and_then(Value::as_u64)
        .unwrap_or(0) as u32;
    s.resource_version += 1;
    (StatusCode::OK, Json(scale_object(&s, "deployments")))
}

struct Fixture {
    server: Shared,
    target: KubernetesTarget,
    _dir: tempfile::TempDir,
}

async fn fixture(kind: WorkloadKind, server: Server) -> Fixture {
    let shared: Shared = Arc::new(Mutex::new(server));
    let resource = kind.resource();
    let app = Router::new()
        .route(
            &format!("/apis/apps/v1/namespaces/shop/{resource}/checkout-worker/scale"),
            get(get_scale).put(put_scale),
        )
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    let dir = tempfile::tempdir().expect("tempdir");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).expect("token");
    let config = KubernetesTargetConfig {
        api_url: format!("http://{addr}/"),
        namespace: "shop".into(),
        kind,
        name: "checkout-worker".into(),
        token_file: Some(token_file),
        ca_file: None,
    };
    let target = KubernetesTarget::new(&config, Duration::from_millis(500)).expect("target");
    Fixture {
        server: shared,
        target,
        _dir: dir,
    }
}

fn server(replicas: u32) -> Server {
    Server {
        spec_replicas: replicas,
        status_replicas: replicas,
        resource_version: 4711,
        ..Default::default()
    }
}

fn request(from: u32, to: u32) -> ScaleRequested {
    ScaleRequested {
        scaler: "checkout-workers".into(),
        request_id: Uuid::now_v7(),
        trigger: ScaleTrigger::Metric,
        from_replicas: from,
        to_replicas: to,
        query_value: Some(612.5),
        raw_desired: Some(13),
        stabilized: Some(13),
        limited_by: vec![],
        limiting_policy: None,
        cause: None,
        tick_at: chrono::Utc::now(),
    }
}

#[tokio::test]
async fn a_deployment_is_scaled_by_put_of_the_scale_it_read_with_its_resource_version() {
    let f = fixture(WorkloadKind::Deployment, server(4)).await;
    let result = f.target.scale(&request(4, 8)).await.expect("scaled");
    assert_eq!(result.outcome, ScaleOutcome::Applied);
    assert_eq!(
        (
            result.observed_replicas,
            result.applied_replicas,
            result.status_replicas
        ),
        (4, 8, Some(4))
    );
    assert_eq!(result.answer, "resourceVersion 4712");
    let s = f.server.lock().expect("lock");
    assert_eq!(s.spec_replicas, 8);
    assert_eq!(s.puts[0]["metadata"]["resourceVersion"], "4711");
    assert_eq!(
        s.puts[0]["metadata"]["uid"], "5d1c3a9e-7f0b-4c55-9a35-0c2f5e4d8b11",
        "the Scale is sent back whole"
    );
}

#[tokio::test]
async fn a_statefulset_uses_its_own_scale_subresource() {
    let f = fixture(WorkloadKind::StatefulSet, server(3)).await;
    let result = f.target.scale(&request(3, 2)).await.expect("scaled");
    assert_eq!(
        (result.outcome, result.applied_replicas),
        (ScaleOutcome::Applied, 2)
    );
}

#[tokio::test]
async fn someone_elses_change_is_noticed_and_not_overwritten() {
    let f = fixture(WorkloadKind::Deployment, server(6)).await;
    let result = f.target.scale(&request(4, 8)).await.expect("answered");
    assert_eq!(result.outcome, ScaleOutcome::Drifted);
    assert_eq!((result.observed_replicas, result.applied_replicas), (6, 6));
    assert!(f.server.lock().expect("lock").puts.is_empty());
}

#[tokio::test]
async fn a_target_already_at_the_count_is_left_alone() {
    let f = fixture(WorkloadKind::Deployment, server(8)).await;
    let result = f.target.scale(&request(4, 8)).await.expect("answered");
    assert_eq!(result.outcome, ScaleOutcome::Unchanged);
    assert!(f.server.lock().expect("lock").puts.is_empty());
}

#[tokio::test]
async fn a_conflict_is_retried_once_after_a_fresh_get() {
    let mut s = server(4);
    s.put_failures.push_back((409, "Conflict"));
    let f = fixture(WorkloadKind::Deployment, s).await;
    let result = f
        .target
        .scale(&request(4, 8))
        .await
        .expect("scaled on the second try");
    assert_eq!(result.outcome, ScaleOutcome::Applied);
    let s = f.server.lock().expect("lock");
    assert_eq!((s.gets, s.puts.len()), (2, 2));
    assert_eq!(
        s.puts[1]["metadata"]["resourceVersion"], "4712",
        "the second PUT carries the fresh version"
    );
}

#[tokio::test]
async fn a_conflict_from_someone_elses_scaling_becomes_a_drift_after_the_fresh_get() {
    let mut s = server(4);
    s.put_failures.push_back((409, "Conflict"));
    s.concurrent_change = Some(5);
    let f = fixture(WorkloadKind::Deployment, s).await;
    let result = f.target.scale(&request(4, 8)).await.expect("answered");
    assert_eq!(
        (result.outcome, result.observed_replicas),
        (ScaleOutcome::Drifted, 5)
    );
}

#[tokio::test]
async fn a_second_conflict_is_an_error_that_is_not_retried() {
    let mut s = server(4);
    s.put_failures
        .extend([(409, "Conflict"), (409, "Conflict")]);
    let f = fixture(WorkloadKind::Deployment, s).await;
    let error = f
        .target
        .scale(&request(4, 8))
        .await
        .expect_err("conflict twice");
    assert!(
        matches!(error, DeliveryError::Status { status: 409, .. }),
        "{error}"
    );
    assert!(!error.retryable());
    assert!(
        error.to_string().contains("the object has been modified"),
        "{error}"
    );
}

#[tokio::test]
async fn forbidden_is_not_retried_and_says_which_permission_is_missing() {
    let mut s = server(4);
    s.put_failures.push_back((403, "Forbidden"));
    let f = fixture(WorkloadKind::Deployment, s).await;
    let error = f.target.scale(&request(4, 8)).await.expect_err("forbidden");
    assert!(!error.retryable());
    let text = error.to_string();
    assert!(
        text.contains("HTTP 403") && text.contains("Forbidden: deployments.apps"),
        "{text}"
    );
    assert!(
        text.contains("needs get and update on deployments/scale in namespace shop"),
        "{text}"
    );
}

#[tokio::test]
async fn a_refused_token_is_unauthorized_and_not_retried() {
    let f = fixture(WorkloadKind::Deployment, server(4)).await;
    std::fs::write(f._dir.path().join("token"), "stale").expect("rotate token");
    let error = f.target.scale(&request(4, 8)).await.expect_err("401");
    assert!(
        matches!(error, DeliveryError::Status { status: 401, .. }),
        "{error}"
    );
    assert!(!error.retryable());
    assert!(
        !error.to_string().contains("stale"),
        "the token is never printed"
    );
}

#[tokio::test]
async fn a_missing_workload_is_not_retried() {
    let mut s = server(4);
    s.get_failure = Some((404, "NotFound"));
    let f = fixture(WorkloadKind::Deployment, s).await;
    let error = f.target.scale(&request(4, 8)).await.expect_err("404");
    assert!(!error.retryable());
    assert!(
        error.to_string().contains("check namespace, kind and name"),
        "{error}"
    );
}

#[tokio::test]
async fn server_errors_and_timeouts_are_retryable() {
    let mut s = server(4);
    s.get_failure = Some((503, "ServiceUnavailable"));
    let f = fixture(WorkloadKind::Deployment, s).await;
    assert!(f
        .target
        .scale(&request(4, 8))
        .await
        .expect_err("503")
        .retryable());

    let mut s = server(4);
    s.delay = Some(Duration::from_secs(2));
    let f = fixture(WorkloadKind::Deployment, s).await;
    let error = f.target.scale(&request(4, 8)).await.expect_err("timeout");
    assert!(matches!(error, DeliveryError::Timeout { .. }), "{error}");
    assert!(error.retryable());
}

#[test]
fn a_ca_file_that_is_not_pem_fails_at_setup() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = dir.path().join("ca.crt");
    std::fs::write(&ca, "not a certificate").expect("write");
    let config = KubernetesTargetConfig {
        api_url: "https://k8s:6443".into(),
        namespace: "shop".into(),
        kind: WorkloadKind::Deployment,
        name: "checkout-worker".into(),
        token_file: None,
        ca_file: Some(ca),
    };
    let error = KubernetesTarget::new(&config, Duration::from_secs(1))
        .err()
        .expect("refused");
    assert!(error.to_string().contains("ca.crt"), "{error}");
}
