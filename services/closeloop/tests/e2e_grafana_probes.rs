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
