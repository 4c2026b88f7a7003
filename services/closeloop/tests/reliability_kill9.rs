//! Reliability (a): remote write at a sustained load while `closeloop serve`
//! (embedded log, fsync on) is SIGKILLed several times at random moments.
//! Senders behave as Prometheus' remote-write queue does: a batch that got
//! no 2xx (refused, connection reset, process gone) is sent again, unchanged,
//! after a backoff. Afterwards the log is opened directly and every sample of
//! every acknowledged request is looked for: the count of lost samples must
//! be 0. Duplicates (a batch stored, its 2xx lost with the process) are
//! allowed, as the remote-write contract allows them, and counted.
//!
//! Prints its figures (kills, acknowledged batches and samples, lost,
//! duplicated, time to ready after each kill). A second test sends
//! SIGTERM under the same load: exit 0, promptly, nothing lost.

mod support;

use closeloop_core::remote_write::{Label, Sample, TimeSeries, WriteRequest};
use closeloop_log::embedded::{EmbeddedLog, EmbeddedOptions};
use prost::Message;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::*;

const SENDERS: u64 = 4;
const SERIES_PER_BATCH: u64 = 250;
const KILLS: usize = 5;

/// One batch as Prometheus sends it: `SERIES_PER_BATCH` series with sorted
/// labels, one sample each. Each sample's value is its own id
/// (`batch * SERIES_PER_BATCH + series`), so a sample found in the log says
/// which batch it came from.
fn batch_body(batch: u64, timestamp_ms: i64) -> Vec<u8> {
    let timeseries = (0..SERIES_PER_BATCH)
        .map(|series| TimeSeries {
            labels: vec![
                Label {
                    name: "__name__".into(),
                    value: "reliability_probe".into(),
                },
                Label {
                    name: "instance".into(),
                    value: format!("host-{}:9100", series % 50),
                },
                Label {
                    name: "job".into(),
                    value: "node".into(),
                },
                Label {
                    name: "series".into(),
                    value: series.to_string(),
                },
            ],
            samples: vec![Sample {
                value: (batch * SERIES_PER_BATCH + series) as f64,
                timestamp: timestamp_ms,
            }],
            ..Default::default()
        })
        .collect();
    let request = WriteRequest {
        timeseries,
        ..Default::default()
    };
    snap::raw::Encoder::new()
        .compress_vec(&request.encode_to_vec())
        .expect("snappy")
}

/// A small deterministic generator for the kill moments; its seed is
/// printed so a failing run can be repeated.
struct XorShift(u64);

impl XorShift {
    fn next_in(&mut self, low_ms: u64, high_ms: u64) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        Duration::from_millis(low_ms + self.0 % (high_ms - low_ms))
    }
}

#[derive(Default)]
struct Tally {
    acknowledged: Vec<u64>,
    retries: u64,
    refused_503: u64,
    refused_503_without_retry_after: u64,
    unexpected: Vec<String>,
}

/// `SENDERS` tasks remote-writing to `base_url` until `stop`, as
/// Prometheus' queue does: the same batch again, after a backoff, until it
/// gets a 2xx.
fn start_senders(
    base_url: &str,
    tally: &Arc<Mutex<Tally>>,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut senders = Vec::new();
    for sender in 0..SENDERS {
        let (tally, stop) = (Arc::clone(tally), Arc::clone(stop));
        let url = format!("{base_url}/api/v1/write");
        senders.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap();
            let mut batch = sender;
            while !stop.load(Ordering::SeqCst) {
                let body = batch_body(batch, chrono::Utc::now().timestamp_millis());
                // Prometheus' queue: the same batch until it gets a 2xx.
                let mut backoff = Duration::from_millis(30);
                loop {
                    let sent = client
                        .post(&url)
                        .header("content-encoding", "snappy")
                        .header("content-type", "application/x-protobuf")
                        .header("user-agent", "Prometheus/2.42.0")
                        .header("x-prometheus-remote-write-version", "0.1.0")
                        .body(body.clone())
                        .send()
                        .await;
                    let acknowledged = {
                        let mut t = tally.lock().unwrap();
                        match sent {
                            Ok(r) if r.status().is_success() => {
                                t.acknowledged.push(batch);
                                true
                            }
                            Ok(r) if r.status() == 503 => {
                                t.refused_503 += 1;
                                if r.headers().get("retry-after").is_none() {
                                    t.refused_503_without_retry_after += 1;
                                }
                                t.retries += 1;
                                false
                            }
                            Ok(r) => {
                                t.unexpected.push(r.status().to_string());
                                t.retries += 1;
                                false
                            }
                            // The process is gone or restarting.
                            Err(_) => {
                                t.retries += 1;
                                false
                            }
                        }
                    };
                    if acknowledged {
                        break;
                    }
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_millis(500));
                }
                batch += SENDERS;
            }
        }));
    }
    senders
}

/// Every sample the log in `log_dir` holds, by id, with how many times.
async fn stored_samples(log_dir: &std::path::Path) -> BTreeMap<u64, u32> {
    let log = EmbeddedLog::open(log_dir, EmbeddedOptions::default())
        .await
        .expect("opening the log closeloop wrote");
    let stored = stored_sample_values(&log, "closeloop.samples").await;
    log.close().await.unwrap();
    stored
}

fn write_config(dir: &std::path::Path) -> std::path::PathBuf {
    let config_path = dir.join("closeloop.yml");
    std::fs::write(
        &config_path,
        "evaluation: {interval: 1s, lateness: 1s, idle_follow: 1s}\n",
    )
    .unwrap();
    config_path
}

/// The ids of acknowledged samples the log does not hold.
fn lost_samples(tally: &Tally, stored: &BTreeMap<u64, u32>) -> Vec<u64> {
    let mut lost = Vec::new();
    for &batch in &tally.acknowledged {
        for series in 0..SERIES_PER_BATCH {
            let id = batch * SERIES_PER_BATCH + series;
            if !stored.contains_key(&id) {
                lost.push(id);
            }
        }
    }
    lost
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_acknowledged_sample_is_lost_when_closeloop_is_killed_under_load() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config_path = write_config(dir.path());
    let port = free_port();
    let mut closeloop = Closeloop::start(dir.path(), &config_path, port).await;

    let tally = Arc::new(Mutex::new(Tally::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let senders = start_senders(&closeloop.url, &tally, &stop);
    let acknowledged = || tally.lock().unwrap().acknowledged.len();

    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    let mut random = XorShift(seed);
    let mut ready_after_kill = Vec::new();
    for _ in 0..KILLS {
        tokio::time::sleep(random.next_in(700, 2500)).await;
        closeloop.process.kill9();
        let killed_at = Instant::now();
        closeloop = Closeloop::start(dir.path(), &config_path, port).await;
        ready_after_kill.push(killed_at.elapsed());
    }
    // Load after the last restart, so the last kill is not at the very end.
    let before = acknowledged();
    wait_for(
        "writes acknowledged after the last restart",
        Duration::from_secs(30),
        || async { (acknowledged() >= before + 20).then_some(()) },
    )
    .await;
    stop.store(true, Ordering::SeqCst);
    for sender in senders {
        sender.await.unwrap();
    }
    closeloop.process.kill9();

    let stored = stored_samples(&dir.path().join("data/log")).await;

    let tally = tally.lock().unwrap();
    let acknowledged_samples = tally.acknowledged.len() as u64 * SERIES_PER_BATCH;
    let lost = lost_samples(&tally, &stored);
    let duplicated = stored.values().filter(|&&n| n > 1).count();
    eprintln!(
        "reliability (a), seed {seed}: {KILLS} SIGKILLs under load from {SENDERS} senders; \
         acknowledged {} batches = {acknowledged_samples} samples; lost {}; \
         samples stored more than once {duplicated}; resends {}; 503s {}; \
         ready after each kill {:?}",
        tally.acknowledged.len(),
        lost.len(),
        tally.retries,
        tally.refused_503,
        ready_after_kill,
    );
    assert!(
        tally.acknowledged.len() > 100,
        "too little load to prove anything: {} batches",
        tally.acknowledged.len()
    );
    assert!(
        lost.is_empty(),
        "{} of {acknowledged_samples} acknowledged samples are not in the log (seed {seed}): {:?}",
        lost.len(),
        &lost[..lost.len().min(20)]
    );
    assert_eq!(
        tally.refused_503_without_retry_after, 0,
        "every 503 carries Retry-After"
    );
    assert!(
        tally.unexpected.is_empty(),
        "answers other than 2xx or 503: {:?}",
        tally.unexpected
    );
}

/// SIGTERM under the same load: closeloop stops taking requests, finishes
/// what it holds, commits, and exits 0 well within the shutdown grace
/// period (25 s, under Kubernetes' 30 s); everything it acknowledged is in
/// the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_exits_zero_promptly_and_keeps_what_it_acknowledged() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config_path = write_config(dir.path());
    let mut closeloop = Closeloop::start(dir.path(), &config_path, free_port()).await;
    let tally = Arc::new(Mutex::new(Tally::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let senders = start_senders(&closeloop.url, &tally, &stop);
    wait_for(
        "load before the SIGTERM",
        Duration::from_secs(30),
        || async { (tally.lock().unwrap().acknowledged.len() >= 200).then_some(()) },
    )
    .await;

    let pid = closeloop.process.child.id().to_string();
    let signalled = Instant::now();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("running kill");
    assert!(sent.success(), "kill -TERM {pid} failed");
    let status = loop {
        if let Some(status) = closeloop.process.child.try_wait().expect("waiting") {
            break status;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(30),
            "closeloop still running 30 s after SIGTERM:\n{}",
            closeloop.process.log_text()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let took = signalled.elapsed();
    stop.store(true, Ordering::SeqCst);
    for sender in senders {
        sender.await.unwrap();
    }
    assert!(
        status.success(),
        "exit after SIGTERM: {status}\n{}",
        closeloop.process.log_text()
    );

    let stored = stored_samples(&dir.path().join("data/log")).await;
    let tally = tally.lock().unwrap();
    let lost = lost_samples(&tally, &stored);
    eprintln!(
        "SIGTERM under load: exited {status} after {took:?}; acknowledged {} batches; lost {}",
        tally.acknowledged.len(),
        lost.len()
    );
    assert!(lost.is_empty(), "{} acknowledged samples lost", lost.len());
    assert!(
        tally.unexpected.is_empty(),
        "answers other than 2xx or 503: {:?}",
        tally.unexpected
    );
}
