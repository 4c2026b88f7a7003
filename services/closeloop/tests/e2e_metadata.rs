//! `/api/v1/metadata` against a real Prometheus 2.42: Prometheus scrapes a
//! target whose families carry `# HELP`, `# TYPE` and `# UNIT`, answers its
//! own `/api/v1/metadata` from that scrape, and remote-writes (with
//! `metadata_config`) to closeloop; closeloop's answer must be the same
//! for every family, and its parameter errors Prometheus' own. A group
//! pushed to closeloop's Pushgateway API adds its families' metadata as
//! a Prometheus scraping a Pushgateway would see it.
//!
//! Needs `prometheus` on PATH (tests/setup/packages.sh).

mod support;

use axum::routing::get;
use axum::Router;
use serde_json::Value;
use std::time::Duration;
use support::*;

/// OpenMetrics, so `# UNIT` is read (the text format has no units).
const EXPOSITION: &str = "\
# HELP http_requests The requests served.
# TYPE http_requests counter
http_requests_total{code=\"200\"} 10
# HELP queue_depth Items waiting.
# TYPE queue_depth gauge
queue_depth 3
# HELP request_duration_seconds How long requests took.
# TYPE request_duration_seconds histogram
# UNIT request_duration_seconds seconds
request_duration_seconds_bucket{le=\"0.5\"} 1
request_duration_seconds_bucket{le=\"+Inf\"} 2
request_duration_seconds_sum 1.5
request_duration_seconds_count 2
# HELP rpc_latency_seconds RPC latency.
# TYPE rpc_latency_seconds summary
# UNIT rpc_latency_seconds seconds
rpc_latency_seconds{quantile=\"0.5\"} 0.1
rpc_latency_seconds_sum 2
rpc_latency_seconds_count 10
# TYPE mystery unknown
mystery 1
# EOF
";

async fn start_target() -> u16 {
    let app = Router::new().route(
        "/metrics",
        get(|| async {
            (
                [(
                    "content-type",
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                )],
                EXPOSITION,
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}

async fn get_json(url: &str) -> (u16, Value) {
    let response = reqwest::get(url).await.expect("calling the API");
    let status = response.status().as_u16();
    (status, response.json().await.expect("a JSON answer"))
}

/// The JSON answer of a server that may still be starting: Prometheus
/// answers "Service Unavailable" in plain text until it is ready, so a poll
/// treats anything but a JSON answer as "not yet".
async fn poll_json(url: &str) -> Value {
    match reqwest::get(url).await {
        Ok(response) => response.json().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closeloop_reports_the_metadata_prometheus_reports_for_the_same_scrape() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config_path = dir.path().join("closeloop.yml");
    std::fs::write(
        &config_path,
        "evaluation: {interval: 1s, lateness: 1s, idle_follow: 1s}\n",
    )
    .unwrap();
    let closeloop = Closeloop::start(dir.path(), &config_path, free_port()).await;
    let target = start_target().await;
    let prometheus_config = format!(
        r#"global:
  scrape_interval: 1s
scrape_configs:
  - job_name: app
    static_configs: [{{targets: ["127.0.0.1:{target}"]}}]
remote_write:
  - url: {}/api/v1/write
    queue_config: {{batch_send_deadline: 1s, min_backoff: 100ms, max_backoff: 1s}}
    metadata_config: {{send_interval: 1s}}
"#,
        closeloop.url
    );
    let (_prometheus, prometheus_url) = spawn_prometheus(dir.path(), &prometheus_config, &[]);

    let families = [
        "http_requests",
        "queue_depth",
        "request_duration_seconds",
        "rpc_latency_seconds",
        "mystery",
    ];
    let theirs = wait_for(
        "Prometheus to hold the target's metadata",
        Duration::from_secs(60),
        || async {
            let body = poll_json(&format!("{prometheus_url}/api/v1/metadata")).await;
            families
                .iter()
                .all(|f| body["data"].get(f).is_some())
                .then_some(body)
        },
    )
    .await;
    let ours = wait_for(
        "closeloop to hold the metadata Prometheus sent",
        Duration::from_secs(60),
        || async {
            let body = poll_json(&format!("{}/api/v1/metadata", closeloop.url)).await;
            families
                .iter()
                .all(|f| body["data"].get(f).is_some())
                .then_some(body)
        },
    )
    .await;
    assert_eq!(ours["status"], "success");
    for family in families {
        assert_eq!(
            ours["data"][family], theirs["data"][family],
            "{family}: closeloop {ours}\nPrometheus {theirs}"
        );
    }
    assert_eq!(
        ours["data"]["request_duration_seconds"][0]["unit"],
        "seconds"
    );

    // One metric, and the limits.
    for query in [
        "metric=queue_depth",
        "metric=nothing_like_it",
        "limit=0",
        "limit=-1&metric=mystery",
        "limit_per_metric=1&metric=http_requests",
    ] {
        let (_, ours) = get_json(&format!("{}/api/v1/metadata?{query}", closeloop.url)).await;
        let (_, theirs) = get_json(&format!("{prometheus_url}/api/v1/metadata?{query}")).await;
        assert_eq!(ours, theirs, "?{query}");
    }
    let (_, limited) = get_json(&format!("{}/api/v1/metadata?limit=2", closeloop.url)).await;
    assert_eq!(limited["data"].as_object().map(|m| m.len()), Some(2));
    let bad = "limit=many";
    let ours = get_json(&format!("{}/api/v1/metadata?{bad}", closeloop.url)).await;
    let theirs = get_json(&format!("{prometheus_url}/api/v1/metadata?{bad}")).await;
    assert_eq!(ours, theirs, "?{bad}");
    assert_eq!(ours.0, 400);
    // `limit_per_metric` came after 2.42 (which ignores it); closeloop
    // takes it as later Prometheus releases do, refusing a non-number.
    let (status, body) = get_json(&format!(
        "{}/api/v1/metadata?limit_per_metric=x",
        closeloop.url
    ))
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "limit_per_metric must be a number");

    // A pushed group's families, as a scrape of a Pushgateway shows them.
    let pushed = reqwest::Client::new()
        .put(format!("{}/metrics/job/batch", closeloop.url))
        .body("# HELP batch_rows_total Rows the batch wrote.\n# TYPE batch_rows_total counter\nbatch_rows_total 42\n")
        .send()
        .await
        .unwrap();
    assert!(pushed.status().is_success(), "{}", pushed.status());
    let rows = wait_for(
        "the pushed family's metadata",
        Duration::from_secs(30),
        || async {
            let body = poll_json(&format!(
                "{}/api/v1/metadata?metric=batch_rows_total",
                closeloop.url
            ))
            .await;
            body["data"].get("batch_rows_total").cloned()
        },
    )
    .await;
    assert_eq!(
        rows,
        serde_json::json!([{"type": "counter", "help": "Rows the batch wrote.", "unit": ""}])
    );
    let (_, push_time) = get_json(&format!(
        "{}/api/v1/metadata?metric=push_time_seconds",
        closeloop.url
    ))
    .await;
    assert_eq!(
        push_time["data"]["push_time_seconds"][0]["type"], "gauge",
        "{push_time}"
    );
}
