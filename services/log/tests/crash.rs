//! Crash safety: a child process appends continuously and prints every
//! offset the log acknowledged; the test kills it with SIGKILL at a random
//! moment, reopens the log and checks that every acknowledged record is
//! there and intact, and that appending goes on. Several rounds on the same
//! directory, so recovery also runs on logs that were recovered before.
//!
//! The child is this test binary itself, started with an environment
//! variable that turns the test into the appender.
//!
//! SIGKILL tears writes and interrupts recovery at random points, but the
//! kernel keeps the page cache, so this does not prove fsync ordering
//! against power loss; that rests on the write/sync/roll ordering in the
//! writer and sync stages and on the hand-damaged segment tests.

use bytes::Bytes;
use closeloop_log::embedded::{EmbeddedLog, EmbeddedOptions};
use closeloop_log::{EventLog, NewRecord, Offset};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncBufReadExt, BufReader};

const TEST_NAME: &str = "acknowledged_records_survive_sigkill_mid_append";
const CHILD_DIR_ENV: &str = "CLOSELOOP_LOG_CRASH_CHILD_DIR";
const CHILD_ROUND_ENV: &str = "CLOSELOOP_LOG_CRASH_CHILD_ROUND";
const TOPIC: &str = "crash";
const ROUNDS: u64 = 6;
const APPENDERS: u64 = 8;

fn options() -> EmbeddedOptions {
    // Small segments so that kills also land around segment rolls.
    EmbeddedOptions {
        default_partitions: 2,
        segment_bytes: 512 * 1024,
        ..EmbeddedOptions::default()
    }
}

/// The value a child appends as record `seq` of appender `task` in `round`:
/// a readable prefix and pseudo-random filler of varying length, so a
/// record that is present but damaged is told apart from an intact one.
fn payload(round: u64, task: u64, seq: u64) -> Vec<u8> {
    let mut value = format!("r{round}-t{task}-s{seq}|").into_bytes();
    let mut state = (round << 48) ^ (task << 32) ^ seq ^ 0x9e37_79b9_7f4a_7c15;
    let len = (seq * 7919 + task * 104_729) % 30_000;
    for _ in 0..len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        value.push(state as u8);
    }
    value
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Ack {
    partition: u32,
    offset: Offset,
    round: u64,
    task: u64,
    seq: u64,
}

fn parse_ack(line: &str) -> Option<Ack> {
    let mut fields = line.strip_prefix("ack ")?.split(' ').map(str::parse::<u64>);
    let mut next = || fields.next()?.ok();
    Some(Ack {
        partition: u32::try_from(next()?).ok()?,
        offset: next()?,
        round: next()?,
        task: next()?,
        seq: next()?,
    })
}

/// The child: append forever from several tasks, printing each ack.
async fn run_appender(dir: &Path, round: u64) {
    let log = std::sync::Arc::new(EmbeddedLog::open(dir, options()).await.expect("child open"));
    let mut tasks = Vec::new();
    for task in 0..APPENDERS {
        let log = std::sync::Arc::clone(&log);
        tasks.push(tokio::spawn(async move {
            for seq in 0.. {
                let record = NewRecord {
                    key: Bytes::from(format!("task-{task}")),
                    value: Bytes::from(payload(round, task, seq)),
                    timestamp_ms: seq as i64,
                };
                match log.append(TOPIC, vec![record]).await {
                    Ok(placed) => {
                        let (partition, offset) = placed[0];
                        let mut out = std::io::stdout().lock();
                        let printed =
                            writeln!(out, "ack {partition} {offset} {round} {task} {seq}")
                                .and_then(|()| out.flush());
                        printed.expect("child stdout");
                    }
                    Err(error) => eprintln!("child append failed: {error}"),
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("appender task");
    }
}

/// A small xorshift generator seeded from the clock; the seed is printed
/// so a failing run can be told apart.
struct Random(u64);

impl Random {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below.max(1)
    }
}

async fn kill_child_mid_append(dir: &Path, round: u64, random: &mut Random) -> Vec<Ack> {
    let exe = std::env::current_exe().expect("test binary path");
    let mut child = tokio::process::Command::new(exe)
        .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR_ENV, dir)
        .env(CHILD_ROUND_ENV, round.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn child appender");
    let stdout = child.stdout.take().expect("child stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut acks = Vec::new();
    let kill_after = 20 + random.next(400);
    let started = Instant::now();
    while (acks.len() as u64) < kill_after {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "child made no progress in round {round}"
        );
        match tokio::time::timeout(Duration::from_secs(60), lines.next_line()).await {
            Ok(Ok(Some(line))) => acks.extend(parse_ack(&line)),
            Ok(Ok(None)) => panic!("child exited before it was killed in round {round}"),
            Ok(Err(error)) => panic!("reading child stdout: {error}"),
            Err(_) => panic!("child printed nothing for 60 s in round {round}"),
        }
    }
    // Let it run on for a moment so the kill lands at a random point of a
    // batch: between write and fsync, mid-write, during a roll.
    tokio::time::sleep(Duration::from_micros(random.next(20_000))).await;
    child.start_kill().expect("SIGKILL child");
    // Acks printed before the kill are still in the pipe.
    while let Ok(Some(line)) = lines.next_line().await {
        acks.extend(parse_ack(&line));
    }
    let status = child.wait().await.expect("wait for child");
    assert!(
        !status.success(),
        "child was killed, not finished: {status}"
    );
    acks
}

async fn check_all_acknowledged(dir: &Path, acks: &[Ack], round: u64, seed: u64) {
    let log = EmbeddedLog::open(dir, options())
        .await
        .expect("reopen after kill");
    let partitions = log.partitions(TOPIC).await.expect("partitions");
    let mut stored: HashMap<(u32, Offset), Bytes> = HashMap::new();
    for partition in 0..partitions {
        let end = log.end_offset(TOPIC, partition).await.expect("end offset");
        let mut next = 0;
        while next < end {
            let batch = log
                .read(TOPIC, partition, next, 1000, Duration::ZERO)
                .await
                .expect("read after kill");
            assert!(
                !batch.is_empty(),
                "no record at {partition}/{next} below end {end}"
            );
            for record in batch {
                assert_eq!(record.offset, next, "offsets are contiguous");
                next += 1;
                stored.insert((partition, record.offset), record.value);
            }
        }
    }
    for ack in acks {
        let value = stored.get(&(ack.partition, ack.offset));
        let expected = payload(ack.round, ack.task, ack.seq);
        assert!(
            value.is_some_and(|value| value[..] == expected[..]),
            "round {round} (seed {seed}): acknowledged {ack:?} is missing or damaged"
        );
    }
    // Appending goes on right after the last surviving record.
    let partition = closeloop_log::partition_for_key(b"task-0", partitions);
    let end = log.end_offset(TOPIC, partition).await.expect("end offset");
    let after = NewRecord {
        key: Bytes::from_static(b"task-0"),
        value: Bytes::from_static(b"after"),
        timestamp_ms: 0,
    };
    let placed = log
        .append(TOPIC, vec![after])
        .await
        .expect("append after recovery");
    assert_eq!(placed, vec![(partition, end)]);
    eprintln!(
        "round {round}: {} acknowledged records so far, all intact; {} stored",
        acks.len(),
        stored.len()
    );
    let read = log
        .read(TOPIC, placed[0].0, placed[0].1, 1, Duration::ZERO)
        .await
        .expect("read appended");
    assert_eq!(read[0].value, Bytes::from_static(b"after"));
    log.close().await.expect("close");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_records_survive_sigkill_mid_append() {
    if let (Ok(dir), Ok(round)) = (std::env::var(CHILD_DIR_ENV), std::env::var(CHILD_ROUND_ENV)) {
        run_appender(Path::new(&dir), round.parse().expect("round number")).await;
        return;
    }
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        | 1;
    eprintln!("crash test seed {seed}");
    let mut random = Random(seed);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut acks = Vec::new();
    for round in 0..ROUNDS {
        let new_acks = kill_child_mid_append(dir.path(), round, &mut random).await;
        assert!(!new_acks.is_empty());
        acks.extend(new_acks);
        check_all_acknowledged(dir.path(), &acks, round, seed).await;
    }
    let mut places: Vec<_> = acks.iter().map(|ack| (ack.partition, ack.offset)).collect();
    places.sort_unstable();
    places.dedup();
    assert_eq!(places.len(), acks.len(), "no offset was acknowledged twice");
}
