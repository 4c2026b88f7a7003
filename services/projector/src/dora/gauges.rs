//! Keeps the `closeloop_dora_*` gauges equal to what `GET /api/v1/dora`
//! answers for the metrics' window, for every service/environment with
//! deploys (bounded), using the same store query and the same function.

use super::figures::{dora_figures, window_start, DoraFigures, DoraQuery};
use crate::error::StoreError;
use crate::metrics;
use crate::store::ReadStore;
use chrono::{DateTime, Utc};
use std::collections::BTreeSet;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;
use tracing::warn;

/// The window of every `closeloop_dora_*` gauge (their help texts say 30d).
pub const METRICS_WINDOW: Duration = Duration::from_secs(30 * 86_400);

/// At most this many service/environment label sets, the most recently
/// deployed first: a pipeline reporting made-up environment names must
/// not grow `/metrics` without bound.
pub const MAX_TARGETS: u32 = 200;

type Target = (String, String);

/// The label sets set last time, so targets that dropped out of the bound
/// lose their series.
static SHOWN: LazyLock<Mutex<BTreeSet<Target>>> = LazyLock::new(Default::default);

/// Recomputes every DORA gauge as of `now`.
pub async fn refresh_gauges(store: &dyn ReadStore, now: DateTime<Utc>) -> Result<(), StoreError> {
    let mut targets = store.dora_targets(MAX_TARGETS + 1).await?;
    if targets.len() > MAX_TARGETS as usize {
        warn!(
            limit = MAX_TARGETS,
            "more service/environment pairs than the DORA gauges show; the least recently deployed are left out"
        );
        targets.truncate(MAX_TARGETS as usize);
    }
    let mut computed = Vec::with_capacity(targets.len());
    for (service, environment) in targets {
        let query = DoraQuery {
            service,
            environment,
            since: window_start(now, METRICS_WINDOW),
            until: now,
        };
        let inputs = store.dora_inputs(&query).await?;
        let figures = dora_figures(&inputs, now, METRICS_WINDOW);
        computed.push(((query.service, query.environment), figures));
    }
    let current: BTreeSet<Target> = computed.iter().map(|(t, _)| t.clone()).collect();
    let mut shown = SHOWN
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    for stale in shown.difference(&current) {
        remove_all(stale);
    }
    for (target, figures) in &computed {
        set_all(target, figures);
    }
    *shown = current;
    Ok(())
}

fn set_all((service, environment): &Target, f: &DoraFigures) {
    let labels = [service.as_str(), environment.as_str()];
    let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    metrics::DORA_DEPLOYMENT_FREQUENCY
        .with_label_values(&labels)
        .set(f.deployment_frequency_per_day);
    metrics::DORA_DEPLOYMENTS
        .with_label_values(&labels)
        .set(count(f.deployments));
    metrics::DORA_FAILED_DEPLOYMENTS
        .with_label_values(&labels)
        .set(count(f.failed_deployments));
    metrics::DORA_INCIDENTS
        .with_label_values(&labels)
        .set(count(f.incidents));
    for (gauge, value) in [
        (&*metrics::DORA_CHANGE_FAILURE_RATIO, f.change_failure_rate),
        (&*metrics::DORA_LEAD_TIME, f.lead_time_seconds_median),
        (
            &*metrics::DORA_TIME_TO_RESTORE,
            f.time_to_restore_seconds_median,
        ),
    ] {
        match value {
            Some(v) => gauge.with_label_values(&labels).set(v),
            // Absent, not zero: "no deploys" is not "no failures".
            None => {
                let _ = gauge.remove_label_values(&labels);
            }
        }
    }
}

fn remove_all((service, environment): &Target) {
    let labels = [service.as_str(), environment.as_str()];
    for gauge in [
        &*metrics::DORA_DEPLOYMENT_FREQUENCY,
        &*metrics::DORA_CHANGE_FAILURE_RATIO,
        &*metrics::DORA_LEAD_TIME,
        &*metrics::DORA_TIME_TO_RESTORE,
    ] {
        let _ = gauge.remove_label_values(&labels);
    }
    for gauge in [
        &*metrics::DORA_DEPLOYMENTS,
        &*metrics::DORA_FAILED_DEPLOYMENTS,
        &*metrics::DORA_INCIDENTS,
    ] {
        let _ = gauge.remove_label_values(&labels);
    }
}
