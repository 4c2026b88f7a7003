//! What Grafana sends when a person adds closeloop as a data source and
//! presses "Save & test", answered by the real `closeloop serve`. Grafana
//! cannot run here, so the requests and the answers Grafana accepts are
//! taken from its source:
//!
//! - Prometheus data source (`pkg/promlib/healthcheck.go`): an instant
//!   query `1+1` over the time range 1 s..4 s (so `time=4`), POST form by
//!   default or GET; healthy when the answer carries no error.
//!   Then `pkg/promlib/heuristics.go`: `GET /api/v1/status/buildinfo`,
//!   200 with `data.features` empty means "Prometheus" (not Mimir, no
//!   ruler API).
//! - Alertmanager data source, implementation "Prometheus"
//!   (`public/app/plugins/datasource/alertmanager/DataSource.ts`):
//!   `GET /alertmanager/api/v2/status` must not answer 200 (that would be
//!   Mimir or Cortex), then `GET /api/v2/status` must answer 200.
//! - Listing alert rules: `GET /api/v1/rules` answers 200 `success`.

mod support;

use serde_json::Value;
use std::time::Duration;
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grafanas_save_and_test_passes_for_both_data_source_kinds() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config_path = dir.path().join("closeloop.yml");
    std::fs::write(
        &config_path,
        "evaluation: {interval: 1s, lateness: 1s, idle_follow: 1s}\n",
    )
    .unwrap();
    let closeloop = Closeloop::start(dir.path(), &config_path, free_port()).await;
    let url = closeloop.url.clone();
    let client = reqwest::Client::new();

    // Prometheus: the health-check query, as POST form and as GET.
    let posted = client
        .post(format!("{url}/api/v1/query"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("query=1%2B1&time=4")
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 200);
    let posted: Value = posted.json().await.unwrap();
    assert_eq!(posted["status"], "success", "{posted}");
    assert_eq!(posted["data"]["resultType"], "scalar", "{posted}");
    assert_eq!(
        posted["data"]["result"],
        serde_json::json!([4, "2"]),
        "{posted}"
    );
    let got: Value = client
        .get(format!("{url}/api/v1/query?query=1%2B1&time=4"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(got, posted);

    let buildinfo = client
        .get(format!("{url}/api/v1/status/buildinfo"))
        .send()
        .await
        .unwrap();
    assert_eq!(buildinfo.status(), 200);
    let buildinfo: Value = buildinfo.json().await.unwrap();
    assert_eq!(buildinfo["status"], "success");
    assert!(
        buildinfo["data"]["features"]
            .as_object()
            .is_none_or(|f| f.is_empty()),
        "features would make Grafana take closeloop for Mimir: {buildinfo}"
    );
    assert!(buildinfo["data"]["version"]
        .as_str()
        .is_some_and(|v| !v.is_empty()));

    // Alertmanager, implementation "Prometheus".
    let mimir = client
        .get(format!("{url}/alertmanager/api/v2/status"))
        .send()
        .await
        .unwrap();
    assert_ne!(mimir.status(), 200, "would read as a Mimir endpoint");
    let status = client
        .get(format!("{url}/api/v2/status"))
        .send()
        .await
        .unwrap();
    assert_eq!(status.status(), 200);
    let status: Value = status.json().await.unwrap();
    for field in ["cluster", "config", "uptime", "versionInfo"] {
        assert!(status.get(field).is_some(), "{field} missing: {status}");
    }

    let rules = wait_for("the rules API", Duration::from_secs(10), || async {
        let r = client
            .get(format!("{url}/api/v1/rules"))
            .send()
            .await
            .ok()?;
        (r.status() == 200).then_some(r)
    })
    .await;
    let rules: Value = rules.json().await.unwrap();
    assert_eq!(rules["status"], "success", "{rules}");
    assert!(rules["data"]["groups"].is_array(), "{rules}");
}

/// Every query of `dashboards/` whose datasource is closeloop itself
/// (uid `closeloop`), sent as Grafana sends it (POST form, instant or range
/// with the panel's step), answers `success` from a running closeloop that
/// has a firing alert and a deploy; the firing-alert stat and the deploy
/// annotation show them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboards_that_read_closeloop_get_answers_from_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("rules.yml"),
        "groups:\n  - name: always\n    interval: 1s\n    rules:\n      - alert: AlwaysFiring\n        expr: vector(1)\n        labels: {service: checkout}\n",
    )
    .unwrap();
    let config_path = dir.path().join("closeloop.yml");
    std::fs::write(
        &config_path,
        "rule_files: [rules.yml]\nevaluation: {interval: 1s, lateness: 1s, idle_follow: 1s, query_window: 1h}\n",
    )
    .unwrap();
    let closeloop = Closeloop::start(dir.path(), &config_path, free_port()).await;
    let url = closeloop.url.clone();
    let client = reqwest::Client::new();
    let deploy = client
        .post(format!("{url}/api/v1/deploys"))
        .json(&serde_json::json!({"service": "checkout", "environment": "prod", "version": "v9"}))
        .send()
        .await
        .unwrap();
    assert!(deploy.status().is_success(), "{}", deploy.status());

    let query = |path: &'static str, form: Vec<(&'static str, String)>| {
        let client = client.clone();
        let url = url.clone();
        async move {
            let answer = client
                .post(format!("{url}{path}"))
                .header("content-type", "application/x-www-form-urlencoded")
                .body(serde_urlencoded::to_string(&form).expect("a form"))
                .send()
                .await
                .expect("calling closeloop");
            let status = answer.status();
            let body: Value = answer.json().await.expect("JSON");
            (status, body)
        }
    };
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
            .floor()
    };
    wait_for(
        "the alert to fire and the deploy series",
        Duration::from_secs(30),
        || async {
            let (_, firing) = query(
                "/api/v1/query",
                vec![("query", r#"ALERTS{alertstate="firing"}"#.into())],
            )
            .await;
            let (_, deploys) = query(
                "/api/v1/query",
                vec![("query", "closeloop_deploy_timestamp_seconds".into())],
            )
            .await;
            (firing["data"]["result"]
                .as_array()
                .is_some_and(|r| !r.is_empty())
                && deploys["data"]["result"]
                    .as_array()
                    .is_some_and(|r| !r.is_empty()))
            .then_some(())
        },
    )
    .await;

    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dashboards");
    let mut asked = 0;
    for entry in std::fs::read_dir(&root).expect("dashboards/") {
        let path = entry.unwrap().path();
        let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut targets: Vec<(String, &Value, Option<&str>)> = Vec::new();
        for panel in dashboard["panels"].as_array().into_iter().flatten() {
            for target in panel["targets"].as_array().into_iter().flatten() {
                targets.push((format!("panel {}", panel["title"]), target, None));
            }
        }
        for annotation in dashboard["annotations"]["list"]
            .as_array()
            .into_iter()
            .flatten()
        {
            targets.push((
                format!("annotation {}", annotation["name"]),
                &annotation["target"],
                annotation["step"].as_str(),
            ));
        }
        for (place, target, step) in targets {
            if target["datasource"]["uid"] != "closeloop" {
                continue;
            }
            let place = format!("{}: {place}", path.display());
            let expr = target["expr"].as_str().unwrap().to_string();
            let end = now();
            let (status, body) = if target["instant"] == true {
                query(
                    "/api/v1/query",
                    vec![("query", expr.clone()), ("time", end.to_string())],
                )
                .await
            } else {
                let step = step.map_or(15.0, |s| s.trim_end_matches('s').parse().unwrap());
                let start = end - 300.0;
                query(
                    "/api/v1/query_range",
                    vec![
                        ("query", expr.clone()),
                        ("start", start.to_string()),
                        ("end", end.to_string()),
                        ("step", step.to_string()),
                    ],
                )
                .await
            };
            assert_eq!(status, 200, "{place}: {expr}\n{body}");
            assert_eq!(body["status"], "success", "{place}: {expr}\n{body}");
            let result = &body["data"]["result"];
            if expr.starts_with(r#"count(ALERTS{alertstate="firing"})"#) {
                assert_eq!(result[0]["value"][1], "1", "{place}: {body}");
            }
            if place.contains("annotation \"Deploys\"") {
                // One point, valued at the deploy's time in milliseconds.
                let series = result.as_array().expect("a matrix");
                assert_eq!(series.len(), 1, "{place}: {body}");
                assert_eq!(series[0]["metric"]["version"], "v9", "{place}: {body}");
                let points = series[0]["values"].as_array().unwrap();
                assert_eq!(points.len(), 1, "{place}: {body}");
                let at_ms: f64 = points[0][1].as_str().unwrap().parse().unwrap();
                assert!((at_ms / 1000.0 - end).abs() < 120.0, "{place}: {body}");
            }
            asked += 1;
        }
    }
    assert!(asked >= 5, "only {asked} dashboard queries read closeloop");
}
