//! The `threads` setting, and what "automatic" resolves to: the number of
//! physical cores (read from `/proc/cpuinfo` on Linux).

use std::collections::HashSet;
use std::fmt;
use std::fs;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::fields::{expect_whole_number, parse_whole_number, THREADS_ACCEPTS};
use super::{invalid, SettingsError, MAX_THREADS};

/// How many threads transcription uses: automatic (one per physical core)
/// or an explicit count from 1 to [`MAX_THREADS`]. Written as 0 for automatic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Threads(u32);

impl Threads {
    /// One thread per physical core.
    pub const AUTO: Threads = Threads(0);

    /// `0` is automatic; otherwise 1 to [`MAX_THREADS`].
    pub fn new(n: u32) -> Result<Threads, SettingsError> {
        check_threads(i64::from(n))
            .map_err(|r| invalid("threads", &n.to_string(), r, THREADS_ACCEPTS))
    }

    /// The count as written in the file: 0 for automatic.
    pub fn get(self) -> u32 {
        self.0
    }

    pub fn is_auto(self) -> bool {
        self.0 == 0
    }

    /// The number of threads to actually use.
    pub fn resolve(self) -> usize {
        if self.is_auto() {
            physical_cores()
        } else {
            self.0 as usize
        }
    }
}

pub(super) fn check_threads(n: i64) -> Result<Threads, String> {
    match n {
        n if n < 0 => Err("a thread count cannot be negative".to_owned()),
        n if n > i64::from(MAX_THREADS) => Err(format!("more than {MAX_THREADS} threads")),
        n => Ok(Threads(n as u32)),
    }
}

pub(super) fn threads_from_toml(v: &toml::Value) -> Result<Threads, String> {
    check_threads(expect_whole_number(v, "threads")?)
}

/// Accepts `auto` or a number, for command-line flags.
impl FromStr for Threads {
    type Err = SettingsError;
    fn from_str(s: &str) -> Result<Self, SettingsError> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("auto") {
            return Ok(Threads::AUTO);
        }
        let reason = match parse_whole_number(t).and_then(check_threads) {
            Ok(th) => return Ok(th),
            Err(r) => r,
        };
        Err(invalid("threads", s, reason, THREADS_ACCEPTS))
    }
}

impl fmt::Display for Threads {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_auto() {
            f.write_str("auto")
        } else {
            write!(f, "{}", self.0)
        }
    }
}

impl Serialize for Threads {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.0)
    }
}

impl<'de> Deserialize<'de> for Threads {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = i64::deserialize(d)?;
        check_threads(n).map_err(serde::de::Error::custom)
    }
}

/// The number of physical CPU cores this process may use (hyperthread
/// siblings count once), at least 1. Whisper runs no faster on sibling
/// threads, so this is the automatic thread count.
///
/// On Linux it counts distinct `(physical id, core id)` pairs in
/// `/proc/cpuinfo`; elsewhere, or when that file lacks them (some ARM boards
/// and VMs), it falls back to [`std::thread::available_parallelism`]. It never
/// exceeds `available_parallelism`, which honours CPU affinity and container
/// limits.
pub fn physical_cores() -> usize {
    let logical = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    #[cfg(target_os = "linux")]
    if let Ok(text) = fs::read_to_string("/proc/cpuinfo") {
        if let Some(n) = count_physical_cores(&text) {
            return n.clamp(1, logical);
        }
    }
    logical
}

/// Distinct `(physical id, core id)` pairs, or `None` if any processor
/// entry lacks a core id (so the count would be a guess).
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(super) fn count_physical_cores(cpuinfo: &str) -> Option<usize> {
    let mut cores = HashSet::new();
    for block in cpuinfo.split("\n\n") {
        let mut is_processor = false;
        let mut package = "0";
        let mut core = None;
        for line in block.lines() {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            match k.trim() {
                "processor" => is_processor = true,
                "physical id" => package = v.trim(),
                "core id" => core = Some(v.trim()),
                _ => {}
            }
        }
        if !is_processor {
            continue;
        }
        cores.insert((package, core?));
    }
    (!cores.is_empty()).then_some(cores.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpuinfo_counts_cores_not_hyperthreads() {
        let block = |p: u32, pkg: u32, core: u32| {
            format!("processor\t: {p}\nphysical id\t: {pkg}\ncore id\t\t: {core}\nflags\t\t: fpu\n")
        };
        // Two packages, two cores each, two threads per core.
        let mut text = String::new();
        let mut p = 0;
        for pkg in 0..2 {
            for _thread in 0..2 {
                for core in 0..2 {
                    text.push_str(&block(p, pkg, core));
                    text.push('\n');
                    p += 1;
                }
            }
        }
        assert_eq!(count_physical_cores(&text), Some(4));
        // An ARM-style cpuinfo has no core ids: no guess.
        assert_eq!(
            count_physical_cores("processor\t: 0\nBogoMIPS\t: 48.00\n\nprocessor\t: 1\n"),
            None
        );
        assert_eq!(count_physical_cores(""), None);
    }
}
