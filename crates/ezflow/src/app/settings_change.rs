//! Settings while the app runs: the settings file as the loop reads and
//! writes it ([`SettingsFile`]; the real one is `ezflow_config`'s file, in
//! `wiring.rs`), and which running parts a change touches ([`Changes`]).
//! Every other setting (hotkey mode, microphone, insert method, language,
//! threads, maximum recording) is read at its next use, so a change in the
//! middle of a dictation applies from the next press or recording.
//! `autostart` is no running part: its entry is brought in step after
//! every reload, changed or not (`settings_requests.rs`).
//!
//! It must not act on a change: the loop does, part by part.

use ezflow_config::settings::{Settings, SettingsError};

pub trait SettingsFile {
    /// The file's settings; defaults where it cannot be read (each problem
    /// logged). The real one also applies the log's `slow_operation`
    /// threshold, a process-wide setting of the logging layer.
    fn load(&self) -> Settings;
    fn save(&self, settings: &Settings) -> Result<(), SettingsError>;
    /// Where the file is, as the settings window shows it.
    fn path(&self) -> String;
}

/// The running parts a change of settings touches.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Another model file: the manager switches (after the transcription
    /// in flight).
    pub model: bool,
    pub unload_policy: bool,
    /// The hotkey is registered again.
    pub hotkey: bool,
    /// Telemetry restarts (switched, or another endpoint).
    pub telemetry: bool,
}

pub fn changes(old: &Settings, new: &Settings) -> Changes {
    Changes {
        model: old.model != new.model,
        unload_policy: old.idle_unload != new.idle_unload,
        hotkey: old.hotkey != new.hotkey,
        telemetry: old.telemetry != new.telemetry
            || old.telemetry_endpoint != new.telemetry_endpoint,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ezflow_config::settings::HotkeyMode;

    #[test]
    fn settings_read_at_each_use_touch_no_running_part() {
        let old = Settings::default();
        let new = Settings {
            hotkey_mode: HotkeyMode::Toggle,
            microphone: "USB microphone".to_owned(),
            ..Settings::default()
        };
        assert_eq!(changes(&old, &new), Changes::default());
    }

    #[test]
    fn an_endpoint_change_restarts_telemetry() {
        let old = Settings::default();
        let new = Settings {
            telemetry_endpoint: "https://example.invalid/v1".to_owned(),
            model: "small.en".to_owned(),
            ..Settings::default()
        };
        assert_eq!(
            changes(&old, &new),
            Changes {
                model: true,
                telemetry: true,
                ..Changes::default()
            }
        );
    }
}
