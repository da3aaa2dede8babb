//! Atomic output files: everything is written to a hidden temp file beside the target and
//! renamed over it only when the writer says it is complete. A run that fails or panics leaves
//! no output behind (the temp file is removed when dropped), and one that is interrupted by a
//! signal neither: [`remove_pending`] deletes the temp files still being written.
//!
//! A run with several outputs (video, sidecar, preview, stats) checks all of them before any
//! work starts ([`prepare_all`]: each distinct from the input and from the others, none
//! existing without `--overwrite`, none anything but a regular file) and commits them together
//! at the end ([`commit_all`]): all are synced and re-checked before the first rename, and a
//! failed rename takes back the ones already placed, so a run leaves all of its outputs or
//! none.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tempfile::TempPath;

use crate::error::{Error, Result};

/// Permissions of a new output before the umask, as for any file a program creates.
const CREATE_MODE: u32 = 0o666;
/// The umask assumed when the process's cannot be read.
const DEFAULT_UMASK: u32 = 0o022;
/// Longest file name most Linux file systems take, in bytes.
const NAME_MAX: usize = 255;
/// Random characters in a temp file's name.
const TEMP_RANDOM: usize = 6;

/// Temp files being written, for [`remove_pending`].
static PENDING: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

/// Deletes every temp file still being written, as the process ends on a signal (the drop
/// handlers that normally remove them do not run then). Returns how many were removed.
pub fn remove_pending() -> usize {
    let Some(pending) = crate::interrupt::lock_when_ending(&PENDING) else { return 0 };
    pending.iter().filter(|p| std::fs::remove_file(p).is_ok()).count()
}

/// The mode an output at `target` gets: that of the file it replaces, else `0666` less the
/// process's umask.
fn output_mode(target: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(target) {
        Ok(existing) if existing.is_file() => existing.permissions().mode() & 0o777,
        _ => CREATE_MODE & !umask(),
    }
}

/// The process's umask, read without changing it (`umask(2)` can only be read by setting it,
/// which would race with files other threads create).
fn umask() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("Umask:").and_then(|v| u32::from_str_radix(v.trim(), 8).ok())))
        .unwrap_or(DEFAULT_UMASK)
}

/// A file being written that becomes visible at `target` only on [`commit`](Self::commit).
#[derive(Debug)]
pub struct AtomicOutput {
    target: PathBuf,
    /// `None` only inside `commit`.
    temp: Option<TempPath>,
    /// Open on the temp file, locked for the run's life ([`crate::leftover`]).
    _held: File,
    overwrite: bool,
}

impl Drop for AtomicOutput {
    fn drop(&mut self) {
        if let Some(temp) = self.temp.take() {
            // Removed before it leaves the list, both under the list's lock.
            let mut pending = crate::interrupt::lock_list(&PENDING);
            let path = temp.to_path_buf();
            remove_temp(temp, &self._held);
            pending.remove(&path);
        }
    }
}

/// Removes a temp file, wherever its directory now is ([`crate::leftover::remove_held`]).
fn remove_temp(temp: TempPath, held: &File) {
    let path = temp.to_path_buf();
    // Left to `remove_held`, which looks where the file is now when its path is gone.
    let _ = temp.keep();
    crate::leftover::remove_held(&path, Some(held), |p| std::fs::remove_file(p));
}

impl AtomicOutput {
    /// Checks `target` can be written and creates the temp file beside it.
    pub fn prepare(target: &Path, overwrite: bool) -> Result<Self> {
        crate::interrupt::check()?;
        check_target(target, overwrite)?;
        let dir = parent_dir(target);
        if !dir.is_dir() {
            let why = if dir.exists() { format!("{} is not a directory", crate::one_line_path(&dir)) } else { format!("directory {} does not exist", crate::one_line_path(&dir)) };
            return Err(Error::io(target, std::io::Error::new(std::io::ErrorKind::NotFound, why)));
        }
        let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let ext = target.extension().map(|e| format!(".{}", e.to_string_lossy())).unwrap_or_default();
        let suffix = format!(".part{ext}");
        let prefix = temp_prefix(&name, suffix.len());
        // Temps of this target left by a run that was killed (found by hostile use: they
        // piled up beside the output).
        crate::leftover::sweep(&dir, |n| {
            n.len() == prefix.len() + TEMP_RANDOM + suffix.len() && n.starts_with(&prefix) && n.ends_with(&suffix)
        });
        // The temp file is made and listed under the list's lock, so a process ended at once
        // meanwhile (a second signal) cannot leave it unlisted.
        let mut pending = crate::interrupt::lock_list(&PENDING);
        let (held, temp) = tempfile::Builder::new()
            .prefix(&prefix)
            .rand_bytes(TEMP_RANDOM)
            .suffix(&suffix)
            .tempfile_in(&dir)
            .map_err(|e| Error::io(target, e))?
            .into_parts();
        // Without the lock (a file system without flock) the temp is only never swept.
        if let Err(e) = crate::leftover::hold(&held) {
            tracing::debug!("cannot lock {}: {e}", temp.display());
        }
        // Temp files are made private (0600); the output gets the mode a new file gets under
        // the umask, or the mode of the file it replaces (found by hostile use: every output
        // was 0644, whatever the umask, widening a replaced 0600 file).
        let mode = output_mode(target);
        std::fs::set_permissions(&temp, std::os::unix::fs::PermissionsExt::from_mode(mode)).map_err(|e| Error::io(target, e))?;
        pending.insert(temp.to_path_buf());
        Ok(AtomicOutput { target: target.to_path_buf(), temp: Some(temp), _held: held, overwrite })
    }

    /// Where the writer writes until commit.
    pub fn temp_path(&self) -> &Path {
        self.temp.as_deref().expect("an output is committed only once")
    }

    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Flushes the temp file to disk and renames it to the target.
    pub fn commit(self) -> Result<()> {
        commit_all(vec![self])
    }

    fn sync(&self) -> Result<()> {
        File::open(self.temp_path()).and_then(|f| f.sync_all()).map_err(|e| Error::io(&self.target, e))
    }

    /// Renames the synced temp file to the target.
    fn place(mut self) -> Result<()> {
        let target = self.target.clone();
        let temp = self.temp.take().expect("an output is committed only once");
        let temp_path = temp.to_path_buf();
        let mut pending = crate::interrupt::lock_list(&PENDING);
        let result = if self.overwrite { temp.persist(&target) } else { temp.persist_noclobber(&target) };
        let result = result.map_err(|e| {
            remove_temp(e.path, &self._held);
            e.error
        });
        pending.remove(&temp_path);
        drop(pending);
        result.map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                Error::OutputExists { path: target.clone() }
            } else {
                Error::io(&target, e)
            }
        })
    }
}

/// Commits every output of a run, or none: all temp files are synced and every target checked
/// again (a file may have appeared there during the run) before the first rename; if a rename
/// still fails, the outputs placed before it are removed again (those that replaced an older
/// file with `--overwrite` cannot be taken back).
///
/// The first output, the run's main one (the redacted video or image), is placed last: the
/// renames are one after another, and a run killed outright between two of them (SIGKILL, a
/// power cut) must not leave its main output beside missing side outputs, as if it had
/// finished (found by hostile use). Its main output present says that all were placed. The
/// directories are synced after, so that the renames outlast a power cut.
pub fn commit_all(mut outputs: Vec<AtomicOutput>) -> Result<()> {
    crate::interrupt::check()?;
    for out in &outputs {
        out.sync()?;
    }
    for out in &outputs {
        check_target(&out.target, out.overwrite)?;
    }
    placing_order(&mut outputs);
    let dirs: BTreeSet<PathBuf> = outputs.iter().map(|out| parent_dir(&out.target)).collect();
    let mut placed: Vec<(PathBuf, bool)> = Vec::new();
    for out in outputs {
        let (target, overwrite) = (out.target.clone(), out.overwrite);
        if let Err(e) = out.place() {
            for (path, replaced) in placed {
                if !replaced {
                    let _ = std::fs::remove_file(path);
                }
            }
            return Err(e);
        }
        placed.push((target, overwrite));
    }
    for dir in dirs {
        // The outputs are in place: a directory that cannot be synced loses no data now.
        if let Err(e) = File::open(&dir).and_then(|d| d.sync_all()) {
            tracing::debug!("cannot sync {}: {e}", dir.display());
        }
    }
    Ok(())
}

/// Puts the run's main output (the first) last in `outputs`, the rest as they were.
fn placing_order<T>(outputs: &mut [T]) {
    outputs.rotate_left(1.min(outputs.len()));
}

/// The directory `target` is in (`.` for a bare name).
fn parent_dir(target: &Path) -> PathBuf {
    match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// An error unless `path` is named `.EXT` (in any case): an output in a fixed format under
/// another format's name misleads whoever opens it (found by hostile use: PNG data written as
/// `.jpg`, a zip as `.mp4`). `what` says what the file is ("a contact sheet is a PNG image").
pub fn check_extension(path: &Path, ext: &str, what: &str) -> Result<()> {
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case(ext)) {
        return Ok(());
    }
    Err(Error::io(path, std::io::Error::other(format!("{what}; name it .{ext}"))))
}

/// One output of a run and the option that names it, for error messages.
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    pub option: &'static str,
    pub path: &'a Path,
}

/// The option name of a run's own input among the files it reads ([`prepare_all`]).
pub const INPUT: &str = "the input";

/// The files a run reads, from each option and the path it names, if any: those that exist,
/// for [`prepare_all`].
pub fn reads<'a>(named: impl IntoIterator<Item = (&'static str, Option<&'a Path>)>) -> Vec<Target<'a>> {
    named.into_iter().filter_map(|(option, path)| path.filter(|p| p.exists()).map(|path| Target { option, path })).collect()
}

/// Checks every output of a run before any work starts, then creates their temp files: each
/// must differ from every file the run `reads` (its input, [`INPUT`], first) and from the
/// others (through symlinks, `..` and hard links), may exist only with `overwrite`, and only
/// as a regular file.
pub fn prepare_all(reads: &[Target<'_>], targets: &[Target<'_>], overwrite: bool) -> Result<Vec<AtomicOutput>> {
    for (i, t) in targets.iter().enumerate() {
        for read in reads {
            ensure_not_read(read, t.path)?;
        }
        if let Some(other) = targets[..i].iter().find(|o| same_file(o.path, t.path)) {
            let why = format!("{} names the same file as {}", t.option, other.option);
            return Err(Error::io(t.path, std::io::Error::other(why)));
        }
    }
    for t in targets {
        check_target(t.path, overwrite)?;
    }
    targets.iter().map(|t| AtomicOutput::prepare(t.path, overwrite)).collect()
}

/// Refuses to write an output over its own input.
pub fn ensure_distinct(input: &Path, output: &Path) -> Result<()> {
    ensure_not_read(&Target { option: INPUT, path: input }, output)
}

/// Refuses to write an output over a file the run reads (found by hostile use: with
/// `--overwrite`, `--stats cam.toml` replaced the camera config given as `--config cam.toml`,
/// and `audit --json r.json` the sidecar it read as `--sidecar r.json`).
fn ensure_not_read(read: &Target<'_>, output: &Path) -> Result<()> {
    if !same_file(read.path, output) {
        return Ok(());
    }
    let why = match read.option {
        INPUT => "is the input file; refusing to overwrite the input".to_string(),
        option => format!("is the file of {option}, which this run reads; refusing to overwrite it"),
    };
    Err(Error::io(output, std::io::Error::other(why)))
}

/// Whether two paths name one file: the same canonical path (for a file that does not exist
/// yet, its canonical directory and name), or the same inode.
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    if let (Ok(ma), Ok(mb)) = (std::fs::metadata(a), std::fs::metadata(b)) {
        if (ma.dev(), ma.ino()) == (mb.dev(), mb.ino()) {
            return true;
        }
    }
    match (resolved(a), resolved(b)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

/// The canonical form of `path`, also for a file that does not exist yet.
fn resolved(path: &Path) -> Option<PathBuf> {
    if let Ok(p) = path.canonicalize() {
        return Some(p);
    }
    let name = path.file_name()?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    Some(dir.canonicalize().ok()?.join(name))
}

/// An output may be written at `target`: [`check_kind`], and not an existing file unless
/// `overwrite`.
fn check_target(target: &Path, overwrite: bool) -> Result<()> {
    check_kind(target)?;
    if !overwrite && std::fs::symlink_metadata(target).is_ok() {
        return Err(Error::OutputExists { path: target.to_path_buf() });
    }
    Ok(())
}

/// What an output path may name, checked before anything else about it: a file's name (not one
/// ending in '/') the file system can hold with the temp file's, and nothing yet or a regular
/// file (through a symlink) — never a directory, FIFO or device.
pub fn check_kind(target: &Path) -> Result<()> {
    use std::os::unix::ffi::OsStrExt;
    if target.as_os_str().as_bytes().ends_with(b"/") {
        return Err(Error::io(target, std::io::Error::other("names a directory (ends in '/'); give the output file's name")));
    }
    let name_len = target.file_name().map_or(0, |n| n.len());
    if name_len > NAME_MAX {
        return Err(Error::io(target, std::io::Error::other(format!("file name is {name_len} bytes long; at most {NAME_MAX} fit"))));
    }
    let not_a_file = |why: String| Err(Error::io(target, std::io::Error::other(why)));
    match std::fs::symlink_metadata(target) {
        Err(_) => Ok(()),
        Ok(m) if m.is_dir() => not_a_file("is a directory; give the output file's name".into()),
        Ok(m) if m.file_type().is_symlink() || m.is_file() => match std::fs::metadata(target) {
            Ok(t) if !t.is_file() => not_a_file(crate::input::kind_of(&t)),
            _ => Ok(()),
        },
        Ok(m) => not_a_file(crate::input::kind_of(&m)),
    }
}

/// A temp-file prefix `.<name>.` short enough that prefix, random part and `suffix` stay
/// within [`NAME_MAX`] (the name is cut at a character boundary when needed).
fn temp_prefix(name: &str, suffix_len: usize) -> String {
    let room = NAME_MAX.saturating_sub(suffix_len + TEMP_RANDOM + 2);
    let mut cut = name.len().min(room);
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!(".{}.", &name[..cut])
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
        assert_eq!(mode, CREATE_MODE & !umask(), "an ordinary file under the umask, not a private temp file ({mode:o})");
    }

    /// Found by hostile use: a 0600 output replaced with --overwrite became 0644.
    #[test]
    fn a_replaced_output_keeps_its_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.mp4");
        std::fs::write(&target, b"old").unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
        let out = AtomicOutput::prepare(&target, true).unwrap();
        std::fs::write(out.temp_path(), b"new").unwrap();
        out.commit().unwrap();
        assert_eq!(std::fs::metadata(&target).unwrap().permissions().mode() & 0o777, 0o600);
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
    fn temp_names_of_long_outputs_stay_within_name_max() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join(format!("{}.mp4", "é".repeat(100) + &"a".repeat(46)));
        assert_eq!(target.file_name().unwrap().len(), 250);
        let out = AtomicOutput::prepare(&target, false).unwrap();
        let temp_len = out.temp_path().file_name().unwrap().len();
        assert!(temp_len <= NAME_MAX, "{temp_len}");
        std::fs::write(out.temp_path(), b"data").unwrap();
        out.commit().unwrap();
        assert!(target.is_file());
    }

    #[test]
    fn outputs_must_differ_from_the_input_and_from_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in.mp4");
        std::fs::write(&input, b"input").unwrap();
        let out = dir.path().join("out.mp4");
        let side = |option, path| Target { option, path };
        let via_dotdot = dir.path().join("sub/../in.mp4");
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let config = dir.path().join("cam.toml");
        std::fs::write(&config, b"config").unwrap();
        let reads = [side(INPUT, &input), side("--config", &config)];
        for alias in [input.as_path(), via_dotdot.as_path()] {
            let err = prepare_all(&reads, &[side("-o", &out), side("--stats", alias)], true).unwrap_err();
            assert!(err.to_string().contains("is the input"), "{err}");
        }
        let err = prepare_all(&reads, &[side("-o", &out), side("--stats", &config)], true).unwrap_err();
        assert!(err.to_string().ends_with("cam.toml: is the file of --config, which this run reads; refusing to overwrite it"), "{err}");
        let err = prepare_all(&reads, &[side("-o", &out), side("--sidecar", &out)], true).unwrap_err();
        assert!(err.to_string().contains("--sidecar names the same file as -o"), "{err}");
        assert_eq!(std::fs::read(&input).unwrap(), b"input");
        assert_eq!(std::fs::read(&config).unwrap(), b"config");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3, "no temp file left");
    }

    #[test]
    fn a_runs_main_output_is_placed_after_its_side_outputs() {
        let mut order = ["video", "sidecar", "preview", "stats"];
        placing_order(&mut order);
        assert_eq!(order, ["sidecar", "preview", "stats", "video"]);
        let mut one = ["video"];
        placing_order(&mut one);
        assert_eq!(one, ["video"]);
        placing_order::<&str>(&mut []);
    }

    #[test]
    fn a_file_created_at_a_target_during_the_run_stops_every_commit() {
        let dir = tempfile::tempdir().unwrap();
        let (video, sidecar) = (dir.path().join("out.mp4"), dir.path().join("out.json"));
        let input = dir.path().join("in.mp4");
        let targets = [Target { option: "-o", path: &video }, Target { option: "--sidecar", path: &sidecar }];
        let outs = prepare_all(&[Target { option: INPUT, path: &input }], &targets, false).unwrap();
        for o in &outs {
            std::fs::write(o.temp_path(), b"new").unwrap();
        }
        std::fs::write(&sidecar, b"someone else's").unwrap();
        assert!(matches!(commit_all(outs), Err(Error::OutputExists { .. })));
        assert!(!video.exists(), "the video is not committed without its sidecar");
        assert_eq!(std::fs::read(&sidecar).unwrap(), b"someone else's");
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
