//! The measurement: for every labelled face, is it still recognisable in the redacted output?
//!
//! The generated input and the redacted output are decoded in lockstep (two [`FileSource`]s,
//! one frame of each in memory at a time). For each scored face the luma inside the ellipse
//! inscribed in its face box is band-passed (a box mean, then a Laplacian, both at a scale of
//! about 1/40 of the face height and at least 3×3) in both pictures (the ellipse shrunk to 85 %, so the measured area is the eyes, nose and mouth and
//! not the box outline). Facial detail that survives shows up as band-pass energy that *correlates* with the
//! input's; a fill destroys it:
//!
//! - solid fill or blur: the output's band-pass energy collapses (ratio below `min_energy`);
//! - mosaic: the output has energy (block edges) but it no longer correlates (below `min_corr`).
//!
//! A face counts as redacted when either happens. Re-encoding alone keeps the correlation high,
//! so an untouched copy scores ≈ 0 % (see `tests/eval_harness.rs`). The box mean keeps sensor
//! noise, which encoders smooth away, from looking like destroyed detail in night clips.
//!
//! Outside the faces, a pixel (2×2 luma mean) "changed markedly" when it moved by more than
//! `change_levels`; pixels within the face boxes grown by `dilation` are not counted, since a
//! mask larger than the tight face box is intended.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::Path;

use serde::Serialize;

use super::fills::{Fills, MIN_FILLED};
use super::masks::{percentile, MaskReach};
use super::scene::Light;
use super::sprite::{IdentitySet, PROFILE_YAW_DEG};
use super::truth::{SizeBucket, Truth, TruthFace, TruthTrack};
use super::{EvalError, Result};
use veilcam::frame::{Frame, Plane};
use veilcam::source::file::FileSource;
use veilcam::source::FrameSource;

/// Below this correlation of band-passed detail a face counts as redacted.
pub const DEFAULT_MIN_CORR: f64 = 0.5;
/// Below this ratio of band-pass energy (output / input) a face counts as redacted.
pub const DEFAULT_MIN_ENERGY: f64 = 0.2;
/// Luma levels a 2×2 mean must move to count as markedly changed.
pub const DEFAULT_CHANGE_LEVELS: f32 = 20.0;
/// Face boxes are grown by this factor (about their centre) before over-redaction is counted.
pub const DEFAULT_DILATION: f64 = 2.0;
/// Faces are measured inside the ellipse inscribed in their box, shrunk by this factor: the
/// eyes, nose and mouth, away from the box edges (where a fill's own outline lies).
const MEASURE_ELLIPSE: f64 = 0.85;
/// Input patches with less band-pass detail than this (RMS, luma levels) are "flat".
const FLAT_RMS: f64 = 0.25;

/// Decision thresholds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct MeasureSettings {
    pub min_corr: f64,
    pub min_energy: f64,
    pub change_levels: f32,
    pub dilation: f64,
}

impl Default for MeasureSettings {
    fn default() -> Self {
        MeasureSettings {
            min_corr: DEFAULT_MIN_CORR,
            min_energy: DEFAULT_MIN_ENERGY,
            change_levels: DEFAULT_CHANGE_LEVELS,
            dilation: DEFAULT_DILATION,
        }
    }
}

/// How one face patch compares.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct FaceScore {
    /// Pearson correlation of band-passed luma, input vs output (0 when either is constant).
    pub corr: f64,
    /// Band-pass energy of the output over that of the input.
    pub energy: f64,
    /// RMS band-pass detail of the input patch, luma levels.
    pub detail: f64,
    pub pixels: usize,
    pub redacted: bool,
}

/// Band-pass scale for a face of height `h`: the box-mean radius and Laplacian step, in pixels.
/// Detail is looked for at about a twentieth of the face height (eyes, nostrils, mouth), never
/// finer than 3×3, so neither sensor noise nor compression noise decides the outcome.
pub fn band_radius(h: f64) -> usize {
    ((h / 40.0).round() as usize).clamp(1, 6)
}

/// Scores one face from the luma planes of the input and the output.
pub fn score_face(input: &Plane<'_>, output: &Plane<'_>, face: &TruthFace, s: &MeasureSettings) -> Option<FaceScore> {
    let (w, h) = (input.width.min(output.width), input.height.min(output.height));
    let r = band_radius(face.full_height() as f64);
    let margin = 2 * r;
    // Patch: the visible box plus the filters' reach, inside the frame.
    let px0 = (face.x as usize).saturating_sub(margin);
    let py0 = (face.y as usize).saturating_sub(margin);
    let px1 = (face.x as usize + face.w as usize + margin).min(w);
    let py1 = (face.y as usize + face.h as usize + margin).min(h);
    let (pw, ph) = (px1.checked_sub(px0)?, py1.checked_sub(py0)?);
    if pw <= 2 * margin || ph <= 2 * margin {
        return None;
    }
    let band_in = band_pass(input, px0, py0, pw, ph, r);
    let band_out = band_pass(output, px0, py0, pw, ph, r);
    let [fx1, fy1, fx2, fy2] = face.full.map(|v| v as f64);
    let (ecx, ecy) = ((fx1 + fx2) / 2.0, (fy1 + fy2) / 2.0);
    let (rx, ry) = ((fx2 - fx1) / 2.0 * MEASURE_ELLIPSE, (fy2 - fy1) / 2.0 * MEASURE_ELLIPSE);
    let (mut n, mut si, mut so, mut sii, mut soo, mut sio) = (0usize, 0.0f64, 0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for y in (face.y as usize).max(py0 + margin)..(face.y as usize + face.h as usize).min(py1 - margin) {
        let dy = (y as f64 + 0.5 - ecy) / ry;
        for x in (face.x as usize).max(px0 + margin)..(face.x as usize + face.w as usize).min(px1 - margin) {
            let dx = (x as f64 + 0.5 - ecx) / rx;
            if dx * dx + dy * dy > 1.0 {
                continue;
            }
            let i = (y - py0) * pw + (x - px0);
            let (a, b) = (band_in[i], band_out[i]);
            n += 1;
            si += a;
            so += b;
            sii += a * a;
            soo += b * b;
            sio += a * b;
        }
    }
    if n < 9 {
        return None;
    }
    let nf = n as f64;
    let var_in = (sii - si * si / nf).max(0.0);
    let var_out = (soo - so * so / nf).max(0.0);
    let cov = sio - si * so / nf;
    let corr = if var_in > 1e-9 && var_out > 1e-9 { cov / (var_in * var_out).sqrt() } else { 0.0 };
    let energy = if var_in > 1e-9 { var_out / var_in } else if var_out > 1e-9 { f64::INFINITY } else { 0.0 };
    let redacted = corr < s.min_corr || energy < s.min_energy;
    Some(FaceScore { corr, energy, detail: (var_in / nf).sqrt(), pixels: n, redacted })
}

/// Mean over a (2r+1)² box, then the Laplacian with step `r`, over a `pw`×`ph` patch at
/// `(x0, y0)`. Values within `2r` of the patch edge are left at 0 and must not be used.
fn band_pass(plane: &Plane<'_>, x0: usize, y0: usize, pw: usize, ph: usize, r: usize) -> Vec<f64> {
    // Integral image: sat[(y + 1) * (pw + 1) + x + 1] = sum of rows ..=y, columns ..=x.
    let sw = pw + 1;
    let mut sat = vec![0u64; sw * (ph + 1)];
    for y in 0..ph {
        let row = &plane.row(y0 + y)[x0..x0 + pw];
        let mut acc = 0u64;
        for (x, &v) in row.iter().enumerate() {
            acc += v as u64;
            sat[(y + 1) * sw + x + 1] = sat[y * sw + x + 1] + acc;
        }
    }
    let area = ((2 * r + 1) * (2 * r + 1)) as f64;
    let mean = |x: usize, y: usize| {
        let (a, b, c, d) = (sat[(y - r) * sw + x - r], sat[(y - r) * sw + x + r + 1], sat[(y + r + 1) * sw + x - r], sat[(y + r + 1) * sw + x + r + 1]);
        (d + a - b - c) as f64 / area
    };
    let mut lap = vec![0.0f64; pw * ph];
    for y in 2 * r..ph.saturating_sub(2 * r) {
        for x in 2 * r..pw.saturating_sub(2 * r) {
            lap[y * pw + x] = 4.0 * mean(x, y) - mean(x - r, y) - mean(x + r, y) - mean(x, y - r) - mean(x, y + r);
        }
    }
    lap
}

/// Redacted / total.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Ratio {
    pub redacted: usize,
    pub total: usize,
    /// `null` when nothing was counted.
    pub percent: Option<f64>,
}

impl Ratio {
    fn add(&mut self, redacted: bool) {
        self.total += 1;
        self.redacted += redacted as usize;
        self.percent = Some(100.0 * self.redacted as f64 / self.total as f64);
    }
}

/// Frame count and timing of input vs output.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct FrameCheck {
    pub truth_frames: u64,
    pub input_frames: u64,
    pub output_frames: u64,
    pub input_duration_s: Option<f64>,
    pub output_duration_s: Option<f64>,
    /// Frame pairs whose presentation times differ by more than 1 ms.
    pub pts_mismatches: u64,
    pub frames_match: bool,
    pub duration_match: bool,
}

/// Leaks of one track.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TrackLeak {
    pub track: u32,
    pub scored_frames: u64,
    pub leaked_frames: u64,
    /// Longest run of consecutive frames in which this face was visible.
    pub longest_run: u64,
}

/// Frames in which some face is visible.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Leaks {
    pub frames_with_faces: u64,
    pub leaked_frames: u64,
    /// Leaked frames as a share of frames with faces.
    pub leaked_percent: Option<f64>,
    pub longest_run: u64,
    pub longest_run_track: Option<u32>,
    pub tracks: Vec<TrackLeak>,
}

/// Pixels changed outside faces.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct OverRedaction {
    /// 2×2 blocks outside the dilated face boxes, over all measured frames.
    pub blocks: u64,
    pub changed: u64,
    pub percent: Option<f64>,
    /// Largest share changed in a single frame.
    pub worst_frame_percent: f64,
    /// Share changed per frame: median and 95th percentile over the measured frames.
    pub frame_p50_percent: Option<f64>,
    pub frame_p95_percent: Option<f64>,
}

/// Recall and leaks over the faces of one identity set.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SetMeasurement {
    pub recall: Ratio,
    pub buckets: BTreeMap<SizeBucket, Ratio>,
    /// Frames in which a face of this set is scored, and those in which one of them is visible.
    pub frames_with_faces: u64,
    pub leaked_frames: u64,
    pub leaked_percent: Option<f64>,
    pub longest_run: u64,
    pub longest_run_track: Option<u32>,
}

/// Per-frame bookkeeping of one set.
#[derive(Default)]
struct SetFrame {
    scored: bool,
    leaked: bool,
}

/// The result of comparing one output with its input and truth.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Measurement {
    pub frames: FrameCheck,
    pub recall: Ratio,
    pub buckets: BTreeMap<SizeBucket, Ratio>,
    /// Faces cut by the frame edge.
    pub partial: Ratio,
    pub leaks: Leaks,
    pub over_redaction: OverRedaction,
    /// Scored faces whose input patch had almost no detail (their decision is least certain).
    pub flat_faces: usize,
    /// Scored faces too small to measure after clipping (counted as not redacted).
    pub unmeasurable_faces: usize,
    /// Faces whose pixels changed as a fill would change them, with less than
    /// [`MIN_FILLED`] of them under a region the run's sidecar says it filled: the encoder's
    /// doing, counted as not redacted. `None` when no sidecar was given.
    pub hidden_without_fill: Option<usize>,
    /// Over-reach of the masks, from the run's sidecar (`None` when there was none).
    pub masks: Option<MaskReach>,
    /// The same recall and leaks per identity set (tuning and held-out side by side). Empty
    /// for truth files that predate the split.
    pub sets: BTreeMap<IdentitySet, SetMeasurement>,
    /// Recall per light condition of the track (normal, over, under, backlight).
    pub light: BTreeMap<Light, Ratio>,
    /// Recall of fast tracks (visible motion blur).
    pub fast: Ratio,
    /// Recall of labelled profiles (yaw ≥ 60°); `total` 0 when no photo is labelled so.
    pub profile: Ratio,
}

/// Decodes input and output in lockstep and scores every labelled face. With `fills` (read
/// from the run's sidecar), a face counts as redacted only when a filled region also covers it.
/// With `details`, one CSV line per scored face is written there.
pub fn measure(
    truth: &Truth,
    input: &Path,
    output: &Path,
    s: &MeasureSettings,
    fills: Option<&Fills>,
    mut details: Option<&mut dyn Write>,
) -> Result<Measurement> {
    let mut src_in = FileSource::open(input)?;
    let mut src_out = FileSource::open(output)?;
    let (iw, ih) = (src_in.info().width(), src_in.info().height());
    let (ow, oh) = (src_out.info().width(), src_out.info().height());
    if (iw, ih) != (ow, oh) {
        return Err(EvalError::Mismatch(format!(
            "{} is {iw}x{ih} but {} is {ow}x{oh}",
            input.display(),
            output.display()
        )));
    }
    if (iw, ih) != (truth.width, truth.height) {
        return Err(EvalError::Mismatch(format!(
            "{} is {iw}x{ih} but its truth says {}x{}",
            input.display(),
            truth.width,
            truth.height
        )));
    }
    let mut m = Measurement { hidden_without_fill: fills.map(|_| 0), ..Default::default() };
    m.frames.truth_frames = truth.frame_count;
    m.frames.input_duration_s = src_in.duration().map(|d| d.nseconds() as f64 / 1e9);
    m.frames.output_duration_s = src_out.duration().map(|d| d.nseconds() as f64 / 1e9);
    for b in SizeBucket::SCORED {
        m.buckets.insert(b, Ratio::default());
    }
    if let Some(w) = details.as_deref_mut() {
        writeln!(w, "frame,track,x,y,w,h,bucket,partial,corr,energy,detail,pixels,redacted,set,light,covered").map_err(|e| EvalError::io("details", e))?;
    }
    let mut tracks: HashMap<u32, (TrackLeak, Option<u64>, u64)> = HashMap::new();
    let track_info: HashMap<u32, &TruthTrack> = truth.tracks.iter().map(|t| (t.id, t)).collect();
    for set in IdentitySet::ALL {
        if truth.tracks.iter().any(|t| t.set == Some(set)) {
            let buckets = SizeBucket::SCORED.iter().map(|&b| (b, Ratio::default())).collect();
            m.sets.insert(set, SetMeasurement { buckets, ..Default::default() });
        }
    }
    let (mut blocks, mut changed, mut worst) = (0u64, 0u64, 0.0f64);
    // One share per frame (a few bytes per frame, for the percentiles).
    let mut frame_shares: Vec<f64> = Vec::new();
    loop {
        let a = src_in.next_frame()?;
        let b = src_out.next_frame()?;
        let (fa, fb) = match (a, b) {
            (None, None) => break,
            (Some(_), None) => {
                m.frames.input_frames += 1;
                continue;
            }
            (None, Some(_)) => {
                m.frames.output_frames += 1;
                continue;
            }
            (Some(fa), Some(fb)) => (fa, fb),
        };
        m.frames.input_frames += 1;
        m.frames.output_frames += 1;
        if let (Some(pa), Some(pb)) = (fa.pts(), fb.pts()) {
            if pa.nseconds().abs_diff(pb.nseconds()) > 1_000_000 {
                m.frames.pts_mismatches += 1;
            }
        }
        let index = fa.index;
        let Some(tf) = truth.frames.get(index as usize) else { continue };
        let (scores, frame_over) = compare_frames(&fa, &fb, &tf.faces, s)?;
        blocks += frame_over.0;
        changed += frame_over.1;
        if frame_over.0 > 0 {
            let share = 100.0 * frame_over.1 as f64 / frame_over.0 as f64;
            worst = worst.max(share);
            frame_shares.push(share);
        }
        let mut any_scored = false;
        let mut any_leak = false;
        let mut set_frames: BTreeMap<IdentitySet, SetFrame> = BTreeMap::new();
        for (face, score) in tf.faces.iter().zip(&scores) {
            if !face.scored {
                continue;
            }
            any_scored = true;
            let mut redacted = match score {
                Some(sc) => {
                    if sc.detail < FLAT_RMS {
                        m.flat_faces += 1;
                    }
                    sc.redacted
                }
                None => {
                    m.unmeasurable_faces += 1;
                    false
                }
            };
            let covered = fills.and_then(|f| f.covered(index, face, MEASURE_ELLIPSE));
            if redacted && covered.is_some_and(|c| c < MIN_FILLED) {
                redacted = false;
                *m.hidden_without_fill.get_or_insert(0) += 1;
            }
            m.recall.add(redacted);
            m.buckets.entry(face.bucket).or_default().add(redacted);
            if let Some(info) = track_info.get(&face.track) {
                count_by_track(&mut m, &mut set_frames, info, face, redacted);
            }
            if face.partial {
                m.partial.add(redacted);
            }
            let entry = tracks.entry(face.track).or_insert_with(|| (TrackLeak { track: face.track, ..Default::default() }, None, 0));
            entry.0.scored_frames += 1;
            if redacted {
                entry.2 = 0;
            } else {
                any_leak = true;
                entry.0.leaked_frames += 1;
                entry.2 = if entry.1 == Some(index.wrapping_sub(1)) { entry.2 + 1 } else { 1 };
                entry.1 = Some(index);
                entry.0.longest_run = entry.0.longest_run.max(entry.2);
            }
            if let Some(w) = details.as_deref_mut() {
                let (c, e, d, p) = score.map_or((f64::NAN, f64::NAN, f64::NAN, 0), |s| (s.corr, s.energy, s.detail, s.pixels));
                let info = track_info.get(&face.track);
                let set = info.and_then(|i| i.set).map_or("", |s| s.name());
                let light = info.and_then(|i| i.light).map_or("", |l| l.name());
                let covered = covered.map_or(String::new(), |c| format!("{c:.2}"));
                writeln!(
                    w,
                    "{index},{},{},{},{},{},{},{},{c:.3},{e:.3},{d:.2},{p},{},{set},{light},{covered}",
                    face.track,
                    face.x,
                    face.y,
                    face.w,
                    face.h,
                    face.bucket.label(),
                    face.partial as u8,
                    redacted as u8
                )
                .map_err(|e| EvalError::io("details", e))?;
            }
        }
        m.leaks.frames_with_faces += any_scored as u64;
        m.leaks.leaked_frames += any_leak as u64;
        for (set, f) in set_frames {
            let sm = m.sets.entry(set).or_default();
            sm.frames_with_faces += f.scored as u64;
            sm.leaked_frames += f.leaked as u64;
        }
    }
    let mut per_track: Vec<TrackLeak> = tracks.into_values().map(|(t, _, _)| t).collect();
    per_track.sort_by_key(|t| t.track);
    if let Some(worst_track) = per_track.iter().filter(|t| t.longest_run > 0).max_by_key(|t| (t.longest_run, std::cmp::Reverse(t.track))) {
        m.leaks.longest_run = worst_track.longest_run;
        m.leaks.longest_run_track = Some(worst_track.track);
    }
    for (set, sm) in m.sets.iter_mut() {
        sm.leaked_percent = (sm.frames_with_faces > 0).then(|| 100.0 * sm.leaked_frames as f64 / sm.frames_with_faces as f64);
        let in_set = per_track.iter().filter(|t| track_info.get(&t.track).is_some_and(|i| i.set == Some(*set)));
        if let Some(worst) = in_set.filter(|t| t.longest_run > 0).max_by_key(|t| (t.longest_run, std::cmp::Reverse(t.track))) {
            sm.longest_run = worst.longest_run;
            sm.longest_run_track = Some(worst.track);
        }
    }
    m.leaks.tracks = per_track;
    m.leaks.leaked_percent = (m.leaks.frames_with_faces > 0)
        .then(|| 100.0 * m.leaks.leaked_frames as f64 / m.leaks.frames_with_faces as f64);
    frame_shares.sort_by(f64::total_cmp);
    m.over_redaction = OverRedaction {
        blocks,
        changed,
        percent: (blocks > 0).then(|| 100.0 * changed as f64 / blocks as f64),
        worst_frame_percent: worst,
        frame_p50_percent: percentile(&frame_shares, 50.0),
        frame_p95_percent: percentile(&frame_shares, 95.0),
    };
    m.frames.frames_match = m.frames.input_frames == m.frames.output_frames && m.frames.input_frames == truth.frame_count;
    let frame_s = truth.fps_d as f64 / truth.fps_n.max(1) as f64;
    m.frames.duration_match = match (m.frames.input_duration_s, m.frames.output_duration_s) {
        (Some(a), Some(b)) => (a - b).abs() <= frame_s / 2.0,
        _ => false,
    };
    Ok(m)
}

/// Counts one scored face in its identity set, light condition, motion and pose rows.
fn count_by_track(m: &mut Measurement, set_frames: &mut BTreeMap<IdentitySet, SetFrame>, info: &TruthTrack, face: &TruthFace, redacted: bool) {
    if let Some(set) = info.set {
        let sm = m.sets.entry(set).or_default();
        sm.recall.add(redacted);
        sm.buckets.entry(face.bucket).or_default().add(redacted);
        let f = set_frames.entry(set).or_default();
        f.scored = true;
        f.leaked |= !redacted;
    }
    if let Some(light) = info.light {
        m.light.entry(light).or_default().add(redacted);
    }
    if info.fast {
        m.fast.add(redacted);
    }
    if info.yaw_deg.is_some_and(|y| y.abs() >= PROFILE_YAW_DEG) {
        m.profile.add(redacted);
    }
}

/// Per-face scores (in truth order; `None` for unscored or unmeasurable faces) and the
/// over-redaction count `(blocks, changed)` of one frame pair.
type FrameScores = (Vec<Option<FaceScore>>, (u64, u64));

/// Scores the faces of one frame pair and counts over-redaction.
fn compare_frames(fa: &Frame, fb: &Frame, faces: &[TruthFace], s: &MeasureSettings) -> Result<FrameScores> {
    let r = fa.with_picture(|pa| {
        fb.with_picture(|pb| {
            let (ya, yb) = (&pa.planes[0], &pb.planes[0]);
            let scores = faces.iter().map(|f| if f.scored { score_face(ya, yb, f, s) } else { None }).collect();
            (scores, over_redaction(ya, yb, faces, s))
        })
    })??;
    Ok(r)
}

/// `(blocks outside dilated faces, of which changed)` over 2×2 luma blocks.
pub fn over_redaction(a: &Plane<'_>, b: &Plane<'_>, faces: &[TruthFace], s: &MeasureSettings) -> (u64, u64) {
    let (bw, bh) = (a.width.min(b.width) / 2, a.height.min(b.height) / 2);
    let mut excluded = vec![false; bw * bh];
    for f in faces {
        let [x1, y1, x2, y2] = f.full.map(|v| v as f64);
        let (cx, cy) = ((x1 + x2) / 2.0, (y1 + y2) / 2.0);
        let (hw, hh) = ((x2 - x1) * s.dilation / 2.0, (y2 - y1) * s.dilation / 2.0);
        let bx0 = ((cx - hw) / 2.0).floor().clamp(0.0, bw as f64) as usize;
        let bx1 = ((cx + hw) / 2.0).ceil().clamp(0.0, bw as f64) as usize;
        let by0 = ((cy - hh) / 2.0).floor().clamp(0.0, bh as f64) as usize;
        let by1 = ((cy + hh) / 2.0).ceil().clamp(0.0, bh as f64) as usize;
        for by in by0..by1 {
            excluded[by * bw + bx0..by * bw + bx1].fill(true);
        }
    }
    let threshold = (s.change_levels * 4.0) as i32;
    let (mut total, mut changed) = (0u64, 0u64);
    for by in 0..bh {
        let (a0, a1, b0, b1) = (a.row(2 * by), a.row(2 * by + 1), b.row(2 * by), b.row(2 * by + 1));
        let ex = &excluded[by * bw..(by + 1) * bw];
        for (bx, &skip) in ex.iter().enumerate() {
            if skip {
                continue;
            }
            let x = 2 * bx;
            let sa = a0[x] as i32 + a0[x + 1] as i32 + a1[x] as i32 + a1[x + 1] as i32;
            let sb = b0[x] as i32 + b0[x + 1] as i32 + b1[x] as i32 + b1[x + 1] as i32;
            total += 1;
            changed += ((sa - sb).abs() > threshold) as u64;
        }
    }
    (total, changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::truth::face_box as face;
    use veilcam::frame::{Layout, Picture};

    /// A textured 64×64 luma image (deterministic, with structure at several scales).
    fn texture(seed: u64) -> Vec<u8> {
        let mut r = crate::rng::SplitMix64::new(seed);
        let mut v = vec![0u8; 64 * 64];
        for y in 0..64 {
            for x in 0..64 {
                let base = 128.0 + 50.0 * ((x as f64 / 5.0).sin() * (y as f64 / 7.0).cos());
                v[y * 64 + x] = (base + 20.0 * r.next_f64()) as u8;
            }
        }
        v
    }

    fn luma(data: &[u8]) -> Plane<'_> {
        // Only the luma plane is used; chroma views alias it.
        Picture::from_planes(Layout::I420, 64, 64, [(data, 64), (data, 32), (data, 32)]).planes[0]
    }

    #[test]
    fn identical_patch_is_not_redacted() {
        let t = texture(1);
        let sc = score_face(&luma(&t), &luma(&t), &face(10, 10, 30, 40), &MeasureSettings::default()).unwrap();
        assert!((sc.corr - 1.0).abs() < 1e-9 && (sc.energy - 1.0).abs() < 1e-9 && !sc.redacted);
    }

    #[test]
    fn flat_fill_and_unrelated_texture_are_redacted() {
        let t = texture(1);
        let f = face(10, 10, 30, 40);
        let mut flat = t.clone();
        for y in 8..54 {
            flat[y * 64 + 8..y * 64 + 44].fill(16);
        }
        let s = MeasureSettings::default();
        assert!(score_face(&luma(&t), &luma(&flat), &f, &s).unwrap().redacted);
        // Other detail of the same strength, which the patch never had: low correlation.
        let other: Vec<u8> = (0..64 * 64).map(|i| t[(i * 7919) % (64 * 64)]).collect();
        let sc = score_face(&luma(&t), &luma(&other), &f, &s).unwrap();
        assert!(sc.redacted && sc.corr.abs() < 0.3, "{sc:?}");
    }

    #[test]
    fn over_redaction_ignores_dilated_faces_and_counts_changes_elsewhere() {
        let t = texture(3);
        let mut u = t.clone();
        // Inside the dilated face: ignored. Top-left 8×8 corner: counted.
        for y in 20..30 {
            u[y * 64 + 20..y * 64 + 30].fill(0);
        }
        for y in 0..8 {
            u[y * 64..y * 64 + 8].iter_mut().for_each(|p| *p = p.saturating_add(100));
        }
        let (total, changed) = over_redaction(&luma(&t), &luma(&u), &[face(20, 20, 10, 10)], &MeasureSettings::default());
        // The box grown ×2 is 15..35 px, i.e. blocks 7..18 both ways.
        assert_eq!(total, 32 * 32 - 11 * 11);
        assert_eq!(changed, 16);
    }
}
