//! Unit tests of the embedded log that need its internals (fault injection).

use super::*;
use bytes::Bytes;

fn record(value: &str) -> NewRecord {
    NewRecord {
        key: Bytes::from_static(b"k"),
        value: Bytes::copy_from_slice(value.as_bytes()),
        timestamp_ms: 1,
    }
}
