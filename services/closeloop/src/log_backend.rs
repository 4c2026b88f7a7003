//! Opens the event log the config names: the embedded log in the data dir
//! by default, or a Kafka-protocol cluster (`storage.log.kafka`).

use crate::config::{Config, KafkaLogConfig, RetentionConfig};
use anyhow::{Context, Result};
use closeloop_core::topics::Topic;
use closeloop_log::embedded::{EmbeddedLog, EmbeddedOptions, Retention};
use closeloop_log::kafka::{KafkaLog, KafkaOptions};
use closeloop_log::EventLog;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

pub async fn open(config: &Config, data_dir: &Path) -> Result<Arc<dyn EventLog>> {
    match &config.storage.log.kafka {
        None => {
            let dir = data_dir.join("log");
            let options = EmbeddedOptions {
                retention: embedded_retention(config),
                ..EmbeddedOptions::default()
            };
            let log = EmbeddedLog::open(&dir, options)
                .await
                .with_context(|| format!("opening the event log in {}", dir.display()))?;
            Ok(Arc::new(log))
        }
        Some(kafka) => {
            let options = kafka_options(kafka, &config.storage.retention);
            let brokers = options.brokers.join(",");
            let log = KafkaLog::connect(options)
                .await
                .with_context(|| format!("connecting to the Kafka log at {brokers}"))?;
            // Every topic exists with the configured partition count before
            // any role reads it, whichever process starts first.
            for topic in Topic::ALL {
                let name = topic.name(&kafka.topic_prefix);
                log.partitions(&name)
                    .await
                    .with_context(|| format!("creating topic {name}"))?;
            }
            Ok(Arc::new(log))
        }
    }
}

/// How long superseded snapshots are kept. The newest of each owner is
/// kept however old: its pointer is a committed position, which the
/// embedded log's retention never passes.
const SNAPSHOT_RETENTION: Duration = Duration::from_secs(24 * 3600);
/// On Kafka, which deletes by age alone, a snapshot older than this is
/// gone, and a role that was down for longer replays from the start.
const KAFKA_SNAPSHOT_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// The samples' and the snapshots' retention for the embedded log, which
/// enforces it itself (module `closeloop_log::embedded::retention`).
fn embedded_retention(config: &Config) -> BTreeMap<String, Retention> {
    let prefix = config.topic_prefix();
    let samples = &config.storage.retention.samples;
    let policy = Retention {
        max_age: samples.time,
        max_bytes: samples.size,
    };
    let mut policies = BTreeMap::from([(
        Topic::Snapshots.name(prefix),
        Retention {
            max_age: Some(SNAPSHOT_RETENTION),
            max_bytes: None,
        },
    )]);
    if policy != Retention::default() {
        policies.insert(Topic::Samples.name(prefix), policy);
    }
    policies
}

/// What each topic is created with on Kafka, where the brokers enforce
/// retention: the samples topic gets `storage.retention.samples`
/// (`retention.ms`, and `retention.bytes`, which Kafka also counts per
/// partition); the snapshots topic 7 days; every other topic
/// `retention.ms=-1`, since roles read those from their snapshot or the
/// start when they restart and a broker's default (7 days) would delete
/// state they need. Unlike the embedded log, the brokers do not
/// wait for the evaluator to have read a segment before deleting it.
fn kafka_topic_configs(
    prefix: &str,
    retention: &RetentionConfig,
) -> BTreeMap<String, BTreeMap<String, String>> {
    Topic::ALL
        .into_iter()
        .map(|topic| {
            let mut configs = BTreeMap::new();
            if topic == Topic::Samples {
                let samples = &retention.samples;
                let ms = samples.time.map_or(-1, |t| t.as_millis() as i64);
                configs.insert("retention.ms".to_string(), ms.to_string());
                if let Some(bytes) = samples.size {
                    configs.insert("retention.bytes".to_string(), bytes.to_string());
                }
            } else if topic == Topic::Snapshots {
                let ms = KAFKA_SNAPSHOT_RETENTION.as_millis().to_string();
                configs.insert("retention.ms".to_string(), ms);
            } else {
                configs.insert("retention.ms".to_string(), "-1".to_string());
            }
            (topic.name(prefix), configs)
        })
        .collect()
}

fn kafka_options(kafka: &KafkaLogConfig, retention: &RetentionConfig) -> KafkaOptions {
    KafkaOptions {
        topic_config: kafka_topic_configs(&kafka.topic_prefix, retention),
        brokers: kafka.brokers.clone(),
        client_config: kafka
            .client
            .iter()
            .map(|(name, value)| (name.clone(), value.to_string()))
            .collect(),
        default_partitions: kafka.partitions,
        replication_factor: kafka.replication_factor,
        append_timeout: kafka.append_timeout,
        request_timeout: kafka.request_timeout,
        session_timeout: kafka.session_timeout,
        positions_topic: format!("{}.positions", kafka.topic_prefix),
        ..KafkaOptions::default()
    }
}
