//! The Pushgateway API, with prometheus/pushgateway 1.x semantics: pushes
//! in the text exposition format or delimited protobuf become
//! `PushGroupReplaced` / `PushGroupDeleted` / `PushGroupRejected` events
//! of `closeloop.pushgroups`; `GET /api/v1/metrics` lists the groups.

mod api;
mod path;
pub mod protobuf;
mod push;
pub mod text;
mod view;

pub use view::PushView;

use crate::error::IngestError;
use crate::IngestState;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::Router;
use closeloop_core::pushed::PushedFamily;
use closeloop_log::LogError;

/// The Pushgateway's routes, for the ingest router.
pub fn routes() -> Router<IngestState> {
    Router::new()
        .route(
            "/metrics/job/{*rest}",
            put(push::plain).post(push::plain).delete(push::plain),
        )
        .route(
            "/metrics/job@base64/{*rest}",
            put(push::job_base64)
                .post(push::job_base64)
                .delete(push::job_base64),
        )
        .route("/api/v1/metrics", get(api::list_groups))
}

/// Why a push got no 2xx.
#[derive(Debug)]
pub(crate) enum PushError {
    /// 400 with this plain-text reason, as the Pushgateway answers.
    Refused(String),
    Ingest(IngestError),
}

impl From<LogError> for PushError {
    fn from(err: LogError) -> Self {
        PushError::Ingest(IngestError::LogUnavailable(err))
    }
}

impl From<IngestError> for PushError {
    fn from(err: IngestError) -> Self {
        PushError::Ingest(err)
    }
}

impl IntoResponse for PushError {
    fn into_response(self) -> Response {
        match self {
            PushError::Refused(reason) => (
                StatusCode::BAD_REQUEST,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                format!("{reason}\n"),
            )
                .into_response(),
            PushError::Ingest(err) => err.into_response(),
        }
    }
}

/// Parses a push body: delimited protobuf when the Content-Type says
/// `application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily;
/// encoding=delimited`, the text format 0.0.4 otherwise (the Pushgateway's
/// fallback too).
pub(crate) fn parse_body(headers: &HeaderMap, body: &[u8]) -> Result<Vec<PushedFamily>, String> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if is_delimited_protobuf(content_type) {
        protobuf::parse_delimited(body).map_err(|e| e.to_string())
    } else {
        text::parse_text(body).map_err(|e| e.to_string())
    }
}

fn is_delimited_protobuf(content_type: &str) -> bool {
    let mut parts = content_type.split(';').map(str::trim);
    let media = parts.next().unwrap_or_default();
    if !media.eq_ignore_ascii_case("application/vnd.google.protobuf") {
        return false;
    }
    let (mut proto, mut delimited) = (false, false);
    for param in parts {
        let Some((name, value)) = param.split_once('=') else {
            continue;
        };
        let value = value.trim().trim_matches('"');
        match name.trim().to_ascii_lowercase().as_str() {
            "proto" => proto = value == "io.prometheus.client.MetricFamily",
            "encoding" => delimited = value == "delimited",
            _ => {}
        }
    }
    proto && delimited
}

#[cfg(test)]
mod tests {
    use super::is_delimited_protobuf;

    #[test]
    fn protobuf_only_with_both_parameters() {
        assert!(is_delimited_protobuf(
            "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited"
        ));
        assert!(!is_delimited_protobuf(
            "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily"
        ));
        assert!(!is_delimited_protobuf("text/plain; version=0.0.4"));
        assert!(!is_delimited_protobuf(""));
    }
}
