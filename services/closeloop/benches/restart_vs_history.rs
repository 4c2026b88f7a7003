//! Restart time against history length (issue 13): an embedded log is
//! filled with N days of simulated history, then a release `closeloop
//! serve --role ingest,evaluator,actuator` is started on it and timed to
//! `/-/ready` and to the log lines saying the evaluator restored its alert
//! states and the actuator rebuilt its issue state.
//!
//! The history, per day, is a medium-sized team's: 200 alert fingerprints
//! across 20 rules, each going pending → firing → resolved 10 times a day;
//! 40 of them also pushed by an external Prometheus to `/api/v2/alerts`
//! every minute while active (Prometheus' resend cadence); per episode an
//! issue filed or commented and, on resolution, commented; 20 services
//! deploying 48 times a day: 22,960 records a day, 689 k in 30 days.
//!
//! The actuator's consumer group is committed at the end of what it
//! consumes, as after a clean run, so what is timed is the restore, not a
//! backlog being acted on. The projector is left out: it resumes from its
//! own committed position in SQL, independent of history.
//!
//!   cargo bench -p closeloop --bench restart_vs_history
//!
//! Env: BENCH_DAYS (default "1,7,30").

mod peers;

use chrono::{DateTime, Duration as Span, Utc};
use closeloop_core::events::{
    AlertEvent, DeployRecorded, DeployStatus, ExternalAlertReceived, ExternalAlertSource,
    IssueCommented, IssueFiled,
};
use closeloop_core::topics::Topic;
use closeloop_core::{Event, EventPayload, LabelSet};
use closeloop_log::embedded::{EmbeddedLog, EmbeddedOptions};
use closeloop_log::{CommittedPosition, EventLog, NewRecord};
use peers::{free_port, wait_ready, Killed};
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const FINGERPRINTS: usize = 200;
const RULES: usize = 20;
const EPISODES_PER_DAY: usize = 10;
const EXTERNAL: usize = 40;
const SERVICES: usize = 20;
const DEPLOYS_PER_DAY: usize = 48;
const APPEND_BATCH: usize = 2000;

fn labels(pairs: &[(&str, String)]) -> LabelSet {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn alert(f: usize, active_at: DateTime<Utc>) -> AlertEvent {
    let rule = f % RULES;
    AlertEvent {
        fingerprint: format!("{f:016x}"),
        rule_group: "history.yml;app".into(),
        alertname: format!("Alert{rule}"),
        labels: labels(&[
            ("alertname", format!("Alert{rule}")),
            ("instance", format!("host-{f}:9100")),
            ("severity", "page".into()),
        ]),
        annotations: labels(&[("summary", format!("host-{f} is unhealthy"))]),
        value: 1.0,
        active_at,
        fired_at: None,
        resolved_at: None,
        suspect_deploys: Vec::new(),
        generator_url: None,
    }
}

/// Appends events in batches of [`APPEND_BATCH`], counting them.
struct Batches<'a> {
    log: &'a EmbeddedLog,
    pending: HashMap<Topic, Vec<NewRecord>>,
    queued: usize,
    written: usize,
}

impl Batches<'_> {
    async fn push(&mut self, topic: Topic, payload: EventPayload, key: String, at: DateTime<Utc>) {
        let event = Event::new(payload, "history", key.clone(), at, at);
        self.pending.entry(topic).or_default().push(NewRecord {
            key: key.into_bytes().into(),
            value: event.to_json().into(),
            timestamp_ms: at.timestamp_millis(),
        });
        self.queued += 1;
        if self.queued >= APPEND_BATCH {
            self.flush().await;
        }
    }

    async fn flush(&mut self) {
        for (topic, records) in self.pending.drain() {
            self.log
                .append(&topic.name("closeloop"), records)
                .await
                .expect("appending history");
        }
        self.written += self.queued;
        self.queued = 0;
    }
}

/// What [`write_history`] wrote: records, and bytes on disk.
struct Written {
    records: usize,
    bytes: u64,
}

/// Writes `days` of history ending now into the embedded log at `dir`.
async fn write_history(dir: &Path, days: usize) -> Written {
    let log = EmbeddedLog::open(
        dir,
        EmbeddedOptions {
            fsync: false,
            ..EmbeddedOptions::default()
        },
    )
    .await
    .expect("opening the embedded log");
    let mut batches = Batches {
        log: &log,
        pending: HashMap::new(),
        queued: 0,
        written: 0,
    };
    let start = Utc::now() - Span::days(days as i64);
    let episode = Span::seconds(86_400 / EPISODES_PER_DAY as i64);
    for n in 0..days * EPISODES_PER_DAY {
        let begin = start + episode * n as i32;
        for f in 0..FINGERPRINTS {
            for (topic, payload, key, at) in episode_events(f, n, begin) {
                batches.push(topic, payload, key, at).await;
            }
        }
    }
    let every = Span::seconds(86_400 / DEPLOYS_PER_DAY as i64);
    for n in 0..days * DEPLOYS_PER_DAY {
        for s in 0..SERVICES {
            let at = start + every * n as i32 + Span::seconds(s as i64);
            let deploy = DeployRecorded {
                service: format!("service-{s}"),
                environment: "production".into(),
                version: format!("v1.{n}.0"),
                status: DeployStatus::Succeeded,
                started_at: None,
                finished_at: Some(at),
                commits: Vec::new(),
                actor: None,
                url: None,
                labels: LabelSet::new(),
            };
            let key = deploy.key();
            batches
                .push(
                    Topic::Deploys,
                    EventPayload::DeployRecorded(deploy),
                    key,
                    at,
                )
                .await;
        }
    }
    batches.flush().await;
    let records = batches.written;
    let mut bytes = 0;
    for topic in [Topic::Alerts, Topic::Outcomes, Topic::Deploys] {
        let name = topic.name("closeloop");
        for partition in 0..log.partitions(&name).await.expect("partitions") {
            bytes += log
                .stored_bytes(&name, partition)
                .await
                .expect("stored bytes");
        }
    }
    // The actuator acted on everything before the restart.
    for topic in [Topic::Alerts, Topic::Actions] {
        let name = topic.name("closeloop");
        for partition in 0..log.partitions(&name).await.expect("partitions") {
            let end = log.end_offset(&name, partition).await.expect("end offset");
            log.commit(
                closeloop_actuator::CONSUMER_GROUP,
                &name,
                partition,
                CommittedPosition {
                    next_offset: end,
                    metadata: String::new(),
                },
            )
            .await
            .expect("committing the actuator's position");
        }
    }
    log.close().await.expect("closing the log");
    Written { records, bytes }
}

/// Episode `n` of fingerprint `f`, starting at `begin`, in time order:
/// pending, firing, the external re-sends, resolved, and the two outcomes.
fn episode_events(
    f: usize,
    n: usize,
    begin: DateTime<Utc>,
) -> Vec<(Topic, EventPayload, String, DateTime<Utc>)> {
    let active_at = begin + Span::seconds((f * 7 % 600) as i64);
    let fired_at = active_at + Span::minutes(5);
    let resolved_at = fired_at + Span::minutes(30);
    let key = format!("{f:016x}");
    let pending = alert(f, active_at);
    let mut firing = pending.clone();
    firing.fired_at = Some(fired_at);
    let mut resolved = firing.clone();
    resolved.resolved_at = Some(resolved_at);
    let mut events = vec![
        (
            Topic::Alerts,
            EventPayload::AlertPending(pending),
            key.clone(),
            active_at,
        ),
        (
            Topic::Alerts,
            EventPayload::AlertFiring(firing),
            key.clone(),
            fired_at,
        ),
    ];
    if f < EXTERNAL {
        let external_key = format!("e{f:015x}");
        for minute in 0..30 {
            let at = fired_at + Span::minutes(minute);
            let external = ExternalAlertReceived {
                fingerprint: external_key.clone(),
                source: ExternalAlertSource::AlertmanagerApiV2,
                labels: labels(&[
                    ("alertname", "NodeDown".into()),
                    ("instance", format!("node-{f}")),
                ]),
                annotations: LabelSet::new(),
                starts_at: Some(fired_at),
                ends_at: Some(at + Span::minutes(4)),
                generator_url: None,
            };
            events.push((
                Topic::Alerts,
                EventPayload::ExternalAlertReceived(external),
                external_key.clone(),
                at,
            ));
        }
    }
    events.push((
        Topic::Alerts,
        EventPayload::AlertResolved(resolved),
        key.clone(),
        resolved_at,
    ));
    let issue_id = format!("{}", f + 1);
    let filed_or_recurred = if n == 0 {
        EventPayload::IssueFiled(IssueFiled {
            request_id: uuid::Uuid::now_v7(),
            fingerprint: key.clone(),
            receiver: "team".into(),
            integration: "redmine/0".into(),
            tracker: "redmine".into(),
            issue_id: issue_id.clone(),
            issue_url: format!("http://redmine/issues/{issue_id}"),
            title: format!("Alert{} on host-{f}", f % RULES),
            adopted: false,
            suspect_deploys: Vec::new(),
        })
    } else {
        EventPayload::IssueCommented(comment(&key, &issue_id, "recurred", n))
    };
    let resolved_note = EventPayload::IssueCommented(comment(&key, &issue_id, "resolved", n));
    events.push((Topic::Outcomes, filed_or_recurred, key.clone(), fired_at));
    events.push((Topic::Outcomes, resolved_note, key, resolved_at));
    events
}

fn comment(key: &str, issue_id: &str, reason: &str, n: usize) -> IssueCommented {
    IssueCommented {
        request_id: uuid::Uuid::now_v7(),
        fingerprint: key.to_string(),
        receiver: "team".into(),
        integration: "redmine/0".into(),
        tracker: "redmine".into(),
        issue_id: issue_id.to_string(),
        reason: reason.into(),
        occurrences: n as u32 + 1,
    }
}

fn write_config(dir: &Path) -> std::path::PathBuf {
    let mut rules = String::from("groups:\n  - name: app\n    rules:\n");
    for r in 0..RULES {
        rules.push_str(&format!(
            "      - alert: Alert{r}\n        expr: up{{job=\"r{r}\"}} == 0\n        for: 5m\n"
        ));
    }
    std::fs::write(dir.join("history.yml"), rules).expect("writing rules");
    let config = dir.join("closeloop.yml");
    std::fs::write(
        &config,
        "rule_files: [history.yml]\nreceivers:\n  - name: team\n    webhook_configs: [{url: \"http://127.0.0.1:9/hook\"}]\nroute: {receiver: team}\n",
    )
    .expect("writing closeloop.yml");
    config
}

/// Seconds from `start` until `needle` appears in the file at `log`.
fn wait_for_line(log: &Path, needle: &str, start: Instant) -> f64 {
    let deadline = start + Duration::from_secs(600);
    while Instant::now() < deadline {
        if std::fs::read_to_string(log).is_ok_and(|text| text.contains(needle)) {
            return start.elapsed().as_secs_f64();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("`{needle}` never appeared in {}", log.display());
}

#[tokio::main]
async fn main() {
    let days: Vec<usize> = std::env::var("BENCH_DAYS")
        .unwrap_or_else(|_| "1,7,30".into())
        .split(',')
        .filter_map(|d| d.trim().parse().ok())
        .collect();
    println!("days  records   log MiB  start  ready s  evaluator restored s  actuator rebuilt s");
    for days in days {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        let written = write_history(&data.join("log"), days).await;
        let config = write_config(dir.path());
        // The first start folds the whole history and, stopped by SIGTERM,
        // saves its snapshots; the second starts from them.
        for start_kind in ["cold", "warm"] {
            let port = free_port();
            // closeloop logs to stdout.
            let log = dir.path().join(format!("closeloop-{start_kind}.log"));
            let log_file = std::fs::File::create(&log).expect("log file");
            let start = Instant::now();
            let mut closeloop = Killed(
                Command::new(env!("CARGO_BIN_EXE_closeloop"))
                    .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
                    .args(["--role", "ingest,evaluator,actuator"])
                    .arg("--data-dir")
                    .arg(&data)
                    .arg("--config")
                    .arg(&config)
                    .env("RUST_LOG", "info")
                    .stdout(log_file.try_clone().expect("log file"))
                    .stderr(log_file)
                    .spawn()
                    .expect("starting closeloop"),
            );
            wait_ready(&format!("http://127.0.0.1:{port}/-/ready")).await;
            let ready = start.elapsed().as_secs_f64();
            let evaluator = wait_for_line(&log, "evaluator restored from log", start);
            let actuator = wait_for_line(&log, "actuator state rebuilt", start);
            println!(
                "{days:>4}  {:>8}  {:>8.1}  {start_kind:>5}  {ready:>7.2}  {evaluator:>20.2}  {actuator:>18.2}",
                written.records,
                written.bytes as f64 / (1 << 20) as f64,
            );
            let pid = closeloop.0.id().to_string();
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .expect("kill -TERM");
            closeloop.0.wait().expect("closeloop exits");
        }
    }
}
