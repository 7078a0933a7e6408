//! What the loop needs of usage telemetry: start it for the settings in
//! force (the launch event and the background sender, when enabled), count
//! each dictation, and stop it. The real one is `ezflow_core::telemetry`'s
//! queue and sender (`wiring.rs`); the unit tests use one that records
//! nothing on disk.
//!
//! An interface only: telemetry never changes what the loop does.

use std::time::Duration;

use ezflow_config::settings::Settings;

pub trait UsageTelemetry {
    /// Starts (or restarts, after the setting or endpoint changed) for
    /// `settings`.
    fn start(&mut self, settings: &Settings);
    /// Stops the background sender.
    fn stop(&mut self);
    /// Counts a transcribed dictation of `audio` with `model`.
    fn dictation(&self, audio: Duration, model: &str, took: Duration);
}
