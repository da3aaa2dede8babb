//! Telling a mosaic fill from a face: how much a box's luma steps lie on a grid of square blocks.

use super::findings::BRIEF_MOSAIC;
use super::{Hit, Look};
use crate::frame::Picture;
use crate::geometry::BBox;

/// Smallest block of veilcam's mosaic, in pixels (`redact::MOSAIC_MIN_BLOCK`).
const MOSAIC_MIN_PERIOD: usize = crate::redact::MOSAIC_MIN_BLOCK;
/// A hit whose [`mosaic_likeness`] reaches this is on a mosaic fill (veilcam's own, or any
/// other of square blocks), not on a visible face: it is set aside, not reported. Measured on
/// the harness's clips (seed 1, boxes of 16 px and more): mosaicked faces 0.68–0.97, visible
/// faces 0.26–0.47.
pub const MOSAIC_LIKENESS: f32 = 0.6;

/// Whether `h` is on a mosaic fill ([`MOSAIC_LIKENESS`]): set aside, not a face. The second
/// model's hits already when somewhat blocky ([`BRIEF_MOSAIC`]): it finds the shape of a head,
/// and a small mosaicked face (3×3 blocks) keeps it.
pub(super) fn on_mosaic(h: &Hit) -> bool {
    h.mosaic >= MOSAIC_LIKENESS || (h.look == Look::Second && h.mosaic >= BRIEF_MOSAIC)
}

/// The luma of the pixels of `b` (clamped to the picture), row by row, and its size.
pub(super) fn luma_of(pic: &Picture<'_>, b: &BBox) -> (Vec<i32>, usize, usize) {
    let (x0, y0, x1, y1) = b.pixels(pic.width, pic.height);
    let (w, h) = (x1.saturating_sub(x0), y1.saturating_sub(y0));
    let mut out = Vec::with_capacity(w * h);
    for y in y0..y1 {
        match pic.layout {
            crate::frame::Layout::I420 => out.extend(pic.planes[0].row(y)[x0..x1].iter().map(|&v| v as i32)),
            crate::frame::Layout::Rgb => out.extend(pic.planes[0].row(y)[x0 * 3..x1 * 3].chunks_exact(3).map(|p| (77 * p[0] as i32 + 150 * p[1] as i32 + 29 * p[2] as i32) >> 8)),
        }
    }
    (out, w, h)
}

/// The largest share of `energy` (one value per gap between neighbouring columns or rows) that
/// falls on a regular grid of some period from [`MOSAIC_MIN_PERIOD`] up, counting each grid line
/// with the gap after it (a block edge that compression smeared over two gaps).
fn grid_share(energy: &[f64]) -> f64 {
    let total: f64 = energy.iter().sum();
    if total <= 0.0 {
        return 1.0;
    }
    let n = energy.len();
    let mut best: f64 = 0.0;
    for period in MOSAIC_MIN_PERIOD..=n.max(MOSAIC_MIN_PERIOD) {
        for phase in 0..period.min(n) {
            let on: f64 = (phase..n).step_by(period).map(|x| energy[x] + energy.get(x + 1).copied().unwrap_or(0.0)).sum();
            best = best.max(on / total);
        }
    }
    best
}

/// How much `b` of `pic` looks like a mosaic fill: the share of its luma steps (squared
/// differences of neighbouring pixels) that lie on a regular grid of square-ish blocks, taken
/// across and down, the smaller of the two. A mosaic's blocks are flat and its steps are all
/// on the block edges, so it scores near 1 (0.68–0.97 over the harness's mosaicked faces of
/// 16 px and more, after H.264); a face's steps spread over eyes, nose, mouth and outline
/// (0.26–0.47 over its visible faces). Boxes too small for two blocks score 0: they cannot
/// be told apart and are never set aside.
pub fn mosaic_likeness(pic: &Picture<'_>, b: &BBox) -> f32 {
    let (l, w, h) = luma_of(pic, b);
    mosaic_likeness_of(&l, w, h)
}

/// [`mosaic_likeness`] of a `w`×`h` luma patch, row by row.
pub(super) fn mosaic_likeness_of(l: &[i32], w: usize, h: usize) -> f32 {
    if w < 2 * MOSAIC_MIN_PERIOD || h < 2 * MOSAIC_MIN_PERIOD {
        return 0.0;
    }
    let mut across = vec![0.0; w - 1];
    let mut down = vec![0.0; h - 1];
    for y in 0..h {
        let row = &l[y * w..(y + 1) * w];
        for x in 0..w - 1 {
            across[x] += ((row[x + 1] - row[x]) as f64).powi(2);
        }
        if y + 1 < h {
            let next = &l[(y + 1) * w..(y + 2) * w];
            down[y] += row.iter().zip(next).map(|(a, b)| ((b - a) as f64).powi(2)).sum::<f64>();
        }
    }
    grid_share(&across).min(grid_share(&down)) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flat_box_or_one_too_small_for_two_blocks_is_not_a_mosaic() {
        let flat = vec![80u8; 64 * 64 * 3];
        let pic = Picture::from_planes(crate::frame::Layout::Rgb, 64, 64, [(&flat[..], 64 * 3)]);
        assert_eq!(mosaic_likeness(&pic, &BBox::from_xywh(8.0, 8.0, 15.0, 40.0)), 0.0, "too narrow for two 8 px blocks");
        assert!(mosaic_likeness(&pic, &BBox::from_xywh(8.0, 8.0, 40.0, 40.0)) >= MOSAIC_LIKENESS, "no step at all: nothing but blocks");
    }
}
