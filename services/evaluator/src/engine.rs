//! The evaluator's state and its one pure step: samples and deploys go in,
//! the watermark advances, rule groups are evaluated at every tick their
//! interval aligns to, and alert transitions come out, with what each
//! group wrote (recording rules, `ALERTS`, stale markers) for the runner
//! to write back into the samples stream. Scalers tick here too, like
//! rule groups: their query over the same window, the deploy freeze from
//! the same deploy tracker, their decisions (`ScaleRequested`) and their
//! health alerts among the decisions. Same inputs, same outputs: that
//! is what makes restart and replay safe.

use crate::alerting::restore;
use crate::deploys::{Attribution, DeployTracker};
use crate::external::{ExternalAlerts, EXTERNAL_GROUP_KEY};
use crate::group_eval::{EvalEnv, GroupRun};
use crate::metrics;
use crate::pushed::PushedScrapes;
use crate::retention::reach_ms;
use crate::rules::{Rule, RuleGroup};
use crate::scaling::runtime::{AlertScaleRouter, ScalerRuntime};
use crate::scaling::{ScalerConfig, ScalerState};
use closeloop_core::events::{AlertEvent, ScaleCause};
use closeloop_core::events::{DeployRecorded, ExternalAlertReceived};
use closeloop_core::remote_write::RemoteWriteError;
use closeloop_core::remote_write_walk::{walk, walk_with_metadata};
use closeloop_core::{EventPayload, LabelSet};
use closeloop_promql::{eval_instant, EvalOptions, Labels, Storage, Value};
use std::collections::BTreeMap;
use std::collections::HashMap;
use std::time::Instant;
use uuid::Uuid;

#[derive(Debug, Clone)]
pub struct EvaluatorConfig {
    pub default_interval_ms: i64,
    pub lookback_ms: i64,
    pub attribution: Attribution,
    pub external_labels: LabelSet,
    pub external_url: String,
}

/// An event the evaluator decided on, stamped with the tick it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub payload: EventPayload,
    pub occurred_at_ms: i64,
    pub key: String,
}

/// The samples one group wrote at one tick, all at `timestamp_ms` (the
/// tick minus the group's query offset); stale markers for series that
/// vanished are included.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub rule_file: String,
    pub rule_group: String,
    pub tick_ms: i64,
    pub timestamp_ms: i64,
    pub samples: Vec<(Labels, f64)>,
}

/// What advancing the watermark produced, in tick order.
#[derive(Debug, Default)]
pub struct Advanced {
    pub decisions: Vec<Decision>,
    pub recorded: Vec<Recorded>,
}

/// How much older a takeover's first tick can be than the watermark: the
/// session timeout of the group membership plus the lateness, with room.
const HANDOVER_SLACK_MS: i64 = 60_000;

struct GroupRuntime {
    run: GroupRun,
    /// `file;name`, as Prometheus keys groups.
    key: String,
    interval_ms: i64,
    last_tick_ms: Option<i64>,
    /// Whether this evaluator evaluates the group. Always, unless evaluators
    /// split the groups between them (module `shards`); a group owned
    /// elsewhere keeps its alert states current from the alerts stream.
    owned: bool,
}

impl GroupRuntime {
    fn next_tick(&self, watermark_ms: i64) -> i64 {
        match self.last_tick_ms {
            Some(last) => last + self.interval_ms,
            // A group seen for the first time starts at the present tick
            // instead of back-filling history into alerts.
            None => watermark_ms.div_euclid(self.interval_ms) * self.interval_ms,
        }
    }
}

pub struct Evaluator {
    config: EvaluatorConfig,
    storage: Storage,
    groups: Vec<GroupRuntime>,
    deploys: DeployTracker,
    retention_ms: i64,
    deploy_series_tick: Option<i64>,
    options: EvalOptions,
    /// Newest sample time of each series rule groups wrote, so reading
    /// that output back from the log (the evaluator's own, after a restart,
    /// or a re-evaluated tick's duplicate) adds nothing.
    recorded_newest: HashMap<Labels, i64>,
    scalers: Vec<ScalerRuntime>,
    /// Each scaler's parsed query (`None`: it does not parse; the scaler
    /// then sees no data and holds).
    scaler_queries: Vec<Option<closeloop_promql::Expr>>,
    alert_router: Option<AlertScaleRouter>,
    /// Alerts other systems sent (module `external`), and whether this
    /// evaluator decides for them (it owns `EXTERNAL_GROUP_KEY`).
    external: ExternalAlerts,
    external_owned: bool,
    /// Pushgateway-style groups, scraped into the window every interval.
    pushed: PushedScrapes,
    /// What senders declared about their metrics, for `/api/v1/metadata`.
    metadata: crate::metadata::MetadataIndex,
    /// Samples before this were dropped from the window (`None`: none yet).
    window_start_ms: Option<i64>,
}

impl Evaluator {
    pub fn new(config: EvaluatorConfig, groups: Vec<RuleGroup>) -> Self {
        let mut retention_ms = 0i64;
        let groups: Vec<GroupRuntime> = groups
            .into_iter()
            .map(|group| {
                for rule in &group.rules {
                    let expr = match rule {
                        Rule::Alerting(r) => &r.expr,
                        Rule::Recording(r) => &r.expr,
                    };
                    retention_ms =
                        retention_ms.max(reach_ms(expr) + group.query_offset.as_millis() as i64);
                }
                // Shown in /metrics from the start, not after a first tick.
                metrics::GROUP_DURATION.with_label_values(&[&group.name]);
                GroupRuntime {
                    key: format!("{};{}", group.file, group.name),
                    interval_ms: group
                        .interval
                        .map(|d| d.as_millis() as i64)
                        .unwrap_or(config.default_interval_ms)
                        .max(1),
                    last_tick_ms: None,
                    owned: true,
                    run: GroupRun::new(group),
                }
            })
            .collect();
        let options = EvalOptions {
            lookback_delta_ms: config.lookback_ms,
            ..EvalOptions::default()
        };
        let pushed = PushedScrapes::new(config.default_interval_ms);
        Evaluator {
            pushed,
            metadata: Default::default(),
            window_start_ms: None,
            retention_ms: retention_ms + config.lookback_ms,
            config,
            storage: Storage::new(),
            groups,
            deploys: DeployTracker::default(),
            deploy_series_tick: None,
            options,
            recorded_newest: HashMap::new(),
            scalers: Vec::new(),
            scaler_queries: Vec::new(),
            alert_router: None,
            external: ExternalAlerts::default(),
            external_owned: true,
        }
    }

    /// Adds scalers, evaluated at ticks of their interval (default: the
    /// evaluation interval) like rule groups. The configs are validated.
    pub fn with_scalers(mut self, configs: Vec<ScalerConfig>) -> Self {
        for config in configs {
            let query = match closeloop_promql::parse(&config.query) {
                Ok(expr) => {
                    self.retention_ms = self
                        .retention_ms
                        .max(reach_ms(&expr) + self.config.lookback_ms);
                    Some(expr)
                }
                Err(e) => {
                    tracing::warn!(scaler = %config.name, error = %e, "scaler query does not parse; it will hold");
                    None
                }
            };
            metrics::SCALER_DESIRED.with_label_values(&[&config.name]);
            metrics::SCALER_CURRENT.with_label_values(&[&config.name]);
            metrics::SCALER_MISSING_DATA.with_label_values(&[&config.name]);
            self.scalers
                .push(ScalerRuntime::new(config, self.config.default_interval_ms));
            self.scaler_queries.push(query);
        }
        self
    }

    /// Says which scaler steps an alert routes to (receivers'
    /// `scale_configs`); without it alerts step no scaler.
    pub fn set_alert_router(&mut self, router: AlertScaleRouter) {
        self.alert_router = Some(router);
    }

    pub fn scalers(&self) -> &[ScalerRuntime] {
        &self.scalers
    }

    /// Each owned scaler's state by name, for the shard checkpoint.
    pub fn scaler_states(&self) -> BTreeMap<String, ScalerState> {
        self.scalers
            .iter()
            .filter(|s| s.owned)
            .map(|s| (s.key.clone(), s.state.clone()))
            .collect()
    }

    /// Restarts the scalers `which` selects (by key) from a checkpoint's
    /// snapshots and ticks (from nothing where it has none).
    pub fn restore_scalers_of(
        &mut self,
        states: &BTreeMap<String, ScalerState>,
        ticks: &BTreeMap<String, i64>,
        which: impl Fn(&str) -> bool,
    ) {
        for scaler in self.scalers.iter_mut().filter(|s| which(&s.key)) {
            let state = states.get(&scaler.key).cloned();
            let tick = ticks.get(&scaler.key).copied();
            scaler.restore(state, tick);
        }
    }

    /// Folds a `ScaleApplied` or `ActionFailed` into the scalers `which`
    /// selects (owned ones, or those being caught up).
    pub fn apply_scaler_outcome(&mut self, payload: &EventPayload, which: impl Fn(&str) -> bool) {
        for scaler in self.scalers.iter_mut().filter(|s| which(&s.key)) {
            scaler.apply_outcome(payload);
        }
    }

    /// Notes a `ScaleRequested` read back from the actions topic (alert
    /// steps already taken are not taken again).
    pub fn note_scaler_request(&mut self, payload: &EventPayload, which: impl Fn(&str) -> bool) {
        for scaler in self.scalers.iter_mut().filter(|s| which(&s.key)) {
            scaler.note_request(payload);
        }
    }

    /// Queues the scale steps a firing alert routes to, for the scalers
    /// `which` selects; see `ScalerRuntime::queue_step` for `fresh`.
    pub fn observe_alert(
        &mut self,
        event_id: Uuid,
        alert: &AlertEvent,
        occurred_at_ms: i64,
        fresh: bool,
        which: impl Fn(&str) -> bool,
    ) {
        let Some(router) = &self.alert_router else {
            return;
        };
        for step in router(&alert.labels) {
            for scaler in self
                .scalers
                .iter_mut()
                .filter(|s| s.name() == step.scaler && which(&s.key))
            {
                let cause = ScaleCause {
                    alert_event_id: event_id,
                    fingerprint: alert.fingerprint.clone(),
                    alertname: alert.alertname.clone(),
                };
                scaler.queue_step(&step, occurred_at_ms, cause, fresh);
            }
        }
    }

    /// How far before a tick the window must reach.
    pub fn retention_ms(&self) -> i64 {
        self.retention_ms
    }

    /// Keeps at least `ms` of samples before the watermark, for queries
    /// (`evaluation.query_window`), beyond what the rules need.
    pub fn keep_at_least(&mut self, ms: i64) {
        self.retention_ms = self.retention_ms.max(ms);
    }

    /// What senders declared about their metrics (remote write), and the
    /// pushed groups' families.
    pub fn metadata(&self) -> (&crate::metadata::MetadataIndex, &PushedScrapes) {
        (&self.metadata, &self.pushed)
    }

    /// The window the rules and queries read.
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    pub fn options(&self) -> &EvalOptions {
        &self.options
    }

    /// Where the window starts: samples before it were dropped (`None`
    /// until the first drop; then everything since the start is held).
    pub fn window_start_ms(&self) -> Option<i64> {
        self.window_start_ms
    }

    /// Appends every sample of a decompressed remote-write body; a series
    /// already in the window is found from the wire's label pairs without
    /// building its label set.
    pub fn append_remote_write(&mut self, raw: &[u8]) -> Result<(), RemoteWriteError> {
        let storage = &mut self.storage;
        let metadata = &mut self.metadata;
        walk_with_metadata(
            raw,
            |_, series| {
                storage.append_pairs(
                    series.labels,
                    series.samples.iter().map(|s| (s.timestamp, s.value)),
                );
                Ok(())
            },
            |name, view| metadata.note(name, view),
        )?;
        Ok(())
    }

    /// Appends the body of a `SamplesReceived` in whichever format ingest
    /// kept it (remote write 1.0/2.0, OTLP): one decode into the window.
    pub fn append_received(
        &mut self,
        format: &str,
        body: &[u8],
        limit: usize,
    ) -> Result<(), closeloop_core::received::ReceivedError> {
        let storage = &mut self.storage;
        let metadata = &mut self.metadata;
        closeloop_core::received::for_each_series_with_metadata(
            format,
            body,
            limit,
            |labels, samples| {
                storage.append_pairs(labels, samples.iter().map(|s| (s.timestamp, s.value)));
            },
            |name, view| metadata.note(name, view),
        )?;
        Ok(())
    }

    /// Appends a decompressed `SamplesRecorded` body: rule output, from
    /// this evaluator or another one. A sample at the same time as the
    /// newest one of its series is a duplicate of what is there (the rule
    /// wrote it in memory, or the log holds it twice) and is dropped: the
    /// first write wins, as in Prometheus' TSDB. Older samples go in as
    /// any out-of-order sample does (a restart may read partitions in a
    /// different order than they were written).
    pub fn append_recorded(&mut self, raw: &[u8]) -> Result<(), RemoteWriteError> {
        let (storage, newest) = (&mut self.storage, &mut self.recorded_newest);
        walk(raw, |_, series| {
            let labels = Labels::from_pairs(series.labels.iter().copied());
            for sample in series.samples {
                match newest.get_mut(&labels) {
                    Some(t) if *t == sample.timestamp => continue,
                    Some(t) => *t = (*t).max(sample.timestamp),
                    None => {
                        newest.insert(labels.clone(), sample.timestamp);
                    }
                }
                storage.append(&labels, sample.timestamp, sample.value);
            }
            Ok(())
        })?;
        Ok(())
    }

    /// Queues an event of `closeloop.pushgroups` for the scrapes at or
    /// after its time; returns that time (`None`: not a push event).
    pub fn record_push(&mut self, payload: &EventPayload) -> Option<i64> {
        self.pushed.record(payload)
    }

    pub fn record_deploy(&mut self, id: Uuid, deploy: &DeployRecorded, occurred_at_ms: i64) {
        self.deploys.record(id, deploy, occurred_at_ms);
    }

    /// Replays an alert event from the log into the state of its rule.
    pub fn restore_alert(&mut self, payload: &EventPayload) {
        let event = match payload {
            EventPayload::AlertPending(e)
            | EventPayload::AlertFiring(e)
            | EventPayload::AlertResolved(e) => e,
            _ => return,
        };
        for group in self
            .groups
            .iter_mut()
            .filter(|g| g.run.group.name == event.rule_group)
        {
            let rules: Vec<usize> = (0..group.run.group.rules.len())
                .filter(|&i| matches!(&group.run.group.rules[i], Rule::Alerting(r) if r.name == event.alertname))
                .collect();
            for index in rules {
                restore(group.run.alert_state_mut(index), payload);
            }
        }
    }

    /// The `file;name` key of every loaded group and the `scaler;name`
    /// key of every scaler.
    pub fn group_keys(&self) -> impl Iterator<Item = &str> {
        self.groups
            .iter()
            .map(|g| g.key.as_str())
            .chain(self.scalers.iter().map(|s| s.key.as_str()))
    }

    /// Says which groups and scalers this evaluator evaluates, by key.
    pub fn set_owned(&mut self, owned: impl Fn(&str) -> bool) {
        for group in &mut self.groups {
            group.owned = owned(&group.key);
        }
        for scaler in &mut self.scalers {
            scaler.owned = owned(&scaler.key);
        }
        self.external_owned = owned(EXTERNAL_GROUP_KEY);
    }

    /// Alertmanager's `resolve_timeout` for external alerts not re-sent.
    pub fn set_resolve_timeout(&mut self, resolve_timeout_ms: i64) {
        self.external.set_resolve_timeout(resolve_timeout_ms);
    }

    /// Folds an alert another system sent, received at `received_ms`.
    pub fn receive_external(&mut self, alert: &ExternalAlertReceived, received_ms: i64) {
        self.external.receive(alert, received_ms);
    }

    /// The external alerts' state, for the alerts snapshot.
    pub fn external_snapshot(&self) -> serde_json::Value {
        self.external.to_snapshot()
    }

    /// Takes the external alerts' state from an alerts snapshot.
    pub fn restore_external_snapshot(&mut self, snapshot: serde_json::Value) -> Result<(), String> {
        self.external.restore_snapshot(snapshot)
    }

    /// Folds a decision about an external alert read back from the log.
    pub fn fold_external_decision(&mut self, payload: &EventPayload) {
        self.external.fold_decision(payload);
    }

    /// Fires new external alerts and resolves ended ones as of
    /// `watermark_ms`, with suspect deploys as for rule alerts; nothing
    /// unless this evaluator owns external alerts.
    pub fn decide_external(&mut self, watermark_ms: i64) -> Vec<Decision> {
        if !self.external_owned {
            return Vec::new();
        }
        let (deploys, attribution) = (&self.deploys, &self.config.attribution);
        let suspects =
            |labels: &LabelSet, active_at: i64| deploys.suspects(attribution, labels, active_at);
        self.external
            .decide(watermark_ms, &suspects)
            .into_iter()
            .map(|(payload, occurred_at_ms, key)| Decision {
                payload,
                occurred_at_ms,
                key,
            })
            .collect()
    }

    /// Every rule group as it runs now, in load order, for
    /// `/api/v1/rules`. A group another evaluator owns shows the alerts
    /// it restored from the log and the health the owner last
    /// checkpointed.
    pub fn rule_status(&self) -> Vec<crate::rule_status::GroupStatus> {
        self.groups
            .iter()
            .map(|g| g.run.status(g.interval_ms))
            .collect()
    }

    /// The health of each owned group that has run, by group key, for
    /// the shard checkpoint.
    pub fn group_health(&self) -> BTreeMap<String, crate::GroupHealth> {
        self.groups
            .iter()
            .filter(|g| g.owned && g.run.last_eval_ms.is_some())
            .map(|g| (g.key.clone(), g.run.health()))
            .collect()
    }

    /// Takes the health of the groups `which` selects from a checkpoint
    /// (groups evaluated elsewhere, or just taken over); an owned group's
    /// own evaluations replace it from its next tick.
    pub fn adopt_health_of(
        &mut self,
        health: &BTreeMap<String, crate::GroupHealth>,
        which: impl Fn(&str) -> bool,
    ) {
        for group in self.groups.iter_mut().filter(|g| which(&g.key)) {
            if let Some(h) = health.get(&group.key) {
                group.run.adopt_health(h);
            }
        }
    }

    pub fn owned_scaler_count(&self) -> usize {
        self.scalers.iter().filter(|s| s.owned).count()
    }

    pub fn owned_group_count(&self) -> usize {
        self.groups.iter().filter(|g| g.owned).count()
    }

    /// Whether a group of this name is evaluated here (alert events name
    /// their group by name only).
    pub fn owns_group_named(&self, name: &str) -> bool {
        self.groups
            .iter()
            .any(|g| g.owned && g.run.group.name == name)
    }

    /// Sets the last evaluated tick of the groups `which` selects, from a
    /// checkpoint (`None` where it has none), leaving the others alone.
    pub fn restore_ticks_of(
        &mut self,
        ticks: &BTreeMap<String, i64>,
        which: impl Fn(&str) -> bool,
    ) {
        for group in self.groups.iter_mut().filter(|g| which(&g.key)) {
            group.last_tick_ms = ticks.get(&group.key).copied();
        }
        for scaler in self.scalers.iter_mut().filter(|s| which(&s.key)) {
            scaler.last_tick_ms = ticks.get(&scaler.key).copied();
        }
    }

    /// The last evaluated tick of each group, for the checkpoint.
    pub fn ticks(&self) -> BTreeMap<String, i64> {
        self.groups
            .iter()
            .filter_map(|g| g.last_tick_ms.map(|t| (g.key.clone(), t)))
            .chain(
                self.scalers
                    .iter()
                    .filter_map(|s| s.last_tick_ms.map(|t| (s.key.clone(), t))),
            )
            .collect()
    }

    pub fn restore_ticks(&mut self, ticks: &BTreeMap<String, i64>) {
        self.restore_ticks_of(ticks, |_| true);
    }

    /// Makes every group's first tick the first aligned tick at or after
    /// `from_ms` (for backtests, which start at a chosen time).
    pub fn start_at(&mut self, from_ms: i64) {
        for group in &mut self.groups {
            let first = from_ms.div_euclid(group.interval_ms) * group.interval_ms;
            let first = if first < from_ms {
                first + group.interval_ms
            } else {
                first
            };
            group.last_tick_ms = Some(first - group.interval_ms);
        }
        for scaler in &mut self.scalers {
            let first = from_ms.div_euclid(scaler.interval_ms) * scaler.interval_ms;
            let first = if first < from_ms {
                first + scaler.interval_ms
            } else {
                first
            };
            scaler.last_tick_ms = Some(first - scaler.interval_ms);
        }
    }

    /// The earliest sample time any future tick still needs.
    pub fn oldest_needed_ms(&self, watermark_ms: i64) -> i64 {
        let next = self
            .groups
            .iter()
            .filter(|g| g.owned)
            .map(|g| g.next_tick(watermark_ms))
            .chain(
                self.scalers
                    .iter()
                    .filter(|s| s.owned)
                    .map(|s| s.next_tick(watermark_ms)),
            )
            .min()
            .unwrap_or(watermark_ms);
        // Groups evaluated elsewhere may move here; their next owner starts
        // from a tick up to a failover time old and needs the window from there.
        let slack = if self.groups.iter().all(|g| g.owned) && self.scalers.iter().all(|s| s.owned) {
            0
        } else {
            HANDOVER_SLACK_MS
        };
        next - self.retention_ms - slack
    }

    /// Evaluates every group tick at or before `watermark_ms`, in time
    /// order, and returns the decisions (for callers that do not write
    /// rule output back, such as a backtest).
    pub fn advance_to(&mut self, watermark_ms: i64) -> Vec<Decision> {
        self.advance(watermark_ms).decisions
    }

    /// Evaluates every group tick at or before `watermark_ms`, in time
    /// order, and returns the decisions and what each group tick wrote.
    pub fn advance(&mut self, watermark_ms: i64) -> Advanced {
        let mut out = Advanced::default();
        // Scrapes up to the watermark first: a tick's queries only see
        // samples at or before it, so later scrapes do not leak into it.
        let from = self.oldest_needed_ms(watermark_ms);
        self.pushed
            .scrape_until(from, watermark_ms, &mut self.storage);
        loop {
            let due_group = self
                .groups
                .iter()
                .enumerate()
                .map(|(i, g)| (g.next_tick(watermark_ms), i))
                .filter(|&(tick, index)| tick <= watermark_ms && self.groups[index].owned)
                .min();
            let due_scaler = self
                .scalers
                .iter()
                .enumerate()
                .map(|(i, s)| (s.next_tick(watermark_ms), i))
                .filter(|&(tick, index)| tick <= watermark_ms && self.scalers[index].owned)
                .min();
            // Groups before scalers at the same tick: a scaler may query
            // what a recording rule wrote at that tick.
            match (due_group, due_scaler) {
                (None, None) => break,
                (Some((tick, index)), scaler) if scaler.is_none_or(|(t, _)| tick <= t) => {
                    self.materialize_deploy_series(tick);
                    self.eval_group(index, tick, &mut out);
                    self.groups[index].last_tick_ms = Some(tick);
                }
                (_, Some((tick, index))) => {
                    self.materialize_deploy_series(tick);
                    self.eval_scaler(index, tick, &mut out);
                }
                (Some(_), None) => unreachable!("matched by the arm above"),
            }
        }
        let oldest = self.oldest_needed_ms(watermark_ms);
        self.storage.truncate_before(oldest);
        self.window_start_ms = Some(self.window_start_ms.map_or(oldest, |w| w.max(oldest)));
        self.recorded_newest.retain(|_, t| *t >= oldest);
        self.deploys
            .prune(watermark_ms - self.config.attribution.window_ms);
        metrics::WINDOW_SERIES.set(self.storage.series_count() as i64);
        out
    }

    /// One scaler tick: its query's one value over the window (none, NaN
    /// or several series: no data), the deploy freeze, then the scaler's
    /// pure step.
    fn eval_scaler(&mut self, index: usize, tick: i64, out: &mut Advanced) {
        let name = self.scalers[index].name().to_string();
        let value = match &self.scaler_queries[index] {
            Some(expr) => match eval_instant(&self.storage, expr, tick, &self.options) {
                Ok(Value::Scalar(v)) => Some(v),
                Ok(Value::Vector(samples)) if samples.len() == 1 => Some(samples[0].value),
                Ok(Value::Vector(samples)) if samples.is_empty() => None,
                Ok(Value::Vector(samples)) => {
                    tracing::warn!(scaler = %name, series = samples.len(), "scaler query returned several series; treated as no data");
                    None
                }
                Ok(_) => None,
                Err(e) => {
                    tracing::warn!(scaler = %name, error = %e, "scaler query failed; treated as no data");
                    None
                }
            },
            None => None,
        };
        let freeze_active = self.scalers[index]
            .scaler
            .config
            .freeze_during_deploy
            .as_ref()
            .is_some_and(|freeze| {
                let (current, _) = self.deploys.series_at(tick);
                current.iter().any(|(labels, deployed_at_s)| {
                    let deployed_ms = (deployed_at_s * 1000.0).round() as i64;
                    labels.get("service") == Some(&freeze.service)
                        && labels.get("environment") == Some(&freeze.environment)
                        && tick - deployed_ms < freeze.duration.as_millis() as i64
                })
            });
        let scaler = &mut self.scalers[index];
        let events = scaler.tick(tick, value, freeze_active, &self.config.external_labels);
        if let Some(decision) = &scaler.last_decision {
            metrics::SCALER_DESIRED
                .with_label_values(&[&name])
                .set(i64::from(decision.to_replicas));
            metrics::SCALER_MISSING_DATA
                .with_label_values(&[&name])
                .set(i64::from(decision.query_value.is_none()));
        }
        if let Some(current) = scaler.state.known_replicas() {
            metrics::SCALER_CURRENT
                .with_label_values(&[&name])
                .set(i64::from(current));
        }
        out.decisions.extend(events.into_iter().map(|payload| {
            let key = match &payload {
                EventPayload::AlertFiring(e) | EventPayload::AlertResolved(e) => {
                    e.fingerprint.clone()
                }
                _ => name.clone(),
            };
            Decision {
                payload,
                occurred_at_ms: tick,
                key,
            }
        }));
    }

    /// Deploys are pushed facts: their series stay current at every tick
    /// until a newer deploy replaces them.
    fn materialize_deploy_series(&mut self, tick: i64) {
        if self.deploy_series_tick == Some(tick) {
            return;
        }
        self.deploy_series_tick = Some(tick);
        let (current, replaced) = self.deploys.series_at(tick);
        for (labels, value) in current {
            let labels = Labels::from_pairs(labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            self.storage.append(&labels, tick, value);
        }
        for labels in replaced {
            let labels = Labels::from_pairs(labels.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            self.storage.append(
                &labels,
                tick,
                f64::from_bits(closeloop_core::remote_write::STALE_NAN_BITS),
            );
        }
    }

    fn eval_group(&mut self, index: usize, tick: i64, out: &mut Advanced) {
        let started = Instant::now();
        let (deploys, attribution) = (&self.deploys, &self.config.attribution);
        let suspects =
            |labels: &LabelSet, active_at: i64| deploys.suspects(attribution, labels, active_at);
        let env = EvalEnv {
            external_labels: &self.config.external_labels,
            external_url: &self.config.external_url,
            options: &self.options,
            suspects: &suspects,
        };
        let group = &mut self.groups[index];
        let mut events = Vec::new();
        let mut written = Vec::new();
        for failure in
            group
                .run
                .eval_recorded(&mut self.storage, tick, &env, &mut events, &mut written)
        {
            metrics::RULE_FAILURES.inc();
            tracing::warn!(group = %group.run.group.name, rule = %failure.rule, error = %failure.message, "rule evaluation failed");
        }
        let timestamp_ms = tick - group.run.group.query_offset.as_millis() as i64;
        if !written.is_empty() {
            for (labels, _) in &written {
                let newest = self
                    .recorded_newest
                    .entry(labels.clone())
                    .or_insert(timestamp_ms);
                *newest = (*newest).max(timestamp_ms);
            }
            out.recorded.push(Recorded {
                rule_file: group.run.group.file.clone(),
                rule_group: group.run.group.name.clone(),
                tick_ms: tick,
                timestamp_ms,
                samples: written,
            });
        }
        out.decisions.extend(events.into_iter().map(|payload| {
            let key = match &payload {
                EventPayload::AlertPending(e)
                | EventPayload::AlertFiring(e)
                | EventPayload::AlertResolved(e) => e.fingerprint.clone(),
                _ => String::new(),
            };
            Decision {
                payload,
                occurred_at_ms: tick,
                key,
            }
        }));
        metrics::GROUP_DURATION
            .with_label_values(&[&group.run.group.name])
            .observe(started.elapsed().as_secs_f64());
    }
}

/// A query result as labelled samples; a scalar becomes one unlabelled
/// sample, as Prometheus' rule query function does.
fn into_samples(value: Value) -> Vec<(LabelSet, f64)> {
    match value {
        Value::Vector(samples) => samples
            .into_iter()
            .map(|s| {
                let labels = s
                    .labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect();
                (labels, s.value)
            })
            .collect(),
        Value::Scalar(v) => vec![(LabelSet::new(), v)],
        Value::String(_) | Value::Matrix(_) => Vec::new(),
    }
}

/// The `query` template function: PromQL over the window at the rule's
/// evaluation time, as Prometheus' rule manager provides it.
pub(crate) fn template_query<'a>(
    storage: &'a Storage,
    options: &'a EvalOptions,
    at_ms: i64,
) -> impl Fn(&str) -> Result<Vec<(LabelSet, f64)>, String> + 'a {
    move |text: &str| {
        let expr = closeloop_promql::parse(text).map_err(|e| e.to_string())?;
        let value = eval_instant(storage, &expr, at_ms, options).map_err(|e| e.to_string())?;
        Ok(into_samples(value))
    }
}
