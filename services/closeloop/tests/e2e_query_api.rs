//! Prometheus 2.42's own `promtool query instant|range|series|labels`
//! against closeloop's query API and against a real Prometheus 2.42
//! (`--web.enable-remote-write-receiver`) fed the same remote-write
//! requests: every answer compared series by series and value by value
//! (values within 1e-9 relative, as float sums may differ in their last
//! digit). The expressions cover selectors, aggregations, functions,
//! binary operators, subqueries, range steps and the lookback edge.
//!
//! closeloop follows Prometheus 3, whose range and lookback windows are
//! left-open (`(t - range, t]`) where 2.42's are closed: query times are
//! therefore kept 7 s off the 15 s sample grid, where both agree.

mod support;

use closeloop_core::remote_write::{Label, Sample, TimeSeries, WriteRequest};
use prost::Message;
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use support::*;

const STEP_MS: i64 = 15_000;
const POINTS: i64 = 80; // 20 minutes at 15s

/// Counters, gauges and a histogram over 20 minutes ending at `end_ms`;
/// `stops_early` stops 6 minutes before the end, past the 5m lookback.
fn series(end_ms: i64) -> Vec<TimeSeries> {
    let start = end_ms - (POINTS - 1) * STEP_MS;
    let mut out = Vec::new();
    let mut add = |labels: &[(&str, &str)], value: &dyn Fn(i64) -> f64, last: i64| {
        // Remote write wants labels sorted by name.
        let mut labels: Vec<Label> = labels
            .iter()
            .map(|(n, v)| Label {
                name: n.to_string(),
                value: v.to_string(),
            })
            .collect();
        labels.sort_by(|a, b| a.name.cmp(&b.name));
        out.push(TimeSeries {
            labels,
            samples: (0..POINTS)
                .map(|i| start + i * STEP_MS)
                .filter(|t| *t <= last)
                .map(|t| Sample {
                    value: value((t - start) / STEP_MS),
                    timestamp: t,
                })
                .collect(),
            ..Default::default()
        });
    };
    for (job, scale) in [("api", 3.0), ("web", 5.0)] {
        for instance in ["a", "b"] {
            for code in ["200", "500"] {
                let k = if code == "200" { scale } else { 0.5 };
                let f = move |i: i64| (i as f64) * k + if instance == "b" { 7.0 } else { 0.0 };
                add(
                    &[
                        ("__name__", "http_requests_total"),
                        ("job", job),
                        ("instance", instance),
                        ("code", code),
                    ],
                    &f,
                    end_ms,
                );
            }
        }
    }
    for (room, base) in [("kitchen", 20.5), ("cellar", 11.25), ("attic", 27.0)] {
        let f = move |i: i64| base + ((i % 7) as f64) * 0.5;
        add(
            &[("__name__", "temperature_celsius"), ("room", room)],
            &f,
            end_ms,
        );
    }
    add(
        &[("__name__", "stops_early"), ("job", "api")],
        &|i| i as f64,
        end_ms - 6 * 60_000,
    );
    for (le, share) in [("0.1", 0.5), ("0.5", 0.8), ("1", 0.95), ("+Inf", 1.0)] {
        let f = move |i: i64| (i as f64 * 10.0 * share).floor();
        add(
            &[
                ("__name__", "latency_seconds_bucket"),
                ("job", "api"),
                ("le", le),
            ],
            &f,
            end_ms,
        );
    }
    out
}

fn body(series: Vec<TimeSeries>) -> Vec<u8> {
    let request = WriteRequest {
        timeseries: series,
        metadata: vec![],
    };
    snap::raw::Encoder::new()
        .compress_vec(&request.encode_to_vec())
        .unwrap()
}

async fn remote_write(url: &str, body: &[u8]) {
    let response = reqwest::Client::new()
        .post(format!("{url}/api/v1/write"))
        .header("content-type", "application/x-protobuf")
        .header("content-encoding", "snappy")
        .header("x-prometheus-remote-write-version", "0.1.0")
        .body(body.to_vec())
        .send()
        .await
        .expect("remote write");
    assert!(
        response.status().is_success(),
        "{url}: {}",
        response.status()
    );
}

fn start_receiver(dir: &Path) -> (Process, String) {
    spawn_prometheus(
        dir,
        "global: {scrape_interval: 15s}\n",
        &["--web.enable-remote-write-receiver"],
    )
}

fn promtool(args: &[String]) -> String {
    let output = Command::new("promtool")
        .args(["query"])
        .args(args)
        .output()
        .expect("promtool is missing: run tests/setup/packages.sh (Debian package prometheus)");
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// promtool's lines, sorted (the API promises no order without sort()),
/// each split into what must match exactly and the values.
fn lines(text: &str) -> Vec<(String, Vec<f64>)> {
    let mut out: Vec<(String, Vec<f64>)> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let mut shape = String::new();
            let mut values = Vec::new();
            for token in line.split(' ') {
                match token.parse::<f64>() {
                    Ok(v) if !token.starts_with('@') => {
                        values.push(v);
                        shape.push_str("<v> ");
                    }
                    _ => {
                        shape.push_str(token);
                        shape.push(' ');
                    }
                }
            }
            (shape, values)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn same(ours: &str, theirs: &str) -> bool {
    let (a, b) = (lines(ours), lines(theirs));
    a.len() == b.len()
        && a.iter().zip(&b).all(|((sa, va), (sb, vb))| {
            sa == sb
                && va.len() == vb.len()
                && va.iter().zip(vb).all(|(x, y)| {
                    x == y
                        || (x.is_nan() && y.is_nan())
                        || (x - y).abs() <= 1e-9 * x.abs().max(y.abs())
                })
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promtool_gets_the_same_answers_from_closeloop_and_from_prometheus() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (_prometheus, prometheus_url) = start_receiver(dir.path());
    let config = dir.path().join("closeloop.yml");
    std::fs::write(
        &config,
        "evaluation: {interval: 15s, lateness: 0s, idle_follow: 1s, query_window: 1h}\n\
         route: {receiver: default}\nreceivers: [{name: default}]\n",
    )
    .unwrap();
    let closeloop = Closeloop::start(dir.path(), &config, free_port()).await;
    wait_for("Prometheus to be ready", Duration::from_secs(60), || {
        let url = format!("{prometheus_url}/-/ready");
        async move {
            let r = reqwest::get(&url).await.ok()?;
            r.status().is_success().then_some(())
        }
    })
    .await;

    // Aligned to the step so range queries hit sample times exactly.
    let now = chrono::Utc::now().timestamp_millis();
    let end = now - now % STEP_MS - 60_000;
    let request = body(series(end));
    remote_write(&closeloop.url, &request).await;
    remote_write(&prometheus_url, &request).await;
    let at = end / 1000 + 7;
    wait_for(
        "closeloop's window to hold the samples",
        Duration::from_secs(30),
        || async {
            let answer = closeloop
                .get_json(&format!(
                    "/api/v1/query?query=count(http_requests_total)&time={at}"
                ))
                .await;
            (answer["data"]["result"][0]["value"][1] == "8").then_some(())
        },
    )
    .await;

    let instant = [
        "http_requests_total",
        "http_requests_total{code=\"500\", job=~\"a.*\"}",
        "sum by (job) (rate(http_requests_total[5m]))",
        "sum(http_requests_total) without (instance)",
        "avg_over_time(temperature_celsius[10m])",
        "max_over_time(temperature_celsius[7m]) - min_over_time(temperature_celsius[7m])",
        "increase(http_requests_total{instance=\"b\"}[2m])",
        "topk(2, temperature_celsius)",
        "count_values(\"reading\", temperature_celsius)",
        "histogram_quantile(0.9, rate(latency_seconds_bucket[5m]))",
        "rate(http_requests_total[5m]) / on(job, instance) group_left sum by (job, instance) (rate(http_requests_total[5m]))",
        "temperature_celsius > 21",
        "temperature_celsius > bool 21",
        "max_over_time(temperature_celsius[10m:30s])",
        "label_replace(temperature_celsius, \"where\", \"$1\", \"room\", \"(.*)er\")",
        "stops_early",
        "last_over_time(stops_early[10m])",
        "absent(nothing_here)",
        "http_requests_total offset 5m",
        "deriv(temperature_celsius[10m])",
        "scalar(sum(temperature_celsius)) * 2",
        "quantile(0.5, temperature_celsius)",
    ];
    let mut differ = Vec::new();
    // Guards against agreeing on errors: most answers carry values.
    let mut with_values = 0;
    for expr in instant {
        // The last sample of `stops_early` is 367 s before `at`: visible
        // at at-68, gone at at-59 (the 5m lookback edge).
        for time in [at, at - 68, at - 59, at - 290] {
            let args = |url: &str| {
                vec![
                    "instant".into(),
                    format!("--time={time}"),
                    url.to_string(),
                    expr.to_string(),
                ]
            };
            let (ours, theirs) = (
                promtool(&args(&closeloop.url)),
                promtool(&args(&prometheus_url)),
            );
            with_values += usize::from(ours.contains("=>"));
            if !same(&ours, &theirs) {
                differ.push(format!(
                    "instant {expr} @{time}\n closeloop: {ours}\n prometheus: {theirs}"
                ));
            }
        }
    }
    let ranges = [
        "rate(http_requests_total[1m])",
        "sum by (code) (increase(http_requests_total[5m]))",
        "temperature_celsius",
        "stops_early",
        "avg(temperature_celsius) + on() group_left vector(1)",
    ];
    for expr in ranges {
        // 50 s steps never land on the sample grid from `at - 900`.
        for step in ["15s", "60s", "50s"] {
            let args = |url: &str| {
                vec![
                    "range".into(),
                    format!("--start={}", at - 900),
                    format!("--end={at}"),
                    format!("--step={step}"),
                    url.to_string(),
                    expr.to_string(),
                ]
            };
            let (ours, theirs) = (
                promtool(&args(&closeloop.url)),
                promtool(&args(&prometheus_url)),
            );
            with_values += usize::from(ours.contains("=>"));
            if !same(&ours, &theirs) {
                differ.push(format!(
                    "range {expr} step {step}\n closeloop: {ours}\n prometheus: {theirs}"
                ));
            }
        }
    }
    for selector in [
        "http_requests_total{code=\"500\"}",
        "{__name__=~\"temp.*|stops_early\"}",
    ] {
        let args = |url: &str| {
            vec![
                "series".into(),
                format!("--match={selector}"),
                format!("--start={}", at - 1200),
                format!("--end={at}"),
                url.to_string(),
            ]
        };
        let (ours, theirs) = (
            promtool(&args(&closeloop.url)),
            promtool(&args(&prometheus_url)),
        );
        if !same(&ours, &theirs) {
            differ.push(format!(
                "series {selector}\n closeloop: {ours}\n prometheus: {theirs}"
            ));
        }
    }
    for name in ["job", "room", "__name__"] {
        let args = |url: &str| vec!["labels".into(), url.to_string(), name.to_string()];
        let (ours, theirs) = (
            promtool(&args(&closeloop.url)),
            promtool(&args(&prometheus_url)),
        );
        if !same(&ours, &theirs) {
            differ.push(format!(
                "labels {name}\n closeloop: {ours}\n prometheus: {theirs}"
            ));
        }
    }
    assert!(
        with_values >= 90,
        "only {with_values} of 103 answers hold values"
    );
    assert!(
        differ.is_empty(),
        "{} answers differ:\n{}",
        differ.len(),
        differ.join("\n")
    );

    // Bad input is Prometheus' bad_data, status 400.
    let response = reqwest::get(format!("{}/api/v1/query?query=sum(", closeloop.url))
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["errorType"], "bad_data");
    // Reaching back before the window says so.
    let old = closeloop
        .get_json(&format!("/api/v1/query?query=up&time={}", at - 7200))
        .await;
    assert_eq!(old["status"], "success", "{old}");
    assert!(
        old["warnings"][0]
            .as_str()
            .unwrap_or_default()
            .contains("window"),
        "{old}"
    );
}
