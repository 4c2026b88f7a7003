//! The projector's own metrics, registered in the default registry.

use prometheus::{
    register_int_counter_vec, register_int_gauge, register_int_gauge_vec, IntCounterVec, IntGauge,
    IntGaugeVec,
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
