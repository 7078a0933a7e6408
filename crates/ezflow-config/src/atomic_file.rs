//! Replacing a file so that a crash or a full disk leaves either the old
//! content or the new, never a mix: write a temporary file beside it, fsync,
//! rename over it, fsync the directory. Shared by settings, model installs
//! and the telemetry queue.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// Creates a new, empty temporary file in `dir` whose name starts with
/// `.{file_name}.tmp-`. A stale one from a crash never blocks a new one.
pub fn create_temp_file(dir: &Path, file_name: &str) -> io::Result<(PathBuf, File)> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let mut last_err = io::Error::from(io::ErrorKind::AlreadyExists);
    for _ in 0..100 {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let p = dir.join(format!(".{file_name}.tmp-{}-{n}", std::process::id()));
        match OpenOptions::new().write(true).create_new(true).open(&p) {
            Ok(f) => return Ok((p, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_err = e,
            Err(e) => return Err(e),
        }
    }
    Err(last_err)
}

/// Replaces `path` with `bytes` atomically. On error the old file is
/// untouched and the temporary file is removed.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?
        .to_string_lossy();
    let (tmp_path, mut tmp) = create_temp_file(dir, &name)?;
    let written = (|| {
        tmp.write_all(bytes)?;
        tmp.sync_all()?;
        drop(tmp);
        fs::rename(&tmp_path, path)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp_path);
        return Err(e);
    }
    sync_dir(dir);
    Ok(())
}

/// Makes a rename in `dir` durable. A failure only weakens the crash
/// guarantee, so it is logged rather than returned.
pub fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Err(e) = File::open(dir).and_then(|d| d.sync_all()) {
        tracing::warn!(dir = %dir.display(), error = %e, "could not fsync the directory");
    }
    #[cfg(not(unix))]
    let _ = dir;
}
