//! Webhook grouping in event time, in process: alert events and evaluator
//! watermarks written to an embedded log by the test, the actuator
//! running, a sink on port 0. Every timer is driven by the watermark the
//! test commits, so each case is exact and takes no wall-clock waiting
//! beyond the actuator's polling.

mod common;

use axum::extract::State;
use axum::routing::post;
use axum::Router;
use closeloop_actuator::ActuatorConfig;
use closeloop_core::events::{SilenceMatcher, SilenceSet};
use closeloop_core::topics::Topic;
use closeloop_core::{Event, EventPayload};
use closeloop_log::{EventLog, NewRecord};
use common::*;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Sink {
    calls: Mutex<Vec<Value>>,
}

async fn receive(State(sink): State<Arc<Sink>>, body: String) {
    let value = serde_json::from_str(&body).unwrap_or(Value::Null);
    sink.calls.lock().expect("lock").push(value);
}

async fn serve() -> (String, Arc<Sink>) {
    let sink = Arc::new(Sink::default());
    let app = Router::new()
        .route("/", post(receive))
        .with_state(Arc::clone(&sink));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding port 0");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/"), sink)
}

fn config(url: &str) -> ActuatorConfig {
    let yaml = format!(
        r#"
route:
  receiver: hook
  group_by: [cluster]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs: [{{url: "{url}"}}]
delivery: {{initial_backoff: 50ms, max_backoff: 200ms, deadline: 5s, timeout: 2s}}
"#
    );
    let config: ActuatorConfig = serde_yaml::from_str(&yaml).expect("test config parses");
    config.validate().expect("test config is valid");
    config
}

/// `alertname/status` of each alert of each call so far.
fn calls(sink: &Sink) -> Vec<String> {
    sink.calls
        .lock()
        .expect("lock")
        .iter()
        .map(|call| {
            let alerts: Vec<String> = call["alerts"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| {
                    format!(
                        "{}/{}",
                        a["labels"]["alertname"].as_str().unwrap_or("?"),
                        a["status"].as_str().unwrap_or("?")
                    )
                })
                .collect();
            alerts.join(" ")
        })
        .collect()
}

/// Waits until the sink holds `n` calls, then a little longer to catch
/// any extra one.
async fn wait_calls(sink: &Sink, n: usize) -> Vec<String> {
    let deadline = std::time::Instant::now() + WAIT;
    while calls(sink).len() < n {
        assert!(
            std::time::Instant::now() < deadline,
            "expected {n} calls, got {:?}",
            calls(sink)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    calls(sink)
}

fn firing(name: &str, at: &str) -> EventPayload {
    EventPayload::AlertFiring(alert(&[("alertname", name), ("cluster", "c1")], at))
}

fn resolved(name: &str, fired: &str, at_resolve: &str) -> EventPayload {
    let mut a = alert(&[("alertname", name), ("cluster", "c1")], fired);
    a.resolved_at = Some(at(at_resolve));
    EventPayload::AlertResolved(a)
}

async fn append_silence(log: &Arc<dyn EventLog>, name: &str, from: &str, to: &str) {
    let set = SilenceSet {
        id: format!("silence-{name}"),
        matchers: vec![SilenceMatcher {
            name: "alertname".into(),
            value: name.into(),
            is_regex: false,
            is_equal: true,
        }],
        starts_at: at(from),
        ends_at: at(to),
        created_by: "test".into(),
        comment: "maintenance".into(),
        updated_at: at(from),
    };
    let event = Event::new(
        EventPayload::SilenceSet(set),
        "api",
        format!("silence-{name}"),
        at(from),
        at(from),
    );
    let record = NewRecord {
        key: event.envelope.key.clone().into_bytes().into(),
        value: event.to_json().into(),
        timestamp_ms: at(from).timestamp_millis(),
    };
    log.append(&Topic::Silences.name(PREFIX), vec![record])
        .await
        .expect("appending a silence");
}

#[tokio::test]
async fn a_group_waits_for_the_watermark_then_sends_its_alerts_in_one_call() {
    let (url, sink) = serve().await;
    let test_log = open_log(1).await;
    let log = &test_log.log;
    append_alert(log, firing("A", "2026-12-07T10:00:00Z")).await;
    append_alert(log, firing("B", "2026-12-07T10:00:10Z")).await;
    let running = start(log, config(&url));

    // group_wait ends at 10:00:30; the evaluators are not there yet.
    commit_watermark(log, "2026-12-07T10:00:29Z").await;
    wait_until_caught_up(log, WAIT).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(
        calls(&sink).is_empty(),
        "sent before the watermark passed group_wait"
    );

    commit_watermark(log, "2026-12-07T10:00:30Z").await;
    assert_eq!(wait_calls(&sink, 1).await, vec!["A/firing B/firing"]);

    // C fires at 10:02: batched to the next group_interval tick, 10:05:30.
    append_alert(log, firing("C", "2026-12-07T10:02:00Z")).await;
    commit_watermark(log, "2026-12-07T10:05:29Z").await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        calls(&sink).len(),
        1,
        "C was not held to the group_interval tick"
    );
    commit_watermark(log, "2026-12-07T10:05:30Z").await;
    assert_eq!(
        wait_calls(&sink, 2).await,
        vec!["A/firing B/firing", "A/firing B/firing C/firing"]
    );
    running.stop().await;
}

#[tokio::test]
async fn an_unchanged_group_repeats_after_repeat_interval_and_a_restart_sends_nothing_twice() {
    let (url, sink) = serve().await;
    let test_log = open_log(1).await;
    let log = &test_log.log;
    append_alert(log, firing("A", "2026-12-07T10:00:00Z")).await;
    // Ticks at 10:00:30, then every 5m; the first one past 1h after the
    // first call is 11:05:30 (11:00:30 is exactly 1h: not past it).
    commit_watermark(log, "2026-12-07T11:05:30Z").await;
    let running = start(log, config(&url));
    assert_eq!(wait_calls(&sink, 2).await, vec!["A/firing", "A/firing"]);
    running.stop().await;

    // A new actuator recomputes the same flushes and finds them done.
    let running = start(log, config(&url));
    wait_until_caught_up(log, WAIT).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    running.stop().await;
    assert_eq!(
        calls(&sink).len(),
        2,
        "a restart sent again: {:?}",
        calls(&sink)
    );
    let requests = events(log, Topic::Actions).await;
    assert_eq!(requests.len(), 2, "one request per call");
}

#[tokio::test]
async fn a_silenced_alert_is_sent_at_the_first_flush_after_its_silence_ends() {
    let (url, sink) = serve().await;
    let test_log = open_log(1).await;
    let log = &test_log.log;
    append_silence(log, "B", "2026-12-07T09:00:00Z", "2026-12-07T10:03:00Z").await;
    append_alert(log, firing("A", "2026-12-07T10:00:00Z")).await;
    append_alert(log, firing("B", "2026-12-07T10:00:05Z")).await;
    commit_watermark(log, "2026-12-07T10:06:00Z").await;
    let running = start(log, config(&url));
    // 10:00:30: B is silenced. 10:05:30: its silence is over, B is news.
    assert_eq!(
        wait_calls(&sink, 2).await,
        vec!["A/firing", "A/firing B/firing"]
    );
    running.stop().await;
}

#[tokio::test]
async fn resolutions_are_sent_and_an_all_resolved_group_is_gone() {
    let (url, sink) = serve().await;
    let test_log = open_log(1).await;
    let log = &test_log.log;
    append_alert(log, firing("A", "2026-12-07T10:00:00Z")).await;
    append_alert(
        log,
        resolved("A", "2026-12-07T10:00:00Z", "2026-12-07T10:01:00Z"),
    )
    .await;
    // A new alert of the same group after it emptied: a new group_wait.
    append_alert(log, firing("B", "2026-12-07T10:07:00Z")).await;
    commit_watermark(log, "2026-12-07T10:07:30Z").await;
    let running = start(log, config(&url));
    assert_eq!(
        wait_calls(&sink, 3).await,
        vec!["A/firing", "A/resolved", "B/firing"]
    );
    running.stop().await;
}

#[tokio::test]
async fn a_mute_time_interval_holds_a_group_back_until_it_ends() {
    let (url, sink) = serve().await;
    let yaml = format!(
        r#"
route:
  receiver: hook
  routes:
    - matchers: [cluster=c1]
      group_by: [cluster]
      group_wait: 30s
      group_interval: 5m
      mute_time_intervals: [maintenance]
receivers:
  - name: hook
    webhook_configs: [{{url: "{url}"}}]
time_intervals:
  - name: maintenance
    time_intervals:
      - times: [{{start_time: '10:00', end_time: '10:03'}}]
        location: Europe/Berlin
"#
    );
    let config: ActuatorConfig = serde_yaml::from_str(&yaml).expect("test config parses");
    config.validate().expect("test config is valid");
    let test_log = open_log(1).await;
    let log = &test_log.log;
    // 09:00 UTC is 10:00 in Berlin: the 09:00:30 flush is muted, the
    // 09:05:30 one is not.
    append_alert(log, firing("A", "2026-12-07T09:00:00Z")).await;
    commit_watermark(log, "2026-12-07T09:04:00Z").await;
    let running = start(log, config);
    wait_until_caught_up(log, WAIT).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(calls(&sink).is_empty(), "sent inside the mute interval");
    commit_watermark(log, "2026-12-07T09:05:30Z").await;
    assert_eq!(wait_calls(&sink, 1).await, vec!["A/firing"]);
    running.stop().await;
}

#[test]
fn routes_may_name_only_known_time_intervals_and_not_at_the_root() {
    let yaml = r#"
route:
  receiver: hook
  active_time_intervals: [office]
  routes: [{mute_time_intervals: [nights]}]
receivers: [{name: hook}]
time_intervals: [{name: office, time_intervals: [{weekdays: ['monday:friday']}]}]
"#;
    let config: ActuatorConfig = serde_yaml::from_str(yaml).unwrap();
    let err = config.validate().unwrap_err().to_string();
    assert!(err.contains("root route cannot have"), "{err}");
    assert!(
        err.contains("route.routes[0].mute_time_intervals[0]: unknown time interval \"nights\""),
        "{err}"
    );
    let bad = "route: {receiver: hook}\nreceivers: [{name: hook}]\nmute_time_intervals: [{name: x, time_intervals: [{weekdays: [someday]}]}]";
    let config: ActuatorConfig = serde_yaml::from_str(bad).unwrap();
    let err = config.validate().unwrap_err().to_string();
    assert!(
        err.contains("mute_time_intervals[0].time_intervals[0]"),
        "{err}"
    );
}
