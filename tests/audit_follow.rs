//! `veilcam audit` follows a face it found into the frames around its hits: the detector sees a
//! face in some frames of a run and misses it in the others, though it is the same visible
//! face (issue #13: the audit found 16 of 17 leaking faces of a weakened run but only 69 % of
//! their frames). Following must stop where the face gets mosaicked. Real model, real ONNX
//! Runtime, a real photograph (sample_media/astronaut.png) through real H.264.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use gstreamer as gst;
use gstreamer_video as gst_video;
use veilcam::frame::{Layout, PictureMut};
use veilcam::geometry::BBox;
use veilcam::redact::{redact, FillMode, Region, Shape};

const W: usize = 640;
const H: usize = 360;
/// The astronaut's face in astronaut.png (512×512; CenterFace reference box).
const ASTRONAUT_FACE: BBox = BBox { x1: 181.53, y1: 58.20, x2: 269.88, y2: 177.81 };
/// How the photograph is scaled (its face is then about 44×60 px).
const SCALE: f32 = 0.5;
/// How much a blurred frame's face is blurred (Gaussian sigma, px): the audit's detector misses
/// the face in most such frames; a person, and its likeness to the frames beside, do not.
const BLUR: f32 = 5.0;

/// What a frame shows of the face.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Seen {
    Plain,
    Blurred,
    Mosaicked,
}

/// Frame `i`: the astronaut walking right 2 px a frame over a grey background, shown as `seen`.
/// Returns the RGB pixels and the face's box.
fn frame(i: usize, seen: Seen) -> (Vec<u8>, BBox) {
    let photo = image::open(Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_media/astronaut.png")).expect("astronaut.png").to_rgb8();
    let side = (512.0 * SCALE) as u32;
    let mut small = image::imageops::resize(&photo, side, side, image::imageops::FilterType::Triangle);
    if seen == Seen::Blurred {
        // The face only (its box grown 1.4×), as a moment of motion blur or lost focus.
        let f = ASTRONAUT_FACE.scaled(1.4);
        let (x1, y1, x2, y2) = ((f.x1 * SCALE) as u32, (f.y1 * SCALE) as u32, (f.x2 * SCALE) as u32, (f.y2 * SCALE) as u32);
        let blurred = image::imageops::blur(&image::imageops::crop_imm(&small, x1, y1, x2 - x1, y2 - y1).to_image(), BLUR);
        image::imageops::replace(&mut small, &blurred, x1 as i64, y1 as i64);
    }
    let (ox, oy) = (150.0 + 2.0 * i as f32, 60.0);
    let mut canvas = image::RgbImage::from_pixel(W as u32, H as u32, image::Rgb([110, 110, 110]));
    image::imageops::overlay(&mut canvas, &small, ox as i64, oy as i64);
    let face = BBox::new(ox + ASTRONAUT_FACE.x1 * SCALE, oy + ASTRONAUT_FACE.y1 * SCALE, ox + ASTRONAUT_FACE.x2 * SCALE, oy + ASTRONAUT_FACE.y2 * SCALE);
    let mut pixels = canvas.into_raw();
    if seen == Seen::Mosaicked {
        // As redaction obscures a face by default: veilcam's mosaic over an ellipse 1.3× the box.
        let mut pic = PictureMut::from_planes(Layout::Rgb, W, H, [(&mut pixels[..], W * 3)]);
        redact(&mut pic, &[Region { bbox: face.scaled(1.3), shape: Shape::Ellipse }], FillMode::Mosaic);
    }
    (pixels, face)
}

/// Encodes one frame per entry of `script` (25 fps H.264) and returns each frame's face box.
fn clip(script: &[Seen], out: &Path) -> Vec<BBox> {
    init();
    let info = gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgb, W as u32, H as u32).fps(gst::Fraction::new(25, 1)).build().unwrap();
    let mut faces = Vec::new();
    let mut buffers = Vec::new();
    for (i, &seen) in script.iter().enumerate() {
        let (pixels, face) = frame(i, seen);
        // RGB rows of 640 px are 1920 bytes, a multiple of 4: no row padding.
        assert_eq!(info.stride()[0] as usize, W * 3);
        buffers.push(gst::Buffer::from_mut_slice(pixels));
        faces.push(face);
    }
    let src = SourceFrames { info, buffers };
    encode_frames(&src, &Timing::Fps(25, 1), "x264enc speed-preset=ultrafast qp-max=20 key-int-max=30 threads=1 ! mp4mux", "", out);
    faces
}

/// Audits `input`; the frames where a hit (of a finding) is centred on the face, and by which
/// look each was seen.
fn frames_with_the_face(input: &Path, faces: &[BBox], extra: &[&str]) -> Vec<Option<String>> {
    let json = input.with_extension("json");
    // VEILCAM_TEST_BIN: run against another build (e.g. one from before following).
    let bin = std::env::var_os("VEILCAM_TEST_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_veilcam").into());
    let out = Command::new(bin).args(["-q", "audit"]).arg(input).arg("--json").arg(&json).arg("--overwrite").args(extra).output().unwrap();
    assert!(matches!(out.status.code(), Some(0) | Some(4)), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let mut seen = vec![None; faces.len()];
    for hit in report["findings"].as_array().unwrap().iter().flat_map(|f| f["hits"].as_array().unwrap()) {
        let i = hit["frame"].as_u64().unwrap() as usize;
        let b = &hit["box"];
        let cx = (b["x1"].as_f64().unwrap() + b["x2"].as_f64().unwrap()) / 2.0;
        let cy = (b["y1"].as_f64().unwrap() + b["y2"].as_f64().unwrap()) / 2.0;
        let f = &faces[i];
        if cx >= f.x1 as f64 && cx <= f.x2 as f64 && cy >= f.y1 as f64 && cy <= f.y2 as f64 {
            let look = hit["look"].as_str().unwrap().to_string();
            if seen[i].as_deref() != Some("frame") && seen[i].as_deref() != Some("moving") {
                seen[i] = Some(look);
            }
        }
    }
    seen
}

fn script(parts: &[(Seen, usize)]) -> Vec<Seen> {
    parts.iter().flat_map(|&(s, n)| std::iter::repeat_n(s, n)).collect()
}

/// A compact picture of which frames had the face: D detected, f followed, a around, . none.
fn strip(seen: &[Option<String>]) -> String {
    seen.iter().map(|s| match s.as_deref() { None => '.', Some("followed") => 'f', Some("around") => 'a', Some(_) => 'D' }).collect()
}

/// Regression (issue #13): the audit listed a visible face only in the frames where its
/// detector fired (frames 6–11 and 24–29 here, and a few others), not in the blurred frames
/// before, between and after, where the same face is plainly there. It now follows each
/// finding's face forward and backward from its hits and lists (nearly) every frame.
#[test]
fn audit_lists_the_frames_between_hits_where_the_detector_misses_the_face() {
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("blurred.mp4");
    let s = script(&[(Seen::Blurred, 6), (Seen::Plain, 6), (Seen::Blurred, 12), (Seen::Plain, 6)]);
    let faces = clip(&s, &video);
    let plain = frames_with_the_face(&video, &faces, &["--no-follow"]);
    // The premise: the detector misses the blurred face in many frames.
    let missed = plain.iter().filter(|p| p.is_none()).count();
    assert!(missed >= 8, "the detector should miss the blurred face: {}", strip(&plain));
    let followed = frames_with_the_face(&video, &faces, &[]);
    let still_missed = followed.iter().filter(|p| p.is_none()).count();
    assert!(still_missed <= 2, "every frame shows the face: {} (without following: {})", strip(&followed), strip(&plain));
    assert!(followed.iter().any(|p| p.as_deref() == Some("followed")), "{}", strip(&followed));
}

/// Following stops at the frame where the face gets mosaicked: a mosaic keeps the face's coarse
/// light and shade, so a face followed by likeness alone would walk onto it.
#[test]
fn audit_follows_a_face_up_to_the_frame_it_gets_mosaicked_and_no_further() {
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("masked.mp4");
    let s = script(&[(Seen::Plain, 6), (Seen::Blurred, 6), (Seen::Mosaicked, 18)]);
    let faces = clip(&s, &video);
    let seen = frames_with_the_face(&video, &faces, &[]);
    assert!(seen[..12].iter().filter(|s| s.is_none()).count() <= 1, "the face is visible in frames 0-11: {}", strip(&seen));
    assert!(seen[12..].iter().all(|s| s.is_none()), "a mosaic was listed as a face: {}", strip(&seen));
}

/// Issue #13 item 3: in the frames after a hit where the audit's own looks miss the face (here
/// blurred), a second, closer look at a lower score around the finding's last box finds it.
/// Following is off, so this measures the look around alone.
#[test]
fn audit_looks_again_closer_around_a_finding_where_its_face_was_lost() {
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("lost.mp4");
    let s = script(&[(Seen::Plain, 6), (Seen::Blurred, 12), (Seen::Plain, 6)]);
    let faces = clip(&s, &video);
    let without = frames_with_the_face(&video, &faces, &["--no-follow", "--no-around"]);
    let missed = without.iter().filter(|p| p.is_none()).count();
    assert!(missed >= 8, "the detector should miss the blurred face: {}", strip(&without));
    let with = frames_with_the_face(&video, &faces, &["--no-follow"]);
    let still = with.iter().filter(|p| p.is_none()).count();
    assert!(still + 3 <= missed, "the look around should find the lost face: {} (without it: {})", strip(&with), strip(&without));
    assert!(with.iter().any(|p| p.as_deref() == Some("around")), "{}", strip(&with));
}
