//! `closeloop replay`: backtests rules over the samples and deploys stored
//! in the log, printing the alerts that would have fired between two
//! times. Nothing is appended: the log is only read.

use crate::config::{Config, DEFAULT_DATA_DIR};
use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use closeloop_core::topics::Topic;
use closeloop_core::{Event, EventPayload};
use closeloop_log::EventLog;
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

const BATCH: usize = 512;

pub struct ReplayArgs {
    pub config: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    pub rules: Vec<PathBuf>,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// One alert of the backtest: when it became active, fired and resolved.
#[derive(Debug, Default)]
struct Backtested {
    labels: String,
    active_at: Option<DateTime<Utc>>,
    fired_at: Option<DateTime<Utc>>,
    resolved_at: Option<DateTime<Utc>>,
}

pub fn main(args: ReplayArgs) -> Result<bool> {
    if args.to <= args.from {
        bail!("--to must be after --from");
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(replay(args))
}

async fn replay(args: ReplayArgs) -> Result<bool> {
    let config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    let mut evaluator = config.evaluator(&args.rules)?;
    let (from_ms, to_ms) = (args.from.timestamp_millis(), args.to.timestamp_millis());
    evaluator.start_at(from_ms);

    let data_dir = args
        .data_dir
        .or(config.data_dir.clone())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
    let log = crate::log_backend::open(&config, &data_dir)
        .await
        .with_context(|| {
            if config.storage.log.kafka.is_some() {
                "opening the Kafka log".to_string()
            } else {
                format!("opening the event log in {} (stop closeloop serve first: the embedded log takes one process at a time)", data_dir.display())
            }
        })?;
    let log = log.as_ref();
    let prefix = config.topic_prefix();

    // Deploys are few and time-aware in the evaluator: load them all first.
    let deploys = Topic::Deploys.name(prefix);
    for partition in 0..log.partitions(&deploys).await? {
        for record in read_all(log, &deploys, partition).await? {
            if let Ok(Event {
                envelope,
                payload: EventPayload::DeployRecorded(deploy),
            }) = Event::from_json(&record.value)
            {
                evaluator.record_deploy(
                    envelope.id,
                    &deploy,
                    envelope.occurred_at.timestamp_millis(),
                );
            }
        }
    }

    // Pushes too: each is seen by the scrapes at or after its time.
    let pushgroups = Topic::PushGroups.name(prefix);
    for partition in 0..log.partitions(&pushgroups).await? {
        for record in read_all(log, &pushgroups, partition).await? {
            if let Ok(event) = Event::from_json(&record.value) {
                evaluator.record_push(&event.payload);
            }
        }
    }

    let samples = Topic::Samples.name(prefix);
    let earliest_needed = from_ms - evaluator.retention_ms();
    // Partitions are read a batch each in turn, and event time advances
    // only as far as every partition still being read has got, as the live
    // evaluator's does: records of one partition are in time order, those
    // of different partitions are not.
    let mut cursors = Vec::new();
    for partition in 0..log.partitions(&samples).await? {
        let end = log.end_offset(&samples, partition).await?;
        // Retention may have removed the oldest samples: replay covers
        // what the log still holds.
        cursors.push(ReplayCursor {
            partition,
            next: log.start_offset(&samples, partition).await?,
            end,
            newest_ms: i64::MIN,
        });
    }
    let total = cursors.iter().map(|c| c.end - c.next).sum();
    let progress = ProgressBar::new(total);
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} records {elapsed_precise} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut alerts: BTreeMap<String, Backtested> = BTreeMap::new();
    let lateness_ms = config.evaluation.lateness.as_millis() as i64;
    while cursors.iter().any(|c| c.next < c.end) {
        for cursor in cursors.iter_mut().filter(|c| c.next < c.end) {
            let records = log
                .read(
                    &samples,
                    cursor.partition,
                    cursor.next,
                    BATCH,
                    Duration::ZERO,
                )
                .await?;
            let Some(last) = records.last() else {
                cursor.next = cursor.end;
                continue;
            };
            cursor.next = last.offset + 1;
            progress.inc(records.len() as u64);
            for record in &records {
                if record.timestamp_ms < earliest_needed {
                    continue;
                }
                // Only what senders pushed: stored `SamplesRecorded` are the
                // output of the rules that ran then, and the rules under test
                // (perhaps changed ones) write their own into the window.
                let Ok(Event {
                    payload: EventPayload::SamplesReceived(batch),
                    ..
                }) = Event::from_json(&record.value)
                else {
                    continue;
                };
                evaluator.append_received(&batch.format, &batch.body, 256 << 20)?;
                if let Some(max) = batch.max_timestamp_ms {
                    cursor.newest_ms = cursor.newest_ms.max(max);
                }
            }
        }
        let reading = cursors.iter().filter(|c| c.next < c.end);
        let watermark = reading
            .map(|c| c.newest_ms)
            .min()
            .unwrap_or(i64::MAX)
            .saturating_sub(lateness_ms);
        if watermark > from_ms {
            collect(evaluator.advance_to(watermark.min(to_ms)), &mut alerts);
        }
    }
    collect(evaluator.advance_to(to_ms), &mut alerts);
    progress.finish_and_clear();

    println!(
        "alerts that would have fired between {} and {}:",
        args.from.to_rfc3339(),
        args.to.to_rfc3339()
    );
    let fired: Vec<&Backtested> = alerts.values().filter(|a| a.fired_at.is_some()).collect();
    for alert in &fired {
        let time =
            |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339()).unwrap_or_else(|| "-".into());
        println!(
            "{}  active {}  fired {}  resolved {}",
            alert.labels,
            time(alert.active_at),
            time(alert.fired_at),
            alert
                .resolved_at
                .map(|t| t.to_rfc3339())
                .unwrap_or_else(|| "still firing".into())
        );
    }
    println!("{} alerts fired", fired.len());
    Ok(true)
}

/// How far replay has read one samples partition.
struct ReplayCursor {
    partition: u32,
    next: u64,
    end: u64,
    /// Newest sample time read from the partition.
    newest_ms: i64,
}

async fn read_all(
    log: &dyn EventLog,
    topic: &str,
    partition: u32,
) -> Result<Vec<closeloop_log::StoredRecord>> {
    let end = log.end_offset(topic, partition).await?;
    let mut next = log.start_offset(topic, partition).await?;
    let mut out = Vec::new();
    while next < end {
        let records = log
            .read(topic, partition, next, BATCH, Duration::ZERO)
            .await?;
        let Some(last) = records.last() else { break };
        next = last.offset + 1;
        out.extend(records);
    }
    Ok(out)
}

/// Folds alert transitions into one line per alert occurrence.
fn collect(
    decisions: Vec<closeloop_evaluator::Decision>,
    alerts: &mut BTreeMap<String, Backtested>,
) {
    for decision in decisions {
        let (event, resolved) = match &decision.payload {
            EventPayload::AlertPending(e) | EventPayload::AlertFiring(e) => (e, false),
            EventPayload::AlertResolved(e) => (e, true),
            _ => continue,
        };
        // An alert that resolves and comes back is a new occurrence.
        let key = format!(
            "{}@{}",
            event.fingerprint,
            event.active_at.timestamp_millis()
        );
        let entry = alerts.entry(key).or_default();
        entry.labels = format!(
            "{}{{{}}}",
            event.alertname,
            event
                .labels
                .iter()
                .filter(|(k, _)| *k != "alertname")
                .map(|(k, v)| format!("{k}={v:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        entry.active_at = Some(event.active_at);
        entry.fired_at = event.fired_at;
        if resolved {
            entry.resolved_at = event.resolved_at;
        }
    }
}
