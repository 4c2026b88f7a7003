//! Remote-write ingest throughput: the 275 requests captured from a real
//! Prometheus 2.42 (tests/testdata/prometheus-2.42/stream) are replayed,
//! timestamps shifted to end now, series re-sharded across concurrent
//! senders the way Prometheus' queue manager shards them (by series hash,
//! one request in flight per shard, at most 500 samples per request), into
//! `closeloop serve` and into Prometheus 2.42 with
//! `--web.enable-remote-write-receiver`, in one run so the ratio holds on a
//! noisy machine. Prints accepted samples/s and request latency p50/p99.
//!
//!   cargo bench -p closeloop --bench remote_write_replay
//!
//! Env: BENCH_PASSES (default 4, the stream replayed back to back),
//! BENCH_SHARDS (default 8).

mod peers;

use closeloop_core::remote_write::{decode, Sample, TimeSeries, WriteRequest};
use peers::{free_port, start_prometheus, wait_ready};
use prost::Message;
use std::path::PathBuf;
use std::time::Instant;

const MAX_SAMPLES_PER_SEND: usize = 500;

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn load_stream() -> Vec<WriteRequest> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/testdata/prometheus-2.42/stream");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("stream fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "bin"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| decode(&std::fs::read(f).expect("fixture"), 64 << 20).expect("fixture decodes"))
        .collect()
}

fn series_hash(series: &TimeSeries) -> u64 {
    closeloop_core::fingerprint_sorted(
        series
            .labels
            .iter()
            .map(|l| (l.name.as_str(), l.value.as_str())),
    )
    .0
}

/// Builds each shard's sequence of compressed request bodies.
fn shard_requests(
    stream: &[WriteRequest],
    passes: usize,
    shards: usize,
) -> (Vec<Vec<Vec<u8>>>, usize) {
    let (min_ts, max_ts) = stream
        .iter()
        .flat_map(|r| {
            r.timeseries
                .iter()
                .flat_map(|s| s.samples.iter().map(|x| x.timestamp))
        })
        .fold((i64::MAX, i64::MIN), |(lo, hi), t| (lo.min(t), hi.max(t)));
    let span = max_ts - min_ts + 1000;
    let now = chrono::Utc::now().timestamp_millis();
    let mut pending: Vec<Vec<TimeSeries>> = vec![Vec::new(); shards];
    let mut pending_samples = vec![0usize; shards];
    let mut out: Vec<Vec<Vec<u8>>> = vec![Vec::new(); shards];
    let mut total = 0;
    let flush = |shard: usize,
                 pending: &mut Vec<Vec<TimeSeries>>,
                 counts: &mut Vec<usize>,
                 out: &mut Vec<Vec<Vec<u8>>>| {
        if pending[shard].is_empty() {
            return;
        }
        let request = WriteRequest {
            timeseries: std::mem::take(&mut pending[shard]),
            metadata: vec![],
        };
        let body = snap::raw::Encoder::new()
            .compress_vec(&request.encode_to_vec())
            .expect("snappy");
        out[shard].push(body);
        counts[shard] = 0;
    };
    for pass in 0..passes {
        // Each pass is shifted one span later, the last one ending now.
        let shift = now - max_ts - span * (passes - 1 - pass) as i64;
        for request in stream {
            for series in &request.timeseries {
                let shard = (series_hash(series) % shards as u64) as usize;
                let samples: Vec<Sample> = series
                    .samples
                    .iter()
                    .map(|s| Sample {
                        value: s.value,
                        timestamp: s.timestamp + shift,
                    })
                    .collect();
                total += samples.len();
                pending_samples[shard] += samples.len();
                pending[shard].push(TimeSeries {
                    labels: series.labels.clone(),
                    samples,
                    ..Default::default()
                });
                if pending_samples[shard] >= MAX_SAMPLES_PER_SEND {
                    flush(shard, &mut pending, &mut pending_samples, &mut out);
                }
            }
        }
    }
    for shard in 0..shards {
        flush(shard, &mut pending, &mut pending_samples, &mut out);
    }
    (out, total)
}

struct Outcome {
    seconds: f64,
    samples_per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    failures: usize,
}

async fn replay(url: &str, shards: &[Vec<Vec<u8>>], samples: usize) -> Outcome {
    let client = reqwest::Client::new();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for bodies in shards.iter().cloned() {
        let (client, url) = (client.clone(), url.to_string());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(bodies.len());
            let mut failures = 0;
            for body in bodies {
                let sent = Instant::now();
                let response = client
                    .post(&url)
                    .header("Content-Encoding", "snappy")
                    .header("Content-Type", "application/x-protobuf")
                    .header("X-Prometheus-Remote-Write-Version", "0.1.0")
                    .body(body)
                    .send()
                    .await;
                latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                match response {
                    Ok(r) if r.status().is_success() => {}
                    Ok(r) => {
                        failures += 1;
                        if failures == 1 {
                            eprintln!(
                                "{url}: {} {}",
                                r.status(),
                                r.text().await.unwrap_or_default()
                            );
                        }
                    }
                    Err(e) => {
                        failures += 1;
                        eprintln!("{url}: {e}");
                    }
                }
            }
            (latencies, failures)
        }));
    }
    let mut latencies = Vec::new();
    let mut failures = 0;
    for task in tasks {
        let (l, f) = task.await.expect("sender task");
        latencies.extend(l);
        failures += f;
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| latencies[((latencies.len() as f64 - 1.0) * p) as usize];
    Outcome {
        seconds,
        samples_per_second: samples as f64 / seconds,
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
        failures,
    }
}

fn main() {
    let passes = env_or("BENCH_PASSES", 4);
    let shards = env_or("BENCH_SHARDS", 8);
    let stream = load_stream();
    let (requests, samples) = shard_requests(&stream, passes, shards);
    let request_count: usize = requests.iter().map(Vec::len).sum();
    println!("{} captured requests x {passes} passes -> {request_count} requests over {shards} shards, {samples} samples", stream.len());

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        // Each receiver runs alone: the other is stopped, so neither's
        // background work (closeloop's evaluator, Prometheus' compaction)
        // takes CPU from the other's measurement.
        let (cl_port, prom_port) = (free_port(), free_port());
        let closeloop = {
            let _server = peers::start_closeloop(dir.path(), cl_port, None);
            wait_ready(&format!("http://127.0.0.1:{cl_port}/-/ready")).await;
            replay(
                &format!("http://127.0.0.1:{cl_port}/api/v1/write"),
                &requests,
                samples,
            )
            .await
        };
        let prometheus = {
            let _server = start_prometheus(dir.path(), prom_port);
            wait_ready(&format!("http://127.0.0.1:{prom_port}/-/ready")).await;
            replay(
                &format!("http://127.0.0.1:{prom_port}/api/v1/write"),
                &requests,
                samples,
            )
            .await
        };
        println!("| receiver | seconds | samples/s | p50 ms | p99 ms | failed requests |");
        println!("| --- | --- | --- | --- | --- | --- |");
        for (name, o) in [
            ("closeloop serve (embedded log, fsync)", &closeloop),
            ("Prometheus 2.42 receiver", &prometheus),
        ] {
            println!(
                "| {name} | {:.2} | {:.0} | {:.2} | {:.2} | {} |",
                o.seconds, o.samples_per_second, o.p50_ms, o.p99_ms, o.failures
            );
        }
        println!(
            "ratio closeloop/prometheus: {:.2}x samples/s, p99 {:.2}x",
            closeloop.samples_per_second / prometheus.samples_per_second,
            closeloop.p99_ms / prometheus.p99_ms
        );
    });
}
