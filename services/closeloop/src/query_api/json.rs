//! Query results in the JSON of Prometheus' HTTP API: `resultType` and
//! `result`, points as `[<unix seconds>, "<value>"]` with the value
//! spelled as Prometheus does (`NaN`, `+Inf`), errors as `status: error`
//! with `errorType` and the status code Prometheus gives each type.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use closeloop_core::pushed::float::prom_format;
use closeloop_evaluator::query::{Answer, QueryErrorKind, QueryResult};
use closeloop_promql::{Labels, Value};
use serde_json::{json, Map, Value as Json_};

pub fn respond(result: QueryResult) -> Response {
    respond_as(result, answer_json)
}

/// [`respond`] with `data` rendered by `render` (one answer, two
/// endpoints: `/api/v1/rules` and `/api/v1/alerts`).
pub fn respond_as(result: QueryResult, render: impl Fn(&Answer) -> Json_) -> Response {
    let data = match result.answer {
        Ok(answer) => render(&answer),
        Err((kind, message)) => {
            let (status, kind) = match kind {
                QueryErrorKind::BadData => (StatusCode::BAD_REQUEST, "bad_data"),
                QueryErrorKind::Execution => (StatusCode::UNPROCESSABLE_ENTITY, "execution"),
            };
            return error(status, kind, &message);
        }
    };
    let mut body = Map::new();
    body.insert("status".into(), json!("success"));
    body.insert("data".into(), data);
    if !result.warnings.is_empty() {
        body.insert("warnings".into(), json!(result.warnings));
    }
    Json(Json_::Object(body)).into_response()
}

pub fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    let body = json!({"status": "error", "errorType": kind, "error": message});
    (status, Json(body)).into_response()
}

pub fn answer_json(answer: &Answer) -> Json_ {
    match answer {
        Answer::Value { value, time_ms } => value_json(value, *time_ms),
        Answer::Series(series) => Json_::Array(series.iter().map(labels_json).collect()),
        Answer::Names(names) => json!(names),
        Answer::Rules(groups) => super::rules::groups_json(groups),
        Answer::Metadata(metrics) => {
            let map: Map<String, Json_> = metrics
                .iter()
                .map(|(name, entries)| {
                    let entries = entries
                        .iter()
                        .map(|m| json!({"type": m.metric_type, "help": m.help, "unit": m.unit}))
                        .collect();
                    (name.clone(), Json_::Array(entries))
                })
                .collect();
            Json_::Object(map)
        }
    }
}

fn value_json(value: &Value, time_ms: i64) -> Json_ {
    let (kind, result) = match value {
        Value::Scalar(v) => ("scalar", point(time_ms, *v)),
        Value::String(s) => ("string", json!([seconds(time_ms), s])),
        Value::Vector(samples) => (
            "vector",
            Json_::Array(
                samples
                    .iter()
                    .map(|s| json!({"metric": labels_json(&s.labels), "value": point(time_ms, s.value)}))
                    .collect(),
            ),
        ),
        Value::Matrix(series) => (
            "matrix",
            Json_::Array(
                series
                    .iter()
                    .map(|s| {
                        let values: Vec<Json_> =
                            s.points.iter().map(|(t, v)| point(*t, *v)).collect();
                        json!({"metric": labels_json(&s.labels), "values": values})
                    })
                    .collect(),
            ),
        ),
    };
    json!({"resultType": kind, "result": result})
}

fn point(time_ms: i64, value: f64) -> Json_ {
    json!([seconds(time_ms), prom_format(value)])
}

/// Unix seconds with the milliseconds as a fraction, as Prometheus writes.
fn seconds(time_ms: i64) -> Json_ {
    if time_ms % 1000 == 0 {
        json!(time_ms / 1000)
    } else {
        json!(time_ms as f64 / 1000.0)
    }
}

fn labels_json(labels: &Labels) -> Json_ {
    let map: Map<String, Json_> = labels
        .iter()
        .map(|(n, v)| (n.to_string(), json!(v)))
        .collect();
    Json_::Object(map)
}
