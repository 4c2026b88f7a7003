//! The envelope every event travels in, and its JSON encoding in the log.
//!
//! On the wire an event is one JSON object: the envelope fields plus
//! `payload`. Decoding reads the envelope first and parses the payload by
//! `type` from a borrowed raw slice, so large payloads are not copied twice.

use crate::events::EventPayload;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use uuid::Uuid;

/// Metadata common to every event (DESIGN.md "Event model").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// UUIDv7: unique and ordered by creation time.
    pub id: Uuid,
    /// Schema version of the payload.
    pub version: u32,
    /// Who produced it: `ingest`, `evaluator`, `actuator`, ...
    pub source: String,
    /// The log key (partitioning and per-key order).
    pub key: String,
    /// Event time: when the fact happened in the monitored world.
    pub occurred_at: DateTime<Utc>,
    /// When closeloop wrote it down.
    pub recorded_at: DateTime<Utc>,
}

/// An envelope and its payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub envelope: Envelope,
    pub payload: EventPayload,
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("event is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("unknown event type {0:?}")]
    UnknownType(String),
}

#[derive(Serialize)]
struct WireOut<'a> {
    id: &'a Uuid,
    #[serde(rename = "type")]
    event_type: &'static str,
    version: u32,
    source: &'a str,
    key: &'a str,
    occurred_at: &'a DateTime<Utc>,
    recorded_at: &'a DateTime<Utc>,
    payload: PayloadRef<'a>,
}

struct PayloadRef<'a>(&'a EventPayload);

impl Serialize for PayloadRef<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize_body(s)
    }
}

#[derive(Deserialize)]
struct WireIn<'a> {
    id: Uuid,
    #[serde(rename = "type")]
    event_type: &'a str,
    version: u32,
    source: String,
    key: String,
    occurred_at: DateTime<Utc>,
    recorded_at: DateTime<Utc>,
    #[serde(borrow)]
    payload: &'a RawValue,
}

impl Event {
    /// A new event with a fresh UUIDv7 id. `recorded_at` is passed in, not
    /// read from the clock, so callers stay in charge of time.
    pub fn new(
        payload: EventPayload,
        source: &str,
        key: String,
        occurred_at: DateTime<Utc>,
        recorded_at: DateTime<Utc>,
    ) -> Event {
        Event {
            envelope: Envelope {
                id: Uuid::now_v7(),
                version: payload.schema_version(),
                source: source.to_string(),
                key,
                occurred_at,
                recorded_at,
            },
            payload,
        }
    }

    pub fn event_type(&self) -> &'static str {
        self.payload.type_name()
    }

    pub fn to_json(&self) -> Vec<u8> {
        let e = &self.envelope;
        let wire = WireOut {
            id: &e.id,
            event_type: self.payload.type_name(),
            version: e.version,
            source: &e.source,
            key: &e.key,
            occurred_at: &e.occurred_at,
            recorded_at: &e.recorded_at,
            payload: PayloadRef(&self.payload),
        };
        // Serializing plain data structures to a Vec cannot fail.
        serde_json::to_vec(&wire).unwrap_or_default()
    }

    pub fn from_json(bytes: &[u8]) -> Result<Event, DecodeError> {
        let wire: WireIn<'_> = serde_json::from_slice(bytes)?;
        let payload = EventPayload::parse_body(wire.event_type, wire.payload.get())?;
        Ok(Event {
            envelope: Envelope {
                id: wire.id,
                version: wire.version,
                source: wire.source,
                key: wire.key,
                occurred_at: wire.occurred_at,
                recorded_at: wire.recorded_at,
            },
            payload,
        })
    }
}
