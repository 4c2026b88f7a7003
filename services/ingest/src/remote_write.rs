//! `POST /api/v1/write`: Prometheus remote write 1.0 (snappy block +
//! protobuf). The body is validated by decoding it, then appended as it
//! came; the evaluator decodes it again downstream.

use crate::error::IngestError;
use crate::limits;
use crate::metrics;
use crate::remote_write_v2::Protocol;
use crate::IngestState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use closeloop_core::events::{SamplesReceived, REMOTE_WRITE_V1_SNAPPY};
use closeloop_core::remote_write::{self, RemoteWriteError};
use closeloop_core::remote_write_walk;
use closeloop_core::time::from_millis;
use closeloop_core::topics::Topic;
use closeloop_core::{fingerprint_sorted, Event, EventPayload};
use closeloop_log::NewRecord;
use std::time::Instant;

const HANDLER: &str = "remote_write";

pub async fn receive(
    State(state): State<IngestState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match crate::remote_write_v2::protocol(&headers) {
        Ok(Protocol::V1) => {}
        Ok(Protocol::V2) => return crate::remote_write_v2::receive(&state, &headers, body).await,
        Err(err) => {
            metrics::count_request(HANDLER, err.status().as_u16());
            return err.into_response();
        }
    }
    let result = accept(&state, &headers, body).await;
    let code = match &result {
        Ok(()) => StatusCode::NO_CONTENT,
        Err(err) => err.status(),
    };
    metrics::count_request(HANDLER, code.as_u16());
    match result {
        Ok(()) => code.into_response(),
        Err(err) => err.into_response(),
    }
}

async fn accept(
    state: &IngestState,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(), IngestError> {
    let body = body.map_err(body_rejection)?;
    metrics::RECEIVED_BYTES.inc_by(body.len() as u64);
    check_headers(headers)?;
    let raw =
        remote_write::decompress(&body, state.limits.max_decoded_bytes).map_err(
            |err| match err {
                RemoteWriteError::TooLarge { .. } => IngestError::TooLarge(err.to_string()),
                other => IngestError::BadRequest(other.to_string()),
            },
        )?;
    let mut key = None;
    let mut over_limit = None;
    let summary = remote_write_walk::walk(&raw, |index, series| {
        remote_write::validate_labels(index, series.labels.iter().copied())?;
        if let Err(err) = limits::check_series(&state.limits, index, series.labels.iter().copied())
        {
            over_limit = Some(err);
            return Err(RemoteWriteError::Wire("over a configured limit"));
        }
        // Prometheus shards by series, so the first series stands for the batch.
        if key.is_none() {
            key = Some(fingerprint_sorted(series.labels.iter().copied()).to_string());
        }
        Ok(())
    })
    .map_err(|e| {
        over_limit
            .take()
            .unwrap_or(IngestError::BadRequest(e.to_string()))
    })?;

    let now = (state.clock)();
    // Event time of a batch is its newest sample; metadata-only requests
    // carry no time of their own, so they take the time they arrived.
    let occurred_at = summary.max_timestamp_ms.map(from_millis).unwrap_or(now);
    let key = key.unwrap_or_else(|| "metadata".to_string());
    let payload = SamplesReceived {
        format: REMOTE_WRITE_V1_SNAPPY.to_string(),
        body,
        series: summary.series,
        samples: summary.samples,
        metadata: summary.metadata,
        min_timestamp_ms: summary.min_timestamp_ms,
        max_timestamp_ms: summary.max_timestamp_ms,
    };
    let event = Event::new(
        EventPayload::SamplesReceived(payload),
        "ingest",
        key,
        occurred_at,
        now,
    );
    let topic = Topic::Samples.name(&state.topic_prefix);
    let record = NewRecord {
        key: event.envelope.key.clone().into_bytes().into(),
        value: event.to_json().into(),
        timestamp_ms: occurred_at.timestamp_millis(),
    };
    state.refuse_if_behind()?;
    let started = Instant::now();
    state.log.append(&topic, vec![record]).await?;
    metrics::APPEND_DURATION
        .with_label_values(&[&topic])
        .observe(started.elapsed().as_secs_f64());
    metrics::SAMPLES.inc_by(u64::from(summary.samples));
    Ok(())
}

/// Remote write 1.0 is snappy-compressed protobuf (the Content-Type was
/// negotiated by `remote_write_v2::protocol`).
fn check_headers(headers: &HeaderMap) -> Result<(), IngestError> {
    if let Some(encoding) = headers.get(header::CONTENT_ENCODING) {
        let encoding = encoding.to_str().unwrap_or_default();
        if !encoding.eq_ignore_ascii_case("snappy") {
            return Err(IngestError::UnsupportedMediaType(format!(
                "Content-Encoding {encoding:?} is not supported; remote write must be snappy"
            )));
        }
    }
    Ok(())
}

pub(crate) fn body_rejection(rejection: BytesRejection) -> IngestError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        IngestError::TooLarge(format!("request body too large: {}", rejection.body_text()))
    } else {
        IngestError::BadRequest(format!(
            "could not read request body: {}",
            rejection.body_text()
        ))
    }
}
