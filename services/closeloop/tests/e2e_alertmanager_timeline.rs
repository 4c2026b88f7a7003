//! The same notification timeline fed to a real Alertmanager 0.25 (Debian
//! `prometheus-alertmanager`) and to `closeloop serve`, each posting to
//! its own webhook sink: grouping by `cluster`, `group_wait`, changes
//! batched to the next `group_interval`, a resolution, a silence that
//! mutes a new alert and, once expired, lets it through at the next
//! flush, and an inhibiting alert that mutes a target until it resolves.
//! Both must make the same webhook calls in the same order, each with the
//! same alerts, states, group key and common labels.
//!
//! Alerts go in as Prometheus sends them (`POST /api/v2/alerts`) and
//! silences as amtool makes them (`POST /api/v2/silences`,
//! `DELETE /api/v2/silence/{id}`), at the same moments to both. The steps
//! fall between the group's timer ticks, several seconds from any, so the
//! second closeloop's event time trails the wall clock (`lateness`,
//! `idle_follow`) cannot move a change into another flush.
//!
//! Needs `prometheus-alertmanager` on PATH (tests/setup/packages.sh).

mod support;

use serde_json::{json, Value};
use std::process::Command;
use std::time::{Duration, Instant};
use support::*;

const GROUP_WAIT_S: u64 = 3;
const GROUP_INTERVAL_S: u64 = 8;

fn route_yaml(webhook: &str) -> String {
    format!(
        r#"route:
  receiver: hook
  group_by: [cluster]
  group_wait: {GROUP_WAIT_S}s
  group_interval: {GROUP_INTERVAL_S}s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs: [{{url: "{webhook}", send_resolved: true}}]
inhibit_rules:
  - source_matchers: [alertname=Down]
    target_matchers: [severity=warning]
    equal: [cluster]
"#
    )
}

fn start_alertmanager(dir: &std::path::Path, webhook: &str) -> (Process, String) {
    let config = dir.join("alertmanager.yml");
    std::fs::write(&config, route_yaml(webhook)).expect("writing alertmanager.yml");
    let port = free_port();
    let mut command = Command::new("prometheus-alertmanager");
    command
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.path={}", dir.join("am").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=");
    if Command::new("prometheus-alertmanager")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("prometheus-alertmanager is not on PATH; install it with tests/setup/packages.sh");
    }
    (
        spawn_process("alertmanager", command, dir),
        format!("http://127.0.0.1:{port}"),
    )
}

/// The two peers the timeline is played to.
struct Peers {
    urls: [String; 2],
    client: reqwest::Client,
}

impl Peers {
    async fn post(&self, path: &str, body: &Value) -> [Value; 2] {
        let mut out = [Value::Null, Value::Null];
        for (i, url) in self.urls.iter().enumerate() {
            let response = self
                .client
                .post(format!("{url}{path}"))
                .json(body)
                .send()
                .await
                .unwrap_or_else(|e| panic!("POST {url}{path}: {e}"));
            let status = response.status();
            let text = response.text().await.unwrap_or_default();
            assert!(status.is_success(), "POST {url}{path}: {status} {text}");
            out[i] = serde_json::from_str(&text).unwrap_or(Value::Null);
        }
        out
    }

    async fn fire(&self, alerts: &[&[(&str, &str)]]) {
        let body: Vec<Value> = alerts
            .iter()
            .map(|l| json!({"labels": labels(l)}))
            .collect();
        self.post("/api/v2/alerts", &Value::Array(body)).await;
    }

    async fn resolve(&self, alert: &[(&str, &str)]) {
        let now = chrono::Utc::now();
        let body = json!([{
            "labels": labels(alert),
            "startsAt": (now - chrono::Duration::minutes(1)).to_rfc3339(),
            "endsAt": now.to_rfc3339(),
        }]);
        self.post("/api/v2/alerts", &body).await;
    }

    /// Silences `alertname=<name>` on both; their ids.
    async fn silence(&self, name: &str) -> [String; 2] {
        let now = chrono::Utc::now();
        let body = json!({
            "matchers": [{"name": "alertname", "value": name, "isRegex": false, "isEqual": true}],
            "startsAt": now.to_rfc3339(),
            "endsAt": (now + chrono::Duration::hours(1)).to_rfc3339(),
            "createdBy": "timeline test",
            "comment": "maintenance",
        });
        let answers = self.post("/api/v2/silences", &body).await;
        answers.map(|a| a["silenceID"].as_str().expect("a silence id").to_string())
    }

    async fn expire(&self, ids: &[String; 2]) {
        for (url, id) in self.urls.iter().zip(ids) {
            let response = self
                .client
                .delete(format!("{url}/api/v2/silence/{id}"))
                .send()
                .await
                .expect("expiring a silence");
            assert!(response.status().is_success(), "DELETE silence at {url}");
        }
    }
}

fn labels(pairs: &[(&str, &str)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
            .collect(),
    )
}

/// What a webhook call says, without the times and URLs that differ.
fn gist(call: &Value) -> Value {
    let alerts: Vec<Value> = call["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|a| {
            json!({
                "status": a["status"],
                "labels": a["labels"],
                "annotations": a["annotations"],
                "fingerprint": a["fingerprint"],
            })
        })
        .collect();
    json!({
        "status": call["status"],
        "alerts": alerts,
        "groupKey": call["groupKey"],
        "groupLabels": call["groupLabels"],
        "commonLabels": call["commonLabels"],
        "commonAnnotations": call["commonAnnotations"],
        "truncatedAlerts": call["truncatedAlerts"],
        "receiver": call["receiver"],
        "version": call["version"],
    })
}

/// Sleeps until `at_s` seconds after `start`.
async fn until(start: Instant, at_s: u64) {
    let target = start + Duration::from_secs(at_s);
    if let Some(left) = target.checked_duration_since(Instant::now()) {
        tokio::time::sleep(left).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alertmanager_and_closeloop_send_the_same_webhooks_for_the_same_timeline() {
    let dir = tempfile::tempdir().unwrap();
    let am_sink = WebhookSink::start().await;
    let cl_sink = WebhookSink::start().await;
    let (_alertmanager, am) = start_alertmanager(dir.path(), &am_sink.url);

    let config = dir.path().join("closeloop.yml");
    std::fs::write(
        &config,
        format!(
            "evaluation: {{interval: 1s, lateness: 1s, idle_follow: 1s, resolve_timeout: 5m}}\n{}",
            route_yaml(&cl_sink.url)
        ),
    )
    .unwrap();
    let closeloop = Closeloop::start(dir.path(), &config, free_port()).await;
    wait_for(
        "Alertmanager to be ready",
        Duration::from_secs(30),
        || async {
            let response = reqwest::get(format!("{am}/-/ready")).await.ok()?;
            response.status().is_success().then_some(())
        },
    )
    .await;
    let peers = Peers {
        urls: [am.clone(), closeloop.url.clone()],
        client: reqwest::Client::new(),
    };

    let a: &[(&str, &str)] = &[
        ("alertname", "A"),
        ("cluster", "c1"),
        ("severity", "warning"),
    ];
    let b: &[(&str, &str)] = &[("alertname", "B"), ("cluster", "c1")];
    let c: &[(&str, &str)] = &[("alertname", "C"), ("cluster", "c1")];
    let d: &[(&str, &str)] = &[("alertname", "D"), ("cluster", "c1")];
    let down: &[(&str, &str)] = &[
        ("alertname", "Down"),
        ("cluster", "c1"),
        ("severity", "critical"),
    ];
    let other: &[(&str, &str)] = &[
        ("alertname", "A"),
        ("cluster", "c2"),
        ("severity", "warning"),
    ];

    // Flushes of cluster c1's group at 3, 11, 19, 27, 35, 43, 51 s.
    let start = Instant::now();
    peers.fire(&[a, b]).await; // -> 3 s: A, B
    until(start, 1).await;
    peers.fire(&[other]).await; // another group -> 4 s
    until(start, 7).await;
    peers.fire(&[c]).await; // -> 11 s: A, B, C
    until(start, 15).await;
    peers.resolve(b).await; // -> 19 s: A, B resolved, C
    until(start, 22).await;
    let silence = peers.silence("D").await;
    until(start, 23).await;
    peers.fire(&[d]).await; // 27 s: D muted, nothing new: no call
    until(start, 31).await;
    peers.expire(&silence).await; // -> 35 s: A, C, D
    until(start, 38).await;
    peers.fire(&[down]).await; // -> 43 s: A inhibited: C, D, Down
    until(start, 46).await;
    peers.resolve(down).await; // -> 51 s: A, C, D, Down resolved
                               // closeloop's event time trails the clock by a couple of seconds.
    until(start, 58).await;

    let took = |sink: &WebhookSink| -> Vec<Value> {
        sink.received
            .lock()
            .expect("sink lock")
            .iter()
            .map(gist)
            .collect()
    };
    let expected_calls = 7;
    wait_for(
        "both to send every call",
        Duration::from_secs(20),
        || async {
            (took(&am_sink).len() >= expected_calls && took(&cl_sink).len() >= expected_calls)
                .then_some(())
        },
    )
    .await;
    let (from_am, from_closeloop) = (took(&am_sink), took(&cl_sink));
    let names = |calls: &[Value]| -> Vec<String> {
        calls
            .iter()
            .map(|c| {
                let alerts: Vec<String> = c["alerts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|a| {
                        format!(
                            "{}/{}={}",
                            a["labels"]["alertname"], a["labels"]["cluster"], a["status"]
                        )
                    })
                    .collect();
                alerts.join(" ").replace('"', "")
            })
            .collect()
    };
    // The expected timeline, as Alertmanager's semantics give it (alerts
    // listed fewer labels first, then by value); then every field of
    // every call equal between the two.
    assert_eq!(
        names(&from_am),
        vec![
            "B/c1=firing A/c1=firing",
            "A/c2=firing",
            "B/c1=firing C/c1=firing A/c1=firing",
            "B/c1=resolved C/c1=firing A/c1=firing",
            "C/c1=firing D/c1=firing A/c1=firing",
            "C/c1=firing D/c1=firing Down/c1=firing",
            "C/c1=firing D/c1=firing A/c1=firing Down/c1=resolved",
        ],
        "Alertmanager's own calls differ from the timeline this test expects: {from_am:#?}"
    );
    assert_eq!(
        names(&from_closeloop),
        names(&from_am),
        "closeloop's calls differ from Alertmanager's"
    );
    for (i, (ours, theirs)) in from_closeloop.iter().zip(&from_am).enumerate() {
        assert_eq!(ours, theirs, "call {i} differs");
    }
}
