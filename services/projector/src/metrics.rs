//! The projector's own metrics, registered in the default registry.

use prometheus::{
    register_gauge_vec, register_int_counter_vec, register_int_gauge, register_int_gauge_vec,
    GaugeVec, IntCounterVec, IntGauge, IntGaugeVec,
};
use std::sync::LazyLock;

/// Events turned into read-model rows, by stream (`deploys`, `alerts`,
/// `outcomes`); the stream, not the prefixed topic, keeps labels bounded.
pub static EVENTS_APPLIED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "closeloop_projector_events_applied_total",
        "Events the projector applied to the read models.",
        &["topic"]
    )
    .expect("metric registers once")
});

pub static DECODE_FAILURES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "closeloop_projector_decode_failures_total",
        "Log records the projector skipped because they did not decode as an event.",
        &["topic"]
    )
    .expect("metric registers once")
});

/// Recomputed from the table after every batch that touched alerts, so it
/// is right after a restart too.
pub static ALERTS: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register_int_gauge_vec!(
        "closeloop_alerts",
        "Alerts by state (pending, firing, resolved), from the read model.",
        &["state"]
    )
    .expect("metric registers once")
});

pub static ISSUES_OPEN: LazyLock<IntGauge> = LazyLock::new(|| {
    register_int_gauge!(
        "closeloop_issues_open",
        "Tracker issues for alerts that are open, from the read model."
    )
    .expect("metric registers once")
});

// DORA's four keys per service and environment, over the last 30 days
// (`dora::METRICS_WINDOW`; the help texts say so). Label sets are the
// read model's service/environment pairs, at most `dora::MAX_TARGETS`.
// A figure that is undefined (no deploys, no restored incident) has no
// series rather than a made-up value.

const DORA_LABELS: &[&str] = &["service", "environment"];

pub static DORA_DEPLOYMENT_FREQUENCY: LazyLock<GaugeVec> = LazyLock::new(|| {
    register_gauge_vec!(
        "closeloop_dora_deployment_frequency_per_day",
        "DORA deployment frequency: successful deploys per day over the last 30d.",
        DORA_LABELS
    )
    .expect("metric registers once")
});

pub static DORA_DEPLOYMENTS: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register_int_gauge_vec!(
        "closeloop_dora_deployments",
        "Deploys finished (succeeded, failed or rolled back) over the last 30d.",
        DORA_LABELS
    )
    .expect("metric registers once")
});

pub static DORA_FAILED_DEPLOYMENTS: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register_int_gauge_vec!(
        "closeloop_dora_failed_deployments",
        "Deploys over the last 30d that failed, were rolled back or were followed by an attributed incident.",
        DORA_LABELS
    )
    .expect("metric registers once")
});

pub static DORA_CHANGE_FAILURE_RATIO: LazyLock<GaugeVec> = LazyLock::new(|| {
    register_gauge_vec!(
        "closeloop_dora_change_failure_ratio",
        "DORA change failure rate: failed deployments / deployments over the last 30d (absent without deploys).",
        DORA_LABELS
    )
    .expect("metric registers once")
});

pub static DORA_LEAD_TIME: LazyLock<GaugeVec> = LazyLock::new(|| {
    register_gauge_vec!(
        "closeloop_dora_lead_time_seconds",
        "DORA lead time for changes: median seconds from commit authored to its first successful deploy, over commits first deployed in the last 30d.",
        DORA_LABELS
    )
    .expect("metric registers once")
});

pub static DORA_TIME_TO_RESTORE: LazyLock<GaugeVec> = LazyLock::new(|| {
    register_gauge_vec!(
        "closeloop_dora_time_to_restore_seconds",
        "DORA time to restore: median seconds from an incident's issue filed to its alert resolved, over incidents filed in the last 30d.",
        DORA_LABELS
    )
    .expect("metric registers once")
});

pub static DORA_INCIDENTS: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register_int_gauge_vec!(
        "closeloop_dora_incidents",
        "Incidents (issues filed for alerts attributed to a deploy) filed in the last 30d.",
        DORA_LABELS
    )
    .expect("metric registers once")
});
