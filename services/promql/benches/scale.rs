//! Scale measurement, not a test: 100k series in a 10-minute window at 15 s.
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
