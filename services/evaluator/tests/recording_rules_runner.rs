//! The runner writes what rule groups recorded into `closeloop.samples` as
//! `SamplesRecorded`, so a restarted evaluator rebuilds recorded series from
//! the log: a rule over `rate(recorded[5m])` gives the same values with or
//! without a restart, and with a crash between append and commit (the
//! re-evaluated ticks are appended twice, and reading them twice is
//! harmless).

use closeloop_core::events::{SamplesReceived, SamplesRecorded, REMOTE_WRITE_V1_SNAPPY};
use closeloop_core::remote_write::{self, Label, Sample, TimeSeries, WriteRequest};
use closeloop_core::topics::{Topic, DEFAULT_PREFIX};
use closeloop_core::{Event, EventPayload, LabelSet};
use closeloop_evaluator::deploys::Attribution;
use closeloop_evaluator::runner::{Runner, WatermarkPolicy};
use closeloop_evaluator::{parse_rule_file, Evaluator, EvaluatorConfig};
use closeloop_log::embedded::{EmbeddedLog, EmbeddedOptions};
use closeloop_log::{EventLog, NewRecord};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

const RULES: &str = r#"
groups:
  - name: sum
    interval: 1m
    rules:
      - record: x:sum
        expr: sum(x)
  - name: rate
    interval: 1m
    rules:
      - record: x:sum:rate5m
        expr: rate(x:sum[5m])
"#;

/// Start of the data, a whole minute.
const T0: i64 = 1_800_000_000_000;
const SCRAPE_MS: i64 = 15_000;
/// One chunk is a minute of scrapes; the run covers 30 minutes.
const CHUNKS: i64 = 30;

fn evaluator() -> Evaluator {
    let config = EvaluatorConfig {
        default_interval_ms: 60_000,
        lookback_ms: 300_000,
        attribution: Attribution {
            window_ms: 3_600_000,
            service_label: "service".into(),
            environment_label: "environment".into(),
        },
        external_labels: LabelSet::new(),
        external_url: "http://closeloop".into(),
    };
    Evaluator::new(config, parse_rule_file(RULES, "rules.yml").unwrap())
}

fn policy() -> WatermarkPolicy {
    WatermarkPolicy {
        lateness_ms: 0,
        idle_follow_ms: None,
        wall_clock_ms: Arc::new(|| T0),
    }
}

async fn open_log(dir: &std::path::Path) -> Arc<dyn EventLog> {
    let options = EmbeddedOptions {
        fsync: false,
        ..EmbeddedOptions::default()
    };
    Arc::new(EmbeddedLog::open(dir, options).await.unwrap())
}

/// One scrape of two counters, as ingest stores it.
fn scrape(t: i64) -> NewRecord {
    let counter = |instance: &str, per_second: f64| TimeSeries {
        labels: vec![
            Label {
                name: "__name__".into(),
                value: "x".into(),
            },
            Label {
                name: "instance".into(),
                value: instance.into(),
            },
        ],
        samples: vec![Sample {
            value: per_second * ((t - T0) / 1000) as f64,
            timestamp: t,
        }],
        ..Default::default()
    };
    let request = WriteRequest {
        timeseries: vec![counter("a", 1.0), counter("b", 2.0)],
        metadata: vec![],
    };
    // The same encoding ingest receives: remote write 1.0, snappy.
    let body = SamplesRecorded::new("", "", 0, 0, &request).unwrap().body;
    let payload = SamplesReceived {
        format: REMOTE_WRITE_V1_SNAPPY.into(),
        body,
        series: 2,
        samples: 2,
        metadata: 0,
        min_timestamp_ms: Some(t),
        max_timestamp_ms: Some(t),
    };
    let at = closeloop_core::time::from_millis(t);
    let event = Event::new(
        EventPayload::SamplesReceived(payload),
        "ingest",
        "x".into(),
        at,
        at,
    );
    NewRecord {
        key: event.envelope.key.clone().into_bytes().into(),
        value: event.to_json().into(),
        timestamp_ms: t,
    }
}

async fn feed(log: &Arc<dyn EventLog>, chunks: std::ops::Range<i64>) {
    let topic = Topic::Samples.name(DEFAULT_PREFIX);
    for chunk in chunks {
        let records = (0..4)
            .map(|i| scrape(T0 + chunk * 60_000 + i * SCRAPE_MS))
            .collect();
        log.append(&topic, records).await.unwrap();
    }
}

/// Steps until the runner has read everything there is.
async fn catch_up(runner: &mut Runner) {
    let mut idle = 0;
    while idle < 2 {
        if runner.step().await.unwrap() {
            idle = 0;
        } else {
            idle += 1;
        }
    }
}

/// Feeds the chunks one by one, stepping after each, as a live stream does.
async fn run_chunks(log: &Arc<dyn EventLog>, runner: &mut Runner, chunks: std::ops::Range<i64>) {
    for chunk in chunks {
        feed(log, chunk..chunk + 1).await;
        catch_up(runner).await;
    }
}

async fn restore(log: &Arc<dyn EventLog>) -> Runner {
    Runner::restore(log.clone(), DEFAULT_PREFIX, evaluator(), policy())
        .await
        .unwrap()
}

/// Commits the way a graceful shutdown does.
async fn shut_down(runner: Runner) {
    runner.run(std::future::ready(())).await.unwrap();
}

/// Every `SamplesRecorded` in the samples stream, as (group, tick, metric,
/// value), in log order.
async fn recorded(log: &Arc<dyn EventLog>) -> Vec<(String, i64, String, f64)> {
    let topic = Topic::Samples.name(DEFAULT_PREFIX);
    let mut out = Vec::new();
    for partition in 0..log.partitions(&topic).await.unwrap() {
        let end = log.end_offset(&topic, partition).await.unwrap();
        let mut next = 0;
        while next < end {
            let records = log
                .read(&topic, partition, next, 512, Duration::ZERO)
                .await
                .unwrap();
            next = records.last().unwrap().offset + 1;
            for record in records {
                let event = Event::from_json(&record.value).unwrap();
                let EventPayload::SamplesRecorded(payload) = event.payload else {
                    continue;
                };
                assert_eq!(event.envelope.source, "evaluator");
                assert_eq!(payload.format, REMOTE_WRITE_V1_SNAPPY);
                let request = remote_write::decode(&payload.body, 1 << 20).unwrap();
                assert_eq!(payload.series as usize, request.timeseries.len());
                for series in request.timeseries {
                    let name = series
                        .labels
                        .iter()
                        .find(|l| l.name == "__name__")
                        .map(|l| l.value.clone())
                        .unwrap_or_default();
                    for sample in series.samples {
                        assert_eq!(sample.timestamp, payload.tick_ms);
                        out.push((
                            payload.rule_group.clone(),
                            payload.tick_ms,
                            name.clone(),
                            sample.value,
                        ));
                    }
                }
            }
        }
    }
    out
}

/// The recorded values by (group, tick, metric); duplicates must agree.
fn by_tick(samples: &[(String, i64, String, f64)]) -> BTreeMap<(String, i64, String), f64> {
    let mut out = BTreeMap::new();
    for (group, tick, name, value) in samples {
        let previous = out.insert((group.clone(), *tick, name.clone()), *value);
        if let Some(previous) = previous {
            assert_eq!(previous, *value, "{group} at {tick}: a duplicate disagrees");
        }
    }
    out
}

async fn without_restart() -> Vec<(String, i64, String, f64)> {
    let dir = tempfile::tempdir().unwrap();
    let log = open_log(dir.path()).await;
    let mut runner = restore(&log).await;
    run_chunks(&log, &mut runner, 0..CHUNKS).await;
    shut_down(runner).await;
    recorded(&log).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_samples_are_written_into_the_samples_stream() {
    let samples = without_restart().await;
    let values = by_tick(&samples);
    // Each group tick is written once while nothing crashes.
    assert_eq!(samples.len(), values.len());
    let sum_at =
        |minute: i64| values[&("sum".to_string(), T0 + minute * 60_000, "x:sum".to_string())];
    // a grows by 1/s and b by 2/s.
    assert_eq!(sum_at(10), 3.0 * 600.0);
    let rate_at = |minute: i64| {
        values[&(
            "rate".to_string(),
            T0 + minute * 60_000,
            "x:sum:rate5m".to_string(),
        )]
    };
    assert!((rate_at(20) - 3.0).abs() < 1e-9, "{}", rate_at(20));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_over_a_recorded_series_is_the_same_after_a_restart() {
    let expected = by_tick(&without_restart().await);

    let dir = tempfile::tempdir().unwrap();
    let log = open_log(dir.path()).await;
    let mut runner = restore(&log).await;
    run_chunks(&log, &mut runner, 0..15).await;
    shut_down(runner).await;

    // A new process: the recorded history comes from the log alone.
    let mut runner = restore(&log).await;
    catch_up(&mut runner).await;
    run_chunks(&log, &mut runner, 15..CHUNKS).await;
    shut_down(runner).await;

    let samples = recorded(&log).await;
    let got = by_tick(&samples);
    assert_eq!(
        samples.len(),
        got.len(),
        "a graceful restart re-evaluates nothing"
    );
    assert_eq!(got, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticks_re_evaluated_after_a_crash_append_the_same_samples_again() {
    let expected = by_tick(&without_restart().await);

    let dir = tempfile::tempdir().unwrap();
    let log = open_log(dir.path()).await;
    let mut runner = restore(&log).await;
    run_chunks(&log, &mut runner, 0..10).await;
    shut_down(runner).await;
    // Evaluated and appended, never committed: the process dies here.
    let mut runner = restore(&log).await;
    catch_up(&mut runner).await;
    run_chunks(&log, &mut runner, 10..15).await;
    drop(runner);

    let mut runner = restore(&log).await;
    catch_up(&mut runner).await;
    run_chunks(&log, &mut runner, 15..CHUNKS).await;
    shut_down(runner).await;

    let samples = recorded(&log).await;
    let got = by_tick(&samples);
    assert!(
        samples.len() > got.len(),
        "the uncommitted ticks were appended twice"
    );
    assert_eq!(got, expected);
}
