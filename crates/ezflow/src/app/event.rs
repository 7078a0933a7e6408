//! What can wake the app: one event type for every source. Each source is a
//! thread blocked on its own descriptor (X11, D-Bus, the socket, inotify,
//! `sigwait`, the audio and transcription threads, the model lifecycle) that
//! sends one of these into the loop's one channel.
//!
//! This file only names the events; it must not decide what they do (that
//! is `event_loop.rs`).

use ezflow_control::{Event, Request};
use ezflow_core::capture::EndReason;
use ezflow_core::lifecycle::LifecycleEvent;
use ezflow_desktop::hotkey::HotkeyEvent;
use ezflow_desktop::tray::TrayAction;

use super::replies::Reply;
use super::speech::Transcription;

/// Everything that can wake the app.
pub enum AppEvent {
    /// A request on the control socket; its connection waits for the reply.
    Control(Request, Reply),
    Hotkey(HotkeyEvent),
    Tray(TrayAction),
    /// The microphone stopped by itself (max length, device lost).
    RecordingEnded(EndReason),
    /// A transcription finished on the worker thread.
    Transcribed(Transcription),
    Lifecycle(LifecycleEvent),
    SettingsChanged,
    /// The model library's news (a download's progress or end, an
    /// import's end, the store changed), as it also tells the watchers.
    Library(Event),
    /// The level meter's device failed (`generation` names which meter).
    MeterFailed {
        generation: u64,
        why: String,
    },
    Quit,
}
