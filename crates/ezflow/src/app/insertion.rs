//! Putting a transcript into the focused window: the text inserter, made at
//! the first dictation and kept (on Wayland it holds the portal session the
//! user consented to) until an insertion fails; the clipboard as the
//! fallback; the last transcript, for the tray's "copy" entry; and telling
//! the user when a dictation heard no speech, rather than typing nothing
//! without a word.
//!
//! It must not decide when to insert (`dictation.rs`) or with which method
//! beyond what the settings say.

use ezflow_config::settings;
use ezflow_desktop::insert::{InsertMethod, TextInserter};

use super::desktop::{Desktop, Notification};
use super::problem::LastError;

/// What the "no speech" notification says.
pub const NO_SPEECH: &str = "No speech heard, so nothing was typed. Check that the right \
     microphone is chosen (`ezflow microphones`) and start speaking once the hotkey is down.";

#[derive(Default)]
pub struct TextOutput {
    inserter: Option<Box<dyn TextInserter>>,
    last_transcript: Option<String>,
    /// "No speech heard", replaced by the next one.
    no_speech: Notification,
}

impl TextOutput {
    pub fn has_last_transcript(&self) -> bool {
        self.last_transcript.is_some()
    }

    /// Puts `text` into the focused window. An empty transcript inserts
    /// nothing and says so in a notification; a failed insertion leaves the
    /// text on the clipboard.
    pub fn insert(
        &mut self,
        text: &str,
        method: settings::InsertMethod,
        desktop: &dyn Desktop,
        problem: &mut LastError,
    ) {
        if text.trim().is_empty() {
            self.tell_no_speech(desktop);
            return;
        }
        let _span = tracing::info_span!("insert", chars = text.len()).entered();
        self.last_transcript = Some(text.to_owned());
        let method = match method {
            settings::InsertMethod::Paste => InsertMethod::Paste,
            settings::InsertMethod::Type => InsertMethod::Type,
        };
        let inserter = match self.inserter.take() {
            Some(inserter) => Ok(inserter),
            None => desktop.text_inserter(),
        };
        let inserted = inserter.and_then(|inserter| {
            let inserted = inserter.insert(text, method);
            // A broken X connection or a portal session the desktop ended:
            // the next dictation starts afresh.
            if inserted.is_ok() {
                self.inserter = Some(inserter);
            }
            inserted
        });
        match inserted {
            Ok(done) => tracing::info!(
                method = ?done.method,
                clipboard_restored = done.clipboard_restored,
                "text inserted"
            ),
            Err(e) => {
                let kept = desktop
                    .copy_to_clipboard(text)
                    .map(|()| " The text is on the clipboard.")
                    .unwrap_or("");
                problem.set(format!("could not insert the text: {e}.{kept}"));
            }
        }
    }

    fn tell_no_speech(&mut self, desktop: &dyn Desktop) {
        tracing::info!("no speech heard; nothing inserted");
        self.no_speech.show(NO_SPEECH, desktop);
    }

    /// The tray's "copy the last transcript".
    pub fn copy_last_transcript(&self, desktop: &dyn Desktop, problem: &mut LastError) {
        if let Some(text) = &self.last_transcript {
            if let Err(e) = desktop.copy_to_clipboard(text) {
                problem.set(format!("could not copy the last transcript: {e}"));
            }
        }
    }
}
