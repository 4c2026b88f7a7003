//! Label sets as they travel in events, and the fingerprint that identifies
//! an alert by its labels.

use std::collections::BTreeMap;
use std::fmt;

/// A label set in events: sorted by name, so its JSON form is stable.
pub type LabelSet = BTreeMap<String, String>;

/// The identity of a label set: the same 64-bit FNV-1a hash Prometheus and
/// Alertmanager compute (`model.LabelSet.Fingerprint`), so fingerprints in
/// our webhook payloads match the ones a real Alertmanager would send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(pub u64);

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl std::str::FromStr for Fingerprint {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        u64::from_str_radix(s, 16).map(Fingerprint)
    }
}

const FNV_OFFSET: u64 = 14695981039346656037;
const FNV_PRIME: u64 = 1099511628211;
/// Prometheus' `model.SeparatorByte`, written after every name and value.
const SEPARATOR: u8 = 0xff;

fn fnv_add(mut hash: u64, bytes: &[u8]) -> u64 {
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

/// Fingerprint of a label set, as Prometheus' `labelSetToFingerprint`.
pub fn fingerprint(labels: &LabelSet) -> Fingerprint {
    // BTreeMap iterates in name order, which is what Prometheus sorts by.
    fingerprint_sorted(labels.iter().map(|(n, v)| (n.as_str(), v.as_str())))
}

/// Fingerprint of label pairs already sorted by name (as remote write
/// sends them), without building a map first.
pub fn fingerprint_sorted<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Fingerprint {
    let mut hash = FNV_OFFSET;
    for (name, value) in pairs {
        hash = fnv_add(hash, name.as_bytes());
        hash = fnv_add(hash, &[SEPARATOR]);
        hash = fnv_add(hash, value.as_bytes());
        hash = fnv_add(hash, &[SEPARATOR]);
    }
    Fingerprint(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_matches_the_one_alertmanager_sent() {
        // From shared/fixtures/alertmanager-0.25/alertmanager_webhook_from_prometheus.json.
        let labels: LabelSet = [
            ("alertname", "ProbeAlwaysFiring"),
            ("probe", "prom-probe"),
            ("severity", "info"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(fingerprint(&labels).to_string(), "776a2feeb0b80e00");
    }

    #[test]
    fn fingerprint_round_trips_through_its_hex_form() {
        let fp = Fingerprint(0x00ab_cdef_0123_4567);
        assert_eq!(fp.to_string().parse::<Fingerprint>().unwrap(), fp);
    }
}
