//! Alertmanager's own CLI against closeloop's Alertmanager API v2: `amtool`
//! 0.25 (Debian `prometheus-alertmanager`) adds a silence with a bearer
//! token from its `--http.config.file`, queries silences and alerts, and
//! expires the silence, against the real `closeloop serve` binary. The
//! silenced alert fires but reaches no receiver while its unsilenced
//! neighbour does; the silence survives a SIGKILL restart; bad silences
//! get Alertmanager's 400/404.
//!
//! Needs `amtool` on PATH (tests/setup/packages.sh); fails saying so.

mod support;

use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use support::*;

const TOKEN: &str = "amtool-admin-token";

/// Two alerts that always hold; `for: 8s` leaves time to silence one
/// before either fires.
const RULES: &str = r#"groups:
  - name: maintenance
    interval: 1s
    rules:
      - alert: DiskBusy
        expr: vector(1)
        for: 8s
        labels: {team: db, severity: page}
        annotations: {summary: "the disk is busy"}
      - alert: WebSlow
        expr: vector(2)
        for: 8s
        labels: {team: web}
"#;

fn amtool(dir: &Path, url: &str, args: &[&str]) -> String {
    let output = Command::new("amtool")
        .arg(format!("--alertmanager.url={url}"))
        .arg(format!("--http.config.file={}", dir.join("amtool_http.yml").display()))
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("running amtool: {e}; install it with tests/setup/packages.sh (Debian prometheus-alertmanager)")
        });
    assert!(
        output.status.success(),
        "amtool {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("amtool prints UTF-8")
}

fn amtool_json(dir: &Path, url: &str, args: &[&str]) -> Value {
    let mut all = vec!["-o", "json"];
    all.extend_from_slice(args);
    let text = amtool(dir, url, &all);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("amtool {args:?} JSON: {e}: {text}"))
}

fn alertnames(alerts: &Value) -> Vec<String> {
    let mut names: Vec<String> = alerts
        .as_array()
        .expect("a list of alerts")
        .iter()
        .map(|a| {
            a["labels"]["alertname"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    names.sort();
    names
}

/// The alert of that name in amtool's JSON list; fails the test if absent.
fn alert_named<'a>(alerts: &'a Value, name: &str) -> &'a Value {
    alerts
        .as_array()
        .and_then(|list| list.iter().find(|a| a["labels"]["alertname"] == name))
        .unwrap_or_else(|| panic!("no {name} among {alerts}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amtool_silences_an_alert_that_then_reaches_no_receiver() {
    let sink = WebhookSink::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("rules")).unwrap();
    std::fs::write(dir.path().join("rules/maintenance.yml"), RULES).unwrap();
    std::fs::write(dir.path().join("admin.token"), format!("{TOKEN}\n")).unwrap();
    std::fs::write(
        dir.path().join("amtool_http.yml"),
        format!("authorization:\n  type: Bearer\n  credentials: {TOKEN}\n"),
    )
    .unwrap();
    let config_path = dir.path().join("closeloop.yml");
    std::fs::write(
        &config_path,
        format!(
            "rule_files: [rules/*.yml]\n\
             evaluation: {{interval: 1s, lateness: 1s, idle_follow: 1s}}\n\
             auth:\n  admin:\n    bearer_tokens: [{{file: admin.token}}]\n\
             route: {{receiver: hook, group_wait: 1s, group_interval: 1s}}\n\
             receivers: [{{name: hook, webhook_configs: [{{url: \"{}\"}}]}}]\n\
             delivery: {{initial_backoff: 200ms, max_backoff: 1s}}\n",
            sink.url
        ),
    )
    .unwrap();
    let port = free_port();
    let mut closeloop = Closeloop::start(dir.path(), &config_path, port).await;
    let url = closeloop.url.clone();

    // Without the admin token a silence is refused.
    let refused = reqwest::Client::new()
        .post(format!("{url}/api/v2/silences"))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);

    let id = amtool(
        dir.path(),
        &url,
        &[
            "silence",
            "add",
            "alertname=DiskBusy",
            "team=~d.*",
            "--comment=disk maintenance",
            "--duration=1h",
            "--author=alice",
        ],
    )
    .trim()
    .to_string();
    assert!(!id.is_empty(), "amtool prints the new silence's id");

    let silences = amtool_json(dir.path(), &url, &["silence", "query"]);
    let silence = &silences[0];
    assert_eq!(silence["id"], id.as_str(), "{silences}");
    assert_eq!(silence["status"]["state"], "active");
    assert_eq!(silence["createdBy"], "alice");
    assert_eq!(silence["comment"], "disk maintenance");
    assert_eq!(
        silence["matchers"].as_array().unwrap().len(),
        2,
        "{silence}"
    );
    // A query filter finds silences with an equal matcher (name, type and
    // value), as Alertmanager's: `team=~d.*` finds this one, `team=db`
    // and `team=d.*` do not.
    let by_name = amtool_json(
        dir.path(),
        &url,
        &["silence", "query", "alertname=DiskBusy"],
    );
    assert_eq!(by_name.as_array().unwrap().len(), 1, "{by_name}");
    for other in ["team=db", "team=d.*"] {
        let none = amtool_json(dir.path(), &url, &["silence", "query", other]);
        assert_eq!(none.as_array().unwrap().len(), 0, "{other}: {none}");
    }
    let by_regex = amtool_json(dir.path(), &url, &["silence", "query", "team=~d.*"]);
    assert_eq!(by_regex.as_array().unwrap().len(), 1, "{by_regex}");
    // WebSlow fires and is delivered; DiskBusy fires too but is held back.
    wait_for(
        "WebSlow at the webhook",
        Duration::from_secs(60),
        || async {
            let firing = sink.with_status("firing");
            let text = serde_json::to_string(&firing).unwrap();
            text.contains("WebSlow").then_some(())
        },
    )
    .await;
    let silenced = wait_for("DiskBusy to fire", Duration::from_secs(30), || async {
        // amtool asks for active alerts only when no other state flag
        // is given, as Alertmanager's API then answers.
        let all = amtool_json(
            dir.path(),
            &url,
            &["alert", "query", "--active", "--silenced"],
        );
        (alertnames(&all) == ["DiskBusy", "WebSlow"]).then_some(all)
    })
    .await;
    let disk = alert_named(&silenced, "DiskBusy");
    assert_eq!(disk["status"]["state"], "suppressed", "{disk}");
    assert_eq!(disk["status"]["silencedBy"][0], id.as_str(), "{disk}");
    assert_eq!(disk["receivers"][0]["name"], "hook", "{disk}");
    // `alert query` without --silenced shows only the active one, and
    // `--silenced` alone only the silenced one.
    let active = amtool_json(dir.path(), &url, &["alert", "query"]);
    assert_eq!(alertnames(&active), ["WebSlow"], "{active}");
    let only_silenced = amtool_json(dir.path(), &url, &["alert", "query", "--silenced"]);
    assert_eq!(alertnames(&only_silenced), ["DiskBusy"], "{only_silenced}");
    let table = amtool(
        dir.path(),
        &url,
        &["alert", "query", "--silenced", "alertname=DiskBusy"],
    );
    assert!(
        table.contains("the disk is busy") && table.contains("suppressed"),
        "{table}"
    );

    tokio::time::sleep(Duration::from_secs(2)).await;
    let sent = serde_json::to_string(&*sink.received.lock().unwrap()).unwrap();
    assert!(
        !sent.contains("DiskBusy"),
        "a silenced alert reached the webhook: {sent}"
    );
    // With `auth` configured, /metrics wants a token too.
    let metrics = reqwest::Client::new()
        .get(format!("{url}/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let silenced = metrics
        .lines()
        .find_map(|l| l.strip_prefix("closeloop_alerts_silenced_total "))
        .and_then(|v| v.trim().parse::<f64>().ok());
    assert!(silenced >= Some(1.0), "{metrics}");

    let groups: Value = reqwest::get(format!("{url}/api/v2/alerts/groups"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(groups[0]["receiver"]["name"], "hook", "{groups}");
    assert!(
        groups[0]["alerts"].as_array().unwrap().len() >= 2,
        "{groups}"
    );

    // Silences are events in the log: they outlive a SIGKILL.
    closeloop.process.kill9();
    let closeloop = Closeloop::start(dir.path(), &config_path, port).await;
    let silences = amtool_json(dir.path(), &closeloop.url, &["silence", "query"]);
    assert_eq!(silences[0]["id"], id.as_str(), "after restart: {silences}");

    // Alertmanager's refusals: an end before the start, an unknown id, and
    // expiring twice.
    let client = reqwest::Client::new();
    let backwards = client
        .post(format!("{url}/api/v2/silences"))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({
            "matchers": [{"name": "alertname", "value": "X", "isRegex": false}],
            "startsAt": "2030-01-01T01:00:00Z", "endsAt": "2030-01-01T00:00:00Z",
            "createdBy": "bob", "comment": "backwards"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(backwards.status(), 400);
    let reason = backwards.text().await.unwrap();
    assert!(reason.contains("end time"), "{reason}");
    let unknown = client
        .delete(format!("{url}/api/v2/silence/no-such-silence"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);

    amtool(dir.path(), &url, &["silence", "expire", &id]);
    let left = amtool_json(dir.path(), &url, &["silence", "query"]);
    assert_eq!(left.as_array().unwrap().len(), 0, "{left}");
    let expired = amtool_json(dir.path(), &url, &["silence", "query", "--expired"]);
    assert_eq!(expired[0]["id"], id.as_str(), "{expired}");
    assert_eq!(expired[0]["status"]["state"], "expired");
    let again = client
        .delete(format!("{url}/api/v2/silence/{id}"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 400);
    let active = amtool_json(dir.path(), &url, &["alert", "query"]);
    assert_eq!(alertnames(&active), ["DiskBusy", "WebSlow"], "{active}");
}

/// A cause and two symptoms, one in the cause's cluster.
const INHIBIT_RULES: &str = r#"groups:
  - name: cluster
    interval: 1s
    rules:
      - alert: ClusterDown
        expr: vector(1)
        for: 1s
        labels: {cluster: eu, severity: page}
      - alert: SlowEu
        expr: vector(1)
        for: 5s
        labels: {cluster: eu, severity: warning}
      - alert: SlowUs
        expr: vector(1)
        for: 5s
        labels: {cluster: us, severity: warning}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_inhibit_rule_mutes_the_symptom_in_the_cause_cluster_and_amtool_shows_it() {
    let sink = WebhookSink::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("rules")).unwrap();
    std::fs::write(dir.path().join("rules/cluster.yml"), INHIBIT_RULES).unwrap();
    std::fs::write(dir.path().join("amtool_http.yml"), "{}\n").unwrap();
    let config_path = dir.path().join("closeloop.yml");
    std::fs::write(
        &config_path,
        format!(
            "rule_files: [rules/*.yml]\n\
             evaluation: {{interval: 1s, lateness: 1s, idle_follow: 1s}}\n\
             route: {{receiver: hook, group_wait: 1s, group_interval: 1s}}\n\
             receivers: [{{name: hook, webhook_configs: [{{url: \"{}\"}}]}}]\n\
             inhibit_rules:\n\
             \x20 - source_matchers: [alertname=ClusterDown]\n\
             \x20   target_matchers: ['severity=\"warning\"']\n\
             \x20   equal: [cluster]\n\
             delivery: {{initial_backoff: 200ms, max_backoff: 1s}}\n",
            sink.url
        ),
    )
    .unwrap();
    let closeloop = Closeloop::start(dir.path(), &config_path, free_port()).await;
    let url = closeloop.url.clone();
    wait_for("SlowUs at the webhook", Duration::from_secs(60), || async {
        let text = serde_json::to_string(&sink.with_status("firing")).unwrap();
        (text.contains("SlowUs") && text.contains("ClusterDown")).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let sent = serde_json::to_string(&*sink.received.lock().unwrap()).unwrap();
    assert!(
        !sent.contains("SlowEu"),
        "an inhibited alert reached the webhook: {sent}"
    );
    assert!(closeloop.metric("closeloop_alerts_inhibited_total").await >= 1.0);

    let all = amtool_json(
        dir.path(),
        &url,
        &["alert", "query", "--active", "--inhibited"],
    );
    assert_eq!(
        alertnames(&all),
        ["ClusterDown", "SlowEu", "SlowUs"],
        "{all}"
    );
    let cause = alert_named(&all, "ClusterDown");
    let symptom = alert_named(&all, "SlowEu");
    assert_eq!(symptom["status"]["state"], "suppressed", "{symptom}");
    assert_eq!(
        symptom["status"]["inhibitedBy"][0], cause["fingerprint"],
        "{symptom}"
    );
    let active = amtool_json(dir.path(), &url, &["alert", "query"]);
    assert_eq!(alertnames(&active), ["ClusterDown", "SlowUs"], "{active}");
}
