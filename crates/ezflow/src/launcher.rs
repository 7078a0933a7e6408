//! Which `ezflow` build runs, and which path other programs are told to
//! start.
//!
//! whisper.cpp's kernels are compiled for one CPU level. The package's
//! `/usr/bin/ezflow` is built for the x86-64 baseline, so it starts on every
//! 64-bit PC; beside it, in `../lib/ezflow/`, the package ships the same
//! program built for newer levels (`ezflow-x86-64-v3`: AVX2, FMA, F16C;
//! `ezflow-x86-64-v4`: AVX-512). At start the baseline build asks the CPU
//! what it can run and replaces itself (`exec`) with the fastest build that
//! runs here, before anything else happens. A build from source
//! (`cargo build`) is compiled for the machine it is built on and never
//! hands over.
//!
//! The autostart entry and the settings window's "start EZ Flow" must name
//! the public binary (`/usr/bin/ezflow`), not the build that happens to run:
//! [`public_exe`] is that path.

use std::ffi::OsString;
use std::path::PathBuf;

/// Set by the baseline build for the build it hands over to: the public
/// binary's path. Read once at start and removed from the environment.
pub const PUBLIC_EXE_ENV: &str = "EZFLOW_EXE";
/// `EZFLOW_CPU=x86-64` (or any level name) caps the build that runs: a way
/// out if a newer build misbehaves on some CPU, and how the tests run the
/// baseline on this machine.
pub const CPU_CAP_ENV: &str = "EZFLOW_CPU";

/// The CPU level this binary's whisper.cpp was compiled for: set by
/// `scripts/package.sh` through `EZFLOW_CPU_LEVEL`; a build from source is
/// `native`.
pub const CPU_LEVEL: &str = match option_env!("EZFLOW_CPU_LEVEL") {
    Some(level) => level,
    None => "native",
};

/// `EZFLOW_EXE` as this process was started with it, taken out of the
/// environment by [`hand_over_to_fastest_build`] so that nothing this
/// process starts (the settings window, and the app that window may start
/// again later) inherits it.
static PUBLIC_EXE: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();

/// The path to start EZ Flow by: the binary the user or the package
/// installed, even when a faster build beside it is the one running.
pub fn public_exe() -> std::io::Result<PathBuf> {
    let given = PUBLIC_EXE.get_or_init(|| std::env::var_os(PUBLIC_EXE_ENV).map(PathBuf::from));
    match given {
        Some(path) if path.is_absolute() => Ok(path.clone()),
        _ => std::env::current_exe(),
    }
}

/// The levels above the baseline, fastest first, each with the CPU
/// features its build needs (as `is_x86_feature_detected!` names them).
#[cfg(target_arch = "x86_64")]
fn level_runs_here(level: &str) -> bool {
    match level {
        "x86-64-v4" => {
            std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("avx512dq")
                && std::arch::is_x86_feature_detected!("avx512vl")
                && std::arch::is_x86_feature_detected!("avx512cd")
                && level_runs_here("x86-64-v3")
        }
        "x86-64-v3" => {
            std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
                && std::arch::is_x86_feature_detected!("f16c")
                && std::arch::is_x86_feature_detected!("bmi2")
        }
        _ => false,
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn level_runs_here(_level: &str) -> bool {
    false
}

/// The faster builds, fastest first.
const FASTER_LEVELS: [&str; 2] = ["x86-64-v4", "x86-64-v3"];

/// In the baseline build, hands over to the fastest build beside it that
/// this CPU runs (never returns then); otherwise returns at once. Called
/// first thing in `main`, while the process has one thread and before
/// logging exists: a failed hand-over is reported on stderr and the next
/// build, or the baseline, carries on. Only the baseline hands over, so a
/// hand-over never loops.
pub fn hand_over_to_fastest_build() {
    // Read once, then kept from the programs this process starts.
    let _ = public_exe();
    if std::env::var_os(PUBLIC_EXE_ENV).is_some() {
        std::env::remove_var(PUBLIC_EXE_ENV);
    }
    if CPU_LEVEL != "x86-64" {
        return;
    }
    let cap = std::env::var(CPU_CAP_ENV).unwrap_or_default();
    if !cap.is_empty() && cap != "x86-64" && !FASTER_LEVELS.contains(&cap.as_str()) {
        eprintln!(
            "ezflow: {CPU_CAP_ENV}={cap:?} is not a CPU build; use x86-64, x86-64-v3 or \
             x86-64-v4. Running the baseline build"
        );
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let Some(lib) = exe
        .parent()
        .and_then(|bin| bin.parent())
        .map(|prefix| prefix.join("lib").join("ezflow"))
    else {
        return;
    };
    let allowed = |level: &str| {
        cap.is_empty()
            || FASTER_LEVELS
                .iter()
                .position(|l| *l == level)
                .zip(FASTER_LEVELS.iter().position(|l| *l == cap))
                .is_some_and(|(mine, capped)| mine >= capped)
    };
    for level in FASTER_LEVELS {
        let build = lib.join(format!("ezflow-{level}"));
        if !allowed(level) || !level_runs_here(level) || !build.is_file() {
            continue;
        }
        let mut args = std::env::args_os();
        let arg0 = args.next().unwrap_or_else(|| OsString::from("ezflow"));
        use std::os::unix::process::CommandExt;
        let error = std::process::Command::new(&build)
            .arg0(arg0)
            .args(args)
            .env(PUBLIC_EXE_ENV, &exe)
            .exec();
        eprintln!(
            "ezflow: could not start the {level} build {}: {error}; trying the next one",
            build.display()
        );
    }
}

/// `--version`'s text: the version and the CPU build that is running,
/// e.g. `0.1.0 (CPU build x86-64-v3)`.
pub fn version() -> &'static str {
    static VERSION: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    VERSION.get_or_init(|| {
        let version = env!("CARGO_PKG_VERSION");
        match CPU_LEVEL {
            "native" => format!("{version} (CPU build native: for the machine it was built on)"),
            level => format!("{version} (CPU build {level})"),
        }
    })
}
