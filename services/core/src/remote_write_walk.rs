//! A zero-copy walk over a decoded remote-write 1.0 `WriteRequest`: label
//! names and values are borrowed from the buffer, samples are read in
//! place. Ingest validates with it and the evaluator appends with it,
//! without allocating a `String` per label as a prost decode does — on the
//! ingest hot path that allocation was most of the work.

use crate::metadata::{type_name, MetadataView};
use crate::remote_write::{RemoteWriteError, Sample};

/// One series as seen by the walk. `labels` and `samples` are reused
/// between series to avoid allocation.
pub struct SeriesView<'a, 'b> {
    pub labels: &'b [(&'a str, &'a str)],
    pub samples: &'b [Sample],
    /// The series' own metadata (remote write 2.0; 1.0 sends metadata
    /// apart from the series).
    pub metadata: Option<MetadataView<'a>>,
}

/// What a walk saw, for counting and validation.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WalkSummary {
    pub series: u32,
    pub samples: u32,
    pub metadata: u32,
    pub min_timestamp_ms: Option<i64>,
    pub max_timestamp_ms: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
#[error("protobuf: {0}")]
pub struct WireError(pub(crate) &'static str);

impl From<WireError> for RemoteWriteError {
    fn from(err: WireError) -> Self {
        RemoteWriteError::Wire(err.0)
    }
}

pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub(crate) fn varint(&mut self) -> Result<u64, WireError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self
                .buf
                .get(self.pos)
                .ok_or(WireError("truncated varint"))?;
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte < 0x80 {
                return Ok(value);
            }
        }
        Err(WireError("varint too long"))
    }

    pub(crate) fn bytes(&mut self, len: usize) -> Result<&'a [u8], WireError> {
        let end = self
            .pos
            .checked_add(len)
            .ok_or(WireError("length overflow"))?;
        let slice = self
            .buf
            .get(self.pos..end)
            .ok_or(WireError("truncated field"))?;
        self.pos = end;
        Ok(slice)
    }

    pub(crate) fn len_delimited(&mut self) -> Result<&'a [u8], WireError> {
        let len = self.varint()?;
        let len = usize::try_from(len).map_err(|_| WireError("length overflow"))?;
        self.bytes(len)
    }

    /// (field number, wire type)
    pub(crate) fn key(&mut self) -> Result<(u64, u8), WireError> {
        let key = self.varint()?;
        let field = key >> 3;
        if field == 0 {
            return Err(WireError("field number 0"));
        }
        Ok((field, (key & 7) as u8))
    }

    pub(crate) fn skip(&mut self, wire_type: u8) -> Result<(), WireError> {
        match wire_type {
            0 => self.varint().map(drop),
            1 => self.bytes(8).map(drop),
            2 => self.len_delimited().map(drop),
            5 => self.bytes(4).map(drop),
            _ => Err(WireError("unsupported wire type")),
        }
    }
}

pub(crate) fn utf8(bytes: &[u8]) -> Result<&str, WireError> {
    std::str::from_utf8(bytes).map_err(|_| WireError("label is not valid UTF-8"))
}

fn read_label<'a>(buf: &'a [u8]) -> Result<(&'a str, &'a str), WireError> {
    let mut reader = Reader::new(buf);
    let (mut name, mut value) = ("", "");
    while !reader.done() {
        match reader.key()? {
            (1, 2) => name = utf8(reader.len_delimited()?)?,
            (2, 2) => value = utf8(reader.len_delimited()?)?,
            (_, wire) => reader.skip(wire)?,
        }
    }
    Ok((name, value))
}

pub(crate) fn read_sample(buf: &[u8]) -> Result<Sample, WireError> {
    let mut reader = Reader::new(buf);
    let mut sample = Sample {
        value: 0.0,
        timestamp: 0,
    };
    while !reader.done() {
        match reader.key()? {
            (1, 1) => {
                let raw = reader.bytes(8)?;
                let mut bits = [0u8; 8];
                bits.copy_from_slice(raw);
                sample.value = f64::from_le_bytes(bits);
            }
            (2, 0) => sample.timestamp = reader.varint()? as i64,
            (_, wire) => reader.skip(wire)?,
        }
    }
    Ok(sample)
}

/// Walks every series of a decompressed `WriteRequest`, calling `visit`
/// with its labels (in wire order) and samples; counts metadata entries.
pub fn walk<'a>(
    raw: &'a [u8],
    visit: impl FnMut(usize, SeriesView<'a, '_>) -> Result<(), RemoteWriteError>,
) -> Result<WalkSummary, RemoteWriteError> {
    walk_with_metadata(raw, visit, |_, _| {})
}

/// As [`walk`], and calls `visit_metadata` with each `MetricMetadata`
/// entry (family name and what it declares).
pub fn walk_with_metadata<'a>(
    raw: &'a [u8],
    mut visit: impl FnMut(usize, SeriesView<'a, '_>) -> Result<(), RemoteWriteError>,
    mut visit_metadata: impl FnMut(&'a str, MetadataView<'a>),
) -> Result<WalkSummary, RemoteWriteError> {
    let mut summary = WalkSummary::default();
    let mut labels: Vec<(&'a str, &'a str)> = Vec::with_capacity(16);
    let mut samples: Vec<Sample> = Vec::with_capacity(4);
    let mut reader = Reader::new(raw);
    while !reader.done() {
        match reader.key()? {
            (1, 2) => {
                let series = reader.len_delimited()?;
                labels.clear();
                samples.clear();
                let mut inner = Reader::new(series);
                while !inner.done() {
                    match inner.key()? {
                        (1, 2) => labels.push(read_label(inner.len_delimited()?)?),
                        (2, 2) => samples.push(read_sample(inner.len_delimited()?)?),
                        (_, wire) => inner.skip(wire)?,
                    }
                }
                for sample in &samples {
                    summary.min_timestamp_ms = Some(
                        summary
                            .min_timestamp_ms
                            .map_or(sample.timestamp, |m| m.min(sample.timestamp)),
                    );
                    summary.max_timestamp_ms = Some(
                        summary
                            .max_timestamp_ms
                            .map_or(sample.timestamp, |m| m.max(sample.timestamp)),
                    );
                }
                let index = summary.series as usize;
                summary.series += 1;
                summary.samples += samples.len() as u32;
                visit(
                    index,
                    SeriesView {
                        labels: &labels,
                        samples: &samples,
                        metadata: None,
                    },
                )?;
            }
            (3, 2) => {
                let (name, metadata) = read_metric_metadata(reader.len_delimited()?)?;
                summary.metadata += 1;
                if !name.is_empty() {
                    visit_metadata(name, metadata);
                }
            }
            (_, wire) => reader.skip(wire)?,
        }
    }
    Ok(summary)
}

/// A 1.0 `MetricMetadata`: type (1), family name (2), help (4), unit (5).
/// A text that is not UTF-8 reads as empty: metadata is advisory, and the
/// samples of its request are not refused over it.
fn read_metric_metadata(buf: &[u8]) -> Result<(&str, MetadataView<'_>), WireError> {
    fn text(bytes: &[u8]) -> &str {
        std::str::from_utf8(bytes).unwrap_or_default()
    }
    let mut reader = Reader::new(buf);
    let (mut code, mut name, mut help, mut unit) = (0, "", "", "");
    while !reader.done() {
        match reader.key()? {
            (1, 0) => code = reader.varint()?,
            (2, 2) => name = text(reader.len_delimited()?),
            (4, 2) => help = text(reader.len_delimited()?),
            (5, 2) => unit = text(reader.len_delimited()?),
            (_, wire) => reader.skip(wire)?,
        }
    }
    let view = MetadataView {
        metric_type: type_name(code),
        help,
        unit,
    };
    Ok((name, view))
}

/// Validates as `remote_write::validate` does, without building structs.
pub fn validate_walk(raw: &[u8]) -> Result<WalkSummary, RemoteWriteError> {
    walk(raw, |index, series| {
        crate::remote_write::validate_labels(index, series.labels.iter().copied())
    })
}
