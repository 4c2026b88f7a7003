//! `closeloop replay` backtests a rule over what a real `closeloop serve`
//! stored: samples are remote-written into the server, the server is
//! stopped, and the replay prints the alert the rule would have raised.

mod support;

use closeloop_core::remote_write::{Label, Sample, TimeSeries, WriteRequest};
use prost::Message;
use std::process::Command;
use support::*;

const RULES: &str = r#"
groups:
  - name: backtest
    interval: 15s
    rules:
      - alert: QueueTooLong
        expr: queue_length > 10
        for: 1m
"#;

fn request(t_ms: i64, value: f64) -> Vec<u8> {
    let series = TimeSeries {
        labels: vec![
            Label {
                name: "__name__".into(),
                value: "queue_length".into(),
            },
            Label {
                name: "job".into(),
                value: "worker".into(),
            },
        ],
        samples: vec![Sample {
            value,
            timestamp: t_ms,
        }],
        ..Default::default()
    };
    let body = WriteRequest {
        timeseries: vec![series],
        metadata: vec![],
    }
    .encode_to_vec();
    snap::raw::Encoder::new()
        .compress_vec(&body)
        .expect("snappy")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_prints_the_alert_a_rule_would_have_raised_over_the_stored_log() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("closeloop.yml"), "{}\n").unwrap();
    let port = free_port();
    let mut server = Closeloop::start(dir.path(), &dir.path().join("closeloop.yml"), port).await;

    // 20 minutes at 15 s: quiet, 5 minutes over the threshold, quiet again.
    let start = 1_795_000_005_000i64; // a multiple of 15 s, so ticks fall on samples
    let client = reqwest::Client::new();
    for step in 0..80 {
        let t = start + step * 15_000;
        let value = if (20..40).contains(&step) { 25.0 } else { 3.0 };
        let response = client
            .post(format!("{}/api/v1/write", server.url))
            .header("Content-Encoding", "snappy")
            .header("Content-Type", "application/x-protobuf")
            .body(request(t, value))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204);
    }
    server.process.kill9();

    let rules = dir.path().join("backtest.yml");
    std::fs::write(&rules, RULES).unwrap();
    let from = chrono::DateTime::from_timestamp_millis(start)
        .unwrap()
        .to_rfc3339();
    let to = chrono::DateTime::from_timestamp_millis(start + 80 * 15_000)
        .unwrap()
        .to_rfc3339();
    let output = Command::new(env!("CARGO_BIN_EXE_closeloop"))
        .args(["replay", "--from", &from, "--to", &to, "--rules"])
        .arg(&rules)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("QueueTooLong{job=\"worker\"}"), "{stdout}");
    assert!(stdout.trim_end().ends_with("1 alerts fired"), "{stdout}");
    // Breach from step 20 (5 min), fires after `for: 1m` at 6 min, resolves
    // at the first evaluation that sees the value back under the threshold.
    let at = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(start + ms)
            .unwrap()
            .to_rfc3339()
    };
    assert!(
        stdout.contains(&format!("active {}", at(300_000))),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("fired {}", at(360_000))),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("resolved {}", at(600_000))),
        "{stdout}"
    );
}
