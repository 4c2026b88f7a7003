//! The Redmine receiver against a real Redmine 5 (Debian package), started
//! by `tests/setup/redmine.sh`. Each test creates its own fresh project, so
//! runs never see each other's issues. `REDMINE_URL` and
//! `REDMINE_API_KEY_FILE` override where to find it; if Redmine cannot be
//! reached the tests fail, saying how to start it.

mod common;

use closeloop_actuator::issues::render;
use closeloop_actuator::ActuatorConfig;
use closeloop_core::events::{AlertEvent, SuspectDeploy};
use closeloop_core::topics::Topic;
use closeloop_core::EventPayload;
use common::*;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

struct Redmine {
    url: String,
    key: String,
    key_file: PathBuf,
    http: reqwest::Client,
}

const HOW_TO_START: &str =
    "start it with tests/setup/redmine.sh (it prints REDMINE_URL and REDMINE_API_KEY_FILE)";

async fn redmine() -> Redmine {
    let url = std::env::var("REDMINE_URL").unwrap_or_else(|_| "http://127.0.0.1:3300".into());
    let state_dir =
        std::env::var("REDMINE_STATE_DIR").unwrap_or_else(|_| "/tmp/closeloop-redmine".into());
    let key_file = std::env::var("REDMINE_API_KEY_FILE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(state_dir).join("api_key"));
    let key = match std::fs::read_to_string(&key_file) {
        Ok(key) => key.trim().to_string(),
        Err(e) => panic!(
            "no Redmine API key at {} ({e}); {HOW_TO_START}",
            key_file.display()
        ),
    };
    let http = reqwest::Client::new();
    let answer = http
        .get(format!("{url}/users/current.json"))
        .header("X-Redmine-API-Key", &key)
        .timeout(Duration::from_secs(10))
        .send()
        .await;
    match answer {
        Ok(response) if response.status().is_success() => {}
        Ok(response) => panic!(
            "Redmine at {url} answered {} to the API key in {}; {HOW_TO_START}",
            response.status(),
            key_file.display()
        ),
        Err(e) => panic!("Redmine is not reachable at {url} ({e}); {HOW_TO_START}"),
    }
    Redmine {
        url,
        key,
        key_file,
        http,
    }
}

impl Redmine {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.url))
            .header("X-Redmine-API-Key", &self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("calling Redmine");
        let status = response.status();
        let text = response.text().await.expect("reading Redmine's answer");
        assert!(status.is_success(), "{method} {path}: {status}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    /// A project nobody else uses, named after the test.
    async fn fresh_project(&self, test: &str) -> String {
        let id = uuid::Uuid::now_v7().simple().to_string();
        let identifier = format!("cl-{}-{}", test, &id[id.len() - 10..]);
        self.call(
            reqwest::Method::POST,
            "/projects.json",
            Some(json!({"project": {
                "name": identifier,
                "identifier": identifier,
                "tracker_ids": [1, 2, 3],
                "enabled_module_names": ["issue_tracking"],
            }})),
        )
        .await;
        identifier
    }

    async fn issues_with_marker(&self, project: &str, fingerprint: &str) -> Vec<Value> {
        let mut url = reqwest::Url::parse(&format!("{}/issues.json", self.url)).expect("url");
        url.query_pairs_mut()
            .append_pair("project_id", project)
            .append_pair("status_id", "*")
            .append_pair(
                "description",
                &format!("~{}", render::fingerprint_marker(fingerprint)),
            );
        let found = self
            .call(reqwest::Method::GET, &url.as_str()[self.url.len()..], None)
            .await;
        found["issues"].as_array().cloned().unwrap_or_default()
    }

    async fn issue(&self, id: &str) -> Value {
        let found = self
            .call(
                reqwest::Method::GET,
                &format!("/issues/{id}.json?include=journals"),
                None,
            )
            .await;
        found["issue"].clone()
    }

    fn config(&self, project: &str) -> ActuatorConfig {
        let yaml = format!(
            r#"
route:
  receiver: backlog
receivers:
  - name: backlog
    redmine_configs:
      - url: {url}
        api_key_file: {key_file}
        project: {project}
        tracker_id: 1
        on_resolved: close
delivery: {{initial_backoff: 100ms, max_backoff: 1s, deadline: 10s, timeout: 10s}}
"#,
            url = self.url,
            key_file = self.key_file.display(),
        );
        let mut config: ActuatorConfig = serde_yaml::from_str(&yaml).expect("test config parses");
        config.load_secrets().expect("reading the API key file");
        config.validate().expect("test config is valid");
        config
    }
}

fn notes(issue: &Value) -> Vec<String> {
    issue["journals"]
        .as_array()
        .map(|js| {
            js.iter()
                .filter_map(|j| j["notes"].as_str())
                .filter(|n| !n.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn high_error_rate(run: &str) -> AlertEvent {
    let mut alert = alert(
        &[
            ("alertname", "HighErrorRate"),
            ("environment", "prod"),
            ("service", "checkout"),
            ("severity", "page"),
            ("run", run),
        ],
        "2026-11-22T02:35:00Z",
    );
    alert.value = 0.12;
    alert.annotations = labels(&[("summary", "checkout 5xx ratio above 5%")]);
    alert.generator_url = Some("http://prometheus:9090/graph?g0.expr=errors".into());
    alert.suspect_deploys = vec![SuspectDeploy {
        deploy_id: uuid::Uuid::now_v7(),
        service: "checkout".into(),
        environment: "prod".into(),
        version: "1.4.2".into(),
        deployed_at: at("2026-11-22T02:20:00Z"),
        url: Some("https://ci.example/checkout/runs/42".into()),
        actor: Some("alice".into()),
        commits: vec!["9fceb02d0ae598e95dc970b74767f19372d61af8".into()],
    }];
    alert
}

fn resolved(alert: &AlertEvent, at_text: &str) -> AlertEvent {
    let mut resolved = alert.clone();
    resolved.resolved_at = Some(at(at_text));
    resolved
}

fn filed_issue_id(outcomes: &[EventPayload]) -> (String, bool) {
    outcomes
        .iter()
        .find_map(|p| match p {
            EventPayload::IssueFiled(f) => Some((f.issue_id.clone(), f.adopted)),
            _ => None,
        })
        .expect("an IssueFiled outcome")
}

#[tokio::test]
async fn an_alert_files_one_issue_that_recurrences_note_and_resolution_closes() {
    let redmine = redmine().await;
    let project = redmine.fresh_project("lifecycle").await;
    let test_log = open_log(1).await;
    let log = &test_log.log;
    let alert = high_error_rate(&project);

    // Given a firing alert with a suspect deploy, then one issue describes both.
    let running = start(log, redmine.config(&project));
    append_alert(log, EventPayload::AlertFiring(alert.clone())).await;
    let outcomes = wait_for_outcomes(log, WAIT, |o| count(o, "IssueFiled") == 1).await;
    let (issue_id, adopted) = filed_issue_id(&outcomes);
    assert!(!adopted);
    let issue = redmine.issue(&issue_id).await;
    assert_eq!(
        issue["subject"],
        "[closeloop] HighErrorRate service=checkout environment=prod"
    );
    let description = issue["description"].as_str().unwrap_or_default();
    for wanted in [
        "checkout 1.4.2 in prod, deployed at 2026-11-22T02:20:00Z by alice: https://ci.example/checkout/runs/42",
        "summary=checkout 5xx ratio above 5%",
        "Value: 0.12",
        "http://prometheus:9090/graph?g0.expr=errors",
        &render::fingerprint_marker(&alert.fingerprint),
    ] {
        assert!(description.contains(wanted), "description lacks {wanted:?}:\n{description}");
    }

    // When it fires again, then a note with the count, not a second issue.
    append_alert(log, EventPayload::AlertFiring(alert.clone())).await;
    wait_for_outcomes(log, WAIT, |o| count(o, "IssueCommented") == 1).await;
    let issue = redmine.issue(&issue_id).await;
    assert!(
        notes(&issue).iter().any(|n| n.contains("occurrence 2")),
        "{:?}",
        notes(&issue)
    );

    // When it resolves, then a note and the Closed status.
    append_alert(
        log,
        EventPayload::AlertResolved(resolved(&alert, "2026-11-22T03:00:00Z")),
    )
    .await;
    wait_for_outcomes(log, WAIT, |o| count(o, "IssueClosed") == 1).await;
    let issue = redmine.issue(&issue_id).await;
    assert_eq!(issue["status"]["id"], 5);
    assert!(notes(&issue)
        .iter()
        .any(|n| n.contains("Resolved at 2026-11-22T03:00:00Z")));
    running.stop().await;

    // When it fires again after a restart (state rebuilt from outcomes),
    // then the issue closeloop closed is reopened, still only one.
    let running = start(log, redmine.config(&project));
    append_alert(log, EventPayload::AlertFiring(alert.clone())).await;
    let outcomes = wait_for_outcomes(log, WAIT, |o| count(o, "IssueReopened") == 1).await;
    running.stop().await;
    let issue = redmine.issue(&issue_id).await;
    assert_eq!(issue["status"]["id"], 2);
    assert!(
        notes(&issue).iter().any(|n| n.contains("occurrence 3")),
        "{:?}",
        notes(&issue)
    );
    assert_eq!(count(&outcomes, "IssueFiled"), 1);
    assert_eq!(
        redmine
            .issues_with_marker(&project, &alert.fingerprint)
            .await
            .len(),
        1
    );
    assert_eq!(count(&outcomes, "ActionFailed"), 0, "{outcomes:#?}");
    assert_eq!(events(log, Topic::Actions).await.len(), 4);
}

#[tokio::test]
async fn an_issue_created_just_before_a_crash_is_adopted_not_filed_again() {
    let redmine = redmine().await;
    let project = redmine.fresh_project("adopt").await;
    let alert = high_error_rate(&project);

    // Given an actuator that filed the issue, and then a log without that
    // outcome: the process died between "create" and "record".
    let first_log = open_log(1).await;
    let running = start(&first_log.log, redmine.config(&project));
    append_alert(&first_log.log, EventPayload::AlertFiring(alert.clone())).await;
    let first = wait_for_outcomes(&first_log.log, WAIT, |o| count(o, "IssueFiled") == 1).await;
    running.stop().await;
    let (created_id, _) = filed_issue_id(&first);

    let test_log = open_log(1).await;
    let log = &test_log.log;
    let running = start(log, redmine.config(&project));
    // When the alert record is acted on again
    append_alert(log, EventPayload::AlertFiring(alert.clone())).await;
    let outcomes = wait_for_outcomes(log, WAIT, |o| count(o, "IssueFiled") == 1).await;
    running.stop().await;

    // Then the existing issue is adopted and no second one exists.
    assert_eq!(filed_issue_id(&outcomes), (created_id, true));
    assert_eq!(
        redmine
            .issues_with_marker(&project, &alert.fingerprint)
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn an_issue_a_person_rejected_stays_closed_when_the_alert_fires_again() {
    let redmine = redmine().await;
    let project = redmine.fresh_project("rejected").await;
    let test_log = open_log(1).await;
    let log = &test_log.log;
    let alert = high_error_rate(&project);

    let running = start(log, redmine.config(&project));
    append_alert(log, EventPayload::AlertFiring(alert.clone())).await;
    let filed = wait_for_outcomes(log, WAIT, |o| count(o, "IssueFiled") == 1).await;
    let (issue_id, _) = filed_issue_id(&filed);

    // Given a person rejected the issue (won't fix)
    redmine
        .call(
            reqwest::Method::PUT,
            &format!("/issues/{issue_id}.json"),
            Some(json!({"issue": {"status_id": 6, "notes": "Won't fix: expected during migration."}})),
        )
        .await;
    // When the alert fires again and then resolves
    append_alert(log, EventPayload::AlertFiring(alert.clone())).await;
    append_alert(
        log,
        EventPayload::AlertResolved(resolved(&alert, "2026-11-22T03:00:00Z")),
    )
    .await;
    wait_until_caught_up(log, WAIT).await;
    running.stop().await;

    // Then closeloop neither notes, reopens, recloses nor files anew.
    let issue = redmine.issue(&issue_id).await;
    assert_eq!(issue["status"]["id"], 6);
    assert_eq!(
        notes(&issue),
        vec!["Won't fix: expected during migration.".to_string()]
    );
    assert_eq!(
        redmine
            .issues_with_marker(&project, &alert.fingerprint)
            .await
            .len(),
        1
    );
    // The recurrence is counted in the log only (the resolve asks nothing).
    let outcomes = outcomes(log).await;
    let counted: Vec<(String, u32)> = outcomes
        .iter()
        .filter_map(|o| match o {
            EventPayload::IssueCommented(c) => Some((c.reason.clone(), c.occurrences)),
            _ => None,
        })
        .collect();
    assert_eq!(outcomes.len(), 2, "IssueFiled and the count: {outcomes:#?}");
    assert_eq!(counted, vec![("counted".to_string(), 2)]);
}

#[tokio::test]
async fn a_wrong_api_key_fails_once_without_retrying() {
    let redmine = redmine().await;
    let project = redmine.fresh_project("badkey").await;
    let test_log = open_log(1).await;
    let log = &test_log.log;
    let mut config = redmine.config(&project);
    config.receivers[0].redmine_configs[0].api_key = Some("not-a-key".to_string().into());

    let running = start(log, config);
    append_alert(log, EventPayload::AlertFiring(high_error_rate(&project))).await;
    wait_until_caught_up(log, WAIT).await;
    running.stop().await;

    match &outcomes(log).await[..] {
        [EventPayload::ActionFailed(failed)] => {
            assert!(failed.error.contains("401"), "{}", failed.error);
            assert_eq!((failed.retryable, failed.gave_up), (false, true));
        }
        other => panic!("expected one given-up failure, got {other:#?}"),
    }
}
