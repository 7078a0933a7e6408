//! `ezflow autostart enable|disable|status`: starting EZ Flow at login from
//! the command line.
//!
//! The `autostart` setting says whether EZ Flow starts at login; the XDG
//! autostart entry (`app/autostart.rs`) makes it happen. With the app
//! running, `enable` and `disable` ask it (`settings-set` of `autostart` on
//! the control socket): it is the only writer of `settings.toml` while it
//! runs, and it writes or removes the entry. Without it, this command does
//! both itself, in the app's order: the entry first, so an entry that
//! cannot be written (or a file of that name EZ Flow did not write) leaves
//! the settings as they were; then the settings file, putting the entry
//! back if that fails. `status` reads the settings file and the entry and
//! changes nothing.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use ezflow_config::settings::Settings;
use ezflow_control::{self as control, ControlError, Request, Response};

use crate::app::autostart::{Autostart as _, Entry, XdgAutostart};
use crate::cli::AutostartCommand;
use crate::output::outln;

/// A settings change answers at once (an entry and a small file written).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Where neither variable names a home for the autostart directory.
const NO_DIRECTORY: &str =
    "there is no autostart directory: neither XDG_CONFIG_HOME nor HOME is set";

pub fn run(command: AutostartCommand) -> anyhow::Result<ExitCode> {
    match command {
        AutostartCommand::Enable => set(true),
        AutostartCommand::Disable => set(false),
        AutostartCommand::Status => status(),
    }
}

/// `enable` / `disable`: through the running app, else here.
fn set(enabled: bool) -> anyhow::Result<ExitCode> {
    let socket = match control::socket_path() {
        Ok(socket) => Some(socket),
        // No runtime directory: no app of this user can be reached.
        Err(e) => {
            tracing::debug!("no control socket ({e}); changing the settings file directly");
            None
        }
    };
    if let Some(socket) = socket {
        let values = serde_json::Map::from_iter([("autostart".to_owned(), enabled.into())]);
        match control::send_with_timeout(&socket, &Request::SettingsSet { values }, REQUEST_TIMEOUT)
        {
            Ok(Response::Settings(report)) => {
                done(enabled, "the running EZ Flow");
                if report.start_at_login != enabled {
                    // Saved, but the entry did not follow (the app logged why).
                    eprintln!(
                        "ezflow: the setting is saved, but the running EZ Flow could not {} \
                         the entry; see `ezflow autostart status` and its log",
                        if enabled { "write" } else { "remove" }
                    );
                    return Ok(ExitCode::FAILURE);
                }
                return Ok(ExitCode::SUCCESS);
            }
            Ok(Response::FieldErrors {
                error,
                field_errors,
            }) => {
                let why = field_errors.get("autostart").unwrap_or(&error);
                eprintln!("ezflow: {why}");
                return Ok(ExitCode::FAILURE);
            }
            Ok(Response::Error { error }) => {
                eprintln!("ezflow: {error}");
                return Ok(ExitCode::FAILURE);
            }
            Ok(other) => anyhow::bail!(
                "the running EZ Flow answered `settings-set` with {}",
                other.to_line().trim_end()
            ),
            Err(ControlError::NotRunning { .. }) => {}
            Err(e) => return Err(e).context("cannot ask the running EZ Flow"),
        }
    }
    set_here(enabled)
}

/// No app running: the entry, then the settings file.
fn set_here(enabled: bool) -> anyhow::Result<ExitCode> {
    let old = crate::load_settings()?;
    let Some(autostart) = XdgAutostart::for_this_user() else {
        eprintln!("ezflow: {NO_DIRECTORY}");
        return Ok(ExitCode::FAILURE);
    };
    if let Err(why) = autostart.set(enabled) {
        eprintln!("ezflow: {why}; the settings are unchanged");
        return Ok(ExitCode::FAILURE);
    }
    if old.autostart != enabled {
        let new = Settings {
            autostart: enabled,
            ..old.clone()
        };
        if let Err(e) = new.save() {
            if let Err(why) = autostart.set(old.autostart) {
                eprintln!("ezflow: {why}");
            }
            return Err(e).context("cannot save the settings");
        }
    }
    done(enabled, "this command");
    if !enabled {
        if let Ok(Entry::Foreign) = autostart.state() {
            eprintln!(
                "ezflow: note: {} was not written by EZ Flow and is left as it is; it may still \
                 start something at login",
                autostart.entry.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn done(enabled: bool, by: &str) {
    if enabled {
        outln!("EZ Flow starts at login (autostart = true; entry written by {by}).");
    } else {
        outln!("EZ Flow no longer starts at login (autostart = false; applied by {by}).");
    }
}

/// `status`: the setting, the entry, and whether they agree (exit 0) or
/// not (exit 1, with what puts it right).
fn status() -> anyhow::Result<ExitCode> {
    let path = ezflow_config::paths::settings_file()?;
    let settings = crate::load_settings()?;
    let on = settings.autostart;
    outln!(
        "setting:  {} (autostart = {on} in {})",
        if on { "on" } else { "off" },
        path.display()
    );
    let Some(autostart) = XdgAutostart::for_this_user() else {
        outln!("entry:    none: {NO_DIRECTORY}");
        return Ok(if on {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        });
    };
    outln!("entry:    {}", autostart.entry.display());
    let exe = autostart.exe.display();
    let (state, in_step) = match autostart.state() {
        Ok(Entry::Missing) => ("none".to_owned(), !on),
        Ok(Entry::Current) => (format!("EZ Flow's, current: starts {exe}"), on),
        Ok(Entry::Stale { exec }) => (
            format!(
                "EZ Flow's, out of date: starts {} instead of {exe}",
                exec.as_deref().unwrap_or("nothing")
            ),
            false,
        ),
        Ok(Entry::Foreign) => (
            "not EZ Flow's: another program's or yours; EZ Flow leaves it as it is".to_owned(),
            !on,
        ),
        Err(why) => (format!("unknown: {why}"), false),
    };
    outln!("state:    {state}");
    if in_step {
        return Ok(ExitCode::SUCCESS);
    }
    match autostart.state() {
        Ok(Entry::Foreign) => outln!(
            "The setting is on, but that file is not EZ Flow's: remove or rename it, then \
             `ezflow autostart enable`."
        ),
        Ok(_) => outln!(
            "The entry does not match the setting: `ezflow autostart {}` puts it right (so \
             does EZ Flow when it starts or its settings change).",
            if on { "enable" } else { "disable" }
        ),
        Err(_) => {}
    }
    Ok(ExitCode::FAILURE)
}
