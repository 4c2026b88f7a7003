//! Prometheus' HTTP query API over the evaluator's window, for Grafana's
//! Prometheus data source and `promtool query`: `/api/v1/query`,
//! `/api/v1/query_range` (GET and POST form), `/api/v1/series`,
//! `/api/v1/labels`, `/api/v1/label/<name>/values`, `/api/v1/metadata`,
//! `/api/v1/status/buildinfo`, `/api/v1/rules`, `/api/v1/alerts`,
//! `/api/v1/format_query`. (closeloop's own alert read model, which
//! includes resolved alerts and suspects, is the projector's
//! `/api/v1/alert-history`.) Each query goes to the evaluator's runner,
//! which owns the window, and is answered between two of its steps.

mod json;
mod params;
mod rules;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use closeloop_evaluator::query::{Answer, Query, QueryRequest, QueryResult};
use params::Params;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// How long a query may wait for the runner before 503 `timeout`.
const QUERY_TIMEOUT: Duration = Duration::from_secs(120);
/// Prometheus' defaults for a missing `start`/`end` of the metadata APIs.
const MIN_TIME_MS: i64 = i64::MIN / 2;
const MAX_TIME_MS: i64 = i64::MAX / 2;

#[derive(Clone)]
pub struct QueryState {
    pub runner: mpsc::Sender<QueryRequest>,
}

pub fn router(state: QueryState) -> Router {
    Router::new()
        .route("/api/v1/query", get(instant).post(instant))
        .route("/api/v1/query_range", get(range).post(range))
        .route("/api/v1/series", get(series).post(series))
        .route("/api/v1/labels", get(label_names).post(label_names))
        .route("/api/v1/label/{name}/values", get(label_values))
        .route("/api/v1/metadata", get(metadata))
        .route("/api/v1/status/buildinfo", get(buildinfo))
        .route("/api/v1/rules", get(rule_groups).post(rule_groups))
        .route("/api/v1/alerts", get(active_alerts))
        .route("/api/v1/format_query", get(format_query).post(format_query))
        .with_state(state)
}

async fn instant(state: State<QueryState>, RawQuery(q): RawQuery, body: Bytes) -> Response {
    ask(&state, q, &body, |p| {
        let now = chrono::Utc::now().timestamp_millis();
        Ok(Query::Instant {
            expr: p.get("query").unwrap_or_default().to_string(),
            time_ms: p.time("time", now)?,
        })
    })
    .await
}

async fn range(state: State<QueryState>, RawQuery(q): RawQuery, body: Bytes) -> Response {
    ask(&state, q, &body, |p| {
        let start_ms = p.required_time("start")?;
        let end_ms = p.required_time("end")?;
        if end_ms < start_ms {
            return Err("end timestamp must not be before start time".into());
        }
        let step_ms = p.duration("step")?;
        if step_ms <= 0 {
            return Err(
                "zero or negative query resolution step widths are not accepted. Try a positive integer"
                    .into(),
            );
        }
        Ok(Query::Range {
            expr: p.get("query").unwrap_or_default().to_string(),
            start_ms,
            end_ms,
            step_ms,
        })
    })
    .await
}

async fn series(state: State<QueryState>, RawQuery(q): RawQuery, body: Bytes) -> Response {
    ask(&state, q, &body, |p| {
        Ok(Query::Series {
            selectors: p.all("match[]"),
            start_ms: p.time("start", MIN_TIME_MS)?,
            end_ms: p.time("end", MAX_TIME_MS)?,
        })
    })
    .await
}

async fn label_names(state: State<QueryState>, RawQuery(q): RawQuery, body: Bytes) -> Response {
    ask(&state, q, &body, |p| {
        Ok(Query::LabelNames {
            selectors: p.all("match[]"),
            start_ms: p.time("start", MIN_TIME_MS)?,
            end_ms: p.time("end", MAX_TIME_MS)?,
        })
    })
    .await
}

async fn label_values(
    state: State<QueryState>,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    if !closeloop_core::pushed::valid_label_name(&name) {
        return json::error(
            StatusCode::BAD_REQUEST,
            "bad_data",
            &format!("invalid label name: \"{name}\""),
        );
    }
    ask(&state, q, &[], |p| {
        Ok(Query::LabelValues {
            name: name.clone(),
            selectors: p.all("match[]"),
            start_ms: p.time("start", MIN_TIME_MS)?,
            end_ms: p.time("end", MAX_TIME_MS)?,
        })
    })
    .await
}

/// Metric metadata, with Prometheus 2.42's parameters: `limit` (metrics;
/// negative or absent: all), `limit_per_metric` (entries; only a positive
/// one limits) and `metric`.
async fn metadata(state: State<QueryState>, RawQuery(q): RawQuery) -> Response {
    ask(&state, q, &[], |p| {
        let number = |name: &str| -> Result<Option<i64>, String> {
            match p.get(name).filter(|s| !s.is_empty()) {
                None => Ok(None),
                Some(text) => text
                    .parse()
                    .map(Some)
                    .map_err(|_| format!("{name} must be a number")),
            }
        };
        let limit = number("limit")?.filter(|n| *n >= 0).map(|n| n as usize);
        let limit_per_metric = number("limit_per_metric")?
            .filter(|n| *n > 0)
            .map(|n| n as usize);
        Ok(Query::Metadata {
            metric: p
                .get("metric")
                .filter(|m| !m.is_empty())
                .map(str::to_string),
            limit,
            limit_per_metric,
        })
    })
    .await
}

/// What Grafana probes to learn what it talks to. closeloop says who it
/// is rather than pretending to be a Prometheus release.
async fn buildinfo() -> Response {
    Json(serde_json::json!({
        "status": "success",
        "data": {
            "version": env!("CARGO_PKG_VERSION"),
            "revision": "",
            "branch": "",
            "buildUser": "closeloop",
            "buildDate": "",
            "goVersion": "none (closeloop, Rust)",
        }
    }))
    .into_response()
}

/// The query pretty-printed as Prometheus' `format_query` does (the
/// parser's prettifier follows Prometheus' layout rules); answered here,
/// without the evaluator.
async fn format_query(RawQuery(q): RawQuery, body: Bytes) -> Response {
    let params = match Params::parse(q.as_deref(), &body) {
        Ok(params) => params,
        Err(message) => return json::error(StatusCode::BAD_REQUEST, "bad_data", &message),
    };
    match closeloop_promql::parse(params.get("query").unwrap_or_default()) {
        Ok(expr) => {
            Json(serde_json::json!({"status": "success", "data": expr.prettify()})).into_response()
        }
        Err(e) => json::error(
            StatusCode::BAD_REQUEST,
            "bad_data",
            &format!("invalid parameter \"query\": {e}"),
        ),
    }
}

async fn rule_groups(state: State<QueryState>, RawQuery(q): RawQuery, body: Bytes) -> Response {
    let filter = match Params::parse(q.as_deref(), &body).and_then(|p| rules::RuleFilter::parse(&p))
    {
        Ok(filter) => filter,
        Err(message) => return json::error(StatusCode::BAD_REQUEST, "bad_data", &message),
    };
    match run(&state, Query::Rules).await {
        Ok(mut result) => {
            if let Ok(Answer::Rules(groups)) = &mut result.answer {
                *groups = filter.apply(std::mem::take(groups));
            }
            json::respond(result)
        }
        Err(response) => response,
    }
}

/// Prometheus' `/api/v1/alerts`: the alerts the rules hold now.
async fn active_alerts(state: State<QueryState>) -> Response {
    match run(&state, Query::Rules).await {
        Ok(result) => json::respond_as(result, |answer| match answer {
            Answer::Rules(groups) => rules::alerts_json(groups),
            other => json::answer_json(other),
        }),
        Err(response) => response,
    }
}

async fn ask(
    state: &QueryState,
    url_query: Option<String>,
    body: &[u8],
    build: impl FnOnce(&Params) -> Result<Query, String>,
) -> Response {
    let query = match Params::parse(url_query.as_deref(), body).and_then(|p| build(&p)) {
        Ok(query) => query,
        Err(message) => return json::error(StatusCode::BAD_REQUEST, "bad_data", &message),
    };
    match run(state, query).await {
        Ok(result) => json::respond(result),
        Err(response) => response,
    }
}

/// Sends `query` to the runner and waits for its answer; the error is
/// the response to give when the runner cannot answer.
async fn run(state: &QueryState, query: Query) -> Result<QueryResult, Response> {
    let (reply, answer) = oneshot::channel();
    if state
        .runner
        .send(QueryRequest { query, reply })
        .await
        .is_err()
    {
        return Err(unavailable());
    }
    match tokio::time::timeout(QUERY_TIMEOUT, answer).await {
        Ok(Ok(result)) => Ok(result),
        Ok(Err(_)) => Err(unavailable()),
        Err(_) => Err(json::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            "query timed out waiting for the evaluator",
        )),
    }
}

fn unavailable() -> Response {
    json::error(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "the evaluator is not running in this process (role evaluator answers queries)",
    )
}
