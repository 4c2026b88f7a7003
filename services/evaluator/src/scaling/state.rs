//! A scaler's state and its one pure step per evaluation tick: query value
//! in, decision out. The state is the history the HPA rules need (raw
//! recommendations for the stabilization windows, replica changes for the
//! rate policies) plus the health conditions; it is folded from the
//! scaler's own events after a restart (`apply_event`) or restored from a
//! serialized snapshot.

use super::config::{Behavior, OnMissingData, ScalerConfig};
use super::health::ScalerHealth;
use super::hpa::{
    apply_rate_and_bounds, history_horizon_ms, metric_desired, stabilize, Recommendation,
    ReplicaChange,
};
use super::ids::request_id;
use chrono::{DateTime, Utc};
use closeloop_core::events::{ScaleCause, ScaleLimit, ScaleOutcome, ScaleRequested, ScaleTrigger};
use closeloop_core::EventPayload;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A scaler's config with its behavior defaults resolved once.
#[derive(Debug, Clone)]
pub struct Scaler {
    pub config: ScalerConfig,
    pub behavior: Behavior,
}

/// What one tick knows. `current_replicas` is what the scaler works from:
/// `ScalerState::known_replicas()` (folded from its own requests and the
/// actuator's `ScaleApplied`, which reports the target's real count).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScalerInput {
    pub now_ms: i64,
    /// The query's one value; `None` or NaN when it returned nothing.
    pub value: Option<f64>,
    pub current_replicas: u32,
    /// A deploy of `freeze_during_deploy`'s service/environment is younger
    /// than its `for`.
    pub freeze_active: bool,
}

/// What a tick decided and why; `request` is set when replicas change.
#[derive(Debug, Clone, PartialEq)]
pub struct ScaleDecision {
    pub tick_ms: i64,
    pub trigger: ScaleTrigger,
    pub query_value: Option<f64>,
    pub from_replicas: u32,
    pub raw_desired: Option<u32>,
    pub stabilized: Option<u32>,
    pub to_replicas: u32,
    pub limited_by: Vec<ScaleLimit>,
    pub limiting_policy: Option<String>,
    pub health: ScalerHealth,
    pub request: Option<ScaleRequested>,
}

/// A change this scaler asked for, kept while a policy period may count it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct OwnChange {
    request_id: Uuid,
    change: ReplicaChange,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScalerState {
    known_replicas: Option<u32>,
    recommendations: Vec<Recommendation>,
    changes: Vec<OwnChange>,
    last_change_ms: Option<i64>,
    /// False until the first tick, which seeds the stabilization window with
    /// the current count as the HPA controller does on its first look at a
    /// target (`recordInitialRecommendation`). State folded from events
    /// alone also starts unseeded, so the first tick after a restart
    /// behaves like a restarted controller: no scale-down until the
    /// scale-down window has passed. A restored snapshot keeps `true`.
    started: bool,
    pub health: ScalerHealth,
}

impl ScalerState {
    /// The replica count the scaler last asked for or the actuator saw.
    pub fn known_replicas(&self) -> Option<u32> {
        self.known_replicas
    }

    pub fn last_change_ms(&self) -> Option<i64> {
        self.last_change_ms
    }

    pub fn recommendations(&self) -> &[Recommendation] {
        &self.recommendations
    }

    pub(crate) fn replica_changes(&self) -> Vec<ReplicaChange> {
        self.changes.iter().map(|c| c.change).collect()
    }

    /// Whether `request_id` is this scaler's newest change: the last one
    /// it holds, or one it does not hold (pruned, or made elsewhere) whose
    /// tick is not older than the last change.
    fn is_latest(&self, request_id: Uuid) -> bool {
        match self.changes.iter().position(|c| c.request_id == request_id) {
            Some(i) => i + 1 == self.changes.len(),
            None => {
                let tick = super::ids::request_tick_ms(request_id);
                self.last_change_ms
                    .is_none_or(|last| tick.is_some_and(|t| t >= last))
            }
        }
    }

    /// The tick this state has been stepped to (`None` before the first).
    pub fn started(&self) -> bool {
        self.started
    }

    /// Drops history no rule can look at any more.
    fn prune(&mut self, now_ms: i64, horizon_ms: i64) {
        let cutoff = now_ms - horizon_ms;
        self.recommendations.retain(|r| r.at_ms > cutoff);
        self.changes.retain(|c| c.change.at_ms > cutoff);
    }

    pub(crate) fn record_change(
        &mut self,
        request_id: Uuid,
        change: ReplicaChange,
        flapping_window_ms: Option<i64>,
    ) {
        if self.changes.iter().any(|c| c.request_id == request_id) {
            return;
        }
        self.health.note_change(&change, flapping_window_ms);
        self.changes.push(OwnChange { request_id, change });
        self.known_replicas = Some(change.to);
        self.last_change_ms = Some(change.at_ms);
    }

    pub(crate) fn record_recommendation(&mut self, at_ms: i64, replicas: u32) {
        self.recommendations
            .push(Recommendation { at_ms, replicas });
    }

    /// Folds one of this scaler's events in, in log order: its requests
    /// (the change and the raw recommendation behind it), the actuator's
    /// `ScaleApplied` (the real count; a drifted request did not happen)
    /// and an `ActionFailed` that gave up (the change did not happen).
    /// Events of other scalers and repeated events change nothing.
    pub fn apply_event(&mut self, scaler: &Scaler, payload: &EventPayload) {
        let name = scaler.config.name.as_str();
        match payload {
            EventPayload::ScaleRequested(r) if r.scaler == name => {
                if self.changes.iter().any(|c| c.request_id == r.request_id) {
                    return;
                }
                let at_ms = r.tick_at.timestamp_millis();
                let recommended = match r.trigger {
                    ScaleTrigger::Metric => r.raw_desired,
                    ScaleTrigger::Alert => Some(r.to_replicas),
                    ScaleTrigger::Fallback | ScaleTrigger::Bounds => None,
                };
                if let Some(replicas) = recommended {
                    self.record_recommendation(at_ms, replicas);
                }
                let change = ReplicaChange {
                    at_ms,
                    from: r.from_replicas,
                    to: r.to_replicas,
                };
                self.record_change(r.request_id, change, scaler.flapping_window_ms());
                self.prune(at_ms, history_horizon_ms(&scaler.behavior));
            }
            // Outcomes only move `known_replicas` when they are about the
            // latest change: folding an older outcome again (a restore
            // re-reads the outcomes topic) must not undo a newer change.
            EventPayload::ScaleApplied(a) if a.scaler == name => {
                let latest = self.is_latest(a.request_id);
                if a.outcome == ScaleOutcome::Drifted {
                    self.changes.retain(|c| c.request_id != a.request_id);
                }
                if latest {
                    self.known_replicas = Some(a.applied_replicas);
                }
            }
            EventPayload::ActionFailed(f) if f.receiver == name && f.gave_up => {
                let latest = self.is_latest(f.request_id);
                if let Some(i) = self
                    .changes
                    .iter()
                    .position(|c| c.request_id == f.request_id)
                {
                    let undone = self.changes.remove(i);
                    if latest {
                        self.known_replicas = Some(undone.change.from);
                    }
                }
            }
            _ => {}
        }
    }
}

impl Scaler {
    pub fn new(config: ScalerConfig) -> Scaler {
        let behavior = config.behavior.resolve();
        Scaler { config, behavior }
    }

    pub(crate) fn flapping_window_ms(&self) -> Option<i64> {
        self.config
            .health
            .flapping
            .as_ref()
            .map(|f| f.within.as_millis() as i64)
    }

    /// One evaluation tick: the HPA algorithm with this scaler's behavior,
    /// then missing-data and freeze handling. Pure: same state and input,
    /// same result.
    pub fn step(&self, state: &ScalerState, input: &ScalerInput) -> (ScalerState, ScaleDecision) {
        let c = &self.config;
        let now = input.now_ms;
        let current = input.current_replicas;
        let mut next = state.clone();
        next.prune(now, history_horizon_ms(&self.behavior));
        if !next.started {
            next.started = true;
            next.record_recommendation(now, current);
        }
        let value = input.value.filter(|v| v.is_finite());
        let mut decision = ScaleDecision {
            tick_ms: now,
            trigger: ScaleTrigger::Metric,
            query_value: value,
            from_replicas: current,
            raw_desired: None,
            stabilized: None,
            to_replicas: current,
            limited_by: Vec::new(),
            limiting_policy: None,
            health: ScalerHealth::default(),
            request: None,
        };
        if current == 0 {
            // HPA: a target scaled to 0 by someone has autoscaling turned off.
            decision.limited_by.push(ScaleLimit::TargetAtZero);
        } else if current > c.max_replicas {
            decision.trigger = ScaleTrigger::Bounds;
            decision.to_replicas = c.max_replicas;
            decision.limited_by.push(ScaleLimit::MaxReplicas);
        } else if current < c.min_replicas {
            decision.trigger = ScaleTrigger::Bounds;
            decision.to_replicas = c.min_replicas;
            decision.limited_by.push(ScaleLimit::MinReplicas);
        } else if let Some(value) = value {
            let (raw, within) = metric_desired(value, c.target_per_replica, current, c.tolerance);
            if within {
                decision.limited_by.push(ScaleLimit::Tolerance);
            }
            let stabilized = stabilize(raw, current, now, &next.recommendations, &self.behavior);
            if stabilized != raw {
                decision.limited_by.push(ScaleLimit::Stabilization);
            }
            next.record_recommendation(now, raw);
            let limited = apply_rate_and_bounds(
                stabilized,
                current,
                c.min_replicas,
                c.max_replicas,
                &next.replica_changes(),
                &self.behavior,
                now,
            );
            decision.limited_by.extend(limited.limit);
            decision.limiting_policy = limited.policy;
            decision.raw_desired = Some(raw);
            decision.stabilized = Some(stabilized);
            decision.to_replicas = limited.replicas;
        } else {
            // No data is not good news: never scale down on it.
            decision.limited_by.push(ScaleLimit::MissingData);
            if let OnMissingData::Fallback(n) = c.on_missing_data {
                let to = current.max(n).clamp(c.min_replicas, c.max_replicas);
                if to != current {
                    decision.trigger = ScaleTrigger::Fallback;
                    decision.to_replicas = to;
                }
            }
        }
        if input.freeze_active && decision.to_replicas < current {
            decision.to_replicas = current;
            decision.limited_by.push(ScaleLimit::Freeze);
        }
        if decision.to_replicas != current {
            let id = request_id(&c.name, now, decision.trigger, "");
            let change = ReplicaChange {
                at_ms: now,
                from: current,
                to: decision.to_replicas,
            };
            next.record_change(id, change, self.flapping_window_ms());
            decision.request = Some(self.request(&decision, id, None));
        } else {
            next.known_replicas = Some(current);
        }
        next.health
            .update(&c.health, c.max_replicas, &decision, now);
        decision.health = next.health.clone();
        (next, decision)
    }

    pub(crate) fn request(
        &self,
        d: &ScaleDecision,
        request_id: Uuid,
        cause: Option<ScaleCause>,
    ) -> ScaleRequested {
        ScaleRequested {
            scaler: self.config.name.clone(),
            request_id,
            trigger: d.trigger,
            from_replicas: d.from_replicas,
            to_replicas: d.to_replicas,
            query_value: d.query_value,
            raw_desired: d.raw_desired,
            stabilized: d.stabilized,
            limited_by: d.limited_by.clone(),
            limiting_policy: d.limiting_policy.clone(),
            cause,
            tick_at: DateTime::<Utc>::from_timestamp_millis(d.tick_ms).unwrap_or_default(),
        }
    }
}
