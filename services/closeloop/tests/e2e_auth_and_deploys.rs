//! Credentials and limits on the real `closeloop serve` binary, with the
//! real senders: Prometheus 2.42 remote-writing with `authorization`
//! (bearer, from `credentials_file`) and then with `basic_auth`, both
//! configured unchanged from what a Prometheus user writes; a request
//! without a credential is 401 with `WWW-Authenticate`; a series over a
//! label limit is 400 naming the limit; and `closeloop deploy`, the CI
//! subcommand, records a deploy or exits non-zero with the server's reason.
//!
//! Needs `prometheus` on PATH (tests/setup/packages.sh).

mod support;

use closeloop_core::remote_write::{Label, Sample, TimeSeries, WriteRequest};
use prost::Message;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use support::*;

const INGEST_TOKEN: &str = "remote-write-token";
const PUSH_PASSWORD: &str = "push-password";
const DEPLOY_TOKEN: &str = "deploy-token";

fn config(dir: &Path) -> std::path::PathBuf {
    std::fs::write(dir.join("ingest.token"), INGEST_TOKEN).unwrap();
    std::fs::write(dir.join("push.password"), PUSH_PASSWORD).unwrap();
    std::fs::write(dir.join("deploy.token"), DEPLOY_TOKEN).unwrap();
    let path = dir.join("closeloop.yml");
    std::fs::write(
        &path,
        r#"ingest: {max_label_value_length: 200}
auth:
  ingest:
    bearer_tokens: [{file: ingest.token}]
    basic_auth: [{username: prometheus, password_file: push.password}]
  deploys:
    bearer_tokens: [{file: deploy.token}]
"#,
    )
    .unwrap();
    path
}

/// Kills the child when the test ends, however it ends.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A Prometheus scraping itself and remote-writing with `credentials`, a
/// YAML fragment of the remote_write entry.
fn prometheus(dir: &Path, name: &str, write_url: &str, credentials: &str) -> Killed {
    let port = free_port();
    let yml = format!(
        r#"global: {{scrape_interval: 1s}}
scrape_configs:
  - job_name: self
    static_configs: [{{targets: ["127.0.0.1:{port}"]}}]
remote_write:
  - url: {write_url}
    queue_config: {{batch_send_deadline: 1s, min_backoff: 100ms, max_backoff: 1s}}
    {credentials}
"#
    );
    let config = dir.join(format!("{name}.yml"));
    std::fs::write(&config, yml).unwrap();
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", dir.join(name).display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap_or_else(|e| {
            panic!("starting prometheus: {e}; install it with tests/setup/packages.sh")
        });
    Killed(child)
}

fn remote_write_body(job_value: &str) -> Vec<u8> {
    let request = WriteRequest {
        timeseries: vec![TimeSeries {
            labels: vec![
                Label {
                    name: "__name__".into(),
                    value: "up".into(),
                },
                Label {
                    name: "job".into(),
                    value: job_value.into(),
                },
            ],
            samples: vec![Sample {
                value: 1.0,
                timestamp: chrono::Utc::now().timestamp_millis(),
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    snap::raw::Encoder::new()
        .compress_vec(&request.encode_to_vec())
        .expect("snappy")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_remote_writes_with_its_bearer_token_and_its_basic_auth_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let closeloop = Closeloop::start(dir.path(), &config, free_port()).await;
    let write_url = format!("{}/api/v1/write", closeloop.url);
    let client = reqwest::Client::new();

    let response = client
        .post(&write_url)
        .body(remote_write_body("probe"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let challenges: Vec<_> = response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert_eq!(
        challenges,
        ["Bearer realm=\"closeloop\"", "Basic realm=\"closeloop\""]
    );
    let wrong = client
        .post(&write_url)
        .bearer_auth("not-the-token")
        .body(remote_write_body("probe"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert_eq!(
        closeloop.metric("closeloop_ingest_samples_total").await,
        0.0
    );

    let token_file = dir.path().join("ingest.token");
    let bearer = prometheus(
        dir.path(),
        "prom-bearer",
        &write_url,
        &format!(
            "authorization: {{credentials_file: {}}}",
            token_file.display()
        ),
    );
    let after_bearer = wait_for(
        "samples from Prometheus with a bearer token",
        Duration::from_secs(60),
        || async {
            let n = closeloop.metric("closeloop_ingest_samples_total").await;
            (n > 0.0).then_some(n)
        },
    )
    .await;
    drop(bearer);

    let password_file = dir.path().join("push.password");
    let _basic = prometheus(
        dir.path(),
        "prom-basic",
        &write_url,
        &format!(
            "basic_auth: {{username: prometheus, password_file: {}}}",
            password_file.display()
        ),
    );
    wait_for(
        "samples from Prometheus with basic auth",
        Duration::from_secs(60),
        || async {
            let n = closeloop.metric("closeloop_ingest_samples_total").await;
            // The bearer sender is gone; only basic auth can add more.
            (n > after_bearer + 50.0).then_some(())
        },
    )
    .await;

    // The label limit refuses a long value, naming the limit.
    let response = client
        .post(&write_url)
        .bearer_auth(INGEST_TOKEN)
        .body(remote_write_body(&"x".repeat(201)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let text = response.text().await.unwrap();
    assert!(
        text.contains("ingest.max_label_value_length = 200"),
        "{text}"
    );
}

fn closeloop_deploy(url: &str, args: &[&str], token: Option<&str>) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_closeloop"));
    command.arg("deploy").args(args).env("CLOSELOOP_URL", url);
    command.env_remove("CLOSELOOP_TOKEN");
    if let Some(token) = token {
        command.env("CLOSELOOP_TOKEN", token);
    }
    command.output().expect("running closeloop deploy")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closeloop_deploy_records_a_deploy_and_exits_non_zero_with_the_servers_reason() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let closeloop = Closeloop::start(dir.path(), &config, free_port()).await;
    let args = [
        "--service",
        "checkout",
        "--environment",
        "prod",
        "--version",
        "v7",
        "--commit",
        "4f2a9c1",
        "--commit",
        "9e8d7c6",
        "--url",
        "https://ci.example/run/7",
        "--actor",
        "ci-bot",
    ];
    let ok = closeloop_deploy(&closeloop.url, &args, Some(DEPLOY_TOKEN));
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).starts_with("deploy recorded "));

    let token_file = dir.path().join("deploy.token");
    let mut with_file = args.to_vec();
    with_file[5] = "v8";
    with_file.extend(["--token-file", token_file.to_str().unwrap()]);
    let ok = closeloop_deploy(&closeloop.url, &with_file, None);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );

    let deploys = wait_for(
        "both deploys in the read API",
        Duration::from_secs(30),
        || async {
            let body = closeloop.get_json("/api/v1/deploys").await;
            let list = body["data"].as_array().cloned().unwrap_or_default();
            (list.len() >= 2).then_some(list)
        },
    )
    .await;
    let v7 = deploys
        .iter()
        .find(|d| d["version"] == "v7")
        .expect("v7 recorded");
    assert_eq!(v7["service"], "checkout");
    assert_eq!(v7["actor"], "ci-bot");

    let refused = closeloop_deploy(&closeloop.url, &args, None);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("401") && stderr.contains("credential"),
        "{stderr}"
    );

    let mut bad = args.to_vec();
    bad.extend(["--status", "exploded"]);
    let refused = closeloop_deploy(&closeloop.url, &bad, Some(DEPLOY_TOKEN));
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("400") && stderr.contains("`status`"),
        "{stderr}"
    );
}
