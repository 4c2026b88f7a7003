//! The evaluator's own metrics, registered in the default registry.

use prometheus::{
    register_histogram_vec, register_int_counter, register_int_gauge, register_int_gauge_vec,
    HistogramVec, IntCounter, IntGauge, IntGaugeVec,
};
use std::sync::LazyLock;

pub static GROUP_DURATION: LazyLock<HistogramVec> = LazyLock::new(|| {
    register_histogram_vec!(
        "closeloop_rule_group_evaluation_duration_seconds",
        "Time to evaluate all rules of a group at one tick.",
        &["rule_group"],
        vec![0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0]
    )
    .expect("metric registers once")
});

pub static RULE_FAILURES: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!(
        "closeloop_rule_evaluation_failures_total",
        "Rule evaluations that failed (bad result shape, limit exceeded, query error)."
    )
    .expect("metric registers once")
});

pub static WINDOW_SERIES: LazyLock<IntGauge> = LazyLock::new(|| {
    register_int_gauge!(
        "closeloop_evaluator_window_series",
        "Series held in the evaluator's in-memory window."
    )
    .expect("metric registers once")
});

pub static WATERMARK: LazyLock<IntGauge> = LazyLock::new(|| {
    register_int_gauge!(
        "closeloop_evaluator_watermark_timestamp_seconds",
        "Event time up to which rules have been evaluated."
    )
    .expect("metric registers once")
});

pub static DECODE_FAILURES: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!(
        "closeloop_evaluator_decode_failures_total",
        "Log records the evaluator could not decode and skipped."
    )
    .expect("metric registers once")
});

/// Creates every evaluator metric so /metrics shows them from the start.
pub static OWNED_GROUPS: LazyLock<IntGauge> = LazyLock::new(|| {
    register_int_gauge!(
        "closeloop_evaluator_owned_groups",
        "Rule groups this evaluator process evaluates (its shards' share when evaluators split the work)."
    )
    .expect("metric registers once")
});

/// What each scaler decided at its last tick (after stabilization,
/// policies, bounds, missing data and freeze). `scaler` values come from
/// the config, so they are bounded.
pub static SCALER_DESIRED: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register_int_gauge_vec!(
        "closeloop_scaler_desired_replicas",
        "Replicas each scaler decided on at its last evaluation.",
        &["scaler"]
    )
    .expect("metric registers once")
});

/// The replicas each scaler believes its target has (its own last change,
/// or what the actuator found there).
pub static SCALER_CURRENT: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register_int_gauge_vec!(
        "closeloop_scaler_current_replicas",
        "Replicas each scaler believes its target has.",
        &["scaler"]
    )
    .expect("metric registers once")
});

/// 1 while a scaler's query returns nothing (it holds or uses its fallback).
pub static SCALER_MISSING_DATA: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register_int_gauge_vec!(
        "closeloop_scaler_missing_data",
        "1 while the scaler's query returns nothing or NaN, else 0.",
        &["scaler"]
    )
    .expect("metric registers once")
});

pub fn register() {
    LazyLock::force(&SCALER_DESIRED);
    LazyLock::force(&SCALER_CURRENT);
    LazyLock::force(&SCALER_MISSING_DATA);
    LazyLock::force(&OWNED_GROUPS);
    LazyLock::force(&GROUP_DURATION);
    LazyLock::force(&RULE_FAILURES);
    LazyLock::force(&WINDOW_SERIES);
    LazyLock::force(&WATERMARK);
    LazyLock::force(&DECODE_FAILURES);
}
