//! What the loop needs of the desktop beyond the tray (which is
//! `ezflow_desktop::tray::Tray` as it is): registering the hotkey, making a
//! text inserter, the clipboard, desktop notifications and opening the
//! settings file. The real desktop is `ezflow_desktop` (`wiring.rs`); the
//! unit tests use fakes.
//!
//! These are interfaces, and [`Notification`], the one way the loop shows
//! a notification; no rule of the loop lives here.

use ezflow_desktop::hotkey::{HotkeyError, HotkeyListener, Shortcut};
use ezflow_desktop::insert::{InsertError, TextInserter};
use ezflow_desktop::notify::{Notifier, NotifyError};

/// Makes the desktop parts the loop asks for when it needs them.
pub trait Desktop {
    /// Registers `shortcut` globally; its presses and releases arrive as
    /// `AppEvent::Hotkey`.
    fn register_hotkey(&self, shortcut: &Shortcut) -> Result<Box<dyn HotkeyListener>, HotkeyError>;
    /// A new text inserter for the focused window (on Wayland it opens the
    /// portal session the user consents to, so the loop keeps it).
    fn text_inserter(&self) -> Result<Box<dyn TextInserter>, InsertError>;
    /// Puts `text` on the clipboard.
    fn copy_to_clipboard(&self, text: &str) -> Result<(), InsertError>;
    /// A connection to the desktop's notification service.
    fn notifier(&self) -> Result<Box<dyn Notices>, NotifyError>;
    /// Opens the settings file in the user's editor.
    fn open_settings_file(&self);
}

/// Desktop notifications, as the load notice uses them.
pub trait Notices {
    /// Shows a notification (replacing `replaces`, if given); returns its id.
    fn notify(&self, summary: &str, body: &str, replaces: Option<u32>) -> Result<u32, NotifyError>;
    fn close(&self, id: u32);
}

impl Notices for Notifier {
    fn notify(&self, summary: &str, body: &str, replaces: Option<u32>) -> Result<u32, NotifyError> {
        Notifier::notify(self, summary, body, replaces)
    }

    fn close(&self, id: u32) {
        Notifier::close(self, id);
    }
}

/// One notification the app shows, replaces and closes. The connection to
/// the desktop's notification service is made the first time it is shown,
/// then kept; without one, the notification is only logged as missing.
#[derive(Default)]
pub struct Notification {
    notices: Option<Box<dyn Notices>>,
    /// The notification on screen, to replace or close it.
    shown: Option<u32>,
}

impl Notification {
    /// Shows `body`, replacing this notification if it is on screen.
    pub fn show(&mut self, body: &str, desktop: &dyn Desktop) {
        if self.notices.is_none() {
            match desktop.notifier() {
                Ok(notices) => self.notices = Some(notices),
                Err(e) => {
                    tracing::info!("no desktop notifications: {e}");
                    return;
                }
            }
        }
        let Some(notices) = &self.notices else { return };
        match notices.notify("EZ Flow", body, self.shown) {
            Ok(id) => self.shown = Some(id),
            Err(e) => tracing::info!("could not show a notification: {e}"),
        }
    }

    /// Closes it, if it is on screen.
    pub fn close(&mut self) {
        if let (Some(id), Some(notices)) = (self.shown.take(), &self.notices) {
            notices.close(id);
        }
    }
}
