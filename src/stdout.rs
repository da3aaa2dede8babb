//! Standard output of the commands that print results (`veilcam log show`, `verify`, `keys
//! show`, `audit`, …), written through [`crate::out!`].
//!
//! A reader that has gone (`veilcam log show | head -1`) is not an error: the command goes on
//! and its exit code still says what was found. Any other failed write (a full disk, an I/O
//! error, a closed descriptor) is: the results were cut off, so [`finish`] fails the command
//! (found by hostile use: `veilcam log show > full-disk/log.txt` wrote 4096 of 6596 bytes and
//! exited 0). Nothing is written after the first failure, so the output never has a gap.

use std::io::{self, Write};
use std::sync::Mutex;

use crate::error::{Error, Result};

/// The first write to stdout that failed, if any.
static FAILED: Mutex<Option<io::Error>> = Mutex::new(None);

/// Writes one line to stdout, unless a write failed before.
pub fn write_line(line: std::fmt::Arguments<'_>) {
    write_with(|out| writeln!(out, "{line}"));
}

/// Writes `text` as it is to stdout, unless a write failed before.
pub fn write_text(text: &str) {
    write_with(|out| out.write_all(text.as_bytes()));
}

fn write_with(write: impl FnOnce(&mut io::StdoutLock<'static>) -> io::Result<()>) {
    let mut failed = FAILED.lock().unwrap_or_else(|e| e.into_inner());
    if failed.is_none() {
        *failed = write(&mut io::stdout().lock()).err();
    }
}

/// Flushes stdout (it is line-buffered: a write error may show only now) and fails when a
/// write to it failed, other than for a reader that has gone.
pub fn finish() -> Result<()> {
    write_with(|out| out.flush());
    match FAILED.lock().unwrap_or_else(|e| e.into_inner()).take() {
        Some(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(Error::Stdout(e)),
        _ => Ok(()),
    }
}
