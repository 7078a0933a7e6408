//! EZ Flow's core library: everything that is not UI.
//!
//! It owns audio decoding, microphone capture, the transcription engine and
//! its model lifecycle, the model catalog, downloader and importer, and the
//! telemetry client. It knows nothing of trays, hotkeys or windows: the
//! binaries around it subscribe to its lifecycle events and call its
//! functions. The engine and the lifecycle take their own option types
//! ([`engine::DecodeOptions`], [`lifecycle::UnloadPolicy`]); the app maps its
//! settings (the `ezflow-config` crate) onto them.

pub mod audio;
pub mod capture;
pub mod catalog;
pub mod download;
pub mod engine;
mod file_kind;
pub mod import;
pub mod lifecycle;
pub mod memory;
pub mod model_file;
pub mod models;
pub mod stats;
pub mod telemetry;
mod timing;
