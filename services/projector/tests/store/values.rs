//! Values each database stores in its own way, read back alike: NaN and
//! infinite alert values, NUL characters in text, sub-microsecond times,
//! and ties in the orders the API lists rows in. Where the backends differ
//! on purpose, the test says how.

use crate::backends::{Backend, Harness};
use crate::common::*;
use crate::{all_alerts, ALERTS, DEPLOYS, OUTCOMES};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use closeloop_core::{Event, EventPayload};
use closeloop_projector::store::{DeployFilter, HistoryFilter, CONSUMER};
use closeloop_projector::{open_store, query_router, NUL_REPLACEMENT};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;
use uuid::Uuid;

/// `event` as the projector gets it: written to the log as JSON and read
/// back.
fn through_the_log(event: Event) -> Event {
    Event::from_json(&event.to_json()).expect("event round-trips through JSON")
}

fn with_value(mut event: Event, value: f64) -> Event {
    match &mut event.payload {
        EventPayload::AlertPending(a) | EventPayload::AlertFiring(a) => a.value = value,
        other => panic!("not an alert transition: {other:?}"),
    }
    through_the_log(event)
}

pub async fn non_finite_alert_values_read_back_as_no_value_and_answer_null(h: Harness) {
    let cases = [
        ("NotANumber", f64::NAN),
        ("Overflowing", f64::INFINITY),
        ("Underflowing", f64::NEG_INFINITY),
        ("Finite", 0.07),
    ];
    let events = cases
        .iter()
        .map(|(name, value)| with_value(alert(name, "firing", "2024-05-02T10:05:00Z"), *value))
        .collect();
    h.store
        .apply(&batch(ALERTS, 0, events))
        .await
        .expect("apply");

    // Through the store: the same on both backends.
    let rows = all_alerts(h.store.as_ref()).await;
    for (name, value) in cases {
        let row = rows
            .iter()
            .find(|r| r.alertname == name)
            .unwrap_or_else(|| panic!("no row for {name}"));
        assert_eq!(row.value, value.is_finite().then_some(value), "{name}");
    }

    // In the column, as a dashboard reading the table sees it: PostgreSQL
    // keeps the value, SQLite has no NaN and stores NULL.
    for (name, value) in cases {
        let stored = h.stored_alert_value(&fp(name)).await;
        match (h.backend, value.is_finite()) {
            (Backend::Postgres, _) if value.is_nan() => {
                assert!(stored.is_some_and(f64::is_nan), "{name}: {stored:?}")
            }
            (Backend::Postgres, _) | (Backend::Sqlite, true) => {
                assert_eq!(stored, Some(value), "{name}")
            }
            (Backend::Sqlite, false) => assert_eq!(stored, None, "{name}"),
        }
    }

    // Through the API: null for every value JSON cannot hold.
    let response = query_router(h.store.clone())
        .oneshot(
            Request::get("/api/v1/alert-history")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("router answers");
    assert_eq!(response.status(), StatusCode::OK);
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    let body: Value = serde_json::from_slice(&body).expect("JSON body");
    let values: Vec<(String, Value)> = body["data"]
        .as_array()
        .expect("data is a list")
        .iter()
        .map(|a| {
            (
                a["alertname"].as_str().unwrap_or("").to_string(),
                a["value"].clone(),
            )
        })
        .collect();
    for (name, value) in cases {
        let answered = values
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone());
        let expected = if value.is_finite() {
            serde_json::json!(value)
        } else {
            Value::Null
        };
        assert_eq!(answered, Some(expected), "{name}");
    }
}

pub async fn text_with_a_nul_character_is_stored_without_stalling_the_partition(h: Harness) {
    // PostgreSQL's text and jsonb cannot hold NUL; refusing the row would
    // stall the partition behind it, so the store writes U+FFFD instead.
    // SQLite keeps the character.
    let mut event = deploy("check\0out", "production", "v1", "2024-05-02T09:00:00Z");
    match &mut event.payload {
        EventPayload::DeployRecorded(d) => {
            d.actor = Some("al\0ice".into());
            d.labels.insert("te\0am".into(), "pay\0ments".into());
        }
        other => panic!("not a deploy: {other:?}"),
    }
    let event = through_the_log(event);
    h.store
        .apply(&batch(DEPLOYS, 0, vec![event]))
        .await
        .expect("a NUL character does not fail the batch");
    assert_eq!(
        h.store.checkpoint(CONSUMER, DEPLOYS, 0).await.expect("cp"),
        Some(1)
    );

    let stored = |text: &str| match h.backend {
        Backend::Sqlite => text.to_string(),
        Backend::Postgres => text.replace('\0', &NUL_REPLACEMENT.to_string()),
    };
    // Filtering by the value as it came finds the row on both backends.
    let filter = DeployFilter {
        service: Some("check\0out".into()),
        ..DeployFilter::default()
    };
    let rows = h.store.deploys(&filter).await.expect("deploys");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].service, stored("check\0out"));
    assert_eq!(rows[0].actor, Some(stored("al\0ice")));
    assert_eq!(
        rows[0].labels.get(&stored("te\0am")),
        Some(&stored("pay\0ments"))
    );
}

pub async fn event_times_keep_at_least_microseconds(h: Harness) {
    // SQLite stores times as text with nanoseconds; PostgreSQL's
    // timestamptz has microseconds and truncates the rest.
    let event = deploy(
        "checkout",
        "production",
        "v1",
        "2024-05-02T09:58:12.123456789Z",
    );
    h.store
        .apply(&batch(DEPLOYS, 0, vec![event]))
        .await
        .expect("apply");
    let rows = h
        .store
        .deploys(&DeployFilter::default())
        .await
        .expect("deploys");
    let expected = match h.backend {
        Backend::Sqlite => at("2024-05-02T09:58:12.123456789Z"),
        Backend::Postgres => at("2024-05-02T09:58:12.123456Z"),
    };
    assert_eq!(rows[0].occurred_at, expected);
}

pub async fn rows_at_the_same_instant_are_listed_in_the_same_order_on_both_backends(h: Harness) {
    // Deploys and history newest first, then by event id descending;
    // alerts by activation, then by fingerprint in byte order.
    let same_time = "2024-05-02T10:00:00Z";
    let deploys = vec![
        deploy("checkout", "production", "v1", same_time),
        deploy("checkout", "production", "v2", same_time),
        deploy("checkout", "production", "v3", same_time),
    ];
    let mut deploy_ids: Vec<Uuid> = deploys.iter().map(|e| e.envelope.id).collect();
    deploy_ids.sort_by(|a, b| b.cmp(a));
    let request_id = Uuid::now_v7();
    let deliveries = vec![
        webhook_delivered(request_id, same_time),
        webhook_delivered(request_id, same_time),
        webhook_delivered(request_id, same_time),
    ];
    let mut delivery_ids: Vec<Uuid> = deliveries.iter().map(|e| e.envelope.id).collect();
    delivery_ids.sort_by(|a, b| b.cmp(a));
    let names = ["Zeta", "alpha", "Beta", "_under", "0digit"];
    let alerts = names
        .iter()
        .map(|n| alert(n, "pending", same_time))
        .collect();
    let mut fingerprints: Vec<String> = names.iter().map(|n| fp(n)).collect();
    fingerprints.sort();

    for b in [
        batch(DEPLOYS, 0, deploys),
        batch(OUTCOMES, 0, deliveries),
        batch(ALERTS, 0, alerts),
    ] {
        h.store.apply(&b).await.expect("apply");
    }

    let listed: Vec<Uuid> = h
        .store
        .deploys(&DeployFilter::default())
        .await
        .expect("deploys")
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(listed, deploy_ids);
    let listed: Vec<Uuid> = h
        .store
        .deliveries(&HistoryFilter {
            request_id: None,
            limit: 10,
        })
        .await
        .expect("deliveries")
        .into_iter()
        .map(|d| d.event_id)
        .collect();
    assert_eq!(listed, delivery_ids);
    let listed: Vec<String> = all_alerts(h.store.as_ref())
        .await
        .into_iter()
        .map(|a| a.fingerprint)
        .collect();
    assert_eq!(listed, fingerprints);

    // Text keys sort by bytes, whatever the database's locale.
    let topics = ["a_b", "aB", "a.b", "A.b"];
    for topic in topics {
        h.store
            .apply(&batch(topic, 0, Vec::new()))
            .await
            .expect("apply");
    }
    let listed: Vec<String> = h
        .store
        .checkpoints(CONSUMER)
        .await
        .expect("checkpoints")
        .into_iter()
        .map(|c| c.topic)
        .filter(|t| topics.contains(&t.as_str()))
        .collect();
    assert_eq!(listed, ["A.b", "a.b", "aB", "a_b"]);
    let issues = ["ops_7", "OPS-8", "ops-9", "opsA"]
        .iter()
        .map(|id| issue_filed("Sorted", id, same_time))
        .collect();
    h.store
        .apply(&batch("closeloop.outcomes.sorted", 0, issues))
        .await
        .expect("apply");
    let listed: Vec<String> = h
        .store
        .issues(&Default::default())
        .await
        .expect("issues")
        .into_iter()
        .map(|i| i.issue_id)
        .collect();
    assert_eq!(listed, ["OPS-8", "ops-9", "opsA", "ops_7"]);
}

pub async fn open_store_reaches_the_same_database_from_its_url(h: Harness) {
    h.store
        .apply(&batch(
            DEPLOYS,
            0,
            vec![deploy(
                "checkout",
                "production",
                "v1",
                "2024-05-02T09:00:00Z",
            )],
        ))
        .await
        .expect("apply");
    let url = h.url();
    let store = open_store(&url)
        .await
        .unwrap_or_else(|e| panic!("open_store({url}): {e}"));
    assert_eq!(
        store.checkpoint(CONSUMER, DEPLOYS, 0).await.expect("cp"),
        Some(1)
    );
    assert_eq!(
        store
            .deploys(&DeployFilter::default())
            .await
            .expect("deploys")
            .len(),
        1
    );
}
