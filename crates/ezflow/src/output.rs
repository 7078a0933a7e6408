//! What the one-shot commands print on standard output. `println!` panics
//! when the reader has gone away (`ezflow models list | head -1`); these
//! macros end the command quietly instead, as a pipeline expects, and name
//! any other write error (a full disk under `> file`) before exiting.

use std::io::{self, Write};

/// Like `print!`, through [`write`].
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::write(format_args!($($arg)*), false)
    };
}

/// Like `println!`, through [`write`].
macro_rules! outln {
    () => {
        $crate::output::write(format_args!(""), true)
    };
    ($($arg:tt)*) => {
        $crate::output::write(format_args!($($arg)*), true)
    };
}

pub(crate) use {out, outln};

/// Writes to standard output; on a closed pipe exits with success (the
/// reader took what it wanted), on any other error says so and exits with
/// failure. Stopping between two lines loses only output: what commands
/// write to disk (models, settings, the telemetry queue) is written
/// atomically, apart from their output.
pub fn write(args: std::fmt::Arguments<'_>, newline: bool) {
    let mut stdout = io::stdout().lock();
    let result = stdout.write_fmt(args).and_then(|()| {
        if newline {
            stdout.write_all(b"\n")
        } else {
            Ok(())
        }
    });
    if let Err(e) = result {
        exit_on(&e);
    }
}

/// Flushes standard output, with [`write`]'s handling of errors.
pub fn flush() {
    if let Err(e) = io::stdout().lock().flush() {
        exit_on(&e);
    }
}

fn exit_on(error: &io::Error) -> ! {
    if error.kind() == io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("ezflow: cannot write to standard output: {error}");
    std::process::exit(1);
}
