//! A checker for an OpenAPI 3.0 description, for fakes of trackers that
//! publish one: finds the operation of a request (method + path
//! template), checks its path and query parameters (presence, type,
//! enum, no unknown ones) and its JSON body against `requestBody`, and an
//! answer against the documented status and schema. `nullable` becomes
//! JSON Schema's `null` type once at load; `$ref`s resolve against the
//! whole document. Used by the Jira fake (`tests/jira/contract.rs`).

#![allow(dead_code)]

use jsonschema::{Draft, Validator};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub struct OpenApi {
    /// For messages: "Jira Cloud REST v3".
    name: String,
    /// A made-up URI the document is registered under, for `$ref`s.
    base: String,
    doc: Arc<Value>,
    validators: Mutex<HashMap<String, Arc<Validator>>>,
}

/// A request as a fake received it.
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a [(String, String)],
    pub body: Option<&'a Value>,
}

/// The operation a request matched.
#[derive(Debug, Clone)]
pub struct Operation {
    pub template: String,
    /// Lower case, as in the document.
    pub method: String,
    pub path_params: HashMap<String, String>,
}

/// Reads the JSON document at `$env`, failing the test with `hint` (how
/// to install it) when the variable or the file is missing.
pub fn read_document(env: &str, hint: &str) -> Value {
    let path = std::env::var(env).unwrap_or_else(|_| panic!("{env} is not set: {hint}"));
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{env}={path}: {e}; {hint}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{env}={path} is not JSON: {e}"))
}

impl OpenApi {
    pub fn new(name: &str, base: &str, mut doc: Value) -> OpenApi {
        nullable_to_null(&mut doc);
        OpenApi {
            name: name.to_string(),
            base: base.to_string(),
            doc: Arc::new(doc),
            validators: Mutex::new(HashMap::new()),
        }
    }

    fn at(&self, pointer: &str) -> Option<&Value> {
        self.doc.pointer(pointer)
    }

    /// An OpenAPI-level `$ref` (parameter, response, body) followed once.
    fn resolve<'v>(&'v self, value: &'v Value) -> &'v Value {
        value
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix('#'))
            .and_then(|p| self.at(p))
            .unwrap_or(value)
    }

    fn validator(&self, pointer: &str) -> Arc<Validator> {
        let mut cache = self.validators.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(v) = cache.get(pointer) {
            return Arc::clone(v);
        }
        let resource = Draft::Draft4.create_resource(Value::clone(&self.doc));
        let schema = json!({ "$ref": format!("{}#{}", self.base, uri_fragment(pointer)) });
        let validator = jsonschema::options()
            .with_draft(Draft::Draft4)
            .with_resource(self.base.as_str(), resource)
            // Jira writes times as `2026-11-22T00:10:00.000+0000`, which
            // its own `format: date-time` (RFC 3339) would refuse: formats
            // are descriptive here, the types and shapes are checked.
            .should_validate_formats(false)
            .build(&schema)
            .unwrap_or_else(|e| panic!("schema at {pointer} does not compile: {e}"));
        let validator = Arc::new(validator);
        cache.insert(pointer.to_string(), Arc::clone(&validator));
        validator
    }

    /// Checks `instance` against the schema at `pointer` in the document.
    pub fn check_schema(&self, pointer: &str, instance: &Value, what: &str) -> Result<(), String> {
        let errors: Vec<String> = self
            .validator(pointer)
            .iter_errors(instance)
            .take(5)
            .map(|e| format!("{e} at {}", e.instance_path))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(format!("{what} breaks the contract: {}", errors.join("; ")))
        }
    }

    pub fn check_request(&self, request: &Request<'_>) -> Result<Operation, String> {
        let method = request.method.to_ascii_lowercase();
        let paths = self
            .at("/paths")
            .and_then(Value::as_object)
            .ok_or("no paths in the description")?;
        // The most literal template wins (`issue/bulk` over
        // `issue/{issueIdOrKey}`).
        let (template, path_params) = paths
            .iter()
            .filter(|(_, item)| item.get(&method).is_some())
            .filter_map(|(t, _)| match_template(t, request.path).map(|p| (t.clone(), p)))
            .min_by_key(|(_, p)| p.len())
            .ok_or_else(|| {
                format!(
                    "{} {} is no operation of {}",
                    request.method, request.path, self.name
                )
            })?;
        let op_pointer = format!("/paths/{}/{method}", pointer_token(&template));
        let op = self.at(&op_pointer).ok_or("operation vanished")?;
        let mut params: Vec<&Value> = Vec::new();
        for level in [&paths[&template], op] {
            if let Some(list) = level.get("parameters").and_then(Value::as_array) {
                params.extend(list.iter().map(|p| self.resolve(p)));
            }
        }
        let mut problems = Vec::new();
        for param in &params {
            check_parameter(param, &path_params, request.query, &mut problems);
        }
        for (key, _) in request.query {
            let known = params
                .iter()
                .any(|p| p["in"] == "query" && p["name"].as_str() == Some(key.as_str()));
            if !known {
                problems.push(format!("unknown query parameter {key:?}"));
            }
        }
        let body_spec = op.get("requestBody").map(|b| self.resolve(b));
        match (body_spec, request.body) {
            (Some(spec), Some(body)) => {
                if let Some(schema) = spec.pointer("/content/application~1json/schema") {
                    // Check through a pointer so `$ref`s inside resolve.
                    let pointer = match schema.get("$ref").and_then(Value::as_str) {
                        Some(r) => r.trim_start_matches('#').to_string(),
                        None => {
                            format!("{op_pointer}/requestBody/content/application~1json/schema")
                        }
                    };
                    if let Err(e) = self.check_schema(&pointer, body, "request body") {
                        problems.push(e);
                    }
                } else {
                    problems.push("a JSON body where the operation takes another type".into());
                }
            }
            (Some(spec), None) if spec["required"] == Value::Bool(true) => {
                problems.push("required request body missing".into())
            }
            (None, Some(_)) => problems.push("a body where the operation takes none".into()),
            _ => {}
        }
        if problems.is_empty() {
            Ok(Operation {
                template,
                method,
                path_params,
            })
        } else {
            Err(format!(
                "{} {}: {}",
                request.method,
                request.path,
                problems.join("; ")
            ))
        }
    }

    /// Checks an answer: its status is documented for the operation, and
    /// a body matches the documented schema (`None`: no body, as 204).
    pub fn check_response(
        &self,
        op: &Operation,
        status: u16,
        body: Option<&Value>,
    ) -> Result<(), String> {
        let op_pointer = format!("/paths/{}/{}", pointer_token(&op.template), op.method);
        let responses = self
            .at(&format!("{op_pointer}/responses"))
            .and_then(Value::as_object)
            .ok_or("operation without responses")?;
        let code = status.to_string();
        let key = if responses.contains_key(&code) {
            code
        } else if responses.contains_key("default") {
            "default".to_string()
        } else {
            return Err(format!(
                "{} {}: status {status} is not documented",
                op.method, op.template
            ));
        };
        let response = self.resolve(&responses[&key]);
        // An empty schema (`{}`, as Jira documents its 204s) allows no
        // body as well as any.
        let schema = response
            .pointer("/content/application~1json/schema")
            .filter(|s| s.as_object().is_none_or(|o| !o.is_empty()) || body.is_some());
        match (schema, body) {
            (Some(schema), Some(body)) => {
                let pointer = match schema.get("$ref").and_then(Value::as_str) {
                    Some(r) => r.trim_start_matches('#').to_string(),
                    None => {
                        format!("{op_pointer}/responses/{key}/content/application~1json/schema")
                    }
                };
                self.check_schema(
                    &pointer,
                    body,
                    &format!("{} {} {status} answer", op.method, op.template),
                )
            }
            (Some(_), None) if status < 300 => Err(format!(
                "{} {} {status}: the documented body is missing",
                op.method, op.template
            )),
            (None, Some(_)) if status < 300 => Err(format!(
                "{} {} {status}: a body where none is documented",
                op.method, op.template
            )),
            _ => Ok(()),
        }
    }
}

fn check_parameter(
    param: &Value,
    path_params: &HashMap<String, String>,
    query: &[(String, String)],
    problems: &mut Vec<String>,
) {
    let name = param["name"].as_str().unwrap_or_default();
    let place = param["in"].as_str().unwrap_or_default();
    let values: Vec<&String> = match place {
        "path" => path_params.get(name).into_iter().collect(),
        "query" => query
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v)
            .collect(),
        _ => return,
    };
    if values.is_empty() {
        if param["required"] == Value::Bool(true) {
            problems.push(format!("required {place} parameter {name:?} missing"));
        }
        return;
    }
    let schema = &param["schema"];
    let (kind, items) = match schema["type"].as_str() {
        // Arrays go as `a,b` or repeated (`style: form`).
        Some("array") => (schema["items"]["type"].as_str(), &schema["items"]),
        other => (other, schema),
    };
    let singles: Vec<&str> = if schema["type"] == "array" {
        values.iter().flat_map(|v| v.split(',')).collect()
    } else {
        if values.len() > 1 {
            problems.push(format!("{place} parameter {name:?} given more than once"));
        }
        values.iter().map(|v| v.as_str()).collect()
    };
    for value in singles {
        let typed = match kind {
            Some("integer") => match value.parse::<i64>() {
                Ok(n) => Value::from(n),
                Err(_) => {
                    problems.push(format!(
                        "{place} parameter {name:?}={value:?} is not an integer"
                    ));
                    continue;
                }
            },
            Some("boolean") => match value {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => {
                    problems.push(format!(
                        "{place} parameter {name:?}={value:?} is not true/false"
                    ));
                    continue;
                }
            },
            _ => Value::String(value.to_string()),
        };
        if let Some(allowed) = items.get("enum").and_then(Value::as_array) {
            if !allowed.contains(&typed) {
                problems.push(format!(
                    "{place} parameter {name:?}={value:?} not in {allowed:?}"
                ));
            }
        }
        if let (Some(max), Some(n)) = (items["maximum"].as_i64(), typed.as_i64()) {
            if n > max {
                problems.push(format!("{place} parameter {name:?}={n} above {max}"));
            }
        }
    }
}

/// OpenAPI 3.0 `nullable: true` as JSON Schema: `null` also allowed.
fn nullable_to_null(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for child in map.values_mut() {
                nullable_to_null(child);
            }
            if map.remove("nullable") == Some(Value::Bool(true)) {
                let original = Value::Object(std::mem::take(map));
                map.insert(
                    "anyOf".into(),
                    Value::Array(vec![original, json!({"type": "null"})]),
                );
            }
        }
        Value::Array(items) => items.iter_mut().for_each(nullable_to_null),
        _ => {}
    }
}

/// A JSON pointer as a URI fragment: `{`, `}` and the like escaped.
fn uri_fragment(pointer: &str) -> String {
    pointer
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"/~-._".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// One JSON pointer token (`/` and `~` escaped).
pub fn pointer_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// `{name}` segments match any one non-empty segment, percent-decoded.
fn match_template(template: &str, path: &str) -> Option<HashMap<String, String>> {
    let t: Vec<&str> = template.trim_start_matches('/').split('/').collect();
    let p: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if t.len() != p.len() {
        return None;
    }
    let mut params = HashMap::new();
    for (ts, ps) in t.iter().zip(&p) {
        match ts.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(_) if ps.is_empty() => return None,
            Some(name) => {
                params.insert(name.to_string(), percent_decode(ps));
            }
            None if ts != ps => return None,
            None => {}
        }
    }
    Some(params)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = text
            .get(i + 1..i + 3)
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
