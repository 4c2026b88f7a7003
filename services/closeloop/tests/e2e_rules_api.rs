//! `/api/v1/rules` and `/api/v1/alerts` against a real Prometheus 2.42
//! running the same rule file: after both have evaluated a few times, the
//! two answers are compared field by field — group and rule names, files,
//! intervals, queries, `for`, labels, annotations, type, health, state,
//! and each alert's labels, annotations, state and value — and the JSON
//! keys of every group, rule and alert are the same. Times and durations
//! differ by nature (each evaluated on its own clock) and are checked
//! for form only. Then the filters: `type` as 2.42 answers it,
//! `rule_name[]`, `rule_group[]`, `file[]` as later releases document them;
//! and `/api/v1/format_query` against 2.42's on a few expressions.
//!
//! Needs `prometheus` on PATH (tests/setup/packages.sh); fails saying so.

mod support;

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;
use support::*;

/// Rules that need no samples: two alerts (one firing, one held pending
/// by a long `for`), a recording rule, and one that fails at every
/// evaluation (a vector with duplicate label sets after `label_replace`).
const RULES: &str = r#"groups:
  - name: health
    interval: 1s
    rules:
      - alert: AlwaysOn
        expr: vector(1)
        for: 2s
        labels: {severity: page}
        annotations: {summary: "always {{ $value }}"}
      - alert: SlowToFire
        expr: vector(2.5)
        for: 1h
      - record: job:two:sum
        expr: vector(2)
        labels: {team: core}
  - name: broken
    interval: 1s
    rules:
      - record: dup:fails
        expr: label_replace(vector(1) or label_replace(vector(2), "a", "b", "", ""), "a", "", "", "")
"#;

fn start_prometheus_with_rules(dir: &Path) -> (Process, String) {
    let config = format!(
        "global: {{evaluation_interval: 1s}}\nrule_files: [{}]\n",
        dir.join("rules/health.yml").display()
    );
    spawn_prometheus(dir, &config, &[])
}

async fn get(url: &str) -> Value {
    let response = reqwest::get(url)
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status();
    let body: Value = response.json().await.expect("JSON");
    assert!(status.is_success(), "GET {url}: {status} {body}");
    body
}

/// The groups, each with its rules sorted by name and alerts by labels.
fn groups(answer: &Value) -> Vec<Value> {
    let mut groups = answer["data"]["groups"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    groups.sort_by_key(|g| g["name"].as_str().unwrap_or_default().to_string());
    groups
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

fn is_time(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok())
}

/// Both ready: every rule evaluated and AlwaysOn firing.
fn settled(answer: &Value) -> bool {
    let rules: Vec<Value> = groups(answer)
        .iter()
        .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
        .collect();
    rules.len() == 4
        && rules.iter().all(|r| r["health"] != "unknown")
        && rules
            .iter()
            .any(|r| r["name"] == "AlwaysOn" && r["state"] == "firing")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_and_alerts_answer_as_prometheus_does_for_the_same_rule_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join("rules")).unwrap();
    let rule_file = dir.path().join("rules/health.yml");
    std::fs::write(&rule_file, RULES).unwrap();
    let (_prometheus, prom_url) = start_prometheus_with_rules(dir.path());
    let config_path = dir.path().join("closeloop.yml");
    std::fs::write(
        &config_path,
        format!(
            "rule_files: [{}]\nevaluation: {{interval: 1s, lateness: 1s, idle_follow: 1s}}\n",
            rule_file.display()
        ),
    )
    .unwrap();
    let closeloop = Closeloop::start(dir.path(), &config_path, free_port()).await;

    let theirs = wait_for(
        "Prometheus to evaluate its rules",
        Duration::from_secs(60),
        || {
            let url = format!("{prom_url}/api/v1/rules");
            async move {
                let answer = reqwest::get(&url).await.ok()?.json::<Value>().await.ok()?;
                settled(&answer).then_some(answer)
            }
        },
    )
    .await;
    let ours = wait_for(
        "closeloop to evaluate its rules",
        Duration::from_secs(60),
        || {
            let url = format!("{}/api/v1/rules", closeloop.url);
            async move {
                let answer = reqwest::get(&url).await.ok()?.json::<Value>().await.ok()?;
                settled(&answer).then_some(answer)
            }
        },
    )
    .await;

    let (ours_groups, their_groups) = (groups(&ours), groups(&theirs));
    assert_eq!(ours_groups.len(), their_groups.len(), "{ours}\n{theirs}");
    for (o, t) in ours_groups.iter().zip(&their_groups) {
        assert_eq!(keys(o), keys(t), "group keys\n{o}\n{t}");
        for field in ["name", "file", "interval", "limit"] {
            assert_eq!(o[field], t[field], "group {field}\n{o}\n{t}");
        }
        assert!(
            is_time(&o["lastEvaluation"]) && o["evaluationTime"].is_number(),
            "{o}"
        );
        let (or, tr) = (
            o["rules"].as_array().unwrap(),
            t["rules"].as_array().unwrap(),
        );
        assert_eq!(or.len(), tr.len());
        for (o, t) in or.iter().zip(tr) {
            assert_eq!(keys(o), keys(t), "rule keys\n{o}\n{t}");
            for field in [
                "name",
                "query",
                "duration",
                "keepFiringFor",
                "labels",
                "annotations",
                "type",
                "health",
                "state",
            ] {
                assert_eq!(o.get(field), t.get(field), "rule {field}\n{o}\n{t}");
            }
            assert_eq!(
                o["lastError"].is_string(),
                t["lastError"].is_string(),
                "{o}\n{t}"
            );
            assert!(is_time(&o["lastEvaluation"]), "{o}");
            let (oa, ta) = (
                o["alerts"].as_array().cloned().unwrap_or_default(),
                t["alerts"].as_array().cloned().unwrap_or_default(),
            );
            assert_eq!(oa.len(), ta.len(), "alerts\n{o}\n{t}");
            for (o, t) in oa.iter().zip(&ta) {
                assert_eq!(keys(o), keys(t), "alert keys\n{o}\n{t}");
                for field in ["labels", "annotations", "state", "value"] {
                    assert_eq!(o[field], t[field], "alert {field}\n{o}\n{t}");
                }
                assert!(is_time(&o["activeAt"]), "{o}");
            }
        }
    }

    // `/api/v1/alerts`: the same alerts, fields and keys as 2.42's.
    let ours = get(&format!("{}/api/v1/alerts", closeloop.url)).await;
    let theirs = get(&format!("{prom_url}/api/v1/alerts")).await;
    assert_eq!(ours["status"], "success", "{ours}");
    let (oa, ta) = (
        ours["data"]["alerts"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
        theirs["data"]["alerts"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
    );
    assert_eq!(
        keys(&ours["data"]),
        keys(&theirs["data"]),
        "{ours}\n{theirs}"
    );
    assert_eq!(oa.len(), 2, "both alerts, firing and pending: {ours}");
    assert_eq!(oa.len(), ta.len(), "{ours}\n{theirs}");
    for (o, t) in oa.iter().zip(&ta) {
        assert_eq!(keys(o), keys(t), "alert keys\n{o}\n{t}");
        for field in ["labels", "annotations", "state", "value"] {
            assert_eq!(o[field], t[field], "alert {field}\n{o}\n{t}");
        }
        assert!(is_time(&o["activeAt"]), "{o}");
    }

    // Filters. `type` is compared with 2.42; `rule_name[]`,
    // `rule_group[]` and `file[]` came in later Prometheus releases (2.42
    // ignores them), so they are checked against what its API docs say.
    let shape = |answer: &Value| -> Vec<(String, Vec<String>)> {
        groups(answer)
            .iter()
            .map(|g| {
                let names = g["rules"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r["name"].as_str().unwrap_or_default().to_string())
                    .collect();
                (g["name"].as_str().unwrap_or_default().to_string(), names)
            })
            .collect()
    };
    for query in ["type=alert", "type=record"] {
        let ours = get(&format!("{}/api/v1/rules?{query}", closeloop.url)).await;
        let theirs = get(&format!("{prom_url}/api/v1/rules?{query}")).await;
        assert_eq!(shape(&ours), shape(&theirs), "?{query}");
    }
    let file = rule_file.display().to_string();
    let owned = |g: &str, rules: &[&str]| {
        (
            g.to_string(),
            rules.iter().map(|r| r.to_string()).collect::<Vec<_>>(),
        )
    };
    for (query, expected) in [
        (
            "rule_name[]=AlwaysOn&rule_name[]=dup:fails".to_string(),
            vec![
                owned("broken", &["dup:fails"]),
                owned("health", &["AlwaysOn"]),
            ],
        ),
        (
            "rule_group[]=broken".to_string(),
            vec![owned("broken", &["dup:fails"])],
        ),
        (
            format!("file[]={file}&type=record"),
            vec![
                owned("broken", &["dup:fails"]),
                owned("health", &["job:two:sum"]),
            ],
        ),
        ("file[]=/nowhere.yml".to_string(), vec![]),
    ] {
        let ours = get(&format!("{}/api/v1/rules?{query}", closeloop.url)).await;
        assert_eq!(shape(&ours), expected, "?{query}");
    }
    // /api/v1/format_query lays a query out as Prometheus does.
    for query in [
        "sum by (job) (rate(http_requests_total{code=~\"5..\"}[5m])) / sum by (job) (rate(http_requests_total[5m])) > 0.05",
        "histogram_quantile(0.99,sum(rate(http_request_duration_seconds_bucket{job=\"api\",handler!=\"/metrics\"}[5m])) by (le, handler))",
        "up",
        "max_over_time(deriv(rate(x[1m])[5m:1m])[10m:] offset 1h) * on(instance) group_left(version) build_info",
    ] {
        let encoded = reqwest::Url::parse_with_params("http://x/", [("query", query)]).unwrap().query().unwrap_or_default().to_string();
        let ours = get(&format!("{}/api/v1/format_query?{encoded}", closeloop.url)).await;
        let theirs = get(&format!("{prom_url}/api/v1/format_query?{encoded}")).await;
        assert_eq!(ours["data"], theirs["data"], "format_query {query}");
    }
    let broken = reqwest::get(format!("{}/api/v1/format_query?query=sum(", closeloop.url))
        .await
        .unwrap();
    assert_eq!(broken.status(), 400);

    let bad = reqwest::get(format!("{}/api/v1/rules?type=alerts", closeloop.url))
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let body: Value = bad.json().await.unwrap();
    assert_eq!(body["errorType"], "bad_data", "{body}");
}
