//! The closeloop binary: command line, configuration, and the wiring of
//! roles. Business logic lives in the library crates under `services/`.

mod alertmanager_api;
mod auth;
mod cli_checks;
mod config;
mod deploy_cli;
mod log_backend;
mod log_stats;
mod query_api;
mod replay;
mod serve;
mod telemetry;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "closeloop",
    version,
    about = "Closes the DevOps loop: metrics and deploys in, alerts evaluated, issues filed and closed"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run closeloop (all roles in one process by default).
    Serve(ServeArgs),
    /// Prometheus rule files: check them, run their unit tests.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// PromQL: run Prometheus' promqltest scripts.
    Promql {
        #[command(subcommand)]
        command: PromqlCommand,
    },
    /// closeloop.yml: check it.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Report a deploy to a running closeloop, from a CI/CD pipeline.
    Deploy(deploy_cli::DeployArgs),
    /// The event log: topics, sizes, offsets, consumer positions and lag.
    Log {
        #[command(subcommand)]
        command: LogCommand,
    },
    /// Backtest rules over the log: print the alerts that would have fired.
    Replay {
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long, env = "CLOSELOOP_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// Rule files to use instead of the config's rule_files.
        #[arg(long, num_args = 1..)]
        rules: Vec<PathBuf>,
        /// Start of the backtest (RFC 3339, e.g. 2026-11-22T10:00:00Z).
        #[arg(long)]
        from: chrono::DateTime<chrono::Utc>,
        /// End of the backtest (RFC 3339).
        #[arg(long)]
        to: chrono::DateTime<chrono::Utc>,
    },
}

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "CLOSELOOP_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Where the event log and the SQLite database live.
    #[arg(long, env = "CLOSELOOP_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// closeloop.yml; without it every default applies.
    #[arg(long, env = "CLOSELOOP_CONFIG")]
    pub config: Option<PathBuf>,
    /// Roles to run, comma-separated: ingest, evaluator, actuator, projector.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "ingest,evaluator,actuator,projector"
    )]
    pub role: Vec<serve::Role>,
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Check rule files as `promtool check rules` does.
    Check { files: Vec<PathBuf> },
    /// Run rule unit-test files as `promtool test rules` does; exit 1 if
    /// any test group failed.
    Test { files: Vec<PathBuf> },
}

#[derive(Subcommand)]
enum LogCommand {
    /// Topics (partitions, end offsets, bytes on disk) and consumer
    /// positions with their lag.
    Stats {
        #[arg(long, env = "CLOSELOOP_CONFIG")]
        config: Option<PathBuf>,
        #[arg(long, env = "CLOSELOOP_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// Ask a running closeloop (its /api/v1/status/log) instead of
        /// opening the log; needed for an embedded log `serve` holds.
        #[arg(long)]
        url: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum PromqlCommand {
    /// Run promqltest scripts; exit 1 if any eval failed.
    Test { files: Vec<PathBuf> },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Check a closeloop.yml and the rule files it names.
    Check {
        #[arg(long)]
        config: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: Result<bool> = match cli.command {
        Command::Serve(args) => {
            telemetry::init();
            serve::main(args).map(|()| true)
        }
        Command::Rules {
            command: RulesCommand::Check { files },
        } => cli_checks::rules_check(&files),
        Command::Rules {
            command: RulesCommand::Test { files },
        } => cli_checks::rules_test(&files),
        Command::Promql {
            command: PromqlCommand::Test { files },
        } => cli_checks::promql_test(&files),
        Command::Config {
            command: ConfigCommand::Check { config },
        } => cli_checks::config_check(&config),
        Command::Deploy(args) => deploy_cli::main(args),
        Command::Log {
            command:
                LogCommand::Stats {
                    config,
                    data_dir,
                    url,
                    json,
                },
        } => log_stats::main(log_stats::StatsArgs {
            config,
            data_dir,
            url,
            json,
        }),
        Command::Replay {
            config,
            data_dir,
            rules,
            from,
            to,
        } => replay::main(replay::ReplayArgs {
            config,
            data_dir,
            rules,
            from,
            to,
        }),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}
