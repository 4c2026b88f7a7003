//! The DORA read model on both backends: deploy reports collapse per
//! version, commits keep their first successful deploy, one alert and
//! deploy is one incident across receivers, and a restoration is the
//! alert's first resolution after filing, whichever topic is applied
//! first. The figures are checked by hand.

use crate::backends::Harness;
use crate::common::*;
use crate::{ALERTS, DEPLOYS, OUTCOMES};
use chrono::{DateTime, Utc};
use closeloop_core::events::DeployStatus::{Failed, RolledBack, Started, Succeeded};
use closeloop_core::Event;
use closeloop_projector::dora::{dora_figures, window_start, DoraFigures, DoraQuery};
use closeloop_projector::ReadStore;
use std::time::Duration;

const THIRTY_DAYS: Duration = Duration::from_secs(30 * 86_400);
const NOW: &str = "2024-05-31T00:00:00Z";

fn deploys() -> Vec<Event> {
    let prod = |version, status, t, commits| {
        deploy_report("checkout", "production", version, status, t, commits)
    };
    vec![
        // Before the window.
        prod("v0", Succeeded, "2024-04-20T10:00:00Z", &[]),
        // v1: started is not a deploy; it is deployed at 10:00. Lead times
        // c1 24h = 86400, c2 1h = 3600; c3 has no authored time.
        prod("v1", Started, "2024-05-02T09:50:00Z", &[]),
        prod(
            "v1",
            Succeeded,
            "2024-05-02T10:00:00Z",
            &[
                ("c1", "2024-05-01T10:00:00Z"),
                ("c2", "2024-05-02T09:00:00Z"),
                ("c3", ""),
            ],
        ),
        // v2: its rollback is reported before its success (a late
        // pipeline); still deployed at 10:00, and failed. c2 was shipped
        // by v1 already; c4 2h = 7200.
        prod("v2", RolledBack, "2024-05-10T12:00:00Z", &[]),
        prod(
            "v2",
            Succeeded,
            "2024-05-10T10:00:00Z",
            &[
                ("c2", "2024-05-02T09:00:00Z"),
                ("c4", "2024-05-10T08:00:00Z"),
            ],
        ),
        // v3 failed: a deployment and a failure, its commit never shipped.
        prod(
            "v3",
            Failed,
            "2024-05-20T10:00:00Z",
            &[("c5", "2024-05-20T09:00:00Z")],
        ),
        // v4 only started: not a deploy.
        prod("v4", Started, "2024-05-25T10:00:00Z", &[]),
        prod("v5", Succeeded, "2024-05-28T10:00:00Z", &[]),
        // Another environment: its own figures.
        deploy_report(
            "checkout",
            "staging",
            "v1",
            Succeeded,
            "2024-05-03T10:00:00Z",
            &[],
        ),
    ]
}

fn outcomes() -> Vec<Event> {
    let prod = |version| Some(("checkout", "production", version));
    vec![
        // Two receivers filed for the same alert and deploy: one incident,
        // filed at the first filing (11:00).
        issue_filed_for(
            "HighErrorRatio",
            "sre",
            "12",
            "2024-05-02T11:02:00Z",
            prod("v1"),
        ),
        issue_filed_for(
            "HighErrorRatio",
            "payments-team",
            "11",
            "2024-05-02T11:00:00Z",
            prod("v1"),
        ),
        issue_filed_for(
            "HighLatency",
            "sre",
            "13",
            "2024-05-10T10:30:00Z",
            prod("v2"),
        ),
        // No suspect deploy: not an incident.
        issue_filed_for("Saturation", "sre", "14", "2024-05-12T10:00:00Z", None),
        // Before the window, of a deploy before the window.
        issue_filed_for("Old", "sre", "15", "2024-04-20T12:00:00Z", prod("v0")),
    ]
}

fn alerts() -> Vec<Event> {
    vec![
        // Before the issue was filed: an earlier episode, not its restoration.
        alert("HighErrorRatio", "resolved", "2024-05-02T10:50:00Z"),
        // Restored 1h after filing (11:00 → 12:00) = 3600.
        alert("HighErrorRatio", "resolved", "2024-05-02T12:00:00Z"),
        alert("HighErrorRatio", "resolved", "2024-05-03T12:00:00Z"),
        // Restored 4h after filing (10:30 → 14:30) = 14400.
        alert("HighLatency", "resolved", "2024-05-10T14:30:00Z"),
        // Never fired: not a restoration.
        alert("HighLatency", "cleared", "2024-05-10T11:00:00Z"),
    ]
}

async fn figures(store: &dyn ReadStore, environment: &str) -> DoraFigures {
    let now: DateTime<Utc> = at(NOW);
    let query = DoraQuery {
        service: "checkout".into(),
        environment: environment.into(),
        since: window_start(now, THIRTY_DAYS),
        until: now,
    };
    let inputs = store.dora_inputs(&query).await.expect("dora inputs");
    dora_figures(&inputs, now, THIRTY_DAYS)
}

pub async fn dora_figures_come_out_by_hand_whichever_topic_is_applied_first(h: Harness) {
    let store = &h.store;
    // Outcomes first, deploys last: the upserts must not care.
    for (topic, events) in [
        (OUTCOMES, outcomes()),
        (ALERTS, alerts()),
        (DEPLOYS, deploys()),
    ] {
        let batch = batch(topic, 0, events);
        store.apply(&batch).await.expect("apply");
        // A redelivery changes nothing.
        store.apply(&batch).await.expect("reapply");
    }
    let production = figures(store.as_ref(), "production").await;
    assert_eq!(
        production,
        DoraFigures {
            // v1 v2 v3 v5 deployed in the window; v1 v2 v5 succeeded: 3 / 30.
            deployments: 4,
            successful_deployments: 3,
            deployment_frequency_per_day: 3.0 / 30.0,
            // v1 (incident), v2 (rolled back, incident), v3 (failed): 3 / 4.
            failed_deployments: 3,
            change_failure_rate: Some(0.75),
            // c2 3600, c4 7200, c1 86400: median 7200.
            lead_time_seconds_median: Some(7_200.0),
            // HighErrorRatio/v1 3600 and HighLatency/v2 14400: median 9000.
            incidents: 2,
            time_to_restore_seconds_median: Some(9_000.0),
        }
    );
    let staging = figures(store.as_ref(), "staging").await;
    assert_eq!(
        (
            staging.deployments,
            staging.incidents,
            staging.change_failure_rate
        ),
        (1, 0, Some(0.0))
    );
    assert_eq!(staging.lead_time_seconds_median, None);
}

pub async fn dora_targets_list_each_service_and_environment_once_most_recent_first(h: Harness) {
    let store = &h.store;
    store
        .apply(&batch(DEPLOYS, 0, deploys()))
        .await
        .expect("apply");
    store
        .apply(&batch(
            DEPLOYS,
            deploys().len() as u64,
            vec![deploy_report(
                "search",
                "production",
                "v7",
                Started,
                "2024-05-30T10:00:00Z",
                &[],
            )],
        ))
        .await
        .expect("apply");
    let targets = store.dora_targets(10).await.expect("targets");
    // search only ever started a deploy: not a target yet.
    assert_eq!(
        targets,
        [
            ("checkout".to_string(), "production".to_string()),
            ("checkout".to_string(), "staging".to_string()),
        ]
    );
    assert_eq!(store.dora_targets(1).await.expect("targets").len(), 1);
}
