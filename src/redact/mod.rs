//! Redaction: obscuring regions of a picture so they cannot be recovered.
//!
//! A [`Region`] is a box in source pixels with a [`Shape`]; [`redact`] fills every region in
//! every plane with the chosen [`FillMode`]. `solid` and the coarse `mosaic` are irreversible;
//! `blur` is strong but, like any blur, weaker than the other two.

pub mod fill;

use serde::{Deserialize, Serialize};

use crate::frame::PictureMut;
use crate::geometry::BBox;

/// How a region is obscured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
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

impl Region {
    /// Whether the point `(x, y)` (a pixel's centre is at +0.5) lies in the region: inside its
    /// box and, for an ellipse, inside the ellipse inscribed in the box.
    pub fn contains(&self, x: f32, y: f32) -> bool {
        let r = &self.bbox;
        let inside_box = x >= r.x1 && x < r.x2 && y >= r.y1 && y < r.y2;
        match self.shape {
            Shape::Box => inside_box,
            Shape::Ellipse => {
                let (cx, cy) = r.center();
                let (dx, dy) = ((x - cx) / (r.width() / 2.0).max(1e-3), (y - cy) / (r.height() / 2.0).max(1e-3));
                inside_box && dx * dx + dy * dy <= 1.0
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Layout;

    /// A 40×30 I420 picture with stride padding filled with 0xEE (must never change) and a
    /// checkerboard in luma.
    struct TestPicture {
        y: Vec<u8>,
        u: Vec<u8>,
        v: Vec<u8>,
    }

    const W: usize = 40;
    const H: usize = 30;
    const YS: usize = 48;
    const CS: usize = 24;

    impl TestPicture {
        fn new() -> Self {
            let mut y = vec![0xEE; YS * H];
            for r in 0..H {
                for c in 0..W {
                    y[r * YS + c] = if (r + c) % 2 == 0 { 200 } else { 40 };
                }
            }
            let mut u = vec![0xEE; CS * H / 2];
            let mut v = vec![0xEE; CS * H / 2];
            for r in 0..H / 2 {
                for c in 0..W / 2 {
                    u[r * CS + c] = 90 + c as u8;
                    v[r * CS + c] = 160;
                }
            }
            TestPicture { y, u, v }
        }

        fn redact(&mut self, regions: &[Region], mode: FillMode) {
            let mut pic = PictureMut::from_planes(
                Layout::I420,
                W,
                H,
                [(&mut self.y[..], YS), (&mut self.u[..], CS), (&mut self.v[..], CS)],
            );
            redact(&mut pic, regions, mode);
        }

        fn luma(&self, x: usize, y: usize) -> u8 {
            self.y[y * YS + x]
        }

        fn padding_untouched(&self) -> bool {
            (0..H).all(|r| self.y[r * YS + W..(r + 1) * YS].iter().all(|&b| b == 0xEE))
                && (0..H / 2).all(|r| self.u[r * CS + W / 2..(r + 1) * CS].iter().all(|&b| b == 0xEE))
        }
    }

    fn boxed(x1: f32, y1: f32, x2: f32, y2: f32) -> Region {
        Region { bbox: BBox::new(x1, y1, x2, y2), shape: Shape::Box }
    }

    #[test]
    fn solid_fill_blackens_the_box_in_every_plane_and_nothing_else() {
        let mut p = TestPicture::new();
        let before = TestPicture::new();
        p.redact(&[boxed(4.0, 6.0, 20.0, 18.0)], FillMode::Solid);
        for y in 0..H {
            for x in 0..W {
                let inside = (4..20).contains(&x) && (6..18).contains(&y);
                if inside {
                    assert_eq!(p.luma(x, y), 16, "({x},{y})");
                } else {
                    assert_eq!(p.luma(x, y), before.luma(x, y), "({x},{y}) outside changed");
                }
            }
        }
        assert_eq!(p.u[3 * CS + 2], 128);
        assert_eq!(p.v[8 * CS + 9], 128);
        assert!(p.padding_untouched());
    }

    #[test]
    fn an_odd_box_covers_every_chroma_sample_it_touches() {
        let mut p = TestPicture::new();
        // Luma x 5..8 touches chroma columns 2 and 3.
        p.redact(&[boxed(5.0, 5.0, 8.0, 8.0)], FillMode::Solid);
        for (cx, cy) in [(2, 2), (3, 3), (2, 3), (3, 2)] {
            assert_eq!(p.u[cy * CS + cx], 128, "chroma ({cx},{cy})");
        }
        assert_ne!(p.u[2 * CS + 4], 128);
    }

    #[test]
    fn mosaic_makes_each_block_uniform_and_removes_the_checkerboard() {
        let mut p = TestPicture::new();
        p.redact(&[boxed(0.0, 0.0, 32.0, 24.0)], FillMode::Mosaic);
        // Block edge is 8 px (the minimum); a checkerboard block averages to 120.
        for y in 0..24 {
            for x in 0..32 {
                assert_eq!(p.luma(x, y), 120, "({x},{y})");
            }
        }
        assert_eq!(p.luma(33, 0), 40, "outside the region the picture is untouched");
        assert!(p.padding_untouched());
    }

    #[test]
    fn blur_flattens_fine_detail() {
        let mut p = TestPicture::new();
        p.redact(&[boxed(0.0, 0.0, 40.0, 30.0)], FillMode::Blur);
        let max_step = (1..W).map(|x| (p.luma(x, 15) as i32 - p.luma(x - 1, 15) as i32).abs()).max().unwrap();
        assert!(max_step <= 4, "checkerboard steps of 160 should be blurred away, got {max_step}");
        assert!(p.padding_untouched());
    }

    #[test]
    fn ellipse_leaves_the_box_corners_and_covers_the_centre() {
        let mut p = TestPicture::new();
        let before = TestPicture::new();
        p.redact(&[Region { bbox: BBox::new(0.0, 0.0, 40.0, 30.0), shape: Shape::Ellipse }], FillMode::Solid);
        assert_eq!(p.luma(20, 15), 16);
        assert_eq!(p.luma(0, 0), before.luma(0, 0));
        assert_eq!(p.luma(39, 29), before.luma(39, 29));
    }

    #[test]
    fn regions_partly_outside_the_picture_are_clipped() {
        let mut p = TestPicture::new();
        p.redact(&[boxed(-10.0, -10.0, 5.0, 5.0), boxed(35.0, 25.0, 60.0, 60.0)], FillMode::Solid);
        assert_eq!(p.luma(0, 0), 16);
        assert_eq!(p.luma(39, 29), 16);
        assert!(p.padding_untouched());
    }

    #[test]
    fn obscure_all_leaves_no_original_pixel() {
        let mut p = TestPicture::new();
        let mut pic = PictureMut::from_planes(Layout::I420, W, H, [(&mut p.y[..], YS), (&mut p.u[..], CS), (&mut p.v[..], CS)]);
        obscure_all(&mut pic);
        assert!((0..H).all(|y| (0..W).all(|x| p.luma(x, y) == 16)));
        assert!(p.padding_untouched());
    }
}
