//! Dictations through the running app, as a user makes them, one after
//! another: the settings a run of them uses, and one dictation of the file
//! microphone's clip (begun by the hotkey or by `ezflow start`, the clip
//! recorded up to the recording limit, and the transcript waited for in the
//! focused window). Shared by the app's soak test and `ezflow-bench
//! dictations`, so that the figures the benchmark reports and the bound the
//! test holds come from the same dictations.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, Context as _};

use crate::microphone::{Device, FileMicrophone};
use crate::process::{output_within, WatchedProcess};
use crate::x11_apps::{self, TextWindow};

/// The recording limit of [`settings`]: every clip used is shorter, so each
/// recording ends by itself (the file microphone is not paced in real time
/// and delivers the whole clip at once).
pub const RECORDING_LIMIT_SECS: u64 = 4;

/// The settings file of a run of dictations with `model`: English, the
/// hotkey Ctrl+Alt+Space held to talk, the text pasted, recordings of at
/// most [`RECORDING_LIMIT_SECS`], and the model kept loaded.
pub fn settings(model: &Path) -> String {
    format!(
        "model = \"{}\"\nlanguage = \"en\"\nhotkey = \"Ctrl+Alt+Space\"\n\
         hotkey_mode = \"push-to-talk\"\ninsert_method = \"paste\"\n\
         max_recording = \"{RECORDING_LIMIT_SECS}s\"\nidle_unload = \"never\"\n",
        model.display()
    )
}

/// Makes the file microphone in `dir` read `clip` (16 kHz mono samples),
/// then silence past the recording limit.
pub fn microphone(dir: &Path, clip: &[f32]) -> FileMicrophone {
    FileMicrophone::write(
        dir,
        Device::Clip,
        clip,
        Duration::from_secs(RECORDING_LIMIT_SECS + 6),
    )
}

/// Dictation number `n` of a run, begun the two ways a user begins one:
/// odd ones by holding the hotkey on `display` (let go once the recording
/// has reached its limit), even ones by `ezflow start` (`ezflow` gives the
/// command, in the app's session) over the control socket. Then waits (each
/// step at most `patience`) for the app's "dictation done" and for `window`
/// to hold the word `word` (lower case, counted as a whole word) `n` times.
/// The log lines seen so far are forgotten afterwards, so that the next
/// dictation's waits see only its own.
pub fn dictate(
    app: &mut WatchedProcess,
    display: &str,
    ezflow: &dyn Fn() -> Command,
    window: &TextWindow,
    word: &str,
    n: usize,
    patience: Duration,
) -> anyhow::Result<()> {
    if n % 2 == 1 {
        x11_apps::ctrl_alt_space(display, true);
        let recorded = app.wait_for_line("ended_by=MaxDuration", patience);
        x11_apps::ctrl_alt_space(display, false);
        recorded.with_context(|| format!("dictation {n}: the recording did not end"))?;
    } else {
        let started = output_within(ezflow().arg("start"), patience)
            .with_context(|| format!("dictation {n}: `ezflow start`"))?;
        if !started.status.success() {
            bail!(
                "dictation {n}: `ezflow start` failed: {}",
                String::from_utf8_lossy(&started.stderr).trim()
            );
        }
        app.wait_for_line("ended_by=MaxDuration", patience)
            .with_context(|| format!("dictation {n}: the recording did not end"))?;
    }
    app.wait_for_line("dictation done", patience)
        .with_context(|| format!("dictation {n}: no transcript"))?;
    window.wait_within(
        &format!("dictation {n}: the word {word:?} for the {n}th time"),
        patience,
        |w| count_word(&w.text, word) >= n,
    );
    app.forget_log();
    Ok(())
}

/// How often `word` (lower case) stands as a whole word in `text`, case
/// ignored.
fn count_word(text: &str, word: &str) -> usize {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| *w == word)
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_counted_whole() {
        let text = "Please schedule it. Send it now! Submit, it's done.";
        assert_eq!(count_word(text, "it"), 3);
        assert_eq!(count_word(text, "please"), 1);
        assert_eq!(count_word(text, "now"), 1);
        assert_eq!(count_word(text, "sch"), 0);
    }
}
