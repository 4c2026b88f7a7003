//! The whole loop on the embedded default, with real peers: a real
//! Prometheus 2.42 scrapes a target and remote-writes into closeloop, a
//! deploy is reported, a rule breaches, the webhook receives the
//! Alertmanager payload, an issue naming the deploy appears in a real
//! Redmine, closeloop is killed with SIGKILL and restarted while the alert
//! fires (no second issue), and the issue is closed after recovery.
//!
//! Needs `prometheus` on PATH and Redmine from `tests/setup/redmine.sh`;
//! fails with a message saying so when either is missing.

mod support;

use std::time::Duration;
use support::*;

const RULES: &str = r#"
groups:
  - name: checkout
    interval: 1s
    rules:
      - alert: CheckoutErrorRatioHigh
        expr: checkout_error_ratio > 0.05
        for: 3s
        labels:
          severity: page
        annotations:
          summary: "error ratio {{ $value }} on {{ $labels.service }}/{{ $labels.environment }}"
"#;

fn config(webhook_url: &str, redmine: &Redmine, project: &str) -> String {
    format!(
        r#"rule_files: [rules/*.yml]
evaluation: {{interval: 1s, lateness: 1s, idle_follow: 30s}}
attribution: {{window: 1h, labels: [service, environment]}}
route:
  receiver: default
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  routes:
    - matchers: ['severity="page"']
      receiver: hook
      continue: true
    - matchers: ['severity="page"']
      receiver: backlog
receivers:
  - name: default
  - name: hook
    webhook_configs: [{{url: "{webhook_url}"}}]
  - name: backlog
    redmine_configs:
      - url: {redmine_url}
        api_key_file: {key_file}
        project: {project}
        on_resolved: close
delivery: {{initial_backoff: 200ms, max_backoff: 1s}}
"#,
        redmine_url = redmine.url,
        key_file = redmine.key_file.display(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_breach_files_one_redmine_issue_naming_the_deploy_and_closes_it_on_recovery() {
    let redmine = Redmine::connect().await;
    let project = format!("e2e-{}", std::process::id());
    redmine.create_project(&project).await;

    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("rules")).unwrap();
    std::fs::write(dir.path().join("rules/checkout.yml"), RULES).unwrap();
    let sink = WebhookSink::start().await;
    let config_path = dir.path().join("closeloop.yml");
    std::fs::write(&config_path, config(&sink.url, &redmine, &project)).unwrap();

    let target = ScrapeTarget::start(r#"service="checkout",environment="prod""#).await;
    let port = free_port();
    let mut closeloop = Closeloop::start(dir.path(), &config_path, port).await;
    let _prometheus = start_prometheus(
        dir.path(),
        target.port,
        &format!("{}/api/v1/write", closeloop.url),
    );

    // Prometheus is really writing before anything else happens.
    wait_for(
        "samples from Prometheus",
        Duration::from_secs(60),
        || async { (closeloop.metric("closeloop_ingest_samples_total").await > 0.0).then_some(()) },
    )
    .await;

    let deploy = serde_json::json!({
        "service": "checkout", "environment": "prod", "version": "v42",
        "commits": [{"sha": "4f2a9c1"}], "actor": "ci", "url": "https://ci.example/run/42"
    });
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/deploys", closeloop.url))
        .json(&deploy)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);

    target.set(0.2);
    let firing = wait_for("the firing webhook", Duration::from_secs(60), || async {
        sink.with_status("firing").into_iter().next()
    })
    .await;
    assert_eq!(firing["version"], "4");
    assert_eq!(
        firing["alerts"][0]["labels"]["alertname"],
        "CheckoutErrorRatioHigh"
    );
    assert_eq!(firing["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
    assert!(firing["alerts"][0]["annotations"]["summary"]
        .as_str()
        .unwrap()
        .starts_with("error ratio 0.2 on checkout/prod"));

    let issue = wait_for("the Redmine issue", Duration::from_secs(30), || async {
        redmine.issues(&project).await.into_iter().next()
    })
    .await;
    let description = issue["description"].as_str().unwrap_or_default();
    assert!(
        issue["subject"]
            .as_str()
            .unwrap()
            .contains("CheckoutErrorRatioHigh"),
        "{issue}"
    );
    assert!(
        description.contains("v42"),
        "the suspect deploy is named: {description}"
    );

    // Crash while the alert fires: no acknowledged state is lost and the
    // restarted process files no second issue.
    closeloop.process.kill9();
    let closeloop = Closeloop::start(dir.path(), &config_path, port).await;
    wait_for(
        "evaluation to resume after restart",
        Duration::from_secs(60),
        || async {
            let alerts = closeloop
                .get_json("/api/v1/alert-history?state=firing")
                .await;
            (alerts["data"].as_array().map(|a| a.len()) == Some(1)).then_some(())
        },
    )
    .await;
    let before = closeloop
        .metric("closeloop_evaluator_watermark_timestamp_seconds")
        .await;
    wait_for(
        "a few evaluations after restart",
        Duration::from_secs(30),
        || async {
            let now = closeloop
                .metric("closeloop_evaluator_watermark_timestamp_seconds")
                .await;
            (now >= before + 4.0).then_some(())
        },
    )
    .await;
    assert_eq!(
        redmine.issues(&project).await.len(),
        1,
        "still exactly one issue"
    );

    target.set(0.0);
    wait_for("the resolved webhook", Duration::from_secs(60), || async {
        sink.with_status("resolved").into_iter().next()
    })
    .await;
    let issue_id = issue["id"].as_i64().unwrap();
    let closed = wait_for(
        "the Redmine issue to close",
        Duration::from_secs(30),
        || async {
            let issue = redmine.issue_with_journals(issue_id).await;
            (issue["status"]["id"] == 5).then_some(issue)
        },
    )
    .await;
    let notes: Vec<&str> = closed["journals"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|j| j["notes"].as_str())
        .collect();
    assert!(
        notes.iter().any(|n| n.to_lowercase().contains("resolved")),
        "{notes:?}"
    );
    assert_eq!(
        redmine.issues(&project).await.len(),
        1,
        "one issue over the whole story"
    );
    assert_eq!(
        sink.with_status("firing").len(),
        1,
        "one firing notification despite the crash"
    );

    let deploys = closeloop.get_json("/api/v1/deploys").await;
    assert_eq!(deploys["data"][0]["version"], "v42");
    let issues = closeloop.get_json("/api/v1/issues").await;
    assert_eq!(issues["data"].as_array().unwrap().len(), 1, "{issues}");
    drop(closeloop);
}
