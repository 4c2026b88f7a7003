//! Decodes the body of a `SamplesReceived` in any of the formats ingest
//! keeps (remote write 1.0 and 2.0, OTLP protobuf or JSON, gzipped or not)
//! into the same series view, so the evaluator's window, replay and ingest's
//! own validation all read a body with one function and see the same
//! samples.

use crate::events::{
    GZIP_SUFFIX, OTLP_METRICS_JSON, OTLP_METRICS_PROTOBUF, REMOTE_WRITE_V1_SNAPPY,
    REMOTE_WRITE_V2_SNAPPY,
};
use crate::metadata::MetadataView;
use crate::otlp::{self, OtlpError, Translated};
use crate::remote_write::{self, RemoteWriteError, Sample};
use crate::remote_write_v2::{walk_v2, V2Summary};
use crate::remote_write_walk::{walk_with_metadata, WalkSummary};

#[derive(Debug, thiserror::Error)]
pub enum ReceivedError {
    #[error(transparent)]
    RemoteWrite(#[from] RemoteWriteError),
    #[error(transparent)]
    Otlp(#[from] OtlpError),
    #[error("unknown samples format {0:?}")]
    UnknownFormat(String),
}

/// What a decode saw, per format.
#[derive(Debug, Clone, PartialEq)]
pub enum ReceivedSummary {
    V1(WalkSummary),
    V2(V2Summary),
    Otlp(Translated),
}

/// Calls `visit` with the labels and samples of every series in `body`
/// (`limit`: largest decompressed size). Labels are sorted by name.
pub fn for_each_series(
    format: &str,
    body: &[u8],
    limit: usize,
    visit: impl FnMut(&[(&str, &str)], &[Sample]),
) -> Result<ReceivedSummary, ReceivedError> {
    for_each_series_with_metadata(format, body, limit, visit, |_, _| {})
}

/// As [`for_each_series`], and calls `visit_metadata` with each metric
/// name and the metadata the body declares for it (remote write 1.0 and
/// 2.0; OTLP's descriptions are not read).
pub fn for_each_series_with_metadata(
    format: &str,
    body: &[u8],
    limit: usize,
    mut visit: impl FnMut(&[(&str, &str)], &[Sample]),
    mut visit_metadata: impl FnMut(&str, MetadataView<'_>),
) -> Result<ReceivedSummary, ReceivedError> {
    if format == REMOTE_WRITE_V1_SNAPPY {
        let raw = remote_write::decompress(body, limit)?;
        let summary = walk_with_metadata(
            &raw,
            |_, series| {
                visit(series.labels, series.samples);
                Ok(())
            },
            &mut visit_metadata,
        )?;
        return Ok(ReceivedSummary::V1(summary));
    }
    if format == REMOTE_WRITE_V2_SNAPPY {
        let raw = remote_write::decompress(body, limit)?;
        let summary = walk_v2(&raw, |_, series| {
            visit(series.labels, series.samples);
            if let Some(metadata) = series.metadata {
                if let Some((_, name)) = series.labels.iter().find(|(n, _)| *n == "__name__") {
                    visit_metadata(name, metadata);
                }
            }
            Ok(())
        })?;
        return Ok(ReceivedSummary::V2(summary));
    }
    let translated = translate_otlp(format, body, limit)?;
    let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(16);
    for series in &translated.series {
        pairs.clear();
        pairs.extend(series.labels.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        visit(&pairs, &series.samples);
    }
    Ok(ReceivedSummary::Otlp(translated))
}

/// Decodes and translates an OTLP body of one of the OTLP formats.
pub fn translate_otlp(
    format: &str,
    body: &[u8],
    limit: usize,
) -> Result<Translated, ReceivedError> {
    let (encoding, gzipped) = match format.strip_suffix(GZIP_SUFFIX) {
        Some(encoding) => (encoding, true),
        None => (format, false),
    };
    if encoding != OTLP_METRICS_PROTOBUF && encoding != OTLP_METRICS_JSON {
        return Err(ReceivedError::UnknownFormat(format.to_string()));
    }
    let inflated;
    let raw = if gzipped {
        inflated = otlp::gunzip(body, limit)?;
        inflated.as_slice()
    } else {
        if body.len() > limit {
            return Err(OtlpError::TooLarge { limit }.into());
        }
        body
    };
    let request = if encoding == OTLP_METRICS_PROTOBUF {
        otlp::decode_protobuf(raw)?
    } else {
        otlp::decode_json(raw)?
    };
    Ok(otlp::translate(&request))
}
