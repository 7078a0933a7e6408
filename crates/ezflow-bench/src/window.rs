//! `ezflow-bench window`: what the settings window costs, measured from
//! outside. In a private desktop session with the real app (tray
//! registered, model not loaded), each round:
//!
//! 1. reads the tray process's PSS (before);
//! 2. runs `ezflow settings open` and times it to the window's
//!    `first paint` log line (the window logs it when its first page has
//!    been painted: two animation frames after the page rendered);
//! 3. after the page settles, sums the PSS of the window's processes (the
//!    `ezflow-settings` process and every process under it: WebKit's web
//!    and network processes) and reads the tray's PSS again (during);
//! 4. closes the window as a window manager's close button does
//!    (`WM_DELETE_WINDOW`), waits until no `ezflow-settings` or WebKit
//!    process is left anywhere under the app, and after a settle reads the
//!    tray's PSS (after).
//!
//! It prints one Markdown section. The figures are this machine's; the
//! README and `docs/performance.md` quote them with the command.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use ezflow_testbed::process::{descendants, ProcessEntry};
use ezflow_testbed::x11_apps;

use crate::probe;
use crate::report::median;
use crate::session::{logged_ms, Desktop, QUICK};

/// The window's title (`crates/ezflow-settings/tauri.conf.json`).
const TITLE: &str = "EZ Flow Settings";
/// The window's log line once its first page is painted.
const FIRST_PAINT: &str = "first paint in";
/// How long the window's processes settle before their memory is read.
const SETTLE: Duration = Duration::from_secs(3);

/// One round's figures.
struct Round {
    open_to_paint: Duration,
    own_ms: Option<f64>,
    window: Vec<(ProcessEntry, u64)>,
    tray_before: u64,
    tray_during: u64,
    tray_after: u64,
    /// `WM_DELETE_WINDOW` messages it took to close (1 but for the Xvfb
    /// quirk in `x11_apps::close_titled`).
    close_messages: usize,
}

/// Measures `rounds` opens and closes of the window; returns the section.
pub fn measure(ezflow: &Path, model: &Path, rounds: usize) -> anyhow::Result<String> {
    if rounds == 0 {
        bail!("--rounds must be at least 1");
    }
    let desktop = Desktop::start(ezflow)?;
    desktop.write_settings(model, 2)?;
    let (mut app, _) = desktop.start_app()?;
    std::thread::sleep(SETTLE);
    let mut results = Vec::new();
    for round in 1..=rounds {
        let tray_before = probe::memory(app.pid())?.pss;
        app.forget_log();
        let started = Instant::now();
        let output = desktop.run(&["settings", "open"], QUICK)?;
        if !output.status.success() {
            bail!(
                "`ezflow settings open` failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        let line = app.wait_for_line(FIRST_PAINT, QUICK)?;
        let open_to_paint = started.elapsed();
        let own_ms = logged_ms(&line, FIRST_PAINT);
        std::thread::sleep(SETTLE);
        let window = window_processes(app.pid());
        if window.is_empty() {
            bail!("the window painted, yet no ezflow-settings process runs under the app");
        }
        let mut measured = Vec::new();
        for entry in window {
            let pss = probe::memory(entry.pid).map(|m| m.pss).unwrap_or(0);
            measured.push((entry, pss));
        }
        let tray_during = probe::memory(app.pid())?.pss;
        let close_messages = close_window(desktop.display(), app.pid())?;
        std::thread::sleep(SETTLE);
        let tray_after = probe::memory(app.pid())?.pss;
        eprintln!(
            "ezflow-bench: window round {round}/{rounds}: first paint after {:.0} ms, \
             window PSS {:.1} MiB",
            open_to_paint.as_secs_f64() * 1000.0,
            mib(measured.iter().map(|(_, p)| p).sum())
        );
        results.push(Round {
            open_to_paint,
            own_ms,
            window: measured,
            tray_before,
            tray_during,
            tray_after,
            close_messages,
        });
    }
    app.terminate()?;
    Ok(render(&results))
}

/// The settings window's processes under the app: `ezflow-settings` and
/// everything it started.
fn window_processes(app: u32) -> Vec<ProcessEntry> {
    let mut found = Vec::new();
    for entry in descendants(app) {
        if entry.name.starts_with("ezflow-setting") {
            found.extend(descendants(entry.pid));
            found.push(entry);
        }
    }
    found
}

/// Any window or WebKit process left under the app.
fn leftovers(app: u32) -> Vec<ProcessEntry> {
    descendants(app)
        .into_iter()
        .filter(|e| e.name.starts_with("ezflow-setting") || e.name.starts_with("WebKit"))
        .collect()
}

/// Closes the window by its title (see `x11_apps::close_titled` on the
/// repeated message) and waits (bounded) for its processes to end; returns
/// how many close messages it took.
fn close_window(display: &str, app: u32) -> anyhow::Result<usize> {
    let sent = x11_apps::close_titled(display, TITLE, 3, Duration::from_secs(5))
        .map_err(anyhow::Error::msg)?;
    let deadline = Instant::now() + QUICK;
    loop {
        let left = leftovers(app);
        if left.is_empty() {
            return Ok(sent);
        }
        if Instant::now() > deadline {
            return Err(anyhow::anyhow!("{left:?}"))
                .context(format!("processes left {QUICK:?} after the window closed"));
        }
        // Measuring from outside: nothing tells us when a process is gone.
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn render(rounds: &[Round]) -> String {
    let paint: Vec<f64> = rounds
        .iter()
        .map(|r| r.open_to_paint.as_secs_f64() * 1000.0)
        .collect();
    let own: Vec<f64> = rounds.iter().filter_map(|r| r.own_ms).collect();
    let window: Vec<f64> = rounds
        .iter()
        .map(|r| mib(r.window.iter().map(|(_, p)| p).sum()))
        .collect();
    let delta: Vec<f64> = rounds
        .iter()
        .map(|r| mib(r.tray_after) - mib(r.tray_before))
        .collect();
    let mut out = String::new();
    out.push_str("## The settings window\n\n");
    out.push_str(&format!(
        "{} rounds of `ezflow settings open` → first paint → close (WM_DELETE_WINDOW), \
         the app idle with its model not loaded.\n\n",
        rounds.len()
    ));
    out.push_str("| figure | median | all rounds |\n|---|---|---|\n");
    let row = |name: &str, values: &[f64], unit: &str, digits: usize| {
        let all: Vec<String> = values.iter().map(|v| format!("{v:.digits$}")).collect();
        format!(
            "| {name} | {:.digits$} {unit} | {} |\n",
            median(values),
            all.join(", ")
        )
    };
    out.push_str(&row(
        "`ezflow settings open` → first paint",
        &paint,
        "ms",
        0,
    ));
    if !own.is_empty() {
        out.push_str(&row(
            "window process start → first paint (its own log)",
            &own,
            "ms",
            0,
        ));
    }
    out.push_str(&row("window, all its processes (PSS)", &window, "MiB", 1));
    let tray = |f: fn(&Round) -> u64| rounds.iter().map(|r| mib(f(r))).collect::<Vec<_>>();
    out.push_str(&row(
        "tray before (PSS)",
        &tray(|r| r.tray_before),
        "MiB",
        2,
    ));
    out.push_str(&row(
        "tray while open (PSS)",
        &tray(|r| r.tray_during),
        "MiB",
        2,
    ));
    out.push_str(&row(
        "tray after close (PSS)",
        &tray(|r| r.tray_after),
        "MiB",
        2,
    ));
    out.push_str(&row("tray after − before", &delta, "MiB", 2));
    out.push_str("\nThe window's processes in the last round:\n\n| process | PSS |\n|---|---|\n");
    if let Some(last) = rounds.last() {
        for (entry, pss) in &last.window {
            out.push_str(&format!("| {} | {:.1} MiB |\n", entry.name, mib(*pss)));
        }
    }
    let messages: Vec<String> = rounds
        .iter()
        .map(|r| r.close_messages.to_string())
        .collect();
    out.push_str(&format!(
        "\nAfter each close no `ezflow-settings` or WebKit process was left under the app \
         (checked every round). Close messages it took per round: {}.\n",
        messages.join(", ")
    ));
    out
}
