//! Another process seen from outside, the way any tool on the machine could
//! see it: CPU time in clock ticks from `/proc/PID/stat`, the context
//! switches of each of its threads from `/proc/PID/task/*/status`; its log
//! (standard error) followed line by line with bounded waits; and running or
//! ending it within a bound (SIGTERM, then SIGKILL). Used by the app's
//! end-to-end tests, the tray's idle test and the benchmark.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};

/// User + system CPU time of process `pid`, in clock ticks.
pub fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    ticks_in_stat(&stat).with_context(|| format!("parsing /proc/{pid}/stat"))
}

/// utime + stime from the text of `/proc/PID/stat`.
fn ticks_in_stat(stat: &str) -> Option<u64> {
    // The command name (field 2) is in parentheses and may hold spaces;
    // utime and stime are fields 14 and 15, the 12th and 13th after it.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Clock ticks per second (`getconf CLK_TCK`).
pub fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(n).ok().filter(|&n| n > 0).unwrap_or(100)
}

/// One thread of a process, so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadActivity {
    /// Its thread id.
    pub tid: u32,
    /// Its name (`Name:` in its status).
    pub name: String,
    /// Voluntary + involuntary context switches: every time it was put to
    /// sleep or preempted.
    pub switches: u64,
}

/// Every thread of process `pid` with its context switches. A thread that
/// ends while they are read is left out.
pub fn threads(pid: u32) -> anyhow::Result<Vec<ThreadActivity>> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task"))
        .with_context(|| format!("listing /proc/{pid}/task"))?;
    let mut threads = Vec::new();
    for task in tasks {
        let task = task.with_context(|| format!("listing /proc/{pid}/task"))?;
        let Some(tid) = task.file_name().to_str().and_then(|t| t.parse().ok()) else {
            continue;
        };
        // A thread that ended since the listing has no status left.
        let Ok(status) = std::fs::read_to_string(task.path().join("status")) else {
            continue;
        };
        let switches = status_number(&status, "voluntary_ctxt_switches").unwrap_or(0)
            + status_number(&status, "nonvoluntary_ctxt_switches").unwrap_or(0);
        let name = status_text(&status, "Name").unwrap_or_default();
        threads.push(ThreadActivity {
            tid,
            name,
            switches,
        });
    }
    Ok(threads)
}

/// A `Name: value` text from `/proc/PID/status`.
fn status_text(status: &str, name: &str) -> Option<String> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
        .map(|rest| rest.trim().to_owned())
}

/// A `Name: value` number from `/proc/PID/status`.
fn status_number(status: &str, name: &str) -> Option<u64> {
    status_text(status, name)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// How much a process has run so far.
#[derive(Debug, Clone, Copy)]
pub struct Activity {
    /// User + system CPU time, in clock ticks (`CLK_TCK` per second).
    pub ticks: u64,
    /// Voluntary + involuntary context switches, summed over its threads.
    pub switches: u64,
    /// How many threads it has.
    pub threads: usize,
}

/// Reads [`Activity`] of process `pid`.
pub fn activity(pid: u32) -> anyhow::Result<Activity> {
    let ticks = cpu_ticks(pid)?;
    let threads = threads(pid)?;
    Ok(Activity {
        ticks,
        switches: threads.iter().map(|t| t.switches).sum(),
        threads: threads.len(),
    })
}

/// The lines a process writes to a pipe (its log on standard error), read
/// on a thread of their own that ends with the pipe, and waited for with a
/// bound.
pub struct LogLines {
    lines: mpsc::Receiver<String>,
    /// Lines received that no wait has returned yet.
    unclaimed: Vec<String>,
    /// Every line received, for the message when a wait fails.
    log: Vec<String>,
}

impl LogLines {
    /// Follows `pipe`; each line is also written to this process's standard
    /// error after `echo_prefix`, if given (so `--nocapture` shows it).
    pub fn follow(pipe: impl Read + Send + 'static, echo_prefix: Option<&str>) -> LogLines {
        let (tx, lines) = mpsc::channel();
        let echo_prefix = echo_prefix.map(str::to_owned);
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { return };
                if let Some(prefix) = &echo_prefix {
                    eprintln!("{prefix} {line}");
                }
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        LogLines {
            lines,
            unclaimed: Vec::new(),
            log: Vec::new(),
        }
    }

    /// Waits (at most `patience`) for a line containing `needle` that no
    /// earlier wait returned; returns it. The error holds the whole log.
    pub fn wait_for(&mut self, needle: &str, patience: Duration) -> anyhow::Result<String> {
        if let Some(i) = self.unclaimed.iter().position(|l| l.contains(needle)) {
            return Ok(self.unclaimed.remove(i));
        }
        let deadline = Instant::now() + patience;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.log.push(line.clone());
                    if line.contains(needle) {
                        return Ok(line);
                    }
                    self.unclaimed.push(line);
                }
                Err(_) => bail!(
                    "it did not log {needle:?} within {patience:?}; it logged:\n{}",
                    self.log.join("\n")
                ),
            }
        }
    }

    /// Forgets the lines received so far, so later waits see only new ones.
    pub fn forget(&mut self) {
        self.unclaimed.clear();
        while let Ok(line) = self.lines.try_recv() {
            self.log.push(line);
        }
    }
}

/// One process seen in `/proc`: its id, its parent's and its name
/// (`comm`, at most 15 bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessEntry {
    pub pid: u32,
    pub parent: u32,
    pub name: String,
}

/// Every process in `/proc` now (those that end while it is read are
/// skipped).
pub fn all_processes() -> Vec<ProcessEntry> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // "PID (comm) STATE PPID …": comm may hold spaces and parentheses.
            let open = stat.find('(')?;
            let close = stat.rfind(')')?;
            let name = stat.get(open + 1..close)?.to_owned();
            let parent = stat
                .get(close + 2..)?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()?;
            Some(ProcessEntry { pid, parent, name })
        })
        .collect()
}

/// `pid`'s descendants now (children, their children, …), not `pid`
/// itself.
pub fn descendants(pid: u32) -> Vec<ProcessEntry> {
    let all = all_processes();
    let mut found: Vec<ProcessEntry> = Vec::new();
    let mut parents = vec![pid];
    while let Some(parent) = parents.pop() {
        for entry in all.iter().filter(|e| e.parent == parent) {
            parents.push(entry.pid);
            found.push(entry.clone());
        }
    }
    found
}

/// A child process whose log (standard error) is followed. Killed when
/// dropped, if it still runs.
pub struct WatchedProcess {
    child: Option<Child>,
    log: LogLines,
}

impl WatchedProcess {
    /// Spawns `command` with stdout to `/dev/null` and stderr followed (see
    /// [`LogLines::follow`] for `echo_prefix`).
    pub fn spawn(command: &mut Command, echo_prefix: Option<&str>) -> anyhow::Result<Self> {
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {:?}", command.get_program()))?;
        let stderr = child
            .stderr
            .take()
            .context("the child's standard error is piped")?;
        Ok(WatchedProcess {
            child: Some(child),
            log: LogLines::follow(stderr, echo_prefix),
        })
    }

    /// Its process id (0 once it was terminated).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// [`LogLines::wait_for`] on its log.
    pub fn wait_for_line(&mut self, needle: &str, patience: Duration) -> anyhow::Result<String> {
        self.log.wait_for(needle, patience)
    }

    /// [`LogLines::forget`] on its log.
    pub fn forget_log(&mut self) {
        self.log.forget();
    }

    /// SIGTERM, then waits (at most `patience`) for the process to end;
    /// SIGKILL and an error if it does not.
    pub fn terminate(&mut self, patience: Duration) -> anyhow::Result<ExitStatus> {
        let Some(child) = self.child.take() else {
            bail!("the process was already gone");
        };
        let pid = child.id();
        // SAFETY: kill(2) on our own child, which has not been reaped.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) };
        wait_within(child, patience)?
            .with_context(|| format!("pid {pid} did not end within {patience:?} of SIGTERM"))
    }
}

impl Drop for WatchedProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits for `child` on a thread; `Ok(None)` (after SIGKILL) when it takes
/// longer than `patience`.
fn wait_within(mut child: Child, patience: Duration) -> anyhow::Result<Option<ExitStatus>> {
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait());
    });
    match rx.recv_timeout(patience) {
        Ok(status) => Ok(Some(status.context("waiting for the process")?)),
        Err(_) => {
            // SAFETY: kill(2) on our own child, not yet reaped (its waiting
            // thread is still blocked in wait).
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            Ok(None)
        }
    }
}

/// Runs `command` to its end with its output captured, killing it if it
/// takes longer than `patience`.
pub fn output_within(command: &mut Command, patience: Duration) -> anyhow::Result<Output> {
    let what = format!("{:?}", command.get_program());
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("running {what}"))?;
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(patience) {
        Ok(output) => output.with_context(|| format!("waiting for {what}")),
        Err(_) => {
            // SAFETY: kill(2) on our own child, not yet reaped (its waiting
            // thread is still blocked in wait).
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            bail!("{what} did not finish within {patience:?}; killed")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_and_its_child_are_descendants() {
        let mut child = Command::new("sh")
            .args(["-c", "sleep 30 & wait"])
            .spawn()
            .expect("sh");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let found = loop {
            let found = descendants(std::process::id());
            let grandchild = found
                .iter()
                .any(|e| e.name == "sleep" && e.parent == child.id());
            if grandchild || std::time::Instant::now() > deadline {
                break found;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let _ = Command::new("pkill")
            .args(["-P", &child.id().to_string()])
            .status();
        let _ = child.kill();
        let _ = child.wait();
        let sh = found
            .iter()
            .find(|e| e.pid == child.id())
            .expect("sh is a child");
        assert_eq!(sh.parent, std::process::id());
        assert!(
            found
                .iter()
                .any(|e| e.name == "sleep" && e.parent == child.id()),
            "the grandchild is found: {found:?}"
        );
    }

    #[test]
    fn cpu_ticks_skip_a_command_name_with_spaces() {
        let stat = "42 (ez flow) S 1 42 42 0 -1 4194560 100 0 0 0 7 5 0 0 20 0 3 0 1 2 3";
        assert_eq!(ticks_in_stat(stat), Some(12));
        assert_eq!(ticks_in_stat("42 (x"), None);
    }

    #[test]
    fn own_threads_and_activity_are_read() {
        let me = std::process::id();
        let threads = threads(me).expect("own threads");
        assert!(threads.iter().any(|t| t.tid == me), "{threads:?}");
        let activity = activity(me).expect("own activity");
        assert!(activity.threads >= 1);
        assert!(cpu_ticks(me).is_ok());
    }

    #[test]
    fn log_lines_are_waited_for_once_each() {
        let mut process = WatchedProcess::spawn(
            Command::new("sh").args(["-c", "echo one >&2; echo two >&2; exec sleep 30"]),
            None,
        )
        .expect("sh starts");
        let patience = Duration::from_secs(10);
        assert_eq!(process.wait_for_line("two", patience).expect("two"), "two");
        assert_eq!(process.wait_for_line("one", patience).expect("one"), "one");
        let missing = process
            .wait_for_line("one", Duration::from_millis(50))
            .expect_err("each line is returned once");
        assert!(missing.to_string().contains("one\ntwo"), "{missing}");
        let status = process.terminate(patience).expect("sh ends on SIGTERM");
        assert!(!status.success());
    }

    #[test]
    fn a_command_that_outlasts_its_bound_is_killed() {
        let started = Instant::now();
        let err = output_within(Command::new("sleep").arg("30"), Duration::from_millis(200))
            .expect_err("sleep 30 outlasts 200 ms");
        assert!(err.to_string().contains("killed"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(10));
        let output = output_within(Command::new("echo").arg("hi"), Duration::from_secs(10))
            .expect("echo runs");
        assert_eq!(output.stdout, b"hi\n");
    }
}
