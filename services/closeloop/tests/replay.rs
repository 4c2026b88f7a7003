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

const RECORDING_RULES: &str = r#"
groups:
  - name: backtest
    interval: 1m
    rules:
      - record: queue_length:max
        expr: max(queue_length)
      - alert: QueueTooLong
        expr: queue_length:max > 10
"#;

fn body(name: &str, t_ms: i64, value: f64) -> Vec<u8> {
    let series = TimeSeries {
        labels: vec![Label {
            name: "__name__".into(),
            value: name.into(),
        }],
        samples: vec![Sample {
            value,
            timestamp: t_ms,
        }],
        ..Default::default()
    };
    let raw = WriteRequest {
        timeseries: vec![series],
        metadata: vec![],
    }
    .encode_to_vec();
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .expect("snappy")
}

/// The stored `SamplesRecorded` are what the rules of that time wrote (here
/// a queue far too long, half a minute after every tick, so the lookback
/// would pick them up); the backtest computes its own from the samples.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_ignores_recorded_samples_stored_in_the_log() {
    use closeloop_core::events::{SamplesReceived, SamplesRecorded, REMOTE_WRITE_V1_SNAPPY};
    use closeloop_core::topics::{Topic, DEFAULT_PREFIX};
    use closeloop_core::{Event, EventPayload};
    use closeloop_log::embedded::{EmbeddedLog, EmbeddedOptions};
    use closeloop_log::{EventLog, NewRecord};

    let dir = tempfile::tempdir().unwrap();
    let start = 1_795_000_020_000i64; // a whole minute
    {
        let log = EmbeddedLog::open(&dir.path().join("data/log"), EmbeddedOptions::default())
            .await
            .unwrap();
        let record = |payload: EventPayload, t: i64| {
            let at = chrono::DateTime::from_timestamp_millis(t).unwrap();
            let event = Event::new(payload, "test", "k".into(), at, at);
            NewRecord {
                key: event.envelope.key.clone().into_bytes().into(),
                value: event.to_json().into(),
                timestamp_ms: t,
            }
        };
        let mut records = Vec::new();
        for step in 0..80 {
            let t = start + step * 15_000;
            records.push(record(
                EventPayload::SamplesReceived(SamplesReceived {
                    format: REMOTE_WRITE_V1_SNAPPY.into(),
                    body: body("queue_length", t, 3.0).into(),
                    series: 1,
                    samples: 1,
                    metadata: 0,
                    min_timestamp_ms: Some(t),
                    max_timestamp_ms: Some(t),
                }),
                t,
            ));
            if step % 4 == 2 {
                records.push(record(
                    EventPayload::SamplesRecorded(SamplesRecorded {
                        rule_file: "old.yml".into(),
                        rule_group: "backtest".into(),
                        tick_ms: t,
                        timestamp_ms: t,
                        format: REMOTE_WRITE_V1_SNAPPY.into(),
                        body: body("queue_length:max", t, 1000.0).into(),
                        series: 1,
                        samples: 1,
                    }),
                    t,
                ));
            }
        }
        log.append(&Topic::Samples.name(DEFAULT_PREFIX), records)
            .await
            .unwrap();
    }

    let rules = dir.path().join("backtest.yml");
    std::fs::write(&rules, RECORDING_RULES).unwrap();
    let time = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .unwrap()
            .to_rfc3339()
    };
    let output = Command::new(env!("CARGO_BIN_EXE_closeloop"))
        .args([
            "replay",
            "--from",
            &time(start),
            "--to",
            &time(start + 80 * 15_000),
            "--rules",
        ])
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
    assert!(stdout.trim_end().ends_with("0 alerts fired"), "{stdout}");
}
