//! `POST /v1/metrics`: OTLP/HTTP metrics, binary protobuf
//! (`application/x-protobuf`) or JSON (`application/json`), optionally
//! gzipped (`Content-Encoding: gzip`). The body is translated once here to
//! validate and count it, then appended as it came with its format
//! (`SamplesReceived`, like remote write): the evaluator translates it again
//! downstream with the same function, so a replay sees what the sender
//! said, under the translation rules of the binary that replays.

mod response;

use crate::error::IngestError;
use crate::limits;
use crate::metrics;
use crate::remote_write::body_rejection;
use crate::samples_append::append_samples_received;
use crate::IngestState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::Response;
use closeloop_core::events::{
    SamplesReceived, GZIP_SUFFIX, OTLP_METRICS_JSON, OTLP_METRICS_PROTOBUF,
};
use closeloop_core::otlp::OtlpError;
use closeloop_core::received::{translate_otlp, ReceivedError};
use response::Encoding;

const HANDLER: &str = "otlp";

/// The encoding the Content-Type names (415 for any other).
fn encoding_of(headers: &HeaderMap) -> Result<Encoding, IngestError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let media = content_type.split(';').next().unwrap_or_default().trim();
    if media.eq_ignore_ascii_case("application/x-protobuf") {
        Ok(Encoding::Protobuf)
    } else if media.eq_ignore_ascii_case("application/json") {
        Ok(Encoding::Json)
    } else {
        Err(IngestError::UnsupportedMediaType(format!(
            "Content-Type {content_type:?} is not supported; OTLP/HTTP is application/x-protobuf or application/json"
        )))
    }
}

fn gzipped(headers: &HeaderMap) -> Result<bool, IngestError> {
    let Some(encoding) = headers.get(header::CONTENT_ENCODING) else {
        return Ok(false);
    };
    let encoding = encoding.to_str().unwrap_or_default().trim();
    if encoding.eq_ignore_ascii_case("gzip") {
        Ok(true)
    } else if encoding.eq_ignore_ascii_case("identity") || encoding.is_empty() {
        Ok(false)
    } else {
        Err(IngestError::UnsupportedMediaType(format!(
            "Content-Encoding {encoding:?} is not supported; send gzip or none"
        )))
    }
}

pub async fn receive(
    State(state): State<IngestState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    // Until the Content-Type is known, answer in protobuf, OTLP's default.
    let encoding = match encoding_of(&headers) {
        Ok(encoding) => encoding,
        Err(err) => return answer_failure(Encoding::Protobuf, err),
    };
    match accept(&state, &headers, encoding, body).await {
        Ok((rejected, errors)) => {
            metrics::count_request(HANDLER, 200);
            response::success(encoding, rejected, &errors)
        }
        Err(err) => answer_failure(encoding, err),
    }
}

fn answer_failure(encoding: Encoding, err: IngestError) -> Response {
    metrics::count_request(HANDLER, err.status().as_u16());
    response::failure(encoding, &err)
}

/// Returns the rejected point count and why.
async fn accept(
    state: &IngestState,
    headers: &HeaderMap,
    encoding: Encoding,
    body: Result<Bytes, BytesRejection>,
) -> Result<(u64, Vec<String>), IngestError> {
    let body = body.map_err(body_rejection)?;
    metrics::RECEIVED_BYTES.inc_by(body.len() as u64);
    let mut format = match encoding {
        Encoding::Protobuf => OTLP_METRICS_PROTOBUF,
        Encoding::Json => OTLP_METRICS_JSON,
    }
    .to_string();
    if gzipped(headers)? {
        format.push_str(GZIP_SUFFIX);
    }
    let translated = translate_otlp(&format, &body, state.limits.max_decoded_bytes).map_err(
        |err| match err {
            ReceivedError::Otlp(OtlpError::TooLarge { .. }) => {
                IngestError::TooLarge(err.to_string())
            }
            other => {
                IngestError::BadRequest(format!("not a valid ExportMetricsServiceRequest: {other}"))
            }
        },
    )?;
    for (index, series) in translated.series.iter().enumerate() {
        let labels = series.labels.iter().map(|(n, v)| (n.as_str(), v.as_str()));
        limits::check_series(&state.limits, index, labels)?;
    }
    metrics::OTLP_POINTS_REJECTED.inc_by(translated.rejected_points);
    if let Some(first) = translated.series.first() {
        let (min, max) = translated.min_max_timestamp_ms().unzip();
        let payload = SamplesReceived {
            format,
            body,
            series: translated.series.len() as u32,
            samples: translated.samples() as u32,
            metadata: 0,
            min_timestamp_ms: min,
            max_timestamp_ms: max,
        };
        let labels = first.labels.iter().map(|(n, v)| (n.as_str(), v.as_str()));
        append_samples_received(state, payload, Some(labels)).await?;
    }
    Ok((translated.rejected_points, translated.errors))
}
