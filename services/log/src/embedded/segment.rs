//! Segment files: their names, the scan that rebuilds a segment's sparse
//! index on open (and finds a torn tail), and positional reads.

use super::frame::{self, Parsed, HEADER_LEN};
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const SEGMENT_SUFFIX: &str = ".log";
/// Read-ahead while verifying the last segment, which is read whole.
const VERIFY_BUFFER: usize = 256 * 1024;
/// Read-ahead while indexing a trusted segment from its frame headers:
/// small records are still read sequentially, while records larger than
/// this are skipped by seeking, so opening a log of big remote-write
/// batches reads a fraction of it.
const HEADER_SCAN_BUFFER: usize = 16 * 1024;

/// `<base offset, 20 digits>.log`, so a directory listing sorts by offset.
pub(crate) fn segment_file_name(base_offset: u64) -> String {
    format!("{base_offset:020}{SEGMENT_SUFFIX}")
}

/// The base offset encoded in a segment file name, or `None` for any other file.
pub(crate) fn parse_segment_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Segment files of a partition directory, sorted by base offset.
pub(crate) fn list_segments(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut segments = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if let Some(base) = name.to_str().and_then(parse_segment_file_name) {
            segments.push((base, entry.path()));
        }
    }
    segments.sort_unstable_by_key(|(base, _)| *base);
    Ok(segments)
}

/// One point of a segment's sparse index: record `offset` starts at byte
/// `position` of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IndexEntry {
    pub offset: u64,
    pub position: u64,
}

/// What readers know about one segment: only durable bytes are described.
#[derive(Debug)]
pub(crate) struct SegmentView {
    pub base_offset: u64,
    /// One past the last durable record.
    pub end_offset: u64,
    /// Durable bytes; anything after this may be an unsynced write.
    pub len: u64,
    pub path: PathBuf,
    pub file: Arc<File>,
    /// Sparse index, ascending; the first record (if any) is always indexed.
    pub index: Vec<IndexEntry>,
    /// Newest record timestamp in the segment (`i64::MIN` while empty):
    /// time-based retention removes a segment once this is old enough, as
    /// Kafka does with its segments' largest timestamp.
    pub max_timestamp_ms: i64,
}

impl SegmentView {
    /// Where to start reading to find `offset`: the closest indexed record
    /// at or before it.
    pub fn seek_point(&self, offset: u64) -> IndexEntry {
        let at = self.index.partition_point(|entry| entry.offset <= offset);
        match at.checked_sub(1) {
            Some(i) => self.index[i],
            None => IndexEntry {
                offset: self.base_offset,
                position: 0,
            },
        }
    }
}

/// Decides when a record gets an index entry: the first one of a segment,
/// then one every `interval` bytes, so memory stays proportional to the
/// data size divided by the interval whatever the record size.
#[derive(Debug, Clone)]
pub(crate) struct Indexer {
    interval: u64,
    last_position: Option<u64>,
}

impl Indexer {
    pub fn new(interval: u64) -> Self {
        Self {
            interval: interval.max(1),
            last_position: None,
        }
    }

    /// Continues indexing a segment whose last index entry is at
    /// `last_position` (`None`: nothing indexed yet).
    pub fn resume(interval: u64, last_position: Option<u64>) -> Self {
        Self {
            interval: interval.max(1),
            last_position,
        }
    }

    pub fn entry_for(&mut self, offset: u64, position: u64) -> Option<IndexEntry> {
        let due = match self.last_position {
            None => true,
            Some(last) => position >= last + self.interval,
        };
        if !due {
            return None;
        }
        self.last_position = Some(position);
        Some(IndexEntry { offset, position })
    }
}

/// Result of scanning one segment file.
#[derive(Debug)]
pub(crate) struct Scan {
    pub end_offset: u64,
    /// Bytes up to the end of the last good frame.
    pub valid_len: u64,
    pub file_len: u64,
    pub index: Vec<IndexEntry>,
    pub indexer: Indexer,
    /// Position and reason of the first bad frame, if the scan stopped early.
    pub defect: Option<(u64, &'static str)>,
    pub max_timestamp_ms: i64,
}

/// Scans a segment from the start. With `verify`, every frame's checksum is
/// checked (the last segment, which a crash may have torn); without it only
/// frame headers are read (earlier segments, trusted once written, so
/// opening a large log does not read all of it).
pub(crate) fn scan(
    path: &Path,
    base_offset: u64,
    verify: bool,
    index_interval: u64,
) -> io::Result<Scan> {
    let file = File::open(path)?;
    let file_len = file.metadata()?.len();
    let buffer = if verify {
        VERIFY_BUFFER
    } else {
        HEADER_SCAN_BUFFER
    };
    let mut reader = BufReader::with_capacity(buffer, file);
    let mut indexer = Indexer::new(index_interval);
    let mut index = Vec::new();
    let mut position = 0u64;
    let mut expected = base_offset;
    let mut frame_buf = Vec::new();
    let mut header = [0u8; HEADER_LEN];
    let mut max_timestamp_ms = i64::MIN;
    let defect = loop {
        if position == file_len {
            break None;
        }
        let got = read_full(&mut reader, &mut header)?;
        let (frame_len, offset) = match frame::parse_header(&header[..got]) {
            Ok(parsed) => parsed,
            Err(Parsed::Invalid(reason)) => break Some((position, reason)),
            Err(_) => break Some((position, "short frame")),
        };
        if position + frame_len as u64 > file_len {
            break Some((position, "short frame"));
        }
        if offset != expected {
            break Some((position, "offset discontinuity"));
        }
        if verify {
            frame_buf.clear();
            frame_buf.extend_from_slice(&header);
            frame_buf.resize(frame_len, 0);
            reader.read_exact(&mut frame_buf[HEADER_LEN..])?;
            if let Parsed::Invalid(reason) = frame::parse(&frame_buf) {
                break Some((position, reason));
            }
        } else {
            reader.seek_relative((frame_len - HEADER_LEN) as i64)?;
        }
        if let Some(entry) = indexer.entry_for(offset, position) {
            index.push(entry);
        }
        max_timestamp_ms = max_timestamp_ms.max(frame::timestamp_in_header(&header));
        position += frame_len as u64;
        expected += 1;
    };
    Ok(Scan {
        end_offset: expected,
        valid_len: position,
        file_len,
        index,
        indexer,
        defect,
        max_timestamp_ms,
    })
}

/// Reads until `buf` is full or the end of input; returns the bytes read.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Reads exactly `len` bytes at `position` without moving a shared cursor,
/// so many readers can use one file handle at once.
pub(crate) fn read_at(file: &File, position: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    let mut filled = 0;
    while filled < len {
        match positional_read(file, &mut buf[filled..], position + filled as u64) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "segment ends early",
                ))
            }
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(buf)
}

#[cfg(unix)]
fn positional_read(file: &File, buf: &mut [u8], position: u64) -> io::Result<usize> {
    std::os::unix::fs::FileExt::read_at(file, buf, position)
}

#[cfg(windows)]
fn positional_read(file: &File, buf: &mut [u8], position: u64) -> io::Result<usize> {
    std::os::windows::fs::FileExt::seek_read(file, buf, position)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_sort_by_offset_and_parse_back() {
        assert_eq!(segment_file_name(42), "00000000000000000042.log");
        assert_eq!(
            parse_segment_file_name("00000000000000000042.log"),
            Some(42)
        );
        assert_eq!(parse_segment_file_name("42.log"), None);
        assert_eq!(parse_segment_file_name("0000000000000000004x.log"), None);
        assert_eq!(
            parse_segment_file_name("00000000000000000042.log.tmp"),
            None
        );
    }

    #[test]
    fn indexer_marks_the_first_record_then_every_interval() {
        let mut indexer = Indexer::new(100);
        assert!(indexer.entry_for(0, 0).is_some());
        assert!(indexer.entry_for(1, 60).is_none());
        assert!(indexer.entry_for(2, 120).is_some());
        assert!(indexer.entry_for(3, 200).is_none());
        assert!(indexer.entry_for(4, 220).is_some());
    }

    #[test]
    fn seek_point_is_the_closest_indexed_record_before_the_offset() {
        let file = Arc::new(tempfile::tempfile().expect("temp file"));
        let view = SegmentView {
            base_offset: 10,
            end_offset: 30,
            len: 1000,
            path: PathBuf::new(),
            file,
            index: vec![
                IndexEntry {
                    offset: 10,
                    position: 0,
                },
                IndexEntry {
                    offset: 20,
                    position: 500,
                },
            ],
            max_timestamp_ms: i64::MIN,
        };
        assert_eq!(view.seek_point(10).position, 0);
        assert_eq!(view.seek_point(19).position, 0);
        assert_eq!(
            view.seek_point(25),
            IndexEntry {
                offset: 20,
                position: 500
            }
        );
    }
}
