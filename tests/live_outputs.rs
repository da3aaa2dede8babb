//! Live outputs: the recorder, retention and the redacted restream, on real media through real
//! GStreamer (x264, splitmuxsink, gst-rtsp-server, rtspsrc). Every wait has a deadline and
//! every server binds port 0, so the tests neither hang nor collide.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;
use gst::prelude::*;
use sha2::{Digest, Sha256};

use veilcam::frame::Frame;
use veilcam::live::retention::{self, DeleteReason, Retention, Sweeper};
use veilcam::live::segments::{self, SegmentRecord};
use veilcam::sink::recorder::{Recorder, RecorderSettings};
use veilcam::sink::restream::{Credentials, RestreamSettings, RtspServer};
use veilcam::sink::{Applied, FrameSink};
use veilcam::source::file::FileSource;
use veilcam::source::FrameSource;

use common::*;

fn nothing() -> Applied<'static> {
    Applied { detections: &[], glanced: &[], masks: &[], decision: &veilcam::policy::NO_DECISION, obscured_whole: None, decoded_at: std::time::Instant::now() }
}

/// Frames of a sample file, looped forever with a continuous timeline.
struct Looped {
    path: PathBuf,
    source: FileSource,
    offset: gst::ClockTime,
    last_end: gst::ClockTime,
    index: u64,
}

impl Looped {
    fn open(name: &str) -> Self {
        let path = sample(name);
        let source = FileSource::open(&path).expect("sample opens");
        Looped { path, source, offset: gst::ClockTime::ZERO, last_end: gst::ClockTime::ZERO, index: 0 }
    }

    fn next(&mut self) -> Frame {
        let mut frame = match self.source.next_frame().expect("sample decodes") {
            Some(frame) => frame,
            None => {
                self.source = FileSource::open(&self.path).expect("sample opens");
                self.offset = self.last_end;
                self.source.next_frame().expect("sample decodes").expect("sample has frames")
            }
        };
        let pts = frame.pts().expect("sample frames have timestamps") + self.offset;
        let buffer = frame.buffer.make_mut();
        buffer.set_pts(pts);
        self.last_end = pts + buffer.duration().unwrap_or(gst::ClockTime::from_mseconds(40));
        frame.index = self.index;
        self.index += 1;
        frame
    }
}

fn sha256_hex(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn names_with_suffix(dir: &Path, suffix: &str) -> Vec<String> {
    listing(dir).into_iter().filter(|n| n.ends_with(suffix)).collect()
}

/// Names in `dir`, sorted (none while it does not exist).
fn listing(dir: &Path) -> Vec<String> {
    if dir.exists() { dir_entries(dir) } else { Vec::new() }
}

/// Waits for `cond` up to `limit`, failing the test with `what` after that.
fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out after {limit:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every record's file exists with its size and hash, decodes, and has the frames it claims.
fn assert_segments_match_index(dir: &Path, records: &[SegmentRecord]) -> u64 {
    let mut total = 0;
    for record in records {
        let path = dir.join(&record.file);
        assert!(path.is_file(), "{}: indexed but missing", record.file);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), record.bytes, "{}: size", record.file);
        assert_eq!(sha256_hex(&path), record.sha256, "{}: SHA-256 in the index", record.file);
        let decoded = probe(&path);
        assert_eq!(decoded.frames.len() as u64, record.frames, "{}: frames decoded vs index", record.file);
        assert!(segments::parse_segment_name(&record.file).is_some(), "{}: named by UTC", record.file);
        assert!(record.start_ms().unwrap() <= record.end_ms().unwrap(), "{}: start after end", record.file);
        total += record.frames;
    }
    total
}

fn record_clip(root: &Path, camera: &str, segment_seconds: u64, frames: usize) -> Recorder {
    let mut settings = RecorderSettings::new(root, camera);
    settings.segment_seconds = segment_seconds;
    settings.preset = "ultrafast".into();
    let mut recorder = Recorder::create(settings).expect("recorder starts");
    let mut source = FileSource::open(&sample("faces.mp4")).unwrap();
    for _ in 0..frames {
        let frame = source.next_frame().unwrap().expect("faces.mp4 has enough frames");
        recorder.push(&frame, &nothing()).expect("frame recorded");
    }
    recorder
}

// ---------------------------------------------------------------------------------------------
// Recorder
// ---------------------------------------------------------------------------------------------

/// What the metrics' `veilcam_segments_total` and `veilcam_recording_bytes` are fed from (found
/// by hostile use: both stayed 0): the recorder tells of each segment it commits, with the bytes
/// of the camera's segments in the index.
#[test]
fn recorder_tells_of_each_segment_it_commits_and_the_bytes_on_disk() {
    let root = tempfile::tempdir().unwrap();
    let told: Arc<std::sync::Mutex<Vec<(String, u64)>>> = Arc::default();
    let mut settings = RecorderSettings::new(root.path(), "front_door");
    settings.segment_seconds = 1;
    settings.preset = "ultrafast".into();
    let log = Arc::clone(&told);
    let mut recorder = Recorder::create(settings)
        .unwrap()
        .on_segment(Box::new(move |record, on_disk| log.lock().unwrap().push((record.file.clone(), on_disk))));
    let mut source = FileSource::open(&sample("faces.mp4")).unwrap();
    while let Some(frame) = source.next_frame().unwrap() {
        recorder.push(&frame, &nothing()).expect("frame recorded");
    }
    Box::new(recorder).finish().expect("recorder finishes");
    let index = segments::read_index(&root.path().join("front_door")).unwrap();
    let told = told.lock().unwrap().clone();
    assert_eq!(told.iter().map(|t| t.0.clone()).collect::<Vec<_>>(), index.iter().map(|r| r.file.clone()).collect::<Vec<_>>());
    let mut sum = 0;
    for ((_, on_disk), record) in told.iter().zip(&index) {
        sum += record.bytes;
        assert_eq!(*on_disk, sum, "the bytes of the segments indexed so far");
    }
}

/// Found by hostile use: two `veilcam live` given the same recordings recorded one camera into
/// one directory, interleaving overlapping segments (and the second would cut the first's open
/// segment as a crash's leftover). A second recorder of a camera directory is refused.
#[test]
fn a_second_recorder_of_one_camera_directory_is_refused_while_the_first_records() {
    let root = tempfile::tempdir().unwrap();
    let first = record_clip(root.path(), "front_door", 1, 10);
    let second = Recorder::create(RecorderSettings::new(root.path(), "front_door"));
    let err = second.err().expect("a second recorder is refused").to_string();
    assert!(err.contains("another recorder is recording this camera"), "{err}");
    Box::new(first).finish().expect("recorder finishes");
    assert!(Recorder::create(RecorderSettings::new(root.path(), "front_door")).is_ok(), "free again once the first has finished");
}

#[test]
fn recorder_splits_into_utc_named_segments_that_decode_and_match_their_index() {
    let root = tempfile::tempdir().unwrap();
    let began = segments::now_ms();
    let recorder = record_clip(root.path(), "front_door", 1, 100);
    Box::new(recorder).finish().expect("recorder finishes");
    let ended = segments::now_ms();

    let dir = root.path().join("front_door");
    let records = segments::read_index(&dir).unwrap();
    assert!(records.len() >= 3, "1 s segments of a 4 s clip: {records:?}");
    assert_eq!(assert_segments_match_index(&dir, &records), 100, "every frame in exactly one segment");
    assert!(names_with_suffix(&dir, ".part").is_empty(), "finish leaves no open segment: {:?}", listing(&dir));
    assert_eq!(names_with_suffix(&dir, ".mp4").len(), records.len(), "every segment indexed");
    let starts: Vec<i64> = records.iter().map(|r| r.start_ms().unwrap()).collect();
    assert!(starts.windows(2).all(|w| w[0] < w[1]), "segments in time order: {starts:?}");
    // Named by the wall clock when recording began, not by the encoder's timestamps (x264enc
    // shifts its output PTS by 1000 hours, which once named segments 41 days ahead).
    assert!((began - 1000..=ended).contains(&starts[0]), "first segment starts at {}", records[0].start);
    let last_end = records.last().unwrap().end_ms().unwrap();
    assert!((3_500..=4_500).contains(&(last_end - starts[0])), "4 s of video span {} ms", last_end - starts[0]);
    for r in &records[..records.len() - 1] {
        assert!((20..=30).contains(&r.frames), "{}: a 1 s segment of 25 fps has {} frames", r.file, r.frames);
    }
    for (r, next) in records.iter().zip(records.iter().skip(1)) {
        assert_eq!(r.end, next.start, "segments follow each other without gap or overlap");
    }
    for r in &records {
        let span = r.end_ms().unwrap() - r.start_ms().unwrap();
        assert!((span - r.frames as i64 * 40).abs() <= 2, "{}: {} frames of 40 ms span {span} ms", r.file, r.frames);
    }
}

/// Found by review of a live recording's index: a segment ended where its last frame's nominal
/// 40 ms ended, while a live camera's next frame (the next segment's first) comes earlier or
/// later than that, so consecutive segments overlapped (or left a gap) by up to a frame. Each
/// segment ends exactly where the next one starts.
#[test]
fn segments_of_a_jittery_camera_end_exactly_where_the_next_begins() {
    let root = tempfile::tempdir().unwrap();
    let mut settings = RecorderSettings::new(root.path(), "cam");
    settings.segment_seconds = 1;
    settings.preset = "ultrafast".into();
    let mut recorder = Recorder::create(settings).unwrap();
    let mut source = FileSource::open(&sample("faces.mp4")).unwrap();
    // Every other frame comes 15 ms early, each stamped 40 ms long: a segment's last frame is
    // followed 25 or 55 ms later, whichever frame the split falls on.
    let pts_of = |k: u64| gst::ClockTime::from_mseconds(k * 40 - (k % 2) * 15);
    let mut pushed = 0;
    while let Some(mut frame) = source.next_frame().unwrap() {
        let buffer = frame.buffer.make_mut();
        buffer.set_pts(pts_of(frame.index));
        buffer.set_duration(gst::ClockTime::from_mseconds(40));
        recorder.push(&frame, &nothing()).unwrap();
        pushed += 1;
    }
    Box::new(recorder).finish().unwrap();
    let dir = root.path().join("cam");
    let records = segments::read_index(&dir).unwrap();
    assert!(records.len() >= 3, "1 s segments of a 4 s clip: {records:?}");
    assert_eq!(assert_segments_match_index(&dir, &records), pushed, "every frame in exactly one segment");
    for (r, next) in records.iter().zip(records.iter().skip(1)) {
        assert_eq!(r.end, next.start, "{} and {} meet without overlap or gap", r.file, next.file);
    }
    // The last segment ends with its last frame's end; the first frame is at 0 ms.
    let span = records.last().unwrap().end_ms().unwrap() - records[0].start_ms().unwrap();
    let last_end = (pts_of(pushed - 1) + gst::ClockTime::from_mseconds(40)).mseconds() as i64;
    assert!((span - last_end).abs() <= 1, "the recording spans {span} ms, its frames {last_end} ms");
}

#[test]
fn recorder_starts_a_new_segment_when_timestamps_jump_back_or_caps_change() {
    let root = tempfile::tempdir().unwrap();
    let mut settings = RecorderSettings::new(root.path(), "cam");
    settings.segment_seconds = 60;
    settings.preset = "ultrafast".into();
    let mut recorder = Recorder::create(settings).unwrap();
    // A camera that restarts: its clock starts again at zero, then it comes back at another size.
    for name in ["faces.mp4", "faces.mp4", "vtest.avi"] {
        let mut source = FileSource::open(&sample(name)).unwrap();
        for _ in 0..20 {
            let frame = source.next_frame().unwrap().unwrap();
            recorder.push(&frame, &nothing()).unwrap();
        }
    }
    Box::new(recorder).finish().unwrap();
    let dir = root.path().join("cam");
    let records = segments::read_index(&dir).unwrap();
    assert_eq!(records.len(), 3, "one segment per run: {records:?}");
    assert_eq!(assert_segments_match_index(&dir, &records), 60);
    let sizes: Vec<(u32, u32)> = records.iter().map(|r| {
        let p = probe(&dir.join(&r.file));
        (p.width, p.height)
    }).collect();
    assert_eq!(sizes, [(1280, 720), (1280, 720), (768, 576)]);
    for (a, b) in records.iter().zip(records.iter().skip(1)) {
        assert!(a.end_ms().unwrap() <= b.start_ms().unwrap(), "the UTC time line never goes back: {a:?} then {b:?}");
        assert_ne!(a.file, b.file);
    }
}

/// Not a test on its own: the child process that `recorder_killed_with_sigkill_...` runs and
/// kills. It records `faces.mp4`, looped, at twice real time until it is killed.
#[test]
#[ignore = "run by recorder_killed_with_sigkill_leaves_only_decodable_files_under_final_names"]
fn child_records_until_killed() {
    let Ok(root) = std::env::var("VEILCAM_TEST_RECORD_DIR") else { return };
    let mut settings = RecorderSettings::new(&root, "cam");
    settings.segment_seconds = 3;
    settings.preset = "ultrafast".into();
    let mut recorder = Recorder::create(settings).unwrap();
    let mut frames = Looped::open("faces.mp4");
    let deadline = Instant::now() + Duration::from_secs(60);
    let (count, count_tmp) = (Path::new(&root).join("pushed"), Path::new(&root).join("pushed.tmp"));
    let mut pushed = 0u64;
    while Instant::now() < deadline {
        recorder.push(&frames.next(), &nothing()).unwrap();
        pushed += 1;
        std::fs::write(&count_tmp, pushed.to_string()).unwrap();
        std::fs::rename(&count_tmp, &count).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("the parent never killed this recorder");
}

/// Not a test on its own: the child process of
/// `a_stop_whose_last_write_fills_the_disk_leaves_no_unfinished_segment`. It records until its
/// open segment holds a fragment, then limits its files to their size (a full disk) and stops
/// the recorder, writing how that ended to `finished`.
#[test]
#[ignore = "run by a_stop_whose_last_write_fills_the_disk_leaves_no_unfinished_segment"]
fn child_stops_on_a_full_disk() {
    let Ok(root) = std::env::var("VEILCAM_TEST_RECORD_DIR") else { return };
    let dir = Path::new(&root).join("cam");
    let mut settings = RecorderSettings::new(&root, "cam");
    settings.segment_seconds = 30;
    settings.preset = "ultrafast".into();
    let mut recorder = Recorder::create(settings).unwrap();
    let mut frames = Looped::open("faces.mp4");
    let open_fragments = || {
        let part = names_with_suffix(&dir, ".part").into_iter().next();
        part.and_then(|p| segments::scan_fragments(&dir.join(p)).ok()).map_or(0, |f| f.count)
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while open_fragments() < 2 {
        assert!(Instant::now() < deadline, "no fragment written: {:?}", listing(&dir));
        recorder.push(&frames.next(), &nothing()).unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    let part = dir.join(&names_with_suffix(&dir, ".part")[0]);
    let size = std::fs::metadata(&part).unwrap().len();
    // SAFETY: plain libc calls on this process; this test runs alone in it.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &libc::rlimit { rlim_cur: size, rlim_max: size }), 0);
    }
    let ended = FrameSink::finish(Box::new(recorder));
    std::fs::write(Path::new(&root).join("finished"), format!("{:?}", ended.map(|_| ()).map_err(|e| e.to_string()))).unwrap();
}

/// A recorder stopped (SIGTERM) whose last fragment does not fit on the disk fails, and what it
/// wrote is closed and indexed at once: no `.part` is left for the next start to recover
/// (suspected by a review of the live tests; it holds).
#[test]
fn a_stop_whose_last_write_fills_the_disk_leaves_no_unfinished_segment() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("cam");
    let status = Command::new(std::env::current_exe().unwrap())
        .args(["child_stops_on_a_full_disk", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
        .env("VEILCAM_TEST_RECORD_DIR", root.path())
        .status()
        .unwrap();
    assert!(status.success(), "the recording child failed: {status}");
    let finished = std::fs::read_to_string(root.path().join("finished")).unwrap();
    assert!(finished.starts_with("Err("), "a stop whose last write failed must fail: {finished}");
    assert!(names_with_suffix(&dir, ".part").is_empty(), "left unfinished: {:?} ({finished})", listing(&dir));
    let records = segments::read_index(&dir).unwrap();
    assert_eq!(records.len(), 1, "the cut segment is indexed: {records:?}");
    assert!(records[0].frames > 0, "{records:?} ({finished})");
    assert_segments_match_index(&dir, &records);
}

/// A child process killed (SIGKILL) when the test ends, even by a failed assertion.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn recorder_killed_with_sigkill_leaves_only_decodable_files_under_final_names() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("cam");
    let mut child = KillOnDrop(
        Command::new(std::env::current_exe().unwrap())
            .args(["child_records_until_killed", "--exact", "--ignored", "--nocapture", "--test-threads=1"])
            .env("VEILCAM_TEST_RECORD_DIR", root.path())
            .spawn()
            .unwrap(),
    );
    let child = &mut child.0;
    // Kill it mid-segment: one segment closed, the next with at least one fragment written.
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the recording child ended by itself: {status}");
        }
        assert!(Instant::now() < deadline, "no closed segment and open fragment in time: {:?}", listing(&dir));
        let closed = segments::read_index(&dir).map(|r| r.len()).unwrap_or(0);
        let open_fragments = names_with_suffix(&dir, ".part")
            .first()
            .map(|p| segments::scan_fragments(&dir.join(p)).map(|f| f.count).unwrap_or(0))
            .unwrap_or(0);
        if closed >= 1 && open_fragments >= 1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let records = segments::read_index(&dir).unwrap();
    let finals = names_with_suffix(&dir, ".mp4");
    assert_eq!(finals.len(), records.len(), "only indexed, closed segments under final names: {:?}", listing(&dir));
    assert_segments_match_index(&dir, &records);
    let parts = names_with_suffix(&dir, ".mp4.part");
    assert_eq!(parts.len(), 1, "the open segment stays under its temporary name: {:?}", listing(&dir));
    let written = segments::scan_fragments(&dir.join(&parts[0])).unwrap();

    // The next recorder of this camera recovers it: cut after its last whole fragment.
    let recorder = Recorder::create({
        let mut s = RecorderSettings::new(root.path(), "cam");
        s.preset = "ultrafast".into();
        s
    })
    .unwrap();
    let recovered = recorder.committed();
    assert_eq!(recovered.len(), 1, "{recovered:?}");
    assert!(recovered[0].recovered);
    assert!(recovered[0].frames >= written.samples && recovered[0].frames > 0, "{:?} vs {written:?}", recovered[0]);
    let span = recovered[0].end_ms().unwrap() - recovered[0].start_ms().unwrap();
    assert!((span - recovered[0].frames as i64 * 40).abs() <= 2, "{} frames span {span} ms", recovered[0].frames);
    let records = segments::read_index(&dir).unwrap();
    assert_eq!(records.len(), finals.len() + 1);
    let kept = assert_segments_match_index(&dir, &records);
    // What the kill cost: the fragment being written (0.5 s), the key-frame interval
    // splitmuxsink holds back (0.5 s) and the few frames queued before the encoder: about a
    // second (measured 26–28 frames of 25 fps); 45 frames is 1.8 s.
    let pushed: u64 = std::fs::read_to_string(root.path().join("pushed")).unwrap().parse().unwrap();
    eprintln!("kill -9: {pushed} frames pushed, {kept} kept");
    assert!(kept <= pushed && pushed - kept <= 45, "{pushed} frames pushed, {kept} kept after the kill");
    assert!(names_with_suffix(&dir, ".part").is_empty(), "{:?}", listing(&dir));
}

#[test]
fn recorder_refuses_a_camera_name_that_leaves_its_directory() {
    let root = tempfile::tempdir().unwrap();
    for camera in ["../escape", "", "a/b", ".."] {
        let err = Recorder::create(RecorderSettings::new(root.path(), camera)).err().expect("refused");
        assert!(err.to_string().contains("camera"), "{err}");
    }
}

// ---------------------------------------------------------------------------------------------
// Retention
// ---------------------------------------------------------------------------------------------

#[test]
fn retention_deletes_old_segments_but_not_held_ones_nor_the_one_being_written() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("porch");
    // 4 s of video in 1 s segments: some closed, the last still being written (splitmuxsink
    // holds back the last key-frame interval).
    let recorder = record_clip(root.path(), "porch", 1, 100);
    wait_for("two closed segments", Duration::from_secs(20), || recorder.committed().len() >= 2);
    let mut closed = 0;
    // Settled: no segment committed for a second (a commit's fsync on a loaded disk can take
    // half of one).
    wait_for("the recorder to settle", Duration::from_secs(20), || {
        std::thread::sleep(Duration::from_millis(1000));
        std::mem::replace(&mut closed, recorder.committed().len()) == recorder.committed().len()
    });
    let part = recorder.current_part().expect("a segment is open");
    assert!(part.exists());
    let records = segments::read_index(&dir).unwrap();
    assert!(records.len() >= 2, "{records:?}");
    let (old, newest) = records.split_at(records.len() - 1);
    let held = dir.join(&newest[0].file);
    std::fs::write(segments::hold_marker(&held), b"case 2026-17").unwrap();

    // Every closed segment is older than 1 s once the newest has ended 1 s ago.
    let old_enough = newest[0].end_ms().unwrap() + 1200;
    wait_for("the segments to age", Duration::from_secs(10), || segments::now_ms() > old_enough);
    let report = retention::sweep(root.path(), &Retention::new(Duration::from_secs(1), 0)).unwrap();

    let deleted: Vec<&str> = report.deleted.iter().map(|d| d.file.as_str()).collect();
    let expected: Vec<&str> = old.iter().map(|r| r.file.as_str()).collect();
    assert_eq!(deleted, expected, "{report:?}");
    assert!(report.deleted.iter().all(|d| d.reason == DeleteReason::Age));
    assert_eq!(report.held, vec![held.clone()]);
    assert!(old.iter().all(|r| !dir.join(&r.file).exists()), "old segments deleted");
    assert!(held.exists(), "held segment kept");
    assert!(part.exists(), "the segment being written is untouched");
    assert_eq!(segments::read_index(&dir).unwrap(), newest, "index updated");

    // The open segment closes normally afterwards and joins the index.
    Box::new(recorder).finish().unwrap();
    let after = segments::read_index(&dir).unwrap();
    assert_eq!(after[0], newest[0]);
    assert_eq!(after[1].file, part.file_name().unwrap().to_string_lossy().trim_end_matches(".part"));
    let deleted_frames: u64 = old.iter().map(|r| r.frames).sum();
    assert_eq!(assert_segments_match_index(&dir, &after), 100 - deleted_frames);
}

#[test]
fn retention_keeps_young_segments() {
    let root = tempfile::tempdir().unwrap();
    let recorder = record_clip(root.path(), "yard", 1, 50);
    Box::new(recorder).finish().unwrap();
    let before = segments::read_index(&root.path().join("yard")).unwrap();
    let report = retention::sweep(root.path(), &Retention::default()).unwrap();
    assert!(report.deleted.is_empty(), "{report:?}");
    assert_eq!(segments::read_index(&root.path().join("yard")).unwrap(), before);
}

#[test]
fn sweeper_under_the_free_space_floor_deletes_oldest_first_and_never_a_held_segment() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("gate");
    Box::new(record_clip(root.path(), "gate", 1, 100)).finish().unwrap();
    let records = segments::read_index(&dir).unwrap();
    assert!(records.len() >= 3);
    let held = dir.join(&records[0].file);
    std::fs::write(segments::hold_marker(&held), b"").unwrap();

    // A floor no disk meets: everything but the hold goes, oldest first.
    let retention = Retention::new(retention::DEFAULT_RETAIN, u64::MAX);
    let sweeper = Sweeper::start(root.path().to_path_buf(), retention, Duration::from_millis(100)).unwrap();
    wait_for("the sweep", Duration::from_secs(10), || segments::read_index(&dir).map(|r| r.len() == 1).unwrap_or(false));
    let report = sweeper.stop().unwrap();
    assert!(report.floor_unmet, "{report:?}");
    assert_eq!(segments::read_index(&dir).unwrap(), vec![records[0].clone()]);
    assert!(held.exists());
    let mut on_disk = names_with_suffix(&dir, ".mp4");
    on_disk.sort();
    assert_eq!(on_disk, vec![records[0].file.clone()]);
}

// ---------------------------------------------------------------------------------------------
// Restream
// ---------------------------------------------------------------------------------------------

/// Pushes `names` frames (switching to the next file when `switch` is set) at ~25 fps.
fn start_pusher(
    mut sink: Box<dyn FrameSink>,
    names: [&'static str; 2],
    switch: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut first = Looped::open(names[0]);
        let mut second = Looped::open(names[1]);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
            let frame = if switch.load(Ordering::SeqCst) { second.next() } else { first.next() };
            sink.push(&frame, &nothing()).unwrap();
            std::thread::sleep(Duration::from_millis(40));
        }
        sink.finish().unwrap();
    })
}

/// An RTSP client: `rtspsrc ! decodebin ! videoconvert ! appsink`.
struct Client {
    pipeline: gst::Pipeline,
    appsink: gst_app::AppSink,
}

impl Client {
    fn connect(url: &str, credentials: Option<(&str, &str)>) -> Self {
        init();
        let pipeline = gst::parse::launch(&format!(
            "rtspsrc name=src location={url} protocols=tcp latency=100 ! decodebin ! videoconvert \
             ! video/x-raw,format=I420 ! appsink name=sink sync=false max-buffers=4 drop=true"
        ))
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
        if let Some((user, password)) = credentials {
            let src = pipeline.by_name("src").unwrap();
            src.set_property("user-id", user);
            src.set_property("user-pw", password);
        }
        let appsink = pipeline.by_name("sink").unwrap().downcast::<gst_app::AppSink>().unwrap();
        pipeline.set_state(gst::State::Playing).unwrap();
        Client { pipeline, appsink }
    }

    /// Sizes of frames received until `enough` says stop, or `limit` passes; fails on a
    /// pipeline error.
    fn frames_until(&self, limit: Duration, mut enough: impl FnMut(&[(u32, u32)]) -> bool) -> Vec<(u32, u32)> {
        let deadline = Instant::now() + limit;
        let mut sizes = Vec::new();
        while !enough(&sizes) && Instant::now() < deadline {
            if let Some(err) = self.error() {
                panic!("client failed after {} frames: {err}", sizes.len());
            }
            if let Some(sample) = self.appsink.try_pull_sample(gst::ClockTime::from_mseconds(200)) {
                let info = gst_video::VideoInfo::from_caps(sample.caps().unwrap()).unwrap();
                sizes.push((info.width(), info.height()));
            }
        }
        sizes
    }

    /// Whether the stream ended (EOS or an error) within `limit`.
    fn ends_within(&self, limit: Duration) -> bool {
        let bus = self.pipeline.bus().unwrap();
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            let _ = self.appsink.try_pull_sample(gst::ClockTime::ZERO);
            if let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(50)) {
                if matches!(msg.view(), gst::MessageView::Eos(..) | gst::MessageView::Error(..)) {
                    return true;
                }
            }
        }
        false
    }

    fn error(&self) -> Option<String> {
        let bus = self.pipeline.bus().unwrap();
        while let Some(msg) = bus.pop() {
            if let gst::MessageView::Error(e) = msg.view() {
                return Some(format!("{} ({:?})", e.error(), e.debug()));
            }
        }
        None
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// At least `n` frames from `url`, connecting again when the server answers 503: gst-rtsp-server
/// 1.22 refuses a client that comes while the last one's shared media is still being torn down
/// (an RTSP client, an NVR or VLC, retries the same way).
fn frames_retrying_503(url: &str, n: usize) -> Vec<(u32, u32)> {
    for _ in 0..3 {
        let client = Client::connect(url, None);
        let got = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| client.frames_until(Duration::from_secs(20), |f| f.len() >= n)));
        match got {
            Ok(frames) => return frames,
            Err(e) => {
                let message = e.downcast_ref::<String>().cloned().unwrap_or_default();
                assert!(message.contains("(503)"), "{message}");
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
    panic!("{url}: 503 three times");
}

fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// Found by hostile use: a restream port in use failed with GStreamer's "Failed to attach main
/// context to RTSP server", not saying the address was in use.
#[test]
fn a_busy_restream_port_is_an_error_saying_it_is_in_use() {
    let taken = std::net::TcpListener::bind(any_port()).unwrap();
    let addr = taken.local_addr().unwrap();
    let m = RtspServer::start(addr, None, RestreamSettings::default()).expect_err("port in use").to_string();
    assert!(m.contains(&addr.to_string()) && m.contains("in use"), "{m}");
}

#[test]
fn restream_serves_pushed_frames_to_several_clients_at_once() {
    let server = RtspServer::start(any_port(), None, RestreamSettings::default()).unwrap();
    assert_ne!(server.port(), 0, "port 0 resolves to the bound port");
    let restream = server.mount("front_door").unwrap();
    let (switch, stop) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let pusher = start_pusher(Box::new(restream), ["faces.mp4", "faces.mp4"], switch, Arc::clone(&stop));

    let url = server.url("front_door");
    let (a, b) = (Client::connect(&url, None), Client::connect(&url, None));
    let got_a = a.frames_until(Duration::from_secs(20), |f| f.len() >= 10);
    let got_b = b.frames_until(Duration::from_secs(20), |f| f.len() >= 10);
    stop.store(true, Ordering::SeqCst);
    pusher.join().unwrap();
    for (who, got) in [("first", got_a), ("second", got_b)] {
        assert!(got.len() >= 10, "{who} client got {} frames", got.len());
        assert!(got.iter().all(|&s| s == (1280, 720)), "{who} client: {got:?}");
    }
}

#[test]
fn restream_follows_a_camera_that_comes_back_at_another_size() {
    let server = RtspServer::start(any_port(), None, RestreamSettings::default()).unwrap();
    let restream = server.mount("cam").unwrap();
    let (switch, stop) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let pusher = start_pusher(Box::new(restream), ["faces.mp4", "vtest.avi"], Arc::clone(&switch), Arc::clone(&stop));

    let client = Client::connect(&server.url("cam"), None);
    let before = client.frames_until(Duration::from_secs(20), |f| f.len() >= 5);
    switch.store(true, Ordering::SeqCst);
    let after = client.frames_until(Duration::from_secs(20), |f| f.iter().filter(|&&s| s == (768, 576)).count() >= 5);
    stop.store(true, Ordering::SeqCst);
    pusher.join().unwrap();
    assert!(before.len() >= 5 && before.iter().all(|&s| s == (1280, 720)), "{before:?}");
    assert!(after.iter().filter(|&&s| s == (768, 576)).count() >= 5, "new size never arrived: {after:?}");
}

#[test]
fn a_recorder_feeds_the_restream_from_its_one_encoder_across_a_size_change() {
    let root = tempfile::tempdir().unwrap();
    let server = RtspServer::start(any_port(), None, RestreamSettings::default()).unwrap();
    let settings = RecorderSettings { segment_seconds: 2, ..RecorderSettings::new(root.path(), "cam") };
    let recorder = Recorder::create(settings).unwrap().feeding(server.mount_encoded("cam").unwrap());
    let (switch, stop) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let pusher = start_pusher(Box::new(recorder), ["faces.mp4", "vtest.avi"], Arc::clone(&switch), Arc::clone(&stop));

    let first = Client::connect(&server.url("cam"), None);
    let before = first.frames_until(Duration::from_secs(20), |f| f.len() >= 5);
    // A client joining mid-stream waits for a key frame, then decodes from there on.
    let late = Client::connect(&server.url("cam"), None);
    let joined = late.frames_until(Duration::from_secs(20), |f| f.len() >= 5);
    switch.store(true, Ordering::SeqCst);
    let after = first.frames_until(Duration::from_secs(20), |f| f.iter().filter(|&&s| s == (768, 576)).count() >= 5);
    stop.store(true, Ordering::SeqCst);
    pusher.join().unwrap();
    assert!(before.len() >= 5 && before.iter().all(|&s| s == (1280, 720)), "{before:?}");
    assert!(joined.len() >= 5 && joined.iter().all(|&s| s == (1280, 720)), "late client: {joined:?}");
    assert!(after.iter().filter(|&&s| s == (768, 576)).count() >= 5, "new size never arrived: {after:?}");
    let records = segments::read_index(&root.path().join("cam")).unwrap();
    assert!(records.len() >= 2, "the size change closes a segment and opens another: {records:?}");
}

/// A client connecting to `url` with `wrong` credentials (none, or a wrong password; `who`
/// names it in failures) is refused as unauthorized without ever getting a frame; then one with
/// the right ones (viewer / s3cret-pw) is served. Returns the sizes that one received.
fn refused_then_served(url: &str, wrong: Option<(&str, &str)>, who: &str) -> Vec<(u32, u32)> {
    let stranger = Client::connect(url, wrong);
    let deadline = Instant::now() + Duration::from_secs(10);
    let refusal = loop {
        if let Some(err) = stranger.error() {
            break err;
        }
        assert!(stranger.appsink.try_pull_sample(gst::ClockTime::ZERO).is_none(), "{who} got a frame");
        assert!(Instant::now() < deadline, "{who} was neither refused nor served");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(refusal.to_lowercase().contains("unauthorized") || refusal.contains("401"), "{refusal}");
    drop(stranger);

    let viewer = Client::connect(url, Some(("viewer", "s3cret-pw")));
    viewer.frames_until(Duration::from_secs(20), |f| f.len() >= 5)
}

#[test]
fn restream_with_credentials_refuses_a_client_without_them() {
    let credentials = Credentials { user: "viewer".into(), password: "s3cret-pw".into(), digest: false };
    assert!(!format!("{credentials:?}").contains("s3cret-pw"), "Debug hides the password");
    let server = RtspServer::start(any_port(), Some(&credentials), RestreamSettings::default()).unwrap();
    assert!(!format!("{server:?}").contains("s3cret-pw"));
    let restream = server.mount("cam").unwrap();
    let (switch, stop) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let pusher = start_pusher(Box::new(restream), ["vtest.avi", "vtest.avi"], switch, Arc::clone(&stop));

    let got = refused_then_served(&server.url("cam"), None, "a client without credentials");
    stop.store(true, Ordering::SeqCst);
    pusher.join().unwrap();
    assert!(got.len() >= 5 && got.iter().all(|&s| s == (768, 576)), "{got:?}");
}

#[test]
fn restream_with_digest_auth_serves_the_right_user_and_refuses_a_wrong_password() {
    let credentials = Credentials { user: "viewer".into(), password: "s3cret-pw".into(), digest: true };
    let server = RtspServer::start(any_port(), Some(&credentials), RestreamSettings::default()).unwrap();
    let restream = server.mount("cam").unwrap();
    let (switch, stop) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let pusher = start_pusher(Box::new(restream), ["vtest.avi", "vtest.avi"], switch, Arc::clone(&stop));

    let got = refused_then_served(&server.url("cam"), Some(("viewer", "wrong")), "a wrong password");
    stop.store(true, Ordering::SeqCst);
    pusher.join().unwrap();
    assert!(got.len() >= 5 && got.iter().all(|&s| s == (768, 576)), "{got:?}");
}

#[test]
fn restream_without_clients_drops_frames_and_never_waits() {
    let server = RtspServer::start(any_port(), None, RestreamSettings::default()).unwrap();
    let mut restream = server.mount("idle").unwrap();
    let mut source = FileSource::open(&sample("faces.mp4")).unwrap();
    let started = Instant::now();
    for _ in 0..50 {
        let frame = source.next_frame().unwrap().unwrap();
        restream.push(&frame, &nothing()).unwrap();
    }
    assert!(!restream.has_clients());
    // Decoding 50 frames of 720p takes well under this; a sink that waited for a client would not.
    assert!(started.elapsed() < Duration::from_secs(10), "{:?}", started.elapsed());
    Box::new(restream).finish().unwrap();
}

#[test]
fn restream_serves_a_client_that_comes_after_another_left() {
    let server = RtspServer::start(any_port(), None, RestreamSettings::default()).unwrap();
    let restream = server.mount("cam").unwrap();
    let (switch, stop) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let pusher = start_pusher(Box::new(restream), ["vtest.avi", "vtest.avi"], switch, Arc::clone(&stop));
    for round in 0..3 {
        let got = frames_retrying_503(&server.url("cam"), 5);
        assert!(got.len() >= 5, "client {round} got {} frames", got.len());
    }
    stop.store(true, Ordering::SeqCst);
    pusher.join().unwrap();
}

#[test]
fn restream_gives_each_camera_its_own_mount() {
    let server = RtspServer::start(any_port(), None, RestreamSettings::default()).unwrap();
    let (switch, stop) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let door = start_pusher(Box::new(server.mount("door").unwrap()), ["faces.mp4", "faces.mp4"], Arc::clone(&switch), Arc::clone(&stop));
    let street = start_pusher(Box::new(server.mount("street").unwrap()), ["vtest.avi", "vtest.avi"], switch, Arc::clone(&stop));
    let (a, b) = (Client::connect(&server.url("door"), None), Client::connect(&server.url("street"), None));
    let got_door = a.frames_until(Duration::from_secs(20), |f| f.len() >= 5);
    let got_street = b.frames_until(Duration::from_secs(20), |f| f.len() >= 5);
    let unknown = Client::connect(&server.url("garage"), None);
    let deadline = Instant::now() + Duration::from_secs(10);
    let refusal = loop {
        if let Some(err) = unknown.error() {
            break err;
        }
        assert!(Instant::now() < deadline, "a mount that does not exist was neither refused nor served");
        std::thread::sleep(Duration::from_millis(50));
    };
    stop.store(true, Ordering::SeqCst);
    door.join().unwrap();
    street.join().unwrap();
    assert!(got_door.len() >= 5 && got_door.iter().all(|&s| s == (1280, 720)), "{got_door:?}");
    assert!(got_street.len() >= 5 && got_street.iter().all(|&s| s == (768, 576)), "{got_street:?}");
    assert!(refusal.contains("Not Found") || refusal.contains("404"), "{refusal}");
}

#[test]
fn restream_on_an_address_in_use_fails_naming_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let err = RtspServer::start(addr, None, RestreamSettings::default()).expect_err("the port is taken");
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}

/// Failures and recoveries a recorder told of: `Some(error)` for a failure, `None` for a
/// recovery.
type Told = Arc<std::sync::Mutex<Vec<Option<String>>>>;

fn telling(recorder: Recorder) -> (Recorder, Told) {
    let told: Told = Arc::default();
    let sink = Arc::clone(&told);
    let recorder = recorder.on_failure(Box::new(move |e| sink.lock().unwrap().push(e.map(|e| e.to_string()))));
    (recorder, told)
}

#[test]
fn a_recorder_whose_directory_vanishes_stops_recording_and_finish_reports_it() {
    let root = tempfile::tempdir().unwrap();
    let mut settings = RecorderSettings::new(root.path(), "cam");
    settings.segment_seconds = 1;
    settings.preset = "ultrafast".into();
    let (mut recorder, told) = telling(Recorder::create(settings).unwrap());
    let mut frames = Looped::open("vtest.avi");
    for _ in 0..5 {
        recorder.push(&frames.next(), &nothing()).unwrap();
    }
    vanish(&root.path().join("cam"));
    // The open segment cannot be committed, nor the next one opened: recording soon stops, and
    // the pushes go on (a live camera's restream must not stop with its recording).
    let deadline = Instant::now() + Duration::from_secs(20);
    while !recorder.is_suspended() {
        assert!(Instant::now() < deadline, "the recorder never noticed its directory was gone");
        recorder.push(&frames.next(), &nothing()).expect("a push never fails for the recording");
    }
    let failure = told.lock().unwrap()[0].clone().expect("a failure is told");
    assert!(failure.contains(&root.path().join("cam").display().to_string()), "{failure}");
    // Stopped while recording is suspended, finish neither hangs nor pretends success.
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || done.send(Box::new(recorder).finish().map_err(|e| e.to_string())));
    let result = finished.recv_timeout(Duration::from_secs(30)).expect("finish after a failure returns");
    let err = result.expect_err("finish reports the failure");
    assert!(err.contains(&root.path().join("cam").display().to_string()), "{err}");
}

/// Found by hostile use: a full recording disk ended the camera, restream and all. Now the
/// restream goes on while recording is suspended, and recording resumes once it can (here: the
/// removed camera directory is made again), every segment matching its index line.
#[test]
fn a_recorder_that_fails_keeps_the_restream_going_and_records_again_once_it_can() {
    let root = tempfile::tempdir().unwrap();
    let camera_dir = root.path().join("cam");
    let server = RtspServer::start(any_port(), None, RestreamSettings::default()).unwrap();
    let settings = RecorderSettings { segment_seconds: 1, preset: "ultrafast".into(), ..RecorderSettings::new(root.path(), "cam") };
    let (recorder, told) = telling(Recorder::create(settings).unwrap().feeding(server.mount_encoded("cam").unwrap()));
    let stop = Arc::new(AtomicBool::new(false));
    let pushing = Arc::clone(&stop);
    let pusher = std::thread::spawn(move || {
        let mut sink: Box<dyn FrameSink> = Box::new(recorder);
        let mut frames = Looped::open("faces.mp4");
        let deadline = Instant::now() + Duration::from_secs(120);
        while !pushing.load(Ordering::SeqCst) && Instant::now() < deadline {
            sink.push(&frames.next(), &nothing()).unwrap();
            std::thread::sleep(Duration::from_millis(40));
        }
        sink.finish().map(|_| ()).map_err(|e| e.to_string())
    });
    let client = Client::connect(&server.url("cam"), None);
    assert!(client.frames_until(Duration::from_secs(20), |f| f.len() >= 5).len() >= 5, "the restream serves");
    wait_for("a first segment", Duration::from_secs(20), || segments::read_index(&camera_dir).is_ok_and(|r| !r.is_empty()));

    vanish(&camera_dir);
    wait_for("the failure to be told", Duration::from_secs(20), || !told.lock().unwrap().is_empty());
    let served = client.frames_until(Duration::from_secs(20), |f| f.len() >= 25);
    assert_eq!(told.lock().unwrap().len(), 1, "still suspended while the frames were served: {:?}", told.lock().unwrap());
    assert!(served.len() >= 25, "the restream went on while recording was suspended: {} frames", served.len());

    wait_for("recording to resume", Duration::from_secs(30), || told.lock().unwrap().len() >= 2);
    assert_eq!(told.lock().unwrap()[1], None, "{:?}", told.lock().unwrap());
    wait_for("a segment after the resume", Duration::from_secs(20), || segments::read_index(&camera_dir).is_ok_and(|r| !r.is_empty()));
    stop.store(true, Ordering::SeqCst);
    pusher.join().unwrap().expect("recording again at the end: finish succeeds");
    let records = segments::read_index(&camera_dir).unwrap();
    assert!(assert_segments_match_index(&camera_dir, &records) > 0);
    assert!(names_with_suffix(&camera_dir, ".part").is_empty(), "{:?}", listing(&camera_dir));
}

#[test]
fn restream_server_dropped_disconnects_its_clients() {
    let server = RtspServer::start(any_port(), None, RestreamSettings::default()).unwrap();
    let restream = server.mount("cam").unwrap();
    let (switch, stop) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let pusher = start_pusher(Box::new(restream), ["vtest.avi", "vtest.avi"], switch, Arc::clone(&stop));
    let client = Client::connect(&server.url("cam"), None);
    assert!(client.frames_until(Duration::from_secs(20), |f| f.len() >= 3).len() >= 3);
    drop(server);
    assert!(client.ends_within(Duration::from_secs(10)), "the client still streams after the server went away");
    // The sink goes on taking frames (and dropping them) without error.
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::SeqCst);
    pusher.join().unwrap();
}

#[test]
fn retention_applies_each_cameras_own_age_limit() {
    let root = tempfile::tempdir().unwrap();
    Box::new(record_clip(root.path(), "short", 1, 50)).finish().unwrap();
    Box::new(record_clip(root.path(), "long", 1, 50)).finish().unwrap();
    let short = segments::read_index(&root.path().join("short")).unwrap();
    let long = segments::read_index(&root.path().join("long")).unwrap();
    let newest_end = short.iter().chain(&long).filter_map(SegmentRecord::end_ms).max().unwrap();
    wait_for("the segments to age", Duration::from_secs(10), || segments::now_ms() > newest_end + 1200);

    let mut retention = Retention::new(Duration::from_secs(1), 0);
    retention.per_camera.insert("long".into(), Duration::from_secs(3600));
    let report = retention::sweep(root.path(), &retention).unwrap();
    assert_eq!(report.deleted.len(), short.len(), "{report:?}");
    assert!(report.deleted.iter().all(|d| d.camera == "short"), "{report:?}");
    assert!(segments::read_index(&root.path().join("short")).unwrap().is_empty());
    assert_eq!(segments::read_index(&root.path().join("long")).unwrap(), long);
}

/// Found by hostile use: `veilcam live` with its metrics port taken hung in about half of the
/// runs, because the restream server dropped right after its start asked its main loop to quit
/// before the loop ran. Each of these servers must stop when dropped at once.
#[test]
fn a_restream_server_dropped_right_after_its_start_stops() {
    let (done, stopped) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for _ in 0..20 {
            drop(RtspServer::start(any_port(), None, RestreamSettings::default()).unwrap());
        }
        let _ = done.send(());
    });
    assert!(stopped.recv_timeout(std::time::Duration::from_secs(60)).is_ok(), "a server dropped at once never stopped");
}
