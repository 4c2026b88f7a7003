//! Webhook notifications by aggregation group. Alert events from every
//! partition of `closeloop.alerts` are merged in event time into the
//! groups of `crate::grouping`; their timers run no further than the
//! evaluators' watermark (the lowest `watermark_ms` of the evaluator shard
//! checkpoints), before which every alert decision is already in the log.
//! Each flush goes through the mute stages (silences, then inhibition, at
//! the flush's time) and the dedup stage, then to each webhook of the
//! group's receiver. Issues stay per alert (`dispatch.rs`).
//!
//! One actuator does this: the owner of the alerts topic's partition 0.
//! It writes no state of its own: when it takes over (or starts) it reads
//! the alerts topic from the beginning and recomputes every flush. A
//! flush's request id comes from its group key and time, so the flushes an
//! earlier run already sent (an outcome in `closeloop.outcomes`) are not
//! sent again, and the same log always gives the same notifications.

use crate::dispatch::{Attempted, RequestContext};
use crate::error::ActuatorError;
use crate::grouping::dedup::{needs_update, Notified, NotifyLog, Sets};
use crate::grouping::{Due, Flush, GroupedAlert, Groups};
use crate::metrics;
use crate::plan::{Receiver, WebhookIntegration};
use crate::routing::route;
use crate::runner::{Actuator, Progress, Stop};
use crate::state::{flush_cause_id, request_id};
use crate::webhook::post_webhook;
use crate::webhook_payload::{webhook_payload, GroupMessage};
use chrono::{DateTime, Utc};
use closeloop_core::events::{AlertEvent, WebhookDelivered, WebhookRequested};
use closeloop_core::topics::{evaluator_shards_topic, Topic, EVALUATOR_CHECKPOINT_GROUP};
use closeloop_core::{Event, EventPayload};
use closeloop_log::{EventLog, LogError, Offset};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{debug, info, warn};

/// How often the evaluators' checkpoints are read for the watermark: one
/// committed-position request per shard each time.
const WATERMARK_EVERY: Duration = Duration::from_millis(250);

/// The groups and what each webhook was last sent, rebuilt from the
/// alerts topic whenever this actuator becomes the one that notifies.
#[derive(Debug, Default)]
pub(crate) struct GroupNotifier {
    groups: Groups,
    notified: NotifyLog,
    /// Next offset per alerts partition.
    next: Vec<Offset>,
    /// Alert changes read but past the watermark, in event-time order
    /// (ties by partition and offset, so every run merges alike).
    pending: BTreeMap<(DateTime<Utc>, u32, Offset), (AlertEvent, bool)>,
    watermark: Option<DateTime<Utc>>,
    watermark_read: Option<Instant>,
}

/// The part of an evaluator shard checkpoint the clock needs.
#[derive(Deserialize)]
struct ShardWatermark {
    watermark_ms: i64,
}

/// The lowest watermark of the evaluator shards that have a checkpoint;
/// `None` before any evaluator has committed one.
async fn evaluators_watermark(
    log: &dyn EventLog,
    prefix: &str,
) -> Result<Option<DateTime<Utc>>, LogError> {
    let topic = evaluator_shards_topic(prefix);
    let mut lowest: Option<i64> = None;
    for shard in 0..log.partitions(&topic).await? {
        let committed = log
            .committed(EVALUATOR_CHECKPOINT_GROUP, &topic, shard)
            .await?;
        if let Some(w) =
            committed.and_then(|c| serde_json::from_str::<ShardWatermark>(&c.metadata).ok())
        {
            lowest = Some(lowest.map_or(w.watermark_ms, |l| l.min(w.watermark_ms)));
        }
    }
    Ok(lowest.and_then(DateTime::from_timestamp_millis))
}

impl GroupNotifier {
    pub fn group_count(&self) -> usize {
        self.groups.len()
    }

    async fn read(&mut self, log: &dyn EventLog, prefix: &str) -> Result<(), LogError> {
        if self
            .watermark_read
            .is_none_or(|at| at.elapsed() >= WATERMARK_EVERY)
        {
            // Read before the alerts: every decision up to it is then
            // already readable below.
            self.watermark = evaluators_watermark(log, prefix).await?;
            self.watermark_read = Some(Instant::now());
        }
        let topic = Topic::Alerts.name(prefix);
        let pending = &mut self.pending;
        closeloop_log::follow::read_new(log, &topic, &mut self.next, |record| {
            let Ok(event) = Event::from_json(&record.value) else {
                return;
            };
            let change = match event.payload {
                EventPayload::AlertFiring(alert) => (alert, false),
                // Alertmanager never hears of alerts that did not fire.
                EventPayload::AlertResolved(alert) if alert.fired_at.is_some() => (alert, true),
                _ => return,
            };
            pending.insert(
                (event.envelope.occurred_at, record.partition, record.offset),
                change,
            );
        })
        .await
    }
}

impl Actuator {
    /// Reads what is new and runs every group timer up to the watermark.
    /// `Interrupted` when shutdown stopped a delivery; the next start
    /// recomputes from the log.
    pub(crate) async fn notify_groups(
        &mut self,
        stop: &mut Stop,
    ) -> Result<Progress, ActuatorError> {
        let Some(mut notifier) = self.notifier.take() else {
            return Ok(Progress::Done);
        };
        let progress = self.advance_groups(&mut notifier, stop).await;
        metrics::ALERT_GROUPS.set(notifier.group_count() as i64);
        if matches!(progress, Ok(Progress::Done)) {
            self.notifier = Some(notifier);
        } else {
            // Half-applied flushes: start over from the log.
            self.notifier = Some(GroupNotifier::default());
        }
        progress
    }

    async fn advance_groups(
        &mut self,
        n: &mut GroupNotifier,
        stop: &mut Stop,
    ) -> Result<Progress, ActuatorError> {
        n.read(&*self.log, &self.topics.prefix).await?;
        let Some(watermark) = n.watermark else {
            return Ok(Progress::Done);
        };
        if n.pending.is_empty() && n.groups.next_due().is_none_or(|due| due > watermark) {
            return Ok(Progress::Done);
        }
        // The mute stages' views, once per pass rather than per flush: a
        // takeover recomputes thousands of flushes in one pass.
        self.silences
            .catch_up(&*self.log, &self.topics.prefix)
            .await?;
        if !self.plan.inhibit_rules.is_empty() {
            self.inhibitions
                .catch_up(&*self.log, &self.topics.prefix)
                .await?;
        }
        while let Some(entry) = n.pending.first_entry() {
            let at = entry.key().0;
            if at > watermark {
                break;
            }
            let (alert, resolved) = entry.remove();
            while let Some(flush) = n.groups.take_due(Due::Before(at)) {
                if self.send_flush(n, &flush, stop).await? == Progress::Interrupted {
                    return Ok(Progress::Interrupted);
                }
            }
            self.insert_alert(n, &alert, resolved, at);
        }
        while let Some(flush) = n.groups.take_due(Due::UpTo(watermark)) {
            if self.send_flush(n, &flush, stop).await? == Progress::Interrupted {
                return Ok(Progress::Interrupted);
            }
        }
        Ok(Progress::Done)
    }

    /// Into the group of every route that takes the alert and whose
    /// receiver has webhooks; two routes to one receiver (`continue`) are
    /// two groups, as in Alertmanager.
    fn insert_alert(
        &self,
        n: &mut GroupNotifier,
        alert: &AlertEvent,
        resolved: bool,
        at: DateTime<Utc>,
    ) {
        let walk = self.plan.tree.walk();
        for matched in route(&self.plan.tree, &alert.labels) {
            let has_webhooks = self
                .plan
                .receivers
                .get(&matched.receiver)
                .is_some_and(|r| !r.webhooks.is_empty());
            if !has_webhooks {
                continue;
            }
            let Some(index) = walk.iter().position(|r| std::ptr::eq(*r, matched)) else {
                continue;
            };
            let grouped = GroupedAlert::from_event(alert, resolved, at);
            n.groups.insert(index, matched, grouped, at);
        }
    }

    /// The mute stages, then per webhook the dedup stage and the call.
    async fn send_flush(
        &mut self,
        n: &mut GroupNotifier,
        flush: &Flush,
        stop: &mut Stop,
    ) -> Result<Progress, ActuatorError> {
        let plan = Arc::clone(&self.plan);
        let unmuted = self.unmuted(flush);
        if let (Some(receiver), false) = (plan.receivers.get(&flush.receiver), unmuted.is_empty()) {
            let sets = Sets {
                firing: unmuted
                    .iter()
                    .filter(|a| a.ends_at.is_none())
                    .map(|a| a.fingerprint.clone())
                    .collect(),
                resolved: unmuted
                    .iter()
                    .filter(|a| a.ends_at.is_some())
                    .map(|a| a.fingerprint.clone())
                    .collect(),
            };
            for webhook in &receiver.webhooks {
                let last = n.notified.last(&receiver.name, &webhook.name, &flush.key);
                let send_resolved = webhook.config.send_resolved;
                if !needs_update(last, &sets, send_resolved, flush.repeat, flush.at) {
                    continue;
                }
                let sent: Vec<GroupedAlert> = unmuted
                    .iter()
                    .filter(|a| send_resolved || a.ends_at.is_none())
                    .cloned()
                    .collect();
                // Without send_resolved, an all-resolved group is only
                // logged, so the next firing counts as news.
                if !sent.is_empty()
                    && self.deliver(flush, receiver, webhook, &sent, stop).await?
                        == Progress::Interrupted
                {
                    return Ok(Progress::Interrupted);
                }
                let entry = Notified {
                    firing: sets.firing.clone(),
                    resolved: sets.resolved.clone(),
                    at: flush.at,
                };
                n.notified
                    .record(&receiver.name, &webhook.name, &flush.key, entry);
            }
        }
        n.groups.flushed(flush);
        if !n.groups.contains(&flush.id) {
            n.notified.forget_group(&flush.key);
        }
        Ok(Progress::Done)
    }

    /// The flush's alerts no time interval, silence or inhibition mutes at
    /// its time (Alertmanager's mute stages; a time interval mutes them
    /// all). The views were caught up in `advance_groups`.
    fn unmuted(&self, flush: &Flush) -> Vec<GroupedAlert> {
        let intervals = &self.plan.time_intervals;
        let muted_by_time = intervals.any_contains(&flush.mute_time_intervals, flush.at)
            || (!flush.active_time_intervals.is_empty()
                && !intervals.any_contains(&flush.active_time_intervals, flush.at));
        if muted_by_time {
            debug!(group = %flush.key, at = %flush.at, "group muted by a time interval");
            return Vec::new();
        }
        let inhibiting = !self.plan.inhibit_rules.is_empty();
        let silences = self.silences.silences();
        let history = self.inhibitions.history();
        flush
            .alerts
            .iter()
            .filter(|a| silences.silencing(&a.labels, flush.at).is_empty())
            .filter(|a| {
                !inhibiting
                    || history
                        .inhibited_by(
                            &self.plan.inhibit_rules,
                            &a.fingerprint,
                            &a.labels,
                            flush.at,
                        )
                        .is_empty()
            })
            .cloned()
            .collect()
    }

    /// One webhook call for a flush, recorded as a request and an outcome
    /// under an id the same flush always gets.
    async fn deliver(
        &mut self,
        flush: &Flush,
        receiver: &Receiver,
        webhook: &WebhookIntegration,
        alerts: &[GroupedAlert],
        stop: &mut Stop,
    ) -> Result<Progress, ActuatorError> {
        let cause = flush_cause_id(&flush.key, flush.at);
        let id = request_id(cause, &receiver.name, &webhook.name);
        if self.state.is_finished(id) {
            debug!(receiver = %receiver.name, integration = %webhook.name, group = %flush.key, request_id = %id, "group notification already has an outcome");
            return Ok(Progress::Done);
        }
        let plan = Arc::clone(&self.plan);
        let body = webhook_payload(&GroupMessage {
            receiver: &receiver.name,
            group_key: &flush.key,
            group_labels: &flush.labels,
            alerts,
            max_alerts: webhook.config.max_alerts as usize,
            external_url: &plan.external_url,
        });
        let request = WebhookRequested {
            receiver: receiver.name.clone(),
            integration: webhook.name.clone(),
            url: crate::dispatch::redact_url(&webhook.config.url),
            cause_event_id: cause,
            payload: body.clone(),
        };
        self.append_request(
            id,
            &flush.key,
            EventPayload::WebhookRequested(request),
            flush.at,
        )
        .await?;
        let ctx = RequestContext {
            request_id: id,
            key: &flush.key,
            receiver: &receiver.name,
            integration: &webhook.name,
            kind: "webhook",
        };
        let url = webhook.config.url.as_str();
        let attempted = self
            .with_retries(&ctx, stop, || {
                post_webhook(&plan.http, url, &body, plan.timeout)
            })
            .await?;
        let (status, attempts) = match attempted {
            Attempted::Succeeded(done) => done,
            Attempted::GaveUp => {
                warn!(receiver = %receiver.name, integration = %webhook.name, group = %flush.key, "group notification given up");
                return Ok(Progress::Done);
            }
            Attempted::Interrupted => return Ok(Progress::Interrupted),
        };
        info!(receiver = %receiver.name, integration = %webhook.name, group = %flush.key, alerts = alerts.len(), status, attempts, "webhook delivered");
        let delivered = WebhookDelivered {
            request_id: id,
            receiver: receiver.name.clone(),
            integration: webhook.name.clone(),
            url: crate::dispatch::redact_url(url),
            status,
            attempts,
        };
        self.append_outcomes(&flush.key, vec![EventPayload::WebhookDelivered(delivered)])
            .await?;
        Ok(Progress::Done)
    }
}
