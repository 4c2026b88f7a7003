//! `closeloop log stats` and `GET /api/v1/status/log`: the log's topics
//! (partitions, end offsets, bytes on disk for the embedded log), and how
//! far each consumer has got — the actuator's committed offsets, the
//! evaluator shards' checkpoints (watermark, and the samples offsets a
//! restart replays from) — with the lag behind each partition's end.
//! The projector keeps its positions in its own database, beside its read
//! models, so they are not here.

use crate::config::{Config, DEFAULT_DATA_DIR};
use anyhow::{Context, Result};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use closeloop_core::topics::{evaluator_shards_topic, Topic};
use closeloop_evaluator::shards;
use closeloop_log::EventLog;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The group the actuator commits its alerts and actions offsets under.
const ACTUATOR_GROUP: &str = closeloop_actuator::CONSUMER_GROUP;

#[derive(Debug, Serialize, Deserialize)]
pub struct LogStats {
    /// `embedded <dir>` or `kafka <brokers>`.
    pub backend: String,
    pub topics: Vec<TopicStats>,
    pub consumers: Vec<ConsumerStats>,
    /// Each evaluator shard's event-time watermark (unix ms), by shard.
    pub evaluator_watermarks_ms: BTreeMap<u32, i64>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct TopicStats {
    pub name: String,
    pub partitions: Vec<PartitionStats>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct PartitionStats {
    pub partition: u32,
    /// First offset still stored; retention removed what lies before it.
    #[serde(default)]
    pub start_offset: u64,
    /// Offset the next record will get: records ever appended.
    pub end_offset: u64,
    /// Segment bytes on disk (embedded log only).
    pub bytes: Option<u64>,
}

/// One consumer's position in one partition.
#[derive(Debug, Serialize, Deserialize)]
pub struct ConsumerStats {
    pub consumer: String,
    pub topic: String,
    pub partition: u32,
    /// Next offset it will read (`None`: nothing committed yet).
    pub position: Option<u64>,
    pub lag: u64,
}

/// Reads the figures from `log`; `embedded_dir` is the embedded log's
/// directory, whose partition directories are measured.
pub async fn collect(
    log: &dyn EventLog,
    prefix: &str,
    backend: String,
    embedded_dir: Option<&Path>,
) -> Result<LogStats> {
    let mut topics = Vec::new();
    let mut ends: BTreeMap<(String, u32), u64> = BTreeMap::new();
    for topic in Topic::ALL {
        let name = topic.name(prefix);
        let mut partitions = Vec::new();
        for partition in 0..log.partitions(&name).await? {
            let end_offset = log.end_offset(&name, partition).await?;
            let start_offset = log.start_offset(&name, partition).await?;
            ends.insert((name.clone(), partition), end_offset);
            let bytes =
                embedded_dir.map(|dir| dir_bytes(&dir.join(&name).join(partition.to_string())));
            partitions.push(PartitionStats {
                partition,
                start_offset,
                end_offset,
                bytes,
            });
        }
        topics.push(TopicStats { name, partitions });
    }

    let mut consumers = Vec::new();
    for topic in [Topic::Alerts, Topic::Actions] {
        let name = topic.name(prefix);
        for ((t, partition), end) in ends.iter().filter(|((t, _), _)| *t == name) {
            let position = log
                .committed(ACTUATOR_GROUP, t, *partition)
                .await?
                .map(|c| c.next_offset);
            consumers.push(ConsumerStats {
                consumer: "actuator".into(),
                topic: t.clone(),
                partition: *partition,
                position,
                lag: end.saturating_sub(position.unwrap_or(0)),
            });
        }
    }

    // The evaluator replays samples from the lowest offset any shard's
    // window still needs; that is its position in each samples partition.
    let shards_topic = evaluator_shards_topic(prefix);
    let mut watermarks = BTreeMap::new();
    let mut samples_next: BTreeMap<u32, u64> = BTreeMap::new();
    for shard in 0..log.partitions(&shards_topic).await? {
        if let Some(checkpoint) = shards::read_checkpoint(log, prefix, shard).await? {
            watermarks.insert(shard, checkpoint.watermark_ms);
            for (partition, next) in checkpoint.samples_next {
                let lowest = samples_next.entry(partition).or_insert(next);
                *lowest = (*lowest).min(next);
            }
        }
    }
    let samples = Topic::Samples.name(prefix);
    for ((t, partition), end) in ends.iter().filter(|((t, _), _)| *t == samples) {
        let position = samples_next.get(partition).copied();
        consumers.push(ConsumerStats {
            consumer: "evaluator (replays from)".into(),
            topic: t.clone(),
            partition: *partition,
            position,
            lag: end.saturating_sub(position.unwrap_or(0)),
        });
    }
    Ok(LogStats {
        backend,
        topics,
        consumers,
        evaluator_watermarks_ms: watermarks,
    })
}

/// Bytes of the files directly in `dir` (a partition's segments and
/// indexes); 0 when it does not exist.
fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

/// The stats as a table for a terminal.
pub fn render(stats: &LogStats) -> String {
    let mut out = format!("log: {}\n\n", stats.backend);
    out.push_str(&format!(
        "{:<32} {:>9} {:>14} {:>14} {:>14}\n",
        "TOPIC", "PARTITION", "START OFFSET", "END OFFSET", "BYTES"
    ));
    for topic in &stats.topics {
        for p in &topic.partitions {
            let bytes = p.bytes.map_or("-".to_string(), |b| b.to_string());
            out.push_str(&format!(
                "{:<32} {:>9} {:>14} {:>14} {:>14}\n",
                topic.name, p.partition, p.start_offset, p.end_offset, bytes
            ));
        }
        if topic.partitions.len() < 2 {
            continue;
        }
        let records: u64 = topic.partitions.iter().map(|p| p.end_offset).sum();
        let bytes: Option<u64> = topic.partitions.iter().map(|p| p.bytes).sum();
        out.push_str(&format!(
            "{:<32} {:>9} {:>14} {:>14} {:>14}\n",
            format!("{} (all)", topic.name),
            "",
            "",
            records,
            bytes.map_or("-".to_string(), |b| b.to_string())
        ));
    }
    out.push_str(&format!(
        "\n{:<26} {:<32} {:>9} {:>14} {:>10}\n",
        "CONSUMER", "TOPIC", "PARTITION", "POSITION", "LAG"
    ));
    for c in &stats.consumers {
        let position = c.position.map_or("-".to_string(), |p| p.to_string());
        out.push_str(&format!(
            "{:<26} {:<32} {:>9} {:>14} {:>10}\n",
            c.consumer, c.topic, c.partition, position, c.lag
        ));
    }
    out.push_str("projector: positions are kept in its database, with the read models\n");
    if !stats.evaluator_watermarks_ms.is_empty() {
        out.push_str("\nevaluator shard watermarks:\n");
        for (shard, ms) in &stats.evaluator_watermarks_ms {
            out.push_str(&format!(
                "  shard {shard}: {}\n",
                closeloop_core::time::from_millis(*ms).to_rfc3339()
            ));
        }
    }
    out
}

/// `GET /api/v1/status/log`, in every role: the same figures as JSON.
pub fn router(
    log: Arc<dyn EventLog>,
    prefix: String,
    backend: String,
    embedded_dir: Option<PathBuf>,
) -> Router {
    Router::new().route(
        "/api/v1/status/log",
        get(move || {
            let (log, prefix) = (log.clone(), prefix.clone());
            let (backend, dir) = (backend.clone(), embedded_dir.clone());
            async move {
                match collect(log.as_ref(), &prefix, backend, dir.as_deref()).await {
                    Ok(stats) => Json(stats).into_response(),
                    Err(err) => (
                        StatusCode::SERVICE_UNAVAILABLE,
                        [("retry-after", "5")],
                        format!("reading the log's figures: {err:#}\n"),
                    )
                        .into_response(),
                }
            }
        }),
    )
}

pub struct StatsArgs {
    pub config: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    pub url: Option<String>,
    pub json: bool,
}

/// `closeloop log stats`: from a running closeloop (`--url`), or from the
/// log itself (Kafka, or an embedded log no `serve` holds).
pub fn main(args: StatsArgs) -> Result<bool> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let stats = runtime.block_on(gather(&args))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&stats)?);
    } else {
        print!("{}", render(&stats));
    }
    Ok(true)
}

async fn gather(args: &StatsArgs) -> Result<LogStats> {
    if let Some(url) = &args.url {
        let url = format!("{}/api/v1/status/log", url.trim_end_matches('/'));
        let response = reqwest::get(&url)
            .await
            .with_context(|| format!("asking {url}"))?;
        let status = response.status();
        if !status.is_success() {
            anyhow::bail!(
                "{url}: {status} {}",
                response.text().await.unwrap_or_default()
            );
        }
        return response
            .json()
            .await
            .with_context(|| format!("reading {url}"));
    }
    let config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    let data_dir = args
        .data_dir
        .clone()
        .or(config.data_dir.clone())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
    if config.storage.log.kafka.is_none() && !data_dir.join("log").is_dir() {
        anyhow::bail!(
            "no event log in {} (give the data dir closeloop serve uses: --data-dir or CLOSELOOP_DATA_DIR)",
            data_dir.display()
        );
    }
    let log = crate::log_backend::open(&config, &data_dir)
        .await
        .with_context(|| {
            format!(
                "opening the event log in {} (while closeloop serve holds it, ask it instead: closeloop log stats --url http://127.0.0.1:9470)",
                data_dir.display()
            )
        })?;
    let (backend, dir) = backend_of(&config, &data_dir);
    collect(log.as_ref(), config.topic_prefix(), backend, dir.as_deref()).await
}

/// What to call the log, and the embedded log's directory.
pub fn backend_of(config: &Config, data_dir: &Path) -> (String, Option<PathBuf>) {
    match &config.storage.log.kafka {
        Some(kafka) => (format!("kafka {}", kafka.brokers.join(",")), None),
        None => {
            let dir = data_dir.join("log");
            (format!("embedded {}", dir.display()), Some(dir))
        }
    }
}
