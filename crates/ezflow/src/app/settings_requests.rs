//! The settings window's settings requests: `settings`, `settings-check`,
//! `settings-set`, `autostart-set` and `telemetry-set`.
//!
//! The rules: values are judged by the settings file's own field table
//! (`ezflow_config`), and the hotkey also by the desktop's parser; a set is
//! all or nothing; a new hotkey is registered before anything is written,
//! so one taken by another program is refused with the old one kept and the
//! file unchanged; the file is written through the one save path, then
//! applied exactly as `reload-settings` applies it. The app is the only
//! writer of `settings.toml`.

use std::collections::BTreeMap;

use ezflow_config::settings::{fields, toml_to_json, Settings};
use ezflow_control::{Response, SettingField, SettingsReport};
use ezflow_desktop::hotkey::Shortcut;
use serde_json::{Map, Value};

use super::event_loop::App;

impl App {
    /// Every setting, what each accepts, whether EZ Flow starts at login.
    pub(super) fn settings_report(&self) -> SettingsReport {
        report(
            &self.settings,
            self.parts.autostart.enabled(),
            &self.parts.settings_file.path(),
        )
    }

    /// The settings as `values` would make them, or why not.
    pub(super) fn settings_check(&self, values: &Map<String, Value>) -> Response {
        match checked(&self.settings, values) {
            Ok(new) => Response::Settings(report(
                &new,
                self.parts.autostart.enabled(),
                &self.parts.settings_file.path(),
            )),
            Err(errors) => Response::field_errors(errors),
        }
    }

    /// Checks every value; if all are accepted, saves and applies them.
    pub(super) fn settings_set(&mut self, values: &Map<String, Value>) -> Response {
        match checked(&self.settings, values) {
            Ok(new) => self.save_and_apply(new),
            Err(errors) => Response::field_errors(errors),
        }
    }

    /// Turns telemetry on or off through the settings (off deletes what
    /// was queued: telemetry restarts without consent).
    pub(super) fn telemetry_set(&mut self, enabled: bool) -> Response {
        let new = Settings {
            telemetry: enabled,
            ..self.settings.clone()
        };
        match self.save_and_apply(new) {
            Response::Settings(_) => Response::Telemetry(self.parts.telemetry.report()),
            refused => refused,
        }
    }

    pub(super) fn autostart_set(&mut self, enabled: bool) -> Response {
        match self.parts.autostart.set(enabled) {
            Ok(()) => {
                self.parts
                    .publisher
                    .publish(&ezflow_control::Event::Settings);
                Response::Settings(self.settings_report())
            }
            Err(e) => Response::error(e),
        }
    }

    /// Writes `new` (already checked) and applies it as `reload-settings`
    /// does. A changed hotkey is registered first; if it cannot be, nothing
    /// is written.
    pub(super) fn save_and_apply(&mut self, new: Settings) -> Response {
        let new_hotkey = new.hotkey != self.settings.hotkey && !self.hotkey.is(&new.hotkey);
        if new_hotkey {
            if let Err(why) = self.hotkey.replace(&new.hotkey, &*self.parts.desktop) {
                return Response::field_errors(BTreeMap::from([("hotkey".to_owned(), why)]));
            }
        }
        if let Err(e) = self.parts.settings_file.save(&new) {
            if new_hotkey {
                // Back to the hotkey of the settings still in force.
                self.register_hotkey();
            }
            return Response::error(format!("the settings were not saved: {e}"));
        }
        self.reload_settings();
        Response::Settings(self.settings_report())
    }
}

/// `current` with `values` applied, judged by the file's field table and,
/// for the hotkey, by the parser the app registers it with.
pub fn checked(
    current: &Settings,
    values: &Map<String, Value>,
) -> Result<Settings, BTreeMap<String, String>> {
    let mut errors = BTreeMap::new();
    let new = match current.with_json_values(values) {
        Ok(new) => Some(new),
        Err(e) => {
            errors = e;
            None
        }
    };
    if let Some(Value::String(hotkey)) = values.get("hotkey") {
        if !errors.contains_key("hotkey") {
            if let Err(e) = hotkey.parse::<Shortcut>() {
                let accepts = fields()
                    .into_iter()
                    .find(|f| f.key == "hotkey")
                    .map_or("", |f| f.accepts);
                errors.insert(
                    "hotkey".to_owned(),
                    format!("{hotkey:?}: {e}; accepted: {accepts}"),
                );
            }
        }
    }
    match new {
        Some(new) if errors.is_empty() => Ok(new),
        _ => Err(errors),
    }
}

/// The `settings` answer for `settings`.
pub fn report(settings: &Settings, start_at_login: bool, path: &str) -> SettingsReport {
    SettingsReport {
        values: settings.values_json(),
        fields: fields()
            .into_iter()
            .map(|f| SettingField {
                key: f.key.to_owned(),
                accepts: f.accepts.to_owned(),
                help: f.help,
                default: toml_to_json(&f.default),
            })
            .collect(),
        start_at_login,
        path: path.to_owned(),
    }
}
