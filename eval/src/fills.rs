//! What a run filled, frame by frame, read from its sidecar: the cross-check of the pixel test.
//!
//! The measurement decides from pixels alone whether a face is still recognisable (see
//! [`crate::measure`]). A dark, low-detail face can lose its fine detail to the re-encode alone
//! and look "hidden" with no mask anywhere near it. With the run's sidecar, a face counts as
//! hidden only when the pixels say so **and** the regions the run filled cover at least
//! [`MIN_FILLED`] of the face's measured ellipse (or the whole frame was obscured). A face the
//! pixels call hidden with nothing filled over it is counted visible, and counted apart
//! (`hidden_without_fill` in the measurement), so the encoder's share shows.
//!
//! Street zones are named, not drawn, in the sidecar: in a frame with a zone blackened the
//! coverage is unknown and the pixel test decides alone.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;
use veilcam::geometry::BBox;
use veilcam::redact::{Region, Shape};

use super::masks::{read_sidecar, SidecarBox, SidecarDoc};
use super::truth::{Truth, TruthFace};
use super::Result;

/// Share of a face's measured ellipse that filled regions must cover for its "hidden" to count.
/// Partial covers are left to the pixel test (a face half under a mask keeps correlated detail
/// in its other half); this catches faces with no mask near them.
pub const MIN_FILLED: f64 = 0.2;

#[derive(Debug, Deserialize)]
struct SidecarFrame {
    index: u64,
    #[serde(default)]
    obscured: Vec<Filled>,
    #[serde(default)]
    street_zones: Vec<String>,
    #[serde(default)]
    fully_obscured: bool,
}

#[derive(Clone, Copy, Debug, Deserialize)]
struct Filled {
    #[serde(rename = "box")]
    bbox: SidecarBox,
    shape: Shape,
}

impl Filled {
    /// The region filled, as veilcam's fill took it.
    fn region(&self) -> Region {
        let b = &self.bbox;
        Region { bbox: BBox::new(b.x1 as f32, b.y1 as f32, b.x2 as f32, b.y2 as f32), shape: self.shape }
    }
}

/// What one frame had filled.
#[derive(Debug, Default)]
struct FrameFills {
    regions: Vec<Region>,
    zones: bool,
    whole: bool,
}

/// The filled regions of a run, per frame index.
#[derive(Debug, Default)]
pub struct Fills {
    frames: HashMap<u64, FrameFills>,
}

impl Fills {
    /// Reads the fills from `sidecar`, the `--sidecar` of a run on the clip of `truth`.
    pub fn read(truth: &Truth, sidecar: &Path) -> Result<Fills> {
        let doc: SidecarDoc<SidecarFrame> = read_sidecar(truth, sidecar)?;
        let frames = doc
            .frames
            .into_iter()
            .map(|f| (f.index, FrameFills { regions: f.obscured.iter().map(Filled::region).collect(), zones: !f.street_zones.is_empty(), whole: f.fully_obscured }))
            .collect();
        Ok(Fills { frames })
    }

    /// The share of `face`'s measured ellipse (the ellipse inscribed in its full box, shrunk by
    /// `shrink`, over its visible pixels) that frame `index` had filled; `None` when it cannot be
    /// known (a street zone was blackened). A frame the sidecar does not list had nothing filled.
    pub fn covered(&self, index: u64, face: &TruthFace, shrink: f64) -> Option<f64> {
        let Some(frame) = self.frames.get(&index) else { return Some(0.0) };
        if frame.whole {
            return Some(1.0);
        }
        if frame.zones {
            return None;
        }
        let [fx1, fy1, fx2, fy2] = face.full.map(|v| v as f64);
        let (cx, cy) = ((fx1 + fx2) / 2.0, (fy1 + fy2) / 2.0);
        let (rx, ry) = ((fx2 - fx1) / 2.0 * shrink, (fy2 - fy1) / 2.0 * shrink);
        let (mut inside, mut filled) = (0usize, 0usize);
        for y in face.y..face.y + face.h {
            let py = y as f64 + 0.5;
            let dy = (py - cy) / ry;
            for x in face.x..face.x + face.w {
                let px = x as f64 + 0.5;
                let dx = (px - cx) / rx;
                if dx * dx + dy * dy > 1.0 {
                    continue;
                }
                inside += 1;
                filled += frame.regions.iter().any(|r| r.contains(px as f32, py as f32)) as usize;
            }
        }
        Some(if inside == 0 { 0.0 } else { filled as f64 / inside as f64 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::truth::face_box as face;

    fn fills(frame: FrameFills) -> Fills {
        Fills { frames: HashMap::from([(7, frame)]) }
    }

    fn region(x1: f32, y1: f32, x2: f32, y2: f32, shape: Shape) -> Region {
        Region { bbox: BBox::new(x1, y1, x2, y2), shape }
    }

    #[test]
    fn a_face_under_its_mask_is_covered_and_one_beside_it_is_not() {
        let f = fills(FrameFills { regions: vec![region(90.0, 90.0, 160.0, 170.0, Shape::Ellipse)], ..Default::default() });
        assert_eq!(f.covered(7, &face(100, 100, 50, 60), 0.85), Some(1.0));
        assert_eq!(f.covered(7, &face(300, 100, 50, 60), 0.85), Some(0.0));
        // A frame the sidecar does not list had nothing filled.
        assert_eq!(f.covered(8, &face(100, 100, 50, 60), 0.85), Some(0.0));
    }

    #[test]
    fn a_mask_over_the_left_half_covers_about_half() {
        let f = fills(FrameFills { regions: vec![region(0.0, 0.0, 125.0, 400.0, Shape::Box)], ..Default::default() });
        let c = f.covered(7, &face(100, 100, 50, 60), 0.85).unwrap();
        assert!((c - 0.5).abs() < 0.05, "{c}");
    }

    #[test]
    fn a_whole_frame_obscured_covers_every_face_and_a_street_zone_leaves_it_unknown() {
        let whole = fills(FrameFills { whole: true, ..Default::default() });
        assert_eq!(whole.covered(7, &face(10, 10, 30, 30), 0.85), Some(1.0));
        let zone = fills(FrameFills { zones: true, ..Default::default() });
        assert_eq!(zone.covered(7, &face(10, 10, 30, 30), 0.85), None);
    }
}
