//! `closeloop serve`: opens the log and the read models, restores every
//! role from the log, serves HTTP, and shuts down cleanly on SIGINT or
//! SIGTERM, saying which task ended first and why.

use crate::config::{Config, DEFAULT_DATA_DIR, DEFAULT_LISTEN};
use crate::ServeArgs;
use anyhow::{Context, Result};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use closeloop_evaluator::runner::{Runner, WatermarkPolicy};
use closeloop_log::EventLog;
use closeloop_projector::ReadStore;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    Ingest,
    Evaluator,
    Actuator,
    Projector,
}

pub fn main(args: ServeArgs) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(args))
}

/// A future that completes when shutdown begins.
fn shutdown_signal(rx: &watch::Receiver<bool>) -> impl Future<Output = ()> + Send + 'static {
    let mut rx = rx.clone();
    async move {
        let _ = rx.wait_for(|stop| *stop).await;
    }
}

type Task = Pin<Box<dyn Future<Output = (&'static str, Result<()>)> + Send>>;

async fn serve(args: ServeArgs) -> Result<()> {
    let mut config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    let listen: SocketAddr = args
        .listen
        .or(config.listen)
        .unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("default address parses"));
    let data_dir: PathBuf = args
        .data_dir
        .clone()
        .or(config.data_dir.clone())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
    if config.external_url.is_none() {
        config.external_url = Some(format!("http://{listen}"));
    }
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("creating data dir {}", data_dir.display()))?;

    let log = crate::log_backend::open(&config, &data_dir).await?;
    let database = config
        .storage
        .database
        .clone()
        .unwrap_or_else(|| data_dir.join("closeloop.db").display().to_string());
    let store: Arc<dyn ReadStore> = closeloop_projector::open_store(&database)
        .await
        .context("opening the read models (storage.database)")?;

    closeloop_ingest::metrics::register();
    closeloop_evaluator::metrics::register();
    closeloop_actuator::metrics::register();
    let (stop_tx, stop_rx) = watch::channel(false);
    let ready = Arc::new(AtomicBool::new(false));
    let mut tasks: Vec<Task> = Vec::new();
    let prefix = config.topic_prefix().to_string();

    let mut queries = None;
    if args.role.contains(&Role::Evaluator) {
        let mut runner = evaluator_runner(&config, log.clone(), &prefix).await?;
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        runner.serve_queries(rx);
        queries = Some(crate::query_api::QueryState { runner: tx });
        let stop = shutdown_signal(&stop_rx);
        tasks.push(Box::pin(async move {
            (
                "evaluator",
                runner.run(stop).await.map_err(anyhow::Error::from),
            )
        }));
    }
    if args.role.contains(&Role::Actuator) {
        let mut actuator_config = config.actuator();
        actuator_config
            .load_secrets()
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let http = reqwest::Client::builder()
            .user_agent(closeloop_actuator::USER_AGENT)
            .build()
            .context("building the HTTP client")?;
        let (log, prefix, stop) = (log.clone(), prefix.clone(), shutdown_signal(&stop_rx));
        tasks.push(Box::pin(async move {
            let result = closeloop_actuator::run(log, &prefix, actuator_config, http, stop).await;
            ("actuator", result.map_err(anyhow::Error::from))
        }));
    }
    if args.role.contains(&Role::Projector) {
        let (log, store, stop) = (log.clone(), store.clone(), shutdown_signal(&stop_rx));
        let prefix = prefix.clone();
        tasks.push(Box::pin(async move {
            let result = closeloop_projector::run(log, &prefix, store, stop).await;
            ("projector", result.map_err(anyhow::Error::from))
        }));
    }

    // Back-pressure: ingest refuses samples while the evaluator (in this
    // process or another) is too far behind.
    let backpressure = closeloop_ingest::backpressure::Backpressure::default();
    let max_lag = config.ingest.max_evaluator_lag;
    if args.role.contains(&Role::Ingest) && max_lag > 0 {
        let (log, prefix, stop) = (log.clone(), prefix.clone(), shutdown_signal(&stop_rx));
        let backpressure = backpressure.clone();
        tasks.push(Box::pin(async move {
            backpressure.watch(log, &prefix, max_lag, stop).await;
            ("backpressure", Ok(()))
        }));
    }

    let authenticator = config.auth.load(&config.base_dir)?;
    let webhooks = config.auth.webhook_secrets(&config.base_dir)?;
    let app = http_router(
        &args.role,
        &config,
        &prefix,
        log.clone(),
        store.clone(),
        ready.clone(),
        backpressure,
        webhooks,
        queries,
    )?;
    let (backend, embedded_dir) = crate::log_stats::backend_of(&config, &data_dir);
    let app = app.merge(crate::log_stats::router(
        log.clone(),
        prefix.clone(),
        backend,
        embedded_dir,
    ));
    let app = crate::auth::protect(app, authenticator);
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    tracing::info!(%listen, data_dir = %data_dir.display(), roles = ?args.role, "closeloop serving");
    let stop = shutdown_signal(&stop_rx);
    tasks.push(Box::pin(async move {
        let result = axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await;
        ("http", result.context("HTTP server"))
    }));
    ready.store(true, Ordering::SeqCst);

    let mut running: JoinSet<(&'static str, Result<()>)> = JoinSet::new();
    for task in tasks {
        running.spawn(task);
    }
    let first = tokio::select! {
        _ = termination() => None,
        ended = running.join_next() => ended,
    };
    let mut failed = matches!(first, Some(Ok((_, Err(_)))) | Some(Err(_)));
    match first {
        None => tracing::info!("shutdown requested"),
        Some(Ok((task, Ok(())))) => tracing::warn!(task, "task ended on its own; shutting down"),
        Some(Ok((task, Err(err)))) => {
            tracing::error!(task, error = %format!("{err:#}"), "task failed; shutting down")
        }
        Some(Err(join)) => tracing::error!(error = %join, "task panicked; shutting down"),
    }
    ready.store(false, Ordering::SeqCst);
    let _ = stop_tx.send(true);
    // Each task stops taking work, finishes what it holds and commits; a
    // task still busy after the grace period (a tracker call stuck past its
    // own timeouts) is abandoned, and the exit code says so. What it had
    // not committed is redone after the restart, as after a crash.
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while let Some(ended) = running.join_next().await {
            match ended {
                Ok((task, Err(err))) => {
                    failed = true;
                    tracing::error!(task, error = %format!("{err:#}"), "task failed during shutdown");
                }
                Err(join) => {
                    failed = true;
                    tracing::error!(error = %join, "task panicked during shutdown");
                }
                Ok(_) => {}
            }
        }
    })
    .await;
    if drained.is_err() {
        tracing::error!(
            grace = ?SHUTDOWN_GRACE,
            tasks_left = running.len(),
            "tasks did not stop within the shutdown grace period; abandoning them"
        );
        running.abort_all();
        anyhow::bail!(
            "closeloop did not stop within {SHUTDOWN_GRACE:?}: {} tasks abandoned; their uncommitted work is redone on restart",
            running.len()
        );
    }
    if failed {
        anyhow::bail!("closeloop stopped because a task failed (see the log above)");
    }
    tracing::info!("closeloop stopped");
    Ok(())
}

/// How long a SIGTERM may take: Kubernetes' default
/// `terminationGracePeriodSeconds` is 30 s, after which it sends SIGKILL.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(25);

async fn termination() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

async fn evaluator_runner(config: &Config, log: Arc<dyn EventLog>, prefix: &str) -> Result<Runner> {
    let evaluator = config.with_scalers(config.evaluator(&[])?)?;
    let policy = WatermarkPolicy {
        lateness_ms: config.evaluation.lateness.as_millis() as i64,
        idle_follow_ms: Some(config.evaluation.idle_follow.as_millis() as i64),
        wall_clock_ms: Arc::new(|| chrono::Utc::now().timestamp_millis()),
    };
    Ok(Runner::restore(log, prefix, evaluator, policy).await?)
}

fn http_router(
    roles: &[Role],
    config: &Config,
    prefix: &str,
    log: Arc<dyn EventLog>,
    store: Arc<dyn ReadStore>,
    ready: Arc<AtomicBool>,
    backpressure: closeloop_ingest::backpressure::Backpressure,
    webhooks: closeloop_ingest::WebhookSecrets,
    queries: Option<crate::query_api::QueryState>,
) -> Result<Router> {
    let mut app = Router::new()
        .route("/-/healthy", get(|| async { "closeloop is healthy\n" }))
        .route(
            "/-/ready",
            get({
                let backpressure = backpressure.clone();
                move || {
                    let ready = ready.load(Ordering::SeqCst);
                    let refusal = backpressure.refusal();
                    async move {
                        match (ready, refusal) {
                            (false, _) => (
                                StatusCode::SERVICE_UNAVAILABLE,
                                "closeloop is not ready\n".to_string(),
                            ),
                            (true, Some(why)) => (
                                StatusCode::SERVICE_UNAVAILABLE,
                                format!("closeloop is not ready: refusing samples: {why}\n"),
                            ),
                            (true, None) => (StatusCode::OK, "closeloop is ready\n".to_string()),
                        }
                    }
                }
            }),
        )
        .route("/metrics", get(metrics));
    if roles.contains(&Role::Ingest) {
        let limits = closeloop_ingest::IngestLimits {
            max_body_bytes: config.ingest.max_body_bytes,
            max_decoded_bytes: config.ingest.max_decoded_bytes,
            max_series_per_request: config.ingest.max_series_per_request,
            max_label_name_length: config.ingest.max_label_name_length,
            max_label_value_length: config.ingest.max_label_value_length,
        };
        let mut state = closeloop_ingest::IngestState::new(log.clone(), prefix, limits);
        state.webhooks = webhooks;
        state.backpressure = backpressure;
        app = app.merge(closeloop_ingest::router(state));
    }
    if roles.contains(&Role::Projector) {
        app = app.merge(closeloop_projector::query_router(store.clone()));
        app = app.merge(crate::alertmanager_api::router(alertmanager_state(
            config, prefix, log, store,
        )?));
    }
    if let Some(queries) = queries {
        app = app.merge(crate::query_api::router(queries));
    }
    Ok(app)
}

/// What the Alertmanager API answers from: the read models for alerts, the
/// route tree for each alert's receivers, the silences topic.
fn alertmanager_state(
    config: &Config,
    prefix: &str,
    log: Arc<dyn EventLog>,
    store: Arc<dyn ReadStore>,
) -> Result<crate::alertmanager_api::AlertmanagerState> {
    let tree = closeloop_actuator::RouteTree::new(&config.route)
        .map_err(|e| anyhow::anyhow!("route: {e}"))?;
    let receivers: Vec<String> = config.receivers.iter().map(|r| r.name.clone()).collect();
    // A summary, not the file: receivers' settings may hold credentials.
    let mut config_text = format!(
        "route:\n  receiver: {}\nreceivers:\n",
        config.route.receiver.as_deref().unwrap_or("")
    );
    for name in &receivers {
        config_text.push_str(&format!("- name: {name}\n"));
    }
    let mut inhibit_rules = Vec::new();
    for (i, rule) in config.inhibit_rules.iter().enumerate() {
        let rule = closeloop_actuator::inhibit::InhibitRule::parse(rule)
            .map_err(|e| anyhow::anyhow!("inhibit_rules[{i}]: {e}"))?;
        inhibit_rules.push(rule);
    }
    Ok(crate::alertmanager_api::AlertmanagerState {
        inhibit_rules: Arc::new(inhibit_rules),
        log,
        prefix: prefix.to_string(),
        store,
        tree: Arc::new(tree),
        receivers: Arc::new(receivers),
        config_text: Arc::new(config_text),
        started: chrono::Utc::now(),
        silences: Arc::new(tokio::sync::Mutex::new(Default::default())),
    })
}

/// closeloop's own metrics in the Prometheus text format.
async fn metrics() -> impl IntoResponse {
    let families = prometheus::gather();
    match prometheus::TextEncoder::new().encode_to_string(&families) {
        Ok(text) => (
            StatusCode::OK,
            [("content-type", "text/plain; version=0.0.4; charset=utf-8")],
            text,
        )
            .into_response(),
        Err(err) => (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response(),
    }
}
