//! `ezflow`: the command-line shell around the core library. Parses
//! arguments, sets up logging, and hands each command to its module; no
//! capability lives here that the core library does not offer.

mod cli;
mod models;
mod telemetry;
mod transcribe;

use std::process::ExitCode;

use clap::Parser;
use ezflow_core::settings::Settings;
use tracing_subscriber::EnvFilter;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("ezflow: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Transcribe(args) => transcribe::run(args, &load_settings()?),
        Command::Models(command) => models::run(command, &load_settings()?),
        Command::Settings => show_settings(),
        Command::Telemetry(command) => telemetry::run(command, &load_settings()?),
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        // A failed model load is already the command's own error message.
        0 => "warn,ezflow_core::lifecycle=error",
        1 => "info",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_env("EZFLOW_LOG").unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .compact()
        .init();
}

/// Loads the settings file, telling the user about every problem in it.
fn load_settings() -> anyhow::Result<Settings> {
    let report = Settings::load()?;
    for problem in &report.problems {
        eprintln!("ezflow: warning: {problem}");
    }
    Ok(report.settings)
}

fn show_settings() -> anyhow::Result<ExitCode> {
    let path = ezflow_core::paths::settings_file()?;
    let settings = load_settings()?;
    println!("# {}", path.display());
    print!("{}", settings.to_toml_string());
    Ok(ExitCode::SUCCESS)
}
