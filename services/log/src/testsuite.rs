//! The conformance suite every [`EventLog`] backend must pass, so the
//! embedded and Kafka logs keep the same contract. Built with the
//! `testsuite` feature (test-only code; it panics on failure).
//!
//! Each case takes a fresh log and uses topics of its own with unique names,
//! so the cases can also run against one shared broker. A backend's tests
//! either call [`run_all`] or one `#[test]` per case through the functions
//! listed in [`CASES`].

use crate::{
    partition_for_key, CommittedPosition, EventLog, LogError, NewRecord, Offset, StoredRecord,
};
use bytes::Bytes;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Names of the cases in the order [`run_all`] runs them.
pub const CASES: &[&str] = &[
    "append_returns_offsets_in_order",
    "records_of_one_key_stay_in_order_in_one_partition",
    "read_returns_records_from_the_requested_offset",
    "read_waits_for_a_new_record_and_times_out_empty",
    "committed_position_round_trips_with_metadata",
    "end_offset_follows_appends",
    "concurrent_appends_are_durable_and_readable_exactly_once",
    "invalid_topic_names_partitions_and_offsets_are_rejected",
    "the_newest_snapshot_loads_whole_among_interleaved_parts",
];

/// Runs every case, each on a fresh log from `make`.
pub async fn run_all<L, F, Fut>(make: F)
where
    L: EventLog,
    F: Fn() -> Fut,
    Fut: Future<Output = L>,
{
    append_returns_offsets_in_order(&make().await).await;
    records_of_one_key_stay_in_order_in_one_partition(&make().await).await;
    read_returns_records_from_the_requested_offset(&make().await).await;
    read_waits_for_a_new_record_and_times_out_empty(&make().await).await;
    committed_position_round_trips_with_metadata(&make().await).await;
    end_offset_follows_appends(&make().await).await;
    concurrent_appends_are_durable_and_readable_exactly_once(&make().await).await;
    invalid_topic_names_partitions_and_offsets_are_rejected(&make().await).await;
    the_newest_snapshot_loads_whole_among_interleaved_parts(&make().await).await;
}

/// A topic name no earlier run (or other case) has used.
pub fn unique_topic(case: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "suite.{case}.{nanos}.{}",
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn record(key: &str, value: &str) -> NewRecord {
    NewRecord {
        key: Bytes::copy_from_slice(key.as_bytes()),
        value: Bytes::copy_from_slice(value.as_bytes()),
        timestamp_ms: 1_700_000_000_000,
    }
}

/// Every record of a partition from `from` to its end offset.
pub async fn read_to_end<L: EventLog>(
    log: &L,
    topic: &str,
    partition: u32,
    from: Offset,
) -> Vec<StoredRecord> {
    let end = log.end_offset(topic, partition).await.expect("end_offset");
    let mut out = Vec::new();
    let mut next = from;
    while next < end {
        let batch = log
            .read(topic, partition, next, 500, Duration::from_secs(5))
            .await
            .expect("read");
        assert!(
            !batch.is_empty(),
            "read of {topic}/{partition} at {next} returned nothing before end {end}"
        );
        next = batch.last().map_or(next, |record| record.offset + 1);
        out.extend(batch);
    }
    out
}

pub async fn append_returns_offsets_in_order<L: EventLog>(log: &L) {
    let topic = unique_topic("offsets");
    assert_eq!(
        log.append(&topic, Vec::new()).await.expect("empty append"),
        Vec::new()
    );
    let first: Vec<_> = (0..5)
        .map(|i| record("same-key", &format!("v{i}")))
        .collect();
    let placed = log.append(&topic, first).await.expect("append");
    let partition = placed[0].0;
    assert!(
        placed.iter().all(|(p, _)| *p == partition),
        "one key, one partition: {placed:?}"
    );
    let offsets: Vec<Offset> = placed.iter().map(|(_, offset)| *offset).collect();
    assert_eq!(offsets, (offsets[0]..offsets[0] + 5).collect::<Vec<_>>());
    let more = log
        .append(
            &topic,
            vec![record("same-key", "v5"), record("same-key", "v6")],
        )
        .await
        .expect("append");
    assert_eq!(
        more,
        vec![(partition, offsets[0] + 5), (partition, offsets[0] + 6)]
    );
}

pub async fn records_of_one_key_stay_in_order_in_one_partition<L: EventLog>(log: &L) {
    let topic = unique_topic("per-key");
    let partitions = log.partitions(&topic).await.expect("partitions");
    let keys: Vec<String> = (0..8).map(|k| format!("key-{k}")).collect();
    for round in 0..10 {
        let records = keys.iter().flat_map(|key| {
            [
                record(key, &format!("{round}a")),
                record(key, &format!("{round}b")),
            ]
        });
        log.append(&topic, records.collect()).await.expect("append");
    }
    let mut seen: HashMap<String, (u32, Vec<String>)> = HashMap::new();
    for partition in 0..partitions {
        for stored in read_to_end(log, &topic, partition, 0).await {
            let key = String::from_utf8(stored.key.to_vec()).expect("utf8 key");
            assert_eq!(
                partition,
                partition_for_key(key.as_bytes(), partitions),
                "key {key} in the wrong partition"
            );
            let entry = seen.entry(key).or_insert((partition, Vec::new()));
            assert_eq!(entry.0, partition);
            entry
                .1
                .push(String::from_utf8(stored.value.to_vec()).expect("utf8 value"));
        }
    }
    let expected: Vec<String> = (0..10)
        .flat_map(|round| [format!("{round}a"), format!("{round}b")])
        .collect();
    assert_eq!(seen.len(), keys.len());
    for (key, (_, values)) in seen {
        assert_eq!(values, expected, "order of key {key}");
    }
}

pub async fn read_returns_records_from_the_requested_offset<L: EventLog>(log: &L) {
    let topic = unique_topic("read-from");
    let records: Vec<_> = (0..10)
        .map(|i| NewRecord {
            timestamp_ms: 1_000 + i,
            ..record("k", &format!("value-{i}"))
        })
        .collect();
    let placed = log.append(&topic, records).await.expect("append");
    let (partition, base) = placed[0];
    let read = log
        .read(&topic, partition, base + 4, 3, Duration::ZERO)
        .await
        .expect("read");
    assert_eq!(read.len(), 3);
    for (i, stored) in read.iter().enumerate() {
        let n = 4 + i as u64;
        assert_eq!(stored.topic, topic);
        assert_eq!(stored.partition, partition);
        assert_eq!(stored.offset, base + n);
        assert_eq!(stored.key, Bytes::from_static(b"k"));
        assert_eq!(stored.value, Bytes::from(format!("value-{n}")));
        assert_eq!(stored.timestamp_ms, 1_000 + n as i64);
    }
    let all = log
        .read(&topic, partition, base, 100, Duration::ZERO)
        .await
        .expect("read all");
    assert_eq!(all.len(), 10);
    let end = log.end_offset(&topic, partition).await.expect("end");
    let none = log
        .read(&topic, partition, end, 100, Duration::ZERO)
        .await
        .expect("read at end");
    assert!(none.is_empty());
}

pub async fn read_waits_for_a_new_record_and_times_out_empty<L: EventLog>(log: &L) {
    let topic = unique_topic("wait");
    let (partition, _) = log
        .append(&topic, vec![record("k", "first")])
        .await
        .expect("append")[0];
    let end = log.end_offset(&topic, partition).await.expect("end");
    let started = Instant::now();
    let timed_out = log
        .read(&topic, partition, end, 10, Duration::from_millis(200))
        .await
        .expect("read");
    assert!(timed_out.is_empty(), "nothing was appended: {timed_out:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "read returned before its wait"
    );

    let reader = log.read(&topic, partition, end, 10, Duration::from_secs(10));
    let writer = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        log.append(&topic, vec![record("k", "second")])
            .await
            .expect("append")
    };
    let (read, placed) = tokio::join!(reader, writer);
    let read = read.expect("waiting read");
    assert_eq!(read.len(), 1, "the waiting read gets the new record");
    assert_eq!(read[0].offset, placed[0].1);
    assert_eq!(read[0].value, Bytes::from_static(b"second"));
}

pub async fn committed_position_round_trips_with_metadata<L: EventLog>(log: &L) {
    let topic = unique_topic("commit");
    let group = unique_topic("group");
    assert_eq!(
        log.committed(&group, &topic, 0).await.expect("committed"),
        None
    );
    let position = CommittedPosition {
        next_offset: 5,
        metadata: "{\"tick\":\"2024-01-01T00:00:00Z\"}\n".into(),
    };
    log.commit(&group, &topic, 0, position.clone())
        .await
        .expect("commit");
    assert_eq!(
        log.committed(&group, &topic, 0).await.expect("committed"),
        Some(position)
    );
    let later = CommittedPosition {
        next_offset: 9,
        metadata: String::new(),
    };
    log.commit(&group, &topic, 0, later.clone())
        .await
        .expect("commit");
    assert_eq!(
        log.committed(&group, &topic, 0).await.expect("committed"),
        Some(later)
    );
    let other_group = unique_topic("other-group");
    assert_eq!(
        log.committed(&other_group, &topic, 0)
            .await
            .expect("committed"),
        None
    );
}

pub async fn end_offset_follows_appends<L: EventLog>(log: &L) {
    let topic = unique_topic("end");
    let partitions = log.partitions(&topic).await.expect("partitions");
    for partition in 0..partitions {
        assert_eq!(log.end_offset(&topic, partition).await.expect("end"), 0);
    }
    let placed = log
        .append(
            &topic,
            (0..7).map(|i| record("k", &i.to_string())).collect(),
        )
        .await
        .expect("append");
    let partition = placed[0].0;
    assert_eq!(log.end_offset(&topic, partition).await.expect("end"), 7);
    log.append(&topic, vec![record("k", "7")])
        .await
        .expect("append");
    assert_eq!(log.end_offset(&topic, partition).await.expect("end"), 8);
}

pub async fn concurrent_appends_are_durable_and_readable_exactly_once<L: EventLog>(log: &L) {
    const TASKS: usize = 64;
    const APPENDS: usize = 10;
    let topic = unique_topic("concurrent");
    let appenders = (0..TASKS).map(|task| {
        let topic = &topic;
        async move {
            let mut placed = Vec::new();
            for n in 0..APPENDS {
                let value = format!("{task}:{n}:{}", "x".repeat(task * 37 % 2000));
                let result = log
                    .append(topic, vec![record(&format!("task-{task}"), &value)])
                    .await;
                placed.push((value, result.expect("concurrent append")[0]));
            }
            placed
        }
    });
    let acknowledged: Vec<(String, (u32, Offset))> = futures::future::join_all(appenders)
        .await
        .into_iter()
        .flatten()
        .collect();
    let partitions = log.partitions(&topic).await.expect("partitions");
    let mut stored: HashMap<(u32, Offset), String> = HashMap::new();
    let mut values = HashSet::new();
    for partition in 0..partitions {
        for record in read_to_end(log, &topic, partition, 0).await {
            let value = String::from_utf8(record.value.to_vec()).expect("utf8");
            assert!(values.insert(value.clone()), "value {value} stored twice");
            stored.insert((partition, record.offset), value);
        }
    }
    assert_eq!(stored.len(), TASKS * APPENDS);
    for (value, place) in acknowledged {
        assert_eq!(
            stored.get(&place),
            Some(&value),
            "acknowledged record at {place:?}"
        );
    }
}

pub async fn invalid_topic_names_partitions_and_offsets_are_rejected<L: EventLog>(log: &L) {
    for bad in ["", "has space", "slash/name", "..", "ümlaut"] {
        let result = log.append(bad, vec![record("k", "v")]).await;
        assert!(
            matches!(result, Err(LogError::Invalid(_))),
            "topic {bad:?}: {result:?}"
        );
    }
    let topic = unique_topic("bad-partition");
    let partitions = log.partitions(&topic).await.expect("partitions");
    let result = log.read(&topic, partitions, 0, 1, Duration::ZERO).await;
    assert!(
        matches!(result, Err(LogError::Invalid(_))),
        "partition {partitions}: {result:?}"
    );
}

/// Module [`crate::snapshot`]: none before the first save; the newest
/// save of an owner loads whole (bodies of several parts, with another
/// owner's and an abandoned save's records in between), with its covers.
pub async fn the_newest_snapshot_loads_whole_among_interleaved_parts<L: EventLog>(log: &L) {
    use crate::snapshot::{self, Covers, PART_BYTES};
    let topic = unique_topic("snapshots");
    assert_eq!(snapshot::load(log, &topic, "a").await.expect("load"), None);

    let covers =
        |next: u64| -> Covers { [("t".to_string(), [(0, next), (1, next + 1)].into())].into() };
    // Three parts and a bit, every byte telling where it was.
    let big: Vec<u8> = (0..PART_BYTES * 3 + 17).map(|i| (i % 251) as u8).collect();
    snapshot::save(log, &topic, "a", &covers(5), b"first")
        .await
        .expect("save");
    snapshot::save(log, &topic, "b", &covers(9), &big)
        .await
        .expect("save b");
    snapshot::save(log, &topic, "a", &covers(7), &big)
        .await
        .expect("save a");
    // A save whose commit never happened (a crash) leaves parts behind.
    log.append(&topic, vec![record("a", "stray part")])
        .await
        .expect("append");
    snapshot::save(log, &topic, "b", &covers(11), b"")
        .await
        .expect("save empty");

    let a = snapshot::load(log, &topic, "a")
        .await
        .expect("load a")
        .expect("a saved");
    assert_eq!((a.covers, a.body.len()), (covers(7), big.len()));
    assert!(a.body == big, "the body comes back byte for byte");
    let b = snapshot::load(log, &topic, "b")
        .await
        .expect("load b")
        .expect("b saved");
    assert_eq!((b.covers, b.body), (covers(11), Vec::new()));
}
