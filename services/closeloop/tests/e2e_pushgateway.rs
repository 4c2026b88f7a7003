//! Python `prometheus_client` (a real sender, from PyPI via
//! tests/setup/otel_python.sh) pushes to a real `closeloop serve` and to
//! the real Pushgateway 1.5 (Debian `prometheus-pushgateway`), both behind
//! basic auth: `push_to_gateway`, `pushadd_to_gateway`,
//! `delete_from_gateway`, a base64-encoded grouping label, a malformed
//! body and a timestamped one; then one delimited protobuf push. Both must then list the same groups in
//! `GET /api/v1/metrics`; rules over the pushed series fire and keep
//! firing past the lookback delta (pushed groups do not go stale), and
//! all of it survives a kill -9.

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use support::*;

const USER: &str = "pusher";
const PASSWORD: &str = "push-secret";

const RULES: &str = r#"
groups:
  - name: pushed
    interval: 1s
    rules:
      - alert: BackupSucceeded
        expr: backup_last_success_seconds{job="backup", instance="db1", path="/var/lib/db", volume="data"} == 1733500000.5
      - alert: BackupFilesAdded
        expr: backup_files{job="backup"} == 12 and on(job) backup_bytes_total{job="backup"} == 1024
      - alert: BackupHistogram
        expr: backup_duration_seconds_bucket{job="backup", le="60"} == 1 and on(job) backup_duration_seconds_bucket{job="backup", le="10"} == 0 and on(job) backup_duration_seconds_bucket{job="backup", le="+Inf"} == 1
      - alert: PushTimeKnown
        expr: push_time_seconds{job="backup", instance="db1"} > 1.7e9
      - alert: StampedPushFailed
        expr: push_failure_time_seconds{job="stamped"} > 0 and on(job) push_time_seconds{job="stamped"} == 0
      - alert: CleanupGone
        expr: absent(cleanup_ran)
      - alert: ProtobufPushed
        expr: jobs_done{job="proto", queue="a"} == 3 and on(job) job_seconds_bucket{job="proto", le="5"} == 2
"#;

const ALERTS: [&str; 7] = [
    "ProtobufPushed",
    "BackupSucceeded",
    "BackupFilesAdded",
    "BackupHistogram",
    "PushTimeKnown",
    "StampedPushFailed",
    "CleanupGone",
];

fn python() -> PathBuf {
    let hint = "Python prometheus_client is missing: run \
        `export \"$(bash tests/setup/otel_python.sh | grep ^CLOSELOOP_OTEL_PYTHON=)\"` \
        (tests/run.sh does)";
    let path = PathBuf::from(
        std::env::var("CLOSELOOP_OTEL_PYTHON")
            .unwrap_or_else(|_| "/tmp/closeloop-otel-venv/bin/python".to_string()),
    );
    let works = Command::new(&path)
        .args(["-c", "import prometheus_client, bcrypt"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(works, "{hint} (tried {})", path.display());
    path
}

/// The real Pushgateway with basic auth (exporter-toolkit web config, a
/// bcrypt hash made by Python's `bcrypt`).
async fn start_pushgateway(dir: &Path, python: &Path) -> (Process, String) {
    let works = Command::new("prometheus-pushgateway")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        works,
        "prometheus-pushgateway is missing: run tests/setup/packages.sh (Debian package prometheus-pushgateway)"
    );
    let hash = Command::new(python)
        .args([
            "-c",
            "import bcrypt,sys; print(bcrypt.hashpw(sys.argv[1].encode(), bcrypt.gensalt(rounds=4)).decode())",
            PASSWORD,
        ])
        .output()
        .expect("bcrypt hash");
    let hash = String::from_utf8(hash.stdout).unwrap().trim().to_string();
    let web = dir.join("pushgateway-web.yml");
    std::fs::write(&web, format!("basic_auth_users:\n  {USER}: '{hash}'\n")).unwrap();
    let port = free_port();
    let mut command = Command::new("prometheus-pushgateway");
    command
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg(format!("--web.config.file={}", web.display()));
    let process = spawn_process("pushgateway", command, dir);
    let url = format!("http://127.0.0.1:{port}");
    let ready = format!("{url}/-/ready");
    wait_for(
        "the Pushgateway to be ready",
        Duration::from_secs(30),
        || {
            let ready = ready.clone();
            async move {
                let response = reqwest::Client::new()
                    .get(&ready)
                    .basic_auth(USER, Some(PASSWORD))
                    .send()
                    .await
                    .ok()?;
                response.status().is_success().then_some(())
            }
        },
    )
    .await;
    (process, url)
}

fn push_with_python(python: &Path, url: &str) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/pushgateway/push.py");
    let output = Command::new(python)
        .args([script, url, USER, PASSWORD])
        .output()
        .expect("run the prometheus_client pusher");
    assert!(
        output.status.success(),
        "prometheus_client against {url} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the pusher prints JSON")
}

async fn groups(url: &str) -> Value {
    let response = reqwest::Client::new()
        .get(format!("{url}/api/v1/metrics"))
        .basic_auth(USER, Some(PASSWORD))
        .send()
        .await
        .expect("GET /api/v1/metrics");
    assert!(
        response.status().is_success(),
        "{url}: {}",
        response.status()
    );
    response.json().await.expect("JSON")
}

/// What must agree between the two: everything but the times of the
/// pushes (`time_stamp`, the push-time gauges and `_created` values, which
/// differ by when each server was pushed to; only zero or not counts).
fn normalized(answer: &Value) -> Vec<Value> {
    assert_eq!(answer["status"], "success", "{answer}");
    let mut groups: Vec<Value> = answer["data"].as_array().expect("data").clone();
    for group in &mut groups {
        for (name, family) in group.as_object_mut().unwrap().iter_mut() {
            let Some(family) = family.as_object_mut() else {
                continue;
            };
            family.remove("time_stamp");
            let timely = name.starts_with("push_") || name.ends_with("_created");
            for metric in family
                .get_mut("metrics")
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                if timely {
                    let zero = metric["value"] == "0";
                    metric["value"] = Value::from(if zero { "0" } else { "a time" });
                }
            }
        }
    }
    groups.sort_by_key(|g| g["labels"].to_string());
    groups
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_client_pushes_alike_to_closeloop_and_the_real_pushgateway() {
    let python = python();
    let dir = tempfile::tempdir().expect("temp dir");
    let (_pushgateway, pushgateway_url) = start_pushgateway(dir.path(), &python).await;

    std::fs::create_dir_all(dir.path().join("rules")).unwrap();
    std::fs::write(dir.path().join("rules/pushed.yml"), RULES).unwrap();
    std::fs::write(dir.path().join("push.password"), PASSWORD).unwrap();
    let config_path = dir.path().join("closeloop.yml");
    std::fs::write(
        &config_path,
        format!(
            "rule_files: [rules/*.yml]\n\
             evaluation: {{interval: 1s, lateness: 1s, idle_follow: 1s, lookback_delta: 3s}}\n\
             auth:\n  ingest:\n    basic_auth: [{{username: {USER}, password_file: push.password}}]\n\
             route: {{receiver: default}}\n\
             receivers: [{{name: default}}]\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let mut closeloop = Closeloop::start(dir.path(), &config_path, port).await;

    let at_closeloop = push_with_python(&python, &closeloop.url);
    let at_pushgateway = push_with_python(&python, &pushgateway_url);
    for (what, outcome) in [
        ("closeloop", &at_closeloop),
        ("the Pushgateway", &at_pushgateway),
    ] {
        assert_eq!(outcome["malformed"]["status"], 400, "{what}: {outcome}");
        let reason = outcome["malformed"]["body"].as_str().unwrap();
        assert!(
            reason.contains("line 3"),
            "{what} names the bad line: {reason}"
        );
        assert_eq!(outcome["timestamped"]["status"], 400, "{what}: {outcome}");
        let reason = outcome["timestamped"]["body"].as_str().unwrap();
        assert!(
            reason.contains("must not have timestamps"),
            "{what}: {reason}"
        );
    }

    // Delimited protobuf (encoded by protoc, see fuzz/seeds/README.md).
    let protobuf = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fuzz/seeds/pushgateway_protobuf/gauge_and_histogram.pb"
    ))
    .unwrap();
    for url in [&closeloop.url, &pushgateway_url] {
        let response = reqwest::Client::new()
            .put(format!("{url}/metrics/job/proto"))
            .basic_auth(USER, Some(PASSWORD))
            .header(
                "content-type",
                "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited",
            )
            .body(protobuf.clone())
            .send()
            .await
            .expect("protobuf push");
        assert!(
            response.status().is_success(),
            "{url}: {}",
            response.status()
        );
    }

    // The Pushgateway answers a DELETE with 202 and applies it later (its
    // write queue), so its listing may lag; give it a few seconds to settle.
    let mut ours = groups(&closeloop.url).await;
    let mut theirs = groups(&pushgateway_url).await;
    let settle = std::time::Instant::now() + Duration::from_secs(10);
    while normalized(&ours) != normalized(&theirs) && std::time::Instant::now() < settle {
        tokio::time::sleep(Duration::from_millis(200)).await;
        ours = groups(&closeloop.url).await;
        theirs = groups(&pushgateway_url).await;
    }
    assert_eq!(
        normalized(&ours),
        normalized(&theirs),
        "closeloop and the Pushgateway list different groups:\ncloseloop: {ours:#}\nPushgateway: {theirs:#}"
    );

    let all_fire = || async {
        let alerts = closeloop
            .get_json("/api/v1/alert-history?state=firing")
            .await;
        let text = alerts.to_string();
        ALERTS
            .iter()
            .all(|name| text.contains(&format!("\"{name}\"")))
            .then_some(text)
    };
    wait_for(
        "every rule over pushed series to fire",
        Duration::from_secs(60),
        all_fire,
    )
    .await;
    // Past the 3s lookback with no new push: still current, still firing.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let still = closeloop
        .get_json("/api/v1/alert-history?state=firing")
        .await
        .to_string();
    for name in ALERTS {
        assert!(
            still.contains(&format!("\"{name}\"")),
            "{name} stopped firing: {still}"
        );
    }

    // kill -9 and restart on the same data dir: the groups come back whole.
    closeloop.process.kill9();
    let closeloop = Closeloop::start(dir.path(), &config_path, port).await;
    let after = groups(&closeloop.url).await;
    assert_eq!(
        normalized(&after),
        normalized(&ours),
        "groups after restart: {after:#}"
    );
    wait_for(
        "the rules to fire again after the restart",
        Duration::from_secs(60),
        || async {
            let alerts = closeloop
                .get_json("/api/v1/alert-history?state=firing")
                .await;
            let text = alerts.to_string();
            ALERTS
                .iter()
                .all(|name| text.contains(&format!("\"{name}\"")))
                .then_some(())
        },
    )
    .await;
}
