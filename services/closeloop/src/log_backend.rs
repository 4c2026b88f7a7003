//! Opens the event log the config names: the embedded log in the data dir
//! by default, or a Kafka-protocol cluster (`storage.log.kafka`).

use crate::config::{Config, KafkaLogConfig};
use anyhow::{Context, Result};
use closeloop_core::topics::Topic;
use closeloop_log::embedded::{EmbeddedLog, EmbeddedOptions};
use closeloop_log::kafka::{KafkaLog, KafkaOptions};
use closeloop_log::EventLog;
use std::path::Path;
use std::sync::Arc;

pub async fn open(config: &Config, data_dir: &Path) -> Result<Arc<dyn EventLog>> {
    match &config.storage.log.kafka {
        None => {
            let dir = data_dir.join("log");
            let log = EmbeddedLog::open(&dir, EmbeddedOptions::default())
                .await
                .with_context(|| format!("opening the event log in {}", dir.display()))?;
            Ok(Arc::new(log))
        }
        Some(kafka) => {
            let options = kafka_options(kafka);
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

fn kafka_options(kafka: &KafkaLogConfig) -> KafkaOptions {
    KafkaOptions {
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
