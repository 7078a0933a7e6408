//! One settings window at a time.
//!
//! It owns `settings.lock` and `settings.sock` in the control socket's
//! directory (`$EZFLOW_RUNTIME_DIR`, or `$XDG_RUNTIME_DIR/ezflow`): the
//! first process takes an exclusive `flock` on the lock (held until it
//! exits; the kernel drops it however it dies) and listens on the socket
//! (mode 0600 before anyone can connect, peer uid checked). A second process
//! finds the lock taken, connects, sends `focus`, and exits: the first one
//! shows and focuses its window.

use std::ffi::CString;
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, BufRead as _, BufReader, Read as _, Write as _};
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{DirBuilderExt as _, FileTypeExt as _, OpenOptionsExt as _};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The lock file's name beside the control socket.
pub const LOCK_FILE_NAME: &str = "settings.lock";
/// The socket a second window process asks the first one through.
pub const SOCKET_FILE_NAME: &str = "settings.sock";
/// The one message a second process sends.
const FOCUS: &[u8] = b"focus\n";
/// How long a second process tries to reach the first (which may have just
/// taken the lock and not yet listen).
const REACH_FIRST: Duration = Duration::from_secs(3);

/// Taking the place of the one window failed.
#[derive(Debug, thiserror::Error)]
pub enum InstanceError {
    #[error("{0}")]
    Place(#[from] ezflow_control::ControlError),
    #[error("cannot create {}: {source}", path.display())]
    CreateDir { path: PathBuf, source: io::Error },
    #[error("cannot take the settings window's lock {}: {source}", path.display())]
    Lock { path: PathBuf, source: io::Error },
    #[error("cannot listen on {}: {source}", path.display())]
    Listen { path: PathBuf, source: io::Error },
    #[error("{} exists and is not a socket; not replacing it", path.display())]
    NotASocket { path: PathBuf },
    #[error(
        "another settings window holds {} but does not answer on {}: {source}",
        lock.display(),
        socket.display()
    )]
    FirstUnreachable {
        lock: PathBuf,
        socket: PathBuf,
        source: io::Error,
    },
}

/// What starting found.
pub enum Instance {
    /// This process is the window. The lock is held as long as this lives.
    First(FirstInstance),
    /// Another window was open and has been asked to come to the front.
    Focused,
}

/// The first window's lock and listening socket.
pub struct FirstInstance {
    _lock: File,
    listener: UnixListener,
    socket: PathBuf,
}

/// The directory that holds the control socket (and the window's files).
pub fn runtime_dir() -> Result<PathBuf, InstanceError> {
    let control = ezflow_control::socket_path()?;
    Ok(control
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("/")))
}

/// Takes the one-window place in `dir`, or asks the window that has it to
/// come to the front.
pub fn claim(dir: &Path) -> Result<Instance, InstanceError> {
    if !dir.is_dir() {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| InstanceError::CreateDir {
                path: dir.to_owned(),
                source,
            })?;
    }
    let lock_path = dir.join(LOCK_FILE_NAME);
    let socket = dir.join(SOCKET_FILE_NAME);
    let lock = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&lock_path)
        .map_err(|source| InstanceError::Lock {
            path: lock_path.clone(),
            source,
        })?;
    // SAFETY: flock on a descriptor this function owns.
    let locked = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if locked != 0 {
        let source = io::Error::last_os_error();
        if source.kind() != io::ErrorKind::WouldBlock {
            return Err(InstanceError::Lock {
                path: lock_path,
                source,
            });
        }
        ask_first_to_focus(&socket).map_err(|source| InstanceError::FirstUnreachable {
            lock: lock_path,
            socket,
            source,
        })?;
        return Ok(Instance::Focused);
    }
    // With the lock held, anything at the socket's path is a leftover.
    match std::fs::symlink_metadata(&socket) {
        Ok(meta) if meta.file_type().is_socket() => {
            let _ = std::fs::remove_file(&socket);
        }
        Ok(_) => return Err(InstanceError::NotASocket { path: socket }),
        Err(_) => {}
    }
    let listener = listen_private(&socket).map_err(|source| InstanceError::Listen {
        path: socket.clone(),
        source,
    })?;
    Ok(Instance::First(FirstInstance {
        _lock: lock,
        listener,
        socket,
    }))
}

/// Binds a Unix socket, makes it 0600, then listens: no one can connect
/// before the mode is set.
fn listen_private(path: &Path) -> io::Result<UnixListener> {
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path has a NUL byte"))?;
    // SAFETY: plain socket calls on a descriptor owned by `fd` from here on;
    // `addr` is zeroed and filled within its bounds (checked below).
    unsafe {
        let raw = libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = OwnedFd::from_raw_fd(raw);
        let mut addr: libc::sockaddr_un = std::mem::zeroed();
        addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
        let bytes = c_path.as_bytes_with_nul();
        if bytes.len() > addr.sun_path.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "path too long for a Unix socket",
            ));
        }
        for (dst, src) in addr.sun_path.iter_mut().zip(bytes) {
            *dst = *src as libc::c_char;
        }
        let len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
        if libc::bind(
            fd.as_raw_fd(),
            &addr as *const libc::sockaddr_un as *const libc::sockaddr,
            len,
        ) != 0
        {
            return Err(io::Error::last_os_error());
        }
        if libc::chmod(c_path.as_ptr(), 0o600) != 0 {
            let e = io::Error::last_os_error();
            let _ = std::fs::remove_file(path);
            return Err(e);
        }
        if libc::listen(fd.as_raw_fd(), 8) != 0 {
            let e = io::Error::last_os_error();
            let _ = std::fs::remove_file(path);
            return Err(e);
        }
        Ok(UnixListener::from(fd))
    }
}

/// Sends `focus` to the first window and waits for its `ok`.
fn ask_first_to_focus(socket: &Path) -> io::Result<()> {
    let deadline = Instant::now() + REACH_FIRST;
    let stream = loop {
        match UnixStream::connect(socket) {
            Ok(stream) => break stream,
            Err(e) if Instant::now() >= deadline => return Err(e),
            // The first process may hold the lock and not listen yet: a
            // short, bounded wait between attempts.
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    stream.set_read_timeout(Some(REACH_FIRST))?;
    stream.set_write_timeout(Some(REACH_FIRST))?;
    (&stream).write_all(FOCUS)?;
    let mut answer = String::new();
    BufReader::new(stream).take(64).read_line(&mut answer)?;
    Ok(())
}

/// Whether the peer of `stream` is this process's user.
fn peer_is_us(stream: &UnixStream) -> bool {
    let mut cred: libc::ucred = libc::ucred {
        pid: 0,
        uid: u32::MAX,
        gid: u32::MAX,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `cred`.
    let got = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            &mut cred as *mut libc::ucred as *mut libc::c_void,
            &mut len,
        )
    };
    // SAFETY: geteuid cannot fail.
    got == 0 && cred.uid == unsafe { libc::geteuid() }
}

impl FirstInstance {
    /// The socket's path (removed when the process ends normally).
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Blocks in `accept` for the process's lifetime, calling `focus` for
    /// each `focus` a second process sends. Run it on its own thread.
    pub fn serve(&self, focus: impl Fn()) {
        for stream in self.listener.incoming() {
            let stream = match stream {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!("settings.sock: accept failed: {e}");
                    continue;
                }
            };
            if !peer_is_us(&stream) {
                tracing::warn!("settings.sock: refused a peer of another user");
                continue;
            }
            let _ = stream.set_read_timeout(Some(REACH_FIRST));
            let _ = stream.set_write_timeout(Some(REACH_FIRST));
            let mut line = String::new();
            let read = BufReader::new(&stream).take(64).read_line(&mut line);
            if read.is_ok() && line.trim() == "focus" {
                tracing::info!("another settings window was asked for; focusing this one");
                focus();
                let _ = (&stream).write_all(b"ok\n");
            }
        }
    }
}

impl Drop for FirstInstance {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.socket);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[test]
    fn the_second_claim_focuses_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let first = match claim(dir.path()).unwrap() {
            Instance::First(first) => Arc::new(first),
            Instance::Focused => panic!("nothing was open"),
        };
        let mode = std::fs::metadata(first.socket()).unwrap();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
            0o600
        );
        let focused = Arc::new(AtomicUsize::new(0));
        let (f, n) = (Arc::clone(&first), Arc::clone(&focused));
        std::thread::spawn(move || {
            f.serve(|| {
                n.fetch_add(1, Ordering::SeqCst);
            })
        });
        assert!(matches!(claim(dir.path()).unwrap(), Instance::Focused));
        assert_eq!(focused.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_stale_socket_is_replaced_but_a_file_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let stale = dir.path().join(SOCKET_FILE_NAME);
        drop(UnixListener::bind(&stale).unwrap());
        assert!(matches!(claim(dir.path()).unwrap(), Instance::First(_)));

        let other = tempfile::tempdir().unwrap();
        std::fs::write(other.path().join(SOCKET_FILE_NAME), b"x").unwrap();
        let e = claim(other.path()).err().expect("a plain file stays");
        assert!(matches!(e, InstanceError::NotASocket { .. }), "{e}");
    }
}
