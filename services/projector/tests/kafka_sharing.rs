//! Two projectors sharing a topic's partitions through Kafka group
//! membership, against a real Kafka-protocol broker (nisshi, started by
//! `tests/setup/kafka.sh`; `KAFKA_BROKERS` overrides where it is) and one
//! SQLite store: each follows only its own partitions, every event is
//! projected exactly once, and when one stops the other takes over.

mod common;

use async_trait::async_trait;
use closeloop_core::events::AlertState;
use closeloop_core::topics::Topic;
use closeloop_core::Event;
use closeloop_log::kafka::{KafkaLog, KafkaOptions};
use closeloop_log::{
    partition_for_key, CommittedPosition, EventLog, LogError, Membership, NewRecord, Offset,
    StoredRecord,
};
use closeloop_projector::store::{
    ActionFailureRow, AlertFilter, AlertRow, Applied, Batch, Checkpoint, DeliveryRow, DeployFilter,
    DeployRow, HistoryFilter, IssueFilter, IssueRow,
};
use closeloop_projector::{run, ProjectorError, ReadStore, StoreError};
use common::{deploy, temp_store};
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

/// A log that remembers when this projector last read each partition:
/// followers poll their partitions continuously, so the recently read
/// ones are the ones it owns.
struct WatchedLog {
    inner: Arc<KafkaLog>,
    last_read: Mutex<BTreeMap<(String, u32), Instant>>,
}

impl WatchedLog {
    fn new(inner: Arc<KafkaLog>) -> Arc<WatchedLog> {
        Arc::new(WatchedLog {
            inner,
            last_read: Mutex::new(BTreeMap::new()),
        })
    }

    fn recently_read(&self, topic: &str) -> BTreeSet<u32> {
        let last_read = self.last_read.lock().expect("lock");
        last_read
            .iter()
            .filter(|((t, _), at)| t == topic && at.elapsed() < Duration::from_millis(800))
            .map(|((_, partition), _)| *partition)
            .collect()
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
        self.last_read
            .lock()
            .expect("lock")
            .insert((topic.to_string(), partition), Instant::now());
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
        self.inner.join(group, topic).await
    }
}

/// What one projector applied to the shared store.
#[derive(Default, Debug)]
struct Tally {
    /// Records applied, per (topic, partition).
    events: BTreeMap<(String, u32), usize>,
    /// Changes the store skipped as already applied: a second projection.
    already_applied: usize,
}

/// The shared store as seen by one projector, counting what it applies.
struct TallyingStore {
    inner: Arc<dyn ReadStore>,
    tally: Mutex<Tally>,
}

impl TallyingStore {
    fn partitions(&self, topic: &str) -> BTreeSet<u32> {
        let tally = self.tally.lock().expect("lock");
        tally
            .events
            .iter()
            .filter(|((t, _), n)| t == topic && **n > 0)
            .map(|((_, partition), _)| *partition)
            .collect()
    }

    fn events(&self, topic: &str) -> usize {
        let tally = self.tally.lock().expect("lock");
        tally
            .events
            .iter()
            .filter(|((t, _), _)| t == topic)
            .map(|(_, n)| n)
            .sum()
    }

    fn already_applied(&self) -> usize {
        self.tally.lock().expect("lock").already_applied
    }
}

#[async_trait]
impl ReadStore for TallyingStore {
    async fn apply(&self, batch: &Batch) -> Result<Applied, StoreError> {
        let applied = self.inner.apply(batch).await?;
        let mut tally = self.tally.lock().expect("lock");
        let cp = &batch.checkpoint;
        *tally
            .events
            .entry((cp.topic.clone(), cp.partition))
            .or_default() += applied.events;
        tally.already_applied += applied.already_applied;
        Ok(applied)
    }
    async fn checkpoint(
        &self,
        consumer: &str,
        topic: &str,
        partition: u32,
    ) -> Result<Option<Offset>, StoreError> {
        self.inner.checkpoint(consumer, topic, partition).await
    }
    async fn checkpoints(&self, consumer: &str) -> Result<Vec<Checkpoint>, StoreError> {
        self.inner.checkpoints(consumer).await
    }
    async fn alerts(&self, filter: &AlertFilter) -> Result<Vec<AlertRow>, StoreError> {
        self.inner.alerts(filter).await
    }
    async fn deploys(&self, filter: &DeployFilter) -> Result<Vec<DeployRow>, StoreError> {
        self.inner.deploys(filter).await
    }
    async fn issues(&self, filter: &IssueFilter) -> Result<Vec<IssueRow>, StoreError> {
        self.inner.issues(filter).await
    }
    async fn deliveries(&self, filter: &HistoryFilter) -> Result<Vec<DeliveryRow>, StoreError> {
        self.inner.deliveries(filter).await
    }
    async fn action_failures(
        &self,
        filter: &HistoryFilter,
    ) -> Result<Vec<ActionFailureRow>, StoreError> {
        self.inner.action_failures(filter).await
    }
    async fn scale_actions(
        &self,
        filter: &closeloop_projector::store::ScaleActionFilter,
    ) -> Result<Vec<closeloop_projector::store::ScaleActionRow>, StoreError> {
        self.inner.scale_actions(filter).await
    }
    async fn alert_counts(&self) -> Result<Vec<(AlertState, u64)>, StoreError> {
        self.inner.alert_counts().await
    }
    async fn open_issue_count(&self) -> Result<u64, StoreError> {
        self.inner.open_issue_count().await
    }
    async fn dora_inputs(
        &self,
        query: &closeloop_projector::dora::DoraQuery,
    ) -> Result<closeloop_projector::dora::DoraInputs, StoreError> {
        self.inner.dora_inputs(query).await
    }
    async fn dora_targets(&self, limit: u32) -> Result<Vec<(String, String)>, StoreError> {
        self.inner.dora_targets(limit).await
    }
}

/// One projector process: its own Kafka clients, its view of the store.
struct Projector {
    log: Arc<WatchedLog>,
    store: Arc<TallyingStore>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), ProjectorError>>,
}

impl Projector {
    async fn start(prefix: &str, store: Arc<dyn ReadStore>) -> Projector {
        let log = WatchedLog::new(connect().await);
        let store = Arc::new(TallyingStore {
            inner: store,
            tally: Mutex::new(Tally::default()),
        });
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn({
            let (log, store, prefix) = (log.clone(), store.clone(), prefix.to_string());
            async move {
                run(log, &prefix, store, async {
                    let _ = stopped.await;
                })
                .await
            }
        });
        Projector {
            log,
            store,
            stop,
            task,
        }
    }

    async fn stop(self) -> (Arc<WatchedLog>, Arc<TallyingStore>) {
        let _ = self.stop.send(());
        let ended = tokio::time::timeout(Duration::from_secs(20), self.task)
            .await
            .expect("projector stops within 20 s of shutdown")
            .expect("projector task did not panic");
        ended.expect("projector ends cleanly on shutdown");
        (self.log, self.store)
    }
}

/// Waits until the two projectors poll disjoint, non-empty sets of
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
        let (mine, theirs) = (a.recently_read(topic), b.recently_read(topic));
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
            "the projectors did not split {topic}'s partitions within 60 s: {mine:?} and {theirs:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn append_deploys(log: &dyn EventLog, prefix: &str, services: &[String]) {
    let topic = Topic::Deploys.name(prefix);
    let records: Vec<NewRecord> = services
        .iter()
        .map(|service| {
            let event: Event = deploy(service, "production", "v1", "2024-05-02T09:00:00Z");
            NewRecord {
                key: event.envelope.key.clone().into_bytes().into(),
                value: event.to_json().into(),
                timestamp_ms: event.envelope.occurred_at.timestamp_millis(),
            }
        })
        .collect();
    log.append(&topic, records)
        .await
        .expect("appending deploys");
}

async fn wait_for_deploys(store: &dyn ReadStore, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let filter = DeployFilter {
        limit: 1000,
        ..DeployFilter::default()
    };
    loop {
        let rows = store.deploys(&filter).await.expect("listing deploys");
        if rows.len() >= count {
            assert_eq!(rows.len(), count, "more deploy rows than deploys");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {count} deploys projected after 30 s",
            rows.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Service names whose deploy keys land in every partition.
fn services(batch: &str, count: usize) -> Vec<String> {
    let services: Vec<String> = (0..count).map(|i| format!("{batch}-svc-{i}")).collect();
    let hit: BTreeSet<u32> = services
        .iter()
        .map(|s| partition_for_key(format!("{s}/production").as_bytes(), PARTITIONS))
        .collect();
    assert_eq!(hit.len(), PARTITIONS as usize, "test keys miss a partition");
    services
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_projectors_split_the_partitions_and_one_takes_over_when_the_other_stops() {
    let prefix = format!("kshare-{}", uuid::Uuid::now_v7().simple());
    let topic = Topic::Deploys.name(&prefix);
    let (_db_dir, store) = temp_store().await;
    let writer = connect().await;
    // The topic exists with its partitions before anyone joins.
    writer.partitions(&topic).await.expect("creating the topic");

    let first = Projector::start(&prefix, store.clone()).await;
    let second = Projector::start(&prefix, store.clone()).await;
    let (first_share, second_share) = wait_for_split(&first.log, &second.log, &topic).await;

    let before = services("before", 40);
    append_deploys(writer.as_ref(), &prefix, &before).await;
    wait_for_deploys(store.as_ref(), before.len()).await;
    assert_eq!(
        first.store.partitions(&topic),
        first_share,
        "the first projector applied outside its share"
    );
    assert_eq!(
        second.store.partitions(&topic),
        second_share,
        "the second projector applied outside its share"
    );
    assert_eq!(
        first.store.events(&topic) + second.store.events(&topic),
        before.len(),
        "every deploy is applied once"
    );

    // The first projector stops (and leaves the group): the second takes
    // its partitions over from their checkpoints.
    let (_, first_store) = first.stop().await;
    let after = services("after", 40);
    append_deploys(writer.as_ref(), &prefix, &after).await;
    wait_for_deploys(store.as_ref(), before.len() + after.len()).await;
    let all: BTreeSet<u32> = (0..PARTITIONS).collect();
    assert_eq!(
        second.store.partitions(&topic),
        all,
        "the second projector took over every partition"
    );
    let (_, second_store) = second.stop().await;
    assert_eq!(
        first_store.events(&topic) + second_store.events(&topic),
        before.len() + after.len(),
        "every deploy is applied exactly once"
    );
    assert_eq!(
        first_store.already_applied() + second_store.already_applied(),
        0,
        "no record was projected twice"
    );
}
