//! Prometheus' duration syntax (`1h30m`, `5m`, `500ms`, `1d`, `2w`, `1y`),
//! used by rule files and closeloop.yml alike.

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid duration: {0:?} (expected e.g. 30s, 5m, 1h30m)")]
pub struct DurationError(pub String);

/// Parses a duration as Prometheus' `model.ParseDuration` does: units in
/// descending order, each at most once, `0` allowed alone.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let err = || DurationError(text.to_string());
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    const UNITS: [(&str, u64); 8] = [
        ("y", 365 * 24 * 3600 * 1000),
        ("w", 7 * 24 * 3600 * 1000),
        ("d", 24 * 3600 * 1000),
        ("h", 3600 * 1000),
        ("m", 60 * 1000),
        ("s", 1000),
        ("ms", 1),
        ("", 0),
    ];
    let mut rest = text;
    let mut total_ms: u64 = 0;
    let mut last_unit = 0usize;
    if rest.is_empty() {
        return Err(err());
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(err());
        }
        let number: u64 = rest[..digits].parse().map_err(|_| err())?;
        rest = &rest[digits..];
        // "ms" must be tried before "m".
        let unit_index = if rest.starts_with("ms") {
            6
        } else {
            UNITS[..6]
                .iter()
                .position(|(u, _)| rest.starts_with(u))
                .ok_or_else(err)?
        };
        // Each unit at most once, in descending order.
        if unit_index < last_unit {
            return Err(err());
        }
        last_unit = unit_index + 1;
        let (unit, factor) = UNITS[unit_index];
        rest = &rest[unit.len()..];
        total_ms = number
            .checked_mul(factor)
            .and_then(|v| v.checked_add(total_ms))
            .ok_or_else(err)?;
    }
    Ok(Duration::from_millis(total_ms))
}

/// Serde helper for `Duration` fields written in Prometheus' syntax.
pub mod serde_duration {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_duration(&text).map_err(serde::de::Error::custom)
    }

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_duration(*d))
    }
}

/// Serde helper for an optional `Duration` field in Prometheus' syntax.
pub mod serde_opt_duration {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| super::parse_duration(&text).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// Formats a duration the way Prometheus prints one (`1h30m`, `0s`).
pub fn format_duration(d: Duration) -> String {
    let mut ms = d.as_millis() as u64;
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    for (unit, factor) in [
        ("y", 365 * 24 * 3600 * 1000u64),
        ("w", 7 * 24 * 3600 * 1000),
        ("d", 24 * 3600 * 1000),
        ("h", 3600 * 1000),
        ("m", 60 * 1000),
        ("s", 1000),
        ("ms", 1),
    ] {
        if ms >= factor {
            out.push_str(&format!("{}{unit}", ms / factor));
            ms %= factor;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_durations_parse() {
        let cases = [
            ("0", 0),
            ("5m", 300_000),
            ("1h30m", 5_400_000),
            ("500ms", 500),
            ("1d", 86_400_000),
            ("1w2d", 777_600_000),
            ("1m30s250ms", 90_250),
        ];
        for (text, ms) in cases {
            assert_eq!(
                parse_duration(text).unwrap(),
                Duration::from_millis(ms),
                "{text}"
            );
        }
    }

    #[test]
    fn malformed_durations_are_refused() {
        for text in ["", "5", "m", "5x", "30s1m", "1h1h", "-5m", "1.5h"] {
            assert!(parse_duration(text).is_err(), "{text}");
        }
    }

    #[test]
    fn formatting_inverts_parsing() {
        for text in ["5m", "1h30m", "500ms", "1d", "0s"] {
            assert_eq!(format_duration(parse_duration(text).unwrap()), text);
        }
    }
}
