//! The class table covers every route the server's crates mount, and the
//! credential checks accept exactly the configured secrets.

use super::*;
use std::path::Path;

/// Every `.route("<path>", method(...)...)` in the crates `closeloop
/// serve` merges, with the methods named in that call. Read from the
/// source so a route another module adds is checked without listing it.
fn mounted_routes() -> Vec<(String, Vec<Method>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut found = Vec::new();
    for krate in ["closeloop", "ingest", "projector"] {
        let mut stack = vec![root.join(krate).join("src")];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).expect("source dir readable") {
                let path = entry.expect("dir entry").path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs")
                    && !path.to_string_lossy().contains("test")
                {
                    let text = std::fs::read_to_string(&path).expect("source readable");
                    found.extend(routes_in(&text));
                }
            }
        }
    }
    found
}

fn routes_in(text: &str) -> Vec<(String, Vec<Method>)> {
    let mut out = Vec::new();
    for call in text.split(".route(").skip(1) {
        let call = call.trim_start();
        let Some(rest) = call.strip_prefix('"') else {
            continue;
        };
        let Some(end) = rest.find('"') else { continue };
        let path = rest[..end].to_string();
        // The method router runs to the next route or layer of the chain.
        let body = &rest[end..];
        let body = body.split(".layer(").next().unwrap_or(body);
        let body = body.split(".with_state(").next().unwrap_or(body);
        let methods: Vec<Method> = [
            ("get(", Method::GET),
            ("post(", Method::POST),
            ("put(", Method::PUT),
            ("delete(", Method::DELETE),
        ]
        .into_iter()
        .filter(|(name, _)| body.contains(name))
        .map(|(_, m)| m)
        .collect();
        out.push((path, methods));
    }
    out
}

#[test]
fn every_route_the_server_mounts_belongs_to_a_class() {
    let routes = mounted_routes();
    assert!(
        routes.iter().any(|(p, _)| p == "/api/v1/write"),
        "the source scan found remote write: {routes:?}"
    );
    for (path, methods) in &routes {
        assert!(!methods.is_empty(), "no method found for route {path}");
        // `{param}` segments stand for any value.
        let concrete = path.replace('{', "x").replace('}', "");
        for method in methods {
            assert!(
                classify_listed(method, &concrete).is_some(),
                "{method} {path} is in no endpoint class: add a row to auth::ROUTE_CLASSES"
            );
        }
    }
}

#[test]
fn the_classes_split_read_from_write_on_the_same_path() {
    assert_eq!(
        classify(&Method::POST, "/api/v1/deploys"),
        EndpointClass::Deploys
    );
    assert_eq!(
        classify(&Method::GET, "/api/v1/deploys"),
        EndpointClass::Read
    );
    assert_eq!(
        classify(&Method::PUT, "/metrics/job/batch/instance/a"),
        EndpointClass::Ingest
    );
    assert_eq!(classify(&Method::GET, "/metrics"), EndpointClass::Admin);
    assert_eq!(classify(&Method::GET, "/-/ready"), EndpointClass::Public);
    assert_eq!(
        classify(&Method::POST, "/no/such/route"),
        EndpointClass::Admin
    );
}

fn authenticator(yaml: &str, dir: &Path) -> Result<Authenticator> {
    let config: AuthConfig = serde_yaml::from_str(yaml)?;
    config.load(dir)
}

fn headers(authorization: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::AUTHORIZATION,
        HeaderValue::from_str(authorization).expect("header value"),
    );
    headers
}

#[test]
fn a_bearer_token_from_a_file_and_basic_auth_from_the_environment_let_requests_in() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("token"), "s3cret-token\n").expect("write token");
    // SAFETY: no other test reads or writes this variable.
    unsafe { std::env::set_var("CLOSELOOP_TEST_PUSH_PASSWORD", "pa:ss") };
    let auth = authenticator(
        "ingest:\n  bearer_tokens: [{file: token}]\n  basic_auth: [{username: pusher, password_env: CLOSELOOP_TEST_PUSH_PASSWORD}]\n",
        dir.path(),
    )
    .expect("loads");
    let ingest = EndpointClass::Ingest;
    assert!(auth.allows(ingest, &headers("Bearer s3cret-token")));
    assert!(auth.allows(ingest, &headers("bearer s3cret-token")));
    assert!(!auth.allows(ingest, &headers("Bearer s3cret-tokem")));
    assert!(!auth.allows(ingest, &headers("Bearer s3cret-token-and-more")));
    assert!(!auth.allows(ingest, &HeaderMap::new()));
    let basic = |user_pass: &str| {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_pass)
        )
    };
    assert!(auth.allows(ingest, &headers(&basic("pusher:pa:ss"))));
    assert!(!auth.allows(ingest, &headers(&basic("pusher:pa"))));
    assert!(!auth.allows(ingest, &headers(&basic("other:pa:ss"))));
    assert!(!auth.allows(ingest, &headers("Basic not-base64!")));
    // Classes without credentials stay open.
    assert!(auth.allows(EndpointClass::Read, &HeaderMap::new()));
    assert_eq!(auth.challenge(ingest).len(), 2);
}

#[test]
fn auth_mistakes_name_their_path_in_the_config() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (yaml, names) in [
        ("ingest: {}\n", "auth.ingest: configure"),
        (
            "deploys:\n  bearer_tokens: [{file: missing}]\n",
            "auth.deploys.bearer_tokens[0].file",
        ),
        (
            "read:\n  bearer_tokens: [{}]\n",
            "auth.read.bearer_tokens[0]: set exactly one",
        ),
        (
            "admin:\n  basic_auth: [{username: a, password_env: CLOSELOOP_TEST_UNSET_VAR}]\n",
            "auth.admin.basic_auth[0].password_env",
        ),
    ] {
        let err = authenticator(yaml, dir.path()).err().expect("refused");
        assert!(
            format!("{err:#}").contains(names),
            "{err:#} should name {names}"
        );
    }
    let unknown = serde_yaml::from_str::<AuthConfig>("ingest:\n  tokens: []\n")
        .err()
        .expect("unknown field refused");
    assert!(unknown.to_string().contains("tokens"), "{unknown}");
}
