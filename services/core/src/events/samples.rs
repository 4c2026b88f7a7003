//! `closeloop.samples`: batches of samples as a sender pushed them.

use serde::{Deserialize, Serialize};

/// The only body format so far: a Prometheus remote-write 1.0 request,
/// snappy block compressed protobuf `prometheus.WriteRequest`.
pub const REMOTE_WRITE_V1_SNAPPY: &str = "prometheus.WriteRequest+snappy";

/// One accepted remote-write request. The body is kept exactly as it came
/// (DESIGN: decode once downstream); the counts are what ingest validated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamplesReceived {
    pub format: String,
    #[serde(with = "base64_bytes")]
    pub body: bytes::Bytes,
    pub series: u32,
    pub samples: u32,
    pub metadata: u32,
    /// Earliest and latest sample timestamp in the batch (unix ms), absent
    /// for a metadata-only request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_timestamp_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_timestamp_ms: Option<i64>,
}

mod base64_bytes {
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &bytes::Bytes, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<bytes::Bytes, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        STANDARD
            .decode(text.as_bytes())
            .map(bytes::Bytes::from)
            .map_err(serde::de::Error::custom)
    }
}
