//! Naming what a path is when it is not the regular file a command needs
//! (a directory, a named pipe, a device), so the error says what was found
//! and what was expected. Opening a named pipe would block until someone
//! writes to it, so callers check this before they open anything.

use std::fs::Metadata;
use std::os::unix::fs::FileTypeExt;

/// `None` for a regular file; otherwise what the path is, as a phrase
/// ("a directory").
pub(crate) fn not_a_regular_file(metadata: &Metadata) -> Option<&'static str> {
    let kind = metadata.file_type();
    if kind.is_file() {
        None
    } else if kind.is_dir() {
        Some("a directory")
    } else if kind.is_fifo() {
        Some("a named pipe (FIFO)")
    } else if kind.is_socket() {
        Some("a socket")
    } else if kind.is_block_device() || kind.is_char_device() {
        Some("a device")
    } else {
        Some("not a regular file")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_directories_and_devices_are_told_apart() {
        let dir = std::env::temp_dir();
        let file = dir.join(format!("ezflow-file-kind-{}", std::process::id()));
        std::fs::write(&file, b"x").expect("write a temporary file");
        let meta = |p: &std::path::Path| std::fs::metadata(p).expect("metadata");
        assert_eq!(not_a_regular_file(&meta(&file)), None);
        assert_eq!(not_a_regular_file(&meta(&dir)), Some("a directory"));
        assert_eq!(
            not_a_regular_file(&meta(std::path::Path::new("/dev/null"))),
            Some("a device")
        );
        std::fs::remove_file(&file).expect("remove the temporary file");
    }
}
