//! EZ Flow's core library: everything that is not UI.
//!
//! It owns audio decoding, the transcription engine and its model lifecycle,
//! the model catalog, downloader and importer, and the settings file. It knows
//! nothing of trays, hotkeys or windows: the binaries around it subscribe to
//! its lifecycle events and call its functions.

mod atomic_file;
pub mod audio;
pub mod capture;
pub mod catalog;
pub mod control;
pub mod download;
pub mod engine;
pub mod import;
pub mod lifecycle;
pub mod memory;
pub mod model_file;
pub mod models;
pub mod paths;
pub mod settings;
pub mod stats;
pub mod telemetry;
mod timing;
