//! Alerts from other systems, with real senders and the real `closeloop
//! serve` binary: Prometheus 2.42 with `alerting.alertmanagers` pointed at
//! closeloop (`POST /api/v2/alerts`, with a bearer token from
//! `authorization.credentials_file`), and Alertmanager 0.25 forwarding
//! through its `webhook_configs` to `POST /api/v1/alertmanager`. Either
//! way the alert goes through closeloop's routing to a webhook receiver,
//! firing and then resolved, once, across a SIGKILL restart; the
//! Alertmanager one also files an issue in the real Redmine
//! (tests/setup/redmine.sh) that closes on resolution.
//!
//! Needs `prometheus` and `prometheus-alertmanager` on PATH
//! (tests/setup/packages.sh); fails saying so when one is missing.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;
use support::*;

const TOKEN: &str = "alerts-in-token";

/// closeloop.yml routing every alert to a webhook receiver; `extra` adds
/// child routes (YAML lines under `route.routes`) and receivers.
fn closeloop_config(dir: &Path, webhook_url: &str) -> std::path::PathBuf {
    closeloop_config_with(dir, webhook_url, "", "")
}

fn closeloop_config_with(
    dir: &Path,
    webhook_url: &str,
    routes: &str,
    receivers: &str,
) -> std::path::PathBuf {
    std::fs::write(dir.join("alerts.token"), format!("{TOKEN}\n")).unwrap();
    let config = format!(
        r#"evaluation: {{interval: 1s, lateness: 1s, idle_follow: 1s, resolve_timeout: 5m}}
auth:
  alerts:
    bearer_tokens: [{{file: alerts.token}}]
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  routes: [{routes}]
receivers:
  - name: hook
    webhook_configs: [{{url: "{webhook_url}"}}]
{receivers}delivery: {{initial_backoff: 200ms, max_backoff: 1s}}
"#
    );
    let path = dir.join("closeloop.yml");
    std::fs::write(&path, config).unwrap();
    path
}

fn spawn_logged(name: &str, mut command: Command, dir: &Path) -> std::process::Child {
    let log = std::fs::File::create(dir.join(format!("{name}.log"))).unwrap();
    command
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap_or_else(|e| panic!("starting {name}: {e}; install it with tests/setup/packages.sh"))
}

/// Kills the child when the test ends, however it ends.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn alert_names(payloads: &[serde_json::Value]) -> Vec<String> {
    payloads
        .iter()
        .flat_map(|p| p["alerts"].as_array().cloned().unwrap_or_default())
        .filter_map(|a| a["labels"]["alertname"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prometheus_rule_alert_sent_to_closeloop_reaches_its_webhook_and_resolves_via_ends_at() {
    let dir = tempfile::tempdir().unwrap();
    let sink = WebhookSink::start().await;
    let config = closeloop_config(dir.path(), &sink.url);
    let port = free_port();
    let closeloop = Closeloop::start(dir.path(), &config, port).await;

    // A deploy of the alert's service and environment: the suspect.
    let deploy = serde_json::json!({"service": "checkout", "environment": "prod",
        "version": "v42", "commits": [{"sha": "4f2a9c1"}]});
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/deploys", closeloop.url))
        .json(&deploy)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);

    let target = ScrapeTarget::start(r#"service="checkout",environment="prod""#).await;
    target.set(0.2);
    std::fs::write(dir.path().join("token"), TOKEN).unwrap();
    std::fs::write(
        dir.path().join("rules.yml"),
        r#"groups:
  - name: external
    rules:
      - alert: CheckoutErrorsFromPrometheus
        expr: checkout_error_ratio > 0.05
        labels: {severity: page}
        annotations: {summary: "ratio {{ $value }}"}
"#,
    )
    .unwrap();
    let prometheus_yml = format!(
        r#"global: {{scrape_interval: 1s, evaluation_interval: 1s}}
rule_files: [{rules}]
scrape_configs:
  - job_name: checkout
    static_configs: [{{targets: ["127.0.0.1:{target}"]}}]
alerting:
  alertmanagers:
    - api_version: v2
      static_configs: [{{targets: ["127.0.0.1:{port}"]}}]
      authorization: {{credentials_file: {token}}}
"#,
        rules = dir.path().join("rules.yml").display(),
        target = target.port,
        token = dir.path().join("token").display(),
    );
    std::fs::write(dir.path().join("prometheus.yml"), prometheus_yml).unwrap();
    let mut command = Command::new("prometheus");
    command
        .arg(format!(
            "--config.file={}",
            dir.path().join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("prom").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{}", free_port()))
        .arg("--rules.alert.resend-delay=1s");
    let _prometheus = Killed(spawn_logged("prometheus", command, dir.path()));

    let firing = wait_for("the firing webhook", Duration::from_secs(60), || async {
        sink.with_status("firing").into_iter().next()
    })
    .await;
    let alert = &firing["alerts"][0];
    assert_eq!(alert["labels"]["alertname"], "CheckoutErrorsFromPrometheus");
    assert_eq!(alert["labels"]["service"], "checkout");
    assert_eq!(alert["labels"]["job"], "checkout");
    assert_eq!(alert["annotations"]["summary"], "ratio 0.2");
    assert!(alert["generatorURL"]
        .as_str()
        .unwrap_or("")
        .contains("/graph?g0.expr="));
    // The fingerprint is the label set's, as Alertmanager computes it.
    assert_eq!(alert["fingerprint"].as_str().map(str::len), Some(16));

    // Attributed as closeloop's own alerts are: the deploy is the suspect.
    let row = wait_for(
        "the external alert in the read API",
        Duration::from_secs(30),
        || async {
            let body = closeloop.get_json("/api/v1/alert-history").await;
            body["data"]
                .as_array()
                .and_then(|rows| rows.iter().find(|r| r["rule_group"] == "external").cloned())
        },
    )
    .await;
    assert_eq!(row["suspect_deploys"][0]["version"], "v42", "{row}");
    assert_eq!(row["suspect_deploys"][0]["commits"][0], "4f2a9c1", "{row}");

    // SIGKILL and restart while Prometheus keeps re-sending: the alert
    // state is rebuilt from the log, so nothing fires a second time.
    let mut closeloop = closeloop;
    closeloop.process.kill9();
    drop(closeloop);
    let closeloop = Closeloop::start(dir.path(), &config, port).await;
    wait_for(
        "re-sent alerts after the restart",
        Duration::from_secs(30),
        || async {
            let n = closeloop
                .metric("closeloop_ingest_requests_total{code=\"200\",handler=\"alerts_v2\"}")
                .await;
            (n > 0.0).then_some(())
        },
    )
    .await;

    // The rule stops firing: Prometheus sends the alert with endsAt now.
    target.set(0.0);
    let resolved = wait_for("the resolved webhook", Duration::from_secs(60), || async {
        sink.with_status("resolved").into_iter().next()
    })
    .await;
    assert_eq!(
        alert_names(&[resolved.clone()]),
        ["CheckoutErrorsFromPrometheus"]
    );
    assert_eq!(resolved["alerts"][0]["fingerprint"], alert["fingerprint"]);
    assert_eq!(
        alert_names(&sink.with_status("firing")),
        ["CheckoutErrorsFromPrometheus"],
        "fired once, across the restart"
    );
    drop(closeloop);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_without_the_bearer_token_get_401_with_a_challenge() {
    let dir = tempfile::tempdir().unwrap();
    let config = closeloop_config(dir.path(), "http://127.0.0.1:9/");
    let closeloop = Closeloop::start(dir.path(), &config, free_port()).await;
    let body = serde_json::json!([{"labels": {"alertname": "A"}}]);
    let client = reqwest::Client::new();
    for path in ["/api/v2/alerts", "/api/v1/alertmanager"] {
        let response = client
            .post(format!("{}{path}", closeloop.url))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{path}");
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer realm=\"closeloop\""
        );
    }
    let response = client
        .post(format!("{}/api/v2/alerts", closeloop.url))
        .bearer_auth(TOKEN)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // Other classes stay open when they have no credentials.
    let ready = reqwest::get(format!("{}/-/ready", closeloop.url))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alertmanager_forwards_through_its_webhook_and_closeloop_fires_files_a_redmine_issue_and_resolves(
) {
    let dir = tempfile::tempdir().unwrap();
    let sink = WebhookSink::start().await;
    // The alert also routes to a real Redmine: an issue is filed and closed.
    let redmine = Redmine::connect().await;
    let project = format!("alerts-in-{}", std::process::id());
    redmine.create_project(&project).await;
    let matcher = "['alertname=\"DiskFullFromAlertmanager\"']";
    let routes = format!(
        "{{matchers: {matcher}, receiver: hook, continue: true}}, {{matchers: {matcher}, receiver: backlog}}"
    );
    let receivers = format!(
        "  - name: backlog\n    redmine_configs:\n      - {{url: \"{}\", api_key_file: \"{}\", project: {project}, on_resolved: close}}\n",
        redmine.url,
        redmine.key_file.display()
    );
    let config = closeloop_config_with(dir.path(), &sink.url, &routes, &receivers);
    let port = free_port();
    let _closeloop = Closeloop::start(dir.path(), &config, port).await;

    std::fs::write(dir.path().join("token"), TOKEN).unwrap();
    let am_port = free_port();
    let am_yml = format!(
        r#"route:
  receiver: closeloop
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: closeloop
    webhook_configs:
      - url: http://127.0.0.1:{port}/api/v1/alertmanager
        send_resolved: true
        http_config:
          authorization: {{credentials_file: {token}}}
"#,
        token = dir.path().join("token").display(),
    );
    std::fs::write(dir.path().join("alertmanager.yml"), am_yml).unwrap();
    let mut command = Command::new("prometheus-alertmanager");
    command
        .arg(format!(
            "--config.file={}",
            dir.path().join("alertmanager.yml").display()
        ))
        .arg(format!(
            "--storage.path={}",
            dir.path().join("am").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{am_port}"))
        .arg("--cluster.listen-address=");
    let _alertmanager = Killed(spawn_logged("alertmanager", command, dir.path()));
    let am = format!("http://127.0.0.1:{am_port}");
    wait_for(
        "Alertmanager to be ready",
        Duration::from_secs(30),
        || async {
            let response = reqwest::get(format!("{am}/-/ready")).await.ok()?;
            response.status().is_success().then_some(())
        },
    )
    .await;

    let client = reqwest::Client::new();
    let labels = serde_json::json!({"alertname": "DiskFullFromAlertmanager", "service": "db", "environment": "prod"});
    let response = client
        .post(format!("{am}/api/v2/alerts"))
        .json(&serde_json::json!([{"labels": labels, "annotations": {"summary": "disk 97%"}}]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let firing = wait_for("the firing webhook", Duration::from_secs(60), || async {
        sink.with_status("firing").into_iter().next()
    })
    .await;
    assert_eq!(alert_names(&[firing.clone()]), ["DiskFullFromAlertmanager"]);
    assert_eq!(firing["alerts"][0]["annotations"]["summary"], "disk 97%");
    let issue = wait_for("the Redmine issue", Duration::from_secs(30), || async {
        redmine.issues(&project).await.into_iter().next()
    })
    .await;
    assert!(
        issue["subject"]
            .as_str()
            .unwrap_or("")
            .contains("DiskFullFromAlertmanager"),
        "{issue}"
    );

    // Resolve it at Alertmanager: it notifies closeloop, which resolves.
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let response = client
        .post(format!("{am}/api/v2/alerts"))
        .json(&serde_json::json!([{"labels": labels, "endsAt": now}]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let resolved = wait_for("the resolved webhook", Duration::from_secs(60), || async {
        sink.with_status("resolved").into_iter().next()
    })
    .await;
    assert_eq!(alert_names(&[resolved]), ["DiskFullFromAlertmanager"]);
    let issue_id = issue["id"].as_i64().unwrap();
    wait_for(
        "the Redmine issue to close",
        Duration::from_secs(30),
        || async {
            let issue = redmine.issue_with_journals(issue_id).await;
            (issue["status"]["id"] == 5).then_some(())
        },
    )
    .await;
}
