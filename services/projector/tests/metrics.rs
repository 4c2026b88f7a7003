//! The projector's metrics, in their own test binary so no other test's
//! store moves the process-wide gauges meanwhile.

mod common;

use closeloop_log::embedded::{EmbeddedLog, EmbeddedOptions};
use closeloop_log::{EventLog, NewRecord};
use closeloop_projector::{metrics, run, ReadStore};
use common::*;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[tokio::test]
async fn gauges_follow_the_read_model_and_counters_count_applied_events() {
    let log_dir = tempfile::tempdir().expect("log dir");
    let log: Arc<dyn EventLog> = Arc::new(
        EmbeddedLog::open(log_dir.path(), EmbeddedOptions::default())
            .await
            .expect("open log"),
    );
    let (_db_dir, store) = temp_store().await;
    let events = [
        alert("A", "pending", "2024-05-02T10:00:00Z"),
        alert("B", "firing", "2024-05-02T10:01:00Z"),
        alert("C", "firing", "2024-05-02T10:01:00Z"),
        alert("D", "resolved", "2024-05-02T10:02:00Z"),
        alert("E", "pending", "2024-05-02T10:02:00Z"),
        alert("E", "cleared", "2024-05-02T10:03:00Z"),
        issue_filed("B", "1", "2024-05-02T10:01:05Z"),
        issue_filed("C", "2", "2024-05-02T10:01:05Z"),
        issue_filed("D", "3", "2024-05-02T10:01:05Z"),
        issue_closed("D", "3", "2024-05-02T10:02:05Z"),
    ];
    for event in &events {
        let topic = event.payload.topic().name("m");
        log.append(
            &topic,
            vec![NewRecord {
                key: event.envelope.key.clone().into_bytes().into(),
                value: event.to_json().into(),
                timestamp_ms: event.envelope.occurred_at.timestamp_millis(),
            }],
        )
        .await
        .expect("append");
    }

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let runner_store: Arc<dyn ReadStore> = store.clone();
    let task = tokio::spawn(run(log, "m", runner_store, async {
        let _ = stopped.await;
    }));
    let started = Instant::now();
    while metrics::EVENTS_APPLIED
        .with_label_values(&["outcomes"])
        .get()
        < 4
        || metrics::EVENTS_APPLIED.with_label_values(&["alerts"]).get() < 6
    {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "events not applied in 5s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = stop.send(());
    task.await
        .expect("runner task")
        .expect("runner ends cleanly");

    assert_eq!(
        metrics::EVENTS_APPLIED.with_label_values(&["alerts"]).get(),
        6
    );
    assert_eq!(
        metrics::EVENTS_APPLIED
            .with_label_values(&["outcomes"])
            .get(),
        4
    );
    assert_eq!(metrics::ALERTS.with_label_values(&["pending"]).get(), 1);
    assert_eq!(metrics::ALERTS.with_label_values(&["firing"]).get(), 2);
    assert_eq!(metrics::ALERTS.with_label_values(&["resolved"]).get(), 1);
    assert_eq!(metrics::ISSUES_OPEN.get(), 2);

    let exposed: Vec<String> = prometheus::default_registry()
        .gather()
        .iter()
        .map(|family| family.name().to_string())
        .collect();
    for name in [
        "closeloop_projector_events_applied_total",
        "closeloop_alerts",
        "closeloop_issues_open",
    ] {
        assert!(
            exposed.iter().any(|n| n == name),
            "{name} not in {exposed:?}"
        );
    }
}
