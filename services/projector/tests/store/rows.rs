//! Rows per event kind: deploys, alert lifecycles, issue lifecycles and
//! delivery history, and the filters and orders the API queries with.

use crate::backends::Harness;
use crate::common::*;
use crate::{all_alerts, ALERTS, DEPLOYS, OUTCOMES};
use closeloop_core::events::AlertState;
use closeloop_projector::store::{
    AlertFilter, DeliveryKind, DeployFilter, HistoryFilter, IssueFilter, IssueState,
};
use uuid::Uuid;

pub async fn a_deploy_becomes_a_row_with_its_commits_and_labels(h: Harness) {
    let store = &h.store;
    let event = deploy(
        "checkout",
        "production",
        "v2.14.0",
        "2024-05-02T09:58:12.345Z",
    );
    let id = event.envelope.id;
    store
        .apply(&batch(DEPLOYS, 0, vec![event]))
        .await
        .expect("apply");

    let rows = store
        .deploys(&DeployFilter::default())
        .await
        .expect("deploys");
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row.id, id);
    assert_eq!(
        (row.service.as_str(), row.environment.as_str()),
        ("checkout", "production")
    );
    assert_eq!(row.version, "v2.14.0");
    assert_eq!(row.occurred_at, at("2024-05-02T09:58:12.345Z"));
    assert_eq!(row.finished_at, Some(at("2024-05-02T09:58:12.345Z")));
    assert_eq!(row.commits.len(), 1);
    assert_eq!(row.labels, labels(&[("team", "payments")]));
    assert_eq!(row.actor.as_deref(), Some("alice"));
}

pub async fn an_alert_moves_from_pending_to_firing_to_resolved_in_one_row(h: Harness) {
    let store = &h.store;
    let fingerprint = fp("HighErrorRatio");

    store
        .apply(&batch(
            ALERTS,
            0,
            vec![alert("HighErrorRatio", "pending", "2024-05-02T10:00:00Z")],
        ))
        .await
        .expect("apply");
    let rows = all_alerts(store.as_ref()).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].fingerprint, fingerprint);
    assert_eq!(rows[0].state, AlertState::Pending);
    assert_eq!(rows[0].fired_at, None);

    store
        .apply(&batch(
            ALERTS,
            1,
            vec![alert("HighErrorRatio", "firing", "2024-05-02T10:05:00Z")],
        ))
        .await
        .expect("apply");
    let rows = all_alerts(store.as_ref()).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].state, AlertState::Firing);
    assert_eq!(rows[0].fired_at, Some(at("2024-05-02T10:05:00Z")));
    assert_eq!(rows[0].updated_at, at("2024-05-02T10:05:00Z"));
    assert_eq!(rows[0].value, Some(0.07));
    assert_eq!(rows[0].suspect_deploys.len(), 1);
    assert_eq!(rows[0].labels, alert_labels("HighErrorRatio"));

    store
        .apply(&batch(
            ALERTS,
            2,
            vec![alert("HighErrorRatio", "resolved", "2024-05-02T10:30:00Z")],
        ))
        .await
        .expect("apply");
    let rows = all_alerts(store.as_ref()).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].state, AlertState::Resolved);
    assert_eq!(rows[0].resolved_at, Some(at("2024-05-02T10:30:00Z")));

    let counts = store.alert_counts().await.expect("counts");
    assert_eq!(
        counts,
        [
            (AlertState::Pending, 0),
            (AlertState::Firing, 0),
            (AlertState::Resolved, 1)
        ]
    );
}

pub async fn a_pending_alert_that_clears_without_firing_is_deleted(h: Harness) {
    let store = &h.store;
    store
        .apply(&batch(
            ALERTS,
            0,
            vec![
                alert("HighErrorRatio", "pending", "2024-05-02T10:00:00Z"),
                alert("HighLatency", "pending", "2024-05-02T10:00:00Z"),
            ],
        ))
        .await
        .expect("apply");
    store
        .apply(&batch(
            ALERTS,
            2,
            vec![alert("HighErrorRatio", "cleared", "2024-05-02T10:02:00Z")],
        ))
        .await
        .expect("apply");
    let rows = all_alerts(store.as_ref()).await;
    let names: Vec<&str> = rows.iter().map(|r| r.alertname.as_str()).collect();
    assert_eq!(names, ["HighLatency"]);
}

pub async fn alerts_filter_by_state(h: Harness) {
    let store = &h.store;
    store
        .apply(&batch(
            ALERTS,
            0,
            vec![
                alert("A", "pending", "2024-05-02T10:00:00Z"),
                alert("B", "firing", "2024-05-02T10:01:00Z"),
                alert("C", "resolved", "2024-05-02T10:02:00Z"),
            ],
        ))
        .await
        .expect("apply");
    for (state, name) in [
        (AlertState::Pending, "A"),
        (AlertState::Firing, "B"),
        (AlertState::Resolved, "C"),
    ] {
        let rows = store
            .alerts(&AlertFilter { state: Some(state) })
            .await
            .expect("alerts");
        let names: Vec<&str> = rows.iter().map(|r| r.alertname.as_str()).collect();
        assert_eq!(names, [name], "state {state:?}");
    }
}

pub async fn an_issue_is_filed_commented_closed_and_reopened_in_one_row(h: Harness) {
    let store = &h.store;
    let open_filter = IssueFilter {
        state: Some(IssueState::Open),
    };
    store
        .apply(&batch(
            OUTCOMES,
            0,
            vec![
                issue_filed("HighErrorRatio", "4711", "2024-05-02T10:05:02Z"),
                issue_commented("HighErrorRatio", "4711", 2, "2024-05-02T11:00:00Z"),
            ],
        ))
        .await
        .expect("apply");
    let rows = store.issues(&open_filter).await.expect("issues");
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row.fingerprint, fp("HighErrorRatio"));
    assert_eq!(
        (row.receiver.as_str(), row.integration.as_str()),
        (RECEIVER, INTEGRATION)
    );
    assert_eq!(
        (row.tracker.as_str(), row.issue_id.as_str()),
        ("redmine", "4711")
    );
    assert_eq!(
        row.url.as_deref(),
        Some("http://127.0.0.1:3000/issues/4711")
    );
    assert_eq!(row.title.as_deref(), Some("[FIRING] HighErrorRatio"));
    assert_eq!(row.occurrences, 2);
    assert_eq!(row.filed_at, Some(at("2024-05-02T10:05:02Z")));
    assert_eq!(row.last_event_at, at("2024-05-02T11:00:00Z"));
    assert_eq!(store.open_issue_count().await.expect("count"), 1);

    store
        .apply(&batch(
            OUTCOMES,
            2,
            vec![issue_closed(
                "HighErrorRatio",
                "4711",
                "2024-05-02T11:30:00Z",
            )],
        ))
        .await
        .expect("apply");
    assert!(store.issues(&open_filter).await.expect("issues").is_empty());
    let closed = store
        .issues(&IssueFilter {
            state: Some(IssueState::Closed),
        })
        .await
        .expect("issues");
    assert_eq!(closed.len(), 1);
    assert_eq!(closed[0].closed_at, Some(at("2024-05-02T11:30:00Z")));
    assert_eq!(closed[0].occurrences, 2, "closing keeps the count");
    assert_eq!(store.open_issue_count().await.expect("count"), 0);

    store
        .apply(&batch(
            OUTCOMES,
            3,
            vec![issue_reopened(
                "HighErrorRatio",
                "4711",
                "2024-05-02T12:00:00Z",
            )],
        ))
        .await
        .expect("apply");
    let rows = store.issues(&IssueFilter::default()).await.expect("issues");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].state, IssueState::Open);
    assert_eq!(rows[0].closed_at, None);
    assert_eq!(rows[0].filed_at, Some(at("2024-05-02T10:05:02Z")));
}

pub async fn an_issue_first_seen_through_a_comment_still_gets_a_row(h: Harness) {
    // A log whose retention dropped the IssueFiled event still yields the
    // issue; what only IssueFiled knew stays unknown.
    let store = &h.store;
    store
        .apply(&batch(
            OUTCOMES,
            40,
            vec![issue_commented(
                "HighErrorRatio",
                "4711",
                5,
                "2024-05-02T11:00:00Z",
            )],
        ))
        .await
        .expect("apply");
    let rows = store.issues(&IssueFilter::default()).await.expect("issues");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].state, IssueState::Open);
    assert_eq!(rows[0].occurrences, 5);
    assert_eq!((rows[0].url.clone(), rows[0].filed_at), (None, None));
}

pub async fn outcomes_are_kept_as_delivery_history(h: Harness) {
    let store = &h.store;
    let request_id = Uuid::now_v7();
    store
        .apply(&batch(
            OUTCOMES,
            0,
            vec![
                action_failed(request_id, "2024-05-02T10:05:01Z"),
                webhook_delivered(request_id, "2024-05-02T10:05:03Z"),
                issue_filed("HighErrorRatio", "4711", "2024-05-02T10:05:04Z"),
            ],
        ))
        .await
        .expect("apply");
    let filter = HistoryFilter {
        request_id: Some(request_id),
        limit: 10,
    };
    let delivered = store.deliveries(&filter).await.expect("deliveries");
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].kind, DeliveryKind::Webhook);
    assert_eq!(delivered[0].http_status, Some(200));
    assert_eq!(delivered[0].attempts, Some(2));
    assert_eq!(delivered[0].target, "http://127.0.0.1:5001/hook");

    let failures = store.action_failures(&filter).await.expect("failures");
    assert_eq!(failures.len(), 1);
    assert!(failures[0].retryable && !failures[0].gave_up);
    assert_eq!(
        failures[0].next_attempt_at,
        Some(at("2024-05-02T10:05:03Z"))
    );

    let all = store
        .deliveries(&HistoryFilter {
            request_id: None,
            limit: 10,
        })
        .await
        .expect("deliveries");
    let kinds: Vec<DeliveryKind> = all.iter().map(|d| d.kind).collect();
    assert_eq!(kinds, [DeliveryKind::IssueFiled, DeliveryKind::Webhook]);
}

pub async fn deploys_filter_by_service_and_environment_newest_first_with_a_limit(h: Harness) {
    let store = &h.store;
    store
        .apply(&batch(
            DEPLOYS,
            0,
            vec![
                deploy("checkout", "production", "v1", "2024-05-01T09:00:00Z"),
                deploy("checkout", "staging", "v2", "2024-05-01T10:00:00Z"),
                deploy("checkout", "production", "v2", "2024-05-02T09:00:00Z"),
                deploy("search", "production", "v7", "2024-05-02T10:00:00Z"),
            ],
        ))
        .await
        .expect("apply");
    let versions = |rows: Vec<closeloop_projector::store::DeployRow>| -> Vec<String> {
        rows.into_iter()
            .map(|d| format!("{}/{}", d.service, d.version))
            .collect()
    };
    let filter = DeployFilter {
        service: Some("checkout".into()),
        environment: Some("production".into()),
        limit: 100,
    };
    assert_eq!(
        versions(store.deploys(&filter).await.expect("q")),
        ["checkout/v2", "checkout/v1"]
    );
    let filter = DeployFilter {
        limit: 2,
        ..DeployFilter::default()
    };
    assert_eq!(
        versions(store.deploys(&filter).await.expect("q")),
        ["search/v7", "checkout/v2"]
    );
}
