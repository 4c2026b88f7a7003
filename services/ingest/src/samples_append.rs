//! Appends one accepted `SamplesReceived` to `closeloop.samples`, the way
//! the remote-write 1.0 handler does: keyed by the fingerprint of its
//! first series (senders shard by series), timed by its newest sample.

use crate::error::IngestError;
use crate::metrics;
use crate::IngestState;
use closeloop_core::events::SamplesReceived;
use closeloop_core::time::from_millis;
use closeloop_core::topics::Topic;
use closeloop_core::{fingerprint_sorted, Event, EventPayload};
use closeloop_log::NewRecord;
use std::time::Instant;

/// `first_series`: the labels of the batch's first series, if any.
pub async fn append_samples_received<'a>(
    state: &IngestState,
    payload: SamplesReceived,
    first_series: Option<impl Iterator<Item = (&'a str, &'a str)>>,
) -> Result<(), IngestError> {
    let now = (state.clock)();
    // A batch without samples carries no time of its own.
    let occurred_at = payload.max_timestamp_ms.map(from_millis).unwrap_or(now);
    let key = first_series
        .map(|labels| fingerprint_sorted(labels).to_string())
        .unwrap_or_else(|| "metadata".to_string());
    let samples = payload.samples;
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
    metrics::SAMPLES.inc_by(u64::from(samples));
    Ok(())
}
