//! closeloop's shared vocabulary: the event envelope and every event type,
//! label sets and their fingerprints, topic names, and the remote-write wire
//! format. No I/O happens here; every other crate depends on this one.

pub mod byte_size;
pub mod duration;
pub mod envelope;
pub mod events;
pub mod labels;
pub mod metadata;
pub mod metrics;
pub mod otlp;
pub mod pushed;
pub mod received;
pub mod remote_write;
pub mod remote_write_v2;
pub mod remote_write_walk;
pub mod time;
pub mod topics;

pub use envelope::{DecodeError, Envelope, Event};
pub use events::EventPayload;
pub use labels::{fingerprint, fingerprint_sorted, Fingerprint, LabelSet};
