//! Where to look closer for small faces: regions that moved since an earlier look.
//!
//! Faces of 12–24 px (people on the street in a 1080p doorbell view) shrink below what the
//! detector sees once the frame is scaled down for the global pass. Walking people move, so a
//! coarse frame difference finds the regions worth a second pass at native (or enlarged)
//! resolution, at a small fraction of the cost of detecting the whole frame at full size.

use crate::frame::Picture;

/// Size of one motion cell in pixels.
pub const CELL: usize = 8;
/// Mean absolute luma change in a cell that counts as motion (at least; more in noisy frames).
const THRESHOLD: u32 = 10;

/// A downscaled luma image: one mean value per `CELL`×`CELL` cell.
#[derive(Clone, Debug, PartialEq)]
pub struct CellImage {
    pub cols: usize,
    pub rows: usize,
    pub cells: Vec<u8>,
}

impl CellImage {
    /// Averages the luma (plane 0 of I420; the green channel of RGB) over each cell.
    pub fn from_picture(pic: &Picture<'_>) -> Self {
        let (cols, rows) = (pic.width.div_ceil(CELL), pic.height.div_ceil(CELL));
        let mut sums = vec![0u32; cols * rows];
        let plane = &pic.planes[0];
        let channels = plane.kind.channels;
        for y in 0..pic.height {
            let row = &plane.row(y)[..pic.width * channels];
            let sums = &mut sums[(y / CELL) * cols..][..cols];
            if channels == 1 {
                for (sum, chunk) in sums.iter_mut().zip(row.chunks(CELL)) {
                    *sum += chunk.iter().map(|&v| v as u32).sum::<u32>();
                }
            } else {
                // The green channel of RGB.
                for (sum, chunk) in sums.iter_mut().zip(row.chunks(CELL * channels)) {
                    *sum += chunk.iter().skip(1).step_by(channels).map(|&v| v as u32).sum::<u32>();
                }
            }
        }
        // Cells on the right and bottom edges may be partial.
        let side = |i: usize, len: usize| (len - i * CELL).min(CELL) as u32;
        let cells = sums
            .iter()
            .enumerate()
            .map(|(i, s)| (s / (side(i % cols, pic.width) * side(i / cols, pic.height))) as u8)
            .collect();
        CellImage { cols, rows, cells }
    }
}

/// Bounding boxes `(x, y, w, h)` in pixels of the moving regions between two cell images,
/// each grown by `margin` pixels and clipped to `width`×`height`.
pub fn moving_regions(prev: &CellImage, cur: &CellImage, width: usize, height: usize, margin: usize) -> Vec<(usize, usize, usize, usize)> {
    if (prev.cols, prev.rows) != (cur.cols, cur.rows) {
        return Vec::new();
    }
    let (cols, rows) = (cur.cols, cur.rows);
    let diffs: Vec<u32> = prev.cells.iter().zip(&cur.cells).map(|(&a, &b)| (a as i32 - b as i32).unsigned_abs()).collect();
    // Sensor noise and global brightness changes move every cell a little: motion is what
    // stands out from the frame's typical change.
    let mut sorted = diffs.clone();
    sorted.sort_unstable();
    let typical = sorted[sorted.len() / 2];
    let threshold = THRESHOLD.max(3 * typical + 4);
    let moving: Vec<bool> = diffs.iter().map(|&d| d >= threshold).collect();
    let mut seen = vec![false; cols * rows];
    let mut regions = Vec::new();
    for start in 0..cols * rows {
        if !moving[start] || seen[start] {
            continue;
        }
        // Flood fill over 8-connected moving cells, allowing one still cell between them.
        let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
        let mut stack = vec![start];
        seen[start] = true;
        while let Some(i) = stack.pop() {
            let (cx, cy) = (i % cols, i / cols);
            (x0, y0, x1, y1) = (x0.min(cx), y0.min(cy), x1.max(cx), y1.max(cy));
            for ny in cy.saturating_sub(2)..=(cy + 2).min(rows - 1) {
                for nx in cx.saturating_sub(2)..=(cx + 2).min(cols - 1) {
                    let j = ny * cols + nx;
                    if moving[j] && !seen[j] {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        let px0 = (x0 * CELL).saturating_sub(margin);
        let py0 = (y0 * CELL).saturating_sub(margin);
        let px1 = ((x1 + 1) * CELL + margin).min(width);
        let py1 = ((y1 + 1) * CELL + margin).min(height);
        regions.push((px0, py0, px1 - px0, py1 - py0));
    }
    regions
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(cols: usize, rows: usize, lit: &[(usize, usize)]) -> CellImage {
        let mut c = vec![50u8; cols * rows];
        for &(x, y) in lit {
            c[y * cols + x] = 120;
        }
        CellImage { cols, rows, cells: c }
    }

    #[test]
    fn nothing_moves_between_equal_frames() {
        let a = cells(10, 10, &[(3, 3)]);
        assert!(moving_regions(&a, &a, 80, 80, 8).is_empty());
    }

    #[test]
    fn separate_movers_give_separate_regions_with_margin() {
        let prev = cells(20, 10, &[]);
        let cur = cells(20, 10, &[(2, 2), (2, 3), (15, 7)]);
        let mut r = moving_regions(&prev, &cur, 160, 80, 4);
        r.sort();
        assert_eq!(r, vec![(12, 12, 16, 24), (116, 52, 16, 16)]);
    }

    #[test]
    fn noise_and_brightness_changes_over_the_whole_frame_are_not_motion() {
        let prev = cells(20, 10, &[]);
        let mut cur = prev.clone();
        for (i, c) in cur.cells.iter_mut().enumerate() {
            *c += 12 + (i % 3) as u8; // the whole frame brightened by 12..14
        }
        assert!(moving_regions(&prev, &cur, 160, 80, 0).is_empty());
        cur.cells[5 * 20 + 7] = 200; // one real mover stands out
        assert_eq!(moving_regions(&prev, &cur, 160, 80, 0), vec![(56, 40, 8, 8)]);
    }

    #[test]
    fn cell_image_averages_luma_per_cell() {
        let data: Vec<u8> = (0..16 * 8).map(|i| if (i % 16) < 8 { 10 } else { 30 }).collect();
        let (u, v) = (vec![128u8; 8 * 4], vec![128u8; 8 * 4]);
        let pic = Picture::from_planes(crate::frame::Layout::I420, 16, 8, [(&data[..], 16), (&u[..], 8), (&v[..], 8)]);
        assert_eq!(CellImage::from_picture(&pic).cells, vec![10, 30]);
    }

    #[test]
    fn partial_edge_cells_average_only_their_own_pixels() {
        // 10x9 luma of value 100 with stride 16: cells of 8x8, 2x8, 8x1 and 2x1 pixels.
        let data = [100u8; 16 * 9];
        let (u, v) = (vec![128u8; 8 * 5], vec![128u8; 8 * 5]);
        let pic = Picture::from_planes(crate::frame::Layout::I420, 10, 9, [(&data[..], 16), (&u[..], 8), (&v[..], 8)]);
        let img = CellImage::from_picture(&pic);
        assert_eq!((img.cols, img.rows), (2, 2));
        assert_eq!(img.cells, vec![100; 4]);
    }
}
