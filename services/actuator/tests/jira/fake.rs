//! A stateful Jira fake (axum, in-process on port 0, under a `/jira`
//! context path as Data Center is often served) for the Jira adapter, as
//! Cloud (REST v3, ADF, basic auth e-mail + API token) or Data Center
//! (REST v2, wiki markup, bearer personal access token).
//!
//! Every request is checked against Jira's contract (`contract.rs`:
//! operation, parameters, JSON body, create-screen fields, labels) and its
//! headers; every answer against the operation's response schema. A
//! request the real Jira would refuse — an unknown field, a label with a
//! space, a transition the issue's status does not offer, JQL the fake
//! cannot evaluate — is recorded as a violation and refused as Jira would
//! (400 with an error collection), so the adapter sees an error and the
//! test fails on `violations()`.
//!
//! Its workflow: "To Do" --Done(31)--> "Done" --Reopen(41)--> "To Do";
//! the Done transition sets resolution "Done", Reopen clears it. It can
//! throttle (429 + `Retry-After`, Jira Cloud's rate limiting answer).

use super::contract::{self, check_create_fields, check_label, check_rich_text, Flavour};
use crate::openapi::{Operation, Request};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

pub const EMAIL: &str = "closeloop-bot@example.com";
pub const TOKEN: &str = "jira_fake_api_token";
pub const PROJECT: &str = "OPS";
const CONTEXT: &str = "/jira";
const DONE: &str = "Done";
const TODO: &str = "To Do";

#[derive(Debug, Clone)]
pub struct FakeIssue {
    pub id: u64,
    pub key: String,
    pub summary: String,
    /// ADF document (Cloud) or wiki markup string (Data Center).
    pub description: Value,
    pub status: String,
    pub resolution: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub labels: Vec<String>,
    pub assignee: Option<Value>,
    /// Fields set from `custom_fields`.
    pub custom: Map<String, Value>,
    pub comments: Vec<Value>,
}

impl FakeIssue {
    /// The description as text: ADF's text nodes, line breaks and blocks
    /// as new lines (written here apart from the adapter's converter).
    pub fn text(&self) -> String {
        match &self.description {
            Value::String(s) => s.clone(),
            doc => {
                let mut out = String::new();
                adf_text(doc, &mut out);
                out
            }
        }
    }
}

fn adf_text(node: &Value, out: &mut String) {
    match node["type"].as_str() {
        Some("text") => out.push_str(node["text"].as_str().unwrap_or_default()),
        Some("hardBreak") => out.push('\n'),
        _ => {
            for child in node["content"].as_array().into_iter().flatten() {
                adf_text(child, out);
                if child["type"] != "text" && child["type"] != "hardBreak" {
                    out.push('\n');
                }
            }
        }
    }
}

struct Inner {
    flavour: Flavour,
    issues: Vec<FakeIssue>,
    requests: usize,
    violations: Vec<String>,
    throttle_next: u32,
    throttle_every: usize,
    throttled: usize,
    /// The Done transition has a screen asking for the resolution.
    resolution_screen: bool,
}

#[derive(Clone)]
pub struct JiraFake {
    inner: Arc<Mutex<Inner>>,
    pub addr: SocketAddr,
    pub flavour: Flavour,
}

impl JiraFake {
    pub async fn start(flavour: Flavour) -> JiraFake {
        // Load (and fail on a missing description) before serving.
        let _ = contract::contract(flavour);
        let inner = Arc::new(Mutex::new(Inner {
            flavour,
            issues: Vec::new(),
            requests: 0,
            violations: Vec::new(),
            throttle_next: 0,
            throttle_every: 0,
            throttled: 0,
            resolution_screen: false,
        }));
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
        JiraFake {
            inner,
            addr,
            flavour,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}{CONTEXT}", self.addr)
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
    /// As a company-managed workflow: resolving asks for a resolution.
    pub fn resolution_screen(&self, on: bool) {
        self.with(|i| i.resolution_screen = on)
    }
    /// What a person does in the web page: resolve with a resolution.
    pub fn resolve(&self, key: &str, resolution: &str, at: DateTime<Utc>) {
        self.with(|i| {
            if let Some(issue) = i.issues.iter_mut().find(|x| x.key == key) {
                issue.status = DONE.into();
                issue.resolution = Some(resolution.into());
                issue.resolved_at = Some(at);
            }
        })
    }
    pub fn delete(&self, key: &str) {
        self.with(|i| i.issues.retain(|x| x.key != key))
    }
}

fn error_collection(messages: &[&str], errors: Map<String, Value>) -> Value {
    json!({ "errorMessages": messages, "errors": errors })
}

async fn handle(
    State(inner): State<Arc<Mutex<Inner>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let flavour = inner.lock().unwrap_or_else(|p| p.into_inner()).flavour;
    let Some(path) = uri.path().strip_prefix(CONTEXT).map(String::from) else {
        let msg = format!(
            "{method} {}: outside the context path {CONTEXT}",
            uri.path()
        );
        return violation(&inner, msg, StatusCode::NOT_FOUND, Map::new());
    };
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
                return violation(&inner, msg, StatusCode::BAD_REQUEST, Map::new());
            }
        }
    };
    if let Err(msg) = check_headers(flavour, &headers, json_body.is_some()) {
        let msg = format!("{method} {path}: {msg}");
        return violation(&inner, msg, StatusCode::UNAUTHORIZED, Map::new());
    }
    let request = Request {
        method: method.as_str(),
        path: &path,
        query: &query,
        body: json_body.as_ref(),
    };
    let contract = contract::contract(flavour);
    let op = match contract.check_request(&request) {
        Ok(op) => op,
        Err(msg) => return violation(&inner, msg, StatusCode::BAD_REQUEST, Map::new()),
    };
    let served = {
        let mut state = inner.lock().unwrap_or_else(|p| p.into_inner());
        state.requests += 1;
        if throttle(&mut state) {
            let mut response = (
                StatusCode::TOO_MANY_REQUESTS,
                axum::Json(error_collection(&["Rate limit exceeded."], Map::new())),
            )
                .into_response();
            response
                .headers_mut()
                .insert("retry-after", axum::http::HeaderValue::from_static("1"));
            return response;
        }
        serve(&mut state, &op, &query, json_body.as_ref())
    };
    let (status, answer) = match served {
        Ok(answer) => answer,
        Err(Refused {
            status,
            message,
            errors,
        }) => {
            let msg = format!("{method} {path}: {message}");
            return violation(&inner, msg, status, errors);
        }
    };
    if let Err(msg) = contract.check_response(&op, status.as_u16(), answer.as_ref()) {
        return violation(&inner, msg, StatusCode::INTERNAL_SERVER_ERROR, Map::new());
    }
    match answer {
        Some(json) => (status, axum::Json(json)).into_response(),
        None => status.into_response(),
    }
}

fn violation(
    inner: &Arc<Mutex<Inner>>,
    message: String,
    status: StatusCode,
    errors: Map<String, Value>,
) -> Response {
    inner
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .violations
        .push(message.clone());
    (
        status,
        axum::Json(error_collection(&[message.as_str()], errors)),
    )
        .into_response()
}

/// Cloud: basic auth with the account e-mail and an API token
/// (<https://developer.atlassian.com/cloud/jira/platform/basic-auth-for-rest-apis/>).
/// Data Center: a personal access token as bearer
/// (<https://confluence.atlassian.com/enterprise/using-personal-access-tokens-1026032365.html>).
fn check_headers(flavour: Flavour, headers: &HeaderMap, has_body: bool) -> Result<(), String> {
    let get = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    let expected = match flavour {
        Flavour::Cloud => format!("Basic {}", base64(&format!("{EMAIL}:{TOKEN}"))),
        Flavour::DataCenter => format!("Bearer {TOKEN}"),
    };
    if get("authorization") != expected {
        return Err(format!("missing or wrong credentials for {flavour:?}"));
    }
    if !get("accept").contains("application/json") {
        return Err(format!("Accept {:?}, not application/json", get("accept")));
    }
    if has_body && !get("content-type").starts_with("application/json") {
        return Err("JSON body without Content-Type: application/json".into());
    }
    if get("user-agent").is_empty() {
        return Err("no User-Agent".into());
    }
    Ok(())
}

fn base64(text: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in text.as_bytes().chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
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

/// A request the real Jira refuses.
struct Refused {
    status: StatusCode,
    message: String,
    errors: Map<String, Value>,
}

fn refuse(message: impl Into<String>) -> Refused {
    Refused {
        status: StatusCode::BAD_REQUEST,
        message: message.into(),
        errors: Map::new(),
    }
}

type Served = Result<(StatusCode, Option<Value>), Refused>;

fn serve(
    state: &mut Inner,
    op: &Operation,
    query: &[(String, String)],
    body: Option<&Value>,
) -> Served {
    let flavour = state.flavour;
    let route = op
        .template
        .strip_prefix(flavour.prefix())
        .unwrap_or(&op.template)
        .to_string();
    let wanted = requested_fields(query);
    let not_found = Ok((
        StatusCode::NOT_FOUND,
        Some(error_collection(
            &["Issue does not exist or you do not have permission to see it."],
            Map::new(),
        )),
    ));
    let base = format!("https://jira.example{}", flavour.prefix());
    let screen = state.resolution_screen;
    let expanded = query
        .iter()
        .any(|(k, v)| k == "expand" && v.split(',').any(|e| e == "transitions.fields"));
    match (op.method.as_str(), route.as_str()) {
        ("get", "/search/jql") | ("get", "/search") => search(state, query, wanted, &base),
        ("post", "/issue") => create(state, body, &base),
        (method, _) => {
            let key = op.path_params.get("issueIdOrKey").cloned();
            let Some(issue) = key.and_then(|k| {
                state
                    .issues
                    .iter_mut()
                    .find(|i| i.key == k || i.id.to_string() == k)
            }) else {
                return not_found;
            };
            match (method, route.as_str()) {
                ("get", "/issue/{issueIdOrKey}") => Ok((
                    StatusCode::OK,
                    Some(issue_json(flavour, issue, wanted.as_deref(), &base)),
                )),
                ("put", "/issue/{issueIdOrKey}") => edit(issue, body),
                ("post", "/issue/{issueIdOrKey}/comment") => comment(flavour, issue, body, &base),
                ("get", "/issue/{issueIdOrKey}/transitions") => Ok((
                    StatusCode::OK,
                    Some(transitions_json(&issue.status, screen, expanded)),
                )),
                ("post", "/issue/{issueIdOrKey}/transitions") => transition(issue, body, screen),
                _ => Err(refuse(format!(
                    "{method} {route}: an operation the fake does not serve"
                ))),
            }
        }
    }
}

/// `fields=a,b` (repeatable); `None` when absent.
fn requested_fields(query: &[(String, String)]) -> Option<Vec<String>> {
    let fields: Vec<String> = query
        .iter()
        .filter(|(k, _)| k == "fields")
        .flat_map(|(_, v)| v.split(',').map(|f| f.trim().to_string()))
        .collect();
    (!fields.is_empty()).then_some(fields)
}

/// The JQL closeloop sends, and only that:
/// `project = "K" AND (labels = "L" OR description ~ "W") [ORDER BY created DESC]`.
fn parse_jql(jql: &str) -> Option<(String, String, String)> {
    let rest = jql.strip_prefix("project = ")?;
    let (project, rest) = quoted(rest)?;
    let rest = rest.strip_prefix(" AND (labels = ")?;
    let (label, rest) = quoted(rest)?;
    let rest = rest.strip_prefix(" OR description ~ ")?;
    let (word, rest) = quoted(rest)?;
    let rest = rest.strip_prefix(')')?;
    matches!(rest, "" | " ORDER BY created DESC").then_some((project, label, word))
}

/// A JQL string literal at the start of `text`, and what follows.
fn quoted(text: &str) -> Option<(String, &str)> {
    let mut chars = text.strip_prefix('"')?.char_indices();
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?.1),
            '"' => return Some((out, &text[i + 2..])),
            c => out.push(c),
        }
    }
    None
}

fn search(
    state: &mut Inner,
    query: &[(String, String)],
    wanted: Option<Vec<String>>,
    base: &str,
) -> Served {
    let jql = query
        .iter()
        .find(|(k, _)| k == "jql")
        .map(|(_, v)| v.as_str())
        .unwrap_or_default();
    let Some((project, label, word)) = parse_jql(jql) else {
        return Err(refuse(format!("JQL the fake cannot evaluate: {jql:?}")));
    };
    let flavour = state.flavour;
    // The enhanced search (v3) returns only `id` unless `fields` says.
    let wanted = match (flavour, wanted) {
        (Flavour::Cloud, None) => Some(vec!["id".to_string()]),
        (_, w) => w,
    };
    let mut hits: Vec<&FakeIssue> = state
        .issues
        .iter()
        .filter(|_| project == PROJECT)
        .filter(|i| i.labels.contains(&label) || i.text().contains(&word))
        .collect();
    hits.sort_by_key(|i| std::cmp::Reverse(i.id));
    let issues: Vec<Value> = hits
        .iter()
        .map(|i| issue_json(flavour, i, wanted.as_deref(), base))
        .collect();
    Ok((
        StatusCode::OK,
        Some(match flavour {
            Flavour::Cloud => json!({ "issues": issues, "isLast": true }),
            Flavour::DataCenter => json!({
                "expand": "schema,names", "startAt": 0, "maxResults": 100,
                "total": issues.len(), "issues": issues
            }),
        }),
    ))
}

fn create(state: &mut Inner, body: Option<&Value>, base: &str) -> Served {
    let body = body.cloned().unwrap_or_default();
    let Some(fields) = body.get("fields").and_then(Value::as_object) else {
        return Err(refuse("create without `fields`"));
    };
    if let Err(errors) = check_create_fields(state.flavour, PROJECT, fields) {
        return Err(Refused {
            status: StatusCode::BAD_REQUEST,
            message: format!("create refused: {}", Value::Object(errors.clone())),
            errors,
        });
    }
    let id = 10_000 + state.issues.len() as u64 + 1;
    let number = state.issues.len() + 1;
    let custom: Map<String, Value> = fields
        .iter()
        .filter(|(k, _)| k.starts_with("customfield_"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let issue = FakeIssue {
        id,
        key: format!("{PROJECT}-{number}"),
        summary: fields["summary"].as_str().unwrap_or_default().to_string(),
        description: fields.get("description").cloned().unwrap_or(Value::Null),
        status: TODO.into(),
        resolution: None,
        resolved_at: None,
        labels: fields
            .get("labels")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|l| l.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default(),
        assignee: fields.get("assignee").cloned(),
        custom,
        comments: Vec::new(),
    };
    let answer =
        json!({ "id": id.to_string(), "key": issue.key, "self": format!("{base}/issue/{id}") });
    state.issues.push(issue);
    Ok((StatusCode::CREATED, Some(answer)))
}

/// `PUT /issue/{key}`: closeloop only adds and removes labels.
fn edit(issue: &mut FakeIssue, body: Option<&Value>) -> Served {
    let body = body.cloned().unwrap_or_default();
    if body.get("fields").is_some_and(|f| f != &json!({})) {
        return Err(refuse("the fake's edit screen takes only `update.labels`"));
    }
    let update = body["update"].as_object().cloned().unwrap_or_default();
    for (field, ops) in &update {
        if field != "labels" {
            return Err(refuse(format!("Field '{field}' cannot be set")));
        }
        for op in ops.as_array().into_iter().flatten() {
            let (verb, label) = match op.as_object().and_then(|o| o.iter().next()) {
                Some((verb, label)) => (verb.as_str(), label),
                None => return Err(refuse("empty label operation")),
            };
            check_label(label).map_err(refuse)?;
            let label = label.as_str().unwrap_or_default().to_string();
            match verb {
                "add" if !issue.labels.contains(&label) => issue.labels.push(label),
                "add" => {}
                // Removing an absent label is no error in Jira.
                "remove" => issue.labels.retain(|l| *l != label),
                other => return Err(refuse(format!("label operation {other:?}"))),
            }
        }
    }
    Ok((StatusCode::NO_CONTENT, None))
}

fn comment(flavour: Flavour, issue: &mut FakeIssue, body: Option<&Value>, base: &str) -> Served {
    let text = body.map(|b| b["body"].clone()).unwrap_or_default();
    check_rich_text(flavour, &text, "comment body").map_err(refuse)?;
    if text.as_str().is_some_and(|s| s.trim().is_empty()) {
        return Err(refuse("Comment body can not be empty!"));
    }
    issue.comments.push(text.clone());
    let id = issue.id * 100 + issue.comments.len() as u64;
    Ok((
        StatusCode::CREATED,
        Some(json!({
            "self": format!("{base}/issue/{}/comment/{id}", issue.id),
            "id": id.to_string(), "body": text,
            "created": "2026-11-22T00:10:00.000+0000", "updated": "2026-11-22T00:10:00.000+0000"
        })),
    ))
}

/// The transitions a status offers: (id, name, target status).
fn transitions(status: &str) -> Vec<(&'static str, &'static str, &'static str)> {
    if status == DONE {
        vec![("41", "Reopen", TODO)]
    } else {
        vec![
            ("11", "Start Progress", "In Progress"),
            ("31", "Done", DONE),
        ]
    }
}

/// The resolutions the fake's resolution screen offers.
const RESOLUTIONS: [&str; 3] = ["Won't Do", "Done", "Duplicate"];

fn transitions_json(status: &str, screen: bool, expanded: bool) -> Value {
    let listed: Vec<Value> = transitions(status)
        .iter()
        .map(|(id, name, to)| {
            let has_screen = screen && *to == DONE;
            let mut t = json!({
                "id": id, "name": name, "to": status_json(to),
                "hasScreen": has_screen, "isGlobal": false, "isInitial": false,
                "isConditional": false
            });
            // Screen fields are listed only when asked for.
            if expanded {
                let mut fields = Map::new();
                if has_screen {
                    let allowed: Vec<Value> = RESOLUTIONS
                        .iter()
                        .enumerate()
                        .map(|(i, n)| json!({
                            "self": format!("https://jira.example/rest/api/2/resolution/{}", i + 1),
                            "id": (i + 1).to_string(), "name": n
                        }))
                        .collect();
                    fields.insert(
                        "resolution".into(),
                        json!({
                            "required": true,
                            "schema": { "type": "resolution", "system": "resolution" },
                            "name": "Resolution", "key": "resolution",
                            "operations": ["set"], "allowedValues": allowed
                        }),
                    );
                }
                t["fields"] = Value::Object(fields);
            }
            t
        })
        .collect();
    json!({ "expand": "transitions", "transitions": listed })
}

fn transition(issue: &mut FakeIssue, body: Option<&Value>, screen: bool) -> Served {
    let id = body
        .and_then(|b| b.pointer("/transition/id"))
        .and_then(|v| {
            v.as_str()
                .map(String::from)
                .or_else(|| v.as_i64().map(|n| n.to_string()))
        });
    let Some(id) = id else {
        return Err(refuse("a transition request without transition.id"));
    };
    let offered = transitions(&issue.status);
    let Some((_, _, to)) = offered.iter().find(|(tid, _, _)| *tid == id) else {
        return Err(refuse(format!(
            "It seems that you have tried to perform a workflow operation ({id}) that is not \
             valid for the current state of this issue ({})",
            issue.key
        )));
    };
    let has_screen = screen && *to == DONE;
    let fields = body
        .and_then(|b| b.get("fields"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let resolution = fields
        .get("resolution")
        .and_then(|r| r.get("name"))
        .and_then(Value::as_str);
    if let Some(other) = fields.keys().find(|k| !(has_screen && *k == "resolution")) {
        return Err(refuse(format!(
            "Field '{other}' cannot be set. It is not on the appropriate screen, or unknown."
        )));
    }
    if has_screen && !resolution.is_some_and(|r| RESOLUTIONS.contains(&r)) {
        return Err(refuse(format!(
            "the transition's screen requires a resolution of {RESOLUTIONS:?}, got {resolution:?}"
        )));
    }
    issue.status = to.to_string();
    if *to == DONE {
        issue.resolution = Some(resolution.unwrap_or("Done").into());
        issue.resolved_at = Some(Utc::now());
    } else {
        issue.resolution = None;
        issue.resolved_at = None;
    }
    Ok((StatusCode::NO_CONTENT, None))
}

fn status_json(name: &str) -> Value {
    let (id, key, color) = match name {
        DONE => (3, "done", "green"),
        TODO => (2, "new", "blue-gray"),
        _ => (4, "indeterminate", "yellow"),
    };
    json!({
        "self": format!("https://jira.example/rest/api/2/status/{id}"),
        "description": "", "iconUrl": "https://jira.example/images/icons/status.png",
        "name": name, "id": id.to_string(),
        "statusCategory": {
            "self": format!("https://jira.example/rest/api/2/statuscategory/{id}"),
            "id": id, "key": key, "colorName": color, "name": name
        }
    })
}

fn jira_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

fn issue_json(flavour: Flavour, issue: &FakeIssue, wanted: Option<&[String]>, base: &str) -> Value {
    let mut fields = Map::new();
    fields.insert("summary".into(), json!(issue.summary));
    fields.insert("description".into(), issue.description.clone());
    fields.insert("status".into(), status_json(&issue.status));
    fields.insert(
        "resolution".into(),
        match &issue.resolution {
            Some(name) => json!({
                "self": format!("https://jira.example/rest/api/2/resolution/{}", name.len()),
                "id": name.len().to_string(), "description": "", "name": name
            }),
            None => Value::Null,
        },
    );
    fields.insert(
        "resolutiondate".into(),
        issue
            .resolved_at
            .map(jira_time)
            .map_or(Value::Null, Value::String),
    );
    fields.insert("labels".into(), json!(issue.labels));
    fields.insert(
        "assignee".into(),
        issue.assignee.clone().unwrap_or(Value::Null),
    );
    fields.extend(issue.custom.clone());
    if let Some(wanted) = wanted {
        let all = wanted.iter().any(|w| w == "*all" || w == "*navigable");
        if !all {
            fields.retain(|k, _| wanted.contains(k));
        }
    }
    let mut out = json!({
        "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
        "id": issue.id.to_string(),
        "self": format!("{base}/issue/{}", issue.id),
        "key": issue.key,
    });
    // `fields=id` alone (the v3 search default) answers without fields.
    if !(fields.is_empty() && flavour == Flavour::Cloud) {
        out["fields"] = Value::Object(fields);
    }
    out
}
