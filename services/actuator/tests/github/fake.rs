//! A stateful GitHub REST fake (axum, in-process on port 0) for the GitHub
//! adapter. Every request is checked against GitHub's OpenAPI description
//! (operation exists, required and enumerated parameters, JSON body) and
//! its headers (bearer token, `Accept`, `X-GitHub-Api-Version`,
//! `User-Agent`, which GitHub requires); every answer against the
//! operation's response schema. A violation is recorded and answered with
//! 422, as the real API would refuse it, so the adapter sees an error and
//! the test fails on `violations()`.
//!
//! It can throttle (429 / 403 secondary limit with `Retry-After`) and lag
//! its search index, as GitHub's does.

use super::contract::{contract, Operation, Request};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

pub const TOKEN: &str = "ghp_fake_token_for_tests";
pub const OWNER: &str = "acme";
pub const REPO: &str = "shop";

#[derive(Debug, Clone)]
pub struct FakeIssue {
    pub number: u64,
    pub title: String,
    pub body: String,
    pub state: String,
    pub state_reason: Option<String>,
    pub closed_at: Option<DateTime<Utc>>,
    pub labels: Vec<String>,
    pub assignees: Vec<String>,
    pub comments: Vec<String>,
}

#[derive(Default)]
struct Inner {
    issues: Vec<FakeIssue>,
    requests: usize,
    violations: Vec<String>,
    /// The next this many requests are refused as throttled.
    throttle_next: u32,
    /// Secondary-limit style (403) rather than 429.
    throttle_as_403: bool,
    /// Every this many requests one is throttled (0: never).
    throttle_every: usize,
    /// Search sees nothing, as right after a create.
    search_lags: bool,
    throttled: usize,
}

#[derive(Clone)]
pub struct GithubFake {
    inner: Arc<Mutex<Inner>>,
    pub addr: SocketAddr,
}

impl GithubFake {
    pub async fn start() -> GithubFake {
        // Load (and fail on a missing description) before serving.
        let _ = contract();
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&inner));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the fake");
        let addr = listener.local_addr().expect("fake address");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        GithubFake { inner, addr }
    }

    /// As a GitHub Enterprise server's API root.
    pub fn api_url(&self) -> String {
        format!("http://{}/api/v3", self.addr)
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn issues(&self) -> Vec<FakeIssue> {
        self.with(|i| i.issues.clone())
    }
    pub fn requests(&self) -> usize {
        self.with(|i| i.requests)
    }
    pub fn throttled(&self) -> usize {
        self.with(|i| i.throttled)
    }
    pub fn violations(&self) -> Vec<String> {
        self.with(|i| i.violations.clone())
    }
    pub fn throttle_next(&self, count: u32, as_403: bool) {
        self.with(|i| {
            i.throttle_next = count;
            i.throttle_as_403 = as_403;
        })
    }
    pub fn throttle_every(&self, every: usize) {
        self.with(|i| i.throttle_every = every)
    }
    pub fn search_lags(&self, lags: bool) {
        self.with(|i| i.search_lags = lags)
    }
    /// What a person does in the web page: close with a reason.
    pub fn close(&self, number: u64, reason: &str, at: DateTime<Utc>) {
        self.with(|i| {
            if let Some(issue) = i.issues.iter_mut().find(|x| x.number == number) {
                issue.state = "closed".into();
                issue.state_reason = Some(reason.into());
                issue.closed_at = Some(at);
            }
        })
    }
    pub fn delete(&self, number: u64) {
        self.with(|i| i.issues.retain(|x| x.number != number))
    }
}

fn user() -> Value {
    json!({
        "login": "closeloop-bot", "id": 1, "node_id": "MDQ6VXNlcjE=",
        "avatar_url": "https://avatars.example/u/1", "gravatar_id": "",
        "url": "https://api.github.com/users/closeloop-bot",
        "html_url": "https://github.com/closeloop-bot",
        "followers_url": "https://api.github.com/users/closeloop-bot/followers",
        "following_url": "https://api.github.com/users/closeloop-bot/following{/other_user}",
        "gists_url": "https://api.github.com/users/closeloop-bot/gists{/gist_id}",
        "starred_url": "https://api.github.com/users/closeloop-bot/starred{/owner}{/repo}",
        "subscriptions_url": "https://api.github.com/users/closeloop-bot/subscriptions",
        "organizations_url": "https://api.github.com/users/closeloop-bot/orgs",
        "repos_url": "https://api.github.com/users/closeloop-bot/repos",
        "events_url": "https://api.github.com/users/closeloop-bot/events{/privacy}",
        "received_events_url": "https://api.github.com/users/closeloop-bot/received_events",
        "type": "User", "site_admin": false
    })
}

fn label_json(name: &str) -> Value {
    json!({
        "id": 1000 + name.len() as u64, "node_id": "LA_kw", "url": format!("https://api.github.com/repos/{OWNER}/{REPO}/labels/{name}"),
        "name": name, "description": null, "color": "ededed", "default": false
    })
}

fn issue_json(issue: &FakeIssue) -> Value {
    let api = format!("https://api.github.com/repos/{OWNER}/{REPO}");
    let n = issue.number;
    json!({
        "id": 5000 + n, "node_id": format!("I_kw{n}"),
        "url": format!("{api}/issues/{n}"),
        "repository_url": api,
        "labels_url": format!("{api}/issues/{n}/labels{{/name}}"),
        "comments_url": format!("{api}/issues/{n}/comments"),
        "events_url": format!("{api}/issues/{n}/events"),
        "html_url": format!("https://github.com/{OWNER}/{REPO}/issues/{n}"),
        "number": n, "state": issue.state, "state_reason": issue.state_reason,
        "title": issue.title, "body": issue.body, "user": user(),
        "labels": issue.labels.iter().map(|l| label_json(l)).collect::<Vec<_>>(),
        "assignee": if issue.assignees.is_empty() { Value::Null } else { user() },
        "assignees": issue.assignees.iter().map(|_| user()).collect::<Vec<_>>(),
        "milestone": null, "locked": false, "active_lock_reason": null,
        "comments": issue.comments.len(),
        "closed_at": issue.closed_at.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        "created_at": "2026-11-22T02:35:00Z", "updated_at": "2026-11-22T02:35:00Z",
        "author_association": "NONE"
    })
}

fn error_json(message: &str) -> Value {
    json!({ "message": message, "documentation_url": "https://docs.github.com/rest" })
}

async fn handle(
    State(inner): State<Arc<Mutex<Inner>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri
        .path()
        .strip_prefix("/api/v3")
        .unwrap_or(uri.path())
        .to_string();
    let query: Vec<(String, String)> = uri
        .query()
        .and_then(|q| reqwest::Url::parse(&format!("http://fake/?{q}")).ok())
        .map(|u| u.query_pairs().into_owned().collect())
        .unwrap_or_default();
    let json_body: Option<Value> = if body.is_empty() {
        None
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => Some(v),
            Err(e) => {
                let msg = format!("{method} {path}: body is not JSON: {e}");
                return violation(&inner, msg, StatusCode::BAD_REQUEST);
            }
        }
    };
    if let Err(msg) = check_headers(&headers, json_body.is_some()) {
        return violation(
            &inner,
            format!("{method} {path}: {msg}"),
            StatusCode::BAD_REQUEST,
        );
    }
    let request = Request {
        method: method.as_str(),
        path: &path,
        query: &query,
        body: json_body.as_ref(),
    };
    let op = match contract().check_request(&request) {
        Ok(op) => op,
        Err(msg) => return violation(&inner, msg, StatusCode::UNPROCESSABLE_ENTITY),
    };
    let (status, answer, extra) = {
        let mut state = inner.lock().unwrap_or_else(|p| p.into_inner());
        state.requests += 1;
        if let Some(throttled) = throttle(&mut state) {
            // Rate-limit answers are described in GitHub's rate limit
            // docs, not per operation, so they are not checked here.
            let (status, answer, extra) = throttled;
            let mut response = (status, axum::Json(answer)).into_response();
            for (name, value) in extra {
                if let Ok(v) = value.parse() {
                    response.headers_mut().insert(name, v);
                }
            }
            return response;
        }
        let (status, answer) = serve(&mut state, &op, &query, json_body.as_ref());
        (status, answer, Vec::<(&str, String)>::new())
    };
    if let Err(msg) = contract().check_response(&op, status.as_u16(), &answer) {
        return violation(&inner, msg, StatusCode::INTERNAL_SERVER_ERROR);
    }
    let mut response = (status, axum::Json(answer)).into_response();
    for (name, value) in extra {
        if let Ok(v) = value.parse() {
            response.headers_mut().insert(name, v);
        }
    }
    response
}

fn violation(inner: &Arc<Mutex<Inner>>, message: String, status: StatusCode) -> Response {
    inner
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .violations
        .push(message.clone());
    (status, axum::Json(error_json(&message))).into_response()
}

fn check_headers(headers: &HeaderMap, has_body: bool) -> Result<(), String> {
    let get = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    if get("authorization") != format!("Bearer {TOKEN}") {
        return Err("missing or wrong bearer token".into());
    }
    if get("accept") != "application/vnd.github+json" {
        return Err(format!(
            "Accept {:?}, not application/vnd.github+json",
            get("accept")
        ));
    }
    if get("x-github-api-version") != "2022-11-28" {
        return Err("X-GitHub-Api-Version 2022-11-28 missing".into());
    }
    if get("user-agent").is_empty() {
        return Err("GitHub refuses requests without a User-Agent".into());
    }
    if has_body && !get("content-type").starts_with("application/json") {
        return Err("JSON body without Content-Type: application/json".into());
    }
    Ok(())
}

type Throttled = (StatusCode, Value, Vec<(&'static str, String)>);

fn throttle(state: &mut Inner) -> Option<Throttled> {
    let every = state.throttle_every > 0 && state.requests % state.throttle_every == 0;
    if state.throttle_next == 0 && !every {
        return None;
    }
    state.throttle_next = state.throttle_next.saturating_sub(1);
    state.throttled += 1;
    let headers = vec![("retry-after", "1".to_string())];
    Some(if state.throttle_as_403 {
        (
            StatusCode::FORBIDDEN,
            error_json("You have exceeded a secondary rate limit. Please wait a few minutes before you try again."),
            headers,
        )
    } else {
        (
            StatusCode::TOO_MANY_REQUESTS,
            error_json("rate limited"),
            headers,
        )
    })
}

fn number_of(op: &Operation) -> Option<u64> {
    op.path_params
        .get("issue_number")
        .and_then(|n| n.parse().ok())
}

fn serve(
    state: &mut Inner,
    op: &Operation,
    query: &[(String, String)],
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let repo_ok = op.path_params.get("owner").map(String::as_str) == Some(OWNER)
        && op.path_params.get("repo").map(String::as_str) == Some(REPO);
    let not_found = (StatusCode::NOT_FOUND, error_json("Not Found"));
    let q = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let strings = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    match (op.method.as_str(), op.template.as_str()) {
        ("get", "/search/issues") => {
            let text = q("q").unwrap_or_default();
            // `"phrase" in:body repo:o/r is:issue`
            let phrase = text.split('"').nth(1).unwrap_or_default().to_string();
            let items: Vec<Value> = if state.search_lags {
                Vec::new()
            } else {
                state
                    .issues
                    .iter()
                    .filter(|i| {
                        text.contains(&format!("repo:{OWNER}/{REPO}")) && i.body.contains(&phrase)
                    })
                    .map(|i| {
                        let mut v = issue_json(i);
                        v["score"] = json!(1.0);
                        v
                    })
                    .collect()
            };
            (
                StatusCode::OK,
                json!({ "total_count": items.len(), "incomplete_results": false, "items": items, "search_type": "lexical" }),
            )
        }
        _ if !repo_ok => not_found,
        ("get", "/repos/{owner}/{repo}/issues") => {
            let wanted: Vec<&str> = q("labels")
                .map(|l| l.split(',').collect())
                .unwrap_or_default();
            let state_filter = q("state").unwrap_or("open");
            let items: Vec<Value> = state
                .issues
                .iter()
                .filter(|i| state_filter == "all" || i.state == state_filter)
                .filter(|i| wanted.iter().all(|w| i.labels.iter().any(|l| l == w)))
                .map(issue_json)
                .collect();
            (StatusCode::OK, Value::Array(items))
        }
        ("post", "/repos/{owner}/{repo}/issues") => {
            let body = body.cloned().unwrap_or_default();
            let issue = FakeIssue {
                number: state.issues.iter().map(|i| i.number).max().unwrap_or(0) + 1,
                title: body["title"].as_str().unwrap_or_default().to_string(),
                body: body["body"].as_str().unwrap_or_default().to_string(),
                state: "open".into(),
                state_reason: None,
                closed_at: None,
                labels: strings(body.get("labels")),
                assignees: strings(body.get("assignees")),
                comments: Vec::new(),
            };
            let answer = issue_json(&issue);
            state.issues.push(issue);
            (StatusCode::CREATED, answer)
        }
        (method, template) => {
            let Some(number) = number_of(op) else {
                return not_found;
            };
            let Some(issue) = state.issues.iter_mut().find(|i| i.number == number) else {
                return not_found;
            };
            match (method, template) {
                ("get", "/repos/{owner}/{repo}/issues/{issue_number}") => {
                    (StatusCode::OK, issue_json(issue))
                }
                ("patch", "/repos/{owner}/{repo}/issues/{issue_number}") => {
                    let body = body.cloned().unwrap_or_default();
                    if let Some(s) = body["state"].as_str() {
                        issue.state = s.to_string();
                        issue.closed_at = (s == "closed").then(Utc::now);
                        issue.state_reason = body["state_reason"].as_str().map(String::from);
                    }
                    (StatusCode::OK, issue_json(issue))
                }
                ("post", "/repos/{owner}/{repo}/issues/{issue_number}/comments") => {
                    let text = body.and_then(|b| b["body"].as_str()).unwrap_or_default();
                    issue.comments.push(text.to_string());
                    let api = format!("https://api.github.com/repos/{OWNER}/{REPO}");
                    let id = issue.comments.len() as u64 + number * 1000;
                    (
                        StatusCode::CREATED,
                        json!({
                            "id": id, "node_id": "IC_kw", "url": format!("{api}/issues/comments/{id}"),
                            "html_url": format!("https://github.com/{OWNER}/{REPO}/issues/{number}#issuecomment-{id}"),
                            "issue_url": format!("{api}/issues/{number}"), "body": text, "user": user(),
                            "created_at": "2026-11-22T02:35:00Z", "updated_at": "2026-11-22T02:35:00Z",
                            "author_association": "NONE"
                        }),
                    )
                }
                ("post", "/repos/{owner}/{repo}/issues/{issue_number}/labels") => {
                    for label in strings(body.and_then(|b| b.get("labels"))) {
                        if !issue.labels.contains(&label) {
                            issue.labels.push(label);
                        }
                    }
                    (
                        StatusCode::OK,
                        Value::Array(issue.labels.iter().map(|l| label_json(l)).collect()),
                    )
                }
                ("delete", "/repos/{owner}/{repo}/issues/{issue_number}/labels/{name}") => {
                    let name = op.path_params.get("name").cloned().unwrap_or_default();
                    if !issue.labels.contains(&name) {
                        return (StatusCode::NOT_FOUND, error_json("Label does not exist"));
                    }
                    issue.labels.retain(|l| *l != name);
                    (
                        StatusCode::OK,
                        Value::Array(issue.labels.iter().map(|l| label_json(l)).collect()),
                    )
                }
                _ => not_found,
            }
        }
    }
}
