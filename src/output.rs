//! Atomic output files: everything is written to a hidden temp file beside the target and
//! renamed over it only when the writer says it is complete. A run that fails or panics leaves
//! no output behind (the temp file is removed when dropped), and one that is interrupted by a
//! signal neither: [`remove_pending`] deletes the temp files still being written.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tempfile::TempPath;

use crate::error::{Error, Result};

/// Permissions of a finished output.
const OUTPUT_MODE: u32 = 0o644;

/// Temp files being written, for [`remove_pending`].
static PENDING: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

/// Deletes every temp file still being written, as the process ends on a signal (the drop
/// handlers that normally remove them do not run then). Returns how many were removed.
pub fn remove_pending() -> usize {
    let pending = PENDING.lock().unwrap_or_else(|e| e.into_inner());
    pending.iter().filter(|p| std::fs::remove_file(p).is_ok()).count()
}

/// A file being written that becomes visible at `target` only on [`commit`](Self::commit).
#[derive(Debug)]
pub struct AtomicOutput {
    target: PathBuf,
    /// `None` only inside `commit`.
    temp: Option<TempPath>,
    overwrite: bool,
}

impl Drop for AtomicOutput {
    fn drop(&mut self) {
        if let Some(temp) = &self.temp {
            PENDING.lock().unwrap_or_else(|e| e.into_inner()).remove(temp.to_path_buf().as_path());
        }
        // Dropping `temp` removes the file.
    }
}

impl AtomicOutput {
    /// Checks `target` can be written and creates the temp file beside it.
    pub fn prepare(target: &Path, overwrite: bool) -> Result<Self> {
        if target.exists() && !overwrite {
            return Err(Error::OutputExists { path: target.to_path_buf() });
        }
        if target.is_dir() {
            return Err(Error::io(target, std::io::Error::other("is a directory")));
        }
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if !dir.is_dir() {
            let why = if dir.exists() { format!("{} is not a directory", dir.display()) } else { format!("directory {} does not exist", dir.display()) };
            return Err(Error::io(target, std::io::Error::new(std::io::ErrorKind::NotFound, why)));
        }
        let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let ext = target.extension().map(|e| format!(".{}", e.to_string_lossy())).unwrap_or_default();
        let temp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(&format!(".part{ext}"))
            .tempfile_in(&dir)
            .map_err(|e| Error::io(target, e))?
            .into_temp_path();
        // Temp files are private (0600); the output is an ordinary, shareable file.
        std::fs::set_permissions(&temp, std::os::unix::fs::PermissionsExt::from_mode(OUTPUT_MODE)).map_err(|e| Error::io(target, e))?;
        PENDING.lock().unwrap_or_else(|e| e.into_inner()).insert(temp.to_path_buf());
        Ok(AtomicOutput { target: target.to_path_buf(), temp: Some(temp), overwrite })
    }

    /// Where the writer writes until commit.
    pub fn temp_path(&self) -> &Path {
        self.temp.as_deref().expect("an output is committed only once")
    }

    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Flushes the temp file to disk and renames it to the target.
    pub fn commit(mut self) -> Result<()> {
        let target = self.target.clone();
        File::open(self.temp_path()).and_then(|f| f.sync_all()).map_err(|e| Error::io(&target, e))?;
        let temp = self.temp.take().expect("an output is committed only once");
        let temp_path = temp.to_path_buf();
        let result = if self.overwrite { temp.persist(&target) } else { temp.persist_noclobber(&target) };
        PENDING.lock().unwrap_or_else(|e| e.into_inner()).remove(&temp_path);
        result.map_err(|e| {
            if e.error.kind() == std::io::ErrorKind::AlreadyExists {
                Error::OutputExists { path: target.clone() }
            } else {
                Error::io(&target, e.error)
            }
        })
    }
}

/// Refuses to write an output over its own input.
pub fn ensure_distinct(input: &Path, output: &Path) -> Result<()> {
    let same = match (input.canonicalize(), output.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same {
        return Err(Error::io(output, std::io::Error::other("is the input file; refusing to overwrite the input")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_appears_at_the_target_until_commit() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.mp4");
        let out = AtomicOutput::prepare(&target, false).unwrap();
        std::fs::write(out.temp_path(), b"data").unwrap();
        assert!(!target.exists());
        out.commit().unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"data");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&target).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, OUTPUT_MODE, "an ordinary file, not a private temp file ({mode:o})");
    }

    #[test]
    fn a_dropped_output_leaves_no_file_behind() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.mp4");
        let out = AtomicOutput::prepare(&target, false).unwrap();
        std::fs::write(out.temp_path(), b"partial").unwrap();
        drop(out);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    fn pending(path: &Path) -> bool {
        PENDING.lock().unwrap().contains(path)
    }

    #[test]
    fn outputs_are_listed_for_removal_on_a_signal_until_committed_or_dropped() {
        // (remove_pending itself is exercised end to end in tests/bad_input.rs: other tests in
        // this process write outputs at the same time.)
        let dir = tempfile::tempdir().unwrap();
        let done = AtomicOutput::prepare(&dir.path().join("done.mp4"), false).unwrap();
        let done_temp = done.temp_path().to_path_buf();
        assert!(pending(&done_temp));
        std::fs::write(&done_temp, b"complete").unwrap();
        done.commit().unwrap();
        assert!(!pending(&done_temp));
        let dropped = AtomicOutput::prepare(&dir.path().join("dropped.mp4"), false).unwrap();
        let dropped_temp = dropped.temp_path().to_path_buf();
        assert!(pending(&dropped_temp));
        drop(dropped);
        assert!(!pending(&dropped_temp));
    }

    #[test]
    fn an_existing_output_is_kept_without_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.mp4");
        std::fs::write(&target, b"precious").unwrap();
        assert!(matches!(AtomicOutput::prepare(&target, false), Err(Error::OutputExists { .. })));
        let out = AtomicOutput::prepare(&target, true).unwrap();
        std::fs::write(out.temp_path(), b"new").unwrap();
        out.commit().unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
    }
}
