//! End to end at settings other than the defaults, and the look-ahead's back-fill: real
//! footage through the real CLI, checked pixel by pixel against ground truth that does not
//! come from veilcam (`sample_media/faces.json`, made from the compositing geometry).
//!
//! Every test decodes the output and checks every ground-truth face in every frame with the
//! face-detail measure of `tests/common` ([`surviving_detail`]; limits per fill from
//! tests/redaction.rs), and that the background away from the faces is kept.

mod common;

use std::path::{Path, PathBuf};

use common::*;

const W: usize = FACES_W;
const H: usize = FACES_H;

/// Speed is the encoder's business elsewhere. One encoder thread: the same pixels on every run,
/// so a face near a limit passes or fails the same way each time.
const ENCODE_FAST: &[&str] = &["--preset", "ultrafast", "--encoder-threads", "1"];

/// faces.mp4's luma and faces.json's boxes, frame by frame.
fn faces_input() -> (Vec<Vec<u8>>, Vec<Vec<FaceBox>>) {
    let truth: Vec<Vec<FaceBox>> = faces_truth().into_iter().map(|(_, faces)| faces).collect();
    let input = decode_gray(&sample("faces.mp4"));
    assert_eq!(input.len(), truth.len());
    (input, truth)
}

/// Redacts `input` into `dir` with `--preset ultrafast` and `args`; returns the output path.
fn redact(dir: &Path, input: &Path, name: &str, args: &[&str]) -> PathBuf {
    let output = dir.join(name);
    let args: Vec<&str> = ENCODE_FAST.iter().chain(args).copied().collect();
    redact_ok(input, &output, &args);
    output
}

/// Redacts faces.mp4 with `args` and checks every face of every frame against `max_kept`, and
/// the background outside the face boxes grown by `keep_out`.
fn faces_gone_background_kept(what: &str, args: &[&str], max_kept: Kept, keep_out: f64) {
    let dir = tempfile::tempdir().unwrap();
    let output = redact(dir.path(), &sample("faces.mp4"), "out.mp4", args);
    let (input, truth) = faces_input();
    let checks = check_frames(&input, &output, &truth, W, H, keep_out);
    assert_faces_gone_background_kept(what, &checks, max_kept, None);
}

// ---------------------------------------------------------------------------------------------
// Non-default settings
// ---------------------------------------------------------------------------------------------

#[test]
fn solid_boxes_remove_every_face_and_keep_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let output = redact(dir.path(), &sample("faces.mp4"), "out.mp4", &["--fill", "solid", "--shape", "box"]);
    let (input, truth) = faces_input();
    let checks = check_frames(&input, &output, &truth, W, H, 2.0);
    assert_faces_gone_background_kept("solid boxes", &checks, Kept::Gain(SOLID_MAX_GAIN), Some(SOLID_MAX_ENERGY));
}

#[test]
fn a_doubled_mask_scale_removes_every_face_and_keeps_the_background() {
    // Masks twice the detected box reach beyond the tight face box grown 2× (detected boxes
    // are a little larger than faces.json's); the background is judged outside 3×.
    faces_gone_background_kept("--mask-scale 2", &["--mask-scale", "2"], Kept::Correlation(MOSAIC_MAX_KEPT), 3.0);
}

#[test]
fn one_worker_removes_every_face_and_keeps_the_background() {
    faces_gone_background_kept("--workers 1", &["--workers", "1"], Kept::Correlation(MOSAIC_MAX_KEPT), 2.0);
}

/// Face height, in pixels of the detector's input, from which a face must be found at a
/// reduced `--detect-width`.
const MIN_FACE_AT_DETECTION: f64 = 20.0;

#[test]
fn detecting_at_320_px_wide_removes_every_face_of_20_px_there_and_keeps_the_background() {
    // Boxes found on a 320-px-wide copy are mapped back to 1280 px: a wrong scale or offset
    // would leave every face uncovered. Faces below MIN_FACE_AT_DETECTION there are not
    // promised (`--detect-width`: "larger finds smaller faces"): faces.json's face 2 enters at
    // 70 px, 17.5 px at 320, and is first found with boxes that cover only part of it, so its
    // first 12 frames keep up to 0.60 of its detail (see the issue #10 report).
    let dir = tempfile::tempdir().unwrap();
    let output = redact(dir.path(), &sample("faces.mp4"), "out.mp4", &["--detect-width", "320"]);
    let (input, truth) = faces_input();
    let scale = 320.0 / W as f64;
    let big_enough: Vec<Vec<FaceBox>> = truth
        .iter()
        .map(|faces| faces.iter().filter(|f| (f.y2 - f.y1) * scale >= MIN_FACE_AT_DETECTION).copied().collect())
        .collect();
    let checked: usize = big_enough.iter().map(Vec::len).sum();
    assert!(checked >= 200, "only {checked} faces are large enough to check");
    let mut checks = check_frames(&input, &output, &truth, W, H, 2.0);
    for (check, faces) in checks.iter_mut().zip(&big_enough) {
        // The background check keeps out every face; the face check covers the large ones.
        check.faces.retain(|f| faces.iter().any(|b| b.id == f.id));
    }
    assert_faces_gone_background_kept("--detect-width 320", &checks, Kept::Correlation(MOSAIC_MAX_KEPT), None);
}

/// A camera's resolution must not decide which faces are found: the same street (vtest.avi's
/// first 60 frames, cropped to 16:9) at its own 768 × 432 and upscaled five times to 4K gives
/// about the same face detections. With the fixed 640 px global pass of session 34's default,
/// a 4K copy was looked at at 1/6 and gave 22 detections against the clip's 284 (its moving
/// regions are far more than the closer look's budget); `--detect-width auto` looks at it at
/// 1280 px, and at 640 px beside.
///
/// Both copies are cropped to 16:9 first: scaled into a 16:9 frame with square pixels, vtest's
/// 4:3 picture gets black borders (videoscale's `add-borders`) and faces 3.75 times as large,
/// a different picture.
#[test]
fn a_4k_copy_of_a_clip_gives_about_the_face_detections_of_the_clip() {
    let dir = tempfile::tempdir().unwrap();
    let native = face_detections(dir.path(), "native", "videocrop top=72 bottom=72 !");
    let in_4k = face_detections(dir.path(), "4k", "videocrop top=72 bottom=72 ! videoscale ! video/x-raw,width=3840,height=2160,pixel-aspect-ratio=1/1 !");
    assert!(native >= 150, "only {native} face detections in the clip itself");
    assert!(in_4k * 10 >= native * 7, "{in_4k} face detections in the 4K copy against {native} in the clip");
}

/// The same street filmed with more pixels has larger faces, and larger moving regions: vtest.avi
/// at its own 4:3 and scaled to 1440 × 1080, 1920 × 1440 and 2880 × 2160 (1.875, 2.5 and 3.75
/// times as large) gives about the clip's face detections. With every moving region enlarged 2×
/// for the closer look the walkers, 150–200 px tall at 1920 × 1440, took its budget a few at a
/// time, and the first two copies gave 129 and 87 detections against 267 (48 and 33 %);
/// enlarged by their height (`detect::enlargement`), 240 and 196 against 257 (93 and 76 %). At
/// 2880 × 2160 the walkers' tiles still took turns, 174 against 264 (66 %), until the budget
/// grew with the picture (`detect::closer_budget`): 247 (94 %), and 236 at 1920 × 1440.
#[test]
fn a_copy_of_a_busy_street_with_more_pixels_gives_about_the_face_detections_of_the_clip() {
    let dir = tempfile::tempdir().unwrap();
    let native = face_detections(dir.path(), "native", "");
    assert!(native >= 150, "only {native} face detections in the clip itself");
    for (w, h, percent) in [(1440, 1080, 80), (1920, 1440, 80), (2880, 2160, 80)] {
        let name = format!("{w}x{h}");
        let larger = face_detections(dir.path(), &name, &format!("videoscale ! video/x-raw,width={w},height={h},pixel-aspect-ratio=1/1 !"));
        assert!(larger * 100 >= native * percent, "{larger} face detections at {name} against {native} in the clip (< {percent} %)");
    }
}

/// Face detections on the first 55 frames of vtest.avi passed through `filter` (gst-launch
/// syntax ending in `!`, or empty) and redacted at the defaults.
fn face_detections(dir: &Path, name: &str, filter: &str) -> usize {
    // `eos-after` ends the stream at the 60th frame or the 59th (its EOS races the last frame):
    // the detections are counted on the first 55.
    const COUNTED: usize = 55;
    let clip = dir.join(format!("{name}.mp4"));
    // One encoder thread: the same clip on every run.
    transcode(&sample("vtest.avi"), &format!("identity eos-after=60 ! {filter} {X264_FAST} threads=1 ! mp4mux"), &clip);
    let sidecar = dir.join(format!("{name}.json"));
    redact(dir, &clip, &format!("{name}.redacted.mp4"), &["--sidecar", sidecar.to_str().unwrap()]);
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&sidecar).unwrap()).unwrap();
    let frames = json["frames"].as_array().unwrap();
    assert!(frames.len() >= COUNTED, "{name}: {} frames", frames.len());
    frames[..COUNTED].iter().flat_map(|f| f["detections"].as_array().unwrap()).filter(|d| d["class"] == "face").count()
}

#[test]
fn detecting_every_third_frame_hides_faces_on_the_frames_between_looks() {
    let dir = tempfile::tempdir().unwrap();
    let sidecar = dir.path().join("out.json");
    let output =
        redact(dir.path(), &sample("faces.mp4"), "out.mp4", &["--detect-every", "3", "--sidecar", sidecar.to_str().unwrap()]);
    // The setting took effect: the face detector looked at every third frame only, so two
    // frames in three are covered by the tracker (and where something appeared where nothing
    // moved lately, a glance, whose finds the sidecar lists apart: `glanced`).
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&sidecar).unwrap()).unwrap();
    let looked: Vec<usize> = json["frames"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .filter(|(_, f)| !f["detections"].as_array().unwrap().is_empty())
        .map(|(i, _)| i)
        .collect();
    assert!(looked.len() >= 30, "the detector ran on only {} frames", looked.len());
    assert!(looked.iter().all(|i| i % 3 == 0), "detections outside every third frame: {looked:?}");

    let (input, truth) = faces_input();
    let checks = check_frames(&input, &output, &truth, W, H, 2.0);
    assert_faces_gone_background_kept("--detect-every 3", &checks, Kept::Correlation(MOSAIC_MAX_KEPT), None);
    let between = checks.iter().enumerate().filter(|(i, _)| !looked.contains(i)).count();
    assert!(between >= 60, "only {between} frames between looks were checked");
}

// ---------------------------------------------------------------------------------------------
// Back-fill
// ---------------------------------------------------------------------------------------------

/// Frames of the fade-in clip.
const FADE_FRAMES: usize = 30;

/// Contrast of fade-in frame `i`, as a share of the original's: 3 % at first, plus 1 % a
/// frame. CenterFace first finds face 0 at 9 % and face 1 at 13 % (frames 6 and 10).
fn fade_gain(i: usize) -> f64 {
    (0.03 + 0.01 * i as f64).min(1.0)
}

/// The first frames of faces.mp4 fading in from near black (someone stepping out of the dark
/// towards a doorbell camera), encoded nearly losslessly so that the dim faces keep their
/// detail. Returns the clip and its luma.
fn fade_in_clip(dir: &Path) -> (PathBuf, Vec<Vec<u8>>) {
    let mut frames = source_frames(&sample("faces.mp4"), FADE_FRAMES, W as u32, H as u32);
    frames.edit(|i, f| {
        let g = fade_gain(i);
        for p in f.y.iter_mut() {
            *p = (16.0 + (*p as f64 - 16.0) * g).round() as u8;
        }
        for p in f.u.iter_mut().chain(f.v.iter_mut()) {
            *p = (128.0 + (*p as f64 - 128.0) * g).round() as u8;
        }
    });
    let clip = dir.join("fade-in.mp4");
    encode_frames(
        &frames,
        &Timing::Fps(25, 1),
        "x264enc speed-preset=ultrafast key-int-max=30 pass=qual quantizer=10 ! mp4mux",
        "",
        &clip,
    );
    let luma = decode_gray(&clip);
    assert_eq!(luma.len(), FADE_FRAMES);
    (clip, luma)
}

/// A face that shows: above every fill's limit. Left unmasked, the dim faces of the fade-in
/// keep 0.3–0.45 of their detail at 4–7 % contrast and more as it rises.
const SHOWN: f64 = 0.3;

/// Faces of the fade-in clip the back-fill test checks. Face 2 (49×70 px) is first found in
/// dim light with a box that covers only part of it, and the back-filled masks copy that
/// box: at defaults its first frames keep 0.2–0.36 of its detail (see the issue #10 report).
const FADE_FACES: [u64; 2] = [0, 1];

#[test]
fn a_face_first_detected_late_is_hidden_in_the_frames_before_its_first_detection() {
    let dir = tempfile::tempdir().unwrap();
    let (clip, input) = fade_in_clip(dir.path());
    let truth: Vec<Vec<FaceBox>> = faces_truth_scaled(FADE_FRAMES, 1.0)
        .into_iter()
        .map(|faces| faces.into_iter().filter(|f| FADE_FACES.contains(&f.id)).collect())
        .collect();

    // The fade-in's first frames are nearly grey, and local contrast (on for grey pictures by
    // default) finds their dim faces at once; without it they are found late, which is what
    // this test needs.
    const LATE: [&str; 2] = ["--local-contrast", "off"];
    // Control: without look-ahead, each face shows in the first frames (the detector finds it
    // only later), so this clip does test the back-fill.
    let live = redact(dir.path(), &clip, "live.mp4", &[&LATE[..], &["--lookahead", "0"]].concat());
    let live = check_frames(&input, &live, &truth, W, H, 2.0);
    for id in FADE_FACES {
        let shown: Vec<usize> =
            live.iter().flat_map(|c| &c.faces).filter(|f| f.id == id && f.kept > SHOWN).map(|f| f.frame).collect();
        assert!(
            shown.len() >= 3 && shown.iter().all(|&i| i < 20),
            "face {id} should show in 3 or more of the first frames without look-ahead, showed in {shown:?}"
        );
    }

    // With the default look-ahead, the frames before the first detection are masked too.
    let output = redact(dir.path(), &clip, "out.mp4", &LATE);
    let checks = check_frames(&input, &output, &truth, W, H, 2.0);
    assert_faces_gone_background_kept("fade-in, default look-ahead", &checks, Kept::Correlation(MOSAIC_MAX_KEPT), None);
}
