//! Remote write 2.0 on `POST /api/v1/write`, chosen by the request's
//! Content-Type as the spec says: `proto=io.prometheus.write.v2.Request`
//! is 2.0, no `proto` or `proto=prometheus.WriteRequest` is 1.0, any other
//! `proto` is 415 so the sender can fall back. The body is validated by
//! the same walk the evaluator appends with, then appended as it came.
//!
//! Answers carry the `X-Prometheus-Remote-Write-{Samples,Histograms,
//! Exemplars}-Written` headers, on errors too. A request whose bytes or
//! symbol references are broken is refused whole (400 naming the series);
//! series with invalid labels, and native histograms, are not written
//! while the rest is: that is a partial write, answered 400 with what was
//! written in the headers (Prometheus does not retry 4xx, and retrying
//! would not help).

use crate::error::IngestError;
use crate::limits;
use crate::metrics;
use crate::remote_write::body_rejection;
use crate::samples_append::append_samples_received;
use crate::IngestState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use closeloop_core::events::{SamplesReceived, REMOTE_WRITE_V2_SNAPPY};
use closeloop_core::remote_write::{self, RemoteWriteError};
use closeloop_core::remote_write_v2::{walk_v2, V2Summary};

const HANDLER: &str = "remote_write_v2";
pub const V2_PROTO: &str = "io.prometheus.write.v2.Request";
const V1_PROTO: &str = "prometheus.WriteRequest";

pub const SAMPLES_WRITTEN: HeaderName =
    HeaderName::from_static("x-prometheus-remote-write-samples-written");
pub const HISTOGRAMS_WRITTEN: HeaderName =
    HeaderName::from_static("x-prometheus-remote-write-histograms-written");
pub const EXEMPLARS_WRITTEN: HeaderName =
    HeaderName::from_static("x-prometheus-remote-write-exemplars-written");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    V1,
    V2,
}

/// The protocol a Content-Type asks for (absent: 1.0, as senders before
/// the 2.0 spec sent none or no `proto`).
pub fn protocol(headers: &HeaderMap) -> Result<Protocol, IngestError> {
    let Some(content_type) = headers.get(header::CONTENT_TYPE) else {
        return Ok(Protocol::V1);
    };
    let content_type = content_type
        .to_str()
        .map_err(|_| IngestError::UnsupportedMediaType("Content-Type is not ASCII".to_string()))?;
    let mut parts = content_type.split(';');
    let media = parts.next().unwrap_or_default().trim();
    if !media.eq_ignore_ascii_case("application/x-protobuf") {
        return Err(IngestError::UnsupportedMediaType(format!(
            "Content-Type {media:?} is not supported; remote write is application/x-protobuf"
        )));
    }
    let proto = parts.find_map(|p| {
        let (name, value) = p.split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("proto")
            .then(|| value.trim().trim_matches('"'))
    });
    match proto {
        None | Some(V1_PROTO) => Ok(Protocol::V1),
        Some(V2_PROTO) => Ok(Protocol::V2),
        Some(other) => Err(IngestError::UnsupportedMediaType(format!(
            "proto={other} is not supported; send {V2_PROTO} or {V1_PROTO}"
        ))),
    }
}

/// The written counts of one answer.
#[derive(Debug, Default, Clone, Copy)]
struct Written {
    samples: u32,
    histograms: u32,
    exemplars: u32,
}

fn with_written(mut response: Response, written: Written) -> Response {
    let headers = response.headers_mut();
    for (name, count) in [
        (SAMPLES_WRITTEN, written.samples),
        (HISTOGRAMS_WRITTEN, written.histograms),
        (EXEMPLARS_WRITTEN, written.exemplars),
    ] {
        headers.insert(name, HeaderValue::from(count));
    }
    response
}

pub async fn receive(
    state: &IngestState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (written, result) = accept(state, headers, body).await;
    let code = match &result {
        Ok(()) => StatusCode::NO_CONTENT,
        Err(err) => err.status(),
    };
    metrics::count_request(HANDLER, code.as_u16());
    let response = match result {
        Ok(()) => code.into_response(),
        Err(err) => err.into_response(),
    };
    with_written(response, written)
}

async fn accept(
    state: &IngestState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> (Written, Result<(), IngestError>) {
    let nothing = Written::default();
    let body = match body {
        Ok(body) => body,
        Err(rejection) => return (nothing, Err(body_rejection(rejection))),
    };
    metrics::RECEIVED_BYTES.inc_by(body.len() as u64);
    if let Some(encoding) = headers.get(header::CONTENT_ENCODING) {
        let encoding = encoding.to_str().unwrap_or_default();
        if !encoding.eq_ignore_ascii_case("snappy") {
            return (
                nothing,
                Err(IngestError::UnsupportedMediaType(format!(
                    "Content-Encoding {encoding:?} is not supported; remote write must be snappy"
                ))),
            );
        }
    }
    let raw = match remote_write::decompress(&body, state.limits.max_decoded_bytes) {
        Ok(raw) => raw,
        Err(err @ RemoteWriteError::TooLarge { .. }) => {
            return (nothing, Err(IngestError::TooLarge(err.to_string())))
        }
        Err(err) => return (nothing, Err(IngestError::BadRequest(err.to_string()))),
    };
    let mut first: Option<Vec<(String, String)>> = None;
    let mut over_limit = None;
    let summary = walk_v2(&raw, |index, series| {
        // The same per-request limits as 1.0: the whole request is
        // refused, naming the limit, before anything is written.
        if over_limit.is_none() {
            over_limit =
                limits::check_series(&state.limits, index, series.labels.iter().copied()).err();
        }
        if first.is_none() {
            first = Some(
                series
                    .labels
                    .iter()
                    .map(|(n, v)| (n.to_string(), v.to_string()))
                    .collect(),
            );
        }
        Ok(())
    });
    let summary: V2Summary = match summary {
        Ok(summary) => summary,
        Err(err) => return (nothing, Err(IngestError::BadRequest(err.to_string()))),
    };
    if let Some(err) = over_limit {
        return (nothing, Err(err));
    }
    metrics::HISTOGRAMS_REFUSED.inc_by(u64::from(summary.histograms_refused));
    metrics::EXEMPLARS_DROPPED.inc_by(u64::from(summary.exemplars_dropped));
    let refusal = summary.refusal_message();
    if summary.series > 0 {
        let payload = SamplesReceived {
            format: REMOTE_WRITE_V2_SNAPPY.to_string(),
            body,
            series: summary.series,
            samples: summary.samples + summary.created_zero_samples,
            metadata: summary.metadata,
            min_timestamp_ms: summary.min_timestamp_ms,
            max_timestamp_ms: summary.max_timestamp_ms,
        };
        let labels = first
            .as_ref()
            .map(|l| l.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        if let Err(err) = append_samples_received(state, payload, labels).await {
            return (nothing, Err(err));
        }
    }
    let written = Written {
        samples: summary.samples,
        histograms: 0,
        exemplars: 0,
    };
    match refusal {
        Some(message) => (
            written,
            Err(IngestError::BadRequest(format!(
                "wrote {} samples of {} series; not written: {message}",
                summary.samples, summary.series
            ))),
        ),
        None => (written, Ok(())),
    }
}
