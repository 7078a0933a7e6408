//! EZ Flow's desktop integration, kept out of the core library: the tray
//! icon and its menu, desktop notifications, the global hotkey, and putting
//! text into the focused application. Each concern is one trait with one
//! implementation per platform or display server, in its own file.
//!
//! Nothing here links GTK, a webview or a toolkit: the tray and
//! notifications speak D-Bus, the hotkey and text insertion speak X11.

pub mod hotkey;
pub mod insert;
pub mod notify;
mod portal_request;
pub mod tray;
