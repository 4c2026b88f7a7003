//! OTLP/HTTP answers: the response uses the request's encoding; a success
//! is an `ExportMetricsServiceResponse` (with `partial_success` when points
//! were rejected) and a failure a `google.rpc.Status` with the message,
//! as the OTLP/HTTP spec asks, plus Retry-After on 503.

use crate::error::IngestError;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use closeloop_core::otlp::{ExportMetricsPartialSuccess, ExportMetricsServiceResponse};
use prost::Message;

/// Seconds a client should wait before retrying when the log is busy
/// (the same as the other ingest routes).
const RETRY_AFTER_SECONDS: &str = "5";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => "application/x-protobuf",
            Encoding::Json => "application/json",
        }
    }
}

/// `google.rpc.Status`, the body of an OTLP/HTTP error.
#[derive(Clone, PartialEq, Message, serde::Serialize)]
struct Status {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// gRPC status codes named by the OTLP/HTTP spec's mapping.
const INVALID_ARGUMENT: i32 = 3;
const RESOURCE_EXHAUSTED: i32 = 8;
const UNAVAILABLE: i32 = 14;

fn body(encoding: Encoding, status: StatusCode, bytes: Vec<u8>) -> Response {
    let mut response = (status, bytes).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(encoding.content_type()),
    );
    response
}

pub fn success(encoding: Encoding, rejected_points: u64, errors: &[String]) -> Response {
    const SHOWN: usize = 5;
    let partial_success = (rejected_points > 0).then(|| {
        let mut message = errors
            .iter()
            .take(SHOWN)
            .cloned()
            .collect::<Vec<_>>()
            .join("; ");
        if errors.len() > SHOWN {
            message.push_str(&format!("; and {} more", errors.len() - SHOWN));
        }
        ExportMetricsPartialSuccess {
            rejected_data_points: i64::try_from(rejected_points).unwrap_or(i64::MAX),
            error_message: message,
        }
    });
    let message = ExportMetricsServiceResponse { partial_success };
    let bytes = match encoding {
        Encoding::Protobuf => message.encode_to_vec(),
        Encoding::Json => serde_json::to_vec(&message).unwrap_or_default(),
    };
    body(encoding, StatusCode::OK, bytes)
}

pub fn failure(encoding: Encoding, err: &IngestError) -> Response {
    let status = err.status();
    let (code, message) = match err {
        IngestError::LogUnavailable(inner) => {
            tracing::warn!(error = %inner, "append failed, answering 503");
            (
                UNAVAILABLE,
                "event log cannot take data right now; retry later".to_string(),
            )
        }
        IngestError::Overloaded(reason) => (UNAVAILABLE, format!("{reason}; retry later")),
        IngestError::TooLarge(message) => (RESOURCE_EXHAUSTED, message.clone()),
        other => (INVALID_ARGUMENT, other.to_string()),
    };
    let status_message = Status { code, message };
    let bytes = match encoding {
        Encoding::Protobuf => status_message.encode_to_vec(),
        Encoding::Json => serde_json::to_vec(&status_message).unwrap_or_default(),
    };
    let mut response = body(encoding, status, bytes);
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_static(RETRY_AFTER_SECONDS),
        );
    }
    response
}
