//! Watches the settings file with inotify and tells the app when it changed.
//! The directory is watched, not the file: an editor (and EZ Flow itself)
//! saves by writing a new file and renaming it over the old one, which
//! replaces the inode a file watch would follow. The thread blocks in
//! `read` on the inotify descriptor; nothing runs while nothing changes.
//!
//! It only says that the file changed: it must not read or apply the
//! settings (the loop does, `settings_change.rs`).

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::mpsc::Sender;

use super::event::AppEvent;

/// Starts the watch on the directory of `settings_file` (created if
/// missing, so a first save is seen too).
pub fn spawn(settings_file: &Path, events: Sender<AppEvent>) -> io::Result<()> {
    let dir = settings_file
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = settings_file
        .file_name()
        .map(|n| n.as_bytes().to_vec())
        .unwrap_or_default();
    let dir_c = CString::new(dir.as_os_str().as_bytes())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: plain syscalls; the descriptor is owned by the thread below.
    let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let mask = libc::IN_CLOSE_WRITE | libc::IN_MOVED_TO | libc::IN_DELETE | libc::IN_CREATE;
    // SAFETY: fd is a fresh inotify descriptor and dir_c a valid C string.
    if unsafe { libc::inotify_add_watch(fd, dir_c.as_ptr(), mask) } < 0 {
        let e = io::Error::last_os_error();
        // SAFETY: closing the descriptor we just opened.
        unsafe { libc::close(fd) };
        return Err(e);
    }
    std::thread::Builder::new()
        .name("settings-watch".into())
        .spawn(move || watch(fd, &name, &events))?;
    Ok(())
}

fn watch(fd: i32, name: &[u8], events: &Sender<AppEvent>) {
    let mut buf = [0u8; 4096];
    let header = std::mem::size_of::<libc::inotify_event>();
    loop {
        // SAFETY: buf is valid for its length; fd stays open in this thread.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            tracing::warn!("settings watch stopped: {e}");
            return;
        }
        let n = n as usize;
        let mut offset = 0;
        let mut changed = false;
        while offset + header <= n {
            // SAFETY: the kernel wrote a whole event at this offset.
            let event: libc::inotify_event =
                unsafe { std::ptr::read_unaligned(buf.as_ptr().add(offset).cast()) };
            let name_start = offset + header;
            let name_end = (name_start + event.len as usize).min(n);
            let event_name = &buf[name_start..name_end];
            let event_name = event_name.split(|b| *b == 0).next().unwrap_or_default();
            if event_name == name {
                changed = true;
            }
            offset = name_end;
        }
        if changed && events.send(AppEvent::SettingsChanged).is_err() {
            return;
        }
    }
}
