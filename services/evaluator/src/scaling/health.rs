//! The scaler's own trouble as conditions with since-times (issue item 6):
//! pinned at `max_replicas`, flapping, missing data. The integration turns
//! a condition that starts or stops `firing` into an alert transition.

use super::config::HealthConfig;
use super::hpa::ReplicaChange;
use super::state::ScaleDecision;
use closeloop_core::events::ScaleLimit;
use serde::{Deserialize, Serialize};

/// One condition: true since `since_ms`; `firing` once it has lasted as
/// long as the config asks (at once for flapping). Unconfigured conditions
/// are tracked but never fire.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCondition {
    pub since_ms: Option<i64>,
    pub firing: bool,
}

impl HealthCondition {
    fn set(&mut self, holds: bool, now_ms: i64, fire_after_ms: Option<i64>) {
        if !holds {
            *self = HealthCondition::default();
            return;
        }
        let since = *self.since_ms.get_or_insert(now_ms);
        self.firing = fire_after_ms.is_some_and(|after| now_ms - since >= after);
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScalerHealth {
    /// The scaler is at `max_replicas` and wants at least that many.
    pub pinned_at_max: HealthCondition,
    /// More direction reversals than allowed within the window.
    pub flapping: HealthCondition,
    /// The query returned nothing (or NaN).
    pub missing_data: HealthCondition,
    /// Times of direction reversals still inside the flapping window.
    reversals_ms: Vec<i64>,
    /// +1 up, -1 down: the direction of the last change.
    last_direction: i8,
}

impl ScalerHealth {
    /// Counts a reversal when a change goes the other way than the last.
    pub(crate) fn note_change(&mut self, change: &ReplicaChange, window_ms: Option<i64>) {
        let direction: i8 = if change.to > change.from { 1 } else { -1 };
        if self.last_direction != 0 && direction != self.last_direction {
            self.reversals_ms.push(change.at_ms);
        }
        self.last_direction = direction;
        if let Some(window) = window_ms {
            self.reversals_ms.retain(|t| *t > change.at_ms - window);
        }
    }

    pub(crate) fn update(
        &mut self,
        config: &HealthConfig,
        max: u32,
        d: &ScaleDecision,
        now_ms: i64,
    ) {
        let ms = |d: std::time::Duration| d.as_millis() as i64;
        let missing = d.limited_by.contains(&ScaleLimit::MissingData);
        self.missing_data
            .set(missing, now_ms, config.missing_data_for.map(ms));
        let wants_max = d
            .raw_desired
            .map_or(missing && d.to_replicas >= max, |raw| raw >= max);
        self.pinned_at_max.set(
            d.to_replicas >= max && wants_max,
            now_ms,
            config.pinned_at_max_for.map(ms),
        );
        let flapping = config.flapping.as_ref().is_some_and(|f| {
            self.reversals_ms.retain(|t| *t > now_ms - ms(f.within));
            self.reversals_ms.len() > f.direction_changes as usize
        });
        self.flapping.set(flapping, now_ms, Some(0));
    }
}
