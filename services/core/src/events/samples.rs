//! `closeloop.samples`: batches of samples as a sender pushed them, and
//! the samples closeloop's own recording rules wrote.

use serde::{Deserialize, Serialize};

/// A Prometheus remote-write 1.0 request, snappy block compressed
/// protobuf `prometheus.WriteRequest`.
pub const REMOTE_WRITE_V1_SNAPPY: &str = "prometheus.WriteRequest+snappy";

/// A Prometheus remote-write 2.0 request, snappy block compressed protobuf
/// `io.prometheus.write.v2.Request`.
pub const REMOTE_WRITE_V2_SNAPPY: &str = "io.prometheus.write.v2.Request+snappy";

/// An OTLP/HTTP metrics export as sent: protobuf or JSON
/// `ExportMetricsServiceRequest`, with [`GZIP_SUFFIX`] when it came gzipped.
/// Kept untranslated so a replay applies today's translation to what the
/// sender said (`closeloop_core::received` decodes every format).
pub const OTLP_METRICS_PROTOBUF: &str = "opentelemetry.ExportMetricsServiceRequest+protobuf";
pub const OTLP_METRICS_JSON: &str = "opentelemetry.ExportMetricsServiceRequest+json";
pub const GZIP_SUFFIX: &str = "+gzip";

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

/// What one rule group wrote at one evaluation: recording rule output,
/// `ALERTS`/`ALERTS_FOR_STATE`, and stale markers for series it wrote the
/// time before but not this time. The body has the same format as
/// [`SamplesReceived`], so every consumer of the stream reads it the same
/// way; every sample in it is at `timestamp_ms`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamplesRecorded {
    /// The rule file and group name, which together identify the group.
    pub rule_file: String,
    pub rule_group: String,
    /// The evaluation tick (unix ms).
    pub tick_ms: i64,
    /// The time of the samples: the tick minus the group's `query_offset`.
    pub timestamp_ms: i64,
    pub format: String,
    #[serde(with = "base64_bytes")]
    pub body: bytes::Bytes,
    pub series: u32,
    pub samples: u32,
}

impl SamplesRecorded {
    /// Encodes `request` as a remote-write 1.0 body (protobuf, snappy).
    pub fn new(
        rule_file: &str,
        rule_group: &str,
        tick_ms: i64,
        timestamp_ms: i64,
        request: &crate::remote_write::WriteRequest,
    ) -> Result<SamplesRecorded, crate::remote_write::RemoteWriteError> {
        use prost::Message;
        let raw = request.encode_to_vec();
        let body = snap::raw::Encoder::new().compress_vec(&raw)?;
        Ok(SamplesRecorded {
            rule_file: rule_file.to_string(),
            rule_group: rule_group.to_string(),
            tick_ms,
            timestamp_ms,
            format: REMOTE_WRITE_V1_SNAPPY.to_string(),
            body: body.into(),
            series: request.timeseries.len() as u32,
            samples: request
                .timeseries
                .iter()
                .map(|s| s.samples.len() as u32)
                .sum(),
        })
    }
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
