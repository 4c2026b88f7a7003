//! The evaluator's I/O: restore state from the log, tail the samples and
//! deploys streams, advance the watermark, write what rule groups recorded
//! back into the samples stream, alert decisions to the alerts stream and
//! scale decisions to the actions stream, and only then commit how far it
//! got.
//!
//! Scalers after a restart or a takeover: the state is the snapshot in
//! the shard's checkpoint (the recommendation and change history as of
//! the checkpoint's tick), then every `ScaleApplied`/`ActionFailed` in the
//! outcomes topic is folded in again (idempotent: only an outcome about
//! the scaler's latest change moves its replica count, and outcomes of
//! requests from ticks after the snapshot wait until that tick is
//! evaluated again). The ticks after the snapshot are re-evaluated over
//! the same samples, so they decide the same requests with the same ids,
//! which the actuator has already carried out and skips. Alert steps
//! already requested (their alert event id is in a `ScaleRequested` of the
//! actions topic) are not taken again.

use crate::alerts_snapshot::{self, AlertsCompaction, SNAPSHOT_OWNER};
use crate::engine::{Decision, Evaluator, Recorded};
use crate::metrics;
use crate::query::QueryRequest;
use crate::shards::{self, ShardCheckpoint, CHECKPOINT_GROUP};
use closeloop_core::events::SamplesRecorded;
use closeloop_core::remote_write::{self, Label, Sample, TimeSeries, WriteRequest};
use closeloop_core::topics::Topic;
use closeloop_core::{fingerprint_sorted, Event, EventPayload};
use closeloop_log::snapshot;
use closeloop_log::{
    CommittedPosition, EventLog, LogError, Membership, NewRecord, Offset, StoredRecord,
};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The group whose committed position on each samples partition is the
/// oldest record the evaluator still needs (the lowest `samples_next` of
/// its checkpoints), with how far it has read as metadata (see
/// `closeloop_core::topics::EVALUATOR_SAMPLES_GROUP`). Evaluators before
/// sharding kept their whole checkpoint here ([`LegacyCheckpoint`]).
pub const CONSUMER_GROUP: &str = closeloop_core::topics::EVALUATOR_SAMPLES_GROUP;
const BATCH: usize = 256;
/// How long a read waits for new records before the loop goes round.
const POLL_WAIT: Duration = Duration::from_millis(100);
/// The same when this process serves the query API: queries are answered
/// between steps, so an idle evaluator's wait is a query's wait too.
const QUERY_POLL_WAIT: Duration = Duration::from_millis(10);
const COMMIT_EVERY: Duration = Duration::from_secs(1);
/// Largest decoded remote-write body the evaluator will inflate; ingest
/// has already refused anything larger.
const MAX_DECODED: usize = 256 << 20;

/// How event time advances.
#[derive(Clone)]
pub struct WatermarkPolicy {
    /// How far behind the newest sample the watermark stays, to let
    /// out-of-order shards of a remote-write sender catch up.
    pub lateness_ms: i64,
    /// When no samples arrive, the watermark follows the wall clock minus
    /// this much, so rules over vanished data (`absent`) still evaluate.
    /// `None` in replay: event time then comes from the log alone.
    pub idle_follow_ms: Option<i64>,
    pub wall_clock_ms: Arc<dyn Fn() -> i64 + Send + Sync>,
}

/// The checkpoint of evaluators before rule groups were sharded: one per
/// samples partition under [`CONSUMER_GROUP`]. Read when no shard has a
/// checkpoint yet, so an existing data dir resumes where it was.
#[derive(Debug, Default, Serialize, Deserialize)]
struct LegacyCheckpoint {
    ticks: BTreeMap<String, i64>,
    watermark_ms: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error("event log: {0}")]
    Log(#[from] LogError),
}

struct PartitionCursor {
    partition: u32,
    next: Offset,
    /// (offset, newest sample time) of records still inside the window,
    /// to find the offset a restart must replay from.
    retained: VecDeque<(Offset, i64)>,
    /// (needed from, read next) as last committed under [`CONSUMER_GROUP`],
    /// so an idle evaluator does not rewrite the same position each commit.
    reported: Option<(Offset, Offset)>,
}

pub struct Runner {
    log: Arc<dyn EventLog>,
    prefix: String,
    evaluator: Evaluator,
    policy: WatermarkPolicy,
    samples: Vec<PartitionCursor>,
    deploys: Vec<(u32, Offset)>,
    /// Next offset per `closeloop.pushgroups` partition: read from the
    /// start at every restore, since a pushed group never ages out.
    pushgroups: Vec<(u32, Offset)>,
    /// Next offset per alerts partition: decisions of groups evaluated
    /// elsewhere keep their alert states current here.
    alerts: Vec<(u32, Offset)>,
    /// Next offset per outcomes partition: the scalers' `ScaleApplied` and
    /// `ActionFailed`.
    outcomes: Vec<(u32, Offset)>,
    /// What a snapshot of the alerts fold needs (module `alerts_snapshot`).
    alerts_compaction: AlertsCompaction,
    newest_sample_ms: i64,
    watermark_ms: i64,
    membership: Membership,
    shard_count: u32,
    owned_shards: BTreeSet<u32>,
    /// Queries of the HTTP query API, answered between steps.
    queries: Option<tokio::sync::mpsc::Receiver<QueryRequest>>,
    /// When the other shards' checkpoints were last read for their health.
    others_health_read: Instant,
}

impl Runner {
    /// Rebuilds the evaluator from the log: alert states from the alerts
    /// stream, deploys from the deploys stream, the sample window and
    /// evaluated ticks from the shards' checkpoints; then joins the
    /// evaluators' group, whose membership says which shards (and so which
    /// rule groups) this process evaluates.
    pub async fn restore(
        log: Arc<dyn EventLog>,
        prefix: &str,
        mut evaluator: Evaluator,
        policy: WatermarkPolicy,
    ) -> Result<Runner, RunnerError> {
        let shards_topic = shards::shards_topic(prefix);
        let shard_count = log.partitions(&shards_topic).await?;
        let mut checkpoints = Vec::new();
        for shard in 0..shard_count {
            if let Some(checkpoint) = shards::read_checkpoint(&*log, prefix, shard).await? {
                checkpoints.push(checkpoint);
            }
        }

        let samples_topic = Topic::Samples.name(prefix);
        let mut samples = Vec::new();
        let mut ticks = BTreeMap::new();
        let mut watermark_ms = 0;
        for checkpoint in &checkpoints {
            ticks.extend(checkpoint.ticks.clone());
            watermark_ms = watermark_ms.max(checkpoint.watermark_ms);
        }
        for partition in 0..log.partitions(&samples_topic).await? {
            let next = if checkpoints.is_empty() {
                let legacy = log
                    .committed(CONSUMER_GROUP, &samples_topic, partition)
                    .await?;
                if let Some(position) = &legacy {
                    if let Ok(m) = serde_json::from_str::<LegacyCheckpoint>(&position.metadata) {
                        for (group, tick) in m.ticks {
                            let entry = ticks.entry(group).or_insert(tick);
                            *entry = (*entry).min(tick);
                        }
                        watermark_ms = watermark_ms.max(m.watermark_ms);
                    }
                }
                legacy.map_or(0, |c| c.next_offset)
            } else {
                // The lowest offset any shard's window needs.
                checkpoints
                    .iter()
                    .map(|c| c.samples_next.get(&partition).copied().unwrap_or(0))
                    .min()
                    .unwrap_or(0)
            };
            // Retention never passes the position committed under
            // CONSUMER_GROUP; starting before the log start means that
            // commit is gone (a deleted checkpoint), and the window only
            // needs what retention kept anyway.
            let start = log.start_offset(&samples_topic, partition).await?;
            if next < start {
                tracing::warn!(
                    partition,
                    checkpoint = next,
                    log_start = start,
                    "samples before the log start were removed by retention; replaying from the start"
                );
            }
            samples.push(PartitionCursor {
                partition,
                next: next.max(start),
                retained: VecDeque::new(),
                reported: None,
            });
        }
        evaluator.restore_ticks(&ticks);
        // Nothing is evaluated here until the membership says so.
        evaluator.set_owned(|_| false);

        let alerts_topic = Topic::Alerts.name(prefix);
        let alerts = (0..log.partitions(&alerts_topic).await?)
            .map(|p| (p, 0))
            .collect();
        let deploys_topic = Topic::Deploys.name(prefix);
        let deploys = (0..log.partitions(&deploys_topic).await?)
            .map(|p| (p, 0))
            .collect();
        let pushgroups_topic = Topic::PushGroups.name(prefix);
        let pushgroups = (0..log.partitions(&pushgroups_topic).await?)
            .map(|p| (p, 0))
            .collect();
        let outcomes_topic = Topic::Outcomes.name(prefix);
        let outcomes = (0..log.partitions(&outcomes_topic).await?)
            .map(|p| (p, 0))
            .collect();
        let membership = log
            .join(&shards::members_group(prefix), &shards_topic)
            .await?;
        let mut runner = Runner {
            log,
            prefix: prefix.to_string(),
            evaluator,
            policy,
            samples,
            deploys,
            pushgroups,
            alerts,
            outcomes,
            alerts_compaction: AlertsCompaction::default(),
            newest_sample_ms: watermark_ms,
            watermark_ms,
            membership,
            shard_count,
            owned_shards: BTreeSet::new(),
            queries: None,
            others_health_read: Instant::now(),
        };
        let from_snapshot = runner.load_alerts_snapshot().await?;
        runner.read_alerts().await?;
        runner.read_pushgroups().await?;
        metrics::OWNED_GROUPS.set(0);
        tracing::info!(
            groups = ticks.len(),
            shards = shard_count,
            watermark_ms,
            alerts_from_snapshot = from_snapshot,
            live_alerts = runner.alerts_compaction.live_alerts(),
            "evaluator restored from log"
        );
        // The embedded log's membership owns everything from the start.
        runner.sync_ownership().await?;
        Ok(runner)
    }

    pub fn evaluator(&self) -> &Evaluator {
        &self.evaluator
    }

    /// Answers the queries sent on `queries` between steps (at most one
    /// step, ~10 ms when idle, of waiting): the runner alone owns the
    /// window, so nothing else locks it.
    pub fn serve_queries(&mut self, queries: tokio::sync::mpsc::Receiver<QueryRequest>) {
        self.queries = Some(queries);
    }

    fn answer_queries(&mut self) {
        let Some(queries) = &mut self.queries else {
            return;
        };
        while let Ok(request) = queries.try_recv() {
            let result = self.evaluator.answer(&request.query);
            // The asker may have gone (timeout, closed connection).
            let _ = request.reply.send(result);
        }
    }

    /// Tails the log until `shutdown` resolves.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) -> Result<(), RunnerError> {
        tokio::pin!(shutdown);
        let mut last_commit = Instant::now();
        loop {
            let step = self.step();
            tokio::select! {
                result = step => {
                    let dirty = result?;
                    self.answer_queries();
                    if dirty || last_commit.elapsed() >= COMMIT_EVERY {
                        self.commit().await?;
                        last_commit = Instant::now();
                    }
                    if self.alerts_compaction.schedule.due() {
                        self.save_alerts_snapshot().await?;
                    }
                    self.read_others_health().await?;
                }
                _ = &mut shutdown => {
                    self.commit().await?;
                    // The next start then reads no alert record twice.
                    if self.alerts_compaction.schedule.unsaved() {
                        self.save_alerts_snapshot().await?;
                    }
                    return Ok(());
                }
            }
        }
    }

    /// Reads what is new, advances, appends decisions. Returns whether
    /// anything was decided (worth committing right away).
    pub async fn step(&mut self) -> Result<bool, RunnerError> {
        self.sync_ownership().await?;
        self.read_deploys().await?;
        self.read_pushgroups().await?;
        self.read_alerts().await?;
        self.read_outcomes().await?;
        let read_samples = self.read_samples().await?;
        let mut watermark = self.newest_sample_ms - self.policy.lateness_ms;
        if !read_samples {
            if let Some(follow) = self.policy.idle_follow_ms {
                watermark = watermark.max((self.policy.wall_clock_ms)() - follow);
            }
        }
        // External alerts fire on receipt, not on the next tick.
        let external = self
            .evaluator
            .decide_external(watermark.max(self.watermark_ms));
        let decided_external = !external.is_empty();
        self.append_decisions(external).await?;
        if watermark <= self.watermark_ms {
            return Ok(decided_external);
        }
        self.watermark_ms = watermark;
        metrics::WATERMARK.set(watermark / 1000);
        let advanced = self.evaluator.advance(watermark);
        if advanced.decisions.is_empty() && advanced.recorded.is_empty() {
            return Ok(false);
        }
        // Both before the commit that marks these ticks evaluated: a crash
        // in between re-evaluates them, and the duplicates are harmless
        // (`Evaluator::append_recorded`, the actuator's idempotency).
        self.append_recorded(advanced.recorded).await?;
        self.append_decisions(advanced.decisions).await?;
        Ok(true)
    }

    async fn read_samples(&mut self) -> Result<bool, RunnerError> {
        let topic = Topic::Samples.name(&self.prefix);
        let mut any = false;
        let wait = if self.samples.len() == 1 {
            match self.queries {
                Some(_) => QUERY_POLL_WAIT,
                None => POLL_WAIT,
            }
        } else {
            Duration::ZERO
        };
        for cursor in &mut self.samples {
            let records = self
                .log
                .read(&topic, cursor.partition, cursor.next, BATCH, wait)
                .await?;
            for record in &records {
                cursor.next = record.offset + 1;
                cursor
                    .retained
                    .push_back((record.offset, record.timestamp_ms));
                let Some(event) = decode(record) else {
                    continue;
                };
                match &event.payload {
                    EventPayload::SamplesReceived(batch) => {
                        let appended =
                            self.evaluator
                                .append_received(&batch.format, &batch.body, MAX_DECODED);
                        match appended {
                            Ok(()) => {
                                if let Some(max) = batch.max_timestamp_ms {
                                    self.newest_sample_ms = self.newest_sample_ms.max(max);
                                }
                            }
                            Err(err) => {
                                metrics::DECODE_FAILURES.inc();
                                tracing::warn!(offset = record.offset, error = %err, "skipping undecodable samples");
                            }
                        }
                    }
                    // Rule output is at ticks the watermark has already
                    // passed, so it never moves the watermark.
                    EventPayload::SamplesRecorded(recorded) => {
                        let appended = remote_write::decompress(&recorded.body, MAX_DECODED)
                            .and_then(|raw| self.evaluator.append_recorded(&raw));
                        if let Err(err) = appended {
                            metrics::DECODE_FAILURES.inc();
                            tracing::warn!(offset = record.offset, error = %err, "skipping undecodable recorded samples");
                        }
                    }
                    _ => {}
                }
            }
            any |= !records.is_empty();
        }
        Ok(any)
    }

    /// Pushes count as samples for the watermark: a push is the newest
    /// data of its group, as a sample is of its series.
    async fn read_pushgroups(&mut self) -> Result<(), RunnerError> {
        let topic = Topic::PushGroups.name(&self.prefix);
        let (evaluator, newest) = (&mut self.evaluator, &mut self.newest_sample_ms);
        for_each_new(&*self.log, &topic, &mut self.pushgroups, |record| {
            if let Some(event) = decode(record) {
                if let Some(at) = evaluator.record_push(&event.payload) {
                    *newest = (*newest).max(at);
                }
            }
        })
        .await
    }

    async fn read_deploys(&mut self) -> Result<(), RunnerError> {
        let topic = Topic::Deploys.name(&self.prefix);
        let evaluator = &mut self.evaluator;
        for_each_new(&*self.log, &topic, &mut self.deploys, |record| {
            if let Some(event) = decode(record) {
                if let EventPayload::DeployRecorded(deploy) = &event.payload {
                    let at = event.envelope.occurred_at.timestamp_millis();
                    evaluator.record_deploy(event.envelope.id, deploy, at);
                }
            }
        })
        .await
    }

    /// Writes each group tick's output into the samples stream as one
    /// `SamplesRecorded`, keyed as ingest keys a remote-write batch.
    async fn append_recorded(&self, recorded: Vec<Recorded>) -> Result<(), RunnerError> {
        if recorded.is_empty() {
            return Ok(());
        }
        let topic = Topic::Samples.name(&self.prefix);
        let now = closeloop_core::time::from_millis((self.policy.wall_clock_ms)());
        let mut records = Vec::with_capacity(recorded.len());
        for output in recorded {
            let Some((first, _)) = output.samples.first() else {
                continue;
            };
            let key = fingerprint_sorted(first.iter()).to_string();
            let request = WriteRequest {
                timeseries: output
                    .samples
                    .iter()
                    .map(|(labels, value)| TimeSeries {
                        labels: labels
                            .iter()
                            .map(|(name, value)| Label {
                                name: name.to_string(),
                                value: value.to_string(),
                            })
                            .collect(),
                        samples: vec![Sample {
                            value: *value,
                            timestamp: output.timestamp_ms,
                        }],
                        ..Default::default()
                    })
                    .collect(),
                metadata: Vec::new(),
            };
            let payload = match SamplesRecorded::new(
                &output.rule_file,
                &output.rule_group,
                output.tick_ms,
                output.timestamp_ms,
                &request,
            ) {
                Ok(payload) => payload,
                Err(err) => {
                    tracing::warn!(group = %output.rule_group, tick_ms = output.tick_ms, error = %err, "recorded samples not encodable");
                    continue;
                }
            };
            let occurred_at = closeloop_core::time::from_millis(output.tick_ms);
            let event = Event::new(
                EventPayload::SamplesRecorded(payload),
                "evaluator",
                key,
                occurred_at,
                now,
            );
            records.push(NewRecord {
                key: event.envelope.key.clone().into_bytes().into(),
                value: event.to_json().into(),
                // The sample time, so the commit keeps this record for as
                // long as the window needs it.
                timestamp_ms: output.timestamp_ms,
            });
        }
        self.log.append(&topic, records).await?;
        Ok(())
    }

    /// Alert transitions go to the alerts stream, scale requests to the
    /// actions stream (event id = request id, so a re-evaluated tick's
    /// request is the same event).
    async fn append_decisions(&self, decisions: Vec<Decision>) -> Result<(), RunnerError> {
        if decisions.is_empty() {
            return Ok(());
        }
        let now = closeloop_core::time::from_millis((self.policy.wall_clock_ms)());
        let (mut alerts, mut actions) = (Vec::new(), Vec::new());
        for d in decisions {
            let occurred_at = closeloop_core::time::from_millis(d.occurred_at_ms);
            let request_id = match &d.payload {
                EventPayload::ScaleRequested(r) => Some(r.request_id),
                _ => None,
            };
            let mut event = Event::new(d.payload, "evaluator", d.key, occurred_at, now);
            if let Some(id) = request_id {
                event.envelope.id = id;
            }
            let record = NewRecord {
                key: event.envelope.key.clone().into_bytes().into(),
                value: event.to_json().into(),
                timestamp_ms: d.occurred_at_ms,
            };
            match request_id {
                Some(_) => actions.push(record),
                None => alerts.push(record),
            }
        }
        // Alerts first: a scaler's health alert and its request of one
        // tick are independent, and neither topic's order depends on the other.
        if !alerts.is_empty() {
            self.log
                .append(&Topic::Alerts.name(&self.prefix), alerts)
                .await?;
        }
        if !actions.is_empty() {
            self.log
                .append(&Topic::Actions.name(&self.prefix), actions)
                .await?;
        }
        Ok(())
    }

    /// Commits each owned shard's progress: its groups' evaluated ticks
    /// and, per samples partition, the first offset a restart needs to
    /// rebuild the window.
    async fn commit(&mut self) -> Result<(), RunnerError> {
        let owned: Vec<u32> = self.owned_shards.iter().copied().collect();
        self.commit_shards(&owned).await
    }

    /// When this process answers the query API: the health the owners of
    /// the other shards last committed, so `/api/v1/rules` here reports
    /// every group (at most a commit interval old).
    async fn read_others_health(&mut self) -> Result<(), RunnerError> {
        if self.queries.is_none() || self.others_health_read.elapsed() < COMMIT_EVERY {
            return Ok(());
        }
        self.others_health_read = Instant::now();
        let shards = self.shard_count;
        for shard in (0..shards).filter(|s| !self.owned_shards.contains(s)) {
            if let Some(checkpoint) =
                shards::read_checkpoint(&*self.log, &self.prefix, shard).await?
            {
                self.evaluator.adopt_health_of(&checkpoint.health, |key| {
                    shards::shard_of(key, shards) == shard
                });
            }
        }
        Ok(())
    }

    async fn commit_shards(&mut self, which: &[u32]) -> Result<(), RunnerError> {
        let oldest_needed = self.evaluator.oldest_needed_ms(self.watermark_ms);
        let mut samples_next = BTreeMap::new();
        let mut lag = 0;
        let topic = Topic::Samples.name(&self.prefix);
        for cursor in &mut self.samples {
            while cursor
                .retained
                .front()
                .is_some_and(|(_, ts)| *ts < oldest_needed)
            {
                cursor.retained.pop_front();
            }
            let next_offset = cursor
                .retained
                .front()
                .map(|(o, _)| *o)
                .unwrap_or(cursor.next);
            samples_next.insert(cursor.partition, next_offset);
            let end = self.log.end_offset(&topic, cursor.partition).await?;
            lag += end.saturating_sub(cursor.next);
            if cursor.reported != Some((next_offset, cursor.next)) {
                let progress = closeloop_core::topics::SamplesProgress {
                    read_next: cursor.next,
                };
                let needed = CommittedPosition {
                    next_offset,
                    metadata: serde_json::to_string(&progress).unwrap_or_default(),
                };
                self.log
                    .commit(CONSUMER_GROUP, &topic, cursor.partition, needed)
                    .await?;
                cursor.reported = Some((next_offset, cursor.next));
            }
        }
        closeloop_core::metrics::set_consumer_lag("evaluator", Topic::Samples, lag);
        let shards_topic = shards::shards_topic(&self.prefix);
        let ticks = self.evaluator.ticks();
        let scaler_states = self.evaluator.scaler_states();
        let health = self.evaluator.group_health();
        for &shard in which {
            let checkpoint = ShardCheckpoint {
                ticks: shards::of_shard(&ticks, shard, self.shard_count),
                watermark_ms: self.watermark_ms,
                samples_next: samples_next.clone(),
                scalers: shards::of_shard(&scaler_states, shard, self.shard_count),
                health: shards::of_shard(&health, shard, self.shard_count),
            };
            let position = CommittedPosition {
                next_offset: 0,
                metadata: checkpoint.to_metadata(),
            };
            self.log
                .commit(CHECKPOINT_GROUP, &shards_topic, shard, position)
                .await?;
        }
        Ok(())
    }

    /// Acts on a change of the shards this process owns. Revoked shards'
    /// progress is committed before the change is acknowledged (the next
    /// owner starts from it); a gained shard's groups start from the
    /// shard's checkpoint, with alert states brought up to the end of the
    /// alerts stream (the previous owner's last decisions).
    async fn sync_ownership(&mut self) -> Result<(), RunnerError> {
        let Some(assignment) = self.membership.current_if_changed() else {
            return Ok(());
        };
        let revoked: Vec<u32> = self
            .owned_shards
            .difference(&assignment.partitions)
            .copied()
            .collect();
        let gained: Vec<u32> = assignment
            .partitions
            .difference(&self.owned_shards)
            .copied()
            .collect();
        if !revoked.is_empty() {
            self.commit_shards(&revoked).await?;
        }
        let shards = self.shard_count;
        let owned = assignment.partitions.clone();
        // Revoked groups stop here; gained ones are not evaluated until
        // their alert states have caught up with the previous owner's.
        let kept: BTreeSet<u32> = self.owned_shards.intersection(&owned).copied().collect();
        self.evaluator
            .set_owned(|key| kept.contains(&shards::shard_of(key, shards)));
        if !gained.is_empty() {
            self.read_alerts().await?;
            for &shard in &gained {
                let checkpoint = shards::read_checkpoint(&*self.log, &self.prefix, shard)
                    .await?
                    .unwrap_or_default();
                self.evaluator.restore_ticks_of(&checkpoint.ticks, |key| {
                    shards::shard_of(key, shards) == shard
                });
                self.evaluator
                    .restore_scalers_of(&checkpoint.scalers, &checkpoint.ticks, |key| {
                        shards::shard_of(key, shards) == shard
                    });
                self.evaluator.adopt_health_of(&checkpoint.health, |key| {
                    shards::shard_of(key, shards) == shard
                });
            }
            let gained_set: BTreeSet<u32> = gained.iter().copied().collect();
            self.catch_up_scalers(|key| gained_set.contains(&shards::shard_of(key, shards)))
                .await?;
        }
        self.evaluator
            .set_owned(|key| owned.contains(&shards::shard_of(key, shards)));
        self.owned_shards = owned;
        metrics::OWNED_GROUPS.set(self.evaluator.owned_group_count() as i64);
        self.membership.acknowledge(assignment.generation);
        tracing::info!(
            shards = ?self.owned_shards,
            ?gained,
            ?revoked,
            groups = self.evaluator.owned_group_count(),
            "evaluator shards assigned"
        );
        Ok(())
    }

    /// Applies new alert decisions of groups evaluated elsewhere, and
    /// queues the scale steps firing alerts route to (for owned scalers).
    async fn read_alerts(&mut self) -> Result<(), RunnerError> {
        let topic = Topic::Alerts.name(&self.prefix);
        let owned_scalers = self.owned_scaler_keys();
        let (evaluator, compaction) = (&mut self.evaluator, &mut self.alerts_compaction);
        for_each_new(&*self.log, &topic, &mut self.alerts, |record| {
            if let Some(event) = decode(record) {
                fold_alert(evaluator, &owned_scalers, &event);
                compaction.observe(&record.value, &event.payload);
            }
        })
        .await
    }

    /// Starts the alerts fold from the newest snapshot, if there is one it
    /// can read: the external alerts' state, the live alerts' last
    /// decisions folded as if read, and the alerts cursors it covers.
    async fn load_alerts_snapshot(&mut self) -> Result<bool, RunnerError> {
        let topic = Topic::Snapshots.name(&self.prefix);
        let Some(snapshot) = snapshot::load(&*self.log, &topic, SNAPSHOT_OWNER).await? else {
            return Ok(false);
        };
        // Decoding fails before anything is replaced: on an error the
        // state is still empty and the alerts are read from the start.
        let restored = alerts_snapshot::decode(&snapshot.body).and_then(|(external, records)| {
            self.evaluator.restore_external_snapshot(external)?;
            Ok(records)
        });
        let records = match restored {
            Ok(records) => records,
            Err(error) => {
                tracing::warn!(%error, "unreadable alerts snapshot; reading the alerts from the start");
                return Ok(false);
            }
        };
        let owned_scalers = self.owned_scaler_keys();
        for value in records {
            match Event::from_json(&value) {
                Ok(event) => {
                    fold_alert(&mut self.evaluator, &owned_scalers, &event);
                    self.alerts_compaction.observe(&value, &event.payload);
                }
                Err(error) => {
                    tracing::warn!(%error, "skipping an undecodable alert in the snapshot")
                }
            }
        }
        let covered = snapshot.covers.get(&Topic::Alerts.name(&self.prefix));
        for (partition, next) in &mut self.alerts {
            *next = covered.and_then(|c| c.get(partition)).copied().unwrap_or(0);
        }
        self.alerts_compaction.schedule.saved();
        Ok(true)
    }

    /// Saves what the alerts fold holds now as the snapshot the next
    /// start reads, covering the alerts read so far.
    async fn save_alerts_snapshot(&mut self) -> Result<(), RunnerError> {
        let alerts_topic = Topic::Alerts.name(&self.prefix);
        let covers =
            snapshot::Covers::from([(alerts_topic, self.alerts.iter().copied().collect())]);
        let body = self
            .alerts_compaction
            .encode(&self.evaluator.external_snapshot());
        let topic = Topic::Snapshots.name(&self.prefix);
        snapshot::save(&*self.log, &topic, SNAPSHOT_OWNER, &covers, &body).await?;
        tracing::debug!(
            bytes = body.len(),
            live = self.alerts_compaction.live_alerts(),
            "alerts snapshot saved"
        );
        self.alerts_compaction.schedule.saved();
        Ok(())
    }
}

/// Folds one alerts record into the evaluator: receipts of external
/// alerts, decisions about them, scale steps of firing alerts, and the
/// states of alerts of groups evaluated elsewhere.
fn fold_alert(evaluator: &mut Evaluator, owned_scalers: &BTreeSet<String>, event: &Event) {
    let group = match &event.payload {
        EventPayload::AlertPending(e)
        | EventPayload::AlertFiring(e)
        | EventPayload::AlertResolved(e) => &e.rule_group,
        EventPayload::ExternalAlertReceived(alert) => {
            let at = event.envelope.occurred_at.timestamp_millis();
            evaluator.receive_external(alert, at);
            return;
        }
        _ => return,
    };
    evaluator.fold_external_decision(&event.payload);
    if let EventPayload::AlertFiring(alert) = &event.payload {
        let at = event.envelope.occurred_at.timestamp_millis();
        evaluator.observe_alert(event.envelope.id, alert, at, true, |key| {
            owned_scalers.contains(key)
        });
    }
    // This process's own decisions are already its state.
    if !evaluator.owns_group_named(group) {
        evaluator.restore_alert(&event.payload);
    }
}

impl Runner {
    fn owned_scaler_keys(&self) -> BTreeSet<String> {
        self.evaluator
            .scalers()
            .iter()
            .filter(|s| s.owned)
            .map(|s| s.key.clone())
            .collect()
    }

    /// Folds new scale outcomes into the owned scalers.
    async fn read_outcomes(&mut self) -> Result<(), RunnerError> {
        if self.evaluator.scalers().is_empty() {
            return Ok(());
        }
        let owned = self.owned_scaler_keys();
        let topic = Topic::Outcomes.name(&self.prefix);
        let evaluator = &mut self.evaluator;
        for_each_new(&*self.log, &topic, &mut self.outcomes, |record| {
            if let Some(event) = decode_scale_outcome(record) {
                evaluator.apply_scaler_outcome(&event.payload, |key| owned.contains(key));
            }
        })
        .await
    }

    /// Brings scalers just restored from their snapshot up to date from
    /// the log (module docs): their outcomes, the alert steps already
    /// requested, and the firing alerts after their last tick.
    async fn catch_up_scalers(&mut self, which: impl Fn(&str) -> bool) -> Result<(), RunnerError> {
        if !self.evaluator.scalers().iter().any(|s| which(&s.key)) {
            return Ok(());
        }
        // The live cursors first, so the range below is exactly what the
        // gained scalers missed.
        self.read_outcomes().await?;
        let outcomes_topic = Topic::Outcomes.name(&self.prefix);
        for &(partition, end) in &self.outcomes.clone() {
            for event in read_range(&*self.log, &outcomes_topic, partition, end).await? {
                self.evaluator.apply_scaler_outcome(&event.payload, &which);
            }
        }
        let actions_topic = Topic::Actions.name(&self.prefix);
        for partition in 0..self.log.partitions(&actions_topic).await? {
            let end = self.log.end_offset(&actions_topic, partition).await?;
            for event in read_range(&*self.log, &actions_topic, partition, end).await? {
                self.evaluator.note_scaler_request(&event.payload, &which);
            }
        }
        let alerts_topic = Topic::Alerts.name(&self.prefix);
        for &(partition, end) in &self.alerts.clone() {
            for event in read_range(&*self.log, &alerts_topic, partition, end).await? {
                if let EventPayload::AlertFiring(alert) = &event.payload {
                    let at = event.envelope.occurred_at.timestamp_millis();
                    self.evaluator
                        .observe_alert(event.envelope.id, alert, at, false, &which);
                }
            }
        }
        Ok(())
    }
}

/// Hands every record after each partition's cursor to `visit`, in offset
/// order per partition, and moves the cursors past them.
async fn for_each_new(
    log: &dyn EventLog,
    topic: &str,
    cursors: &mut [(u32, Offset)],
    mut visit: impl FnMut(&StoredRecord),
) -> Result<(), RunnerError> {
    for (partition, next) in cursors {
        loop {
            let records = log
                .read(topic, *partition, *next, BATCH, Duration::ZERO)
                .await?;
            let Some(last) = records.last() else { break };
            *next = last.offset + 1;
            records.iter().for_each(&mut visit);
        }
    }
    Ok(())
}

/// Every decodable event of a partition before `end`.
async fn read_range(
    log: &dyn EventLog,
    topic: &str,
    partition: u32,
    end: Offset,
) -> Result<Vec<Event>, RunnerError> {
    let mut out = Vec::new();
    let mut from = 0;
    while from < end {
        let records = log
            .read(topic, partition, from, BATCH * 4, Duration::ZERO)
            .await?;
        let Some(last) = records.last() else { break };
        from = last.offset + 1;
        out.extend(records.iter().filter(|r| r.offset < end).filter_map(decode));
    }
    Ok(out)
}

/// Outcomes topic records other than scale outcomes are skipped without
/// decoding trouble being counted twice.
fn decode_scale_outcome(record: &StoredRecord) -> Option<Event> {
    decode(record).filter(|e| {
        matches!(
            e.payload,
            EventPayload::ScaleApplied(_) | EventPayload::ActionFailed(_)
        )
    })
}

fn decode(record: &StoredRecord) -> Option<Event> {
    match Event::from_json(&record.value) {
        Ok(event) => Some(event),
        Err(err) => {
            metrics::DECODE_FAILURES.inc();
            tracing::warn!(topic = %record.topic, offset = record.offset, error = %err, "skipping undecodable record");
            None
        }
    }
}
