//! Follows the projected topics of the log, one task per partition, and
//! applies each batch of records with its checkpoint in one transaction.

use crate::error::ProjectorError;
use crate::metrics;
use crate::projection;
use crate::store::{alert_state_name, Batch, Checkpoint, ReadStore, CONSUMER};
use closeloop_core::topics::Topic;
use closeloop_core::Event;
use closeloop_log::{EventLog, LogError, Offset, StoredRecord};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

/// The streams that have read models; samples are evaluated, not stored.
pub const PROJECTED_TOPICS: [Topic; 3] = [Topic::Deploys, Topic::Alerts, Topic::Outcomes];

/// Records per transaction: large enough to catch up fast after a
/// restart, small enough to keep a transaction short.
pub const BATCH_RECORDS: usize = 500;

/// How long a read waits for new records when caught up. The log returns
/// as soon as one arrives, so this bounds idle polling, not latency.
pub const CAUGHT_UP_WAIT: Duration = Duration::from_millis(200);

const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Projects `<prefix>.deploys`, `.alerts` and `.outcomes` into `store`
/// until `shutdown` completes. Returns an error only when the log refuses
/// in a way retrying cannot fix; unavailable logs and stores are retried
/// with backoff, undecodable records are skipped and counted.
pub async fn run(
    log: Arc<dyn EventLog>,
    prefix: &str,
    store: Arc<dyn ReadStore>,
    shutdown: impl Future,
) -> Result<(), ProjectorError> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    refresh_alert_gauge(store.as_ref()).await;
    refresh_issue_gauge(store.as_ref()).await;

    for topic in PROJECTED_TOPICS {
        let name = topic.name(prefix);
        let mut backoff = Backoff::default();
        let partitions = loop {
            let attempt = tokio::select! {
                _ = &mut shutdown => return Ok(()),
                attempt = log.partitions(&name) => attempt,
            };
            match attempt {
                Ok(n) => break n,
                Err(err) if is_permanent(&err) => return Err(err.into()),
                Err(err) => {
                    warn!(topic = %name, error = %err, "cannot list partitions, retrying");
                    tokio::select! {
                        _ = &mut shutdown => return Ok(()),
                        _ = tokio::time::sleep(backoff.next_delay()) => {}
                    }
                }
            }
        };
        info!(topic = %name, partitions, "projecting");
        for partition in 0..partitions {
            let follower = Follower {
                log: log.clone(),
                store: store.clone(),
                topic,
                name: name.clone(),
                partition,
                stop: stop_rx.clone(),
            };
            tasks.spawn(follower.run());
        }
    }

    let result = tokio::select! {
        _ = &mut shutdown => Ok(()),
        Some(ended) = tasks.join_next() => match ended {
            Ok(Ok(())) => Err(ProjectorError::Task("a partition follower stopped early".into())),
            Ok(Err(err)) => Err(err),
            Err(join) => Err(ProjectorError::Task(join.to_string())),
        },
    };
    // Followers finish the transaction they are in, then stop.
    let _ = stop_tx.send(true);
    while tasks.join_next().await.is_some() {}
    result
}

struct Follower {
    log: Arc<dyn EventLog>,
    store: Arc<dyn ReadStore>,
    topic: Topic,
    name: String,
    partition: u32,
    stop: watch::Receiver<bool>,
}

impl Follower {
    async fn run(mut self) -> Result<(), ProjectorError> {
        let Some(mut next) = self.start_offset().await else {
            return Ok(());
        };
        let mut backoff = Backoff::default();
        loop {
            let read = tokio::select! {
                _ = self.stop.changed() => return Ok(()),
                read = self.log.read(&self.name, self.partition, next, BATCH_RECORDS, CAUGHT_UP_WAIT) => read,
            };
            let records = match read {
                Ok(records) => records,
                Err(err) if is_permanent(&err) => return Err(err.into()),
                Err(err) => {
                    warn!(topic = %self.name, partition = self.partition, error = %err, "log read failed, retrying");
                    if self.sleep(backoff.next_delay()).await {
                        return Ok(());
                    }
                    continue;
                }
            };
            backoff = Backoff::default();
            let Some(batch) = self.batch(&records) else {
                continue;
            };
            if !self.apply(&batch).await {
                return Ok(());
            }
            next = batch.checkpoint.next_offset;
        }
    }

    /// The stored checkpoint, retried until the store answers; `None` if
    /// told to stop first.
    async fn start_offset(&mut self) -> Option<Offset> {
        let mut backoff = Backoff::default();
        loop {
            match self
                .store
                .checkpoint(CONSUMER, &self.name, self.partition)
                .await
            {
                Ok(stored) => {
                    let next = stored.unwrap_or(0);
                    debug!(topic = %self.name, partition = self.partition, next, "resuming");
                    return Some(next);
                }
                Err(err) => {
                    warn!(topic = %self.name, partition = self.partition, error = %err, "reading checkpoint failed, retrying");
                    if self.sleep(backoff.next_delay()).await {
                        return None;
                    }
                }
            }
        }
    }

    /// Decodes records into one batch; `None` for an empty read.
    fn batch(&self, records: &[StoredRecord]) -> Option<Batch> {
        let last = records.last()?;
        let mut changes = Vec::new();
        for record in records {
            match Event::from_json(&record.value) {
                Ok(event) => changes.extend(
                    projection::changes(event)
                        .into_iter()
                        .map(|c| (record.offset, c)),
                ),
                Err(err) => {
                    // Skipping is safe: a record that does not decode now
                    // never will, and stalling the partition would hide
                    // every later event.
                    warn!(topic = %self.name, partition = self.partition, offset = record.offset, error = %err, "skipping record that is not an event");
                    metrics::DECODE_FAILURES
                        .with_label_values(&[self.topic.stream()])
                        .inc();
                }
            }
        }
        Some(Batch {
            checkpoint: Checkpoint {
                consumer: CONSUMER.to_string(),
                topic: self.name.clone(),
                partition: self.partition,
                next_offset: last.offset + 1,
            },
            changes,
        })
    }

    /// Applies the batch, retrying until it commits; false if told to stop
    /// first (nothing of the batch is then stored).
    async fn apply(&mut self, batch: &Batch) -> bool {
        let mut backoff = Backoff::default();
        loop {
            match self.store.apply(batch).await {
                Ok(applied) => {
                    metrics::EVENTS_APPLIED
                        .with_label_values(&[self.topic.stream()])
                        .inc_by(applied.events as u64);
                    if applied.already_applied > 0 {
                        debug!(topic = %self.name, partition = self.partition, skipped = applied.already_applied, "changes already applied");
                    }
                    let changes = batch.changes.iter().map(|(_, c)| c);
                    if changes.clone().any(|c| c.touches_alerts()) {
                        refresh_alert_gauge(self.store.as_ref()).await;
                    }
                    if changes.clone().any(|c| c.touches_issues()) {
                        refresh_issue_gauge(self.store.as_ref()).await;
                    }
                    return true;
                }
                Err(err) => {
                    warn!(topic = %self.name, partition = self.partition, next_offset = batch.checkpoint.next_offset, error = %err, "applying batch failed, retrying");
                    if self.sleep(backoff.next_delay()).await {
                        return false;
                    }
                }
            }
        }
    }

    /// Sleeps unless told to stop; true if told to stop.
    async fn sleep(&mut self, delay: Duration) -> bool {
        tokio::select! {
            _ = self.stop.changed() => true,
            _ = tokio::time::sleep(delay) => false,
        }
    }
}

/// Errors that the same request will hit again, however long we wait.
fn is_permanent(err: &LogError) -> bool {
    matches!(err, LogError::Invalid(_) | LogError::Corrupt(_))
}

async fn refresh_alert_gauge(store: &dyn ReadStore) {
    match store.alert_counts().await {
        Ok(counts) => {
            for (state, count) in counts {
                metrics::ALERTS
                    .with_label_values(&[alert_state_name(state)])
                    .set(i64::try_from(count).unwrap_or(i64::MAX));
            }
        }
        Err(err) => warn!(error = %err, "counting alerts for the gauge failed"),
    }
}

async fn refresh_issue_gauge(store: &dyn ReadStore) {
    match store.open_issue_count().await {
        Ok(count) => metrics::ISSUES_OPEN.set(i64::try_from(count).unwrap_or(i64::MAX)),
        Err(err) => warn!(error = %err, "counting open issues for the gauge failed"),
    }
}

/// Exponential backoff from 100ms to 5s.
#[derive(Default)]
struct Backoff {
    attempts: u32,
}

impl Backoff {
    fn next_delay(&mut self) -> Duration {
        let delay = BACKOFF_START.saturating_mul(1 << self.attempts.min(6));
        self.attempts = self.attempts.saturating_add(1);
        delay.min(BACKOFF_MAX)
    }
}
