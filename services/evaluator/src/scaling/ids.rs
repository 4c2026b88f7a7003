//! Request ids derived from what a decision is about, so that evaluating
//! the same tick again (after a crash, in a replay) asks with the same id
//! and the actuator applies it at most once.

use closeloop_core::events::ScaleTrigger;
use uuid::Uuid;

/// A UUIDv7-shaped id: the tick's milliseconds, then a hash of (scaler,
/// tick, trigger, extra). `extra` tells apart alert steps of one tick
/// (the alert fingerprint).
pub fn request_id(scaler: &str, tick_ms: i64, trigger: ScaleTrigger, extra: &str) -> Uuid {
    let trigger = match trigger {
        ScaleTrigger::Metric => "metric",
        ScaleTrigger::Alert => "alert",
        ScaleTrigger::Fallback => "fallback",
        ScaleTrigger::Bounds => "bounds",
    };
    let tick = tick_ms.to_be_bytes();
    let parts: [&[u8]; 4] = [
        scaler.as_bytes(),
        &tick,
        trigger.as_bytes(),
        extra.as_bytes(),
    ];
    let first = fnv1a(0xcbf2_9ce4_8422_2325, &parts);
    let second = fnv1a(first ^ 0x9e37_79b9_7f4a_7c15, &parts);
    let mut bytes = [0u8; 10];
    bytes[..8].copy_from_slice(&first.to_be_bytes());
    bytes[8..].copy_from_slice(&second.to_be_bytes()[..2]);
    uuid::Builder::from_unix_timestamp_millis(tick_ms.max(0) as u64, &bytes).into_uuid()
}

/// The tick a request id was derived for (its UUIDv7 milliseconds).
pub fn request_tick_ms(request_id: Uuid) -> Option<i64> {
    let (secs, nanos) = request_id.get_timestamp()?.to_unix();
    Some(secs as i64 * 1000 + i64::from(nanos / 1_000_000))
}

/// FNV-1a, stable across Rust versions; parts are separated by 0xff.
fn fnv1a(seed: u64, parts: &[&[u8]]) -> u64 {
    let mut hash = seed;
    for part in parts {
        for byte in part.iter().chain(std::iter::once(&0xffu8)) {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_tick_gets_the_same_id_and_other_ticks_other_ids() {
        let a = request_id("workers", 1_000, ScaleTrigger::Metric, "");
        assert_eq!(a, request_id("workers", 1_000, ScaleTrigger::Metric, ""));
        assert_ne!(a, request_id("workers", 16_000, ScaleTrigger::Metric, ""));
        assert_ne!(a, request_id("db", 1_000, ScaleTrigger::Metric, ""));
        assert_ne!(a, request_id("workers", 1_000, ScaleTrigger::Alert, ""));
        assert_eq!(a.get_version_num(), 7);
        assert_eq!(request_tick_ms(a), Some(1_000));
    }
}
