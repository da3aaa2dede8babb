//! Temp files and directories of runs that were killed outright.
//!
//! A run removes its temps when it fails, panics or is interrupted by a signal it can catch
//! ([`crate::output`], [`crate::export`]); a run killed with SIGKILL, or by a power cut, cannot.
//! So each run holds an advisory lock (`flock`) on its temp for as long as it lives, and a later
//! run writing the same target removes the temps of that target that nobody holds: their writer
//! is gone, and the half-written redaction in them is of no use to anyone. On a file system
//! without `flock` nothing can be locked, and nothing is swept either.
//!
//! A temp directory (an export's staging directory, a queue worker's job directory) is a
//! [`HeldDir`]: locked while its run lives, removed when dropped, and listed so that a process
//! ended at once by a second signal removes it too ([`remove_pending`]).

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// A temp younger than this is left alone even when unlocked: its writer may be between
/// creating it and locking it.
const MIN_AGE: Duration = Duration::from_secs(1);

/// Holds `file`'s lock for as long as the run lives (it goes with the process, however the
/// process ends). Fails if another process holds it.
pub fn hold(file: &File) -> std::io::Result<()> {
    file.try_lock().map_err(std::io::Error::from)
}

/// Opens a temp directory and holds its lock, as [`hold`] does for a file.
pub fn hold_dir(dir: &Path) -> std::io::Result<File> {
    let file = File::open(dir)?;
    hold(&file)?;
    Ok(file)
}

/// Where the open `file` is now, as the kernel knows it: its directory may have been renamed
/// since it was opened. `None` once it was removed, or where `/proc` cannot say.
pub(crate) fn current_path(file: &File) -> Option<PathBuf> {
    use std::os::fd::AsRawFd;
    let path = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).ok()?;
    (path.is_absolute() && !path.to_string_lossy().ends_with(" (deleted)")).then_some(path)
}

/// Removes `path`, a temp that `held` is open on, or it where it is now when its directory was
/// renamed under the run (found by hostile use: an output directory renamed mid-run kept the
/// finished temp files, since removing them by their old paths found nothing).
pub(crate) fn remove_held(path: &Path, held: Option<&File>, remove: impl Fn(&Path) -> std::io::Result<()>) {
    if let Err(e) = remove(path) {
        if e.kind() == std::io::ErrorKind::NotFound {
            if let Some(now) = held.and_then(current_path) {
                let _ = remove(&now);
            }
        }
    }
}

/// Temp directories of this process ([`HeldDir`]), for [`remove_pending`].
static PENDING: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

/// Removes the temp directories of this process still held ([`HeldDir`]), as it ends at once
/// on a second signal (their drop handlers do not run then). Returns how many were removed.
pub fn remove_pending() -> usize {
    let Some(pending) = crate::interrupt::lock_when_ending(&PENDING) else { return 0 };
    pending.iter().filter(|d| std::fs::remove_dir_all(d).is_ok()).count()
}

/// Whether a [`HeldDir`] must hold its lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lock {
    /// Creating it fails without the lock: what it holds must be swept after a `kill -9`.
    Required,
    /// Without the lock (a file system without `flock`) it is only never swept.
    IfSupported,
}

/// A temp directory made by `tempfile`, locked for the run's life ([`hold_dir`]), listed for
/// [`remove_pending`] from its creation, and removed when dropped.
pub struct HeldDir {
    dir: tempfile::TempDir,
    /// Open on the directory, locked.
    _held: Option<File>,
}

impl HeldDir {
    /// Creates a directory in `parent` as `builder` says (name, permissions), listed and locked.
    pub fn create(builder: &tempfile::Builder, parent: &Path, lock: Lock) -> std::io::Result<HeldDir> {
        let dir = builder.tempdir_in(parent)?;
        crate::interrupt::lock_list(&PENDING).insert(dir.path().to_path_buf());
        // Made a `HeldDir` before locking, so a failure below removes and unlists it.
        let mut made = HeldDir { dir, _held: None };
        match hold_dir(made.path()) {
            Ok(held) => made._held = Some(held),
            Err(e) if lock == Lock::Required => return Err(e),
            Err(e) => tracing::debug!("cannot lock {}: {e}", made.path().display()),
        }
        Ok(made)
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for HeldDir {
    /// Removes the directory before it leaves the list, so a process ended at once meanwhile
    /// still removes it (the `TempDir` then finds nothing left to remove).
    fn drop(&mut self) {
        let mut pending = crate::interrupt::lock_list(&PENDING);
        remove_held(self.dir.path(), self._held.as_ref(), |p| std::fs::remove_dir_all(p));
        pending.remove(self.dir.path());
    }
}

/// Removes the entries of `dir` whose names `is_temp` accepts and that no live process holds;
/// returns those removed. Symbolic links and entries it cannot read are left as they are.
pub fn sweep(dir: &Path, is_temp: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    sweep_older_than(dir, MIN_AGE, is_temp)
}

pub(crate) fn sweep_older_than(dir: &Path, min_age: Duration, is_temp: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(&is_temp))
        .map(|e| e.path())
        .filter(|path| remove_if_abandoned(path, min_age))
        .collect()
}

/// Removes `path` if it is a plain file or directory, older than `min_age`, and unlocked.
fn remove_if_abandoned(path: &Path, min_age: Duration) -> bool {
    let Ok(meta) = std::fs::symlink_metadata(path) else { return false };
    if !(meta.is_file() || meta.is_dir()) {
        return false;
    }
    let born = meta.created().or_else(|_| meta.modified()).unwrap_or_else(|_| SystemTime::now());
    if born.elapsed().unwrap_or_default() < min_age {
        return false;
    }
    let Ok(file) = File::open(path) else { return false };
    if hold(&file).is_err() {
        return false; // a live run is writing it
    }
    let removed = if meta.is_dir() { std::fs::remove_dir_all(path) } else { std::fs::remove_file(path) };
    match removed {
        Ok(()) => {
            tracing::warn!("removed {}, left by a run that was killed", path.display());
            true
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_temp(name: &str) -> bool {
        name.starts_with(".a.") && name.ends_with(".part")
    }

    #[test]
    fn unlocked_temps_are_removed_and_held_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = |n: &str| dir.path().join(n);
        for name in [".a.dead.part", ".a.live.part", "a", ".b.dead.part"] {
            std::fs::write(path(name), b"x").unwrap();
        }
        std::fs::create_dir(path(".a.dir.part")).unwrap();
        std::fs::write(path(".a.dir.part/frame"), b"x").unwrap();
        std::os::unix::fs::symlink(path("a"), path(".a.link.part")).unwrap();
        // Another open file description locked, as another process's would be.
        let live = File::open(path(".a.live.part")).unwrap();
        hold(&live).unwrap();
        let held_dir = hold_dir(&path(".a.dir.part")).unwrap();
        drop(held_dir);

        let mut removed = sweep_older_than(dir.path(), Duration::ZERO, is_temp);
        removed.sort();
        assert_eq!(removed, vec![path(".a.dead.part"), path(".a.dir.part")]);
        for kept in [".a.live.part", "a", ".b.dead.part", ".a.link.part"] {
            assert!(std::fs::symlink_metadata(path(kept)).is_ok(), "{kept} is kept");
        }
    }

    #[test]
    fn a_fresh_temp_is_left_to_its_writer() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".a.new.part"), b"x").unwrap();
        assert!(sweep(dir.path(), is_temp).is_empty(), "its writer may not have locked it yet");
    }

    #[test]
    fn a_held_dir_is_locked_listed_while_it_lives_and_removed_when_dropped() {
        let parent = tempfile::tempdir().unwrap();
        let held = HeldDir::create(tempfile::Builder::new().prefix("held-"), parent.path(), Lock::Required).unwrap();
        let path = held.path().to_path_buf();
        std::fs::write(path.join("raw"), b"x").unwrap();
        assert!(crate::interrupt::lock_list(&PENDING).contains(&path), "listed for remove_pending");
        assert!(sweep_older_than(parent.path(), Duration::ZERO, |_| true).is_empty(), "held: never swept");
        drop(held);
        assert!(!path.exists() && !crate::interrupt::lock_list(&PENDING).contains(&path), "removed and unlisted");
    }
}
