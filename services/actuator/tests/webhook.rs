//! The webhook receiver end to end, in process: alert events in an embedded
//! log, the actuator running, and a small axum server on port 0 standing in
//! for the receiving end. Payloads are compared with ones a real
//! Alertmanager 0.25 sent (`tests/testdata/alertmanager-0.25/`).

mod common;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use closeloop_actuator::{ActuatorConfig, CONSUMER_GROUP};
use closeloop_core::events::AlertEvent;
use closeloop_core::topics::Topic;
use closeloop_core::EventPayload;
use closeloop_log::CommittedPosition;
use common::*;
use serde_json::Value;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(10);
/// The evaluators' watermark in these tests: past every alert and timer.
const LATER: &str = "2026-11-22T03:00:00Z";

/// What the fake receiver got, and the statuses it answers with in turn
/// (200 once the script runs out).
#[derive(Default)]
struct Receiver {
    received: Mutex<Vec<(Instant, HeaderMap, Value)>>,
    script: Mutex<VecDeque<(u16, Option<&'static str>)>>,
}

async fn receive(State(state): State<Arc<Receiver>>, headers: HeaderMap, body: String) -> Response {
    let json: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    state
        .received
        .lock()
        .expect("lock")
        .push((Instant::now(), headers, json));
    let (status, retry_after) = state
        .script
        .lock()
        .expect("lock")
        .pop_front()
        .unwrap_or((200, None));
    let mut response = StatusCode::from_u16(status)
        .unwrap_or(StatusCode::OK)
        .into_response();
    if let Some(value) = retry_after {
        response
            .headers_mut()
            .insert("retry-after", HeaderValue::from_static(value));
    }
    response
}

async fn serve(script: &[(u16, Option<&'static str>)]) -> (String, Arc<Receiver>) {
    let state = Arc::new(Receiver::default());
    state
        .script
        .lock()
        .expect("lock")
        .extend(script.iter().copied());
    let app = Router::new()
        .route("/", post(receive))
        .with_state(Arc::clone(&state));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding port 0");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/"), state)
}

fn config(url: &str, send_resolved: bool) -> ActuatorConfig {
    let yaml = format!(
        r#"
route:
  receiver: webhook
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
receivers:
  - name: webhook
    webhook_configs: [{{url: "{url}", send_resolved: {send_resolved}}}]
external_url: http://vm:19093
delivery: {{initial_backoff: 50ms, max_backoff: 200ms, deadline: 5s, timeout: 2s}}
"#
    );
    let config: ActuatorConfig = serde_yaml::from_str(&yaml).expect("test config parses");
    config.validate().expect("test config is valid");
    config
}

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/testdata/alertmanager-0.25")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).expect("fixture is JSON")
}

/// The alert of `alertmanager_webhook.json`, as the evaluator records it.
fn scale_up_alert() -> AlertEvent {
    let mut alert = alert(
        &[
            ("alertname", "ScaleUpNeeded"),
            ("service", "api"),
            ("severity", "warning"),
        ],
        "2026-11-22T02:36:47Z",
    );
    alert.annotations = labels(&[
        ("description", "avg cpu 93% > 80% for 5m"),
        ("summary", "CPU above target"),
    ]);
    alert.generator_url = Some("http://127.0.0.1:19090/graph?g0.expr=up".into());
    alert
}

fn received(state: &Receiver) -> Vec<(Instant, HeaderMap, Value)> {
    state.received.lock().expect("lock").clone()
}

async fn wait_for_requests(state: &Receiver, n: usize) -> Vec<(Instant, HeaderMap, Value)> {
    let deadline = Instant::now() + WAIT;
    loop {
        let got = received(state);
        if got.len() >= n {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "expected {n} webhook requests, got {}",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Same keys at every level, recursively (values compared separately).
fn key_paths(value: &Value, prefix: &str, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let path = format!("{prefix}.{k}");
                out.push(path.clone());
                // Label maps hold data, not schema.
                if ![
                    "labels",
                    "annotations",
                    "groupLabels",
                    "commonLabels",
                    "commonAnnotations",
                ]
                .contains(&k.as_str())
                {
                    key_paths(v, &path, out);
                }
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|v| key_paths(v, &format!("{prefix}[]"), out)),
        _ => {}
    }
}

#[tokio::test]
async fn firing_and_resolved_alerts_post_the_payloads_alertmanager_sends() {
    let (url, server) = serve(&[]).await;
    let test_log = open_log(3).await;
    let log = &test_log.log;
    let firing = scale_up_alert();
    assert_eq!(
        firing.fingerprint, "d6b8568132f3f58a",
        "fingerprint as Alertmanager computed it"
    );
    let mut resolved = firing.clone();
    resolved.resolved_at = Some(at("2026-11-22T02:36:55Z"));
    append_alert(log, EventPayload::AlertFiring(firing)).await;
    append_alert(log, EventPayload::AlertResolved(resolved)).await;

    commit_watermark(log, LATER).await;
    let running = start(log, config(&url, true));
    let got = wait_for_requests(&server, 2).await;
    running.stop().await;

    for ((_, headers, body), name) in got.iter().zip([
        "alertmanager_webhook.json",
        "alertmanager_webhook_resolved.json",
    ]) {
        let expected = fixture(name);
        let (mut want_keys, mut got_keys) = (Vec::new(), Vec::new());
        key_paths(&expected, "", &mut want_keys);
        key_paths(body, "", &mut got_keys);
        want_keys.sort();
        got_keys.sort();
        assert_eq!(got_keys, want_keys, "key set of {name}");
        assert_eq!(body, &expected, "payload differs from {name}");
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(
            headers["user-agent"],
            concat!("closeloop/", env!("CARGO_PKG_VERSION"))
        );
    }
    let outcomes = outcomes(log).await;
    assert_eq!(count(&outcomes, "WebhookDelivered"), 2, "{outcomes:#?}");
    let requests = events(log, Topic::Actions).await;
    assert_eq!(requests.len(), 2);
    assert!(requests
        .iter()
        .all(|e| e.event_type() == "WebhookRequested" && e.envelope.source == "actuator"));
}

#[tokio::test]
async fn a_503_is_retried_until_the_receiver_accepts() {
    let (url, server) = serve(&[(503, None)]).await;
    let test_log = open_log(1).await;
    let log = &test_log.log;
    append_alert(log, EventPayload::AlertFiring(scale_up_alert())).await;

    commit_watermark(log, LATER).await;
    let running = start(log, config(&url, true));
    let outcomes = wait_for_outcomes(log, WAIT, |o| count(o, "WebhookDelivered") == 1).await;
    running.stop().await;

    assert_eq!(received(&server).len(), 2, "one failed attempt, one retry");
    match &outcomes[..] {
        [EventPayload::ActionFailed(failed), EventPayload::WebhookDelivered(delivered)] => {
            assert_eq!(
                (failed.attempt, failed.retryable, failed.gave_up),
                (1, true, false)
            );
            assert!(failed.next_attempt_at.is_some());
            assert!(failed.error.contains("503"), "{}", failed.error);
            assert_eq!((delivered.attempts, delivered.status), (2, 200));
            assert_eq!(failed.request_id, delivered.request_id);
        }
        other => panic!("unexpected outcomes: {other:#?}"),
    }
}

#[tokio::test]
async fn a_400_is_not_retried_and_the_alert_is_not_redelivered() {
    let (url, server) = serve(&[(400, None)]).await;
    let test_log = open_log(1).await;
    let log = &test_log.log;
    append_alert(log, EventPayload::AlertFiring(scale_up_alert())).await;

    commit_watermark(log, LATER).await;
    let running = start(log, config(&url, true));
    let outcomes = wait_for_outcomes(log, WAIT, |o| count(o, "ActionFailed") == 1).await;
    wait_until_caught_up(log, WAIT).await;
    // Long enough for several retries at a 50 ms backoff, had there been any.
    tokio::time::sleep(Duration::from_millis(500)).await;
    running.stop().await;

    assert_eq!(received(&server).len(), 1);
    match &outcomes[..] {
        [EventPayload::ActionFailed(failed)] => {
            assert_eq!(
                (failed.attempt, failed.retryable, failed.gave_up),
                (1, false, true)
            );
            assert_eq!(failed.next_attempt_at, None);
        }
        other => panic!("unexpected outcomes: {other:#?}"),
    }
}

#[tokio::test]
async fn a_429_waits_as_long_as_retry_after_says() {
    let (url, server) = serve(&[(429, Some("1"))]).await;
    let test_log = open_log(1).await;
    let log = &test_log.log;
    append_alert(log, EventPayload::AlertFiring(scale_up_alert())).await;

    commit_watermark(log, LATER).await;
    let running = start(log, config(&url, true));
    wait_for_outcomes(log, WAIT, |o| count(o, "WebhookDelivered") == 1).await;
    running.stop().await;

    let got = received(&server);
    assert_eq!(got.len(), 2);
    let gap = got[1].0 - got[0].0;
    assert!(
        gap >= Duration::from_millis(950),
        "retried after {gap:?}, Retry-After said 1 s"
    );
}

#[tokio::test]
async fn a_redelivered_alert_record_does_not_notify_twice() {
    let (url, server) = serve(&[]).await;
    let test_log = open_log(1).await;
    let log = &test_log.log;
    append_alert(log, EventPayload::AlertFiring(scale_up_alert())).await;

    commit_watermark(log, LATER).await;
    let running = start(log, config(&url, true));
    wait_for_outcomes(log, WAIT, |o| count(o, "WebhookDelivered") == 1).await;
    wait_until_caught_up(log, WAIT).await;
    running.stop().await;

    // As if the process died after the outcome but before the commit.
    let reset = CommittedPosition {
        next_offset: 0,
        metadata: String::new(),
    };
    log.commit(CONSUMER_GROUP, &Topic::Alerts.name(PREFIX), 0, reset)
        .await
        .expect("resetting the offset");
    commit_watermark(log, LATER).await;
    let running = start(log, config(&url, true));
    wait_until_caught_up(log, WAIT).await;
    running.stop().await;

    assert_eq!(received(&server).len(), 1, "the webhook was notified again");
    assert_eq!(count(&outcomes(log).await, "WebhookDelivered"), 1);
}

#[tokio::test]
async fn pending_alerts_and_alerts_that_never_fired_notify_nobody() {
    let (url, server) = serve(&[]).await;
    let test_log = open_log(1).await;
    let log = &test_log.log;
    let mut pending = scale_up_alert();
    pending.fired_at = None;
    let mut gone = pending.clone();
    gone.resolved_at = Some(at("2026-11-22T02:37:00Z"));
    append_alert(log, EventPayload::AlertPending(pending)).await;
    append_alert(log, EventPayload::AlertResolved(gone)).await;

    commit_watermark(log, LATER).await;
    let running = start(log, config(&url, true));
    wait_until_caught_up(log, WAIT).await;
    running.stop().await;

    assert!(received(&server).is_empty());
    assert!(events(log, Topic::Actions).await.is_empty());
}

#[tokio::test]
async fn send_resolved_false_keeps_resolutions_quiet() {
    let (url, server) = serve(&[]).await;
    let test_log = open_log(1).await;
    let log = &test_log.log;
    let firing = scale_up_alert();
    let mut resolved = firing.clone();
    resolved.resolved_at = Some(at("2026-11-22T02:36:55Z"));
    append_alert(log, EventPayload::AlertFiring(firing)).await;
    append_alert(log, EventPayload::AlertResolved(resolved)).await;

    commit_watermark(log, LATER).await;
    let running = start(log, config(&url, false));
    wait_until_caught_up(log, WAIT).await;
    running.stop().await;

    let got = received(&server);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].2["status"], "firing");
}

#[tokio::test]
async fn shutdown_during_a_backoff_leaves_the_alert_for_the_next_start() {
    let (url, server) = serve(&[(503, None)]).await;
    let test_log = open_log(1).await;
    let log = &test_log.log;
    append_alert(log, EventPayload::AlertFiring(scale_up_alert())).await;
    let mut slow = config(&url, true);
    slow.delivery.initial_backoff = Duration::from_secs(60);
    slow.delivery.deadline = Duration::from_secs(600);

    commit_watermark(log, LATER).await;
    let running = start(log, slow);
    wait_for_outcomes(log, WAIT, |o| count(o, "ActionFailed") == 1).await;
    let asked = Instant::now();
    running.stop().await;
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "shutdown waited for the backoff"
    );

    // The next start recomputes the group's flush from the log, finds no
    // outcome for its request, and delivers.
    commit_watermark(log, LATER).await;
    let running = start(log, config(&url, true));
    wait_for_outcomes(log, WAIT, |o| count(o, "WebhookDelivered") == 1).await;
    wait_until_caught_up(log, WAIT).await;
    running.stop().await;
    assert_eq!(received(&server).len(), 2);
}
