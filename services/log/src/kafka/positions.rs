//! Consumer group positions as records of one compacted topic (one
//! partition, keyed by group, topic and partition), so a position and its
//! metadata are written together in one acknowledged append.
//!
//! Why not Kafka's commit metadata alone: Kafka-protocol brokers differ in
//! whether they keep it (nisshi 0.8 returns it empty) and Apache Kafka caps
//! it at `offset.metadata.max.bytes` (4 KB by default), less than an
//! evaluator checkpoint with many rule groups. The position is also
//! committed as a Kafka group offset (module `groups`), so standard lag
//! tooling sees each group.

use super::KafkaLog;
use crate::{CommittedPosition, EventLog, LogError, NewRecord, Offset};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Records per read while catching up on the positions topic.
const CATCH_UP_BATCH: usize = 1000;

#[derive(Serialize, Deserialize)]
struct PositionRecord {
    next_offset: Offset,
    metadata: String,
}

/// The latest position per key seen in the topic, and how far it was read.
#[derive(Default)]
struct Seen {
    next: Offset,
    latest: HashMap<String, CommittedPosition>,
}

pub(crate) struct Positions {
    topic: String,
    seen: tokio::sync::Mutex<Seen>,
}

impl Positions {
    pub(crate) fn new(topic: String) -> Self {
        Self {
            topic,
            seen: tokio::sync::Mutex::new(Seen::default()),
        }
    }

    pub(crate) fn topic(&self) -> &str {
        &self.topic
    }

    pub(crate) async fn commit(
        &self,
        log: &KafkaLog,
        group: &str,
        topic: &str,
        partition: u32,
        position: CommittedPosition,
    ) -> Result<(), LogError> {
        let value = serde_json::to_vec(&PositionRecord {
            next_offset: position.next_offset,
            metadata: position.metadata,
        })
        .map_err(|error| LogError::Invalid(format!("encoding a position: {error}")))?;
        let timestamp_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_millis() as i64);
        let record = NewRecord {
            key: Bytes::from(key(group, topic, partition)),
            value: Bytes::from(value),
            timestamp_ms,
        };
        log.append(&self.topic, vec![record]).await?;
        Ok(())
    }

    /// Reads the positions appended since the last call (by any process),
    /// then answers from what was read.
    pub(crate) async fn committed(
        &self,
        log: &KafkaLog,
        group: &str,
        topic: &str,
        partition: u32,
    ) -> Result<Option<CommittedPosition>, LogError> {
        let mut seen = self.seen.lock().await;
        let end = log.end_offset(&self.topic, 0).await?;
        while seen.next < end {
            let records = log
                .read(&self.topic, 0, seen.next, CATCH_UP_BATCH, Duration::ZERO)
                .await?;
            let Some(last) = records.last().map(|record| record.offset) else {
                return Err(LogError::Unavailable(format!(
                    "{}: no records between {} and {end}",
                    self.topic, seen.next
                )));
            };
            for record in records {
                let key = String::from_utf8_lossy(&record.key).into_owned();
                match serde_json::from_slice::<PositionRecord>(&record.value) {
                    Ok(position) => {
                        seen.latest.insert(
                            key,
                            CommittedPosition {
                                next_offset: position.next_offset,
                                metadata: position.metadata,
                            },
                        );
                    }
                    Err(error) => {
                        tracing::warn!(topic = %self.topic, offset = record.offset, %error, "skipping undecodable position");
                    }
                }
            }
            seen.next = last + 1;
        }
        Ok(seen.latest.get(&key(group, topic, partition)).cloned())
    }
}

/// `/` occurs in neither group nor topic names, so keys cannot collide.
fn key(group: &str, topic: &str, partition: u32) -> String {
    format!("{group}/{topic}/{partition}")
}
