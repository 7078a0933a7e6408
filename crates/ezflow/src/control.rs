//! `ezflow toggle|start|stop|cancel|status|load|unload|reload-settings`: one
//! request to the running app over its control socket, and the answer in
//! words (or JSON for `status --json`). Also `ezflow microphones`, which
//! needs no running app.

use crate::output::outln;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use ezflow_control::{self as control, ControlError, Request, Response, StatsReport, StatusReport};
use ezflow_core::capture;

/// `stop` and `toggle` answer once the text is in the window, which takes
/// a model load and a transcription at worst.
const LONG_REQUEST: Duration = Duration::from_secs(120);
const SHORT_REQUEST: Duration = Duration::from_secs(5);

/// Sends `request`; `None` (after saying so) when no app is running.
fn ask(request: &Request) -> anyhow::Result<Option<Response>> {
    let path = control::socket_path()?;
    let timeout = match request {
        Request::Stop | Request::Toggle | Request::Load => LONG_REQUEST,
        _ => SHORT_REQUEST,
    };
    match control::send_with_timeout(&path, request, timeout) {
        Ok(response) => Ok(Some(response)),
        Err(e @ ControlError::NotRunning { .. }) => {
            eprintln!("ezflow: {e}");
            Ok(None)
        }
        Err(e) => Err(e).context(format!("`{}` failed", request.name())),
    }
}

pub fn send(request: Request) -> anyhow::Result<ExitCode> {
    let Some(response) = ask(&request)? else {
        return Ok(ExitCode::FAILURE);
    };
    print_response(&request, response)
}

/// `ezflow status [--stats] [--json]`.
pub fn status(stats: bool, json: bool) -> anyhow::Result<ExitCode> {
    let mut requests = vec![Request::Status];
    if stats {
        requests.push(Request::Stats);
    }
    let mut objects = serde_json::Map::new();
    for request in requests {
        let Some(response) = ask(&request)? else {
            return Ok(ExitCode::FAILURE);
        };
        match (json, response) {
            (true, Response::Status(report)) => {
                objects.insert("status".into(), serde_json::to_value(report)?);
            }
            (true, Response::Stats(report)) => {
                objects.insert("stats".into(), serde_json::to_value(report)?);
            }
            (_, response) => {
                if print_response(&request, response)? != ExitCode::SUCCESS {
                    return Ok(ExitCode::FAILURE);
                }
            }
        }
    }
    if json {
        outln!("{}", serde_json::Value::Object(objects));
    }
    Ok(ExitCode::SUCCESS)
}

fn print_response(request: &Request, response: Response) -> anyhow::Result<ExitCode> {
    match response {
        Response::Done { state } => outln!("{}: now {state}", request.name()),
        Response::Status(status) => print_status(status),
        Response::Stats(stats) => print_stats(&stats),
        Response::Error { error } | Response::FieldErrors { error, .. } => {
            eprintln!("ezflow: {}: {error}", request.name());
            return Ok(ExitCode::FAILURE);
        }
        // The settings window's answers: the command line asks for none
        // of them, but shows any as JSON rather than nothing.
        other => outln!("{}", other.to_line().trim_end()),
    }
    Ok(ExitCode::SUCCESS)
}

fn print_status(status: StatusReport) {
    outln!("state:        {}", status.state);
    outln!(
        "model:        {} ({})",
        status.model,
        if status.model_loaded {
            "loaded"
        } else {
            "not loaded"
        }
    );
    outln!(
        "hotkey:       {}",
        status.hotkey.as_deref().unwrap_or("none registered")
    );
    outln!(
        "tray:         {}",
        if status.tray { "shown" } else { "none" }
    );
    if !status.idle_unload.is_empty() {
        outln!("idle unload:  {}", status.idle_unload);
    }
    outln!("pid:          {}", status.pid);
    if let Some(error) = status.last_error {
        outln!("last error:   {error}");
    }
}

fn print_stats(stats: &StatsReport) {
    let mib = |b: Option<u64>| {
        b.map_or("unknown".to_owned(), |b| {
            format!("{:.1} MiB", b as f64 / 1024.0 / 1024.0)
        })
    };
    outln!(
        "memory:       {} PSS, {} RSS",
        mib(stats.pss_bytes),
        mib(stats.rss_bytes)
    );
    outln!("uptime:       {} s", stats.uptime_secs);
    match stats.model_loaded_since {
        Some(since) => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(since, |d| d.as_secs());
            outln!("model in memory for {} s", now.saturating_sub(since));
        }
        None => outln!("model not in memory"),
    }
    if let Some(ms) = stats.last_load_ms {
        outln!("last load:    {ms} ms");
    }
    outln!("dictations today: {}", stats.dictations_today);
    match (stats.median_latency_ms, stats.median_real_time_factor) {
        (Some(latency), rtf) => outln!(
            "last {} dictations: median latency {latency} ms (end of speech to text), \
             median real-time factor {}",
            stats.recent_dictations,
            rtf.map_or("unknown".to_owned(), |f| format!("{f:.3}"))
        ),
        _ => outln!("no dictations yet"),
    }
}

/// `ezflow settings open`: asks the running app to open the settings window
/// (so it knows the window, and a second request brings it to the front);
/// with no app running, starts the window on its own.
pub fn open_settings() -> anyhow::Result<ExitCode> {
    let path = control::socket_path()?;
    match control::send(&path, &Request::OpenSettings) {
        Ok(Response::Error { error }) => {
            eprintln!("ezflow: {error}");
            Ok(ExitCode::FAILURE)
        }
        Ok(_) => Ok(ExitCode::SUCCESS),
        Err(ControlError::NotRunning { .. }) => {
            match crate::app::settings_window::spawn_detached() {
                Ok(()) => {
                    eprintln!(
                        "ezflow: EZ Flow is not running; the settings window started on its own \
                         (start EZ Flow with `ezflow` so it can apply your changes)"
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("ezflow: {e}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Err(e) => Err(e).context("`settings open` failed"),
    }
}

pub fn microphones() -> anyhow::Result<ExitCode> {
    let devices = capture::input_devices()?;
    if devices.is_empty() {
        outln!("No microphones found.");
    }
    for name in devices {
        outln!("{name}");
    }
    Ok(ExitCode::SUCCESS)
}
