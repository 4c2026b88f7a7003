//! Prometheus remote-write 2.0 (`io.prometheus.write.v2.Request`, the
//! layout of shared/notes/remote_v2.proto): a zero-copy walk that resolves
//! each series' label references against the request's symbols table.
//! Ingest validates and counts with it and the evaluator appends with it,
//! so both see exactly the same series.
//!
//! What is done with each part of a series, decided once here:
//! - samples are written; a `created_timestamp` older than the first sample
//!   adds a zero sample at that time first, as Prometheus 3 does with
//!   `--enable-feature=created-timestamp-zero-ingestion` (closeloop has no
//!   flag for it: without the zero, `rate`/`increase` lose a new counter's
//!   first increment);
//! - native histograms are refused (the window holds floats only): not
//!   written, counted, and reported so ingest answers 4xx after writing the
//!   rest, the spec's partial write;
//! - exemplars are counted and dropped (closeloop has no exemplar storage);
//! - metadata references are checked, and type, help and unit are handed
//!   to the visitor with the series (for `/api/v1/metadata`).
//!
//! A request whose wire bytes or symbol references are broken is refused
//! whole; a series whose labels are invalid is refused alone (partial
//! write), named by its index in the request.

use crate::metadata::{type_name, MetadataView};
use crate::remote_write::{validate_labels, RemoteWriteError, Sample};
use crate::remote_write_walk::{read_sample, utf8, Reader, SeriesView, WireError};

/// What a walk saw. `series`/`samples` are what was written (the zero
/// samples of created timestamps are counted apart, as Prometheus' header
/// does not count them).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct V2Summary {
    pub series: u32,
    pub samples: u32,
    pub created_zero_samples: u32,
    pub histograms_refused: u32,
    pub exemplars_dropped: u32,
    pub metadata: u32,
    pub min_timestamp_ms: Option<i64>,
    pub max_timestamp_ms: Option<i64>,
    /// Series not written, each with why (index in the request first).
    pub refused: Vec<(usize, String)>,
}

impl V2Summary {
    /// The message of a partial write: what was refused, for a 4xx body.
    pub fn refusal_message(&self) -> Option<String> {
        const SHOWN: usize = 5;
        let first = self.refused.first()?;
        let mut message = format!("series {}: {}", first.0, first.1);
        for (index, why) in self.refused.iter().skip(1).take(SHOWN - 1) {
            message.push_str(&format!("; series {index}: {why}"));
        }
        if self.refused.len() > SHOWN {
            message.push_str(&format!("; and {} more", self.refused.len() - SHOWN));
        }
        Some(message)
    }
}

/// Metadata.MetricType values the spec defines (0 = unspecified).
const MAX_METRIC_TYPE: u64 = 7;

fn symbols_of(raw: &[u8]) -> Result<Vec<&str>, RemoteWriteError> {
    let mut symbols = Vec::new();
    let mut reader = Reader::new(raw);
    while !reader.done() {
        match reader.key()? {
            (4, 2) => symbols.push(
                utf8(reader.len_delimited()?)
                    .map_err(|_| WireError("symbol is not valid UTF-8"))?,
            ),
            (_, wire) => reader.skip(wire)?,
        }
    }
    if symbols.first().is_some_and(|s| !s.is_empty()) {
        return Err(RemoteWriteError::FirstSymbolNotEmpty);
    }
    Ok(symbols)
}

fn symbol<'a>(
    symbols: &[&'a str],
    index: usize,
    reference: u64,
) -> Result<&'a str, RemoteWriteError> {
    usize::try_from(reference)
        .ok()
        .and_then(|r| symbols.get(r).copied())
        .ok_or(RemoteWriteError::BadSymbolRef {
            index,
            reference,
            symbols: symbols.len(),
        })
}

fn push_refs(reader: &mut Reader<'_>, wire: u8, refs: &mut Vec<u64>) -> Result<(), WireError> {
    match wire {
        0 => refs.push(reader.varint()?),
        2 => {
            let mut packed = Reader::new(reader.len_delimited()?);
            while !packed.done() {
                refs.push(packed.varint()?);
            }
        }
        _ => return Err(WireError("labels_refs has a wrong wire type")),
    }
    Ok(())
}

/// Checks a Metadata message's references; returns its type.
fn read_metadata<'a>(
    buf: &[u8],
    symbols: &[&'a str],
    index: usize,
) -> Result<(u64, MetadataView<'a>), RemoteWriteError> {
    let mut reader = Reader::new(buf);
    let mut metric_type = 0;
    let (mut help, mut unit) = ("", "");
    while !reader.done() {
        match reader.key()? {
            (1, 0) => metric_type = reader.varint()?,
            (3, 0) => help = symbol(symbols, index, reader.varint()?)?,
            (4, 0) => unit = symbol(symbols, index, reader.varint()?)?,
            (_, wire) => reader.skip(wire)?,
        }
    }
    let view = MetadataView {
        metric_type: type_name(metric_type),
        help,
        unit,
    };
    Ok((metric_type, view))
}

/// Walks every series of a decompressed v2 `Request`, calling `visit` with
/// the labels (sorted by name, empty values dropped) and float samples of
/// each series that can be written.
pub fn walk_v2<'a>(
    raw: &'a [u8],
    mut visit: impl FnMut(usize, SeriesView<'a, '_>) -> Result<(), RemoteWriteError>,
) -> Result<V2Summary, RemoteWriteError> {
    let symbols = symbols_of(raw)?;
    let mut summary = V2Summary::default();
    let mut refs: Vec<u64> = Vec::with_capacity(32);
    let mut labels: Vec<(&'a str, &'a str)> = Vec::with_capacity(16);
    let mut samples: Vec<Sample> = Vec::with_capacity(4);
    let mut reader = Reader::new(raw);
    let mut index = 0usize;
    while !reader.done() {
        let series = match reader.key()? {
            (5, 2) => reader.len_delimited()?,
            (_, wire) => {
                reader.skip(wire)?;
                continue;
            }
        };
        refs.clear();
        labels.clear();
        samples.clear();
        let (mut histograms, mut created_ms, mut metric_type) = (0u32, 0i64, 0u64);
        let mut metadata = None;
        let mut inner = Reader::new(series);
        while !inner.done() {
            match inner.key()? {
                (1, wire) => push_refs(&mut inner, wire, &mut refs)?,
                (2, 2) => samples.push(read_sample(inner.len_delimited()?)?),
                (3, 2) => {
                    inner.len_delimited()?;
                    histograms += 1;
                }
                (4, 2) => {
                    let exemplar = inner.len_delimited()?;
                    check_exemplar_refs(exemplar, &symbols, index)?;
                    summary.exemplars_dropped += 1;
                }
                (5, 2) => {
                    let (code, view) = read_metadata(inner.len_delimited()?, &symbols, index)?;
                    metric_type = code;
                    metadata = Some(view);
                }
                (6, 0) => created_ms = inner.varint()? as i64,
                (_, wire) => inner.skip(wire)?,
            }
        }
        if refs.len() % 2 != 0 {
            return Err(RemoteWriteError::OddLabelRefs { index });
        }
        for pair in refs.chunks_exact(2) {
            let name = symbol(&symbols, index, pair[0])?;
            let value = symbol(&symbols, index, pair[1])?;
            if !value.is_empty() {
                labels.push((name, value));
            }
        }
        labels.sort_unstable_by(|a, b| a.0.cmp(b.0));
        summary.histograms_refused += histograms;
        if metric_type > 0 && metric_type <= MAX_METRIC_TYPE {
            summary.metadata += 1;
        }
        // Metadata that says nothing is not metadata.
        let metadata =
            metadata.filter(|m| metric_type > 0 || !m.help.is_empty() || !m.unit.is_empty());
        let this = index;
        index += 1;
        if let Err(err) = validate_labels(this, labels.iter().copied()) {
            summary.refused.push((this, invalid_labels_reason(err)));
            continue;
        }
        if histograms > 0 {
            summary.refused.push((
                this,
                format!("{histograms} native histogram samples not written: closeloop stores float samples only"),
            ));
        }
        if samples.is_empty() {
            if histograms == 0 {
                summary.refused.push((this, "no samples".to_string()));
            }
            continue;
        }
        let first = samples
            .iter()
            .map(|s| s.timestamp)
            .min()
            .unwrap_or(i64::MAX);
        summary.samples += samples.len() as u32;
        if created_ms != 0 && created_ms < first {
            samples.insert(
                0,
                Sample {
                    value: 0.0,
                    timestamp: created_ms,
                },
            );
            summary.created_zero_samples += 1;
        }
        for sample in &samples {
            let t = sample.timestamp;
            summary.min_timestamp_ms = Some(summary.min_timestamp_ms.map_or(t, |m| m.min(t)));
            summary.max_timestamp_ms = Some(summary.max_timestamp_ms.map_or(t, |m| m.max(t)));
        }
        summary.series += 1;
        visit(
            this,
            SeriesView {
                labels: &labels,
                samples: &samples,
                metadata,
            },
        )?;
    }
    Ok(summary)
}

/// An exemplar is dropped, but a broken reference in it still means a
/// broken request.
fn check_exemplar_refs(buf: &[u8], symbols: &[&str], index: usize) -> Result<(), RemoteWriteError> {
    let mut reader = Reader::new(buf);
    let mut refs = Vec::new();
    while !reader.done() {
        match reader.key()? {
            (1, wire) => push_refs(&mut reader, wire, &mut refs)?,
            (_, wire) => reader.skip(wire)?,
        }
    }
    for reference in refs {
        symbol(symbols, index, reference)?;
    }
    Ok(())
}

/// `validate_labels` names the series itself; the refusal list has the
/// index already, so keep only the reason.
fn invalid_labels_reason(err: RemoteWriteError) -> String {
    match err {
        RemoteWriteError::MissingName { .. } => "no __name__ label".to_string(),
        RemoteWriteError::UnsortedLabels { name, .. } => {
            format!("label name {name:?} appears twice")
        }
        RemoteWriteError::InvalidLabelName { name, .. } => format!("invalid label name {name:?}"),
        other => other.to_string(),
    }
}
