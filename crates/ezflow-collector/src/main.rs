//! `ezflow-collector`: the command-line shell around the library. Reads
//! flags (each also an `EZFLOW_COLLECTOR_*` variable), sets up logging,
//! starts the collector, prints the address it listens on, and shuts it
//! down gracefully on SIGINT or SIGTERM. No behaviour lives here that the
//! library does not offer.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use ezflow_collector::config::{
    DEFAULT_DATABASE, DEFAULT_LISTEN, DEFAULT_RATE_LIMIT_PER_MINUTE, DEFAULT_RETENTION_DAYS,
};
use ezflow_collector::{Config, RunningCollector};
use tracing_subscriber::EnvFilter;

/// Receives EZ Flow's opt-in anonymous usage events, stores them in SQLite
/// and serves aggregate statistics and a dashboard.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Address and port to listen on (port 0: any free port).
    #[arg(long, env = "EZFLOW_COLLECTOR_LISTEN", default_value_t = DEFAULT_LISTEN)]
    listen: SocketAddr,
    /// The SQLite database file; created if missing.
    #[arg(long, env = "EZFLOW_COLLECTOR_DATABASE", default_value = DEFAULT_DATABASE)]
    database: PathBuf,
    /// Delete events older than this many days (at start, then hourly).
    #[arg(long, env = "EZFLOW_COLLECTOR_RETENTION_DAYS", default_value_t = DEFAULT_RETENTION_DAYS)]
    retention_days: u32,
    /// Batches per minute one client may post; 0 turns the limit off.
    #[arg(long, env = "EZFLOW_COLLECTOR_RATE_LIMIT", default_value_t = DEFAULT_RATE_LIMIT_PER_MINUTE)]
    rate_limit: u32,
    /// Batches one client may post at once [default: the --rate-limit value].
    #[arg(long, env = "EZFLOW_COLLECTOR_RATE_LIMIT_BURST")]
    rate_limit_burst: Option<u32>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("ezflow-collector: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    let filter =
        EnvFilter::try_from_env("EZFLOW_COLLECTOR_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .compact()
        .init();
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let mut config = Config::new(cli.listen, cli.database);
    config.retention_days = cli.retention_days;
    config.rate_limit_per_minute = cli.rate_limit;
    config.rate_limit_burst = cli.rate_limit_burst;

    // Signal handlers are in place before the collector is reachable, so a
    // signal can never find the default action (dying without a clean
    // shutdown).
    let signals = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the signal handler")?;
    let mut stop = signals
        .block_on(async { Stop::install() })
        .context("cannot install the signal handlers")?;

    let collector = RunningCollector::start(config)?;
    // The one line on stdout, for scripts (and tests) that need the port.
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on http://{}", collector.addr())
        .and_then(|()| stdout.flush())
        .context("cannot write to stdout")?;
    drop(stdout);

    let signal = signals.block_on(stop.wait());
    tracing::info!("{signal}: shutting down");
    collector.shutdown()?;
    Ok(())
}

/// The signals that stop the collector.
struct Stop {
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
}

impl Stop {
    #[cfg(unix)]
    fn install() -> std::io::Result<Stop> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Stop {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
        })
    }

    #[cfg(unix)]
    async fn wait(&mut self) -> &'static str {
        tokio::select! {
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.interrupt.recv() => "SIGINT",
        }
    }

    #[cfg(not(unix))]
    fn install() -> std::io::Result<Stop> {
        Ok(Stop {})
    }

    #[cfg(not(unix))]
    async fn wait(&mut self) -> &'static str {
        match tokio::signal::ctrl_c().await {
            Ok(()) => "Ctrl-C",
            Err(_) => std::future::pending().await,
        }
    }
}
