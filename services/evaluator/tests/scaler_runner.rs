//! Scalers in the runner, over an embedded log: the query over the sample
//! window at each tick, `ScaleRequested` in `closeloop.actions`, the
//! scale-down stabilization window, a deploy freeze, alert steps, health
//! alerts, and a crash in the middle that changes no decision.

use closeloop_core::events::{
    DeployRecorded, DeployStatus, SamplesReceived, SamplesRecorded, ScaleRequested, ScaleTrigger,
    REMOTE_WRITE_V1_SNAPPY,
};
use closeloop_core::remote_write::{Label, Sample, TimeSeries, WriteRequest};
use closeloop_core::topics::{Topic, DEFAULT_PREFIX};
use closeloop_core::{fingerprint, Event, EventPayload, LabelSet};
use closeloop_evaluator::deploys::Attribution;
use closeloop_evaluator::runner::{Runner, WatermarkPolicy};
use closeloop_evaluator::scaling::{AlertAction, AlertScaleStep, ScalerConfig};
use closeloop_evaluator::{Evaluator, EvaluatorConfig};
use closeloop_log::embedded::{EmbeddedLog, EmbeddedOptions};
use closeloop_log::{EventLog, NewRecord};
use std::sync::Arc;
use std::time::Duration;

const T0: i64 = 1_800_000_000_000;
/// One chunk: two scrapes 5 s apart; the scaler ticks every 10 s.
const CHUNK_MS: i64 = 10_000;

const SCALER: &str = r#"
name: workers
target: {webhook: {url: "http://127.0.0.1:9/scale"}}
query: sum(queue_depth)
target_per_replica: 10
min_replicas: 1
max_replicas: 8
interval: 10s
behavior:
  scale_up: {policies: [{type: Pods, value: 2, period: 10s}]}
  scale_down: {stabilization_window: 30s}
freeze_during_deploy: {service: checkout, environment: production, for: 40s}
health: {pinned_at_max_for: 20s}
alert_cooldown: 0s
"#;

/// The queue depth in each 10-second chunk: rising, high, then low.
fn depth(chunk: i64) -> f64 {
    match chunk {
        0..=1 => 15.0,
        2..=9 => 100.0,
        _ => 5.0,
    }
}

fn evaluator(with_router: bool) -> Evaluator {
    let config = EvaluatorConfig {
        default_interval_ms: 10_000,
        lookback_ms: 300_000,
        attribution: Attribution {
            window_ms: 3_600_000,
            service_label: "service".into(),
            environment_label: "environment".into(),
        },
        external_labels: LabelSet::new(),
        external_url: "http://closeloop".into(),
    };
    let scaler: ScalerConfig = serde_yaml::from_str(SCALER).unwrap();
    scaler.validate("scalers[0]").unwrap();
    let mut evaluator = Evaluator::new(config, Vec::new()).with_scalers(vec![scaler]);
    if with_router {
        evaluator.set_alert_router(Arc::new(|labels: &LabelSet| {
            if labels.get("alertname").map(String::as_str) == Some("QueueBacklog") {
                vec![AlertScaleStep {
                    scaler: "workers".into(),
                    action: AlertAction::Step(3),
                    cooldown: None,
                }]
            } else {
                Vec::new()
            }
        }));
    }
    evaluator
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

fn scrape(t: i64, value: f64) -> NewRecord {
    let request = WriteRequest {
        timeseries: vec![TimeSeries {
            labels: vec![Label {
                name: "__name__".into(),
                value: "queue_depth".into(),
            }],
            samples: vec![Sample {
                value,
                timestamp: t,
            }],
            ..Default::default()
        }],
        metadata: vec![],
    };
    let body = SamplesRecorded::new("", "", 0, 0, &request).unwrap().body;
    let payload = SamplesReceived {
        format: REMOTE_WRITE_V1_SNAPPY.into(),
        body,
        series: 1,
        samples: 1,
        metadata: 0,
        min_timestamp_ms: Some(t),
        max_timestamp_ms: Some(t),
    };
    let at = closeloop_core::time::from_millis(t);
    let event = Event::new(
        EventPayload::SamplesReceived(payload),
        "ingest",
        "q".into(),
        at,
        at,
    );
    NewRecord {
        key: b"q".to_vec().into(),
        value: event.to_json().into(),
        timestamp_ms: t,
    }
}

async fn feed(log: &Arc<dyn EventLog>, chunk: i64) {
    let start = T0 + chunk * CHUNK_MS;
    let records = vec![
        scrape(start, depth(chunk)),
        scrape(start + 5_000, depth(chunk)),
    ];
    log.append(&Topic::Samples.name(DEFAULT_PREFIX), records)
        .await
        .unwrap();
}

async fn append_event(log: &Arc<dyn EventLog>, topic: Topic, payload: EventPayload, at_ms: i64) {
    let at = closeloop_core::time::from_millis(at_ms);
    let event = Event::new(payload, "test", "k".into(), at, at);
    let record = NewRecord {
        key: b"k".to_vec().into(),
        value: event.to_json().into(),
        timestamp_ms: at_ms,
    };
    log.append(&topic.name(DEFAULT_PREFIX), vec![record])
        .await
        .unwrap();
}

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

async fn restore(log: &Arc<dyn EventLog>, with_router: bool) -> Runner {
    Runner::restore(
        log.clone(),
        DEFAULT_PREFIX,
        evaluator(with_router),
        policy(),
    )
    .await
    .unwrap()
}

async fn events(log: &Arc<dyn EventLog>, topic: Topic) -> Vec<Event> {
    let name = topic.name(DEFAULT_PREFIX);
    let mut out = Vec::new();
    for partition in 0..log.partitions(&name).await.unwrap() {
        let mut from = 0;
        loop {
            let records = log
                .read(&name, partition, from, 1000, Duration::ZERO)
                .await
                .unwrap();
            let Some(last) = records.last() else { break };
            from = last.offset + 1;
            out.extend(records.iter().map(|r| Event::from_json(&r.value).unwrap()));
        }
    }
    out
}

/// Every distinct request, in tick order.
async fn requests(log: &Arc<dyn EventLog>) -> Vec<ScaleRequested> {
    let mut out: Vec<ScaleRequested> = Vec::new();
    for event in events(log, Topic::Actions).await {
        if let EventPayload::ScaleRequested(r) = event.payload {
            assert_eq!(
                event.envelope.id, r.request_id,
                "event id is the request id"
            );
            assert_eq!(event.envelope.key, "workers");
            match out.iter().find(|o| o.request_id == r.request_id) {
                Some(earlier) => assert_eq!(earlier, &r, "same id, different request"),
                None => out.push(r),
            }
        }
    }
    out.sort_by_key(|r| r.tick_at);
    out
}

fn tick_chunk(r: &ScaleRequested) -> i64 {
    (r.tick_at.timestamp_millis() - T0) / CHUNK_MS
}

/// How the evaluator dies in the middle of a run.
#[derive(Debug, Clone, Copy)]
enum Crash {
    /// A clean restart before the chunk (the checkpoint has the scaler's
    /// snapshot), then a crash after it without a commit: its ticks are
    /// evaluated again from the snapshot.
    AfterSnapshot(i64),
    /// A crash before anything was ever committed: the scaler's state is
    /// folded from its requests in the log.
    NoCheckpoint(i64),
}

async fn run(chunks: std::ops::Range<i64>, crash: Option<Crash>) -> Vec<ScaleRequested> {
    let dir = tempfile::tempdir().unwrap();
    let log = open_log(dir.path()).await;
    let mut runner = restore(&log, false).await;
    for chunk in chunks {
        if let Some(Crash::AfterSnapshot(c)) = crash {
            if c == chunk {
                runner.run(std::future::ready(())).await.unwrap();
                runner = restore(&log, false).await;
            }
        }
        feed(&log, chunk).await;
        catch_up(&mut runner).await;
        match crash {
            Some(Crash::AfterSnapshot(c)) | Some(Crash::NoCheckpoint(c)) if c == chunk => {
                // Dies without committing what it did since the last commit.
                drop(runner);
                runner = restore(&log, false).await;
            }
            _ => {}
        }
    }
    requests(&log).await
}

#[tokio::test]
async fn the_scaler_follows_the_queue_within_its_policies_and_scales_down_after_the_window() {
    let requests = run(0..20, None).await;
    let steps: Vec<(i64, u32, u32)> = requests
        .iter()
        .map(|r| (tick_chunk(r), r.from_replicas, r.to_replicas))
        .collect();
    assert!(!steps.is_empty(), "no requests");
    for r in &requests {
        assert_eq!(r.trigger, ScaleTrigger::Metric);
        assert!(r.to_replicas <= 8 && r.to_replicas >= 1, "{steps:?}");
        // Pods 2 per 10 s: never more than 2 up at once.
        if r.to_replicas > r.from_replicas {
            assert!(r.to_replicas - r.from_replicas <= 2, "{steps:?}");
        }
    }
    // Up to the max while the queue is high.
    assert!(steps.iter().any(|s| s.2 == 8), "{steps:?}");
    // The last high recommendation is at chunk 9's tick; the 30 s window
    // (HPA: the highest recommendation within it) holds until chunk 12.
    let first_down = steps
        .iter()
        .find(|s| s.2 < s.1)
        .unwrap_or_else(|| panic!("never scaled down: {steps:?}"));
    assert_eq!(first_down.0, 12, "scaled down inside the window: {steps:?}");
    assert_eq!(steps.last().map(|s| s.2), Some(1), "{steps:?}");
}

#[tokio::test]
async fn a_crash_in_the_middle_changes_no_decision() {
    let baseline = run(0..20, None).await;
    for crash in [
        Crash::AfterSnapshot(4),
        Crash::AfterSnapshot(11),
        Crash::AfterSnapshot(12),
        Crash::NoCheckpoint(4),
    ] {
        let with_crash = run(0..20, Some(crash)).await;
        assert_eq!(with_crash, baseline, "{crash:?}");
    }
}

#[tokio::test]
async fn a_deploy_freeze_holds_scale_down_until_it_ends() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_log(dir.path()).await;
    let mut runner = restore(&log, false).await;
    for chunk in 0..20 {
        if chunk == 11 {
            let deploy = DeployRecorded {
                service: "checkout".into(),
                environment: "production".into(),
                version: "v2".into(),
                status: DeployStatus::Succeeded,
                started_at: None,
                finished_at: None,
                commits: Vec::new(),
                actor: None,
                url: None,
                labels: LabelSet::new(),
            };
            let at = T0 + 11 * CHUNK_MS;
            append_event(
                &log,
                Topic::Deploys,
                EventPayload::DeployRecorded(deploy),
                at,
            )
            .await;
        }
        feed(&log, chunk).await;
        catch_up(&mut runner).await;
    }
    let requests = requests(&log).await;
    let first_down = requests
        .iter()
        .find(|r| r.to_replicas < r.from_replicas)
        .map(tick_chunk);
    // Frozen from chunk 11 for 40 s: no scale-down before chunk 15.
    assert!(
        first_down.is_some_and(|c| c >= 15),
        "first scale-down at {first_down:?}"
    );
}

#[tokio::test]
async fn an_alert_routed_to_scale_configs_steps_the_scaler_once() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_log(dir.path()).await;
    let mut runner = restore(&log, true).await;
    for chunk in 0..2 {
        feed(&log, chunk).await;
        catch_up(&mut runner).await;
    }
    let labels: LabelSet = [("alertname", "QueueBacklog"), ("queue", "checkout")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let at = T0 + 2 * CHUNK_MS - 1_000;
    let alert = closeloop_core::events::AlertEvent {
        fingerprint: fingerprint(&labels).to_string(),
        rule_group: "elsewhere".into(),
        alertname: "QueueBacklog".into(),
        labels,
        annotations: LabelSet::new(),
        value: 1.0,
        active_at: closeloop_core::time::from_millis(at),
        fired_at: Some(closeloop_core::time::from_millis(at)),
        resolved_at: None,
        suspect_deploys: Vec::new(),
        generator_url: None,
    };
    append_event(&log, Topic::Alerts, EventPayload::AlertFiring(alert), at).await;
    feed(&log, 2).await;
    catch_up(&mut runner).await;
    // A restart re-reads the alert and does not step again.
    runner.run(std::future::ready(())).await.unwrap();
    let mut runner = restore(&log, true).await;
    feed(&log, 3).await;
    catch_up(&mut runner).await;

    let alert_steps: Vec<ScaleRequested> = requests(&log)
        .await
        .into_iter()
        .filter(|r| r.trigger == ScaleTrigger::Alert)
        .collect();
    assert_eq!(alert_steps.len(), 1, "{alert_steps:?}");
    let step = &alert_steps[0];
    assert_eq!(step.to_replicas, step.from_replicas + 3);
    assert_eq!(
        step.cause.as_ref().map(|c| c.alertname.as_str()),
        Some("QueueBacklog")
    );
}

#[tokio::test]
async fn pinned_at_max_becomes_an_alert_and_resolves() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_log(dir.path()).await;
    let mut runner = restore(&log, false).await;
    for chunk in 0..20 {
        feed(&log, chunk).await;
        catch_up(&mut runner).await;
    }
    let alerts: Vec<(String, String)> = events(&log, Topic::Alerts)
        .await
        .into_iter()
        .filter_map(|e| match e.payload {
            EventPayload::AlertFiring(a) => Some(("firing".into(), a.alertname)),
            EventPayload::AlertResolved(a) => Some(("resolved".into(), a.alertname)),
            _ => None,
        })
        .collect();
    assert_eq!(
        alerts,
        [
            ("firing".to_string(), "ScalerPinnedAtMax".to_string()),
            ("resolved".to_string(), "ScalerPinnedAtMax".to_string())
        ]
    );
}
