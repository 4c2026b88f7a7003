//! A stateful GitLab REST v4 fake (axum, in-process on port 0) for the
//! GitLab adapter. Every request is checked against the contract
//! (`contract.rs`: operation exists, parameters, JSON body) and its
//! headers (`PRIVATE-TOKEN`, JSON `Content-Type`); every answer against
//! the operation's response schema. A violation is recorded and answered
//! with 400 — GitLab's answer to an attribute it does not take — so the
//! adapter sees an error and the test fails on `violations()`.
//!
//! It throttles as GitLab does: 429 with `Retry-After` and the
//! `RateLimit-*` headers (docs.gitlab.com, "Rate limits").

use super::contract::contract;
use crate::openapi::Operation;
use crate::openapi::Request;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

pub const TOKEN: &str = "glpat-fake-token-for-tests";
/// The project's path; the adapter sends it as `acme%2Fshop`.
pub const PROJECT: &str = "acme/shop";
pub const PROJECT_ID: u64 = 42;
/// Users the fake knows: (id, username).
pub const USERS: [(u64, &str); 2] = [(7, "alice"), (8, "bob")];

#[derive(Debug, Clone)]
pub struct FakeIssue {
    pub iid: u64,
    pub title: String,
    pub description: String,
    /// `opened` or `closed`.
    pub state: String,
    pub closed_at: Option<DateTime<Utc>>,
    pub duplicate_of: Option<u64>,
    pub labels: Vec<String>,
    pub assignee_ids: Vec<u64>,
    pub notes: Vec<String>,
}

#[derive(Default)]
struct Inner {
    issues: Vec<FakeIssue>,
    requests: usize,
    violations: Vec<String>,
    /// The next this many requests are refused with 429.
    throttle_next: u32,
    /// Every this many requests one is throttled (0: never).
    throttle_every: usize,
    throttled: usize,
}

#[derive(Clone)]
pub struct GitlabFake {
    inner: Arc<Mutex<Inner>>,
    pub addr: SocketAddr,
}

impl GitlabFake {
    pub async fn start() -> GitlabFake {
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
        GitlabFake { inner, addr }
    }

    /// As a self-managed instance's base URL (the API is under `/api/v4`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
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
    pub fn throttle_next(&self, count: u32) {
        self.with(|i| i.throttle_next = count)
    }
    pub fn throttle_every(&self, every: usize) {
        self.with(|i| i.throttle_every = every)
    }
    /// What a person does in the web page: close, with labels added.
    pub fn close(&self, iid: u64, add_labels: &[&str], at: DateTime<Utc>) {
        self.with(|i| {
            if let Some(issue) = i.issues.iter_mut().find(|x| x.iid == iid) {
                issue.state = "closed".into();
                issue.closed_at = Some(at);
                for label in add_labels {
                    if !issue.labels.iter().any(|l| l == label) {
                        issue.labels.push(label.to_string());
                    }
                }
            }
        })
    }
    /// A person closes it as a duplicate of another issue (`/duplicate #n`).
    pub fn close_as_duplicate(&self, iid: u64, of: u64, at: DateTime<Utc>) {
        self.close(iid, &[], at);
        self.with(|i| {
            if let Some(issue) = i.issues.iter_mut().find(|x| x.iid == iid) {
                issue.duplicate_of = Some(of);
            }
        })
    }
    pub fn delete(&self, iid: u64) {
        self.with(|i| i.issues.retain(|x| x.iid != iid))
    }
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn user_json(id: u64, username: &str) -> Value {
    json!({
        "id": id, "username": username, "name": username, "state": "active",
        "locked": false, "avatar_url": null,
        "web_url": format!("https://gitlab.example.com/{username}")
    })
}

fn bot() -> Value {
    user_json(1, "closeloop-bot")
}

fn issue_json(issue: &FakeIssue) -> Value {
    let api = format!("https://gitlab.example.com/api/v4/projects/{PROJECT_ID}");
    let n = issue.iid;
    let assignees: Vec<Value> = issue
        .assignee_ids
        .iter()
        .filter_map(|id| USERS.iter().find(|(u, _)| u == id))
        .map(|(id, name)| user_json(*id, name))
        .collect();
    json!({
        "id": 9000 + n, "iid": n, "project_id": PROJECT_ID,
        "title": issue.title, "description": issue.description,
        "state": issue.state,
        "created_at": "2026-11-22T02:35:00.000Z", "updated_at": "2026-11-22T02:35:00.000Z",
        "closed_at": issue.closed_at.map(time),
        "closed_by": if issue.state == "closed" { bot() } else { Value::Null },
        "labels": issue.labels, "milestone": null,
        "assignee": assignees.first().cloned().unwrap_or(Value::Null),
        "assignees": assignees,
        "author": bot(), "type": "ISSUE",
        "upvotes": 0, "downvotes": 0, "merge_requests_count": 0,
        "user_notes_count": issue.notes.len(), "due_date": null,
        "web_url": format!("https://gitlab.example.com/{PROJECT}/-/issues/{n}"),
        "references": { "short": format!("#{n}"), "relative": format!("#{n}"), "full": format!("{PROJECT}#{n}") },
        "confidential": false, "discussion_locked": null, "issue_type": "issue", "severity": "UNKNOWN",
        "_links": {
            "self": format!("{api}/issues/{n}"), "notes": format!("{api}/issues/{n}/notes"),
            "award_emoji": format!("{api}/issues/{n}/award_emoji"), "project": api,
            "closed_as_duplicate_of": issue.duplicate_of.map(|d| format!("{api}/issues/{d}"))
        }
    })
}

fn message(text: &str) -> Value {
    json!({ "message": text })
}

async fn handle(
    State(inner): State<Arc<Mutex<Inner>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(path) = uri.path().strip_prefix("/api/v4") else {
        let msg = format!("{method} {}: not under /api/v4", uri.path());
        return violation(&inner, msg, StatusCode::NOT_FOUND);
    };
    let path = path.to_string();
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
        let status = if msg.contains("token") {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::BAD_REQUEST
        };
        return violation(&inner, format!("{method} {path}: {msg}"), status);
    }
    let request = Request {
        method: method.as_str(),
        path: &path,
        query: &query,
        body: json_body.as_ref(),
    };
    let op = match contract().check_request(&request) {
        Ok(op) => op,
        Err(msg) => return violation(&inner, msg, StatusCode::BAD_REQUEST),
    };
    let (status, answer) = {
        let mut state = inner.lock().unwrap_or_else(|p| p.into_inner());
        state.requests += 1;
        if throttle(&mut state) {
            return throttled_response();
        }
        serve(&mut state, &op, &query, json_body.as_ref())
    };
    if let Err(msg) = contract().check_response(&op, status.as_u16(), Some(&answer)) {
        return violation(&inner, msg, StatusCode::INTERNAL_SERVER_ERROR);
    }
    (status, axum::Json(answer)).into_response()
}

fn violation(inner: &Arc<Mutex<Inner>>, text: String, status: StatusCode) -> Response {
    inner
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .violations
        .push(text.clone());
    (status, axum::Json(json!({ "error": text }))).into_response()
}

fn check_headers(headers: &HeaderMap, has_body: bool) -> Result<(), String> {
    let get = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    if get("private-token") != TOKEN {
        return Err("missing or wrong PRIVATE-TOKEN".into());
    }
    if headers.contains_key("authorization") {
        return Err("token sent twice (PRIVATE-TOKEN and Authorization)".into());
    }
    if has_body && !get("content-type").starts_with("application/json") {
        return Err("JSON body without Content-Type: application/json".into());
    }
    Ok(())
}

fn throttle(state: &mut Inner) -> bool {
    let every = state.throttle_every > 0 && state.requests.is_multiple_of(state.throttle_every);
    if state.throttle_next == 0 && !every {
        return false;
    }
    state.throttle_next = state.throttle_next.saturating_sub(1);
    state.throttled += 1;
    true
}

/// GitLab's 429: plain-text body "Retry later", `Retry-After` and the
/// `RateLimit-*` headers.
fn throttled_response() -> Response {
    let reset = Utc::now().timestamp() + 1;
    let mut response = (StatusCode::TOO_MANY_REQUESTS, "Retry later\n").into_response();
    for (name, value) in [
        ("retry-after", "1".to_string()),
        ("ratelimit-limit", "600".to_string()),
        ("ratelimit-observed", "601".to_string()),
        ("ratelimit-remaining", "0".to_string()),
        ("ratelimit-reset", reset.to_string()),
    ] {
        if let Ok(v) = value.parse() {
            response.headers_mut().insert(name, v);
        }
    }
    response
}

fn comma_list(text: Option<&str>) -> Vec<String> {
    text.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

fn serve(
    state: &mut Inner,
    op: &Operation,
    query: &[(String, String)],
    body: Option<&Value>,
) -> (StatusCode, Value) {
    let not_found = |what: &str| {
        (
            StatusCode::NOT_FOUND,
            message(&format!("404 {what} Not Found")),
        )
    };
    let q = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if op.template == "/users" {
        let wanted = q("username").unwrap_or_default();
        let users: Vec<Value> = USERS
            .iter()
            .filter(|(_, name)| wanted.is_empty() || name.eq_ignore_ascii_case(wanted))
            .map(|(id, name)| user_json(*id, name))
            .collect();
        return (StatusCode::OK, Value::Array(users));
    }
    let project = op.path_params.get("id").map(String::as_str);
    if project != Some(PROJECT) && project != Some(&PROJECT_ID.to_string()) {
        return not_found("Project");
    }
    let body = body.cloned().unwrap_or_default();
    let text = |name: &str| body.get(name).and_then(Value::as_str);
    match (op.method.as_str(), op.template.as_str()) {
        ("get", "/projects/{id}/issues") => {
            let labels = comma_list(q("labels"));
            let state_filter = q("state").unwrap_or("all");
            let search = q("search");
            let within = q("in").unwrap_or("title,description");
            let items: Vec<Value> = state
                .issues
                .iter()
                .filter(|i| state_filter == "all" || i.state == state_filter)
                .filter(|i| labels.iter().all(|w| i.labels.contains(w)))
                .filter(|i| match search {
                    None => true,
                    Some(s) => {
                        (within.contains("description") && i.description.contains(s))
                            || (within.contains("title") && i.title.contains(s))
                    }
                })
                .map(issue_json)
                .collect();
            (StatusCode::OK, Value::Array(items))
        }
        ("post", "/projects/{id}/issues") => {
            let mut assignee_ids: Vec<u64> = body["assignee_ids"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_u64).collect())
                .unwrap_or_default();
            assignee_ids.extend(body["assignee_id"].as_u64());
            if let Some(unknown) = assignee_ids
                .iter()
                .find(|id| !USERS.iter().any(|(u, _)| u == *id))
            {
                let answer = message(&format!("assignee {unknown} does not exist"));
                return (StatusCode::BAD_REQUEST, answer);
            }
            let issue = FakeIssue {
                iid: state.issues.iter().map(|i| i.iid).max().unwrap_or(0) + 1,
                title: text("title").unwrap_or_default().to_string(),
                description: text("description").unwrap_or_default().to_string(),
                state: "opened".into(),
                closed_at: None,
                duplicate_of: None,
                labels: comma_list(text("labels")),
                assignee_ids,
                notes: Vec::new(),
            };
            let answer = issue_json(&issue);
            state.issues.push(issue);
            (StatusCode::CREATED, answer)
        }
        (method, template) => {
            let iid: Option<u64> = op.path_params.get("issue_iid").and_then(|n| n.parse().ok());
            let Some(issue) = state.issues.iter_mut().find(|i| Some(i.iid) == iid) else {
                return not_found("Issue");
            };
            match (method, template) {
                ("get", "/projects/{id}/issues/{issue_iid}") => (StatusCode::OK, issue_json(issue)),
                ("put", "/projects/{id}/issues/{issue_iid}") => {
                    match text("state_event") {
                        Some("close") if issue.state == "opened" => {
                            issue.state = "closed".into();
                            issue.closed_at = Some(Utc::now());
                        }
                        Some("reopen") if issue.state == "closed" => {
                            issue.state = "opened".into();
                            issue.closed_at = None;
                            issue.duplicate_of = None;
                        }
                        _ => {}
                    }
                    if let Some(all) = text("labels") {
                        issue.labels = comma_list(Some(all));
                    }
                    for label in comma_list(text("add_labels")) {
                        if !issue.labels.contains(&label) {
                            issue.labels.push(label);
                        }
                    }
                    let removed = comma_list(text("remove_labels"));
                    issue.labels.retain(|l| !removed.contains(l));
                    (StatusCode::OK, issue_json(issue))
                }
                ("post", "/projects/{id}/issues/{issue_iid}/notes") => {
                    let note = text("body").unwrap_or_default().to_string();
                    issue.notes.push(note.clone());
                    let id = issue.iid * 1000 + issue.notes.len() as u64;
                    let now = time(Utc::now());
                    (
                        StatusCode::CREATED,
                        json!({
                            "id": id, "type": null, "body": note, "attachment": null,
                            "author": bot(), "created_at": now, "updated_at": now,
                            "system": false, "noteable_id": 9000 + issue.iid,
                            "noteable_type": "Issue", "noteable_iid": issue.iid,
                            "resolvable": false, "confidential": false, "internal": false
                        }),
                    )
                }
                _ => not_found("Issue"),
            }
        }
    }
}
