//! One `ScaleRequested` from `closeloop.actions` through its scaler's
//! target, with retries, to a `ScaleApplied` or a given-up `ActionFailed`
//! in `closeloop.outcomes`. The request id is the idempotency key: a
//! request that already has a final outcome (rebuilt from the outcomes
//! topic) is skipped, so a redelivered or re-evaluated request is applied
//! at most once.
//!
//! The actuator does not decide replicas. Metric decisions and alert
//! steps (`scale_configs` on receivers) are both made by the evaluator
//! that owns the scaler, which has the scaler's history; the actuator
//! applies what it is asked, except an alert step whose alert a silence
//! matched at the step's tick: that one ends in an `ActionFailed` saying
//! so, which the evaluator folds as a step not taken.

use crate::dispatch::{Attempted, RequestContext};
use crate::error::ActuatorError;
use crate::metrics;
use crate::runner::{Actuator, Progress, Stop};
use closeloop_core::events::{ActionFailed, ScaleOutcome, ScaleRequested, ScaleTrigger};
use closeloop_core::EventPayload;
use std::sync::Arc;
use tracing::{info, warn};

impl Actuator {
    pub(crate) async fn apply_scale(
        &mut self,
        request: &ScaleRequested,
        stop: &mut Stop,
    ) -> Result<Progress, ActuatorError> {
        if self.state.is_finished(request.request_id) {
            info!(scaler = %request.scaler, request_id = %request.request_id, "scale request already carried out");
            return Ok(Progress::Done);
        }
        if let Some(silences) = self.silencing_step(request).await? {
            info!(scaler = %request.scaler, request_id = %request.request_id, silences = ?silences, "alert step silenced; not applied");
            metrics::SILENCED.inc();
            let failed = ActionFailed {
                request_id: request.request_id,
                receiver: request.scaler.clone(),
                integration: "none".into(),
                attempt: 1,
                error: format!("silenced by {}", silences.join(", ")),
                retryable: false,
                gave_up: true,
                next_attempt_at: None,
            };
            self.append_outcomes(&request.scaler, vec![EventPayload::ActionFailed(failed)])
                .await?;
            return Ok(Progress::Done);
        }
        let plan = Arc::clone(&self.plan);
        let Some(target) = plan.scale_targets.get(&request.scaler) else {
            // A scaler removed from the config: say so once, in the log.
            warn!(scaler = %request.scaler, "scale request for an unknown scaler");
            let failed = ActionFailed {
                request_id: request.request_id,
                receiver: request.scaler.clone(),
                integration: "none".into(),
                attempt: 1,
                error: format!("no scaler named {:?} in the config", request.scaler),
                retryable: false,
                gave_up: true,
                next_attempt_at: None,
            };
            metrics::SCALE_ACTIONS
                .with_label_values(&[&request.scaler, "failed"])
                .inc();
            self.append_outcomes(&request.scaler, vec![EventPayload::ActionFailed(failed)])
                .await?;
            return Ok(Progress::Done);
        };
        let ctx = RequestContext {
            request_id: request.request_id,
            key: &request.scaler,
            receiver: &request.scaler,
            integration: target.kind(),
            kind: target.kind(),
        };
        let target = Arc::clone(target);
        let attempted = self
            .with_retries(&ctx, stop, || {
                let target = Arc::clone(&target);
                async move { target.scale(request).await }
            })
            .await?;
        match attempted {
            Attempted::Succeeded((result, attempts)) => {
                let applied = result.applied_event(request, target.kind(), attempts);
                let label = match applied.outcome {
                    ScaleOutcome::Applied => "applied",
                    ScaleOutcome::Unchanged => "unchanged",
                    ScaleOutcome::Drifted => "drifted",
                };
                metrics::SCALE_ACTIONS
                    .with_label_values(&[&request.scaler, label])
                    .inc();
                info!(scaler = %request.scaler, from = request.from_replicas, to = request.to_replicas, outcome = label, observed = applied.observed_replicas, "scale request carried out");
                self.append_outcomes(&request.scaler, vec![EventPayload::ScaleApplied(applied)])
                    .await?;
                Ok(Progress::Done)
            }
            Attempted::GaveUp => {
                metrics::SCALE_ACTIONS
                    .with_label_values(&[&request.scaler, "failed"])
                    .inc();
                Ok(Progress::Done)
            }
            Attempted::Interrupted => Ok(Progress::Interrupted),
        }
    }

    /// The silences that match an alert step's alert at the step's tick;
    /// `None` for metric decisions and unsilenced alerts.
    async fn silencing_step(
        &mut self,
        request: &ScaleRequested,
    ) -> Result<Option<Vec<String>>, ActuatorError> {
        let Some(cause) = request
            .cause
            .as_ref()
            .filter(|_| request.trigger == ScaleTrigger::Alert)
        else {
            return Ok(None);
        };
        self.silences
            .catch_up(&*self.log, &self.topics.prefix)
            .await?;
        // The alert's labels: the firing history keeps them by fingerprint.
        self.inhibitions
            .catch_up(&*self.log, &self.topics.prefix)
            .await?;
        let Some(labels) = self.inhibitions.history().labels(&cause.fingerprint) else {
            return Ok(None);
        };
        let silences = self.silences.silences().silencing(labels, request.tick_at);
        Ok((!silences.is_empty()).then_some(silences))
    }
}
