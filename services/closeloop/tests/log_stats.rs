//! `closeloop log stats` and `GET /api/v1/status/log` over the embedded
//! log of a real `closeloop serve`: topics with their end offsets and
//! bytes on disk, the actuator's and evaluator's positions with lag; the
//! same figures from the running process (`--url`) and, once it has
//! stopped, from the log directory itself. Opening a log the running
//! process holds fails saying to use `--url`.

mod support;

use serde_json::Value;
use std::process::Command;
use std::time::Duration;
use support::*;

fn log_stats(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_closeloop"))
        .args(["log", "stats"])
        .args(args)
        .output()
        .expect("running closeloop log stats")
}

fn end_offset(stats: &Value, topic: &str) -> u64 {
    stats["topics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == topic)
        .unwrap_or_else(|| panic!("{topic} missing: {stats}"))["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["end_offset"].as_u64().unwrap())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_stats_reports_topics_offsets_and_positions_live_and_offline() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config_path = dir.path().join("closeloop.yml");
    std::fs::write(
        &config_path,
        "evaluation: {interval: 1s, lateness: 0s, idle_follow: 1s}\n",
    )
    .unwrap();
    let mut closeloop = Closeloop::start(dir.path(), &config_path, free_port()).await;
    let client = reqwest::Client::new();
    for version in ["v1", "v2"] {
        let answer = client
            .post(format!("{}/api/v1/deploys", closeloop.url))
            .json(&serde_json::json!({"service": "checkout", "environment": "prod", "version": version}))
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_success(), "{}", answer.status());
    }

    let live = wait_for(
        "the deploys in the log's figures",
        Duration::from_secs(20),
        || async {
            let stats = closeloop.get_json("/api/v1/status/log").await;
            (end_offset(&stats, "closeloop.deploys") == 2).then_some(stats)
        },
    )
    .await;
    assert!(
        live["backend"].as_str().unwrap().starts_with("embedded "),
        "{live}"
    );
    let deploy_bytes: u64 = live["topics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "closeloop.deploys")
        .unwrap()["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["bytes"].as_u64().unwrap())
        .sum();
    assert!(deploy_bytes > 0, "{live}");
    let consumers = live["consumers"].as_array().unwrap();
    assert!(
        consumers
            .iter()
            .any(|c| c["consumer"] == "actuator" && c["topic"] == "closeloop.alerts"),
        "{live}"
    );
    assert!(
        consumers.iter().any(|c| c["topic"] == "closeloop.samples"),
        "{live}"
    );

    // The table, from the running process.
    let table = log_stats(&["--url", &closeloop.url]);
    assert!(table.status.success(), "{table:?}");
    let text = String::from_utf8_lossy(&table.stdout);
    for expected in ["TOPIC", "closeloop.deploys", "CONSUMER", "actuator", "LAG"] {
        assert!(text.contains(expected), "{expected} missing:\n{text}");
    }

    // The log the process holds cannot be opened beside it.
    let data_dir = dir.path().join("data");
    let data = data_dir.to_str().unwrap();
    let refused = log_stats(&["--data-dir", data]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("--url"), "{stderr}");

    // A data dir without a log is an error, not a new empty log.
    let missing = dir.path().join("no-such-dir");
    let refused = log_stats(&["--data-dir", missing.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("no event log"),
        "{refused:?}"
    );
    assert!(!missing.exists());

    // Stopped: the same offsets from the directory.
    closeloop.process.kill9();
    let offline = log_stats(&["--data-dir", data, "--json"]);
    assert!(offline.status.success(), "{offline:?}");
    let offline: Value = serde_json::from_slice(&offline.stdout).expect("JSON");
    assert_eq!(end_offset(&offline, "closeloop.deploys"), 2, "{offline}");
    assert_eq!(
        end_offset(&offline, "closeloop.samples"),
        end_offset(&live, "closeloop.samples"),
    );
}
