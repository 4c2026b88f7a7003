//! Deploy webhooks called in-process against a real embedded log.
//!
//! GitHub cannot run here, so its side is GitHub's own published example
//! payloads (npm `@octokit/webhooks-examples`, installed by
//! `tests/setup/octokit_examples.sh`, which prints
//! `CLOSELOOP_OCTOKIT_EXAMPLES`), signed as GitHub signs them
//! (HMAC-SHA256 of the body under the webhook secret, hex, in
//! `X-Hub-Signature-256: sha256=...`). GitLab's payload is the deployment
//! event example of GitLab's documentation, "Webhook events" → "Deployment
//! events" (https://docs.gitlab.com/user/project/integrations/webhook_events/#deployment-events),
//! with `X-Gitlab-Event: Deployment Hook` and the `X-Gitlab-Token` header.
//! Argo CD's body is the template the README documents.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use closeloop_core::events::DeployStatus;
use closeloop_core::topics::Topic;
use closeloop_core::{Event, EventPayload};
use closeloop_ingest::{github_signature, router, IngestLimits, IngestState, WebhookSecrets};
use closeloop_log::embedded::{EmbeddedLog, EmbeddedOptions};
use closeloop_log::EventLog;
use http_body_util::BodyExt;
use secrecy::SecretString;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

const SECRET: &str = "It's a Secret to Everybody";
const GITLAB_TOKEN: &str = "gitlab-webhook-token";

struct Harness {
    _dir: tempfile::TempDir,
    log: Arc<EmbeddedLog>,
    app: axum::Router,
}

async fn harness() -> Harness {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = EmbeddedOptions {
        fsync: false,
        ..EmbeddedOptions::default()
    };
    let log = Arc::new(
        EmbeddedLog::open(dir.path(), options)
            .await
            .expect("log opens"),
    );
    let mut state = IngestState::new(log.clone(), "closeloop", IngestLimits::default());
    state.webhooks = WebhookSecrets {
        github: Some(Arc::new(SecretString::from(SECRET))),
        gitlab: Some(Arc::new(SecretString::from(GITLAB_TOKEN))),
    };
    Harness {
        _dir: dir,
        log,
        app: router(state),
    }
}

impl Harness {
    async fn send(&self, request: Request<Body>) -> (StatusCode, String) {
        let response = self.app.clone().oneshot(request).await.expect("answers");
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    async fn deploys(&self) -> Vec<Event> {
        let topic = Topic::Deploys.name("closeloop");
        let records = self
            .log
            .read(&topic, 0, 0, 100, Duration::ZERO)
            .await
            .expect("reads");
        records
            .iter()
            .map(|r| Event::from_json(&r.value).expect("decodes"))
            .collect()
    }
}

/// GitHub's published `deployment_status` examples, or a failure naming
/// the setup script.
fn octokit_deployment_status_examples() -> Vec<Value> {
    let path = std::env::var("CLOSELOOP_OCTOKIT_EXAMPLES").unwrap_or_else(|_| {
        panic!(
            "CLOSELOOP_OCTOKIT_EXAMPLES is not set: run `export \"$(bash tests/setup/octokit_examples.sh | grep ^CLOSELOOP_OCTOKIT_EXAMPLES=)\"` first"
        )
    });
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("reading {path} ({e}): run tests/setup/octokit_examples.sh to install @octokit/webhooks-examples")
    });
    let all: Vec<Value> = serde_json::from_str(&text).expect("index.json is JSON");
    let examples = all
        .into_iter()
        .find(|e| e["name"] == "deployment_status")
        .and_then(|e| e["examples"].as_array().cloned())
        .expect("the package has deployment_status examples");
    assert!(!examples.is_empty());
    examples
}

fn github(body: &[u8], signature: Option<String>) -> Request<Body> {
    let mut request = Request::post("/api/v1/deploys/github")
        .header("content-type", "application/json")
        .header("x-github-event", "deployment_status");
    if let Some(signature) = signature {
        request = request.header("x-hub-signature-256", signature);
    }
    request.body(Body::from(body.to_vec())).expect("request")
}

#[tokio::test]
async fn githubs_example_deployment_statuses_signed_with_the_secret_become_deploys() {
    let h = harness().await;
    let examples = octokit_deployment_status_examples();
    for example in &examples {
        let body = serde_json::to_vec(example).expect("serializes");
        let signature = github_signature(SECRET.as_bytes(), &body);
        let (status, text) = h.send(github(&body, Some(signature))).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    }
    let deploys = h.deploys().await;
    assert_eq!(deploys.len(), examples.len());
    for (event, example) in deploys.iter().zip(&examples) {
        let EventPayload::DeployRecorded(deploy) = &event.payload else {
            panic!("not a deploy: {event:?}");
        };
        let sha = example["deployment"]["sha"].as_str().expect("sha");
        assert_eq!(
            deploy.service,
            example["repository"]["name"].as_str().unwrap()
        );
        assert_eq!(
            deploy.environment,
            example["deployment"]["environment"].as_str().unwrap()
        );
        assert_eq!(deploy.commits.len(), 1);
        assert_eq!(deploy.commits[0].sha, sha);
        assert_eq!(
            deploy.actor.as_deref(),
            example["deployment"]["creator"]["login"].as_str()
        );
        let expected = match example["deployment_status"]["state"].as_str().unwrap() {
            "success" => DeployStatus::Succeeded,
            "in_progress" => DeployStatus::Started,
            other => panic!("the examples have state {other}; extend this test"),
        };
        assert_eq!(deploy.status, expected);
        let target = example["deployment_status"]["target_url"]
            .as_str()
            .unwrap_or("");
        if !target.is_empty() {
            assert_eq!(deploy.url.as_deref(), Some(target));
        }
    }
}

#[tokio::test]
async fn a_github_delivery_with_a_bad_or_missing_signature_gets_401_and_records_nothing() {
    let h = harness().await;
    let body = serde_json::to_vec(&octokit_deployment_status_examples()[0]).unwrap();
    let wrong = github_signature(b"another secret", &body);
    let (status, text) = h.send(github(&body, Some(wrong))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{text}");
    assert!(text.contains("X-Hub-Signature-256"), "{text}");
    // The right signature over other bytes is as wrong.
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    let signature = github_signature(SECRET.as_bytes(), &body);
    let (status, _) = h.send(github(&tampered, Some(signature))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = h.send(github(&body, None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = h.send(github(&body, Some("sha256=zz".into()))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(h.deploys().await.is_empty());
}

/// The deployment event example of GitLab's webhook documentation.
const GITLAB_DEPLOYMENT: &str = r#"{
  "object_kind": "deployment",
  "status": "success",
  "status_changed_at":"2021-04-28 21:50:00 +0200",
  "deployment_id": 15,
  "deployable_id": 796,
  "deployable_url": "http://10.126.0.2:3000/root/test-deployment-webhooks/-/jobs/796",
  "environment": "staging",
  "environment_tier": "staging",
  "environment_slug": "staging",
  "environment_external_url": "https://staging.example.com",
  "project": {
    "id": 30,
    "name": "test-deployment-webhooks",
    "description": "",
    "web_url": "http://10.126.0.2:3000/root/test-deployment-webhooks",
    "avatar_url": null,
    "git_ssh_url": "ssh://vlad@10.126.0.2:2222/root/test-deployment-webhooks.git",
    "git_http_url": "http://10.126.0.2:3000/root/test-deployment-webhooks.git",
    "namespace": "Administrator",
    "visibility_level": 0,
    "path_with_namespace": "root/test-deployment-webhooks",
    "default_branch": "master",
    "ci_config_path": "",
    "homepage": "http://10.126.0.2:3000/root/test-deployment-webhooks",
    "url": "ssh://vlad@10.126.0.2:2222/root/test-deployment-webhooks.git",
    "ssh_url": "ssh://vlad@10.126.0.2:2222/root/test-deployment-webhooks.git",
    "http_url": "http://10.126.0.2:3000/root/test-deployment-webhooks.git"
  },
  "short_sha": "279484c0",
  "user": {
    "id": 1,
    "name": "Administrator",
    "username": "root",
    "avatar_url": "https://www.gravatar.com/avatar/e64c7d89f26bd1972efa854d13d7dd61?s=80&d=identicon",
    "email": "admin@example.com"
  },
  "user_url": "http://10.126.0.2:3000/root",
  "commit_url": "http://10.126.0.2:3000/root/test-deployment-webhooks/-/commit/279484c09fbe69ededfced8c1bb6e6d24616b468",
  "commit_title": "Add new file\n\nSigned-off-by: Administrator <admin@example.com>"
}"#;

fn gitlab(body: &str, token: Option<&str>) -> Request<Body> {
    let mut request = Request::post("/api/v1/deploys/gitlab")
        .header("content-type", "application/json")
        .header("x-gitlab-event", "Deployment Hook");
    if let Some(token) = token {
        request = request.header("x-gitlab-token", token);
    }
    request.body(Body::from(body.to_string())).expect("request")
}

#[tokio::test]
async fn gitlabs_documented_deployment_event_with_the_token_becomes_a_deploy() {
    let h = harness().await;
    let (status, text) = h.send(gitlab(GITLAB_DEPLOYMENT, Some(GITLAB_TOKEN))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    let deploys = h.deploys().await;
    let EventPayload::DeployRecorded(deploy) = &deploys[0].payload else {
        panic!("not a deploy");
    };
    assert_eq!(deploy.service, "test-deployment-webhooks");
    assert_eq!(deploy.environment, "staging");
    assert_eq!(deploy.status, DeployStatus::Succeeded);
    assert_eq!(
        deploy.commits[0].sha,
        "279484c09fbe69ededfced8c1bb6e6d24616b468"
    );
    assert_eq!(deploy.actor.as_deref(), Some("root"));
    assert_eq!(
        deploy.finished_at.map(|t| t.to_rfc3339()),
        Some("2021-04-28T19:50:00+00:00".into())
    );
    assert_eq!(deploys[0].envelope.occurred_at, deploy.finished_at.unwrap());
}

#[tokio::test]
async fn a_gitlab_delivery_without_the_right_token_gets_401() {
    let h = harness().await;
    for token in [None, Some("wrong"), Some("")] {
        let (status, _) = h.send(gitlab(GITLAB_DEPLOYMENT, token)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "token {token:?}");
    }
    assert!(h.deploys().await.is_empty());
}

#[tokio::test]
async fn an_argo_cd_notification_in_the_documented_template_becomes_a_deploy() {
    let h = harness().await;
    let body = r#"{"app":"checkout","environment":"production",
        "revision":"9f2c1e7a4b0d3c5e8f1a2b3c4d5e6f7a8b9c0d1e","phase":"Succeeded",
        "started_at":"2026-11-22T10:00:00Z","finished_at":"2026-11-22T10:01:30Z",
        "url":"https://argocd.example.com/applications/checkout","actor":"<no value>"}"#;
    let request = Request::post("/api/v1/deploys/argocd")
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    let (status, text) = h.send(request).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{text}");
    let deploys = h.deploys().await;
    let EventPayload::DeployRecorded(deploy) = &deploys[0].payload else {
        panic!("not a deploy");
    };
    assert_eq!(
        (deploy.service.as_str(), deploy.environment.as_str()),
        ("checkout", "production")
    );
    assert_eq!(deploy.version, "9f2c1e7a4b0d3c5e8f1a2b3c4d5e6f7a8b9c0d1e");
    assert_eq!(deploy.status, DeployStatus::Succeeded);

    let bad = r#"{"app":"checkout","environment":"production","revision":"abc","phase":"Done"}"#;
    let request = Request::post("/api/v1/deploys/argocd")
        .body(Body::from(bad))
        .unwrap();
    let (status, text) = h.send(request).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text.contains("`phase`"), "{text}");
}
