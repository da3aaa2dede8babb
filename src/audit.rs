//! `veilcam audit`: an independent check of a redacted video for faces still visible.
//!
//! The check looks harder than redaction does, so it can catch what redaction missed: the
//! float CenterFace model (redaction uses the int8 one by default) on every frame at the
//! frame's full resolution (redaction's global pass looks at 640 px), and, with `--closer`,
//! again in overlapping tiles at twice the resolution for faces of 10–20 px. Hits in
//! consecutive frames that overlap are one *finding*; each finding is listed with its frames,
//! times and best box, and drawn into a contact sheet (one tile per finding, in the listed
//! order) for a person to review. Exit status 4 when anything is found.
//!
//! It is also how veilcam measures itself on footage without ground truth: the evaluation
//! harness runs it on a deliberately weakened redaction and counts what it catches
//! (`docs/evaluation.md`).

use std::path::{Path, PathBuf};

use image::{Rgb, RgbImage};
use serde::Serialize;

use crate::detect::centerface::{CenterFace, CenterFaceSettings, LocalContrast};
use crate::detect::{nms, Detection};
use crate::error::{Error, Result};
use crate::frame::Picture;
use crate::geometry::BBox;
use crate::output::AtomicOutput;
use crate::source::file::FileSource;
use crate::source::FrameSource;

/// Score from which the audit counts a face. Higher than redaction's threshold: the audit
/// runs a stronger look and must not cry wolf on mosaics and masks.
pub const DEFAULT_THRESHOLD: f32 = 0.5;
/// Hits this close in time (frames apart) and overlapping belong to one finding.
const JOIN_FRAMES: u64 = 3;
/// Overlap (IoU) from which two hits are the same finding.
const JOIN_IOU: f32 = 0.2;
/// The tile size of the closer pass, in source pixels, before doubling.
const CLOSER_TILE: usize = 640;
/// Tiles overlap by this much, so a face on a seam is whole in one of them.
const CLOSER_OVERLAP: usize = 64;
/// Side of one contact sheet tile.
const SHEET_TILE: u32 = 160;
/// Tiles per contact sheet row.
const SHEET_COLUMNS: u32 = 8;
/// Findings drawn into the contact sheet at most (all are listed).
const SHEET_MAX: usize = 96;
/// Exit status of `veilcam audit` when it finds a face.
pub const EXIT_FOUND: u8 = 4;

/// How hard to look.
#[derive(Clone, Debug)]
pub struct AuditSettings {
    pub model: PathBuf,
    pub ort_lib: PathBuf,
    pub threshold: f32,
    /// Also look in tiles at twice the resolution (about 5× the time).
    pub closer: bool,
    pub ort_threads: usize,
}

/// Faces seen in one run of frames.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    pub first_frame: u64,
    pub last_frame: u64,
    /// Frames with a hit (a finding may skip a frame or two).
    pub frames: u64,
    pub first_seconds: Option<f64>,
    pub last_seconds: Option<f64>,
    /// The frame of the best hit, its box (source pixels) and score.
    pub best_frame: u64,
    #[serde(rename = "box")]
    pub bbox: BBox,
    pub score: f32,
    /// Every hit of the finding, frame by frame.
    pub hits: Vec<Hit>,
    /// The latest box, for joining the next frame's hits.
    #[serde(skip)]
    last_box: BBox,
    #[serde(skip)]
    crop: Option<RgbImage>,
}

/// One face seen in one frame.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Hit {
    pub frame: u64,
    #[serde(rename = "box")]
    pub bbox: BBox,
    pub score: f32,
}

/// What an audit found.
#[derive(Debug, Serialize)]
pub struct AuditReport {
    pub input: String,
    pub frames: u64,
    pub width: u32,
    pub height: u32,
    pub threshold: f32,
    pub closer: bool,
    /// Frames with at least one hit.
    pub frames_with_faces: u64,
    pub findings: Vec<Finding>,
}

impl AuditReport {
    pub fn clean(&self) -> bool {
        self.findings.is_empty()
    }
}

/// Looks at every frame of `input` for faces.
pub fn audit(input: &Path, settings: &AuditSettings, mut progress: impl FnMut(u64)) -> Result<AuditReport> {
    crate::input::check(input)?;
    let mut source = FileSource::open(input)?;
    let info = source.info().clone();
    let width = info.width() as usize;
    // Full resolution: the detector is never given less than the frame.
    let face = CenterFaceSettings { threshold: settings.threshold, detect_width: width.max(32), low_light: false, local_contrast: LocalContrast::Off };
    let mut detector = CenterFace::load(&settings.ort_lib, &settings.model, face, settings.ort_threads)?;
    let mut findings: Vec<Finding> = Vec::new();
    let (mut frames, mut frames_with_faces) = (0, 0);
    while let Some(frame) = source.next_frame()? {
        crate::interrupt::check()?;
        let index = frame.index;
        let seconds = frame.pts().map(|t| t.nseconds() as f64 / 1e9);
        let hits = frame.with_picture(|pic| look(&mut detector, pic, settings.closer))??;
        if !hits.is_empty() {
            frames_with_faces += 1;
            frame.with_picture(|pic| join(&mut findings, &hits, index, seconds, pic))?;
        }
        frames += 1;
        progress(frames);
    }
    if frames == 0 {
        return Err(Error::Pipeline(format!("{}: no video frames", input.display())));
    }
    Ok(AuditReport {
        input: input.display().to_string(),
        frames,
        width: info.width(),
        height: info.height(),
        threshold: settings.threshold,
        closer: settings.closer,
        frames_with_faces,
        findings,
    })
}

/// One frame's faces: the whole frame at full resolution, then (closer) tiles at 2×.
fn look(detector: &mut CenterFace, pic: &Picture<'_>, closer: bool) -> Result<Vec<Detection>> {
    let fail = |message: String| Error::Detect { frame: 0, message };
    let grey = crate::detect::preprocess::is_grey(pic);
    let mut hits = detector.detect(pic, grey).map_err(fail)?;
    if closer {
        for tile in tiles(pic.width, pic.height) {
            hits.extend(detector.detect_crop(pic, tile, 2.0, grey).map_err(fail)?);
        }
        hits = nms::non_maximum_suppression(hits, crate::detect::centerface::NMS_IOU);
    }
    Ok(hits)
}

/// Overlapping tiles covering a `width`×`height` frame.
fn tiles(width: usize, height: usize) -> Vec<(usize, usize, usize, usize)> {
    let step = CLOSER_TILE - CLOSER_OVERLAP;
    let starts = |full: usize| -> Vec<usize> {
        if full <= CLOSER_TILE {
            return vec![0];
        }
        let mut v: Vec<usize> = (0..full - CLOSER_TILE).step_by(step).collect();
        v.push(full - CLOSER_TILE);
        v
    };
    let mut out = Vec::new();
    for y in starts(height) {
        for x in starts(width) {
            out.push((x, y, CLOSER_TILE.min(width), CLOSER_TILE.min(height)));
        }
    }
    out
}

/// Adds a frame's hits to the findings: a hit continues a finding whose latest box it overlaps
/// within a few frames, or starts a new one.
fn join(findings: &mut Vec<Finding>, hits: &[Detection], index: u64, seconds: Option<f64>, pic: &Picture<'_>) {
    for hit in hits {
        let open = findings
            .iter_mut()
            .filter(|f| index > f.last_frame && index - f.last_frame <= JOIN_FRAMES)
            .max_by(|a, b| a.last_box.iou(&hit.bbox).total_cmp(&b.last_box.iou(&hit.bbox)))
            .filter(|f| f.last_box.iou(&hit.bbox) >= JOIN_IOU);
        match open {
            Some(f) => {
                f.last_frame = index;
                f.last_seconds = seconds;
                f.frames += 1;
                f.last_box = hit.bbox;
                f.hits.push(Hit { frame: index, bbox: hit.bbox, score: hit.score });
                if hit.score > f.score {
                    (f.best_frame, f.bbox, f.score, f.crop) = (index, hit.bbox, hit.score, Some(crop(pic, &hit.bbox)));
                }
            }
            None => findings.push(Finding {
                first_frame: index,
                last_frame: index,
                frames: 1,
                first_seconds: seconds,
                last_seconds: seconds,
                best_frame: index,
                bbox: hit.bbox,
                score: hit.score,
                hits: vec![Hit { frame: index, bbox: hit.bbox, score: hit.score }],
                last_box: hit.bbox,
                crop: Some(crop(pic, &hit.bbox)),
            }),
        }
    }
}

/// The box's surroundings (twice its size, at least 48 px), as a contact sheet tile.
fn crop(pic: &Picture<'_>, b: &BBox) -> RgbImage {
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

/// The contact sheet: one tile per finding (up to [`SHEET_MAX`]), row by row in the order
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_cover_the_frame_and_overlap_at_the_seams() {
        let t = tiles(1920, 1080);
        assert!(t.iter().all(|&(x, y, w, h)| x + w <= 1920 && y + h <= 1080));
        for px in [0, 575, 576, 639, 1200, 1919] {
            for py in [0, 500, 1079] {
                assert!(t.iter().any(|&(x, y, w, h)| px >= x && px < x + w && py >= y && py < y + h), "({px},{py}) uncovered");
            }
        }
        assert_eq!(tiles(320, 240), vec![(0, 0, 320, 240)]);
    }
}
