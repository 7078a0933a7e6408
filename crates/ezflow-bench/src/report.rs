//! The harness's figures and how they are written: one Markdown section of
//! the performance report (scripts/bench.sh adds the machine, the commit and
//! the transcription tables around it). Only measured numbers are written;
//! what could not be measured says so and why.

use std::fmt::Write as _;
use std::time::Duration;

use ezflow_core::memory::ProcessMemory;

use crate::probe::{Activity, PeakRun};
use crate::session::Startup;

/// Everything measured about the app in one run of the harness.
pub struct AppFigures {
    pub threads: usize,
    pub starts: Vec<Startup>,
    pub settle: Duration,
    pub idle_memory: ProcessMemory,
    pub idle_window: Duration,
    /// Activity over the idle window (differences), and the thread count.
    pub idle: Activity,
    pub clk_tck: u64,
    /// `ezflow status --stats --json` while idle, or why there is none.
    pub idle_stats: Result<serde_json::Value, String>,
    pub models: Vec<ModelFigures>,
    pub clip: String,
    pub clip_seconds: Option<f64>,
}

/// The figures of one model.
pub struct ModelFigures {
    pub label: String,
    /// Load, loaded and unloaded figures, or why `ezflow load` could not
    /// give them.
    pub load: Result<LoadFigures, String>,
    /// `ezflow transcribe` of the clip, or why it failed.
    pub peak: Result<PeakRun, String>,
}

pub struct LoadFigures {
    /// `ezflow load`, from exec to exit, one per load.
    pub load_times: Vec<Duration>,
    /// The app's "model loaded in N ms" log figures, one per load.
    pub own_load_ms: Vec<f64>,
    pub loaded: ProcessMemory,
    pub after_unload: ProcessMemory,
    /// `ezflow status --stats --json` with the model loaded.
    pub stats: Result<serde_json::Value, String>,
}

pub fn render(f: &AppFigures) -> String {
    let mut out = String::new();
    let starts = f.starts.len();
    let tray: Vec<f64> = f.starts.iter().map(|s| ms(s.to_tray)).collect();
    let own: Vec<f64> = f.starts.iter().filter_map(|s| s.own_ms).collect();
    let _ = writeln!(out, "## The app, measured from outside\n");
    let _ = writeln!(
        out,
        "The release `ezflow` binary started as a user's session starts it, under a private \
         Xvfb and D-Bus session bus with a stand-in StatusNotifierWatcher, with its own empty \
         home and settings (model given by path, `threads = {}`, `idle_unload = \"never\"`).\n",
        f.threads
    );
    let _ = writeln!(
        out,
        "| what | measured from outside | the app's own figure | how |"
    );
    let _ = writeln!(out, "|---|---|---|---|");
    let _ = writeln!(
        out,
        "| startup: exec → tray registered | **{}** median (min {}, max {}; {starts} starts) | \
         {} | the watcher receives `RegisterStatusNotifierItem` from the new process |",
        fmt_ms(median(&tray)),
        fmt_ms(min(&tray)),
        fmt_ms(max(&tray)),
        if own.is_empty() {
            "not logged".to_owned()
        } else {
            format!("\"startup complete in\" median {}", fmt_ms(median(&own)))
        },
    );
    let _ = writeln!(
        out,
        "| idle memory, model not loaded | **PSS {}**, RSS {} | {} | `/proc/PID/smaps_rollup`, \
         {} s after the tray registered |",
        mib(f.idle_memory.pss),
        mib(f.idle_memory.rss),
        stats_memory(&f.idle_stats),
        f.settle.as_secs()
    );
    let tick_ms = 1000.0 / f.clk_tck as f64;
    let _ = writeln!(
        out,
        "| idle CPU over {} s | **{} ticks** ({} ms of CPU, {:.3} % of one core); {} context \
         switches over its {} threads | – | utime + stime from `/proc/PID/stat` (CLK_TCK = {}); \
         switches from `/proc/PID/task/*/status` |",
        f.idle_window.as_secs(),
        f.idle.ticks,
        fmt_num(f.idle.ticks as f64 * tick_ms),
        f.idle.ticks as f64 * tick_ms / (f.idle_window.as_secs_f64() * 10.0),
        f.idle.switches,
        f.idle.threads,
        f.clk_tck
    );
    for m in &f.models {
        match &m.load {
            Ok(load) => {
                let outside: Vec<f64> = load.load_times.iter().map(|d| ms(*d)).collect();
                let _ = writeln!(
                    out,
                    "| model load, {} | **{}** median of {} (min {}, max {}) | {} | `ezflow load`, \
                     exec to exit (page cache warm); unloaded between loads |",
                    m.label,
                    fmt_ms(median(&outside)),
                    outside.len(),
                    fmt_ms(min(&outside)),
                    fmt_ms(max(&outside)),
                    own_load(&load.own_load_ms, &load.stats),
                );
                let _ = writeln!(
                    out,
                    "| memory, {} loaded | **PSS {}**, RSS {} | {} | `smaps_rollup` 2 s after the \
                     first load |",
                    m.label,
                    mib(load.loaded.pss),
                    mib(load.loaded.rss),
                    stats_memory(&load.stats)
                );
                let _ = writeln!(
                    out,
                    "| memory after `ezflow unload`, {} | PSS {}, RSS {} | – | `smaps_rollup` 2 s \
                     after the app logged the unload |",
                    m.label,
                    mib(load.after_unload.pss),
                    mib(load.after_unload.rss)
                );
            }
            Err(why) => {
                let _ = writeln!(
                    out,
                    "| model load and loaded memory, {} | not available: {} | – | `ezflow load` |",
                    m.label,
                    cell(why)
                );
            }
        }
        let clip = match f.clip_seconds {
            Some(s) => format!("{} ({s:.1} s)", f.clip),
            None => f.clip.clone(),
        };
        match &m.peak {
            Ok(peak) => {
                let _ = writeln!(
                    out,
                    "| peak memory of a transcription, {} | **peak RSS {}** (took {:.1} s) | – | \
                     `ezflow transcribe --model {} {clip}`: a separate process that loads the \
                     model, decodes the file and transcribes it; its VmHWM (`ru_maxrss` from \
                     `wait4`). Peak RSS, not PSS: the kernel keeps no peak PSS |",
                    m.label,
                    mib(peak.peak_rss),
                    peak.wall.as_secs_f64(),
                    m.label
                );
            }
            Err(why) => {
                let _ = writeln!(
                    out,
                    "| peak memory of a transcription, {} | failed: {} | – | `ezflow transcribe` |",
                    m.label,
                    cell(why)
                );
            }
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "The app's own statistics (`ezflow status --stats --json`), as it reported them:\n"
    );
    let _ = writeln!(out, "- idle: {}", stats_line(&f.idle_stats));
    for m in &f.models {
        if let Ok(load) = &m.load {
            let _ = writeln!(out, "- {} loaded: {}", m.label, stats_line(&load.stats));
        }
    }
    out
}

/// The fields of `ezflow status --stats --json` that the report shows.
const STATS_FIELDS: [&str; 7] = [
    "pss_bytes",
    "rss_bytes",
    "model_loaded",
    "last_load_ms",
    "dictations_today",
    "median_latency_ms",
    "median_real_time_factor",
];

/// A field of the app's statistics: at the top of its answer, or in its
/// `stats` object.
fn stat<'a>(value: &'a serde_json::Value, key: &str) -> Option<&'a serde_json::Value> {
    value
        .get(key)
        .or_else(|| value.get("stats").and_then(|s| s.get(key)))
}

fn stats_line(stats: &Result<serde_json::Value, String>) -> String {
    match stats {
        Ok(value) => STATS_FIELDS
            .iter()
            .map(|k| match stat(value, k) {
                Some(v) => format!("`{k}` {v}"),
                None => format!("`{k}` missing"),
            })
            .collect::<Vec<_>>()
            .join(", "),
        Err(why) => format!("not available ({})", cell(why)),
    }
}

fn stats_memory(stats: &Result<serde_json::Value, String>) -> String {
    match stats {
        Ok(value) => {
            let get = |k: &str| stat(value, k).and_then(serde_json::Value::as_u64);
            match (get("pss_bytes"), get("rss_bytes")) {
                (Some(pss), Some(rss)) => format!("PSS {}, RSS {}", mib(pss), mib(rss)),
                _ => "no pss_bytes/rss_bytes in its answer".to_owned(),
            }
        }
        Err(why) => format!("not available ({})", cell(why)),
    }
}

fn own_load(log_ms: &[f64], stats: &Result<serde_json::Value, String>) -> String {
    let mut parts = Vec::new();
    if !log_ms.is_empty() {
        parts.push(format!(
            "\"model loaded in\" median {}",
            fmt_ms(median(log_ms))
        ));
    }
    if let Ok(value) = stats {
        match stat(value, "last_load_ms").and_then(serde_json::Value::as_f64) {
            Some(v) => parts.push(format!("`last_load_ms` {}", fmt_ms(v))),
            None => parts.push("`last_load_ms` null".to_owned()),
        }
    }
    if parts.is_empty() {
        "not available".to_owned()
    } else {
        parts.join("; ")
    }
}

/// Text made safe for one Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn fmt_ms(v: f64) -> String {
    format!("{} ms", fmt_num(v))
}

/// Three significant figures or whole numbers, whichever is longer.
fn fmt_num(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn min(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::INFINITY, f64::min)
}

fn max(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::NEG_INFINITY, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn cells_stay_in_their_column() {
        assert_eq!(cell("a|b\nc"), "a\\|b c");
    }

    #[test]
    fn missing_stats_say_why() {
        let none: Result<serde_json::Value, String> = Err("unrecognized subcommand".into());
        assert_eq!(
            stats_memory(&none),
            "not available (unrecognized subcommand)"
        );
        let some = Ok(serde_json::json!({"pss_bytes": 2097152, "rss_bytes": 3145728}));
        assert_eq!(stats_memory(&some), "PSS 2.0 MiB, RSS 3.0 MiB");
        let nested = Ok(
            serde_json::json!({"stats": {"pss_bytes": 1048576, "rss_bytes": 2097152,
            "last_load_ms": 12}, "status": {}}),
        );
        assert_eq!(stats_memory(&nested), "PSS 1.0 MiB, RSS 2.0 MiB");
        assert!(stats_line(&nested).starts_with("`pss_bytes` 1048576, `rss_bytes` 2097152"));
        assert!(stats_line(&nested).contains("`median_latency_ms` missing"));
        assert_eq!(
            own_load(&[10.0, 30.0], &nested),
            "\"model loaded in\" median 20.0 ms; `last_load_ms` 12.0 ms"
        );
    }
}
