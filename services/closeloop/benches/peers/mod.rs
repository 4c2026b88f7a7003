//! The processes the benches compare: a release `closeloop serve` and a
//! Prometheus 2.42 remote-write receiver, each killed when dropped.

// Each bench uses some of these peers.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free local port")
        .port()
}

/// A child process killed (and reaped) when dropped.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits up to 30 s for `url` to answer 2xx.
pub async fn wait_ready(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if reqwest::get(url)
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url} not ready");
}

/// `closeloop serve` (all roles) on `port`, its data under `dir`.
pub fn start_closeloop(dir: &Path, port: u16, config: Option<&Path>) -> Killed {
    let mut command = Command::new(env!("CARGO_BIN_EXE_closeloop"));
    command
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(dir.join("closeloop"));
    if let Some(config) = config {
        command.arg("--config").arg(config);
    }
    Killed(
        command
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting closeloop"),
    )
}

/// Prometheus with `--web.enable-remote-write-receiver` and nothing to
/// scrape, its TSDB under `dir`.
pub fn start_prometheus(dir: &Path, port: u16) -> Killed {
    let config = dir.join("prometheus.yml");
    std::fs::write(&config, "global: {}\n").expect("writing prometheus.yml");
    Killed(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("prom").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--web.enable-remote-write-receiver")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting prometheus (install it with tests/setup/packages.sh)"),
    )
}
