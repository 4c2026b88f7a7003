//! The actuator's loops: one reads `closeloop.alerts`, another reads
//! `closeloop.actions` (for the evaluator's `ScaleRequested`), each as
//! consumer group `actuator`, only in the partitions this process owns as
//! a member of its topic's membership group (`<prefix>.actuator.members`,
//! `<prefix>.actuator.actions.members`: the partitions are split between
//! live actuators, and move when one leaves or dies). Each acts on a
//! record and commits its offset only once every effect of the record has
//! its outcome in the log. A crash or a handover therefore redelivers the
//! record, and the outcomes already written keep it from acting twice.
//! Whenever partitions are gained, the loop's state is rebuilt from
//! `closeloop.outcomes`, where the previous owner left it: from the newest
//! snapshot of that state (`closeloop.snapshots`, written by the alerts
//! loop every few minutes and at shutdown) and the outcomes after it.

use crate::config::ActuatorConfig;
use crate::error::ActuatorError;
use crate::inhibit::InhibitionView;
use crate::metrics;
use crate::notify_groups::GroupNotifier;
use crate::plan::Plan;
use crate::silences::SilenceView;
use crate::state::ActuatorState;
use chrono::{DateTime, Utc};
use closeloop_core::metrics::set_consumer_lag;
use closeloop_core::topics::Topic;
use closeloop_core::{Event, EventPayload};
use closeloop_log::snapshot;
use closeloop_log::{
    Assignment, CommittedPosition, EventLog, LogError, Membership, NewRecord, Offset,
};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tracing::{debug, info, warn};

/// The consumer group whose committed offsets say what has been acted on.
pub const CONSUMER_GROUP: &str = "actuator";

/// The `consumer` label of this role's lag gauge.
const LAG_CONSUMER: &str = "actuator";
/// The lag gauge costs one end-offset request per owned partition; this
/// bounds how often it is paid.
const LAG_EVERY: Duration = Duration::from_secs(1);

const READ_BATCH: usize = 100;
const REBUILD_BATCH: usize = 1000;
/// How long to wait for new alerts when every partition is drained.
const IDLE_POLL: Duration = Duration::from_millis(100);
/// Whose snapshot the actuator's outcome state is, in `closeloop.snapshots`.
const SNAPSHOT_OWNER: &str = "actuator";
/// A snapshot is saved once this many outcomes were folded since the last
/// one, or after [`SNAPSHOT_EVERY`] with at least one: a restart then
/// reads at most about this many outcome records after the snapshot.
const SNAPSHOT_AFTER_OUTCOMES: usize = 10_000;
const SNAPSHOT_EVERY: Duration = Duration::from_secs(300);
/// Appends the log calls "unavailable" are retried this often, doubling
/// from 200 ms, before the actuator gives up and ends.
const LOG_APPEND_TRIES: u32 = 6;

/// Runs the actuator until `shutdown` completes or the log fails. The
/// config must be validated with its secrets loaded
/// ([`ActuatorConfig::load_secrets`]). On shutdown the record in hand is
/// finished unless it is waiting to retry, in which case it is left
/// uncommitted and redelivered on the next start.
pub async fn run(
    log: Arc<dyn EventLog>,
    topic_prefix: &str,
    config: ActuatorConfig,
    http: reqwest::Client,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ActuatorError> {
    config.validate()?;
    let plan = Arc::new(Plan::new(&config, http)?);
    metrics::register();
    metrics::register_scalers(config.scalers.iter().map(|s| s.name.as_str()));
    let consumer = |topics: Topics| Actuator {
        log: Arc::clone(&log),
        topics,
        plan: Arc::clone(&plan),
        state: ActuatorState::default(),
        outcomes_read: BTreeMap::new(),
        snapshot_schedule: snapshot_schedule(),
        silences: SilenceView::default(),
        inhibitions: InhibitionView::default(),
        notifier: None,
    };
    // Two consumers, each over its own topic and membership: alerts
    // (notifications, issues) and actions (scale requests). Each rebuilds
    // its own state from the outcomes topic.
    let mut alerts = consumer(Topics::new(topic_prefix, Consumed::Alerts));
    let mut actions = consumer(Topics::new(topic_prefix, Consumed::Actions));
    let (stop_tx, stop_rx) = watch::channel(false);
    let alerts_work = alerts.consume(Stop(stop_rx.clone()));
    let actions_work = actions.consume(Stop(stop_rx));
    let work = async move {
        tokio::pin!(alerts_work);
        tokio::pin!(actions_work);
        // An error in either ends both; shutdown ends each on its own.
        let (mut alerts_done, mut actions_done) = (false, false);
        while !(alerts_done && actions_done) {
            tokio::select! {
                r = &mut alerts_work, if !alerts_done => { r?; alerts_done = true; }
                r = &mut actions_work, if !actions_done => { r?; actions_done = true; }
            }
        }
        Ok::<(), ActuatorError>(())
    };
    tokio::pin!(work);
    tokio::pin!(shutdown);
    let mut stopping = false;
    loop {
        tokio::select! {
            result = &mut work => return result,
            () = &mut shutdown, if !stopping => {
                info!("actuator stopping");
                stopping = true;
                // The receivers live in `work`, which is still running.
                let _ = stop_tx.send(true);
            }
        }
    }
}

/// Which topic a consumer handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Consumed {
    Alerts,
    Actions,
}

pub(crate) struct Topics {
    /// The topic this consumer handles: alerts or actions.
    pub consumed: String,
    pub consumed_kind: Topic,
    pub actions: String,
    pub outcomes: String,
    pub snapshots: String,
    /// The topic prefix, for the silences the alerts consumer reads.
    pub prefix: String,
    /// The membership group sharing the consumed topic's partitions. Not
    /// [`CONSUMER_GROUP`]: Kafka refuses standalone commits into a group
    /// with subscribed members.
    pub members: String,
}

impl Topics {
    fn new(prefix: &str, consumed: Consumed) -> Topics {
        let (consumed_kind, members) = match consumed {
            Consumed::Alerts => (Topic::Alerts, format!("{prefix}.actuator.members")),
            Consumed::Actions => (Topic::Actions, format!("{prefix}.actuator.actions.members")),
        };
        Topics {
            consumed: consumed_kind.name(prefix),
            consumed_kind,
            actions: Topic::Actions.name(prefix),
            outcomes: Topic::Outcomes.name(prefix),
            snapshots: Topic::Snapshots.name(prefix),
            prefix: prefix.to_string(),
            members,
        }
    }
}

pub(crate) struct Actuator {
    pub log: Arc<dyn EventLog>,
    pub topics: Topics,
    pub plan: Arc<Plan>,
    pub state: ActuatorState,
    /// How far `state` has read each outcomes partition. The loop's own
    /// outcomes are folded as they are written, so `state` may be ahead.
    pub outcomes_read: BTreeMap<u32, Offset>,
    pub snapshot_schedule: snapshot::Schedule,
    /// Silences, caught up before each alert is acted on.
    pub silences: SilenceView,
    pub inhibitions: InhibitionView,
    /// The webhook aggregation groups, on the alerts consumer that owns
    /// partition 0 (`crate::notify_groups`); `None` elsewhere.
    pub notifier: Option<GroupNotifier>,
}

/// When the alerts loop saves its next snapshot of `state`.
fn snapshot_schedule() -> snapshot::Schedule {
    snapshot::Schedule::new(SNAPSHOT_AFTER_OUTCOMES, SNAPSHOT_EVERY)
}

/// Whether a record was fully handled or left for redelivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Progress {
    Done,
    Interrupted,
}

/// The shutdown signal as seen from inside the loop.
pub(crate) struct Stop(watch::Receiver<bool>);

impl Stop {
    pub fn requested(&self) -> bool {
        *self.0.borrow()
    }

    /// Sleeps for `delay`; false when shutdown came first.
    pub async fn sleep(&mut self, delay: Duration) -> bool {
        if self.requested() {
            return false;
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => true,
            _ = self.0.wait_for(|stop| *stop) => false,
        }
    }
}

impl Actuator {
    /// The loop, then (alerts loop only) a last snapshot, so the next start
    /// reads no outcomes at all.
    async fn consume(&mut self, stop: Stop) -> Result<(), ActuatorError> {
        self.consume_until_stopped(stop).await?;
        if self.saves_snapshots() && self.snapshot_schedule.unsaved() {
            self.save_snapshot().await?;
        }
        Ok(())
    }

    /// Of the two loops of a process only one saves snapshots; both load.
    fn saves_snapshots(&self) -> bool {
        self.topics.consumed_kind == Topic::Alerts
    }

    async fn consume_until_stopped(&mut self, mut stop: Stop) -> Result<(), ActuatorError> {
        let topic = self.topics.consumed.clone();
        let mut membership = self.log.join(&self.topics.members, &topic).await?;
        info!(topic = %topic, group = %self.topics.members, "actuator joined the topic's consumers");
        // Owned partitions and the offset of the next record to handle in each.
        let mut next: BTreeMap<u32, Offset> = BTreeMap::new();
        let mut acted_on = 0;
        let mut first = true;
        let mut lag_reported: Option<Instant> = None;
        loop {
            if stop.requested() {
                return Ok(());
            }
            // Only here, between records: a record is never abandoned
            // half done because its partition moved.
            let changed = if std::mem::take(&mut first) {
                Some(
                    membership
                        .current_if_changed()
                        .unwrap_or_else(|| membership.current()),
                )
            } else {
                membership.current_if_changed()
            };
            if let Some(assignment) = changed {
                self.reassign(&topic, &mut next, acted_on, &assignment)
                    .await?;
                acted_on = assignment.generation;
                membership.acknowledge(acted_on);
            }
            let idle = self
                .round(&topic, &mut next, &membership, &mut stop)
                .await?;
            // Group timers run on the evaluators' watermark, which moves
            // without new alert records: the loop polls it when idle too.
            if self.notify_groups(&mut stop).await? == Progress::Interrupted {
                return Ok(());
            }
            if self.saves_snapshots() && self.snapshot_schedule.due() {
                self.save_snapshot().await?;
            }
            if lag_reported.is_none_or(|at| at.elapsed() >= LAG_EVERY) {
                self.report_lag(&topic, &next).await;
                lag_reported = Some(Instant::now());
            }
            if idle && !stop.sleep(IDLE_POLL).await {
                return Ok(());
            }
        }
    }

    /// Reads and handles one batch per owned partition, committing after
    /// each batch; returns whether there was nothing to read. Stops early,
    /// with what it handled committed, when the assignment changes.
    ///
    /// A record waiting out a long retry backoff is not interrupted by a
    /// revocation: the revocation's acknowledgement waits until the record
    /// is done, or for at most the session timeout, after which the broker
    /// hands the partition over anyway and the new owner redelivers the
    /// uncommitted record. That cannot file an issue twice: before creating
    /// one, the tracker is searched for the fingerprint's marker, and an
    /// issue found there is adopted. A webhook may then be sent twice
    /// (at-least-once, as from Alertmanager).
    async fn round(
        &mut self,
        topic: &str,
        next: &mut BTreeMap<u32, Offset>,
        membership: &Membership,
        stop: &mut Stop,
    ) -> Result<bool, ActuatorError> {
        let mut idle = true;
        for (&partition, offset) in next.iter_mut() {
            if stop.requested() || membership.has_changed() {
                return Ok(false);
            }
            let records = self
                .log
                .read(topic, partition, *offset, READ_BATCH, Duration::ZERO)
                .await?;
            idle &= records.is_empty();
            let before = *offset;
            for record in &records {
                match self.handle_record(record, stop).await? {
                    Progress::Done => *offset = record.offset + 1,
                    Progress::Interrupted => break,
                }
                if membership.has_changed() {
                    break;
                }
            }
            if *offset != before {
                let position = CommittedPosition {
                    next_offset: *offset,
                    metadata: String::new(),
                };
                self.log
                    .commit(CONSUMER_GROUP, topic, partition, position)
                    .await?;
            }
        }
        Ok(idle)
    }

    /// Acts on a new assignment: forgets revoked partitions (their
    /// progress is already committed: `round` commits after every batch
    /// and before it looks at the assignment again), and for gained ones
    /// rebuilds the state from the outcomes topic, where their previous
    /// owner recorded what it did, then resumes at their committed
    /// offsets. The caller acknowledges afterwards.
    async fn reassign(
        &mut self,
        topic: &str,
        next: &mut BTreeMap<u32, Offset>,
        acted_on: u64,
        assignment: &Assignment,
    ) -> Result<(), ActuatorError> {
        if assignment.generation > acted_on + 1 && !next.is_empty() {
            // A generation went by unseen: a revocation was not
            // acknowledged in time (a record was in a long retry), so the
            // partitions still listed may have had another owner since.
            warn!(topic = %topic, generation = assignment.generation, "a revocation passed unacknowledged; resuming every partition from its committed offset");
            next.clear();
        }
        let revoked: Vec<u32> = next
            .keys()
            .copied()
            .filter(|p| !assignment.partitions.contains(p))
            .collect();
        for partition in &revoked {
            next.remove(partition);
        }
        let gained: Vec<u32> = assignment
            .partitions
            .iter()
            .copied()
            .filter(|p| !next.contains_key(p))
            .collect();
        if !gained.is_empty() {
            // Rebalances are rare; rebuilding from the snapshot is simpler
            // than picking out the gained partitions' fingerprints, and right.
            self.rebuild().await?;
            for &partition in &gained {
                let committed = self.log.committed(CONSUMER_GROUP, topic, partition).await?;
                next.insert(partition, committed.map_or(0, |c| c.next_offset));
            }
        }
        // The owner of the alerts' partition 0 runs the webhook groups;
        // a new owner recomputes them from the log.
        // Without a webhook anywhere there is nothing to group.
        let leads = self.topics.consumed_kind == Topic::Alerts
            && assignment.partitions.contains(&0)
            && self.plan.receivers.values().any(|r| !r.webhooks.is_empty());
        match (leads, self.notifier.is_some()) {
            (true, false) => self.notifier = Some(GroupNotifier::default()),
            (false, true) => self.notifier = None,
            _ => {}
        }
        info!(topic = %topic, generation = assignment.generation, ?revoked, ?gained, owned = ?assignment.partitions, notifies = leads, "actuator partitions reassigned");
        Ok(())
    }

    /// Sets the lag gauge: records not yet handled in the owned partitions.
    async fn report_lag(&self, topic: &str, next: &BTreeMap<u32, Offset>) {
        let mut lag = 0;
        for (&partition, &offset) in next {
            match self.log.end_offset(topic, partition).await {
                Ok(end) => lag += end.saturating_sub(offset),
                Err(e) => {
                    debug!(topic = %topic, partition, error = %e, "no end offset for the lag gauge");
                    return;
                }
            }
        }
        set_consumer_lag(LAG_CONSUMER, self.topics.consumed_kind, lag);
    }

    /// Rebuilds `self.state` up to the end of the outcomes topic: the
    /// newest snapshot, then the outcomes after it (all of them, without
    /// a usable snapshot).
    async fn rebuild(&mut self) -> Result<(), ActuatorError> {
        self.state = ActuatorState::default();
        self.outcomes_read.clear();
        let loaded = snapshot::load(&*self.log, &self.topics.snapshots, SNAPSHOT_OWNER).await?;
        let from_snapshot =
            loaded.is_some_and(
                |snapshot| match ActuatorState::from_snapshot(&snapshot.body) {
                    Ok(state) => {
                        self.state = state;
                        self.outcomes_read = snapshot
                            .covers
                            .get(&self.topics.outcomes)
                            .cloned()
                            .unwrap_or_default();
                        true
                    }
                    Err(error) => {
                        warn!(%error, "unreadable actuator snapshot; replaying every outcome");
                        false
                    }
                },
            );
        let replayed = self.catch_up_outcomes().await?;
        info!(topic = %self.topics.outcomes, from_snapshot, records = replayed, issues = self.state.issue_count(), "actuator state rebuilt");
        if self.saves_snapshots() && replayed >= SNAPSHOT_AFTER_OUTCOMES {
            self.save_snapshot().await?;
        }
        Ok(())
    }

    /// Folds the outcomes after `outcomes_read` into the state, up to the
    /// end of each partition; returns how many it read. Outcomes this loop
    /// folded as it wrote them are folded again: every outcome sets what
    /// it is about (and finished ids are a set), so the state ends the
    /// same as a replay from the start.
    async fn catch_up_outcomes(&mut self) -> Result<usize, ActuatorError> {
        let topic = self.topics.outcomes.clone();
        let mut replayed = 0usize;
        for partition in 0..self.log.partitions(&topic).await? {
            let end = self.log.end_offset(&topic, partition).await?;
            let start = self.log.start_offset(&topic, partition).await?;
            let mut from = self
                .outcomes_read
                .get(&partition)
                .copied()
                .unwrap_or(0)
                .max(start);
            while from < end {
                let records = self
                    .log
                    .read(&topic, partition, from, REBUILD_BATCH, Duration::ZERO)
                    .await?;
                let Some(last) = records.last() else { break };
                from = last.offset + 1;
                replayed += records.len();
                for record in &records {
                    match Event::from_json(&record.value) {
                        Ok(event) => self.state.apply(&event.payload, event.envelope.occurred_at),
                        Err(e) => {
                            warn!(topic = %topic, partition, offset = record.offset, error = %e, "skipping undecodable outcome")
                        }
                    }
                }
            }
            self.outcomes_read.insert(partition, from);
        }
        Ok(replayed)
    }

    /// Catches the state up with the outcomes topic and saves it as the
    /// snapshot the next rebuild starts from.
    async fn save_snapshot(&mut self) -> Result<(), ActuatorError> {
        self.catch_up_outcomes().await?;
        let covers =
            snapshot::Covers::from([(self.topics.outcomes.clone(), self.outcomes_read.clone())]);
        let body = self.state.to_snapshot();
        snapshot::save(
            &*self.log,
            &self.topics.snapshots,
            SNAPSHOT_OWNER,
            &covers,
            &body,
        )
        .await?;
        debug!(
            bytes = body.len(),
            issues = self.state.issue_count(),
            "actuator snapshot saved"
        );
        self.snapshot_schedule.saved();
        Ok(())
    }

    /// Writes a request to `closeloop.actions` under its derived id.
    pub async fn append_request(
        &self,
        request_id: uuid::Uuid,
        key: &str,
        payload: EventPayload,
        occurred_at: DateTime<Utc>,
    ) -> Result<(), ActuatorError> {
        let mut event = Event::new(
            payload,
            "actuator",
            key.to_string(),
            occurred_at,
            Utc::now(),
        );
        event.envelope.id = request_id;
        let topic = self.topics.actions.clone();
        self.append(&topic, vec![event]).await
    }

    /// Writes outcomes, in order, and folds them into the state once the
    /// log has them.
    pub async fn append_outcomes(
        &mut self,
        key: &str,
        payloads: Vec<EventPayload>,
    ) -> Result<(), ActuatorError> {
        if payloads.is_empty() {
            return Ok(());
        }
        let now = Utc::now();
        let events: Vec<Event> = payloads
            .into_iter()
            .map(|p| Event::new(p, "actuator", key.to_string(), now, now))
            .collect();
        let topic = self.topics.outcomes.clone();
        self.append(&topic, events.clone()).await?;
        for event in &events {
            self.state.apply(&event.payload, event.envelope.occurred_at);
        }
        self.snapshot_schedule.folded(events.len());
        Ok(())
    }

    async fn append(&self, topic: &str, events: Vec<Event>) -> Result<(), ActuatorError> {
        let records: Vec<NewRecord> = events
            .iter()
            .map(|e| NewRecord {
                key: e.envelope.key.clone().into_bytes().into(),
                value: e.to_json().into(),
                timestamp_ms: e.envelope.occurred_at.timestamp_millis(),
            })
            .collect();
        let mut delay = Duration::from_millis(200);
        for attempt in 1..=LOG_APPEND_TRIES {
            match self.log.append(topic, records.clone()).await {
                Ok(_) => return Ok(()),
                Err(LogError::Unavailable(reason)) if attempt < LOG_APPEND_TRIES => {
                    warn!(topic = %topic, attempt, reason = %reason, "event log unavailable, retrying append");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(LogError::Unavailable(format!("append to {topic} kept failing")).into())
    }
}
