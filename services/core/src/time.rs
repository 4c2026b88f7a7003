//! Conversions between the unix-millisecond timestamps of samples and the
//! `DateTime<Utc>` of event envelopes.

use chrono::{DateTime, TimeZone, Utc};

/// Unix milliseconds to a UTC time; out-of-range values clamp to the epoch
/// rather than fail, because they only ever come from validated input.
pub fn from_millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

pub fn to_millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}
