//! Alert-triggered scaling (issue item 2): a route's `scale_configs` entry
//! `step: +2` or `set: 10` moves the scaler within its min/max, at most once
//! per cooldown, sharing the history of metric decisions so that the
//! scale-down stabilization window keeps an alert's step for its length.

use super::health::ScalerHealth;
use super::hpa::ReplicaChange;
use super::ids::request_id;
use super::state::{ScaleDecision, Scaler, ScalerState};
use closeloop_core::events::{ScaleCause, ScaleLimit, ScaleTrigger};
use std::time::Duration;

/// What an alert asks of a scaler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertAction {
    /// Add (or, negative, remove) this many replicas.
    Step(i64),
    /// Set this many replicas.
    Set(u32),
}

#[derive(Debug, Clone, PartialEq)]
pub struct AlertStepInput {
    pub now_ms: i64,
    pub action: AlertAction,
    pub current_replicas: u32,
    /// The route's cooldown; `None` takes the scaler's `alert_cooldown`.
    pub cooldown: Option<Duration>,
    pub cause: ScaleCause,
}

impl Scaler {
    /// Applies one alert's step. Dropped (to = from, `Cooldown`) when the
    /// scaler changed replicas less than the cooldown ago, by a metric
    /// decision or an earlier alert.
    pub fn alert_step(
        &self,
        state: &ScalerState,
        input: &AlertStepInput,
    ) -> (ScalerState, ScaleDecision) {
        let c = &self.config;
        let current = input.current_replicas;
        let raw = match input.action {
            AlertAction::Step(n) => (i64::from(current) + n).clamp(0, i64::from(u32::MAX)) as u32,
            AlertAction::Set(n) => n,
        };
        let mut decision = ScaleDecision {
            tick_ms: input.now_ms,
            trigger: ScaleTrigger::Alert,
            query_value: None,
            from_replicas: current,
            raw_desired: Some(raw),
            stabilized: None,
            to_replicas: raw.clamp(c.min_replicas, c.max_replicas),
            limited_by: Vec::new(),
            limiting_policy: None,
            health: ScalerHealth::default(),
            request: None,
        };
        if raw > c.max_replicas {
            decision.limited_by.push(ScaleLimit::MaxReplicas);
        } else if raw < c.min_replicas {
            decision.limited_by.push(ScaleLimit::MinReplicas);
        }
        let cooldown = input.cooldown.unwrap_or(c.alert_cooldown).as_millis() as i64;
        let cooling = state
            .last_change_ms()
            .is_some_and(|last| input.now_ms - last < cooldown);
        if cooling && decision.to_replicas != current {
            decision.to_replicas = current;
            decision.limited_by.push(ScaleLimit::Cooldown);
        }
        let mut next = state.clone();
        if decision.to_replicas != current {
            let id = request_id(
                &c.name,
                input.now_ms,
                ScaleTrigger::Alert,
                &input.cause.fingerprint,
            );
            // As a recommendation, the step holds off metric scale-downs for
            // the scale-down window instead of being undone at the next tick.
            next.record_recommendation(input.now_ms, decision.to_replicas);
            let change = ReplicaChange {
                at_ms: input.now_ms,
                from: current,
                to: decision.to_replicas,
            };
            next.record_change(id, change, self.flapping_window_ms());
            decision.request = Some(self.request(&decision, id, Some(input.cause.clone())));
        }
        decision.health = next.health.clone();
        (next, decision)
    }
}
