//! Tuning of the embedded log, with defaults sized for ingest of
//! Prometheus remote-write batches (tens to hundreds of KB each).

use crate::LogError;
use std::collections::BTreeMap;
use std::time::Duration;

/// How much of a topic each partition keeps; `None` is no limit. Whole
/// segments go, oldest first, once every record in one is older than
/// `max_age` (by record timestamp) or the partition holds more than
/// `max_bytes` — but never a segment a consumer group has not read past
/// (see [`super::EmbeddedLog`]), and never the segment being written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Retention {
    pub max_age: Option<Duration>,
    pub max_bytes: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedOptions {
    /// Partitions of a topic created on first use. Existing topics keep the
    /// count they were created with.
    pub default_partitions: u32,
    /// A segment rolls once the next batch would take it past this size.
    pub segment_bytes: u64,
    /// A writer stops gathering queued appends into one write + fsync once
    /// the batch reaches this size (one larger append still goes alone).
    pub max_batch_bytes: usize,
    /// Largest single record (encoded frame); larger ones are `Invalid`.
    pub max_record_bytes: usize,
    /// Appends that may wait for a partition's writer; more is `Unavailable`.
    pub queue_capacity: usize,
    /// Bytes that may wait for a partition's writer; more is `Unavailable`.
    pub max_queued_bytes: usize,
    /// How long `append` waits for its fsync before giving up with
    /// `Unavailable`, so a hung disk cannot hang ingest.
    pub append_timeout: Duration,
    /// One sparse index entry per this many bytes of segment: memory per
    /// segment is `segment_bytes / index_interval_bytes * 16` bytes.
    pub index_interval_bytes: u64,
    /// A read stops once it has this many bytes of records (it always
    /// returns at least one record when there is one).
    pub max_read_bytes: usize,
    /// `false` skips every fsync: only for tests, where durability against
    /// power loss does not matter and speed does.
    pub fsync: bool,
    /// Retention per topic name; topics not named keep every record.
    pub retention: BTreeMap<String, Retention>,
    /// How often the retention pass runs (only when `retention` names a topic).
    pub retention_check_interval: Duration,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        Self {
            default_partitions: 1,
            segment_bytes: 128 * 1024 * 1024,
            max_batch_bytes: 8 * 1024 * 1024,
            max_record_bytes: 32 * 1024 * 1024,
            queue_capacity: 4096,
            max_queued_bytes: 256 * 1024 * 1024,
            append_timeout: Duration::from_secs(30),
            index_interval_bytes: 64 * 1024,
            max_read_bytes: 16 * 1024 * 1024,
            fsync: true,
            retention: BTreeMap::new(),
            retention_check_interval: Duration::from_secs(60),
        }
    }
}

impl EmbeddedOptions {
    pub(crate) fn validate(&self) -> Result<(), LogError> {
        let invalid = |what: &str| Err(LogError::Invalid(format!("embedded log options: {what}")));
        if self.default_partitions == 0 {
            return invalid("default_partitions must be at least 1");
        }
        if self.segment_bytes == 0 || self.max_batch_bytes == 0 || self.queue_capacity == 0 {
            return invalid("segment_bytes, max_batch_bytes and queue_capacity must be positive");
        }
        if self.max_record_bytes > super::frame::MAX_FRAME_LEN {
            return invalid("max_record_bytes must be at most 1 GiB");
        }
        if self.max_queued_bytes < self.max_record_bytes {
            return invalid("max_queued_bytes must be at least max_record_bytes");
        }
        if self.index_interval_bytes == 0 || self.max_read_bytes == 0 {
            return invalid("index_interval_bytes and max_read_bytes must be positive");
        }
        if !self.retention.is_empty() && self.retention_check_interval.is_zero() {
            return invalid("retention_check_interval must be positive");
        }
        Ok(())
    }
}
