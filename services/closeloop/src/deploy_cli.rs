//! `closeloop deploy`: a pipeline step that reports a deploy to a running
//! closeloop (`POST /api/v1/deploys`, body as `schemas/DeployRequest.json`).
//! Thin: the server validates; a refusal exits non-zero with its reason.

use anyhow::{bail, Context, Result};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct DeployArgs {
    /// The service that was deployed.
    #[arg(long)]
    pub service: String,
    /// Where it was deployed (production, staging, ...).
    #[arg(long)]
    pub environment: String,
    /// The version deployed (a tag, a build number, a sha).
    #[arg(long)]
    pub version: String,
    /// A commit the deploy shipped; repeat for each.
    #[arg(long = "commit", value_name = "SHA")]
    pub commits: Vec<String>,
    /// started, succeeded (default), failed or rolled_back.
    #[arg(long)]
    pub status: Option<String>,
    /// A link to the pipeline run.
    #[arg(long)]
    pub url: Option<String>,
    /// Who deployed.
    #[arg(long)]
    pub actor: Option<String>,
    /// closeloop's base URL.
    #[arg(long, env = "CLOSELOOP_URL")]
    pub closeloop_url: String,
    /// A file holding the bearer token (else `CLOSELOOP_TOKEN`).
    #[arg(long)]
    pub token_file: Option<PathBuf>,
}

/// The request body, in `DeployRequest.json`'s shape.
pub fn body(args: &DeployArgs) -> serde_json::Value {
    let mut body = serde_json::json!({
        "service": args.service,
        "environment": args.environment,
        "version": args.version,
        "commits": args.commits.iter().map(|sha| serde_json::json!({"sha": sha})).collect::<Vec<_>>(),
    });
    for (field, value) in [
        ("status", &args.status),
        ("url", &args.url),
        ("actor", &args.actor),
    ] {
        if let Some(value) = value {
            body[field] = serde_json::Value::String(value.clone());
        }
    }
    body
}

fn token(args: &DeployArgs) -> Result<Option<String>> {
    if let Some(path) = &args.token_file {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("--token-file: reading {}", path.display()))?;
        return Ok(Some(text.trim_end_matches(['\n', '\r']).to_string()));
    }
    Ok(std::env::var("CLOSELOOP_TOKEN")
        .ok()
        .filter(|t| !t.is_empty()))
}

pub fn main(args: DeployArgs) -> Result<bool> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(send(args))
}

async fn send(args: DeployArgs) -> Result<bool> {
    let url = format!(
        "{}/api/v1/deploys",
        args.closeloop_url.trim_end_matches('/')
    );
    let client = reqwest::Client::builder()
        .user_agent(concat!("closeloop-deploy/", env!("CARGO_PKG_VERSION")))
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .context("building the HTTP client")?;
    let mut request = client.post(&url).json(&body(&args));
    if let Some(token) = token(&args)? {
        request = request.bearer_auth(token);
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("sending the deploy to {url}"))?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    if status.is_success() {
        let id = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["data"]["id"].as_str().map(str::to_string))
            .unwrap_or_default();
        println!("deploy recorded {id}");
        return Ok(true);
    }
    let reason = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or(text);
    bail!("closeloop refused the deploy ({status}): {reason}")
}
