//! `veilcam export` end to end: real recordings made by the live recorder from
//! `sample_media/faces.mp4` (1 s segments with their index), the real CLI binary, real
//! detection, a real signed zip read back with the library's verifier. Every test gets its own
//! `VEILCAM_HOME` (signing key, audit log, register of exported cases), never the real one.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

use veilcam::export::hold;
use veilcam::export::keys;
use veilcam::export::verify;
use veilcam::live::segments::{self, SegmentRecord};
use veilcam::sink::recorder::{Recorder, RecorderSettings};
use veilcam::sink::{Applied, FrameSink};
use veilcam::source::file::FileSource;
use veilcam::source::FrameSource;

use common::*;

const CAMERA: &str = "front_door";

/// One recording of faces.mp4 (100 frames, 25 fps) in 1 s segments, made once and copied for
/// each test.
fn template() -> &'static Path {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    TEMPLATE.get_or_init(|| record_template("export-recordings-", |_| None))
}

/// The gaps (ms) between the frames of a recording of `veilcam testcam` by `veilcam live`:
/// frames arrive at jittery times (two 1 ms apart, pauses of 110 ms), each stamped 40 ms long.
const CAMERA_GAPS_MS: [u64; 50] = [
    40, 40, 73, 41, 36, 46, 14, 45, 29, 57, 38, 1, 20, 69, 91, 40, 40, 40, 34, 41, 36, 46, 16, 44, 29, 56, 39, 1, 21, 69, 88, 40, 40,
    40, 33, 41, 36, 46, 30, 34, 15, 47, 24, 63, 29, 1, 19, 71, 110, 40,
];

/// The same footage recorded as a live camera sends it, at [`CAMERA_GAPS_MS`].
fn jittery_template() -> &'static Path {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let at: Vec<u64> = std::iter::once(0).chain(CAMERA_GAPS_MS.iter().cycle().scan(0, |t, g| { *t += g * 1_000_000; Some(*t) })).take(100).collect();
        record_template("export-jittery-", move |i| at.get(i).copied())
    })
}

/// The same footage from a camera whose frames come every 60 ms, each stamped 40 ms long: every
/// segment's MP4 ends its last frame 20 ms before the next segment starts.
fn late_frames_template() -> &'static Path {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    TEMPLATE.get_or_init(|| record_template("export-late-", |i| Some(i as u64 * 60_000_000)))
}

/// Where [`long_frame_template`]'s long frame starts and how long it is shown (ms into the recording).
const LONG_FRAME_AT_MS: u64 = 360;
const LONG_FRAME_MS: u64 = 450;

/// The same footage from a camera that sends a frame every 40 ms but stalls once: its frame at
/// 360 ms stays on screen 450 ms, until the next one at 810 ms (as a live camera's frame before a
/// jitter hiccup or a dropout), inside the first segment.
fn long_frame_template() -> &'static Path {
    static TEMPLATE: OnceLock<PathBuf> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let step = LONG_FRAME_AT_MS / 40;
        record_template("export-long-", move |i| {
            let stall = if i as u64 > step { LONG_FRAME_MS - 40 } else { 0 };
            Some((i as u64 * 40 + stall) * 1_000_000)
        })
    })
}

/// Records sample_media/faces.mp4 into 1 s segments under a fresh directory of the target's
/// temp dir (`PREFIX<pid>`), each frame at the time `pts_of(index)` gives (else its own).
fn record_template(prefix: &str, pts_of: impl Fn(usize) -> Option<u64>) -> PathBuf {
    {
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        // Recordings of earlier test processes that have ended are not needed any more.
        for entry in std::fs::read_dir(tmp).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix(prefix) {
                if !Path::new("/proc").join(pid).exists() {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
        let root = tmp.join(format!("{prefix}{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let mut settings = RecorderSettings::new(&root, CAMERA);
        settings.segment_seconds = 1;
        settings.preset = "ultrafast".into();
        let mut recorder = Recorder::create(settings).expect("recorder starts");
        let mut source = FileSource::open(&sample("faces.mp4")).unwrap();
        let nothing = Applied {
            detections: &[],
            glanced: &[],
            masks: &[],
            decision: &veilcam::policy::NO_DECISION,
            obscured_whole: None,
            decoded_at: Instant::now(),
        };
        while let Some(mut frame) = source.next_frame().unwrap() {
            if let Some(pts) = pts_of(frame.index as usize) {
                frame.buffer.make_mut().set_pts(gstreamer::ClockTime::from_nseconds(pts));
            }
            recorder.push(&frame, &nothing).expect("frame recorded");
        }
        Box::new(recorder).finish().expect("recorder finishes");
        root
    }
}

/// A test's world: recordings, a data directory with a signing key, a place for bundles.
struct World {
    _dir: tempfile::TempDir,
    recordings: PathBuf,
    home: PathBuf,
    out: PathBuf,
}

impl World {
    fn new() -> World {
        World::of(template())
    }

    /// A world whose recordings are a copy of `recorded`.
    fn of(recorded: &Path) -> World {
        let dir = tempfile::tempdir().unwrap();
        let recordings = dir.path().join("recordings");
        copy_dir(recorded, &recordings);
        let home = dir.path().join("home");
        keys::init(&home.join("keys")).expect("signing key created");
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        World { recordings, home, out, _dir: dir }
    }

    fn camera_dir(&self) -> PathBuf {
        self.recordings.join(CAMERA)
    }

    fn records(&self) -> Vec<SegmentRecord> {
        segments::read_index(&self.camera_dir()).unwrap()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_veilcam"));
        cmd.env("VEILCAM_HOME", &self.home).env_remove("XDG_DATA_HOME").arg("-q").args(args);
        cmd
    }

    fn veilcam(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("veilcam runs")
    }

    /// `veilcam export` of the recordings for `from`..`to` (UTC ms) into `out/NAME`.
    fn export(&self, case: &str, from: i64, to: i64, bundle: &str, extra: &[&str]) -> Output {
        self.export_command(case, from, to, bundle, extra).output().expect("veilcam runs")
    }

    /// The command of [`World::export`], not yet run.
    fn export_command(&self, case: &str, from: i64, to: i64, bundle: &str, extra: &[&str]) -> Command {
        let (from, to) = (segments::format_rfc3339_ms(from), segments::format_rfc3339_ms(to));
        let bundle = self.out.join(bundle);
        let recordings = self.recordings.display().to_string();
        let mut args = vec!["export", "--case", case, "--basis", "court order 4 O 12/26", "--requester", "Police"];
        args.extend(["--camera", CAMERA, "--from", &from, "--to", &to, "--recordings", &recordings]);
        let bundle = bundle.display().to_string();
        args.extend(["-o", &bundle]);
        args.extend(extra);
        self.command(&args)
    }

    /// Every file under the output directory (bundles, and anything left behind).
    fn out_listing(&self) -> Vec<String> {
        dir_entries(&self.out)
    }

    fn holds(&self) -> Vec<hold::Held> {
        hold::list(&self.recordings).unwrap()
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}


fn failed(out: &Output) -> String {
    assert!(!out.status.success(), "veilcam succeeded but should have failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stderr).into_owned()
}


fn manifest(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap()
}

/// The frames of the recording shown at some instant of `from`..`to` (UTC ms), counted from
/// the decoded segments themselves: the independent expectation for the export's trimming.
fn frames_shown(world: &World, from: i64, to: i64) -> u64 {
    shown(world, from, to).len() as u64
}

/// When each frame of the recording shown at some instant of `from`..`to` is shown (UTC ms, start
/// and end), from the decoded segments: a frame from its timestamp until the next frame's, a
/// segment's last frame until the segment's end in the index (docs/export.md, Trimming).
fn shown(world: &World, from: i64, to: i64) -> Vec<(f64, f64)> {
    let mut kept = Vec::new();
    for record in world.records() {
        let (start_ms, end_ms) = (record.start_ms().unwrap() as f64, record.end_ms().unwrap() as f64);
        let probe = probe(&world.camera_dir().join(&record.file));
        let mut pts: Vec<u64> = probe.frames.iter().map(|f| f.pts.unwrap()).collect();
        pts.sort_unstable();
        let at = |p: u64| start_ms + (p - pts[0]) as f64 / 1e6;
        for (i, &p) in pts.iter().enumerate() {
            let start = at(p);
            let end = pts.get(i + 1).map_or(end_ms, |&next| at(next));
            if start < to as f64 && end > from as f64 {
                kept.push((start, end));
            }
        }
    }
    kept
}

/// The working copy in `bundle` times its frames exactly as the recording showed them: one
/// frame for each of `expected` (UTC ms, start and end), each at its start's offset from the first
/// one's (the recording runs on without a gap here) and the copy lasting until the last one's end.
fn assert_timed_as_shown(world: &World, bundle: &str, expected: &[(f64, f64)]) {
    let x = tempfile::tempdir().unwrap();
    let names = unzip(&world.out.join(bundle), x.path());
    let video = names.iter().find(|n| n.ends_with(".mp4")).expect("a video in the bundle");
    let report = std::fs::read_to_string(x.path().join("report.txt")).unwrap();
    let produced = probe(&x.path().join(video));
    let out: Vec<f64> = produced.frames.iter().map(|f| f.pts.unwrap() as f64 / 1e6).collect();
    assert_eq!(out.len(), expected.len(), "frames: copy {out:?}, recording {expected:?}\n{report}");
    let first = expected[0].0;
    for (i, (o_start, (s_start, _))) in out.iter().zip(expected).enumerate() {
        assert!((o_start - (s_start - first)).abs() <= 2.0, "frame {i} at {o_start} ms in the copy, shown at {} ms in the recording\n{report}", s_start - first);
    }
    // Decoders stamp every frame 1/fps long; the MP4's own duration is where its last frame ends.
    let end = produced.duration.expect("the copy has a duration") as f64 / 1e6;
    let last = expected.last().unwrap().1 - first;
    assert!((end - last).abs() <= 2.0, "the copy ends at {end} ms, the recording's last kept frame at {last} ms\n{report}");
    let m = manifest(x.path());
    assert_eq!(m["produced"]["frames"], expected.len() as u64);
    let seconds = m["produced"]["duration_seconds"].as_f64().unwrap();
    let length = (expected.last().unwrap().1 - first) / 1e3;
    assert!((seconds - length).abs() <= 0.002, "manifest says {seconds} s, the frames were shown {length} s\n{report}");
    let verified = verify::verify(&world.out.join(bundle), Some(&world.home.join("keys").join(keys::PUBLIC_FILE)));
    assert!(verified.ok(), "{verified}");
}

#[test]
fn export_of_recordings_is_trimmed_to_the_frame_sealed_verified_and_held() {
    let world = World::new();
    let records = world.records();
    assert!(records.len() >= 4, "4 s in 1 s segments: {records:?}");
    // Both ends fall inside a frame (frames are 40 ms): the frame shown at each end is kept.
    let from = records[0].start_ms().unwrap() + 210;
    let to = records[2].start_ms().unwrap() + 530;
    let out = world.export("2026-117", from, to, "case.zip", &[]);
    assert_ok(&out);
    assert_eq!(world.out_listing(), ["case.zip"], "the bundle and nothing else");

    let x = tempfile::tempdir().unwrap();
    let mut names = unzip(&world.out.join("case.zip"), x.path());
    names.sort();
    let stem = format!(
        "2026-117_{CAMERA}_{}_{}",
        segments::format_rfc3339_ms(from).replace(['-', ':'], ""),
        segments::format_rfc3339_ms(to).replace(['-', ':'], "")
    );
    let video = format!("{stem}.mp4");
    let sidecar = format!("{stem}.sidecar.json");
    assert_eq!(names, [video.clone(), sidecar.clone(), "manifest.json".into(), "manifest.json.minisig".into(), "report.txt".into()]);

    let expected = frames_shown(&world, from, to);
    let produced = probe(&x.path().join(&video));
    assert_eq!(produced.frames.len() as u64, expected, "exactly the frames shown in the range");
    // One continuous timeline from 0, frame after frame.
    let mut next = 0;
    for f in &produced.frames {
        let pts = f.pts.unwrap();
        assert!(pts.abs_diff(next) <= 1_000_000, "frame at {pts} ns, expected {next} ns");
        next = pts + f.duration.unwrap();
    }
    let m = manifest(x.path());
    assert_eq!(m["case"], "2026-117");
    assert_eq!(m["basis"], "court order 4 O 12/26");
    assert_eq!(m["produced"]["frames"], expected);
    assert_eq!(m["gaps"], serde_json::json!([]));
    let sources: Vec<&str> = m["sources"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    let used: Vec<&str> = records[..3].iter().map(|r| r.file.as_str()).collect();
    assert_eq!(sources, used);
    for (s, r) in m["sources"].as_array().unwrap().iter().zip(&records) {
        assert_eq!(s["sha256"], r.sha256.as_str());
    }
    assert_eq!(m["models"][0]["sha256"].as_str().unwrap().len(), 64);
    let report = std::fs::read_to_string(x.path().join("report.txt")).unwrap();
    for needle in ["1. Received", "2. Done", "3. Produced", "4. Repeatability", &records[0].sha256, "Gaps: none", &video] {
        assert!(report.contains(needle), "report lacks {needle:?}:\n{report}");
    }

    let verified = verify::verify(&world.out.join("case.zip"), Some(&world.home.join("keys").join(keys::PUBLIC_FILE)));
    assert!(verified.ok(), "{verified}");
    assert!(verified.to_string().contains(&format!("{expected} frames decoded")), "{verified}");

    let held: Vec<PathBuf> = world.holds().iter().map(|h| h.segment.clone()).collect();
    let expected_held: Vec<PathBuf> = records[..3].iter().map(|r| world.camera_dir().join(&r.file)).collect();
    assert_eq!(held, expected_held, "exactly the segments used are held");
    assert!(world.holds().iter().all(|h| h.cases == ["2026-117"]));

    let log = std::fs::read_to_string(world.home.join("audit.jsonl")).unwrap();
    assert!(log.contains("\"export\"") && log.contains("2026-117"), "audit log:\n{log}");
}

/// Found by hostile use: exports of a live camera's recordings across segments decoded to a
/// frame fewer than their manifest states (the encoder's B-frames put the last of such jittery
/// frames past the end the MP4 records), so `verify` failed them.
#[test]
fn an_export_of_a_jittery_cameras_recordings_keeps_every_frame_and_verifies() {
    let world = World::of(jittery_template());
    let records = world.records();
    assert!(records.len() >= 3, "{records:?}");
    let (from, to) = (records[0].start_ms().unwrap() + 210, records[2].start_ms().unwrap() + 530);
    assert_ok(&world.export("2026-118", from, to, "case.zip", &[]));
    let verified = verify::verify(&world.out.join("case.zip"), Some(&world.home.join("keys").join(keys::PUBLIC_FILE)));
    assert!(verified.ok(), "{verified}");
}

/// A segment ends in the index where the next one starts, so its last frame is on screen until
/// then, also when its MP4 records a shorter duration for it (a camera's next frame came later
/// than the last one's stamped length). Found with the fix of the index's segment ends: an
/// export from just before a segment's start selected the segment before it but kept none of
/// its frames, so the frame on screen at the export's start was missing.
#[test]
fn an_export_from_just_before_a_segment_keeps_the_frame_still_on_screen_from_the_segment_before() {
    let world = World::of(late_frames_template());
    let records = world.records();
    assert!(records.len() >= 2, "{records:?}");
    assert_eq!(records[0].end, records[1].start, "segments meet");
    let next = records[1].start_ms().unwrap();
    // The last frame of the first segment (on screen until `next`), then the frames at 0 and
    // 60 ms of the second.
    let (from, to) = (next - 10, next + 100);
    assert_ok(&world.export("2026-119", from, to, "case.zip", &[]));
    let x = tempfile::tempdir().unwrap();
    let names = unzip(&world.out.join("case.zip"), x.path());
    let video = names.iter().find(|n| n.ends_with(".mp4")).expect("a video in the bundle");
    assert_eq!(probe(&x.path().join(video)).frames.len(), 3, "{}", std::fs::read_to_string(x.path().join("report.txt")).unwrap());
    assert_eq!(manifest(x.path())["produced"]["frames"], 3);
}

/// Found by hostile use: export took every frame as lasting 1/fps, so a range inside a live
/// camera's long frame (a stall, the frame before a dropout) was refused as "no frame of the
/// sources lies in the requested range", a range starting inside one lost it, and a range ending
/// inside one was cut short. A frame is shown until the next one.
#[test]
fn a_frame_shown_longer_than_one_frame_time_is_kept_whole_wherever_the_range_meets_it() {
    let world = World::of(long_frame_template());
    let records = world.records();
    let t0 = records[0].start_ms().unwrap();
    let long = (t0 + LONG_FRAME_AT_MS as i64) as f64;
    let is_long = |(start, end): (f64, f64)| (start - long).abs() <= 1.0 && (end - start - LONG_FRAME_MS as f64).abs() <= 1.0;
    let inside = (t0 + LONG_FRAME_AT_MS as i64 + 150, t0 + LONG_FRAME_AT_MS as i64 + 300);
    let expected = shown(&world, inside.0, inside.1);
    assert!(expected.len() == 1 && is_long(expected[0]), "the recording holds the long frame: {expected:?}");
    // The range lies inside it, starts inside it, ends inside it.
    let ranges = [
        ("inside", inside),
        ("starts-inside", (inside.0, t0 + (LONG_FRAME_AT_MS + LONG_FRAME_MS) as i64 + 90)),
        ("ends-inside", (t0 + LONG_FRAME_AT_MS as i64 - 70, inside.1)),
    ];
    for (case, (from, to)) in ranges {
        let expected = shown(&world, from, to);
        assert!(expected.iter().any(|&f| is_long(f)) && expected.len() > 1 || case == "inside", "{case}: {expected:?}");
        let out = world.export(case, from, to, &format!("{case}.zip"), &[]);
        assert_ok(&out);
        assert_timed_as_shown(&world, &format!("{case}.zip"), &expected);
    }
    // The same with the segment given as a file (`--from`/`--to` from its first frame).
    let file = world.camera_dir().join(&records[0].file).display().to_string();
    let (from, to) = ((LONG_FRAME_AT_MS + 150) as f64 / 1e3, (LONG_FRAME_AT_MS + 300) as f64 / 1e3);
    let (from, to) = (format!("{from:.3}"), format!("{to:.3}"));
    let out = world
        .command(&["export", "--case", "file-inside", "--basis", "b", "--requester", "r", "--input", &file, "--from", &from, "--to", &to])
        .arg("-o")
        .arg(world.out.join("file-inside.zip"))
        .output()
        .unwrap();
    assert_ok(&out);
    assert_timed_as_shown(&world, "file-inside.zip", &shown(&world, inside.0, inside.1));
}

/// A segment's last frame is shown until the segment's end in the index, where the next segment
/// starts, no longer and no shorter than its MP4 says; across segments of a jittery camera the
/// working copy keeps every frame's own time.
#[test]
fn an_export_across_segments_times_every_frame_as_the_recording_showed_it() {
    let world = World::of(jittery_template());
    let records = world.records();
    assert!(records.len() >= 3, "{records:?}");
    assert!(records.windows(2).all(|w| w[0].end == w[1].start), "segments meet: {records:?}");
    let (from, to) = (records[0].start_ms().unwrap() + 210, records[2].start_ms().unwrap() + 530);
    assert_ok(&world.export("2026-120", from, to, "case.zip", &[]));
    assert_timed_as_shown(&world, "case.zip", &shown(&world, from, to));
}

#[test]
fn export_across_a_gap_goes_on_and_lists_the_gap() {
    let world = World::new();
    let records = world.records();
    // The middle segment is gone (as if never recorded), from disk and index.
    let lock = segments::lock(&world.camera_dir()).unwrap();
    std::fs::remove_file(world.camera_dir().join(&records[1].file)).unwrap();
    let kept: Vec<SegmentRecord> = records.iter().enumerate().filter(|(i, _)| *i != 1).map(|(_, r)| r.clone()).collect();
    segments::rewrite_index(&world.camera_dir(), &kept, &lock).unwrap();
    drop(lock);
    let from = records[0].start_ms().unwrap() + 500;
    let to = records[2].start_ms().unwrap() + 500;
    let out = world.export("gap-1", from, to, "gap.zip", &[]);
    assert_ok(&out);
    let x = tempfile::tempdir().unwrap();
    unzip(&world.out.join("gap.zip"), x.path());
    let m = manifest(x.path());
    let gaps = m["gaps"].as_array().unwrap();
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(gaps[0]["from_ms"], records[0].end_ms().unwrap());
    assert_eq!(gaps[0]["to_ms"], records[2].start_ms().unwrap());
    let report = std::fs::read_to_string(x.path().join("report.txt")).unwrap();
    assert!(report.contains("have NO recording") && report.contains(&records[2].start), "{report}");
    assert_eq!(m["produced"]["frames"], frames_shown(&world, from, to));
}

#[test]
fn a_segment_altered_after_recording_is_refused_naming_it_and_nothing_is_left() {
    let world = World::new();
    let records = world.records();
    let altered = world.camera_dir().join(&records[1].file);
    let mut bytes = std::fs::read(&altered).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    std::fs::write(&altered, bytes).unwrap();
    let err = failed(&world.export("2026-118", records[0].start_ms().unwrap(), records[2].end_ms().unwrap(), "case.zip", &[]));
    assert!(err.contains(&records[1].file) && err.contains("SHA-256"), "{err}");
    assert!(world.out_listing().is_empty(), "{:?}", world.out_listing());
    assert!(world.holds().is_empty(), "no hold placed: {:?}", world.holds());
}

#[test]
fn bad_requests_are_refused_with_their_cause_and_leave_nothing() {
    let world = World::new();
    let records = world.records();
    let first = records[0].start_ms().unwrap();
    // No recordings in the range (an hour before the first one).
    let err = failed(&world.export("c1", first - 3_600_000, first - 3_000_000, "a.zip", &[]));
    assert!(err.contains("no recordings between") && err.contains(CAMERA), "{err}");
    // Unknown camera: the cameras there are are listed.
    let mut cmd = world.command(&["export", "--case", "c2", "--basis", "b", "--requester", "r", "--camera", "back_yard"]);
    let recordings = world.recordings.display().to_string();
    let out = cmd
        .args(["--from", "2026-11-20T14:00:00Z", "--to", "2026-11-20T14:20:00Z", "--recordings", &recordings])
        .arg("-o")
        .arg(world.out.join("b.zip"))
        .output()
        .unwrap();
    let err = failed(&out);
    assert!(err.contains("unknown camera 'back_yard'") && err.contains(CAMERA), "{err}");
    // A range that ends before it starts.
    let err = failed(&world.export("c3", first + 1000, first, "c.zip", &[]));
    assert!(err.contains("is not after"), "{err}");
    // A case id that could name another directory.
    let err = failed(&world.export("../c4", first, first + 1000, "d.zip", &[]));
    assert!(err.contains("case id '../c4'"), "{err}");
    // A range past the end of an --input file (found by hostile use: the report said the
    // sources covered the whole range).
    let faces = sample("faces.mp4").display().to_string();
    let out = world.command(&["export", "--case", "c5", "--basis", "b", "--requester", "r", "--input", &faces, "--from", "3.99", "--to", "100"])
        .arg("-o")
        .arg(world.out.join("e.zip"))
        .output()
        .unwrap();
    let err = failed(&out);
    assert!(err.contains("--to 100.000 s is past the end of the input(s) (4.000 s long)"), "{err}");
    assert!(world.out_listing().is_empty(), "{:?}", world.out_listing());
    assert!(world.holds().is_empty());
}

#[test]
fn a_missing_or_unreadable_key_refuses_the_export_before_any_work() {
    let world = World::new();
    let records = world.records();
    let range = (records[0].start_ms().unwrap(), records[0].end_ms().unwrap());
    let secret = world.home.join("keys").join(keys::SECRET_FILE);
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let err = failed(&world.export("k1", range.0, range.1, "k1.zip", &[]));
    assert!(err.contains(&secret.display().to_string()) && err.contains("chmod 600"), "{err}");
    std::fs::remove_file(&secret).unwrap();
    let err = failed(&world.export("k2", range.0, range.1, "k2.zip", &[]));
    assert!(err.contains(&secret.display().to_string()) && err.contains("keys init"), "{err}");
    assert!(world.out_listing().is_empty());
    assert!(world.holds().is_empty());
}

#[test]
fn a_case_is_exported_once_and_a_bundle_is_never_overwritten() {
    let world = World::new();
    let records = world.records();
    let (from, to) = (records[0].start_ms().unwrap(), records[0].start_ms().unwrap() + 400);
    std::fs::write(world.out.join("taken.zip"), b"someone else's file").unwrap();
    let err = failed(&world.export("once", from, to, "taken.zip", &[]));
    assert!(err.contains("taken.zip") && err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read(world.out.join("taken.zip")).unwrap(), b"someone else's file");

    assert_ok(&world.export("once", from, to, "first.zip", &[]));
    let first = std::fs::read(world.out.join("first.zip")).unwrap();
    let err = failed(&world.export("once", from, to, "second.zip", &[]));
    assert!(err.contains("case 'once' was already exported"), "{err}");
    assert_eq!(std::fs::read(world.out.join("first.zip")).unwrap(), first, "the first bundle is untouched");
    assert_eq!(world.out_listing(), ["first.zip", "taken.zip"]);
}

/// Starts a full-range export of case `case` and returns once it works in its staging
/// directory with its holds placed.
fn start_export(world: &World, case: &str) -> std::process::Child {
    let records = world.records();
    let from = segments::format_rfc3339_ms(records[0].start_ms().unwrap());
    let to = segments::format_rfc3339_ms(records.last().unwrap().end_ms().unwrap());
    let recordings = world.recordings.display().to_string();
    let bundle = world.out.join(format!("{case}.zip")).display().to_string();
    let mut child = world
        .command(&["export", "--case", case, "--basis", "b", "--requester", "r", "--camera", CAMERA])
        .args(["--from", &from, "--to", &to, "--recordings", &recordings, "-o", &bundle, "--workers", "1"])
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !(world.out_listing().iter().any(|n| n.contains(".staging-")) && world.holds().iter().any(|h| h.cases.contains(&case.to_string()))) {
        assert!(child.try_wait().unwrap().is_none(), "export ended before it could be interrupted");
        assert!(Instant::now() < deadline, "the export never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    child
}

/// After an interrupted export of `case`: nothing in the output directory, only the hold of
/// `earlier-case` on `kept`, and the case not registered.
fn assert_nothing_left(world: &World, case: &str, kept: &Path) {
    assert!(world.out_listing().is_empty(), "left behind: {:?}", world.out_listing());
    let holds = world.holds();
    assert_eq!(holds.len(), 1, "{holds:?}");
    assert_eq!(holds[0].segment, kept);
    assert_eq!(holds[0].cases, ["earlier-case"]);
    assert!(!veilcam::export::case_record(&world.home, case).exists(), "an interrupted case may be exported again");
}

#[test]
fn an_interrupted_export_leaves_no_bundle_no_temp_file_and_no_new_hold() {
    let world = World::new();
    // Another case's hold, which must survive.
    let kept = world.camera_dir().join(&world.records()[0].file);
    hold::place(&kept, "earlier-case").unwrap();
    let mut child = start_export(&world, "int");
    // SAFETY: a signal to the child this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    assert_eq!(child.wait().unwrap().code(), Some(130), "interrupted exit code");
    assert_nothing_left(&world, "int", &kept);
}

/// Found by hostile use: a bundle that did not fit (a full disk, here a file-size limit)
/// failed with "i/o error" alone, the cause dropped, after the zip library's own line
/// "ZipWriter drop failed: Io(..)". The error names the bundle and the cause, and the failed
/// export leaves no file and no hold.
#[test]
fn a_bundle_that_does_not_fit_fails_naming_it_and_the_cause_and_leaves_nothing() {
    use std::os::unix::process::CommandExt;
    let world = World::new();
    let records = world.records();
    let range = (records[0].start_ms().unwrap(), records.last().unwrap().end_ms().unwrap());
    assert!(world.export("fits", range.0, range.1, "fits.zip", &[]).status.success());
    let bundle = std::fs::metadata(world.out.join("fits.zip")).unwrap().len();
    let x = tempfile::tempdir().unwrap();
    unzip(&world.out.join("fits.zip"), x.path());
    let largest_file = manifest(x.path())["files"].as_array().unwrap().iter().map(|f| f["bytes"].as_u64().unwrap()).max().unwrap();
    // Each file staged for the bundle fits under the limit; the bundle that holds them does not.
    let limit = (largest_file + bundle) / 2;
    let holds_before = world.holds();
    let mut cmd = world.export_command("too-big", range.0, range.1, "too-big.zip", &[]);
    // SAFETY: setrlimit alone, in the child between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let rlimit = libc::rlimit { rlim_cur: limit, rlim_max: limit };
            (libc::setrlimit(libc::RLIMIT_FSIZE, &rlimit) == 0).then_some(()).ok_or_else(std::io::Error::last_os_error)
        });
    }
    let err = failed(&cmd.output().unwrap());
    let bundle_path = world.out.join("too-big.zip").display().to_string();
    assert_eq!(err.trim(), format!("veilcam: error: {bundle_path}: File too large (os error 27)"), "{err}");
    assert_eq!(world.out_listing(), ["fits.zip"], "nothing but the earlier bundle");
    assert_eq!(world.holds(), holds_before, "no hold of the failed case");
}

/// Found by hostile use: an export killed outright (SIGKILL, the OOM killer) left its staging
/// directory, with the redacted media in it, beside the bundle, and the next export of the
/// same bundle went on beside it. The next export now removes it.
#[test]
fn a_killed_exports_staging_directory_is_removed_by_the_next_export() {
    let world = World::new();
    let mut child = start_export(&world, "killed");
    std::thread::sleep(Duration::from_millis(1100)); // older than a writer's first moment
    // SAFETY: a signal to the child this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    child.wait().unwrap();
    assert!(world.out_listing().iter().any(|n| n.contains(".staging-")), "the kill left the staging directory");
    // Its holds stay too (they keep raw footage past retention); `hold list` says so.
    let recordings = world.recordings.display().to_string();
    let list = world.veilcam(&["hold", "list", "--recordings", &recordings]);
    let said = String::from_utf8_lossy(&list.stderr);
    assert!(said.contains("case killed: held, but no export of it finished") && said.contains("hold release --case killed"), "{said}");
    let mut again = start_export(&world, "killed");
    assert!(again.wait().unwrap().success(), "the export runs again");
    assert_eq!(world.out_listing(), ["killed.zip"], "only the bundle is left");
    let list = world.veilcam(&["hold", "list", "--recordings", &recordings]);
    assert!(!String::from_utf8_lossy(&list.stderr).contains("no export of it finished"), "the case was exported");
}

/// Found by hostile use: `-o case.mp4` wrote a zip archive under a video's name.
#[test]
fn a_bundle_not_named_zip_is_refused_before_any_work() {
    let world = World::new();
    let records = world.records();
    let (from, to) = (records[0].start_ms().unwrap(), records[0].end_ms().unwrap());
    let out = world.export("mp4", from, to, "case.mp4", &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("case.mp4") && stderr.contains("name it .zip"), "{stderr}");
    assert!(world.out_listing().is_empty(), "{:?}", world.out_listing());
    assert!(!veilcam::export::case_record(&world.home, "mp4").exists());
}

#[test]
fn a_second_interrupt_ends_the_export_at_once_and_still_leaves_nothing() {
    let world = World::new();
    let kept = world.camera_dir().join(&world.records()[0].file);
    hold::place(&kept, "earlier-case").unwrap();
    let mut child = start_export(&world, "int2");
    for _ in 0..2 {
        // SAFETY: a signal to the child this test started.
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(child.wait().unwrap().code(), Some(130), "interrupted exit code");
    assert_nothing_left(&world, "int2", &kept);
}

/// Regression: a second interrupt that came while the first one's unwinding was taking the
/// holds back ended the process with the holds neither taken back nor listed as pending, so
/// they stayed (CI, stop 21). Whenever the second signal comes, nothing is left.
#[test]
fn a_second_interrupt_at_any_moment_of_the_unwinding_leaves_no_hold() {
    let world = World::new();
    let kept = world.camera_dir().join(&world.records()[0].file);
    hold::place(&kept, "earlier-case").unwrap();
    for (n, gap_ms) in [0, 1, 2, 3, 5, 8, 13, 20, 30, 50, 100].into_iter().enumerate() {
        let case = format!("gap{n}");
        let mut child = start_export(&world, &case);
        // SAFETY: signals to the child this test started.
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        std::thread::sleep(Duration::from_millis(gap_ms));
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        assert_eq!(child.wait().unwrap().code(), Some(130), "interrupted exit code ({gap_ms} ms apart)");
        assert_nothing_left(&world, &case, &kept);
    }
}

#[test]
fn hold_release_frees_a_cases_segments_but_not_those_another_case_holds() {
    let world = World::new();
    let records = world.records();
    let s = |i: usize| records[i].start_ms().unwrap();
    assert_ok(&world.export("A", s(0) + 100, s(1) + 300, "a.zip", &[]));
    assert_ok(&world.export("B", s(1) + 100, s(2) + 300, "b.zip", &[]));
    let recordings = world.recordings.display().to_string();
    let list = world.veilcam(&["hold", "list", "--recordings", &recordings]);
    assert_ok(&list);
    let listed = String::from_utf8_lossy(&list.stdout).into_owned();
    assert!(listed.contains(&format!("{}\tA,B", records[1].file)), "{listed}");
    assert_ok(&world.veilcam(&["hold", "release", "--case", "A", "--recordings", &recordings]));
    let held: Vec<(String, Vec<String>)> =
        world.holds().into_iter().map(|h| (h.segment.file_name().unwrap().to_string_lossy().into_owned(), h.cases)).collect();
    assert_eq!(held, [(records[1].file.clone(), vec!["B".to_string()]), (records[2].file.clone(), vec!["B".to_string()])]);
    let log = std::fs::read_to_string(world.home.join("audit.jsonl")).unwrap();
    assert!(log.contains("\"hold_release\""), "{log}");
}

#[test]
fn re_running_an_export_repeats_its_decisions_and_its_video_bytes() {
    let world = World::new();
    let input = sample("faces.mp4").display().to_string();
    let run = |case: &str, workers: &str| {
        let bundle = world.out.join(format!("{case}.zip")).display().to_string();
        let args = ["export", "--case", case, "--basis", "subject access", "--requester", "Ann", "--input", &input];
        assert_ok(&world.veilcam(&[&args[..], &["--from", "1.02", "--to", "3.01", "--workers", workers, "-o", &bundle]].concat()));
        let x = tempfile::tempdir().unwrap();
        unzip(Path::new(&bundle), x.path());
        let m = manifest(x.path());
        let video = std::fs::read(x.path().join(m["produced"]["working_copy"].as_str().unwrap())).unwrap();
        let sidecar = std::fs::read(x.path().join(m["produced"]["sidecar"].as_str().unwrap())).unwrap();
        (m, video, sidecar)
    };
    // Another number of detection workers must not change a decision either.
    let (m1, video1, sidecar1) = run("r1", "2");
    let (_, video2, sidecar2) = run("r2", "1");
    // Frames of 40 ms from 0: 1.02 s lies in frame 25, 3.01 s in frame 75.
    assert_eq!(m1["produced"]["frames"], 51);
    assert_eq!(m1["produced"]["working_copy"], "r1_faces_1.02s_3.01s.mp4");
    assert!(sidecar1 == sidecar2, "the redaction decisions differ between runs");
    // The encoded pictures are the same bytes; the MP4 header records when it was written, and
    // the C2PA manifest is signed anew (time, instance ids): compare the file without it.
    assert!(mdat(&video1) == mdat(&video2), "the encoded video differs between runs");
    let (video1, video2) = (without_c2pa(&video1), without_c2pa(&video2));
    let differing = video1.iter().zip(&video2).filter(|(a, b)| a != b).count();
    assert!(video1.len() == video2.len() && differing <= 16, "{differing} bytes differ outside the pictures");
    // No hold on a plain file.
    assert!(m1["holds"].as_array().unwrap().is_empty());
}

/// The MP4 without its top-level C2PA manifest box (`uuid` d8fec3d6-1b0e-483c-9297-5828877ec481).
fn without_c2pa(mp4: &[u8]) -> Vec<u8> {
    const C2PA: [u8; 16] = [0xd8, 0xfe, 0xc3, 0xd6, 0x1b, 0x0e, 0x48, 0x3c, 0x92, 0x97, 0x58, 0x28, 0x87, 0x7e, 0xc4, 0x81];
    let mut out = Vec::with_capacity(mp4.len());
    let mut at = 0;
    while at + 8 <= mp4.len() {
        let size = u32::from_be_bytes(mp4[at..at + 4].try_into().unwrap()) as usize;
        assert!(size >= 8, "unexpected box layout");
        if !(&mp4[at + 4..at + 8] == b"uuid" && mp4.get(at + 8..at + 24) == Some(&C2PA[..])) {
            out.extend_from_slice(&mp4[at..at + size]);
        }
        at += size;
    }
    out
}

/// The payload of the top-level `mdat` box of an MP4 (the encoded pictures).
fn mdat(mp4: &[u8]) -> &[u8] {
    let mut at = 0;
    while at + 8 <= mp4.len() {
        let size = u32::from_be_bytes(mp4[at..at + 4].try_into().unwrap()) as usize;
        if &mp4[at + 4..at + 8] == b"mdat" {
            return &mp4[at + 8..at + size];
        }
        assert!(size >= 8, "unexpected box layout");
        at += size;
    }
    panic!("no mdat box")
}

#[test]
fn subject_access_export_names_the_kept_track_or_fails_when_it_does_not_exist() {
    let world = World::new();
    let input = sample("faces.mp4").display().to_string();
    let bundle = world.out.join("sar.zip").display().to_string();
    let args = ["export", "--case", "sar", "--basis", "subject access", "--requester", "Ann", "--input", &input];
    let err = failed(&world.veilcam(&[&args[..], &["--to", "1", "--keep-track", "999", "-o", &bundle]].concat()));
    assert!(err.contains("--keep-track 999"), "{err}");
    assert!(world.out_listing().is_empty(), "{:?}", world.out_listing());
}

/// Regression: `FileSource` measured a recorded segment against its `mehd` duration, which
/// mp4mux sets to the running time at the segment's end, so every segment after the first
/// "stream ended at 1.00 s of 2.00 s: the file is truncated" and could not be exported.
#[test]
fn regression_file_source_decodes_every_recorded_segment_not_only_the_first() {
    let world = World::new();
    for record in world.records() {
        let path = world.camera_dir().join(&record.file);
        let mut source = FileSource::open(&path).unwrap_or_else(|e| panic!("{}: {e}", record.file));
        let mut frames = 0;
        while source.next_frame().unwrap_or_else(|e| panic!("{}: {e}", record.file)).is_some() {
            frames += 1;
        }
        assert_eq!(frames, record.frames, "{}: frames decoded vs index", record.file);
    }
}

#[test]
fn verify_media_checks_name_a_frame_count_that_does_not_match_the_manifest() {
    use veilcam::export::checks::{SidecarFrames, WorkingCopyFrames};
    use veilcam::export::verify::MediaCheck;
    let manifest = serde_json::json!({ "produced": { "working_copy": "w.mp4", "sidecar": "w.json", "frames": 99 } });
    assert!(WorkingCopyFrames.applies("w.mp4", &manifest) && !WorkingCopyFrames.applies("w.json", &manifest));
    let err = WorkingCopyFrames.check("w.mp4", &sample("faces.mp4"), &manifest).unwrap_err();
    assert_eq!(err, "decodes to 100 frames, the manifest states 99");
    let right = serde_json::json!({ "produced": { "working_copy": "w.mp4", "frames": 100 } });
    assert_eq!(WorkingCopyFrames.check("w.mp4", &sample("faces.mp4"), &right).unwrap(), "100 frames decoded, as stated");
    let dir = tempfile::tempdir().unwrap();
    let sidecar = dir.path().join("w.json");
    std::fs::write(&sidecar, r#"{"veilcam":"0.1.0","frames":[{"index":0},{"index":1}]}"#).unwrap();
    assert_eq!(SidecarFrames.check("w.json", &sidecar, &manifest).unwrap_err(), "records 2 frames, the manifest states 99");
    std::fs::write(&sidecar, r#"{"veilcam":"0.1.0","frames":[{"index":0},"#).unwrap();
    assert!(SidecarFrames.check("w.json", &sidecar, &manifest).unwrap_err().contains("not valid JSON"));
}

#[test]
fn an_export_verifies_with_the_cli_and_leaves_an_intact_audit_log() {
    let world = World::new();
    let records = world.records();
    let (from, to) = (records[1].start_ms().unwrap() + 100, records[1].start_ms().unwrap() + 900);
    assert_ok(&world.export("cli-1", from, to, "cli.zip", &[]));
    let bundle = world.out.join("cli.zip").display().to_string();
    let verified = world.command(&["verify", &bundle]).arg("--key").arg(world.home.join("keys").join(keys::PUBLIC_FILE)).output().unwrap();
    assert_ok(&verified);
    let printed = String::from_utf8_lossy(&verified.stdout).into_owned();
    assert!(printed.contains("frames decoded, as stated") && printed.contains("frame records, as stated"), "{printed}");
    let recordings = world.recordings.display().to_string();
    assert_ok(&world.veilcam(&["hold", "release", "--case", "cli-1", "--recordings", &recordings]));
    // Found by hostile use: a mistyped case id, or one released already, "released" nothing and
    // exited 0, so a typo looked like success.
    for case in ["cli-1", "cli-l"] {
        let err = failed(&world.veilcam(&["hold", "release", "--case", case, "--recordings", &recordings]));
        assert!(err.contains(&format!("case '{case}' holds no segment under")), "{err}");
    }
    assert_ok(&world.veilcam(&["log", "verify"]));
}

/// `export` with `--camera` and the given recordings, range and bundle.
fn export_camera(world: &World, case: &str, camera: &str, from: i64, to: i64, bundle: &str) -> Output {
    let (from, to) = (segments::format_rfc3339_ms(from), segments::format_rfc3339_ms(to));
    let recordings = world.recordings.display().to_string();
    world
        .command(&["export", "--case", case, "--basis", "b", "--requester", "r", "--camera", camera, "--from", &from, "--to", &to, "--recordings", &recordings])
        .arg("-o")
        .arg(world.out.join(bundle))
        .output()
        .unwrap()
}

/// Found by hostile use: `--camera front_door/` was taken and recorded as camera "front_door/"
/// (a working copy named `…_front_door-_…`), and a path to the camera's directory was refused as
/// "no directory X" although X exists. A camera is a name, as in the config and the recordings
/// directory.
#[test]
fn a_camera_given_as_a_path_is_refused_saying_to_give_its_name() {
    let world = World::new();
    let first = world.records()[0].start_ms().unwrap();
    let absolute = world.camera_dir().display().to_string();
    for (i, camera) in [format!("{CAMERA}/"), format!("./{CAMERA}"), absolute, ".".into(), "..".into()].iter().enumerate() {
        let err = failed(&export_camera(&world, &format!("cam-{i}"), camera, first, first + 1000, &format!("cam-{i}.zip")));
        assert!(err.contains(&format!("--camera '{camera}' is not a camera name")), "{err}");
        assert!(err.contains("the name of its directory under the recordings directory"), "{err}");
        assert!(err.contains(&format!("(cameras recorded there: {CAMERA})")), "{err}");
    }
    assert!(world.out_listing().is_empty(), "{:?}", world.out_listing());
    assert!(world.holds().is_empty());
    assert_ok(&export_camera(&world, "cam-name", CAMERA, first, first + 1000, "cam-name.zip"));
}

/// Found by hostile use: `--input A --input A` was exported, and the signed manifest and the
/// report described both parts as the same frames of A. The same file (by another path, or a
/// hard link to it) given twice is refused naming it; a copy is another file.
#[test]
fn the_same_file_given_twice_as_input_is_refused_naming_it() {
    let world = World::new();
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.mp4");
    std::fs::copy(sample("faces.mp4"), &a).unwrap();
    let link = dir.path().join("link.mp4");
    std::fs::hard_link(&a, &link).unwrap();
    let copy = dir.path().join("copy.mp4");
    std::fs::copy(&a, &copy).unwrap();
    let export = |case: &str, second: &Path| {
        let (a, second) = (a.display().to_string(), second.display().to_string());
        world
            .command(&["export", "--case", case, "--basis", "b", "--requester", "r", "--input", &a, "--input", &second, "--from", "3.5", "--to", "4.5"])
            .arg("-o")
            .arg(world.out.join(format!("{case}.zip")))
            .output()
            .unwrap()
    };
    for (i, second) in [a.clone(), link, dir.path().join(".").join("a.mp4")].iter().enumerate() {
        let err = failed(&export(&format!("twice-{i}"), second));
        assert!(err.contains(&format!("{}: given twice with --input (as {} and as", second.display(), a.display())), "{err}");
    }
    assert!(world.out_listing().is_empty(), "{:?}", world.out_listing());
    assert_ok(&export("copy", &copy));
    let x = tempfile::tempdir().unwrap();
    unzip(&world.out.join("copy.zip"), x.path());
    let used: Vec<String> = manifest(x.path())["sources"].as_array().unwrap().iter().map(|s| s["used"].to_string()).collect();
    assert!(used.len() == 2 && used[0] != used[1], "each part says what it gave: {used:?}");
}

/// Found by hostile use: a newline in an --input file name (chosen by whoever supplied the
/// footage) wrote a forged "Gaps:" line into the signed report.txt, and one in --basis a forged
/// "Requester:" line; `verify` still passed. Typed text with a control character is refused;
/// a file name is shown with its control characters escaped, on its own line.
#[test]
fn free_text_cannot_forge_a_line_of_the_signed_report() {
    let world = World::new();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("dvr.mp4 (1 bytes)\nGaps: 1 part(s) of the range have NO recording (withheld)\nx.mp4");
    std::fs::copy(sample("faces.mp4"), &input).unwrap();
    let input = input.display().to_string();
    let run = |case: &str, basis: &str, requester: &str, operator: &str| {
        let args = ["export", "--case", case, "--basis", basis, "--requester", requester, "--operator", operator, "--input", &input, "--from", "0", "--to", "1"];
        world.command(&args).arg("-o").arg(world.out.join(format!("{case}.zip"))).output().unwrap()
    };
    for (flag, out) in [
        ("--basis", run("c1", "court order\nRequester:   Someone Else", "r", "o")),
        ("--requester", run("c2", "b", "police\r", "o")),
        ("--operator", run("c3", "b", "r", "owner\u{1b}[2J")),
    ] {
        let err = failed(&out);
        assert!(err.contains(&format!("{flag} '")) && err.contains("control character"), "{flag}: {err}");
    }
    assert!(world.out_listing().is_empty(), "{:?}", world.out_listing());

    assert_ok(&run("c4", "court order", "police", "owner"));
    let bundle = world.out.join("c4.zip");
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&bundle).unwrap()).unwrap();
    let mut report = String::new();
    std::io::Read::read_to_string(&mut zip.by_name("report.txt").unwrap(), &mut report).unwrap();
    let gaps: Vec<&str> = report.lines().filter(|l| l.starts_with("Gaps:")).collect();
    assert_eq!(gaps, ["Gaps: none; the sources cover the whole range."], "{report}");
    assert!(report.contains("dvr.mp4 (1 bytes)\\nGaps: 1 part(s)"), "the name, escaped: {report}");
    let verified = world.command(&["verify", &bundle.display().to_string()]).output().unwrap();
    assert_ok(&verified);
}
