//! Scalers: the Kubernetes HPA algorithm and `behavior` over a PromQL
//! query, alert-triggered steps, and the scaler's own health conditions.
//! Everything here is pure: a tick's decision depends only on the config,
//! the state folded from the scaler's events, and the tick's input.
//!
//! Use: `Scaler::new(config)`; per tick `scaler.step(&state, &input)`
//! returns the next state and a `ScaleDecision` whose `request` (when
//! replicas change) is the `ScaleRequested` to append. After a restart,
//! fold the scaler's `ScaleRequested`/`ScaleApplied`/`ActionFailed` events
//! with `ScalerState::apply_event`, or restore a serialized `ScalerState`.

mod alert_step;
pub mod config;
mod health;
pub mod hpa;
mod ids;
pub mod runtime;
mod state;

#[cfg(test)]
mod hpa_tests;
#[cfg(test)]
mod state_tests;

pub use alert_step::{AlertAction, AlertStepInput};
pub use config::{Behavior, ScalerConfig, ScalerConfigProblem};
pub use health::{HealthCondition, ScalerHealth};
pub use ids::{request_id, request_tick_ms};
pub use runtime::{scaler_key, AlertScaleRouter, AlertScaleStep, ScalerRuntime};
pub use state::{ScaleDecision, Scaler, ScalerInput, ScalerState};
