//! Prometheus remote-write 1.0: the protobuf messages (hand-written prost
//! structs matching `prometheus/prompb/remote.proto` and `types.proto`) and
//! decoding of a snappy block compressed body.

use prost::Message;

#[derive(Clone, PartialEq, Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
    #[prost(message, repeated, tag = "3")]
    pub metadata: Vec<MetricMetadata>,
}

#[derive(Clone, PartialEq, Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
    #[prost(message, repeated, tag = "3")]
    pub exemplars: Vec<Exemplar>,
    /// Native histograms are accepted on the wire but not evaluated yet;
    /// kept as raw bytes so a request carrying them still decodes.
    #[prost(bytes = "vec", repeated, tag = "4")]
    pub histograms: Vec<Vec<u8>>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

#[derive(Clone, Copy, PartialEq, Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

#[derive(Clone, PartialEq, Message)]
pub struct Exemplar {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(double, tag = "2")]
    pub value: f64,
    #[prost(int64, tag = "3")]
    pub timestamp: i64,
}

#[derive(Clone, PartialEq, Message)]
pub struct MetricMetadata {
    #[prost(int32, tag = "1")]
    pub r#type: i32,
    #[prost(string, tag = "2")]
    pub metric_family_name: String,
    #[prost(string, tag = "4")]
    pub help: String,
    #[prost(string, tag = "5")]
    pub unit: String,
}

/// The bit pattern Prometheus writes as a staleness marker.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

pub fn is_stale_marker(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

#[derive(Debug, thiserror::Error)]
pub enum RemoteWriteError {
    #[error("snappy: {0}")]
    Snappy(#[from] snap::Error),
    #[error("protobuf: {0}")]
    Protobuf(#[from] prost::DecodeError),
    #[error("decompressed body of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("protobuf: {0}")]
    Wire(&'static str),
    #[error("series {index} has no __name__ label")]
    MissingName { index: usize },
    #[error("series {index}: label names must be sorted and unique, {name:?} is not")]
    UnsortedLabels { index: usize, name: String },
    #[error("series {index}: invalid label name {name:?}")]
    InvalidLabelName { index: usize, name: String },
    #[error("series {index}: symbol reference {reference} is out of range (the symbols table has {symbols} entries)")]
    BadSymbolRef {
        index: usize,
        reference: u64,
        symbols: usize,
    },
    #[error("series {index}: labels_refs has an odd number of entries")]
    OddLabelRefs { index: usize },
    #[error("symbols[0] must be the empty string")]
    FirstSymbolNotEmpty,
}

/// Decompresses a snappy block body, refusing to inflate past `limit`
/// bytes (a small body may claim a huge decoded length).
pub fn decompress(body: &[u8], limit: usize) -> Result<Vec<u8>, RemoteWriteError> {
    let size = snap::raw::decompress_len(body)?;
    if size > limit {
        return Err(RemoteWriteError::TooLarge { size, limit });
    }
    Ok(snap::raw::Decoder::new().decompress_vec(body)?)
}

/// Decodes a snappy-compressed `WriteRequest`.
pub fn decode(body: &[u8], limit: usize) -> Result<WriteRequest, RemoteWriteError> {
    let raw = decompress(body, limit)?;
    Ok(WriteRequest::decode(raw.as_slice())?)
}

/// Checks what Prometheus' own receiver checks: every series is named and
/// its label names are valid, sorted and unique.
pub fn validate(request: &WriteRequest) -> Result<(), RemoteWriteError> {
    for (index, series) in request.timeseries.iter().enumerate() {
        validate_labels(
            index,
            series
                .labels
                .iter()
                .map(|l| (l.name.as_str(), l.value.as_str())),
        )?;
    }
    Ok(())
}

/// The label checks of one series (index `index` in its request).
pub fn validate_labels<'a>(
    index: usize,
    labels: impl Iterator<Item = (&'a str, &'a str)>,
) -> Result<(), RemoteWriteError> {
    let mut previous: Option<&str> = None;
    let mut named = false;
    for (name, value) in labels {
        if !is_valid_label_name(name) {
            return Err(RemoteWriteError::InvalidLabelName {
                index,
                name: name.to_string(),
            });
        }
        if previous.is_some_and(|p| p >= name) {
            return Err(RemoteWriteError::UnsortedLabels {
                index,
                name: name.to_string(),
            });
        }
        named |= name == "__name__" && !value.is_empty();
        previous = Some(name);
    }
    if !named {
        return Err(RemoteWriteError::MissingName { index });
    }
    Ok(())
}

fn is_valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}
