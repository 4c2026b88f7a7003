//! One alert record through routing to the issue trackers, with requests,
//! retries and outcomes (webhooks go by group: `notify_groups.rs`). Every
//! effect is keyed by a request id derived from the alert event, so a
//! redelivered record skips what already has an outcome.

use crate::error::{ActuatorError, DeliveryError};
use crate::issues::carry_out::{
    carry_out, outcome_events, update_kinds, IssueOutcome, IssueRequest, OutcomeContext,
};
use crate::issues::decide::wants_request;
use crate::metrics;
use crate::plan::{Receiver, TrackerIntegration};
use crate::routing::route;
use crate::runner::{Actuator, Progress, Stop};
use crate::state::{request_id, IssueKey};
use chrono::Utc;
use closeloop_core::events::{ActionFailed, AlertEvent, IssueAction, IssueRequested};
use closeloop_core::{Event, EventPayload};
use closeloop_log::StoredRecord;
use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Instant;
use tracing::{debug, info, warn};
use uuid::Uuid;

/// Who a request is for, for failure events, logs and metrics.
pub(crate) struct RequestContext<'a> {
    pub request_id: Uuid,
    pub key: &'a str,
    pub receiver: &'a str,
    pub integration: &'a str,
    /// Metric label: `webhook`, `redmine`.
    pub kind: &'static str,
}

pub(crate) enum Attempted<T> {
    Succeeded(T),
    GaveUp,
    Interrupted,
}

impl Actuator {
    pub(crate) async fn handle_record(
        &mut self,
        record: &StoredRecord,
        stop: &mut Stop,
    ) -> Result<Progress, ActuatorError> {
        let event = match Event::from_json(&record.value) {
            Ok(event) => event,
            Err(e) => {
                // A record nobody can read must not block the partition.
                warn!(topic = %record.topic, partition = record.partition, offset = record.offset, error = %e, "skipping undecodable alert record");
                return Ok(Progress::Done);
            }
        };
        let (alert, action) = match &event.payload {
            EventPayload::ScaleRequested(request) => {
                return self.apply_scale(request, stop).await;
            }
            EventPayload::AlertFiring(alert) => (alert, IssueAction::Open),
            // Pending alerts and ones that resolved before firing notify nobody.
            EventPayload::AlertResolved(alert) if alert.fired_at.is_some() => {
                (alert, IssueAction::Resolve)
            }
            _ => return Ok(Progress::Done),
        };
        // A silence active at the alert event's time holds back every
        // notification, issue change and comment for it, as in
        // Alertmanager; deciding at event time keeps replay the same.
        self.silences
            .catch_up(&*self.log, &self.topics.prefix)
            .await?;
        let silenced_by = self
            .silences
            .silences()
            .silencing(&alert.labels, event.envelope.occurred_at);
        if !silenced_by.is_empty() {
            info!(fingerprint = %alert.fingerprint, alertname = %alert.alertname, silences = ?silenced_by, "alert silenced; nothing sent");
            metrics::SILENCED.inc();
            return Ok(Progress::Done);
        }
        if action == IssueAction::Open && !self.plan.inhibit_rules.is_empty() {
            self.inhibitions
                .catch_up(&*self.log, &self.topics.prefix)
                .await?;
            let inhibited_by = self.inhibitions.history().inhibited_by(
                &self.plan.inhibit_rules,
                &alert.fingerprint,
                &alert.labels,
                event.envelope.occurred_at,
            );
            if !inhibited_by.is_empty() {
                info!(fingerprint = %alert.fingerprint, alertname = %alert.alertname, inhibited_by = ?inhibited_by, "alert inhibited; nothing sent");
                metrics::INHIBITED.inc();
                return Ok(Progress::Done);
            }
        }
        let plan = Arc::clone(&self.plan);
        let mut seen = HashSet::new();
        for route in route(&plan.tree, &alert.labels) {
            if !seen.insert(route.receiver.as_str()) {
                continue;
            }
            let Some(receiver) = plan.receivers.get(&route.receiver) else {
                // validate() rules this out; a stale config must not panic.
                warn!(receiver = %route.receiver, "route names an unknown receiver");
                continue;
            };
            for tracker in &receiver.trackers {
                if self
                    .update_issue(&event, alert, action, receiver, tracker, stop)
                    .await?
                    == Progress::Interrupted
                {
                    return Ok(Progress::Interrupted);
                }
            }
        }
        Ok(Progress::Done)
    }

    async fn update_issue(
        &mut self,
        event: &Event,
        alert: &AlertEvent,
        action: IssueAction,
        receiver: &Receiver,
        integration: &TrackerIntegration,
        stop: &mut Stop,
    ) -> Result<Progress, ActuatorError> {
        let key = IssueKey {
            receiver: receiver.name.clone(),
            integration: integration.name.clone(),
            fingerprint: alert.fingerprint.clone(),
        };
        let known = self.state.issue(&key).cloned();
        if !wants_request(known.as_ref(), action, integration.policy.on_resolved) {
            return Ok(Progress::Done);
        }
        let id = request_id(event.envelope.id, &receiver.name, &integration.name);
        if self.state.is_finished(id) {
            debug!(receiver = %receiver.name, integration = %integration.name, request_id = %id, "issue request already has an outcome");
            return Ok(Progress::Done);
        }
        let request = IssueRequested {
            receiver: receiver.name.clone(),
            integration: integration.name.clone(),
            action,
            cause_event_id: event.envelope.id,
            alert: alert.clone(),
        };
        self.append_request(
            id,
            &alert.fingerprint,
            EventPayload::IssueRequested(request),
            event.envelope.occurred_at,
        )
        .await?;
        let tracker = Arc::clone(&integration.tracker);
        let kind = tracker.kind();
        let ctx = RequestContext {
            request_id: id,
            key: &alert.fingerprint,
            receiver: &receiver.name,
            integration: &integration.name,
            kind,
        };
        let issue_request = IssueRequest {
            receiver: &receiver.name,
            alert,
            action,
            policy: &integration.policy,
            now: Utc::now(),
        };
        let attempted = self
            .with_retries(&ctx, stop, || {
                carry_out(tracker.as_ref(), known.as_ref(), &issue_request)
            })
            .await?;
        let outcome = match attempted {
            Attempted::Succeeded((outcome, _attempts)) => outcome,
            Attempted::GaveUp => return Ok(Progress::Done),
            Attempted::Interrupted => return Ok(Progress::Interrupted),
        };
        match &outcome {
            IssueOutcome::Filed(issue) => {
                metrics::ISSUES_FILED.with_label_values(&[kind]).inc();
                info!(receiver = %receiver.name, tracker = kind, issue_id = %issue.id, fingerprint = %alert.fingerprint, "issue filed");
            }
            IssueOutcome::Counted {
                issue_id,
                occurrences,
            } => {
                info!(receiver = %receiver.name, tracker = kind, issue_id = %issue_id, occurrences, fingerprint = %alert.fingerprint, "issue closed as won't fix; recurrence counted, tracker left alone");
            }
            other => {
                debug!(receiver = %receiver.name, tracker = kind, outcome = ?other, "issue updated")
            }
        }
        for update in update_kinds(&outcome) {
            metrics::ISSUE_UPDATES
                .with_label_values(&[kind, update])
                .inc();
        }
        let ctx = OutcomeContext {
            request_id: id,
            fingerprint: &alert.fingerprint,
            receiver: &receiver.name,
            integration: &integration.name,
            tracker: kind,
            suspect_deploys: &alert.suspect_deploys,
        };
        self.append_outcomes(&alert.fingerprint, outcome_events(&ctx, &outcome))
            .await?;
        Ok(Progress::Done)
    }

    /// Runs `attempt` until it succeeds, fails for good or runs past the
    /// retry deadline; writes an `ActionFailed` for every failed attempt.
    pub(crate) async fn with_retries<T, F, Fut>(
        &mut self,
        ctx: &RequestContext<'_>,
        stop: &mut Stop,
        mut attempt: F,
    ) -> Result<Attempted<(T, u32)>, ActuatorError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, DeliveryError>>,
    {
        let started = Instant::now();
        let retry = self.plan.retry;
        let mut number = 0u32;
        loop {
            number += 1;
            let error = match attempt().await {
                Ok(value) => {
                    metrics::NOTIFICATIONS.with_label_values(&[ctx.kind]).inc();
                    metrics::DELIVERY_DURATION
                        .with_label_values(&[ctx.kind])
                        .observe(started.elapsed().as_secs_f64());
                    return Ok(Attempted::Succeeded((value, number)));
                }
                Err(error) => error,
            };
            metrics::NOTIFICATION_FAILURES
                .with_label_values(&[ctx.kind])
                .inc();
            let retryable = error.retryable();
            let delay = retryable
                .then(|| retry.next_delay(number, started.elapsed(), error.retry_after()))
                .flatten();
            let next_attempt_at = delay
                .and_then(|d| chrono::Duration::from_std(d).ok())
                .map(|d| Utc::now() + d);
            warn!(receiver = %ctx.receiver, integration = %ctx.integration, attempt = number, retryable, gave_up = delay.is_none(), error = %error, "action failed");
            let failed = ActionFailed {
                request_id: ctx.request_id,
                receiver: ctx.receiver.to_string(),
                integration: ctx.integration.to_string(),
                attempt: number,
                error: error.to_string(),
                retryable,
                gave_up: delay.is_none(),
                next_attempt_at,
            };
            self.append_outcomes(ctx.key, vec![EventPayload::ActionFailed(failed)])
                .await?;
            let Some(delay) = delay else {
                metrics::DELIVERY_DURATION
                    .with_label_values(&[ctx.kind])
                    .observe(started.elapsed().as_secs_f64());
                return Ok(Attempted::GaveUp);
            };
            if !stop.sleep(delay).await {
                return Ok(Attempted::Interrupted);
            }
        }
    }
}

/// Webhook URLs often carry tokens; events keep scheme, host and path only.
pub(crate) fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) => {
            let had_secrets = parsed.password().is_some() || parsed.query().is_some();
            let _ = parsed.set_password(None);
            parsed.set_query(None);
            let _ = parsed.set_username("");
            let text = String::from(parsed);
            if had_secrets {
                format!("{text}?<redacted>")
            } else {
                text
            }
        }
        Err(_) => "<unparseable url>".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn webhook_urls_lose_their_credentials_and_query_in_events() {
        assert_eq!(
            redact_url("http://127.0.0.1:5001/"),
            "http://127.0.0.1:5001/"
        );
        assert_eq!(
            redact_url("https://user:pw@hooks.example/x?token=s3cret"),
            "https://hooks.example/x?<redacted>"
        );
    }
}
