//! Snapshots of state folded from the log, so a restart reads the last
//! snapshot and the tail after it instead of every record since offset 0.
//!
//! A snapshot is an opaque body plus the positions it covers (the next
//! offset per partition of each topic the fold read). It is stored in the
//! log itself, on every backend alike: the body split into parts of at
//! most [`PART_BYTES`] (a Kafka broker takes records of 1 MB by default),
//! appended under the owner's name as key, and then a commit of the
//! consumer group `snapshot.<owner>` at the first part's offset whose
//! metadata says how many parts there are and what they cover. The commit
//! comes last, so a crash while writing leaves the previous snapshot in
//! force; and the embedded log's retention never removes what a group has
//! not read past, which keeps the committed snapshot while older ones go.
//! Each part starts with the snapshot's 8-byte id, so two writers of the
//! same owner (two actuator loops) whose parts interleave never mix.

use crate::{partition_for_key, CommittedPosition, EventLog, LogError, NewRecord, Offset};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Largest part of a snapshot body, well under Kafka's default 1 MB
/// `message.max.bytes`.
pub const PART_BYTES: usize = 512 * 1024;

/// When a fold saves its next snapshot: once `after` records were folded
/// since the last save, or `every` has passed with at least one.
#[derive(Debug)]
pub struct Schedule {
    after: usize,
    every: Duration,
    folded_since: usize,
    saved_at: std::time::Instant,
}

impl Schedule {
    pub fn new(after: usize, every: Duration) -> Self {
        Schedule {
            after,
            every,
            folded_since: 0,
            saved_at: std::time::Instant::now(),
        }
    }

    pub fn folded(&mut self, records: usize) {
        self.folded_since += records;
    }

    /// Whether anything was folded since the last save.
    pub fn unsaved(&self) -> bool {
        self.folded_since > 0
    }

    pub fn due(&self) -> bool {
        self.folded_since >= self.after || (self.unsaved() && self.saved_at.elapsed() >= self.every)
    }

    pub fn saved(&mut self) {
        self.folded_since = 0;
        self.saved_at = std::time::Instant::now();
    }
}

/// What one snapshot covers: per topic, the next offset of each partition.
pub type Covers = BTreeMap<String, BTreeMap<u32, Offset>>;

/// A snapshot as loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub covers: Covers,
    pub body: Vec<u8>,
}

/// Stored in the commit's metadata.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Pointer {
    id: u64,
    parts: usize,
    bytes: usize,
    covers: Covers,
}

/// The group whose committed position points at `owner`'s snapshot.
fn pointer_group(owner: &str) -> String {
    format!("snapshot.{owner}")
}

/// Writes a snapshot of `owner`'s state, in force once this returns.
pub async fn save(
    log: &dyn EventLog,
    topic: &str,
    owner: &str,
    covers: &Covers,
    body: &[u8],
) -> Result<(), LogError> {
    let (id, timestamp_ms) = new_id();
    // An empty body is one empty part, so the pointer always names a record.
    let chunks: Vec<&[u8]> = if body.is_empty() {
        vec![body]
    } else {
        body.chunks(PART_BYTES).collect()
    };
    let records: Vec<NewRecord> = chunks
        .into_iter()
        .map(|part| {
            let mut value = Vec::with_capacity(8 + part.len());
            value.extend_from_slice(&id.to_be_bytes());
            value.extend_from_slice(part);
            NewRecord {
                key: owner.as_bytes().to_vec().into(),
                value: value.into(),
                timestamp_ms,
            }
        })
        .collect();
    let parts = records.len();
    let written = log.append(topic, records).await?;
    let (partition, first) = written[0];
    let metadata = serde_json::to_string(&Pointer {
        id,
        parts,
        bytes: body.len(),
        covers: covers.clone(),
    })
    .map_err(|e| LogError::Invalid(format!("snapshot pointer: {e}")))?;
    log.commit(
        &pointer_group(owner),
        topic,
        partition,
        CommittedPosition {
            next_offset: first,
            metadata,
        },
    )
    .await
}

/// The newest snapshot of `owner`, or `None` when there is none or it can
/// no longer be read whole (removed by the broker's retention, say): the
/// caller then folds the topics from their start, which is always right.
pub async fn load(
    log: &dyn EventLog,
    topic: &str,
    owner: &str,
) -> Result<Option<Snapshot>, LogError> {
    let partition = partition_for_key(owner.as_bytes(), log.partitions(topic).await?);
    let Some(position) = log
        .committed(&pointer_group(owner), topic, partition)
        .await?
    else {
        return Ok(None);
    };
    let pointer: Pointer = match serde_json::from_str(&position.metadata) {
        Ok(pointer) => pointer,
        Err(error) => {
            tracing::warn!(owner, %error, "unreadable snapshot pointer; folding from the start");
            return Ok(None);
        }
    };
    if position.next_offset < log.start_offset(topic, partition).await? {
        tracing::warn!(
            owner,
            offset = position.next_offset,
            "snapshot removed by retention; folding from the start"
        );
        return Ok(None);
    }
    let mut body = Vec::with_capacity(pointer.bytes);
    let mut from = position.next_offset;
    let mut seen = 0;
    while seen < pointer.parts {
        let records = log
            .read(topic, partition, from, pointer.parts - seen, Duration::ZERO)
            .await?;
        let Some(last) = records.last() else { break };
        from = last.offset + 1;
        // Other snapshots may sit between the parts on a shared
        // partition; the key and the id tell them apart.
        let id = pointer.id.to_be_bytes();
        for record in &records {
            let ours = record.key.as_ref() == owner.as_bytes() && record.value.starts_with(&id);
            if ours && seen < pointer.parts {
                body.extend_from_slice(&record.value[id.len()..]);
                seen += 1;
            }
        }
    }
    if seen < pointer.parts || body.len() != pointer.bytes {
        tracing::warn!(
            owner,
            parts = pointer.parts,
            found = seen,
            "snapshot incomplete; folding from the start"
        );
        return Ok(None);
    }
    Ok(Some(Snapshot {
        covers: pointer.covers,
        body,
    }))
}

/// A snapshot id unlikely to repeat (wall clock, process and a counter
/// hashed together) and the wall-clock time in unix milliseconds.
fn new_id() -> (u64, i64) {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let mut seed = [0u8; 24];
    seed[..16].copy_from_slice(&since.as_nanos().to_be_bytes());
    seed[16..20].copy_from_slice(&std::process::id().to_be_bytes());
    let count = COUNTER.fetch_add(1, Ordering::Relaxed) as u32;
    seed[20..].copy_from_slice(&count.to_be_bytes());
    let millis = i64::try_from(since.as_millis()).unwrap_or(i64::MAX);
    (xxhash_rust::xxh3::xxh3_64(&seed), millis)
}
