//! Checkpoints: a replay or a redelivery is a no-op, a batch commits with
//! its checkpoint or not at all, and projector processes that briefly
//! share a partition (a consumer group rebalance) apply each record once.

use crate::backends::Harness;
use crate::common::*;
use crate::{all_alerts, ALERTS, DEPLOYS};
use closeloop_core::events::AlertState;
use closeloop_projector::store::{DeployFilter, CONSUMER};

pub async fn applying_a_batch_again_is_a_no_op(h: Harness) {
    let store = &h.store;
    let first = batch(
        ALERTS,
        0,
        vec![
            alert("HighErrorRatio", "pending", "2024-05-02T10:00:00Z"),
            alert("HighErrorRatio", "firing", "2024-05-02T10:05:00Z"),
            alert("HighLatency", "pending", "2024-05-02T10:06:00Z"),
        ],
    );
    let applied = store.apply(&first).await.expect("apply");
    assert_eq!(
        (applied.events, applied.changes, applied.already_applied),
        (3, 3, 0)
    );
    let later = batch(
        ALERTS,
        3,
        vec![alert("HighErrorRatio", "resolved", "2024-05-02T10:30:00Z")],
    );
    store.apply(&later).await.expect("apply");
    let before = all_alerts(store.as_ref()).await;

    // Redelivering either batch changes nothing: the resolved alert is not
    // taken back to firing by the older batch.
    for again in [&first, &later] {
        let applied = store.apply(again).await.expect("reapply");
        assert_eq!(applied.changes, 0);
        assert_eq!(applied.already_applied, again.changes.len());
    }
    assert_eq!(all_alerts(store.as_ref()).await, before);
    assert_eq!(
        store
            .checkpoint(CONSUMER, ALERTS, 0)
            .await
            .expect("checkpoint"),
        Some(4)
    );
}

pub async fn a_batch_overlapping_the_checkpoint_applies_only_the_new_records(h: Harness) {
    let store = &h.store;
    let a = deploy("checkout", "production", "v1", "2024-05-02T09:00:00Z");
    let b = deploy("checkout", "production", "v2", "2024-05-02T10:00:00Z");
    let c = deploy("checkout", "production", "v3", "2024-05-02T11:00:00Z");
    let first = batch(DEPLOYS, 0, vec![a.clone(), b.clone()]);
    store.apply(&first).await.expect("apply");
    let applied = store
        .apply(&batch(DEPLOYS, 0, vec![a, b, c]))
        .await
        .expect("apply");
    // Every change of the two records applied before is skipped.
    assert_eq!(
        (applied.events, applied.already_applied),
        (1, first.changes.len())
    );
    let versions: Vec<String> = store
        .deploys(&DeployFilter::default())
        .await
        .expect("deploys")
        .into_iter()
        .map(|d| d.version)
        .collect();
    assert_eq!(versions, ["v3", "v2", "v1"]);
    assert_eq!(
        store
            .checkpoint(CONSUMER, DEPLOYS, 0)
            .await
            .expect("checkpoint"),
        Some(3)
    );
}

pub async fn the_checkpoint_commits_with_the_rows_or_not_at_all(h: Harness) {
    let store = &h.store;
    // Make the second insert of the batch fail, as a full disk would.
    h.refuse_deploys_of("v2").await;

    let events = vec![
        deploy("checkout", "production", "v1", "2024-05-02T09:00:00Z"),
        deploy("checkout", "production", "v2", "2024-05-02T10:00:00Z"),
    ];
    let failing = batch(DEPLOYS, 0, events);
    assert!(store.apply(&failing).await.is_err());
    assert!(store
        .deploys(&DeployFilter::default())
        .await
        .expect("deploys")
        .is_empty());
    assert_eq!(
        store
            .checkpoint(CONSUMER, DEPLOYS, 0)
            .await
            .expect("checkpoint"),
        None
    );

    h.allow_all_deploys().await;
    store.apply(&failing).await.expect("retry succeeds");
    assert_eq!(
        store
            .deploys(&DeployFilter::default())
            .await
            .expect("deploys")
            .len(),
        2
    );
    assert_eq!(
        store
            .checkpoint(CONSUMER, DEPLOYS, 0)
            .await
            .expect("checkpoint"),
        Some(2)
    );
}

pub async fn checkpoints_are_kept_per_topic_and_partition(h: Harness) {
    let store = &h.store;
    store
        .apply(&batch(
            DEPLOYS,
            0,
            vec![deploy("a", "b", "1", "2024-05-01T09:00:00Z")],
        ))
        .await
        .expect("apply");
    let mut other = batch(
        ALERTS,
        7,
        vec![alert("A", "pending", "2024-05-02T10:00:00Z")],
    );
    other.checkpoint.partition = 3;
    store.apply(&other).await.expect("apply");
    let all = store.checkpoints(CONSUMER).await.expect("checkpoints");
    let summary: Vec<(String, u32, u64)> = all
        .into_iter()
        .map(|c| (c.topic, c.partition, c.next_offset))
        .collect();
    assert_eq!(
        summary,
        [(ALERTS.to_string(), 3, 8), (DEPLOYS.to_string(), 0, 1)]
    );
    assert_eq!(
        store.checkpoint(CONSUMER, ALERTS, 0).await.expect("cp"),
        None
    );
}

pub async fn reopening_the_database_keeps_rows_and_checkpoints(h: Harness) {
    h.store
        .apply(&batch(
            DEPLOYS,
            0,
            vec![deploy("a", "b", "1", "2024-05-01T09:00:00Z")],
        ))
        .await
        .expect("apply");
    let store = h.open_again().await;
    assert_eq!(
        store.checkpoint(CONSUMER, DEPLOYS, 0).await.expect("cp"),
        Some(1)
    );
    assert_eq!(
        store
            .deploys(&DeployFilter::default())
            .await
            .expect("q")
            .len(),
        1
    );
}

pub async fn a_batch_without_changes_still_moves_the_checkpoint(h: Harness) {
    // Records that are not projected (or do not decode) are read past, so
    // a restart does not read them again.
    let mut empty = batch(DEPLOYS, 0, Vec::new());
    empty.checkpoint.next_offset = 5;
    let applied = h.store.apply(&empty).await.expect("apply");
    assert_eq!(applied, Default::default());
    assert_eq!(
        h.store.checkpoint(CONSUMER, DEPLOYS, 0).await.expect("cp"),
        Some(5)
    );
}

/// Rounds of the race; each round is a partition of its own.
const RACE_ROUNDS: usize = 24;

pub async fn two_processes_sharing_a_partition_apply_each_record_once(h: Harness) {
    // During a rebalance the process losing a partition may still apply a
    // batch it read before, while the new owner applies a longer one from
    // the same checkpoint. Whichever commits first, every record is
    // applied once and the older batch never takes the alert back.
    let other = h.open_again().await;
    for round in 0..RACE_ROUNDS {
        let topic = format!("{ALERTS}.race{round}");
        let name = format!("Race{round}");
        // Half the rounds race on an existing checkpoint row, the other
        // half on creating it.
        let first = if round % 2 == 0 {
            let earlier = alert(&format!("{name}Before"), "pending", "2024-05-02T09:59:00Z");
            h.store
                .apply(&batch(&topic, 0, vec![earlier]))
                .await
                .expect("apply earlier record");
            1
        } else {
            0
        };
        let events = vec![
            alert(&name, "pending", "2024-05-02T10:00:00Z"),
            alert(&name, "firing", "2024-05-02T10:05:00Z"),
            alert(&name, "resolved", "2024-05-02T10:30:00Z"),
        ];
        let stale = batch(&topic, first, events[..2].to_vec());
        let current = batch(&topic, first, events);
        let all_changes = current.changes.len();
        let (losing, taking_over) = (h.store.clone(), other.clone());
        let stale_apply = tokio::spawn(async move { losing.apply(&stale).await });
        let current_apply = tokio::spawn(async move { taking_over.apply(&current).await });
        let stale_applied = stale_apply.await.expect("task").expect("stale apply");
        let current_applied = current_apply.await.expect("task").expect("current apply");

        assert_eq!(
            stale_applied.changes + current_applied.changes,
            all_changes,
            "round {round}: {stale_applied:?} {current_applied:?}"
        );
        let state = all_alerts(h.store.as_ref())
            .await
            .into_iter()
            .find(|a| a.alertname == name)
            .map(|a| a.state);
        assert_eq!(state, Some(AlertState::Resolved), "round {round}");
        assert_eq!(
            h.store.checkpoint(CONSUMER, &topic, 0).await.expect("cp"),
            Some(first + 3),
            "round {round}"
        );
    }
}
