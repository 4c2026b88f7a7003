//! Retention of the embedded log: whole segments go, oldest first, by
//! record age or partition size, never past a consumer group's committed
//! position and never the segment being written; the new start offset
//! survives a reopen, and a read before it is refused, not skipped.

use bytes::Bytes;
use closeloop_log::embedded::{EmbeddedLog, EmbeddedOptions, Retention};
use closeloop_log::{CommittedPosition, EventLog, LogError, NewRecord};
use std::collections::BTreeMap;
use std::time::Duration;

const TOPIC: &str = "samples";
const HOUR_MS: i64 = 3_600_000;
/// A fixed "now" so ages are exact.
const NOW_MS: i64 = 1_800_000_000_000;

fn options(retention: Retention) -> EmbeddedOptions {
    EmbeddedOptions {
        segment_bytes: 4096,
        index_interval_bytes: 512,
        fsync: false,
        retention: BTreeMap::from([(TOPIC.to_string(), retention)]),
        // Only the passes the tests run by hand.
        retention_check_interval: Duration::from_secs(3600),
        ..EmbeddedOptions::default()
    }
}

/// Appends `count` records of ~500 bytes (8 per segment) stamped `at_ms`,
/// one append each so segments roll between them.
async fn append(log: &EmbeddedLog, count: usize, at_ms: i64) {
    for i in 0..count {
        log.append(
            TOPIC,
            vec![NewRecord {
                key: Bytes::from_static(b"k"),
                value: Bytes::from(format!("{i}:{}", "v".repeat(460))),
                timestamp_ms: at_ms,
            }],
        )
        .await
        .expect("append");
    }
}

/// Records `group` as having read up to `next_offset` of the partition.
async fn commit(log: &EmbeddedLog, group: &str, next_offset: u64) {
    let position = CommittedPosition {
        next_offset,
        metadata: String::new(),
    };
    log.commit(group, TOPIC, 0, position).await.expect("commit");
}

fn two_hours() -> Retention {
    Retention {
        max_age: Some(Duration::from_secs(2 * 3600)),
        max_bytes: None,
    }
}

#[tokio::test]
async fn segments_older_than_the_retention_go_and_the_start_survives_a_reopen() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = EmbeddedLog::open(dir.path(), options(two_hours()))
        .await
        .unwrap();
    append(&log, 40, NOW_MS - 5 * HOUR_MS).await;
    append(&log, 40, NOW_MS - HOUR_MS).await;
    let bytes_before = log.stored_bytes(TOPIC, 0).await.unwrap();

    let summary = log.apply_retention(NOW_MS).await.unwrap();
    assert!(summary.segments_removed >= 4, "{summary:?}");
    let start = log.start_offset(TOPIC, 0).await.unwrap();
    // Every old record is gone only if its whole segment was old: the
    // segment holding both old and new records stays.
    assert!((32..=40).contains(&start), "start {start}");
    assert_eq!(log.end_offset(TOPIC, 0).await.unwrap(), 80);
    assert_eq!(
        log.stored_bytes(TOPIC, 0).await.unwrap(),
        bytes_before - summary.bytes_removed
    );
    let kept = log
        .read(TOPIC, 0, start, 1000, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(kept.len() as u64, 80 - start);
    assert_eq!(kept[0].offset, start);
    // A read of what is gone is refused, saying why: never a silent skip.
    match log.read(TOPIC, 0, 0, 10, Duration::ZERO).await {
        Err(LogError::Invalid(why)) => assert!(why.contains("retention"), "{why}"),
        other => panic!("reading a removed offset gave {other:?}"),
    }
    // A second pass finds nothing more to do.
    assert_eq!(
        log.apply_retention(NOW_MS).await.unwrap().segments_removed,
        0
    );
    log.close().await.unwrap();

    let reopened = EmbeddedLog::open(dir.path(), options(two_hours()))
        .await
        .unwrap();
    assert_eq!(reopened.start_offset(TOPIC, 0).await.unwrap(), start);
    assert_eq!(reopened.end_offset(TOPIC, 0).await.unwrap(), 80);
    append(&reopened, 1, NOW_MS).await;
    assert_eq!(reopened.end_offset(TOPIC, 0).await.unwrap(), 81);
    reopened.close().await.unwrap();
}

#[tokio::test]
async fn a_consumer_that_has_not_read_a_segment_keeps_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = EmbeddedLog::open(dir.path(), options(two_hours()))
        .await
        .unwrap();
    append(&log, 80, NOW_MS - 5 * HOUR_MS).await;
    commit(&log, "slow-reader", 20).await;
    commit(&log, "fast-reader", 80).await;
    log.apply_retention(NOW_MS).await.unwrap();
    let start = log.start_offset(TOPIC, 0).await.unwrap();
    assert!(
        start <= 20 && start > 0,
        "only segments wholly before the slowest position go: start {start}"
    );
    assert_eq!(
        log.read(TOPIC, 0, 20, 1, Duration::ZERO).await.unwrap()[0].offset,
        20
    );

    // Once it moves on, the rest goes, but never the active segment.
    commit(&log, "slow-reader", 80).await;
    log.apply_retention(NOW_MS).await.unwrap();
    let start = log.start_offset(TOPIC, 0).await.unwrap();
    assert!(start > 20 && start < 80, "start {start}");
    assert_eq!(
        log.read(TOPIC, 0, start, 100, Duration::ZERO)
            .await
            .unwrap()
            .len() as u64,
        80 - start
    );
    log.close().await.unwrap();
}

#[tokio::test]
async fn a_partition_over_its_size_limit_loses_its_oldest_segments_first() {
    let dir = tempfile::tempdir().expect("temp dir");
    let limit = 16 * 1024;
    let log = EmbeddedLog::open(
        dir.path(),
        options(Retention {
            max_age: None,
            max_bytes: Some(limit),
        }),
    )
    .await
    .unwrap();
    append(&log, 200, NOW_MS).await;
    assert!(log.stored_bytes(TOPIC, 0).await.unwrap() > 4 * limit);
    log.apply_retention(NOW_MS).await.unwrap();
    let stored = log.stored_bytes(TOPIC, 0).await.unwrap();
    assert!(
        stored <= limit && stored > limit - 4096,
        "{stored} bytes kept for a {limit}-byte limit with 4 KiB segments"
    );
    let start = log.start_offset(TOPIC, 0).await.unwrap();
    let kept = log
        .read(TOPIC, 0, start, 1000, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(kept.last().map(|r| r.offset), Some(199));
    log.close().await.unwrap();
}

#[tokio::test]
async fn topics_without_a_policy_keep_everything() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = EmbeddedLog::open(dir.path(), options(two_hours()))
        .await
        .unwrap();
    for i in 0..60 {
        log.append(
            "alerts",
            vec![NewRecord {
                key: Bytes::from_static(b"k"),
                value: Bytes::from(format!("{i}:{}", "v".repeat(460))),
                timestamp_ms: NOW_MS - 100 * HOUR_MS,
            }],
        )
        .await
        .unwrap();
    }
    log.apply_retention(NOW_MS).await.unwrap();
    assert_eq!(log.start_offset("alerts", 0).await.unwrap(), 0);
    log.close().await.unwrap();
}

#[tokio::test]
async fn the_background_pass_runs_on_its_own() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = EmbeddedLog::open(
        dir.path(),
        EmbeddedOptions {
            retention_check_interval: Duration::from_millis(50),
            ..options(two_hours())
        },
    )
    .await
    .unwrap();
    // Stamped with the real clock, days ago.
    let days_ago = wall_clock_ms() - 72 * HOUR_MS;
    append(&log, 40, days_ago).await;
    append(&log, 1, wall_clock_ms()).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while log.start_offset(TOPIC, 0).await.unwrap() == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the retention thread removed nothing"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    log.close().await.unwrap();
}

fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}
