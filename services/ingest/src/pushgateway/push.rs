//! `PUT`, `POST` and `DELETE` on `/metrics/job/<job>{/<label>/<value>}`
//! (and `/metrics/job@base64/...`), answering as the Pushgateway 1.x does
//! with its consistency check on: 200 for an accepted push, 202 for a
//! delete, 400 with a plain-text reason for anything refused (a parse
//! error names the line; nothing of a refused push is kept), 413 over the
//! body or series limits, 503 with Retry-After when the log cannot take
//! it. Pushes are serialized through the view, like the Pushgateway's
//! single write queue, so each is checked against all before it.

use super::path::{event_key, grouping_key};
use super::{parse_body, PushError};
use crate::error::IngestError;
use crate::limits;
use crate::metrics;
use crate::remote_write::body_rejection;
use crate::IngestState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use closeloop_core::events::{PushGroupDeleted, PushGroupRejected, PushGroupReplaced};
use closeloop_core::pushed::{GroupingKey, PushedFamily, PushedValue};
use closeloop_core::time::from_millis;
use closeloop_core::topics::Topic;
use closeloop_core::{Event, EventPayload};
use closeloop_log::NewRecord;
use std::time::Instant;

const HANDLER: &str = "pushgateway";

pub async fn plain(
    state: State<IngestState>,
    method: Method,
    Path(rest): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    handle(state, method, &rest, false, headers, body).await
}

pub async fn job_base64(
    state: State<IngestState>,
    method: Method,
    Path(rest): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    handle(state, method, &rest, true, headers, body).await
}

async fn handle(
    State(state): State<IngestState>,
    method: Method,
    rest: &str,
    job_base64: bool,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = match grouping_key(rest, job_base64) {
        Err(reason) => Err(PushError::Refused(reason)),
        Ok(grouping) if method == Method::DELETE => delete(&state, grouping)
            .await
            .map(|()| StatusCode::ACCEPTED),
        Ok(grouping) => {
            let whole_group = method == Method::PUT;
            push(&state, grouping, whole_group, &headers, body)
                .await
                .map(|()| StatusCode::OK)
        }
    };
    let response = match result {
        Ok(code) => code.into_response(),
        Err(err) => err.into_response(),
    };
    metrics::count_request(HANDLER, response.status().as_u16());
    response
}

async fn push(
    state: &IngestState,
    grouping: GroupingKey,
    whole_group: bool,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(), PushError> {
    let body = body.map_err(|r| PushError::Ingest(body_rejection(r)))?;
    metrics::RECEIVED_BYTES.inc_by(body.len() as u64);
    let families = parse_body(headers, &body).map_err(PushError::Refused)?;
    check_limits(state, &grouping, &families).map_err(PushError::Ingest)?;
    let samples = families.iter().map(|f| f.metrics.len() as u64).sum();

    let mut view = state.push_view.lock().await;
    view.catch_up(&*state.log, &state.topic_prefix).await?;
    let now = (state.clock)().timestamp_millis();
    let replaced = PushGroupReplaced {
        grouping,
        whole_group,
        families,
        pushed_at_ms: now,
    };
    let outcome = view.groups().check(&replaced);
    let key = event_key(&replaced.grouping);
    let payload = match &outcome {
        Ok(()) => EventPayload::PushGroupReplaced(replaced),
        Err(reason) => EventPayload::PushGroupRejected(PushGroupRejected {
            grouping: replaced.grouping,
            rejected_at_ms: now,
            reason: reason.clone(),
        }),
    };
    append(state, payload, key, now).await?;
    // Read our own record back, so the next push is checked against it.
    view.catch_up(&*state.log, &state.topic_prefix).await?;
    match outcome {
        Ok(()) => {
            metrics::SAMPLES.inc_by(samples);
            Ok(())
        }
        Err(reason) => Err(PushError::Refused(format!(
            "pushed metrics are invalid or inconsistent with existing metrics: {reason}"
        ))),
    }
}

async fn delete(state: &IngestState, grouping: GroupingKey) -> Result<(), PushError> {
    let mut view = state.push_view.lock().await;
    let now = (state.clock)().timestamp_millis();
    let key = event_key(&grouping);
    let payload = EventPayload::PushGroupDeleted(PushGroupDeleted {
        grouping,
        deleted_at_ms: now,
    });
    append(state, payload, key, now).await?;
    view.catch_up(&*state.log, &state.topic_prefix).await?;
    Ok(())
}

async fn append(
    state: &IngestState,
    payload: EventPayload,
    key: String,
    now_ms: i64,
) -> Result<(), IngestError> {
    let at = from_millis(now_ms);
    let event = Event::new(payload, "ingest", key, at, at);
    let topic = Topic::PushGroups.name(&state.topic_prefix);
    let record = NewRecord {
        key: event.envelope.key.clone().into_bytes().into(),
        value: event.to_json().into(),
        timestamp_ms: now_ms,
    };
    let started = Instant::now();
    state.log.append(&topic, vec![record]).await?;
    metrics::APPEND_DURATION
        .with_label_values(&[&topic])
        .observe(started.elapsed().as_secs_f64());
    Ok(())
}

/// The per-request limits, over the series the push yields once the
/// grouping labels are applied.
fn check_limits(
    state: &IngestState,
    grouping: &GroupingKey,
    families: &[PushedFamily],
) -> Result<(), IngestError> {
    let limits_of = &state.limits;
    for (name, value) in grouping {
        limits::check_label(limits_of, 0, name, value)?;
    }
    let mut index = 0usize;
    for family in families {
        for metric in &family.metrics {
            let expanded = match &metric.value {
                PushedValue::Value(_) => 1,
                PushedValue::Summary { quantiles, .. } => quantiles.len() + 2,
                PushedValue::Histogram { buckets, .. } => buckets.len() + 3,
            };
            index += expanded;
            limits::check_series(
                limits_of,
                index - 1,
                metric.labels.iter().map(|(n, v)| (n.as_str(), v.as_str())),
            )?;
        }
    }
    Ok(())
}
