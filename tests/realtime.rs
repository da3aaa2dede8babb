//! `veilcam redact --realtime`: a recorded clip played as a live camera. Frames meet the engine
//! at their timestamps, with the live deadline: a frame not decided in time leaves fully
//! obscured, never raw; the output keeps every frame and timestamp; an interrupt leaves nothing.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::*;
use veilcam::live::config::DEFAULT_LOOKAHEAD_MS;

fn veilcam() -> Command {
    Command::new(env!("CARGO_BIN_EXE_veilcam"))
}

/// Mean luma under which a frame counts as obscured whole (the fill is solid black).
const BLACK: f64 = 20.0;

/// Runs that play a clip in real time take this in turn. What they measure is how a run keeps
/// its deadlines; beside another real-time run on a two-core machine it measures the other run
/// (CI failed with 58 frames obscured where an idle machine obscures 20).
fn in_turn() -> MutexGuard<'static, ()> {
    static REAL_TIME: Mutex<()> = Mutex::new(());
    REAL_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[test]
fn a_clip_played_in_real_time_keeps_every_timestamp_and_takes_its_own_duration() {
    let _turn = in_turn();
    let dir = tempfile::tempdir().unwrap();
    let (input, output) = (sample("faces.mp4"), dir.path().join("out.mp4"));
    let started = Instant::now();
    redact_ok(&input, &output, &["--realtime", "--preset", "ultrafast"]);
    let took = started.elapsed();
    // 100 frames at 25 fps: released at their timestamps, the last one 3.96 s after the first.
    assert!(took >= Duration::from_millis(3900), "a 4 s clip took {took:?}: not paced in real time");
    assert_same_timing("faces.mp4 in real time", &probe(&input), &probe(&output));
}

/// `veilcam redact faces.mp4 -o output ARGS --preset ultrafast` with every look `delay_ms`
/// slower (the documented `VEILCAM_DETECTOR_DELAY_MS` knob).
fn redact_with_slow_detector(output: &std::path::Path, args: &[&str], delay_ms: u64) -> std::process::Output {
    veilcam()
        .args(["redact"])
        .arg(sample("faces.mp4"))
        .arg("-o")
        .arg(output)
        .args(args)
        .args(["--preset", "ultrafast"])
        .env("VEILCAM_DETECTOR_DELAY_MS", delay_ms.to_string())
        .output()
        .unwrap()
}

#[test]
fn a_clip_played_in_real_time_with_a_late_detector_leaves_every_frame_obscured() {
    let _turn = in_turn();
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("out.mp4");
    let run = redact_with_slow_detector(&output, &["--realtime", "100"], 400);
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{err}");
    assert!(err.contains("100 fully obscured"), "the summary counts the obscured frames: {err}");
    // Every look that started came back late; the frames whose look could not start at all
    // had none close enough. The summary tells the two apart: only the first is helped by a
    // longer budget.
    let (late, unlooked) = (summary_count(&err, " with a look late or failed"), summary_count(&err, " with no look close enough"));
    assert!(late > 0 && late + unlooked == 100, "late {late}, no look close enough {unlooked}: {err}");
    let frames = decode_gray(&output);
    assert_eq!(frames.len(), 100);
    for (i, y) in frames.iter().enumerate() {
        let mean = y.iter().map(|&v| v as f64).sum::<f64>() / y.len() as f64;
        assert!(mean < BLACK, "frame {i} left with mean luma {mean:.0}: not obscured whole while detection was late");
    }
}

#[test]
fn an_interrupted_real_time_run_leaves_no_output() {
    let _turn = in_turn();
    let dir = tempfile::tempdir().unwrap();
    let mut child = veilcam()
        .args(["-q", "redact"])
        .arg(sample("faces.mp4"))
        .arg("-o")
        .arg(dir.path().join("out.mp4"))
        .args(["--realtime", "--preset", "ultrafast"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2000));
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) }, 0);
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    let code = child.wait().unwrap().code();
    assert_eq!(code, Some(130), "an interrupted file run fails (a camera's would end cleanly): {err}");
    assert!(dir_entries(dir.path()).is_empty(), "left {:?}", dir_entries(dir.path()));
}

#[test]
fn a_real_time_budget_out_of_range_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let run = run_veilcam(&sample("faces.mp4"), &dir.path().join("out.mp4"), &["--realtime", "0"]);
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("--realtime 0"), "{}", String::from_utf8_lossy(&run.stderr));
}

/// Regression: `--lookahead` and `--detect-every` were silently overridden by `--realtime` (a
/// live camera has its own short look-ahead and looks at every frame it can), and on a still image
/// `--realtime` was ignored. Each is now refused, naming the cause, before anything is written;
/// so are a live look-ahead outside the live range, and one without `--realtime`.
#[test]
fn options_a_live_camera_cannot_honour_are_refused_beside_realtime() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[&str], &str); 5] = [
        ("faces.mp4", &["--realtime", "--lookahead", "2"], "--lookahead"),
        ("faces.mp4", &["--realtime", "300", "--detect-every", "3"], "--detect-every"),
        ("astronaut.png", &["--realtime"], "is a still image"),
        ("faces.mp4", &["--realtime", "--live-lookahead", "2500"], "--live-lookahead 2500: the look-ahead must be 0–2000 ms"),
        ("faces.mp4", &["--live-lookahead", "100"], "--realtime"),
    ];
    for (input, args, cause) in cases {
        let output = dir.path().join(if input.ends_with(".png") { "out.png" } else { "out.mp4" });
        let run = run_veilcam(&sample(input), &output, args);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(!run.status.success(), "{args:?} was accepted");
        assert!(stderr.contains(cause), "{args:?}: {stderr}");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "{args:?} left a file");
    }
}

/// Regression: live, frames used to queue for a busy detector (up to four in line). With a
/// slow detector every queued look came back after its frame's deadline, so the frames
/// between looks had no recent look to lean on and nearly every frame left obscured whole —
/// three cameras on two cores showed 75 % obscured. A look now starts at once or not at all.
#[test]
fn a_slow_detector_in_real_time_skips_looks_instead_of_queueing_them_late() {
    let _turn = in_turn();
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("out.mp4");
    // Each look takes 150 ms more; two workers look at about 12 of the 25 frames a second.
    let run = redact_with_slow_detector(&output, &["--realtime", "400", "--workers", "2"], 150);
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{err}");
    let count = |what: &str| summary_count(&err, what);
    // The looks the busy detector could not start are skipped, not queued (a queue skips none).
    let skipped = count(" without a look of their own");
    assert!(skipped >= 40, "only {skipped} of 100 frames went without a look of their own: looks were queued\n{err}");
    // Idle, 20 frames left obscured on session 26's host and 26–37 on session 35's slower one
    // (a look every 2.5 frames cannot keep every frame within twice the cadence of its last
    // look); a fresh-clone CI there measured 43, and beside another real-time run on two cores
    // up to 58 (hence `in_turn`). Queued looks obscured about 75.
    let obscured = count(" fully obscured");
    assert!(obscured <= 55, "{obscured} of 100 frames obscured whole: looks queued behind a busy detector came back late\n{err}");
    if obscured > 0 {
        assert_eq!(count(" with a look late or failed") + count(" with no look close enough"), obscured, "the causes add up: {err}");
    }
    assert_eq!(decode_gray(&output).len(), 100);
}

/// The number just before `what` in a run's summary line; 0 where the summary does not name
/// it (it names each count only when it is not zero).
fn summary_count(err: &str, what: &str) -> u64 {
    match err.find(what) {
        None => 0,
        Some(end) => {
            let head = &err[..end];
            let start = head.rfind(|c: char| !c.is_ascii_digit()).map_or(0, |i| i + 1);
            head[start..].parse().unwrap_or_else(|_| panic!("no count before '{what}' in the summary: {err}"))
        }
    }
}

/// Regression: a live camera had no look-ahead, so a face showed on every frame before the
/// first look that found it (a walker coming into view, a face turning to the camera): the
/// harness's walkers leaked 38–53 of 250 frames live where files, a second ahead, leak few.
/// Decided frames are now held back for `live.lookahead_ms` (200 ms, 5 frames at 25 fps) and
/// a face found later is masked on them too (back-filled), never further back than that.
#[test]
fn a_rehearsal_masks_faces_on_the_frames_before_their_first_detection_within_the_look_ahead() {
    let _turn = in_turn();
    let (backfilled, first_detected) = rehearsal_back_fill(&[]);
    assert!(!backfilled.is_empty(), "no frame before a first detection was masked");
    // The look-ahead in frames, as the pipeline counts it at the clip's 25 fps.
    let reach = (DEFAULT_LOOKAHEAD_MS as f64 / 1000.0 * 25.0).round() as u64;
    for (id, index) in backfilled {
        let first = first_detected[&id];
        assert!(index < first && first - index <= reach, "track {id} back-filled at frame {index}, first detected at {first}, beyond {reach} frames");
    }
}

/// `--live-lookahead` rehearses a camera's own `live.lookahead_ms`: with 0, as a camera that
/// holds no frame back, no frame before a face's first detection is masked for it.
#[test]
fn a_rehearsal_rehearses_the_live_look_ahead_it_is_given() {
    let _turn = in_turn();
    let (backfilled, _) = rehearsal_back_fill(&["--live-lookahead", "0"]);
    assert_eq!(backfilled, [], "back-filled (track, frame) with no look-ahead");
}

/// Rehearses `faces.mp4` with `args` and reads its sidecar: the (track, frame) of each
/// back-filled box, and the frame each track was first detected in.
fn rehearsal_back_fill(args: &[&str]) -> (Vec<(u64, u64)>, std::collections::BTreeMap<u64, u64>) {
    let dir = tempfile::tempdir().unwrap();
    let (output, sidecar) = (dir.path().join("out.mp4"), dir.path().join("out.json"));
    let mut all = vec!["--realtime", "--preset", "ultrafast", "--sidecar", sidecar.to_str().unwrap()];
    all.extend(args);
    redact_ok(&sample("faces.mp4"), &output, &all);
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&sidecar).unwrap()).unwrap();
    let mut first_detected = std::collections::BTreeMap::new();
    let mut backfilled = Vec::new();
    for frame in json["frames"].as_array().unwrap() {
        let index = frame["index"].as_u64().unwrap();
        for track in frame["tracks"].as_array().unwrap() {
            let id = track["track"].as_u64().unwrap();
            match track["origin"].as_str().unwrap() {
                "detected" => {
                    first_detected.entry(id).or_insert(index);
                }
                "backfilled" => backfilled.push((id, index)),
                _ => {}
            }
        }
    }
    (backfilled, first_detected)
}

/// Found by hostile use: played live at 320×180, 15 fps, faces.mp4's smallest face (12×17 px)
/// showed on the first frames, on every camera connection: the first look, with no earlier
/// picture to compare with, cannot look closer for small faces, and the face was found 267 ms
/// in (600 ms in this clip), past the 200 ms look-ahead. The first second now leaves obscured
/// whole; every frame of the clip must show no face uncovered.
#[test]
fn the_first_frames_of_a_stream_show_no_face_before_a_look_could_look_for_small_ones() {
    let _turn = in_turn();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("small.mp4");
    let (_, truth) = make_faces_clip(&ClipSpec::new(30, 320, 180, Timing::Fps(15, 1), &format!("{X264_FAST} ! mp4mux")), &input);
    let (output, sidecar) = (dir.path().join("out.mp4"), dir.path().join("out.json"));
    redact_ok(&input, &output, &["--realtime", "--preset", "ultrafast", "--sidecar", sidecar.to_str().unwrap()]);
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&sidecar).unwrap()).unwrap();
    for (frame, faces) in json["frames"].as_array().unwrap().iter().zip(&truth) {
        if frame["fully_obscured"].as_bool() == Some(true) {
            continue;
        }
        let covered = |f: &FaceBox| {
            let (cx, cy) = ((f.x1 + f.x2) / 2.0, (f.y1 + f.y2) / 2.0);
            frame["obscured"].as_array().unwrap().iter().any(|o| {
                let b = &o["box"];
                b["x1"].as_f64().unwrap() <= cx && cx <= b["x2"].as_f64().unwrap() && b["y1"].as_f64().unwrap() <= cy && cy <= b["y2"].as_f64().unwrap()
            })
        };
        let shown: Vec<u64> = faces.iter().filter(|f| !covered(f)).map(|f| f.id).collect();
        assert!(shown.is_empty(), "frame {}: faces {shown:?} of {faces:?} left uncovered: {}", frame["index"], frame["obscured"]);
    }
}
