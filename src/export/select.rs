//! Which files an export reads, and which part of each.
//!
//! From recordings: the closed segments of one camera (`DIR/CAMERA/index.jsonl`, see
//! [`crate::live::segments`]) whose time overlaps the requested UTC range, in time order. Every
//! one is hashed and must match the SHA-256 and size its index entry recorded when the segment
//! was closed; a mismatch ends the export naming the segment. Time the range covers but no
//! segment does is a [`Gap`]: listed in the report and the manifest, never silent, and the
//! export goes on.
//!
//! From files (`--input`, repeatable): the files in the order given, as one timeline; `--from`
//! and `--to` are then offsets from the start of the first file (each file counts for its
//! container's duration).
//!
//! The result says, for each file, which part of its own time line to keep ([`Part::keep_from_ns`]
//! .. [`Part::keep_to_ns`], from its first frame): [`super::chain`] keeps exactly the frames
//! shown at some instant of that window.

use std::path::{Path, PathBuf};

use serde::Serialize;

use super::ExportError;
use crate::error::Result;
use crate::live::segments::{self, SegmentRecord, INDEX_FILE};

/// Uncovered time shorter than this between or around segments is not a gap (the index keeps
/// milliseconds; consecutive segments of one run meet within a millisecond or two).
pub const GAP_TOLERANCE_MS: i64 = 100;

/// Keep everything to the end of a file.
pub const TO_THE_END: u64 = u64::MAX;

/// A UTC range, `from` inclusive, `to` exclusive, in milliseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct UtcRange {
    pub from_ms: i64,
    pub to_ms: i64,
}

impl UtcRange {
    /// Parses `--from` and `--to` as RFC 3339 times (`2026-11-20T14:00:00Z`, fractions and
    /// `+01:00` offsets allowed); `to` must be after `from`.
    pub fn parse(from: &str, to: &str) -> Result<UtcRange, ExportError> {
        let from_ms = parse_utc("--from", from)?;
        let to_ms = parse_utc("--to", to)?;
        if to_ms <= from_ms {
            return Err(ExportError::BadRange(format!("--to {to} is not after --from {from}")));
        }
        Ok(UtcRange { from_ms, to_ms })
    }
}

/// Parses an RFC 3339 time with a `Z` or `±HH:MM` offset into UTC milliseconds.
pub fn parse_utc(option: &str, text: &str) -> Result<i64, ExportError> {
    let bad = || {
        ExportError::BadRange(format!(
            "{option} '{text}' is not an RFC 3339 UTC time such as 2026-11-20T14:00:00Z (or with an offset: 2026-11-20T15:00:00+01:00)"
        ))
    };
    let (body, offset_min) = if let Some(body) = text.strip_suffix('Z').or_else(|| text.strip_suffix('z')) {
        (body, 0)
    } else {
        let at = text.len().checked_sub(6).ok_or_else(bad)?;
        let (body, zone) = text.split_at(at);
        let sign = match zone.as_bytes()[0] {
            b'+' => 1,
            b'-' => -1,
            _ => return Err(bad()),
        };
        let (h, m) = zone[1..].split_once(':').ok_or_else(bad)?;
        let (h, m): (i64, i64) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
        if h > 23 || m > 59 {
            return Err(bad());
        }
        (body, sign * (h * 60 + m))
    };
    let body = body.replacen(['t', ' '], "T", 1);
    // Milliseconds: a fraction of any length is cut (not rounded) to three digits.
    let normalised = match body.split_once('.') {
        Some((whole, frac)) if !frac.is_empty() && frac.chars().all(|c| c.is_ascii_digit()) => {
            format!("{whole}.{:0<3}Z", &frac[..frac.len().min(3)])
        }
        Some(_) => return Err(bad()),
        None => format!("{body}Z"),
    };
    let local = segments::parse_rfc3339_ms(&normalised).ok_or_else(bad)?;
    Ok(local - offset_min * 60_000)
}

/// Parses a `--from`/`--to` offset into a file: seconds (`90`, `90.5`, `90s`) or
/// `[HH:]MM:SS[.fff]`. Returns nanoseconds.
pub fn parse_offset(option: &str, text: &str) -> Result<u64, ExportError> {
    let bad = || {
        ExportError::BadRange(format!(
            "{option} '{text}' is not an offset into the input such as 90, 90.5s or 00:01:30.5 (with --input, --from and --to count from the start of the first file)"
        ))
    };
    let seconds = |s: &str| -> Option<f64> { s.parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0) };
    let text_s = text.strip_suffix('s').unwrap_or(text);
    let total = if text_s.contains(':') {
        let fields: Vec<&str> = text_s.split(':').collect();
        if fields.len() > 3 {
            return Err(bad());
        }
        let mut total = 0.0;
        for (i, field) in fields.iter().enumerate() {
            let last = i == fields.len() - 1;
            let value = if last { seconds(field) } else { field.parse::<u64>().ok().map(|v| v as f64) }.ok_or_else(bad)?;
            if i > 0 && value >= 60.0 {
                return Err(bad());
            }
            total = total * 60.0 + value;
        }
        total
    } else {
        seconds(text_s).ok_or_else(bad)?
    };
    if total > MAX_OFFSET_S {
        // Beyond it, nanoseconds no longer fit and two offsets would both be clamped to one.
        return Err(bad());
    }
    Ok((total * 1e9).round() as u64)
}

/// The largest offset taken (about 31 years of video).
const MAX_OFFSET_S: f64 = 1e9;

/// One file an export reads.
#[derive(Clone, Debug, Serialize)]
pub struct Part {
    pub path: PathBuf,
    /// How the report names it: the segment's file name, or the input path as given.
    pub name: String,
    pub sha256: String,
    pub bytes: u64,
    /// The recording index's entry (segments only).
    pub record: Option<SegmentRecord>,
    /// Keep the frames shown at some instant from here (ns after the file's first frame)…
    pub keep_from_ns: u64,
    /// …up to here (exclusive; [`TO_THE_END`]: to the end of the file).
    pub keep_to_ns: u64,
}

/// Time the requested range covers but no recording does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Gap {
    pub from_ms: i64,
    pub to_ms: i64,
}

impl Gap {
    pub fn seconds(&self) -> f64 {
        (self.to_ms - self.from_ms) as f64 / 1000.0
    }

    /// `2026-11-20T14:05:00.000Z – 2026-11-20T14:06:00.000Z (60.0 s)`.
    pub fn describe(&self) -> String {
        format!(
            "{} to {} ({:.3} s without recording)",
            segments::format_rfc3339_ms(self.from_ms),
            segments::format_rfc3339_ms(self.to_ms),
            self.seconds()
        )
    }
}

/// Where the files came from.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Origin {
    /// Segments of `camera` under the recordings root, for a UTC range.
    Recordings { root: PathBuf, camera: String, range: UtcRange },
    /// Files given with `--input`; the window in ns from the start of the first file.
    Files { from_ns: Option<u64>, to_ns: Option<u64> },
}

/// What an export reads.
#[derive(Clone, Debug, Serialize)]
pub struct Selection {
    pub origin: Origin,
    pub parts: Vec<Part>,
    pub gaps: Vec<Gap>,
    /// What the times rest on, in words, for the report and the manifest.
    pub clock_notes: Vec<String>,
}

/// The segments of `camera` under `root` that overlap `range`, hashed and checked against the
/// index, with the gaps in between.
pub fn from_recordings(root: &Path, camera: &str, range: UtcRange) -> Result<Selection> {
    let dir = camera_dir(root, camera)?;
    let records = {
        let _lock = segments::lock(&dir)?;
        segments::read_index(&dir)?
    };
    let mut chosen: Vec<(SegmentRecord, i64, i64)> = records
        .iter()
        .filter_map(|r| Some((r.clone(), r.start_ms()?, r.end_ms()?)))
        .filter(|(_, start, end)| *start < range.to_ms && *end > range.from_ms)
        .collect();
    chosen.sort_by_key(|(r, start, _)| (*start, r.file.clone()));
    if chosen.is_empty() {
        return Err(ExportError::NoRecordings {
            camera: camera.to_string(),
            from: segments::format_rfc3339_ms(range.from_ms),
            to: segments::format_rfc3339_ms(range.to_ms),
            recorded: recorded_span(&records),
        }
        .into());
    }
    let mut parts = Vec::with_capacity(chosen.len());
    for (record, start, _) in &chosen {
        let path = dir.join(&record.file);
        check_segment(&path, record)?;
        let ns = |ms: i64| (ms.max(0) as u64).saturating_mul(1_000_000);
        parts.push(Part {
            name: record.file.clone(),
            sha256: record.sha256.clone(),
            bytes: record.bytes,
            record: Some(record.clone()),
            keep_from_ns: ns(range.from_ms - start),
            keep_to_ns: ns(range.to_ms - start),
            path,
        });
    }
    let spans: Vec<(i64, i64)> = chosen.iter().map(|(_, s, e)| (*s, *e)).collect();
    let gaps = gaps(range, &spans);
    let clock_notes = clock_notes(&chosen.iter().map(|(r, _, _)| r.clone()).collect::<Vec<_>>());
    Ok(Selection { origin: Origin::Recordings { root: root.to_path_buf(), camera: camera.to_string(), range }, parts, gaps, clock_notes })
}

/// The camera's directory under `root`, or an error listing the cameras there are.
fn camera_dir(root: &Path, camera: &str) -> Result<PathBuf> {
    check_camera_name(root, camera)?;
    let dir = root.join(camera);
    if dir.join(INDEX_FILE).is_file() {
        return Ok(dir);
    }
    Err(ExportError::UnknownCamera { camera: camera.to_string(), dir, root: root.to_path_buf(), known: known_cameras(root) }.into())
}

/// `--camera` is a name (`front_door`, as in the config and the recordings directory), never a
/// path: one with a `/` (`cam1/`, `./cam1`, an absolute path), `.`, `..` or nothing is refused
/// saying so (found by hostile use: `cam1/` was recorded as camera "cam1/", a path to an
/// existing camera directory was refused as "no directory").
pub fn check_camera_name(root: &Path, camera: &str) -> Result<()> {
    if camera.is_empty() || camera.contains('/') || camera == "." || camera == ".." || camera.contains('\0') {
        return Err(ExportError::CameraNotAName { camera: camera.to_string(), root: root.to_path_buf(), known: known_cameras(root) }.into());
    }
    Ok(())
}

/// The cameras with recordings under `root`, for error messages.
fn known_cameras(root: &Path) -> String {
    let mut known: Vec<String> = std::fs::read_dir(root)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter(|e| e.path().join(INDEX_FILE).is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    known.sort();
    if known.is_empty() { "none".to_string() } else { known.join(", ") }
}

/// Every `--input` is a different file: the same file given twice (by two paths, a hard link or
/// a symbolic link to it: one device and inode) is refused naming it (found by hostile use: both
/// parts of `--input A --input A` were described as the same frames of A in the signed
/// manifest). Inputs that cannot be read are left to [`crate::input::check`].
pub fn check_distinct_inputs(inputs: &[PathBuf]) -> Result<()> {
    let mut seen: Vec<((u64, u64), &PathBuf)> = Vec::with_capacity(inputs.len());
    for path in inputs {
        let Some(id) = crate::input::file_id(path) else { continue };
        if let Some((_, first)) = seen.iter().find(|(seen_id, _)| *seen_id == id) {
            return Err(ExportError::SameInput { path: path.clone(), first: (*first).clone() }.into());
        }
        seen.push((id, path));
    }
    Ok(())
}

/// `first start – last end` of what a camera recorded, for the "no recordings" error.
fn recorded_span(records: &[SegmentRecord]) -> String {
    let starts = records.iter().filter_map(SegmentRecord::start_ms);
    let ends = records.iter().filter_map(SegmentRecord::end_ms);
    match (starts.min(), ends.max()) {
        (Some(first), Some(last)) => format!(
            "{} segment(s) between {} and {}",
            records.len(),
            segments::format_rfc3339_ms(first),
            segments::format_rfc3339_ms(last)
        ),
        _ => "nothing".to_string(),
    }
}

/// The segment must exist with the size and SHA-256 its index entry recorded.
fn check_segment(path: &Path, record: &SegmentRecord) -> Result<()> {
    let mismatch = |why: String| ExportError::SegmentMismatch { path: path.to_path_buf(), why };
    if !path.is_file() {
        return Err(mismatch("indexed but missing".into()).into());
    }
    let (sha256, bytes) = segments::hash_file(path)?;
    if bytes != record.bytes {
        return Err(mismatch(format!("{bytes} bytes, the index says {}", record.bytes)).into());
    }
    if sha256 != record.sha256 {
        return Err(mismatch(format!("SHA-256 {sha256}, the index says {}", record.sha256)).into());
    }
    Ok(())
}

/// The parts of `range` no span covers (longer than [`GAP_TOLERANCE_MS`]); spans sorted by start.
pub fn gaps(range: UtcRange, spans: &[(i64, i64)]) -> Vec<Gap> {
    let mut gaps = Vec::new();
    let mut covered_to = range.from_ms;
    for &(start, end) in spans {
        let start = start.min(range.to_ms);
        if start - covered_to > GAP_TOLERANCE_MS {
            gaps.push(Gap { from_ms: covered_to, to_ms: start });
        }
        covered_to = covered_to.max(end);
    }
    if range.to_ms - covered_to > GAP_TOLERANCE_MS {
        gaps.push(Gap { from_ms: covered_to, to_ms: range.to_ms });
    }
    gaps
}

/// What the recorded times rest on.
fn clock_notes(records: &[SegmentRecord]) -> Vec<String> {
    let mut notes = vec![
        "Times are UTC as recorded by veilcam live: the recording machine's clock at the first frame of each unbroken run \
         of camera frames, later frames placed by the camera's own timestamps. Whether that clock was synchronised \
         (NTP) is not recorded; compare with a known event in the footage if the exact time matters."
            .to_string(),
        "Index times have millisecond precision; a frame is exported when it was shown at some instant of the range."
            .to_string(),
    ];
    for r in records.iter().filter(|r| r.recovered) {
        notes.push(format!(
            "{} was recovered after the recorder was killed: its start comes from its file name (whole seconds, and not \
             before the end of the segment before it), so its times may be up to 1 s early, and its last second before the \
             kill is lost.",
            r.file
        ));
    }
    notes
}

/// The files given with `--input`, hashed, with the window `from_ns`..`to_ns` (offsets from
/// the start of the first file) spread over them by their container durations.
pub fn from_files(inputs: &[PathBuf], from_ns: Option<u64>, to_ns: Option<u64>) -> Result<Selection> {
    if let (Some(from), Some(to)) = (from_ns, to_ns) {
        if to <= from {
            return Err(ExportError::BadRange("--to is not after --from".into()).into());
        }
    }
    check_distinct_inputs(inputs)?;
    let mut parts = Vec::new();
    let mut start_ns = 0u64;
    for path in inputs {
        crate::input::check(path)?;
        let length = if from_ns.is_some() || to_ns.is_some() { duration_of(path)? } else { TO_THE_END };
        let end_ns = start_ns.saturating_add(length);
        let keep_from = from_ns.map_or(0, |f| f.saturating_sub(start_ns));
        let keep_to = to_ns.map_or(TO_THE_END, |t| t.saturating_sub(start_ns));
        let overlaps = to_ns.is_none_or(|t| t > start_ns) && from_ns.is_none_or(|f| f < end_ns);
        if overlaps {
            let (sha256, bytes) = segments::hash_file(path)?;
            parts.push(Part {
                path: path.clone(),
                name: path.display().to_string(),
                sha256,
                bytes,
                record: None,
                keep_from_ns: keep_from,
                keep_to_ns: keep_to,
            });
        }
        start_ns = end_ns;
    }
    if parts.is_empty() {
        let from = from_ns.map_or(0.0, |f| f as f64 / 1e9);
        return Err(ExportError::BadRange(format!(
            "--from {from:.3} s is past the end of the input(s) ({:.3} s long)",
            start_ns as f64 / 1e9
        ))
        .into());
    }
    if let Some(to) = to_ns.filter(|&to| to > start_ns.saturating_add(GAP_TOLERANCE_MS as u64 * 1_000_000)) {
        // Files have no recording to be missing: a range past their end is a mistake, and a
        // report saying the sources cover it would be false (found by hostile use).
        return Err(ExportError::BadRange(format!(
            "--to {:.3} s is past the end of the input(s) ({:.3} s long); give --to {:.3} or less",
            to as f64 / 1e9,
            start_ns as f64 / 1e9,
            start_ns as f64 / 1e9
        ))
        .into());
    }
    let clock_notes = vec![
        "The sources are plain files: they carry no wall-clock time. Offsets and times in this export count from the \
         start of the first file."
            .to_string(),
    ];
    Ok(Selection { origin: Origin::Files { from_ns, to_ns }, parts, gaps: Vec::new(), clock_notes })
}

/// A file's container duration, needed to place `--from`/`--to` in a sequence of files.
fn duration_of(path: &Path) -> Result<u64> {
    let source = crate::source::file::FileSource::open(path)?;
    source.duration().map(|d| d.nseconds()).ok_or_else(|| {
        ExportError::BadRange(format!("{}: its duration is unknown, so --from/--to cannot be placed in it", path.display())).into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_795_183_200_000; // 2026-11-20T14:00:00Z

    #[test]
    fn utc_times_parse_with_fractions_and_offsets() {
        assert_eq!(parse_utc("--from", "2026-11-20T14:00:00Z").unwrap(), T0);
        assert_eq!(parse_utc("--from", "2026-11-20T14:00:00.5Z").unwrap(), T0 + 500);
        assert_eq!(parse_utc("--from", "2026-11-20T14:00:00.123456Z").unwrap(), T0 + 123);
        assert_eq!(parse_utc("--from", "2026-11-20T15:00:00+01:00").unwrap(), T0);
        assert_eq!(parse_utc("--from", "2026-11-20T13:30:00-00:30").unwrap(), T0);
        for bad in ["2026-11-20 14:00", "yesterday", "2026-11-20T14:00:00", "2026-11-20T14:00:00.Z", ""] {
            assert!(parse_utc("--from", bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn a_range_must_end_after_it_starts() {
        assert!(UtcRange::parse("2026-11-20T14:00:00Z", "2026-11-20T14:00:00Z").is_err());
        assert!(UtcRange::parse("2026-11-20T14:00:01Z", "2026-11-20T14:00:00Z").is_err());
    }

    #[test]
    fn offsets_parse_as_seconds_or_clock_notation() {
        assert_eq!(parse_offset("--from", "90").unwrap(), 90_000_000_000);
        assert_eq!(parse_offset("--from", "1.5s").unwrap(), 1_500_000_000);
        assert_eq!(parse_offset("--from", "01:30").unwrap(), 90_000_000_000);
        assert_eq!(parse_offset("--from", "1:00:00.25").unwrap(), 3_600_250_000_000);
        for bad in ["-1", "1:60", "abc", "1:2:3:4", "NaN", "99999999:00:00", "1e300"] {
            assert!(parse_offset("--to", bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn gaps_are_found_before_between_and_after_segments() {
        let range = UtcRange { from_ms: 0, to_ms: 10_000 };
        assert_eq!(gaps(range, &[(0, 10_000)]), vec![]);
        // Touching segments (1 ms rounding) leave no gap.
        assert_eq!(gaps(range, &[(0, 5_000), (5_001, 10_000)]), vec![]);
        assert_eq!(
            gaps(range, &[(2_000, 4_000), (6_000, 8_000)]),
            vec![Gap { from_ms: 0, to_ms: 2_000 }, Gap { from_ms: 4_000, to_ms: 6_000 }, Gap { from_ms: 8_000, to_ms: 10_000 }]
        );
        // Overlapping segments (a recovered one) do not make a gap.
        assert_eq!(gaps(range, &[(0, 6_000), (5_000, 7_000), (7_000, 10_000)]), vec![]);
    }
}
