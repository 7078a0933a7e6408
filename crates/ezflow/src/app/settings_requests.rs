//! The settings window's settings requests: `settings`, `settings-check`,
//! `settings-set`, `autostart-set` and `telemetry-set`; and keeping the
//! autostart entry in step with the `autostart` setting.
//!
//! The rules: values are judged by the settings file's own field table
//! (`ezflow_config`), and the hotkey also by the desktop's parser; a set is
//! all or nothing; a new hotkey is registered, and a changed `autostart`
//! entry written or removed, before anything is written, so a hotkey taken
//! by another program or an entry that cannot be written is refused with
//! the old state kept and the file unchanged; the file is written through
//! the one save path, then applied exactly as `reload-settings` applies it.
//! `autostart-set` is `settings-set` of `autostart`. The app is the only
//! writer of `settings.toml`.
//!
//! The entry follows the setting at start and after every reload (the file
//! watched, `reload-settings`, a set), so one removed by hand or naming
//! another binary is put right; a failure there is one warning in the log
//! and never touches the settings.

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
    /// Naming `autostart` brings the entry in step even when the setting
    /// does not change (an entry removed by hand is written again).
    pub(super) fn settings_set(&mut self, values: &Map<String, Value>) -> Response {
        match checked(&self.settings, values) {
            Ok(new) => {
                let entry =
                    values.contains_key(AUTOSTART) || new.autostart != self.settings.autostart;
                self.save_and_apply_with(new, entry)
            }
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

    /// The request from before the setting existed: `settings-set` of
    /// `autostart`, so the file says what the entry does.
    pub(super) fn autostart_set(&mut self, enabled: bool) -> Response {
        let values = Map::from_iter([(AUTOSTART.to_owned(), Value::Bool(enabled))]);
        self.settings_set(&values)
    }

    /// Brings the autostart entry in step with the `autostart` setting (at
    /// start and after every reload). A failure is one warning in the log;
    /// the settings stay as they are.
    pub(super) fn keep_autostart_in_step(&self) {
        if let Err(why) = self.parts.autostart.set(self.settings.autostart) {
            tracing::warn!(
                "start at login is {} in the settings, but: {why}",
                if self.settings.autostart { "on" } else { "off" }
            );
        }
    }

    /// Writes `new` (already checked) and applies it as `reload-settings`
    /// does. A changed hotkey is registered first, and a changed
    /// `autostart` entry written or removed; if either cannot be, nothing
    /// is written.
    pub(super) fn save_and_apply(&mut self, new: Settings) -> Response {
        let entry = new.autostart != self.settings.autostart;
        self.save_and_apply_with(new, entry)
    }

    /// [`save_and_apply`](Self::save_and_apply); `entry`: bring the
    /// autostart entry in step with `new` first.
    fn save_and_apply_with(&mut self, new: Settings, entry: bool) -> Response {
        let new_hotkey = new.hotkey != self.settings.hotkey && !self.hotkey.is(&new.hotkey);
        if new_hotkey {
            if let Err(why) = self.hotkey.replace(&new.hotkey, &*self.parts.desktop) {
                return Response::field_errors(BTreeMap::from([("hotkey".to_owned(), why)]));
            }
        }
        if entry {
            if let Err(why) = self.parts.autostart.set(new.autostart) {
                tracing::warn!("start at login not changed: {why}");
                if new_hotkey {
                    self.register_hotkey();
                }
                return Response::field_errors(BTreeMap::from([(AUTOSTART.to_owned(), why)]));
            }
        }
        let unchanged = new == self.settings;
        if let Err(e) = self.parts.settings_file.save(&new) {
            if new_hotkey {
                // Back to the hotkey of the settings still in force.
                self.register_hotkey();
            }
            if entry {
                // Back to the entry of the settings still in force.
                self.keep_autostart_in_step();
            }
            return Response::error(format!("the settings were not saved: {e}"));
        }
        self.reload_settings();
        if entry && unchanged {
            // The entry may have changed with no setting changing (written
            // again after it was removed by hand): the window shows it.
            self.parts
                .publisher
                .publish(&ezflow_control::Event::Settings);
        }
        Response::Settings(self.settings_report())
    }
}

/// The setting the autostart entry follows.
const AUTOSTART: &str = "autostart";

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
