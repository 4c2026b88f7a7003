//! Test harness for end-to-end tests: starts the real closeloop binary, a
//! real Prometheus, an in-process scrape target and webhook sink, and talks
//! to the real Redmine started by `tests/setup/redmine.sh`. A peer that
//! cannot be found fails the test with a message saying how to start it.

#![allow(dead_code)]

use axum::routing::{get, post};
use axum::{Json, Router};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A port free right now and never handed out before in this test binary.
/// The kernel may give the same ephemeral port to two binds in a row once
/// the first is released; two tests of one binary running in parallel
/// would then start two servers on one port, and the test whose server
/// lost the bind would talk to the other test's server.
pub fn free_port() -> u16 {
    static HANDED_OUT: Mutex<std::collections::BTreeSet<u16>> =
        Mutex::new(std::collections::BTreeSet::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|p| p.into_inner());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("binding a free port");
        if handed_out.insert(port) {
            return port;
        }
    }
}

/// Polls `probe` until it returns `Some`, or fails naming `what`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A child process killed when dropped.
pub struct Process {
    pub name: &'static str,
    pub child: Child,
    pub log: PathBuf,
}

impl Process {
    pub fn kill9(&mut self) {
        // Child::kill sends SIGKILL on Unix: no chance to flush or clean up.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Starts `command` as `name`, its output in `<dir>/<name>.log`.
pub fn spawn_process(name: &'static str, command: Command, dir: &Path) -> Process {
    spawn(name, command, dir)
}

fn spawn(name: &'static str, mut command: Command, dir: &Path) -> Process {
    let log = dir.join(format!("{name}.log"));
    let file = std::fs::File::create(&log).expect("creating a log file");
    let err = file.try_clone().expect("cloning a file handle");
    let child = command
        .stdout(Stdio::from(file))
        .stderr(Stdio::from(err))
        .spawn()
        .unwrap_or_else(|e| panic!("starting {name}: {e}"));
    Process { name, child, log }
}

pub struct Closeloop {
    pub process: Process,
    pub url: String,
}

impl Closeloop {
    pub async fn start(dir: &Path, config: &Path, port: u16) -> Closeloop {
        Closeloop::start_roles(
            dir,
            config,
            port,
            "closeloop",
            "ingest,evaluator,actuator,projector",
        )
        .await
    }

    /// One `closeloop serve --role <roles>` process named `name` (its log
    /// is `<dir>/<name>.log`, its data dir `<dir>/<name>`).
    pub async fn start_roles(
        dir: &Path,
        config: &Path,
        port: u16,
        name: &'static str,
        roles: &str,
    ) -> Closeloop {
        let mut command = Command::new(env!("CARGO_BIN_EXE_closeloop"));
        let data_dir = if name == "closeloop" {
            dir.join("data")
        } else {
            dir.join(name)
        };
        command
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--role", roles])
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", "info");
        let mut process = spawn(name, command, dir);
        let url = format!("http://127.0.0.1:{port}");
        let ready = format!("{url}/-/ready");
        wait_for("closeloop to be ready", Duration::from_secs(30), || {
            let ready = ready.clone();
            async move {
                let response = reqwest::get(&ready).await.ok()?;
                response.status().is_success().then_some(())
            }
        })
        .await;
        // A ready answer from a process that has exited came from some
        // other server on the port: fail here, not later and obscurely.
        if let Ok(Some(status)) = process.child.try_wait() {
            panic!(
                "{name} exited ({status}) though 127.0.0.1:{port} answered ready; its log:\n{}",
                process.log_text()
            );
        }
        Closeloop { process, url }
    }

    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        reqwest::get(format!("{}{path}", self.url))
            .await
            .expect("calling closeloop")
            .json()
            .await
            .expect("closeloop answers JSON")
    }

    pub async fn metric(&self, name: &str) -> f64 {
        let text = reqwest::get(format!("{}/metrics", self.url))
            .await
            .expect("scraping closeloop")
            .text()
            .await
            .unwrap_or_default();
        text.lines()
            .filter(|l| l.starts_with(name))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

const PROMETHEUS_HINT: &str =
    "install Prometheus 2.42 with tests/setup/packages.sh (Debian package `prometheus`)";

/// A real Prometheus on a free port with `config` as its prometheus.yml
/// and `extra_args` after the usual ones; fails saying how to install it
/// when it is not on PATH. Returns the process and its base URL.
pub fn spawn_prometheus(dir: &Path, config: &str, extra_args: &[&str]) -> (Process, String) {
    if Command::new("prometheus")
        .arg("--version")
        .output()
        .is_err()
    {
        panic!("prometheus is not on PATH; {PROMETHEUS_HINT}");
    }
    let port = free_port();
    let config_path = dir.join("prometheus.yml");
    std::fs::write(&config_path, config).expect("writing prometheus.yml");
    let mut command = Command::new("prometheus");
    command
        .arg(format!("--config.file={}", config_path.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("prom").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .args(extra_args);
    (
        spawn("prometheus", command, dir),
        format!("http://127.0.0.1:{port}"),
    )
}

/// Prometheus scraping `target_port` every second and remote-writing to
/// `remote_write_url`.
pub fn start_prometheus(dir: &Path, target_port: u16, remote_write_url: &str) -> Process {
    let config = format!(
        r#"global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: checkout
    static_configs: [{{targets: ["127.0.0.1:{target_port}"]}}]
remote_write:
  - url: {remote_write_url}
    queue_config: {{batch_send_deadline: 1s, min_backoff: 100ms, max_backoff: 1s}}
    metadata_config: {{send_interval: 5s}}
"#
    );
    spawn_prometheus(dir, &config, &["--storage.remote.flush-deadline=2s"]).0
}

/// A scrape target serving one gauge whose value the test sets.
pub struct ScrapeTarget {
    pub port: u16,
    value: Arc<AtomicU64>,
}

impl ScrapeTarget {
    pub async fn start(metric_line_labels: &'static str) -> ScrapeTarget {
        let value = Arc::new(AtomicU64::new(0f64.to_bits()));
        let shared = value.clone();
        let app = Router::new().route(
            "/metrics",
            get(move || {
                let v = f64::from_bits(shared.load(Ordering::SeqCst));
                async move {
                    format!(
                        "# TYPE checkout_error_ratio gauge\ncheckout_error_ratio{{{metric_line_labels}}} {v}\n"
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        ScrapeTarget { port, value }
    }

    pub fn set(&self, v: f64) {
        self.value.store(v.to_bits(), Ordering::SeqCst);
    }
}

/// Receives webhook notifications, like an Alertmanager webhook consumer.
pub struct WebhookSink {
    pub url: String,
    pub received: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl WebhookSink {
    pub async fn start() -> WebhookSink {
        let received = Arc::new(Mutex::new(Vec::new()));
        let shared = received.clone();
        let app = Router::new().route(
            "/",
            post(move |Json(body): Json<serde_json::Value>| {
                let shared = shared.clone();
                async move {
                    shared.lock().expect("sink lock").push(body);
                    "ok"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move { axum::serve(listener, app).await });
        WebhookSink {
            url: format!("http://127.0.0.1:{port}/"),
            received,
        }
    }

    pub fn with_status(&self, status: &str) -> Vec<serde_json::Value> {
        self.received
            .lock()
            .expect("sink lock")
            .iter()
            .filter(|p| p["status"] == status)
            .cloned()
            .collect()
    }
}

const REDMINE_HINT: &str =
    "start it with tests/setup/redmine.sh (it prints REDMINE_URL and REDMINE_API_KEY_FILE)";

/// The real Redmine the test suite runs against.
pub struct Redmine {
    pub url: String,
    pub key_file: PathBuf,
    key: String,
    http: reqwest::Client,
}

impl Redmine {
    pub async fn connect() -> Redmine {
        let url = std::env::var("REDMINE_URL").unwrap_or_else(|_| "http://127.0.0.1:3300".into());
        let key_file = PathBuf::from(
            std::env::var("REDMINE_API_KEY_FILE")
                .unwrap_or_else(|_| "/tmp/closeloop-redmine/api_key".into()),
        );
        let key = std::fs::read_to_string(&key_file)
            .unwrap_or_else(|e| {
                panic!(
                    "no Redmine API key at {} ({e}); {REDMINE_HINT}",
                    key_file.display()
                )
            })
            .trim()
            .to_string();
        let http = reqwest::Client::new();
        match http
            .get(format!("{url}/projects.json"))
            .header("X-Redmine-API-Key", &key)
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => panic!("Redmine at {url} answered {}; {REDMINE_HINT}", r.status()),
            Err(e) => panic!("Redmine is not reachable at {url} ({e}); {REDMINE_HINT}"),
        }
        Redmine {
            url,
            key_file,
            key,
            http,
        }
    }

    pub async fn create_project(&self, identifier: &str) {
        let body = serde_json::json!({"project": {
            "name": identifier, "identifier": identifier,
            "tracker_ids": [1, 2, 3], "enabled_module_names": ["issue_tracking"]}});
        let response = self
            .http
            .post(format!("{}/projects.json", self.url))
            .header("X-Redmine-API-Key", &self.key)
            .json(&body)
            .send()
            .await
            .expect("creating a Redmine project");
        assert!(
            response.status().is_success(),
            "project creation: {}",
            response.status()
        );
    }

    /// Every issue of the project, open or closed.
    pub async fn issues(&self, project: &str) -> Vec<serde_json::Value> {
        let response: serde_json::Value = self
            .http
            .get(format!(
                "{}/issues.json?project_id={project}&status_id=*&limit=100",
                self.url
            ))
            .header("X-Redmine-API-Key", &self.key)
            .send()
            .await
            .expect("listing Redmine issues")
            .json()
            .await
            .expect("Redmine answers JSON");
        response["issues"].as_array().cloned().unwrap_or_default()
    }

    pub async fn issue_with_journals(&self, id: i64) -> serde_json::Value {
        let response: serde_json::Value = self
            .http
            .get(format!("{}/issues/{id}.json?include=journals", self.url))
            .header("X-Redmine-API-Key", &self.key)
            .send()
            .await
            .expect("reading a Redmine issue")
            .json()
            .await
            .expect("Redmine answers JSON");
        response["issue"].clone()
    }
}

/// Every sample value in the `SamplesReceived` events of `topic`, with how
/// many times it is stored: the reliability tests give each sample its own
/// id as its value, so this is what the log holds, counted.
pub async fn stored_sample_values(
    log: &dyn closeloop_log::EventLog,
    topic: &str,
) -> std::collections::BTreeMap<u64, u32> {
    use prost::Message;
    let mut stored = std::collections::BTreeMap::new();
    for partition in 0..log.partitions(topic).await.expect("partitions") {
        let end = log.end_offset(topic, partition).await.expect("end offset");
        let mut next = log
            .start_offset(topic, partition)
            .await
            .expect("start offset");
        while next < end {
            let records = log
                .read(topic, partition, next, 500, Duration::from_secs(5))
                .await
                .expect("reading the samples topic: a corrupt log is a failure");
            let Some(last) = records.last() else { break };
            next = last.offset + 1;
            for record in records {
                let event = closeloop_core::Event::from_json(&record.value).expect("an event");
                let closeloop_core::EventPayload::SamplesReceived(batch) = event.payload else {
                    continue;
                };
                let raw = snap::raw::Decoder::new()
                    .decompress_vec(&batch.body)
                    .expect("a snappy body");
                let request = closeloop_core::remote_write::WriteRequest::decode(raw.as_slice())
                    .expect("a write request");
                for series in request.timeseries {
                    for sample in series.samples {
                        *stored.entry(sample.value as u64).or_default() += 1;
                    }
                }
            }
        }
    }
    stored
}
