//! A dictation with no model installed: instead of a load that fails with
//! "model file … does not exist", the tray says "No model — set up…" and
//! offers the recommended catalog model, a desktop notification says what
//! to do, and the download (the library's one spawn path) shows its
//! progress in the tray. A download that fails says why; one that ends
//! well makes the model usable for the next dictation.
//!
//! The rules, in the loop's methods below: the store is looked at when the
//! app starts, when the `model` setting changes, when the library says the
//! models changed, and at every start of a dictation (a model copied in by
//! hand counts). With no model the microphone stays closed: the start is
//! answered with what to do, the notification says it, and the settings
//! window opens on its setup (unless `EZFLOW_NO_FIRST_RUN=1`). A download
//! or an import that ends well while the setting names nothing installed
//! becomes the `model` setting (written through the settings' one save
//! path), so the next dictation works; the model is loaded at that
//! dictation, as always. A download that fails is the last error (tray,
//! `status`, log) and a notification, unless someone cancelled it.
//! [`ModelSetup`] keeps what the tray shows (the offer, the running
//! download) and the notification; it never touches the store or the
//! settings itself.

use std::collections::HashSet;

use ezflow_config::settings::{HotkeyMode, Settings};
use ezflow_control::{DownloadEvent, Event, FinishedEvent, Response};
use ezflow_core::catalog;
use ezflow_desktop::tray::{megabytes, ModelOffer, TrayDownload};

use super::desktop::{Desktop, Notification};
use super::event_loop::App;

/// How a download ended, as the setup sees it.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    Installed,
    /// Someone asked for the cancel: no failure to announce.
    Cancelled,
    /// Why, as the library said it.
    Failed(String),
}

#[derive(Default)]
pub struct ModelSetup {
    /// The model offered while the `model` setting names nothing installed;
    /// `None` while it names an installed model.
    offer: Option<ModelOffer>,
    /// The download the tray shows: the last one to report progress.
    download: Option<TrayDownload>,
    /// Downloads someone asked to cancel, until they end.
    cancelling: HashSet<String>,
    /// The one notification of the setup: no model, a failed download, the
    /// model ready; each replaces the one before.
    notification: Notification,
}

impl ModelSetup {
    /// The model offered, while no usable model is installed.
    pub fn offer(&self) -> Option<&ModelOffer> {
        self.offer.as_ref()
    }

    /// Whether the `model` setting names nothing installed.
    pub fn is_missing(&self) -> bool {
        self.offer.is_some()
    }

    pub fn download(&self) -> Option<&TrayDownload> {
        self.download.as_ref()
    }

    /// Follows the store: `installed` says whether the `model` setting
    /// names an installed model; `offer` is asked for only when it does
    /// not.
    pub fn update(&mut self, installed: bool, offer: impl FnOnce() -> ModelOffer) {
        let was_missing = self.is_missing();
        self.offer = if installed { None } else { Some(offer()) };
        match (was_missing, self.is_missing()) {
            (false, true) => tracing::info!(
                offer = self.offer.as_ref().map(|o| o.model.as_str()),
                "no model is installed for the model setting; the tray offers one"
            ),
            (true, false) => tracing::info!("the model setting names an installed model again"),
            _ => {}
        }
    }

    /// A download's progress: shown in whole percents.
    pub fn progress(&mut self, event: &DownloadEvent) {
        let percent =
            (event.total > 0).then(|| (event.done.min(event.total) * 100 / event.total) as u8);
        self.download = Some(TrayDownload {
            model: event.id.clone(),
            percent,
            total_bytes: event.total,
        });
    }

    /// Someone asked to cancel the download of `id`.
    pub fn cancelling(&mut self, id: &str) {
        self.cancelling.insert(id.to_owned());
    }

    /// A download ended; the tray stops showing it.
    pub fn finished(&mut self, event: &FinishedEvent) -> Ended {
        if self.download.as_ref().is_some_and(|d| d.model == event.id) {
            self.download = None;
        }
        let cancelled = self.cancelling.remove(&event.id);
        match &event.error {
            None => Ended::Installed,
            Some(_) if cancelled => Ended::Cancelled,
            Some(why) => Ended::Failed(why.clone()),
        }
    }

    /// A dictation was asked for with no model: says so, and what to do.
    pub fn tell_no_model(&mut self, desktop: &dyn Desktop) {
        let Some(offer) = &self.offer else { return };
        let body = format!(
            "No speech model is installed yet, so there is nothing to transcribe with. \
             Download {} ({}) from the EZ Flow tray menu, or choose a model in the setup.",
            offer.model,
            megabytes(offer.size_bytes)
        );
        self.notification.show(&body, desktop);
    }

    /// A download failed: says why, and that nothing was installed.
    pub fn tell_failed(&mut self, why: &str, desktop: &dyn Desktop) {
        let again = if self.is_missing() {
            " Nothing was installed; try again from the EZ Flow tray menu."
        } else {
            ""
        };
        self.notification.show(&format!("{why}.{again}"), desktop);
    }

    /// The model `id` is installed and in use: the next dictation works.
    pub fn tell_ready(&mut self, id: &str, hotkey: &str, mode: HotkeyMode, desktop: &dyn Desktop) {
        let how = match mode {
            HotkeyMode::PushToTalk => format!("hold {hotkey} and speak"),
            HotkeyMode::Toggle => format!("press {hotkey}, speak, and press it again"),
        };
        self.notification.show(
            &format!("The {id} model is installed. To dictate, {how}."),
            desktop,
        );
    }
}

impl App {
    /// Looks at the store: whether the `model` setting names an installed
    /// model, and what to offer when it does not.
    pub(super) fn check_model(&mut self) {
        let installed = self.parts.library.is_installed(&self.settings.model);
        let english = self.speaks_english();
        let library = &self.parts.library;
        self.setup.update(installed, || {
            let model = library.recommended(english);
            let size_bytes = catalog::find(&model).map_or(0, |entry| entry.size_bytes);
            ModelOffer { model, size_bytes }
        });
    }

    /// Whether a dictation can start: the store, looked at now.
    pub(super) fn model_installed_now(&mut self) -> bool {
        self.check_model();
        !self.setup.is_missing()
    }

    /// A dictation was asked for with no model: the notification, the
    /// window's setup, and the answer saying what to do.
    pub(super) fn no_model(&mut self) -> Response {
        let offered = self
            .setup
            .offer()
            .map(|offer| offer.model.clone())
            .unwrap_or_default();
        tracing::info!(
            model = %self.settings.model,
            "a dictation with no model installed; offering {offered}"
        );
        self.setup.tell_no_model(&*self.parts.desktop);
        if self.first_run_window {
            if let Err(e) = self.open_settings() {
                tracing::warn!("{e}");
            }
        }
        Response::error(format!(
            "no speech model is installed (the model setting names {}, which is not there); \
             download {offered} from the EZ Flow tray menu or the settings window, \
             or run `ezflow models download {offered}`",
            self.settings.model
        ))
    }

    /// The tray's "Download …": the offered model, through the library's
    /// one download path.
    pub(super) fn download_offered(&mut self) {
        let Some(offer) = self.setup.offer() else {
            return;
        };
        let id = offer.model.clone();
        match self.parts.library.download(&id) {
            Ok(()) => {
                tracing::info!(%id, "downloading the model the tray offered");
                self.parts.publisher.publish(&Event::Models);
            }
            Err(e) => {
                let why = format!("the download of {id} did not start: {e}");
                self.setup.tell_failed(&why, &*self.parts.desktop);
                self.last_error.set(why);
            }
        }
    }

    /// The tray's "Cancel the download".
    pub(super) fn cancel_shown_download(&mut self) {
        let Some(download) = self.setup.download() else {
            return;
        };
        let id = download.model.clone();
        match self.parts.library.cancel(&id) {
            Ok(()) => self.setup.cancelling(&id),
            Err(e) => tracing::info!("{e}"),
        }
    }

    /// What the library said: progress for the tray, a download's or an
    /// import's end, the store changed.
    pub(super) fn library_event(&mut self, event: Event) {
        match event {
            Event::Download(progress) => self.setup.progress(&progress),
            Event::DownloadFinished(finished) => match self.setup.finished(&finished) {
                Ended::Installed => self.model_arrived(&finished.id),
                Ended::Cancelled => tracing::info!(id = %finished.id, "download cancelled"),
                Ended::Failed(why) => {
                    self.setup.tell_failed(&why, &*self.parts.desktop);
                    self.last_error.set(why);
                }
            },
            Event::ImportFinished(imported) if imported.error.is_none() => {
                self.model_arrived(&imported.id);
            }
            Event::Models => self.check_model(),
            _ => {}
        }
    }

    /// The model `id` was installed. While the `model` setting names
    /// nothing installed, it becomes the setting; either way, once the
    /// setting names an installed model the user is told the next
    /// dictation works.
    fn model_arrived(&mut self, id: &str) {
        let was_missing = self.setup.is_missing();
        self.check_model();
        if !was_missing {
            return;
        }
        if self.setup.is_missing() {
            tracing::info!(%id, "no model was in use; using the one just installed");
            let new = Settings {
                model: id.to_owned(),
                ..self.settings.clone()
            };
            if let Some(why) = self.save_and_apply(new).error_text() {
                self.last_error.set(format!(
                    "{id} is installed but could not be made the model: {why}"
                ));
                return;
            }
        }
        if !self.setup.is_missing() {
            // A failed download before this one is over.
            self.last_error.clear();
            let (hotkey, mode) = (self.settings.hotkey.clone(), self.settings.hotkey_mode);
            self.setup
                .tell_ready(&self.settings.model, &hotkey, mode, &*self.parts.desktop);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer() -> ModelOffer {
        ModelOffer {
            model: "base.en".into(),
            size_bytes: 147_964_211,
        }
    }

    #[test]
    fn progress_is_in_whole_percents_and_ends_with_its_download() {
        let mut setup = ModelSetup::default();
        setup.update(false, offer);
        assert!(setup.is_missing());
        let event = |done, total| DownloadEvent {
            id: "base.en".into(),
            done,
            total,
            bytes_per_sec: 1,
        };
        setup.progress(&event(1_000, 0));
        assert_eq!(setup.download().unwrap().percent, None);
        setup.progress(&event(73_982_105, 147_964_211));
        assert_eq!(setup.download().unwrap().percent, Some(49));
        setup.progress(&event(147_964_211, 147_964_211));
        assert_eq!(setup.download().unwrap().percent, Some(100));
        let other = FinishedEvent {
            id: "tiny.en".into(),
            error: None,
        };
        assert_eq!(setup.finished(&other), Ended::Installed);
        assert!(setup.download().is_some(), "another model's end");
        let failed = FinishedEvent {
            id: "base.en".into(),
            error: Some("downloading model 'base.en' failed: HTTP 404".into()),
        };
        assert_eq!(
            setup.finished(&failed),
            Ended::Failed("downloading model 'base.en' failed: HTTP 404".into())
        );
        assert!(setup.download().is_none());
        setup.cancelling("base.en");
        assert_eq!(setup.finished(&failed), Ended::Cancelled);
        assert_eq!(
            setup.finished(&failed),
            Ended::Failed("downloading model 'base.en' failed: HTTP 404".into()),
            "a cancel is forgotten once its download ended"
        );
        setup.update(true, || unreachable!("no offer while installed"));
        assert!(!setup.is_missing());
    }
}
