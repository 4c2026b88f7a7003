//! The whole actuator (embedded log, runner, plan) filing into a GitHub
//! fake with a config shaped like the README's: an alert storm, the
//! actuator killed mid-storm and started again, and every fingerprint
//! ends with exactly one issue. The fake checks every request and answer
//! against GitHub's OpenAPI description (`tests/setup/github_openapi.sh`).

mod common;
mod github;

use closeloop_actuator::ActuatorConfig;
use closeloop_core::EventPayload;
use common::*;
use github::fake::{GithubFake, OWNER, REPO, TOKEN};
use std::collections::HashSet;
use std::time::{Duration, Instant};

const ALERTS: usize = 300;

fn config(fake: &GithubFake, token_file: &std::path::Path) -> ActuatorConfig {
    let yaml = format!(
        r#"
route:
  receiver: team
receivers:
  - name: team
    github_configs:
      - api_url: {api}
        repository: {OWNER}/{REPO}
        token_file: {token}
        labels: [incident]
        on_resolved: close
        reopen_window: 24h
        rate_limit: {{requests_per_minute: 60000, burst: 50}}
delivery: {{initial_backoff: 100ms, max_backoff: 1s, deadline: 60s, timeout: 10s}}
"#,
        api = fake.api_url(),
        token = token_file.display(),
    );
    let mut config: ActuatorConfig = serde_yaml::from_str(&yaml).expect("config parses");
    config.load_secrets().expect("token file");
    config.validate().expect("config is valid");
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_with_a_kill_midway_files_every_fingerprint_exactly_once() {
    let fake = GithubFake::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let token_file = dir.path().join("github-token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).expect("token file");
    let test_log = open_log(2).await;
    let log = &test_log.log;
    for n in 0..ALERTS {
        let alert = alert(
            &[
                ("alertname", "Storm"),
                ("instance", &format!("host-{n}")),
                ("service", "checkout"),
            ],
            "2026-11-22T02:35:00Z",
        );
        append_alert(log, EventPayload::AlertFiring(alert)).await;
    }

    // When the actuator is killed once a third of the issues exist
    let running = start(log, config(&fake, &token_file));
    let deadline = Instant::now() + Duration::from_secs(120);
    while fake.issues().len() < ALERTS / 3 {
        assert!(Instant::now() < deadline, "the storm did not get going");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    running.kill().await;
    // and started again
    let running = start(log, config(&fake, &token_file));
    wait_until_caught_up(log, Duration::from_secs(120)).await;
    running.stop().await;

    // Then every fingerprint has exactly one issue, none lost
    let issues = fake.issues();
    let bodies: HashSet<&str> = issues.iter().map(|i| i.body.as_str()).collect();
    assert_eq!(issues.len(), ALERTS, "one issue per fingerprint");
    assert_eq!(bodies.len(), ALERTS);
    assert!(issues
        .iter()
        .all(|i| i.labels.contains(&"incident".to_string())));
    let outcomes = outcomes(log).await;
    let filed: HashSet<String> = outcomes
        .iter()
        .filter_map(|o| match o {
            EventPayload::IssueFiled(f) => Some(f.fingerprint.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(filed.len(), ALERTS, "every fingerprint's issue recorded");
    let violations = fake.violations();
    assert!(violations.is_empty(), "{violations:#?}");
}
