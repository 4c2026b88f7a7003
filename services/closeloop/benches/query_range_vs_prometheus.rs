//! `query_range` latency over 100,000 series, closeloop vs Prometheus 2.42
//! in one run: a 1 h range at a 15 s step (240 steps), as a Grafana panel
//! over the last hour asks.
//!
//! Data: 25 services x 20 instances x 200 series — per instance 100
//! counters `bench_requests_total{handler (50), code (200|500)}` and 100
//! histogram buckets `bench_duration_seconds_bucket{handler (10), le (10)}`
//! — one sample every 15 s over 65 minutes (261 samples per series, 26.1M
//! in all), remote-written in time order to `closeloop serve` (release
//! build, `evaluation.query_window: 70m`) and to Prometheus 2.42 with
//! `--web.enable-remote-write-receiver`. The same bodies go to both.
//!
//! Each expression is asked once of each side to warm up (and the answers
//! compared value by value: they must agree within 1e-9 relative), then
//! ROUNDS times alternating closeloop and Prometheus, as POST form the way
//! Grafana sends it; reported: median and fastest wall time per side and
//! the ratio of the medians. Query times sit 7 s off the sample grid, where
//! Prometheus 2.42's closed windows and closeloop's left-open ones (as
//! Prometheus 3) agree.
//!
//!   cargo bench -p closeloop --bench query_range_vs_prometheus
//!
//! Env: BENCH_ROUNDS (default 5). Needs `prometheus` (Debian package;
//! tests/setup/packages.sh) and ~3 GiB of free memory.

mod peers;

use closeloop_core::remote_write::{Label, Sample, TimeSeries, WriteRequest};
use peers::{free_port, start_prometheus, wait_ready, Killed};
use prost::Message;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

const SERVICES: usize = 25;
const INSTANCES: usize = 20;
const HANDLERS: usize = 50;
const BUCKET_HANDLERS: usize = 10;
const LES: [&str; 10] = [
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf",
];
const STEP_MS: i64 = 15_000;
/// 65 minutes of samples: the hour queried plus the 5m `rate` window.
const POINTS: i64 = 261;
const SERIES_PER_REQUEST: usize = 5_000;
const IN_FLIGHT: usize = 4;

const QUERIES: [(&str, &str); 5] = [
    (
        "rate, sum by service (50k series)",
        "sum by (service) (rate(bench_requests_total[5m]))",
    ),
    (
        "histogram_quantile over buckets (50k series)",
        "histogram_quantile(0.99, sum by (le, service) (rate(bench_duration_seconds_bucket[5m])))",
    ),
    (
        "error ratio by service, handler (50k series)",
        "sum by (service, handler) (rate(bench_requests_total{code=\"500\"}[5m])) / sum by (service, handler) (rate(bench_requests_total[5m]))",
    ),
    (
        "topk of instance rates (50k series)",
        "topk(5, sum by (service, instance) (rate(bench_requests_total[5m])))",
    ),
    (
        "raw selector (100 series)",
        "bench_requests_total{service=\"s3\",instance=\"i7\"}",
    ),
];

/// The label sets of every series, sorted by name as remote write wants.
fn all_series() -> Vec<Vec<Label>> {
    let label = |name: &str, value: String| Label {
        name: name.to_string(),
        value,
    };
    let mut out = Vec::with_capacity(SERVICES * INSTANCES * 200);
    for s in 0..SERVICES {
        for i in 0..INSTANCES {
            for h in 0..HANDLERS {
                for code in ["200", "500"] {
                    out.push(vec![
                        label("__name__", "bench_requests_total".into()),
                        label("code", code.into()),
                        label("handler", format!("h{h}")),
                        label("instance", format!("i{i}")),
                        label("service", format!("s{s}")),
                    ]);
                }
            }
            for h in 0..BUCKET_HANDLERS {
                for le in LES {
                    out.push(vec![
                        label("__name__", "bench_duration_seconds_bucket".into()),
                        label("handler", format!("h{h}")),
                        label("instance", format!("i{i}")),
                        label("le", le.into()),
                        label("service", format!("s{s}")),
                    ]);
                }
            }
        }
    }
    out
}

/// Series `index`'s value at point `k`: each counter grows at its own
/// rate (so no two instances tie in `topk`, whose tie order is Prometheus'
/// heap's own); buckets are cumulative (a bigger `le` never holds less).
fn value(index: usize, k: i64) -> f64 {
    let within = index % 200;
    if within < 100 {
        (k * (1 + index as i64) + (index % 13) as i64) as f64
    } else {
        let le = (within - 100) % LES.len();
        (k * (le as i64 + 1) * (1 + (index % 3) as i64)) as f64
    }
}

/// Snappy-compressed remote-write bodies, oldest point first.
fn bodies(series: &[Vec<Label>], first_ms: i64) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for k in 0..POINTS {
        for (chunk_index, chunk) in series.chunks(SERIES_PER_REQUEST).enumerate() {
            let timeseries = chunk
                .iter()
                .enumerate()
                .map(|(j, labels)| TimeSeries {
                    labels: labels.clone(),
                    samples: vec![Sample {
                        value: value(chunk_index * SERIES_PER_REQUEST + j, k),
                        timestamp: first_ms + k * STEP_MS,
                    }],
                    ..Default::default()
                })
                .collect();
            let request = WriteRequest {
                timeseries,
                metadata: vec![],
            };
            out.push(
                snap::raw::Encoder::new()
                    .compress_vec(&request.encode_to_vec())
                    .expect("snappy"),
            );
        }
    }
    out
}

/// Sends the bodies in order, IN_FLIGHT at a time (each group of
/// IN_FLIGHT holds one point's series, so time order holds per series).
async fn send_all(client: &reqwest::Client, url: &str, bodies: &[Vec<u8>]) -> f64 {
    let started = Instant::now();
    for group in bodies.chunks(IN_FLIGHT) {
        let sends = group.iter().map(|body| async move {
            let response = client
                .post(url)
                .header("Content-Encoding", "snappy")
                .header("Content-Type", "application/x-protobuf")
                .header("X-Prometheus-Remote-Write-Version", "0.1.0")
                .body(body.clone())
                .send()
                .await
                .unwrap_or_else(|e| panic!("{url}: {e}"));
            let status = response.status();
            if !status.is_success() {
                panic!(
                    "{url}: {status} {}",
                    response.text().await.unwrap_or_default()
                );
            }
        });
        futures_join_all(sends).await;
    }
    started.elapsed().as_secs_f64()
}

async fn futures_join_all<F: std::future::Future<Output = ()>>(futures: impl Iterator<Item = F>) {
    let handles: Vec<_> = futures.map(Box::pin).collect();
    for handle in handles {
        handle.await;
    }
}

async fn query_range(
    client: &reqwest::Client,
    base: &str,
    expr: &str,
    start: f64,
    end: f64,
) -> (f64, Value) {
    let form = serde_urlencoded::to_string([
        ("query", expr.to_string()),
        ("start", format!("{start}")),
        ("end", format!("{end}")),
        ("step", "15".to_string()),
    ])
    .expect("form");
    let started = Instant::now();
    let response = client
        .post(format!("{base}/api/v1/query_range"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .expect("query_range");
    let body: Value = response.json().await.expect("JSON");
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(body["status"], "success", "{base}: {expr}: {body}");
    (seconds, body)
}

/// Every series and point of two matrices, compared within 1e-9 relative.
fn same_matrix(ours: &Value, theirs: &Value) -> Result<usize, String> {
    let index = |v: &Value| -> BTreeMap<String, Vec<(f64, String)>> {
        v["data"]["result"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| {
                let points = s["values"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| {
                        (
                            p[0].as_f64().unwrap_or(0.0),
                            p[1].as_str().unwrap_or("").to_string(),
                        )
                    })
                    .collect();
                (s["metric"].to_string(), points)
            })
            .collect()
    };
    let (a, b) = (index(ours), index(theirs));
    if a.len() != b.len() {
        return Err(format!("{} series vs {}", a.len(), b.len()));
    }
    let mut points = 0;
    for (metric, ours) in &a {
        let theirs = b
            .get(metric)
            .ok_or_else(|| format!("{metric} missing at Prometheus"))?;
        if ours.len() != theirs.len() {
            return Err(format!(
                "{metric}: {} points vs {}",
                ours.len(),
                theirs.len()
            ));
        }
        for ((t1, v1), (t2, v2)) in ours.iter().zip(theirs) {
            let (x, y): (f64, f64) = (
                v1.parse().unwrap_or(f64::NAN),
                v2.parse().unwrap_or(f64::NAN),
            );
            let close = v1 == v2 || (x - y).abs() <= 1e-9 * x.abs().max(y.abs());
            if t1 != t2 || !close {
                return Err(format!("{metric} at {t1}/{t2}: {v1} vs {v2}"));
            }
            points += 1;
        }
    }
    Ok(points)
}

fn start_closeloop(dir: &Path, port: u16) -> Killed {
    let config = dir.join("closeloop.yml");
    std::fs::write(
        &config,
        "evaluation: {interval: 15s, lateness: 0s, idle_follow: 1s, query_window: 70m}\n",
    )
    .expect("writing closeloop.yml");
    peers::start_closeloop(dir, port, Some(&config))
}

fn rss_mib(child: &Child) -> f64 {
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() {
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("temp dir");
        // The last point a little before now, on the 15 s grid.
        let now_ms = chrono::Utc::now().timestamp_millis();
        let last_ms = (now_ms / STEP_MS) * STEP_MS - STEP_MS;
        let first_ms = last_ms - (POINTS - 1) * STEP_MS;
        let series = all_series();
        let built = Instant::now();
        let bodies = bodies(&series, first_ms);
        eprintln!(
            "{} series x {POINTS} points in {} requests, built in {:.1}s",
            series.len(),
            bodies.len(),
            built.elapsed().as_secs_f64()
        );

        let (cl_port, prom_port) = (free_port(), free_port());
        let closeloop = start_closeloop(dir.path(), cl_port);
        let prometheus = start_prometheus(dir.path(), prom_port);
        let (cl, prom) = (
            format!("http://127.0.0.1:{cl_port}"),
            format!("http://127.0.0.1:{prom_port}"),
        );
        wait_ready(&format!("{cl}/-/ready")).await;
        wait_ready(&format!("{prom}/-/ready")).await;
        let client = reqwest::Client::new();
        let cl_send = send_all(&client, &format!("{cl}/api/v1/write"), &bodies).await;
        let prom_send = send_all(&client, &format!("{prom}/api/v1/write"), &bodies).await;
        eprintln!("written: closeloop {cl_send:.1}s, Prometheus {prom_send:.1}s");
        drop(bodies);

        // closeloop's evaluator reads the log behind ingest: wait until the
        // window holds the last point of every series.
        let end = (last_ms as f64) / 1000.0 - 8.0;
        let start = end - 3600.0;
        let probe = format!(
            "/api/v1/query?query={}%20%3D%3D%20{POINTS})&time={}",
            "count(count_over_time(%7B__name__%3D~%22bench_.*%22%7D%5B66m%5D)",
            last_ms / 1000
        );
        let deadline = Instant::now() + Duration::from_secs(600);
        loop {
            let body: Value = client
                .get(format!("{cl}{probe}"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let held = body["data"]["result"][0]["value"][1].as_str().unwrap_or("0");
            if held == series.len().to_string() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "closeloop's window never held every point of every series: {body}"
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        // Let the evaluator finish what it was reading before timing.
        tokio::time::sleep(Duration::from_secs(5)).await;
        println!(
            "resident memory after the write: closeloop {:.0} MiB, Prometheus {:.0} MiB",
            rss_mib(&closeloop.0),
            rss_mib(&prometheus.0)
        );

        println!("| query | closeloop median (fastest) ms | Prometheus 2.42 median (fastest) ms | closeloop / Prometheus | points compared |");
        println!("| --- | --- | --- | --- | --- |");
        let mut ratios = Vec::new();
        for (name, expr) in QUERIES {
            let (_, ours) = query_range(&client, &cl, expr, start, end).await;
            let (_, theirs) = query_range(&client, &prom, expr, start, end).await;
            let points = same_matrix(&ours, &theirs)
                .unwrap_or_else(|e| panic!("{expr}: answers differ: {e}"));
            let (mut mine, mut prometheus_times) = (Vec::new(), Vec::new());
            for _ in 0..rounds {
                mine.push(query_range(&client, &cl, expr, start, end).await.0 * 1000.0);
                prometheus_times.push(query_range(&client, &prom, expr, start, end).await.0 * 1000.0);
            }
            let fastest = |xs: &[f64]| xs.iter().copied().fold(f64::INFINITY, f64::min);
            let (m, p) = (median(mine.clone()), median(prometheus_times.clone()));
            ratios.push(m / p);
            println!(
                "| {name} | {m:.0} ({:.0}) | {p:.0} ({:.0}) | {:.2} | {points} |",
                fastest(&mine),
                fastest(&prometheus_times),
                m / p
            );
        }
        let geo = ratios.iter().map(|r| r.ln()).sum::<f64>() / ratios.len() as f64;
        println!("geometric mean of the ratios: {:.2}", geo.exp());
    });
}
