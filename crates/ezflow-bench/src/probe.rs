//! What the harness reads about a process from outside, the way any tool on
//! the machine could: memory (PSS and RSS from `/proc/PID/smaps_rollup`, the
//! peak resident size from `wait4`), and CPU time and context switches
//! (`ezflow_testbed::process`, which the app's tests read too). Nothing here
//! asks the process itself.

use std::io::Read as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use ezflow_core::memory::ProcessMemory;
pub use ezflow_testbed::process::{activity, clock_ticks_per_second, Activity};

/// PSS and RSS of process `pid`.
pub fn memory(pid: u32) -> anyhow::Result<ProcessMemory> {
    ezflow_core::memory::of_process(&pid.to_string())
        .with_context(|| format!("reading /proc/{pid}/smaps_rollup"))
}

/// A command run to its end with its peak memory.
#[derive(Debug, Clone, Copy)]
pub struct PeakRun {
    /// The most resident memory the process ever had (`ru_maxrss` from
    /// `wait4`, the kernel's VmHWM at exit), in bytes.
    pub peak_rss: u64,
    /// From spawn to exit.
    pub wall: Duration,
}

/// Runs `command` to its end and reads its peak resident memory from
/// `wait4`. Fails with its error output if it does not succeed.
pub fn run_to_peak(command: &mut Command) -> anyhow::Result<PeakRun> {
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting the command")?;
    let stderr = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut stderr) = stderr {
            let _ = stderr.read_to_string(&mut text);
        }
        text
    });
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let reaped = loop {
        // SAFETY: wait4 on our own child, which nothing else waits for
        // (std's Child never waits on its own, and it is not asked to).
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == -1 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        break r;
    };
    let wall = started.elapsed();
    let errors = reader.join().unwrap_or_default();
    if reaped != pid {
        bail!("wait4: {}", std::io::Error::last_os_error());
    }
    if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
        bail!(
            "it failed (wait status {status:#x}): {}",
            errors.lines().last().unwrap_or("no error output")
        );
    }
    // Linux reports ru_maxrss in KiB.
    let peak_rss = u64::try_from(usage.ru_maxrss).unwrap_or(0) * 1024;
    Ok(PeakRun { peak_rss, wall })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_activity_and_memory_are_read() {
        let pid = std::process::id();
        let a = activity(pid).unwrap();
        assert!(a.threads >= 1);
        let m = memory(pid).unwrap();
        assert!(m.pss > 0 && m.pss <= m.rss);
    }

    #[test]
    fn peak_of_a_child_that_touches_memory() {
        // A shell that builds a 64 MiB string holds at least that much.
        let run = run_to_peak(Command::new("sh").args([
            "-c",
            "x=$(head -c 67108864 /dev/zero | tr '\\0' a); : ${#x}",
        ]))
        .unwrap();
        assert!(run.peak_rss >= 64 << 20, "peak {} bytes", run.peak_rss);
        let failed = run_to_peak(Command::new("sh").args(["-c", "echo nope >&2; exit 3"]));
        assert!(failed.unwrap_err().to_string().contains("nope"));
    }
}
