//! EZ Flow's test harness: what the tests of every crate and the benchmark
//! (`ezflow-bench`) need around the code under test, written once. Each
//! module owns one concern and says so in its `//!` header.
//!
//! | module | owns |
//! |---|---|
//! | [`assets`] | the files `scripts/fetch-test-assets.sh` makes: the tiny.en model, the JFK clip, labelled clips (`STEM.wav` + `STEM.txt`) |
//! | [`wer`] | word error rate, with the one normalisation of words every measurement uses |
//! | [`payload`] | deterministic pseudo-random download data and its SHA-256 |
//! | [`http`] | a loopback HTTP server that records what it was asked |
//! | [`home`] | an isolated home: EZ Flow's directories in a temporary directory, and the `ezflow` command that uses them |
//! | [`process`] | another process seen from outside (CPU ticks, context switches), its log lines, and ending it |
//! | [`microphone`] | a real ALSA capture device that reads a clip from a file |
//! | [`xvfb`] | a private X server |
//! | [`dbus`] | a private D-Bus session bus, and serving a stand-in on it |
//! | [`session`] | a user's desktop session: Xvfb, D-Bus and an isolated home together |
//! | [`panel`] | the panel's side of a tray: a stand-in StatusNotifierWatcher, and reading an item as a panel does (feature `desktop`) |
//! | [`notifications`] | a stand-in notification server (feature `desktop`) |
//! | [`portal`] | what the stand-in XDG desktop portals share (feature `desktop`) |
//! | [`dictation`] | dictations through the running app one after another: their settings, the microphone's clip, and one dictation from hotkey to text (feature `desktop`) |
//! | [`x11_apps`] | other X applications: an editor window, clipboard owners and readers (feature `desktop`) |
//! | [`window`] | the settings window driven through `tauri-driver` and WebKitWebDriver (feature `window`) |
//! | [`collector`] | a real telemetry collector on loopback, and batches for it (feature `collector`) |
//!
//! Test harness code: it panics with a clear message where a test cannot
//! go on, except where the benchmark needs an error it can report
//! ([`process`], [`session`]).

pub mod assets;
pub mod dbus;
pub mod home;
pub mod http;
pub mod microphone;
pub mod payload;
pub mod process;
pub mod session;
pub mod wer;
pub mod xvfb;

#[cfg(feature = "collector")]
pub mod collector;
#[cfg(feature = "desktop")]
pub mod dictation;
#[cfg(feature = "desktop")]
pub mod notifications;
#[cfg(feature = "desktop")]
pub mod panel;
#[cfg(feature = "desktop")]
pub mod portal;
#[cfg(feature = "window")]
pub mod window;
#[cfg(feature = "desktop")]
pub mod x11_apps;
