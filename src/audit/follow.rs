//! Following a finding through the frames around its hits: its face, by likeness, forward and
//! backward from each detected hit into the frames where the detector missed it.

use std::collections::VecDeque;

#[cfg(doc)]
use super::mosaic::mosaic_likeness;
use super::mosaic::{flat_blocks_of, luma_of, mosaic_likeness_of, MOSAIC_LIKENESS};
use super::findings::JOIN_IOU;
use super::{Finding, Hit, Look};
use crate::frame::Picture;
use crate::geometry::BBox;

/// How many recent frames' luma the audit keeps for following a face backward from a new hit:
/// 25 frames (1 s at 25 fps), 52 MB at 1080p. The audit streams frames; this ring is the only
/// memory that grows with the picture.
pub const FOLLOW_RING: usize = 25;
/// Frames followed at most from one detected hit, forward and backward each (4 s at 25 fps):
/// the cost of following is bounded per hit.
pub const FOLLOW_FRAMES: u64 = 100;
/// A finding's followed and around hits are kept only when the detector saw its face in at
/// least this many frames: a face detected once is the least sure template (on the harness's night control, seed
/// 1, a single hit on a 13 px mosaicked face was followed for 57 frames: the template was the
/// mosaic, too small for [`mosaic_likeness`] to tell).
pub const FOLLOW_MIN_DETECTED: usize = 2;
/// Frames running in which the match may fail before following stops (they get no hit).
pub const FOLLOW_GAP: u64 = 2;
/// Lowest normalised cross-correlation (−1..1) of the face as last detected with the patch it
/// is followed to (both without their mean and slopes of light). Chosen on the harness's seed 1
/// (`docs/evaluation.md`): with it the audit caught 88.8 % instead of 77.1 % of the face-frames
/// a weakened run left visible by day, 55.4 % instead of 43.1 % at night, and its followed hits
/// left every harness face once; 0.7 caught 89.5 % and 61.8 % but left the faces 211 times.
pub const FOLLOW_NCC: f32 = 0.8;
/// Lowest match where the face's motion over its two latest hits predicts it
/// (`FOLLOW_PATH_SLACK`), when that is also the best match within reach: a face whose look
/// changes (motion blur, a turn of the head) stays on its path, while a patch elsewhere that
/// only resembles it does not. Chosen on the harness's seed 1 (session 14, replayed hits): by
/// day 89.5 → 91.0 % caught, at night 55.7 → 59.2 %, no followed hit on a mask; 0.6 caught
/// 91.1 / 60.7 % but put 2 on masks (seed 2, the check: 86.0 → 86.3 %, 50.7 → 53.0 %).
pub const FOLLOW_NCC_ON_PATH: f32 = 0.65;
/// How far from the predicted centre a match is on the face's path, as a share of its box's
/// larger side.
const FOLLOW_PATH_SLACK: f32 = 0.15;
/// A patch whose luma varies less than this (standard deviation, levels) is flat (a fill, a
/// wall): following stops.
const FOLLOW_FLAT: f32 = 4.0;
/// The face is compared at most this many cells across (its larger side): larger faces are
/// averaged down in square cells, which bounds the cost of a search.
const FOLLOW_CELLS: usize = 24;
/// The face is searched for within its larger side of its last place (at least this many px).
const FOLLOW_MIN_REACH: f32 = 16.0;

/// One frame's luma, kept for following faces.
struct Luma {
    index: u64,
    seconds: Option<f64>,
    width: usize,
    height: usize,
    data: Vec<u8>,
}

impl Luma {
    fn of(pic: &Picture<'_>, index: u64, seconds: Option<f64>) -> Self {
        let (l, width, height) = luma_of(pic, &BBox::from_xywh(0.0, 0.0, pic.width as f32, pic.height as f32));
        Luma { index, seconds, width, height, data: l.into_iter().map(|v| v.clamp(0, 255) as u8).collect() }
    }

    /// The mean luma of each `cell`×`cell` square from (`x0`, `y0`), `nx`×`ny` of them; `None`
    /// for a cell not wholly inside the picture.
    fn cells(&self, x0: i64, y0: i64, cell: usize, nx: usize, ny: usize) -> Vec<Option<f32>> {
        let mut out = Vec::with_capacity(nx * ny);
        let area = (cell * cell) as f32;
        for cy in 0..ny {
            for cx in 0..nx {
                let (x, y) = (x0 + (cx * cell) as i64, y0 + (cy * cell) as i64);
                if x < 0 || y < 0 || x as usize + cell > self.width || y as usize + cell > self.height {
                    out.push(None);
                    continue;
                }
                let (x, y) = (x as usize, y as usize);
                let sum: u32 = (y..y + cell).map(|r| self.data[r * self.width + x..r * self.width + x + cell].iter().map(|&v| v as u32).sum::<u32>()).sum();
                out.push(Some(sum as f32 / area));
            }
        }
        out
    }

    /// The luma of `b`'s pixels (clamped to the picture), row by row, and its size.
    fn crop(&self, b: &BBox) -> (Vec<i32>, usize, usize) {
        let (x0, y0, x1, y1) = b.pixels(self.width, self.height);
        let (w, h) = (x1.saturating_sub(x0), y1.saturating_sub(y0));
        let mut out = Vec::with_capacity(w * h);
        for y in y0..y1 {
            out.extend(self.data[y * self.width + x0..y * self.width + x1].iter().map(|&v| v as i32));
        }
        (out, w, h)
    }
}

/// A detected face as a pattern to look for in neighbouring frames: its luma averaged in square
/// cells, less its mean and its linear slopes across and down, scaled to unit length. Without
/// the slopes, a template with little but a gradient of light (a washed-out box) matched every
/// smooth gradient of the picture at 0.95 (issue #13, seed 2's day clip: a finding followed
/// 94 frames across an empty road); a slope in the searched patch now adds nothing to the match.
#[derive(Clone, Debug)]
pub(super) struct Template {
    cell: usize,
    nx: usize,
    ny: usize,
    values: Vec<f32>,
    /// The detector's score of the face it was taken from.
    score: f32,
}

impl Template {
    /// The face in `b` of `luma`, or `None` when it is flat, too small or not wholly inside.
    fn of(luma: &Luma, b: &BBox, score: f32) -> Option<Self> {
        let side = b.width().max(b.height());
        let cell = ((side / FOLLOW_CELLS as f32).ceil() as usize).max(1);
        let (nx, ny) = ((b.width() / cell as f32).round() as usize, (b.height() / cell as f32).round() as usize);
        if nx < 4 || ny < 4 {
            return None;
        }
        let cells: Option<Vec<f32>> = luma.cells(b.x1.round() as i64, b.y1.round() as i64, cell, nx, ny).into_iter().collect();
        let (values, spread) = detrended(&cells?, nx);
        (spread >= FOLLOW_FLAT).then_some(Template { cell, nx, ny, values, score })
    }
}

/// `v` (rows of `nx`) less its mean and its least-squares slopes across and down, scaled to
/// unit length, and the standard deviation of what is left.
fn detrended(v: &[f32], nx: usize) -> (Vec<f32>, f32) {
    let n = v.len().max(1);
    let ny = n / nx.max(1);
    let mean = v.iter().sum::<f32>() / n as f32;
    // Centred coordinates: on a full grid they are orthogonal to each other and to a constant.
    let (cx, cy) = ((nx as f32 - 1.0) / 2.0, (ny as f32 - 1.0) / 2.0);
    let (mut sx, mut sy, mut xx, mut yy) = (0.0f32, 0.0f32, 0.0f32, 0.0f32);
    for (i, &value) in v.iter().enumerate() {
        let (x, y) = ((i % nx) as f32 - cx, (i / nx) as f32 - cy);
        sx += x * (value - mean);
        sy += y * (value - mean);
        xx += x * x;
        yy += y * y;
    }
    let (gx, gy) = (if xx > 0.0 { sx / xx } else { 0.0 }, if yy > 0.0 { sy / yy } else { 0.0 });
    let rest: Vec<f32> = v.iter().enumerate().map(|(i, &value)| value - mean - gx * ((i % nx) as f32 - cx) - gy * ((i / nx) as f32 - cy)).collect();
    normalised(&rest)
}

/// `v` less its mean, scaled to unit length, and its standard deviation.
fn normalised(v: &[f32]) -> (Vec<f32>, f32) {
    let n = v.len().max(1) as f32;
    let mean = v.iter().sum::<f32>() / n;
    let centred: Vec<f32> = v.iter().map(|x| x - mean).collect();
    let norm = centred.iter().map(|x| x * x).sum::<f32>().sqrt();
    let spread = norm / n.sqrt();
    (centred.into_iter().map(|x| if norm > 0.0 { x / norm } else { 0.0 }).collect(), spread)
}

/// A place where a template matched: the box moved there, its normalised cross-correlation
/// and the standard deviation of the matched patch.
#[derive(Clone, Copy, Debug)]
struct Match {
    bbox: BBox,
    ncc: f32,
    spread: f32,
}

/// Where the face of `t`, last at `last` `gap` + 1 frames before, best matches in `luma`,
/// within reach (the box's larger side per frame).
fn search(t: &Template, luma: &Luma, last: &BBox, gap: u64) -> Option<Match> {
    let reach = last.width().max(last.height()).max(FOLLOW_MIN_REACH) * (gap + 1) as f32;
    let r = (reach / t.cell as f32).ceil() as usize;
    let (x0, y0) = (last.x1.round() as i64 - (r * t.cell) as i64, last.y1.round() as i64 - (r * t.cell) as i64);
    let (nx, ny) = (t.nx + 2 * r, t.ny + 2 * r);
    let region = luma.cells(x0, y0, t.cell, nx, ny);
    let n = (t.nx * t.ny) as f32;
    let mut best: Option<(i64, i64, f32, f32)> = None;
    for oy in 0..=2 * r {
        'x: for ox in 0..=2 * r {
            let (mut sum, mut sum2, mut dot) = (0.0f32, 0.0f32, 0.0f32);
            for ty in 0..t.ny {
                for tx in 0..t.nx {
                    let Some(p) = region[(oy + ty) * nx + ox + tx] else { continue 'x };
                    sum += p;
                    sum2 += p * p;
                    dot += p * t.values[ty * t.nx + tx];
                }
            }
            // Σ t·(p − mean p) = Σ t·p, as Σ t = 0 (and t has no slope, so p's slope adds
            // nothing; it only enlarges p's variance, which makes the match stricter).
            let var = (sum2 - sum * sum / n).max(0.0);
            let ncc = if var > 0.0 { dot / var.sqrt() } else { 0.0 };
            if best.is_none_or(|b| ncc > b.2) {
                best = Some((ox as i64 - r as i64, oy as i64 - r as i64, ncc, (var / n).sqrt()));
            }
        }
    }
    let (dx, dy, ncc, spread) = best?;
    let (dx, dy) = ((dx * t.cell as i64) as f32, (dy * t.cell as i64) as f32);
    Some(Match { bbox: last.moved(dx, dy), ncc, spread })
}

/// Whether `m`, the best match `gap` + 1 frames after the face was at `last`, lies where the
/// face's `motion` (px per frame) takes it: within [`FOLLOW_PATH_SLACK`] of the box's larger
/// side, and at least a cell and a half, of the predicted centre.
fn on_path(m: &Match, last: &BBox, motion: (f32, f32), gap: u64, cell: usize) -> bool {
    let steps = (gap + 1) as f32;
    let ((lx, ly), (mx, my)) = (last.center(), m.bbox.center());
    let slack = (last.width().max(last.height()) * FOLLOW_PATH_SLACK).max(1.5 * cell as f32);
    (mx - (lx + motion.0 * steps)).abs() <= slack && (my - (ly + motion.1 * steps)).abs() <= slack
}

/// The face of `t`, last at `last`, followed into `luma`: a hit with look `followed`, or `None`
/// when the match fails, the patch is flat or made of mosaic blocks, or another hit of that
/// frame already covers it. The best match counts from [`FollowSettings::least`] anywhere
/// within reach, and from [`FollowSettings::least_on_path`] where the face's `motion` (when
/// known) takes it.
fn follow_step(t: &Template, luma: &Luma, last: &BBox, gap: u64, motion: Option<(f32, f32)>, taken: &[BBox], settings: &FollowSettings) -> Option<Hit> {
    let m = search(t, luma, last, gap)?;
    let matched = m.ncc >= settings.least || (m.ncc >= settings.least_on_path && motion.is_some_and(|v| on_path(&m, last, v, gap, t.cell)));
    if !matched || m.spread < FOLLOW_FLAT || taken.iter().any(|o| o.iou(&m.bbox) >= JOIN_IOU) {
        return None;
    }
    let (l, w, h) = luma.crop(&m.bbox);
    let mosaic = mosaic_likeness_of(&l, w, h);
    let flat = flat_blocks_of(&l, w, h);
    (mosaic < MOSAIC_LIKENESS).then_some(Hit { frame: luma.index, bbox: m.bbox, score: t.score, look: Look::Followed, mosaic, flat, ncc: Some(m.ncc), recheck: None })
}

/// The motion per frame (px, centre to centre) from a face at `from` to the same face `frames`
/// frames later at `to`; `None` when they are more than [`FOLLOW_GAP`] + 1 frames apart.
pub(super) fn motion(from: &BBox, to: &BBox, frames: u64) -> Option<(f32, f32)> {
    let ((fx, fy), (tx, ty)) = (from.center(), to.center());
    (1..=FOLLOW_GAP + 1).contains(&frames).then(|| ((tx - fx) / frames as f32, (ty - fy) / frames as f32))
}

/// How findings are followed.
#[derive(Clone, Copy, Debug)]
pub struct FollowSettings {
    /// The least match that keeps following ([`FOLLOW_NCC`]).
    pub least: f32,
    /// The least match that keeps following where the face's motion predicts it
    /// ([`FOLLOW_NCC_ON_PATH`]).
    pub least_on_path: f32,
    /// Frames followed at most from one detected hit, each way ([`FOLLOW_FRAMES`]).
    pub frames: u64,
}

impl Default for FollowSettings {
    fn default() -> Self {
        FollowSettings { least: FOLLOW_NCC, least_on_path: FOLLOW_NCC_ON_PATH, frames: FOLLOW_FRAMES }
    }
}

/// Follows findings through frames: forward from each detected hit while the face matches, and
/// backward (through a ring of the last [`FOLLOW_RING`] frames) from a detected hit whose
/// previous frame has none of its finding. A frame or two where the match fails (a passer-by,
/// a compression glitch) are skipped ([`FOLLOW_GAP`]); they get no hit.
pub(super) struct Follower {
    ring: VecDeque<Luma>,
    settings: FollowSettings,
}

impl Follower {
    pub(super) fn new(settings: FollowSettings) -> Self {
        Follower { ring: VecDeque::with_capacity(FOLLOW_RING), settings }
    }

    /// Frame `index` has been joined into `findings` (its detected hits are theirs); follows
    /// every finding into it that was followed or detected within [`FOLLOW_GAP`] frames before,
    /// and backward from every finding detected in it.
    pub(super) fn frame(&mut self, findings: &mut [Finding], pic: &Picture<'_>, index: u64, seconds: Option<f64>) {
        if self.ring.len() == FOLLOW_RING {
            self.ring.pop_front();
        }
        self.ring.push_back(Luma::of(pic, index, seconds));
        let luma = self.ring.back().expect("just pushed");
        // Only the detector's own hits of the frame stop another finding's face being followed
        // there: an around hit may belong to a finding that is later set aside.
        let mut taken: Vec<BBox> = findings.iter().filter(|f| f.last_detected == index).map(|f| f.last_box).collect();
        for f in findings.iter_mut() {
            if f.last_detected == index {
                f.template = Template::of(luma, &f.last_box, f.hits.last().map_or(0.0, |h| h.score));
                f.followed_since = 0;
                continue;
            }
            if f.followed_to.0 == index {
                // Found by the look around: following goes on from there, with the face as
                // last detected (the surer template).
                f.followed_since += 1;
                continue;
            }
            let gap = index - f.followed_to.0 - 1;
            if f.template.is_none() || gap > FOLLOW_GAP || f.followed_since >= self.settings.frames {
                f.template = None;
                continue;
            }
            let step = f.template.as_ref().and_then(|t| follow_step(t, luma, &f.followed_to.1, gap, f.motion(), &taken, &self.settings));
            f.followed_since += 1;
            if let Some(hit) = step {
                taken.push(hit.bbox);
                f.add_followed(hit, seconds);
            }
        }
        self.backward(findings, index);
    }

    /// Follows every finding detected in frame `index` back through the ring, frame by frame,
    /// until the match fails more than [`FOLLOW_GAP`] frames running or it reaches a frame where
    /// the finding already has a hit.
    fn backward(&self, findings: &mut [Finding], index: u64) {
        for i in 0..findings.len() {
            let f = &findings[i];
            if f.last_detected != index {
                continue;
            }
            let Some(t) = f.template.clone() else { continue };
            let covered = f.hits.iter().rev().find(|h| h.frame < index).map(|h| h.frame);
            let (mut last, mut gap) = (f.last_box, 0);
            // Backward, the face's motion is known once following has made a step.
            let mut motion_back = None;
            let mut steps = Vec::new();
            for (n, luma) in self.ring.iter().rev().skip(1).enumerate() {
                if covered.is_some_and(|c| luma.index <= c) || n as u64 >= self.settings.frames || gap > FOLLOW_GAP {
                    break;
                }
                let taken: Vec<BBox> = findings
                    .iter()
                    .enumerate()
                    .filter(|&(j, o)| j != i && o.first_frame <= luma.index && o.last_frame >= luma.index)
                    .flat_map(|(_, o)| o.hits.iter().filter(|h| h.frame == luma.index).map(|h| h.bbox))
                    .collect();
                match follow_step(&t, luma, &last, gap, motion_back, &taken, &self.settings) {
                    Some(hit) => {
                        motion_back = motion(&last, &hit.bbox, gap + 1);
                        (last, gap) = (hit.bbox, 0);
                        steps.push((hit, luma.seconds));
                    }
                    None => gap += 1,
                }
            }
            for (hit, seconds) in steps {
                findings[i].add_followed(hit, seconds);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `w`×`h` luma frame of a smooth gradient with a face-like pattern of size 20×26 at
    /// (`x`, `y`): a dark band for the eyes, a darker one for the mouth.
    fn luma_with_face(w: usize, h: usize, x: usize, y: usize, index: u64) -> Luma {
        let mut data: Vec<u8> = (0..w * h).map(|i| (60 + (i % w) / 8 + (i / w) / 8) as u8).collect();
        for dy in 0..26 {
            for dx in 0..20 {
                let v = match dy {
                    6..=9 if !(8..12).contains(&dx) => 40,
                    18..=20 if (5..15).contains(&dx) => 70,
                    _ => 190 - (dx as i32 - 10).unsigned_abs() as u8 * 4,
                };
                data[(y + dy) * w + x + dx] = v;
            }
        }
        Luma { index, seconds: None, width: w, height: h, data }
    }

    #[test]
    fn a_followed_face_is_found_where_it_moved_and_not_on_a_flat_patch() {
        let before = luma_with_face(200, 120, 50, 40, 0);
        let face = BBox::from_xywh(50.0, 40.0, 20.0, 26.0);
        let t = Template::of(&before, &face, 0.7).expect("a face is not flat");
        let after = luma_with_face(200, 120, 62, 44, 1);
        let hit = follow_step(&t, &after, &face, 0, None, &[], &FollowSettings::default()).expect("the face moved 12 px right, 4 down");
        assert_eq!((hit.bbox.x1, hit.bbox.y1, hit.look), (62.0, 44.0, Look::Followed));
        assert!(hit.ncc.unwrap() > 0.95 && hit.score == 0.7, "{hit:?}");
        // Beyond reach (its side per frame), or where something else covers it: no hit.
        assert!(follow_step(&t, &luma_with_face(200, 120, 120, 40, 1), &face, 0, None, &[], &FollowSettings::default()).is_none());
        assert!(follow_step(&t, &after, &face, 0, None, &[BBox::from_xywh(60.0, 44.0, 20.0, 26.0)], &FollowSettings::default()).is_none());
        // A frame or two later, the reach grows with the gap.
        assert!(follow_step(&t, &luma_with_face(200, 120, 88, 40, 3), &face, 1, None, &[], &FollowSettings::default()).is_some());
        // A flat frame (the face gone, a solid fill): nothing to follow to.
        let flat = Luma { index: 1, seconds: None, width: 200, height: 120, data: vec![90; 200 * 120] };
        assert!(follow_step(&t, &flat, &face, 0, None, &[], &FollowSettings::default()).is_none());
        assert!(Template::of(&flat, &face, 0.7).is_none(), "a flat patch is no template");
    }

    /// `luma` with a horizontal box blur `k` px long over `b` (motion blur of a face moving across).
    fn smeared(mut luma: Luma, b: &BBox, k: usize) -> Luma {
        let (x0, y0, x1, y1) = (b.x1 as usize, b.y1 as usize, b.x2 as usize, b.y2 as usize);
        for y in y0..y1 {
            let row: Vec<u32> = luma.data[y * luma.width..(y + 1) * luma.width].iter().map(|&v| v as u32).collect();
            for x in x0..x1 {
                let (a, z) = (x.saturating_sub(k / 2), (x + k / 2 + 1).min(luma.width));
                luma.data[y * luma.width + x] = (row[a..z].iter().sum::<u32>() / (z - a) as u32) as u8;
            }
        }
        luma
    }

    /// Regression (issue #13, seed 1's day clip): a 70×100 px face crossing the frame at 30 px a
    /// frame was lost when its motion blur changed (its match with the face as detected fell to
    /// 0.6–0.7); 25 frames of it stayed visible and unreported.
    #[test]
    fn a_face_whose_look_changes_is_followed_on_its_path_and_nowhere_else() {
        let before = luma_with_face(200, 120, 50, 40, 0);
        let face = BBox::from_xywh(50.0, 40.0, 20.0, 26.0);
        let t = Template::of(&before, &face, 0.6).unwrap();
        // One frame on, 12 px right: the mouth hidden (a hand, a camera) and smeared by motion.
        let mut after = luma_with_face(200, 120, 62, 40, 1);
        for (dy, dx) in (18..=20).flat_map(|dy| (0..20).map(move |dx| (dy, dx))) {
            after.data[(40 + dy) * 200 + 62 + dx] = 190 - (dx as i32 - 10).unsigned_abs() as u8 * 4;
        }
        let after = smeared(after, &BBox::from_xywh(58.0, 38.0, 28.0, 30.0), 9);
        let ncc = search(&t, &after, &face, 0).unwrap().ncc;
        assert!((FOLLOW_NCC_ON_PATH..FOLLOW_NCC).contains(&ncc), "the changed face matches at {ncc}");
        let settings = FollowSettings::default();
        let step = |motion| follow_step(&t, &after, &face, 0, motion, &[], &settings);
        let hit = step(Some((12.0, 0.0))).expect("on its path (moving 12 px a frame to the right)");
        assert_eq!((hit.bbox.x1, hit.bbox.y1), (62.0, 40.0));
        assert!(step(Some((11.0, 1.0))).is_some(), "a path is predicted within a slack");
        assert!(step(None).is_none(), "its motion unknown, the lower match is not enough");
        assert!(step(Some((-12.0, 0.0))).is_none(), "off its path (it was moving left)");
        assert!(step(Some((0.0, 0.0))).is_none(), "off its path (it was standing still)");
        // The motion comes from two hits at most FOLLOW_GAP + 1 frames apart.
        let (a, b) = (BBox::from_xywh(10.0, 10.0, 20.0, 26.0), BBox::from_xywh(34.0, 16.0, 20.0, 26.0));
        assert_eq!(motion(&a, &b, 2), Some((12.0, 3.0)));
        assert_eq!(motion(&a, &b, FOLLOW_GAP + 2), None);
    }

    /// Regression (issue #13, seed 2's day clip): a finding whose template was little but a
    /// gradient of light was followed for 94 frames across an empty road at a match of 0.95.
    #[test]
    fn a_template_of_a_mere_gradient_is_flat_and_a_gradient_does_not_match_a_face() {
        let (w, h) = (200, 120);
        let ramp = Luma { index: 0, seconds: None, width: w, height: h, data: (0..w * h).map(|i| (40 + (i % w) / 2 + (i / w) / 3) as u8).collect() };
        let b = BBox::from_xywh(60.0, 30.0, 40.0, 48.0);
        assert!(Template::of(&ramp, &b, 0.6).is_none(), "a ramp of light is no face to follow");
        let face = luma_with_face(w, h, 50, 40, 0);
        let fb = BBox::from_xywh(50.0, 40.0, 20.0, 26.0);
        let t = Template::of(&face, &fb, 0.7).unwrap();
        assert!(follow_step(&t, &Luma { index: 1, ..ramp }, &fb, 0, None, &[], &FollowSettings::default()).is_none(), "a face followed onto a ramp");
    }
}
