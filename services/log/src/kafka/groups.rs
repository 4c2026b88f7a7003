//! Consumer group positions as Kafka committed offsets, with the position's
//! metadata stored in the commit's metadata field, so both are written in
//! one request. One non-subscribing librdkafka consumer per group does the
//! committing: it commits as a standalone member (generation -1), which
//! brokers accept while no subscribed member holds the group.

use super::errors::log_error;
use super::options::KafkaOptions;
use crate::{CommittedPosition, LogError};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub(crate) struct Groups {
    options: KafkaOptions,
    consumers: Mutex<HashMap<String, Arc<BaseConsumer>>>,
}

impl Groups {
    pub(crate) fn new(options: KafkaOptions) -> Self {
        Self {
            options,
            consumers: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) async fn commit(
        &self,
        group: &str,
        topic: &str,
        partition: u32,
        position: CommittedPosition,
    ) -> Result<(), LogError> {
        let offset = i64::try_from(position.next_offset).map_err(|_| {
            LogError::Invalid(format!("offset {} out of range", position.next_offset))
        })?;
        let mut offsets = TopicPartitionList::new();
        offsets
            .add_partition_offset(topic, partition_i32(partition)?, Offset::Offset(offset))
            .map_err(|error| log_error("building a commit", &error))?;
        if let Some(mut entry) = offsets.find_partition(topic, partition_i32(partition)?) {
            entry.set_metadata(&position.metadata);
        }
        let consumer = self.consumer(group).await?;
        let context = format!("committing {group} at {topic}/{partition}");
        self.blocking(&context, move || {
            drain_events(&consumer);
            consumer.commit(&offsets, CommitMode::Sync)
        })
        .await
    }

    pub(crate) async fn committed(
        &self,
        group: &str,
        topic: &str,
        partition: u32,
    ) -> Result<Option<CommittedPosition>, LogError> {
        let mut wanted = TopicPartitionList::new();
        wanted.add_partition(topic, partition_i32(partition)?);
        let consumer = self.consumer(group).await?;
        let timeout = self.options.request_timeout;
        let context = format!("committed offset of {group} at {topic}/{partition}");
        let found = self
            .blocking(&context, move || {
                drain_events(&consumer);
                consumer.committed_offsets(wanted, timeout)
            })
            .await?;
        let Some(entry) = found.find_partition(topic, partition_i32(partition)?) else {
            return Ok(None);
        };
        if let Err(error) = entry.error() {
            return Err(log_error(&context, &error));
        }
        // Offset::Invalid (-1001): the group never committed here.
        let Offset::Offset(next) = entry.offset() else {
            return Ok(None);
        };
        let next_offset = u64::try_from(next)
            .map_err(|_| LogError::Corrupt(format!("{context}: negative offset {next}")))?;
        Ok(Some(CommittedPosition {
            next_offset,
            // rdkafka panics on metadata that is not UTF-8; only closeloop
            // commits in its groups, always from a String.
            metadata: entry.metadata().to_string(),
        }))
    }

    /// The group's consumer, created on first use.
    async fn consumer(&self, group: &str) -> Result<Arc<BaseConsumer>, LogError> {
        if let Some(consumer) = self.lock().get(group) {
            return Ok(Arc::clone(consumer));
        }
        let config = self.options.group_config(group);
        let created: BaseConsumer = tokio::task::spawn_blocking(move || config.create())
            .await
            .map_err(|error| LogError::Unavailable(format!("consumer task failed: {error}")))?
            .map_err(|error| log_error(&format!("creating consumer of group {group}"), &error))?;
        let mut consumers = self.lock();
        // A concurrent first use may have won; keep one consumer per group.
        let consumer = consumers
            .entry(group.to_string())
            .or_insert_with(|| Arc::new(created));
        Ok(Arc::clone(consumer))
    }

    /// Runs a blocking librdkafka call on the blocking pool, giving up with
    /// `Unavailable` after the request timeout (plus slack for librdkafka's
    /// own timeout to fire first) so a missing coordinator cannot hang the
    /// caller.
    async fn blocking<T, F>(&self, context: &str, call: F) -> Result<T, LogError>
    where
        T: Send + 'static,
        F: FnOnce() -> rdkafka::error::KafkaResult<T> + Send + 'static,
    {
        let limit = self.options.request_timeout + Duration::from_secs(1);
        match tokio::time::timeout(limit, tokio::task::spawn_blocking(call)).await {
            Err(_) => Err(LogError::Unavailable(format!(
                "{context}: no answer within {limit:?}"
            ))),
            Ok(Err(error)) => Err(LogError::Unavailable(format!(
                "{context}: task failed: {error}"
            ))),
            Ok(Ok(result)) => result.map_err(|error| log_error(context, &error)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<BaseConsumer>>> {
        self.consumers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Serves the events (connection errors, mostly) librdkafka queued for a
/// consumer that is never polled for records, so they do not pile up.
fn drain_events(consumer: &BaseConsumer) {
    for _ in 0..100 {
        match consumer.poll(Duration::ZERO) {
            None => break,
            Some(Err(error)) => tracing::debug!(%error, "group consumer event"),
            Some(Ok(_)) => {}
        }
    }
}

fn partition_i32(partition: u32) -> Result<i32, LogError> {
    i32::try_from(partition)
        .map_err(|_| LogError::Invalid(format!("partition {partition} out of range")))
}
