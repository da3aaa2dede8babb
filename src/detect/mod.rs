//! Detection: from a picture to boxes in source pixels.
//!
//! Each stage is a separate piece: [`preprocess`] resizes and pads a picture into a reused
//! tensor, [`runtime`] loads ONNX Runtime and builds one session per worker, a decoder per
//! model ([`centerface`]) turns the model's output heads into boxes, and [`nms`] removes
//! duplicates.

pub mod centerface;
pub mod motion;
pub mod nanodet;
pub mod nms;
pub mod preprocess;
pub mod runtime;

use serde::Serialize;

use crate::geometry::BBox;

/// What a detection is of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    Face,
    Person,
}

/// One object found in one frame, in source pixel coordinates.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Detection {
    pub class: Class,
    #[serde(rename = "box")]
    pub bbox: BBox,
    pub score: f32,
}

/// The detectors one worker owns (each with its own ONNX Runtime session) and how often each
/// runs.
pub struct DetectorSet {
    pub face: centerface::CenterFace,
    pub person: Option<nanodet::NanoDet>,
    pub face_every: u64,
    pub person_every: u64,
    /// Second, closer look for small faces where the picture moved; `None` to skip it.
    pub closer: Option<CloserLook>,
}

/// State of the closer look for small faces.
#[derive(Debug, Default)]
pub struct CloserLook {
    previous: Option<motion::CellImage>,
    /// Where in the list of tiles the next look starts, so that when there is more to look at
    /// than the budget allows, every tile gets its turn over successive detection frames.
    cursor: usize,
}

/// Enlargement of the regions looked at closely: a 12 px face becomes 24 px.
pub const CLOSER_SCALE: f64 = 2.0;
/// Largest region (in source pixels, each side) looked at closely in one piece; larger moving
/// regions are cut into tiles of this size.
pub const CLOSER_TILE: usize = 256;
/// Source pixels looked at closely per frame, at most (about one 512×512 detector input at
/// 2× scale). When moving regions exceed it, successive frames take turns over them.
pub const CLOSER_BUDGET: usize = 64_000;

impl CloserLook {
    /// Faces found in the regions of `pic` that moved since the last call.
    fn look(&mut self, face: &mut centerface::CenterFace, pic: &crate::frame::Picture<'_>, extra: &[(usize, usize, usize, usize)]) -> Result<Vec<Detection>, String> {
        let current = motion::CellImage::from_picture(pic);
        let mut regions = match &self.previous {
            Some(prev) => motion::moving_regions(prev, &current, pic.width, pic.height, 2 * motion::CELL),
            None => Vec::new(),
        };
        self.previous = Some(current);
        regions.extend_from_slice(extra);
        let tiles: Vec<(usize, usize, usize, usize)> = regions.into_iter().flat_map(tile).collect();
        let mut spent = 0;
        let mut found = Vec::new();
        let n = tiles.len();
        for k in 0..n {
            let t = tiles[(self.cursor + k) % n];
            if spent > 0 && spent + t.2 * t.3 > CLOSER_BUDGET {
                self.cursor = (self.cursor + k) % n;
                return Ok(found);
            }
            spent += t.2 * t.3;
            // A face cut by the crop edge yields a partial box; it is kept (masking part of a
            // face more is harmless) but never replaces a global detection (see `run`).
            found.extend(face.detect_crop(pic, t, CLOSER_SCALE)?);
        }
        self.cursor = 0;
        Ok(found)
    }
}

/// Cuts a region into tiles of at most `CLOSER_TILE` per side (overlapping by a little so a
/// face on a cut is whole in one tile).
fn tile((x, y, w, h): (usize, usize, usize, usize)) -> Vec<(usize, usize, usize, usize)> {
    // Faces up to this size lie whole inside some tile; larger ones are the global pass's.
    const OVERLAP: usize = 64;
    let step = CLOSER_TILE - OVERLAP;
    let starts = |origin: usize, len: usize| -> Vec<(usize, usize)> {
        if len <= CLOSER_TILE {
            return vec![(origin, len)];
        }
        let mut v: Vec<(usize, usize)> = (0..).map(|i| origin + i * step).take_while(|&s| s + CLOSER_TILE < origin + len).map(|s| (s, CLOSER_TILE)).collect();
        v.push((origin + len - CLOSER_TILE, CLOSER_TILE));
        v
    };
    let (xs, ys) = (starts(x, w), starts(y, h));
    ys.iter().flat_map(|&(ty, th)| xs.iter().map(move |&(tx, tw)| (tx, ty, tw, th))).collect()
}

impl DetectorSet {
    /// Runs the detectors due on frame `index`; `None` when none was due.
    pub fn run(&mut self, index: u64, pic: &crate::frame::Picture<'_>) -> Result<Option<Vec<Detection>>, String> {
        let face_due = index % self.face_every == 0;
        let person_due = self.person.is_some() && index % self.person_every == 0;
        if !face_due && !person_due {
            return Ok(None);
        }
        let mut found = Vec::new();
        if let (true, Some(person)) = (person_due, self.person.as_mut()) {
            found.extend(person.detect(pic)?);
        }
        if face_due {
            let mut faces = self.face.detect(pic)?;
            if let Some(closer) = self.closer.as_mut() {
                // Heads are in the top part of each person box.
                let heads: Vec<_> = found.iter().filter(|d| d.class == Class::Person).map(|d| head_region(&d.bbox)).collect();
                // The global pass wins: a closer look only adds faces it did not find.
                let closer_faces = nms::non_maximum_suppression(closer.look(&mut self.face, pic, &heads)?, centerface::NMS_IOU);
                let new: Vec<Detection> =
                    closer_faces.into_iter().filter(|c| faces.iter().all(|g| g.bbox.iou(&c.bbox) < centerface::NMS_IOU)).collect();
                faces.extend(new);
            }
            found.extend(faces);
        }
        Ok(Some(found))
    }
}

/// The upper third of a person box, widened a little, as a pixel region.
fn head_region(b: &BBox) -> (usize, usize, usize, usize) {
    let h = b.height() / 3.0;
    let x0 = (b.x1 - b.width() * 0.1).max(0.0);
    let w = b.width() * 1.2;
    (x0 as usize, b.y1.max(0.0) as usize, w.max(1.0) as usize, h.max(1.0) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_regions_are_cut_into_overlapping_tiles_that_cover_them() {
        let tiles = tile((10, 20, 600, 100));
        assert!(tiles.iter().all(|t| t.2 <= CLOSER_TILE && t.3 <= CLOSER_TILE));
        assert_eq!(tiles.first().unwrap().0, 10);
        let last = tiles.last().unwrap();
        assert_eq!(last.0 + last.2, 610);
        for pair in tiles.windows(2) {
            assert!(pair[1].0 < pair[0].0 + pair[0].2, "tiles overlap: {pair:?}");
        }
        assert_eq!(tile((0, 0, 100, 50)), vec![(0, 0, 100, 50)]);
    }
}
