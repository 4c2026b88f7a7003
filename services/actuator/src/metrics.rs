//! The actuator's own metrics, registered in the default registry. Label
//! values are integration and tracker kinds (`webhook`, `redmine`) and
//! update kinds, never receiver names or URLs, so cardinality stays fixed.

use prometheus::{
    register_histogram_vec, register_int_counter_vec, register_int_gauge_vec, HistogramVec,
    IntCounterVec, IntGaugeVec,
};
use std::sync::LazyLock;

/// Alert transitions held back by a silence.
pub static SILENCED: LazyLock<prometheus::IntCounter> = LazyLock::new(|| {
    prometheus::register_int_counter!(
        "closeloop_alerts_silenced_total",
        "Alert transitions a silence held back: no notification, issue change or comment."
    )
    .unwrap_or_else(|e| panic!("registering closeloop_alerts_silenced_total: {e}"))
});

/// Firing alerts an inhibit rule muted.
pub static INHIBITED: LazyLock<prometheus::IntCounter> = LazyLock::new(|| {
    prometheus::register_int_counter!(
        "closeloop_alerts_inhibited_total",
        "Firing alerts an inhibit rule muted: no notification, issue or comment."
    )
    .unwrap_or_else(|e| panic!("registering closeloop_alerts_inhibited_total: {e}"))
});

/// Live aggregation groups of the webhook notifications.
pub static ALERT_GROUPS: LazyLock<prometheus::IntGauge> = LazyLock::new(|| {
    prometheus::register_int_gauge!(
        "closeloop_alert_groups",
        "Aggregation groups holding alerts for webhook notifications (on the actuator that notifies)."
    )
    .unwrap_or_else(|e| panic!("registering closeloop_alert_groups: {e}"))
});

/// Notifications delivered (2xx), per integration kind.
pub static NOTIFICATIONS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "closeloop_notifications_total",
        "Notifications and tracker actions completed, per integration kind.",
        &["integration"]
    )
    .unwrap_or_else(|e| panic!("registering closeloop_notifications_total: {e}"))
});

/// Failed attempts (each retry counts), per integration kind.
pub static NOTIFICATION_FAILURES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "closeloop_notification_failures_total",
        "Failed delivery attempts, per integration kind; every retry counts.",
        &["integration"]
    )
    .unwrap_or_else(|e| panic!("registering closeloop_notification_failures_total: {e}"))
});

pub static ISSUES_FILED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "closeloop_issues_filed_total",
        "Issues created in a tracker (adopted ones not counted), per tracker kind.",
        &["tracker"]
    )
    .unwrap_or_else(|e| panic!("registering closeloop_issues_filed_total: {e}"))
});

/// `kind`: adopted, recurred, resolved, closed, reopened.
pub static ISSUE_UPDATES: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "closeloop_issue_updates_total",
        "Changes to existing issues, per tracker kind and kind of change.",
        &["tracker", "kind"]
    )
    .unwrap_or_else(|e| panic!("registering closeloop_issue_updates_total: {e}"))
});

pub static DELIVERY_DURATION: LazyLock<HistogramVec> = LazyLock::new(|| {
    register_histogram_vec!(
        "closeloop_actuator_delivery_duration_seconds",
        "Time from the first attempt of an action to its outcome, retries included.",
        &["integration"],
        vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0, 300.0]
    )
    .unwrap_or_else(|e| panic!("registering closeloop_actuator_delivery_duration_seconds: {e}"))
});

/// Requests waiting for their tracker's rate budget right now.
pub static TRACKER_WAITING: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register_int_gauge_vec!(
        "closeloop_tracker_requests_waiting",
        "Tracker requests waiting for the tracker's rate budget, per tracker kind.",
        &["tracker"]
    )
    .unwrap_or_else(|e| panic!("registering closeloop_tracker_requests_waiting: {e}"))
});

/// Answers where the tracker refused a request for its rate (429, GitHub's
/// 403 secondary limit); each pauses the instance's budget.
pub static TRACKER_THROTTLED: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "closeloop_tracker_throttled_total",
        "Tracker answers that refused a request for its rate, per tracker kind.",
        &["tracker"]
    )
    .unwrap_or_else(|e| panic!("registering closeloop_tracker_throttled_total: {e}"))
});

pub static TRACKER_REQUESTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "closeloop_tracker_requests_total",
        "HTTP requests sent to issue trackers through their rate budget, per tracker kind.",
        &["tracker"]
    )
    .unwrap_or_else(|e| panic!("registering closeloop_tracker_requests_total: {e}"))
});

/// `result`: applied, unchanged, drifted, failed. `scaler` values come
/// from the config, so they are bounded.
pub static SCALE_ACTIONS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "closeloop_scale_actions_total",
        "Scale requests carried out, per scaler and result.",
        &["scaler", "result"]
    )
    .unwrap_or_else(|e| panic!("registering closeloop_scale_actions_total: {e}"))
});

pub const SCALE_RESULTS: [&str; 4] = ["applied", "unchanged", "drifted", "failed"];

/// Creates the scale-action counters of these scalers at zero.
pub fn register_scalers<'a>(scalers: impl IntoIterator<Item = &'a str>) {
    for scaler in scalers {
        for result in SCALE_RESULTS {
            SCALE_ACTIONS.with_label_values(&[scaler, result]);
        }
    }
}

/// Integration kinds this crate knows; metrics are pre-created for each so
/// dashboards see zeros rather than missing series.
pub const INTEGRATIONS: [&str; 5] = ["webhook", "redmine", "github", "gitlab", "jira"];
pub const TRACKERS: [&str; 4] = ["redmine", "github", "gitlab", "jira"];
pub const UPDATE_KINDS: [&str; 7] = [
    "adopted", "recurred", "resolved", "closed", "reopened", "labelled", "counted",
];

/// Registers every metric with its known label values at zero.
pub fn register() {
    LazyLock::force(&SILENCED);
    LazyLock::force(&INHIBITED);
    LazyLock::force(&ALERT_GROUPS);
    for integration in INTEGRATIONS {
        NOTIFICATIONS.with_label_values(&[integration]);
        NOTIFICATION_FAILURES.with_label_values(&[integration]);
        DELIVERY_DURATION.with_label_values(&[integration]);
    }
    for tracker in TRACKERS {
        ISSUES_FILED.with_label_values(&[tracker]);
        TRACKER_WAITING.with_label_values(&[tracker]);
        TRACKER_THROTTLED.with_label_values(&[tracker]);
        TRACKER_REQUESTS.with_label_values(&[tracker]);
        for kind in UPDATE_KINDS {
            ISSUE_UPDATES.with_label_values(&[tracker, kind]);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_metric_is_in_the_default_registry_after_register() {
        super::register();
        let names: Vec<String> = prometheus::default_registry()
            .gather()
            .iter()
            .map(|family| family.name().to_string())
            .collect();
        for wanted in [
            "closeloop_notifications_total",
            "closeloop_notification_failures_total",
            "closeloop_issues_filed_total",
            "closeloop_issue_updates_total",
            "closeloop_actuator_delivery_duration_seconds",
            "closeloop_tracker_requests_waiting",
            "closeloop_tracker_throttled_total",
        ] {
            assert!(
                names.iter().any(|n| n == wanted),
                "{wanted} missing from {names:?}"
            );
        }
    }
}
