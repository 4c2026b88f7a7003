//! Reads of one partition at an explicit offset: a librdkafka consumer per
//! partition being read, assigned (never subscribed) at the requested
//! offset, and kept idle between reads so a reader going front to back keeps
//! what librdkafka prefetched instead of fetching again.

use super::errors::log_error;
use crate::{LogError, Offset, StoredRecord};
use bytes::Bytes;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::{ClientConfig, Message, TopicPartitionList};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A read stops adding records once it holds this many bytes (it always
/// returns at least one record when there is one), like the embedded log's
/// `max_read_bytes`.
const MAX_READ_BYTES: usize = 16 * 1024 * 1024;

/// What one read asks for.
pub(crate) struct ReadRequest {
    pub from: Offset,
    pub max_records: usize,
    pub wait: Duration,
    /// An offset the partition is known to have reached (from this
    /// process's appends or watermark lookups): records below it exist, so
    /// the read waits for them even with a zero `wait`.
    pub known_end: Offset,
    /// Bound on fetching records known to exist.
    pub fetch_timeout: Duration,
}

/// A consumer assigned to one partition, and where its next record is.
pub(crate) struct Reader {
    consumer: BaseConsumer,
    topic: String,
    partition: u32,
    /// The offset the consumer returns next without a new assignment.
    next: Option<Offset>,
}

impl Reader {
    fn new(config: &ClientConfig, topic: &str, partition: u32) -> Result<Self, LogError> {
        let consumer: BaseConsumer = config
            .create()
            .map_err(|error| log_error("creating a partition reader", &error))?;
        Ok(Self {
            consumer,
            topic: topic.to_string(),
            partition,
            next: None,
        })
    }

    /// Blocks its thread: run it on the blocking pool.
    fn read(&mut self, request: &ReadRequest) -> Result<Vec<StoredRecord>, LogError> {
        let from = request.from;
        let partition = partition_i32(self.partition)?;
        if self.next != Some(from) {
            let offset = i64::try_from(from)
                .map_err(|_| LogError::Invalid(format!("offset {from} out of range")))?;
            let mut assignment = TopicPartitionList::new();
            assignment
                .add_partition_offset(&self.topic, partition, rdkafka::Offset::Offset(offset))
                .map_err(|error| log_error("assigning a partition reader", &error))?;
            // A new assignment drops whatever was prefetched at the old one.
            self.consumer
                .assign(&assignment)
                .map_err(|error| log_error("assigning a partition reader", &error))?;
            self.next = Some(from);
        }
        let present = from < request.known_end;
        let first_wait = if present {
            request.wait.max(request.fetch_timeout)
        } else {
            request.wait
        };
        let started = Instant::now();
        let mut records = Vec::new();
        let mut bytes = 0;
        let mut last_error = None;
        while records.len() < request.max_records && bytes < MAX_READ_BYTES {
            let next = self.next.unwrap_or(from);
            let timeout = if records.is_empty() {
                first_wait.saturating_sub(started.elapsed())
            } else if next < request.known_end {
                // The rest of what is known to exist may be in a later fetch.
                request.fetch_timeout
            } else {
                // Only what librdkafka already holds: a fetch response
                // arrives whole, so this is the rest of the current batch.
                Duration::ZERO
            };
            match self.consumer.poll(timeout) {
                None => {
                    if records.is_empty() && started.elapsed() < first_wait {
                        continue;
                    }
                    break;
                }
                Some(Ok(message)) => {
                    let Ok(offset) = u64::try_from(message.offset()) else {
                        continue;
                    };
                    let key = message
                        .key()
                        .map_or_else(Bytes::new, Bytes::copy_from_slice);
                    let value = message
                        .payload()
                        .map_or_else(Bytes::new, Bytes::copy_from_slice);
                    bytes += key.len() + value.len();
                    records.push(StoredRecord {
                        topic: self.topic.clone(),
                        partition: self.partition,
                        offset,
                        key,
                        value,
                        timestamp_ms: message.timestamp().to_millis().unwrap_or(0),
                    });
                    self.next = Some(offset + 1);
                }
                Some(Err(error)) => {
                    if matches!(
                        error.rdkafka_error_code(),
                        Some(
                            RDKafkaErrorCode::OffsetOutOfRange | RDKafkaErrorCode::AutoOffsetReset
                        )
                    ) {
                        self.next = None;
                        return Err(LogError::Invalid(format!(
                            "offset {from} is outside {}/{}: {error}",
                            self.topic, self.partition
                        )));
                    }
                    // Connection trouble: librdkafka retries by itself; say
                    // so if the read ends without records.
                    tracing::debug!(topic = %self.topic, partition = self.partition, %error, "read error");
                    last_error = Some(error);
                    if records.is_empty() && started.elapsed() >= first_wait {
                        break;
                    }
                }
            }
        }
        if records.is_empty() && present {
            self.next = None;
            let why = last_error.map_or_else(|| "no answer".to_string(), |e| e.to_string());
            return Err(LogError::Unavailable(format!(
                "records from offset {from} of {}/{} not fetched within {:?}: {why}",
                self.topic, self.partition, first_wait
            )));
        }
        Ok(records)
    }
}

fn partition_i32(partition: u32) -> Result<i32, LogError> {
    i32::try_from(partition)
        .map_err(|_| LogError::Invalid(format!("partition {partition} out of range")))
}

struct Idle {
    reader: Reader,
    last_used: Instant,
}

/// Idle readers by (topic, partition). A read takes its partition's reader
/// out for its duration, so concurrent reads of one partition each get
/// their own consumer instead of queueing behind a long wait.
pub(crate) struct Readers {
    config: ClientConfig,
    idle: Mutex<HashMap<(String, u32), Idle>>,
    max_idle: usize,
}

impl Readers {
    pub(crate) fn new(config: ClientConfig, max_idle: usize) -> Self {
        Self {
            config,
            idle: Mutex::new(HashMap::new()),
            max_idle,
        }
    }

    pub(crate) async fn read(
        &self,
        topic: &str,
        partition: u32,
        request: ReadRequest,
    ) -> Result<Vec<StoredRecord>, LogError> {
        let idle = self
            .lock()
            .remove(&(topic.to_string(), partition))
            .map(|idle| idle.reader);
        let config = self.config.clone();
        let topic_owned = topic.to_string();
        // Polling blocks; so does creating a consumer (it starts threads).
        let (reader, result) = tokio::task::spawn_blocking(move || {
            let mut reader = match idle {
                Some(reader) => reader,
                None => match Reader::new(&config, &topic_owned, partition) {
                    Ok(reader) => reader,
                    Err(error) => return (None, Err(error)),
                },
            };
            let result = reader.read(&request);
            (Some(reader), result)
        })
        .await
        .map_err(|error| LogError::Unavailable(format!("read task failed: {error}")))?;
        if let Some(reader) = reader {
            self.put_back(reader);
        }
        result
    }

    fn put_back(&self, reader: Reader) {
        let evicted = {
            let mut idle = self.lock();
            let key = (reader.topic.clone(), reader.partition);
            if idle.contains_key(&key) {
                // A concurrent read of the same partition returned first.
                Some(reader)
            } else {
                let evicted = if idle.len() >= self.max_idle {
                    let oldest = idle
                        .iter()
                        .min_by_key(|(_, entry)| entry.last_used)
                        .map(|(key, _)| key.clone());
                    oldest.and_then(|key| idle.remove(&key)).map(|e| e.reader)
                } else {
                    None
                };
                if self.max_idle > 0 {
                    idle.insert(
                        key,
                        Idle {
                            reader,
                            last_used: Instant::now(),
                        },
                    );
                    evicted
                } else {
                    Some(reader)
                }
            }
        };
        if let Some(reader) = evicted {
            // Closing a consumer waits for its threads.
            tokio::task::spawn_blocking(move || drop(reader));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, u32), Idle>> {
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
