//! The models as the settings window sees them: what the loop needs of the
//! model store ([`ModelLibrary`]: the report, downloads, cancel, remove,
//! import), and which catalog model suits this machine ([`recommended`]).
//! The real library is `downloads.rs` over `ezflow_core`'s `models`,
//! `download` and `import`; the unit tests use a fake.
//!
//! It must not decide which model is active (the `model` setting, written
//! by the loop) nor load one (the transcriber).

use ezflow_control::{ImportQuantize, ModelsReport};

pub trait ModelLibrary {
    /// The catalog, what is installed and running downloads, for the
    /// `model` setting `active`; the recommendation for English speech
    /// (`english`) or other.
    fn report(&self, active: &str, loaded: bool, english: bool) -> Result<ModelsReport, String>;
    /// Starts downloading the catalog model `id` on a thread of its own;
    /// progress and the end are published as events.
    fn download(&self, id: &str) -> Result<(), String>;
    /// Cancels the running download of `id`; its partial file stays.
    fn cancel(&self, id: &str) -> Result<(), String>;
    /// Deletes the installed model `id` (and a partial download of it).
    fn remove(&self, id: &str) -> Result<(), String>;
    /// Starts converting the faster-whisper folder `path` on a thread of
    /// its own; progress and the end are published as events.
    fn import(&self, path: &str, quantize: Option<ImportQuantize>) -> Result<(), String>;
    /// Whether the model `id` is installed (a file in the store).
    fn is_installed(&self, id: &str) -> bool;
    /// Whether the store holds no model at all (the first run).
    fn is_empty(&self) -> bool;
}

/// The catalog model to suggest on a machine with `cores` physical cores
/// and `memory` bytes of RAM, for English (`english`) or other speech.
///
/// The rule, from the benchmark's real-time factors (docs/performance.md):
/// - under 2 GiB of memory or a single core: `tiny` (about 0.1 GB loaded);
///   anything larger leaves too little for the rest of the desktop or
///   runs slower than speech;
/// - 8 cores or more and at least 8 GiB: `small` (about 0.5 GB loaded,
///   noticeably more accurate, still well under real time there);
/// - otherwise `base` (about 0.2 GB loaded), the default.
///
/// English-only (`.en`) models are more accurate for English at the same
/// size, so they are suggested unless the speech is in another language.
pub fn recommended(cores: usize, memory: Option<u64>, english: bool) -> &'static str {
    const GIB: u64 = 1024 * 1024 * 1024;
    let memory = memory.unwrap_or(4 * GIB);
    let family = if memory < 2 * GIB || cores <= 1 {
        "tiny"
    } else if cores >= 8 && memory >= 8 * GIB {
        "small"
    } else {
        "base"
    };
    match (family, english) {
        ("tiny", true) => "tiny.en",
        ("tiny", false) => "tiny",
        ("small", true) => "small.en",
        ("small", false) => "small",
        (_, true) => "base.en",
        (_, false) => "base",
    }
}

/// The machine's memory in bytes (`MemTotal` in `/proc/meminfo`).
pub fn total_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line
        .trim_start_matches("MemTotal:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1024 * 1024 * 1024;

    #[test]
    fn the_recommendation_follows_cores_and_memory() {
        assert_eq!(recommended(2, Some(4 * GIB), true), "base.en");
        assert_eq!(recommended(1, Some(16 * GIB), true), "tiny.en");
        assert_eq!(recommended(16, Some(GIB), true), "tiny.en");
        assert_eq!(recommended(8, Some(8 * GIB), true), "small.en");
        assert_eq!(recommended(8, Some(6 * GIB), false), "base");
        assert_eq!(recommended(4, None, true), "base.en");
        for id in ["tiny", "tiny.en", "base", "base.en", "small", "small.en"] {
            assert!(
                ezflow_core::catalog::find(id).is_some(),
                "{id} is in the catalog"
            );
        }
    }

    #[test]
    fn this_machine_has_memory() {
        assert!(total_memory().is_some_and(|m| m > 0));
    }
}
