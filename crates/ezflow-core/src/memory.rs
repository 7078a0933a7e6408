//! The process's own memory: reading what it costs (PSS and RSS, from
//! `/proc/self/smaps_rollup`) and handing freed heap back to the OS after a
//! model is unloaded.
//!
//! Reading is Linux-only; elsewhere the figures are `None`.

/// What this process costs in memory, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ProcessMemory {
    /// Proportional set size: resident memory with shared pages divided
    /// among the processes that share them. The honest figure.
    pub pss: u64,
    /// Resident set size: every resident page, shared ones counted whole.
    pub rss: u64,
    /// Anonymous memory: what the process made itself (heap, stacks, the
    /// model's buffers), as opposed to pages of files it mapped, such as its
    /// own code, which the kernel can drop and read again.
    pub anonymous: u64,
}

/// Reads this process's PSS, RSS and anonymous memory, or `None` where the
/// kernel does not provide them.
pub fn current() -> Option<ProcessMemory> {
    of_process("self")
}

/// Reads the PSS, RSS and anonymous memory of process `pid` ("self" for
/// this one).
pub fn of_process(pid: &str) -> Option<ProcessMemory> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    parse_smaps_rollup(&text)
}

fn parse_smaps_rollup(text: &str) -> Option<ProcessMemory> {
    let field = |name: &str| -> Option<u64> {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
            .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
            .map(|kib| kib * 1024)
    };
    Some(ProcessMemory {
        pss: field("Pss")?,
        rss: field("Rss")?,
        anonymous: field("Anonymous")?,
    })
}

/// Keeps the whole process's heap in one glibc arena. Call it first thing in
/// `main`, before any thread starts: glibc fixes how many arenas it allows
/// the first time a second thread needs one, and ignores the setting after.
///
/// glibc gives threads that allocate while another holds the heap lock an
/// arena of their own (up to eight per core), and an arena keeps some of
/// what was freed in it for good. whisper.cpp starts worker threads for
/// every load and transcription, so load/unload cycles of a model found new
/// arenas and left a few MiB behind each: measured with tests/memory.rs,
/// RSS after unload went 9, 13, 15, 18 MiB over four cycles, and stayed at
/// 8 MiB with one arena (two arenas still crept). The threads that compute
/// allocate next to nothing (their buffers are made once per model).
/// Later calls do nothing.
pub fn use_one_heap_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // SAFETY: mallopt only sets a tuning value inside glibc's
            // allocator; M_ARENA_MAX takes effect for arenas made later.
            let done = unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) };
            if done != 1 {
                tracing::debug!(
                    "glibc refused M_ARENA_MAX = 1; threads keep their own heap arenas"
                );
            }
        });
    }
}

/// Returns freed heap memory to the operating system.
///
/// glibc keeps freed memory in its arenas; after dropping a model of tens to
/// hundreds of MB the process would otherwise keep looking (and being
/// accounted as) that large.
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim has no preconditions; it only walks glibc's
        // own arenas.
        unsafe {
            libc::malloc_trim(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rollup() {
        let text = "00400000-7fff [rollup]\nRss:               5432 kB\nPss:               3210 kB\nPss_Anon:  100 kB\nAnonymous:  120 kB\n";
        assert_eq!(
            parse_smaps_rollup(text),
            Some(ProcessMemory {
                pss: 3210 * 1024,
                rss: 5432 * 1024,
                anonymous: 120 * 1024,
            })
        );
        assert_eq!(parse_smaps_rollup("nothing here"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reads_own_memory() {
        let m = current().expect("smaps_rollup readable on Linux");
        assert!(m.rss > 0 && m.pss > 0 && m.pss <= m.rss);
        assert!(m.anonymous > 0 && m.anonymous <= m.rss);
    }
}
