//! A user's desktop session for the real `ezflow` binary: a private Xvfb,
//! a private D-Bus session bus and an isolated home, and the command that
//! runs the binary inside them (no Wayland), so nothing of the machine's own
//! desktop reaches a test or a measurement. Everything in it is stopped and
//! removed when it drops. Used by the app's end-to-end tests and the
//! benchmark; the tray host (the panel's watcher) and the microphone are the
//! caller's to add.

use std::ffi::OsStr;
use std::process::Command;

use crate::dbus::DbusSession;
use crate::home::IsolatedHome;
use crate::xvfb::Xvfb;

pub struct DesktopSession {
    // Field order is drop order: the servers before the home they may
    // write into.
    pub xvfb: Xvfb,
    pub bus: DbusSession,
    pub home: IsolatedHome,
}

impl DesktopSession {
    /// Starts Xvfb and dbus-daemon and makes the home.
    pub fn start() -> DesktopSession {
        DesktopSession {
            xvfb: Xvfb::start(),
            bus: DbusSession::start(),
            home: IsolatedHome::new(),
        }
    }

    /// The X display, e.g. `:3`.
    pub fn display(&self) -> &str {
        &self.xvfb.display
    }

    /// [`IsolatedHome::command`] on this session's X display and bus.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut command = self.home.command(program);
        command
            .env("DISPLAY", &self.xvfb.display)
            .env("DBUS_SESSION_BUS_ADDRESS", &self.bus.address)
            .env_remove("WAYLAND_DISPLAY");
        command
    }
}
