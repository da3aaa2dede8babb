//! Multi-object tracking and temporal filling of masks.
//!
//! Detectors flicker: a face found in frame 10 may be missed in frame 11. The [`Tracker`]
//! associates detections across frames into tracks (predicted motion + IoU/centre-distance
//! matching, SORT-style) and then answers, for any frame inside its window, where each track
//! is — even in frames where it was not detected:
//!
//! - between two detections of a track, the box is **interpolated**;
//! - after the last detection, it is **held** for `hold_frames`, moving with the track's velocity;
//! - before the first detection, it is **back-filled** for up to `lookahead_frames` (batch mode
//!   sees the future through a bounded window of frames that are not yet encoded).
//!
//! Boxes that are not direct detections grow with the distance to the nearest detection and
//! with the track's speed, so a fast head does not outrun its mask.

use std::collections::VecDeque;

use serde::Serialize;

use crate::detect::{Class, Detection};
use crate::geometry::BBox;

/// Box sizes a face may move per second beyond its predicted motion: a walking person crosses
/// several face widths a second, and a new track has no velocity to predict with yet.
const DRIFT_PER_SECOND: f64 = 6.0;

/// Tracking tunables, in frames.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrackerSettings {
    /// Frames a track is kept (moving with its velocity) after its last detection.
    pub hold_frames: u64,
    /// Frames before a track's first detection that are back-filled (0 for live streams).
    pub lookahead_frames: u64,
    /// Extra growth of a non-detected box per frame of distance to its nearest detection.
    pub growth_per_frame: f32,
    /// How far (in box sizes) a face may move in one frame beyond its predicted motion, so a
    /// track found again after several frames without a detection still matches.
    pub drift_per_frame: f32,
}

impl TrackerSettings {
    /// Defaults scaled to the frame rate: hold and look-ahead of about one second.
    pub fn for_fps(fps: f64, lookahead: bool) -> Self {
        let second = fps.clamp(1.0, 120.0).round() as u64;
        TrackerSettings {
            hold_frames: second,
            lookahead_frames: if lookahead { second } else { 0 },
            growth_per_frame: 0.04,
            drift_per_frame: (DRIFT_PER_SECOND / fps.clamp(1.0, 120.0)) as f32,
        }
    }
}

/// How a tracked box for a frame was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Detected,
    Interpolated,
    Held,
    Backfilled,
}

/// Where a track is in one frame.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct TrackedBox {
    pub track: u64,
    pub class: Class,
    #[serde(rename = "box")]
    pub bbox: BBox,
    pub score: f32,
    pub origin: Origin,
}

impl TrackedBox {
    /// A detection taken as is (for a single image, or a frame without tracking).
    pub fn detected(track: u64, d: &Detection) -> Self {
        TrackedBox { track, class: d.class, bbox: d.bbox, score: d.score, origin: Origin::Detected }
    }
}

#[derive(Clone, Debug)]
struct Observation {
    frame: u64,
    bbox: BBox,
    score: f32,
}

#[derive(Clone, Debug)]
struct Track {
    id: u64,
    class: Class,
    /// Detections in frame order, oldest first (bounded by pruning).
    history: VecDeque<Observation>,
    /// Box motion per frame: centre x, centre y, width, height.
    velocity: [f32; 4],
}

impl Track {
    fn last(&self) -> &Observation {
        self.history.back().expect("a track has at least one observation")
    }

    fn first(&self) -> &Observation {
        self.history.front().expect("a track has at least one observation")
    }

    /// The box extrapolated from observation `o` by `frames` (negative: backwards).
    fn extrapolate(&self, o: &Observation, frames: f32) -> BBox {
        let (cx, cy) = o.bbox.center();
        let [vx, vy, vw, vh] = self.velocity;
        let w = (o.bbox.width() + vw * frames).max(o.bbox.width() * 0.5);
        let h = (o.bbox.height() + vh * frames).max(o.bbox.height() * 0.5);
        let (cx, cy) = (cx + vx * frames, cy + vy * frames);
        BBox::new(cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0)
    }

    fn predict(&self, frame: u64) -> BBox {
        let last = self.last();
        self.extrapolate(last, frame.saturating_sub(last.frame) as f32)
    }

    fn add(&mut self, frame: u64, det: &Detection) {
        let last = self.last().clone();
        let gap = frame.saturating_sub(last.frame).max(1) as f32;
        let (ox, oy) = last.bbox.center();
        let (nx, ny) = det.bbox.center();
        let measured = [
            (nx - ox) / gap,
            (ny - oy) / gap,
            (det.bbox.width() - last.bbox.width()) / gap,
            (det.bbox.height() - last.bbox.height()) / gap,
        ];
        // The first pair of detections sets the velocity; later ones smooth it.
        let alpha = if self.history.len() == 1 { 1.0 } else { 0.5 };
        for (v, m) in self.velocity.iter_mut().zip(measured) {
            *v = alpha * m + (1.0 - alpha) * *v;
        }
        self.history.push_back(Observation { frame, bbox: det.bbox, score: det.score });
    }

    /// Where this track is in `frame`, if it is known there.
    fn locate(&self, frame: u64, s: &TrackerSettings) -> Option<TrackedBox> {
        let after = self.history.iter().position(|o| o.frame >= frame);
        let (bbox, score, origin, distance) = match after {
            Some(i) if self.history[i].frame == frame => {
                let o = &self.history[i];
                (o.bbox, o.score, Origin::Detected, 0)
            }
            Some(0) => {
                let first = self.first();
                let distance = first.frame - frame;
                if distance > s.lookahead_frames {
                    return None;
                }
                (self.extrapolate(first, -(distance as f32)), first.score, Origin::Backfilled, distance)
            }
            Some(i) => {
                let (a, b) = (&self.history[i - 1], &self.history[i]);
                let t = (frame - a.frame) as f32 / (b.frame - a.frame) as f32;
                let lerp = |p: f32, q: f32| p + (q - p) * t;
                let bbox = BBox::new(lerp(a.bbox.x1, b.bbox.x1), lerp(a.bbox.y1, b.bbox.y1), lerp(a.bbox.x2, b.bbox.x2), lerp(a.bbox.y2, b.bbox.y2));
                let distance = (frame - a.frame).min(b.frame - frame);
                (bbox, a.score.min(b.score), Origin::Interpolated, distance)
            }
            None => {
                let last = self.last();
                let distance = frame - last.frame;
                if distance > s.hold_frames {
                    return None;
                }
                (self.extrapolate(last, distance as f32), last.score, Origin::Held, distance)
            }
        };
        Some(TrackedBox { track: self.id, class: self.class, bbox: self.grow(bbox, distance, s), score, origin })
    }

    /// Grows a box with uncertainty (distance to a detection) and one frame of motion.
    fn grow(&self, b: BBox, distance: u64, s: &TrackerSettings) -> BBox {
        let [vx, vy, ..] = self.velocity;
        let g = 1.0 + s.growth_per_frame * distance as f32;
        let (cx, cy) = b.center();
        let hw = b.width() * g / 2.0 + vx.abs();
        let hh = b.height() * g / 2.0 + vy.abs();
        BBox::new(cx - hw, cy - hh, cx + hw, cy + hh)
    }
}

/// Associates detections into tracks and answers where tracks are.
#[derive(Debug)]
pub struct Tracker {
    settings: TrackerSettings,
    tracks: Vec<Track>,
    next_id: u64,
}

/// Least IoU between a prediction and a detection for them to be the same object, unless
/// their centres are close (small, fast faces often do not overlap from frame to frame).
const MATCH_IOU: f32 = 0.1;
/// Centre distance, in units of the larger box size, under which two boxes in consecutive
/// frames may match (more after frames without a detection, see `drift_per_frame`).
const MATCH_DISTANCE: f32 = 1.5;

impl Tracker {
    pub fn new(settings: TrackerSettings) -> Self {
        Tracker { settings, tracks: Vec::new(), next_id: 0 }
    }

    pub fn settings(&self) -> &TrackerSettings {
        &self.settings
    }

    /// Feeds the detections of `frame` (frames in increasing order; frames on which the detector
    /// did not run are simply not fed). Returns the track id given to each detection.
    pub fn observe(&mut self, frame: u64, detections: &[Detection]) -> Vec<u64> {
        let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
        for (ti, track) in self.tracks.iter().enumerate() {
            if frame.saturating_sub(track.last().frame) > self.settings.hold_frames {
                continue;
            }
            let predicted = track.predict(frame);
            // The longer a track went unseen, the further it may be from its prediction.
            let gap = frame.saturating_sub(track.last().frame).max(1) - 1;
            let reach = MATCH_DISTANCE + self.settings.drift_per_frame * gap as f32;
            for (di, det) in detections.iter().enumerate() {
                if det.class != track.class {
                    continue;
                }
                if let Some(cost) = match_cost(&predicted, &det.bbox, reach) {
                    pairs.push((cost, ti, di));
                }
            }
        }
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut track_used = vec![false; self.tracks.len()];
        let mut assigned: Vec<Option<u64>> = vec![None; detections.len()];
        for (_, ti, di) in pairs {
            if track_used[ti] || assigned[di].is_some() {
                continue;
            }
            track_used[ti] = true;
            self.tracks[ti].add(frame, &detections[di]);
            assigned[di] = Some(self.tracks[ti].id);
        }
        detections
            .iter()
            .zip(assigned)
            .map(|(det, id)| {
                id.unwrap_or_else(|| {
                    let id = self.next_id;
                    self.next_id += 1;
                    self.tracks.push(Track {
                        id,
                        class: det.class,
                        history: VecDeque::from([Observation { frame, bbox: det.bbox, score: det.score }]),
                        velocity: [0.0; 4],
                    });
                    id
                })
            })
            .collect()
    }

    /// Every track's box in `frame`. Complete once frames up to `frame + lookahead_frames`
    /// have been observed (or the stream ended).
    pub fn boxes_at(&self, frame: u64) -> Vec<TrackedBox> {
        self.tracks.iter().filter_map(|t| t.locate(frame, &self.settings)).collect()
    }

    /// Forgets what can no longer affect frames at or after `frame`.
    pub fn forget_before(&mut self, frame: u64) {
        let hold = self.settings.hold_frames;
        self.tracks.retain(|t| t.last().frame + hold >= frame);
        for t in &mut self.tracks {
            // Keep the last observation before `frame` (needed to interpolate or hold).
            while t.history.len() > 1 && t.history[1].frame <= frame {
                t.history.pop_front();
            }
        }
    }

    pub fn live_tracks(&self) -> usize {
        self.tracks.len()
    }
}

/// Largest ratio between the sizes of a track's box and a detection that may match: a face
/// does not double in size between two looks, but a near and a far face can pass close by.
const MATCH_SIZE_RATIO: f32 = 2.0;

/// The cost of pairing a track's predicted box with a detection, if they are of a similar size
/// and their centres are within `reach` box sizes or they overlap enough.
fn match_cost(predicted: &BBox, det: &BBox, reach: f32) -> Option<f32> {
    let (ps, ds) = (predicted.width().max(predicted.height()).max(1.0), det.width().max(det.height()).max(1.0));
    if ps.max(ds) > MATCH_SIZE_RATIO * ps.min(ds) {
        return None;
    }
    let iou = predicted.iou(det);
    let (px, py) = predicted.center();
    let (dx, dy) = det.center();
    let size = ps.max(ds);
    let distance = ((px - dx).powi(2) + (py - dy).powi(2)).sqrt() / size;
    (iou >= MATCH_IOU || distance <= reach).then_some(1.0 - iou + distance)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(x: f32, y: f32, size: f32) -> Detection {
        Detection { class: Class::Face, bbox: BBox::from_xywh(x, y, size, size), score: 0.9 }
    }

    fn settings() -> TrackerSettings {
        TrackerSettings { hold_frames: 5, lookahead_frames: 5, growth_per_frame: 0.0, drift_per_frame: 0.25 }
    }

    #[test]
    fn a_moving_face_keeps_one_track_id() {
        let mut t = Tracker::new(settings());
        let ids: Vec<u64> = (0..10).map(|f| t.observe(f, &[face(10.0 + 8.0 * f as f32, 50.0, 20.0)])[0]).collect();
        assert!(ids.iter().all(|&id| id == ids[0]), "{ids:?}");
    }

    #[test]
    fn a_missed_frame_between_detections_is_interpolated() {
        let mut t = Tracker::new(settings());
        t.observe(0, &[face(0.0, 0.0, 20.0)]);
        t.observe(1, &[]);
        t.observe(2, &[face(10.0, 0.0, 20.0)]);
        let boxes = t.boxes_at(1);
        assert_eq!(boxes.len(), 1);
        assert_eq!(boxes[0].origin, Origin::Interpolated);
        assert!((boxes[0].bbox.center().0 - 15.0).abs() < 1.5, "{:?}", boxes[0].bbox);
    }

    #[test]
    fn frames_before_the_first_detection_are_backfilled_within_the_lookahead() {
        let mut t = Tracker::new(settings());
        t.observe(10, &[face(100.0, 0.0, 20.0)]);
        t.observe(11, &[face(110.0, 0.0, 20.0)]);
        let at8 = t.boxes_at(8);
        assert_eq!(at8.len(), 1);
        assert_eq!(at8[0].origin, Origin::Backfilled);
        // Moving +10 px/frame: two frames earlier it was about 20 px to the left.
        assert!((at8[0].bbox.center().0 - 90.0).abs() < 2.0, "{:?}", at8[0].bbox);
        assert!(t.boxes_at(4).is_empty(), "beyond the look-ahead nothing is invented");
    }

    #[test]
    fn a_lost_track_is_held_then_dropped() {
        let mut t = Tracker::new(settings());
        t.observe(0, &[face(0.0, 0.0, 20.0)]);
        t.observe(1, &[face(4.0, 0.0, 20.0)]);
        assert_eq!(t.boxes_at(4)[0].origin, Origin::Held);
        assert!((t.boxes_at(4)[0].bbox.center().0 - 22.0).abs() < 5.0);
        assert!(t.boxes_at(7).is_empty());
        t.forget_before(20);
        assert_eq!(t.live_tracks(), 0);
    }

    #[test]
    fn a_fast_small_face_without_overlap_still_matches_its_track() {
        let mut t = Tracker::new(settings());
        let a = t.observe(0, &[face(0.0, 0.0, 12.0)])[0];
        let b = t.observe(1, &[face(14.0, 0.0, 12.0)])[0]; // IoU 0, centre 14 px away
        assert_eq!(a, b);
    }

    #[test]
    fn a_small_face_found_again_after_a_gap_joins_its_track_and_the_gap_is_interpolated() {
        let mut t = Tracker::new(TrackerSettings { hold_frames: 25, ..settings() });
        // 12 px face moving 3 px/frame, detected at frames 0 and 10 only (2.5 sizes apart).
        let a = t.observe(0, &[face(0.0, 0.0, 12.0)])[0];
        let b = t.observe(10, &[face(30.0, 0.0, 12.0)])[0];
        assert_eq!(a, b);
        let at5 = t.boxes_at(5);
        assert_eq!(at5.len(), 1, "{at5:?}");
        assert_eq!(at5[0].origin, Origin::Interpolated);
        assert!((at5[0].bbox.center().0 - 21.0).abs() < 1.0, "{:?}", at5[0].bbox);
    }

    #[test]
    fn a_face_far_away_in_the_next_frame_starts_a_new_track() {
        let mut t = Tracker::new(settings());
        let a = t.observe(0, &[face(0.0, 0.0, 12.0)])[0];
        let b = t.observe(1, &[face(60.0, 0.0, 12.0)])[0];
        assert_ne!(a, b);
    }

    #[test]
    fn a_small_face_near_a_large_one_does_not_take_over_its_track() {
        let mut t = Tracker::new(settings());
        let big = t.observe(0, &[face(100.0, 100.0, 40.0)])[0];
        let small = t.observe(3, &[face(110.0, 150.0, 12.0)])[0];
        assert_ne!(big, small);
    }

    #[test]
    fn held_boxes_grow_with_speed_so_the_mask_is_not_outrun() {
        let mut t = Tracker::new(settings());
        t.observe(0, &[face(0.0, 0.0, 20.0)]);
        t.observe(1, &[face(10.0, 0.0, 20.0)]);
        let held = t.boxes_at(2)[0].bbox;
        assert!(held.width() >= 40.0 - 1e-3, "{held:?}");
    }
}
