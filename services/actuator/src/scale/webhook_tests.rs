//! The webhook scale target against a local axum server over a real socket.

use super::config::WebhookTargetConfig;
use super::webhook::WebhookTarget;
use super::ScaleTarget;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use closeloop_core::events::{ScaleLimit, ScaleOutcome, ScaleRequested, ScaleTrigger};
use secrecy::SecretString;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;

#[derive(Default)]
struct Received {
    bodies: Vec<Value>,
    headers: Vec<HeaderMap>,
    answer: u16,
}

type Shared = Arc<Mutex<Received>>;

async fn hook(State(r): State<Shared>, headers: HeaderMap, Json(body): Json<Value>) -> StatusCode {
    let mut r = r.lock().expect("lock");
    r.bodies.push(body);
    r.headers.push(headers);
    StatusCode::from_u16(r.answer).expect("status")
}

async fn target(answer: u16) -> (Shared, WebhookTarget) {
    let shared: Shared = Arc::new(Mutex::new(Received {
        answer,
        ..Default::default()
    }));
    let app = Router::new()
        .route("/scale", post(hook))
        .with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    let config = WebhookTargetConfig {
        url: format!("http://{addr}/scale"),
        headers: [(
            "Authorization".to_string(),
            SecretString::from("Bearer hook-secret".to_string()),
        )]
        .into(),
    };
    (
        shared,
        WebhookTarget::new(config, reqwest::Client::new(), Duration::from_secs(2)),
    )
}

fn request() -> ScaleRequested {
    ScaleRequested {
        scaler: "checkout-workers".into(),
        request_id: Uuid::now_v7(),
        trigger: ScaleTrigger::Metric,
        from_replicas: 2,
        to_replicas: 6,
        query_value: Some(900.0),
        raw_desired: Some(18),
        stabilized: Some(18),
        limited_by: vec![ScaleLimit::Policy],
        limiting_policy: Some("scale_up.policies[1] (Pods 4 per 15s)".into()),
        cause: None,
        tick_at: chrono::Utc::now(),
    }
}

#[tokio::test]
async fn the_webhook_gets_scaler_from_to_reason_and_the_decision_with_its_headers() {
    let (received, target) = target(200).await;
    let request = request();
    let result = target.scale(&request).await.expect("delivered");
    assert_eq!(result.outcome, ScaleOutcome::Applied);
    assert_eq!((result.observed_replicas, result.applied_replicas), (2, 6));
    assert_eq!(result.answer, "HTTP 200");
    let r = received.lock().expect("lock");
    let body = &r.bodies[0];
    assert_eq!(body["scaler"], "checkout-workers");
    assert_eq!(
        (body["from"].as_u64(), body["to"].as_u64()),
        (Some(2), Some(6))
    );
    assert_eq!(body["reason"], "metric: value 900, raw desired 18, limited by policy scale_up.policies[1] (Pods 4 per 15s)");
    assert_eq!(body["raw_desired"], 18);
    assert_eq!(body["limited_by"][0], "policy");
    assert_eq!(r.headers[0]["authorization"], "Bearer hook-secret");
    assert_eq!(
        r.headers[0]["idempotency-key"],
        request.request_id.to_string().as_str()
    );
}

#[tokio::test]
async fn webhook_failures_are_classified_like_other_receivers() {
    let (_, unavailable) = target(503).await;
    assert!(unavailable
        .scale(&request())
        .await
        .expect_err("503")
        .retryable());
    let (_, refusing) = target(400).await;
    assert!(!refusing
        .scale(&request())
        .await
        .expect_err("400")
        .retryable());
}
