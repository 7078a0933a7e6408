//! The few socket and file-lock system calls the control socket needs that
//! std does not offer: binding without listening (so permissions can be set
//! in between), connecting with a timeout, reading the peer's credentials,
//! and `flock`. Each unsafe block is a plain libc call on a descriptor we own.
//!
//! Nothing here knows the protocol or logs.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::Duration;

/// The longest socket path, in bytes (`sun_path` less its terminating NUL).
pub(crate) const MAX_SOCKET_PATH_BYTES: usize = std::mem::size_of::<libc::sockaddr_un>()
    - std::mem::offset_of!(libc::sockaddr_un, sun_path)
    - 1;

/// How many connections the kernel queues before `accept` takes them.
const LISTEN_BACKLOG: libc::c_int = 64;

/// Why a socket address could not be built.
#[derive(Debug)]
pub(crate) enum AddrError {
    TooLong,
    Io(io::Error),
}

fn socket_addr(path: &Path) -> Result<(libc::sockaddr_un, libc::socklen_t), AddrError> {
    let bytes = path.as_os_str().as_bytes();
    if bytes.len() > MAX_SOCKET_PATH_BYTES {
        return Err(AddrError::TooLong);
    }
    if bytes.contains(&0) {
        return Err(AddrError::Io(io::Error::new(
            io::ErrorKind::InvalidInput,
            "the socket path contains a NUL byte",
        )));
    }
    // SAFETY: sockaddr_un is plain old data; all zeroes is a valid value.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (dst, src) in addr.sun_path.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    let len = std::mem::offset_of!(libc::sockaddr_un, sun_path) + bytes.len() + 1;
    // `len` is at most the size of sockaddr_un, far below socklen_t's range.
    Ok((addr, len as libc::socklen_t))
}

/// A new Unix stream socket, close-on-exec (the app starts the settings
/// window as a child; it must not inherit the listener).
fn stream_socket() -> io::Result<OwnedFd> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        // SAFETY: plain system call; the result is checked before use.
        let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor that nothing else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        // SAFETY: plain system call; the result is checked before use.
        let fd = unsafe { libc::socket(libc::AF_UNIX, libc::SOCK_STREAM, 0) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: fcntl on a descriptor we own.
        if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(fd)
    }
}

/// Binds a Unix socket at `path`, gives the file `mode`, and only then
/// listens.
///
/// Until `listen(2)`, a `connect(2)` to the path is refused whatever the
/// file's mode, so the moment between `bind` (mode from the umask) and
/// `chmod` lets no one in. This avoids changing the process-wide umask,
/// which other threads' file creation would race with. If any step after
/// `bind` fails, the file is removed again.
pub(crate) fn bind_and_listen(path: &Path, mode: u32) -> Result<UnixListener, AddrError> {
    let (addr, len) = socket_addr(path)?;
    let fd = stream_socket().map_err(AddrError::Io)?;
    // SAFETY: `addr` is a valid sockaddr_un of `len` bytes; `fd` is ours.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&addr as *const libc::sockaddr_un).cast::<libc::sockaddr>(),
            len,
        )
    };
    if rc != 0 {
        return Err(AddrError::Io(io::Error::last_os_error()));
    }
    let finish = || -> io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
        // SAFETY: listen on a bound socket we own.
        if unsafe { libc::listen(fd.as_raw_fd(), LISTEN_BACKLOG) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    };
    if let Err(e) = finish() {
        let _ = std::fs::remove_file(path);
        return Err(AddrError::Io(e));
    }
    Ok(UnixListener::from(fd))
}

/// Connects to the socket at `path`. `timeout` bounds the connect itself
/// (Linux makes a connect to a full backlog wait, up to the send timeout)
/// and is left set as the stream's write timeout.
pub(crate) fn connect(path: &Path, timeout: Duration) -> Result<UnixStream, AddrError> {
    let (addr, len) = socket_addr(path)?;
    let stream = UnixStream::from(stream_socket().map_err(AddrError::Io)?);
    stream
        .set_write_timeout(Some(timeout.max(Duration::from_millis(1))))
        .map_err(AddrError::Io)?;
    // SAFETY: `addr` is a valid sockaddr_un of `len` bytes; the fd is ours.
    let rc = unsafe {
        libc::connect(
            stream.as_raw_fd(),
            (&addr as *const libc::sockaddr_un).cast::<libc::sockaddr>(),
            len,
        )
    };
    if rc != 0 {
        return Err(AddrError::Io(io::Error::last_os_error()));
    }
    Ok(stream)
}

/// Wakes a thread blocked in `accept` on `listener`: on Linux, shutting a
/// listening socket down makes `accept` return `EINVAL` at once.
pub(crate) fn shutdown_listener(listener: &UnixListener) -> io::Result<()> {
    // SAFETY: shutdown on a descriptor we own; it stays open.
    if unsafe { libc::shutdown(listener.as_raw_fd(), libc::SHUT_RDWR) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The connected peer's effective uid and (where the system says) pid, as
/// the kernel recorded them at `connect` time.
pub(crate) struct PeerCred {
    pub uid: u32,
    pub pid: Option<i32>,
}

#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn peer_cred(stream: &UnixStream) -> io::Result<PeerCred> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `cred`.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast::<libc::c_void>(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(PeerCred {
        uid: cred.uid,
        pid: Some(cred.pid),
    })
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) fn peer_cred(stream: &UnixStream) -> io::Result<PeerCred> {
    let mut uid: libc::uid_t = 0;
    let mut gid: libc::gid_t = 0;
    // SAFETY: getpeereid writes one uid and one gid.
    if unsafe { libc::getpeereid(stream.as_raw_fd(), &mut uid, &mut gid) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(PeerCred { uid, pid: None })
}

/// This process's effective uid.
pub(crate) fn effective_uid() -> u32 {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }
}

/// Takes an exclusive `flock` on `file` without waiting. `Ok(false)`: someone
/// else holds it. The lock lasts while the open file does (the descriptor is
/// close-on-exec, so children do not keep it alive).
pub(crate) fn try_lock_exclusive(file: &File) -> io::Result<bool> {
    loop {
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(true);
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(code) if code == libc::EWOULDBLOCK || code == libc::EAGAIN => return Ok(false),
            _ => return Err(e),
        }
    }
}
