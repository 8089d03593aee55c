//! Reports on standard output for a reader that may stop early: `status | head -1` closes
//! the pipe after one line. Like ripgrep, the program then ends quietly with exit 0 instead of
//! `println!`'s panic and backtrace (exit 101); any other write error is one line and exit 73.

use std::fmt;
use std::io::{self, Write};

use crate::exit::Exit;

/// `println!` for reports: a closed pipe ends the process quietly.
macro_rules! outln {
    () => {
        $crate::stdout::write_line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::stdout::write_line(format_args!($($arg)*))
    };
}
pub(crate) use outln;

/// Writes one line to stdout, ending the process when nobody can read it any more.
pub fn write_line(args: fmt::Arguments<'_>) {
    let mut out = io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.write_all(b"\n")) {
        gone(&e);
    }
}

/// Ends the process after a failed write to stdout: quietly when the reader closed the pipe.
pub fn gone(e: &io::Error) -> ! {
    if e.kind() == io::ErrorKind::BrokenPipe {
        std::process::exit(Exit::Ok as i32);
    }
    let _ = writeln!(
        io::stderr(),
        "pandora-ilert: cannot write to standard output: {e}"
    );
    std::process::exit(Exit::CantCreate as i32);
}
