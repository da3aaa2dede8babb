//! Redaction: obscuring regions of a picture so they cannot be recovered.
//!
//! A [`Region`] is a box in source pixels with a [`Shape`]; [`redact`] fills every region in
//! every plane with the chosen [`FillMode`]. `solid` and the coarse `mosaic` are irreversible;
//! `blur` is strong but, like any blur, weaker than the other two.

pub mod fill;

use serde::Serialize;

use crate::frame::PictureMut;
use crate::geometry::BBox;

/// How a region is obscured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum FillMode {
    /// Opaque black: nothing of the region survives.
    Solid,
    /// Coarse blocks (about six across a region, at least 8 px): colours survive, identity does not.
    Mosaic,
    /// Strong box blur (three passes). Weaker than solid or mosaic: blurs can be partly undone.
    Blur,
}

/// The outline of an obscured region inside its box.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Shape {
    Ellipse,
    Box,
}

/// One area to obscure, in source pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Region {
    pub bbox: BBox,
    pub shape: Shape,
}

/// Obscures every region of `pic` with `mode`.
pub fn redact(pic: &mut PictureMut<'_>, regions: &[Region], mode: FillMode) {
    let (w, h) = (pic.width as f32, pic.height as f32);
    for region in regions {
        let clipped = region.bbox.clamped(w, h);
        if clipped.is_empty() {
            continue;
        }
        for plane in &mut pic.planes {
            let area = fill::PlaneArea::new(plane, &region.bbox, region.shape);
            if let Some(area) = area {
                match mode {
                    FillMode::Solid => fill::solid(plane, &area),
                    FillMode::Mosaic => fill::mosaic(plane, &area, mosaic_block(&region.bbox)),
                    FillMode::Blur => fill::blur(plane, &area, blur_radius(&region.bbox)),
                }
            }
        }
    }
}

/// Obscures the whole picture: what a stage does when it cannot vouch for a frame.
pub fn obscure_all(pic: &mut PictureMut<'_>) {
    let whole = Region { bbox: BBox::new(0.0, 0.0, pic.width as f32, pic.height as f32), shape: Shape::Box };
    redact(pic, &[whole], FillMode::Solid);
}

/// Blocks across a region in mosaic mode.
pub const MOSAIC_BLOCKS_ACROSS: f32 = 6.0;
/// Smallest mosaic block, in luma pixels.
pub const MOSAIC_MIN_BLOCK: usize = 8;

/// Mosaic block edge in luma pixels for a region.
pub fn mosaic_block(b: &BBox) -> usize {
    ((b.width().max(b.height()) / MOSAIC_BLOCKS_ACROSS).ceil() as usize).max(MOSAIC_MIN_BLOCK)
}

/// Box-blur radius in luma pixels for a region: a quarter of its smaller side, at least 4.
pub fn blur_radius(b: &BBox) -> usize {
    ((b.width().min(b.height()) / 4.0).round() as usize).max(4)
}
