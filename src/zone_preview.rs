//! `veilcam zones preview`: one frame of a clip with the camera's zones drawn on, and optionally
//! what the detectors find in it, so a user can place zone coordinates.
//!
//! Street zones are tinted red, property zones green; faces are outlined yellow, bystanders
//! red and persons on the property green.
//!
//! The frame is **redacted** before anything is drawn on it, as `veilcam redact` would redact
//! that frame as a still image: faces and bystanders obscured by the camera's policy with the
//! default fill, street zones blacked out. The detectors therefore always run for a redacted
//! preview (fail closed: no detector, no preview). Only [`Look::Unredacted`] (the
//! `--unredacted` flag) draws on the raw frame, and then the PNG shows every face as filmed.
//!
//! [`command`] is the `veilcam zones preview` command: the flags, and the lines it prints.

use std::path::{Path, PathBuf};

use image::{Rgb, RgbImage};

use crate::cli::ZonesPreviewArgs;
use crate::config::{self, Camera, ZoneKind};
use crate::detect::preprocess::is_grey;
use crate::detect::{Class, DetectorSet, Plan};
use crate::error::{Error, Result};
use crate::frame::{Layout, Picture, PictureMut};
use crate::geometry::BBox;
use crate::output::{ensure_distinct, AtomicOutput};
use crate::policy::Policy;
use crate::redact::{FillMode, Shape};
use crate::settings::{media_kind, MediaKind, PersonLoad, RedactSettings};
use crate::source::file::FileSource;
use crate::source::FrameSource;
use crate::track::TrackedBox;
use crate::zones::ZoneMask;

const RED: [u8; 3] = [230, 40, 40];
const GREEN: [u8; 3] = [40, 210, 70];
const YELLOW: [u8; 3] = [250, 220, 30];

/// What the zones are drawn on.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Look {
    /// The frame as `redact` would write it: the camera's policy with this fill.
    Redacted { fill: FillMode, shape: Shape, mask_scale: f32 },
    /// The raw frame, faces and all (`--unredacted`).
    Unredacted,
}

/// What to draw, and where.
pub struct ZonePreview<'a> {
    pub camera: &'a Camera,
    pub input: &'a Path,
    pub output: PathBuf,
    pub frame: u64,
    pub overwrite: bool,
    pub look: Look,
    /// Outline what the detectors found.
    pub draw_detections: bool,
}

/// `veilcam zones preview`: writes the preview of `args`; warns when it is unredacted and,
/// unless `quiet`, says what was drawn where.
pub fn command(args: &ZonesPreviewArgs, quiet: bool) -> Result<()> {
    let camera = config::load_camera(&args.config, args.camera.as_deref())?;
    // A redacted preview needs the detectors whatever is drawn: fail closed.
    let settings = (args.detections || !args.unredacted).then(|| RedactSettings::for_preview(args.ort_lib.as_deref())).transpose()?;
    let detectors = settings.as_ref().map(|s| s.detectors(PersonLoad::for_needs(args.detections || camera.needs_persons(), false))).transpose()?;
    let look = match &settings {
        Some(s) if !args.unredacted => Look::Redacted { fill: s.fill, shape: s.shape, mask_scale: s.mask_scale },
        _ => Look::Unredacted,
    };
    let preview = ZonePreview {
        camera: &camera,
        input: &args.input,
        output: args.output.clone(),
        frame: args.frame,
        overwrite: args.overwrite,
        look,
        draw_detections: args.detections,
    };
    let drawn = write(&preview, detectors)?;
    if args.unredacted {
        say!("veilcam: warning: {} shows the UNREDACTED frame: faces are visible in it", args.output.display());
    }
    if !quiet {
        let what = if args.unredacted { "the unredacted frame" } else { "the redacted frame" };
        say!("veilcam: zones of camera '{}' drawn on {what} in {} ({} detections)", camera.name, args.output.display(), drawn);
    }
    Ok(())
}

/// Writes the preview; returns the number of detections found. A redacted preview needs
/// `detectors`; without them it is an error and nothing is written.
pub fn write(p: &ZonePreview<'_>, detectors: Option<DetectorSet>) -> Result<usize> {
    ensure_distinct(p.input, &p.output)?;
    crate::output::check_extension(&p.output, "png", "a zones preview is a PNG image")?;
    if matches!(p.look, Look::Redacted { .. }) && detectors.is_none() {
        return Err(Error::Settings("a redacted zones preview needs the face detector".into()));
    }
    if p.draw_detections && detectors.is_none() {
        return Err(Error::Settings("drawing detections needs the detectors".into()));
    }
    let output = AtomicOutput::prepare(&p.output, p.overwrite)?;
    let mut img = load_frame(p.input, p.frame)?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    let boxes: Vec<TrackedBox> = match detectors {
        Some(mut set) => {
            let pic = Picture::from_planes(Layout::Rgb, w, h, [(img.as_raw().as_slice(), w * 3)]);
            let found = set.run(&pic, &Plan::single(&pic, set.person.is_some())).map_err(|message| Error::Detect { frame: p.frame, message })?;
            found.iter().enumerate().map(|(i, d)| TrackedBox::detected(i as u64, d)).collect()
        }
        None => Vec::new(),
    };
    let policy = match p.look {
        Look::Redacted { fill, shape, mask_scale } => {
            let mut policy = Policy::new(Some(p.camera.clone()), mask_scale, shape, fill);
            let data: &mut [u8] = &mut img;
            let mut pic = PictureMut::from_planes(Layout::Rgb, w, h, [(data, w * 3)]);
            let grey = is_grey(&pic.as_picture());
            policy.apply(&mut pic, 0, &boxes, grey);
            policy
        }
        Look::Unredacted => Policy::new(Some(p.camera.clone()), 1.0, Shape::Box, FillMode::Solid),
    };
    tint(&mut img, &ZoneMask::new(p.camera, ZoneKind::Street, w, h), RED);
    tint(&mut img, &ZoneMask::new(p.camera, ZoneKind::Property, w, h), GREEN);
    for zone in &p.camera.zones {
        let colour = if zone.kind == ZoneKind::Street { RED } else { GREEN };
        let pts: Vec<(f64, f64)> = zone.polygon.iter().map(|&(x, y)| (x * w as f64, y * h as f64)).collect();
        for i in 0..pts.len() {
            line(&mut img, pts[i], pts[(i + 1) % pts.len()], colour);
        }
    }
    if p.draw_detections {
        for b in &boxes {
            let colour = match b.class {
                Class::Face => YELLOW,
                Class::Person if policy.is_bystander(b, w, h) => RED,
                Class::Person => GREEN,
            };
            rectangle(&mut img, &b.bbox, colour);
        }
    }
    img.save_with_format(output.temp_path(), image::ImageFormat::Png)
        .map_err(|e| Error::Image { path: p.output.clone(), message: e.to_string() })?;
    output.commit()?;
    Ok(boxes.len())
}

/// Frame `index` of a video (or the image itself) as RGB.
fn load_frame(input: &Path, index: u64) -> Result<RgbImage> {
    if media_kind(input) == MediaKind::Image {
        if index > 0 {
            // Found by hostile use: `--frame 3` of a photo drew on the photo without a word.
            return Err(Error::Settings(format!("--frame {index}: {} is an image, which has frame 0 only", crate::one_line_path(input))));
        }
        // As `redact` decodes it: upright, within its limits, the same coordinates.
        return crate::still::decode(input);
    }
    let mut source = FileSource::open(input)?;
    loop {
        let frame = source.next_frame()?.ok_or_else(|| Error::Decode {
            path: input.to_path_buf(),
            message: format!("has no frame {index}"),
        })?;
        if frame.index == index {
            let (w, h) = (frame.width(), frame.height());
            return frame.with_picture(|pic| {
                RgbImage::from_fn(w as u32, h as u32, |x, y| Rgb(pic.rgb_at(x as usize, y as usize)))
            });
        }
    }
}

fn tint(img: &mut RgbImage, mask: &ZoneMask, colour: [u8; 3]) {
    for y in 0..mask.height {
        for &(a, b) in mask.spans(y) {
            for x in a..b {
                let px = img.get_pixel_mut(x as u32, y as u32);
                for (value, &tint) in px.0.iter_mut().zip(&colour) {
                    *value = ((*value as u16 * 3 + tint as u16 * 2) / 5) as u8;
                }
            }
        }
    }
}

fn line(img: &mut RgbImage, a: (f64, f64), b: (f64, f64), colour: [u8; 3]) {
    let steps = ((b.0 - a.0).abs().max((b.1 - a.1).abs()).ceil() as usize).max(1);
    for i in 0..=steps {
        let t = i as f64 / steps as f64;
        let (x, y) = (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t);
        for (dx, dy) in [(0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0)] {
            put(img, x + dx, y + dy, colour);
        }
    }
}

fn rectangle(img: &mut RgbImage, b: &BBox, colour: [u8; 3]) {
    let (x1, y1, x2, y2) = (b.x1 as f64, b.y1 as f64, b.x2 as f64, b.y2 as f64);
    for (p, q) in [((x1, y1), (x2, y1)), ((x2, y1), (x2, y2)), ((x2, y2), (x1, y2)), ((x1, y2), (x1, y1))] {
        line(img, p, q, colour);
    }
}

fn put(img: &mut RgbImage, x: f64, y: f64, colour: [u8; 3]) {
    if x >= 0.0 && y >= 0.0 && (x as u32) < img.width() && (y as u32) < img.height() {
        img.put_pixel(x as u32, y as u32, Rgb(colour));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PolicyConfig;

    #[test]
    fn a_redacted_preview_without_detectors_is_an_error_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let camera = Camera { name: "c".into(), zones: Vec::new(), policy: PolicyConfig::default() };
        let input = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_media/astronaut.png");
        let output = dir.path().join("preview.png");
        let look = Look::Redacted { fill: FillMode::Mosaic, shape: Shape::Ellipse, mask_scale: 1.4 };
        let preview = ZonePreview { camera: &camera, input: &input, output: output.clone(), frame: 0, overwrite: false, look, draw_detections: false };
        let err = write(&preview, None).expect_err("no detectors, no redacted preview");
        assert!(err.to_string().contains("face detector"), "{err}");
        assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none(), "nothing written");
    }

    #[test]
    fn a_frame_past_the_first_of_an_image_is_an_error() {
        let input = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_media/astronaut.png");
        assert!(load_frame(&input, 0).is_ok());
        let err = load_frame(&input, 3).unwrap_err().to_string();
        assert!(err.contains("--frame 3") && err.contains("which has frame 0 only"), "{err}");
    }
}
