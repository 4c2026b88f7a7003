//! Topics on the brokers: Kafka's naming rules checked before any request,
//! partition counts read from cluster metadata (and cached, since a count
//! never changes under closeloop), and missing topics created through the
//! admin API with the configured partition count and replication.

use super::errors::{from_code, log_error};
use super::KafkaOptions;
use crate::LogError;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::time::Instant;

/// Kafka's own limit on topic name length.
const MAX_NAME_LEN: usize = 249;

/// Checks a topic or group name against Kafka's rules, `[A-Za-z0-9._-]{1,249}`
/// and not `.` or `..`, the same rules the embedded log applies, so a name
/// valid on one backend is valid on the other.
pub(crate) fn validate_name(kind: &str, name: &str) -> Result<(), LogError> {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-');
    if name.is_empty() || name.len() > MAX_NAME_LEN || !name.bytes().all(allowed) {
        return Err(LogError::Invalid(format!(
            "{kind} name {name:?} must be 1 to {MAX_NAME_LEN} characters of [A-Za-z0-9._-]"
        )));
    }
    if name == "." || name == ".." {
        return Err(LogError::Invalid(format!(
            "{kind} name {name:?} is reserved"
        )));
    }
    Ok(())
}

/// What the cluster's metadata says about one topic.
enum Lookup {
    Partitions(u32),
    Missing,
    /// The topic exists but is not ready (leader election after creation).
    NotReady,
}

pub(crate) struct Topics {
    admin: Arc<AdminClient<DefaultClientContext>>,
    counts: RwLock<HashMap<String, u32>>,
    partitions: u32,
    replication: i32,
    timeout: Duration,
    /// Configs set on a topic at creation, by topic name.
    configs: std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>>,
}

impl Topics {
    pub(crate) fn new(
        admin: Arc<AdminClient<DefaultClientContext>>,
        options: &KafkaOptions,
    ) -> Self {
        Self {
            admin,
            counts: RwLock::new(HashMap::new()),
            partitions: options.default_partitions,
            // -1 asks the broker for its default.replication.factor (KIP-464).
            replication: options.replication_factor.map_or(-1, i32::from),
            timeout: options.request_timeout,
            configs: options.topic_config.clone(),
        }
    }

    /// The admin client, also used for metadata and watermark requests.
    pub(crate) fn client(&self) -> &Arc<AdminClient<DefaultClientContext>> {
        &self.admin
    }

    /// The topic's partition count, creating the topic when it is missing.
    pub(crate) async fn partitions(&self, topic: &str) -> Result<u32, LogError> {
        self.partitions_or_create(topic, self.partitions, false)
            .await
    }

    /// Like [`Topics::partitions`], creating a missing topic with `count`
    /// partitions, compacted (only the latest record per key kept) when
    /// `compact`.
    pub(crate) async fn partitions_or_create(
        &self,
        topic: &str,
        count: u32,
        compact: bool,
    ) -> Result<u32, LogError> {
        validate_name("topic", topic)?;
        if let Some(count) = self.cached(topic) {
            return Ok(count);
        }
        let deadline = Instant::now() + self.timeout;
        let mut created = false;
        loop {
            match self.lookup(topic).await? {
                Lookup::Partitions(count) => {
                    self.counts
                        .write()
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .insert(topic.to_string(), count);
                    return Ok(count);
                }
                Lookup::Missing if !created => {
                    self.create(topic, count, compact).await?;
                    created = true;
                    continue;
                }
                // Created but not yet in metadata, or electing a leader.
                Lookup::Missing | Lookup::NotReady => {}
            }
            if Instant::now() >= deadline {
                return Err(LogError::Unavailable(format!(
                    "topic {topic} not ready within {:?}",
                    self.timeout
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Drops a cached count the brokers contradicted, so the next use looks
    /// the topic up (and creates it) again.
    pub(crate) fn forget(&self, topic: &str) {
        self.counts
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .remove(topic);
    }

    fn cached(&self, topic: &str) -> Option<u32> {
        self.counts
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(topic)
            .copied()
    }

    async fn lookup(&self, topic: &str) -> Result<Lookup, LogError> {
        let admin = Arc::clone(&self.admin);
        let name = topic.to_string();
        let timeout = self.timeout;
        // librdkafka's metadata call blocks its thread.
        let metadata =
            tokio::task::spawn_blocking(move || admin.inner().fetch_metadata(Some(&name), timeout))
                .await
                .map_err(|error| LogError::Unavailable(format!("metadata task failed: {error}")))?
                .map_err(|error| log_error(&format!("metadata of topic {topic}"), &error))?;
        let Some(found) = metadata.topics().iter().find(|t| t.name() == topic) else {
            return Ok(Lookup::Missing);
        };
        match found.error().map(RDKafkaErrorCode::from) {
            None | Some(RDKafkaErrorCode::NoError) => {}
            Some(RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic) => {
                return Ok(Lookup::Missing)
            }
            Some(RDKafkaErrorCode::LeaderNotAvailable) => return Ok(Lookup::NotReady),
            Some(code) => {
                return Err(from_code(
                    code,
                    format!("metadata of topic {topic}: {code}"),
                ))
            }
        }
        let count = found.partitions().len();
        if count == 0 {
            return Ok(Lookup::NotReady);
        }
        u32::try_from(count)
            .map(Lookup::Partitions)
            .map_err(|_| LogError::Invalid(format!("topic {topic} has {count} partitions")))
    }

    async fn create(&self, topic: &str, count: u32, compact: bool) -> Result<(), LogError> {
        // Validated at construction to fit an i32.
        let partitions = i32::try_from(count).unwrap_or(i32::MAX);
        let mut new_topic =
            NewTopic::new(topic, partitions, TopicReplication::Fixed(self.replication));
        if compact {
            new_topic = new_topic.set("cleanup.policy", "compact");
        }
        let configs = self.configs.get(topic);
        for (name, value) in configs.into_iter().flatten() {
            new_topic = new_topic.set(name, value);
        }
        let options = AdminOptions::new()
            .request_timeout(Some(self.timeout))
            .operation_timeout(Some(self.timeout));
        let results = self
            .admin
            .create_topics([&new_topic], &options)
            .await
            .map_err(|error| log_error(&format!("creating topic {topic}"), &error))?;
        for result in results {
            match result {
                Ok(_) => {
                    tracing::info!(
                        topic,
                        partitions = count,
                        compact,
                        replication = self.replication,
                        configs = ?configs,
                        "topic created"
                    );
                }
                // Another process (or a concurrent call) created it first.
                Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((name, code)) => {
                    return Err(from_code(code, format!("creating topic {name}: {code}")))
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_kafka_rules() {
        for good in ["closeloop.samples", "a", "A-b_c.9", "__consumer_offsets"] {
            assert!(validate_name("topic", good).is_ok(), "{good}");
        }
        let too_long = "x".repeat(250);
        for bad in ["", ".", "..", "a/b", "a b", "ü", too_long.as_str()] {
            assert!(
                matches!(validate_name("topic", bad), Err(LogError::Invalid(_))),
                "{bad}"
            );
        }
    }
}
