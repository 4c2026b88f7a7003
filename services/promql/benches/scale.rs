//! Scale measurement, not a test: 100k series in a 10-minute window at 15 s,
//! and the window's memory per series (RSS slope between 10k and 100k
//! series kept in a sliding window, as the evaluator keeps them).
//!
//!   cargo bench -p closeloop-promql --bench scale

use std::time::Instant;

use closeloop_promql::{eval_instant, parse, EvalOptions, Labels, Storage, Value};

fn build(series: usize, samples: i64) -> Storage {
    let mut s = Storage::new();
    let labels: Vec<Labels> = (0..series)
        .map(|i| {
            Labels::from_pairs([
                ("__name__", "http_requests_total".to_string()),
                ("job", format!("job-{}", i % 10)),
                (
                    "instance",
                    format!("10.0.{}.{}:9100", i / 256 % 256, i % 256),
                ),
                ("path", format!("/api/v1/item/{}", i % 50)),
                ("code", ["200", "404", "500"][i % 3].to_string()),
            ])
        })
        .collect();
    for t in 0..samples {
        for (i, l) in labels.iter().enumerate() {
            s.append(l, t * 15_000, (t as usize * (i % 7)) as f64);
        }
    }
    s
}

fn main() {
    memory_per_series();
    let started = Instant::now();
    let storage = build(100_000, 40);
    println!("append 4M samples: {:?}", started.elapsed());
    let per_series = storage.approximate_bytes() / storage.series_count();
    println!("approximate bytes per series: {per_series}");
    let expr =
        parse("sum by (job) (rate(http_requests_total{code!=\"404\"}[5m]))").expect("parses");
    let started = Instant::now();
    let v = eval_instant(&storage, &expr, 600_000, &EvalOptions::default()).expect("evaluates");
    println!(
        "sum by (job) (rate(...[5m])) over 100k series: {:?}",
        started.elapsed()
    );
    assert!(matches!(v, Value::Vector(v) if v.len() == 10));
    let expr = parse("http_requests_total > 100").expect("parses");
    let started = Instant::now();
    eval_instant(&storage, &expr, 600_000, &EvalOptions::default()).expect("evaluates");
    println!("filter over 100k series: {:?}", started.elapsed());
}

/// Resident anonymous memory of this process, from /proc (Linux only).
fn rss_anon_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("RssAnon:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Label sets shaped like bench/target.py's request counters: 7 labels.
fn label_sets(series: usize) -> Vec<Labels> {
    (0..series)
        .map(|i| {
            Labels::from_pairs([
                ("__name__", "http_requests_total".to_string()),
                ("job", "bench".to_string()),
                ("service", format!("svc-{:02}", i % 25)),
                (
                    "instance",
                    format!("10.{}.{}.{}:8080", i % 25, i / 250 % 4, i % 250),
                ),
                (
                    "method",
                    ["GET", "POST", "PUT", "DELETE"][i % 4].to_string(),
                ),
                (
                    "handler",
                    ["/api/v1/orders", "/api/v1/users", "/healthz"][i % 3].to_string(),
                ),
                ("code", format!("{}", i / 12)),
            ])
        })
        .collect()
}

/// A sliding window: one sample per series every 15 s for `ticks` ticks,
/// truncated to the last 10 minutes after each tick, as the evaluator does.
fn slide(storage: &mut Storage, labels: &[Labels], ticks: i64) {
    for tick in 0..ticks {
        let t = tick * 15_000 + 1_700_000_000_000;
        for (i, l) in labels.iter().enumerate() {
            // Values with ten significant digits, like the target serves.
            let v = (i as f64 * 0.37 + 1.0)
                * (3600.0 + t as f64 / 1000.0 + (t as f64 / 3e5).sin() * 30.0);
            let v: f64 = format!("{v:.10e}").parse().unwrap_or(v);
            storage.append(l, t + (i as i64 % 7), v);
        }
        storage.truncate_before(t - 600_000);
    }
}

fn memory_per_series() {
    let (small, big) = (10_000, 100_000);
    let mut per = Vec::new();
    for n in [small, big] {
        let before = rss_anon_bytes().unwrap_or(0);
        let labels = label_sets(n);
        let mut storage = Storage::new();
        slide(&mut storage, &labels, 80);
        drop(labels);
        let after = rss_anon_bytes().unwrap_or(0);
        println!(
            "{n} series, {} samples: RSS anon +{:.1} MiB, approximate_bytes {} B/series",
            storage.sample_count(),
            (after.saturating_sub(before)) as f64 / 1048576.0,
            storage.approximate_bytes() / storage.series_count()
        );
        per.push((n, after.saturating_sub(before), storage));
    }
    let ((n0, d0, _), (n1, d1, _)) = (&per[0], &per[1]);
    println!(
        "memory per series: {} B (slope of RSS anon between {n0} and {n1} series; 10-minute window at 15 s)",
        d1.saturating_sub(*d0) as usize / (n1 - n0)
    );
}
