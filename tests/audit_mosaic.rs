//! `veilcam audit` and veilcam's own mosaic: a small mosaicked face in a night picture can look
//! like a face to CenterFace (a few equalised blocks: dark eyes, lighter cheeks), and the audit
//! then reported the mosaic as a face left visible. Hits on a mosaic fill are set aside; a real
//! face in the same place is still reported. Real model, real ONNX Runtime, real photograph
//! (sample_media/astronaut.png) through the real mosaic fill.

use std::path::Path;

use veilcam::audit::{mosaic_likeness, AuditSettings, Auditor, Hit, DEFAULT_THRESHOLD, MOSAIC_LIKENESS};
use veilcam::detect::centerface::LocalContrast;
use veilcam::detect::runtime::locate_library;
use veilcam::frame::{Layout, Picture, PictureMut};
use veilcam::geometry::BBox;
use veilcam::redact::{redact, FillMode, Region, Shape};

/// The astronaut's face in astronaut.png (512×512; CenterFace reference box).
const ASTRONAUT_FACE: BBox = BBox { x1: 181.53, y1: 58.20, x2: 269.88, y2: 177.81 };
const CANVAS_W: usize = 1024;
const CANVAS_H: usize = 576;
/// Where the scaled photograph sits on the canvas.
const AT: (u32, u32) = (300, 100);

/// A `CANVAS_W`×`CANVAS_H` RGB picture: the astronaut scaled by `scale` on a grey background;
/// at `night`, grey and flat (luma 40..100), as an infrared camera sees it. Returns the pixels
/// and where the face is.
fn scene(scale: f32, night: bool) -> (Vec<u8>, BBox) {
    let photo = image::open(Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_media/astronaut.png")).expect("astronaut.png").to_rgb8();
    let side = (512.0 * scale) as u32;
    let small = image::imageops::resize(&photo, side, side, image::imageops::FilterType::Triangle);
    let mut canvas = image::RgbImage::from_pixel(CANVAS_W as u32, CANVAS_H as u32, image::Rgb([90, 90, 90]));
    image::imageops::overlay(&mut canvas, &small, AT.0 as i64, AT.1 as i64);
    if night {
        for p in canvas.pixels_mut() {
            let luma = (77 * p[0] as u32 + 150 * p[1] as u32 + 29 * p[2] as u32) >> 8;
            let v = (40 + luma * 60 / 255) as u8;
            *p = image::Rgb([v, v, v]);
        }
    }
    let (ox, oy) = (AT.0 as f32, AT.1 as f32);
    let face = BBox::new(ox + ASTRONAUT_FACE.x1 * scale, oy + ASTRONAUT_FACE.y1 * scale, ox + ASTRONAUT_FACE.x2 * scale, oy + ASTRONAUT_FACE.y2 * scale);
    (canvas.into_raw(), face)
}

/// Obscures `face` as redaction does by default: veilcam's mosaic over an ellipse 1.3× the box.
fn mosaicked(mut pixels: Vec<u8>, face: &BBox) -> Vec<u8> {
    let mut pic = PictureMut::from_planes(Layout::Rgb, CANVAS_W, CANVAS_H, [(&mut pixels[..], CANVAS_W * 3)]);
    redact(&mut pic, &[Region { bbox: face.scaled(1.3), shape: Shape::Ellipse }], FillMode::Mosaic);
    pixels
}

fn picture(pixels: &[u8]) -> Picture<'_> {
    Picture::from_planes(Layout::Rgb, CANVAS_W, CANVAS_H, [(pixels, CANVAS_W * 3)])
}

fn auditor() -> Auditor {
    let settings = AuditSettings {
        model: veilcam::models::locate(veilcam::models::FLOAT_FACE_MODEL, None).expect("the float CenterFace model"),
        ort_lib: locate_library(None),
        threshold: DEFAULT_THRESHOLD,
        local_contrast: LocalContrast::Auto,
        // A still picture: nothing moves.
        moving: false,
        closer: false,
        ort_threads: 1,
        follow: Some(Default::default()),
        hits_from: None,
        around: true,
        recheck: false,
        // It looks only where the picture moves.
        second_model: None,
        second_threshold: veilcam::audit::SECOND_THRESHOLD,
        sidecar: None,
    };
    Auditor::new(&settings, CANVAS_W).expect("the audit's detector loads")
}

fn on(face: &BBox, hits: &[Hit]) -> Vec<Hit> {
    hits.iter()
        .copied()
        .filter(|h| {
            let (cx, cy) = h.bbox.center();
            cx >= face.x1 && cx <= face.x2 && cy >= face.y1 && cy <= face.y2
        })
        .collect()
}

/// Regression (issue #13, night mosaic control of the harness): 4 findings were hits of 0.54–0.63
/// on mosaicked faces of about 20 px, at night. The astronaut's face at 23 px, grey and flat,
/// mosaicked as redaction does, scores 0.58 with the audit's detector; it was reported as a face
/// left visible. It is now set aside as a mosaic, and the same face unmosaicked is still found.
#[test]
fn a_small_mosaicked_night_face_that_centerface_takes_for_a_face_is_not_a_finding() {
    let mut auditor = auditor();
    let (plain, face) = scene(0.26, true);
    let covered = mosaicked(plain.clone(), &face);

    let hits = auditor.frame(&picture(&covered), 0).unwrap();
    let on_mosaic = on(&face, &hits.mosaics);
    // The premise: the detector does take this mosaic for a face, above the audit's threshold.
    assert!(on_mosaic.iter().any(|h| h.score >= DEFAULT_THRESHOLD), "the mosaic should score as a face: {hits:?}");
    assert!(on(&face, &hits.faces).is_empty(), "a mosaic was reported as a visible face: {hits:?}");

    let hits = auditor.frame(&picture(&plain), 1).unwrap();
    assert!(!on(&face, &hits.faces).is_empty(), "the unmosaicked face must still be found: {hits:?}");
    assert!(on(&face, &hits.mosaics).is_empty(), "a real face was set aside as a mosaic: {hits:?}");
}

/// The measure itself, over face sizes from 16 to 120 px, by day and by night: the real face
/// stays well below [`MOSAIC_LIKENESS`], veilcam's mosaic of it well above.
#[test]
fn mosaic_likeness_separates_a_face_from_its_mosaic_at_every_size() {
    for night in [false, true] {
        for scale in [0.18f32, 0.25, 0.35, 0.5, 0.75, 1.0] {
            let (plain, face) = scene(scale, night);
            let covered = mosaicked(plain.clone(), &face);
            let real = mosaic_likeness(&picture(&plain), &face);
            let mosaic = mosaic_likeness(&picture(&covered), &face);
            let size = face.width().round();
            assert!(real < MOSAIC_LIKENESS - 0.1, "{size} px face (night {night}) looks like a mosaic: {real:.2}");
            assert!(mosaic >= MOSAIC_LIKENESS, "{size} px mosaic (night {night}) not recognised: {mosaic:.2}");
        }
    }
}
