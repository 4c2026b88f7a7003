//! The Kafka backend against the backend conformance suite, on a real
//! Kafka-protocol broker (nisshi, see `shared/notes/kafka.md`) started by
//! `tests/setup/kafka.sh`, once with one partition per topic and once with
//! several. `KAFKA_BROKERS` overrides where the broker is (default
//! `127.0.0.1:29092`, the script's port); when no broker answers the tests
//! fail, saying how to start one. Every case uses topics and groups of its
//! own, so runs share the broker without seeing each other.
//!
//! `broker_outage` starts and stops a broker of its own, on a free port.

use closeloop_log::kafka::{KafkaLog, KafkaOptions};
use closeloop_log::{testsuite, EventLog};
use std::time::Duration;

const HOW_TO_START: &str =
    "start one with tests/setup/kafka.sh (it prints KAFKA_BROKERS), or set KAFKA_BROKERS";

fn brokers() -> String {
    std::env::var("KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:29092".to_string())
}

fn options(brokers: &str, partitions: u32) -> KafkaOptions {
    KafkaOptions {
        brokers: vec![brokers.to_string()],
        default_partitions: partitions,
        ..KafkaOptions::default()
    }
}

async fn connect(partitions: u32) -> KafkaLog {
    let brokers = brokers();
    match KafkaLog::connect(options(&brokers, partitions)).await {
        Ok(log) => log,
        Err(error) => panic!("no Kafka broker answers at {brokers} ({error}); {HOW_TO_START}"),
    }
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod one_partition {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    testsuite::$case(&connect(1).await).await;
                }
            )*
        }
        mod four_partitions {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    testsuite::$case(&connect(4).await).await;
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
async fn run_all_passes_on_the_kafka_log() {
    testsuite::run_all(|| connect(3)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_topics_are_created_with_the_configured_partition_count() {
    let log = connect(5).await;
    let topic = testsuite::unique_topic("created");
    assert_eq!(log.partitions(&topic).await.expect("partitions"), 5);
    // A second client sees the same topic, not a fresh default.
    let other = connect(2).await;
    assert_eq!(other.partitions(&topic).await.expect("partitions"), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_past_the_end_is_invalid_even_from_another_client() {
    let writer = connect(1).await;
    let topic = testsuite::unique_topic("past-end");
    writer
        .append(&topic, vec![testsuite::record("k", "v")])
        .await
        .expect("append");
    // This client has appended nothing, so only the broker knows the end.
    let reader = connect(1).await;
    assert_eq!(
        reader
            .read(&topic, 0, 0, 10, Duration::ZERO)
            .await
            .expect("read")
            .len(),
        1
    );
    let result = reader.read(&topic, 0, 2, 10, Duration::ZERO).await;
    assert!(
        matches!(result, Err(closeloop_log::LogError::Invalid(_))),
        "{result:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_position_is_seen_by_another_client() {
    let first = connect(1).await;
    let topic = testsuite::unique_topic("shared-commit");
    let group = testsuite::unique_topic("group");
    let position = closeloop_log::CommittedPosition {
        next_offset: 3,
        metadata: "tick=42".into(),
    };
    first
        .commit(&group, &topic, 0, position.clone())
        .await
        .expect("commit");
    let second = connect(1).await;
    assert_eq!(
        second
            .committed(&group, &topic, 0)
            .await
            .expect("committed"),
        Some(position)
    );
}

/// A broker of the test's own, on a free port, so stopping it disturbs no
/// other test. In memory: a restart loses its topics, a harsher outage than
/// Apache Kafka's (which keeps them), and the log has to recreate them.
mod own_broker {
    use std::net::{TcpListener, TcpStream};
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    pub struct Broker {
        child: Child,
        pub port: u16,
    }

    fn nisshi() -> String {
        if let Ok(path) = std::env::var("NISSHI_BIN") {
            return path;
        }
        let in_cargo_bin = std::env::var("HOME")
            .map(|home| format!("{home}/.cargo/bin/nisshi"))
            .unwrap_or_default();
        if std::path::Path::new(&in_cargo_bin).exists() {
            in_cargo_bin
        } else {
            "nisshi".to_string()
        }
    }

    pub fn free_port() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
        listener.local_addr().expect("local address").port()
    }

    impl Broker {
        pub fn start(port: u16) -> Self {
            let url = format!("tcp://127.0.0.1:{port}");
            let child = Command::new(nisshi())
                .args([
                    "broker",
                    "--listener-url",
                    &url,
                    "--advertised-listener-url",
                    &url,
                ])
                .args(["--storage-engine", "memory://nisshi/"])
                .args(["--group-initial-rebalance-delay", "100ms"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|error| {
                    panic!("cannot run nisshi ({error}); install it with tests/setup/kafka.sh")
                });
            let broker = Self { child, port };
            let deadline = Instant::now() + Duration::from_secs(10);
            while TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(
                    Instant::now() < deadline,
                    "nisshi did not listen on port {port} within 10 s"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
            broker
        }

        /// SIGKILL, as a crash or a pulled cable would.
        pub fn kill(mut self) {
            self.stop();
        }

        fn stop(&mut self) {
            // Already gone is fine: the point is that it is not running.
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    impl Drop for Broker {
        fn drop(&mut self) {
            self.stop();
        }
    }
}

/// Appends while the broker is down fail with `Unavailable` (ingest's 503)
/// within the append timeout instead of hanging, other calls fail just as
/// fast, and the same `KafkaLog` appends again once the broker is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_fail_fast_while_the_broker_is_down_and_work_again_after_restart() {
    use closeloop_log::LogError;
    use std::time::Instant;

    const TIMEOUT: Duration = Duration::from_secs(2);
    // The timeout plus the time to notice the connection is gone.
    const BOUND: Duration = Duration::from_secs(5);
    let port = own_broker::free_port();
    let broker = own_broker::Broker::start(port);
    let mut options = options(&format!("127.0.0.1:{}", broker.port), 2);
    options.append_timeout = TIMEOUT;
    options.request_timeout = TIMEOUT;
    let log = KafkaLog::connect(options)
        .await
        .expect("connect to the test's own broker");
    let topic = testsuite::unique_topic("outage");
    let before: Vec<_> = (0..10)
        .map(|i| testsuite::record(&format!("k{i}"), "before"))
        .collect();
    log.append(&topic, before).await.expect("append while up");

    broker.kill();
    for attempt in 0..3 {
        let started = Instant::now();
        let result = log
            .append(&topic, vec![testsuite::record("k0", "while down")])
            .await;
        let took = started.elapsed();
        assert!(
            matches!(result, Err(LogError::Unavailable(_))),
            "append {attempt} while down: {result:?}"
        );
        assert!(took < BOUND, "append {attempt} while down took {took:?}");
    }
    let started = Instant::now();
    let end = log.end_offset(&topic, 0).await;
    assert!(
        matches!(end, Err(LogError::Unavailable(_))),
        "end offset while down: {end:?}"
    );
    assert!(
        started.elapsed() < BOUND,
        "end_offset took {:?}",
        started.elapsed()
    );

    let broker = own_broker::Broker::start(port);
    let restarted = Instant::now();
    let placed = loop {
        match log
            .append(&topic, vec![testsuite::record("k0", "after")])
            .await
        {
            Ok(placed) => break placed,
            Err(LogError::Unavailable(why)) if restarted.elapsed() < Duration::from_secs(60) => {
                eprintln!("not yet back after {:?}: {why}", restarted.elapsed());
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(error) => panic!("append after the restart: {error:?}"),
        }
    };
    eprintln!(
        "appends work again {:?} after the restart",
        restarted.elapsed()
    );
    let (partition, offset) = placed[0];
    let read = log
        .read(&topic, partition, offset, 10, Duration::ZERO)
        .await
        .expect("read after the restart");
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].value, bytes::Bytes::from_static(b"after"));
    drop(broker);
}
