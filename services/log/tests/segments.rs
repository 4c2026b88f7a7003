//! Segment rolling and reads that cross segment boundaries, before and
//! after reopening.

use bytes::Bytes;
use closeloop_log::embedded::{EmbeddedLog, EmbeddedOptions};
use closeloop_log::{EventLog, NewRecord};
use std::fs;
use std::path::Path;
use std::time::Duration;

const TOPIC: &str = "segments";

fn record(i: usize, len: usize) -> NewRecord {
    let value = format!("{i}:{}", "v".repeat(len));
    NewRecord {
        key: Bytes::from(format!("k{}", i % 3)),
        value: Bytes::from(value),
        timestamp_ms: i as i64,
    }
}

fn small_segments() -> EmbeddedOptions {
    EmbeddedOptions {
        segment_bytes: 4096,
        index_interval_bytes: 512,
        ..EmbeddedOptions::default()
    }
}

/// (base offset, length) of each segment file, in order.
fn segment_files(dir: &Path) -> Vec<(u64, u64)> {
    let mut files: Vec<(u64, u64)> = fs::read_dir(dir.join(TOPIC).join("0"))
        .expect("partition dir")
        .map(|entry| {
            let entry = entry.expect("entry");
            let name = entry.file_name().into_string().expect("utf8 name");
            let digits = name.strip_suffix(".log").expect("segment file");
            assert_eq!(digits.len(), 20, "base offset is 20 digits: {name}");
            (
                digits.parse().expect("number"),
                entry.metadata().expect("metadata").len(),
            )
        })
        .collect();
    files.sort();
    files
}

async fn check_reads(log: &EmbeddedLog, count: usize) {
    let all = log
        .read(TOPIC, 0, 0, 10_000, Duration::ZERO)
        .await
        .expect("read all");
    assert_eq!(all.len(), count);
    for (i, stored) in all.iter().enumerate() {
        assert_eq!(stored.offset, i as u64);
        assert!(
            stored.value.starts_with(format!("{i}:").as_bytes()),
            "record {i}"
        );
        assert_eq!(stored.timestamp_ms, i as i64);
    }
    for from in (0..count).step_by(7) {
        let some = log
            .read(TOPIC, 0, from as u64, 5, Duration::ZERO)
            .await
            .expect("read from");
        let offsets: Vec<u64> = some.iter().map(|r| r.offset).collect();
        let expected: Vec<u64> = (from as u64..(from + 5).min(count) as u64).collect();
        assert_eq!(offsets, expected, "read from {from}");
    }
}

#[tokio::test]
async fn segments_roll_at_the_size_limit_and_reads_cross_them() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = EmbeddedLog::open(dir.path(), small_segments())
        .await
        .expect("open");
    let mut i = 0;
    while i < 200 {
        // Mix single appends and small batches.
        let batch = 1 + i % 4;
        let records = (i..i + batch).map(|n| record(n, 150 + n % 200)).collect();
        log.append(TOPIC, records).await.expect("append");
        i += batch;
    }
    let count = i;
    let files = segment_files(dir.path());
    assert!(files.len() >= 10, "expected many segments, got {files:?}");
    for (base, len) in &files[..files.len() - 1] {
        // A batch never splits, so a segment can pass the limit only by less
        // than one batch (here at most 4 records of under 400 bytes).
        assert!(*len <= 4096 + 1600, "segment {base} has {len} bytes");
    }
    check_reads(&log, count).await;
    log.close().await.expect("close");

    let log = EmbeddedLog::open(dir.path(), small_segments())
        .await
        .expect("reopen");
    assert_eq!(
        segment_files(dir.path()),
        files,
        "reopening changes no segment"
    );
    check_reads(&log, count).await;
    let placed = log
        .append(TOPIC, vec![record(count, 10)])
        .await
        .expect("append after reopen");
    assert_eq!(placed, vec![(0, count as u64)]);
    check_reads(&log, count + 1).await;
}

#[tokio::test]
async fn records_larger_than_a_read_chunk_and_a_segment_are_stored_whole() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = EmbeddedLog::open(dir.path(), small_segments())
        .await
        .expect("open");
    let sizes = [10, 700_000, 20, 300_000, 5];
    for (i, size) in sizes.iter().enumerate() {
        log.append(TOPIC, vec![record(i, *size)])
            .await
            .expect("append");
    }
    let all = log
        .read(TOPIC, 0, 0, 100, Duration::ZERO)
        .await
        .expect("read");
    let lens: Vec<usize> = all.iter().map(|r| r.value.len()).collect();
    let expected: Vec<usize> = sizes
        .iter()
        .enumerate()
        .map(|(i, size)| format!("{i}:").len() + size)
        .collect();
    assert_eq!(lens, expected);
    let middle = log
        .read(TOPIC, 0, 3, 1, Duration::ZERO)
        .await
        .expect("read one");
    assert_eq!(middle[0].value.len(), expected[3]);
}

#[tokio::test]
async fn a_read_stops_at_its_byte_budget_but_returns_at_least_one_record() {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = EmbeddedOptions {
        max_read_bytes: 10_000,
        ..EmbeddedOptions::default()
    };
    let log = EmbeddedLog::open(dir.path(), options).await.expect("open");
    log.append(TOPIC, (0..10).map(|i| record(i, 3_000)).collect())
        .await
        .expect("append");
    let first = log
        .read(TOPIC, 0, 0, 100, Duration::ZERO)
        .await
        .expect("read");
    assert!(
        !first.is_empty() && first.len() < 10,
        "byte budget applies: {}",
        first.len()
    );
    log.append(TOPIC, vec![record(10, 50_000)])
        .await
        .expect("append large");
    let large = log
        .read(TOPIC, 0, 10, 100, Duration::ZERO)
        .await
        .expect("read large");
    assert_eq!(large.len(), 1, "a record over the budget is still returned");
}
