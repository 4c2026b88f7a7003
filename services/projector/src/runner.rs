//! Follows the projected topics of the log, one task per owned partition,
//! and applies each batch of records with its checkpoint in one
//! transaction. Several projectors share the work: per topic, each is a
//! member of `<prefix>.projector.<stream>.members` and follows only the
//! partitions that membership gives it.

use crate::error::ProjectorError;
use crate::metrics;
use crate::projection;
use crate::store::{alert_state_name, Batch, Checkpoint, ReadStore, CONSUMER};
use closeloop_core::metrics::set_consumer_lag;
use closeloop_core::topics::Topic;
use closeloop_core::Event;
use closeloop_log::{Assignment, EventLog, LogError, Membership, Offset, StoredRecord};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

/// The streams that have read models; samples are evaluated, not stored.
/// Actions too, for the scale requests of the `scale_actions` read model.
pub const PROJECTED_TOPICS: [Topic; 4] = [
    Topic::Deploys,
    Topic::Alerts,
    Topic::Actions,
    Topic::Outcomes,
];

/// Records per transaction: large enough to catch up fast after a
/// restart, small enough to keep a transaction short.
pub const BATCH_RECORDS: usize = 500;

/// How long a read waits for new records when caught up. The log returns
/// as soon as one arrives, so this bounds idle polling, not latency.
pub const CAUGHT_UP_WAIT: Duration = Duration::from_millis(200);

const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// The `consumer` label of this role's lag gauge.
const LAG_CONSUMER: &str = "projector";
/// How often the lag gauge is refreshed: one end-offset request per owned
/// partition each time.
const LAG_EVERY: Duration = Duration::from_secs(1);
/// A follower's next offset before it has read its checkpoint.
const UNKNOWN: Offset = Offset::MAX;
/// The DORA gauges are recomputed at least this often, since their window
/// slides with the clock even when no event arrives.
const DORA_REFRESH_EVERY: Duration = Duration::from_secs(60);
/// And at most once per this, however many batches commit meanwhile.
const DORA_REFRESH_GAP: Duration = Duration::from_secs(1);

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
    let mut topics = JoinSet::new();
    refresh_alert_gauge(store.as_ref()).await;
    refresh_issue_gauge(store.as_ref()).await;
    let dora_changed = Arc::new(Notify::new());
    let dora = tokio::spawn(refresh_dora_gauges(
        store.clone(),
        Arc::clone(&dora_changed),
        stop_rx.clone(),
    ));
    for topic in PROJECTED_TOPICS {
        let projection = TopicProjection {
            log: log.clone(),
            store: store.clone(),
            topic,
            name: topic.name(prefix),
            members: format!("{prefix}.projector.{}.members", topic.stream()),
            stop: stop_rx.clone(),
            dora_changed: Arc::clone(&dora_changed),
        };
        topics.spawn(projection.run());
    }
    let result = tokio::select! {
        _ = shutdown => Ok(()),
        Some(ended) = topics.join_next() => match ended {
            Ok(Ok(())) => Err(ProjectorError::Task("a topic's projection stopped early".into())),
            Ok(Err(err)) => Err(err),
            Err(join) => Err(ProjectorError::Task(join.to_string())),
        },
    };
    // Followers finish the transaction they are in, then stop.
    let _ = stop_tx.send(true);
    while topics.join_next().await.is_some() {}
    let _ = dora.await;
    result
}

/// Recomputes the DORA gauges after commits that changed the DORA read
/// model (coalesced, at most once per [`DORA_REFRESH_GAP`]) and every
/// [`DORA_REFRESH_EVERY`], until told to stop.
async fn refresh_dora_gauges(
    store: Arc<dyn ReadStore>,
    changed: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let mut every = tokio::time::interval(DORA_REFRESH_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = every.tick() => {}
            () = changed.notified() => {}
        }
        if let Err(err) = crate::dora::refresh_gauges(store.as_ref(), chrono::Utc::now()).await {
            warn!(error = %err, "computing the DORA gauges failed");
        }
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(DORA_REFRESH_GAP) => {}
        }
    }
}

/// One projected topic: its membership and a follower per owned
/// partition, started and stopped as the assignment changes.
struct TopicProjection {
    log: Arc<dyn EventLog>,
    store: Arc<dyn ReadStore>,
    topic: Topic,
    name: String,
    members: String,
    stop: watch::Receiver<bool>,
    /// Told after a commit that changed the DORA read model.
    dora_changed: Arc<Notify>,
}

/// A follower this projection started, and how to stop it.
struct Running {
    stop: watch::Sender<bool>,
    /// The next offset the follower will read; [`UNKNOWN`] until it has
    /// read its checkpoint.
    next: Arc<AtomicU64>,
}

type Followers = JoinSet<(u32, Result<(), ProjectorError>)>;

impl TopicProjection {
    async fn run(mut self) -> Result<(), ProjectorError> {
        let Some(mut membership) = self.join().await? else {
            return Ok(());
        };
        info!(topic = %self.name, group = %self.members, "projecting");
        let mut running: BTreeMap<u32, Running> = BTreeMap::new();
        let mut followers = Followers::new();
        let mut acted_on = 0;
        let mut lag_tick = tokio::time::interval(LAG_EVERY);
        lag_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let result = loop {
            // `current_if_changed` marks the assignment as read: `changed()`
            // below leaves a change unread, and would return at once again
            // (a busy loop) if nothing here took it. A new membership starts
            // out changed, so the first pass always assigns.
            if let Some(assignment) = membership.current_if_changed() {
                if let Err(err) = self
                    .reassign(&mut running, &mut followers, acted_on, &assignment)
                    .await
                {
                    break Err(err);
                }
                acted_on = assignment.generation;
                membership.acknowledge(acted_on);
            }
            tokio::select! {
                _ = self.stop.changed() => break Ok(()),
                () = membership.changed() => {}
                _ = lag_tick.tick() => self.report_lag(&running).await,
                Some(ended) = followers.join_next() => break Err(unexpected_end(ended)),
            }
        };
        // Followers finish the transaction they are in, then stop; the
        // membership is dropped (leaving the group) only after that.
        for follower in running.values() {
            let _ = follower.stop.send(true);
        }
        while followers.join_next().await.is_some() {}
        drop(membership);
        result
    }

    /// Joins the topic's membership group, retrying while the log is
    /// unavailable; `None` if told to stop first.
    async fn join(&mut self) -> Result<Option<Membership>, ProjectorError> {
        let mut backoff = Backoff::default();
        loop {
            let attempt = tokio::select! {
                _ = self.stop.changed() => return Ok(None),
                attempt = self.log.join(&self.members, &self.name) => attempt,
            };
            match attempt {
                Ok(membership) => return Ok(Some(membership)),
                Err(err) if is_permanent(&err) => return Err(err.into()),
                Err(err) => {
                    warn!(topic = %self.name, group = %self.members, error = %err, "cannot join the projectors' group, retrying");
                    tokio::select! {
                        _ = self.stop.changed() => return Ok(None),
                        _ = tokio::time::sleep(backoff.next_delay()) => {}
                    }
                }
            }
        }
    }

    /// Stops the followers of revoked partitions and waits until they have
    /// (each finishes the transaction it is in, so the stored checkpoint
    /// is final), then starts followers for gained partitions, which
    /// resume at that checkpoint. The caller acknowledges afterwards, so
    /// no two projectors follow one partition at a time; if they did, the
    /// checkpoint in each transaction would still keep rows from being
    /// applied twice.
    async fn reassign(
        &self,
        running: &mut BTreeMap<u32, Running>,
        followers: &mut Followers,
        acted_on: u64,
        assignment: &Assignment,
    ) -> Result<(), ProjectorError> {
        // A generation that went by unseen was a revocation nobody
        // acknowledged in time (a follower was slow to stop), so the
        // partitions still listed may have had another follower since:
        // restart them all from their checkpoints.
        let restart_all = assignment.generation > acted_on + 1;
        let revoked: BTreeSet<u32> = running
            .keys()
            .copied()
            .filter(|p| restart_all || !assignment.partitions.contains(p))
            .collect();
        for partition in &revoked {
            if let Some(follower) = running.get(partition) {
                let _ = follower.stop.send(true);
            }
        }
        let mut waiting = revoked.clone();
        while !waiting.is_empty() {
            match followers.join_next().await {
                Some(Ok((partition, result))) if waiting.remove(&partition) => result?,
                Some(other) => return Err(unexpected_end(other)),
                None => break,
            }
        }
        for partition in &revoked {
            running.remove(partition);
        }
        let gained: Vec<u32> = assignment
            .partitions
            .iter()
            .copied()
            .filter(|p| !running.contains_key(p))
            .collect();
        for &partition in &gained {
            let (stop, stop_rx) = watch::channel(false);
            let next = Arc::new(AtomicU64::new(UNKNOWN));
            let follower = Follower {
                log: self.log.clone(),
                store: self.store.clone(),
                topic: self.topic,
                name: self.name.clone(),
                partition,
                stop: stop_rx,
                next: Arc::clone(&next),
                dora_changed: Arc::clone(&self.dora_changed),
            };
            followers.spawn(async move { (partition, follower.run().await) });
            running.insert(partition, Running { stop, next });
        }
        if !revoked.is_empty() || !gained.is_empty() {
            info!(topic = %self.name, generation = assignment.generation, ?revoked, ?gained, owned = ?assignment.partitions, "projector partitions reassigned");
        }
        Ok(())
    }

    /// Sets the lag gauge: records not yet applied in the owned
    /// partitions whose followers know where they are.
    async fn report_lag(&self, running: &BTreeMap<u32, Running>) {
        let mut lag = 0;
        for (&partition, follower) in running {
            let next = follower.next.load(Ordering::Relaxed);
            if next == UNKNOWN {
                continue;
            }
            match self.log.end_offset(&self.name, partition).await {
                Ok(end) => lag += end.saturating_sub(next),
                Err(err) => {
                    debug!(topic = %self.name, partition, error = %err, "no end offset for the lag gauge");
                    return;
                }
            }
        }
        set_consumer_lag(LAG_CONSUMER, self.topic, lag);
    }
}

/// A follower that ended without being told to: its error, or a note that
/// it stopped early.
fn unexpected_end(
    ended: Result<(u32, Result<(), ProjectorError>), tokio::task::JoinError>,
) -> ProjectorError {
    match ended {
        Ok((_, Err(err))) => err,
        Ok((partition, Ok(()))) => ProjectorError::Task(format!(
            "the follower of partition {partition} stopped early"
        )),
        Err(join) => ProjectorError::Task(join.to_string()),
    }
}

struct Follower {
    log: Arc<dyn EventLog>,
    store: Arc<dyn ReadStore>,
    topic: Topic,
    name: String,
    partition: u32,
    stop: watch::Receiver<bool>,
    /// Where this follower has got to, for the lag gauge.
    next: Arc<AtomicU64>,
    dora_changed: Arc<Notify>,
}

impl Follower {
    async fn run(mut self) -> Result<(), ProjectorError> {
        let Some(mut next) = self.start_offset().await else {
            return Ok(());
        };
        self.next.store(next, Ordering::Relaxed);
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
            self.next.store(next, Ordering::Relaxed);
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
                    if changes.clone().any(|c| c.touches_dora()) {
                        self.dora_changed.notify_one();
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
