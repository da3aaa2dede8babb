//! Over-reach of the masks, measured like recall: how much larger than the face each mask is,
//! and how far a track's uncertain boxes grow beyond what its detector actually found.
//!
//! Read from the `--sidecar` of the run (per frame: the tracker's face boxes, each with its
//! track id and origin: detected, interpolated, held or back-filled) and the clip's truth:
//!
//! - **mask ÷ face area**: each face mask is paired with the labelled face it overlaps most
//!   (the face's centre must lie inside the mask); its area, clipped to the frame, over the
//!   area of the face's full box. A mask over no labelled face (a real pedestrian's head in
//!   the background footage, or a phantom) is counted as *unpaired*.
//! - **widest mask**: per veilcam track, each mask's width over the median width of the
//!   track's detections (the detector's boxes, before the tracker grows them). A held or back-filled box that grows into a bar shows up here
//!   even when it covers no labelled face.
//!
//! Boxes are the sidecar's mask boxes, before `--mask-scale` (which the policy applies the same
//! way to every box), so the figures compare the tracker's boxes with the faces.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::truth::{Truth, TruthFace};
use super::{EvalError, Result};

/// The part of a sidecar this measurement reads (other fields are ignored).
#[derive(Debug, Deserialize)]
struct Sidecar {
    width: u32,
    height: u32,
    frames: Vec<SidecarFrame>,
}

#[derive(Debug, Deserialize)]
struct SidecarFrame {
    index: u64,
    #[serde(default)]
    detections: Vec<SidecarDetection>,
    /// The tracker's boxes (`tracks` in the sidecar; `masks` in sidecars before the sidecar
    /// also recorded what the policy obscured).
    #[serde(default, rename = "tracks", alias = "masks")]
    masks: Vec<SidecarMask>,
}

#[derive(Clone, Debug, Deserialize)]
struct SidecarDetection {
    class: String,
    #[serde(rename = "box")]
    bbox: SidecarBox,
}

#[derive(Clone, Debug, Deserialize)]
struct SidecarMask {
    track: u64,
    class: String,
    #[serde(rename = "box")]
    bbox: SidecarBox,
    origin: String,
}

#[derive(Clone, Copy, Debug, Deserialize)]
struct SidecarBox {
    x1: f64,
    y1: f64,
    x2: f64,
    y2: f64,
}

impl SidecarBox {
    fn width(&self) -> f64 {
        (self.x2 - self.x1).max(0.0)
    }

    fn clipped_area(&self, w: f64, h: f64) -> f64 {
        let cw = (self.x2.min(w) - self.x1.max(0.0)).max(0.0);
        let ch = (self.y2.min(h) - self.y1.max(0.0)).max(0.0);
        cw * ch
    }

    fn center(&self) -> (f64, f64) {
        ((self.x1 + self.x2) / 2.0, (self.y1 + self.y2) / 2.0)
    }

    fn contains(&self, (x, y): (f64, f64)) -> bool {
        x >= self.x1 && x < self.x2 && y >= self.y1 && y < self.y2
    }

    fn intersection(&self, [x1, y1, x2, y2]: [f64; 4]) -> f64 {
        let iw = (self.x2.min(x2) - self.x1.max(x1)).max(0.0);
        let ih = (self.y2.min(y2) - self.y1.max(y1)).max(0.0);
        iw * ih
    }
}

/// The widest mask of a run, relative to its track's detected width.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct WidestMask {
    /// Mask width over the median width of its track's detected boxes.
    pub ratio: f64,
    pub track: u64,
    pub frame: u64,
    pub origin: String,
    pub width: f64,
    pub detected_width: f64,
}

/// Over-reach of the face masks of one run.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct MaskReach {
    /// Face masks in the sidecar, over all frames.
    pub masks: u64,
    /// Masks paired with a labelled face.
    pub paired: u64,
    /// Masks over no labelled face (background heads, phantoms).
    pub unpaired: u64,
    /// Mask area (clipped to the frame) ÷ area of its face's full box: median and 99th
    /// percentile over paired masks.
    pub area_ratio_p50: Option<f64>,
    pub area_ratio_p99: Option<f64>,
    pub area_ratio_max: Option<f64>,
    /// The widest mask relative to its own track's median detected width.
    pub widest: Option<WidestMask>,
    /// Masks wider than 3× their track's median detected width.
    pub wider_than_3x: u64,
}

/// Reads `sidecar` (the `--sidecar` of a run on the clip of `truth`) and measures its masks.
pub fn mask_reach(truth: &Truth, sidecar: &Path) -> Result<MaskReach> {
    let file = File::open(sidecar).map_err(|e| EvalError::io(sidecar, e))?;
    let doc: Sidecar = serde_json::from_reader(BufReader::new(file))
        .map_err(|e| EvalError::Mismatch(format!("{}: not a veilcam sidecar: {e}", sidecar.display())))?;
    if (doc.width, doc.height) != (truth.width, truth.height) {
        return Err(EvalError::Mismatch(format!(
            "{} is for {}x{} but the truth says {}x{}",
            sidecar.display(),
            doc.width,
            doc.height,
            truth.width,
            truth.height
        )));
    }
    Ok(reach(truth, &doc))
}

fn reach(truth: &Truth, doc: &Sidecar) -> MaskReach {
    let faces_of = |index: u64| truth.frames.get(index as usize).map_or(&[][..], |f| &f.faces[..]);
    let masks = || doc.frames.iter().flat_map(|f| f.masks.iter().filter(|m| m.class == "face").map(move |m| (f.index, m)));
    let detected = detected_widths(&doc.frames);
    let (fw, fh) = (truth.width as f64, truth.height as f64);
    let mut r = MaskReach::default();
    let mut ratios = Vec::new();
    for (index, m) in masks() {
        r.masks += 1;
        match paired_face(&m.bbox, faces_of(index)) {
            Some(face) => {
                r.paired += 1;
                let [x1, y1, x2, y2] = face.full.map(f64::from);
                let face_area = ((x2 - x1) * (y2 - y1)).max(1.0);
                ratios.push(m.bbox.clipped_area(fw, fh) / face_area);
            }
            None => r.unpaired += 1,
        }
        let Some(&dw) = detected.get(&m.track) else { continue };
        let ratio = m.bbox.width() / dw.max(1.0);
        r.wider_than_3x += (ratio > 3.0) as u64;
        if r.widest.as_ref().is_none_or(|w| ratio > w.ratio) {
            r.widest = Some(WidestMask {
                ratio,
                track: m.track,
                frame: index,
                origin: m.origin.clone(),
                width: m.bbox.width(),
                detected_width: dw,
            });
        }
    }
    ratios.sort_by(f64::total_cmp);
    r.area_ratio_p50 = percentile(&ratios, 50.0);
    r.area_ratio_p99 = percentile(&ratios, 99.0);
    r.area_ratio_max = ratios.last().copied();
    r
}

/// Median width of each track's detections. A detected mask is the tracker's box around a
/// detection of the same frame (grown about the same centre by one frame of motion), so the
/// detection is the one whose centre is nearest the mask's.
fn detected_widths(frames: &[SidecarFrame]) -> HashMap<u64, f64> {
    let mut widths: HashMap<u64, Vec<f64>> = HashMap::new();
    for f in frames {
        for m in f.masks.iter().filter(|m| m.class == "face" && m.origin == "detected") {
            let (mx, my) = m.bbox.center();
            let nearest = f
                .detections
                .iter()
                .filter(|d| d.class == "face")
                .map(|d| {
                    let (dx, dy) = d.bbox.center();
                    ((dx - mx).hypot(dy - my), d.bbox.width())
                })
                .min_by(|a, b| a.0.total_cmp(&b.0));
            let width = nearest.filter(|(d, _)| *d < 1.0).map_or(m.bbox.width(), |(_, w)| w);
            widths.entry(m.track).or_default().push(width);
        }
    }
    widths
        .into_iter()
        .filter_map(|(track, mut w)| {
            w.sort_by(f64::total_cmp);
            median(&w).map(|m| (track, m))
        })
        .collect()
}

/// The median of sorted values (the mean of the middle two for an even count).
fn median(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2]),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) / 2.0),
    }
}

/// The labelled face a mask belongs to: the one it overlaps most among those whose centre it
/// contains.
fn paired_face<'a>(mask: &SidecarBox, faces: &'a [TruthFace]) -> Option<&'a TruthFace> {
    faces
        .iter()
        .filter(|f| {
            let [x1, y1, x2, y2] = f.full.map(f64::from);
            mask.contains(((x1 + x2) / 2.0, (y1 + y2) / 2.0))
        })
        .max_by(|a, b| mask.intersection(a.full.map(f64::from)).total_cmp(&mask.intersection(b.full.map(f64::from))))
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::truth::{SizeBucket, TruthFrame};

    fn face(track: u32, x: f32, y: f32, w: f32, h: f32) -> TruthFace {
        TruthFace {
            track,
            x: x as u32,
            y: y as u32,
            w: w as u32,
            h: h as u32,
            full: [x, y, x + w, y + h],
            bucket: SizeBucket::of_height(h as f64),
            partial: false,
            occluded: 0.0,
            scored: true,
        }
    }

    fn mask(track: u64, origin: &str, x: f64, y: f64, w: f64, h: f64) -> SidecarMask {
        SidecarMask { track, class: "face".into(), bbox: SidecarBox { x1: x, y1: y, x2: x + w, y2: y + h }, origin: origin.into() }
    }

    fn truth(frames: Vec<Vec<TruthFace>>) -> Truth {
        Truth {
            format: crate::truth::TRUTH_FORMAT.into(),
            variant: "day".into(),
            seed: 1,
            key: String::new(),
            width: 200,
            height: 100,
            fps_n: 25,
            fps_d: 1,
            frame_count: frames.len() as u64,
            duration_ns: 0,
            box_format: String::new(),
            tracks: Vec::new(),
            frames: frames.into_iter().enumerate().map(|(i, faces)| TruthFrame { index: i as u64, pts_ns: 0, faces }).collect(),
        }
    }

    #[test]
    fn a_mask_twice_the_face_size_has_area_ratio_four_and_a_runaway_bar_is_the_widest() {
        let t = truth(vec![vec![face(0, 50.0, 20.0, 10.0, 10.0)], vec![face(0, 52.0, 20.0, 10.0, 10.0)]]);
        let doc = Sidecar {
            width: 200,
            height: 100,
            frames: vec![
                SidecarFrame { index: 0, detections: vec![], masks: vec![mask(7, "detected", 45.0, 15.0, 20.0, 20.0)] },
                // Held: a bar 8× the detected width reaching the left edge, over the face.
                SidecarFrame { index: 1, detections: vec![], masks: vec![mask(7, "held", -40.0, 20.0, 160.0, 10.0)] },
            ],
        };
        let r = reach(&t, &doc);
        assert_eq!((r.masks, r.paired, r.unpaired), (2, 2, 0));
        assert_eq!(r.area_ratio_p50, Some(4.0));
        // Clipped to the frame: 120 × 10 px over a 10 × 10 face.
        assert_eq!(r.area_ratio_max, Some(12.0));
        let widest = r.widest.unwrap();
        assert_eq!((widest.track, widest.frame, widest.ratio), (7, 1, 8.0));
        assert_eq!(r.wider_than_3x, 1);
    }

    #[test]
    fn a_mask_over_no_labelled_face_is_unpaired() {
        let t = truth(vec![vec![face(0, 50.0, 20.0, 10.0, 10.0)]]);
        let doc = Sidecar { width: 200, height: 100, frames: vec![SidecarFrame { index: 0, detections: vec![], masks: vec![mask(1, "detected", 150.0, 50.0, 10.0, 10.0)] }] };
        let r = reach(&t, &doc);
        assert_eq!((r.paired, r.unpaired), (0, 1));
        assert_eq!(r.area_ratio_p50, None);
    }

    #[test]
    fn a_tracks_detected_width_is_its_detections_not_its_grown_masks() {
        let t = truth(vec![vec![face(0, 50.0, 20.0, 10.0, 10.0)]]);
        let detection = SidecarDetection { class: "face".into(), bbox: SidecarBox { x1: 50.0, y1: 20.0, x2: 60.0, y2: 30.0 } };
        // The tracker grew the detected box to 20 px; a held box of 30 px is 3× the detection.
        let doc = Sidecar {
            width: 200,
            height: 100,
            frames: vec![
                SidecarFrame { index: 0, detections: vec![detection], masks: vec![mask(3, "detected", 45.0, 15.0, 20.0, 20.0)] },
                SidecarFrame { index: 1, detections: vec![], masks: vec![mask(3, "held", 40.0, 10.0, 30.0, 30.0)] },
            ],
        };
        let widest = reach(&t, &doc).widest.unwrap();
        assert_eq!((widest.ratio, widest.detected_width), (3.0, 10.0));
    }

    #[test]
    fn the_median_of_an_even_count_is_the_mean_of_the_middle_two() {
        assert_eq!(median(&[9.0, 26.0]), Some(17.5));
        assert_eq!(median(&[1.0, 2.0, 9.0]), Some(2.0));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), Some(50.0));
        assert_eq!(percentile(&v, 99.0), Some(99.0));
        assert_eq!(percentile(&[3.0], 99.0), Some(3.0));
    }
}
