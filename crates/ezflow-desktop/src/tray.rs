//! The tray icon and its menu. This module owns what the tray shows
//! ([`TrayView`]), what the user can ask for from it ([`TrayAction`]), the
//! platform trait ([`Tray`]) and the platform-neutral parts every
//! implementation shares: the menu's entries and labels, the tooltip text and
//! the icons (`tray/icons.rs`). One implementation per platform, in its own
//! file: Linux speaks StatusNotifierItem over D-Bus (`tray/ksni.rs`).
//!
//! It decides nothing about the app: it renders the view it is given and
//! reports clicks. It never polls; between a click and a [`Tray::show`] it
//! does nothing at all.

pub mod icons;
#[cfg(target_os = "linux")]
mod ksni;

use std::fmt;

/// What the app is doing, as the tray shows it (one icon each).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TrayState {
    /// Waiting for the hotkey.
    Idle,
    /// The model is being loaded.
    Loading,
    /// The microphone is open.
    Recording,
    /// Speech is being turned into text.
    Transcribing,
    /// Something went wrong; [`TrayView::detail`] says what.
    Error,
    /// No speech model is installed yet, so dictation cannot work; the menu
    /// offers one ([`TrayView::offer`]).
    NoModel,
}

impl TrayState {
    /// All states, in a fixed order (for icon tables and tests).
    pub const ALL: [TrayState; 6] = [
        TrayState::Idle,
        TrayState::Loading,
        TrayState::Recording,
        TrayState::Transcribing,
        TrayState::Error,
        TrayState::NoModel,
    ];

    /// The state in words, as the tooltip says it.
    pub fn label(self) -> &'static str {
        match self {
            TrayState::Idle => "Ready",
            TrayState::Loading => "Loading model…",
            TrayState::Recording => "Recording",
            TrayState::Transcribing => "Transcribing…",
            TrayState::Error => "Error",
            TrayState::NoModel => "No model — set up…",
        }
    }

    /// The freedesktop icon-naming-spec name for this state. A host with an
    /// icon theme shows that; others fall back to [`icons::pixmaps`].
    pub fn icon_name(self) -> &'static str {
        match self {
            TrayState::Idle => "audio-input-microphone",
            TrayState::Loading => "process-working",
            TrayState::Recording => "media-record",
            TrayState::Transcribing => "insert-text",
            TrayState::Error => "dialog-error",
            TrayState::NoModel => "dialog-warning",
        }
    }
}

impl fmt::Display for TrayState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// Everything the tray shows. The app builds one and passes it to
/// [`start_tray`] and then to [`Tray::show`] whenever something changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrayView {
    pub state: TrayState,
    /// The active model's id, e.g. `base.en`.
    pub model: String,
    pub model_loaded: bool,
    /// Extra text for the tooltip: the error, or e.g. "hotkey Ctrl+Alt+Space
    /// could not be registered: …".
    pub detail: Option<String>,
    pub telemetry_enabled: bool,
    pub has_last_transcript: bool,
    /// Whether dictation is on; the first menu entry says "Stop dictation"
    /// then, "Start dictation" otherwise.
    pub recording: bool,
    /// The model to download when none is installed: the menu offers it
    /// and a way to the settings window's setup.
    pub offer: Option<ModelOffer>,
    /// A model download in progress, shown in the tooltip and the menu
    /// with a way to cancel it.
    pub download: Option<TrayDownload>,
}

/// The model the tray offers to download when none is installed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelOffer {
    /// Its id, e.g. `base.en`.
    pub model: String,
    pub size_bytes: u64,
}

/// A running model download as the tray shows it. Only whole percents, so
/// that the view changes (and the tray is redrawn) at most a hundred times
/// per download.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrayDownload {
    pub model: String,
    /// How much is done; `None` while the size is not known.
    pub percent: Option<u8>,
    /// The file's size; 0 while not known.
    pub total_bytes: u64,
}

impl TrayDownload {
    /// "Downloading base.en: 45% of 148 MB".
    pub fn line(&self) -> String {
        match self.percent {
            Some(percent) => format!(
                "Downloading {}: {percent}% of {}",
                self.model,
                megabytes(self.total_bytes)
            ),
            None => format!("Downloading {}…", self.model),
        }
    }
}

/// Bytes as people read a download's size: "148 MB".
pub fn megabytes(bytes: u64) -> String {
    const MB: u64 = 1_000_000;
    format!("{} MB", (bytes + MB / 2) / MB)
}

impl TrayView {
    /// The tooltip's title.
    pub const TITLE: &'static str = "EZ Flow";

    /// The tooltip's text: the state, the active model and whether it is
    /// loaded, a running download, and the detail if there is one, one per
    /// line.
    pub fn tooltip_description(&self) -> String {
        let mut text = format!("{}\n{}", self.state.label(), self.model_line());
        if let Some(download) = &self.download {
            text.push('\n');
            text.push_str(&download.line());
        }
        if let Some(detail) = self.detail.as_deref().filter(|d| !d.is_empty()) {
            text.push('\n');
            text.push_str(detail);
        }
        text
    }

    /// "Model: base.en (loaded)", as the menu and the tooltip say it.
    pub fn model_line(&self) -> String {
        let model = if self.model.is_empty() {
            "none"
        } else {
            self.model.as_str()
        };
        let loaded = if self.model_loaded {
            "loaded"
        } else if self.offer.is_some() {
            "not installed"
        } else {
            "not loaded"
        };
        format!("Model: {model} ({loaded})")
    }

    /// The menu, top to bottom. Every platform builds its native menu from
    /// this, so the entries and labels are the same everywhere. The offer
    /// and the download come right after the model's line, only while
    /// there is one.
    pub fn menu(&self) -> Vec<MenuEntry> {
        let mut menu = self.usual_menu();
        let mut extra = Vec::new();
        if let Some(download) = &self.download {
            extra.push(MenuEntry::Label(download.line()));
            extra.push(MenuEntry::Item {
                label: "Cancel the download".to_owned(),
                enabled: true,
                action: TrayAction::CancelDownload,
            });
        } else if let Some(offer) = &self.offer {
            extra.push(MenuEntry::Item {
                label: format!("Download {} ({})", offer.model, megabytes(offer.size_bytes)),
                enabled: true,
                action: TrayAction::DownloadModel,
            });
        }
        if self.offer.is_some() {
            extra.push(MenuEntry::Item {
                label: "Set up EZ Flow…".to_owned(),
                enabled: true,
                action: TrayAction::OpenSettings,
            });
        }
        menu.splice(2..2, extra);
        menu
    }

    fn usual_menu(&self) -> Vec<MenuEntry> {
        vec![
            MenuEntry::Item {
                label: if self.recording {
                    "Stop dictation"
                } else {
                    "Start dictation"
                }
                .to_owned(),
                enabled: true,
                action: TrayAction::ToggleDictation,
            },
            MenuEntry::Label(self.model_line()),
            MenuEntry::Item {
                label: "Unload model now".to_owned(),
                enabled: self.model_loaded,
                action: TrayAction::UnloadModel,
            },
            MenuEntry::Item {
                label: "Copy last transcript".to_owned(),
                enabled: self.has_last_transcript,
                action: TrayAction::CopyLastTranscript,
            },
            MenuEntry::Item {
                label: "Settings…".to_owned(),
                enabled: true,
                action: TrayAction::OpenSettings,
            },
            MenuEntry::Check {
                label: "Send anonymous usage statistics".to_owned(),
                checked: self.telemetry_enabled,
                action: TrayAction::SetTelemetry(!self.telemetry_enabled),
            },
            MenuEntry::Separator,
            MenuEntry::Item {
                label: "Quit".to_owned(),
                enabled: true,
                action: TrayAction::Quit,
            },
        ]
    }
}

/// One entry of the tray menu, platform-neutral.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MenuEntry {
    /// A clickable entry (greyed out when not `enabled`).
    Item {
        label: String,
        enabled: bool,
        action: TrayAction,
    },
    /// A check item; clicking it reports `action` (the opposite of `checked`).
    Check {
        label: String,
        checked: bool,
        action: TrayAction,
    },
    /// Text that cannot be clicked.
    Label(String),
    Separator,
}

/// What the user asked for from the tray.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrayAction {
    /// The first menu entry, or activating (left-clicking) the icon.
    ToggleDictation,
    UnloadModel,
    OpenSettings,
    CopyLastTranscript,
    /// The usage-statistics check item: the value the user wants now.
    SetTelemetry(bool),
    /// Download the model the tray offers ([`TrayView::offer`]).
    DownloadModel,
    /// Cancel the download the tray shows ([`TrayView::download`]).
    CancelDownload,
    Quit,
}

/// Called with each [`TrayAction`], in order, on a thread of the tray's own
/// (never the caller's). It may call [`Tray::show`].
pub type ActionHandler = Box<dyn Fn(TrayAction) + Send + Sync>;

/// A tray icon: showing, or waiting for the desktop's tray to appear.
pub trait Tray: Send {
    /// Whether the icon is registered with the desktop's tray now. False
    /// while there is none (the icon appears by itself when one starts).
    fn is_registered(&self) -> bool;

    /// Shows `view`: icon, tooltip and menu. Returns once the change is
    /// published (a few D-Bus signals on Linux); it does not wait for the
    /// host to redraw.
    fn show(&self, view: &TrayView);

    /// Removes the icon and waits until it is gone from the bus. No action
    /// handler call starts after this returns (one already running, such as
    /// the one calling this on Quit, runs to its end). Dropping the tray
    /// removes it too, without waiting.
    fn shutdown(self: Box<Self>);
}

/// Why the tray could not be shown. Each is a reason to log once and run on
/// without a tray, not to stop the app.
#[derive(Debug, thiserror::Error)]
pub enum TrayError {
    /// There is no D-Bus session bus to talk to (none configured, or it
    /// could not be reached).
    #[error("no D-Bus session bus: {0}")]
    NoSessionBus(String),
    /// The session bus has no system tray: no StatusNotifierWatcher, or one
    /// that did not accept the icon (the desktop shows no tray icons).
    #[error("no system tray on the session bus: {0}")]
    NoHost(String),
    /// Any other D-Bus failure while registering the icon.
    #[error("tray D-Bus error: {0}")]
    Dbus(String),
    /// The tray's thread could not be started.
    #[error("could not start the tray's thread: {0}")]
    Thread(#[source] std::io::Error),
    /// This platform has no tray implementation yet.
    #[error("no tray implementation for this platform")]
    Unsupported,
}

/// Shows the tray icon with `view` and reports menu clicks and activation
/// to `on_action`. Returns once the icon is registered with the desktop's
/// tray (a few D-Bus round trips: milliseconds), or at once when there is no
/// tray yet: the icon is then registered when one appears (the desktop
/// finishes starting, or the user enables its tray), and again when it
/// restarts, without polling (a D-Bus name-owner signal). It fails with
/// [`TrayError::NoSessionBus`] when there is no session bus at all.
pub fn start_tray(view: TrayView, on_action: ActionHandler) -> Result<Box<dyn Tray>, TrayError> {
    #[cfg(target_os = "linux")]
    {
        self::ksni::start(view, on_action)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (view, on_action);
        Err(TrayError::Unsupported)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> TrayView {
        TrayView {
            state: TrayState::Idle,
            model: "base.en".into(),
            model_loaded: false,
            detail: None,
            telemetry_enabled: false,
            has_last_transcript: false,
            recording: false,
            offer: None,
            download: None,
        }
    }

    #[test]
    fn with_no_model_the_menu_offers_one_and_then_shows_its_download() {
        let mut v = view();
        v.state = TrayState::NoModel;
        v.offer = Some(ModelOffer {
            model: "base.en".into(),
            size_bytes: 147_964_211,
        });
        assert_eq!(
            v.tooltip_description(),
            "No model — set up…\nModel: base.en (not installed)"
        );
        let menu = v.menu();
        assert_eq!(
            menu[2],
            MenuEntry::Item {
                label: "Download base.en (148 MB)".into(),
                enabled: true,
                action: TrayAction::DownloadModel
            }
        );
        assert_eq!(
            menu[3],
            MenuEntry::Item {
                label: "Set up EZ Flow…".into(),
                enabled: true,
                action: TrayAction::OpenSettings
            }
        );

        v.download = Some(TrayDownload {
            model: "base.en".into(),
            percent: Some(45),
            total_bytes: 147_964_211,
        });
        v.detail = Some("the last download failed".into());
        assert_eq!(
            v.tooltip_description(),
            "No model — set up…\nModel: base.en (not installed)\n\
             Downloading base.en: 45% of 148 MB\nthe last download failed"
        );
        let menu = v.menu();
        assert_eq!(
            menu[2],
            MenuEntry::Label("Downloading base.en: 45% of 148 MB".into())
        );
        assert!(matches!(
            &menu[3],
            MenuEntry::Item {
                action: TrayAction::CancelDownload,
                enabled: true,
                ..
            }
        ));
        assert!(matches!(&menu[4], MenuEntry::Item { label, .. } if label == "Set up EZ Flow…"));
        assert!(
            !menu.iter().any(|e| matches!(
                e,
                MenuEntry::Item {
                    action: TrayAction::DownloadModel,
                    ..
                }
            )),
            "no second download while one runs"
        );
    }

    #[test]
    fn tooltip_names_state_model_and_detail() {
        let mut v = view();
        assert_eq!(
            v.tooltip_description(),
            "Ready\nModel: base.en (not loaded)"
        );
        v.state = TrayState::Error;
        v.model_loaded = true;
        v.detail = Some("hotkey Ctrl+Alt+Space could not be registered: taken".into());
        assert_eq!(
            v.tooltip_description(),
            "Error\nModel: base.en (loaded)\nhotkey Ctrl+Alt+Space could not be registered: taken"
        );
    }

    #[test]
    fn menu_follows_the_view() {
        let mut v = view();
        let menu = v.menu();
        assert_eq!(
            menu[0],
            MenuEntry::Item {
                label: "Start dictation".into(),
                enabled: true,
                action: TrayAction::ToggleDictation
            }
        );
        assert!(matches!(&menu[2], MenuEntry::Item { enabled: false, .. }));
        assert!(matches!(&menu[3], MenuEntry::Item { enabled: false, .. }));
        assert!(matches!(
            &menu[5],
            MenuEntry::Check {
                checked: false,
                action: TrayAction::SetTelemetry(true),
                ..
            }
        ));

        v.recording = true;
        v.model_loaded = true;
        v.has_last_transcript = true;
        v.telemetry_enabled = true;
        let menu = v.menu();
        assert!(matches!(&menu[0], MenuEntry::Item { label, .. } if label == "Stop dictation"));
        assert_eq!(menu[1], MenuEntry::Label("Model: base.en (loaded)".into()));
        assert!(matches!(&menu[2], MenuEntry::Item { enabled: true, .. }));
        assert!(matches!(&menu[3], MenuEntry::Item { enabled: true, .. }));
        assert!(matches!(
            &menu[5],
            MenuEntry::Check {
                checked: true,
                action: TrayAction::SetTelemetry(false),
                ..
            }
        ));
        assert_eq!(menu[6], MenuEntry::Separator);
    }
}
