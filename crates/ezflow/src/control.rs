//! `ezflow toggle|start|stop|cancel|status|unload|reload-settings`: one
//! request to the running app over its control socket, and the answer in
//! words. Also `ezflow microphones`, which needs no running app.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use ezflow_core::capture;
use ezflow_core::control::{self, ControlError, Request, Response};

/// `stop` and `toggle` answer once the text is in the window, which takes
/// a model load and a transcription at worst.
const LONG_REQUEST: Duration = Duration::from_secs(120);
const SHORT_REQUEST: Duration = Duration::from_secs(5);

pub fn send(request: Request) -> anyhow::Result<ExitCode> {
    let path = control::socket_path()?;
    let timeout = match request {
        Request::Stop | Request::Toggle => LONG_REQUEST,
        _ => SHORT_REQUEST,
    };
    let response = match control::send_with_timeout(&path, &request, timeout) {
        Ok(response) => response,
        Err(e @ ControlError::NotRunning { .. }) => {
            eprintln!("ezflow: {e}");
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => return Err(e).context(format!("`{}` failed", request.name())),
    };
    match response {
        Response::Done { state } => println!("{}: now {state}", request.name()),
        Response::Status(status) => {
            println!("state:        {}", status.state);
            println!(
                "model:        {} ({})",
                status.model,
                if status.model_loaded {
                    "loaded"
                } else {
                    "not loaded"
                }
            );
            println!(
                "hotkey:       {}",
                status.hotkey.as_deref().unwrap_or("none registered")
            );
            println!(
                "tray:         {}",
                if status.tray { "shown" } else { "none" }
            );
            println!("pid:          {}", status.pid);
            if let Some(error) = status.last_error {
                println!("last error:   {error}");
            }
        }
        Response::Error { error } => {
            eprintln!("ezflow: {}: {error}", request.name());
            return Ok(ExitCode::FAILURE);
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn microphones() -> anyhow::Result<ExitCode> {
    let devices = capture::input_devices()?;
    if devices.is_empty() {
        println!("No microphones found.");
    }
    for name in devices {
        println!("{name}");
    }
    Ok(ExitCode::SUCCESS)
}
