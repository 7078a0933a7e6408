//! The global hotkey's registration: the listener while it works, and why
//! there is none when it does not (an unparsable setting, a shortcut taken
//! by another application, a portal session the desktop closed), which the
//! tray and `status` show.
//!
//! It must not decide what a press or release does (`dictation.rs`) nor
//! when to try again (the loop, on `reload-settings` or a changed hotkey).

use ezflow_desktop::hotkey::{HotkeyListener, Shortcut};

use super::desktop::Desktop;

#[derive(Default)]
pub struct Hotkey {
    listener: Option<Box<dyn HotkeyListener>>,
    problem: Option<String>,
}

impl Hotkey {
    /// The registered shortcut, if one works.
    pub fn shortcut(&self) -> Option<&Shortcut> {
        self.listener.as_ref().map(|l| l.shortcut())
    }

    pub fn problem(&self) -> Option<&str> {
        self.problem.as_deref()
    }

    pub fn is_registered(&self) -> bool {
        self.listener.is_some()
    }

    /// Registers the `hotkey` setting, releasing the current one first.
    pub fn register(&mut self, hotkey: &str, desktop: &dyn Desktop) {
        self.release();
        self.problem = None;
        let shortcut: Shortcut = match hotkey.parse() {
            Ok(shortcut) => shortcut,
            Err(e) => return self.set_problem(format!("hotkey {hotkey:?}: {e}")),
        };
        match desktop.register_hotkey(&shortcut) {
            Ok(listener) => self.listener = Some(listener),
            Err(e) => self.set_problem(format!("hotkey {shortcut} not available: {e}")),
        }
    }

    /// Whether the registered shortcut is the one `hotkey` names.
    pub fn is(&self, hotkey: &str) -> bool {
        match (self.shortcut(), hotkey.parse::<Shortcut>()) {
            (Some(registered), Ok(wanted)) => *registered == wanted,
            _ => false,
        }
    }

    /// Registers `hotkey` in place of the current one, which is released
    /// only once the new one works: if it cannot be registered (taken by
    /// another program), the current one stays and `Err` says why, in one
    /// line fit to show beside the setting.
    pub fn replace(&mut self, hotkey: &str, desktop: &dyn Desktop) -> Result<(), String> {
        let shortcut: Shortcut = hotkey.parse().map_err(|e| format!("{hotkey:?}: {e}"))?;
        let listener = desktop
            .register_hotkey(&shortcut)
            .map_err(|e| format!("{shortcut} cannot be used: {e}"))?;
        self.release();
        self.problem = None;
        self.listener = Some(listener);
        Ok(())
    }

    /// The desktop ended the registration (the portal session closed).
    pub fn lost(&mut self, hotkey: &str, reason: &str) {
        // Already gone on the desktop's side: dropping is all that is left.
        self.listener = None;
        self.set_problem(format!(
            "the hotkey {hotkey} stopped working: {reason}; run `ezflow reload-settings` \
             or restart EZ Flow to register it again"
        ));
    }

    /// Frees the shortcut for other applications.
    pub fn release(&mut self) {
        if let Some(listener) = self.listener.take() {
            listener.stop();
        }
    }

    fn set_problem(&mut self, problem: String) {
        tracing::warn!("{problem}");
        self.problem = Some(problem);
    }
}
