//! A scaler inside the evaluator's engine: its state, its ticks, the alert
//! steps waiting for its next tick, and the alerts its health conditions
//! raise. The engine feeds each tick the query value and whether a deploy
//! freeze holds; everything here stays a function of those inputs and of
//! the scaler's events, so a replay decides the same.

use super::alert_step::{AlertAction, AlertStepInput};
use super::health::{HealthCondition, ScalerHealth};
use super::ids::request_tick_ms;
use super::state::{ScaleDecision, Scaler, ScalerInput, ScalerState};
use super::ScalerConfig;
use closeloop_core::events::{AlertEvent, ScaleCause, ScaleTrigger};
use closeloop_core::{fingerprint, EventPayload, LabelSet};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// The `rule_group` of the alerts scalers raise about themselves.
pub const SCALER_ALERT_GROUP: &str = "closeloop-scalers";

/// What a route's receiver asks of a scaler for one alert
/// (`scale_configs: [{scaler, step|set, cooldown}]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertScaleStep {
    pub scaler: String,
    pub action: AlertAction,
    pub cooldown: Option<Duration>,
}

/// Which scale steps an alert's labels route to. Built by the binary from
/// the actuator's route tree (`closeloop.yml`'s `route` and receivers'
/// `scale_configs`), so the evaluator decides alert steps without calling
/// the actuator.
pub type AlertScaleRouter = Arc<dyn Fn(&LabelSet) -> Vec<AlertScaleStep> + Send + Sync>;

/// The shard key of a scaler: scalers are sharded like rule groups.
pub fn scaler_key(name: &str) -> String {
    format!("scaler;{name}")
}

#[derive(Debug, Clone)]
struct QueuedStep {
    at_ms: i64,
    action: AlertAction,
    cooldown: Option<Duration>,
    cause: ScaleCause,
}

/// A scaler as the engine runs it.
pub struct ScalerRuntime {
    pub scaler: Scaler,
    pub key: String,
    pub interval_ms: i64,
    pub last_tick_ms: Option<i64>,
    pub owned: bool,
    pub state: ScalerState,
    /// Outcomes of requests from ticks this process has not evaluated yet
    /// (catching up after a restart re-evaluates them): folded in once
    /// their tick is evaluated, so the re-evaluation sees what the first
    /// evaluation saw.
    deferred: Vec<(i64, EventPayload)>,
    queued: Vec<QueuedStep>,
    /// Alert events already turned into a step (from this scaler's
    /// `ScaleRequested` causes): never stepped on twice.
    handled_causes: HashSet<Uuid>,
    /// The last decision, for the API and metrics.
    pub last_decision: Option<ScaleDecision>,
}

impl ScalerRuntime {
    pub fn new(config: ScalerConfig, default_interval_ms: i64) -> ScalerRuntime {
        let interval_ms = config
            .interval
            .map(|d| d.as_millis() as i64)
            .unwrap_or(default_interval_ms)
            .max(1);
        ScalerRuntime {
            key: scaler_key(&config.name),
            scaler: Scaler::new(config),
            interval_ms,
            last_tick_ms: None,
            owned: true,
            state: ScalerState::default(),
            deferred: Vec::new(),
            queued: Vec::new(),
            handled_causes: HashSet::new(),
            last_decision: None,
        }
    }

    pub fn name(&self) -> &str {
        &self.scaler.config.name
    }

    pub fn next_tick(&self, watermark_ms: i64) -> i64 {
        match self.last_tick_ms {
            Some(last) => last + self.interval_ms,
            None => watermark_ms.div_euclid(self.interval_ms) * self.interval_ms,
        }
    }

    /// Starts over from a snapshot (or from nothing): on restore and on
    /// taking the scaler over from another evaluator.
    pub fn restore(&mut self, state: Option<ScalerState>, last_tick_ms: Option<i64>) {
        self.state = state.unwrap_or_default();
        self.last_tick_ms = last_tick_ms;
        self.deferred.clear();
        self.queued.clear();
        self.handled_causes.clear();
    }

    /// Folds one of the scaler's outcomes (`ScaleApplied`, `ActionFailed`)
    /// in, or keeps it until the tick of its request has been evaluated.
    pub fn apply_outcome(&mut self, payload: &EventPayload) {
        let request_id = match payload {
            EventPayload::ScaleApplied(a) if a.scaler == self.name() => a.request_id,
            EventPayload::ActionFailed(f) if f.receiver == self.name() => f.request_id,
            _ => return,
        };
        let tick = request_tick_ms(request_id).unwrap_or(i64::MIN);
        if self.last_tick_ms.is_some_and(|last| tick <= last) {
            self.state.apply_event(&self.scaler, payload);
        } else {
            self.deferred.push((tick, payload.clone()));
        }
    }

    /// Notes one of the scaler's requests read back from the actions
    /// topic: its alert (for an alert step) does not step again. Without
    /// a snapshot (no checkpoint yet) the scaler starts at the present tick
    /// and re-evaluates nothing, so its history and replica count are
    /// folded from its requests instead.
    pub fn note_request(&mut self, payload: &EventPayload) {
        let EventPayload::ScaleRequested(r) = payload else {
            return;
        };
        if r.scaler != self.name() {
            return;
        }
        if r.trigger == ScaleTrigger::Alert {
            if let Some(cause) = &r.cause {
                self.handled_causes.insert(cause.alert_event_id);
            }
        }
        if self.last_tick_ms.is_none() {
            self.state.apply_event(&self.scaler, payload);
        }
    }

    /// Queues an alert's step for the next tick after `at_ms`. `fresh` is
    /// false while catching up on alerts read before: those at or before
    /// the last evaluated tick were seen by the previous evaluation.
    pub fn queue_step(
        &mut self,
        step: &AlertScaleStep,
        at_ms: i64,
        cause: ScaleCause,
        fresh: bool,
    ) {
        if self.handled_causes.contains(&cause.alert_event_id)
            || self
                .queued
                .iter()
                .any(|q| q.cause.alert_event_id == cause.alert_event_id)
        {
            return;
        }
        if !fresh && self.last_tick_ms.is_some_and(|last| at_ms <= last) {
            return;
        }
        self.queued.push(QueuedStep {
            at_ms,
            action: step.action,
            cooldown: step.cooldown,
            cause,
        });
    }

    /// One tick: queued alert steps older than the tick first (in alert
    /// time order), then the HPA step. Returns the events to append:
    /// `ScaleRequested`s and the scaler's health alerts.
    pub fn tick(
        &mut self,
        tick_ms: i64,
        value: Option<f64>,
        freeze_active: bool,
        external_labels: &LabelSet,
    ) -> Vec<EventPayload> {
        let mut out = Vec::new();
        let before = self.state.health.clone();
        let mut due: Vec<QueuedStep> = Vec::new();
        self.queued.retain(|q| {
            if q.at_ms < tick_ms {
                due.push(q.clone());
                false
            } else {
                true
            }
        });
        due.sort_by(|a, b| (a.at_ms, &a.cause.fingerprint).cmp(&(b.at_ms, &b.cause.fingerprint)));
        let min = self.scaler.config.min_replicas;
        for step in due {
            let input = AlertStepInput {
                now_ms: tick_ms,
                action: step.action,
                current_replicas: self.state.known_replicas().unwrap_or(min),
                cooldown: step.cooldown,
                cause: step.cause.clone(),
            };
            let (next, decision) = self.scaler.alert_step(&self.state, &input);
            self.state = next;
            self.handled_causes.insert(step.cause.alert_event_id);
            if let Some(request) = decision.request {
                out.push(EventPayload::ScaleRequested(request));
            }
        }
        let input = ScalerInput {
            now_ms: tick_ms,
            value,
            // Unknown before the first change or outcome: assume the
            // minimum; a Kubernetes target reports the real count
            // (`Drifted`) and the scaler works from it afterwards.
            current_replicas: self.state.known_replicas().unwrap_or(min),
            freeze_active,
        };
        let (next, decision) = self.scaler.step(&self.state, &input);
        self.state = next;
        if let Some(request) = &decision.request {
            out.push(EventPayload::ScaleRequested(request.clone()));
        }
        self.last_tick_ms = Some(tick_ms);
        // Outcomes of requests up to this tick, in the order they came.
        let mut later = Vec::new();
        for (tick, payload) in std::mem::take(&mut self.deferred) {
            if tick <= tick_ms {
                self.state.apply_event(&self.scaler, &payload);
            } else {
                later.push((tick, payload));
            }
        }
        self.deferred = later;
        out.extend(self.health_alerts(&before, &decision, tick_ms, external_labels));
        self.last_decision = Some(decision);
        out
    }

    /// `AlertFiring` when a condition starts firing, `AlertResolved` when
    /// it stops, as the scaler's own alerts (`ScalerPinnedAtMax`,
    /// `ScalerFlapping`, `ScalerMissingData`, label `scaler`).
    fn health_alerts(
        &self,
        before: &ScalerHealth,
        decision: &ScaleDecision,
        tick_ms: i64,
        external_labels: &LabelSet,
    ) -> Vec<EventPayload> {
        let after = &self.state.health;
        let conditions: [(&str, &HealthCondition, &HealthCondition, &str); 3] = [
            (
                "ScalerPinnedAtMax",
                &before.pinned_at_max,
                &after.pinned_at_max,
                "wants max_replicas or more",
            ),
            (
                "ScalerFlapping",
                &before.flapping,
                &after.flapping,
                "changes direction too often",
            ),
            (
                "ScalerMissingData",
                &before.missing_data,
                &after.missing_data,
                "query returns no data",
            ),
        ];
        let mut out = Vec::new();
        for (alertname, was, now, what) in conditions {
            if was.firing == now.firing {
                continue;
            }
            let mut labels = external_labels.clone();
            labels.insert("alertname".into(), alertname.into());
            labels.insert("scaler".into(), self.name().to_string());
            let mut annotations = LabelSet::new();
            annotations.insert("summary".into(), format!("scaler {} {what}", self.name()));
            let since = if now.firing {
                now.since_ms
            } else {
                was.since_ms
            };
            let at = |ms: i64| closeloop_core::time::from_millis(ms);
            let event = AlertEvent {
                fingerprint: fingerprint(&labels).to_string(),
                rule_group: SCALER_ALERT_GROUP.into(),
                alertname: alertname.into(),
                labels,
                annotations,
                value: f64::from(decision.to_replicas),
                active_at: at(since.unwrap_or(tick_ms)),
                // A resolution's firing time is not kept; its condition's
                // start stands in (receivers only need to know it fired).
                fired_at: Some(at(if now.firing {
                    tick_ms
                } else {
                    since.unwrap_or(tick_ms)
                })),
                resolved_at: (!now.firing).then(|| at(tick_ms)),
                suspect_deploys: Vec::new(),
                generator_url: None,
            };
            out.push(if now.firing {
                EventPayload::AlertFiring(event)
            } else {
                EventPayload::AlertResolved(event)
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use closeloop_core::events::{ScaleApplied, ScaleOutcome};

    fn runtime() -> ScalerRuntime {
        let config: ScalerConfig = serde_yaml::from_str(
            r#"
name: w
target: {webhook: {url: "http://127.0.0.1:9/"}}
query: q
target_per_replica: 10
min_replicas: 1
max_replicas: 10
behavior: {scale_up: {policies: [{type: Pods, value: 10, period: 1s}]}}
"#,
        )
        .unwrap();
        ScalerRuntime::new(config, 1_000)
    }

    fn applied(
        request: &closeloop_core::events::ScaleRequested,
        outcome: ScaleOutcome,
        observed: u32,
    ) -> EventPayload {
        EventPayload::ScaleApplied(ScaleApplied {
            scaler: "w".into(),
            request_id: request.request_id,
            target: "webhook".into(),
            outcome,
            observed_replicas: observed,
            applied_replicas: if outcome == ScaleOutcome::Applied {
                request.to_replicas
            } else {
                observed
            },
            status_replicas: None,
            answer: "HTTP 200".into(),
            attempts: 1,
        })
    }

    fn request_of(events: &[EventPayload]) -> closeloop_core::events::ScaleRequested {
        events
            .iter()
            .find_map(|e| match e {
                EventPayload::ScaleRequested(r) => Some(r.clone()),
                _ => None,
            })
            .expect("a request")
    }

    #[test]
    fn an_older_outcome_folded_again_does_not_undo_a_newer_change() {
        let mut rt = runtime();
        let labels = LabelSet::new();
        let first = request_of(&rt.tick(1_000, Some(30.0), false, &labels));
        let second = request_of(&rt.tick(2_000, Some(60.0), false, &labels));
        assert_eq!((first.to_replicas, second.to_replicas), (3, 6));
        // A restore re-reads every outcome: the first request's outcome
        // comes after the second change and must not set 3 replicas.
        rt.apply_outcome(&applied(&first, ScaleOutcome::Applied, 1));
        rt.apply_outcome(&applied(&second, ScaleOutcome::Applied, 3));
        rt.apply_outcome(&applied(&first, ScaleOutcome::Applied, 1));
        assert_eq!(rt.state.known_replicas(), Some(6));
    }

    #[test]
    fn a_drifted_target_is_worked_from_and_an_outcome_waits_for_its_tick() {
        let mut rt = runtime();
        let labels = LabelSet::new();
        let request = request_of(&rt.tick(1_000, Some(30.0), false, &labels));
        // Someone set 5 replicas by hand: the request was not applied.
        let drifted = applied(&request, ScaleOutcome::Drifted, 5);
        rt.apply_outcome(&drifted);
        assert_eq!(rt.state.known_replicas(), Some(5));

        // After a restore from a snapshot taken before that tick, the same
        // outcome waits until the tick is evaluated again.
        let mut restored = runtime();
        restored.restore(None, Some(0));
        restored.apply_outcome(&drifted);
        assert_eq!(restored.state.known_replicas(), None);
        let again = request_of(&restored.tick(1_000, Some(30.0), false, &labels));
        assert_eq!(again, request, "the re-evaluated tick asks the same");
        assert_eq!(restored.state.known_replicas(), Some(5));
    }
}
