//! Fills on one plane. Coordinates come in luma pixels and are mapped to the plane's own
//! sample grid (I420 chroma is half size); a plane sample is inside a region when any part of
//! it is, so subsampling never leaves a half-covered edge.

use super::Shape;
use crate::frame::PlaneMut;
use crate::geometry::BBox;

/// The samples of one plane covered by a region.
#[derive(Clone, Copy, Debug)]
pub struct PlaneArea {
    /// Sample rectangle `[x0, x1) × [y0, y1)`.
    pub x0: usize,
    pub y0: usize,
    pub x1: usize,
    pub y1: usize,
    shape: Shape,
    /// Ellipse centre and semi-axes, in plane samples.
    cx: f32,
    cy: f32,
    rx: f32,
    ry: f32,
}

impl PlaneArea {
    /// The area of `bbox` (luma pixels) on `plane`, or `None` if it covers no sample.
    pub fn new(plane: &PlaneMut<'_>, bbox: &BBox, shape: Shape) -> Option<Self> {
        let sx = (1u32 << plane.kind.x_shift) as f32;
        let sy = (1u32 << plane.kind.y_shift) as f32;
        let (bx1, by1, bx2, by2) = (bbox.x1 / sx, bbox.y1 / sy, bbox.x2 / sx, bbox.y2 / sy);
        let x0 = bx1.floor().max(0.0) as usize;
        let y0 = by1.floor().max(0.0) as usize;
        let x1 = (bx2.ceil().max(0.0) as usize).min(plane.width);
        let y1 = (by2.ceil().max(0.0) as usize).min(plane.height);
        if x0 >= x1 || y0 >= y1 {
            return None;
        }
        Some(PlaneArea {
            x0,
            y0,
            x1,
            y1,
            shape,
            cx: (bx1 + bx2) * 0.5,
            cy: (by1 + by2) * 0.5,
            // Half a sample of slack: a sample touching the outline counts as inside.
            rx: (bx2 - bx1) * 0.5 + 0.5,
            ry: (by2 - by1) * 0.5 + 0.5,
        })
    }

    /// The covered columns `[from, to)` of row `y`.
    #[inline]
    pub fn span(&self, y: usize) -> Option<(usize, usize)> {
        match self.shape {
            Shape::Box => Some((self.x0, self.x1)),
            Shape::Ellipse => {
                let dy = (y as f32 + 0.5 - self.cy) / self.ry;
                let t = 1.0 - dy * dy;
                if t < 0.0 {
                    return None;
                }
                let half = self.rx * t.sqrt();
                let from = ((self.cx - half - 0.5).ceil().max(self.x0 as f32)) as usize;
                let to = ((self.cx + half + 0.5).floor().min(self.x1 as f32)) as usize;
                (from < to).then_some((from, to))
            }
        }
    }
}

/// Sets every covered sample to the plane's black.
pub fn solid(plane: &mut PlaneMut<'_>, area: &PlaneArea) {
    let ch = plane.kind.channels;
    let black = plane.kind.black;
    for y in area.y0..area.y1 {
        if let Some((from, to)) = area.span(y) {
            paint(&mut plane.row_mut(y)[from * ch..to * ch], &black[..ch]);
        }
    }
}

/// Sets every pixel of `run` (whole pixels of `value.len()` channels) to `value`. One channel,
/// the planes of I420, is a plain fill: a copy per sample (a call to `memcpy` for one byte)
/// made blacking out a whole 1080p frame take 9 ms instead of a fraction of one.
#[inline]
fn paint(run: &mut [u8], value: &[u8]) {
    match *value {
        [v] => run.fill(v),
        [a, b, c] => run.chunks_exact_mut(3).for_each(|px| px.copy_from_slice(&[a, b, c])),
        _ => run.chunks_exact_mut(value.len()).for_each(|px| px.copy_from_slice(value)),
    }
}

/// Replaces each `block`×`block` (luma pixels) cell of the area's bounding box by its mean,
/// then writes the covered samples.
pub fn mosaic(plane: &mut PlaneMut<'_>, area: &PlaneArea, block: usize) {
    let ch = plane.kind.channels;
    let bw = (block >> plane.kind.x_shift).max(1);
    let bh = (block >> plane.kind.y_shift).max(1);
    let mut by = area.y0;
    while by < area.y1 {
        let ey = (by + bh).min(area.y1);
        let mut bx = area.x0;
        while bx < area.x1 {
            let ex = (bx + bw).min(area.x1);
            let mean = block_mean(plane, bx, by, ex, ey);
            for y in by..ey {
                if let Some((from, to)) = area.span(y) {
                    let (from, to) = (from.max(bx), to.min(ex));
                    if from < to {
                        paint(&mut plane.row_mut(y)[from * ch..to * ch], &mean[..ch]);
                    }
                }
            }
            bx = ex;
        }
        by = ey;
    }
}

fn block_mean(plane: &PlaneMut<'_>, x0: usize, y0: usize, x1: usize, y1: usize) -> [u8; 3] {
    let ch = plane.kind.channels;
    let mut sum = [0u64; 3];
    for y in y0..y1 {
        for px in plane.row(y)[x0 * ch..x1 * ch].chunks_exact(ch) {
            for c in 0..ch {
                sum[c] += px[c] as u64;
            }
        }
    }
    let n = ((x1 - x0) * (y1 - y0)) as u64;
    let mut mean = [0u8; 3];
    for c in 0..ch {
        mean[c] = ((sum[c] + n / 2) / n) as u8;
    }
    mean
}

/// Three passes of a `radius` (luma pixels) box blur over the area's bounding box, written
/// back to the covered samples.
pub fn blur(plane: &mut PlaneMut<'_>, area: &PlaneArea, radius: usize) {
    let ch = plane.kind.channels;
    let rx = (radius >> plane.kind.x_shift).max(1);
    let ry = (radius >> plane.kind.y_shift).max(1);
    let (w, h) = (area.x1 - area.x0, area.y1 - area.y0);
    let mut buf: Vec<f32> = Vec::with_capacity(w * h * ch);
    for y in area.y0..area.y1 {
        buf.extend(plane.row(y)[area.x0 * ch..area.x1 * ch].iter().map(|&v| v as f32));
    }
    let mut tmp = vec![0f32; buf.len()];
    for _ in 0..3 {
        box_pass(&buf, &mut tmp, w, h, ch, rx, true);
        box_pass(&tmp, &mut buf, w, h, ch, ry, false);
    }
    for y in area.y0..area.y1 {
        if let Some((from, to)) = area.span(y) {
            let src = &buf[(y - area.y0) * w * ch..];
            let row = plane.row_mut(y);
            for x in from..to {
                for c in 0..ch {
                    row[x * ch + c] = src[(x - area.x0) * ch + c].round().clamp(0.0, 255.0) as u8;
                }
            }
        }
    }
}

/// One box-filter pass along rows (`horizontal`) or columns, edges clamped. Columns are run
/// row by row, one running sum per column, so both passes read memory in order; each line's
/// sums are those of a plain sliding window (the same additions in the same order).
fn box_pass(src: &[f32], dst: &mut [f32], w: usize, h: usize, ch: usize, r: usize, horizontal: bool) {
    let norm = 1.0 / (2 * r + 1) as f32;
    let clamp = |i: isize, len: usize| i.clamp(0, len as isize - 1) as usize;
    let ri = r as isize;
    if horizontal {
        for (row, out) in src.chunks_exact(w * ch).zip(dst.chunks_exact_mut(w * ch)) {
            for c in 0..ch {
                let at = |x: usize| row[x * ch + c];
                let mut acc: f32 = (-ri..=ri).map(|i| at(clamp(i, w))).sum();
                for x in 0..w {
                    out[x * ch + c] = acc * norm;
                    acc += at(clamp(x as isize + ri + 1, w)) - at(clamp(x as isize - ri, w));
                }
            }
        }
    } else {
        let line = w * ch;
        let row = |y: usize| &src[y * line..(y + 1) * line];
        let mut acc: Vec<f32> = (0..line).map(|k| (-ri..=ri).map(|i| row(clamp(i, h))[k]).sum()).collect();
        for y in 0..h {
            let (add, sub) = (row(clamp(y as isize + ri + 1, h)), row(clamp(y as isize - ri, h)));
            let out = &mut dst[y * line..(y + 1) * line];
            for k in 0..line {
                out[k] = acc[k] * norm;
                acc[k] += add[k] - sub[k];
            }
        }
    }
}
