//! The app's event stream, forwarded to the page.
//!
//! It owns the one thread that holds a `watch` connection and emits each
//! event line to the frontend as the Tauri event [`EVENT`]. It connects only
//! when the page asks ([`Watcher::connect`]): at start, and after "Start EZ
//! Flow". When the stream ends it emits `{"event":"disconnected"}` and the
//! thread ends; nothing polls or retries on its own. A `focus` event also
//! brings the window to the front here, without waiting for the page.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};
use tauri::{AppHandle, Emitter as _};

use crate::link::Watch;

/// The Tauri event every app event is emitted as.
pub const EVENT: &str = "ezflow";

/// Holds whether a watch thread runs.
#[derive(Default, Clone)]
pub struct Watcher {
    running: Arc<AtomicBool>,
}

/// Clears the running flag however the thread ends.
struct Running(Arc<AtomicBool>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

impl Watcher {
    /// Opens the event stream unless one is open. Answers at once with the
    /// app's state (`{"event":"connected","state":…}`), or the reason no
    /// stream could be opened; the events follow as Tauri events.
    pub fn connect(&self, app: &AppHandle) -> Result<Value, crate::link::LinkError> {
        if self.running.swap(true, Ordering::SeqCst) {
            return Ok(json!({"event": "connected", "already": true}));
        }
        let guard = Running(Arc::clone(&self.running));
        let mut watch = Watch::open()?;
        let hello = json!({"event": "connected", "state": watch.state()});
        let app = app.clone();
        let spawned = std::thread::Builder::new()
            .name("ezflow-watch".into())
            .spawn(move || {
                let _guard = guard;
                let why = loop {
                    match watch.next_event() {
                        Ok(Some(event)) => forward(&app, event),
                        Ok(None) => break "EZ Flow closed the event stream".to_owned(),
                        Err(e) => break e.to_string(),
                    }
                };
                tracing::info!("event stream ended: {why}");
                let _ = app.emit(EVENT, json!({"event": "disconnected", "error": why}));
            });
        if let Err(e) = spawned {
            tracing::warn!("cannot start the event thread: {e}");
        }
        Ok(hello)
    }
}

/// Emits one event to the page (and focuses the window for `focus`).
fn forward(app: &AppHandle, event: Value) {
    if event.get("event").and_then(Value::as_str) == Some("focus") {
        crate::focus_window(app);
    }
    if let Err(e) = app.emit(EVENT, event) {
        tracing::warn!("cannot hand an event to the page: {e}");
    }
}
