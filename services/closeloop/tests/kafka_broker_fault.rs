//! Ingest on Kafka while the broker goes away: a broker of the test's own
//! (nisshi keeping its log in PostgreSQL, so a restart keeps what it
//! acknowledged) is stopped under remote-write load and started again.
//! Every request closeloop acknowledged is in the log afterwards; requests
//! made while the broker was down got 503 with Retry-After; ingest recovers
//! by itself once the broker is back.
//!
//! Needs `nisshi` (installed by `tests/setup/kafka.sh`) and the database
//! `closeloop_broker` from `tests/setup/postgres.sh`; fails saying so.

mod support;

use closeloop_log::kafka::{KafkaLog, KafkaOptions};
use prost::Message;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::*;

fn nisshi() -> PathBuf {
    let home = std::env::var("HOME").unwrap_or_default();
    let installed = Path::new(&home).join(".cargo/bin/nisshi");
    if installed.exists() {
        return installed;
    }
    if Command::new("nisshi").arg("--version").output().is_ok() {
        return PathBuf::from("nisshi");
    }
    panic!("nisshi is not installed; run tests/setup/kafka.sh (it installs it with cargo)");
}

fn broker_storage_url() -> String {
    let url = std::env::var("CLOSELOOP_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://closeloop:closeloop@127.0.0.1:5432/closeloop".into());
    // The same server and role, the broker's own database.
    let base = url.split('?').next().unwrap_or_default().to_string();
    format!("{base}_broker?sslmode=disable")
}

/// A nisshi broker on `port` with its log in PostgreSQL.
fn start_broker(dir: &Path, port: u16, run: u32) -> Child {
    let log = std::fs::File::create(dir.join(format!("broker-{run}.log"))).unwrap();
    let child = Command::new(nisshi())
        .args([
            "broker",
            "--listener-url",
            &format!("tcp://127.0.0.1:{port}"),
        ])
        .args([
            "--advertised-listener-url",
            &format!("tcp://127.0.0.1:{port}"),
        ])
        .args(["--storage-engine", &broker_storage_url()])
        .args(["--group-initial-rebalance-delay", "100ms"])
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("starting nisshi");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "nisshi did not listen on {port}; see {}; is the database closeloop_broker there (tests/setup/postgres.sh)?",
            dir.join(format!("broker-{run}.log")).display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

/// One remote-write request carrying one series named by `n`, so each
/// request is recognisable in the log.
fn request_body(n: u64) -> Vec<u8> {
    use closeloop_core::remote_write::{Label, Sample, TimeSeries, WriteRequest};
    let now = chrono::Utc::now().timestamp_millis();
    let request = WriteRequest {
        timeseries: vec![TimeSeries {
            labels: vec![
                Label {
                    name: "__name__".into(),
                    value: "fault_probe".into(),
                },
                Label {
                    name: "request".into(),
                    value: n.to_string(),
                },
            ],
            samples: vec![Sample {
                value: n as f64,
                timestamp: now,
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    snap::raw::Encoder::new()
        .compress_vec(&request.encode_to_vec())
        .expect("snappy")
}

#[derive(Default)]
struct Outcomes {
    acknowledged: BTreeSet<u64>,
    refused_while_down: u64,
    refused_without_retry_after: u64,
    other: Vec<String>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_samples_survive_a_broker_restart_and_the_outage_answers_503() {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let mut broker = start_broker(dir.path(), port, 1);
    let prefix = format!(
        "fault{}x{}",
        std::process::id(),
        chrono::Utc::now().timestamp_millis()
    );
    let config_path = dir.path().join("closeloop.yml");
    std::fs::write(
        &config_path,
        format!(
            r#"storage:
  log:
    kafka:
      brokers: ["127.0.0.1:{port}"]
      topic_prefix: {prefix}
      partitions: 2
      append_timeout: 2s
      request_timeout: 2s
"#
        ),
    )
    .unwrap();
    let ingest =
        Closeloop::start_roles(dir.path(), &config_path, free_port(), "ingest", "ingest").await;

    let outcomes = Arc::new(Mutex::new(Outcomes::default()));
    let broker_down = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let mut senders = Vec::new();
    for sender in 0..4u64 {
        let (outcomes, down, stop) = (outcomes.clone(), broker_down.clone(), stop.clone());
        let url = format!("{}/api/v1/write", ingest.url);
        senders.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(15))
                .build()
                .unwrap();
            let mut n = sender;
            while !stop.load(Ordering::SeqCst) {
                let was_down = down.load(Ordering::SeqCst);
                let sent = client
                    .post(&url)
                    .header("content-encoding", "snappy")
                    .header("content-type", "application/x-protobuf")
                    .header("x-prometheus-remote-write-version", "0.1.0")
                    .body(request_body(n))
                    .send()
                    .await;
                {
                    let mut o = outcomes.lock().unwrap();
                    match sent {
                        Ok(r) if r.status().is_success() => {
                            o.acknowledged.insert(n);
                        }
                        Ok(r) if r.status() == 503 => {
                            if r.headers().get("retry-after").is_none() {
                                o.refused_without_retry_after += 1;
                            }
                            if was_down || down.load(Ordering::SeqCst) {
                                o.refused_while_down += 1;
                            }
                        }
                        Ok(r) => o.other.push(format!("{}", r.status())),
                        Err(e) => o.other.push(e.to_string()),
                    }
                }
                n += 4;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }));
    }

    let acknowledged = || outcomes.lock().unwrap().acknowledged.len();
    wait_for(
        "acknowledged writes before the outage",
        Duration::from_secs(30),
        || async { (acknowledged() >= 50).then_some(()) },
    )
    .await;

    // Stop the broker (SIGKILL: no flush, no goodbye) under load.
    broker_down.store(true, Ordering::SeqCst);
    let _ = broker.kill();
    let _ = broker.wait();
    let before_outage = acknowledged();
    tokio::time::sleep(Duration::from_secs(6)).await;
    let refused = outcomes.lock().unwrap().refused_while_down;
    assert!(
        refused > 0,
        "no request was refused while the broker was down"
    );

    let mut broker = start_broker(dir.path(), port, 2);
    broker_down.store(false, Ordering::SeqCst);
    // Ingest recovers by itself: new acknowledgements after the restart.
    wait_for(
        "ingest to recover after the broker restart",
        Duration::from_secs(60),
        || async { (acknowledged() >= before_outage + 50).then_some(()) },
    )
    .await;
    stop.store(true, Ordering::SeqCst);
    for sender in senders {
        sender.await.unwrap();
    }

    // Every acknowledged request is in the log.
    let log = KafkaLog::connect(KafkaOptions {
        brokers: vec![format!("127.0.0.1:{port}")],
        positions_topic: format!("{prefix}.positions"),
        ..KafkaOptions::default()
    })
    .await
    .expect("connecting to the restarted broker");
    let topic = format!("{prefix}.samples");
    let stored: BTreeSet<u64> = stored_sample_values(&log, &topic)
        .await
        .into_keys()
        .collect();
    let outcomes = outcomes.lock().unwrap();
    let lost: Vec<&u64> = outcomes.acknowledged.difference(&stored).collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged requests are not in the log: {:?}",
        lost.len(),
        outcomes.acknowledged.len(),
        &lost[..lost.len().min(20)]
    );
    assert_eq!(
        outcomes.refused_without_retry_after, 0,
        "every 503 carries Retry-After"
    );
    eprintln!(
        "acknowledged {}, refused while down {}, other {:?}",
        outcomes.acknowledged.len(),
        outcomes.refused_while_down,
        outcomes.other
    );
    let _ = broker.kill();
    let _ = broker.wait();
}
