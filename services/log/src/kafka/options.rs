//! Settings of the Kafka backend and the librdkafka configurations built
//! from them: which settings users may pass through, and which the
//! backend's guarantees rest on and so are fixed here.

use crate::LogError;
use rdkafka::ClientConfig;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// librdkafka properties the backend sets itself: idempotent `acks=all`
/// appends, offsets managed by the program, reads that fail instead of
/// jumping when an offset is out of range, topics created only with the
/// configured partition count. Passing one in `client_config` is an error
/// rather than a silent override.
pub const RESERVED_PROPERTIES: &[&str] = &[
    "bootstrap.servers",
    "metadata.broker.list",
    "enable.idempotence",
    "acks",
    "request.required.acks",
    "message.timeout.ms",
    "delivery.timeout.ms",
    "transactional.id",
    "group.id",
    "enable.auto.commit",
    "enable.auto.offset.store",
    "auto.offset.reset",
    "allow.auto.create.topics",
    "enable.partition.eof",
];

/// The `group.id` of partition readers, which need one to be assigned
/// partitions but never commit in it.
const READER_GROUP: &str = "closeloop.reader";

#[derive(Clone, PartialEq, Eq)]
pub struct KafkaOptions {
    /// `host:port` of the brokers to bootstrap from.
    pub brokers: Vec<String>,
    /// librdkafka properties passed through unchanged to every client the
    /// backend creates: `security.protocol`, `sasl.mechanism`,
    /// `sasl.username`, `sasl.password`, `ssl.ca.location`, tuning such as
    /// `linger.ms` or `compression.type`. Values are never logged or printed
    /// by `Debug` when their name looks secret. [`RESERVED_PROPERTIES`] are
    /// refused.
    pub client_config: BTreeMap<String, String>,
    /// Partitions of a topic the backend creates. Existing topics keep their
    /// count; growing it later moves keys to other partitions, so don't.
    pub default_partitions: u32,
    /// Replicas of a topic the backend creates; `None` takes the broker's
    /// `default.replication.factor`.
    pub replication_factor: Option<u16>,
    /// Topic configs (`retention.ms`, `retention.bytes`, `cleanup.policy`,
    /// ...) set on a topic, by name, when the backend creates it. Topics
    /// that already exist keep theirs: change them with the cluster's own
    /// tools (`kafka-configs --alter`).
    pub topic_config: BTreeMap<String, BTreeMap<String, String>>,
    /// How long an append waits for every broker acknowledgement before it
    /// fails with `Unavailable` (librdkafka's `message.timeout.ms`). Short,
    /// so ingest answers 503 quickly and the sender retries, instead of
    /// holding requests while the broker is away.
    pub append_timeout: Duration,
    /// Bound on every other broker request: metadata, topic creation,
    /// watermarks, offset commits and fetches, and a read's wait for records
    /// the broker already reported as present.
    pub request_timeout: Duration,
    /// Partition readers kept assigned between reads, so a consumer reading
    /// a partition front to back keeps librdkafka's prefetched records
    /// instead of fetching again. Each is a librdkafka consumer with its own
    /// connections and prefetch buffer.
    pub max_idle_readers: usize,
    /// The compacted topic (one partition) holding consumer group positions
    /// with their metadata (module `positions` says why). One per closeloop
    /// deployment sharing a cluster, like the `<prefix>.*` topics.
    pub positions_topic: String,
    /// How long a member of a shared group (see [`crate::membership`]) may
    /// go silent before the broker gives its partitions to the others:
    /// the failover time after a crash (Kafka's `session.timeout.ms`).
    pub session_timeout: Duration,
}

impl Default for KafkaOptions {
    fn default() -> Self {
        Self {
            brokers: vec!["127.0.0.1:9092".to_string()],
            client_config: BTreeMap::new(),
            default_partitions: 1,
            replication_factor: None,
            topic_config: BTreeMap::new(),
            append_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
            max_idle_readers: 32,
            positions_topic: "closeloop.positions".to_string(),
            session_timeout: Duration::from_secs(10),
        }
    }
}

impl fmt::Debug for KafkaOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let client_config: BTreeMap<&str, &str> = self
            .client_config
            .iter()
            .map(|(name, value)| {
                let shown = if looks_secret(name) {
                    "<redacted>"
                } else {
                    value
                };
                (name.as_str(), shown)
            })
            .collect();
        f.debug_struct("KafkaOptions")
            .field("brokers", &self.brokers)
            .field("client_config", &client_config)
            .field("default_partitions", &self.default_partitions)
            .field("replication_factor", &self.replication_factor)
            .field("topic_config", &self.topic_config)
            .field("append_timeout", &self.append_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("max_idle_readers", &self.max_idle_readers)
            .field("positions_topic", &self.positions_topic)
            .field("session_timeout", &self.session_timeout)
            .finish()
    }
}

/// Property names that carry credentials or key material.
fn looks_secret(name: &str) -> bool {
    ["password", "secret", "jaas", "token", ".pem", "key"]
        .iter()
        .any(|part| name.contains(part))
}

impl KafkaOptions {
    pub(crate) fn validate(&self) -> Result<(), LogError> {
        let invalid = |what: String| Err(LogError::Invalid(format!("kafka options: {what}")));
        if self.brokers.is_empty() || self.brokers.iter().any(|b| b.trim().is_empty()) {
            return invalid("brokers must list at least one host:port".into());
        }
        if self.default_partitions == 0 || i32::try_from(self.default_partitions).is_err() {
            return invalid("default_partitions must be between 1 and 2^31-1".into());
        }
        if self.replication_factor == Some(0) {
            return invalid("replication_factor must be at least 1".into());
        }
        for (name, timeout) in [
            ("append_timeout", self.append_timeout),
            ("request_timeout", self.request_timeout),
            ("session_timeout", self.session_timeout),
        ] {
            // librdkafka takes milliseconds as a C int.
            if timeout < Duration::from_millis(1) || timeout.as_millis() > i32::MAX as u128 {
                return invalid(format!("{name} must be between 1 ms and 24 days"));
            }
        }
        if let Some(name) = self
            .client_config
            .keys()
            .find(|name| RESERVED_PROPERTIES.contains(&name.as_str()))
        {
            return invalid(format!(
                "client_config may not set {name:?}: the backend sets it (see RESERVED_PROPERTIES)"
            ));
        }
        Ok(())
    }

    /// Settings every client shares: where the brokers are, the user's
    /// pass-through properties, and no topic auto-creation (a metadata
    /// lookup must not create a topic with the broker's default count).
    fn base(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", self.brokers.join(","))
            .set("client.id", "closeloop")
            .set("allow.auto.create.topics", "false");
        for (name, value) in &self.client_config {
            config.set(name, value);
        }
        config
    }

    /// The producer: idempotent, `acks=all`, bounded delivery time.
    pub(crate) fn producer_config(&self) -> ClientConfig {
        let mut config = self.base();
        if !self.client_config.contains_key("linger.ms") {
            // Concurrent small appends share produce requests.
            config.set("linger.ms", "5");
        }
        config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("message.timeout.ms", millis(self.append_timeout));
        config
    }

    /// The admin client that creates topics.
    pub(crate) fn admin_config(&self) -> ClientConfig {
        self.base()
    }

    /// A consumer reading one partition at explicit offsets. librdkafka
    /// assigns partitions only with a `group.id`; this one never joins its
    /// group (no subscribe) or commits in it.
    pub(crate) fn reader_config(&self) -> ClientConfig {
        let mut config = self.base();
        config.set("group.id", READER_GROUP);
        for (name, value) in [
            // A waiting read sees a new record within this long of its append.
            ("fetch.wait.max.ms", "100"),
            // Idle readers stay assigned; bound what each one prefetches
            // (librdkafka's default is 64 MB per consumer).
            ("queued.max.messages.kbytes", "8192"),
        ] {
            if !self.client_config.contains_key(name) {
                config.set(name, value);
            }
        }
        config
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            // Past the end (or before the start) of a partition is the
            // caller's mistake to hear about, not a silent jump.
            .set("auto.offset.reset", "error")
            .set("enable.partition.eof", "false");
        config
    }

    /// A consumer that only commits and looks up a group's offsets. It never
    /// subscribes, so it commits as a standalone member; the session timeout
    /// bounds how long librdkafka holds a commit waiting for the group
    /// coordinator.
    pub(crate) fn group_config(&self, group: &str) -> ClientConfig {
        let mut config = self.base();
        // librdkafka's minimum session timeout is 1 ms, its maximum an hour.
        let session = self
            .request_timeout
            .clamp(Duration::from_millis(1), Duration::from_secs(3600));
        config
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "error")
            .set("session.timeout.ms", millis(session));
        config
    }

    /// A member of a shared group: it subscribes, so the broker balances
    /// the topic's partitions between the live members; it never commits
    /// (positions are kept with `commit`) and its fetched records are
    /// unused (the partitions are paused once assigned).
    pub(crate) fn membership_config(&self, group: &str) -> ClientConfig {
        let mut config = self.base();
        let session = self.session_timeout;
        // The broker expects a heartbeat well within the session.
        let heartbeat = (session / 4).max(Duration::from_millis(100));
        config
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "latest")
            .set("session.timeout.ms", millis(session))
            .set("heartbeat.interval.ms", millis(heartbeat));
        config
    }
}

fn millis(duration: Duration) -> String {
    duration.as_millis().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert!(KafkaOptions::default().validate().is_ok());
    }

    #[test]
    fn reserved_properties_are_refused_with_their_name() {
        let mut options = KafkaOptions::default();
        options
            .client_config
            .insert("enable.idempotence".into(), "false".into());
        let error = options.validate().expect_err("reserved property");
        assert!(error.to_string().contains("enable.idempotence"), "{error}");
    }

    #[test]
    fn debug_output_hides_credentials() {
        let mut options = KafkaOptions::default();
        for (name, value) in [
            ("sasl.password", "hunter2"),
            ("sasl.username", "closeloop"),
            ("ssl.key.pem", "-----BEGIN"),
            ("sasl.oauthbearer.client.secret", "s3cret"),
        ] {
            options.client_config.insert(name.into(), value.into());
        }
        let shown = format!("{options:?}");
        assert!(shown.contains("closeloop"), "{shown}");
        for secret in ["hunter2", "BEGIN", "s3cret"] {
            assert!(!shown.contains(secret), "{secret} shown in {shown}");
        }
    }

    #[test]
    fn pass_through_properties_reach_the_clients() {
        let mut options = KafkaOptions::default();
        options
            .client_config
            .insert("security.protocol".into(), "sasl_ssl".into());
        options
            .client_config
            .insert("linger.ms".into(), "20".into());
        let producer = options.producer_config();
        assert_eq!(producer.get("security.protocol"), Some("sasl_ssl"));
        assert_eq!(producer.get("linger.ms"), Some("20"));
        assert_eq!(producer.get("enable.idempotence"), Some("true"));
        assert_eq!(producer.get("message.timeout.ms"), Some("5000"));
        let group = options.group_config("evaluators");
        assert_eq!(group.get("security.protocol"), Some("sasl_ssl"));
        assert_eq!(group.get("group.id"), Some("evaluators"));
        assert_eq!(group.get("enable.auto.commit"), Some("false"));
    }
}
