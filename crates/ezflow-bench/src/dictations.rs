//! `ezflow-bench dictations`: the app's memory over a day of dictations,
//! measured from outside. In a private desktop session with the real app,
//! the tests' ALSA microphone reading a labelled clip and a focused X
//! window, it makes `count` dictations one after another (begun by the
//! hotkey and by `ezflow start` in turn, recording to its limit, text
//! pasted: `ezflow_testbed::dictation`, the same dictations as the app's
//! soak test) with the model kept loaded, and reads RSS, PSS and anonymous
//! memory after each; then unloads the model and reads them once more.
//!
//! It prints one Markdown section: memory idle, after chosen dictations and
//! after the unload, and the growth per dictation from the 10th to the last
//! (a least-squares slope, so that one step does not decide it).

use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use ezflow_core::memory::ProcessMemory;
use ezflow_testbed::{assets, dictation, x11_apps};

use crate::probe;
use crate::session::{Desktop, SLOW};

/// The first dictations, which fill the app's buffers, are not part of the
/// growth.
const WARM_UP: usize = 10;

/// Makes `count` dictations of `clip` with `model`; returns the section.
pub fn measure(ezflow: &Path, model: &Path, clip: &Path, count: usize) -> anyhow::Result<String> {
    if count <= WARM_UP {
        bail!("--count must be more than {WARM_UP}");
    }
    let reference = assets::reference_text(clip)
        .with_context(|| format!("the words of {} (a .txt beside it)", clip.display()))?;
    let Some(word) = reference
        .split_whitespace()
        .last()
        .map(|w| {
            w.trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
    else {
        bail!("the reference text of {} has no words", clip.display());
    };
    let samples = ezflow_core::audio::load_clip(clip)
        .with_context(|| format!("decoding {}", clip.display()))?;
    let clip_seconds = samples.duration().as_secs_f64();

    let mut desktop = Desktop::start(ezflow)?;
    desktop.use_microphone(&samples.into_samples());
    desktop.write_settings_text(&dictation::settings(model));
    let (mut app, _) = desktop.start_app()?;
    let pid = app.pid();
    let window = x11_apps::TextWindow::open(desktop.display());
    std::thread::sleep(Duration::from_secs(2));
    let idle = probe::memory(pid)?;

    let started = Instant::now();
    let mut after = Vec::with_capacity(count);
    for n in 1..=count {
        dictation::dictate(
            app.process(),
            desktop.display(),
            &|| desktop.ezflow(),
            &window,
            &word,
            n,
            SLOW,
        )?;
        after.push(probe::memory(pid)?);
        if n % 100 == 0 {
            eprintln!("ezflow-bench: {n} of {count} dictations");
        }
    }
    let took = started.elapsed();

    let output = desktop.run(&["unload"], SLOW)?;
    if !output.status.success() {
        bail!(
            "`ezflow unload` failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    app.wait_unloaded()?;
    std::thread::sleep(Duration::from_secs(2));
    let unloaded = probe::memory(pid)?;
    drop(window);
    app.terminate()?;

    Ok(render(&Figures {
        clip: clip
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
        clip_seconds,
        model: model
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
        took,
        idle,
        after,
        unloaded,
    }))
}

struct Figures {
    clip: String,
    clip_seconds: f64,
    model: String,
    took: Duration,
    idle: ProcessMemory,
    /// After each dictation, in order.
    after: Vec<ProcessMemory>,
    unloaded: ProcessMemory,
}

fn render(f: &Figures) -> String {
    let count = f.after.len();
    let mut out = String::new();
    let _ = writeln!(out, "## Memory over a day of dictations\n");
    let _ = writeln!(
        out,
        "{count} dictations of `{}` ({:.1} s of speech, recorded to the {} s limit) through the \
         release app, begun by the hotkey and by `ezflow start` in turn: the tests' ALSA microphone, the text pasted into a focused X \
         window; model `{}` kept loaded. {:.0} s in all. Memory from `/proc/PID/smaps_rollup` \
         after each dictation; anonymous memory is what the app made itself (heap, stacks, the \
         model), RSS adds the pages of files it maps, such as its code.\n",
        f.clip,
        f.clip_seconds,
        dictation::RECORDING_LIMIT_SECS,
        f.model,
        f.took.as_secs_f64()
    );
    let _ = writeln!(out, "| when | RSS (MiB) | PSS (MiB) | anonymous (MiB) |");
    let _ = writeln!(out, "|---|---:|---:|---:|");
    let mut row = |when: String, m: &ProcessMemory| {
        let _ = writeln!(
            out,
            "| {when} | {:.2} | {:.2} | {:.2} |",
            mib(m.rss),
            mib(m.pss),
            mib(m.anonymous)
        );
    };
    row("idle, before the first dictation".to_owned(), &f.idle);
    for n in checkpoints(count) {
        row(format!("after dictation {n}"), &f.after[n - 1]);
    }
    row("after `ezflow unload`".to_owned(), &f.unloaded);
    let tenth = &f.after[WARM_UP - 1];
    let last = &f.after[count - 1];
    let growth = |field: fn(&ProcessMemory) -> u64| {
        let values: Vec<f64> = f.after[WARM_UP - 1..]
            .iter()
            .map(|m| field(m) as f64)
            .collect();
        (
            (field(last) as f64 - field(tenth) as f64) / 1024.0,
            slope(&values) / 1024.0,
        )
    };
    let (rss, rss_slope) = growth(|m| m.rss);
    let (pss, pss_slope) = growth(|m| m.pss);
    let (anon, anon_slope) = growth(|m| m.anonymous);
    let _ = writeln!(
        out,
        "\nFrom dictation {WARM_UP} to {count}: RSS {rss:+.0} KiB, PSS {pss:+.0} KiB, anonymous \
         {anon:+.0} KiB; per dictation (least-squares slope) RSS {rss_slope:+.2} KiB, PSS \
         {pss_slope:+.2} KiB, anonymous {anon_slope:+.2} KiB. After the unload, {:+.2} MiB of \
         anonymous memory and {:+.2} MiB of RSS against idle.",
        (f.unloaded.anonymous as f64 - f.idle.anonymous as f64) / 1024.0 / 1024.0,
        (f.unloaded.rss as f64 - f.idle.rss as f64) / 1024.0 / 1024.0,
    );
    out
}

/// The dictations whose figures the table shows: 1, 10, then each hundred
/// (or tenth of the run, if shorter), and the last.
fn checkpoints(count: usize) -> Vec<usize> {
    let step = if count >= 200 {
        100
    } else {
        (count / 10).max(1)
    };
    let mut points = vec![1, WARM_UP];
    points.extend(
        (1..=count / step)
            .map(|k| k * step)
            .filter(|&n| n > WARM_UP),
    );
    if points.last() != Some(&count) {
        points.push(count);
    }
    points.dedup();
    points
}

/// The least-squares slope of `values` against their index.
fn slope(values: &[f64]) -> f64 {
    let n = values.len() as f64;
    if values.len() < 2 {
        return 0.0;
    }
    let mean_x = (n - 1.0) / 2.0;
    let mean_y = values.iter().sum::<f64>() / n;
    let (mut num, mut den) = (0.0, 0.0);
    for (i, y) in values.iter().enumerate() {
        let dx = i as f64 - mean_x;
        num += dx * (y - mean_y);
        den += dx * dx;
    }
    num / den
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1024.0 / 1024.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slope_of_a_line_is_its_step() {
        let line: Vec<f64> = (0..50).map(|i| 100.0 + 3.0 * i as f64).collect();
        assert!((slope(&line) - 3.0).abs() < 1e-9);
        assert_eq!(slope(&[5.0; 20]), 0.0);
        assert_eq!(slope(&[1.0]), 0.0);
    }

    #[test]
    fn checkpoints_start_at_one_and_end_at_the_last() {
        assert_eq!(checkpoints(500), vec![1, 10, 100, 200, 300, 400, 500]);
        assert_eq!(checkpoints(50), vec![1, 10, 15, 20, 25, 30, 35, 40, 45, 50]);
        assert_eq!(checkpoints(23), vec![1, 10, 12, 14, 16, 18, 20, 22, 23]);
    }
}
