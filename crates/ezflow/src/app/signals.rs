//! SIGINT and SIGTERM as an app event: the signals are blocked in every
//! thread and one thread waits for them with `sigwait`, so a quit is handled
//! by the event loop like any other event (no handler, no polling).
//!
//! It must not act on the signal itself: the loop decides what quitting
//! lets go of.

use std::sync::mpsc::Sender;

use anyhow::Context as _;

use super::event::AppEvent;

/// The set of quit signals, already blocked in the calling thread (and so
/// in every thread it starts afterwards).
pub struct QuitSignals(libc::sigset_t);

/// Blocks SIGINT and SIGTERM in this thread. Call before starting threads.
pub fn block_quit_signals() -> anyhow::Result<QuitSignals> {
    // SAFETY: sigset_t is plain data; the calls only fill and apply it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        if rc != 0 {
            return Err(std::io::Error::from_raw_os_error(rc)).context("cannot block SIGTERM");
        }
        Ok(QuitSignals(set))
    }
}

/// Starts the thread that turns the first quit signal into `AppEvent::Quit`.
pub fn spawn_quit_listener(signals: QuitSignals, events: Sender<AppEvent>) -> anyhow::Result<()> {
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut signal = 0;
            // SAFETY: the set was initialised by block_quit_signals.
            let rc = unsafe { libc::sigwait(&signals.0, &mut signal) };
            if rc == 0 {
                tracing::info!(signal, "quit signal");
                let _ = events.send(AppEvent::Quit);
            }
        })
        .context("cannot start the signal thread")?;
    Ok(())
}

/// Makes `command`'s process start with no signal blocked. This app blocks
/// SIGINT and SIGTERM in every thread ([`block_quit_signals`]), and a
/// child started from one of them was seen to keep that mask through
/// `exec` (the settings window, started by the app, had both blocked in
/// every thread, so neither SIGTERM nor its WebKit shutdown ended it). A
/// long-lived child must end on SIGTERM: that is how a session manager,
/// `kill` and WebKit end processes. The settings window's end-to-end test
/// (`with_no_model_the_app_opens_the_window_on_its_setup`) checks the
/// window's mask in `/proc`.
pub fn with_default_signal_mask(command: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: between fork and exec only async-signal-safe calls are made:
    // sigemptyset and sigprocmask on a local set.
    unsafe {
        command.pre_exec(|| {
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            if libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut()) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}
