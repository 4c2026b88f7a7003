//! Byte sizes as Prometheus writes them (`--storage.tsdb.retention.size`):
//! a whole number and a unit, `B`, `KB`, `MB`, `GB`, `TB`, `PB`, all powers
//! of 1024 as in Prometheus; the `KiB`..`PiB` spellings mean the same.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid size: {0:?} (expected e.g. 512MB, 20GB, 1TiB)")]
pub struct ByteSizeError(pub String);

pub fn parse_byte_size(text: &str) -> Result<u64, ByteSizeError> {
    let err = || ByteSizeError(text.to_string());
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(err());
    }
    let number: u64 = text[..digits].parse().map_err(|_| err())?;
    let power = match &text[digits..] {
        "B" => 0,
        "KB" | "KiB" => 1,
        "MB" | "MiB" => 2,
        "GB" | "GiB" => 3,
        "TB" | "TiB" => 4,
        "PB" | "PiB" => 5,
        _ => return Err(err()),
    };
    number.checked_mul(1024u64.pow(power)).ok_or_else(err)
}

/// Serde helper for an optional size field.
pub mod serde_opt_byte_size {
    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| super::parse_byte_size(&text).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_prometheus_reads_them() {
        assert_eq!(parse_byte_size("512B"), Ok(512));
        assert_eq!(parse_byte_size("512MB"), Ok(512 << 20));
        assert_eq!(parse_byte_size("20GiB"), Ok(20 << 30));
        assert_eq!(parse_byte_size("1TB"), Ok(1 << 40));
        for bad in ["", "GB", "12", "1.5GB", "10 GB", "10gb", "99999999999PB"] {
            assert!(parse_byte_size(bad).is_err(), "{bad}");
        }
    }
}
