//! What readers of one partition see: the durable segments with their
//! sparse indexes and the durable end offset, published by the partition's
//! writer only after each fsync, so no reader ever sees a record that could
//! still be lost.

use super::frame::{self, Parsed, HEADER_LEN};
use super::segment::{self, IndexEntry, SegmentView};
use super::Retention;
use crate::{LogError, Offset, StoredRecord};
use bytes::Bytes;
use std::fs::File;
use std::path::PathBuf;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use tokio::sync::watch;

/// Bytes fetched per positional read; a record larger than this is fetched
/// whole in one read of its own size.
const READ_CHUNK: usize = 256 * 1024;

#[derive(Debug)]
pub(crate) struct PartitionView {
    pub topic: Arc<str>,
    pub partition: u32,
    segments: RwLock<Vec<SegmentView>>,
    /// Durable end offset; readers wait on it for new records.
    end: watch::Sender<Offset>,
}

#[derive(Debug)]
pub(crate) struct DurableTail {
    pub base_offset: Offset,
    pub path: PathBuf,
    pub len: u64,
    pub end_offset: Offset,
    pub last_indexed: Option<u64>,
}

/// The part of one segment a read will scan, copied out of the lock so the
/// I/O runs without holding it.
struct Span {
    file: Arc<File>,
    path: PathBuf,
    start: IndexEntry,
    len: u64,
    end_offset: Offset,
}

impl PartitionView {
    pub fn new(topic: Arc<str>, partition: u32, segments: Vec<SegmentView>) -> Self {
        let end_offset = segments.last().map_or(0, |segment| segment.end_offset);
        Self {
            topic,
            partition,
            segments: RwLock::new(segments),
            end: watch::Sender::new(end_offset),
        }
    }

    pub fn end_offset(&self) -> Offset {
        *self.end.borrow()
    }

    pub fn subscribe(&self) -> watch::Receiver<Offset> {
        self.end.subscribe()
    }

    /// Makes a durable batch visible: extends the active segment and wakes
    /// waiting readers. Called by the writer after `sync_data` returned.
    pub fn publish_append(
        &self,
        entries: Vec<IndexEntry>,
        end_offset: Offset,
        len: u64,
        max_timestamp_ms: i64,
    ) {
        if let Some(active) = self.write_segments().last_mut() {
            active.index.extend(entries);
            active.end_offset = end_offset;
            active.len = len;
            active.max_timestamp_ms = active.max_timestamp_ms.max(max_timestamp_ms);
        }
        self.end.send_replace(end_offset);
    }

    /// The last durable segment as readers see it: where a writer cuts
    /// back to after a failed write or fsync.
    pub fn durable_tail(&self) -> Option<DurableTail> {
        self.read_segments().last().map(|segment| DurableTail {
            base_offset: segment.base_offset,
            path: segment.path.clone(),
            len: segment.len,
            end_offset: segment.end_offset,
            last_indexed: segment.index.last().map(|entry| entry.position),
        })
    }

    /// The first offset still stored (Kafka's log start offset): what
    /// retention removed lies before it.
    pub fn start_offset(&self) -> Offset {
        self.read_segments()
            .first()
            .map_or(0, |segment| segment.base_offset)
    }

    /// Durable bytes of every segment.
    pub fn stored_bytes(&self) -> u64 {
        self.read_segments().iter().map(|segment| segment.len).sum()
    }

    /// Takes the oldest segments `policy` lets go off the list, and returns
    /// them for the caller to delete. Never the active (last) segment, and
    /// never one holding an offset at or past `needed_from`, the lowest
    /// position a consumer still reads from. Only a prefix goes, so the
    /// partition stays contiguous from its new start offset.
    pub fn take_expired(
        &self,
        policy: &Retention,
        needed_from: Offset,
        now_ms: i64,
    ) -> Vec<SegmentView> {
        let mut segments = self.write_segments();
        let mut remaining: u64 = segments.iter().map(|segment| segment.len).sum();
        let oldest_kept_ms = policy
            .max_age
            .map(|age| now_ms.saturating_sub(i64::try_from(age.as_millis()).unwrap_or(i64::MAX)));
        let mut expired = 0;
        while expired + 1 < segments.len() {
            let segment = &segments[expired];
            if segment.end_offset > needed_from {
                break;
            }
            let too_old = oldest_kept_ms.is_some_and(|oldest| segment.max_timestamp_ms < oldest);
            let too_big = policy.max_bytes.is_some_and(|max| remaining > max);
            if !(too_old || too_big) {
                break;
            }
            remaining -= segment.len;
            expired += 1;
        }
        segments.drain(..expired).collect()
    }

    /// Adds a new segment after a roll, once its first batch is durable.
    pub fn push_segment(&self, segment: SegmentView) {
        self.write_segments().push(segment);
    }

    /// Reads up to `max` records from `from` on, across segments, stopping
    /// early once `max_bytes` of records are collected (but always returning
    /// at least one record when one exists). Blocking: run off the runtime.
    pub fn read_records(
        &self,
        from: Offset,
        max: usize,
        max_bytes: usize,
    ) -> Result<Vec<StoredRecord>, LogError> {
        let mut out = Vec::new();
        let mut bytes = 0usize;
        let mut next = from;
        while out.len() < max && (out.is_empty() || bytes < max_bytes) {
            let Some(span) = self.span_for(next)? else {
                break;
            };
            self.read_span(&span, from, max, max_bytes, &mut out, &mut bytes)?;
            next = span.end_offset;
        }
        Ok(out)
    }

    fn span_for(&self, offset: Offset) -> Result<Option<Span>, LogError> {
        let segments = self.read_segments();
        let at = segments.partition_point(|segment| segment.base_offset <= offset);
        let Some(index) = at.checked_sub(1) else {
            let start = segments.first().map_or(0, |segment| segment.base_offset);
            return Err(LogError::Invalid(format!(
                "{}/{}: offset {offset} is before the log start {start} (retention removed it)",
                self.topic, self.partition
            )));
        };
        let segment = &segments[index];
        if offset >= segment.end_offset {
            return match segments.get(index + 1) {
                None => Ok(None),
                Some(next) => Err(LogError::Corrupt(format!(
                    "{}/{}: records {offset}..{} are missing (segment {} ends early)",
                    self.topic,
                    self.partition,
                    next.base_offset,
                    segment.path.display()
                ))),
            };
        }
        Ok(Some(Span {
            file: Arc::clone(&segment.file),
            path: segment.path.clone(),
            start: segment.seek_point(offset),
            len: segment.len,
            end_offset: segment.end_offset,
        }))
    }

    fn read_span(
        &self,
        span: &Span,
        from: Offset,
        max: usize,
        max_bytes: usize,
        out: &mut Vec<StoredRecord>,
        bytes: &mut usize,
    ) -> Result<(), LogError> {
        let corrupt = |position: u64, what: String| {
            LogError::Corrupt(format!(
                "{} at byte {position}: {what}",
                span.path.display()
            ))
        };
        let mut position = span.start.position;
        let mut expected = span.start.offset;
        let mut want = READ_CHUNK;
        while position < span.len && out.len() < max && (out.is_empty() || *bytes < max_bytes) {
            let len = want.max(READ_CHUNK).min((span.len - position) as usize);
            let chunk = Bytes::from(segment::read_at(&span.file, position, len)?);
            want = READ_CHUNK;
            let mut at = 0usize;
            while at < chunk.len() && out.len() < max && (out.is_empty() || *bytes < max_bytes) {
                let here = position + at as u64;
                match frame::parse(&chunk[at..]) {
                    Parsed::Frame(view) => {
                        if view.offset != expected {
                            return Err(corrupt(
                                here,
                                format!("expected offset {expected}, found {}", view.offset),
                            ));
                        }
                        if view.offset >= from {
                            *bytes += view.frame_len;
                            out.push(StoredRecord {
                                topic: self.topic.to_string(),
                                partition: self.partition,
                                offset: view.offset,
                                key: chunk.slice(at + view.key.start..at + view.key.end),
                                value: chunk.slice(at + view.value.start..at + view.value.end),
                                timestamp_ms: view.timestamp_ms,
                            });
                        }
                        at += view.frame_len;
                        expected += 1;
                    }
                    Parsed::Incomplete { frame_len } => {
                        let needed = frame_len.unwrap_or(HEADER_LEN);
                        if here + needed as u64 > span.len {
                            return Err(corrupt(here, "frame runs past the durable end".into()));
                        }
                        // Fetch the whole frame with the next read.
                        want = needed;
                        break;
                    }
                    Parsed::Invalid(reason) => return Err(corrupt(here, reason.into())),
                }
            }
            position += at as u64;
            if expected >= span.end_offset {
                break;
            }
        }
        Ok(())
    }

    // A poisoned lock only means a panic elsewhere while holding it; the
    // data it guards is only ever extended, so it is still consistent.
    fn read_segments(&self) -> RwLockReadGuard<'_, Vec<SegmentView>> {
        self.segments
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write_segments(&self) -> RwLockWriteGuard<'_, Vec<SegmentView>> {
        self.segments
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
