//! Masks that look like masks: on the README demo (`sample_media/faces.mp4` through the real
//! CLI and the real detector), every mask in the sidecar stays face-shaped and bounded against
//! what its own track's detector found, and a track found once with a weak score is not held
//! for a second. Regression tests for issue #13 item 4: back-filled and held boxes had become
//! bars (470×63 px reaching the left edge; 649×103 px with `--detect-every 1`), and a single
//! detection at score 0.26 was shown for 51 frames.
//!
//! Coverage of the faces themselves (fail closed) is checked pixel by pixel in
//! `tests/redaction.rs` and `tests/end_to_end.rs`; the harness (`veilcam-eval`) measures the
//! same bounds on its clips (mask ÷ face area, widest mask).

mod common;

use std::collections::HashMap;

use common::*;

/// Harness target (issue #13): no mask wider than 3× its track's detected width.
const MAX_TIMES_DETECTED: f64 = 3.0;
/// Over a whole track a face turns and changes shape, so the bound on a mask's aspect against
/// the track's median detected aspect is looser here than the tracker's own ×/÷ 1.5 against
/// its recent detections.
const MAX_ASPECT_CHANGE: f64 = 2.0;

struct Mask {
    frame: u64,
    track: u64,
    origin: String,
    score: f64,
    w: f64,
    h: f64,
    x1: f64,
    /// For a detected mask: the size of its detection (the tracker grows the box around it).
    detected: Option<(f64, f64)>,
    /// For a track's old path, kept when the track jumped: that track.
    left_by: Option<u64>,
}

/// Runs the demo with `args` and returns every face mask of its sidecar.
fn demo_masks(args: &[&str]) -> Vec<Mask> {
    let dir = tempfile::tempdir().unwrap();
    let sidecar = dir.path().join("out.json");
    let mut all = vec!["--preset", "ultrafast", "--sidecar", sidecar.to_str().unwrap()];
    all.extend_from_slice(args);
    redact_ok(&sample("faces.mp4"), &dir.path().join("out.mp4"), &all);
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&sidecar).unwrap()).unwrap();
    let mut masks = Vec::new();
    for f in json["frames"].as_array().unwrap() {
        let detections: Vec<[f64; 4]> = f["detections"].as_array().unwrap().iter().filter(|d| d["class"] == "face").map(corners).collect();
        for m in f["tracks"].as_array().unwrap().iter().filter(|m| m["class"] == "face") {
            let b = |k: &str| m["box"][k].as_f64().unwrap();
            let c = corners(m);
            // The detected mask is grown about its detection's centre.
            let detected = (m["origin"] == "detected")
                .then(|| detections.iter().find(|d| (d[0] + d[2] - c[0] - c[2]).abs() < 1.0 && (d[1] + d[3] - c[1] - c[3]).abs() < 1.0))
                .flatten()
                .map(|d| (d[2] - d[0], d[3] - d[1]));
            masks.push(Mask {
                detected,
                left_by: m["left_by"].as_u64(),
                frame: f["index"].as_u64().unwrap(),
                track: m["track"].as_u64().unwrap(),
                origin: m["origin"].as_str().unwrap().to_string(),
                score: m["score"].as_f64().unwrap(),
                w: b("x2") - b("x1"),
                h: b("y2") - b("y1"),
                x1: b("x1"),
            });
        }
    }
    assert!(masks.len() > 300, "only {} masks", masks.len());
    masks
}

fn corners(v: &serde_json::Value) -> [f64; 4] {
    ["x1", "y1", "x2", "y2"].map(|k| v["box"][k].as_f64().unwrap())
}

/// Per track: median width, height and width/height of its detections.
fn detected_shapes(masks: &[Mask]) -> HashMap<u64, (f64, f64, f64)> {
    let mut sizes: HashMap<u64, Vec<(f64, f64)>> = HashMap::new();
    for m in masks.iter().filter(|m| m.origin == "detected") {
        sizes.entry(m.track).or_default().push(m.detected.expect("a detected mask has its detection"));
    }
    sizes
        .into_iter()
        .map(|(t, s)| {
            let w = median(s.iter().map(|s| s.0).collect());
            let h = median(s.iter().map(|s| s.1).collect());
            let a = median(s.iter().map(|s| s.0 / s.1).collect());
            (t, (w, h, a))
        })
        .collect()
}

fn assert_masks_face_shaped_and_bounded(what: &str, masks: &[Mask]) {
    let shapes = detected_shapes(masks);
    let mut bad = Vec::new();
    for m in masks {
        // An old path left behind by a jumping track is bounded by that track's detections
        // until it is found again itself.
        let Some(&(dw, dh, da)) = shapes.get(&m.track).or_else(|| m.left_by.and_then(|t| shapes.get(&t))) else {
            bad.push(format!("frame {} track {} {}: no detection of its own or of a track it was left by", m.frame, m.track, m.origin));
            continue;
        };
        let a = m.w / m.h;
        // A bar is a box grown out of shape; one the size of a detection or smaller is not.
        let grown = m.w * m.h > dw * dh;
        let out_of_shape = grown && (a > da * MAX_ASPECT_CHANGE || a < da / MAX_ASPECT_CHANGE);
        if m.w > MAX_TIMES_DETECTED * dw || m.h > MAX_TIMES_DETECTED * dh || out_of_shape {
            bad.push(format!(
                "frame {} track {} {}: {:.0}×{:.0} at x {:.0} (detected {dw:.0}×{dh:.0}, aspect {da:.2})",
                m.frame, m.track, m.origin, m.w, m.h, m.x1
            ));
        }
    }
    assert!(bad.is_empty(), "{what}: {} masks out of shape or bounds:\n{}", bad.len(), bad.join("\n"));
}

/// Tracks found exactly once with a score below 0.5, and in how many frames each was held.
fn weak_single_hits(masks: &[Mask]) -> Vec<(u64, usize)> {
    let mut per_track: HashMap<u64, (usize, usize, f64)> = HashMap::new();
    for m in masks {
        let e = per_track.entry(m.track).or_insert((0, 0, 0.0));
        e.0 += (m.origin == "held") as usize;
        if m.origin == "detected" {
            e.1 += 1;
            e.2 = m.score;
        }
    }
    per_track.into_iter().filter(|(_, (_, d, s))| *d == 1 && *s < 0.5).map(|(t, (n, _, _))| (t, n)).collect()
}

#[test]
fn regression_demo_masks_stay_face_shaped_and_bounded() {
    let masks = demo_masks(&[]);
    assert_masks_face_shaped_and_bounded("defaults", &masks);
    // Demo track 13, frames 49–55: a back-filled 470×63 bar from x = −73.
    let bars: Vec<String> = masks
        .iter()
        .filter(|m| m.x1 < 10.0 && m.w > 300.0)
        .map(|m| format!("frame {} track {}: {:.0}×{:.0}", m.frame, m.track, m.w, m.h))
        .collect();
    assert!(bars.is_empty(), "bars at the left edge: {bars:?}");
}

#[test]
fn regression_demo_masks_detecting_every_frame_do_not_grow_into_bars() {
    // With `--detect-every 1`, a held track reached 649×103 px across the right half.
    let masks = demo_masks(&["--detect-every", "1"]);
    assert_masks_face_shaped_and_bounded("--detect-every 1", &masks);
    let widest = masks.iter().map(|m| m.w).fold(0.0, f64::max);
    // The largest face in the demo is about 250 px wide near its end.
    assert!(widest < 400.0, "widest mask {widest:.0} px");
}

#[test]
fn regression_demo_weak_single_hits_are_not_phantoms_for_a_second() {
    // Demo track 12: found once at score 0.26, back-filled and then held for 25 frames (1 s).
    // A weak single hit is held for 0.2 s: 5 frames at 25 fps. (Its back-fill stays: a face
    // entering the picture is often first found with a weak score.)
    let masks = demo_masks(&[]);
    let hits = weak_single_hits(&masks);
    assert!(!hits.is_empty(), "the demo has weak single hits (background heads): none found");
    let long: Vec<_> = hits.iter().filter(|(_, n)| *n > 5).collect();
    assert!(long.is_empty(), "weak single hits held too long (track, frames): {long:?}");
}
