//! Two actuators sharing the alerts' partitions through Kafka group
//! membership, against a real Kafka-protocol broker (nisshi, started by
//! `tests/setup/kafka.sh`; `KAFKA_BROKERS` overrides where it is), with a
//! webhook receiver pointing at a local axum sink: each actuator handles
//! (commits) only its own partitions, every alert is delivered once (by
//! the one that owns partition 0 and runs the webhook groups), and when
//! one stops the other takes over.

mod common;

use async_trait::async_trait;
use axum::extract::State;
use axum::routing::post;
use axum::Router;
use closeloop_actuator::{run, ActuatorConfig, ActuatorError};
use closeloop_core::topics::Topic;
use closeloop_core::{Event, EventPayload};
use closeloop_log::kafka::{KafkaLog, KafkaOptions};
use closeloop_log::{
    partition_for_key, CommittedPosition, EventLog, LogError, Membership, NewRecord, Offset,
    StoredRecord,
};
use common::{alert, commit_watermark_at};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const HOW_TO_START: &str =
    "start one with tests/setup/kafka.sh (it prints KAFKA_BROKERS), or set KAFKA_BROKERS";
const PARTITIONS: u32 = 4;

async fn connect() -> Arc<KafkaLog> {
    let brokers = std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:29092".into());
    let options = KafkaOptions {
        brokers: vec![brokers.clone()],
        default_partitions: PARTITIONS,
        session_timeout: Duration::from_secs(6),
        ..KafkaOptions::default()
    };
    match KafkaLog::connect(options).await {
        Ok(log) => Arc::new(log),
        Err(error) => panic!("no Kafka broker answers at {brokers} ({error}); {HOW_TO_START}"),
    }
}

/// A log that remembers which partitions this actuator owns and which it
/// committed records of. (Reads would not tell: the owner of partition 0
/// reads every alerts partition for its webhook groups.)
struct WatchedLog {
    inner: Arc<KafkaLog>,
    /// Partitions committed per topic under the actuator's consumer group.
    commits: Mutex<BTreeMap<String, BTreeSet<u32>>>,
    /// The membership of each topic this actuator joined.
    memberships: Mutex<BTreeMap<String, tokio::sync::watch::Receiver<closeloop_log::Assignment>>>,
}

impl WatchedLog {
    fn new(inner: Arc<KafkaLog>) -> Arc<WatchedLog> {
        Arc::new(WatchedLog {
            inner,
            commits: Mutex::default(),
            memberships: Mutex::default(),
        })
    }

    /// The partitions of `topic` this actuator owns now.
    fn owned(&self, topic: &str) -> BTreeSet<u32> {
        let memberships = self.memberships.lock().expect("lock");
        memberships
            .get(topic)
            .map(|m| m.borrow().partitions.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Partitions whose records this actuator handled and committed.
    fn handled(&self, topic: &str) -> BTreeSet<u32> {
        let commits = self.commits.lock().expect("lock");
        commits.get(topic).cloned().unwrap_or_default()
    }
}

#[async_trait]
impl EventLog for WatchedLog {
    async fn append(
        &self,
        topic: &str,
        records: Vec<NewRecord>,
    ) -> Result<Vec<(u32, Offset)>, LogError> {
        self.inner.append(topic, records).await
    }
    async fn partitions(&self, topic: &str) -> Result<u32, LogError> {
        self.inner.partitions(topic).await
    }
    async fn read(
        &self,
        topic: &str,
        partition: u32,
        from: Offset,
        max_records: usize,
        wait: Duration,
    ) -> Result<Vec<StoredRecord>, LogError> {
        self.inner
            .read(topic, partition, from, max_records, wait)
            .await
    }
    async fn end_offset(&self, topic: &str, partition: u32) -> Result<Offset, LogError> {
        self.inner.end_offset(topic, partition).await
    }
    async fn commit(
        &self,
        group: &str,
        topic: &str,
        partition: u32,
        position: CommittedPosition,
    ) -> Result<(), LogError> {
        if group == closeloop_actuator::CONSUMER_GROUP {
            let mut commits = self.commits.lock().expect("lock");
            commits
                .entry(topic.to_string())
                .or_default()
                .insert(partition);
        }
        self.inner.commit(group, topic, partition, position).await
    }
    async fn committed(
        &self,
        group: &str,
        topic: &str,
        partition: u32,
    ) -> Result<Option<CommittedPosition>, LogError> {
        self.inner.committed(group, topic, partition).await
    }
    async fn join(&self, group: &str, topic: &str) -> Result<Membership, LogError> {
        let membership = self.inner.join(group, topic).await?;
        let mut memberships = self.memberships.lock().expect("lock");
        memberships.insert(topic.to_string(), membership.observer());
        Ok(membership)
    }
}

/// The webhook sink: how many notifications each alertname got.
#[derive(Default)]
struct Sink {
    deliveries: Mutex<BTreeMap<String, usize>>,
}

async fn receive(State(sink): State<Arc<Sink>>, body: String) {
    let payload: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let mut deliveries = sink.deliveries.lock().expect("lock");
    for alert in payload["alerts"].as_array().into_iter().flatten() {
        let name = alert["labels"]["alertname"].as_str().unwrap_or("?");
        *deliveries.entry(name.to_string()).or_default() += 1;
    }
}

async fn serve() -> (String, Arc<Sink>) {
    let sink = Arc::new(Sink::default());
    let app = Router::new()
        .route("/", post(receive))
        .with_state(Arc::clone(&sink));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding port 0");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/"), sink)
}

fn config(url: &str) -> ActuatorConfig {
    let yaml = format!(
        r#"
route:
  receiver: webhook
  group_by: [alertname]
  group_wait: 1s
receivers:
  - name: webhook
    webhook_configs: [{{url: "{url}"}}]
delivery: {{initial_backoff: 50ms, max_backoff: 200ms, deadline: 5s, timeout: 2s}}
"#
    );
    let config: ActuatorConfig = serde_yaml::from_str(&yaml).expect("test config parses");
    config.validate().expect("test config is valid");
    config
}

/// One actuator process: its own Kafka clients, watched.
struct Actuator {
    log: Arc<WatchedLog>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), ActuatorError>>,
}

impl Actuator {
    async fn start(prefix: &str, url: &str) -> Actuator {
        let log = WatchedLog::new(connect().await);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn({
            let (log, prefix, config) = (log.clone(), prefix.to_string(), config(url));
            async move {
                run(log, &prefix, config, reqwest::Client::new(), async {
                    let _ = stopped.await;
                })
                .await
            }
        });
        Actuator { log, stop, task }
    }

    async fn stop(self) -> Arc<WatchedLog> {
        let _ = self.stop.send(());
        let ended = tokio::time::timeout(Duration::from_secs(20), self.task)
            .await
            .expect("actuator stops within 20 s of shutdown")
            .expect("actuator task did not panic");
        ended.expect("actuator ends cleanly on shutdown");
        self.log
    }
}

/// Waits until the two actuators own disjoint, non-empty sets of
/// `topic`'s partitions that together cover all of them, for a second.
async fn wait_for_split(
    a: &WatchedLog,
    b: &WatchedLog,
    topic: &str,
) -> (BTreeSet<u32>, BTreeSet<u32>) {
    let all: BTreeSet<u32> = (0..PARTITIONS).collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut stable_since: Option<Instant> = None;
    loop {
        let (mine, theirs) = (a.owned(topic), b.owned(topic));
        let split = !mine.is_empty()
            && !theirs.is_empty()
            && mine.is_disjoint(&theirs)
            && mine.union(&theirs).copied().collect::<BTreeSet<u32>>() == all;
        if split {
            let since = *stable_since.get_or_insert_with(Instant::now);
            if since.elapsed() > Duration::from_secs(1) {
                return (mine, theirs);
            }
        } else {
            stable_since = None;
        }
        assert!(
            Instant::now() < deadline,
            "the actuators did not split {topic}'s partitions within 60 s: {mine:?} and {theirs:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Firing alerts named `<batch>-<i>` at `at`, whose fingerprints land in
/// every partition, appended as the evaluator would, and then the
/// evaluators' watermark a minute later, past their groups' `group_wait`.
async fn fire(
    log: &dyn EventLog,
    prefix: &str,
    batch: &str,
    count: usize,
    at: &str,
) -> Vec<String> {
    let mut names = Vec::new();
    let mut records = Vec::new();
    let mut hit = BTreeSet::new();
    for i in 0..count {
        let name = format!("{batch}-{i}");
        let alert = alert(&[("alertname", &name), ("service", "checkout")], at);
        let key = alert.fingerprint.clone();
        hit.insert(partition_for_key(key.as_bytes(), PARTITIONS));
        let occurred_at = alert.active_at;
        let event = Event::new(
            EventPayload::AlertFiring(alert),
            "evaluator",
            key.clone(),
            occurred_at,
            chrono::Utc::now(),
        );
        records.push(NewRecord {
            key: key.into_bytes().into(),
            value: event.to_json().into(),
            timestamp_ms: occurred_at.timestamp_millis(),
        });
        names.push(name);
    }
    assert_eq!(
        hit.len(),
        PARTITIONS as usize,
        "test alerts miss a partition"
    );
    log.append(&Topic::Alerts.name(prefix), records)
        .await
        .expect("appending alerts");
    let watermark = common::at(at) + chrono::Duration::minutes(1);
    commit_watermark_at(log, prefix, &watermark.to_rfc3339()).await;
    names
}

/// Waits until every alert in `names` was delivered, then a little longer
/// for duplicates, and checks each arrived exactly once.
async fn assert_delivered_once(sink: &Sink, names: &[String]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let delivered = sink.deliveries.lock().expect("lock").clone();
        if names.iter().all(|n| delivered.contains_key(n)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not every alert was delivered within 30 s: {delivered:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let delivered = sink.deliveries.lock().expect("lock").clone();
    for name in names {
        assert_eq!(delivered.get(name), Some(&1), "deliveries of {name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_actuators_split_the_alerts_and_one_takes_over_when_the_other_stops() {
    let prefix = format!("kshare-{}", uuid::Uuid::now_v7().simple());
    let topic = Topic::Alerts.name(&prefix);
    let (url, sink) = serve().await;
    let writer = connect().await;
    // The topics exist with their partitions before anyone joins.
    for topic in [Topic::Alerts, Topic::Actions, Topic::Outcomes] {
        writer
            .partitions(&topic.name(&prefix))
            .await
            .expect("creating a topic");
    }

    let first = Actuator::start(&prefix, &url).await;
    let second = Actuator::start(&prefix, &url).await;
    let (first_share, second_share) = wait_for_split(&first.log, &second.log, &topic).await;

    let before = fire(
        writer.as_ref(),
        &prefix,
        "before",
        20,
        "2024-05-02T10:00:00Z",
    )
    .await;
    assert_delivered_once(&sink, &before).await;
    assert_eq!(
        first.log.handled(&topic),
        first_share,
        "the first actuator handled alerts outside its share"
    );
    assert_eq!(
        second.log.handled(&topic),
        second_share,
        "the second actuator handled alerts outside its share"
    );

    // The first actuator stops (and leaves the group): the second takes
    // its partitions over from their committed offsets.
    first.stop().await;
    let after = fire(
        writer.as_ref(),
        &prefix,
        "after",
        20,
        "2024-05-02T10:10:00Z",
    )
    .await;
    assert_delivered_once(&sink, &after).await;
    let all: BTreeSet<u32> = (0..PARTITIONS).collect();
    let second = second.stop().await;
    assert_eq!(
        second.handled(&topic),
        all,
        "the second actuator took over every partition"
    );
    let delivered = sink.deliveries.lock().expect("lock").clone();
    assert_eq!(
        delivered.values().sum::<usize>(),
        before.len() + after.len(),
        "exactly one notification per alert: {delivered:?}"
    );
}
