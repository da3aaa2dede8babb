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
//! with the track's speed, so a fast head does not outrun its mask. They stay masks that look
//! like masks:
//!
//! - the velocity is the median of the last few steps between detections; with only one step
//!   (two detections) a held or back-filled box moves only over twice the frames that step
//!   spans, then stays where it is: one noisy pair of detections cannot send a box across the
//!   frame;
//! - a box keeps the size of the detection it comes from; growth is bounded to 1.5× the
//!   track's median detected width and height, and the box stays face-shaped (width/height
//!   within the detected aspect ×/÷ 1.5, reached by enlarging the short side). A box is never
//!   made smaller than the detection or interpolation it grew from, so no detected face loses
//!   coverage. A track found once, and not again within the look-ahead, has no motion to be
//!   uncertain about: its boxes keep the detected size (live they grow as any track's);
//! - a track found once with a weak score, and not found again within the look-ahead, is held
//!   for `single_hit_frames` only (a false alarm is not a second-long phantom); its back-fill
//!   stays, since a face entering the picture is often first found weakly, and live (no
//!   look-ahead) it is held like any track;
//! - a detection does not join a track of a very different shape (a chin found under a face);
//! - a detection that joins a track away from where the track was predicted (no overlap) may be
//!   another face or head that came close while this one was missed: the track's old path is
//!   kept beside it, held from its last detection for as long as the track had gone unseen
//!   (the face stays covered if it stood where it was), and a detection found again where the
//!   old path is joins it there. A real jump leaves only a brief held box behind, and a path
//!   that ends on a weak detection the track had jumped to (a false alarm it strayed to while
//!   its face went unseen) is held only as briefly as a weak single hit;
//! - a track missed for longer than its hold is *lost*, but while the frames it was missed in
//!   are still in the look-ahead window, a detection close to where its trusted motion
//!   predicts, and of its detected size in width and in height (within 2×), finds it again:
//!   the frames between are interpolated and it is held moving on, where a new track found
//!   once would stand still while the face walks out of its box. A detection of another size
//!   there is another object: it starts its own track, and the lost track's boxes keep the
//!   size of its own detections. The planner is told of such face tracks
//!   ([`Tracker::lost_faces`]) and looks closer there.

use std::collections::VecDeque;

use serde::Serialize;

use crate::detect::{Class, Detection};
use crate::geometry::BBox;

/// Box sizes a face may move per second beyond its predicted motion: a walking person crosses
/// several face widths a second, and a new track has no velocity to predict with yet.
const DRIFT_PER_SECOND: f64 = 6.0;
/// How long a weak single hit is held after its detection: long enough to bridge the frames
/// between two looks, short enough that a false alarm is not a second-long phantom.
const SINGLE_HIT_SECONDS: f64 = 0.2;

/// Tracking tunables, in frames.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrackerSettings {
    /// Frames a track is kept (moving with its velocity) after its last detection.
    pub hold_frames: u64,
    /// Frames before a track's first detection that are back-filled (a file's second; live,
    /// `live.lookahead_ms`).
    pub lookahead_frames: u64,
    /// Extra growth of a non-detected box per frame of distance to its nearest detection.
    pub growth_per_frame: f32,
    /// How far (in box sizes) a face may move in one frame beyond its predicted motion, so a
    /// track found again after several frames without a detection still matches.
    pub drift_per_frame: f32,
    /// Frames a weak single hit (a track found once, with a low score) is held after its
    /// detection, instead of `hold_frames`, when there is a look-ahead (live, without one, it
    /// cannot be known that the face was not found again, and it is held `hold_frames`).
    pub single_hit_frames: u64,
    /// The frame rate these frame counts were made for (live, an assumed one until the camera's
    /// own is known): how long `hold_frames` lasts ([`TrackerSettings::hold`]).
    pub fps: f64,
}

impl TrackerSettings {
    /// How long `hold_frames` lasts at the rate the settings were made for.
    pub fn hold(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.hold_frames as f64 / self.fps.clamp(1.0, 120.0))
    }

    /// Defaults scaled to the frame rate: hold and look-ahead of about one second.
    pub fn for_fps(fps: f64, lookahead: bool) -> Self {
        let second = fps.clamp(1.0, 120.0).round() as u64;
        TrackerSettings {
            hold_frames: second,
            lookahead_frames: if lookahead { second } else { 0 },
            growth_per_frame: 0.04,
            drift_per_frame: (DRIFT_PER_SECOND / fps.clamp(1.0, 120.0)) as f32,
            single_hit_frames: (SINGLE_HIT_SECONDS * fps.clamp(1.0, 120.0)).round() as u64,
            fps,
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
    /// For a track's old path, kept when the track jumped to a detection away from where it was
    /// predicted: the id of that track (its detections before the jump are that track's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub left_by: Option<u64>,
}

impl TrackedBox {
    /// A detection taken as is (for a single image, or a frame without tracking).
    pub fn detected(track: u64, d: &Detection) -> Self {
        TrackedBox { track, class: d.class, bbox: d.bbox, score: d.score, origin: Origin::Detected, left_by: None }
    }
}

#[derive(Clone, Debug)]
struct Observation {
    frame: u64,
    bbox: BBox,
    score: f32,
}

/// Motion between two consecutive detections of a track, per frame.
#[derive(Clone, Copy, Debug)]
struct Step {
    /// Centre motion per frame, x and y.
    velocity: [f32; 2],
    /// Frames between the two detections.
    frames: u64,
}

#[derive(Clone, Debug)]
struct Track {
    id: u64,
    class: Class,
    /// Detections in frame order, oldest first (bounded by pruning).
    history: VecDeque<Observation>,
    /// The most recent detected sizes `(width, height)` (kept when `history` is pruned): what
    /// the track's uncertain boxes are bounded against.
    sizes: VecDeque<(f32, f32)>,
    /// The most recent steps between detections: the velocity is their median.
    steps: VecDeque<Step>,
    /// Detections so far and the best score among them.
    detections: u64,
    best_score: f32,
    /// A track's old path kept after its track jumped to a detection away from where it was
    /// predicted ([`Track::left_behind`]): it shows nothing up to this frame (the track it was
    /// split from does)…
    shows_after: Option<u64>,
    /// …and, until it is found again, is held at most this many frames.
    brief_hold: Option<u64>,
    /// The track it was left behind by.
    left_by: Option<u64>,
    /// The frame of the detection this track last jumped to (a detection away from where it
    /// was predicted, [`Track::jumps_to`]).
    jumped_at: Option<u64>,
    /// The first frame of a cut after this track was last seen ([`Tracker::cut`]): no
    /// detection from it on joins this track.
    cut_at: Option<u64>,
}

/// Detected sizes a track remembers for its bounds.
const SIZE_HISTORY: usize = 15;
/// Steps between detections the velocity is the median of.
const VELOCITY_STEPS: usize = 5;
/// An uncertain box is at most this many times the track's median detected width and height…
/// (2.0 until the closer look hid more small, fast faces: their held and back-filled boxes then
/// reached 4.5–4.9× the face's area at the 99th percentile; 1.5 brings that to 2.8–3.4 at the
/// same recall on the harness's tuning clips, docs/evaluation.md.)
const MAX_GROWTH: f32 = 1.5;
/// …and its width/height within the track's median detected aspect ×/÷ this.
const MAX_ASPECT_CHANGE: f32 = 1.5;
/// Until a track has [`TRUSTED_STEPS`] steps, its motion is extrapolated over at most this many
/// times the frames it was observed over: two detections 2 frames apart move a held or
/// back-filled box for 4 frames, then it stays put.
const EXTRAPOLATION_SPAN: f32 = 2.0;
/// Steps from which the median velocity is trusted for the whole hold or back-fill (a small
/// face entering the picture is back-filled along its path).
const TRUSTED_STEPS: usize = 2;
/// A track found once with a score below this is a weak single hit: held only for
/// `single_hit_frames` after its detection (its back-fill stays: a face that enters the
/// picture is often first found with a weak score, and the frames before it are emitted
/// before a second detection can confirm it).
const WEAK_SCORE: f32 = 0.5;

/// Component-wise median (the mean of the middle two for an even count).
fn median(values: impl Iterator<Item = f32>) -> f32 {
    let mut v: Vec<f32> = values.collect();
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f32::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

impl Track {
    fn new(id: u64, frame: u64, det: &Detection) -> Self {
        Track {
            id,
            class: det.class,
            history: VecDeque::from([Observation { frame, bbox: det.bbox, score: det.score }]),
            sizes: VecDeque::from([(det.bbox.width(), det.bbox.height())]),
            steps: VecDeque::new(),
            detections: 1,
            best_score: det.score,
            shows_after: None,
            brief_hold: None,
            left_by: None,
            jumped_at: None,
            cut_at: None,
        }
    }

    /// Whether a detection that overlaps this track's prediction by `overlap` (IoU) leaves its
    /// old path behind ([`Track::left_behind`]): the track's motion is trusted and the detection
    /// does not overlap where it was expected.
    /// Whether a cut came between this track's last detection and `frame` ([`Tracker::cut`]).
    fn cut_off(&self, frame: u64) -> bool {
        self.cut_at.is_some_and(|cut| frame >= cut)
    }

    fn jumps_to(&self, overlap: f32) -> bool {
        self.steps.len() >= TRUSTED_STEPS && overlap < JUMP_IOU
    }

    /// What is left of this track where it was, as track `id`, when its detection in `frame`
    /// lies away from its prediction: the detection may be another face or head that came
    /// close while this one was missed. The old path is held from the last detection with the
    /// old velocity, after `frame` for as many frames as the track went unseen before it (at
    /// least `min_hold`): the face is still covered if it stayed, and its next detection
    /// joins the old path (its prediction is closer) instead of the new one. A real jump
    /// leaves a brief held box.
    ///
    /// An old path that ends on a weak detection the track had jumped to is held only
    /// `min_hold` after `frame`: it was found once at that place, weakly, like a weak single
    /// hit, and the track has left it again. (Held as long as it went unseen, a false
    /// detection a small face's track strayed to was kept for 16 frames as a box twice the
    /// face's size beside it, live.)
    fn left_behind(&self, id: u64, frame: u64, min_hold: u64) -> Track {
        let last = self.last().clone();
        let (since, gap) = (last.frame, frame.saturating_sub(last.frame));
        let strayed = self.jumped_at == Some(last.frame) && last.score < WEAK_SCORE;
        let after = if strayed { min_hold } else { gap.max(min_hold) };
        Track {
            id,
            class: self.class,
            history: VecDeque::from([last]),
            sizes: self.sizes.clone(),
            steps: self.steps.clone(),
            detections: self.detections,
            best_score: self.best_score,
            shows_after: Some(since),
            brief_hold: Some(gap + after),
            left_by: Some(self.id),
            jumped_at: None,
            cut_at: self.cut_at,
        }
    }

    /// Joins detection `det` in `frame`, away from where this track was predicted
    /// ([`Track::jumps_to`]), and returns its old path left behind, as track `id`.
    fn jump_to(&mut self, id: u64, frame: u64, det: &Detection, min_hold: u64) -> Track {
        let old_path = self.left_behind(id, frame, min_hold);
        self.add(frame, det);
        self.jumped_at = Some(frame);
        old_path
    }

    /// Frames after its last detection in which this track may still be found again: a path
    /// left behind only briefly, any other track for `hold_frames`.
    fn kept(&self, s: &TrackerSettings) -> u64 {
        self.brief_hold.map_or(s.hold_frames, |b| b.min(s.hold_frames))
    }

    /// Frames since the track was last seen, at `frame`, and whether it is lost by then (unseen
    /// for longer than it is [`kept`](Track::kept)).
    fn unseen_at(&self, frame: u64, s: &TrackerSettings) -> (u64, bool) {
        let unseen = frame.saturating_sub(self.last().frame);
        (unseen, unseen > self.kept(s))
    }

    /// Whether this track, unseen for `unseen` frames (longer than it is kept), may still be
    /// found again: a face missed for longer than the hold whose next detection comes while
    /// the frames it was missed in are still in the look-ahead window. Only a track whose
    /// motion is trusted, within the look-ahead beyond its hold, and (see `Tracker::observe`)
    /// only close to where that motion predicts; the frames between are then interpolated.
    /// Live, within the live look-ahead only (a fraction of a second).
    fn findable_when_lost(&self, unseen: u64, s: &TrackerSettings) -> bool {
        self.brief_hold.is_none() && self.steps.len() >= TRUSTED_STEPS && unseen <= self.kept(s) + s.lookahead_frames
    }

    /// Frames this track's box is shown after its last detection: as long as it is kept, but a
    /// weak single hit only briefly when the look-ahead has shown that the face was not found
    /// again ([`Track::seen_past_hold`]; live, with a look-ahead shorter than the hold, it is
    /// held like any track).
    fn hold(&self, s: &TrackerSettings) -> u64 {
        let brief = self.weak_single_hit() && self.seen_past_hold(s);
        if brief { self.kept(s).min(s.single_hit_frames) } else { self.kept(s) }
    }

    fn last(&self) -> &Observation {
        self.history.back().expect("a track has at least one observation")
    }

    fn first(&self) -> &Observation {
        self.history.front().expect("a track has at least one observation")
    }

    /// Centre motion per frame: the median of the recent steps, so one noisy pair of
    /// detections among good ones does not send the box across the frame.
    fn velocity(&self) -> [f32; 2] {
        [median(self.steps.iter().map(|s| s.velocity[0])), median(self.steps.iter().map(|s| s.velocity[1]))]
    }

    /// Frames of motion that may be extrapolated: all of them once the velocity is the median
    /// of [`TRUSTED_STEPS`] steps or more; before that (one pair of detections, which may be a
    /// part of a face next to a whole one) a multiple of the frames it was measured over.
    fn trusted_motion_frames(&self) -> f32 {
        if self.steps.len() >= TRUSTED_STEPS {
            return f32::INFINITY;
        }
        EXTRAPOLATION_SPAN * self.steps.iter().map(|s| s.frames).sum::<u64>() as f32
    }

    /// Median detected width, height and width/height.
    fn detected_shape(&self) -> (f32, f32, f32) {
        let w = median(self.sizes.iter().map(|s| s.0));
        let h = median(self.sizes.iter().map(|s| s.1));
        let aspect = median(self.sizes.iter().map(|s| s.0 / s.1.max(1e-3)));
        (w.max(1.0), h.max(1.0), aspect.max(1e-3))
    }

    /// Found once, and not again within the look-ahead (file mode): its held and back-filled
    /// boxes keep the detected size. Growth covers the uncertainty of a motion, and such a
    /// track has none to be uncertain about; grown, one oversized first detection made boxes
    /// of 3-4× the face's width. Live, with a look-ahead shorter than the hold, the next look
    /// may still find it moving, and its boxes grow as any track's.
    fn found_once_in_hindsight(&self, s: &TrackerSettings) -> bool {
        self.detections == 1 && self.seen_past_hold(s)
    }

    /// Whether the look-ahead reaches past this track's hold: when a frame the hold would cover
    /// leaves, every look until the hold's end has come back, so a track still found once was
    /// not found again in all that time. Files (look-ahead = hold, one second each) know it;
    /// a live camera, whose look-ahead is a fraction of a second, does not: a face it found
    /// once may be found again after its frames have left.
    fn seen_past_hold(&self, s: &TrackerSettings) -> bool {
        s.lookahead_frames > 0 && s.lookahead_frames >= self.kept(s)
    }

    /// A weak single hit: found once, with a low score.
    fn weak_single_hit(&self) -> bool {
        self.detections == 1 && self.best_score < WEAK_SCORE
    }

    /// Observation `o`'s box moved by the velocity over `frames` (negative: backwards), as far
    /// as the motion is trusted. Its size is the detected one: growth is added by `grow`.
    fn extrapolate(&self, o: &Observation, frames: f32) -> BBox {
        let moved = frames.clamp(-self.trusted_motion_frames(), self.trusted_motion_frames());
        moved_with(o.bbox, self.velocity(), moved)
    }

    /// Where the track is expected in `frame`, for matching (motion not bounded).
    fn predict(&self, frame: u64) -> BBox {
        let last = self.last();
        moved_with(last.bbox, self.velocity(), frame.saturating_sub(last.frame) as f32)
    }

    fn add(&mut self, frame: u64, det: &Detection) {
        let last = self.last().clone();
        let gap = frame.saturating_sub(last.frame).max(1);
        let (ox, oy) = last.bbox.center();
        let (nx, ny) = det.bbox.center();
        push_bounded(&mut self.steps, Step { velocity: [(nx - ox) / gap as f32, (ny - oy) / gap as f32], frames: gap }, VELOCITY_STEPS);
        push_bounded(&mut self.sizes, (det.bbox.width(), det.bbox.height()), SIZE_HISTORY);
        self.detections += 1;
        self.best_score = self.best_score.max(det.score);
        self.brief_hold = None;
        self.history.push_back(Observation { frame, bbox: det.bbox, score: det.score });
    }

    /// Where this track is in `frame`, if it is known there.
    fn locate(&self, frame: u64, s: &TrackerSettings) -> Option<TrackedBox> {
        if self.shows_after.is_some_and(|f| frame <= f) {
            return None;
        }
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
                let bbox = a.bbox.lerp(&b.bbox, t);
                let distance = (frame - a.frame).min(b.frame - frame);
                (bbox, a.score.min(b.score), Origin::Interpolated, distance)
            }
            None => {
                let last = self.last();
                let distance = frame - last.frame;
                if distance > self.hold(s) {
                    return None;
                }
                (self.extrapolate(last, distance as f32), last.score, Origin::Held, distance)
            }
        };
        let bbox = if self.found_once_in_hindsight(s) { bbox } else { self.bounded(bbox, self.grow(bbox, distance, s)) };
        Some(TrackedBox { track: self.id, class: self.class, bbox, score, origin, left_by: self.left_by })
    }

    /// How far the box may be off by one frame, per side: the mean size of the recent steps.
    /// Detections move in jumps of the detector's grid (8 px at 640 px for a 1280 px frame), so
    /// a slowly moving face has steps of 0 and of a whole grid cell; their signed median says
    /// it stands still, the mean of their sizes keeps the margin the motion and jitter need.
    fn step_margin(&self) -> [f32; 2] {
        let n = self.steps.len().max(1) as f32;
        let mean = |axis: usize| self.steps.iter().map(|s| s.velocity[axis].abs()).sum::<f32>() / n;
        [mean(0), mean(1)]
    }

    /// Grows a box with uncertainty (distance to a detection) and one frame of motion.
    fn grow(&self, b: BBox, distance: u64, s: &TrackerSettings) -> BBox {
        let [mx, my] = self.step_margin();
        let g = 1.0 + s.growth_per_frame * distance as f32;
        let (cx, cy) = b.center();
        let hw = b.width() * g / 2.0 + mx;
        let hh = b.height() * g / 2.0 + my;
        BBox::new(cx - hw, cy - hh, cx + hw, cy + hh)
    }

    /// Keeps a grown box face-shaped and bounded: its width/height within the track's detected
    /// aspect ×/÷ [`MAX_ASPECT_CHANGE`] (by enlarging the short side), and its size within
    /// [`MAX_GROWTH`] times the track's median detected size — but never smaller than `base`,
    /// the box before growth (a detection, or one placed from detections), so no face the
    /// detector found loses coverage.
    fn bounded(&self, base: BBox, grown: BBox) -> BBox {
        let (dw, dh, aspect) = self.detected_shape();
        let (cx, cy) = grown.center();
        let (mut w, mut h) = (grown.width(), grown.height());
        let (lo, hi) = (aspect / MAX_ASPECT_CHANGE, aspect * MAX_ASPECT_CHANGE);
        if w > h * hi {
            h = w / hi;
        } else if w < h * lo {
            w = h * lo;
        }
        let shrink = (MAX_GROWTH * dw / w).min(MAX_GROWTH * dh / h).min(1.0);
        let w = (w * shrink).max(base.width());
        let h = (h * shrink).max(base.height());
        BBox::new(cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0)
    }
}

/// Appends to a ring of at most `cap` entries.
fn push_bounded<T>(ring: &mut VecDeque<T>, value: T, cap: usize) {
    if ring.len() == cap {
        ring.pop_front();
    }
    ring.push_back(value);
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
        let mut pairs: Vec<(f32, usize, usize, bool)> = Vec::new();
        for (ti, track) in self.tracks.iter().enumerate() {
            let (unseen, lost) = track.unseen_at(frame, &self.settings);
            if (lost && !track.findable_when_lost(unseen, &self.settings)) || track.cut_off(frame) {
                continue;
            }
            let predicted = track.predict(frame);
            // The longer a track went unseen, the further it may be from its prediction; a
            // lost track only where its motion predicts.
            let gap = unseen.max(1) - 1;
            let reach = if lost { MATCH_DISTANCE } else { MATCH_DISTANCE + self.settings.drift_per_frame * gap as f32 };
            let (w, h, _) = track.detected_shape();
            for (di, det) in detections.iter().enumerate() {
                let size = (det.bbox.width(), det.bbox.height());
                if det.class != track.class || !similar_size(w.max(h), size.0.max(size.1)) || (lost && !of_lost_track_size((w, h), size)) {
                    continue;
                }
                // A path left behind is for the face found again where it was: it is not
                // joined from afar.
                let overlap = predicted.iou(&det.bbox);
                if track.brief_hold.is_some() && overlap < JUMP_IOU {
                    continue;
                }
                if let Some(cost) = match_cost(&predicted, &det.bbox, reach) {
                    // A lost track shows nothing where it was: no old path to leave behind.
                    pairs.push((cost, ti, di, !lost && track.jumps_to(overlap)));
                }
            }
        }
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut track_used = vec![false; self.tracks.len()];
        let mut assigned: Vec<Option<u64>> = vec![None; detections.len()];
        let mut left_behind = Vec::new();
        for (_, ti, di, jump) in pairs {
            if track_used[ti] || assigned[di].is_some() {
                continue;
            }
            track_used[ti] = true;
            if jump {
                left_behind.push(self.tracks[ti].jump_to(self.next_id, frame, &detections[di], self.settings.single_hit_frames));
                self.next_id += 1;
            } else {
                self.tracks[ti].add(frame, &detections[di]);
            }
            assigned[di] = Some(self.tracks[ti].id);
        }
        self.tracks.extend(left_behind);
        detections
            .iter()
            .zip(assigned)
            .map(|(det, id)| {
                id.unwrap_or_else(|| {
                    let id = self.next_id;
                    self.next_id += 1;
                    self.tracks.push(Track::new(id, frame, det));
                    id
                })
            })
            .collect()
    }

    /// The picture changed at `frame` more than anything in it can move: a cut, or a camera
    /// that jumped ([`Plan::cut`](crate::detect::Plan::cut)). What is found from `frame` on
    /// starts tracks of its own and joins none of those seen before, whose boxes stay where
    /// their own motion puts them, held as when a face is lost (found by hostile use: the face
    /// found after a cut joined the track of another face before it, and the frame between
    /// their two looks was masked halfway between them, leaving both faces visible in it).
    pub fn cut(&mut self, frame: u64) {
        for track in &mut self.tracks {
            track.cut_at.get_or_insert(frame);
        }
    }

    /// Feeds what a glance found in `frame`, between two looks ([`Plan::glance`](crate::detect::Plan::glance)):
    /// a glance adds, it never replaces. Each detection that a track's predicted box already
    /// covers for the most part (half of its area) is left out, so that a partial
    /// find (a face cut by the edge of a glance's tile) never takes the place of the box the
    /// track holds; each other starts a track of its own, as a face found by a look for the
    /// first time does. Returns the ids of the tracks started.
    pub fn glimpse(&mut self, frame: u64, detections: &[Detection]) -> Vec<u64> {
        let settings = self.settings;
        let covered = |d: &Detection| {
            self.tracks.iter().any(|t| {
                t.class == d.class && !t.unseen_at(frame, &settings).1 && !t.cut_off(frame) && t.predict(frame).intersection(&d.bbox) >= GLIMPSE_COVERED * d.bbox.area()
            })
        };
        let new: Vec<Detection> = detections.iter().filter(|d| !covered(d)).copied().collect();
        new.iter()
            .map(|d| {
                let id = self.next_id;
                self.next_id += 1;
                self.tracks.push(Track::new(id, frame, d));
                id
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
        let s = self.settings;
        self.tracks.retain(|t| t.last().frame + t.kept(&s) + s.lookahead_frames >= frame);
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

    /// The face tracks the detector lost as of `frame`, that a detection may still find again:
    /// with trusted motion, unseen for at least [`LOOK_AGAIN_AFTER`] frames (a look or more
    /// missed them) and no longer than a lost track may be found again
    /// (`Track::findable_when_lost`). The planner looks closer where their motion puts them
    /// ([`crate::detect::Planner::look_again`]): a face that went dark in a glow is found
    /// again when it comes out, and the frames between are interpolated.
    pub fn lost_faces(&self, frame: u64) -> Vec<LostFace> {
        let s = &self.settings;
        self.tracks
            .iter()
            .filter(|t| t.class == Class::Face && t.left_by.is_none())
            .filter_map(|t| {
                let unseen = frame.checked_sub(t.last().frame)?;
                (unseen >= LOOK_AGAIN_AFTER && t.findable_when_lost(unseen, s)).then(|| LostFace {
                    bbox: t.last().bbox,
                    frame: t.last().frame,
                    velocity: t.velocity(),
                    held_until: t.last().frame + t.hold(s),
                })
            })
            .collect()
    }
}

/// Frames a face track goes unseen before its place is looked at again
/// ([`Tracker::lost_faces`]): more than the frames between two looks at the default cadence.
pub const LOOK_AGAIN_AFTER: u64 = 3;

/// A face track the detector lost: its last detected box and its motion.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LostFace {
    pub bbox: BBox,
    /// The frame of that box.
    pub frame: u64,
    /// Centre motion per frame.
    pub velocity: [f32; 2],
    /// The last frame its held box covers: after it, the face shows if it is still there.
    pub held_until: u64,
}

impl LostFace {
    /// Where its motion puts it in `frame`.
    pub fn at(&self, frame: u64) -> BBox {
        moved_with(self.bbox, self.velocity, frame as f32 - self.frame as f32)
    }
}

/// `b` moved by `velocity` (per frame) over `frames` (negative: backwards).
fn moved_with(b: BBox, [vx, vy]: [f32; 2], frames: f32) -> BBox {
    b.moved(vx * frames, vy * frames)
}

/// Share of a glance's detection ([`Tracker::glimpse`]) that a track's predicted box must cover
/// for the detection to be that track's, left out.
const GLIMPSE_COVERED: f32 = 0.5;

/// A detection that overlaps a track's predicted box less than this (intersection over union)
/// joins it as a jump: the track's old path is kept briefly beside it ([`Track::left_behind`]).
const JUMP_IOU: f32 = 0.1;

/// Largest ratio between the sizes of a track's box and a detection that may match: a face
/// does not double in size between two looks, but a near and a far face can pass close by.
const MATCH_SIZE_RATIO: f32 = 2.0;
/// Largest ratio between the width/height of a track's box and a detection that may match: a
/// face does not turn from a tall box into a wide bar between two looks (a chin or a hairline
/// found as a part of a face is another object).
const MATCH_ASPECT_RATIO: f32 = 2.0;

/// Whether two sizes (a box's larger side) are within [`MATCH_SIZE_RATIO`] of each other. A
/// detection is compared with a track's predicted box ([`match_cost`]) and with its median
/// detected size: the last box alone is not enough, or a track drifts in steps from a 50 px
/// face to a 15 px one found on a head nearby and its masks grow to cover both.
fn similar_size(track: f32, det: f32) -> bool {
    track.max(det) <= MATCH_SIZE_RATIO * track.min(det).max(1.0)
}

/// Whether a detection of `(width, height)` may find a lost track again
/// ([`Track::findable_when_lost`]) whose recent detections have the median `(width, height)`:
/// within [`MATCH_SIZE_RATIO`] in width and in height, not only by the larger side. A lost
/// track is found again over a gap longer than its hold, by where its motion predicts alone,
/// and the face has not changed its size while it went unseen: by the larger side alone (20
/// against 36 px), a 13 × 20 px detection found a track of four weak 26–32 × 34–39 px boxes
/// again after 38 frames, though less than half as wide; more as small followed, and the box
/// back-filled from the track's first detection was 3.07× the median width of its detections
/// (issue 13, day seed 1). A track that is still held is not held to it: a face entering the
/// picture at its edge widens from one look to the next (found 11 × 25 px, then 22 × 26), and
/// compared by its width it started a second track, both found once and standing still while
/// the face walked out of them (4 frames unmasked, day seed 11).
fn of_lost_track_size((tw, th): (f32, f32), (dw, dh): (f32, f32)) -> bool {
    similar_size(tw, dw) && similar_size(th, dh)
}

/// The cost of pairing a track's predicted box with a detection, if they are of a similar size
/// and shape and their centres are within `reach` box sizes or they overlap enough.
fn match_cost(predicted: &BBox, det: &BBox, reach: f32) -> Option<f32> {
    let (ps, ds) = (predicted.width().max(predicted.height()).max(1.0), det.width().max(det.height()).max(1.0));
    if !similar_size(ps, ds) {
        return None;
    }
    let aspect = |b: &BBox| b.width().max(1e-3) / b.height().max(1e-3);
    let (pa, da) = (aspect(predicted), aspect(det));
    if pa.max(da) > MATCH_ASPECT_RATIO * pa.min(da) {
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
        TrackerSettings { hold_frames: 5, lookahead_frames: 5, growth_per_frame: 0.0, drift_per_frame: 0.25, single_hit_frames: 5, fps: 25.0 }
    }

    #[test]
    fn a_moving_face_keeps_one_track_id() {
        let mut t = Tracker::new(settings());
        let ids: Vec<u64> = (0..10).map(|f| t.observe(f, &[face(10.0 + 8.0 * f as f32, 50.0, 20.0)])[0]).collect();
        assert!(ids.iter().all(|&id| id == ids[0]), "{ids:?}");
    }

    /// Regression (session 34): a glance's tile cut a face of the sample clip, the partial find
    /// joined the face's track as a detection, and the face's mask shrank to half the face in
    /// that frame.
    #[test]
    fn a_glance_adds_faces_and_never_takes_the_place_of_a_tracks_box() {
        let mut t = Tracker::new(settings());
        t.observe(0, &[face(100.0, 100.0, 60.0)]);
        // Frame 1, between looks: a part of that face (its right half) and a new face elsewhere.
        let part = Detection { class: Class::Face, bbox: BBox::from_xywh(130.0, 110.0, 28.0, 50.0), score: 0.4 };
        let started = t.glimpse(1, &[part, face(400.0, 100.0, 30.0)]);
        assert_eq!(started.len(), 1, "only the new face starts a track");
        t.observe(2, &[face(102.0, 100.0, 60.0)]);
        let at1 = t.boxes_at(1);
        let whole = at1.iter().find(|b| b.bbox.center().0 < 200.0).unwrap();
        assert!(whole.bbox.width() >= 59.0 && whole.bbox.x1 <= 101.0, "the face's box stays whole: {:?}", whole.bbox);
        assert!(at1.iter().any(|b| b.track == started[0] && b.origin == Origin::Detected), "the new face is masked where found");
    }

    /// Issue 13: a face that went dark in a backlight was lost by every look and left unmasked
    /// once its hold ran out, though a closer look where its motion put it found it again
    /// (day seed 8, held-out track 3: 30 frames). The tracker names such tracks to the planner.
    #[test]
    fn a_face_track_missed_by_the_looks_is_reported_lost_where_its_motion_puts_it() {
        let mut t = Tracker::new(settings());
        // Found on every other frame up to 20, moving 3 px a frame; a weak single hit elsewhere.
        for f in (0..20).step_by(2) {
            t.observe(f, &[face(100.0 + 3.0 * f as f32, 50.0, 20.0)]);
        }
        t.observe(20, &[face(160.0, 50.0, 20.0), Detection { score: 0.3, ..face(400.0, 50.0, 20.0) }]);
        assert!(t.lost_faces(22).is_empty(), "two frames unseen is the look cadence, not a loss");
        let lost = t.lost_faces(24);
        assert_eq!(lost.len(), 1, "the single hit has no motion to follow: {lost:?}");
        assert_eq!((lost[0].frame, lost[0].held_until), (20, 25));
        let at = lost[0].at(30);
        assert!((at.center().0 - 200.0).abs() < 0.5 && (at.center().1 - 60.0).abs() < 0.5, "{at:?}");
        assert!((at.width() - 20.0).abs() < 1e-3, "it keeps its detected size: {at:?}");
        // Findable for its hold and the look-ahead after it (5 + 5 frames), then forgotten.
        assert_eq!(t.lost_faces(30).len(), 1);
        assert!(t.lost_faces(31).is_empty());
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

    /// A 20 px face moving 4 px a frame, found at frames 0-2 and then not for 10 frames
    /// (twice the hold), and the tracker those detections were fed to.
    fn face_lost_for_ten_frames(lookahead_frames: u64) -> (Tracker, u64) {
        let mut t = Tracker::new(TrackerSettings { hold_frames: 5, lookahead_frames, ..settings() });
        let id = (0..3).map(|f| t.observe(f, &[face(4.0 * f as f32, 0.0, 20.0)])[0]).last().unwrap();
        for f in 3..12 {
            t.observe(f, &[]);
        }
        (t, id)
    }

    /// Regression (issue 13, held-out day clip of seed 1): a small fast face missed for longer
    /// than the hold came back as a new track found once, whose boxes stood still while the face
    /// walked out of them (17 frames visible). A lost track whose motion is trusted is found
    /// again where that motion predicts while the frames it was missed in are still in the
    /// look-ahead, and they are covered.
    #[test]
    fn a_face_missed_for_longer_than_the_hold_is_found_again_where_its_motion_predicts() {
        let (mut t, id) = face_lost_for_ten_frames(10);
        assert_eq!(t.observe(12, &[face(48.0, 0.0, 20.0)])[0], id, "found again where it was going");
        for f in 0..=12u64 {
            let centre = (4.0 * f as f32 + 10.0, 10.0);
            assert_eq!(covered(&t, f, f, centre), [f], "the face is uncovered in frame {f}");
        }
        t.observe(13, &[face(52.0, 0.0, 20.0)]);
        assert_eq!(t.boxes_at(14)[0].origin, Origin::Held);
        assert!((t.boxes_at(14)[0].bbox.center().0 - 66.0).abs() < 2.0, "held moving on: {:?}", t.boxes_at(14));
    }

    #[test]
    fn a_lost_track_is_not_found_again_away_from_its_motion_nor_live() {
        let (mut t, id) = face_lost_for_ten_frames(10);
        // Two face widths beside its prediction: within the reach of a track still held after
        // 10 frames unseen, not of a lost one.
        assert_ne!(t.observe(12, &[face(88.0, 0.0, 20.0)])[0], id);
        let (mut live, id) = face_lost_for_ten_frames(0);
        assert_ne!(live.observe(12, &[face(48.0, 0.0, 20.0)])[0], id, "live, the frames it was missed in are gone");
    }

    /// Regression (issue 13, day seed 8 and night seed 3): a track found once with an
    /// oversized box (46 px over a face later found at 22 px) back-filled 69 px boxes, 3.8× its
    /// detected width. Found once and not again within the look-ahead, a track's held and
    /// back-filled boxes keep the detected size; live they grow as any track's.
    #[test]
    fn a_face_found_once_keeps_its_detected_size_where_held_or_back_filled_unless_live() {
        let grown = TrackerSettings { growth_per_frame: 0.04, hold_frames: 25, lookahead_frames: 25, ..settings() };
        let mut t = Tracker::new(grown);
        t.observe(30, &[face(100.0, 100.0, 40.0)]);
        for f in [10, 29, 31, 50] {
            let b = t.boxes_at(f);
            assert_eq!(b.len(), 1, "frame {f}: {b:?}");
            assert!((b[0].bbox.width() - 40.0).abs() < 1e-3 && (b[0].bbox.height() - 40.0).abs() < 1e-3, "frame {f}: {b:?}");
        }
        let mut live = Tracker::new(TrackerSettings { lookahead_frames: 0, ..grown });
        live.observe(30, &[face(100.0, 100.0, 40.0)]);
        assert!(live.boxes_at(40)[0].bbox.width() > 50.0, "{:?}", live.boxes_at(40));
    }

    #[test]
    fn a_face_far_away_in_the_next_frame_starts_a_new_track() {
        let mut t = Tracker::new(settings());
        let a = t.observe(0, &[face(0.0, 0.0, 12.0)])[0];
        let b = t.observe(1, &[face(60.0, 0.0, 12.0)])[0];
        assert_ne!(a, b);
    }

    /// Found by hostile use: at a cut (a camera bumped 40 px, a view switched), the face found
    /// after it joined the track of the face before it, and the frame between their two looks
    /// was masked halfway between them. After a cut, a detection starts a track of its own, and
    /// the face before it stays covered where it was.
    #[test]
    fn a_face_found_after_a_cut_joins_no_track_of_before() {
        for cut in [false, true] {
            let mut t = Tracker::new(settings());
            let a = t.observe(0, &[face(100.0, 100.0, 30.0)])[0];
            t.observe(2, &[face(100.0, 100.0, 30.0)]);
            if cut {
                t.cut(4);
            }
            let b = t.observe(4, &[face(140.0, 100.0, 30.0)])[0];
            assert_eq!(a == b, !cut, "cut {cut}: joined");
            if cut {
                assert!(!covered(&t, 3, 3, (115.0, 115.0)).is_empty(), "the face before the cut is covered where it stands in frame 3");
            }
        }
        let mut t = Tracker::new(settings());
        t.observe(0, &[face(100.0, 100.0, 30.0)]);
        t.cut(2);
        assert_eq!(t.glimpse(3, &[face(100.0, 100.0, 30.0)]).len(), 1, "a glance after a cut is not covered by a track of before");
    }

    /// Frames `from..=to` in which some box of `t` contains the point `(x, y)`.
    fn covered(t: &Tracker, from: u64, to: u64, (x, y): (f32, f32)) -> Vec<u64> {
        (from..=to).filter(|&f| t.boxes_at(f).iter().any(|b| b.bbox.x1 <= x && x < b.bbox.x2 && b.bbox.y1 <= y && y < b.bbox.y2)).collect()
    }

    #[test]
    fn a_face_missed_while_a_head_comes_close_is_still_covered_where_it_stands() {
        // Live (no look-ahead, so no back-fill to lean on), a look every third frame: a 16 px
        // face stands at (100, 100); on frame 9 it is missed and a head 20 px to its right is
        // found instead, near enough to join its track; from frame 12 both are found.
        let mut t = Tracker::new(TrackerSettings { hold_frames: 30, lookahead_frames: 0, ..settings() });
        let (face_at, head_at) = (face(100.0, 100.0, 16.0), |x: f32| face(x, 100.0, 16.0));
        let looks: [(u64, Vec<Detection>); 5] = [
            (0, vec![face_at]),
            (3, vec![face_at]),
            (6, vec![face_at]),
            (9, vec![head_at(120.0)]),
            (12, vec![head_at(121.0), face_at]),
        ];
        let (centre, mut uncovered, mut ids) = ((108.0, 108.0), Vec::new(), Vec::new());
        for frame in 0..=14u64 {
            if let Some((_, found)) = looks.iter().find(|(f, _)| *f == frame) {
                ids.push(t.observe(frame, found));
            }
            if covered(&t, frame, frame, centre).is_empty() {
                uncovered.push(frame);
            }
        }
        assert!(uncovered.is_empty(), "the standing face is uncovered in frames {uncovered:?}");
        let face_id = ids[0][0];
        assert_eq!(ids[3][0], face_id, "the head joins the face's track");
        // Found again where it stood, the face continues the path its track left behind.
        let again = t.boxes_at(13).into_iter().find(|b| b.track == ids[4][1]).expect("the face's box");
        assert_eq!(again.left_by, Some(face_id), "{again:?}");
    }

    #[test]
    fn a_real_jump_leaves_only_a_brief_box_where_the_track_was() {
        let mut t = Tracker::new(TrackerSettings { hold_frames: 30, lookahead_frames: 30, single_hit_frames: 4, ..settings() });
        for f in [0, 2, 4] {
            t.observe(f, &[face(100.0, 100.0, 16.0)]);
        }
        // The face moves off 20 px between two looks and goes on from there.
        for f in (6..=30).step_by(2) {
            t.observe(f, &[face(120.0 + (f - 6) as f32, 100.0, 16.0)]);
        }
        // Its old place (left of where it went) is covered by the box left behind, after the
        // jump for as long as the track went unseen before it (2 frames) or the brief hold
        // (4 frames), whichever is longer: frames 5-10.
        let old_place = (103.0, 108.0);
        assert_eq!(covered(&t, 0, 30, old_place), (0..=10).collect::<Vec<_>>());
    }

    /// Regression (session 37, a live rehearsal of day seed 1): a 20 px face's track, unseen
    /// while looks were shed, took a weak false detection (score 0.22, 33 px, 40 px away);
    /// when the face was found again the track jumped back, and the path it left at the false
    /// detection was held as long as the track had gone unseen there: a box of twice the
    /// face's size beside it for 16 frames.
    #[test]
    fn a_path_left_at_a_weak_detection_the_track_strayed_to_is_held_only_briefly() {
        let settings = TrackerSettings { lookahead_frames: 5, ..TrackerSettings::for_fps(25.0, false) };
        let mut t = Tracker::new(settings);
        let stray = Detection { class: Class::Face, bbox: BBox::from_xywh(124.0, 84.0, 33.0, 33.0), score: 0.22 };
        for f in [0, 2, 4, 6] {
            t.observe(f, &[face(100.0, 100.0, 20.0)]);
        }
        let face_id = t.observe(9, &[stray])[0];
        assert_eq!(t.observe(17, &[face(100.0, 100.0, 20.0)])[0], face_id, "the face's track jumps back");
        let stray_centre = (145.0, 95.0);
        let shown_after = covered(&t, 18, 40, stray_centre);
        assert!(
            shown_after.len() as u64 <= settings.single_hit_frames,
            "the false detection's place is still covered {} frames after the track left it: {shown_after:?}",
            shown_after.len()
        );
        // The face's own place stays covered throughout.
        assert_eq!(covered(&t, 0, 17, (110.0, 110.0)), (0..=17).collect::<Vec<_>>());
    }

    #[test]
    fn a_small_face_near_a_large_one_does_not_take_over_its_track() {
        let mut t = Tracker::new(settings());
        let big = t.observe(0, &[face(100.0, 100.0, 40.0)])[0];
        let small = t.observe(3, &[face(110.0, 150.0, 12.0)])[0];
        assert_ne!(big, small);
    }

    /// Regression (issue 13, night profile): a track's size was compared with its last box
    /// only, so one small detection let it step down to a face of a third its size nearby, and
    /// its masks then spanned both (4.5× its median detected width on the night seed-2 clip).
    #[test]
    fn a_face_a_third_of_a_tracks_size_does_not_join_it_after_one_smaller_detection() {
        let mut t = Tracker::new(settings());
        let big = (0..6).map(|f| t.observe(f, &[face(100.0, 100.0, 50.0)])[0]).last().unwrap();
        // One detection of part of the face, within 2× of the last box.
        assert_eq!(t.observe(6, &[face(110.0, 105.0, 28.0)])[0], big);
        // A 16 px face close by: within 2× of that part, a third of the track's faces.
        let small = t.observe(7, &[face(112.0, 108.0, 16.0)])[0];
        assert_ne!(small, big);
    }

    /// Regression (issue 13, day seed 1): four weak boxes of 26–32 × 34–39 px made a track, and
    /// after it was lost, a 13 × 20 px detection where its motion put it found it again, as its
    /// larger side (20 px) was within 2× of the track's (36 px), though its width was less than
    /// half. More as small followed, the track's median detected width fell to 15 px, and the
    /// box back-filled from the first, 32 px detection was 3.07× that. Compared in width and in
    /// height, the small one starts its own track: both are masked, each track's boxes at most
    /// 1.5× the median width of its own detections.
    #[test]
    fn a_lost_track_is_not_found_again_by_a_detection_half_its_width_and_each_keeps_its_size() {
        let mut t = Tracker::new(TrackerSettings::for_fps(25.0, true));
        let look = t.settings().lookahead_frames;
        // The wide boxes move 2 px a frame, found at frames 30-36, lost after frame 61; the
        // narrow ones are found from frame 70 where that motion puts the wide one's centre.
        let x = |f: u64| 100.0 + 2.0 * (f as f32 - 30.0);
        let wide = |f: u64| ((30..=36).contains(&f) && f.is_multiple_of(2)).then(|| BBox::from_xywh(x(f), 100.0, 29.0, 36.0));
        let narrow = |f: u64| ((70..=90).contains(&f) && f.is_multiple_of(2)).then(|| BBox::from_xywh(x(f) + 8.0, 108.0, 13.0, 20.0));
        let mut widths: std::collections::HashMap<u64, Vec<f32>> = Default::default();
        let mut emitted = Vec::new();
        for seen in 0..=120 {
            let dets: Vec<Detection> = [wide(seen), narrow(seen)].into_iter().flatten().map(|bbox| Detection { class: Class::Face, bbox, score: 0.6 }).collect();
            for (id, d) in t.observe(seen, &dets).into_iter().zip(&dets) {
                widths.entry(id).or_default().push(d.bbox.width());
            }
            // As the pipeline does: frame f is emitted once frame f + look-ahead has been observed.
            if let Some(f) = seen.checked_sub(look) {
                emitted.push((f, t.boxes_at(f)));
            }
        }
        assert_eq!(widths.len(), 2, "the wide and the narrow boxes are two tracks: {widths:?}");
        for (f, boxes) in &emitted {
            let centre = (x(*f) + 14.5, 118.0);
            if (70..=90).contains(f) {
                assert!(boxes.iter().any(|b| b.bbox.x1 <= centre.0 && centre.0 <= b.bbox.x2 && b.bbox.y1 <= centre.1 && centre.1 <= b.bbox.y2), "the narrow one is uncovered in frame {f}: {boxes:?}");
            }
            for b in boxes {
                let dw = median(widths[&b.track].iter().copied());
                assert!(b.bbox.width() <= 1.5 * dw + 1e-3, "frame {f}: a {:?} box {:.1} px wide, its track's detections {dw:.1}", b.origin, b.bbox.width());
            }
        }
    }

    /// A face entering the picture at its edge widens from one look to the next while its
    /// height stays: it keeps its track (compared by width, it started a second one, found
    /// once and standing still while the face walked on: day seed 11, 4 frames unmasked).
    #[test]
    fn a_face_entering_at_the_pictures_edge_keeps_its_track_as_it_widens() {
        let mut t = Tracker::new(TrackerSettings::for_fps(25.0, true));
        // Day seed 11's held-out face 12 entering at the right edge (x = 1920) of a 1080p clip.
        let found = [(102, 1907.3, 426.3, 10.9, 25.3), (104, 1898.2, 438.0, 21.9, 25.9), (106, 1888.1, 451.0, 23.5, 25.2), (112, 1860.8, 485.2, 23.5, 27.8)];
        let ids: Vec<u64> = found
            .iter()
            .map(|&(f, x, y, w, h)| t.observe(f, &[Detection { class: Class::Face, bbox: BBox::from_xywh(x, y, w, h), score: 0.7 }])[0])
            .collect();
        assert!(ids.iter().all(|&id| id == ids[0]), "{ids:?}");
    }

    #[test]
    fn a_wide_bar_next_to_a_tall_track_starts_a_new_track() {
        // Demo with `--detect-every 1`: a 39×78 part of a face at frame 52 and a 141×67 box
        // under the chin at frame 74 were joined into one track.
        let mut t = Tracker::new(TrackerSettings::for_fps(25.0, true));
        let a = t.observe(52, &[Detection { class: Class::Face, bbox: BBox::new(441.6, 284.1, 480.4, 361.8), score: 0.38 }])[0];
        let b = t.observe(74, &[Detection { class: Class::Face, bbox: BBox::new(488.0, 365.4, 629.4, 432.8), score: 0.77 }])[0];
        assert_ne!(a, b);
    }

    #[test]
    fn held_boxes_grow_with_speed_so_the_mask_is_not_outrun() {
        let mut t = Tracker::new(settings());
        t.observe(0, &[face(0.0, 0.0, 20.0)]);
        t.observe(1, &[face(10.0, 0.0, 20.0)]);
        let held = t.boxes_at(2)[0].bbox;
        // Grown to its bound (MAX_GROWTH × 20 px) and over where the face has gone (x 20..40).
        assert!(held.width() >= MAX_GROWTH * 20.0 - 1e-3, "{held:?}");
        assert!(held.x1 <= 20.0 && held.x2 >= 40.0, "the held box does not cover the moving face: {held:?}");
    }

    /// Regression (issue 13): held and back-filled boxes could grow to 2× the detected size;
    /// once the closer look hid more small, fast faces, mask ÷ face area reached 4.5–4.9 at the
    /// 99th percentile on the harness's day clips. They now stop at 1.5×.
    #[test]
    fn a_held_box_of_a_fast_face_grows_to_at_most_one_and_a_half_times_its_detections() {
        let mut t = Tracker::new(TrackerSettings { growth_per_frame: 0.2, ..settings() });
        t.observe(0, &[face(0.0, 0.0, 20.0)]);
        t.observe(1, &[face(10.0, 0.0, 20.0)]);
        for f in 2..=5 {
            for b in t.boxes_at(f) {
                assert!(b.bbox.width() <= 30.0 + 1e-3 && b.bbox.height() <= 30.0 + 1e-3, "frame {f}: {:?}", b.bbox);
            }
        }
    }

    // Regression tests from the README demo (`sample_media/faces.mp4`, 1280×720 at 25 fps, every
    // 2nd frame looked at unless said otherwise): the detections are those of its sidecar.

    fn det(x1: f32, y1: f32, x2: f32, y2: f32, score: f32) -> Detection {
        Detection { class: Class::Face, bbox: BBox::new(x1, y1, x2, y2), score }
    }

    /// The astronaut's face (track 0 of the demo) at frames 40–78, every 2nd frame.
    fn astronaut(frame: u64) -> Option<Detection> {
        const BOXES: [(f32, f32, f32, f32); 20] = [
            (347.2, 249.7, 458.3, 397.6),
            (353.5, 248.2, 467.3, 399.7),
            (355.5, 255.5, 469.3, 407.0),
            (355.1, 255.7, 471.7, 407.1),
            (359.1, 252.1, 478.6, 411.0),
            (360.6, 254.1, 477.2, 409.2),
            (360.3, 252.3, 479.8, 411.2),
            (370.7, 263.5, 481.9, 414.9),
            (371.0, 263.9, 487.6, 415.4),
            (377.0, 264.1, 496.4, 415.6),
            (383.3, 262.2, 505.6, 417.3),
            (400.4, 262.2, 517.0, 417.3),
            (406.0, 267.5, 531.3, 426.4),
            (417.7, 259.9, 549.1, 434.8),
            (432.7, 260.1, 567.3, 434.9),
            (442.7, 251.6, 587.3, 444.0),
            (457.3, 247.0, 605.5, 448.8),
            (468.2, 239.7, 627.3, 456.6),
            (484.2, 250.0, 643.3, 461.7),
            (496.4, 244.7, 663.4, 466.9),
        ];
        let i = frame.checked_sub(40).filter(|d| d % 2 == 0)? / 2;
        BOXES.get(i as usize).map(|&(a, b, c, d)| det(a, b, c, d, 0.9))
    }

    /// Feeds frames `from..=to`: the astronaut plus `extra(frame)`.
    fn feed(t: &mut Tracker, from: u64, to: u64, extra: impl Fn(u64) -> Vec<Detection>) {
        for f in from..=to {
            let mut dets: Vec<Detection> = astronaut(f).into_iter().collect();
            dets.extend(extra(f));
            t.observe(f, &dets);
        }
    }

    /// Median width and height of a track's recent detected boxes (what the tests bound
    /// against; a face that approaches grows, so its oldest sizes do not count).
    fn detected_size(t: &Tracker, track: u64) -> (f32, f32) {
        let tr = t.tracks.iter().find(|x| x.id == track).expect("track exists");
        let recent = tr.history.iter().rev().take(SIZE_HISTORY);
        let mut w: Vec<f32> = recent.clone().map(|o| o.bbox.width()).collect();
        let mut h: Vec<f32> = recent.map(|o| o.bbox.height()).collect();
        w.sort_by(f32::total_cmp);
        h.sort_by(f32::total_cmp);
        (w[w.len() / 2], h[h.len() / 2])
    }

    #[test]
    fn regression_backfill_of_a_fast_track_does_not_become_a_bar_reaching_the_frame_edge() {
        // Demo track 13: a 148×61 box under the astronaut's chin found at frames 72 and 74 only.
        // Back-filled from that one pair, at frame 49 it was a 470×63 bar from x = −73.
        let mut t = Tracker::new(TrackerSettings::for_fps(25.0, true));
        let bar = |f: u64| match f {
            72 => vec![det(452.8, 364.4, 601.1, 425.6, 0.66)],
            74 => vec![det(488.0, 365.4, 629.4, 432.8, 0.77)],
            _ => vec![],
        };
        feed(&mut t, 40, 74, bar);
        let track = t.boxes_at(74).into_iter().find(|b| b.bbox.y1 > 340.0).expect("the bar's track").track;
        let (dw, dh) = detected_size(&t, track);
        for f in 49..72 {
            let b = t.boxes_at(f).into_iter().find(|b| b.track == track).expect("back-filled").bbox;
            assert!(b.x1 > 0.0, "frame {f}: reaches the left edge: {b:?}");
            assert!(b.width() <= 2.0 * dw + 0.5 && b.height() <= 2.0 * dh + 0.5, "frame {f}: {b:?} vs detected {dw}×{dh}");
        }
    }

    #[test]
    fn regression_a_single_weak_detection_is_held_briefly_in_place_not_for_a_second() {
        // Demo track 12: found once (score 0.26) at frame 50 beside the astronaut, it was
        // back-filled and held for 51 frames, growing to 148×148 (twice the detection).
        let settings = TrackerSettings::for_fps(25.0, true);
        let mut t = Tracker::new(settings);
        let ghost = det(408.0, 270.2, 482.1, 344.0, 0.26);
        feed(&mut t, 40, 78, |f| if f == 50 { vec![ghost] } else { vec![] });
        let ghost_at = |f: u64| t.boxes_at(f).into_iter().find(|b| b.score < 0.3);
        let shown: Vec<u64> = (20..=78).filter(|&f| ghost_at(f).is_some()).collect();
        assert!(shown.contains(&50), "the detection itself is masked: {shown:?}");
        let held = shown.iter().filter(|&&f| f > 50).count() as u64;
        assert!(held <= settings.single_hit_frames, "held for {held} frames: {shown:?}");
        for f in shown {
            let b = ghost_at(f).unwrap().bbox;
            let (cx, cy) = b.center();
            assert!((cx - 445.05).abs() < 1.0 && (cy - 307.1).abs() < 1.0, "frame {f}: it moved: {b:?}");
            assert!(b.width() <= 2.0 * ghost.bbox.width() + 0.5, "frame {f}: it grew: {b:?}");
        }
    }

    #[test]
    fn live_a_weak_single_hit_is_held_like_any_track() {
        // Live, the frames after a detection leave before the looks of the rest of the hold
        // came back (with no look-ahead, or the live one of 5 frames): a weak first detection
        // of a real face must stay masked until it is found again, not for the brief hold
        // that a file's second of hindsight allows.
        for lookahead_frames in [0, 5] {
            let settings = TrackerSettings { lookahead_frames, ..TrackerSettings::for_fps(25.0, false) };
            let mut t = Tracker::new(settings);
            t.observe(0, &[det(100.0, 100.0, 120.0, 126.0, 0.25)]);
            assert_eq!(t.boxes_at(settings.hold_frames).len(), 1, "look-ahead {lookahead_frames}");
            assert!(t.boxes_at(settings.hold_frames + 1).is_empty(), "look-ahead {lookahead_frames}");
        }
    }

    #[test]
    fn regression_held_track_does_not_drift_and_grow_into_a_bar() {
        // Demo with `--detect-every 1`, track 14: small part-of-face boxes at frames 49, 50, 52
        // were joined by a 141×67 box at frame 74; held from there, it grew to 649×103.
        let mut t = Tracker::new(TrackerSettings::for_fps(25.0, true));
        let parts = |f: u64| match f {
            49 => vec![det(359.1, 274.2, 398.8, 351.9, 0.59)],
            50 => vec![det(408.0, 270.2, 482.1, 344.0, 0.26)],
            52 => vec![det(441.6, 284.1, 480.4, 361.8, 0.38)],
            74 => vec![det(488.0, 365.4, 629.4, 432.8, 0.77)],
            _ => vec![],
        };
        feed(&mut t, 40, 99, parts);
        for f in 75..=99 {
            for b in t.boxes_at(f) {
                let (dw, dh) = detected_size(&t, b.track);
                assert!(
                    b.bbox.width() <= 2.0 * dw + 0.5 && b.bbox.height() <= 2.0 * dh + 0.5,
                    "frame {f}: track {} is {:?} ({}×{}), detected {dw}×{dh}",
                    b.track,
                    b.origin,
                    b.bbox.width(),
                    b.bbox.height()
                );
            }
        }
    }

    #[test]
    fn uncertain_boxes_stay_face_shaped() {
        // A 20×26 face moving fast sideways, then lost: its held box may grow, but not into a
        // bar (width/height within the detected aspect ×/÷ 1.5).
        let mut t = Tracker::new(TrackerSettings::for_fps(25.0, true));
        for f in 0..6 {
            t.observe(2 * f, &[Detection { class: Class::Face, bbox: BBox::from_xywh(100.0 + 24.0 * f as f32, 50.0, 20.0, 26.0), score: 0.9 }]);
        }
        let aspect = 20.0 / 26.0;
        for f in 0..=35 {
            for b in t.boxes_at(f) {
                let a = b.bbox.width() / b.bbox.height();
                assert!(a <= aspect * 1.5 + 1e-3 && a >= aspect / 1.5 - 1e-3, "frame {f}: {:?} {:?} aspect {a}", b.origin, b.bbox);
            }
        }
    }

    #[test]
    fn velocity_is_the_median_of_recent_steps_not_the_last_noisy_pair() {
        // +4 px/frame, looked at every 2nd frame; the last detection jumped 30 px ahead.
        let mut t = Tracker::new(TrackerSettings::for_fps(25.0, true));
        for f in 0..5u64 {
            t.observe(2 * f, &[face(100.0 + 8.0 * f as f32, 50.0, 40.0)]);
        }
        t.observe(10, &[face(100.0 + 40.0 + 30.0, 50.0, 40.0)]);
        let held = t.boxes_at(12)[0];
        assert_eq!(held.origin, Origin::Held);
        // From the last detection (centre 190) two more frames at 4 px/frame: 198, not 190 + 2 × 19.
        assert!((held.bbox.center().0 - 198.0).abs() < 3.0, "{:?}", held.bbox);
    }

    /// Track 16 of the harness's day seed-1 clip (`veilcam-eval run --variant day --seed 1`,
    /// 1080p25, defaults): two weak 27 px detections, then, 24 frames later, a 13 px face that
    /// the track followed (detector boxes from the run's sidecar, every 2nd frame).
    const SIZE_CHANGING_TRACK: [(u64, f32, f32, f32, f32, f32); 16] = [
        (66, 1014.2, 272.7, 1040.6, 307.0, 0.20),
        (68, 1013.5, 272.2, 1040.5, 306.5, 0.24),
        (92, 960.0, 280.7, 970.7, 301.6, 0.61),
        (102, 953.8, 276.4, 967.3, 293.6, 0.74),
        (106, 942.9, 277.5, 955.2, 292.7, 0.62),
        (112, 926.7, 276.7, 939.6, 293.5, 0.63),
        (114, 922.1, 277.0, 935.0, 293.1, 0.62),
        (122, 900.5, 277.1, 913.4, 293.2, 0.54),
        (124, 894.5, 276.9, 908.0, 293.4, 0.49),
        (126, 888.3, 278.1, 902.2, 295.7, 0.62),
        (128, 884.7, 277.4, 897.3, 293.0, 0.46),
        (130, 878.7, 279.0, 891.6, 294.7, 0.42),
        (132, 873.8, 278.2, 887.7, 295.5, 0.59),
        (134, 868.4, 278.8, 881.6, 294.9, 0.28),
        (136, 863.9, 278.3, 877.5, 295.5, 0.38),
        (140, 852.5, 277.4, 865.8, 293.1, 0.29),
    ];

    /// Issue 13 item 4: a box placed from detections (back-filled before the first, interpolated
    /// between two, held after the last) is at most 1.5× the median of the track's recent
    /// detected sizes, unless a detection it is placed from is larger (that one keeps its
    /// coverage). Fails with the old 2× bound, with a bound against the largest recent detection
    /// instead of the median (boxes of the 13 px face grow to 1.5× the 27 px one), and with a
    /// bound against the grown box instead of the one it was placed from.
    #[test]
    fn boxes_placed_from_detections_of_changing_size_grow_at_most_one_and_a_half_times_the_detected_size() {
        let mut t = Tracker::new(TrackerSettings::for_fps(25.0, true));
        let look = t.settings().lookahead_frames;
        let dets = |f: u64| SIZE_CHANGING_TRACK.iter().filter(|d| d.0 == f).map(|&(_, a, b, c, d, s)| det(a, b, c, d, s)).collect::<Vec<_>>();
        let mut checked = 0;
        // As the pipeline does: frame f is emitted once frame f + look-ahead has been observed.
        for seen in 0..=170 {
            t.observe(seen, &dets(seen));
            let Some(f) = seen.checked_sub(look) else { continue };
            for b in t.boxes_at(f) {
                let tr = t.tracks.iter().find(|x| x.id == b.track).expect("track exists");
                // The median of its recent detected sizes, computed here, not by the tracker.
                let mid = |mut v: Vec<f32>| {
                    v.sort_by(f32::total_cmp);
                    let n = v.len();
                    (v[(n - 1) / 2] + v[n / 2]) / 2.0
                };
                let (dw, dh) = (mid(tr.sizes.iter().map(|s| s.0).collect()), mid(tr.sizes.iter().map(|s| s.1).collect()));
                // The detections the box is placed from: the nearest before and after it.
                let from = tr.history.iter().rev().find(|o| o.frame <= f).into_iter().chain(tr.history.iter().find(|o| o.frame >= f));
                let (bw, bh) = from.fold((0.0f32, 0.0f32), |(w, h), o| (w.max(o.bbox.width()), h.max(o.bbox.height())));
                let (w, h) = (b.bbox.width(), b.bbox.height());
                if b.origin != Origin::Detected {
                    assert!(
                        w <= (1.5 * dw).max(bw) + 1e-3 && h <= (1.5 * dh).max(bh) + 1e-3,
                        "frame {f} {:?}: {w:.1}×{h:.1}, detected median {dw:.1}×{dh:.1}, placed from {bw:.1}×{bh:.1}",
                        b.origin
                    );
                    checked += 1;
                }
            }
            t.forget_before(f + 1);
        }
        assert!(checked > 60, "only {checked} placed boxes checked");
    }
}
