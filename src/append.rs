//! Durable appends to the files veilcam keeps a record per line in: the audit log, a camera's
//! segment index and a batch's journal.
//!
//! A line is written in one write (the files are opened `O_APPEND`), synced to disk, and taken
//! back when any of it fails: a full disk cuts a write short, and a torn last line would make
//! every later reader of the file refuse it (found by hostile use: a torn audit-log line made
//! every later export refuse the log until it was mended by hand).

use std::fs::File;
use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// Appends `line` to `file` (the file at `path`, `before` bytes long), syncs it and runs `then`
/// (a directory's sync, say); when any of it fails, the file is cut back to `before` bytes and
/// the first error returned.
pub fn line(mut file: &File, path: &Path, before: u64, line: &[u8], then: impl FnOnce() -> Result<()>) -> Result<()> {
    let written = file.write_all(line).and_then(|()| file.sync_all()).map_err(|e| Error::io(path, e)).and_then(|()| then());
    if written.is_err() {
        if let Err(undo) = file.set_len(before).and_then(|()| file.sync_all()) {
            tracing::warn!("{}: cannot take back a line cut short: {undo}", path.display());
        }
    }
    written
}
