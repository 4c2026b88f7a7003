//! Ingest's own metrics, registered in the default registry.

use prometheus::{
    register_histogram_vec, register_int_counter, register_int_counter_vec, HistogramVec,
    IntCounter, IntCounterVec,
};
use std::sync::LazyLock;

pub static REQUESTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        "closeloop_ingest_requests_total",
        "Ingest requests by handler and status code.",
        &["handler", "code"]
    )
    .expect("metric registers once")
});

pub static SAMPLES: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!(
        "closeloop_ingest_samples_total",
        "Samples accepted and appended to the log."
    )
    .expect("metric registers once")
});

pub static RECEIVED_BYTES: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!(
        "closeloop_ingest_received_bytes_total",
        "Request body bytes received on ingest routes, as sent (compressed)."
    )
    .expect("metric registers once")
});

pub static APPEND_DURATION: LazyLock<HistogramVec> = LazyLock::new(|| {
    register_histogram_vec!(
        "closeloop_ingest_append_duration_seconds",
        "Time from append call to durable acknowledgement by the log.",
        &["topic"],
        vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5]
    )
    .expect("metric registers once")
});

pub static HISTOGRAMS_REFUSED: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!(
        "closeloop_ingest_native_histograms_refused_total",
        "Native histogram samples (remote write 2.0) and OTLP exponential histogram points not written: the window holds floats only."
    )
    .expect("metric registers once")
});

pub static EXEMPLARS_DROPPED: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!(
        "closeloop_ingest_exemplars_dropped_total",
        "Exemplars received with remote write 2.0 and dropped (no exemplar storage)."
    )
    .expect("metric registers once")
});

pub static OTLP_POINTS_REJECTED: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!(
        "closeloop_ingest_otlp_points_rejected_total",
        "OTLP data points rejected in a partial success (delta temporality, exponential histograms, malformed points)."
    )
    .expect("metric registers once")
});

pub fn count_request(handler: &str, code: u16) {
    REQUESTS
        .with_label_values(&[handler, &code.to_string()])
        .inc();
}

/// Creates every ingest metric so /metrics shows them from the start.
pub static REFUSED_BEHIND: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!(
        "closeloop_ingest_refused_behind_total",
        "Sample requests answered 503 because the evaluator was too far behind (back-pressure)."
    )
    .expect("metric registers once")
});

pub fn register() {
    for handler in ["remote_write", "deploys"] {
        REQUESTS.with_label_values(&[handler, "204"]);
    }
    LazyLock::force(&SAMPLES);
    LazyLock::force(&RECEIVED_BYTES);
    LazyLock::force(&APPEND_DURATION);
    REQUESTS.with_label_values(&["remote_write_v2", "204"]);
    REQUESTS.with_label_values(&["otlp", "200"]);
    LazyLock::force(&HISTOGRAMS_REFUSED);
    LazyLock::force(&EXEMPLARS_DROPPED);
    LazyLock::force(&OTLP_POINTS_REJECTED);
    LazyLock::force(&REFUSED_BEHIND);
}
