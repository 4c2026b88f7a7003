//! Opening a log whose files were damaged by hand: a torn or corrupt tail
//! of the last segment is cut off, damage in an earlier segment is reported
//! when read. The frames written here follow the documented format
//! (`len | crc32 | offset | timestamp_ms | key_len | key | value`, little
//! endian), which these tests also pin down.

use bytes::Bytes;
use closeloop_log::embedded::{EmbeddedLog, EmbeddedOptions};
use closeloop_log::{EventLog, LogError, NewRecord};
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

const TOPIC: &str = "recovery";

fn record(value: &str) -> NewRecord {
    NewRecord {
        key: Bytes::from_static(b"key"),
        value: Bytes::copy_from_slice(value.as_bytes()),
        timestamp_ms: 7,
    }
}

fn frame(offset: u64, key: &[u8], value: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&offset.to_le_bytes());
    body.extend_from_slice(&7i64.to_le_bytes());
    body.extend_from_slice(&(key.len() as u32).to_le_bytes());
    body.extend_from_slice(key);
    body.extend_from_slice(value);
    let mut frame = Vec::new();
    frame.extend_from_slice(&((body.len() + 4) as u32).to_le_bytes());
    frame.extend_from_slice(&crc32fast::hash(&body).to_le_bytes());
    frame.extend_from_slice(&body);
    frame
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir.join(TOPIC).join("0"))
        .expect("partition dir")
        .map(|entry| entry.expect("entry").path())
        .collect();
    files.sort();
    files
}

fn file_len(path: &Path) -> u64 {
    fs::metadata(path).expect("metadata").len()
}

fn append_bytes(path: &Path, bytes: &[u8]) {
    let mut file = OpenOptions::new()
        .append(true)
        .open(path)
        .expect("open segment");
    file.write_all(bytes).expect("append garbage");
}

async fn open(dir: &Path) -> EmbeddedLog {
    EmbeddedLog::open(dir, EmbeddedOptions::default())
        .await
        .expect("open")
}

/// A log with `n` records `v0..` in one segment, closed.
async fn log_with_records(dir: &Path, n: usize) -> PathBuf {
    let log = open(dir).await;
    log.append(TOPIC, (0..n).map(|i| record(&format!("v{i}"))).collect())
        .await
        .expect("append");
    log.close().await.expect("close");
    segments(dir).pop().expect("one segment")
}

async fn values(log: &EmbeddedLog) -> Vec<String> {
    let records = log
        .read(TOPIC, 0, 0, 10_000, Duration::ZERO)
        .await
        .expect("read");
    records
        .iter()
        .map(|r| String::from_utf8(r.value.to_vec()).expect("utf8"))
        .collect()
}

fn expected(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("v{i}")).collect()
}

#[test]
fn stored_frames_match_the_documented_format() {
    let dir = tempfile::tempdir().expect("temp dir");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let segment = runtime.block_on(log_with_records(dir.path(), 2));
    let mut expected = frame(0, b"key", b"v0");
    expected.extend(frame(1, b"key", b"v1"));
    assert_eq!(fs::read(segment).expect("read segment"), expected);
}

#[tokio::test]
async fn torn_tail_is_cut_on_open_and_appending_continues() {
    let dir = tempfile::tempdir().expect("temp dir");
    let segment = log_with_records(dir.path(), 10).await;
    let good_len = file_len(&segment);
    // Half of the frame that would have held record 10.
    let next = frame(10, b"key", &[b'z'; 100]);
    append_bytes(&segment, &next[..next.len() / 2]);

    let log = open(dir.path()).await;
    assert_eq!(file_len(&segment), good_len, "the torn frame is cut off");
    assert_eq!(log.end_offset(TOPIC, 0).await.expect("end"), 10);
    assert_eq!(
        log.append(TOPIC, vec![record("v10")])
            .await
            .expect("append"),
        vec![(0, 10)]
    );
    assert_eq!(values(&log).await, expected(11));
}

#[tokio::test]
async fn tail_shorter_than_a_length_field_is_cut_on_open() {
    let dir = tempfile::tempdir().expect("temp dir");
    let segment = log_with_records(dir.path(), 3).await;
    let good_len = file_len(&segment);
    append_bytes(&segment, &[0x20, 0x00]);

    let log = open(dir.path()).await;
    assert_eq!(file_len(&segment), good_len);
    assert_eq!(values(&log).await, expected(3));
}

#[tokio::test]
async fn record_with_a_bad_checksum_at_the_tail_is_cut_on_open() {
    let dir = tempfile::tempdir().expect("temp dir");
    let segment = log_with_records(dir.path(), 5).await;
    let mut bytes = fs::read(&segment).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x40; // flips the last byte of record 4's value
    fs::write(&segment, &bytes).expect("write");

    let log = open(dir.path()).await;
    assert_eq!(log.end_offset(TOPIC, 0).await.expect("end"), 4);
    assert_eq!(values(&log).await, expected(4));
    assert_eq!(
        log.append(TOPIC, vec![record("v4")]).await.expect("append"),
        vec![(0, 4)]
    );
    assert_eq!(values(&log).await, expected(5));
}

#[tokio::test]
async fn frame_with_a_discontinuous_offset_is_cut_on_open() {
    let dir = tempfile::tempdir().expect("temp dir");
    let segment = log_with_records(dir.path(), 4).await;
    let good_len = file_len(&segment);
    // A well-formed frame, checksum and all, but with the wrong offset: a
    // stale frame must not be taken for the next record.
    append_bytes(&segment, &frame(9, b"key", b"stale"));

    let log = open(dir.path()).await;
    assert_eq!(file_len(&segment), good_len);
    assert_eq!(values(&log).await, expected(4));
}

#[tokio::test]
async fn garbage_length_field_at_the_tail_is_cut_on_open() {
    let dir = tempfile::tempdir().expect("temp dir");
    let segment = log_with_records(dir.path(), 4).await;
    let good_len = file_len(&segment);
    append_bytes(&segment, &[0xff; 64]);

    let log = open(dir.path()).await;
    assert_eq!(file_len(&segment), good_len);
    assert_eq!(values(&log).await, expected(4));
}

#[tokio::test]
async fn checksum_failure_in_an_earlier_segment_is_reported_as_corrupt_on_read() {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = EmbeddedOptions {
        segment_bytes: 1024,
        ..EmbeddedOptions::default()
    };
    let log = EmbeddedLog::open(dir.path(), options.clone())
        .await
        .expect("open");
    for i in 0..40 {
        log.append(TOPIC, vec![record(&format!("v{i}-{}", "p".repeat(100)))])
            .await
            .expect("append");
    }
    log.close().await.expect("close");
    let files = segments(dir.path());
    assert!(files.len() > 2, "several segments: {files:?}");
    let first = &files[0];
    let mut bytes = fs::read(first).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    fs::write(first, &bytes).expect("write");

    // Earlier segments are trusted on open (not read in full), so the
    // damage shows when the records are read.
    let log = EmbeddedLog::open(dir.path(), options)
        .await
        .expect("reopen");
    assert_eq!(log.end_offset(TOPIC, 0).await.expect("end"), 40);
    let read = log.read(TOPIC, 0, 0, 100, Duration::ZERO).await;
    assert!(matches!(read, Err(LogError::Corrupt(_))), "{read:?}");
    // Records in the undamaged segments still read.
    let later = log
        .read(TOPIC, 0, 39, 1, Duration::ZERO)
        .await
        .expect("read last record");
    assert_eq!(later.len(), 1);
}
