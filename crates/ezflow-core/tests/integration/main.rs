//! ezflow-core's integration tests that need no process of their own, in one
//! test binary: every test binary of this crate links whisper.cpp, and the
//! link is much of what a test build costs. One module per concern:
//!
//! - `audio`: decoding, resampling and speech finding on real files
//! - `download`: the downloader against real HTTP servers on loopback
//! - `models`: the installed-model store, installing from loopback
//! - `telemetry`: consent, queue bounds and delivery rules
//!
//! Tests that need a process to themselves have their own binary beside
//! this one: `engine` and `lifecycle` (whisper.cpp on the real model, with
//! RSS and deadline checks that other tests' loads would disturb), `import`
//! (the heavy model conversion), `capture` (ALSA's configuration is
//! process-wide), `memory` and `soak` (they measure the process's memory).

mod audio;
mod download;
mod models;
mod telemetry;
