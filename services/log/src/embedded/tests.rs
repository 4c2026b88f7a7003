//! Unit tests of the embedded log that need its internals: injected disk
//! faults in a partition's writer.

use super::writer::fault;
use super::*;
use bytes::Bytes;

const TOPIC: &str = "faults";

fn record(value: &str) -> NewRecord {
    NewRecord {
        key: Bytes::from_static(b"k"),
        value: Bytes::copy_from_slice(value.as_bytes()),
        timestamp_ms: 1,
    }
}

async fn values(log: &EmbeddedLog) -> Vec<String> {
    let records = log
        .read(TOPIC, 0, 0, 1000, Duration::ZERO)
        .await
        .expect("read");
    records
        .iter()
        .map(|r| String::from_utf8(r.value.to_vec()).expect("utf8"))
        .collect()
}

fn segment_len(dir: &Path) -> u64 {
    let path = dir
        .join(TOPIC)
        .join("0")
        .join(segment::segment_file_name(0));
    std::fs::metadata(path).expect("segment metadata").len()
}

#[tokio::test]
async fn failed_write_is_cut_back_and_appending_continues() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = EmbeddedLog::open(dir.path(), EmbeddedOptions::default())
        .await
        .expect("open");
    log.append(TOPIC, vec![record("a"), record("b"), record("c")])
        .await
        .expect("append");
    let good_len = segment_len(dir.path());

    log.inject_fault(TOPIC, 0, fault::FAIL_HALFWAY).await;
    let failed = log.append(TOPIC, vec![record(&"x".repeat(10_000))]).await;
    assert!(
        matches!(failed, Err(LogError::Unavailable(_))),
        "{failed:?}"
    );
    assert_eq!(
        segment_len(dir.path()),
        good_len,
        "the half-written batch is cut off"
    );
    assert_eq!(log.end_offset(TOPIC, 0).await.expect("end"), 3);

    log.inject_fault(TOPIC, 0, fault::NONE).await;
    assert_eq!(
        log.append(TOPIC, vec![record("d")]).await.expect("append"),
        vec![(0, 3)]
    );
    assert_eq!(values(&log).await, ["a", "b", "c", "d"]);
    log.close().await.expect("close");

    let reopened = EmbeddedLog::open(dir.path(), EmbeddedOptions::default())
        .await
        .expect("reopen");
    assert_eq!(values(&reopened).await, ["a", "b", "c", "d"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_queue_answers_unavailable_at_once_instead_of_blocking() {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = EmbeddedOptions {
        queue_capacity: 2,
        ..EmbeddedOptions::default()
    };
    let log = Arc::new(EmbeddedLog::open(dir.path(), options).await.expect("open"));
    log.partitions(TOPIC).await.expect("create topic");
    log.inject_fault(TOPIC, 0, fault::STALL).await;

    let spawn_append = |value: &'static str| {
        let log = Arc::clone(&log);
        tokio::spawn(async move { log.append(TOPIC, vec![record(value)]).await })
    };
    // The stalled writer holds the first append; two more fill the queue.
    let first = spawn_append("first");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let queued = [spawn_append("second"), spawn_append("third")];
    tokio::time::sleep(Duration::from_millis(100)).await;

    let rejected = tokio::time::timeout(
        Duration::from_secs(1),
        log.append(TOPIC, vec![record("fourth")]),
    )
    .await
    .expect("append must not wait for queue space");
    assert!(
        matches!(rejected, Err(LogError::Unavailable(_))),
        "{rejected:?}"
    );

    log.inject_fault(TOPIC, 0, fault::NONE).await;
    assert_eq!(first.await.expect("join").expect("append"), vec![(0, 0)]);
    for task in queued {
        task.await
            .expect("join")
            .expect("queued append succeeds once the disk is back");
    }
    assert_eq!(log.end_offset(TOPIC, 0).await.expect("end"), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_gives_up_after_its_timeout_and_the_abandoned_records_are_not_written() {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = EmbeddedOptions {
        append_timeout: Duration::from_millis(200),
        ..EmbeddedOptions::default()
    };
    let log = EmbeddedLog::open(dir.path(), options).await.expect("open");
    log.partitions(TOPIC).await.expect("create topic");
    log.inject_fault(TOPIC, 0, fault::STALL).await;

    let timed_out = log.append(TOPIC, vec![record("abandoned")]).await;
    assert!(
        matches!(timed_out, Err(LogError::Unavailable(_))),
        "{timed_out:?}"
    );

    log.inject_fault(TOPIC, 0, fault::NONE).await;
    assert_eq!(
        log.append(TOPIC, vec![record("retried")])
            .await
            .expect("append"),
        vec![(0, 0)]
    );
    assert_eq!(values(&log).await, ["retried"]);
}

#[tokio::test]
async fn append_larger_than_the_record_limit_is_invalid() {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = EmbeddedOptions {
        max_record_bytes: 1024,
        max_queued_bytes: 4096,
        ..EmbeddedOptions::default()
    };
    let log = EmbeddedLog::open(dir.path(), options).await.expect("open");
    let too_big = log.append(TOPIC, vec![record(&"x".repeat(2000))]).await;
    assert!(matches!(too_big, Err(LogError::Invalid(_))), "{too_big:?}");
    let too_many: Vec<_> = (0..10).map(|_| record(&"x".repeat(900))).collect();
    let too_much = log.append(TOPIC, too_many).await;
    assert!(
        matches!(too_much, Err(LogError::Invalid(_))),
        "{too_much:?}"
    );
    assert_eq!(log.end_offset(TOPIC, 0).await.expect("end"), 0);
}

#[tokio::test]
async fn failed_fsync_fails_the_batch_and_the_partition_recovers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = EmbeddedLog::open(dir.path(), EmbeddedOptions::default())
        .await
        .expect("open");
    log.append(TOPIC, vec![record("a"), record("b")])
        .await
        .expect("append");
    let good_len = segment_len(dir.path());

    log.inject_fault(TOPIC, 0, fault::FAIL_SYNC).await;
    let failed = log.append(TOPIC, vec![record("not durable")]).await;
    assert!(
        matches!(failed, Err(LogError::Unavailable(_))),
        "{failed:?}"
    );
    assert_eq!(
        log.end_offset(TOPIC, 0).await.expect("end"),
        2,
        "readers never see it"
    );
    assert_eq!(values(&log).await, ["a", "b"]);

    log.inject_fault(TOPIC, 0, fault::NONE).await;
    assert_eq!(
        log.append(TOPIC, vec![record("c")]).await.expect("append"),
        vec![(0, 2)]
    );
    assert_eq!(values(&log).await, ["a", "b", "c"]);
    assert!(segment_len(dir.path()) > good_len);
    log.close().await.expect("close");

    let reopened = EmbeddedLog::open(dir.path(), EmbeddedOptions::default())
        .await
        .expect("reopen");
    assert_eq!(values(&reopened).await, ["a", "b", "c"]);
}

#[tokio::test]
async fn failed_write_right_after_a_roll_removes_the_new_segment() {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = EmbeddedOptions {
        segment_bytes: 100,
        ..EmbeddedOptions::default()
    };
    let log = EmbeddedLog::open(dir.path(), options.clone())
        .await
        .expect("open");
    log.append(TOPIC, vec![record(&"a".repeat(80))])
        .await
        .expect("append");
    log.inject_fault(TOPIC, 0, fault::FAIL_HALFWAY).await;
    let failed = log.append(TOPIC, vec![record(&"b".repeat(80))]).await;
    assert!(
        matches!(failed, Err(LogError::Unavailable(_))),
        "{failed:?}"
    );
    let files = segment::list_segments(&dir.path().join(TOPIC).join("0")).expect("list");
    assert_eq!(
        files.len(),
        1,
        "the rolled segment held nothing durable: {files:?}"
    );

    log.inject_fault(TOPIC, 0, fault::NONE).await;
    assert_eq!(
        log.append(TOPIC, vec![record("c")]).await.expect("append"),
        vec![(0, 1)]
    );
    log.close().await.expect("close");
    let reopened = EmbeddedLog::open(dir.path(), options)
        .await
        .expect("reopen");
    assert_eq!(values(&reopened).await, ["a".repeat(80), "c".to_string()]);
}

#[tokio::test]
async fn a_directory_in_use_cannot_be_opened_twice_until_closed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = EmbeddedLog::open(dir.path(), EmbeddedOptions::default())
        .await
        .expect("open");
    let second = EmbeddedLog::open(dir.path(), EmbeddedOptions::default()).await;
    assert!(
        matches!(second, Err(LogError::Unavailable(_))),
        "{second:?}"
    );
    log.close().await.expect("close");
    EmbeddedLog::open(dir.path(), EmbeddedOptions::default())
        .await
        .expect("open after close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_do_not_see_a_written_record_before_its_fsync() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = Arc::new(
        EmbeddedLog::open(dir.path(), EmbeddedOptions::default())
            .await
            .expect("open"),
    );
    log.partitions(TOPIC).await.expect("create topic");
    log.inject_fault(TOPIC, 0, fault::STALL_SYNC).await;
    let append = {
        let log = Arc::clone(&log);
        tokio::spawn(async move { log.append(TOPIC, vec![record("pending")]).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        segment_len(dir.path()) > 0,
        "the batch is written to the file"
    );
    assert_eq!(log.end_offset(TOPIC, 0).await.expect("end"), 0);
    let early = log
        .read(TOPIC, 0, 0, 10, Duration::from_millis(50))
        .await
        .expect("read");
    assert!(
        early.is_empty(),
        "read saw a record before its fsync: {early:?}"
    );
    assert!(!append.is_finished(), "append answered before its fsync");

    log.inject_fault(TOPIC, 0, fault::NONE).await;
    assert_eq!(append.await.expect("join").expect("append"), vec![(0, 0)]);
    assert_eq!(values(&log).await, ["pending"]);
}
