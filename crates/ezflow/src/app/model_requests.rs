//! The settings window's model requests: `models`, `model-download`,
//! `model-download-url`, `model-cancel`, `model-remove`, `model-activate`,
//! `model-import`.
//!
//! The rules: a model from a URL needs a name that is neither a catalog
//! model nor an installed one, an http(s) URL and the file's SHA-256, each
//! refused beside its field (`library::check_url_model`), and nothing
//! starts unless all three are right; the active model (the `model`
//! setting) cannot be removed;
//! only an installed model can be activated, which writes `model` through
//! the settings' one save path and starts loading it (the tray shows the
//! load as for any other). Downloads and imports run in the library
//! (`library.rs`, `downloads.rs`), which publishes their progress.

use std::collections::BTreeMap;

use ezflow_config::settings::Settings;
use ezflow_control::{Event, ImportQuantize, Response};

use super::event_loop::App;
use super::library;

impl App {
    /// Whether the speech is English, as far as the `language` setting says
    /// (auto counts as English): the recommendation's `.en` or not.
    pub(super) fn speaks_english(&self) -> bool {
        let language = self.settings.language;
        language.is_auto() || language.code() == Some("en")
    }

    pub(super) fn models_report(&self) -> Response {
        let loaded = self.parts.transcriber.model_load().is_loaded();
        let english = self.speaks_english();
        match self
            .parts
            .library
            .report(&self.settings.model, loaded, english)
        {
            Ok(report) => Response::Models(report),
            Err(e) => Response::error(e),
        }
    }

    pub(super) fn model_download(&mut self, id: &str) -> Response {
        match self.parts.library.download(id) {
            Ok(()) => self.models_changed(),
            Err(e) => Response::error(e),
        }
    }

    pub(super) fn model_download_url(&mut self, name: &str, url: &str, sha256: &str) -> Response {
        let library = &self.parts.library;
        let model = match library::check_url_model(name, url, sha256, |id| library.is_installed(id))
        {
            Ok(model) => model,
            Err(field_errors) => return not_started(field_errors),
        };
        match self.parts.library.download_url(&model) {
            Ok(()) => self.models_changed(),
            Err(e) => Response::error(e),
        }
    }

    pub(super) fn model_cancel(&mut self, id: &str) -> Response {
        match self.parts.library.cancel(id) {
            Ok(()) => {
                // Its end is no failure to announce.
                self.setup.cancelling(id);
                self.models_report()
            }
            Err(e) => Response::error(e),
        }
    }

    pub(super) fn model_remove(&mut self, id: &str) -> Response {
        if id == self.settings.model {
            return Response::error(format!(
                "{id} is the model in use; activate another model before removing it"
            ));
        }
        match self.parts.library.remove(id) {
            Ok(()) => self.models_changed(),
            Err(e) => Response::error(e),
        }
    }

    pub(super) fn model_activate(&mut self, id: &str) -> Response {
        if !self.parts.library.is_installed(id) {
            return Response::error(format!(
                "model {id} is not installed; download or import it first"
            ));
        }
        if id != self.settings.model {
            let new = Settings {
                model: id.to_owned(),
                ..self.settings.clone()
            };
            if let refused @ (Response::Error { .. } | Response::FieldErrors { .. }) =
                self.save_and_apply(new)
            {
                return refused;
            }
        }
        if !self.parts.transcriber.model_load().is_loaded() {
            self.parts.transcriber.preload();
        }
        self.models_changed()
    }

    pub(super) fn model_import(
        &mut self,
        path: &str,
        quantize: Option<ImportQuantize>,
    ) -> Response {
        match self.parts.library.import(path, quantize) {
            Ok(()) => self.models_report(),
            Err(e) => Response::error(e),
        }
    }

    /// Tells the watchers the models changed, and answers with them.
    fn models_changed(&mut self) -> Response {
        self.parts.publisher.publish(&Event::Models);
        self.models_report()
    }
}

/// The refusal of a `model-download-url`: one line per field, and one line
/// for all of them that says nothing was started.
fn not_started(field_errors: BTreeMap<String, String>) -> Response {
    let all: Vec<String> = field_errors
        .iter()
        .map(|(field, why)| format!("{field}: {why}"))
        .collect();
    Response::FieldErrors {
        error: format!("download not started: {}", all.join("; ")),
        field_errors,
    }
}
