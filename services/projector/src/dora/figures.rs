//! The four keys as a pure function of a target's deploys, commits and
//! incidents and the window's end: no clock, no I/O, so the API and the
//! gauges compute the same figures from the same rows.

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::time::Duration;

/// The rows of one service in one environment that may matter for the
/// window `(since, until]`; the store may return more, never fewer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoraQuery {
    pub service: String,
    pub environment: String,
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

/// One version of a service deployed to an environment, its reports
/// collapsed into one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoraDeploy {
    pub version: String,
    /// The first report that finished it (succeeded, failed, rolled_back).
    pub deployed_at: DateTime<Utc>,
    /// It reported `succeeded` at least once: it reached the environment.
    pub succeeded: bool,
    /// It reported `failed` or `rolled_back` at least once.
    pub failed: bool,
}

/// A commit and the first successful deploy that shipped it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoraCommit {
    pub sha: String,
    pub authored_at: DateTime<Utc>,
    pub first_deployed_at: DateTime<Utc>,
}

/// An alert attributed to a deploy that closeloop filed an issue for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoraIncident {
    pub fingerprint: String,
    /// The suspect deploy's version.
    pub version: String,
    /// The first `IssueFiled` for this alert and deploy.
    pub filed_at: DateTime<Utc>,
    /// The alert's first resolution at or after `filed_at`.
    pub restored_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DoraInputs {
    pub deploys: Vec<DoraDeploy>,
    pub commits: Vec<DoraCommit>,
    pub incidents: Vec<DoraIncident>,
}

/// The four keys over a window; `None` where a figure is undefined (no
/// deploys, no commits with an authored time, no restored incident).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DoraFigures {
    pub deployment_frequency_per_day: f64,
    /// Deploys finished in the window, failed ones included: the
    /// denominator of the change failure rate.
    pub deployments: u64,
    /// Deploys in the window that reached the environment: the numerator
    /// of the deployment frequency.
    pub successful_deployments: u64,
    pub lead_time_seconds_median: Option<f64>,
    pub change_failure_rate: Option<f64>,
    /// Deploys in the window that failed or were followed by an incident.
    pub failed_deployments: u64,
    pub time_to_restore_seconds_median: Option<f64>,
    /// Incidents filed in the window, restored or not.
    pub incidents: u64,
}

const SECONDS_PER_DAY: f64 = 86_400.0;

/// The figures over `(now - window, now]`. Rows outside the window, and
/// restorations after `now`, are ignored, so any superset of the window's
/// rows gives the same answer.
pub fn dora_figures(inputs: &DoraInputs, now: DateTime<Utc>, window: Duration) -> DoraFigures {
    let since = window_start(now, window);
    let in_window = |t: DateTime<Utc>| t > since && t <= now;

    let deploys: Vec<&DoraDeploy> = inputs
        .deploys
        .iter()
        .filter(|d| in_window(d.deployed_at))
        .collect();
    let successful = deploys.iter().filter(|d| d.succeeded).count() as u64;
    let failed = deploys
        .iter()
        .filter(|d| {
            d.failed
                || inputs
                    .incidents
                    .iter()
                    .any(|i| i.version == d.version && i.filed_at <= now)
        })
        .count() as u64;
    let deployments = deploys.len() as u64;

    let lead_times: Vec<f64> = inputs
        .commits
        .iter()
        .filter(|c| in_window(c.first_deployed_at))
        .map(|c| seconds(c.first_deployed_at - c.authored_at).max(0.0))
        .collect();

    let incidents: Vec<&DoraIncident> = inputs
        .incidents
        .iter()
        .filter(|i| in_window(i.filed_at))
        .collect();
    let restore_times: Vec<f64> = incidents
        .iter()
        .filter_map(|i| {
            let restored = i.restored_at.filter(|r| *r <= now && *r >= i.filed_at)?;
            Some(seconds(restored - i.filed_at))
        })
        .collect();

    let window_days = window.as_secs_f64() / SECONDS_PER_DAY;
    DoraFigures {
        deployment_frequency_per_day: if window_days > 0.0 {
            successful as f64 / window_days
        } else {
            0.0
        },
        deployments,
        successful_deployments: successful,
        lead_time_seconds_median: median(lead_times),
        change_failure_rate: (deployments > 0).then(|| failed as f64 / deployments as f64),
        failed_deployments: failed,
        time_to_restore_seconds_median: median(restore_times),
        incidents: incidents.len() as u64,
    }
}

/// `now - window`, or the earliest time chrono holds for absurd windows.
pub fn window_start(now: DateTime<Utc>, window: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(window)
        .ok()
        .and_then(|w| now.checked_sub_signed(w))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn seconds(d: chrono::Duration) -> f64 {
    d.num_milliseconds() as f64 / 1000.0
}

/// The middle value, or the mean of the two middle values.
fn median(mut values: Vec<f64>) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|e| panic!("bad test time {text}: {e}"))
    }

    fn deploy(version: &str, deployed_at: &str, succeeded: bool, failed: bool) -> DoraDeploy {
        DoraDeploy {
            version: version.into(),
            deployed_at: at(deployed_at),
            succeeded,
            failed,
        }
    }

    fn commit(sha: &str, authored_at: &str, first_deployed_at: &str) -> DoraCommit {
        DoraCommit {
            sha: sha.into(),
            authored_at: at(authored_at),
            first_deployed_at: at(first_deployed_at),
        }
    }

    fn incident(version: &str, filed_at: &str, restored_at: Option<&str>) -> DoraIncident {
        DoraIncident {
            fingerprint: format!("fp-{version}"),
            version: version.into(),
            filed_at: at(filed_at),
            restored_at: restored_at.map(at),
        }
    }

    const THIRTY_DAYS: Duration = Duration::from_secs(30 * 86_400);

    /// The hand-computed log of the issue: window (05-01T00:00, 05-31T00:00].
    fn may_log() -> DoraInputs {
        DoraInputs {
            deploys: vec![
                // Before the window: not a deployment of this window.
                deploy("v0", "2024-04-30T12:00:00Z", true, false),
                deploy("v1", "2024-05-02T10:00:00Z", true, false),
                deploy("v2", "2024-05-05T10:00:00Z", true, false),
                // Succeeded, then rolled back.
                deploy("v3", "2024-05-10T10:00:00Z", true, true),
                // Failed without ever succeeding.
                deploy("v4", "2024-05-12T10:00:00Z", false, true),
                deploy("v5", "2024-05-20T10:00:00Z", true, false),
                // Exactly at the window's open start: outside.
                deploy("v-edge", "2024-05-01T00:00:00Z", true, false),
                // After now: outside.
                deploy("v9", "2024-05-31T06:00:00Z", true, false),
            ],
            commits: vec![
                // v1: 24h and 2h; one authored after the deploy (skew): 0.
                commit("c1", "2024-05-01T10:00:00Z", "2024-05-02T10:00:00Z"),
                commit("c2", "2024-05-02T08:00:00Z", "2024-05-02T10:00:00Z"),
                commit("c8", "2024-05-02T10:05:00Z", "2024-05-02T10:00:00Z"),
                // v2: 1h and 24h.
                commit("c3", "2024-05-05T09:00:00Z", "2024-05-05T10:00:00Z"),
                commit("c9", "2024-05-04T10:00:00Z", "2024-05-05T10:00:00Z"),
                // v3 shipped c4 first (24h); v5 shipping it again does not
                // move its first deploy.
                commit("c4", "2024-05-09T10:00:00Z", "2024-05-10T10:00:00Z"),
                // v5: c5 was in the failed v4 and first shipped by v5:
                // 05-12T09:00 → 05-20T10:00 = 8d 1h; c6 30 minutes.
                commit("c5", "2024-05-12T09:00:00Z", "2024-05-20T10:00:00Z"),
                commit("c6", "2024-05-20T09:30:00Z", "2024-05-20T10:00:00Z"),
                // First deployed before the window: left out.
                commit("c0", "2024-04-29T12:00:00Z", "2024-04-30T12:00:00Z"),
            ],
            incidents: vec![
                // v0's incident is filed in the window: an incident of the
                // window, but v0 is not a deployment of it. Restored in 1h.
                incident("v0", "2024-05-01T06:00:00Z", Some("2024-05-01T07:00:00Z")),
                // Restored in 2h.
                incident("v2", "2024-05-05T10:30:00Z", Some("2024-05-05T12:30:00Z")),
                // Not restored yet.
                incident("v5", "2024-05-20T11:00:00Z", None),
                // Restored only after now: not restored as of now.
                incident("v9", "2024-05-31T07:00:00Z", Some("2024-05-31T08:00:00Z")),
            ],
        }
    }

    #[test]
    fn a_hand_computed_month_gives_the_four_keys_exactly() {
        let figures = dora_figures(&may_log(), at("2024-05-31T00:00:00Z"), THIRTY_DAYS);
        // Deployments in the window: v1 v2 v3 v4 v5 = 5; successful (reported
        // succeeded): v1 v2 v3 v5 = 4; frequency 4 / 30 days.
        assert_eq!(figures.deployments, 5);
        assert_eq!(figures.successful_deployments, 4);
        assert_eq!(figures.deployment_frequency_per_day, 4.0 / 30.0);
        // Failed: v2 (incident), v3 (rolled back), v4 (failed), v5 (incident)
        // = 4 of 5 = 0.8.
        assert_eq!(figures.failed_deployments, 4);
        assert_eq!(figures.change_failure_rate, Some(0.8));
        // Lead times in seconds, sorted: c8 0, c6 1800, c3 3600, c2 7200,
        // c1 86400, c9 86400, c4 86400, c5 694800 (8 × 86400 + 3600).
        // Eight values: median = (7200 + 86400) / 2 = 46800.
        assert_eq!(figures.lead_time_seconds_median, Some(46_800.0));
        // Incidents filed in the window: v0 v2 v5 = 3; restored 3600 and
        // 7200: median 5400.
        assert_eq!(figures.incidents, 3);
        assert_eq!(figures.time_to_restore_seconds_median, Some(5_400.0));
    }

    #[test]
    fn a_window_without_deploys_or_incidents_has_no_rates_or_medians() {
        let figures = dora_figures(&may_log(), at("2025-01-01T00:00:00Z"), THIRTY_DAYS);
        assert_eq!(
            figures,
            DoraFigures {
                deployment_frequency_per_day: 0.0,
                deployments: 0,
                successful_deployments: 0,
                lead_time_seconds_median: None,
                change_failure_rate: None,
                failed_deployments: 0,
                time_to_restore_seconds_median: None,
                incidents: 0,
            }
        );
    }

    #[test]
    fn a_shorter_window_counts_only_its_own_deploys() {
        // (05-19T00:00, 05-21T00:00]: v5 only. Its incident makes it failed,
        // its commits c5 (694800) and c6 (1800) give a median of 348300.
        let figures = dora_figures(
            &may_log(),
            at("2024-05-21T00:00:00Z"),
            Duration::from_secs(2 * 86_400),
        );
        assert_eq!(figures.deployments, 1);
        assert_eq!(figures.deployment_frequency_per_day, 0.5);
        assert_eq!(figures.change_failure_rate, Some(1.0));
        assert_eq!(figures.lead_time_seconds_median, Some(348_300.0));
        assert_eq!(figures.incidents, 1);
        assert_eq!(figures.time_to_restore_seconds_median, None);
    }

    #[test]
    fn an_absurd_window_does_not_overflow() {
        let figures = dora_figures(&may_log(), at("2024-05-31T00:00:00Z"), Duration::MAX);
        assert_eq!(figures.deployments, 7);
    }
}
