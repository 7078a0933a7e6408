//! The always-on dictation app (`ezflow` with no arguments): starts the
//! tray, the control socket, the hotkey and the settings watch, then runs
//! one event loop that owns the dictation state — idle, recording,
//! transcribing — and reacts to hotkey, tray, socket, microphone and model
//! events.
//!
//! Idle is idle: the main thread blocks on one channel; every source (hotkey,
//! tray, socket, settings watch, signals, model lifecycle) is a thread that
//! blocks on its own descriptor and sends an event. The only timers are
//! one-shot deadlines: the model's idle unload (in the core) and the
//! "loading takes long" notification, armed only while a load runs.
//!
//! One file per concern:
//! - `wiring.rs`: startup in order, and the real parts behind the traits;
//! - `event.rs`: [`AppEvent`](event::AppEvent), what can wake the loop;
//! - `event_loop.rs`: the loop, routing each event to its part;
//! - `dictation.rs`: the phase machine, and what the hotkey means;
//! - `model.rs`: the model file, its load as the manager reports it, and
//!   the slow-load notice;
//! - `setup.rs`: a dictation with no model installed: the tray's offer,
//!   the download's progress and the notifications;
//! - `replies.rs`: control requests waiting for their answer;
//! - `view.rs`: the tray and `status` (one function), and `stats`;
//! - `hotkey.rs`, `insertion.rs`, `problem.rs`: the hotkey's registration,
//!   putting text into the window, the last error;
//! - `desktop.rs`, `speech.rs`, `telemetry.rs`, `settings_change.rs`: what
//!   the loop needs of the outside world, as traits;
//! - `settings_watch.rs`, `signals.rs`: two of the event sources;
//! - for the settings window (`ezflow-settings`, a separate program):
//!   `settings_requests.rs`, `model_requests.rs` and `meter.rs` (its
//!   requests), `publish.rs` (events to its `watch` connection),
//!   `autostart.rs`, `library.rs` with `downloads.rs`, and
//!   `settings_window.rs` (starting it).

pub mod autostart;
mod desktop;
mod dictation;
mod downloads;
mod event;
mod event_loop;
mod hotkey;
mod insertion;
mod library;
mod meter;
mod model;
mod model_requests;
mod problem;
mod publish;
mod replies;
mod settings_change;
mod settings_requests;
mod settings_watch;
pub mod settings_window;
mod setup;
mod signals;
mod speech;
mod telemetry;
mod view;
mod wiring;

#[cfg(test)]
mod tests;

pub use wiring::run;
