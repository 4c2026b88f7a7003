//! The scale-actions read model: a request's decision (from the actions
//! topic) and its outcome (from the outcomes topic) in one row, whichever
//! is projected first; filters and order of the API query.

use crate::backends::Harness;
use crate::common::*;
use crate::OUTCOMES;
use chrono::{DateTime, Utc};
use closeloop_core::events::{
    ActionFailed, ScaleApplied, ScaleLimit, ScaleOutcome, ScaleRequested, ScaleTrigger,
};
use closeloop_core::{Event, EventPayload};
use closeloop_projector::store::{ScaleActionFilter, ScaleResult};
use uuid::Uuid;

pub const ACTIONS: &str = "closeloop.actions";

fn on(payload: EventPayload, scaler: &str, occurred_at: &str) -> Event {
    let t: DateTime<Utc> = at(occurred_at);
    Event::new(payload, "test", scaler.into(), t, t)
}

fn requested(scaler: &str, request_id: Uuid, from: u32, to: u32, tick: &str) -> Event {
    on(
        EventPayload::ScaleRequested(ScaleRequested {
            scaler: scaler.into(),
            request_id,
            trigger: ScaleTrigger::Metric,
            from_replicas: from,
            to_replicas: to,
            query_value: Some(612.5),
            raw_desired: Some(13),
            stabilized: Some(13),
            limited_by: vec![ScaleLimit::Policy],
            limiting_policy: Some("scale_up.policies[1] (Pods 4 per 15s)".into()),
            cause: None,
            tick_at: at(tick),
        }),
        scaler,
        tick,
    )
}

fn applied(scaler: &str, request_id: Uuid, from: u32, to: u32, when: &str) -> Event {
    on(
        EventPayload::ScaleApplied(ScaleApplied {
            scaler: scaler.into(),
            request_id,
            target: "webhook".into(),
            outcome: ScaleOutcome::Applied,
            observed_replicas: from,
            applied_replicas: to,
            status_replicas: None,
            answer: "HTTP 200".into(),
            attempts: 2,
        }),
        scaler,
        when,
    )
}

fn failed(scaler: &str, request_id: Uuid, gave_up: bool, when: &str) -> Event {
    on(
        EventPayload::ActionFailed(ActionFailed {
            request_id,
            receiver: scaler.into(),
            integration: "webhook".into(),
            attempt: 1,
            error: "scale webhook POST answered 503".into(),
            retryable: true,
            gave_up,
            next_attempt_at: None,
        }),
        scaler,
        when,
    )
}

pub async fn a_scale_request_and_its_outcome_make_one_row_in_either_order(h: Harness) {
    let store = &h.store;
    let first = Uuid::now_v7();
    let second = Uuid::now_v7();
    // The first request's decision, then its outcome; the second's outcome
    // is projected before its decision (another topic, another projector).
    store
        .apply(&batch(
            ACTIONS,
            0,
            vec![requested("workers", first, 4, 8, "2024-05-02T10:00:00Z")],
        ))
        .await
        .expect("apply");
    store
        .apply(&batch(
            OUTCOMES,
            0,
            vec![
                failed("workers", first, false, "2024-05-02T10:00:01Z"),
                applied("workers", first, 4, 8, "2024-05-02T10:00:02Z"),
                applied("workers", second, 8, 12, "2024-05-02T10:00:16Z"),
            ],
        ))
        .await
        .expect("apply");
    store
        .apply(&batch(
            ACTIONS,
            1,
            vec![requested("workers", second, 8, 12, "2024-05-02T10:00:15Z")],
        ))
        .await
        .expect("apply");

    let rows = store
        .scale_actions(&ScaleActionFilter::default())
        .await
        .expect("scale actions");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].request_id, second, "newest tick first");
    for (row, (from, to)) in rows.iter().zip([(8, 12), (4, 8)]) {
        assert_eq!(row.scaler, "workers");
        assert_eq!(row.result, ScaleResult::Applied);
        assert_eq!((row.from_replicas, row.to_replicas), (Some(from), Some(to)));
        assert_eq!(row.applied_replicas, Some(to));
        assert_eq!(row.query_value, Some(612.5));
        assert_eq!(row.raw_desired, Some(13));
        assert_eq!(row.limited_by, ["policy"]);
        assert_eq!(
            row.limiting_policy.as_deref(),
            Some("scale_up.policies[1] (Pods 4 per 15s)")
        );
        assert_eq!(
            row.reason.as_deref(),
            Some("metric: value 612.5, raw desired 13, limited by policy scale_up.policies[1] (Pods 4 per 15s)")
        );
        assert_eq!(row.trigger.as_deref(), Some("metric"));
        assert_eq!(row.attempts, Some(2));
    }
    assert_eq!(
        rows[1].error, None,
        "the retry's error is gone once applied"
    );
}

pub async fn scale_actions_filter_by_scaler_and_show_given_up_requests(h: Harness) {
    let store = &h.store;
    let workers = Uuid::now_v7();
    let db = Uuid::now_v7();
    store
        .apply(&batch(
            ACTIONS,
            0,
            vec![
                requested("workers", workers, 2, 4, "2024-05-02T10:00:00Z"),
                requested("db", db, 1, 2, "2024-05-02T10:00:00Z"),
            ],
        ))
        .await
        .expect("apply");
    store
        .apply(&batch(
            OUTCOMES,
            0,
            vec![failed("db", db, true, "2024-05-02T10:00:05Z")],
        ))
        .await
        .expect("apply");

    let filter = ScaleActionFilter {
        scaler: Some("db".into()),
        ..ScaleActionFilter::default()
    };
    let rows = store.scale_actions(&filter).await.expect("scale actions");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].request_id, db);
    assert_eq!(rows[0].result, ScaleResult::Failed);
    assert_eq!(
        rows[0].error.as_deref(),
        Some("scale webhook POST answered 503")
    );
    let workers_rows = store
        .scale_actions(&ScaleActionFilter {
            scaler: Some("workers".into()),
            limit: 10,
        })
        .await
        .expect("scale actions");
    assert_eq!(workers_rows[0].result, ScaleResult::Requested);
    // A webhook receiver's failure is not a scale action.
    store
        .apply(&batch(
            OUTCOMES,
            1,
            vec![action_failed(Uuid::now_v7(), "2024-05-02T10:00:06Z")],
        ))
        .await
        .expect("apply");
    let all = store
        .scale_actions(&ScaleActionFilter::default())
        .await
        .expect("scale actions");
    assert_eq!(all.len(), 2);
}
