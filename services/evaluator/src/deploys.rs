//! Deploys as the evaluator sees them: the series
//! `closeloop_deploy_timestamp_seconds{service,environment,version}` that
//! rules can query, and the suspect deploys named in an alert.

use closeloop_core::events::{DeployRecorded, DeployStatus, SuspectDeploy};
use closeloop_core::time::from_millis;
use closeloop_core::LabelSet;
use std::collections::BTreeMap;
use uuid::Uuid;

pub const DEPLOY_METRIC: &str = "closeloop_deploy_timestamp_seconds";

#[derive(Debug, Clone, PartialEq)]
pub struct KnownDeploy {
    pub id: Uuid,
    pub version: String,
    pub status: DeployStatus,
    pub deployed_at_ms: i64,
    pub url: Option<String>,
    pub actor: Option<String>,
    pub commits: Vec<String>,
}

/// Recent deploys per (service, environment), oldest first.
#[derive(Debug, Default)]
pub struct DeployTracker {
    by_target: BTreeMap<(String, String), Vec<KnownDeploy>>,
}

/// How alerts are matched to deploys.
#[derive(Debug, Clone)]
pub struct Attribution {
    pub window_ms: i64,
    /// The alert labels that name the service and the environment.
    pub service_label: String,
    pub environment_label: String,
}

impl DeployTracker {
    pub fn record(&mut self, id: Uuid, deploy: &DeployRecorded, occurred_at_ms: i64) {
        let deploys = self
            .by_target
            .entry((deploy.service.clone(), deploy.environment.clone()))
            .or_default();
        // A pipeline may report the same version twice (started, then
        // succeeded): the later report replaces the earlier one.
        deploys.retain(|d| d.version != deploy.version);
        let known = KnownDeploy {
            id,
            version: deploy.version.clone(),
            status: deploy.status,
            deployed_at_ms: occurred_at_ms,
            url: deploy.url.clone(),
            actor: deploy.actor.clone(),
            commits: deploy.commits.iter().map(|c| c.sha.clone()).collect(),
        };
        let at = deploys.partition_point(|d| d.deployed_at_ms <= occurred_at_ms);
        deploys.insert(at, known);
    }

    /// Forgets deploys older than `before_ms`, keeping the latest of each
    /// target so the deploy series stays current.
    pub fn prune(&mut self, before_ms: i64) {
        for deploys in self.by_target.values_mut() {
            let keep_from = deploys
                .iter()
                .position(|d| d.deployed_at_ms >= before_ms)
                .unwrap_or(deploys.len())
                .min(deploys.len().saturating_sub(1));
            deploys.drain(..keep_from);
        }
    }

    /// The deploy series as of `ts_ms`: for each service/environment, the
    /// latest deploy that had happened by then, valued at its time in
    /// seconds. Like a pushed group it stays current until replaced; the
    /// versions it replaced are returned separately so the caller can end
    /// their series with a staleness marker.
    pub fn series_at(&self, ts_ms: i64) -> (Vec<(LabelSet, f64)>, Vec<LabelSet>) {
        let mut current = Vec::new();
        let mut replaced = Vec::new();
        for ((service, environment), deploys) in &self.by_target {
            let happened: Vec<&KnownDeploy> = deploys
                .iter()
                .filter(|d| d.deployed_at_ms <= ts_ms)
                .collect();
            let Some((latest, older)) = happened.split_last() else {
                continue;
            };
            let labels = |version: &str| -> LabelSet {
                [
                    ("__name__", DEPLOY_METRIC),
                    ("environment", environment.as_str()),
                    ("service", service.as_str()),
                    ("version", version),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
            };
            current.push((
                labels(&latest.version),
                latest.deployed_at_ms as f64 / 1000.0,
            ));
            replaced.extend(older.iter().map(|d| labels(&d.version)));
        }
        (current, replaced)
    }

    /// The latest deploy of the alert's service and environment within the
    /// attribution window before `active_at_ms` (DESIGN: "suspect deploy").
    pub fn suspects(
        &self,
        attribution: &Attribution,
        labels: &LabelSet,
        active_at_ms: i64,
    ) -> Vec<SuspectDeploy> {
        let (Some(service), Some(environment)) = (
            labels.get(&attribution.service_label),
            labels.get(&attribution.environment_label),
        ) else {
            return Vec::new();
        };
        let Some(deploys) = self.by_target.get(&(service.clone(), environment.clone())) else {
            return Vec::new();
        };
        deploys
            .iter()
            .rev()
            .filter(|d| d.status != DeployStatus::Failed)
            .find(|d| {
                d.deployed_at_ms <= active_at_ms
                    && active_at_ms - d.deployed_at_ms <= attribution.window_ms
            })
            .map(|d| SuspectDeploy {
                deploy_id: d.id,
                service: service.clone(),
                environment: environment.clone(),
                version: d.version.clone(),
                deployed_at: from_millis(d.deployed_at_ms),
                url: d.url.clone(),
                actor: d.actor.clone(),
                commits: d.commits.clone(),
            })
            .into_iter()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deploy(version: &str, status: DeployStatus) -> DeployRecorded {
        DeployRecorded {
            service: "checkout".into(),
            environment: "prod".into(),
            version: version.into(),
            status,
            started_at: None,
            finished_at: None,
            commits: vec![],
            actor: None,
            url: None,
            labels: LabelSet::new(),
        }
    }

    fn attribution() -> Attribution {
        Attribution {
            window_ms: 3_600_000,
            service_label: "service".into(),
            environment_label: "environment".into(),
        }
    }

    fn alert_labels() -> LabelSet {
        [("service", "checkout"), ("environment", "prod")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn the_latest_deploy_within_the_window_is_the_suspect() {
        let mut tracker = DeployTracker::default();
        tracker.record(
            Uuid::now_v7(),
            &deploy("v1", DeployStatus::Succeeded),
            1_000_000,
        );
        tracker.record(
            Uuid::now_v7(),
            &deploy("v2", DeployStatus::Succeeded),
            2_000_000,
        );
        let suspects = tracker.suspects(&attribution(), &alert_labels(), 2_500_000);
        assert_eq!(suspects.len(), 1);
        assert_eq!(suspects[0].version, "v2");
    }

    #[test]
    fn a_suspect_names_the_commits_of_its_deploy() {
        let mut tracker = DeployTracker::default();
        let mut shipped = deploy("v3", DeployStatus::Succeeded);
        shipped.commits = vec![closeloop_core::events::Commit {
            sha: "9fceb02d0ae5".into(),
            authored_at: None,
        }];
        tracker.record(Uuid::now_v7(), &shipped, 1_000_000);
        let suspects = tracker.suspects(&attribution(), &alert_labels(), 1_500_000);
        assert_eq!(suspects[0].commits, ["9fceb02d0ae5"]);
    }

    #[test]
    fn deploys_after_the_alert_or_outside_the_window_are_not_suspects() {
        let mut tracker = DeployTracker::default();
        tracker.record(Uuid::now_v7(), &deploy("v1", DeployStatus::Succeeded), 0);
        tracker.record(
            Uuid::now_v7(),
            &deploy("v2", DeployStatus::Succeeded),
            9_000_000,
        );
        assert!(tracker
            .suspects(&attribution(), &alert_labels(), 5_000_000)
            .is_empty());
        let mut other = alert_labels();
        other.insert("service".into(), "cart".into());
        assert!(tracker
            .suspects(&attribution(), &other, 9_500_000)
            .is_empty());
    }

    #[test]
    fn the_deploy_series_shows_the_current_version_and_ends_the_replaced_one() {
        let mut tracker = DeployTracker::default();
        tracker.record(
            Uuid::now_v7(),
            &deploy("v1", DeployStatus::Succeeded),
            1_000,
        );
        tracker.record(
            Uuid::now_v7(),
            &deploy("v2", DeployStatus::Succeeded),
            5_000,
        );
        let (current, replaced) = tracker.series_at(3_000);
        assert_eq!(current[0].0["version"], "v1");
        assert!(replaced.is_empty());
        let (current, replaced) = tracker.series_at(6_000);
        assert_eq!(
            (current[0].0["version"].as_str(), current[0].1),
            ("v2", 5.0)
        );
        assert_eq!(replaced[0]["version"], "v1");
    }
}
