//! Jira's REST contract, for the fake in `fake.rs`.
//!
//! Source: Atlassian's OpenAPI description of the Jira Cloud platform REST
//! API (`/rest/api/2` flavour, OpenAPI 3.0.1, "1001.0.0-SNAPSHOT"), as
//! shipped in the crates.io package `jira-api-v2` 1.0.1 and installed by
//! `tests/setup/jira_openapi.sh` (`CLOSELOOP_JIRA_OPENAPI`); Atlassian
//! publishes it beside the v3 description,
//! <https://developer.atlassian.com/cloud/jira/platform/swagger-v3.v3.json>,
//! which no registry package reachable here carries. So the v3 contract
//! is the v2 one changed where Atlassian's v3 reference says v3 differs:
//!
//! - every path under `/rest/api/3` instead of `/rest/api/2`
//!   (<https://developer.atlassian.com/cloud/jira/platform/rest/v3/intro/>);
//! - rich-text fields (comment `body`, the `description` field) are ADF
//!   documents, not strings
//!   (<https://developer.atlassian.com/cloud/jira/platform/apis/document/structure/>;
//!   the ADF subset below: nodes `doc`, `paragraph`, `codeBlock`, `text`,
//!   `hardBreak`, marks `strong`, `em`, `code`, `textColor`, `link`, from
//!   the node and mark pages there — a text node may not be empty);
//! - `GET /rest/api/3/search` is gone and `GET /rest/api/3/search/jql`
//!   replaces it, with `nextPageToken` paging and only `id` returned
//!   unless `fields` is given
//!   (<https://developer.atlassian.com/changelog/#CHANGE-2046>,
//!   <https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-search/#api-rest-api-3-search-jql-get>).
//!
//! Data Center's REST v2 (<https://docs.atlassian.com/software/jira/docs/api/REST/9.12.0/>)
//! has the same shapes for the operations closeloop uses (search, issue
//! create/get/edit, comment, transitions); it is checked against the v2
//! description.
//!
//! What the description leaves free — `fields` is a free map, its content
//! depends on the project's create screen — is checked by
//! [`check_create_fields`] from the create-issue reference
//! (<https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/#api-rest-api-3-issue-post>):
//! `project`, `summary` (≤ 255 characters) and `issuetype` required,
//! labels without spaces, the assignee by `accountId` on Cloud (user
//! names are gone there: <https://developer.atlassian.com/cloud/jira/platform/deprecation-notice-user-privacy-api-migration-guide/>)
//! and by `name` on Data Center, and no field off the screen.

use crate::openapi::{read_document, OpenApi};
use serde_json::{json, Map, Value};
use std::sync::OnceLock;

pub const ENV: &str = "CLOSELOOP_JIRA_OPENAPI";
const HINT: &str = "install Jira's OpenAPI description with \
     `export \"$(bash tests/setup/jira_openapi.sh | grep ^CLOSELOOP_JIRA_OPENAPI=)\"`";

/// The fake's project screen: the one custom field it has (a select
/// list, set by option id).
pub const SCREEN_CUSTOM_FIELD: &str = "customfield_10010";
pub const ISSUE_TYPES: [&str; 2] = ["Bug", "Task"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// Jira Cloud, REST v3.
    Cloud,
    /// Jira Data Center, REST v2.
    DataCenter,
}

impl Flavour {
    pub fn prefix(self) -> &'static str {
        match self {
            Flavour::Cloud => "/rest/api/3",
            Flavour::DataCenter => "/rest/api/2",
        }
    }
}

/// The contract of one flavour, loaded once per test binary. Fails the
/// test saying how to install the description when it is missing.
pub fn contract(flavour: Flavour) -> &'static OpenApi {
    static V2: OnceLock<OpenApi> = OnceLock::new();
    static V3: OnceLock<OpenApi> = OnceLock::new();
    match flavour {
        Flavour::DataCenter => V2.get_or_init(|| {
            let mut doc = read_document(ENV, HINT);
            add_adf_schemas(&mut doc);
            OpenApi::new("Jira REST v2", "https://openapi.jira.test/v2.json", doc)
        }),
        Flavour::Cloud => V3.get_or_init(|| {
            let doc = v3_document(read_document(ENV, HINT));
            OpenApi::new(
                "Jira Cloud REST v3",
                "https://openapi.jira.test/v3.json",
                doc,
            )
        }),
    }
}

/// The v2 description turned into v3 as the module doc says.
fn v3_document(mut doc: Value) -> Value {
    let paths = doc["paths"].as_object().cloned().unwrap_or_default();
    let mut renamed = Map::new();
    for (path, item) in paths {
        let Some(rest) = path.strip_prefix("/rest/api/2/") else {
            continue;
        };
        renamed.insert(format!("/rest/api/3/{rest}"), item);
    }
    renamed.remove("/rest/api/3/search");
    renamed.insert("/rest/api/3/search/jql".into(), search_jql());
    doc["paths"] = Value::Object(renamed);
    add_adf_schemas(&mut doc);
    doc["components"]["schemas"]["Comment"]["properties"]["body"] =
        json!({ "$ref": "#/components/schemas/AdfDoc" });
    doc
}

/// `GET /rest/api/3/search/jql`, from its reference page.
fn search_jql() -> Value {
    let query =
        |name: &str, schema: Value| json!({ "name": name, "in": "query", "schema": schema });
    let strings = json!({ "type": "array", "items": { "type": "string" } });
    json!({ "get": {
        "operationId": "searchForIssuesUsingJqlEnhancedSearch",
        "parameters": [
            { "name": "jql", "in": "query", "required": true, "schema": { "type": "string" } },
            query("nextPageToken", json!({ "type": "string" })),
            query("maxResults", json!({ "type": "integer", "maximum": 5000 })),
            query("fields", strings.clone()),
            query("expand", json!({ "type": "string" })),
            query("properties", strings),
            query("fieldsByKeys", json!({ "type": "boolean" })),
            query("failFast", json!({ "type": "boolean" })),
            query("reconcileIssues", json!({ "type": "array", "items": { "type": "integer" } }))
        ],
        "responses": {
            "200": { "description": "ok", "content": { "application/json": { "schema": {
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "issues": { "type": "array", "items": { "$ref": "#/components/schemas/IssueBean" } },
                    "isLast": { "type": "boolean" },
                    "nextPageToken": { "type": "string", "nullable": true },
                    "names": { "type": "object" },
                    "schema": { "type": "object" }
                }
            } } } },
            "400": { "description": "invalid JQL" },
            "401": { "description": "no or wrong credentials" }
        }
    } })
}

/// The ADF subset closeloop writes, as component schemas.
fn add_adf_schemas(doc: &mut Value) {
    let r = |name: &str| json!({ "$ref": format!("#/components/schemas/{name}") });
    let kind = |name: &str| json!({ "type": "string", "enum": [name] });
    let schemas = json!({
        "AdfDoc": {
            "type": "object", "required": ["type", "version", "content"],
            "additionalProperties": false,
            "properties": {
                "type": kind("doc"), "version": { "type": "integer", "enum": [1] },
                "content": { "type": "array", "items": r("AdfBlock") }
            }
        },
        "AdfBlock": { "oneOf": [r("AdfParagraph"), r("AdfCodeBlock")] },
        "AdfParagraph": {
            "type": "object", "required": ["type"], "additionalProperties": false,
            "properties": {
                "type": kind("paragraph"), "attrs": { "type": "object" },
                "content": { "type": "array", "items": r("AdfInline") }
            }
        },
        "AdfCodeBlock": {
            "type": "object", "required": ["type"], "additionalProperties": false,
            "properties": {
                "type": kind("codeBlock"),
                "attrs": { "type": "object", "additionalProperties": false,
                           "properties": { "language": { "type": "string" } } },
                "content": { "type": "array", "items": r("AdfPlainText") }
            }
        },
        "AdfInline": { "oneOf": [r("AdfText"), r("AdfHardBreak")] },
        "AdfText": {
            "type": "object", "required": ["type", "text"], "additionalProperties": false,
            "properties": {
                "type": kind("text"), "text": { "type": "string", "minLength": 1 },
                "marks": { "type": "array", "items": r("AdfMark") }
            }
        },
        "AdfPlainText": {
            "type": "object", "required": ["type", "text"], "additionalProperties": false,
            "properties": { "type": kind("text"), "text": { "type": "string", "minLength": 1 } }
        },
        "AdfHardBreak": {
            "type": "object", "required": ["type"], "additionalProperties": false,
            "properties": { "type": kind("hardBreak"), "attrs": { "type": "object" } }
        },
        "AdfMark": { "oneOf": [
            { "type": "object", "required": ["type"], "additionalProperties": false,
              "properties": { "type": { "type": "string", "enum": ["strong", "em", "code", "strike", "underline"] } } },
            { "type": "object", "required": ["type", "attrs"], "additionalProperties": false,
              "properties": { "type": kind("textColor"),
                "attrs": { "type": "object", "required": ["color"], "additionalProperties": false,
                           "properties": { "color": { "type": "string", "pattern": "^#[0-9a-fA-F]{6}$" } } } } },
            { "type": "object", "required": ["type", "attrs"], "additionalProperties": false,
              "properties": { "type": kind("link"),
                "attrs": { "type": "object", "required": ["href"],
                           "properties": { "href": { "type": "string" } } } } }
        ] }
    });
    if let (Some(target), Some(adf)) = (
        doc.pointer_mut("/components/schemas")
            .and_then(Value::as_object_mut),
        schemas.as_object(),
    ) {
        target.extend(adf.clone());
    }
}

/// A rich-text value (description, comment body) of this flavour.
pub fn check_rich_text(flavour: Flavour, value: &Value, what: &str) -> Result<(), String> {
    match flavour {
        Flavour::Cloud => contract(flavour).check_schema("/components/schemas/AdfDoc", value, what),
        Flavour::DataCenter if value.is_string() => Ok(()),
        Flavour::DataCenter => Err(format!("{what}: a string in REST v2, not {value}")),
    }
}

/// A label as Jira takes it: no spaces, at most 255 characters.
pub fn check_label(label: &Value) -> Result<(), String> {
    match label.as_str() {
        Some(l) if !l.is_empty() && l.len() <= 255 && !l.chars().any(char::is_whitespace) => Ok(()),
        _ => Err(format!(
            "label {label} is not a Jira label (no spaces, 1-255 chars)"
        )),
    }
}

/// `fields` of a create request against the fake project's create screen:
/// `Err` carries Jira's `errors` map (field → message).
pub fn check_create_fields(
    flavour: Flavour,
    project: &str,
    fields: &Map<String, Value>,
) -> Result<(), Map<String, Value>> {
    let mut errors = Map::new();
    let mut err = |field: &str, message: String| {
        errors.insert(field.to_string(), Value::String(message));
    };
    if fields["project"].get("key").and_then(Value::as_str) != Some(project) {
        err("project", "valid project is required".into());
    }
    match fields.get("summary").and_then(Value::as_str) {
        Some(s) if !s.trim().is_empty() && s.chars().count() <= 255 => {}
        Some(s) if !s.trim().is_empty() => err(
            "summary",
            "Summary must be less than 255 characters.".into(),
        ),
        _ => err("summary", "You must specify a summary of the issue.".into()),
    }
    let issue_type = fields.get("issuetype").and_then(|t| t.get("name"));
    if !issue_type
        .and_then(Value::as_str)
        .is_some_and(|t| ISSUE_TYPES.contains(&t))
    {
        err("issuetype", "valid issue type is required".into());
    }
    for (name, value) in fields {
        match name.as_str() {
            "project" | "summary" | "issuetype" => {}
            "description" => {
                if let Err(e) = check_rich_text(flavour, value, "description") {
                    err(name, e);
                }
            }
            "labels" => {
                let bad = match value.as_array() {
                    Some(labels) => labels.iter().find_map(|l| check_label(l).err()),
                    None => Some("labels is a list of strings".into()),
                };
                if let Some(e) = bad {
                    err(name, e);
                }
            }
            "assignee" => {
                let by = match flavour {
                    Flavour::Cloud => "accountId",
                    Flavour::DataCenter => "name",
                };
                let ok = value.as_object().is_some_and(|o| {
                    o.len() == 1 && o.get(by).and_then(Value::as_str).is_some()
                });
                if !ok {
                    err(name, format!("the assignee is given as {{\"{by}\": ...}}"));
                }
            }
            SCREEN_CUSTOM_FIELD => {
                if value.get("id").and_then(Value::as_str).is_none() {
                    err(name, "Specify a valid 'id' or 'name' for the option".into());
                }
            }
            other => err(
                other,
                format!(
                    "Field '{other}' cannot be set. It is not on the appropriate screen, or unknown."
                ),
            ),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}
