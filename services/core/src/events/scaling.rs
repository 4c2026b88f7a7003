//! Scale actions: `ScaleRequested` (`closeloop.actions`) is what a scaler
//! decided and why; `ScaleApplied` (`closeloop.outcomes`) is what the target
//! had and got. Both are keyed by the scaler name. A failed scale call is an
//! `ActionFailed` with `receiver` = scaler name and `integration` = target
//! kind. A scaler's replica count and the history its stabilization windows
//! and rate policies need are folded from these events after a restart.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What made a scaler ask for a new replica count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScaleTrigger {
    /// The query value against `target_per_replica` (the HPA algorithm).
    Metric,
    /// An alert routed to a receiver's `scale_configs` (`step` or `set`).
    Alert,
    /// The query returned nothing and `on_missing_data` has `fallback_replicas`.
    Fallback,
    /// The target was outside `min_replicas..=max_replicas` and is brought back.
    Bounds,
}

/// A rule that moved the decision away from the raw desired count, in the
/// order they applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScaleLimit {
    /// The usage ratio was within `tolerance` of 1: no change.
    Tolerance,
    /// The stabilization window held a lower (scale-up) or higher
    /// (scale-down) recommendation.
    Stabilization,
    /// A `Pods`/`Percent` policy capped the change in its period.
    Policy,
    /// `select_policy: Disabled` for that direction.
    Disabled,
    MinReplicas,
    MaxReplicas,
    /// No query value: held (or fallback).
    MissingData,
    /// A deploy freeze held a scale-down.
    Freeze,
    /// An alert step came within the cooldown of the last change.
    Cooldown,
    /// The target has 0 replicas: autoscaling is off until someone scales it up.
    TargetAtZero,
}

/// The alert that triggered an alert step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScaleCause {
    /// Envelope id of the `AlertFiring` event.
    pub alert_event_id: Uuid,
    pub fingerprint: String,
    pub alertname: String,
}

/// A scaler decided a new replica count. Written by the evaluator before
/// anything is applied; `request_id` is the idempotency key: the actuator
/// applies a request id at most once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScaleRequested {
    pub scaler: String,
    /// Derived from (scaler, tick, trigger): a re-evaluated tick asks again
    /// with the same id.
    pub request_id: Uuid,
    pub trigger: ScaleTrigger,
    /// The replicas the scaler believed the target had; the actuator does
    /// not apply a request whose `from_replicas` the target no longer has.
    pub from_replicas: u32,
    pub to_replicas: u32,
    /// The query result; absent when the query returned nothing or NaN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query_value: Option<f64>,
    /// ceil(query_value / target_per_replica), or what the alert step asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_desired: Option<u32>,
    /// After the stabilization window, before rate policies and bounds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stabilized: Option<u32>,
    #[serde(default)]
    pub limited_by: Vec<ScaleLimit>,
    /// Which policy limited it, e.g. `scale_up.policies[1] (Pods 4 per 15s)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limiting_policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<ScaleCause>,
    /// The evaluation tick (event time) this decision belongs to.
    pub tick_at: DateTime<Utc>,
}

/// What the actuator found and did for one `ScaleRequested`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScaleOutcome {
    /// The target now has `applied_replicas`.
    Applied,
    /// The target already had `to_replicas`; nothing was changed.
    Unchanged,
    /// Someone else changed the target (it had `observed_replicas`, not the
    /// request's `from_replicas`): nothing was changed, and the scaler
    /// works from the observed count.
    Drifted,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScaleApplied {
    pub scaler: String,
    pub request_id: Uuid,
    /// `kubernetes` or `webhook`.
    pub target: String,
    pub outcome: ScaleOutcome,
    /// The replicas the target had before (Scale `spec.replicas`; for a
    /// webhook, the request's `from_replicas`).
    pub observed_replicas: u32,
    /// The replicas the target has now (equal to observed unless applied).
    pub applied_replicas: u32,
    /// Running replicas the target reported (Scale `status.replicas`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_replicas: Option<u32>,
    /// The target's answer in short, e.g. `HTTP 200` or
    /// `resourceVersion 4711`.
    pub answer: String,
    pub attempts: u32,
}
