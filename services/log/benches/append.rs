//! Append throughput of the embedded log on the ingest hot path: 64
//! concurrent appenders of 20 KB records with fsync on, one partition, as
//! when many Prometheus remote-write batches arrive at once.
//!
//! `cargo bench -p closeloop-log --bench append` runs it for 10 s (set
//! `CLOSELOOP_BENCH_SECS`, and `CLOSELOOP_BENCH_DIR` to measure a given
//! disk; the default is a temp dir). Without `--bench` (as under
//! `cargo test --benches`) it only runs briefly as a smoke test.

use bytes::Bytes;
use closeloop_log::embedded::{EmbeddedLog, EmbeddedOptions};
use closeloop_log::{EventLog, NewRecord};
use std::sync::Arc;
use std::time::{Duration, Instant};

const APPENDERS: usize = 64;
const RECORD_BYTES: usize = 20 * 1024;

#[tokio::main]
async fn main() {
    let benchmarking = std::env::args().any(|arg| arg == "--bench");
    let seconds: f64 = std::env::var("CLOSELOOP_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10.0);
    let run_for = if benchmarking {
        Duration::from_secs_f64(seconds)
    } else {
        Duration::from_millis(200)
    };
    let temp = match std::env::var_os("CLOSELOOP_BENCH_DIR") {
        Some(dir) => tempfile::tempdir_in(dir),
        None => tempfile::tempdir(),
    }
    .expect("bench dir");
    let log = Arc::new(
        EmbeddedLog::open(temp.path(), EmbeddedOptions::default())
            .await
            .expect("open log"),
    );
    let value = Bytes::from(vec![0x5a; RECORD_BYTES]);

    let started = Instant::now();
    let deadline = started + run_for;
    let mut appenders = Vec::new();
    for task in 0..APPENDERS {
        let log = Arc::clone(&log);
        let value = value.clone();
        appenders.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut failures = 0u64;
            let key = Bytes::from(format!("appender-{task}"));
            while Instant::now() < deadline {
                let record = NewRecord {
                    key: key.clone(),
                    value: value.clone(),
                    timestamp_ms: 0,
                };
                let sent = Instant::now();
                match log.append("bench", vec![record]).await {
                    Ok(_) => latencies.push(sent.elapsed()),
                    Err(_) => failures += 1,
                }
            }
            (latencies, failures)
        }));
    }
    let mut latencies = Vec::new();
    let mut failures = 0;
    for appender in appenders {
        let (task_latencies, task_failures) = appender.await.expect("appender task");
        latencies.extend(task_latencies);
        failures += task_failures;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let percentile = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
    };
    let appends = latencies.len() as f64;
    println!(
        "embedded log append: {APPENDERS} appenders x {} KB records, fsync on, {elapsed:.1} s",
        RECORD_BYTES / 1024
    );
    println!("  appends/s   {:>10.0}", appends / elapsed);
    println!(
        "  MB/s        {:>10.1}",
        appends * RECORD_BYTES as f64 / elapsed / 1e6
    );
    println!(
        "  latency p50 {:>10.2?}",
        percentile(0.50).copied().unwrap_or_default()
    );
    println!(
        "  latency p99 {:>10.2?}",
        percentile(0.99).copied().unwrap_or_default()
    );
    println!("  failed      {failures:>10}");
    match Arc::try_unwrap(log) {
        Ok(log) => log.close().await.expect("close log"),
        Err(_) => eprintln!("log still shared at exit"),
    }
}
