//! Scale requests end to end, in process: `ScaleRequested` events in the
//! embedded log's actions topic, the actuator running, and a small axum
//! server on port 0 as the scaler's webhook target.

mod common;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::Router;
use chrono::Utc;
use closeloop_actuator::{ActuatorConfig, CONSUMER_GROUP};
use closeloop_core::events::{ScaleRequested, ScaleTrigger};
use closeloop_core::topics::Topic;
use closeloop_core::{Event, EventPayload};
use closeloop_log::{CommittedPosition, EventLog, NewRecord};
use common::*;
use serde_json::Value;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Target {
    received: Mutex<Vec<Value>>,
    /// Answered to every POST; 0 means 200.
    status: AtomicU16,
}

async fn receive(State(state): State<Arc<Target>>, body: String) -> StatusCode {
    let json: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    state.received.lock().expect("lock").push(json);
    match state.status.load(Ordering::SeqCst) {
        0 => StatusCode::OK,
        code => StatusCode::from_u16(code).unwrap_or(StatusCode::OK),
    }
}

async fn serve() -> (String, Arc<Target>) {
    let state = Arc::new(Target::default());
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

fn config(url: &str) -> ActuatorConfig {
    let yaml = format!(
        r#"
route: {{receiver: scale}}
receivers: [{{name: scale, scale_configs: [{{scaler: workers, step: 2}}]}}]
scalers:
  - name: workers
    target: {{webhook: {{url: "{url}"}}}}
    query: ignored by the actuator
delivery: {{initial_backoff: 50ms, max_backoff: 200ms, deadline: 1s, timeout: 2s}}
"#
    );
    serde_yaml::from_str(&yaml).expect("test config parses")
}

fn request(scaler: &str, from: u32, to: u32) -> ScaleRequested {
    ScaleRequested {
        scaler: scaler.into(),
        request_id: Uuid::now_v7(),
        trigger: ScaleTrigger::Metric,
        from_replicas: from,
        to_replicas: to,
        query_value: Some(612.5),
        raw_desired: Some(to),
        stabilized: Some(to),
        limited_by: Vec::new(),
        limiting_policy: None,
        cause: None,
        tick_at: Utc::now(),
    }
}

async fn append_request(log: &Arc<dyn EventLog>, request: &ScaleRequested) {
    let mut event = Event::new(
        EventPayload::ScaleRequested(request.clone()),
        "evaluator",
        request.scaler.clone(),
        request.tick_at,
        Utc::now(),
    );
    event.envelope.id = request.request_id;
    let record = NewRecord {
        key: request.scaler.clone().into_bytes().into(),
        value: event.to_json().into(),
        timestamp_ms: request.tick_at.timestamp_millis(),
    };
    log.append(&Topic::Actions.name(PREFIX), vec![record])
        .await
        .expect("appending a scale request");
}

fn count(outcomes: &[EventPayload], type_name: &str) -> usize {
    outcomes
        .iter()
        .filter(|o| o.type_name() == type_name)
        .count()
}

async fn wait_for_actions_committed(log: &Arc<dyn EventLog>) {
    let topic = Topic::Actions.name(PREFIX);
    let deadline = Instant::now() + WAIT;
    loop {
        let end = log.end_offset(&topic, 0).await.expect("end offset");
        let committed = log
            .committed(CONSUMER_GROUP, &topic, 0)
            .await
            .expect("committed")
            .map_or(0, |c| c.next_offset);
        if committed >= end {
            return;
        }
        assert!(Instant::now() < deadline, "actions not committed in time");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_scale_request_is_posted_to_the_webhook_target_and_recorded_as_applied() {
    let (url, target) = serve().await;
    let test_log = open_log(1).await;
    let log = &test_log.log;
    let wanted = request("workers", 2, 4);
    append_request(log, &wanted).await;

    let running = start(log, config(&url));
    let found = wait_for_outcomes(log, WAIT, |o| count(o, "ScaleApplied") == 1).await;
    running.stop().await;

    let Some(EventPayload::ScaleApplied(applied)) = found.first() else {
        panic!("expected ScaleApplied, got {found:?}");
    };
    assert_eq!(applied.request_id, wanted.request_id);
    assert_eq!(
        (applied.observed_replicas, applied.applied_replicas),
        (2, 4)
    );
    assert_eq!(applied.target, "webhook");
    let posted = target.received.lock().expect("lock").clone();
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0]["from"], 2);
    assert_eq!(posted[0]["to"], 4);
    assert_eq!(posted[0]["request_id"], wanted.request_id.to_string());
}

#[tokio::test]
async fn a_redelivered_or_repeated_scale_request_is_applied_once() {
    let (url, target) = serve().await;
    let test_log = open_log(1).await;
    let log = &test_log.log;
    let wanted = request("workers", 2, 4);
    append_request(log, &wanted).await;
    let running = start(log, config(&url));
    wait_for_outcomes(log, WAIT, |o| count(o, "ScaleApplied") == 1).await;
    wait_for_actions_committed(log).await;
    running.stop().await;

    // A re-evaluated tick asks again with the same id, and a crash before
    // the commit redelivers the first record too.
    append_request(log, &wanted).await;
    let reset = CommittedPosition {
        next_offset: 0,
        metadata: String::new(),
    };
    log.commit(CONSUMER_GROUP, &Topic::Actions.name(PREFIX), 0, reset)
        .await
        .expect("resetting the offset");
    let running = start(log, config(&url));
    wait_for_actions_committed(log).await;
    running.stop().await;

    assert_eq!(target.received.lock().expect("lock").len(), 1);
    assert_eq!(count(&outcomes(log).await, "ScaleApplied"), 1);
}

#[tokio::test]
async fn a_target_that_keeps_failing_ends_in_a_given_up_action_failed() {
    let (url, target) = serve().await;
    target.status.store(503, Ordering::SeqCst);
    let test_log = open_log(1).await;
    let log = &test_log.log;
    let wanted = request("workers", 2, 4);
    append_request(log, &wanted).await;
    let running = start(log, config(&url));
    let found = wait_for_outcomes(log, WAIT, |o| {
        o.iter()
            .any(|e| matches!(e, EventPayload::ActionFailed(f) if f.gave_up))
    })
    .await;
    running.stop().await;
    let failed: Vec<_> = found
        .iter()
        .filter_map(|e| match e {
            EventPayload::ActionFailed(f) => Some(f),
            _ => None,
        })
        .collect();
    assert!(failed.iter().all(|f| f.request_id == wanted.request_id
        && f.receiver == "workers"
        && f.integration == "webhook"));
    assert_eq!(count(&found, "ScaleApplied"), 0);
}

#[test]
fn scale_configs_must_name_a_scaler_and_one_of_step_and_set() {
    let bad: ActuatorConfig = serde_yaml::from_str(
        r#"
route: {receiver: scale}
receivers: [{name: scale, scale_configs: [{scaler: nobody, step: 2}, {scaler: workers, step: 1, set: 3}]}]
scalers: [{name: workers, target: {webhook: {url: "http://127.0.0.1:1/"}}}]
"#,
    )
    .expect("parses");
    let problems = bad.validate().expect_err("invalid").to_string();
    assert!(
        problems.contains("receivers[0].scale_configs[0].scaler"),
        "{problems}"
    );
    assert!(
        problems.contains("receivers[0].scale_configs[1]"),
        "{problems}"
    );
}

#[tokio::test]
async fn an_alert_step_whose_alert_is_silenced_is_not_applied() {
    let (url, target) = serve().await;
    let test_log = open_log(1).await;
    let log = &test_log.log;
    let firing = alert(
        &[("alertname", "QueueDeep"), ("service", "jobs")],
        "2026-12-07T10:00:00Z",
    );
    let cause = append_alert(log, EventPayload::AlertFiring(firing.clone())).await;
    let silence = closeloop_core::events::SilenceSet {
        id: "maintenance".into(),
        matchers: vec![closeloop_core::events::SilenceMatcher {
            name: "service".into(),
            value: "jobs".into(),
            is_regex: false,
            is_equal: true,
        }],
        starts_at: at("2026-12-07T09:00:00Z"),
        ends_at: at("2026-12-07T11:00:00Z"),
        created_by: "test".into(),
        comment: "draining the queue by hand".into(),
        updated_at: at("2026-12-07T09:00:00Z"),
    };
    let event = Event::new(
        EventPayload::SilenceSet(silence),
        "api",
        "maintenance".into(),
        at("2026-12-07T09:00:00Z"),
        Utc::now(),
    );
    log.append(
        &Topic::Silences.name(PREFIX),
        vec![NewRecord {
            key: b"maintenance".to_vec().into(),
            value: event.to_json().into(),
            timestamp_ms: 0,
        }],
    )
    .await
    .expect("appending a silence");
    let mut step = request("workers", 2, 4);
    step.trigger = ScaleTrigger::Alert;
    step.tick_at = at("2026-12-07T10:00:00Z");
    step.cause = Some(closeloop_core::events::ScaleCause {
        alert_event_id: cause.envelope.id,
        fingerprint: firing.fingerprint.clone(),
        alertname: firing.alertname.clone(),
    });
    // After the silence ends, the same alert's next step goes through.
    let mut later = step.clone();
    later.request_id = Uuid::now_v7();
    later.tick_at = at("2026-12-07T11:30:00Z");
    append_request(log, &step).await;
    append_request(log, &later).await;

    let running = start(log, config(&url));
    let found = wait_for_outcomes(log, WAIT, |o| o.len() >= 2).await;
    running.stop().await;
    match &found[..] {
        [EventPayload::ActionFailed(failed), EventPayload::ScaleApplied(applied)] => {
            assert_eq!(failed.request_id, step.request_id);
            assert!(failed.gave_up && !failed.retryable);
            assert_eq!(failed.error, "silenced by maintenance");
            assert_eq!(applied.request_id, later.request_id);
        }
        other => panic!("unexpected outcomes: {other:#?}"),
    }
    assert_eq!(
        target.received.lock().expect("lock").len(),
        1,
        "only the later step"
    );
}
