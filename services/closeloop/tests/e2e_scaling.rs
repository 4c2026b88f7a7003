//! Scalers end to end on the embedded default, with a real Prometheus
//! 2.42 remote-writing a queue-depth gauge (the harness' scrape target
//! serves it as `checkout_error_ratio{queue="checkout"}`) into closeloop
//! and the harness' webhook sink as the scaler's webhook target:
//! - the load rises: scale-ups arrive, each within the Pods policy;
//! - the load falls: the scale-down comes only after the 10 s
//!   stabilization window, although closeloop is killed with SIGKILL and
//!   restarted inside that window;
//! - a deploy freeze (POST /api/v1/deploys) holds the next scale-down;
//! - no request id reaches the sink twice, and `GET /api/v1/scale-actions`
//!   and the scaler metrics show what happened.
//!
//! Needs `prometheus` on PATH; fails with a message saying so otherwise.

mod support;

use chrono::{DateTime, Utc};
use std::collections::BTreeSet;
use std::time::Duration;
use support::*;

const WAIT: Duration = Duration::from_secs(60);

fn config(scale_url: &str) -> String {
    format!(
        r#"evaluation: {{interval: 1s, lateness: 1s, idle_follow: 30s}}
scalers:
  - name: checkout-workers
    target: {{webhook: {{url: "{scale_url}"}}}}
    query: max(checkout_error_ratio{{queue="checkout"}})
    target_per_replica: 10
    min_replicas: 1
    max_replicas: 6
    behavior:
      scale_up: {{stabilization_window: 0s, policies: [{{type: Pods, value: 2, period: 2s}}]}}
      scale_down: {{stabilization_window: 10s, policies: [{{type: Percent, value: 100, period: 1s}}]}}
    freeze_during_deploy: {{service: checkout, environment: prod, for: 20s}}
delivery: {{initial_backoff: 200ms, max_backoff: 1s}}
"#
    )
}

/// What the sink received, in arrival order: (request_id, from, to, tick_at).
fn requests(sink: &WebhookSink) -> Vec<(String, u64, u64, DateTime<Utc>)> {
    sink.received
        .lock()
        .expect("sink lock")
        .iter()
        .map(|body| {
            let tick: DateTime<Utc> = body["tick_at"]
                .as_str()
                .and_then(|t| t.parse().ok())
                .unwrap_or_else(|| panic!("no tick_at in {body}"));
            (
                body["request_id"].as_str().unwrap_or_default().to_string(),
                body["from"].as_u64().unwrap_or_default(),
                body["to"].as_u64().unwrap_or_default(),
                tick,
            )
        })
        .collect()
}

async fn wait_for_replicas(sink: &WebhookSink, replicas: u64, what: &str) {
    wait_for(what, WAIT, || async {
        requests(sink)
            .last()
            .filter(|r| r.2 == replicas)
            .map(|_| ())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_load_scales_up_within_policy_down_after_the_window_and_not_during_a_deploy_freeze(
) {
    let dir = tempfile::tempdir().expect("temp dir");
    let sink = WebhookSink::start().await;
    let config_path = dir.path().join("closeloop.yml");
    std::fs::write(&config_path, config(&sink.url)).unwrap();

    let target = ScrapeTarget::start(r#"queue="checkout""#).await;
    target.set(5.0);
    let port = free_port();
    let mut closeloop = Closeloop::start(dir.path(), &config_path, port).await;
    let _prometheus = start_prometheus(
        dir.path(),
        target.port,
        &format!("{}/api/v1/write", closeloop.url),
    );

    // Load rises: 50 per 10 per replica = 5 replicas, 2 at a time.
    tokio::time::sleep(Duration::from_secs(3)).await;
    target.set(50.0);
    wait_for_replicas(&sink, 5, "scale-up to 5 replicas").await;
    let ups = requests(&sink);
    for (id, from, to, _) in &ups {
        assert!(to > from, "only scale-ups while the load rises: {ups:?}");
        assert!(to - from <= 2, "Pods 2 per 2s exceeded by {id}: {ups:?}");
    }

    // Load falls; closeloop dies inside the stabilization window.
    target.set(5.0);
    let fell_at = Utc::now();
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        requests(&sink).len(),
        ups.len(),
        "scaled down inside the window"
    );
    closeloop.process.kill9();
    let closeloop = Closeloop::start(dir.path(), &config_path, port).await;
    wait_for_replicas(&sink, 1, "scale-down to 1 replica").await;
    let all = requests(&sink);
    let down = &all[ups.len()];
    assert_eq!((down.1, down.2), (5, 1), "{all:?}");
    let waited = (down.3 - fell_at).num_milliseconds();
    assert!(
        waited >= 9_000,
        "scale-down {waited} ms after the load fell, inside the 10 s window: {all:?}"
    );

    // Up again, then a deploy freezes scale-down for 20 s.
    target.set(50.0);
    wait_for_replicas(&sink, 5, "scale-up to 5 replicas again").await;
    let before_freeze = requests(&sink).len();
    let deploy = serde_json::json!({
        "service": "checkout", "environment": "prod", "version": "v43",
        "commits": [{"sha": "5e1b0d2"}], "actor": "ci"
    });
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/deploys", closeloop.url))
        .json(&deploy)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let deployed_at = Utc::now();
    target.set(5.0);
    wait_for_replicas(&sink, 1, "scale-down after the freeze").await;
    let all = requests(&sink);
    let down = &all[before_freeze];
    assert_eq!((down.1, down.2), (5, 1), "{all:?}");
    let waited = (down.3 - deployed_at).num_milliseconds();
    assert!(
        waited >= 18_000,
        "scale-down {waited} ms after the deploy, inside the 20 s freeze: {all:?}"
    );

    // Every request reached the target once, the SIGKILL notwithstanding.
    let ids: BTreeSet<&String> = all.iter().map(|r| &r.0).collect();
    assert_eq!(ids.len(), all.len(), "a request id arrived twice: {all:?}");

    let actions = wait_for("the scale actions read model", WAIT, || async {
        let body = closeloop
            .get_json("/api/v1/scale-actions?scaler=checkout-workers")
            .await;
        let rows = body["data"].as_array().cloned().unwrap_or_default();
        (rows.len() == all.len() && rows.iter().all(|r| r["result"] == "applied")).then_some(rows)
    })
    .await;
    let newest = &actions[0];
    assert_eq!(newest["from_replicas"], 5);
    assert_eq!(newest["to_replicas"], 1);
    assert_eq!(newest["query_value"], 5.0);
    assert!(
        newest["reason"]
            .as_str()
            .unwrap_or_default()
            .starts_with("metric:"),
        "{newest}"
    );
    assert_eq!(
        closeloop.metric("closeloop_scaler_desired_replicas").await,
        1.0
    );
    assert_eq!(
        closeloop.metric("closeloop_scaler_current_replicas").await,
        1.0
    );
    assert!(
        closeloop
            .metric(r#"closeloop_scale_actions_total{result="applied",scaler="checkout-workers"}"#)
            .await
            >= 1.0
    );
}
