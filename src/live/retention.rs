//! Retention of recorded segments: an age limit per camera and a free-space floor for the disk.
//!
//! [`sweep`] looks at every camera directory under the recordings root (layout in
//! [`super::segments`]) and deletes
//! 1. the closed segments whose end is older than the camera's `retain` age, then
//! 2. while the file system has less than `min_free_bytes` free, the oldest remaining closed
//!    segments of all cameras, one at a time.
//!
//! Never deleted: a segment on legal hold (a marker file `NAME.mp4.hold` beside it: the export
//! creates it, removing it releases the hold), the segment being written (a `.part` file, which
//! is never in the index), and anything that is not a segment. Deleted segments leave the index
//! (rewritten under the index lock, so a recorder appending at the same time loses nothing).
//! [`Sweeper`] runs `sweep` on a thread every few seconds until stopped.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::live::segments::{self, SegmentRecord, INDEX_FILE, SEGMENT_EXT};

/// Default age limit: 72 hours.
pub const DEFAULT_RETAIN: Duration = Duration::from_secs(72 * 3600);

/// What to keep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retention {
    /// Age limit for cameras without their own.
    pub retain: Duration,
    /// Per-camera age limits, by camera (directory) name.
    pub per_camera: BTreeMap<String, Duration>,
    /// Delete oldest segments while the recordings' file system has less free than this (0: off).
    pub min_free_bytes: u64,
}

impl Retention {
    /// One age limit for every camera and a free-space floor.
    pub fn new(retain: Duration, min_free_bytes: u64) -> Self {
        Retention { retain, per_camera: BTreeMap::new(), min_free_bytes }
    }

    /// The age limit of `camera`.
    pub fn retain_for(&self, camera: &str) -> Duration {
        self.per_camera.get(camera).copied().unwrap_or(self.retain)
    }
}

impl Default for Retention {
    fn default() -> Self {
        Retention::new(DEFAULT_RETAIN, 0)
    }
}

/// Why a segment was deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeleteReason {
    /// Older than the camera's age limit.
    Age,
    /// Removed to bring free space back above the floor.
    FreeSpace,
}

/// One deleted segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deleted {
    pub camera: String,
    pub file: String,
    pub bytes: u64,
    pub reason: DeleteReason,
}

/// What one sweep did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub deleted: Vec<Deleted>,
    /// Segments due for deletion but on legal hold.
    pub held: Vec<PathBuf>,
    /// Free bytes after the sweep, if known.
    pub free_bytes: Option<u64>,
    /// The free-space floor is still not met (everything deletable is gone).
    pub floor_unmet: bool,
    /// Camera directories and segments the sweep could not look at or delete, and why; each
    /// is logged once per sweep, and the sweep went on with the rest.
    pub skipped: Vec<Skipped>,
}

/// A camera directory or segment a sweep left alone for an error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    pub path: PathBuf,
    pub cause: String,
}

impl SweepReport {
    /// Bytes freed.
    pub fn freed_bytes(&self) -> u64 {
        self.deleted.iter().map(|d| d.bytes).sum()
    }
}

/// A closed segment known to the sweep.
#[derive(Clone, Debug)]
struct Candidate {
    camera: String,
    path: PathBuf,
    /// From the index, or `None` for a final-named file the index lacks (an orphan).
    record: Option<SegmentRecord>,
    start_ms: i64,
    end_ms: i64,
}

/// Applies `retention` to every camera under `root` once.
///
/// A camera directory that cannot be read (its index does not parse) or a segment that cannot
/// be deleted (a directory named like one) is logged, kept in [`SweepReport::skipped`] and
/// left alone; the sweep goes on with the others. Found by hostile use: the first such error
/// ended the sweep, so no other camera's old segments were deleted and the `min_free_mb` floor
/// was never applied, until the disk filled.
pub fn sweep(root: &Path, retention: &Retention) -> Result<SweepReport> {
    let now = segments::now_ms();
    let mut report = SweepReport::default();
    if !root.exists() {
        return Ok(report);
    }
    let mut survivors = Vec::new();
    for camera_dir in camera_dirs(root)? {
        let camera = camera_dir.file_name().expect("a directory name").to_string_lossy().into_owned();
        let retain_ms = retention.retain_for(&camera).as_millis() as i64;
        let found = match candidates(&camera_dir, &camera) {
            Ok(found) => found,
            Err(e) => {
                skip(&mut report, &camera_dir, &e);
                continue;
            }
        };
        for candidate in found {
            if now - candidate.end_ms > retain_ms {
                delete_or_skip(candidate, DeleteReason::Age, &mut report, &mut survivors);
            } else {
                survivors.push(candidate);
            }
        }
    }
    if retention.min_free_bytes > 0 {
        survivors.sort_by_key(|c| (c.start_ms, c.path.clone()));
        let mut left = Vec::new();
        let mut queue = survivors.into_iter();
        while free_bytes(root)? < retention.min_free_bytes {
            let Some(candidate) = queue.next() else {
                report.floor_unmet = true;
                break;
            };
            delete_or_skip(candidate, DeleteReason::FreeSpace, &mut report, &mut left);
        }
    }
    report.free_bytes = free_bytes(root).ok();
    for d in &report.deleted {
        tracing::info!(camera = %d.camera, file = %d.file, bytes = d.bytes, reason = ?d.reason, "retention deleted a segment");
    }
    Ok(report)
}

/// [`delete`], with an error logged and kept in the report instead of ending the sweep.
fn delete_or_skip(candidate: Candidate, reason: DeleteReason, report: &mut SweepReport, kept: &mut Vec<Candidate>) {
    let path = candidate.path.clone();
    if let Err(e) = delete(candidate, reason, report, kept) {
        skip(report, &path, &e);
    }
}

/// Logs that the sweep leaves `path` alone for `cause`, once per sweep.
fn skip(report: &mut SweepReport, path: &Path, cause: &Error) {
    if report.skipped.iter().any(|s| s.path == path) {
        return;
    }
    tracing::error!(path = %path.display(), "retention cannot sweep {}: {cause}; going on with the rest", path.display());
    report.skipped.push(Skipped { path: path.to_path_buf(), cause: cause.to_string() });
}

/// Deletes `candidate` unless it is held (then it is reported and kept in `kept`).
fn delete(candidate: Candidate, reason: DeleteReason, report: &mut SweepReport, kept: &mut Vec<Candidate>) -> Result<()> {
    if segments::is_held(&candidate.path) {
        if !report.held.contains(&candidate.path) {
            report.held.push(candidate.path.clone());
        }
        kept.push(candidate);
        return Ok(());
    }
    let camera_dir = candidate.path.parent().expect("in a camera directory");
    let guard = segments::lock(camera_dir)?;
    // Checked again under the lock: a hold set meanwhile wins.
    if segments::is_held(&candidate.path) {
        report.held.push(candidate.path.clone());
        kept.push(candidate);
        return Ok(());
    }
    let file = candidate.path.file_name().expect("a file name").to_string_lossy().into_owned();
    let bytes = std::fs::metadata(&candidate.path).map(|m| m.len()).unwrap_or(0);
    match std::fs::remove_file(&candidate.path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(&candidate.path, e)),
    }
    if candidate.record.is_some() {
        let records: Vec<SegmentRecord> = segments::read_index(camera_dir)?.into_iter().filter(|r| r.file != file).collect();
        segments::rewrite_index(camera_dir, &records, &guard)?;
    }
    segments::sync_dir(camera_dir)?;
    report.deleted.push(Deleted { camera: candidate.camera, file, bytes, reason });
    Ok(())
}

/// Camera directories under `root` (those holding an index or segments).
fn camera_dirs(root: &Path) -> Result<Vec<PathBuf>> {
    let entries = match std::fs::read_dir(root) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(root, e)),
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect();
    dirs.sort();
    Ok(dirs)
}

/// The closed segments of one camera: indexed ones (times from the index) and final-named
/// files missing from it (times from the name). `.part` files are never candidates.
fn candidates(camera_dir: &Path, camera: &str) -> Result<Vec<Candidate>> {
    // Under the lock, so a segment the recorder is renaming and indexing is seen either before
    // (a `.part`) or after (indexed), never as an orphan in between.
    let _guard = segments::lock(camera_dir)?;
    let index = segments::read_index(camera_dir)?;
    let mut found: Vec<Candidate> = Vec::new();
    for record in index {
        let path = camera_dir.join(&record.file);
        let (Some(start_ms), Some(end_ms)) = (record.start_ms(), record.end_ms()) else {
            tracing::warn!(file = %path.display(), "index line with an unreadable time: kept");
            continue;
        };
        found.push(Candidate { camera: camera.to_string(), path, record: Some(record), start_ms, end_ms });
    }
    let entries = std::fs::read_dir(camera_dir).map_err(|e| Error::io(camera_dir, e))?;
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.ends_with(&format!(".{SEGMENT_EXT}")) || name == INDEX_FILE || found.iter().any(|c| c.path.file_name() == Some(entry.file_name().as_os_str())) {
            continue;
        }
        if let Some(start_ms) = segments::parse_segment_name(&name) {
            found.push(Candidate { camera: camera.to_string(), path: entry.path(), record: None, start_ms, end_ms: start_ms });
        }
    }
    Ok(found)
}

/// Free bytes (for unprivileged users) on the file system holding `path`.
pub fn free_bytes(path: &Path) -> Result<u64> {
    let stat = statvfs(path)?;
    Ok(stat.f_bavail as u64 * stat.f_frsize as u64)
}

/// Size in bytes of the file system holding `path`.
fn total_bytes(path: &Path) -> Result<u64> {
    let stat = statvfs(path)?;
    Ok(stat.f_blocks as u64 * stat.f_frsize as u64)
}

fn statvfs(path: &Path) -> Result<libc::statvfs> {
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| Error::Settings(format!("{}: path contains a NUL byte", path.display())))?;
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid C string and a zeroed statvfs to fill.
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) } != 0 {
        return Err(Error::io(path, std::io::Error::last_os_error()));
    }
    Ok(stat)
}

/// Refuses a free-space floor the file system holding `root` can never meet (found by hostile
/// use: `min_free_mb = 100000000` was taken, and every segment was deleted as soon as it
/// closed, without a word).
pub fn check_floor(root: &Path, min_free_bytes: u64) -> Result<()> {
    let total = total_bytes(root)?;
    if min_free_bytes >= total {
        return Err(Error::Settings(format!(
            "live.min_free_mb: {} MB is not less than the whole file system holding {} ({} MB): every recording would be deleted as soon as it closed",
            min_free_bytes >> 20,
            root.display(),
            total >> 20
        )));
    }
    Ok(())
}

/// Says what a sweep deleted for free space, and when the floor cannot be met (once, until it
/// can again: `unmet` carries that from sweep to sweep). Segments past their age go quietly:
/// that is what the user asked for.
fn log_sweep(root: &Path, report: &SweepReport, unmet: &mut bool) {
    let for_space: Vec<&Deleted> = report.deleted.iter().filter(|d| d.reason == DeleteReason::FreeSpace).collect();
    if !for_space.is_empty() {
        let bytes: u64 = for_space.iter().map(|d| d.bytes).sum();
        tracing::warn!(
            "deleted {} recorded segment(s) ({} MB), oldest first, because {} had less free space than live.min_free_mb",
            for_space.len(),
            bytes >> 20,
            root.display()
        );
    }
    if report.floor_unmet && !*unmet {
        tracing::error!(
            "{} still has less free space than live.min_free_mb with no recording left to delete: new segments go as soon as they close; free space or lower the floor",
            root.display()
        );
    }
    *unmet = report.floor_unmet;
}

/// A thread that sweeps every `interval` until stopped.
pub struct Sweeper {
    stop: mpsc::Sender<()>,
    thread: Option<JoinHandle<Result<SweepReport>>>,
}

impl Sweeper {
    /// Starts sweeping `root` now and then every `interval`. A failed sweep is logged and
    /// tried again at the next tick.
    pub fn start(root: PathBuf, retention: Retention, interval: Duration) -> Result<Self> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("veilcam-retention".into())
            .spawn(move || {
                let mut last = SweepReport::default();
                let mut unmet = false;
                loop {
                    match sweep(&root, &retention) {
                        Ok(report) => {
                            log_sweep(&root, &report, &mut unmet);
                            last = report;
                        }
                        Err(e) => tracing::error!(error = %e, "retention sweep failed"),
                    }
                    match stopped.recv_timeout(interval) {
                        Err(RecvTimeoutError::Timeout) => continue,
                        _ => return Ok(last),
                    }
                }
            })
            .map_err(|e| Error::Pipeline(format!("cannot start the retention thread: {e}")))?;
        Ok(Sweeper { stop, thread: Some(thread) })
    }

    /// Stops the thread (after the sweep in progress, if any) and returns the last report.
    pub fn stop(mut self) -> Result<SweepReport> {
        let _ = self.stop.send(());
        let thread = self.thread.take().expect("stop runs once");
        thread.join().map_err(|_| Error::Pipeline("the retention thread panicked".into()))?
    }
}

impl Drop for Sweeper {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = self.stop.send(());
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by hostile use: one camera directory with an unreadable index, another with a
    /// directory named like a segment, and no camera's old segments were deleted any more.
    #[test]
    fn one_unreadable_camera_directory_does_not_stop_retention_for_the_others() {
        let root = tempfile::tempdir().unwrap();
        let old = "2020-01-01T00-00-00Z.mp4";
        let (bad_index, odd, good) = (root.path().join("a"), root.path().join("b"), root.path().join("c"));
        for dir in [&bad_index, &odd, &good] {
            std::fs::create_dir(dir).unwrap();
        }
        std::fs::write(bad_index.join(INDEX_FILE), "not a record\n").unwrap();
        std::fs::write(bad_index.join(old), b"x").unwrap();
        std::fs::create_dir(odd.join(old)).unwrap();
        std::fs::write(good.join(old), b"x").unwrap();

        let report = sweep(root.path(), &Retention::new(Duration::from_secs(3600), 0)).unwrap();
        assert!(!good.join(old).exists(), "the readable camera's old segment is deleted");
        assert_eq!(report.deleted.iter().map(|d| d.camera.as_str()).collect::<Vec<_>>(), ["c"]);
        let skipped: Vec<&Path> = report.skipped.iter().map(|s| s.path.as_path()).collect();
        assert_eq!(skipped, [bad_index.as_path(), odd.join(old).as_path()], "{:?}", report.skipped);
        assert!(report.skipped[0].cause.contains("line 1"), "{:?}", report.skipped[0]);
        assert!(bad_index.join(old).exists() && odd.join(old).is_dir(), "what cannot be swept is left alone");
    }
}
