//! `ezflow`: the command-line shell around the core library. Parses
//! arguments, sets up logging, and hands each command to its module; no
//! capability lives here that the core library does not offer.

mod app;
mod autostart_cli;
mod cli;
mod control;
mod engine_options;
mod launcher;
mod logging;
mod models;
mod output;
mod telemetry;
mod transcribe;

use std::process::ExitCode;

use clap::Parser;
use ezflow_config::settings::Settings;

use cli::{Cli, Command};
use output::{out, outln};

fn main() -> ExitCode {
    launcher::hand_over_to_fastest_build();
    // Before any thread starts (see there).
    ezflow_core::memory::use_one_heap_arena();
    let started = std::time::Instant::now();
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.command.is_none());
    tracing::info!("ezflow {}", launcher::version());
    match run(cli, started) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("ezflow: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli, started: std::time::Instant) -> anyhow::Result<ExitCode> {
    let Some(command) = cli.command else {
        return app::run(started, cli.launcher);
    };
    match command {
        Command::Transcribe(args) => transcribe::run(args, &load_settings()?),
        Command::Models(command) => models::run(command, &load_settings()?),
        Command::Settings { command } => match command {
            None | Some(cli::SettingsCommand::Show) => show_settings(),
            Some(cli::SettingsCommand::Open) => control::open_settings(),
        },
        Command::Telemetry(command) => telemetry::run(command, &load_settings()?),
        Command::Autostart(command) => autostart_cli::run(command),
        Command::Toggle => control::send(ezflow_control::Request::Toggle),
        Command::Start => control::send(ezflow_control::Request::Start),
        Command::Stop => control::send(ezflow_control::Request::Stop),
        Command::Cancel => control::send(ezflow_control::Request::Cancel),
        Command::Status(args) => control::status(args.stats, args.json),
        Command::Load => control::send(ezflow_control::Request::Load),
        Command::Unload => control::send(ezflow_control::Request::Unload),
        Command::ReloadSettings => control::send(ezflow_control::Request::ReloadSettings),
        Command::Microphones => control::microphones(),
    }
}

/// Logs to stderr; the app (no subcommand) also to its rotating log file
/// in the state directory (`logging.rs`).
fn init_logging(verbose: u8, app: bool) {
    let default = match verbose {
        // The app says what it does (startup time, loads, dictations).
        0 if app => "warn,ezflow=info,ezflow_core=info,ezflow_desktop=info",
        // A failed model load is already the command's own error message.
        0 => "warn,ezflow_core::lifecycle=error",
        1 => "info",
        _ => "debug",
    };
    let filter = std::env::var("EZFLOW_LOG")
        .ok()
        .filter(|f| !f.trim().is_empty())
        .unwrap_or_else(|| default.to_owned());
    let log_file = if app {
        match ezflow_config::paths::log_dir() {
            Ok(dir) => Some(dir.join(logging::LOG_FILE_NAME)),
            Err(e) => {
                eprintln!("ezflow: no log file: {e}");
                None
            }
        }
    } else {
        None
    };
    if let Some(problem) = logging::init(&filter, log_file.as_deref()) {
        tracing::warn!("{problem}");
    } else if let Some(path) = &log_file {
        tracing::debug!(path = %path.display(), "logging to file");
    }
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
    let path = ezflow_config::paths::settings_file()?;
    let settings = load_settings()?;
    // The core takes any non-empty hotkey text; whether it names a shortcut
    // is the desktop's to say. Say it here too, so a typo is found without
    // starting the app.
    if let Err(e) = settings.hotkey.parse::<ezflow_desktop::hotkey::Shortcut>() {
        eprintln!(
            "ezflow: warning: {}: hotkey {:?}: {e}; the app registers no hotkey until it is fixed",
            path.display(),
            settings.hotkey
        );
    }
    outln!("# {}", path.display());
    out!("{}", settings.to_toml_string());
    Ok(ExitCode::SUCCESS)
}
