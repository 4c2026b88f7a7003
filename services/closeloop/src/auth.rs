//! Who may call what: every route belongs to an endpoint class (a table of
//! method + path → class, below), and each class may require a bearer
//! token or HTTP basic auth (`auth:` in closeloop.yml). A class with no
//! credentials configured is open, so an existing setup keeps working.
//! Secrets are read from files or the environment into `SecretString`s,
//! compared in constant time and never logged; a missing or wrong
//! credential is 401 with `WWW-Authenticate`.

use anyhow::{bail, Context, Result};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// The endpoint classes credentials are configured for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EndpointClass {
    /// Liveness and readiness probes: never behind credentials.
    Public,
    /// Remote write, Pushgateway pushes, OTLP.
    Ingest,
    /// `POST /api/v1/deploys` and the Argo CD notification webhook.
    Deploys,
    /// Alerts from other systems (Alertmanager API v2 and webhook).
    Alerts,
    /// The read API (`GET /api/v1/...`).
    Read,
    /// closeloop's own `/metrics` and anything administrative; also where
    /// a route missing from the table falls, so it is never left open by
    /// accident when admin credentials are set.
    Admin,
    /// GitHub and GitLab deploy webhooks: the handler verifies the
    /// sender's signature or token itself (those senders cannot send a
    /// bearer token).
    SignedWebhook,
}

/// How a table row matches a path.
#[derive(Debug, Clone, Copy)]
pub enum PathMatch {
    Exact(&'static str),
    /// The path starts with this (write it ending in `/` to match whole
    /// segments only).
    Prefix(&'static str),
}

/// Method + path → class; the first matching row wins, so more specific
/// rows come first. New routes get a row here; a test checks that every
/// route the server's crates mount matches one.
pub const ROUTE_CLASSES: &[(Option<Method>, PathMatch, EndpointClass)] = {
    use EndpointClass::*;
    use PathMatch::*;
    &[
        (None, Exact("/-/healthy"), Public),
        (None, Exact("/-/ready"), Public),
        (None, Exact("/metrics"), Admin),
        (None, Exact("/api/v1/write"), Ingest),
        (None, Exact("/v1/metrics"), Ingest),
        (None, Prefix("/metrics/job/"), Ingest),
        (None, Prefix("/metrics/job@base64/"), Ingest),
        (None, Exact("/api/v1/deploys/github"), SignedWebhook),
        (None, Exact("/api/v1/deploys/gitlab"), SignedWebhook),
        (None, Exact("/api/v1/deploys/argocd"), Deploys),
        (Some(Method::POST), Exact("/api/v1/deploys"), Deploys),
        (Some(Method::POST), Exact("/api/v2/alerts"), Alerts),
        // Silences change what gets notified: an operator's act.
        (Some(Method::POST), Exact("/api/v2/silences"), Admin),
        (Some(Method::DELETE), Prefix("/api/v2/silence/"), Admin),
        (Some(Method::GET), Prefix("/api/v2/"), Read),
        (None, Exact("/api/v1/alertmanager"), Alerts),
        (None, Prefix("/api/v1/admin/"), Admin),
        // Prometheus' query API takes POST forms too; still reads.
        (Some(Method::POST), Exact("/api/v1/query"), Read),
        (Some(Method::POST), Exact("/api/v1/query_range"), Read),
        (Some(Method::POST), Exact("/api/v1/series"), Read),
        (Some(Method::POST), Exact("/api/v1/labels"), Read),
        (Some(Method::POST), Exact("/api/v1/rules"), Read),
        (Some(Method::POST), Exact("/api/v1/format_query"), Read),
        (Some(Method::GET), Prefix("/api/v1/"), Read),
    ]
};

/// The class of a request; unlisted routes are admin.
pub fn classify(method: &Method, path: &str) -> EndpointClass {
    classify_listed(method, path).unwrap_or(EndpointClass::Admin)
}

/// The class of a request if a table row matches it.
pub fn classify_listed(method: &Method, path: &str) -> Option<EndpointClass> {
    ROUTE_CLASSES
        .iter()
        .find(|(only, matcher, _)| {
            only.as_ref().is_none_or(|m| m == method)
                && match matcher {
                    PathMatch::Exact(p) => path == *p,
                    PathMatch::Prefix(p) => path.starts_with(p),
                }
        })
        .map(|(_, _, class)| *class)
}

/// `auth:` in closeloop.yml: credentials per endpoint class.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    pub ingest: Option<ClassAuthConfig>,
    pub deploys: Option<ClassAuthConfig>,
    pub alerts: Option<ClassAuthConfig>,
    pub read: Option<ClassAuthConfig>,
    pub admin: Option<ClassAuthConfig>,
    /// The secret of the GitHub webhook (`X-Hub-Signature-256` key) that
    /// posts `deployment_status` to `/api/v1/deploys/github`.
    pub github_webhook_secret: Option<SecretSource>,
    /// The secret token of the GitLab webhook (`X-Gitlab-Token`) that
    /// posts deployment events to `/api/v1/deploys/gitlab`.
    pub gitlab_webhook_token: Option<SecretSource>,
}

/// Any one of these credentials lets a request in.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassAuthConfig {
    #[serde(default)]
    pub bearer_tokens: Vec<SecretSource>,
    #[serde(default)]
    pub basic_auth: Vec<BasicAuthUser>,
}

/// Where a secret is: a file (relative to the config file; one trailing
/// newline is dropped) or an environment variable.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSource {
    pub file: Option<PathBuf>,
    pub env: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuthUser {
    pub username: String,
    pub password_file: Option<PathBuf>,
    pub password_env: Option<String>,
}

/// Loaded credentials of one class.
#[derive(Default)]
struct Credentials {
    bearer: Vec<SecretString>,
    basic: Vec<(String, SecretString)>,
}

/// The loaded `auth:` section, checked by the middleware.
#[derive(Default)]
pub struct Authenticator {
    classes: BTreeMap<EndpointClass, Credentials>,
}

/// Reads a secret from `file` (relative to `base_dir`) or `env`; `keys`
/// are the two fields' names in closeloop.yml, for errors.
fn load_secret(
    file: Option<&Path>,
    env: Option<&str>,
    path: &str,
    keys: (&str, &str),
    base_dir: &Path,
) -> Result<SecretString> {
    let (file_key, env_key) = keys;
    let text = match (file, env) {
        (Some(file), None) => {
            let full = base_dir.join(file);
            std::fs::read_to_string(&full)
                .with_context(|| format!("{path}.{file_key}: reading {}", full.display()))?
        }
        (None, Some(var)) => std::env::var(var)
            .with_context(|| format!("{path}.{env_key}: variable {var} is not set"))?,
        _ => bail!("{path}: set exactly one of `{file_key}` and `{env_key}`"),
    };
    let secret = text.strip_suffix('\n').unwrap_or(&text);
    let secret = secret.strip_suffix('\r').unwrap_or(secret);
    if secret.is_empty() {
        bail!("{path}: the secret is empty");
    }
    Ok(SecretString::from(secret.to_string()))
}

impl AuthConfig {
    /// Reads the signed webhooks' secrets.
    pub fn webhook_secrets(&self, base_dir: &Path) -> Result<closeloop_ingest::WebhookSecrets> {
        let load = |name: &str, source: &Option<SecretSource>| -> Result<_> {
            source
                .as_ref()
                .map(|s| {
                    let path = format!("auth.{name}");
                    let (file, env) = (s.file.as_deref(), s.env.as_deref());
                    load_secret(file, env, &path, ("file", "env"), base_dir).map(Arc::new)
                })
                .transpose()
        };
        Ok(closeloop_ingest::WebhookSecrets {
            github: load("github_webhook_secret", &self.github_webhook_secret)?,
            gitlab: load("gitlab_webhook_token", &self.gitlab_webhook_token)?,
        })
    }

    /// Reads every class's secrets; errors name the path in closeloop.yml.
    pub fn load(&self, base_dir: &Path) -> Result<Authenticator> {
        let mut classes = BTreeMap::new();
        for (name, class, config) in [
            ("ingest", EndpointClass::Ingest, &self.ingest),
            ("deploys", EndpointClass::Deploys, &self.deploys),
            ("alerts", EndpointClass::Alerts, &self.alerts),
            ("read", EndpointClass::Read, &self.read),
            ("admin", EndpointClass::Admin, &self.admin),
        ] {
            let Some(config) = config else { continue };
            if config.bearer_tokens.is_empty() && config.basic_auth.is_empty() {
                bail!("auth.{name}: configure bearer_tokens or basic_auth (or remove auth.{name})");
            }
            let mut credentials = Credentials::default();
            for (i, token) in config.bearer_tokens.iter().enumerate() {
                let path = format!("auth.{name}.bearer_tokens[{i}]");
                let keys = ("file", "env");
                let (file, env) = (token.file.as_deref(), token.env.as_deref());
                credentials
                    .bearer
                    .push(load_secret(file, env, &path, keys, base_dir)?);
            }
            for (i, user) in config.basic_auth.iter().enumerate() {
                let path = format!("auth.{name}.basic_auth[{i}]");
                if user.username.is_empty() || user.username.contains(':') {
                    bail!("{path}.username: must be non-empty and contain no ':'");
                }
                let keys = ("password_file", "password_env");
                let (file, env) = (user.password_file.as_deref(), user.password_env.as_deref());
                let password = load_secret(file, env, &path, keys, base_dir)?;
                credentials.basic.push((user.username.clone(), password));
            }
            classes.insert(class, credentials);
        }
        Ok(Authenticator { classes })
    }
}

/// Equal in time independent of where the inputs differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    bool::from(a.ct_eq(b))
}

impl Authenticator {
    /// Whether the request's `Authorization` satisfies its class.
    pub fn allows(&self, class: EndpointClass, headers: &HeaderMap) -> bool {
        let Some(credentials) = self.classes.get(&class) else {
            return true;
        };
        let Some(given) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        let (scheme, rest) = given.split_once(' ').unwrap_or((given, ""));
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("bearer") {
            // Every token is compared, so timing tells nothing of which.
            let matches = credentials
                .bearer
                .iter()
                .filter(|t| same(t.expose_secret().as_bytes(), rest.as_bytes()))
                .count();
            return matches > 0;
        }
        if scheme.eq_ignore_ascii_case("basic") {
            let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(rest) else {
                return false;
            };
            let Some(colon) = decoded.iter().position(|b| *b == b':') else {
                return false;
            };
            let (user, password) = (&decoded[..colon], &decoded[colon + 1..]);
            let matches = credentials
                .basic
                .iter()
                .filter(|(u, p)| {
                    same(u.as_bytes(), user) & same(p.expose_secret().as_bytes(), password)
                })
                .count();
            return matches > 0;
        }
        false
    }

    fn challenge(&self, class: EndpointClass) -> Vec<HeaderValue> {
        let Some(credentials) = self.classes.get(&class) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        if !credentials.bearer.is_empty() {
            out.push(HeaderValue::from_static("Bearer realm=\"closeloop\""));
        }
        if !credentials.basic.is_empty() {
            out.push(HeaderValue::from_static("Basic realm=\"closeloop\""));
        }
        out
    }
}

/// Puts every route of `app` behind its class's credentials.
pub fn protect(app: Router, auth: Authenticator) -> Router {
    app.layer(axum::middleware::from_fn_with_state(
        Arc::new(auth),
        require,
    ))
}

async fn require(State(auth): State<Arc<Authenticator>>, request: Request, next: Next) -> Response {
    let class = classify(request.method(), request.uri().path());
    if auth.allows(class, request.headers()) {
        return next.run(request).await;
    }
    // The path and class only: never the credential that was sent.
    tracing::warn!(path = %request.uri().path(), ?class, "request without a valid credential refused");
    let body = Json(serde_json::json!({
        "status": "error",
        "error": format!("a valid credential for the {class:?} endpoints is required"),
    }));
    let mut response = (StatusCode::UNAUTHORIZED, body).into_response();
    for value in auth.challenge(class) {
        response
            .headers_mut()
            .append(header::WWW_AUTHENTICATE, value);
    }
    response
}

#[cfg(test)]
#[path = "auth_tests.rs"]
mod tests;
