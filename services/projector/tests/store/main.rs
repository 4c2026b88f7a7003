//! The read-model test suite, run against both stores: SQLite in a temp
//! dir and PostgreSQL in a fresh schema of the database
//! `CLOSELOOP_TEST_DATABASE_URL` names (default
//! `postgres://postgres@127.0.0.1:5432/test`; `tests/setup/postgres.sh`
//! prepares one). Every test is written once, in `rows`, `checkpoints` or
//! `values`, and [`read_store_suite!`] runs it as `sqlite::<name>` and
//! `postgres::<name>`. Without a reachable PostgreSQL the `postgres::`
//! tests fail, saying how to start it; they never skip.

#[path = "../common/mod.rs"]
mod common;

mod backends;
mod checkpoints;
mod dora;
mod rows;
mod scale;
mod values;

use closeloop_projector::store::{AlertFilter, AlertRow};
use closeloop_projector::ReadStore;

pub const ALERTS: &str = "closeloop.alerts";
pub const DEPLOYS: &str = "closeloop.deploys";
pub const OUTCOMES: &str = "closeloop.outcomes";

pub async fn all_alerts(store: &dyn ReadStore) -> Vec<AlertRow> {
    store.alerts(&AlertFilter::default()).await.expect("alerts")
}

/// One `#[tokio::test]` per suite function and backend, each on a fresh
/// database. Multi-threaded, so tests that race two stores race for real.
macro_rules! read_store_suite {
    ($($module:ident::$test:ident),* $(,)?) => {
        read_store_suite!(@backend sqlite, Sqlite, $($module::$test),*);
        read_store_suite!(@backend postgres, Postgres, $($module::$test),*);
    };
    (@backend $name:ident, $backend:ident, $($module:ident::$test:ident),*) => {
        mod $name {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    let harness =
                        crate::backends::Harness::new(crate::backends::Backend::$backend).await;
                    crate::$module::$test(harness).await;
                }
            )*
        }
    };
}

read_store_suite!(
    rows::a_deploy_becomes_a_row_with_its_commits_and_labels,
    rows::an_alert_moves_from_pending_to_firing_to_resolved_in_one_row,
    rows::a_pending_alert_that_clears_without_firing_is_deleted,
    rows::alerts_filter_by_state,
    rows::an_issue_is_filed_commented_closed_and_reopened_in_one_row,
    rows::an_issue_first_seen_through_a_comment_still_gets_a_row,
    rows::outcomes_are_kept_as_delivery_history,
    rows::deploys_filter_by_service_and_environment_newest_first_with_a_limit,
    checkpoints::applying_a_batch_again_is_a_no_op,
    checkpoints::a_batch_overlapping_the_checkpoint_applies_only_the_new_records,
    checkpoints::the_checkpoint_commits_with_the_rows_or_not_at_all,
    checkpoints::checkpoints_are_kept_per_topic_and_partition,
    checkpoints::reopening_the_database_keeps_rows_and_checkpoints,
    checkpoints::a_batch_without_changes_still_moves_the_checkpoint,
    checkpoints::two_processes_sharing_a_partition_apply_each_record_once,
    values::non_finite_alert_values_read_back_as_no_value_and_answer_null,
    values::text_with_a_nul_character_is_stored_without_stalling_the_partition,
    values::event_times_keep_at_least_microseconds,
    values::rows_at_the_same_instant_are_listed_in_the_same_order_on_both_backends,
    values::open_store_reaches_the_same_database_from_its_url,
    scale::a_scale_request_and_its_outcome_make_one_row_in_either_order,
    scale::scale_actions_filter_by_scaler_and_show_given_up_requests,
    dora::dora_figures_come_out_by_hand_whichever_topic_is_applied_first,
    dora::dora_targets_list_each_service_and_environment_once_most_recent_first,
);

/// What only one backend does.
mod backend_specific {
    use crate::common::*;
    use crate::DEPLOYS;
    use closeloop_projector::store::CONSUMER;
    use closeloop_projector::{PostgresStore, ReadStore, SqliteStore};

    #[tokio::test]
    async fn sqlite_creates_the_database_directory_at_open() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("data").join("nested").join("read.db");
        let store = SqliteStore::open(&path).await.expect("open");
        store
            .apply(&batch(
                DEPLOYS,
                0,
                vec![deploy("a", "b", "1", "2024-05-01T09:00:00Z")],
            ))
            .await
            .expect("apply");
        assert_eq!(
            store.checkpoint(CONSUMER, DEPLOYS, 0).await.expect("cp"),
            Some(1)
        );
        assert!(path.exists());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres_projector_processes_starting_at_once_migrate_the_database_once() {
        let schema = crate::backends::Schema::create().await;
        let starts: Vec<_> = (0..4)
            .map(|_| tokio::spawn(PostgresStore::connect_with(schema.options())))
            .collect();
        let mut stores = Vec::new();
        for start in starts {
            stores.push(start.await.expect("task").expect("connect and migrate"));
        }
        stores[0]
            .apply(&batch(
                DEPLOYS,
                0,
                vec![deploy("a", "b", "1", "2024-05-01T09:00:00Z")],
            ))
            .await
            .expect("apply");
        for store in &stores {
            assert_eq!(
                store.checkpoint(CONSUMER, DEPLOYS, 0).await.expect("cp"),
                Some(1)
            );
            store.close().await;
        }
    }

    #[tokio::test]
    async fn an_unreachable_postgres_fails_to_connect_without_showing_the_password() {
        // Port 1 on loopback refuses connections at once.
        let err = PostgresStore::connect("postgres://closeloop:hunter2@127.0.0.1:1/closeloop")
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_else(|| panic!("connected to port 1"));
        assert!(err.contains("127.0.0.1:1"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
    }
}
