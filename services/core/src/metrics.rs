//! Metrics that several roles report under one name, defined once per
//! process. The default Prometheus registry refuses a second registration
//! of a name (`AlreadyReg`), even with identical help and labels, and
//! gives no way to fetch the collector registered first; so a metric the
//! evaluator, actuator and projector all set must have one definition
//! that each of them uses. Defining a metric is not I/O: exposing it is
//! the binary's job.

use crate::topics::Topic;
use prometheus::{register_int_gauge_vec, IntGaugeVec};
use std::sync::LazyLock;

static CONSUMER_LAG: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register_int_gauge_vec!(
        "closeloop_consumer_lag_records",
        "Records a consumer has yet to process in the partitions it owns: \
         the sum of end offset minus next offset over those partitions.",
        &["consumer", "topic"]
    )
    .unwrap_or_else(|e| panic!("registering closeloop_consumer_lag_records: {e}"))
});

/// `closeloop_consumer_lag_records{consumer, topic}`: how far this process
/// is behind in the partitions it owns. `consumer` is the role
/// (`evaluator`, `actuator`, `projector`); `topic` is the stream
/// (`alerts`), not the prefixed topic name, so labels stay bounded. Sum
/// over instances for a group's total lag: each process reports only its
/// own partitions.
pub fn consumer_lag() -> &'static IntGaugeVec {
    &CONSUMER_LAG
}

/// Sets this process's lag of `consumer` on `topic` to `records`.
pub fn set_consumer_lag(consumer: &str, topic: Topic, records: u64) {
    consumer_lag()
        .with_label_values(&[consumer, topic.stream()])
        .set(i64::try_from(records).unwrap_or(i64::MAX));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lag_gauge_is_registered_once_and_shared() {
        set_consumer_lag("actuator", Topic::Alerts, 7);
        set_consumer_lag("projector", Topic::Alerts, 3);
        assert_eq!(
            consumer_lag()
                .with_label_values(&["actuator", "alerts"])
                .get(),
            7
        );
        let family = prometheus::gather()
            .into_iter()
            .find(|f| f.name() == "closeloop_consumer_lag_records")
            .expect("the lag gauge is in the default registry");
        assert_eq!(family.get_metric().len(), 2);
    }
}
