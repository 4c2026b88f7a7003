//! Back-pressure: when the evaluator falls too far behind the samples
//! stream, ingest stops taking samples (503 with Retry-After, which
//! Prometheus' remote-write queue retries) instead of letting the backlog,
//! and the time from a breaching sample to its alert, grow without bound.
//! `/-/ready` reports the same reason.
//!
//! How far behind is read from the log, so it works the same in one
//! process and across processes: the evaluator's commit on each samples
//! partition carries the next offset it will read
//! (`closeloop_core::topics::SamplesProgress`); the lag is the sum over
//! partitions of end offset minus that. With no such commit yet (no
//! evaluator has run) nothing is refused.

use closeloop_core::topics::{SamplesProgress, Topic, EVALUATOR_SAMPLES_GROUP};
use closeloop_log::{EventLog, LogError};
use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// How often the lag is measured.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// Whether ingest is refusing samples, and why; cheap to clone and to ask.
#[derive(Debug, Clone, Default)]
pub struct Backpressure {
    refusing: Arc<RwLock<Option<String>>>,
}

impl Backpressure {
    /// Why samples are refused right now, `None` when they are taken.
    pub fn refusal(&self) -> Option<String> {
        self.refusing
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn set(&self, reason: Option<String>) {
        let mut refusing = self
            .refusing
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if refusing.is_some() != reason.is_some() {
            match &reason {
                Some(why) => tracing::warn!(
                    reason = why,
                    "refusing samples until the evaluator catches up"
                ),
                None => tracing::info!("the evaluator caught up; taking samples again"),
            }
        }
        *refusing = reason;
    }

    /// Measures the evaluator's lag every second until `stop` resolves,
    /// refusing samples while it is above `max_lag_records`.
    pub async fn watch(
        &self,
        log: Arc<dyn EventLog>,
        prefix: &str,
        max_lag_records: u64,
        stop: impl Future<Output = ()>,
    ) {
        let topic = Topic::Samples.name(prefix);
        tokio::pin!(stop);
        loop {
            match evaluator_lag(&*log, &topic).await {
                Ok(Some(lag)) if lag > max_lag_records => self.set(Some(format!(
                    "the evaluator is {lag} samples records behind (limit {max_lag_records}, ingest.max_evaluator_lag)"
                ))),
                Ok(_) => self.set(None),
                // The log itself failing shows in the appends; keep the
                // last verdict rather than guess.
                Err(error) => tracing::debug!(%error, "measuring the evaluator's lag failed"),
            }
            tokio::select! {
                _ = &mut stop => return,
                _ = tokio::time::sleep(CHECK_EVERY) => {}
            }
        }
    }
}

/// Records appended to `topic` that the evaluator has not read yet; `None`
/// when no evaluator has reported its progress.
pub async fn evaluator_lag(log: &dyn EventLog, topic: &str) -> Result<Option<u64>, LogError> {
    let mut lag = 0;
    let mut reported = false;
    for partition in 0..log.partitions(topic).await? {
        let Some(committed) = log
            .committed(EVALUATOR_SAMPLES_GROUP, topic, partition)
            .await?
        else {
            continue;
        };
        let Ok(progress) = serde_json::from_str::<SamplesProgress>(&committed.metadata) else {
            continue;
        };
        reported = true;
        let end = log.end_offset(topic, partition).await?;
        lag += end.saturating_sub(progress.read_next);
    }
    Ok(reported.then_some(lag))
}
