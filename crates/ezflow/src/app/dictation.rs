//! The dictation: idle → recording → transcribing → idle. Owns the phase
//! (with the open recording and the dictation's spans in it) and the
//! dictation statistics, and decides what a start, stop, toggle or cancel
//! does in each phase; [`hotkey_command`] is where the hotkey's press and
//! release become a start or a stop.
//!
//! It must not answer control requests (it says how a stop went and the
//! loop answers, `replies.rs`), show anything (`view.rs`), or read the
//! settings file: it is given the settings in force.

use std::sync::mpsc::Sender;
use std::time::{Duration, Instant, SystemTime};

use ezflow_config::settings::{HotkeyMode, Settings};
use ezflow_control::StatsReport;
use ezflow_core::capture::CaptureOptions;
use ezflow_core::stats::{DictationSample, DictationStats};
use ezflow_desktop::hotkey::HotkeyEvent;

use super::event::AppEvent;
use super::problem::LastError;
use super::speech::{LiveRecording, Microphone, Transcriber, Transcription};
use super::telemetry::UsageTelemetry;
use crate::engine_options;

/// What the user asks of the dictation (hotkey, tray or control socket).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    Start,
    Stop,
    Toggle,
}

/// What a hotkey event asks for in `mode`: push-to-talk records while the
/// key is down; toggle starts or stops at each press and ignores releases.
pub fn hotkey_command(mode: HotkeyMode, event: &HotkeyEvent) -> Option<Command> {
    match (mode, event) {
        (HotkeyMode::PushToTalk, HotkeyEvent::Pressed) => Some(Command::Start),
        (HotkeyMode::PushToTalk, HotkeyEvent::Released) => Some(Command::Stop),
        (HotkeyMode::Toggle, HotkeyEvent::Pressed) => Some(Command::Toggle),
        (HotkeyMode::Toggle, HotkeyEvent::Released) | (_, HotkeyEvent::Lost { .. }) => None,
    }
}

/// The phase without what it holds: for the view and for answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhaseKind {
    Idle,
    Recording,
    Transcribing,
}

impl PhaseKind {
    pub fn name(self) -> &'static str {
        match self {
            PhaseKind::Idle => "idle",
            PhaseKind::Recording => "recording",
            PhaseKind::Transcribing => "transcribing",
        }
    }
}

enum Phase {
    Idle,
    Recording {
        recording: Box<dyn LiveRecording>,
        /// Open while the microphone is. The speaker sets this stage's
        /// length, so the slow-operation log leaves it out (logging.rs).
        capture: tracing::Span,
    },
    /// On the worker thread, then inserting.
    Transcribing {
        /// From key-up to text: the operation the slow-operation log times.
        dictation: tracing::Span,
        stopped_at: Instant,
        /// The clip's length.
        audio: Duration,
    },
}

/// How a stop went.
#[derive(Debug, PartialEq, Eq)]
pub enum Stopped {
    /// Nothing was recording; the phase is unchanged.
    NotRecording,
    /// The clip is being transcribed; [`Dictation::finish`] follows.
    Transcribing,
    /// The recording could not be finished or handed on (already reported
    /// to the [`LastError`]); the dictation is idle.
    Failed(String),
}

pub struct Dictation {
    phase: Phase,
    /// Where the recording's end and the transcription's result are sent.
    events: Sender<AppEvent>,
    stats: DictationStats,
}

impl Dictation {
    pub fn new(events: Sender<AppEvent>) -> Self {
        Dictation {
            phase: Phase::Idle,
            events,
            stats: DictationStats::new(StatsReport::RECENT),
        }
    }

    pub fn phase(&self) -> PhaseKind {
        match self.phase {
            Phase::Idle => PhaseKind::Idle,
            Phase::Recording { .. } => PhaseKind::Recording,
            Phase::Transcribing { .. } => PhaseKind::Transcribing,
        }
    }

    pub fn stats(&self) -> &DictationStats {
        &self.stats
    }

    /// What a toggle means now: start when idle, stop when recording,
    /// nothing while transcribing.
    pub fn toggled(&self) -> Option<Command> {
        match self.phase() {
            PhaseKind::Idle => Some(Command::Start),
            PhaseKind::Recording => Some(Command::Stop),
            PhaseKind::Transcribing => None,
        }
    }

    /// Opens the microphone (only when idle) and starts loading the model,
    /// so the load overlaps the speech. A new recording clears the last
    /// error.
    pub fn start(
        &mut self,
        settings: &Settings,
        microphone: &dyn Microphone,
        transcriber: &dyn Transcriber,
        problem: &mut LastError,
    ) {
        if !matches!(self.phase, Phase::Idle) {
            return;
        }
        problem.clear();
        let options = CaptureOptions {
            device: Some(settings.microphone.clone()).filter(|m| !m.is_empty()),
            max_duration: settings.max_recording,
        };
        let events = self.events.clone();
        let started = microphone.start(
            &options,
            Box::new(move |reason| {
                let _ = events.send(AppEvent::RecordingEnded(reason));
            }),
        );
        match started {
            Ok(recording) => {
                tracing::info!(device = recording.device(), "recording");
                let capture = tracing::info_span!(
                    "capture",
                    paced_by_user = true,
                    device = recording.device()
                );
                self.phase = Phase::Recording { recording, capture };
                // Not at all when there is nothing to record.
                transcriber.preload();
            }
            Err(e) => problem.set(e.to_string()),
        }
    }

    /// Ends the recording and hands the clip to the transcriber. While
    /// transcribing (or idle) there is nothing to stop.
    pub fn stop(
        &mut self,
        settings: &Settings,
        transcriber: &dyn Transcriber,
        problem: &mut LastError,
    ) -> Stopped {
        let (recording, capture) = match std::mem::replace(&mut self.phase, Phase::Idle) {
            Phase::Recording { recording, capture } => (recording, capture),
            other => {
                self.phase = other;
                return Stopped::NotRecording;
            }
        };
        drop(capture);
        let stopped_at = Instant::now();
        let dictation = tracing::info_span!("dictation");
        let captured = match dictation.in_scope(|| recording.stop()) {
            Ok(captured) => captured,
            Err(e) => return failed(problem, e.to_string()),
        };
        let audio = captured.clip.duration();
        let events = self.events.clone();
        let transcribing = transcriber.transcribe(
            captured.clip,
            engine_options::decode_options(settings),
            dictation.clone(),
            Box::new(move |transcription| {
                let _ = events.send(AppEvent::Transcribed(transcription));
            }),
        );
        match transcribing {
            Ok(()) => {
                self.phase = Phase::Transcribing {
                    dictation,
                    stopped_at,
                    audio,
                };
                Stopped::Transcribing
            }
            Err(e) => failed(problem, format!("cannot start transcribing: {e}")),
        }
    }

    /// Closes the microphone and throws the audio away. A transcription
    /// already running cannot be called back and goes on.
    pub fn cancel(&mut self) {
        match std::mem::replace(&mut self.phase, Phase::Idle) {
            Phase::Recording { recording, capture } => {
                recording.cancel();
                drop(capture);
            }
            other => self.phase = other,
        }
    }

    /// The transcription is back: records it, hands the text to `insert`
    /// (inside the dictation's span) and goes idle. `Err` is the
    /// transcription's failure, for the waiting requests. `None` if no
    /// dictation was waiting for it.
    pub fn finish(
        &mut self,
        transcription: Transcription,
        model: &str,
        telemetry: &dyn UsageTelemetry,
        insert: impl FnOnce(&str),
    ) -> Option<Result<(), String>> {
        let (dictation, stopped_at, audio) = match std::mem::replace(&mut self.phase, Phase::Idle) {
            Phase::Transcribing {
                dictation,
                stopped_at,
                audio,
            } => (dictation, stopped_at, audio),
            other => {
                self.phase = other;
                tracing::warn!("a transcription ended with no dictation waiting for it");
                return None;
            }
        };
        let Transcription { result, took } = transcription;
        let transcript = match result {
            Ok(transcript) => transcript,
            Err(e) => return Some(Err(e.to_string())),
        };
        telemetry.dictation(audio, model, took);
        let text = transcript.text.trim();
        tracing::info!(
            audio_ms = audio.as_millis() as u64,
            took_ms = took.as_millis() as u64,
            chars = text.len(),
            "dictation transcribed"
        );
        dictation.in_scope(|| insert(text));
        let sample = DictationSample {
            audio,
            latency: stopped_at.elapsed(),
            transcription: took,
        };
        tracing::info!(
            latency_ms = sample.latency.as_millis() as u64,
            real_time_factor = sample.real_time_factor().unwrap_or_default(),
            "dictation done"
        );
        self.stats.record(sample, SystemTime::now());
        // Closing the span ends the operation the slow log times.
        drop(dictation);
        Some(Ok(()))
    }
}

fn failed(problem: &mut LastError, message: String) -> Stopped {
    problem.set(message.clone());
    Stopped::Failed(message)
}
