//! Where to look closer for small faces: regions that moved since an earlier look.
//!
//! Faces of 12–24 px (people on the street in a 1080p doorbell view) shrink below what the
//! detector sees once the frame is scaled down for the global pass. Walking people move, so a
//! coarse frame difference finds the regions worth a second pass at native (or enlarged)
//! resolution, at a small fraction of the cost of detecting the whole frame at full size.
//! Inside those regions, [`dark_in_glow`] finds backlit heads (a dark patch with glow around
//! it), which get a face-sized look of their own.

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
                let whole = row.len() / CELL * CELL;
                for (sum, chunk) in sums.iter_mut().zip(row[..whole].chunks_exact(CELL)) {
                    *sum += sum_of_eight(chunk.try_into().expect("a chunk of CELL bytes"));
                }
                if whole < row.len() {
                    // The partial cell at the right edge.
                    sums[cols - 1] += row[whole..].iter().map(|&v| v as u32).sum::<u32>();
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

const _: () = assert!(CELL == 8, "sum_of_eight sums one row of a cell");

/// The sum of eight bytes in a few word operations (a cell's row of luma; every frame has 32,400
/// of them at 1080p): neighbours are added into four 16-bit lanes (each at most 510), and one
/// multiplication adds the lanes into the top one (at most 2,040, so nothing carries out).
fn sum_of_eight(bytes: [u8; 8]) -> u32 {
    const LOW_BYTES: u64 = 0x00FF_00FF_00FF_00FF;
    let x = u64::from_le_bytes(bytes);
    let lanes = (x & LOW_BYTES) + ((x >> 8) & LOW_BYTES);
    (lanes.wrapping_mul(0x0001_0001_0001_0001) >> 48) as u32
}

/// Bounding boxes `(x, y, w, h)` in pixels of the moving regions between two cell images,
/// each grown by `margin` pixels and clipped to `width`×`height`.
pub fn moving_regions(prev: &CellImage, cur: &CellImage, width: usize, height: usize, margin: usize) -> Vec<(usize, usize, usize, usize)> {
    if (prev.cols, prev.rows) != (cur.cols, cur.rows) {
        return Vec::new();
    }
    let (cols, rows) = (cur.cols, cur.rows);
    let moving = changed_cells(prev, cur);
    let mut seen = vec![false; cols * rows];
    let mut regions = Vec::new();
    for start in 0..cols * rows {
        if !moving[start] || seen[start] {
            continue;
        }
        // Flood fill over 8-connected moving cells, allowing one still cell between them.
        let bounds = connected_bounds(start, cols, &mut seen, |cx, cy| window(cx, cy, 2, cols, rows), |x, y| moving[y * cols + x]);
        regions.push(to_pixels(bounds, margin, width, height));
    }
    regions
}

/// The cells whose luma changed between two cell images of the same size: by [`THRESHOLD`]
/// levels or more, and by more than the frame's typical change in a noisy picture (sensor
/// noise and global brightness changes move every cell a little: motion is what stands out).
fn changed_cells(prev: &CellImage, cur: &CellImage) -> Vec<bool> {
    let diffs: Vec<u8> = prev.cells.iter().zip(&cur.cells).map(|(&a, &b)| a.abs_diff(b)).collect();
    let threshold = THRESHOLD.max(3 * median(&diffs) + 4);
    diffs.iter().map(|&d| d as u32 >= threshold).collect()
}

/// The value of rank `len / 2` among `values` (counted, not sorted: every frame has 32,400 cells
/// at 1080p); 0 when there are none.
fn median(values: &[u8]) -> u32 {
    let mut counts = [0usize; 256];
    values.iter().for_each(|&v| counts[v as usize] += 1);
    let mut below = 0;
    for (value, &count) in counts.iter().enumerate() {
        below += count;
        if below > values.len() / 2 {
            return value as u32;
        }
    }
    0
}

/// How far, in cells, change explains change next to it ([`Stir::news`]): 32 px, about what
/// a walker's edge moves from one frame to the next in footage of a lower rate than it is
/// played at (a 10 fps camera's frames repeated at 30 fps; its people jump in steps). At 16 px
/// a third of the frames between looks of the evaluation's walkers got a glance at such steps,
/// and a sixth of vtest.avi's; at 32 px, a fifth and a twelfth (docs/performance.md).
const STIR_REACH: usize = 4;

/// Where the picture changed lately, cell by cell, to tell the change that motion already
/// under way explains (people walking, leaves, the flicker of a screen) from change where
/// nothing changed lately: something appeared. Between two looks the tracker carries only
/// what a look found; what appears and is gone again before the next look (a face shown for
/// a single frame at 25–30 fps, with a look every second frame) no look would see, so the
/// planner gives the frame a glance there ([`Plan::glance`](super::Plan::glance)).
#[derive(Clone, Debug, Default)]
pub struct Stir {
    cols: usize,
    rows: usize,
    /// For each cell, the index of the latest frame in which it changed, plus one (0: none).
    changed: Vec<u64>,
}

impl Stir {
    /// Records the change from `prev` to `cur` (frame `index` of a `width`×`height` picture)
    /// and returns where any of it is new, as pixel regions grown by `margin`: the changed
    /// cells with no change within 4 cells (32 px) of them in the `memory` frames before,
    /// joined as [`moving_regions`] joins moving cells. A picture of another size starts the
    /// record anew (it is a cut, [`is_cut`]).
    pub fn news(&mut self, prev: &CellImage, cur: &CellImage, index: u64, memory: u64, (width, height): (usize, usize), margin: usize) -> Vec<(usize, usize, usize, usize)> {
        if (self.cols, self.rows) != (cur.cols, cur.rows) {
            *self = Stir { cols: cur.cols, rows: cur.rows, changed: vec![0; cur.cells.len()] };
        }
        if (prev.cols, prev.rows) != (cur.cols, cur.rows) {
            return Vec::new();
        }
        let (cols, rows) = (self.cols, self.rows);
        let changed = changed_cells(prev, cur);
        let lately = |i: usize| self.changed[i] > 0 && self.changed[i] + memory > index;
        let unexplained = |i: usize| {
            let (xs, ys) = window(i % cols, i / cols, STIR_REACH, cols, rows);
            !ys.into_iter().any(|ny| xs.clone().any(|nx| lately(ny * cols + nx)))
        };
        let new: Vec<bool> = (0..cols * rows).map(|i| changed[i] && unexplained(i)).collect();
        let mut seen = vec![false; cols * rows];
        let mut regions = Vec::new();
        for start in 0..cols * rows {
            if new[start] && !seen[start] {
                let bounds = connected_bounds(start, cols, &mut seen, |cx, cy| window(cx, cy, 2, cols, rows), |x, y| new[y * cols + x]);
                regions.push(to_pixels(bounds, margin, width, height));
            }
        }
        for (i, _) in changed.iter().enumerate().filter(|(_, &c)| c) {
            self.changed[i] = index + 1;
        }
        regions
    }
}

/// Change of a cell's mean luma, in levels, that counts towards a cut ([`is_cut`]).
const CUT_LEVELS: u32 = 16;
/// Share of cells whose luma changed by [`CUT_LEVELS`] or more from one frame to the next,
/// from which the picture changed more than anything moving in it can from one frame to the
/// next: a cut, a camera that moved or came back with another view, lights switched, or a
/// stream that jumped in time (the people in a still view teleport). Between consecutive frames
/// of eight clips at 25–30 fps (the samples, the bench clips, the evaluation's day and night
/// streets) at most 7.4 % of cells change; a still view whose walkers jump by a second or two
/// changes 15–24 % (the sample clip jumping back to its start from frame 25–50), which the
/// earlier bar of 25 % let through. A false cut costs one look.
const CUT_SHARE: f64 = 0.12;

/// Whether the picture changed between two consecutive frames more than motion can change it
/// (a change of size does): where the faces were before says nothing about where they are now.
pub fn is_cut(prev: &CellImage, cur: &CellImage) -> bool {
    if (prev.cols, prev.rows) != (cur.cols, cur.rows) {
        return true;
    }
    let changed = prev.cells.iter().zip(&cur.cells).filter(|(&a, &b)| (a as i32 - b as i32).unsigned_abs() >= CUT_LEVELS).count();
    changed as f64 >= CUT_SHARE * cur.cells.len() as f64
}

/// The cells within `reach` of cell (`cx`, `cy`) on a grid `cols`×`rows`, as x and y ranges.
fn window(cx: usize, cy: usize, reach: usize, cols: usize, rows: usize) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
    (cx.saturating_sub(reach)..(cx + reach + 1).min(cols), cy.saturating_sub(reach)..(cy + reach + 1).min(rows))
}

/// Cell bounds `(x0, y0, x1, y1)`, inclusive.
type CellBounds = (usize, usize, usize, usize);

/// Flood fill from cell `start` (a member) of a grid `cols` wide: every cell for which `member`
/// holds, reached through the cells `around` each one (x and y ranges), is marked in `seen`;
/// returns their bounds.
fn connected_bounds(
    start: usize,
    cols: usize,
    seen: &mut [bool],
    around: impl Fn(usize, usize) -> (std::ops::Range<usize>, std::ops::Range<usize>),
    member: impl Fn(usize, usize) -> bool,
) -> CellBounds {
    let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
    let mut stack = vec![start];
    seen[start] = true;
    while let Some(i) = stack.pop() {
        let (cx, cy) = (i % cols, i / cols);
        (x0, y0, x1, y1) = (x0.min(cx), y0.min(cy), x1.max(cx), y1.max(cy));
        let (xs, ys) = around(cx, cy);
        for ny in ys {
            for nx in xs.clone() {
                let j = ny * cols + nx;
                if !seen[j] && member(nx, ny) {
                    seen[j] = true;
                    stack.push(j);
                }
            }
        }
    }
    (x0, y0, x1, y1)
}

/// Cell bounds as a pixel region `(x, y, w, h)`, grown by `margin` pixels and clipped to
/// `width`×`height`.
fn to_pixels((x0, y0, x1, y1): CellBounds, margin: usize, width: usize, height: usize) -> (usize, usize, usize, usize) {
    let px0 = (x0 * CELL).saturating_sub(margin);
    let py0 = (y0 * CELL).saturating_sub(margin);
    let px1 = ((x1 + 1) * CELL + margin).min(width);
    let py1 = ((y1 + 1) * CELL + margin).min(height);
    (px0, py0, px1 - px0, py1 - py0)
}

/// Dark patches with glow around them inside `regions` (moving regions, `(x, y, w, h)` in
/// pixels), as regions of at most a face's size to look at closely: a backlit head, whose
/// glow moves with it as one region of about five times the face's width, too large to be
/// looked at on every call and too large at 2× for the face to keep its contrast.
///
/// A cell is dark at a luma mean of [`GLOW_DARK`] or less, with a cell of [`GLOW_BRIGHT`] or
/// more within [`GLOW_REACH`] cells to its left and to its right (in its row) and above it (in
/// its column) — the test of [`is_backlit`](super::preprocess::is_backlit) on the planner's
/// cells — and within a row's run of dark cells no wider than [`GLOW_PATCH_MAX`] (a dark
/// strip or shop front is not a face; the dark body below a head is cut off by the glow it has
/// not got above it). Such cells that touch form one patch; a patch wider or taller than
/// [`GLOW_PATCH_MAX`] is not a face and is left to the look at its region. Each patch is grown
/// by [`GLOW_MARGIN`] pixels (the head around its darkest part, and the glow the closer look's
/// own backlight test needs) and clipped to `width`×`height`.
pub fn dark_in_glow(cells: &CellImage, regions: &[(usize, usize, usize, usize)], width: usize, height: usize) -> Vec<(usize, usize, usize, usize)> {
    dark_patches(cells, regions, width, height, GLOW_BRIGHT)
}

/// Dark faces by day: as [`dark_in_glow`], with cells of [`SHADE_LIT`] or more around the dark
/// patch instead of glow. A face in shade, or under-exposed against an ordinary street, keeps
/// too little contrast for the detector as it is; its own crop, equalised, shows it.
pub fn dark_in_light(cells: &CellImage, regions: &[(usize, usize, usize, usize)], width: usize, height: usize) -> Vec<(usize, usize, usize, usize)> {
    dark_patches(cells, regions, width, height, SHADE_LIT)
}

/// The faces in shade of [`dark_in_light`] that no crop of `glow` (the looks at backlit heads)
/// already holds whole: each dark patch gets one crop, the backlit one where it has both.
pub fn shade_outside_glow(cells: &CellImage, regions: &[(usize, usize, usize, usize)], glow: &[(usize, usize, usize, usize)], width: usize, height: usize) -> Vec<(usize, usize, usize, usize)> {
    let inside = |r: &(usize, usize, usize, usize), o: &(usize, usize, usize, usize)| r.0 >= o.0 && r.1 >= o.1 && r.0 + r.2 <= o.0 + o.2 && r.1 + r.3 <= o.1 + o.3;
    let mut shade = dark_in_light(cells, regions, width, height);
    shade.retain(|r| !glow.iter().any(|g| inside(r, g)));
    shade
}

/// Patches of cells of [`GLOW_DARK`] or less with cells of `lit` or more to their left, right
/// and above, inside `regions` ([`dark_in_glow`]).
fn dark_patches(cells: &CellImage, regions: &[(usize, usize, usize, usize)], width: usize, height: usize, lit: u8) -> Vec<(usize, usize, usize, usize)> {
    let (cols, rows) = (cells.cols, cells.rows);
    let at = |x: usize, y: usize| cells.cells[y * cols + x];
    let bright = |x: usize, y: usize| at(x, y) >= lit;
    // The run of dark cells along the row through (x, y), in cells, counted up to one past the
    // widest a face's may be.
    let most = GLOW_PATCH_MAX / CELL;
    let run = |x: usize, y: usize| {
        let left = (0..x).rev().take(most).take_while(|&cx| at(cx, y) <= GLOW_DARK).count();
        let right = (x + 1..cols).take(most).take_while(|&cx| at(cx, y) <= GLOW_DARK).count();
        left + 1 + right
    };
    let dark = |x: usize, y: usize| {
        at(x, y) <= GLOW_DARK
            && run(x, y) <= most
            && (x.saturating_sub(GLOW_REACH)..x).any(|cx| bright(cx, y))
            && (x + 1..(x + 1 + GLOW_REACH).min(cols)).any(|cx| bright(cx, y))
            && (y.saturating_sub(GLOW_REACH)..y).any(|cy| bright(x, cy))
    };
    let mut seen = vec![false; cols * rows];
    let mut patches = Vec::new();
    for &(rx, ry, rw, rh) in regions {
        let (x0, y0) = (rx / CELL, ry / CELL);
        let (x1, y1) = ((rx + rw).div_ceil(CELL).min(cols), (ry + rh).div_ceil(CELL).min(rows));
        for start in (y0..y1).flat_map(|y| (x0..x1).map(move |x| y * cols + x)) {
            if seen[start] || !dark(start % cols, start / cols) {
                continue;
            }
            // The 8-connected dark cells of this patch, within the region.
            let around = |cx: usize, cy: usize| (cx.saturating_sub(1).max(x0)..(cx + 2).min(x1), cy.saturating_sub(1).max(y0)..(cy + 2).min(y1));
            let (bx0, by0, bx1, by1) = connected_bounds(start, cols, &mut seen, around, dark);
            if (bx1 + 1 - bx0) * CELL > GLOW_PATCH_MAX || (by1 + 1 - by0) * CELL > GLOW_PATCH_MAX {
                continue;
            }
            patches.push(to_pixels((bx0, by0, bx1, by1), GLOW_MARGIN, width, height));
        }
    }
    patches
}

/// Luma mean up to which a cell counts as dark for [`dark_in_glow`] (as
/// [`BACKLIT_DARK`](super::preprocess::BACKLIT_DARK) for the closer look's test).
pub const GLOW_DARK: u8 = 80;
/// Luma mean from which a cell counts as glow for [`dark_in_glow`] (as
/// [`BACKLIT_BRIGHT`](super::preprocess::BACKLIT_BRIGHT)).
pub const GLOW_BRIGHT: u8 = 200;
/// Luma mean from which a cell counts as lit around a dark face for [`dark_in_light`]: an
/// ordinary street or wall by day.
pub const SHADE_LIT: u8 = 120;
/// How many cells (of [`CELL`] px) away from a dark cell [`dark_in_glow`] looks for glow: 48 px,
/// so that the dark cells across a face of up to about 48 px have glow on both sides.
pub const GLOW_REACH: usize = 6;
/// The widest or tallest patch of dark cells [`dark_in_glow`] takes for (part of) a face, in px.
pub const GLOW_PATCH_MAX: usize = 64;
/// Pixels added around a patch of dark cells on each side.
pub const GLOW_MARGIN: usize = 24;

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

    /// A walker: a 2×3 patch of cells that moves one cell right every frame, on a still picture.
    fn walker_at(x: usize) -> CellImage {
        let lit: Vec<(usize, usize)> = (0..2).flat_map(|dx| (4..7).map(move |y| (x + dx, y))).collect();
        cells(40, 12, &lit)
    }

    #[test]
    fn what_appears_where_nothing_moved_lately_is_news_and_motion_under_way_is_not() {
        let mut stir = Stir::default();
        let frames: Vec<CellImage> = (0..8).map(|i| walker_at(5 + i)).collect();
        // The walker's first step is news (nothing moved before it); its later steps are not.
        let news: Vec<usize> = (1..8).map(|i| stir.news(&frames[i - 1], &frames[i], i as u64, 15, (320, 96), 0).len()).collect();
        assert_eq!(news, [1, 0, 0, 0, 0, 0, 0]);
        // A face that appears for one frame far from the walker: news, and only where it is.
        let mut face = walker_at(13);
        [(30, 2), (31, 2), (30, 3), (31, 3)].iter().for_each(|&(x, y)| face.cells[y * 40 + x] = 200);
        assert_eq!(stir.news(&frames[7], &face, 8, 15, (320, 96), 4), vec![(236, 12, 24, 24)]);
        // Its going away is explained by its coming.
        assert!(stir.news(&face, &walker_at(13), 9, 15, (320, 96), 4).is_empty());
        // Once the memory has passed, the same place appearing again is news again.
        assert_eq!(stir.news(&walker_at(13), &face, 30, 15, (320, 96), 4).len(), 1);
    }

    #[test]
    fn the_median_is_counted_as_sorting_would_find_it() {
        let mut x = 0x2545_F491_4F6C_DD1D_u64;
        for len in [1usize, 2, 3, 10, 255, 1000] {
            let values: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x % 40) as u8
                })
                .collect();
            let mut sorted = values.clone();
            sorted.sort_unstable();
            assert_eq!(median(&values), sorted[len / 2] as u32, "{len} values");
        }
        assert_eq!(median(&[]), 0);
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

    /// A 40×30 cell image at level 120 with a ring of glow (230) of radius 6 cells around
    /// (20, 15) and, inside it, a dark patch (30) of `w`×`h` cells at its centre.
    fn glow_with_dark(w: usize, h: usize) -> CellImage {
        let mut c = cells(40, 30, &[]);
        for y in 0..30 {
            for x in 0..40 {
                let r = ((x as f32 - 20.0).powi(2) + (y as f32 - 15.0).powi(2)).sqrt();
                let dark = x + w / 2 >= 20 && x < 20 + w.div_ceil(2) && y + h / 2 >= 15 && y < 15 + h.div_ceil(2);
                c.cells[y * 40 + x] = if dark { 30 } else if r < 6.5 { 230 } else { 120 };
            }
        }
        c
    }

    #[test]
    fn a_dark_patch_inside_a_glow_gives_a_face_sized_region_around_it() {
        let img = glow_with_dark(4, 6);
        let patches = dark_in_glow(&img, &[(0, 0, 320, 240)], 320, 240);
        assert_eq!(patches.len(), 1, "{patches:?}");
        let (x, y, w, h) = patches[0];
        // The dark cells span x 144..176, y 96..144 px; the margin adds GLOW_MARGIN each side.
        assert_eq!((x, y, w, h), (144 - GLOW_MARGIN, 96 - GLOW_MARGIN, 32 + 2 * GLOW_MARGIN, 48 + 2 * GLOW_MARGIN));
    }

    #[test]
    fn only_dark_patches_inside_moving_regions_with_glow_around_and_of_a_face_size_count() {
        let img = glow_with_dark(4, 6);
        assert!(dark_in_glow(&img, &[(0, 0, 80, 80)], 320, 240).is_empty(), "the patch lies outside the moving region");
        assert!(dark_in_glow(&glow_with_dark(10, 10), &[(0, 0, 320, 240)], 320, 240).is_empty(), "80 px of dark is not a face");
        // A dark strip (a car, a shop front) before a bright wall: glow all round, too wide.
        let mut strip = cells(40, 30, &[]);
        for y in 0..30 {
            for x in 0..40 {
                strip.cells[y * 40 + x] = if (14..26).contains(&x) && (12..15).contains(&y) { 30 } else { 230 };
            }
        }
        assert!(dark_in_glow(&strip, &[(0, 0, 320, 240)], 320, 240).is_empty(), "a 96 px dark strip is not a face");
        // A dark doorway beside a bright window: glow on one side only.
        let mut doorway = cells(40, 30, &[]);
        for y in 0..30 {
            for x in 0..40 {
                doorway.cells[y * 40 + x] = if x < 20 { 30 } else { 230 };
            }
        }
        assert!(dark_in_glow(&doorway, &[(0, 0, 320, 240)], 320, 240).is_empty());
    }

    /// A 40×30 cell image at `around` with a dark face (level 50) of 2×3 cells in the middle.
    fn dark_face_in(around: u8) -> CellImage {
        let mut c = cells(40, 30, &[]);
        for (i, cell) in c.cells.iter_mut().enumerate() {
            let (x, y) = (i % 40, i / 40);
            *cell = if (19..21).contains(&x) && (14..17).contains(&y) { 50 } else { around };
        }
        c
    }

    #[test]
    fn a_dark_face_on_a_lit_street_gives_a_face_sized_region_but_no_glow_look() {
        let img = dark_face_in(140);
        assert_eq!(dark_in_light(&img, &[(0, 0, 320, 240)], 320, 240), vec![(152 - GLOW_MARGIN, 112 - GLOW_MARGIN, 16 + 2 * GLOW_MARGIN, 24 + 2 * GLOW_MARGIN)]);
        assert!(dark_in_glow(&img, &[(0, 0, 320, 240)], 320, 240).is_empty(), "no glow around it");
        // In a dim picture nothing around is lit: a dark patch there is no face in shade.
        assert!(dark_in_light(&dark_face_in(90), &[(0, 0, 320, 240)], 320, 240).is_empty());
    }

    #[test]
    fn cell_image_averages_luma_per_cell() {
        let data: Vec<u8> = (0..16 * 8).map(|i| if (i % 16) < 8 { 10 } else { 30 }).collect();
        let (u, v) = (vec![128u8; 8 * 4], vec![128u8; 8 * 4]);
        let pic = Picture::from_planes(crate::frame::Layout::I420, 16, 8, [(&data[..], 16), (&u[..], 8), (&v[..], 8)]);
        assert_eq!(CellImage::from_picture(&pic).cells, vec![10, 30]);
    }

    #[test]
    fn sum_of_eight_is_the_plain_sum_for_any_bytes() {
        let mut x = 0x9E37_79B9_7F4A_7C15_u64;
        let mut cases = vec![[0u8; 8], [255u8; 8], [1, 2, 3, 4, 5, 6, 7, 8]];
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            cases.push(x.to_le_bytes());
        }
        for bytes in cases {
            assert_eq!(sum_of_eight(bytes), bytes.iter().map(|&v| v as u32).sum::<u32>(), "{bytes:?}");
        }
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
