//! The contact sheet: one tile per finding, its box outlined, for a person to review.

use image::{Rgb, RgbImage};

use super::AuditReport;
use crate::error::{Error, Result};
use crate::frame::Picture;
use crate::geometry::BBox;
use crate::output::AtomicOutput;

/// Side of one contact sheet tile.
const SHEET_TILE: u32 = 160;
/// Tiles per contact sheet row.
const SHEET_COLUMNS: u32 = 8;
/// Findings drawn into the contact sheet at most (all are listed).
const SHEET_MAX: usize = 96;

/// The box's surroundings (twice its size, at least 48 px), as a contact sheet tile.
pub(super) fn crop(pic: &Picture<'_>, b: &BBox) -> RgbImage {
    let side = (b.width().max(b.height()) * 2.0).max(48.0);
    let (cx, cy) = b.center();
    let x0 = (cx - side / 2.0).max(0.0) as usize;
    let y0 = (cy - side / 2.0).max(0.0) as usize;
    let x1 = ((cx + side / 2.0) as usize).min(pic.width);
    let y1 = ((cy + side / 2.0) as usize).min(pic.height);
    let (w, h) = (x1.saturating_sub(x0).max(1), y1.saturating_sub(y0).max(1));
    let mut out = RgbImage::new(SHEET_TILE, SHEET_TILE);
    let scale = (w.max(h) as f64 / SHEET_TILE as f64).max(1e-6);
    for ty in 0..SHEET_TILE {
        for tx in 0..SHEET_TILE {
            let (sx, sy) = (x0 + (tx as f64 * scale) as usize, y0 + (ty as f64 * scale) as usize);
            if sx < x1 && sy < y1 {
                out.put_pixel(tx, ty, Rgb(pic.rgb_at(sx, sy)));
            }
        }
    }
    // The box itself, outlined in red.
    let to_tile = |v: f32, origin: usize| ((v as f64 - origin as f64) / scale).clamp(0.0, SHEET_TILE as f64 - 1.0) as u32;
    let (bx0, by0, bx1, by1) = (to_tile(b.x1, x0), to_tile(b.y1, y0), to_tile(b.x2, x0), to_tile(b.y2, y0));
    for x in bx0..=bx1 {
        out.put_pixel(x, by0, Rgb([255, 0, 0]));
        out.put_pixel(x, by1, Rgb([255, 0, 0]));
    }
    for y in by0..=by1 {
        out.put_pixel(bx0, y, Rgb([255, 0, 0]));
        out.put_pixel(bx1, y, Rgb([255, 0, 0]));
    }
    out
}

/// The contact sheet: one tile per finding (up to `SHEET_MAX`), row by row in the order
/// listed, written to a temp file and renamed into place.
pub fn write_contact_sheet(report: &AuditReport, output: AtomicOutput) -> Result<AtomicOutput> {
    let n = report.findings.len().clamp(1, SHEET_MAX) as u32;
    let (cols, rows) = (n.min(SHEET_COLUMNS), n.div_ceil(SHEET_COLUMNS));
    let mut sheet = RgbImage::from_pixel(cols * (SHEET_TILE + 4), rows * (SHEET_TILE + 4), Rgb([40, 40, 40]));
    for (i, finding) in report.findings.iter().take(SHEET_MAX).enumerate() {
        let Some(tile) = &finding.crop else { continue };
        let (col, row) = (i as u32 % SHEET_COLUMNS, i as u32 / SHEET_COLUMNS);
        image::imageops::overlay(&mut sheet, tile, (col * (SHEET_TILE + 4) + 2) as i64, (row * (SHEET_TILE + 4) + 2) as i64);
    }
    sheet
        .save_with_format(output.temp_path(), image::ImageFormat::Png)
        .map_err(|e| Error::io(output.target(), std::io::Error::other(e)))?;
    Ok(output)
}
