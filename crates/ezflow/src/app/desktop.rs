//! What the loop needs of the desktop beyond the tray (which is
//! `ezflow_desktop::tray::Tray` as it is): registering the hotkey, making a
//! text inserter, the clipboard, desktop notifications and opening the
//! settings file. The real desktop is `ezflow_desktop` (`wiring.rs`); the
//! unit tests use fakes.
//!
//! These are interfaces only: no rule of the loop lives here.

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
