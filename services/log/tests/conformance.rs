//! The embedded log against the backend conformance suite, once with one
//! partition per topic (the default) and once with several, so keyed
//! placement across partitions is exercised too.

use closeloop_log::embedded::{EmbeddedLog, EmbeddedOptions};
use closeloop_log::testsuite;
use std::sync::atomic::{AtomicU32, Ordering};
use tempfile::TempDir;

struct Logs {
    root: TempDir,
    next: AtomicU32,
    partitions: u32,
}

impl Logs {
    fn new(partitions: u32) -> Self {
        Self {
            root: tempfile::tempdir().expect("temp dir"),
            next: AtomicU32::new(0),
            partitions,
        }
    }

    async fn open(&self) -> EmbeddedLog {
        let dir = self
            .root
            .path()
            .join(self.next.fetch_add(1, Ordering::Relaxed).to_string());
        let options = EmbeddedOptions {
            default_partitions: self.partitions,
            ..EmbeddedOptions::default()
        };
        EmbeddedLog::open(&dir, options)
            .await
            .expect("open embedded log")
    }
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod one_partition {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let logs = Logs::new(1);
                    testsuite::$case(&logs.open().await).await;
                }
            )*
        }
        mod four_partitions {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let logs = Logs::new(4);
                    testsuite::$case(&logs.open().await).await;
                }
            )*
        }
        #[test]
        fn every_suite_case_is_run_here() {
            let here = [$(stringify!($case)),*];
            assert_eq!(here.as_slice(), testsuite::CASES);
        }
    };
}

conformance!(
    append_returns_offsets_in_order,
    records_of_one_key_stay_in_order_in_one_partition,
    read_returns_records_from_the_requested_offset,
    read_waits_for_a_new_record_and_times_out_empty,
    committed_position_round_trips_with_metadata,
    end_offset_follows_appends,
    concurrent_appends_are_durable_and_readable_exactly_once,
    invalid_topic_names_partitions_and_offsets_are_rejected,
    the_newest_snapshot_loads_whole_among_interleaved_parts,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_all_passes_on_the_embedded_log() {
    let logs = Logs::new(2);
    testsuite::run_all(|| logs.open()).await;
}
