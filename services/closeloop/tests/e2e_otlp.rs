//! The OpenTelemetry Python SDK's OTLP/HTTP exporter (a real sender, from
//! PyPI via tests/setup/otel_python.sh) pushes a counter, an up-down
//! counter and a histogram to a real `closeloop serve`; alert rules over
//! the translated series (`_total`, gauge, `_bucket`/`_count`,
//! `target_info`, `job`/`instance` from the resource) all fire.

mod support;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;
use support::*;

const RULES: &str = r#"
groups:
  - name: otlp
    interval: 1s
    rules:
      - alert: OrdersCounted
        expr: shop_orders_total{job="shop/checkout", instance="pod-1", payment_method="card"} == 7
      - alert: QueueDepthGauge
        expr: queue_depth{job="shop/checkout"} == 3
      - alert: LatencyHistogram
        expr: request_duration_seconds_count{http_route="/pay"} == 4 and on(job) request_duration_seconds_bucket{le="+Inf", http_route="/pay"} == 4
      - alert: LatencyUnderHalfASecond
        expr: request_duration_seconds_bucket{le="0.5", http_route="/pay"} == 2 and on(job) request_duration_seconds_bucket{le="2", http_route="/pay"} == 3
      - alert: TargetInfo
        expr: target_info{job="shop/checkout", instance="pod-1", host_name="node-7"} == 1
"#;

const ALERTS: [&str; 5] = [
    "OrdersCounted",
    "QueueDepthGauge",
    "LatencyHistogram",
    "LatencyUnderHalfASecond",
    "TargetInfo",
];

fn python() -> PathBuf {
    let hint = "the OpenTelemetry Python SDK is missing: run \
        `export \"$(bash tests/setup/otel_python.sh | grep ^CLOSELOOP_OTEL_PYTHON=)\"` \
        (tests/run.sh does)";
    let path = PathBuf::from(
        std::env::var("CLOSELOOP_OTEL_PYTHON")
            .unwrap_or_else(|_| "/tmp/closeloop-otel-venv/bin/python".to_string()),
    );
    let works = Command::new(&path)
        .args([
            "-c",
            "import opentelemetry.exporter.otlp.proto.http.metric_exporter",
        ])
        .status()
        .is_ok_and(|s| s.success());
    assert!(works, "{hint} (tried {})", path.display());
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_opentelemetry_sdk_pushes_a_counter_a_gauge_and_a_histogram_that_rules_then_fire_on() {
    let python = python();
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("rules")).unwrap();
    std::fs::write(dir.path().join("rules/otlp.yml"), RULES).unwrap();
    let config_path = dir.path().join("closeloop.yml");
    std::fs::write(
        &config_path,
        "rule_files: [rules/*.yml]\n\
         evaluation: {interval: 1s, lateness: 1s, idle_follow: 30s}\n\
         route: {receiver: default}\n\
         receivers: [{name: default}]\n",
    )
    .unwrap();
    let port = free_port();
    let closeloop = Closeloop::start(dir.path(), &config_path, port).await;

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/otlp/push_metrics.py");
    let mut sender = Command::new(&python)
        .args([script, &closeloop.url, "40"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the OpenTelemetry sender");

    let fired = wait_for(
        "every OTLP rule to fire",
        Duration::from_secs(60),
        || async {
            let alerts = closeloop
                .get_json("/api/v1/alert-history?state=firing")
                .await;
            let text = alerts.to_string();
            ALERTS
                .iter()
                .all(|name| text.contains(&format!("\"{name}\"")))
                .then_some(text)
        },
    )
    .await;
    let _ = sender.kill();
    let output = sender.wait_with_output().expect("sender exits");
    for name in ALERTS {
        assert!(fired.contains(name), "{name} did not fire: {fired}");
    }
    assert!(
        closeloop
            .metric("closeloop_ingest_requests_total{code=\"200\",handler=\"otlp\"}")
            .await
            >= 1.0,
        "no OTLP request answered 200; sender said: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
