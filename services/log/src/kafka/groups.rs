//! Consumer group positions mirrored as Kafka committed offsets, so
//! standard tooling (consumer lag exporters, `kafka-consumer-groups`) sees
//! closeloop's groups; the positions themselves, with their metadata, live
//! in the positions topic (module `positions`). One non-subscribing
//! librdkafka consumer per group commits as a standalone member (generation
//! -1), which brokers accept while no subscribed member holds the group.

use super::errors::log_error;
use super::options::KafkaOptions;
use crate::{LogError, Offset};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::TopicPartitionList;
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
        next_offset: Offset,
    ) -> Result<(), LogError> {
        let offset = i64::try_from(next_offset)
            .map_err(|_| LogError::Invalid(format!("offset {next_offset} out of range")))?;
        let mut offsets = TopicPartitionList::new();
        offsets
            .add_partition_offset(
                topic,
                partition_i32(partition)?,
                rdkafka::Offset::Offset(offset),
            )
            .map_err(|error| log_error("building a commit", &error))?;
        let consumer = self.consumer(group).await?;
        let context = format!("committing {group} at {topic}/{partition}");
        self.blocking(&context, move || {
            drain_events(&consumer);
            consumer.commit(&offsets, CommitMode::Sync)
        })
        .await
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
