//! Alertmanager's API v2 over closeloop's alerts and silences, for
//! `amtool` and Grafana's Alertmanager data source (shapes from
//! Alertmanager's `api/v2/openapi.yaml`): `GET /api/v2/alerts`,
//! `GET /api/v2/alerts/groups`, `GET|POST /api/v2/silences`,
//! `GET|DELETE /api/v2/silence/{id}`, `GET /api/v2/status`,
//! `GET /api/v2/receivers`. Silences are `SilenceSet`/`SilenceExpired`
//! events of `closeloop.silences`; the actuator honours them.

mod alerts;
mod silences;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use closeloop_actuator::inhibit::InhibitRule;
use closeloop_actuator::silences::SilenceView;
use closeloop_actuator::RouteTree;
use closeloop_log::EventLog;
use closeloop_projector::ReadStore;
use std::sync::Arc;
use tokio::sync::Mutex;

#[derive(Clone)]
pub struct AlertmanagerState {
    pub log: Arc<dyn EventLog>,
    pub prefix: String,
    pub store: Arc<dyn ReadStore>,
    pub tree: Arc<RouteTree>,
    pub receivers: Arc<Vec<String>>,
    /// The route and receivers as configured, for `/api/v2/status`.
    pub config_text: Arc<String>,
    pub started: chrono::DateTime<chrono::Utc>,
    /// Silences as of the last catch-up; one lock orders writers.
    pub silences: Arc<Mutex<SilenceView>>,
    pub inhibit_rules: Arc<Vec<InhibitRule>>,
}

pub fn router(state: AlertmanagerState) -> Router {
    Router::new()
        .route("/api/v2/alerts", get(alerts::list))
        .route("/api/v2/alerts/groups", get(alerts::groups))
        .route("/api/v2/silences", get(silences::list).post(silences::post))
        .route(
            "/api/v2/silence/{id}",
            get(silences::get_one).delete(silences::delete),
        )
        .route("/api/v2/status", get(status))
        .route("/api/v2/receivers", get(receivers))
        .with_state(state)
}

/// Alertmanager answers errors as a JSON string.
pub(crate) fn error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(serde_json::Value::from(message))).into_response()
}

async fn status(axum::extract::State(state): axum::extract::State<AlertmanagerState>) -> Response {
    axum::Json(serde_json::json!({
        "cluster": {"status": "disabled", "peers": []},
        "versionInfo": {
            "version": env!("CARGO_PKG_VERSION"),
            "revision": "",
            "branch": "",
            "buildUser": "closeloop",
            "buildDate": "",
            "goVersion": "none (closeloop, Rust)",
        },
        "config": {"original": state.config_text.as_str()},
        "uptime": state.started.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    }))
    .into_response()
}

async fn receivers(
    axum::extract::State(state): axum::extract::State<AlertmanagerState>,
) -> Response {
    let names: Vec<serde_json::Value> = state
        .receivers
        .iter()
        .map(|name| serde_json::json!({"name": name}))
        .collect();
    axum::Json(names).into_response()
}
