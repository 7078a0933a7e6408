//! `ezflow-bench`: measures the real `ezflow` binary from outside, as a
//! user's machine sees it — exec to tray registered, idle memory and CPU,
//! model load time, memory loaded and after unloading, peak memory of a
//! transcription — and writes the figures as one Markdown section of the
//! performance report. `scripts/bench.sh` runs it with the transcription
//! benchmark and puts the report together; `docs/performance.md` explains
//! each method.
//!
//! The harness only drives the binary (its command line, its control socket
//! through `ezflow load|unload|status`) and reads `/proc`; it links nothing
//! of the app but the core library's `/proc` reader and the settings file.
//! The private Xvfb, dbus-daemon and stand-in StatusNotifierWatcher are the
//! tests' own (`ezflow_testbed`).
//!
//! `ezflow-bench window` measures the settings window (`window.rs`).
//!
//! `ezflow-bench dictations` measures the app's memory over many dictations
//! (`dictations.rs`).
//!
//! `ezflow-bench wer` scores transcripts for `scripts/bench_transcription.py`
//! with the word error rate the tests use (`ezflow_testbed::wer`).

mod dictations;
mod probe;
mod report;
mod session;
mod window;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use std::io::Read as _;

use anyhow::{bail, Context as _};
use clap::{Parser, Subcommand};
use ezflow_testbed::wer;

use crate::report::{AppFigures, LoadFigures, ModelFigures};
use crate::session::{App, Desktop, SLOW};

/// Measures the ezflow app from outside and writes a Markdown report section.
#[derive(Debug, Parser)]
#[command(
    name = "ezflow-bench",
    version,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Args {
    #[command(subcommand)]
    tool: Option<Tool>,

    /// The ezflow binary to measure (use a release build).
    #[arg(long, default_value = "target/release/ezflow")]
    ezflow: PathBuf,

    /// A model to measure, as LABEL=PATH (e.g. tiny.en=ggml-tiny.en.bin).
    /// Repeat for more; the first is the app's model during the startup and
    /// idle measurements.
    #[arg(long = "model", required = true, value_parser = parse_model)]
    models: Vec<Model>,

    /// The clip whose transcription's peak memory is measured.
    #[arg(long, required = true)]
    clip: Option<PathBuf>,

    /// How many times the app is started for the startup figure (median).
    #[arg(long, default_value_t = 7)]
    starts: usize,

    /// Seconds the app settles after its tray registered before idle
    /// memory is read.
    #[arg(long, default_value_t = 10)]
    settle_secs: u64,

    /// Seconds over which idle CPU is counted.
    #[arg(long, default_value_t = 60)]
    idle_secs: u64,

    /// Loads per model for the load time (median); unloaded in between.
    #[arg(long, default_value_t = 3)]
    loads: usize,

    /// whisper.cpp threads, in the app's settings and for `ezflow transcribe`.
    #[arg(long, default_value_t = 2)]
    threads: usize,

    /// Also write the section to this file.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// What else the harness does.
#[derive(Debug, Subcommand)]
enum Tool {
    /// Word errors of transcripts against their reference texts. Reads a
    /// JSON array of {"reference": TEXT, "hypothesis": TEXT} on stdin and
    /// writes a JSON array of {"edits": N, "reference_words": N, "rate": X},
    /// one per pair, in order.
    Wer,
    /// What the settings window costs: `ezflow settings open` to first
    /// paint, the memory of the window's processes, and the tray's memory
    /// before, while open and after closing (must be back within 1 MB).
    Window {
        /// The ezflow binary (the settings window binary must be beside it).
        #[arg(long, default_value = "target/release/ezflow")]
        ezflow: PathBuf,
        /// The model the app is configured with (it is not loaded).
        #[arg(long)]
        model: PathBuf,
        /// Opens and closes to measure (medians are reported).
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Also write the section to this file.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The app's memory over many dictations with the model kept loaded
    /// (begun by the hotkey and by `ezflow start` in turn, the tests' ALSA
    /// microphone reading the clip, the text pasted): after each dictation,
    /// the growth per dictation, and after an unload.
    Dictations {
        /// The ezflow binary.
        #[arg(long, default_value = "target/release/ezflow")]
        ezflow: PathBuf,
        /// The model the app dictates with.
        #[arg(long)]
        model: PathBuf,
        /// A labelled clip (its words in a .txt beside it), shorter than
        /// the recording limit of 4 s.
        #[arg(long)]
        clip: PathBuf,
        /// How many dictations.
        #[arg(long, default_value_t = 500)]
        count: usize,
        /// Also write the section to this file.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Clone)]
struct Model {
    label: String,
    path: PathBuf,
}

fn parse_model(text: &str) -> Result<Model, String> {
    let (label, path) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not LABEL=PATH"))?;
    if label.is_empty() || path.is_empty() {
        return Err(format!("{text:?} is not LABEL=PATH"));
    }
    Ok(Model {
        label: label.to_owned(),
        path: PathBuf::from(path),
    })
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match args.tool {
        Some(Tool::Wer) => score_transcripts(),
        Some(Tool::Window {
            ezflow,
            model,
            rounds,
            out,
        }) => measure_window(&ezflow, &model, rounds, out.as_deref()),
        Some(Tool::Dictations {
            ezflow,
            model,
            clip,
            count,
            out,
        }) => measure_dictations(&ezflow, &model, &clip, count, out.as_deref()),
        None => run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ezflow-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn measure_window(
    ezflow: &Path,
    model: &Path,
    rounds: usize,
    out: Option<&Path>,
) -> anyhow::Result<()> {
    let section = window::measure(&absolute(ezflow)?, &absolute(model)?, rounds)?;
    print!("{section}");
    if let Some(out) = out {
        std::fs::write(out, &section).with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(())
}

fn measure_dictations(
    ezflow: &Path,
    model: &Path,
    clip: &Path,
    count: usize,
    out: Option<&Path>,
) -> anyhow::Result<()> {
    let section = dictations::measure(
        &absolute(ezflow)?,
        &absolute(model)?,
        &absolute(clip)?,
        count,
    )?;
    print!("{section}");
    if let Some(out) = out {
        std::fs::write(out, &section).with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(())
}

/// Progress on stderr, so that stdout carries only the report.
macro_rules! progress {
    ($($arg:tt)*) => { eprintln!("ezflow-bench: {}", format!($($arg)*)) };
}

fn run(args: &Args) -> anyhow::Result<()> {
    if args.starts == 0 || args.loads == 0 {
        bail!("--starts and --loads must be at least 1");
    }
    let ezflow = absolute(&args.ezflow)?;
    let Some(clip) = &args.clip else {
        bail!("--clip is required");
    };
    let clip = absolute(clip)?;
    let models = args
        .models
        .iter()
        .map(|m| {
            Ok(Model {
                label: m.label.clone(),
                path: absolute(&m.path)?,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let Some(first) = models.first() else {
        bail!("--model is required");
    };

    let desktop = Desktop::start(&ezflow)?;
    desktop.write_settings(&first.path, args.threads)?;

    // Startup: exec → tray registered, several starts.
    let mut starts = Vec::new();
    let mut app = None;
    for i in 0..args.starts {
        let (started, figure) = desktop.start_app()?;
        progress!(
            "start {}/{}: tray registered after {:.1} ms",
            i + 1,
            args.starts,
            figure.to_tray.as_secs_f64() * 1000.0
        );
        starts.push(figure);
        if i + 1 < args.starts {
            started.terminate()?;
        } else {
            app = Some(started);
        }
    }
    let Some(app) = app else {
        bail!("no start was measured");
    };

    // Idle: settled, model not loaded; then CPU over the idle window.
    let settle = Duration::from_secs(args.settle_secs);
    progress!("settling for {settle:?}");
    std::thread::sleep(settle);
    let pid = app.pid();
    let idle_memory = probe::memory(pid)?;
    let idle_window = Duration::from_secs(args.idle_secs);
    progress!("counting CPU ticks of the idle app over {idle_window:?}");
    let before = probe::activity(pid)?;
    std::thread::sleep(idle_window);
    let after = probe::activity(pid)?;
    let idle = probe::Activity {
        ticks: after.ticks.saturating_sub(before.ticks),
        switches: after.switches.saturating_sub(before.switches),
        threads: after.threads,
    };
    let idle_stats = desktop.stats();

    // Each model: loads, loaded memory, unload; the first in the app that
    // was measured idle, the others in a fresh start each.
    let mut idle_app = Some(app);
    let mut figures = Vec::new();
    for model in &models {
        let mut running = match idle_app.take() {
            Some(app) => app,
            None => {
                desktop.write_settings(&model.path, args.threads)?;
                desktop.start_app()?.0
            }
        };
        progress!("loading {} {} times", model.label, args.loads);
        let load = measure_loads(&desktop, &mut running, args.loads);
        running.terminate()?;
        progress!("peak memory of transcribing the clip with {}", model.label);
        let peak = probe::run_to_peak(
            desktop
                .ezflow()
                .arg("transcribe")
                .arg("--model")
                .arg(&model.path)
                .args(["--language", "en", "--threads"])
                .arg(args.threads.to_string())
                .arg(&clip),
        )
        .map_err(|e| format!("{e:#}"));
        figures.push(ModelFigures {
            label: model.label.clone(),
            load,
            peak,
        });
    }

    let clip_seconds = ezflow_core::audio::load_clip(&clip)
        .ok()
        .map(|c| c.duration().as_secs_f64());
    let section = report::render(&AppFigures {
        threads: args.threads,
        starts,
        settle,
        idle_memory,
        idle_window,
        idle,
        clk_tck: probe::clock_ticks_per_second(),
        idle_stats,
        models: figures,
        clip: clip
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
        clip_seconds,
    });
    print!("{section}");
    if let Some(out) = &args.out {
        std::fs::write(out, &section).with_context(|| format!("writing {}", out.display()))?;
    }
    Ok(())
}

/// `loads` times: `ezflow load` timed from outside, then `ezflow unload`.
/// Memory is read after the first load and after the first unload. An
/// answer other than success (such as an `ezflow` without a `load`
/// command) makes the figures "not available" with its reason.
fn measure_loads(desktop: &Desktop, app: &mut App, loads: usize) -> Result<LoadFigures, String> {
    let settle = Duration::from_secs(2);
    let failed = |what: &str, output: &std::process::Output| {
        let line = session::first_line(&output.stderr);
        if line.is_empty() {
            format!("`ezflow {what}` exited with {}", output.status)
        } else {
            format!("`ezflow {what}`: {line}")
        }
    };
    let text = |e: anyhow::Error| format!("{e:#}");
    let pid = app.pid();
    let mut load_times = Vec::new();
    let mut own_load_ms = Vec::new();
    let mut first = None;
    for _ in 0..loads {
        app.forget_log();
        let started = Instant::now();
        let output = desktop.run(&["load"], SLOW).map_err(text)?;
        let took = started.elapsed();
        if !output.status.success() {
            return Err(failed("load", &output));
        }
        load_times.push(took);
        // "model loaded in N ms", logged as the load ends.
        if let Ok(line) = app.wait_for_line("model loaded in", session::QUICK) {
            if let Some(ms) = session::logged_ms(&line, "model loaded in") {
                own_load_ms.push(ms);
            }
        }
        let loaded = if first.is_none() {
            std::thread::sleep(settle);
            Some((probe::memory(pid).map_err(text)?, desktop.stats()))
        } else {
            None
        };
        let output = desktop.run(&["unload"], SLOW).map_err(text)?;
        if !output.status.success() {
            return Err(failed("unload", &output));
        }
        app.wait_unloaded().map_err(text)?;
        if let Some((memory, stats)) = loaded {
            std::thread::sleep(settle);
            first = Some((memory, stats, probe::memory(pid).map_err(text)?));
        }
    }
    let Some((loaded, stats, after_unload)) = first else {
        return Err("no load was measured".to_owned());
    };
    Ok(LoadFigures {
        load_times,
        own_load_ms,
        loaded,
        after_unload,
        stats,
    })
}

/// `ezflow-bench wer`: stdin's pairs scored, to stdout.
fn score_transcripts() -> anyhow::Result<()> {
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .context("reading the pairs from stdin")?;
    let scores = word_errors_of(&input)?;
    println!("{scores}");
    Ok(())
}

/// The word errors of each {"reference", "hypothesis"} pair in the JSON
/// array `input`, as a JSON array of {"edits", "reference_words", "rate"}.
fn word_errors_of(input: &str) -> anyhow::Result<serde_json::Value> {
    let pairs: serde_json::Value = serde_json::from_str(input).context("the input is not JSON")?;
    let Some(pairs) = pairs.as_array() else {
        bail!("the input is not a JSON array of pairs");
    };
    let text = |pair: &serde_json::Value, key: &str, i: usize| -> anyhow::Result<String> {
        match pair.get(key).and_then(serde_json::Value::as_str) {
            Some(text) => Ok(text.to_owned()),
            None => bail!("pair {i} has no string {key:?}"),
        }
    };
    let mut scores = Vec::with_capacity(pairs.len());
    for (i, pair) in pairs.iter().enumerate() {
        let errors = wer::word_errors(&text(pair, "reference", i)?, &text(pair, "hypothesis", i)?);
        scores.push(serde_json::json!({
            "edits": errors.edits,
            "reference_words": errors.reference_words,
            "rate": errors.rate(),
        }));
    }
    Ok(serde_json::Value::Array(scores))
}

/// `path` made absolute against the current directory, checked to exist.
fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    let path =
        std::path::absolute(path).with_context(|| format!("resolving {}", path.display()))?;
    if !path.exists() {
        bail!("{} does not exist", path.display());
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_scored_in_order() {
        let scores = word_errors_of(
            r#"[{"reference": "Ask not, what", "hypothesis": "ask not what"},
                {"reference": "a b c d", "hypothesis": "a x c"}]"#,
        )
        .expect("valid pairs");
        assert_eq!(
            scores,
            serde_json::json!([
                {"edits": 0, "reference_words": 3, "rate": 0.0},
                {"edits": 2, "reference_words": 4, "rate": 0.5},
            ])
        );
        let bad = word_errors_of(r#"[{"reference": "a"}]"#).expect_err("no hypothesis");
        assert!(bad.to_string().contains("hypothesis"), "{bad}");
    }

    #[test]
    fn the_command_line_parses_both_ways() {
        let measure = Args::try_parse_from([
            "ezflow-bench",
            "--model",
            "tiny.en=m.bin",
            "--clip",
            "c.wav",
        ])
        .expect("a measurement");
        assert!(measure.tool.is_none());
        assert_eq!(measure.clip, Some(PathBuf::from("c.wav")));
        let wer = Args::try_parse_from(["ezflow-bench", "wer"]).expect("the wer tool");
        assert!(matches!(wer.tool, Some(Tool::Wer)));
        assert!(Args::try_parse_from(["ezflow-bench", "--clip", "c.wav"]).is_err());
    }
}
