//! The on-disk layout of a camera's recording, shared by the [`Recorder`](crate::sink::recorder)
//! that writes it, the [retention](super::retention) sweeper that prunes it and the coming
//! legal-request export that reads it.
//!
//! ```text
//! DIR/CAMERA/2026-11-30T19-04-05Z.mp4        closed segment (fragmented MP4), named by UTC start
//! DIR/CAMERA/2026-11-30T19-04-05Z.mp4.hold   legal hold: the segment is never deleted
//! DIR/CAMERA/2026-11-30T19-05-05Z.mp4.part   the segment being written (never under a final name)
//! DIR/CAMERA/index.jsonl                     one JSON line per closed segment, fsynced
//! DIR/CAMERA/.index.lock                     flock(2) taken by every writer of the index
//! ```
//!
//! A segment is written as `NAME.mp4.part` and renamed to `NAME.mp4` only once it is closed,
//! synced and hashed, so a final name always holds a complete file. After a crash or kill -9 the
//! open segment stays behind as `.part`; [`recover`] cuts it after its last complete fragment
//! (fragmented MP4 keeps every fragment written before the kill; about a second is lost),
//! renames it and indexes it with `"recovered": true`.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::mp4box::{be32, child, children, read_box_header};

/// The index file in each camera directory.
pub const INDEX_FILE: &str = "index.jsonl";
/// The lock file every writer of the index holds while it writes.
pub const LOCK_FILE: &str = ".index.lock";
/// Locked by the camera directory's one recorder ([`claim_recorder`]).
pub const RECORDER_LOCK_FILE: &str = ".recorder.lock";
/// Extension of a closed segment.
pub const SEGMENT_EXT: &str = "mp4";
/// Suffix of the segment being written.
pub const PART_SUFFIX: &str = ".part";
/// Suffix of a legal-hold marker, beside the segment it holds (`NAME.mp4.hold`).
pub const HOLD_SUFFIX: &str = ".hold";

/// One closed segment, as one line of `index.jsonl`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentRecord {
    /// File name inside the camera directory.
    pub file: String,
    /// UTC of the first frame, RFC 3339 with milliseconds.
    pub start: String,
    /// UTC of the segment's end: where the next segment of the same recording starts (the
    /// frame after its last), or the end of its last frame when none follows.
    pub end: String,
    /// Video frames in the file.
    pub frames: u64,
    /// File size.
    pub bytes: u64,
    /// SHA-256 of the file, lower-case hex.
    pub sha256: String,
    /// Recovered from a `.part` file after a crash (its end is where the last fragment ends).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub recovered: bool,
}

impl SegmentRecord {
    /// Start as milliseconds since the Unix epoch.
    pub fn start_ms(&self) -> Option<i64> {
        parse_rfc3339_ms(&self.start)
    }

    /// End as milliseconds since the Unix epoch.
    pub fn end_ms(&self) -> Option<i64> {
        parse_rfc3339_ms(&self.end)
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO).as_millis() as i64
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// (year, month, day) → days since 1970-01-01.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: i64,
    minute: i64,
    second: i64,
    milli: i64,
}

fn civil(ms: i64) -> Civil {
    let secs = ms.div_euclid(1000);
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let tod = secs.rem_euclid(86_400);
    Civil { year, month, day, hour: tod / 3600, minute: tod / 60 % 60, second: tod % 60, milli: ms.rem_euclid(1000) }
}

/// `2026-11-30T19:04:05.123Z`.
pub fn format_rfc3339_ms(ms: i64) -> String {
    let c = civil(ms);
    format!("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", c.year, c.month, c.day, c.hour, c.minute, c.second, c.milli)
}

/// A segment's file stem for a start at `ms`: `2026-11-30T19-04-05Z` (no colons, so the name
/// is valid on every file system and in URLs).
pub fn segment_stem(ms: i64) -> String {
    let c = civil(ms);
    format!("{:04}-{:02}-{:02}T{:02}-{:02}-{:02}Z", c.year, c.month, c.day, c.hour, c.minute, c.second)
}

/// Parses what [`format_rfc3339_ms`] writes (milliseconds optional).
pub fn parse_rfc3339_ms(text: &str) -> Option<i64> {
    let text = text.strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    parse_date_time(date, time, ':')
}

/// The UTC start of a segment from its file name (`2026-11-30T19-04-05Z[-N].mp4`).
pub fn parse_segment_name(name: &str) -> Option<i64> {
    let stem = name.strip_suffix(".mp4")?;
    let (date, time) = stem.split_once('T')?;
    let time = time.split_once('Z')?.0;
    parse_date_time(date, time, '-')
}

fn parse_date_time(date: &str, time: &str, sep: char) -> Option<i64> {
    let mut d = date.splitn(3, '-');
    let year: i64 = d.next()?.parse().ok()?;
    let month: u32 = d.next()?.parse().ok()?;
    let day: u32 = d.next()?.parse().ok()?;
    let (hms, milli) = match time.split_once('.') {
        Some((hms, frac)) if frac.len() == 3 => (hms, frac.parse::<i64>().ok()?),
        Some(_) => return None,
        None => (time, 0),
    };
    let mut t = hms.splitn(3, sep);
    let hour: i64 = t.next()?.parse().ok()?;
    let minute: i64 = t.next()?.parse().ok()?;
    let second: i64 = t.next()?.parse().ok()?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(((days * 86_400 + hour * 3600 + minute * 60 + second) * 1000) + milli)
}

/// The hold marker of a segment file.
pub fn hold_marker(segment: &Path) -> PathBuf {
    let mut name = segment.as_os_str().to_os_string();
    name.push(HOLD_SUFFIX);
    PathBuf::from(name)
}

/// Whether a segment is on legal hold.
pub fn is_held(segment: &Path) -> bool {
    // Whatever the marker is (a symbolic link, even a dangling one), the segment stays.
    hold_marker(segment).symlink_metadata().is_ok()
}

/// An exclusive lock on a camera's index, released when dropped.
pub struct IndexLock {
    _file: File,
}

/// Takes the index lock of `camera_dir` (waits for another writer, in this or another process).
pub fn lock(camera_dir: &Path) -> Result<IndexLock> {
    let path = camera_dir.join(LOCK_FILE);
    let file = OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(|e| Error::io(&path, e))?;
    // SAFETY: flock on a descriptor we own; the lock goes with the descriptor when it closes.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(Error::io(&path, std::io::Error::last_os_error()));
    }
    Ok(IndexLock { _file: file })
}

/// Held by the one recorder of a camera directory for as long as it records
/// ([`claim_recorder`]).
pub struct RecorderClaim {
    _file: File,
}

/// Claims `camera_dir` for one recorder: a second one (another `veilcam live` given the same
/// recordings and camera) is refused at once instead of interleaving segments with the first and
/// cutting its open segment as if a crash had left it (found by hostile use).
pub fn claim_recorder(camera_dir: &Path) -> Result<RecorderClaim> {
    let path = camera_dir.join(RECORDER_LOCK_FILE);
    let file = OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(|e| Error::io(&path, e))?;
    // The claim goes with the descriptor when it closes, also when the process is killed.
    if let Err(e) = crate::leftover::hold(&file) {
        if e.kind() == std::io::ErrorKind::WouldBlock {
            return Err(Error::Settings(format!(
                "{}: another recorder is recording this camera (is a second veilcam live running with the same recordings?)",
                camera_dir.display()
            )));
        }
        return Err(Error::io(&path, e));
    }
    Ok(RecorderClaim { _file: file })
}

/// The records of `camera_dir`'s index, in file order (no index: none). A line that does not
/// parse is an error naming the file and line: the index is evidence, never silently skipped.
///
/// One exception, a **torn last line**: a final line without its newline that does not parse
/// is what a power cut in the middle of [`append_index`] leaves. It is skipped, with a warning,
/// and cut off by the next append. That record was never completed, so its segment was never
/// committed: an export never offered it (its time shows as a gap in the export's report, not
/// as footage), and failing on it instead would stop retention, the recorder and every export
/// of the camera for good after one power cut. Anything else that does not parse (a complete
/// line, or a line before the last) is still an error: exports stay fail-closed.
pub fn read_index(camera_dir: &Path) -> Result<Vec<SegmentRecord>> {
    let path = camera_dir.join(INDEX_FILE);
    let text = match File::open(&path).and_then(|mut file| read_sized(&mut file)) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(&path, e)),
    };
    let (whole, torn) = split_torn_tail(&text);
    if !torn.is_empty() {
        tracing::warn!(file = %path.display(), "skipping the torn last line of the index (a record a power cut interrupted)");
    }
    parse_index(&path, whole)
}

/// The records in `whole`, the whole lines of the index at `path` (see [`split_torn_tail`]).
fn parse_index(path: &Path, whole: &str) -> Result<Vec<SegmentRecord>> {
    whole
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(n, line)| {
            let bad = |why: String| Error::Pipeline(format!("{}: line {}: {why}", path.display(), n + 1));
            let record: SegmentRecord = serde_json::from_str(line).map_err(|e| bad(e.to_string()))?;
            if !is_plain_name(&record.file) {
                return Err(bad(format!("{:?} is not the name of a file in the camera directory", record.file)));
            }
            Ok(record)
        })
        .collect()
}

/// The text of an open index, as long as its size says (what is not a regular file, such as
/// `/dev/full` in the tests, reads as empty rather than without end).
fn read_sized(file: &mut File) -> std::io::Result<String> {
    let len = file.metadata()?.len();
    let mut text = String::new();
    file.take(len).read_to_string(&mut text)?;
    Ok(text)
}

/// Splits an index's text into its whole lines and a torn last line: one without its newline
/// that does not parse as a record (empty when there is none). A last line without its newline
/// that parses is whole: only the newline was lost.
fn split_torn_tail(text: &str) -> (&str, &str) {
    let keep = text.rfind('\n').map_or(0, |i| i + 1);
    let tail = &text[keep..];
    if tail.trim().is_empty() || serde_json::from_str::<SegmentRecord>(tail).is_ok() {
        (text, "")
    } else {
        (&text[..keep], tail)
    }
}

/// Whether `name` names a file directly inside a directory: not empty, `.` or `..`, without a
/// path separator or NUL. An index line naming anything else would lead export, holds and
/// retention out of the camera directory (found by hostile use: `"../../x.mp4"` and absolute
/// paths were exported, and held, outside the recordings).
fn is_plain_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0'])
}

/// Appends one record to the index and fsyncs it (and the directory). The caller holds the
/// [`lock`]. When any step fails (a full disk, `EMFILE` or `EIO` on the directory's fsync),
/// the index is cut back to its length before, so neither a partial line nor a record whose
/// commit failed stays behind.
///
/// The index never holds two records of one file: when it already has `record`'s file (a
/// retry after a failure that could not take its line back), the same record is left as it
/// is and a different one replaces it. Found by hostile use: a commit whose directory fsync
/// failed left its line, the segment went back to `.part`, and every retry of the recorder
/// appended the same record again (three records of one file, each exported).
pub fn append_index(camera_dir: &Path, record: &SegmentRecord, lock: &IndexLock) -> Result<()> {
    let path = camera_dir.join(INDEX_FILE);
    // One read of the index gives both its records (for a record of the same file) and its
    // text (for a torn last line and the length to cut back to).
    let (mut file, text) = open_index(&path)?;
    let (whole, torn) = split_torn_tail(&text);
    let known = parse_index(&path, whole)?;
    if let Some(same) = known.iter().find(|r| r.file == record.file) {
        if same == record {
            return Ok(());
        }
        tracing::warn!(file = %record.file, "the index already has a record of this segment: replacing it");
        let records: Vec<SegmentRecord> = known.into_iter().map(|r| if r.file == record.file { record.clone() } else { r }).collect();
        drop(file);
        return rewrite_index(camera_dir, &records, lock);
    }
    let mut line = serde_json::to_string(record).expect("a record serialises");
    line.push('\n');
    append_line(&mut file, &path, (whole, torn), &line, || sync_dir(camera_dir))
}

/// Opens the index at `path` for appending (made if missing) and reads its text.
fn open_index(path: &Path) -> Result<(File, String)> {
    let mut file = OpenOptions::new().create(true).read(true).append(true).open(path).map_err(|e| Error::io(path, e))?;
    let text = read_sized(&mut file).map_err(|e| Error::io(path, e))?;
    Ok((file, text))
}

/// Appends `line` to the index `file` at `path`, whose text is `whole` and a `torn` last line
/// ([`split_torn_tail`] of what [`open_index`] read), fsyncs it and runs `then` (the
/// directory's fsync); when any of it fails, the index is cut back to its length before. A torn
/// last line is cut off first; a last line that only lacks its newline gets it.
fn append_line(file: &mut File, path: &Path, (whole, torn): (&str, &str), line: &str, then: impl FnOnce() -> Result<()>) -> Result<()> {
    if !torn.is_empty() {
        tracing::warn!(file = %path.display(), "cutting off the torn last line of the index (a record a power cut interrupted)");
        file.set_len(whole.len() as u64).map_err(|e| Error::io(path, e))?;
    }
    let lacks_newline = !whole.is_empty() && !whole.ends_with('\n');
    let bytes = if lacks_newline { format!("\n{line}") } else { line.to_string() };
    crate::append::line(file, path, whole.len() as u64, bytes.as_bytes(), then)
}

/// Replaces the index with `records` (temp file, fsync, rename, fsync of the directory). The
/// caller holds the [`lock`].
pub fn rewrite_index(camera_dir: &Path, records: &[SegmentRecord], _lock: &IndexLock) -> Result<()> {
    let path = camera_dir.join(INDEX_FILE);
    let temp = camera_dir.join(format!(".{INDEX_FILE}.tmp"));
    let mut text = String::new();
    for record in records {
        text.push_str(&serde_json::to_string(record).expect("a record serialises"));
        text.push('\n');
    }
    replace_file(&path, &temp, text.as_bytes())?;
    sync_dir(camera_dir)
}

/// Replaces `target` with `bytes` through `temp` (written, fsynced, renamed). When any step
/// fails (a full disk), `target` stays as it was and `temp` is removed.
pub fn replace_file(target: &Path, temp: &Path, bytes: &[u8]) -> Result<()> {
    let written = File::create(temp)
        .and_then(|mut file| file.write_all(bytes).and_then(|()| file.sync_all()))
        .map_err(|e| Error::io(temp, e))
        .and_then(|()| fs::rename(temp, target).map_err(|e| Error::io(target, e)));
    if written.is_err() {
        let _ = fs::remove_file(temp);
    }
    written
}

/// Fsyncs a directory, so a rename or a new file in it survives a power cut.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| Error::io(dir, e))
}

/// SHA-256 (hex) and size of a file.
pub fn hash_file(path: &Path) -> Result<(String, u64)> {
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut bytes = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        bytes += n as u64;
    }
    let hex = hasher.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok((hex, bytes))
}

/// What the fragments of a fragmented MP4 hold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fragments {
    /// Complete `moof` + `mdat` pairs.
    pub count: u64,
    /// Samples (video frames) in those fragments, from their `trun` boxes.
    pub samples: u64,
    /// Sum of those samples' durations, in nanoseconds (0 when the timescale is unknown).
    pub duration_ns: u64,
    /// Byte offset just past the last complete `mdat` of a fragment (0 if none).
    pub complete_end: u64,
    /// The file ends inside a box: its writer was killed, or its disk filled, mid-write.
    pub cut_short: bool,
}

/// Defaults the `moov` gives every fragment.
#[derive(Clone, Copy, Debug, Default)]
struct TrackDefaults {
    /// Ticks per second of the (single, video) track, from `moov/trak/mdia/mdhd`.
    timescale: u64,
    /// `moov/mvex/trex` default sample duration, in ticks.
    sample_duration: u32,
}

/// One fragment's samples and their total duration in ticks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct FragmentSamples {
    samples: u64,
    ticks: u64,
}

/// Walks the top-level boxes of a fragmented MP4 and counts its complete fragments.
///
/// Layout read (ISO/IEC 14496-12): every box is `size: u32 BE, type: [u8; 4]`, with
/// `size == 1` meaning a `u64` size follows and `size == 0` "to the end of the file". The
/// `moov` holds the track's timescale (`trak/mdia/mdhd`: after version/flags, v0 has two u32
/// times then `timescale: u32`, v1 two u64 times then `timescale: u32`) and a default sample
/// duration (`mvex/trex`: version/flags, track_ID, description index, then `duration: u32`). A
/// fragment is a `moof` followed by its `mdat`; each `moof/traf` has a `tfhd` (version/flags,
/// track_ID, then the optional fields its flags name: 0x01 base offset u64, 0x02 description
/// index u32, 0x08 default duration u32, …) and `trun` boxes (version/flags, `sample_count:
/// u32`, 0x001 data offset u32, 0x004 first sample flags u32, then per sample the fields of
/// 0x100 duration, 0x200 size, 0x400 flags, 0x800 composition offset, u32 each). A box cut short
/// by a kill ends the walk; everything before it is intact.
pub fn scan_fragments(path: &Path) -> Result<Fragments> {
    let mut file = File::open(path).map_err(|e| Error::io(path, e))?;
    let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut found = Fragments::default();
    let mut defaults = TrackDefaults::default();
    let mut ticks = 0u64;
    let mut pos = 0u64;
    let mut pending: Option<FragmentSamples> = None;
    while let Some((kind, start, size)) = read_box_header(&mut file, pos, len).map_err(|e| Error::io(path, e))? {
        let end = pos + size;
        if end > len {
            break;
        }
        match &kind {
            b"moov" | b"moof" => {
                let mut body = vec![0u8; (end - start) as usize];
                file.seek(SeekFrom::Start(start)).and_then(|_| file.read_exact(&mut body)).map_err(|e| Error::io(path, e))?;
                if &kind == b"moov" {
                    defaults = track_defaults(&body);
                } else {
                    pending = Some(moof_samples(&body, &defaults));
                }
            }
            b"mdat" => {
                if let Some(fragment) = pending.take() {
                    found.count += 1;
                    found.samples += fragment.samples;
                    ticks += fragment.ticks;
                    found.complete_end = end;
                }
            }
            _ => {}
        }
        pos = end;
    }
    found.cut_short = pos < len;
    if defaults.timescale > 0 {
        found.duration_ns = (ticks as u128 * 1_000_000_000 / defaults.timescale as u128) as u64;
    }
    Ok(found)
}

/// Timescale and default sample duration from a `moov` body.
fn track_defaults(moov: &[u8]) -> TrackDefaults {
    let timescale = child(moov, b"trak")
        .and_then(|trak| child(trak, b"mdia"))
        .and_then(|mdia| child(mdia, b"mdhd"))
        .and_then(|mdhd| {
            let at = if mdhd.first() == Some(&1) { 4 + 16 } else { 4 + 8 };
            be32(mdhd, at)
        })
        .unwrap_or(0) as u64;
    let sample_duration = child(moov, b"mvex").and_then(|mvex| child(mvex, b"trex")).and_then(|trex| be32(trex, 12)).unwrap_or(0);
    TrackDefaults { timescale, sample_duration }
}

/// Samples and ticks of a `moof` body: the sum over its `traf/trun` boxes.
fn moof_samples(moof: &[u8], defaults: &TrackDefaults) -> FragmentSamples {
    let mut total = FragmentSamples::default();
    for (_, traf) in children(moof).filter(|(kind, _)| kind == b"traf") {
        let default_duration = child(traf, b"tfhd").and_then(tfhd_default_duration).unwrap_or(defaults.sample_duration);
        for (_, trun) in children(traf).filter(|(kind, _)| kind == b"trun") {
            let Some(flags) = be32(trun, 0).map(|v| v & 0x00ff_ffff) else { continue };
            let Some(count) = be32(trun, 4) else { continue };
            total.samples += count as u64;
            if flags & 0x100 == 0 {
                total.ticks += count as u64 * default_duration as u64;
                continue;
            }
            let mut at = 8 + 4 * ((flags & 0x001 != 0) as usize + (flags & 0x004 != 0) as usize);
            let per_sample = 4 * [0x100, 0x200, 0x400, 0x800].iter().filter(|&&f| flags & f != 0).count();
            for _ in 0..count {
                total.ticks += be32(trun, at).unwrap_or(0) as u64;
                at += per_sample;
            }
        }
    }
    total
}

/// The default sample duration a `tfhd` sets, if any.
fn tfhd_default_duration(tfhd: &[u8]) -> Option<u32> {
    let flags = be32(tfhd, 0)? & 0x00ff_ffff;
    if flags & 0x08 == 0 {
        return None;
    }
    let at = 8 + if flags & 0x01 != 0 { 8 } else { 0 } + if flags & 0x02 != 0 { 4 } else { 0 };
    be32(tfhd, at)
}

/// Finalises a closed segment: fsyncs `part`, hashes it, renames it to `final_path` and appends
/// its record to the index. The segment ends `start_ms` plus the duration of its samples, as
/// the file itself says. Returns the record, or `None` when the file holds no complete fragment
/// (it is removed: there is nothing to keep).
///
/// A file that ends inside a box (its disk filled mid-write, its writer was killed) is first
/// cut after its last complete fragment, so the index describes exactly what the file holds. If
/// the index cannot be written, the segment goes back to `part`, for [`recover`] to try again:
/// a final name is never left without its index line.
pub fn commit_segment(part: &Path, final_path: &Path, start_ms: i64, recovered: bool) -> Result<Option<SegmentRecord>> {
    commit_segment_ending(part, final_path, start_ms, recovered, |_| None)
}

/// [`commit_segment`], with the segment's end (UTC ms) given by `end_of` from what the file
/// holds (after any cut); `None` takes the file's own duration. The recorder gives the time of
/// the frame that follows the segment's last, which is where the next segment starts: the
/// MP4 only knows the last frame's nominal duration, and a live camera's next frame comes
/// earlier or later than that.
pub fn commit_segment_ending(
    part: &Path,
    final_path: &Path,
    start_ms: i64,
    recovered: bool,
    end_of: impl FnOnce(&Fragments) -> Option<i64>,
) -> Result<Option<SegmentRecord>> {
    let camera_dir = final_path.parent().expect("a segment lies in a camera directory");
    let fragments = scan_fragments(part)?;
    if fragments.count == 0 {
        tracing::warn!(file = %part.display(), "removing a segment without a complete fragment");
        fs::remove_file(part).map_err(|e| Error::io(part, e))?;
        return Ok(None);
    }
    if fragments.cut_short {
        tracing::warn!(file = %part.display(), frames = fragments.samples, "cutting a segment after its last complete fragment");
    }
    let file = OpenOptions::new().write(true).open(part).map_err(|e| Error::io(part, e))?;
    // A recovered segment is cut even when its writer stopped between two boxes: what follows
    // the last fragment (an `mfra` index) was never finished.
    if fragments.cut_short || recovered {
        file.set_len(fragments.complete_end).map_err(|e| Error::io(part, e))?;
    }
    file.sync_all().map_err(|e| Error::io(part, e))?;
    let end_ms = end_of(&fragments).unwrap_or(start_ms + (fragments.duration_ns / 1_000_000) as i64);
    let (sha256, bytes) = hash_file(part)?;
    let record = SegmentRecord {
        file: final_path.file_name().expect("a file name").to_string_lossy().into_owned(),
        start: format_rfc3339_ms(start_ms),
        end: format_rfc3339_ms(end_ms),
        frames: fragments.samples,
        bytes,
        sha256,
        recovered,
    };
    let guard = lock(camera_dir)?;
    fs::rename(part, final_path).map_err(|e| Error::io(final_path, e))?;
    if let Err(e) = append_index(camera_dir, &record, &guard) {
        let _ = fs::rename(final_path, part);
        return Err(e);
    }
    Ok(Some(record))
}

/// Recovers the segments a crash left as `.part` files in `camera_dir`: each is cut after its
/// last complete fragment, renamed to its final name and indexed (`recovered: true`); one
/// without a complete fragment holds no frame and is removed. Returns the recovered records.
///
/// Only call this when no recorder is writing into `camera_dir` (the recorder does, as it opens).
pub fn recover(camera_dir: &Path) -> Result<Vec<SegmentRecord>> {
    let mut recovered = Vec::new();
    let entries = match fs::read_dir(camera_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(recovered),
        Err(e) => return Err(Error::io(camera_dir, e)),
    };
    let mut parts: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_str().is_some_and(|s| s.ends_with(&format!(".{SEGMENT_EXT}{PART_SUFFIX}"))))
        .collect();
    parts.sort();
    for part in parts {
        // Found by hostile use: a `.part` that was a symbolic link had the file it points to, out
        // of the recordings, cut and indexed as a segment. Veilcam writes regular files only.
        let meta = fs::symlink_metadata(&part).map_err(|e| Error::io(&part, e))?;
        if !meta.file_type().is_file() {
            let why = format!("{}: no segment veilcam wrote; move it out of the recordings", crate::input::kind_of(&meta));
            return Err(Error::io(&part, std::io::Error::other(why)));
        }
        let final_path = PathBuf::from(part.to_str().expect("checked above").trim_end_matches(PART_SUFFIX));
        let name = final_path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        if final_path.exists() {
            tracing::warn!(file = %part.display(), "removing an interrupted segment whose name is taken");
            fs::remove_file(&part).map_err(|e| Error::io(&part, e))?;
            continue;
        }
        let start = match parse_segment_name(&name) {
            Some(named) => {
                // Its own record, if a failed commit left one, is no segment before it.
                let others: Vec<SegmentRecord> = read_index(camera_dir)?.into_iter().filter(|r| r.file != name).collect();
                recovered_start(named, &others)
            }
            None => now_ms(),
        };
        if let Some(record) = commit_segment(&part, &final_path, start, true)? {
            tracing::warn!(file = %final_path.display(), frames = record.frames, "recovered an interrupted segment");
            recovered.push(record);
        }
    }
    Ok(recovered)
}

/// The start of a recovered segment whose name says `named` (whole seconds, rounded down, so
/// it began within the second after). It began no earlier than the segment before it ended: the
/// recorder opens the next segment where it closes one. Found by hostile use: taken from its
/// name alone, a recovered segment overlapped the one before it by 0.84 s, and an export of
/// 2.0 s from the index held 2.72 s of footage, some from after the requested end.
fn recovered_start(named: i64, index: &[SegmentRecord]) -> i64 {
    let before = index.iter().filter(|r| r.start_ms().is_some_and(|s| s <= named)).filter_map(SegmentRecord::end_ms).max();
    before.map_or(named, |end| end.clamp(named, named + 999))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formats_round_trip() {
        // 2026-11-30T19:04:05.123Z
        let ms = 1_796_065_445_123;
        assert_eq!(format_rfc3339_ms(ms), "2026-11-30T19:04:05.123Z");
        assert_eq!(segment_stem(ms), "2026-11-30T19-04-05Z");
        assert_eq!(parse_rfc3339_ms("2026-11-30T19:04:05.123Z"), Some(ms));
        assert_eq!(parse_segment_name("2026-11-30T19-04-05Z.mp4"), Some(ms - 123));
        assert_eq!(parse_segment_name("2026-11-30T19-04-05Z-2.mp4"), Some(ms - 123));
        assert_eq!(format_rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(parse_rfc3339_ms("2024-02-29T23:59:59Z"), Some(1_709_251_199_000));
    }

    #[test]
    fn a_recovered_segment_starts_where_the_one_before_it_ended_within_its_named_second() {
        let at = |ms: i64| SegmentRecord { file: String::new(), start: format_rfc3339_ms(ms), end: String::new(), frames: 0, bytes: 0, sha256: String::new(), recovered: false };
        let span = |from: i64, to: i64| SegmentRecord { end: format_rfc3339_ms(to), ..at(from) };
        let named = 1_796_065_445_000;
        // The case found: the segment before ended 0.84 s into the recovered one's named second.
        assert_eq!(recovered_start(named, &[span(named - 1_746, named + 840)]), named + 840);
        // A gap before it: the name is all there is.
        assert_eq!(recovered_start(named, &[span(named - 5_000, named - 2_000)]), named);
        assert_eq!(recovered_start(named, &[]), named);
        // Never past the named second, nor from a segment that began after it.
        assert_eq!(recovered_start(named, &[span(named - 3_000, named + 1_500)]), named + 999);
        assert_eq!(recovered_start(named, &[span(named + 4_000, named + 6_000)]), named);
    }

    #[test]
    fn names_that_are_not_segments_do_not_parse() {
        assert_eq!(parse_segment_name("index.jsonl"), None);
        assert_eq!(parse_segment_name("2026-13-30T19-04-05Z.mp4"), None);
        assert_eq!(parse_segment_name("2026-11-30T19-04-05Z.mp4.part"), None);
    }

    fn mp4_box(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut b = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        b.extend_from_slice(kind);
        b.extend_from_slice(body);
        b
    }

    fn words(values: &[u32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_be_bytes()).collect()
    }

    /// `ftyp` + a `moov` with timescale 12800 and a default sample duration of 512 ticks.
    fn header() -> Vec<u8> {
        let mdhd = mp4_box(b"mdhd", &words(&[0, 0, 0, 12_800, 0, 0]));
        let trak = mp4_box(b"trak", &mp4_box(b"mdia", &mdhd));
        let mvex = mp4_box(b"mvex", &mp4_box(b"trex", &words(&[0, 1, 1, 512, 0, 0])));
        let mut file = mp4_box(b"ftyp", b"iso6");
        file.extend(mp4_box(b"moov", &[trak, mvex].concat()));
        file
    }

    fn scan(bytes: &[u8]) -> Fragments {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("segment.mp4");
        fs::write(&path, bytes).unwrap();
        scan_fragments(&path).unwrap()
    }

    #[test]
    fn an_index_line_naming_a_file_outside_the_camera_directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let line = |file: &str| format!("{{\"file\":{file:?},\"start\":\"2026-11-30T19:04:05.000Z\",\"end\":\"2026-11-30T19:04:09.000Z\",\"frames\":100,\"bytes\":1,\"sha256\":\"00\"}}\n");
        fs::write(dir.path().join(INDEX_FILE), line("2026-11-30T19-04-05Z.mp4")).unwrap();
        assert_eq!(read_index(dir.path()).unwrap().len(), 1);
        for file in ["../../outside/secret.mp4", "/etc/passwd", "..", "", "a\\b.mp4", "sub/x.mp4"] {
            fs::write(dir.path().join(INDEX_FILE), line("2026-11-30T19-04-05Z.mp4") + &line(file)).unwrap();
            let err = read_index(dir.path()).unwrap_err().to_string();
            assert!(err.contains("line 2") && err.contains("not the name of a file in the camera directory"), "{file}: {err}");
        }
    }

    /// A file of one complete fragment (1 s) and, when `cut`, a second one cut mid-`mdat`;
    /// returns it and the length of its intact part.
    fn fragments_file(cut: bool) -> (Vec<u8>, u64) {
        let trun = mp4_box(b"trun", &words(&[1, 25, 0]));
        let moof = mp4_box(b"moof", &mp4_box(b"traf", &trun));
        let mut file = header();
        file.extend(&moof);
        file.extend(mp4_box(b"mdat", &[7; 100]));
        let complete = file.len() as u64;
        if cut {
            file.extend(&moof);
            file.extend(&mp4_box(b"mdat", &[7; 100])[..50]);
        }
        (file, complete)
    }

    #[test]
    fn fragment_scan_stops_at_a_box_cut_short() {
        let (file, complete) = fragments_file(true);
        let found = scan(&file);
        // 25 samples of the default 512 ticks at 12800 per second: exactly 1 s.
        assert_eq!(found, Fragments { count: 1, samples: 25, duration_ns: 1_000_000_000, complete_end: complete, cut_short: true });
    }

    /// Found by hostile use: a segment whose disk filled mid-write got its final name whole,
    /// its index line counting a fragment that was not there.
    #[test]
    fn a_segment_cut_short_is_committed_cut_after_its_last_complete_fragment() {
        let dir = tempfile::tempdir().unwrap();
        let (bytes, complete) = fragments_file(true);
        let part = dir.path().join("2026-11-30T19-04-05Z.mp4.part");
        fs::write(&part, &bytes).unwrap();
        let final_path = dir.path().join("2026-11-30T19-04-05Z.mp4");
        let record = commit_segment(&part, &final_path, 1_000, false).unwrap().expect("a fragment to keep");
        assert_eq!(fs::metadata(&final_path).unwrap().len(), complete);
        assert_eq!((record.frames, record.bytes, record.end_ms()), (25, complete, Some(2_000)));
        assert_eq!(record.sha256, hash_file(&final_path).unwrap().0);
        assert_eq!(read_index(dir.path()).unwrap(), vec![record]);
        assert!(!part.exists());
    }

    #[test]
    fn a_segment_without_a_complete_fragment_is_removed_not_indexed() {
        let dir = tempfile::tempdir().unwrap();
        let part = dir.path().join("2026-11-30T19-04-05Z.mp4.part");
        fs::write(&part, header()).unwrap();
        let final_path = dir.path().join("2026-11-30T19-04-05Z.mp4");
        assert_eq!(commit_segment(&part, &final_path, 1_000, false).unwrap(), None);
        assert!(!part.exists() && !final_path.exists());
        assert!(read_index(dir.path()).unwrap().is_empty());
    }

    #[test]
    fn recovery_refuses_a_part_that_is_a_symbolic_link_and_leaves_what_it_points_to_alone() {
        let dir = tempfile::tempdir().unwrap();
        let (bytes, _) = fragments_file(true);
        let outside = dir.path().join("outside.mp4");
        fs::write(&outside, &bytes).unwrap();
        let camera = dir.path().join("cam1");
        fs::create_dir(&camera).unwrap();
        let part = camera.join("2026-11-30T19-04-05Z.mp4.part");
        std::os::unix::fs::symlink(&outside, &part).unwrap();
        let err = recover(&camera).expect_err("a symbolic link is no segment").to_string();
        assert!(err.contains("2026-11-30T19-04-05Z.mp4.part") && err.contains("is not a regular file (a symbolic link)"), "{err}");
        assert_eq!(fs::read(&outside).unwrap(), bytes, "the file it points to is untouched");
        assert!(part.symlink_metadata().is_ok() && read_index(&camera).unwrap().is_empty(), "nothing renamed or indexed");
    }

    /// Found by hostile use: on a full disk the index line failed after the rename, leaving a
    /// final name the index did not know. The segment goes back to `.part` for recovery.
    #[test]
    fn a_segment_whose_index_line_cannot_be_written_stays_part() {
        let dir = tempfile::tempdir().unwrap();
        let (bytes, _) = fragments_file(false);
        let part = dir.path().join("2026-11-30T19-04-05Z.mp4.part");
        fs::write(&part, &bytes).unwrap();
        // Every write to /dev/full fails with ENOSPC.
        std::os::unix::fs::symlink("/dev/full", dir.path().join(INDEX_FILE)).unwrap();
        let final_path = dir.path().join("2026-11-30T19-04-05Z.mp4");
        let err = commit_segment(&part, &final_path, 1_000, false).expect_err("the index cannot be written");
        assert!(err.to_string().contains(INDEX_FILE), "{err}");
        assert!(part.exists() && !final_path.exists(), "the segment is back under its .part name");
    }

    fn record(file: &str) -> SegmentRecord {
        SegmentRecord {
            file: file.into(),
            start: format_rfc3339_ms(1_000),
            end: format_rfc3339_ms(2_000),
            frames: 25,
            bytes: 1,
            sha256: "00".into(),
            recovered: false,
        }
    }

    /// Found by hostile use: the directory's fsync failed (`EMFILE`) after the index line was
    /// written; the line stayed, and each retry appended it again.
    #[test]
    fn an_index_line_whose_directory_sync_fails_is_taken_back() {
        let dir = tempfile::tempdir().unwrap();
        let guard = lock(dir.path()).unwrap();
        append_index(dir.path(), &record("a.mp4"), &guard).unwrap();
        let index = dir.path().join(INDEX_FILE);
        let before = fs::read_to_string(&index).unwrap();
        let line = serde_json::to_string(&record("b.mp4")).unwrap() + "\n";
        let failing_sync = || Err(Error::io(dir.path(), std::io::Error::from_raw_os_error(libc::EMFILE)));
        let (mut file, text) = open_index(&index).unwrap();
        let err = append_line(&mut file, &index, split_torn_tail(&text), &line, failing_sync).expect_err("the directory sync fails");
        assert!(err.to_string().contains("Too many open files"), "{err}");
        assert_eq!(fs::read_to_string(&index).unwrap(), before, "the line was taken back");
    }

    /// Found by hostile use: three identical records of one file after a commit that failed
    /// part-way and the recorder's retries. Recovery of a `.part` whose record the index
    /// already holds leaves one record of it.
    #[test]
    fn recovery_never_indexes_a_segment_twice() {
        let dir = tempfile::tempdir().unwrap();
        let (bytes, _) = fragments_file(false);
        let name = "2026-11-30T19-04-05Z.mp4";
        let part = dir.path().join(format!("{name}{PART_SUFFIX}"));
        fs::write(&part, &bytes).unwrap();
        let named = parse_segment_name(name).unwrap();
        // What the failed commit left: its line in the index, the segment back under `.part`.
        let committed = commit_segment(&part, &dir.path().join(name), named, false).unwrap().unwrap();
        fs::rename(dir.path().join(name), &part).unwrap();
        for _ in 0..3 {
            recover(dir.path()).unwrap();
            if dir.path().join(name).exists() {
                fs::rename(dir.path().join(name), &part).unwrap();
            }
        }
        let records = read_index(dir.path()).unwrap();
        assert_eq!(records.len(), 1, "{records:?}");
        assert_eq!((records[0].file.as_str(), records[0].start_ms(), &records[0].sha256), (name, Some(named), &committed.sha256));
        // The same record again is no change at all.
        let guard = lock(dir.path()).unwrap();
        let text = fs::read_to_string(dir.path().join(INDEX_FILE)).unwrap();
        append_index(dir.path(), &records[0], &guard).unwrap();
        assert_eq!(fs::read_to_string(dir.path().join(INDEX_FILE)).unwrap(), text);
    }

    #[test]
    fn a_torn_last_index_line_is_skipped_and_cut_off_by_the_next_append() {
        let dir = tempfile::tempdir().unwrap();
        let index = dir.path().join(INDEX_FILE);
        let whole = serde_json::to_string(&record("a.mp4")).unwrap() + "\n";
        let torn = &serde_json::to_string(&record("b.mp4")).unwrap()[..40];
        fs::write(&index, format!("{whole}{torn}")).unwrap();
        assert_eq!(read_index(dir.path()).unwrap(), vec![record("a.mp4")]);
        let guard = lock(dir.path()).unwrap();
        append_index(dir.path(), &record("c.mp4"), &guard).unwrap();
        assert_eq!(read_index(dir.path()).unwrap(), vec![record("a.mp4"), record("c.mp4")]);
        assert!(!fs::read_to_string(&index).unwrap().contains(torn));
        // A last line that lost only its newline is a record, and gets its newline back.
        fs::write(&index, whole.trim_end()).unwrap();
        append_index(dir.path(), &record("c.mp4"), &guard).unwrap();
        assert_eq!(read_index(dir.path()).unwrap(), vec![record("a.mp4"), record("c.mp4")]);
        // Anywhere but at the end, a line that does not parse is still an error.
        fs::write(&index, format!("{torn}\n{whole}")).unwrap();
        assert!(read_index(dir.path()).unwrap_err().to_string().contains("line 1"));
    }

    #[test]
    fn fragment_durations_come_from_trun_then_tfhd_then_trex() {
        // trun with a data offset, per-sample durations and sizes (flags 0x301): 512 + 1024 ticks.
        let trun_own = mp4_box(b"trun", &words(&[0x301, 2, 0, 512, 10, 1024, 10]));
        // tfhd with a default duration of 256 ticks (flags 0x08) and a trun without durations.
        let tfhd = mp4_box(b"tfhd", &words(&[0x08, 1, 256]));
        let trun_plain = mp4_box(b"trun", &words(&[0x001, 4, 0]));
        let mut file = header();
        file.extend(mp4_box(b"moof", &mp4_box(b"traf", &trun_own)));
        file.extend(mp4_box(b"mdat", &[0; 20]));
        file.extend(mp4_box(b"moof", &mp4_box(b"traf", &[tfhd, trun_plain].concat())));
        file.extend(mp4_box(b"mdat", &[0; 20]));
        let found = scan(&file);
        assert_eq!(found.samples, 6);
        assert_eq!(found.count, 2);
        // (512 + 1024 + 4 * 256) / 12800 s = 0.2 s.
        assert_eq!(found.duration_ns, 200_000_000);
    }
}
