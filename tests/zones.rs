//! Street zones and `veilcam zones preview`, end to end with the real binary, the real face
//! model and `sample_media/astronaut.png` (512×512, one face). Regression tests are named after
//! the bug they pin down (issue #10, items 11, 16 and 6).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::*;
use image::RgbImage;
use veilcam::detect::{Class, Plan};
use veilcam::frame::{Layout, Picture};
use veilcam::settings::RedactSettings;

/// A square in the middle of the frame, listed twice over.
const SQUARE_TWICE: &str = "[[0.25, 0.25], [0.75, 0.25], [0.75, 0.75], [0.25, 0.75], \
                            [0.25, 0.25], [0.75, 0.25], [0.75, 0.75], [0.25, 0.75]]";
/// A five-pointed star in one stroke: its outline crosses itself around the centre.
const PENTAGRAM: &str = "[[0.5, 0.0], [0.79, 0.9], [0.02, 0.35], [0.98, 0.35], [0.21, 0.9]]";

fn write_config(dir: &Path, zones: &[(&str, &str, &str)]) -> PathBuf {
    let mut text = String::from("[cameras.door]\n");
    for (name, kind, coordinates) in zones {
        text += &format!("[cameras.door.zones.{name}]\nkind = \"{kind}\"\ncoordinates = {coordinates}\n");
    }
    let path = dir.join("veilcam.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn veilcam(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_veilcam")).args(args).output().expect("veilcam binary runs")
}

fn succeeded(out: &Output, what: &str) {
    assert!(out.status.success(), "{what} failed ({}):\n{}", out.status, String::from_utf8_lossy(&out.stderr));
}

fn png(path: &Path) -> RgbImage {
    image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).to_rgb8()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Redacts astronaut.png with a config; returns the output image.
fn redact_with(dir: &Path, config: &Path, extra: &[&str]) -> RgbImage {
    let (input, out) = (sample("astronaut.png"), dir.join("redacted.png"));
    let mut args = vec!["-q", "redact", s(&input), "-o", s(&out), "--config", s(config)];
    args.extend_from_slice(extra);
    succeeded(&veilcam(&args), "veilcam redact");
    png(&out)
}

/// Pixels (x, y) of a 512×512 frame whose centre is inside `inside` (relative coordinates).
fn pixels_where(inside: impl Fn(f64, f64) -> bool) -> Vec<(u32, u32)> {
    (0..512u32).flat_map(|y| (0..512u32).map(move |x| (x, y))).filter(|&(x, y)| inside((x as f64 + 0.5) / 512.0, (y as f64 + 0.5) / 512.0)).collect()
}

#[test]
fn regression_street_zone_listed_twice_masked_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &[("street", "street", SQUARE_TWICE)]);
    let img = redact_with(dir.path(), &config, &["--fill", "solid"]);
    let square = pixels_where(|x, y| (0.25..0.75).contains(&x) && (0.25..0.75).contains(&y));
    assert_eq!(square.len(), 256 * 256);
    let open: Vec<_> = square.iter().filter(|&&(x, y)| img.get_pixel(x, y).0 != [0, 0, 0]).collect();
    assert!(open.is_empty(), "{} of the square's pixels are not black, e.g. {:?}", open.len(), &open[..open.len().min(5)]);
}

#[test]
fn regression_pentagram_street_zone_left_its_centre_open() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &[("street", "street", PENTAGRAM)]);
    let img = redact_with(dir.path(), &config, &["--fill", "solid"]);
    // The inner pentagon, wound around twice: a disc of radius 30 px around the centre.
    let centre = pixels_where(|x, y| (x - 0.5).powi(2) + (y - 0.5).powi(2) < (30.0f64 / 512.0).powi(2));
    let open: Vec<_> = centre.iter().filter(|&&(x, y)| img.get_pixel(x, y).0 != [0, 0, 0]).collect();
    assert!(open.is_empty(), "{} pixels around the centre are not black, e.g. {:?}", open.len(), &open[..open.len().min(5)]);
    // The top and left points of the star, wound around once.
    for (x, y) in [(256, 40), (60, 185)] {
        assert_eq!(img.get_pixel(x, y).0, [0, 0, 0], "pixel ({x},{y}) inside the star is not black");
    }
    assert_ne!(img.get_pixel(5, 500).0, [0, 0, 0], "outside the star");
}

#[test]
fn regression_zero_area_street_zone_was_accepted() {
    let dir = tempfile::tempdir().unwrap();
    for (i, coordinates) in ["[[0.1, 0.1], [0.5, 0.5], [0.9, 0.9]]", "[[0.2, 0.2], [0.8, 0.2], [0.2, 0.2], [0.8, 0.2]]"].iter().enumerate() {
        let config = write_config(dir.path(), &[("kerb", "street", coordinates)]);
        let out = dir.path().join(format!("out{i}.png"));
        let run = veilcam(&["-q", "redact", s(&sample("astronaut.png")), "-o", s(&out), "--config", s(&config)]);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(!run.status.success(), "{coordinates}: a zone enclosing no area was accepted");
        assert!(stderr.contains("cameras.door.zones.kerb") && stderr.contains("encloses no area"), "{coordinates}: {stderr}");
        assert!(!out.exists(), "no output after a config error");
    }
}

/// The face the real detector finds in astronaut.png.
fn astronaut_face() -> (u32, u32, u32, u32) {
    let img = png(&sample("astronaut.png"));
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut detectors = RedactSettings::for_preview(None).unwrap().detectors(veilcam::settings::PersonLoad::Never).unwrap();
    let pic = Picture::from_planes(Layout::Rgb, w, h, [(img.as_raw().as_slice(), w * 3)]);
    let found = detectors.run(&pic, &Plan::single(&pic, false)).unwrap();
    let face = found.iter().find(|d| d.class == Class::Face).expect("astronaut.png has a face");
    let b = face.bbox;
    (b.x1 as u32, b.y1 as u32, b.x2 as u32, b.y2 as u32)
}

/// The middle half of a box (clear of the outline drawn on its edge).
fn inner(b: (u32, u32, u32, u32)) -> Vec<(u32, u32)> {
    let (dx, dy) = ((b.2 - b.0) / 4, (b.3 - b.1) / 4);
    (b.1 + dy..b.3 - dy).flat_map(|y| (b.0 + dx..b.2 - dx).map(move |x| (x, y))).collect()
}

fn mean_diff(a: &RgbImage, b: &RgbImage, pixels: &[(u32, u32)]) -> f64 {
    let sum: u64 = pixels
        .iter()
        .flat_map(|&(x, y)| (0..3).map(move |c| (a.get_pixel(x, y).0[c] as i64 - b.get_pixel(x, y).0[c] as i64).unsigned_abs()))
        .sum();
    sum as f64 / (pixels.len() * 3) as f64
}

fn preview(dir: &Path, config: &Path, name: &str, extra: &[&str]) -> (Output, PathBuf) {
    let (input, out) = (sample("astronaut.png"), dir.join(name));
    let mut args = vec!["zones", "preview", "--config", s(config), s(&input), "-o", s(&out)];
    args.extend_from_slice(extra);
    let run = veilcam(&args);
    (run, out)
}

#[test]
fn regression_zones_preview_wrote_the_unredacted_frame() {
    let dir = tempfile::tempdir().unwrap();
    // No zones: nothing is tinted, so without --detections the preview is exactly the frame.
    let config = write_config(dir.path(), &[]);
    let input = png(&sample("astronaut.png"));
    let redacted = redact_with(dir.path(), &config, &[]);
    let face = inner(astronaut_face());
    assert!(mean_diff(&input, &redacted, &face) > 10.0, "redact obscures the face");

    let (run, plain) = preview(dir.path(), &config, "plain.png", &[]);
    succeeded(&run, "zones preview");
    assert!(png(&plain) == redacted, "without --detections the preview is the redacted frame, pixel for pixel");

    let (run, drawn) = preview(dir.path(), &config, "drawn.png", &["--detections"]);
    succeeded(&run, "zones preview --detections");
    let drawn = png(&drawn);
    assert_eq!(mean_diff(&drawn, &redacted, &face), 0.0, "inside the outline the face is as redacted");
    assert!(mean_diff(&drawn, &input, &face) > 10.0, "the face is not shown as filmed");
}

#[test]
fn zones_preview_unredacted_shows_the_raw_frame_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &[]);
    let (run, raw) = preview(dir.path(), &config, "raw.png", &["--unredacted"]);
    succeeded(&run, "zones preview --unredacted");
    assert!(png(&raw) == png(&sample("astronaut.png")), "--unredacted draws on the raw frame");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("UNREDACTED"), "the user is warned: {stderr}");
}

#[test]
fn zones_preview_blacks_out_street_zones_under_the_tint() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &[("street", "street", SQUARE_TWICE)]);
    let (run, out) = preview(dir.path(), &config, "street.png", &[]);
    succeeded(&run, "zones preview");
    // Black tinted red: (0·3 + 230·2) / 5 = 92, (40·2) / 5 = 16.
    assert_eq!(png(&out).get_pixel(300, 300).0, [92, 16, 16]);
}

/// Found by hostile use: `-o p.jpg` and `-o p.mp4` got PNG data under those names.
#[test]
fn a_zones_preview_named_other_than_png_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &[("street", "street", SQUARE_TWICE)]);
    for name in ["p.jpg", "p.mp4", "p"] {
        let (run, out) = preview(dir.path(), &config, name, &[]);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(!run.status.success(), "-o {name} was accepted");
        assert!(stderr.contains(name) && stderr.contains("name it .png"), "{stderr}");
        assert!(!out.exists());
    }
    assert!(dir_entries(dir.path()).iter().all(|n| !n.starts_with(".p")), "no temp file is left");
}

#[test]
fn regression_zones_preview_overwrote_its_input() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &[("street", "street", SQUARE_TWICE)]);
    let input = dir.path().join("in.png");
    std::fs::copy(sample("astronaut.png"), &input).unwrap();
    let original = std::fs::read(&input).unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::os::unix::fs::symlink(&input, dir.path().join("link.png")).unwrap();
    let same = [input.clone(), dir.path().join("sub/../in.png"), dir.path().join("link.png")];
    for output in &same {
        for extra in [&[][..], &["--unredacted"][..]] {
            let mut args = vec!["zones", "preview", "--config", s(&config), s(&input), "-o", s(output), "--overwrite"];
            args.extend_from_slice(extra);
            let run = veilcam(&args);
            let stderr = String::from_utf8_lossy(&run.stderr);
            assert!(!run.status.success(), "-o {} {extra:?} was accepted", output.display());
            assert!(stderr.contains("is the input file"), "{stderr}");
            assert_eq!(std::fs::read(&input).unwrap(), original, "-o {}: the input was changed", output.display());
        }
    }
    assert!(std::fs::symlink_metadata(dir.path().join("link.png")).unwrap().file_type().is_symlink(), "the link is kept");
}
