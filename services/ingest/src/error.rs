//! Every way an ingest request can fail, mapped to a status code in one
//! place: the client's mistakes are 4xx naming what was wrong, a log that
//! cannot take data is 503 with Retry-After (Prometheus retries 5xx but
//! drops 4xx), and internals never leak.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use closeloop_log::LogError;

/// Seconds a client should wait before retrying when the log is busy.
const RETRY_AFTER_SECONDS: &str = "5";

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("event log cannot take data: {0}")]
    LogUnavailable(LogError),
    /// Back-pressure: the evaluator is too far behind (module
    /// `backpressure`); the reason is shown to the client.
    #[error("{0}; retry later")]
    Overloaded(String),
}

impl IngestError {
    pub fn status(&self) -> StatusCode {
        match self {
            IngestError::BadRequest(_) => StatusCode::BAD_REQUEST,
            IngestError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            IngestError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            IngestError::LogUnavailable(_) | IngestError::Overloaded(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }
}

impl From<LogError> for IngestError {
    fn from(err: LogError) -> Self {
        IngestError::LogUnavailable(err)
    }
}

impl IntoResponse for IngestError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            IngestError::LogUnavailable(err) => {
                tracing::warn!(error = %err, "append failed, answering 503");
                "event log cannot take data right now; retry later".to_string()
            }
            other => other.to_string(),
        };
        let body = Json(serde_json::json!({"status": "error", "error": message}));
        if status == StatusCode::SERVICE_UNAVAILABLE {
            (status, [(header::RETRY_AFTER, RETRY_AFTER_SECONDS)], body).into_response()
        } else {
            (status, body).into_response()
        }
    }
}
