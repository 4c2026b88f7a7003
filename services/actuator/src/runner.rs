//! The actuator's loop: rebuild state from `closeloop.outcomes`, then read
//! `closeloop.alerts` as consumer group `actuator`, act on each record and
//! commit its offset only once every effect of the record has its outcome
//! in the log. A crash therefore redelivers the record, and the outcomes
//! already written keep it from acting twice.

use crate::config::ActuatorConfig;
use crate::error::ActuatorError;
use crate::metrics;
use crate::plan::Plan;
use crate::state::ActuatorState;
use chrono::{DateTime, Utc};
use closeloop_core::topics::Topic;
use closeloop_core::{Event, EventPayload};
use closeloop_log::{CommittedPosition, EventLog, LogError, NewRecord};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tracing::{info, warn};

/// The consumer group whose committed offsets say what has been acted on.
pub const CONSUMER_GROUP: &str = "actuator";

const READ_BATCH: usize = 100;
const REBUILD_BATCH: usize = 1000;
/// How long to wait for new alerts when every partition is drained.
const IDLE_POLL: Duration = Duration::from_millis(100);
/// Appends the log calls "unavailable" are retried this often, doubling
/// from 200 ms, before the actuator gives up and ends.
const LOG_APPEND_TRIES: u32 = 6;

/// Runs the actuator until `shutdown` completes or the log fails. The
/// config must be validated with its secrets loaded
/// ([`ActuatorConfig::load_secrets`]). On shutdown the record in hand is
/// finished unless it is waiting to retry, in which case it is left
/// uncommitted and redelivered on the next start.
pub async fn run(
    log: Arc<dyn EventLog>,
    topic_prefix: &str,
    config: ActuatorConfig,
    http: reqwest::Client,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ActuatorError> {
    config.validate()?;
    let plan = Plan::new(&config, http)?;
    metrics::register();
    let mut actuator = Actuator {
        log,
        topics: Topics::new(topic_prefix),
        plan: Arc::new(plan),
        state: ActuatorState::default(),
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let work = actuator.consume(Stop(stop_rx));
    tokio::pin!(work);
    tokio::pin!(shutdown);
    let mut stopping = false;
    loop {
        tokio::select! {
            result = &mut work => return result,
            () = &mut shutdown, if !stopping => {
                info!("actuator stopping");
                stopping = true;
                // The receiver lives in `work`, which is still running.
                let _ = stop_tx.send(true);
            }
        }
    }
}

pub(crate) struct Topics {
    pub alerts: String,
    pub actions: String,
    pub outcomes: String,
}

impl Topics {
    fn new(prefix: &str) -> Topics {
        Topics {
            alerts: Topic::Alerts.name(prefix),
            actions: Topic::Actions.name(prefix),
            outcomes: Topic::Outcomes.name(prefix),
        }
    }
}

pub(crate) struct Actuator {
    pub log: Arc<dyn EventLog>,
    pub topics: Topics,
    pub plan: Arc<Plan>,
    pub state: ActuatorState,
}

/// Whether a record was fully handled or left for redelivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Progress {
    Done,
    Interrupted,
}

/// The shutdown signal as seen from inside the loop.
pub(crate) struct Stop(watch::Receiver<bool>);

impl Stop {
    pub fn requested(&self) -> bool {
        *self.0.borrow()
    }

    /// Sleeps for `delay`; false when shutdown came first.
    pub async fn sleep(&mut self, delay: Duration) -> bool {
        if self.requested() {
            return false;
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => true,
            _ = self.0.wait_for(|stop| *stop) => false,
        }
    }
}

impl Actuator {
    async fn consume(&mut self, mut stop: Stop) -> Result<(), ActuatorError> {
        self.rebuild().await?;
        let topic = self.topics.alerts.clone();
        let partitions = self.log.partitions(&topic).await?;
        let mut next = Vec::new();
        for partition in 0..partitions {
            let committed = self
                .log
                .committed(CONSUMER_GROUP, &topic, partition)
                .await?;
            next.push(committed.map_or(0, |c| c.next_offset));
        }
        info!(topic = %topic, partitions, issues = self.state.issue_count(), "actuator consuming alerts");
        loop {
            let mut idle = true;
            for partition in 0..partitions {
                if stop.requested() {
                    return Ok(());
                }
                let slot = partition as usize;
                let records = self
                    .log
                    .read(&topic, partition, next[slot], READ_BATCH, Duration::ZERO)
                    .await?;
                idle &= records.is_empty();
                let before = next[slot];
                for record in &records {
                    match self.handle_record(record, &mut stop).await? {
                        Progress::Done => next[slot] = record.offset + 1,
                        Progress::Interrupted => break,
                    }
                }
                if next[slot] != before {
                    let position = CommittedPosition {
                        next_offset: next[slot],
                        metadata: String::new(),
                    };
                    self.log
                        .commit(CONSUMER_GROUP, &topic, partition, position)
                        .await?;
                }
            }
            if idle && !stop.sleep(IDLE_POLL).await {
                return Ok(());
            }
        }
    }

    /// Replays the whole outcomes topic into `self.state`.
    async fn rebuild(&mut self) -> Result<(), ActuatorError> {
        let topic = self.topics.outcomes.clone();
        let partitions = self.log.partitions(&topic).await?;
        let mut replayed = 0usize;
        for partition in 0..partitions {
            let end = self.log.end_offset(&topic, partition).await?;
            let mut from = 0;
            while from < end {
                let records = self
                    .log
                    .read(&topic, partition, from, REBUILD_BATCH, Duration::ZERO)
                    .await?;
                let Some(last) = records.last() else { break };
                from = last.offset + 1;
                replayed += records.len();
                for record in &records {
                    match Event::from_json(&record.value) {
                        Ok(event) => self.state.apply(&event.payload),
                        Err(e) => {
                            warn!(topic = %topic, partition, offset = record.offset, error = %e, "skipping undecodable outcome")
                        }
                    }
                }
            }
        }
        info!(topic = %topic, records = replayed, issues = self.state.issue_count(), "actuator state rebuilt");
        Ok(())
    }

    /// Writes a request to `closeloop.actions` under its derived id.
    pub async fn append_request(
        &self,
        request_id: uuid::Uuid,
        key: &str,
        payload: EventPayload,
        occurred_at: DateTime<Utc>,
    ) -> Result<(), ActuatorError> {
        let mut event = Event::new(
            payload,
            "actuator",
            key.to_string(),
            occurred_at,
            Utc::now(),
        );
        event.envelope.id = request_id;
        let topic = self.topics.actions.clone();
        self.append(&topic, vec![event]).await
    }

    /// Writes outcomes, in order, and folds them into the state once the
    /// log has them.
    pub async fn append_outcomes(
        &mut self,
        key: &str,
        payloads: Vec<EventPayload>,
    ) -> Result<(), ActuatorError> {
        if payloads.is_empty() {
            return Ok(());
        }
        let now = Utc::now();
        let events: Vec<Event> = payloads
            .into_iter()
            .map(|p| Event::new(p, "actuator", key.to_string(), now, now))
            .collect();
        let topic = self.topics.outcomes.clone();
        self.append(&topic, events.clone()).await?;
        for event in &events {
            self.state.apply(&event.payload);
        }
        Ok(())
    }

    async fn append(&self, topic: &str, events: Vec<Event>) -> Result<(), ActuatorError> {
        let records: Vec<NewRecord> = events
            .iter()
            .map(|e| NewRecord {
                key: e.envelope.key.clone().into_bytes().into(),
                value: e.to_json().into(),
                timestamp_ms: e.envelope.occurred_at.timestamp_millis(),
            })
            .collect();
        let mut delay = Duration::from_millis(200);
        for attempt in 1..=LOG_APPEND_TRIES {
            match self.log.append(topic, records.clone()).await {
                Ok(_) => return Ok(()),
                Err(LogError::Unavailable(reason)) if attempt < LOG_APPEND_TRIES => {
                    warn!(topic = %topic, attempt, reason = %reason, "event log unavailable, retrying append");
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(LogError::Unavailable(format!("append to {topic} kept failing")).into())
    }
}
