//! `ezflow-settings`: EZ Flow's settings window.
//!
//! A Tauri (WebKitGTK) window, started on demand (`ezflow settings open`,
//! the tray's menu, or by hand), that talks only to the running `ezflow`
//! over its control socket. The Rust side is thin: it forwards request
//! objects from the page and returns the answers (`request`), forwards the
//! app's event stream (`watch.rs`), starts the app when asked (`launch.rs`)
//! and keeps one window at a time (`instance.rs`). Everything the user
//! sees is the page in `frontend/`, embedded in the binary at build time.
//!
//! Closing the window ends the process: no tray, no hidden window.

mod instance;
mod launch;
mod link;
mod watch;

use std::io::IsTerminal as _;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use serde_json::Value;
use tauri::{AppHandle, Manager as _, RunEvent, State};

use crate::instance::Instance;
use crate::watch::Watcher;

/// The window's label in `tauri.conf.json`.
const WINDOW: &str = "main";

/// When the process started, for the `first paint in N ms` log line.
struct Started(Instant);

/// A command's failure as the page sees it: `kind` is `not-running` when
/// no app listens (the page then offers to start it), else `error`.
#[derive(Debug, serde::Serialize)]
struct CommandError {
    kind: &'static str,
    message: String,
}

impl From<link::LinkError> for CommandError {
    fn from(e: link::LinkError) -> Self {
        CommandError {
            kind: if e.is_not_running() {
                "not-running"
            } else {
                "error"
            },
            message: e.to_string(),
        }
    }
}

impl CommandError {
    fn other(message: impl Into<String>) -> Self {
        CommandError {
            kind: "error",
            message: message.into(),
        }
    }
}

/// Runs blocking work off the async runtime's threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, CommandError> + Send + 'static,
) -> Result<T, CommandError> {
    tauri::async_runtime::spawn_blocking(work)
        .await
        .map_err(|e| CommandError::other(format!("internal error: {e}")))?
}

/// Sends one request object to the app; returns its answer object.
#[tauri::command(async)]
async fn request(request: Value) -> Result<Value, CommandError> {
    blocking(move || Ok(link::request(request)?)).await
}

/// Opens the app's event stream (unless open); answers with the app's state.
#[tauri::command(async)]
async fn connect(app: AppHandle, watcher: State<'_, Watcher>) -> Result<Value, CommandError> {
    let watcher = watcher.inner().clone();
    blocking(move || Ok(watcher.connect(&app)?)).await
}

/// Starts the dictation app and returns once it listens.
#[tauri::command(async)]
async fn start_app() -> Result<String, CommandError> {
    blocking(|| {
        launch::start_app()
            .map(|p| p.display().to_string())
            .map_err(|e| CommandError::other(e.to_string()))
    })
    .await
}

/// The page says its first screen is painted.
#[tauri::command]
fn first_paint(started: State<'_, Started>) {
    let ms = started.0.elapsed().as_millis();
    tracing::info!("first paint in {ms} ms");
}

/// Shows the window, un-minimizes it and gives it the focus.
pub(crate) fn focus_window(app: &AppHandle) {
    if let Some(window) = app.get_webview_window(WINDOW) {
        let _ = window.unminimize();
        let _ = window.show();
        if let Err(e) = window.set_focus() {
            tracing::debug!("cannot focus the window: {e}");
        }
    }
}

fn init_logging() {
    let filter = std::env::var("EZFLOW_LOG")
        .ok()
        .filter(|f| !f.trim().is_empty())
        .unwrap_or_else(|| "warn,ezflow_settings=info".to_owned());
    let filter = tracing_subscriber::EnvFilter::try_new(&filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,ezflow_settings=info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

fn main() -> anyhow::Result<()> {
    let started = Instant::now();
    init_logging();
    let dir = instance::runtime_dir().context("finding the settings window's place")?;
    let first = match instance::claim(&dir)? {
        Instance::Focused => {
            tracing::info!("a settings window is already open; brought it to the front");
            return Ok(());
        }
        Instance::First(first) => Arc::new(first),
    };
    let socket = first.socket().to_path_buf();
    let app = tauri::Builder::default()
        .manage(Started(started))
        .manage(Watcher::default())
        .invoke_handler(tauri::generate_handler![
            request,
            connect,
            start_app,
            first_paint
        ])
        .setup(move |app| {
            let handle = app.handle().clone();
            let first = Arc::clone(&first);
            std::thread::Builder::new()
                .name("settings-sock".into())
                .spawn(move || first.serve(|| focus_window(&handle)))?;
            Ok(())
        })
        .build(tauri::generate_context!())
        .context("starting the settings window")?;
    app.run(move |_, event| {
        if let RunEvent::Exit = event {
            let _ = std::fs::remove_file(&socket);
        }
    });
    Ok(())
}
