//! The `--preview` review video: the redacted frames (never the originals) with every mask's
//! box, track id and score drawn on, coloured by how the box was obtained. A person checking
//! the output watches this to see which masks came from the detector and which from the tracker.

use crate::error::{Error, Result};
use crate::frame::{Frame, PictureMut};
use crate::geometry::BBox;
use crate::output::AtomicOutput;
use crate::sink::file::FileSink;
use crate::sink::{Applied, FrameSink};
use crate::track::{Origin, TrackedBox};

/// The review video as a sink: each redacted frame is copied, annotated and encoded.
pub struct PreviewSink(FileSink);

impl PreviewSink {
    pub fn new(encoder: FileSink) -> Self {
        PreviewSink(encoder)
    }
}

impl FrameSink for PreviewSink {
    fn push(&mut self, frame: &Frame, applied: &Applied<'_>) -> Result<()> {
        let buffer = frame.buffer.copy_deep().map_err(|e| Error::Pipeline(format!("cannot copy frame: {e}")))?;
        let mut copy = Frame { index: frame.index, buffer, info: frame.info.clone() };
        copy.with_picture_mut(|pic| annotate(pic, applied.masks))?;
        self.0.push(copy)
    }

    fn finish(self: Box<Self>) -> Result<Option<AtomicOutput>> {
        self.0.finish().map(Some)
    }
}

/// Colours as limited-range YUV.
const GREEN: [u8; 3] = [145, 54, 34];
const YELLOW: [u8; 3] = [210, 16, 146];
const ORANGE: [u8; 3] = [151, 44, 201];
const CYAN: [u8; 3] = [170, 166, 16];
const WHITE: [u8; 3] = [235, 128, 128];

/// Line thickness and glyph scale in luma pixels.
const LINE: usize = 2;
const GLYPH_SCALE: usize = 3;

fn colour(origin: Origin) -> [u8; 3] {
    match origin {
        Origin::Detected => GREEN,
        Origin::Interpolated => YELLOW,
        Origin::Held => ORANGE,
        Origin::Backfilled => CYAN,
    }
}

/// Draws every box with its label `id score%` above it.
pub fn annotate(pic: &mut PictureMut<'_>, boxes: &[TrackedBox]) {
    for b in boxes {
        let c = colour(b.origin);
        let bb = b.bbox.clamped(pic.width as f32, pic.height as f32);
        if bb.is_empty() {
            continue;
        }
        outline(pic, &bb, c);
        let label = format!("{} {}", b.track, (b.score * 100.0).round() as u32);
        let y = (bb.y1 as usize).saturating_sub(5 * GLYPH_SCALE + 2);
        text(pic, bb.x1 as usize, y, &label, WHITE);
    }
}

fn outline(pic: &mut PictureMut<'_>, b: &BBox, c: [u8; 3]) {
    let (x1, y1, x2, y2) = (b.x1 as usize, b.y1 as usize, (b.x2 as usize).max(1) - 1, (b.y2 as usize).max(1) - 1);
    for t in 0..LINE {
        hline(pic, x1, x2, y1 + t, c);
        hline(pic, x1, x2, y2.saturating_sub(t), c);
        vline(pic, x1 + t, y1, y2, c);
        vline(pic, x2.saturating_sub(t), y1, y2, c);
    }
}

fn hline(pic: &mut PictureMut<'_>, x1: usize, x2: usize, y: usize, c: [u8; 3]) {
    for x in x1..=x2 {
        put(pic, x, y, c);
    }
}

fn vline(pic: &mut PictureMut<'_>, x: usize, y1: usize, y2: usize, c: [u8; 3]) {
    for y in y1..=y2 {
        put(pic, x, y, c);
    }
}

/// Sets the pixel at luma `(x, y)` in every plane (I420: the chroma sample covering it).
fn put(pic: &mut PictureMut<'_>, x: usize, y: usize, c: [u8; 3]) {
    if x >= pic.width || y >= pic.height {
        return;
    }
    for (i, plane) in pic.planes.iter_mut().enumerate() {
        let (px, py) = (x >> plane.kind.x_shift, y >> plane.kind.y_shift);
        let ch = plane.kind.channels;
        let row = plane.row_mut(py);
        if ch == 1 {
            row[px] = c[i];
        } else {
            // Packed RGB picture: convert the YUV colour once per pixel.
            row[px * ch..px * ch + 3].copy_from_slice(&crate::frame::yuv_to_rgb(c[0], c[1], c[2]));
        }
    }
}

/// 3×5 glyphs for digits and space, one row per entry, bit 2 leftmost.
fn glyph(ch: char) -> [u8; 5] {
    match ch {
        '0' => [7, 5, 5, 5, 7],
        '1' => [2, 6, 2, 2, 7],
        '2' => [7, 1, 7, 4, 7],
        '3' => [7, 1, 7, 1, 7],
        '4' => [5, 5, 7, 1, 1],
        '5' => [7, 4, 7, 1, 7],
        '6' => [7, 4, 7, 5, 7],
        '7' => [7, 1, 1, 1, 1],
        '8' => [7, 5, 7, 5, 7],
        '9' => [7, 5, 7, 1, 7],
        _ => [0; 5],
    }
}

fn text(pic: &mut PictureMut<'_>, x0: usize, y0: usize, s: &str, c: [u8; 3]) {
    for (i, ch) in s.chars().enumerate() {
        let rows = glyph(ch);
        let gx = x0 + i * 4 * GLYPH_SCALE;
        for (ry, bits) in rows.iter().enumerate() {
            for rx in 0..3 {
                if bits & (4 >> rx) != 0 {
                    for dy in 0..GLYPH_SCALE {
                        for dx in 0..GLYPH_SCALE {
                            put(pic, gx + rx * GLYPH_SCALE + dx, y0 + ry * GLYPH_SCALE + dy, c);
                        }
                    }
                }
            }
        }
    }
}
