//! What the loop needs of the speech side: a microphone that records until
//! stopped, and a transcriber (the model manager) that loads, unloads and
//! turns a clip into text on a worker thread. The real ones are
//! `ezflow_core`'s `capture::Recording` and `lifecycle::ModelManager`
//! (`wiring.rs`); the unit tests use fakes.
//!
//! These are interfaces only: no rule of the loop lives here.

use std::io;
use std::time::Duration;

use ezflow_core::audio::Clip;
use ezflow_core::capture::{
    CaptureError, CaptureOptions, CapturedAudio, EndReason, OnFailure, OnLevel,
};
use ezflow_core::engine::{DecodeOptions, Transcript};
use ezflow_core::lifecycle::{LifecycleError, UnloadPolicy};

use super::model::ModelLoad;

/// Called at most once, on the audio thread, when a recording ends by itself.
pub type OnRecordingEnd = Box<dyn FnOnce(EndReason) + Send>;

/// Opens the microphone.
pub trait Microphone {
    /// The input devices' names.
    fn devices(&self) -> Result<Vec<String>, CaptureError>;
    /// The default input's name, if there is one.
    fn default_device(&self) -> Option<String>;
    /// Opens `device` (`None`: the default input) to measure its level;
    /// `on_level` gets each level and `on_failure` a failure, both on the
    /// audio thread. The device closes when the meter is dropped.
    fn meter(
        &self,
        device: Option<&str>,
        on_level: OnLevel,
        on_failure: OnFailure,
    ) -> Result<Box<dyn LiveMeter>, CaptureError>;
    /// Starts recording with `options`; `on_end` is told if the recording
    /// ends by itself (maximum length, device lost), not when it is stopped
    /// or cancelled.
    fn start(
        &self,
        options: &CaptureOptions,
        on_end: OnRecordingEnd,
    ) -> Result<Box<dyn LiveRecording>, CaptureError>;
}

/// A recording in progress: the device is open until it is stopped or
/// cancelled.
pub trait LiveRecording {
    /// The device's name.
    fn device(&self) -> &str;
    /// Closes the device and returns what was captured.
    fn stop(self: Box<Self>) -> Result<CapturedAudio, CaptureError>;
    /// Closes the device and discards the audio.
    fn cancel(self: Box<Self>);
}

/// A level meter's open device; dropping it closes the device.
pub trait LiveMeter {
    fn device(&self) -> &str;
}

/// A finished transcription, as the worker reports it.
pub struct Transcription {
    pub result: Result<Transcript, LifecycleError>,
    /// How long the transcription took (model load included, if it waited).
    pub took: Duration,
}

/// Called once, on the worker thread, with the transcription's outcome.
pub type OnTranscribed = Box<dyn FnOnce(Transcription) + Send>;

/// The model, as the loop drives it.
pub trait Transcriber {
    /// Where the model stands now: the one place the loop learns whether it
    /// is loaded or loading.
    fn model_load(&self) -> ModelLoad;
    /// Starts loading in the background, unless loaded or loading.
    fn preload(&self);
    /// Unloads now, or once the transcription in flight ends.
    fn unload(&self);
    /// Switches to the model `id_or_path` (from the settings).
    fn set_model(&self, id_or_path: &str) -> Result<(), String>;
    fn set_unload_policy(&self, policy: UnloadPolicy);
    /// Transcribes `clip` on a worker thread inside `dictation` (the span
    /// the slow-operation log times) and hands the outcome to `done` there.
    /// Fails only when the worker cannot be started.
    fn transcribe(
        &self,
        clip: Clip,
        options: DecodeOptions,
        dictation: tracing::Span,
        done: OnTranscribed,
    ) -> io::Result<()>;
}
