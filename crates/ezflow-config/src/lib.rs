//! EZ Flow's configuration, shared by every binary: the settings file
//! (`settings`), where files live (`paths`), replacing a file atomically
//! (`atomic_file`), and suggesting a correction for a typo (`suggest`).
//!
//! It knows nothing of the transcription engine, the microphone or the
//! desktop, so a binary that only reads or writes settings (the settings
//! window, the benchmark) builds without whisper.cpp. The engine and the model
//! lifecycle take their own option types; the app maps these settings onto
//! them.

pub mod atomic_file;
pub mod paths;
pub mod settings;
pub mod suggest;
