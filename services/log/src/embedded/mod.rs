//! The embedded backend: the event log as append-only segment files in the
//! data directory, for `closeloop serve` on one machine.
//!
//! Layout: `<dir>/<topic>/<partition>/<base offset, 20 digits>.log` for
//! records (module `frame` documents the record format) and
//! `<dir>/_groups/<group>/<topic>-<partition>.json` for consumer group
//! positions. Each partition has a writer thread and a sync thread doing
//! pipelined group commit (modules `writer` and `sync`); readers see a record only
//! after the fsync that made it durable.

mod frame;
mod fsutil;
mod groups;
mod options;
mod partition;
mod recovery;
mod retention;
mod segment;
mod sync;
mod topics;
mod view;
mod writer;

pub use options::{EmbeddedOptions, Retention};
pub use retention::RetentionSummary;

use crate::{
    partition_for_key, CommittedPosition, EventLog, LogError, Membership, NewRecord, Offset,
    StoredRecord,
};
use async_trait::async_trait;
use groups::GroupStore;
use partition::PartitionHandle;
use retention::{RetentionThread, TopicMap};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

/// The event log kept in a local directory. Open it once per directory and
/// process; call [`EmbeddedLog::close`] to stop its writer threads before
/// opening the same directory again.
#[derive(Debug)]
pub struct EmbeddedLog {
    dir: PathBuf,
    options: EmbeddedOptions,
    topics: TopicMap,
    /// Serializes topic creation, so two first appends to a new topic do
    /// not both create it.
    creating: tokio::sync::Mutex<()>,
    groups: Arc<GroupStore>,
    writers: Mutex<Vec<JoinHandle<()>>>,
    /// Deletes expired segments in the background, when a topic has a
    /// retention policy.
    retention: Option<RetentionThread>,
    /// Held open for the life of the log: the directory's exclusive lock.
    _lock: std::fs::File,
}

#[derive(Debug)]
pub(crate) struct Topic {
    partitions: Vec<PartitionHandle>,
}

impl EmbeddedLog {
    /// Opens (or creates) the log in `dir`, recovering every partition:
    /// each segment's index is rebuilt and a torn tail left by a crash is
    /// cut off the last segment.
    pub async fn open(dir: &Path, options: EmbeddedOptions) -> Result<Self, LogError> {
        options.validate()?;
        let dir = dir.to_path_buf();
        let opened = {
            let dir = dir.clone();
            let options = options.clone();
            tokio::task::spawn_blocking(move || open_blocking(&dir, &options))
                .await
                .map_err(|error| {
                    LogError::Unavailable(format!("opening the log failed: {error}"))
                })??
        };
        tracing::info!(dir = %dir.display(), topics = opened.topics.len(), "embedded log opened");
        let topics: TopicMap = Arc::new(RwLock::new(opened.topics));
        let groups = Arc::new(opened.groups);
        let retention = if options.retention.is_empty() {
            None
        } else {
            Some(RetentionThread::spawn(
                Arc::clone(&topics),
                Arc::clone(&groups),
                options.retention.clone(),
                options.fsync,
                options.retention_check_interval,
                &dir,
            )?)
        };
        Ok(Self {
            dir,
            options,
            topics,
            creating: tokio::sync::Mutex::new(()),
            groups,
            writers: Mutex::new(opened.writers),
            retention,
            _lock: opened.lock,
        })
    }

    /// Runs one retention pass now, as of `now_ms` (unix milliseconds), on
    /// the topics the options give a policy; the background thread runs
    /// the same pass every `retention_check_interval`.
    pub async fn apply_retention(&self, now_ms: i64) -> Result<RetentionSummary, LogError> {
        let (topics, groups) = (Arc::clone(&self.topics), Arc::clone(&self.groups));
        let (policies, fsync) = (self.options.retention.clone(), self.options.fsync);
        tokio::task::spawn_blocking(move || {
            retention::run_pass(&topics, &groups, &policies, fsync, now_ms)
        })
        .await
        .map_err(|error| LogError::Unavailable(format!("retention task failed: {error}")))?
    }

    /// Durable bytes of one partition's segments.
    pub async fn stored_bytes(&self, topic: &str, partition: u32) -> Result<u64, LogError> {
        let (topic, index) = self.partition(topic, partition).await?;
        Ok(topic.partitions[index].view().stored_bytes())
    }

    /// Stops the writer threads after they have answered every queued
    /// append, so the directory can be reopened (by this process or another).
    pub async fn close(self) -> Result<(), LogError> {
        let EmbeddedLog {
            topics,
            writers,
            retention,
            _lock: lock,
            ..
        } = self;
        if let Some(retention) = retention {
            tokio::task::spawn_blocking(move || retention.stop())
                .await
                .map_err(|error| {
                    LogError::Unavailable(format!("stopping retention failed: {error}"))
                })?;
        }
        // Dropping the topics drops the queues' senders, which ends each
        // writer loop once its queue is drained.
        drop(topics);
        let writers = std::mem::take(
            &mut *writers
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        // The directory lock is released only once no thread can write.
        tokio::task::spawn_blocking(move || {
            for writer in writers {
                if writer.join().is_err() {
                    tracing::error!("partition writer thread panicked");
                }
            }
            drop(lock);
        })
        .await
        .map_err(|error| LogError::Unavailable(format!("closing the log failed: {error}")))
    }

    /// The topic, created with the default partition count on first use.
    async fn topic(&self, name: &str) -> Result<Arc<Topic>, LogError> {
        topics::validate_topic(name)?;
        if let Some(topic) = self.read_topics().get(name) {
            return Ok(Arc::clone(topic));
        }
        let _creating = self.creating.lock().await;
        if let Some(topic) = self.read_topics().get(name) {
            return Ok(Arc::clone(topic));
        }
        let dir = self.dir.clone();
        let options = self.options.clone();
        let name_owned = name.to_string();
        let (topic, writers) = tokio::task::spawn_blocking(move || {
            topics::create_topic_dirs(
                &dir,
                &name_owned,
                options.default_partitions,
                options.fsync,
            )?;
            open_topic(&dir, &name_owned, options.default_partitions, &options)
        })
        .await
        .map_err(|error| {
            LogError::Unavailable(format!("creating topic {name} failed: {error}"))
        })??;
        tracing::info!(
            topic = name,
            partitions = self.options.default_partitions,
            "topic created"
        );
        self.writers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .extend(writers);
        let topic = Arc::new(topic);
        self.topics
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(name.to_string(), Arc::clone(&topic));
        Ok(topic)
    }

    async fn partition(
        &self,
        topic: &str,
        partition: u32,
    ) -> Result<(Arc<Topic>, usize), LogError> {
        let handle = self.topic(topic).await?;
        let index = partition as usize;
        if index >= handle.partitions.len() {
            return Err(LogError::Invalid(format!(
                "topic {topic} has {} partitions, no partition {partition}",
                handle.partitions.len()
            )));
        }
        Ok((handle, index))
    }

    fn read_topics(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<Topic>>> {
        self.topics
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Injects a disk fault (`writer::fault`) into one partition's writer.
    #[cfg(test)]
    async fn inject_fault(&self, topic: &str, partition: u32, fault: u8) {
        let (topic, index) = self.partition(topic, partition).await.expect("partition");
        topic.partitions[index]
            .faults
            .store(fault, std::sync::atomic::Ordering::SeqCst);
    }
}

struct Opened {
    topics: HashMap<String, Arc<Topic>>,
    groups: GroupStore,
    writers: Vec<JoinHandle<()>>,
    lock: std::fs::File,
}

fn open_blocking(dir: &Path, options: &EmbeddedOptions) -> Result<Opened, LogError> {
    std::fs::create_dir_all(dir)?;
    let lock = fsutil::lock_dir(dir)?;
    let mut topics = HashMap::new();
    let mut writers = Vec::new();
    for (name, partitions) in topics::discover(dir)? {
        let (topic, threads) = open_topic(dir, &name, partitions, options)?;
        writers.extend(threads);
        topics.insert(name, Arc::new(topic));
    }
    let groups = GroupStore::open(dir, options.fsync)?;
    Ok(Opened {
        topics,
        groups,
        writers,
        lock,
    })
}

fn open_topic(
    dir: &Path,
    name: &str,
    partitions: u32,
    options: &EmbeddedOptions,
) -> Result<(Topic, Vec<JoinHandle<()>>), LogError> {
    let topic_name: Arc<str> = Arc::from(name);
    let mut handles = Vec::with_capacity(partitions as usize);
    let mut writers = Vec::with_capacity(partitions as usize);
    for partition in 0..partitions {
        let partition_dir = dir.join(name).join(partition.to_string());
        let (handle, writer) =
            PartitionHandle::open(&partition_dir, Arc::clone(&topic_name), partition, options)?;
        handles.push(handle);
        writers.push(writer);
    }
    Ok((
        Topic {
            partitions: handles,
        },
        writers,
    ))
}

#[async_trait]
impl EventLog for EmbeddedLog {
    async fn append(
        &self,
        topic: &str,
        records: Vec<NewRecord>,
    ) -> Result<Vec<(u32, Offset)>, LogError> {
        let handle = self.topic(topic).await?;
        for record in &records {
            let size = frame::frame_len(record.key.len(), record.value.len());
            if size > self.options.max_record_bytes {
                return Err(LogError::Invalid(format!(
                    "record of {size} bytes exceeds the limit of {} bytes",
                    self.options.max_record_bytes
                )));
            }
        }
        let count = handle.partitions.len() as u32;
        let mut per_partition: Vec<Vec<NewRecord>> = vec![Vec::new(); handle.partitions.len()];
        // (partition, position within that partition's request) per input record.
        let mut placement = Vec::with_capacity(records.len());
        for record in records {
            let partition = partition_for_key(&record.key, count);
            let group = &mut per_partition[partition as usize];
            placement.push((partition, group.len() as u64));
            group.push(record);
        }
        // Queue into every partition before waiting, so their fsyncs overlap.
        let deadline = tokio::time::Instant::now() + self.options.append_timeout;
        let mut pending = Vec::new();
        for (partition, records) in per_partition.into_iter().enumerate() {
            if !records.is_empty() {
                pending.push((partition, handle.partitions[partition].enqueue(records)?));
            }
        }
        let mut firsts = vec![0; handle.partitions.len()];
        for (partition, append) in pending {
            firsts[partition] = append.durable(deadline).await?;
        }
        Ok(placement
            .into_iter()
            .map(|(partition, position)| (partition, firsts[partition as usize] + position))
            .collect())
    }

    async fn partitions(&self, topic: &str) -> Result<u32, LogError> {
        Ok(self.topic(topic).await?.partitions.len() as u32)
    }

    async fn read(
        &self,
        topic: &str,
        partition: u32,
        from: Offset,
        max_records: usize,
        wait: Duration,
    ) -> Result<Vec<StoredRecord>, LogError> {
        let (topic, index) = self.partition(topic, partition).await?;
        topic.partitions[index].read(from, max_records, wait).await
    }

    async fn end_offset(&self, topic: &str, partition: u32) -> Result<Offset, LogError> {
        let (topic, index) = self.partition(topic, partition).await?;
        Ok(topic.partitions[index].end_offset())
    }

    async fn start_offset(&self, topic: &str, partition: u32) -> Result<Offset, LogError> {
        let (topic, index) = self.partition(topic, partition).await?;
        Ok(topic.partitions[index].view().start_offset())
    }

    async fn commit(
        &self,
        group: &str,
        topic: &str,
        partition: u32,
        position: CommittedPosition,
    ) -> Result<(), LogError> {
        topics::validate_name("group", group)?;
        self.partition(topic, partition).await?;
        let groups = Arc::clone(&self.groups);
        let (group, topic) = (group.to_string(), topic.to_string());
        tokio::task::spawn_blocking(move || groups.commit(&group, &topic, partition, position))
            .await
            .map_err(|error| LogError::Unavailable(format!("commit task failed: {error}")))?
    }

    async fn committed(
        &self,
        group: &str,
        topic: &str,
        partition: u32,
    ) -> Result<Option<CommittedPosition>, LogError> {
        topics::validate_name("group", group)?;
        self.partition(topic, partition).await?;
        let groups = Arc::clone(&self.groups);
        let (group, topic) = (group.to_string(), topic.to_string());
        tokio::task::spawn_blocking(move || groups.committed(&group, &topic, partition))
            .await
            .map_err(|error| LogError::Unavailable(format!("committed task failed: {error}")))?
    }

    /// The embedded log belongs to one process (the data dir is locked), so
    /// that process is the group's only member and owns every partition.
    async fn join(&self, group: &str, topic: &str) -> Result<Membership, LogError> {
        topics::validate_name("group", group)?;
        Ok(Membership::fixed(0..self.partitions(topic).await?))
    }
}

#[cfg(test)]
mod tests;
