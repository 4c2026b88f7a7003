//! What each event means for the DORA read model: deploys collapsed per
//! version, commits with their first successful deploy, incidents and
//! restorations. Every change is a commutative upsert (earliest time wins,
//! flags only turn on), because deploys, alerts and outcomes are separate
//! topics that the projector applies in no particular order between them.

use chrono::{DateTime, Utc};
use closeloop_core::events::{AlertEvent, DeployRecorded, DeployStatus, IssueFiled};
use closeloop_core::{Event, EventPayload};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DoraChange {
    /// A finished report of a deploy (`started` reports are not deploys).
    Deployed {
        service: String,
        environment: String,
        version: String,
        at: DateTime<Utc>,
        succeeded: bool,
        failed: bool,
        /// Commits with an authored time, only when the report is
        /// `succeeded`: lead time ends at the first successful deploy.
        commits: Vec<(String, DateTime<Utc>)>,
    },
    /// An issue was filed for an alert attributed to a deploy.
    IncidentFiled {
        fingerprint: String,
        service: String,
        environment: String,
        version: String,
        at: DateTime<Utc>,
    },
    /// An alert that had fired resolved.
    Restored {
        fingerprint: String,
        at: DateTime<Utc>,
    },
}

/// The DORA changes an event implies.
pub fn changes(event: &Event) -> Vec<DoraChange> {
    let at = event.envelope.occurred_at;
    match &event.payload {
        EventPayload::DeployRecorded(deploy) => deployed(deploy, at).into_iter().collect(),
        EventPayload::IssueFiled(filed) => incident(filed, at).into_iter().collect(),
        EventPayload::AlertResolved(alert) => restored(alert, at).into_iter().collect(),
        _ => Vec::new(),
    }
}

fn deployed(d: &DeployRecorded, at: DateTime<Utc>) -> Option<DoraChange> {
    let (succeeded, failed) = match d.status {
        DeployStatus::Started => return None,
        DeployStatus::Succeeded => (true, false),
        DeployStatus::Failed | DeployStatus::RolledBack => (false, true),
    };
    let commits = if succeeded {
        d.commits
            .iter()
            .filter_map(|c| Some((c.sha.clone(), c.authored_at?)))
            .collect()
    } else {
        Vec::new()
    };
    Some(DoraChange::Deployed {
        service: d.service.clone(),
        environment: d.environment.clone(),
        version: d.version.clone(),
        at,
        succeeded,
        failed,
        commits,
    })
}

/// The evaluator names at most one suspect (the latest deploy within the
/// attribution window); should there be several, the incident is the
/// first one's.
fn incident(f: &IssueFiled, at: DateTime<Utc>) -> Option<DoraChange> {
    let suspect = f.suspect_deploys.first()?;
    Some(DoraChange::IncidentFiled {
        fingerprint: f.fingerprint.clone(),
        service: suspect.service.clone(),
        environment: suspect.environment.clone(),
        version: suspect.version.clone(),
        at,
    })
}

/// A resolution of an alert that never fired was never an incident.
fn restored(alert: &AlertEvent, at: DateTime<Utc>) -> Option<DoraChange> {
    alert.fired_at?;
    Some(DoraChange::Restored {
        fingerprint: alert.fingerprint.clone(),
        at: alert.resolved_at.unwrap_or(at),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use closeloop_core::events::Commit;
    use closeloop_core::LabelSet;

    fn deploy_event(status: DeployStatus) -> Event {
        let at = DateTime::<Utc>::UNIX_EPOCH;
        let deploy = DeployRecorded {
            service: "checkout".into(),
            environment: "prod".into(),
            version: "v1".into(),
            status,
            started_at: None,
            finished_at: None,
            commits: vec![
                Commit {
                    sha: "a1".into(),
                    authored_at: Some(at),
                },
                Commit {
                    sha: "b2".into(),
                    authored_at: None,
                },
            ],
            actor: None,
            url: None,
            labels: LabelSet::new(),
        };
        Event::new(
            EventPayload::DeployRecorded(deploy),
            "test",
            "k".into(),
            at,
            at,
        )
    }

    #[test]
    fn a_started_report_is_not_a_deploy() {
        assert!(changes(&deploy_event(DeployStatus::Started)).is_empty());
    }

    #[test]
    fn only_a_successful_report_ships_commits_and_only_those_with_an_authored_time() {
        let shipped = |status| match changes(&deploy_event(status)).as_slice() {
            [DoraChange::Deployed { commits, .. }] => commits.len(),
            other => panic!("{other:?}"),
        };
        assert_eq!(shipped(DeployStatus::Succeeded), 1);
        assert_eq!(shipped(DeployStatus::RolledBack), 0);
        assert_eq!(shipped(DeployStatus::Failed), 0);
    }
}
