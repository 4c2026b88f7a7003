//! The event log: topics split into partitions, keyed appends that return
//! only once the records are durable, reads by offset, and consumer groups
//! with committed positions. Two backends implement [`EventLog`]: the
//! embedded one (files in the data dir) and Kafka (feature `kafka`). Payloads are
//! opaque bytes here; `closeloop-core` knows what they mean.

pub mod embedded;
mod error;
pub mod follow;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod membership;
pub mod snapshot;
#[cfg(feature = "testsuite")]
#[doc(hidden)]
pub mod testsuite;

pub use error::LogError;
pub use membership::{Assignment, Membership};

use async_trait::async_trait;
use bytes::Bytes;
use std::time::Duration;

/// Position of a record within one partition; the first record is 0.
pub type Offset = u64;

/// A record to append. The key picks the partition (same key, same
/// partition, so per-key order is kept) as in Kafka.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecord {
    pub key: Bytes,
    pub value: Bytes,
    /// Event time in unix milliseconds, stored with the record (Kafka's
    /// record timestamp).
    pub timestamp_ms: i64,
}

/// A record as stored, with where it lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    pub topic: String,
    pub partition: u32,
    pub offset: Offset,
    pub key: Bytes,
    pub value: Bytes,
    pub timestamp_ms: i64,
}

/// Where a consumer group has got to in one partition: the offset of the
/// next record it will read, plus free-form metadata stored atomically with
/// it (Kafka's commit metadata) so a consumer can keep e.g. its last
/// evaluated tick beside its offset.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CommittedPosition {
    pub next_offset: Offset,
    pub metadata: String,
}

#[async_trait]
pub trait EventLog: Send + Sync + 'static {
    /// Appends records to a topic; returns each record's (partition, offset)
    /// in input order only after all of them are durable (fsynced for the
    /// embedded log, acknowledged by all in-sync replicas for Kafka).
    /// `LogError::Unavailable` means "try again later" (ingest answers 503).
    /// An append is not atomic across partitions: after an error some of
    /// its records may be stored, so a retry can duplicate them
    /// (at-least-once, as with Kafka without transactions).
    async fn append(
        &self,
        topic: &str,
        records: Vec<NewRecord>,
    ) -> Result<Vec<(u32, Offset)>, LogError>;

    /// Number of partitions of a topic (created on first use with the
    /// backend's default count).
    async fn partitions(&self, topic: &str) -> Result<u32, LogError>;

    /// Reads up to `max_records` records of one partition starting at
    /// `from`. Waits up to `wait` for at least one record when none is there
    /// yet; returns an empty vector on timeout. `from` past the end offset
    /// is `LogError::Invalid` (Kafka's offset out of range).
    async fn read(
        &self,
        topic: &str,
        partition: u32,
        from: Offset,
        max_records: usize,
        wait: Duration,
    ) -> Result<Vec<StoredRecord>, LogError>;

    /// The offset the next appended record of this partition will get
    /// (Kafka's high watermark).
    async fn end_offset(&self, topic: &str, partition: u32) -> Result<Offset, LogError>;

    /// The first offset still stored (Kafka's log start offset, its low
    /// watermark): retention removed everything before it, and reading
    /// before it is `LogError::Invalid`. The default, 0, is right for a log
    /// that never removes records.
    async fn start_offset(&self, topic: &str, partition: u32) -> Result<Offset, LogError> {
        let _ = (topic, partition);
        Ok(0)
    }

    /// Durably records a consumer group's position in one partition.
    async fn commit(
        &self,
        group: &str,
        topic: &str,
        partition: u32,
        position: CommittedPosition,
    ) -> Result<(), LogError>;

    /// The last committed position of a group in a partition, if any.
    async fn committed(
        &self,
        group: &str,
        topic: &str,
        partition: u32,
    ) -> Result<Option<CommittedPosition>, LogError>;

    /// Joins `group` as one of the live members sharing the partitions of
    /// `topic` (created if missing), for work split across processes: each
    /// partition is owned by one member at a time and moves to the others
    /// when its owner leaves or dies (module [`membership`]).
    async fn join(&self, group: &str, topic: &str) -> Result<Membership, LogError>;
}

/// The partition a key maps to; the same function for every backend so a
/// key's records stay in one partition whichever backend wrote them.
pub fn partition_for_key(key: &[u8], partitions: u32) -> u32 {
    if partitions <= 1 {
        return 0;
    }
    (xxhash_rust::xxh3::xxh3_64(key) % u64::from(partitions)) as u32
}
