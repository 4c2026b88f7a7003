//! The read side of the HTTP API: `GET /api/v1/{alerts,deploys,issues,scale-actions,dora}`
//! answered from the read models, in the `{"status": ..., "data": ...}`
//! envelope of Prometheus' HTTP API.

use crate::dora::{dora_figures, window_start, DoraFigures, DoraQuery};
use crate::error::StoreError;
use crate::store::{
    alert_state_name, AlertFilter, DeployFilter, IssueFilter, IssueState, ReadStore,
    ScaleActionFilter, ALERT_STATES, DEFAULT_DEPLOY_LIMIT, MAX_LIMIT,
};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;
use closeloop_core::duration::parse_duration;
use serde::Serialize;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tracing::error;

type Store = Arc<dyn ReadStore>;
type Params = Result<Query<Vec<(String, String)>>, QueryRejection>;

/// The query routes over `store`; the binary merges this into its router.
pub fn query_router(store: Arc<dyn ReadStore>) -> Router {
    Router::new()
        .route("/api/v1/alert-history", get(alerts))
        .route("/api/v1/deploys", get(deploys))
        .route("/api/v1/issues", get(issues))
        .route("/api/v1/scale-actions", get(scale_actions))
        .route("/api/v1/dora", get(dora))
        .with_state(store)
}

/// Every way a query can fail, mapped to a status in one place.
#[derive(Debug)]
enum ApiError {
    /// The client's mistake; the message names the parameter.
    BadRequest(String),
    Store(StoreError),
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        ApiError::Store(err)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            ApiError::BadRequest(message) => (StatusCode::BAD_REQUEST, message),
            ApiError::Store(err) => {
                error!(error = %err, "read model query failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "reading the read models failed".to_string(),
                )
            }
        };
        (status, Json(json!({"status": "error", "error": message}))).into_response()
    }
}

fn success<T: Serialize>(data: T) -> Response {
    Json(json!({"status": "success", "data": data})).into_response()
}

/// Query parameters checked against the ones a route knows: an unknown or
/// repeated parameter is a 400, so a typo does not silently widen a query.
struct Checked(Vec<(String, String)>);

impl Checked {
    fn new(params: Params, known: &[&str]) -> Result<Checked, ApiError> {
        let Query(params) =
            params.map_err(|e| ApiError::BadRequest(format!("invalid query string: {e}")))?;
        for (i, (name, _)) in params.iter().enumerate() {
            if !known.contains(&name.as_str()) {
                return Err(ApiError::BadRequest(format!(
                    "unknown query parameter `{name}` (known: {})",
                    known.join(", ")
                )));
            }
            if params[..i].iter().any(|(earlier, _)| earlier == name) {
                return Err(ApiError::BadRequest(format!(
                    "query parameter `{name}` given more than once"
                )));
            }
        }
        Ok(Checked(params))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// `limit`: 1 to [`MAX_LIMIT`], default [`DEFAULT_DEPLOY_LIMIT`].
    fn limit(&self) -> Result<u32, ApiError> {
        match self.get("limit") {
            None => Ok(DEFAULT_DEPLOY_LIMIT),
            Some(text) => text
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    ApiError::BadRequest(format!(
                        "query parameter `limit` must be an integer from 1 to {MAX_LIMIT}, not {text:?}"
                    ))
                }),
        }
    }

    fn required(&self, name: &str) -> Result<String, ApiError> {
        self.non_empty(name)?
            .ok_or_else(|| ApiError::BadRequest(format!("query parameter `{name}` is required")))
    }

    fn non_empty(&self, name: &str) -> Result<Option<String>, ApiError> {
        match self.get(name) {
            Some("") => Err(ApiError::BadRequest(format!(
                "query parameter `{name}` must not be empty"
            ))),
            other => Ok(other.map(str::to_string)),
        }
    }

    /// One of `choices`, by name.
    fn choice<T: Copy>(
        &self,
        name: &str,
        choices: &[T],
        name_of: impl Fn(T) -> &'static str,
    ) -> Result<Option<T>, ApiError> {
        let Some(given) = self.get(name) else {
            return Ok(None);
        };
        choices
            .iter()
            .copied()
            .find(|c| name_of(*c) == given)
            .map(Some)
            .ok_or_else(|| {
                let names: Vec<&str> = choices.iter().map(|c| name_of(*c)).collect();
                ApiError::BadRequest(format!(
                    "query parameter `{name}` must be one of {}, not {given:?}",
                    names.join(", ")
                ))
            })
    }
}

async fn alerts(State(store): State<Store>, params: Params) -> Response {
    let result = async {
        let params = Checked::new(params, &["state"])?;
        let filter = AlertFilter {
            state: params.choice("state", &ALERT_STATES, alert_state_name)?,
        };
        Ok::<_, ApiError>(store.alerts(&filter).await?)
    };
    match result.await {
        Ok(rows) => success(rows),
        Err(err) => err.into_response(),
    }
}

async fn deploys(State(store): State<Store>, params: Params) -> Response {
    let result = async {
        let params = Checked::new(params, &["service", "environment", "limit"])?;
        let limit = params.limit()?;
        let filter = DeployFilter {
            service: params.non_empty("service")?,
            environment: params.non_empty("environment")?,
            limit,
        };
        Ok::<_, ApiError>(store.deploys(&filter).await?)
    };
    match result.await {
        Ok(rows) => success(rows),
        Err(err) => err.into_response(),
    }
}

async fn issues(State(store): State<Store>, params: Params) -> Response {
    let result = async {
        let params = Checked::new(params, &["state"])?;
        let filter = IssueFilter {
            state: params.choice(
                "state",
                &[IssueState::Open, IssueState::Closed],
                IssueState::as_str,
            )?,
        };
        Ok::<_, ApiError>(store.issues(&filter).await?)
    };
    match result.await {
        Ok(rows) => success(rows),
        Err(err) => err.into_response(),
    }
}

/// Scale actions, newest tick first: the decision (scaler, from, to,
/// query value, raw desired, limits and the limiting policy, a reason
/// line) and what came of it.
async fn scale_actions(State(store): State<Store>, params: Params) -> Response {
    let result = async {
        let params = Checked::new(params, &["scaler", "limit"])?;
        let filter = ScaleActionFilter {
            scaler: params.non_empty("scaler")?,
            limit: params.limit()?,
        };
        Ok::<_, ApiError>(store.scale_actions(&filter).await?)
    };
    match result.await {
        Ok(rows) => success(rows),
        Err(err) => err.into_response(),
    }
}

/// The DORA window when none is given.
const DEFAULT_DORA_WINDOW: &str = "30d";
/// Longer windows reach before any timestamp PostgreSQL stores.
const MAX_DORA_WINDOW: Duration = Duration::from_secs(100 * 365 * 86_400);

#[derive(Serialize)]
struct DoraAnswer {
    service: String,
    environment: String,
    window: String,
    #[serde(flatten)]
    figures: DoraFigures,
}

/// DORA's four keys for one service in one environment over the window
/// ending now (`window` in Prometheus' duration syntax, default 30d).
async fn dora(State(store): State<Store>, params: Params) -> Response {
    let result = async {
        let params = Checked::new(params, &["service", "environment", "window"])?;
        let service = params.required("service")?;
        let environment = params.required("environment")?;
        // Echoed as given: Prometheus would print 30d as 4w2d.
        let window_text = params.get("window").unwrap_or(DEFAULT_DORA_WINDOW);
        let window = parse_duration(window_text)
            .ok()
            .filter(|w| !w.is_zero() && *w <= MAX_DORA_WINDOW)
            .ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "query parameter `window` must be a Prometheus duration from 1ms to 100y (e.g. 30d), not {window_text:?}"
                ))
            })?;
        let now = Utc::now();
        let query = DoraQuery {
            service,
            environment,
            since: window_start(now, window),
            until: now,
        };
        let inputs = store.dora_inputs(&query).await?;
        Ok::<_, ApiError>(DoraAnswer {
            figures: dora_figures(&inputs, now, window),
            service: query.service,
            environment: query.environment,
            window: window_text.to_string(),
        })
    };
    match result.await {
        Ok(answer) => success(answer),
        Err(err) => err.into_response(),
    }
}
