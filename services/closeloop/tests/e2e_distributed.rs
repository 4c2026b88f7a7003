//! The loop in distributed mode: ingest, two evaluators, an actuator and a
//! projector as separate `closeloop serve --role ...` processes on a real
//! Kafka-protocol broker and the machine's PostgreSQL. A real Prometheus
//! remote-writes; the evaluator that owns the rule group is killed with
//! SIGKILL while the alert is pending; the other evaluator takes the group
//! over, the alert fires once, and exactly one issue is filed in the real
//! Redmine.
//!
//! Needs the broker from `tests/setup/kafka.sh` (`KAFKA_BROKERS`, default
//! 127.0.0.1:29092), PostgreSQL from `tests/setup/postgres.sh`
//! (`CLOSELOOP_TEST_DATABASE_URL`), Redmine from `tests/setup/redmine.sh`
//! and `prometheus` on PATH; fails saying how to start whichever is missing.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};
use support::*;

const RULES: &str = r#"
groups:
  - name: checkout
    interval: 1s
    rules:
      - alert: CheckoutErrorRatioHigh
        expr: checkout_error_ratio > 0.05
        for: 12s
        labels:
          severity: page
        annotations:
          summary: "error ratio {{ $value }} on {{ $labels.service }}"
"#;

fn kafka_brokers() -> String {
    let brokers = std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:29092".into());
    let first = brokers.split(',').next().unwrap_or_default().to_string();
    if std::net::TcpStream::connect_timeout(
        &first.parse().expect("KAFKA_BROKERS is host:port"),
        Duration::from_secs(2),
    )
    .is_err()
    {
        panic!(
            "no Kafka broker answers at {brokers}; start one with tests/setup/kafka.sh (it prints KAFKA_BROKERS)"
        );
    }
    brokers
}

/// A schema of its own in the test database, so the read models of this
/// run start empty; returns the URL selecting it.
fn fresh_database_schema(name: &str) -> String {
    let url = std::env::var("CLOSELOOP_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://closeloop:closeloop@127.0.0.1:5432/closeloop".into());
    let created = Command::new("psql")
        .args([&url, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c"])
        .arg(format!("CREATE SCHEMA {name}"))
        .output()
        .unwrap_or_else(|e| {
            panic!("running psql: {e}; install and start PostgreSQL with tests/setup/postgres.sh")
        });
    assert!(
        created.status.success(),
        "creating schema {name} at {url} failed: {}; start PostgreSQL with tests/setup/postgres.sh and export CLOSELOOP_TEST_DATABASE_URL",
        String::from_utf8_lossy(&created.stderr)
    );
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options[search_path]={name}")
}

fn config(
    prefix: &str,
    brokers: &str,
    database: &str,
    webhook: &str,
    redmine: &Redmine,
    project: &str,
) -> String {
    format!(
        r#"rule_files: [rules/*.yml]
evaluation: {{interval: 1s, lateness: 1s, idle_follow: 30s}}
storage:
  log:
    kafka:
      brokers: ["{brokers}"]
      topic_prefix: {prefix}
      partitions: 4
      session_timeout: 6s
  database: "{database}"
route:
  receiver: hook
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
  - name: hook
    webhook_configs: [{{url: "{webhook}"}}]
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

/// How many rule groups an evaluator process evaluates now.
async fn owned_groups(evaluator: &Closeloop) -> f64 {
    evaluator.metric("closeloop_evaluator_owned_groups").await
}

/// The evaluator that does not own the group answers the query API for
/// it as its owner does: the samples, the `ALERTS` series, and the
/// group's health and pending alert in `/api/v1/rules` (from the owner's
/// shard checkpoint).
async fn the_other_evaluator_answers_for_all_data(owner: &Closeloop, other: &Closeloop) {
    let rule = wait_for(
        "the non-owner to report the group's health",
        Duration::from_secs(20),
        || async {
            let rules = other.get_json("/api/v1/rules").await;
            let rule = rules["data"]["groups"][0]["rules"][0].clone();
            (rule["health"] == "ok" && rule["alerts"][0]["state"] == "pending").then_some(rule)
        },
    )
    .await;
    assert_ne!(rule["lastEvaluation"], "0001-01-01T00:00:00Z", "{rule}");
    assert_eq!(rule["name"], "CheckoutErrorRatioHigh", "{rule}");

    let alerts = other.get_json("/api/v1/query?query=ALERTS").await;
    assert_eq!(
        alerts["data"]["result"][0]["metric"]["alertstate"], "pending",
        "{alerts}"
    );
    // The same instant query, at a time both have samples for (the
    // window holds only what the rule needs: seconds), has the same
    // answer on both.
    let at = owner
        .metric("closeloop_evaluator_watermark_timestamp_seconds")
        .await
        .floor();
    let query = format!("/api/v1/query?query=checkout_error_ratio&time={at}");
    let (mine, theirs) = (owner.get_json(&query).await, other.get_json(&query).await);
    assert_eq!(
        mine["data"]["result"].as_array().map(Vec::len),
        Some(1),
        "{mine}"
    );
    assert_eq!(mine["data"]["result"], theirs["data"]["result"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_evaluators_pending_alert_fires_once_from_the_other_and_files_one_issue() {
    let brokers = kafka_brokers();
    let unique = format!(
        "e2e{}x{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis())
    );
    let database = fresh_database_schema(&unique);
    let redmine = Redmine::connect().await;
    let project = format!("dist-{unique}");
    redmine.create_project(&project).await;

    // CLOSELOOP_KEEP_TEST_DIR=1 keeps the processes' logs for a post-mortem.
    let dir = tempfile::Builder::new()
        .prefix("e2e-distributed")
        .disable_cleanup(std::env::var_os("CLOSELOOP_KEEP_TEST_DIR").is_some())
        .tempdir()
        .expect("temp dir");
    eprintln!("test dir: {}", dir.path().display());
    std::fs::create_dir_all(dir.path().join("rules")).unwrap();
    std::fs::write(dir.path().join("rules/checkout.yml"), RULES).unwrap();
    let sink = WebhookSink::start().await;
    let config_path = dir.path().join("closeloop.yml");
    let text = config(&unique, &brokers, &database, &sink.url, &redmine, &project);
    std::fs::write(&config_path, text).unwrap();

    let path = config_path.as_path();
    let root = dir.path();
    let ingest = Closeloop::start_roles(root, path, free_port(), "ingest", "ingest").await;
    let first = Closeloop::start_roles(root, path, free_port(), "evaluator-1", "evaluator").await;
    let second = Closeloop::start_roles(root, path, free_port(), "evaluator-2", "evaluator").await;
    let _actuator = Closeloop::start_roles(root, path, free_port(), "actuator", "actuator").await;
    let projector = Closeloop::start_roles(root, path, free_port(), "projector", "projector").await;

    let target = ScrapeTarget::start(r#"service="checkout",environment="prod""#).await;
    let _prometheus = start_prometheus(root, target.port, &format!("{}/api/v1/write", ingest.url));
    wait_for(
        "samples from Prometheus",
        Duration::from_secs(60),
        || async { (ingest.metric("closeloop_ingest_samples_total").await > 0.0).then_some(()) },
    )
    .await;

    // Exactly one of the two evaluators owns the one rule group.
    let first_owns = wait_for(
        "one evaluator to own the rule group",
        Duration::from_secs(60),
        || async {
            match (owned_groups(&first).await, owned_groups(&second).await) {
                (a, b) if a == 1.0 && b == 0.0 => Some(true),
                (a, b) if a == 0.0 && b == 1.0 => Some(false),
                _ => None,
            }
        },
    )
    .await;
    let (mut owner, survivor) = if first_owns {
        (first, second)
    } else {
        (second, first)
    };

    target.set(0.2);
    wait_for(
        "the alert to be pending",
        Duration::from_secs(60),
        || async {
            let alerts = projector
                .get_json("/api/v1/alert-history?state=pending")
                .await;
            (alerts["data"].as_array().map(|a| a.len()) == Some(1)).then_some(())
        },
    )
    .await;
    assert!(
        sink.with_status("firing").is_empty(),
        "the alert fired before the kill; lengthen `for`"
    );
    the_other_evaluator_answers_for_all_data(&owner, &survivor).await;

    // SIGKILL the owner while the alert is pending: no goodbye to the group.
    owner.process.kill9();
    let killed_at = Instant::now();
    wait_for(
        "the surviving evaluator to take the group over",
        Duration::from_secs(40),
        || async { (owned_groups(&survivor).await == 1.0).then_some(()) },
    )
    .await;
    let takeover = killed_at.elapsed();

    let firing = wait_for("the firing webhook", Duration::from_secs(60), || async {
        sink.with_status("firing").into_iter().next()
    })
    .await;
    assert_eq!(
        firing["alerts"][0]["labels"]["alertname"],
        "CheckoutErrorRatioHigh"
    );
    let issue = wait_for("the Redmine issue", Duration::from_secs(30), || async {
        redmine.issues(&project).await.into_iter().next()
    })
    .await;
    assert!(
        issue["subject"]
            .as_str()
            .unwrap_or_default()
            .contains("CheckoutErrorRatioHigh"),
        "{issue}"
    );

    // Let evaluation run on for a while: nothing more may happen.
    let watermark = survivor
        .metric("closeloop_evaluator_watermark_timestamp_seconds")
        .await;
    wait_for("more evaluations", Duration::from_secs(30), || async {
        let now = survivor
            .metric("closeloop_evaluator_watermark_timestamp_seconds")
            .await;
        (now >= watermark + 5.0).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(sink.with_status("firing").len(), 1, "the alert fired once");
    assert_eq!(redmine.issues(&project).await.len(), 1, "exactly one issue");
    let firing_now = projector
        .get_json("/api/v1/alert-history?state=firing")
        .await;
    assert_eq!(
        firing_now["data"].as_array().map(|a| a.len()),
        Some(1),
        "{firing_now}"
    );
    eprintln!("takeover after SIGKILL took {takeover:?}");
}
