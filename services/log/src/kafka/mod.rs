//! The Kafka backend: the event log on any Kafka-protocol broker, through
//! librdkafka, for distributed mode.
//!
//! Appends go through one idempotent producer (`acks=all`) and return once
//! every record's delivery report is in; the partition is picked here with
//! [`partition_for_key`], not by librdkafka's partitioner, so a key lands in
//! the same partition as on the embedded log. Reads assign a consumer to
//! the partition at the requested offset (module `reader`); consumer group
//! positions are records of a compacted topic (module `positions`),
//! mirrored as Kafka committed offsets for lag tooling (module `groups`).
//! Kafka transactions are not used: delivery is at-least-once and effects
//! are idempotent downstream.

mod errors;
mod groups;
mod membership;
mod options;
mod positions;
mod reader;
mod topics;

pub use options::{KafkaOptions, RESERVED_PROPERTIES};

use crate::{
    partition_for_key, CommittedPosition, EventLog, LogError, Membership, NewRecord, Offset,
    StoredRecord,
};
use async_trait::async_trait;
use errors::{is_fatal, is_timeout, is_unknown_topic, log_error};
use groups::Groups;
use positions::Positions;
use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use reader::{ReadRequest, Readers};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::time::Instant;
use topics::{validate_name, Topics};

/// The event log on Kafka. One per process: it holds a producer, an admin
/// client, idle partition readers and a consumer per group, each a
/// librdkafka client with its own broker connections.
pub struct KafkaLog {
    options: KafkaOptions,
    /// Replaced when librdkafka declares it fatally failed (see
    /// [`KafkaLog::replace_failed_producer`]).
    producer: RwLock<Arc<FutureProducer>>,
    topics: Topics,
    readers: Readers,
    groups: Groups,
    positions: Positions,
    /// When the producer was last replaced, so an outage does not replace
    /// it on every failed append.
    producer_replaced: Mutex<Option<Instant>>,
    /// The highest end offset seen per partition, from delivery reports and
    /// watermark lookups: records below it exist, records above it need a
    /// watermark lookup before a read is refused as past the end.
    known_ends: Mutex<HashMap<(String, u32), Offset>>,
}

impl std::fmt::Debug for KafkaLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaLog")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl KafkaLog {
    /// Creates the clients and checks that a broker answers within the
    /// request timeout (`Unavailable` otherwise), so a wrong address shows
    /// at start rather than at the first append. Bad options or
    /// pass-through properties are `Invalid`.
    pub async fn connect(options: KafkaOptions) -> Result<Self, LogError> {
        options.validate()?;
        let producer: FutureProducer = options
            .producer_config()
            .create()
            .map_err(|error| log_error("creating the producer", &error))?;
        let admin: AdminClient<DefaultClientContext> = options
            .admin_config()
            .create()
            .map_err(|error| log_error("creating the admin client", &error))?;
        let admin = Arc::new(admin);
        let brokers = options.brokers.join(",");
        let probe = Arc::clone(&admin);
        let timeout = options.request_timeout;
        // Cluster metadata is the cheapest request that proves a broker
        // answers; librdkafka's call blocks its thread.
        let metadata =
            tokio::task::spawn_blocking(move || probe.inner().fetch_metadata(None, timeout))
                .await
                .map_err(|error| LogError::Unavailable(format!("metadata task failed: {error}")))?
                .map_err(|error| {
                    log_error(&format!("no Kafka broker answered at {brokers}"), &error)
                })?;
        tracing::info!(
            brokers = %brokers,
            cluster_brokers = metadata.brokers().len(),
            "kafka log connected"
        );
        Ok(Self {
            topics: Topics::new(admin, &options),
            readers: Readers::new(options.reader_config(), options.max_idle_readers),
            groups: Groups::new(options.clone()),
            positions: Positions::new(options.positions_topic.clone()),
            producer_replaced: Mutex::new(None),
            producer: RwLock::new(Arc::new(producer)),
            known_ends: Mutex::new(HashMap::new()),
            options,
        })
    }

    fn producer(&self) -> Arc<FutureProducer> {
        Arc::clone(
            &self
                .producer
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }

    /// Replaces the producer after a fatal error or a delivery timeout.
    /// A fatally failed idempotent producer refuses everything from then
    /// on; after a timeout the broker may have lost its producer state (a
    /// restart without storage answers "unknown producer id" to every
    /// retry, and librdkafka's local epoch bump does not cure that). A
    /// fresh producer gets a new producer id, so appends recover without a
    /// process restart. At most once per append timeout, so an outage does
    /// not churn clients.
    fn replace_producer(&self, failed: &Arc<FutureProducer>, why: &str) {
        {
            let mut replaced = self
                .producer_replaced
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            let now = Instant::now();
            if replaced.is_some_and(|at| now < at + self.options.append_timeout) {
                return;
            }
            *replaced = Some(now);
        }
        let old = {
            let mut current = self
                .producer
                .write()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if !Arc::ptr_eq(&current, failed) {
                return; // another append replaced it already
            }
            match self.options.producer_config().create::<FutureProducer>() {
                Ok(fresh) => std::mem::replace(&mut *current, Arc::new(fresh)),
                Err(error) => {
                    tracing::error!(%why, %error, "replacing the kafka producer failed");
                    return;
                }
            }
        };
        tracing::warn!(%why, "kafka producer replaced");
        // Destroying a librdkafka client joins its threads.
        tokio::task::spawn_blocking(move || drop(old));
    }

    /// Forgets what is cached about a topic the brokers no longer know.
    fn forget_topic(&self, topic: &str) {
        self.topics.forget(topic);
        self.lock_ends().retain(|(name, _), _| name != topic);
    }

    /// After a failed append the next one looks the topic up again: a
    /// broker that lost the topic (deleted, or restarted without storage)
    /// often shows up only as delivery timeouts, and the lookup recreates
    /// it. One metadata request per failure is cheap.
    fn after_failure(&self, topic: &str, producer: &Arc<FutureProducer>, error: &KafkaError) {
        if is_fatal(error) {
            let why = producer.client().fatal_error().map_or_else(
                || error.to_string(),
                |(code, reason)| format!("{code}: {reason}"),
            );
            self.replace_producer(producer, &why);
        } else if is_timeout(error) {
            self.replace_producer(producer, &error.to_string());
        }
        self.forget_topic(topic);
    }

    async fn enqueue(
        &self,
        producer: &Arc<FutureProducer>,
        topic: &str,
        partition: u32,
        record: &NewRecord,
        deadline: Instant,
    ) -> Result<DeliveryFuture, LogError> {
        let partition_i32 = partition_i32(partition)?;
        loop {
            let message = FutureRecord::to(topic)
                .partition(partition_i32)
                .key(&record.key[..])
                .payload(&record.value[..])
                .timestamp(record.timestamp_ms);
            match producer.send_result(message) {
                Ok(delivery) => return Ok(delivery),
                // The local queue is full: wait for deliveries to drain it,
                // within the append's own time budget.
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _))
                    if Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                Err((error, _)) => {
                    self.after_failure(topic, producer, &error);
                    return Err(log_error(&format!("append to {topic}"), &error));
                }
            }
        }
    }

    /// Creates the positions topic (one partition, compacted) if missing,
    /// and refuses one created otherwise: positions are read from
    /// partition 0 only.
    async fn positions_topic(&self) -> Result<(), LogError> {
        let topic = self.positions.topic();
        let partitions = self.topics.partitions_or_create(topic, 1, true).await?;
        if partitions != 1 {
            return Err(LogError::Invalid(format!(
                "positions topic {topic} has {partitions} partitions; it needs exactly one"
            )));
        }
        Ok(())
    }

    async fn check_partition(&self, topic: &str, partition: u32) -> Result<(), LogError> {
        let partitions = self.topics.partitions(topic).await?;
        if partition >= partitions {
            return Err(LogError::Invalid(format!(
                "topic {topic} has {partitions} partitions, no partition {partition}"
            )));
        }
        Ok(())
    }

    fn known_end(&self, topic: &str, partition: u32) -> Offset {
        self.lock_ends()
            .get(&(topic.to_string(), partition))
            .copied()
            .unwrap_or(0)
    }

    fn note_end(&self, topic: &str, partition: u32, end: Offset) {
        let mut ends = self.lock_ends();
        let known = ends.entry((topic.to_string(), partition)).or_insert(0);
        *known = (*known).max(end);
    }

    fn lock_ends(&self) -> std::sync::MutexGuard<'_, HashMap<(String, u32), Offset>> {
        self.known_ends
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The partition's (log start, high watermark) offsets from its leader.
    async fn watermarks(&self, topic: &str, partition: u32) -> Result<(Offset, Offset), LogError> {
        self.check_partition(topic, partition).await?;
        let admin = Arc::clone(self.topics.client());
        let name = topic.to_string();
        let partition_i32 = partition_i32(partition)?;
        let timeout = self.options.request_timeout;
        let watermarks = tokio::task::spawn_blocking(move || {
            admin
                .inner()
                .fetch_watermarks(&name, partition_i32, timeout)
        })
        .await
        .map_err(|error| LogError::Unavailable(format!("watermark task failed: {error}")))?;
        let (low, high) = watermarks.map_err(|error| {
            if is_unknown_topic(&error) {
                self.forget_topic(topic);
            }
            log_error(&format!("watermarks of {topic}/{partition}"), &error)
        })?;
        let offset = |value: i64| {
            u64::try_from(value).map_err(|_| {
                LogError::Unavailable(format!("watermarks of {topic}/{partition}: got {value}"))
            })
        };
        Ok((offset(low)?, offset(high)?))
    }
}

#[async_trait]
impl EventLog for KafkaLog {
    async fn append(
        &self,
        topic: &str,
        records: Vec<NewRecord>,
    ) -> Result<Vec<(u32, Offset)>, LogError> {
        let partitions = self.topics.partitions(topic).await?;
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let producer = self.producer();
        let deadline = Instant::now() + self.options.append_timeout;
        // Queue every record before awaiting any, so they share requests.
        let mut deliveries = Vec::with_capacity(records.len());
        for record in &records {
            let partition = partition_for_key(&record.key, partitions);
            let delivery = self
                .enqueue(&producer, topic, partition, record, deadline)
                .await?;
            deliveries.push((partition, delivery));
        }
        // librdkafka times messages out itself, but not always on time
        // (in-flight requests to a vanished broker wait for the socket);
        // this bound is what ingest's 503 latency rests on.
        let hard_deadline = deadline + Duration::from_millis(500);
        let mut placed = Vec::with_capacity(deliveries.len());
        for (partition, delivery) in deliveries {
            let Ok(delivery) = tokio::time::timeout_at(hard_deadline, delivery).await else {
                let error = KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut);
                self.after_failure(topic, &producer, &error);
                return Err(LogError::Unavailable(format!(
                    "append to {topic}: not acknowledged within {:?}",
                    self.options.append_timeout
                )));
            };
            let delivered = match delivery {
                Ok(Ok(delivered)) => delivered,
                Ok(Err((error, _))) => {
                    self.after_failure(topic, &producer, &error);
                    tracing::warn!(topic, partition, %error, "append failed");
                    return Err(log_error(&format!("append to {topic}"), &error));
                }
                Err(_canceled) => {
                    return Err(LogError::Unavailable(format!(
                        "append to {topic}: the producer shut down before the delivery report"
                    )))
                }
            };
            let offset = u64::try_from(delivered.offset).map_err(|_| {
                LogError::Unavailable(format!(
                    "append to {topic}: delivery report without an offset"
                ))
            })?;
            placed.push((partition, offset));
        }
        let mut ends: HashMap<u32, Offset> = HashMap::new();
        for (partition, offset) in &placed {
            let end = ends.entry(*partition).or_insert(0);
            *end = (*end).max(offset + 1);
        }
        for (partition, end) in ends {
            self.note_end(topic, partition, end);
        }
        Ok(placed)
    }

    async fn partitions(&self, topic: &str) -> Result<u32, LogError> {
        self.topics.partitions(topic).await
    }

    async fn read(
        &self,
        topic: &str,
        partition: u32,
        from: Offset,
        max_records: usize,
        wait: Duration,
    ) -> Result<Vec<StoredRecord>, LogError> {
        self.check_partition(topic, partition).await?;
        let mut known_end = self.known_end(topic, partition);
        // At or past what this process knows exists: ask the broker, so a
        // read without wait sees records other processes appended.
        if from >= known_end {
            known_end = self.end_offset(topic, partition).await?;
            if from > known_end {
                return Err(LogError::Invalid(format!(
                    "{topic}/{partition}: offset {from} is past the end offset {known_end}"
                )));
            }
        }
        if max_records == 0 {
            return Ok(Vec::new());
        }
        let request = ReadRequest {
            from,
            max_records,
            wait,
            known_end,
            fetch_timeout: self.options.request_timeout,
        };
        let result = self.readers.read(topic, partition, request).await;
        match &result {
            Ok(records) => {
                if let Some(last) = records.last() {
                    self.note_end(topic, partition, last.offset + 1);
                }
            }
            Err(LogError::Invalid(why)) => {
                tracing::debug!(topic, partition, from, %why, "read refused");
            }
            Err(_) => {}
        }
        result
    }

    async fn end_offset(&self, topic: &str, partition: u32) -> Result<Offset, LogError> {
        let (_, end) = self.watermarks(topic, partition).await?;
        self.note_end(topic, partition, end);
        Ok(end)
    }

    async fn start_offset(&self, topic: &str, partition: u32) -> Result<Offset, LogError> {
        Ok(self.watermarks(topic, partition).await?.0)
    }

    async fn commit(
        &self,
        group: &str,
        topic: &str,
        partition: u32,
        position: CommittedPosition,
    ) -> Result<(), LogError> {
        validate_name("group", group)?;
        // Brokers refuse offsets of topics they do not know, so the topic
        // is created first, as the embedded log does.
        self.check_partition(topic, partition).await?;
        self.positions_topic().await?;
        let next_offset = position.next_offset;
        self.positions
            .commit(self, group, topic, partition, position)
            .await?;
        // The position is durable; the mirror only feeds lag tooling, so
        // its failure (e.g. a subscribed group holding the name) is logged.
        if let Err(error) = self
            .groups
            .commit(group, topic, partition, next_offset)
            .await
        {
            tracing::warn!(group, topic, partition, %error, "mirroring a position as a kafka group offset failed");
        }
        Ok(())
    }

    async fn committed(
        &self,
        group: &str,
        topic: &str,
        partition: u32,
    ) -> Result<Option<CommittedPosition>, LogError> {
        validate_name("group", group)?;
        self.check_partition(topic, partition).await?;
        self.positions_topic().await?;
        self.positions
            .committed(self, group, topic, partition)
            .await
    }

    /// A subscribed member of `group` (module `membership`). The group name
    /// must not be one used with `commit`: brokers refuse the standalone
    /// commits that mirror positions into a group with subscribed members.
    async fn join(&self, group: &str, topic: &str) -> Result<Membership, LogError> {
        validate_name("group", group)?;
        // The topic must exist (with its configured partition count)
        // before anyone subscribes, or the group balances nothing.
        self.partitions(topic).await?;
        let (options, group, topic) = (self.options.clone(), group.to_string(), topic.to_string());
        tokio::task::spawn_blocking(move || membership::join(&options, &group, &topic))
            .await
            .map_err(|error| LogError::Unavailable(format!("join task failed: {error}")))?
    }
}

fn partition_i32(partition: u32) -> Result<i32, LogError> {
    i32::try_from(partition)
        .map_err(|_| LogError::Invalid(format!("partition {partition} out of range")))
}
