//! Telling a mosaic fill from a face: how much a box's luma steps lie on a grid of square blocks,
//! and how many of its blocks are flat.

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

/// A hit whose [`mosaic_likeness`] reaches this and at least [`FLAT_SHARE`] of whose blocks are
/// flat ([`flat_blocks`]) is `flat_blocky`, like a small mosaic. A mosaic of a face of
/// 20–30 px has 3×3 or 4×4 blocks; after H.264 and with the box's few pixels of background its
/// steps lie less clearly on the grid (likeness 0.40–0.60, visible faces' 0.29–0.55), but its
/// blocks stay flat, where a face's eyes, brows and mouth cross them. Not on every hit: a
/// backlit, under- or over-exposed face has flat blocks too, and its finding is judged whole
/// (`findings::verdict`).
pub const SOMEWHAT_BLOCKY: f32 = 0.45;
/// See [`SOMEWHAT_BLOCKY`]: half the whole blocks of the box flat.
pub const FLAT_SHARE: f32 = 0.5;
/// Boxes narrower or lower than this (pixels) are not judged by their flat blocks: two whole
/// blocks each way, at four placings at least. In a box of 16–18 px, two of its four blocks are
/// flat on many a real face of 14–16 px (a pedestrian's, smooth from an upscaled camera).
const FLAT_MIN_SIDE: usize = 2 * MOSAIC_MIN_PERIOD + 3;
/// A block is flat when the variance of its luma is under this share of the whole box's.
const FLAT_VARIANCE: f64 = 0.03;

/// Whether `h` is on a mosaic fill ([`MOSAIC_LIKENESS`]): set aside, not a face. The second
/// model's hits already when somewhat blocky ([`BRIEF_MOSAIC`]): it finds the shape of a head,
/// and a small mosaicked face (3×3 blocks) keeps it.
pub(super) fn on_mosaic(h: &Hit) -> bool {
    h.mosaic >= MOSAIC_LIKENESS || (h.look == Look::Second && h.mosaic >= BRIEF_MOSAIC)
}

/// Whether `h` is somewhat blocky with half its blocks flat ([`SOMEWHAT_BLOCKY`],
/// [`FLAT_SHARE`]): like a small mosaic. A finding all of whose detected hits are is set aside
/// (`Reason::FlatBlocks`).
pub(super) fn flat_blocky(h: &Hit) -> bool {
    h.mosaic >= SOMEWHAT_BLOCKY && h.flat >= FLAT_SHARE
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

/// The largest share of flat blocks of `b` of `pic`, over every placing of a grid of blocks of
/// 8 pixels (veilcam's smallest mosaic block, `MOSAIC_MIN_PERIOD`): a block (whole, inside the
/// box) is flat when the variance of its luma is under 3 % of the box's (`FLAT_VARIANCE`). Near
/// 1 on a mosaic fill of that block size (one placing lies on its blocks); low on a face. Boxes
/// under 19 px (`FLAT_MIN_SIDE`) and flat boxes score 0: [`mosaic_likeness`] alone judges them.
pub fn flat_blocks(pic: &Picture<'_>, b: &BBox) -> f32 {
    let (l, w, h) = luma_of(pic, b);
    flat_blocks_of(&l, w, h)
}

/// [`mosaic_likeness`] and [`flat_blocks`] of `b` of `pic`, from one read of its luma (what a
/// hit records).
pub(super) fn mosaic_and_flat(pic: &Picture<'_>, b: &BBox) -> (f32, f32) {
    let (l, w, h) = luma_of(pic, b);
    (mosaic_likeness_of(&l, w, h), flat_blocks_of(&l, w, h))
}

/// [`flat_blocks`] of a `w`×`h` luma patch, row by row.
pub(super) fn flat_blocks_of(l: &[i32], w: usize, h: usize) -> f32 {
    let p = MOSAIC_MIN_PERIOD;
    if w < FLAT_MIN_SIDE || h < FLAT_MIN_SIDE {
        return 0.0;
    }
    let sums = Integral::of(l, w, h);
    let (n, sum, squares) = ((w * h) as f64, sums.sum(0, 0, w, h), sums.squares(0, 0, w, h));
    let variance = squares / n - (sum / n).powi(2);
    if variance <= 0.0 {
        return 0.0;
    }
    let block = (p * p) as f64;
    let mut best = 0.0f32;
    for y0 in 0..p {
        for x0 in 0..p {
            let (mut flat, mut all) = (0usize, 0usize);
            for y in (y0..=h - p).step_by(p) {
                for x in (x0..=w - p).step_by(p) {
                    let (s, q) = (sums.sum(x, y, x + p, y + p), sums.squares(x, y, x + p, y + p));
                    all += 1;
                    flat += usize::from(q / block - (s / block).powi(2) < FLAT_VARIANCE * variance);
                }
            }
            best = best.max(flat as f32 / all as f32);
        }
    }
    best
}

/// Sums of a patch's values and of their squares over any rectangle, from running sums.
struct Integral {
    width: usize,
    sums: Vec<f64>,
    squares: Vec<f64>,
}

impl Integral {
    fn of(l: &[i32], w: usize, h: usize) -> Self {
        let width = w + 1;
        let (mut sums, mut squares) = (vec![0.0; width * (h + 1)], vec![0.0; width * (h + 1)]);
        for y in 0..h {
            let (mut row, mut row_sq) = (0.0, 0.0);
            for x in 0..w {
                let v = l[y * w + x] as f64;
                (row, row_sq) = (row + v, row_sq + v * v);
                sums[(y + 1) * width + x + 1] = sums[y * width + x + 1] + row;
                squares[(y + 1) * width + x + 1] = squares[y * width + x + 1] + row_sq;
            }
        }
        Integral { width, sums, squares }
    }

    fn rect(&self, of: &[f64], x0: usize, y0: usize, x1: usize, y1: usize) -> f64 {
        let w = self.width;
        of[y1 * w + x1] - of[y0 * w + x1] - of[y1 * w + x0] + of[y0 * w + x0]
    }

    fn sum(&self, x0: usize, y0: usize, x1: usize, y1: usize) -> f64 {
        self.rect(&self.sums, x0, y0, x1, y1)
    }

    fn squares(&self, x0: usize, y0: usize, x1: usize, y1: usize) -> f64 {
        self.rect(&self.squares, x0, y0, x1, y1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `size`×`size` luma patch: `pixel(x, y)` everywhere.
    fn patch(size: usize, pixel: impl Fn(usize, usize) -> i32) -> Vec<i32> {
        (0..size * size).map(|i| pixel(i % size, i / size)).collect()
    }

    #[test]
    fn a_mosaic_of_8_px_blocks_has_flat_blocks_wherever_it_starts_and_a_face_like_patch_has_few() {
        // 3×3 blocks of distinct levels, starting 0–2 px into a 26 px box (background around).
        for (dx, dy) in [(0, 0), (1, 2), (2, 1), (2, 2)] {
            let mosaic = patch(26, |x, y| match (x.checked_sub(dx).map(|x| x / 8), y.checked_sub(dy).map(|y| y / 8)) {
                (Some(bx), Some(by)) if bx < 3 && by < 3 => 60 + 40 * ((bx * 2 + by * 5) % 4) as i32,
                _ => 120 + (x as i32 * 7 + y as i32 * 3) % 11,
            });
            let flat = flat_blocks_of(&mosaic, 26, 26);
            assert!(flat >= FLAT_SHARE, "starting at ({dx}, {dy}): {flat}");
        }
        // Shading across the face, with eyes and a mouth crossing the blocks.
        let face = patch(26, |x, y| {
            let feature = matches!((x, y), (6..=9, 8..=10) | (16..=19, 8..=10) | (9..=16, 18..=19));
            90 + 3 * x as i32 + 2 * y as i32 - if feature { 50 } else { 0 }
        });
        assert!(flat_blocks_of(&face, 26, 26) < FLAT_SHARE, "{}", flat_blocks_of(&face, 26, 26));
    }

    #[test]
    fn a_box_too_small_to_judge_or_flat_has_no_flat_blocks() {
        let two_by_two = patch(18, |x, y| 40 + 60 * ((x / 8 + y / 8) % 2) as i32);
        assert_eq!(flat_blocks_of(&two_by_two, 18, 18), 0.0, "under FLAT_MIN_SIDE: a pedestrian's 15 px face has as few blocks");
        assert_eq!(flat_blocks_of(&patch(32, |_, _| 80), 32, 32), 0.0, "nothing to compare with");
    }

    #[test]
    fn a_flat_box_or_one_too_small_for_two_blocks_is_not_a_mosaic() {
        let flat = vec![80u8; 64 * 64 * 3];
        let pic = Picture::from_planes(crate::frame::Layout::Rgb, 64, 64, [(&flat[..], 64 * 3)]);
        assert_eq!(mosaic_likeness(&pic, &BBox::from_xywh(8.0, 8.0, 15.0, 40.0)), 0.0, "too narrow for two 8 px blocks");
        assert!(mosaic_likeness(&pic, &BBox::from_xywh(8.0, 8.0, 40.0, 40.0)) >= MOSAIC_LIKENESS, "no step at all: nothing but blocks");
    }
}
