//! Every truncation and many byte corruptions of real bodies, sent to the
//! alert and deploy-webhook routes: each answer is 2xx or a 4xx naming what
//! was wrong, never a panic or a 5xx. Deterministic (no random seed), so a
//! failure reproduces.

use axum::body::Body;
use axum::http::Request;
use closeloop_ingest::{github_signature, router, IngestLimits, IngestState, WebhookSecrets};
use closeloop_log::embedded::{EmbeddedLog, EmbeddedOptions};
use http_body_util::BodyExt;
use secrecy::SecretString;
use std::sync::Arc;
use tower::ServiceExt;

const SECRET: &str = "mangle-secret";

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../../tests/testdata/alertmanager-0.25/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// The body cut at every length, and with one byte replaced by each of a
/// few troublesome bytes at every position.
fn mangled(body: &[u8]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = (0..body.len()).map(|n| body[..n].to_vec()).collect();
    for at in 0..body.len() {
        for byte in [b'"', b'{', b']', 0xff, b'0'] {
            let mut copy = body.to_vec();
            copy[at] = byte;
            out.push(copy);
        }
    }
    out
}

#[tokio::test]
async fn mangled_alert_and_webhook_bodies_get_4xx_never_a_panic_or_5xx() {
    let dir = tempfile::tempdir().unwrap();
    let options = EmbeddedOptions {
        fsync: false,
        ..EmbeddedOptions::default()
    };
    let log = Arc::new(EmbeddedLog::open(dir.path(), options).await.unwrap());
    let mut state = IngestState::new(log, "closeloop", IngestLimits::default());
    state.webhooks = WebhookSecrets {
        github: Some(Arc::new(SecretString::from(SECRET))),
        gitlab: Some(Arc::new(SecretString::from(SECRET))),
    };
    let app = router(state);
    let postable = br#"[{"labels":{"alertname":"A","job":"x"},"annotations":{"s":"t"},"startsAt":"2026-11-22T02:35:47.187Z","endsAt":"2026-11-22T02:39:47.187Z","generatorURL":"http://p/graph"}]"#.to_vec();
    let gitlab = br#"{"object_kind":"deployment","status":"success","status_changed_at":"2021-04-28 21:50:00 +0200","environment":"staging","project":{"name":"p","path_with_namespace":"r/p"},"short_sha":"279484c0","commit_url":"http://g/r/p/-/commit/279484c09fbe69ededfced8c1bb6e6d24616b468","user":{"username":"root"}}"#.to_vec();
    let github = br#"{"action":"created","deployment_status":{"state":"success","target_url":"","created_at":"2019-05-15T15:20:55Z"},"deployment":{"environment":"production","sha":"f95f852bd8fca8fcc58a9a2d6c842781e32a215e","ref":"master","created_at":"2019-05-15T15:20:53Z","creator":{"login":"Codertocat"}},"repository":{"name":"Hello-World","full_name":"Codertocat/Hello-World"},"sender":{"login":"Codertocat"}}"#.to_vec();
    let argocd = br#"{"app":"a","environment":"e","revision":"abc1234","phase":"Succeeded","finished_at":"2026-11-22 10:01:30 +0000 UTC"}"#.to_vec();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("/api/v2/alerts", postable),
        (
            "/api/v1/alertmanager",
            fixture("alertmanager_webhook_from_prometheus.json"),
        ),
        (
            "/api/v1/alertmanager",
            fixture("alertmanager_webhook_resolved.json"),
        ),
        ("/api/v1/deploys/gitlab", gitlab),
        ("/api/v1/deploys/github", github),
        ("/api/v1/deploys/argocd", argocd),
    ];
    let mut sent = 0;
    for (path, body) in cases {
        for variant in mangled(&body) {
            let signature = github_signature(SECRET.as_bytes(), &variant);
            let request = Request::post(path)
                .header("content-type", "application/json")
                .header("x-github-event", "deployment_status")
                .header("x-hub-signature-256", signature)
                .header("x-gitlab-token", SECRET)
                .body(Body::from(variant.clone()))
                .unwrap();
            let response = app.clone().oneshot(request).await.unwrap();
            let status = response.status();
            let text = response.into_body().collect().await.unwrap().to_bytes();
            let text = String::from_utf8_lossy(&text);
            assert!(
                status.is_success() || (status.is_client_error() && text.contains("error")),
                "{path} answered {status} {text} to {:?}",
                String::from_utf8_lossy(&variant)
            );
            sent += 1;
        }
    }
    assert!(sent > 1000);
}
