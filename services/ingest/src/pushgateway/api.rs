//! `GET /api/v1/metrics`: every group with its families, in the shape
//! the Pushgateway's API v1 answers (`api/v1/api.go`): per group its
//! `labels`, `last_push_successful` and one entry per family name with
//! `time_stamp`, `type`, `help` and `metrics`; values are strings as Go's
//! `fmt.Sprint` writes floats.

use crate::IngestState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::SecondsFormat;
use closeloop_core::pushed::float::go_format;
use closeloop_core::pushed::groups::PushGroup;
use closeloop_core::pushed::{PushedFamily, PushedValue};
use closeloop_core::time::from_millis;
use serde_json::{json, Map, Value};

pub async fn list_groups(State(state): State<IngestState>) -> Response {
    let mut view = state.push_view.lock().await;
    if let Err(err) = view.catch_up(&*state.log, &state.topic_prefix).await {
        tracing::warn!(error = %err, "pushgroups not readable");
        let body = json!({"status": "error", "errorType": "unavailable", "error": "event log cannot be read right now; retry later"});
        return (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response();
    }
    let data: Vec<Value> = view.groups().groups().map(group_json).collect();
    Json(json!({"status": "success", "data": data})).into_response()
}

fn group_json(group: &PushGroup) -> Value {
    let mut out = Map::new();
    out.insert("labels".into(), json!(group.grouping));
    out.insert(
        "last_push_successful".into(),
        json!(group.last_push_successful()),
    );
    for (family, at_ms) in group.exposed_families() {
        let at = from_millis(at_ms).to_rfc3339_opts(SecondsFormat::AutoSi, true);
        let mut entry = Map::new();
        entry.insert("time_stamp".into(), json!(at));
        entry.insert("type".into(), json!(family.kind.proto_name()));
        if !family.help.is_empty() {
            entry.insert("help".into(), json!(family.help));
        }
        entry.insert("metrics".into(), Value::Array(metrics_json(group, &family)));
        out.insert(family.name.clone(), Value::Object(entry));
    }
    Value::Object(out)
}

fn metrics_json(group: &PushGroup, family: &PushedFamily) -> Vec<Value> {
    family
        .metrics
        .iter()
        .map(|metric| {
            let mut out = Map::new();
            out.insert("labels".into(), json!(group.exposed_labels(metric)));
            match &metric.value {
                PushedValue::Value(v) => {
                    out.insert("value".into(), json!(go_format(v.0)));
                }
                PushedValue::Summary {
                    count,
                    sum,
                    quantiles,
                } => {
                    let q: Map<String, Value> = quantiles
                        .iter()
                        .map(|(q, v)| (go_format(q.0), json!(go_format(v.0))))
                        .collect();
                    out.insert("quantiles".into(), Value::Object(q));
                    out.insert("count".into(), json!(go_format(count.0)));
                    out.insert("sum".into(), json!(go_format(sum.0)));
                }
                PushedValue::Histogram {
                    count,
                    sum,
                    buckets,
                } => {
                    let b: Map<String, Value> = buckets
                        .iter()
                        .map(|(le, c)| (go_format(le.0), json!(go_format(c.0))))
                        .collect();
                    out.insert("buckets".into(), Value::Object(b));
                    out.insert("count".into(), json!(go_format(count.0)));
                    out.insert("sum".into(), json!(go_format(sum.0)));
                }
            }
            Value::Object(out)
        })
        .collect()
}
