//! Legal holds on recorded segments.
//!
//! A segment is held while a marker `NAME.mp4.hold` lies beside it; retention
//! ([`crate::live::retention`]) never deletes a held segment. The marker lists the cases that
//! hold the segment, one JSON line each (`{"case":"2026-117","since":"2026-11-30T21:04:05.000Z"}`),
//! so a segment exported for two cases stays held until both are released. A line veilcam
//! cannot read (a marker made by hand) is kept as it is and keeps the segment held.
//!
//! Markers are rewritten under the camera's index lock (temp file, rename, directory fsync),
//! so two exports placing holds at once lose neither.

use std::fs;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::ExportError;
use crate::error::{Error, Result};
use crate::live::segments::{self, HOLD_SUFFIX, INDEX_FILE};

/// One case's hold on a segment, as one line of the marker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldLine {
    pub case: String,
    /// UTC when the hold was placed.
    pub since: String,
}

/// The lines of `segment`'s marker (none when it has no marker). The marker is never read
/// through a symbolic link (found by hostile use: `export` and `hold release`, run as root,
/// copied a linked 0600 file into a new marker, and `hold list` printed it).
fn read_lines(marker: &Path) -> Result<Vec<String>> {
    let opened = fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK).open(marker);
    let mut file = match opened {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Err(not_a_marker(marker, "a symbolic link")),
        Err(e) => return Err(Error::io(marker, e)),
    };
    if !file.metadata().map_err(|e| Error::io(marker, e))?.is_file() {
        return Err(not_a_marker(marker, "not a regular file"));
    }
    let mut text = String::new();
    file.read_to_string(&mut text).map_err(|e| Error::io(marker, e))?;
    Ok(text.lines().filter(|l| !l.trim().is_empty()).map(str::to_string).collect())
}

fn not_a_marker(marker: &Path, what: &str) -> Error {
    let why = format!("a hold marker must be a regular file, and this is {what}; the segment stays held: remove the marker by hand");
    Error::io(marker, std::io::Error::new(std::io::ErrorKind::InvalidData, why))
}

fn case_of(line: &str) -> Option<String> {
    serde_json::from_str::<HoldLine>(line).ok().map(|h| h.case)
}

/// The cases holding `segment` (a line veilcam cannot read shows as `?` followed by it); an
/// error when its marker is not a regular file.
pub fn cases(segment: &Path) -> Result<Vec<String>> {
    Ok(read_lines(&segments::hold_marker(segment))?
        .iter()
        .map(|l| case_of(l).unwrap_or_else(|| format!("?{l}")))
        .collect())
}

/// Replaces the marker with `lines` (removes it when there are none).
fn write_lines(marker: &Path, lines: &[String]) -> Result<()> {
    let dir = marker.parent().expect("a marker lies in a camera directory");
    if lines.is_empty() {
        match fs::remove_file(marker) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(marker, e)),
        }
        return segments::sync_dir(dir);
    }
    let name = marker.file_name().expect("a file name").to_string_lossy();
    let temp = dir.join(format!(".{name}.tmp"));
    let mut text = lines.join("\n");
    text.push('\n');
    segments::replace_file(marker, &temp, text.as_bytes())?;
    segments::sync_dir(dir)
}

/// Places `case`'s hold on `segment`. Returns whether it was new (false: the case already
/// held it).
pub fn place(segment: &Path, case: &str) -> Result<bool> {
    let dir = segment.parent().expect("a segment lies in a camera directory");
    if !segment.is_file() {
        return Err(ExportError::Hold { path: segment.to_path_buf(), why: "the segment is missing".into() }.into());
    }
    let _lock = segments::lock(dir)?;
    let marker = segments::hold_marker(segment);
    let mut lines = read_lines(&marker)?;
    if lines.iter().any(|l| case_of(l).as_deref() == Some(case)) {
        return Ok(false);
    }
    let line = HoldLine { case: case.to_string(), since: segments::format_rfc3339_ms(segments::now_ms()) };
    lines.push(serde_json::to_string(&line).expect("a hold line serialises"));
    write_lines(&marker, &lines)?;
    Ok(true)
}

/// Removes `case`'s hold from `segment`; the marker goes when no case is left. Returns whether
/// the case held it.
pub fn remove(segment: &Path, case: &str) -> Result<bool> {
    let dir = segment.parent().expect("a segment lies in a camera directory");
    let _lock = segments::lock(dir)?;
    let marker = segments::hold_marker(segment);
    let lines = read_lines(&marker)?;
    let kept: Vec<String> = lines.iter().filter(|l| case_of(l).as_deref() != Some(case)).cloned().collect();
    if kept.len() == lines.len() {
        return Ok(false);
    }
    write_lines(&marker, &kept)?;
    Ok(true)
}

/// Holds placed by exports still running, as (segment, case): taken back by
/// [`remove_pending`] when the process is ended at once (a second interrupt). A hold is placed
/// or taken back on disk and in this list under the list's lock, so the list never differs from
/// the disk however a second interrupt falls.
static PENDING: Mutex<Vec<(PathBuf, String)>> = Mutex::new(Vec::new());

/// Takes back the holds of exports still running (the process is about to end without
/// unwinding). Returns how many were taken back.
pub fn remove_pending() -> usize {
    let Some(mut pending) = crate::interrupt::lock_when_ending(&PENDING) else { return 0 };
    let removed = pending.iter().filter(|(segment, case)| remove(segment, case).unwrap_or(false)).count();
    pending.clear();
    removed
}

/// Holds one export placed, taken back unless [`Placed::keep`] is called: an export that fails
/// or is interrupted leaves the holds as they were before it (a segment another case holds, or
/// this case held already, stays held).
#[derive(Debug)]
pub struct Placed {
    case: String,
    new: Vec<PathBuf>,
    all: Vec<PathBuf>,
    kept: bool,
}

impl Placed {
    /// Places `case`'s hold on every segment.
    pub fn place_all(segments: &[PathBuf], case: &str) -> Result<Placed> {
        let mut placed = Placed { case: case.to_string(), new: Vec::new(), all: Vec::new(), kept: false };
        for segment in segments {
            let mut pending = crate::interrupt::lock_list(&PENDING);
            if place(segment, case)? {
                placed.new.push(segment.clone());
                pending.push((segment.clone(), case.to_string()));
            }
            placed.all.push(segment.clone());
        }
        Ok(placed)
    }

    /// The segments held for this case.
    pub fn segments(&self) -> &[PathBuf] {
        &self.all
    }

    /// The export succeeded: the holds stay.
    pub fn keep(mut self) {
        self.kept = true;
        crate::interrupt::lock_list(&PENDING).retain(|(s, c)| *c != self.case || !self.new.contains(s));
    }
}

impl Drop for Placed {
    fn drop(&mut self) {
        if self.kept {
            return;
        }
        for segment in &self.new {
            let mut pending = crate::interrupt::lock_list(&PENDING);
            if let Err(e) = remove(segment, &self.case) {
                tracing::error!("cannot take back the hold on {}: {e}", segment.display());
            }
            pending.retain(|(s, c)| *c != self.case || s != segment);
        }
    }
}

/// A held segment and the cases holding it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Held {
    pub segment: PathBuf,
    pub cases: Vec<String>,
}

/// The cases in `held` with no finished export in the case register under `home`: an export
/// running now, or one killed outright before it could take its holds back.
pub fn unfinished_cases(held: &[Held], home: &Path) -> Vec<String> {
    let cases: std::collections::BTreeSet<&String> = held.iter().flat_map(|h| &h.cases).collect();
    cases.into_iter().filter(|case| !super::case_record(home, case).exists()).cloned().collect()
}

/// Every held segment under the recordings `root`, by camera and name.
pub fn list(root: &Path) -> Result<Vec<Held>> {
    let mut held = Vec::new();
    for dir in camera_dirs(root)? {
        let mut markers: Vec<PathBuf> = fs::read_dir(&dir)
            .map_err(|e| Error::io(&dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.to_string_lossy().ends_with(&format!(".mp4{HOLD_SUFFIX}")))
            .collect();
        markers.sort();
        for marker in markers {
            let segment = PathBuf::from(marker.to_string_lossy().trim_end_matches(HOLD_SUFFIX).to_string());
            // A marker veilcam will not read (a symbolic link) still holds its segment: listed
            // with the reason as its case, so it is seen.
            let cases = cases(&segment).unwrap_or_else(|e| vec![format!("?{e}")]);
            held.push(Held { cases, segment });
        }
    }
    Ok(held)
}

/// What releasing a case did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Released {
    /// Segments no case holds any more (retention may delete them now).
    pub freed: Vec<PathBuf>,
    /// Segments the case held that other cases still hold.
    pub still_held: Vec<PathBuf>,
}

/// Why releasing `case` did nothing: it holds no segment under `root`; the cases that do.
pub fn holds_nothing(root: &Path, case: &str) -> Result<String> {
    let mut cases: Vec<String> = list(root)?.into_iter().flat_map(|h| h.cases).collect();
    cases.sort();
    cases.dedup();
    let holding = if cases.is_empty() { "none".to_string() } else { cases.join(", ") };
    Ok(format!("case '{case}' holds no segment under {} (cases holding segments: {holding}; `veilcam hold list` shows them)", root.display()))
}

/// Removes `case`'s holds from every segment under `root`.
pub fn release(root: &Path, case: &str) -> Result<Released> {
    let mut released = Released::default();
    for h in list(root)? {
        if !h.cases.iter().any(|c| c == case) {
            continue;
        }
        remove(&h.segment, case)?;
        if segments::is_held(&h.segment) {
            released.still_held.push(h.segment);
        } else {
            released.freed.push(h.segment);
        }
    }
    Ok(released)
}

/// Camera directories under `root` (those with an index).
fn camera_dirs(root: &Path) -> Result<Vec<PathBuf>> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(root)
        .map_err(|e| Error::io(root, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join(INDEX_FILE).is_file())
        .collect();
    dirs.sort();
    Ok(dirs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn camera() -> (tempfile::TempDir, PathBuf) {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("front_door");
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join(INDEX_FILE), "").unwrap();
        let segment = dir.join("2026-11-20T14-00-00Z.mp4");
        fs::write(&segment, b"segment").unwrap();
        (root, segment)
    }

    #[test]
    fn a_segment_held_by_two_cases_stays_held_until_both_are_released() {
        let (root, segment) = camera();
        assert!(place(&segment, "A").unwrap());
        assert!(!place(&segment, "A").unwrap(), "a second hold of one case is no new hold");
        assert!(place(&segment, "B").unwrap());
        assert_eq!(cases(&segment).unwrap(), ["A", "B"]);
        let released = release(root.path(), "A").unwrap();
        assert_eq!(released.still_held, vec![segment.clone()]);
        assert!(segments::is_held(&segment));
        let released = release(root.path(), "B").unwrap();
        assert_eq!(released.freed, vec![segment.clone()]);
        assert!(!segments::is_held(&segment));
    }

    #[test]
    fn holds_of_a_failed_export_are_taken_back_but_older_holds_stay() {
        let (_root, segment) = camera();
        place(&segment, "A").unwrap();
        drop(Placed::place_all(std::slice::from_ref(&segment), "A").unwrap());
        assert_eq!(cases(&segment).unwrap(), ["A"], "case A held it before: its hold stays");
        drop(Placed::place_all(std::slice::from_ref(&segment), "B").unwrap());
        assert_eq!(cases(&segment).unwrap(), ["A"], "B's new hold is taken back");
        Placed::place_all(std::slice::from_ref(&segment), "B").unwrap().keep();
        assert_eq!(cases(&segment).unwrap(), ["A", "B"]);
    }

    #[test]
    fn a_marker_that_cannot_be_written_leaves_no_temp_file() {
        // Found by hostile use: on a full disk the failed write left `.NAME.hold.tmp` beside
        // the segment. A directory in the marker's place fails the write here.
        let (_root, segment) = camera();
        let marker = segments::hold_marker(&segment);
        fs::create_dir(&marker).unwrap();
        assert!(write_lines(&marker, &["{}".to_string()]).is_err());
        let names: Vec<String> = fs::read_dir(segment.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        assert!(!names.iter().any(|n| n.ends_with(".tmp")), "{names:?}");
    }

    #[test]
    fn a_marker_made_by_hand_keeps_the_segment_held() {
        let (root, segment) = camera();
        fs::write(segments::hold_marker(&segment), "kept for the insurer\n").unwrap();
        place(&segment, "A").unwrap();
        release(root.path(), "A").unwrap();
        assert!(segments::is_held(&segment));
        assert_eq!(cases(&segment).unwrap(), ["?kept for the insurer"]);
    }

    /// Found by hostile use: a marker that is a symbolic link was read through (as root, a
    /// linked 0600 file was copied into a new marker and listed).
    #[test]
    fn a_marker_that_is_a_symbolic_link_is_never_read_through_and_keeps_its_segment_held() {
        let (root, segment) = camera();
        let secret = root.path().join("secret.txt");
        fs::write(&secret, "{\"case\":\"SECRET-CONTENT\",\"since\":\"x\"}\n").unwrap();
        std::os::unix::fs::symlink(&secret, segments::hold_marker(&segment)).unwrap();
        assert!(segments::is_held(&segment));
        let err = place(&segment, "A").unwrap_err().to_string();
        assert!(err.contains("symbolic link") && !err.contains("SECRET-CONTENT"), "{err}");
        let listed = list(root.path()).unwrap();
        assert_eq!(listed.len(), 1);
        assert!(listed[0].cases[0].contains("symbolic link") && !listed[0].cases[0].contains("SECRET"), "{:?}", listed[0].cases);
        assert_eq!(release(root.path(), "SECRET-CONTENT").unwrap(), Released::default());
        assert!(fs::symlink_metadata(segments::hold_marker(&segment)).unwrap().file_type().is_symlink(), "the link is left as it was");
        // A dangling link still holds the segment.
        fs::remove_file(&secret).unwrap();
        assert!(segments::is_held(&segment));
    }
}
