//! Shared by the actuator's integration tests: an embedded log in a temp
//! dir, alert events, the runner in the background, and waiting for
//! outcomes to appear.

#![allow(dead_code)]

use chrono::{DateTime, Utc};
use closeloop_actuator::{run, ActuatorConfig, ActuatorError, CONSUMER_GROUP};
use closeloop_core::events::AlertEvent;
use closeloop_core::topics::Topic;
use closeloop_core::{fingerprint, Event, EventPayload, LabelSet};
use closeloop_log::embedded::{EmbeddedLog, EmbeddedOptions};
use closeloop_log::{EventLog, NewRecord};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const PREFIX: &str = "closeloop";

pub struct TestLog {
    pub log: Arc<dyn EventLog>,
    _dir: tempfile::TempDir,
}

pub async fn open_log(partitions: u32) -> TestLog {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = EmbeddedOptions {
        default_partitions: partitions,
        fsync: false,
        ..EmbeddedOptions::default()
    };
    let log = EmbeddedLog::open(dir.path(), options)
        .await
        .expect("opening the embedded log");
    TestLog {
        log: Arc::new(log),
        _dir: dir,
    }
}

pub fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|e| panic!("bad test time {text}: {e}"))
}

pub fn labels(pairs: &[(&str, &str)]) -> LabelSet {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A firing alert with these labels; `fired_at` is also `active_at`.
pub fn alert(pairs: &[(&str, &str)], fired_at: &str) -> AlertEvent {
    let labels = labels(pairs);
    AlertEvent {
        fingerprint: fingerprint(&labels).to_string(),
        rule_group: "test".into(),
        alertname: labels.get("alertname").cloned().unwrap_or_default(),
        labels,
        annotations: LabelSet::new(),
        value: 1.0,
        active_at: at(fired_at),
        fired_at: Some(at(fired_at)),
        resolved_at: None,
        suspect_deploys: Vec::new(),
        generator_url: None,
    }
}

/// Appends one alert transition the way the evaluator would.
pub async fn append_alert(log: &Arc<dyn EventLog>, payload: EventPayload) -> Event {
    let (key, occurred_at) = match &payload {
        EventPayload::AlertPending(a) | EventPayload::AlertFiring(a) => {
            (a.fingerprint.clone(), a.active_at)
        }
        EventPayload::AlertResolved(a) => {
            (a.fingerprint.clone(), a.resolved_at.unwrap_or(a.active_at))
        }
        other => panic!("not an alert event: {other:?}"),
    };
    let event = Event::new(payload, "evaluator", key.clone(), occurred_at, Utc::now());
    let record = NewRecord {
        key: key.into_bytes().into(),
        value: event.to_json().into(),
        timestamp_ms: occurred_at.timestamp_millis(),
    };
    log.append(&Topic::Alerts.name(PREFIX), vec![record])
        .await
        .expect("appending an alert");
    event
}

/// Commits an evaluator shard checkpoint with this watermark, as an
/// evaluator does once its alert decisions up to it are in the log: the
/// clock the webhook groups run on.
pub async fn commit_watermark(log: &Arc<dyn EventLog>, watermark: &str) {
    commit_watermark_at(log.as_ref(), PREFIX, watermark).await;
}

/// [`commit_watermark`] under another topic prefix.
pub async fn commit_watermark_at(log: &dyn EventLog, prefix: &str, watermark: &str) {
    let topic = closeloop_core::topics::evaluator_shards_topic(prefix);
    let shards = log.partitions(&topic).await.expect("shards topic");
    let metadata = format!(r#"{{"watermark_ms":{}}}"#, at(watermark).timestamp_millis());
    for shard in 0..shards {
        let position = closeloop_log::CommittedPosition {
            next_offset: 0,
            metadata: metadata.clone(),
        };
        log.commit(
            closeloop_core::topics::EVALUATOR_CHECKPOINT_GROUP,
            &topic,
            shard,
            position,
        )
        .await
        .expect("committing a watermark");
    }
}

/// The actuator running in the background until `stop` is called.
pub struct Running {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), ActuatorError>>,
}

pub fn start(log: &Arc<dyn EventLog>, config: ActuatorConfig) -> Running {
    let (tx, rx) = oneshot::channel::<()>();
    let http = reqwest::Client::new();
    let task = tokio::spawn(run(Arc::clone(log), PREFIX, config, http, async move {
        let _ = rx.await;
    }));
    Running {
        stop: Some(tx),
        task,
    }
}

impl Running {
    /// Ends the actuator where it is, as `kill -9` would: no shutdown
    /// signal, whatever request is in flight is dropped.
    pub async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        match tokio::time::timeout(Duration::from_secs(10), &mut self.task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => panic!("actuator ended with an error: {e}"),
            Ok(Err(e)) => panic!("actuator task panicked: {e}"),
            Err(_) => panic!("actuator did not stop within 10 s of shutdown"),
        }
    }
}

/// Every event of a topic, in partition then offset order.
pub async fn events(log: &Arc<dyn EventLog>, topic: Topic) -> Vec<Event> {
    let name = topic.name(PREFIX);
    let mut out = Vec::new();
    let partitions = log.partitions(&name).await.expect("partitions");
    for partition in 0..partitions {
        let mut from = 0;
        loop {
            let records = log
                .read(&name, partition, from, 1000, Duration::ZERO)
                .await
                .expect("reading a topic");
            let Some(last) = records.last() else { break };
            from = last.offset + 1;
            for record in records {
                out.push(Event::from_json(&record.value).expect("decodable event"));
            }
        }
    }
    out
}

pub async fn outcomes(log: &Arc<dyn EventLog>) -> Vec<EventPayload> {
    events(log, Topic::Outcomes)
        .await
        .into_iter()
        .map(|e| e.payload)
        .collect()
}

/// Polls the outcomes until `done` says they are complete; panics with
/// what was there after `timeout`.
pub async fn wait_for_outcomes(
    log: &Arc<dyn EventLog>,
    timeout: Duration,
    done: impl Fn(&[EventPayload]) -> bool,
) -> Vec<EventPayload> {
    let deadline = Instant::now() + timeout;
    loop {
        let found = outcomes(log).await;
        if done(&found) {
            return found;
        }
        if Instant::now() > deadline {
            panic!("outcomes not complete after {timeout:?}: {found:#?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until the actuator has committed every alert record so far.
pub async fn wait_until_caught_up(log: &Arc<dyn EventLog>, timeout: Duration) {
    let topic = Topic::Alerts.name(PREFIX);
    let deadline = Instant::now() + timeout;
    loop {
        let partitions = log.partitions(&topic).await.expect("partitions");
        let mut behind = false;
        for partition in 0..partitions {
            let end = log.end_offset(&topic, partition).await.expect("end offset");
            let committed = log
                .committed(CONSUMER_GROUP, &topic, partition)
                .await
                .expect("committed")
                .map_or(0, |c| c.next_offset);
            behind |= committed < end;
        }
        if !behind {
            return;
        }
        if Instant::now() > deadline {
            panic!("actuator did not commit every alert record within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub fn count(outcomes: &[EventPayload], type_name: &str) -> usize {
    outcomes
        .iter()
        .filter(|p| p.type_name() == type_name)
        .count()
}
