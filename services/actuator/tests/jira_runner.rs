//! The whole actuator (embedded log, runner, plan) filing into a Jira
//! Cloud fake with a `jira_configs` receiver shaped like the README's: an
//! alert storm, the actuator killed mid-storm and started again, and every
//! fingerprint ends with exactly one issue. The fake checks every request
//! and answer against Jira's contract (`tests/setup/jira_openapi.sh`, see
//! `tests/jira/contract.rs`).

mod common;
mod jira;
mod openapi;

use closeloop_actuator::ActuatorConfig;
use closeloop_core::EventPayload;
use common::*;
use jira::contract::Flavour;
use jira::fake::{JiraFake, EMAIL, PROJECT, TOKEN};
use std::collections::HashSet;
use std::time::{Duration, Instant};

const ALERTS: usize = 150;
const TOKEN_ENV: &str = "CLOSELOOP_TEST_JIRA_TOKEN";

fn config(fake: &JiraFake) -> ActuatorConfig {
    let yaml = format!(
        r#"
route:
  receiver: team
receivers:
  - name: team
    jira_configs:
      - url: {url}
        api_version: 3
        user: {EMAIL}
        token_env: {TOKEN_ENV}
        project_key: {PROJECT}
        issue_type: Bug
        labels: [incident]
        on_resolved: close
        resolve_transition: Done
        reopen_transition: Reopen
        custom_fields:
          customfield_10010: {{id: "42"}}
        reopen_window: 24h
        rate_limit: {{requests_per_minute: 60000, burst: 50}}
delivery: {{initial_backoff: 100ms, max_backoff: 1s, deadline: 60s, timeout: 10s}}
"#,
        url = fake.url(),
    );
    let mut config: ActuatorConfig = serde_yaml::from_str(&yaml).expect("config parses");
    config.load_secrets().expect("token from the environment");
    config.validate().expect("config is valid");
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_with_a_kill_midway_files_every_fingerprint_exactly_once() {
    // Only this test binary reads the variable.
    std::env::set_var(TOKEN_ENV, TOKEN);
    let fake = JiraFake::start(Flavour::Cloud).await;
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
    let running = start(log, config(&fake));
    let deadline = Instant::now() + Duration::from_secs(120);
    while fake.issues().len() < ALERTS / 3 {
        assert!(Instant::now() < deadline, "the storm did not get going");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    running.kill().await;
    // and started again
    let running = start(log, config(&fake));
    wait_until_caught_up(log, Duration::from_secs(120)).await;
    running.stop().await;

    // Then every fingerprint has exactly one issue, none lost
    let issues = fake.issues();
    let bodies: HashSet<String> = issues.iter().map(|i| i.text()).collect();
    assert_eq!(issues.len(), ALERTS, "one issue per fingerprint");
    assert_eq!(bodies.len(), ALERTS);
    assert!(issues
        .iter()
        .all(|i| i.labels.contains(&"incident".to_string())
            && i.custom.contains_key("customfield_10010")));
    let filed: HashSet<String> = outcomes(log)
        .await
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
