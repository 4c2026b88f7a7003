//! GitHub's REST contract, from its official OpenAPI description (npm
//! `@octokit/openapi`, installed by `tests/setup/github_openapi.sh`): finds
//! the operation of a request (method + path template), checks its
//! required and typed parameters and its JSON body, and checks an answer
//! against the operation's response schema. OpenAPI 3.0's `nullable` is
//! turned into JSON Schema's `null` type once at load; `$ref`s resolve
//! against the whole document.

use jsonschema::{Draft, Validator};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

const ENV: &str = "CLOSELOOP_GITHUB_OPENAPI";
const BASE: &str = "https://openapi.github.test/api.github.com.json";

pub struct Contract {
    doc: Arc<Value>,
    validators: Mutex<HashMap<String, Arc<Validator>>>,
}

/// The description, loaded once per test binary. Panics (fails the test)
/// with how to install it when it is missing.
pub fn contract() -> &'static Contract {
    static CONTRACT: OnceLock<Contract> = OnceLock::new();
    CONTRACT.get_or_init(|| {
        let path = std::env::var(ENV).unwrap_or_else(|_| {
            panic!(
                "{ENV} is not set: install GitHub's OpenAPI description with \
                 `export \"$(bash tests/setup/github_openapi.sh | grep ^{ENV}=)\"`"
            )
        });
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!("{ENV}={path}: {e}; run `bash tests/setup/github_openapi.sh`")
        });
        let mut doc: Value = serde_json::from_str(&text).expect("the OpenAPI description is JSON");
        nullable_to_null(&mut doc);
        Contract {
            doc: Arc::new(doc),
            validators: Mutex::new(HashMap::new()),
        }
    })
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
                    Value::Array(vec![original, serde_json::json!({"type": "null"})]),
                );
            }
        }
        Value::Array(items) => items.iter_mut().for_each(nullable_to_null),
        _ => {}
    }
}

/// A JSON pointer as a URI fragment: `{`, `}` and the like percent-encoded.
fn fragment(pointer: &str) -> String {
    let mut out = String::new();
    for b in pointer.bytes() {
        if b.is_ascii_alphanumeric() || b"/~-._".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// A request as the fake received it.
pub struct Request<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a [(String, String)],
    pub body: Option<&'a Value>,
}

/// The operation a request matched.
pub struct Operation {
    pub template: String,
    pub method: String,
    pub path_params: HashMap<String, String>,
}

impl Contract {
    fn pointer(&self, pointer: &str) -> Option<&Value> {
        self.doc.pointer(pointer)
    }

    /// Follows a `$ref` at the OpenAPI level (parameters, responses).
    fn deref<'v>(&'v self, value: &'v Value) -> &'v Value {
        match value.get("$ref").and_then(Value::as_str) {
            Some(r) => r
                .strip_prefix('#')
                .and_then(|p| self.pointer(p))
                .unwrap_or(value),
            None => value,
        }
    }

    fn validator(&self, pointer: &str) -> Arc<Validator> {
        let mut cache = self.validators.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(v) = cache.get(pointer) {
            return Arc::clone(v);
        }
        let resource = Draft::Draft4.create_resource(Value::clone(&self.doc));
        let schema = serde_json::json!({ "$ref": format!("{BASE}#{}", fragment(pointer)) });
        let validator = jsonschema::options()
            .with_draft(Draft::Draft4)
            .with_resource(BASE, resource)
            .build(&schema)
            .unwrap_or_else(|e| panic!("schema at {pointer} does not compile: {e}"));
        let validator = Arc::new(validator);
        cache.insert(pointer.to_string(), Arc::clone(&validator));
        validator
    }

    fn check_schema(&self, pointer: &str, instance: &Value, what: &str) -> Result<(), String> {
        let validator = self.validator(pointer);
        let errors: Vec<String> = validator
            .iter_errors(instance)
            .take(5)
            .map(|e| format!("{} at {}", e, e.instance_path))
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(format!("{what} breaks the contract: {}", errors.join("; ")))
        }
    }

    /// Finds the operation and checks the request: parameters present and
    /// of their schema, the JSON body against `requestBody`.
    pub fn check_request(&self, request: &Request<'_>) -> Result<Operation, String> {
        let method = request.method.to_ascii_lowercase();
        let paths = self
            .pointer("/paths")
            .and_then(Value::as_object)
            .ok_or("no paths in the description")?;
        // The most literal template wins (`issues/comments` over
        // `issues/{issue_number}`).
        let (template, path_params) = paths
            .keys()
            .filter(|t| paths[*t].get(&method).is_some())
            .filter_map(|t| match_template(t, request.path).map(|p| (t.clone(), p)))
            .min_by_key(|(_, p)| p.len())
            .ok_or_else(|| {
                format!(
                    "{} {} is no operation of GitHub's API",
                    request.method, request.path
                )
            })?;
        let op_pointer = format!("/paths/{}/{method}", escape(&template));
        let op = self.pointer(&op_pointer).ok_or("operation vanished")?;
        let mut problems = Vec::new();
        let mut params: Vec<&Value> = Vec::new();
        for level in [&paths[&template], op] {
            if let Some(list) = level.get("parameters").and_then(Value::as_array) {
                params.extend(list.iter().map(|p| self.deref(p)));
            }
        }
        for param in &params {
            let name = param["name"].as_str().unwrap_or_default();
            let place = param["in"].as_str().unwrap_or_default();
            let value = match place {
                "path" => path_params.get(name).cloned(),
                "query" => request
                    .query
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone()),
                _ => continue,
            };
            let Some(value) = value else {
                if param["required"] == Value::Bool(true) {
                    problems.push(format!("required {place} parameter {name:?} missing"));
                }
                continue;
            };
            let schema = &param["schema"];
            let typed = match schema.get("type").and_then(Value::as_str) {
                Some("integer") => match value.parse::<i64>() {
                    Ok(n) => Value::from(n),
                    Err(_) => {
                        problems.push(format!(
                            "{place} parameter {name:?}={value:?} is not an integer"
                        ));
                        continue;
                    }
                },
                Some("boolean") => Value::Bool(value == "true"),
                _ => Value::String(value.clone()),
            };
            if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
                if !allowed.contains(&typed) {
                    problems.push(format!(
                        "{place} parameter {name:?}={value:?} not in {allowed:?}"
                    ));
                }
            }
        }
        for (key, _) in request.query {
            let known = params
                .iter()
                .any(|p| p["in"] == "query" && p["name"].as_str() == Some(key.as_str()));
            if !known {
                problems.push(format!("unknown query parameter {key:?}"));
            }
        }
        let body_spec = op.get("requestBody").map(|b| self.deref(b));
        match (body_spec, request.body) {
            (Some(spec), Some(body)) => {
                if spec.pointer("/content/application~1json/schema").is_some() {
                    let pointer =
                        format!("{op_pointer}/requestBody/content/application~1json/schema");
                    if let Err(e) = self.check_schema(&pointer, body, "request body") {
                        problems.push(e);
                    }
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

    /// Checks an answer: the status is documented, and a JSON body
    /// matches the documented schema.
    pub fn check_response(&self, op: &Operation, status: u16, body: &Value) -> Result<(), String> {
        let op_pointer = format!("/paths/{}/{}", escape(&op.template), op.method);
        let responses = self
            .pointer(&format!("{op_pointer}/responses"))
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
        let response = &responses[&key];
        let (schema_pointer, has_schema) = match response.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let p = format!(
                    "{}/content/application~1json/schema",
                    r.trim_start_matches('#')
                );
                let has = self.pointer(&p).is_some();
                (p, has)
            }
            None => {
                let p = format!("{op_pointer}/responses/{key}/content/application~1json/schema");
                let has = self.pointer(&p).is_some();
                (p, has)
            }
        };
        if has_schema {
            self.check_schema(
                &schema_pointer,
                body,
                &format!("{} {} {status} answer", op.method, op.template),
            )?;
        }
        Ok(())
    }
}

/// `{owner}`-style segments match any one non-empty segment.
fn match_template(template: &str, path: &str) -> Option<HashMap<String, String>> {
    let t: Vec<&str> = template.trim_start_matches('/').split('/').collect();
    let p: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if t.len() != p.len() {
        return None;
    }
    let mut params = HashMap::new();
    for (ts, ps) in t.iter().zip(&p) {
        if let Some(name) = ts.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            if ps.is_empty() {
                return None;
            }
            let decoded = percent_decode(ps);
            params.insert(name.to_string(), decoded);
        } else if ts != ps {
            return None;
        }
    }
    Some(params)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
