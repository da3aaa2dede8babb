//! `veilcam audit`: an independent check of a redacted video for faces still visible.
//!
//! The check looks harder than redaction does, so it can catch what redaction missed, on every
//! frame: the float CenterFace model (redaction uses the int8 one by default) at the frame's
//! full resolution (redaction's global pass looks at 640 px), with the same local contrast
//! equalisation that redaction's detector input gets; then again at twice the resolution where
//! the picture changed in the last few frames (walking people: faces of 12–24 px that the
//! full-resolution pass misses), within a budget of the frame's area, and in a face-sized crop
//! of its own around each dark patch there (a backlit head, a face in shade: the crops
//! redaction's planner makes); with `--second-model`, on grey (night, infrared) pictures, a
//! second model of another lineage ([`BlazeFace`] full-range) over the same regions in small
//! tiles, for the small backlit, over-exposed and dark faces CenterFace misses at any
//! enlargement; and, with
//! `--closer`, over the whole frame in overlapping tiles at twice the resolution. Hits in
//! consecutive frames that overlap, or lie close with a similar size, are one *finding*; each
//! finding is listed with its frames, times and best box, and drawn into a contact sheet (one
//! tile per finding, in the listed order) for a person to review. Exit status 4 when anything
//! is found.
//!
//! Not every hit is a finding: a hit on a mosaic fill (its luma steps on a grid of square
//! blocks, [`mosaic_likeness`]) is set aside, and so is a brief, weak, somewhat blocky finding
//! (a small mosaic); a hit under the threshold but above [`CONFIRM_SHARE`] of it counts only
//! when its finding lasts and moves (a walking face). Set-aside hits are listed with the reason.
//!
//! The detector often sees a face in some frames of its run and not in the others. Each
//! finding's face is therefore followed, by likeness ([`FOLLOW_NCC`]), forward and backward from
//! its detected hits into the frames where the detector missed it, until the match fails or the
//! patch turns flat or into a mosaic (a weaker match counts where the face's motion takes it,
//! [`FOLLOW_NCC_ON_PATH`]: a face whose motion blur changes); followed hits (look `followed`)
//! show the whole span in which the face is visible, but never make, join or confirm a finding.
//!
//! Where a finding's face is lost (the frames after its latest hit, detected or followed), the
//! audit also looks again, closer: the detector on the finding's last box grown by one box side
//! each way, enlarged 2–3×, at a lower score ([`AROUND_SHARE`] of the threshold). A face found
//! there (look `around`) joins that finding and is followed from, but it never makes, joins or
//! confirms a finding either: the findings, and so the false alarms, are those without it.
//!
//! It is also how veilcam measures itself on footage without ground truth: the evaluation
//! harness runs it on a deliberately weakened redaction and counts what it catches
//! (`docs/evaluation.md`).

use std::path::{Path, PathBuf};

use image::{Rgb, RgbImage};
use serde::Serialize;

use std::collections::VecDeque;

use crate::detect::blazeface::{self, BlazeFace};
use crate::detect::centerface::{CenterFace, CenterFaceSettings, LocalContrast, NMS_IOU};
use crate::detect::motion::{dark_in_glow, moving_regions, shade_outside_glow, CellImage};
use crate::detect::nms::suppress;
use crate::detect::{small_tiles, tiles, Region};
use crate::detect::Detection;
use crate::error::{Error, Result};
use crate::frame::Picture;
use crate::geometry::BBox;
use crate::output::AtomicOutput;
use crate::source::file::FileSource;
use crate::source::FrameSource;

/// Score from which the audit counts a face. Higher than redaction's threshold: the audit
/// runs a stronger look and must not cry wolf on mosaics and masks.
pub const DEFAULT_THRESHOLD: f32 = 0.5;
/// Hits from this share of the threshold up (0.4 at the default 0.5) count too, when their
/// finding lasts [`CONFIRM_FRAMES`] frames and travels [`CONFIRM_TRAVEL`]: a walking face is
/// confirmed by staying and moving; a single weak hit is not, nor a weak hit on something that
/// stands still (a post, a bag on the ground). On the harness (seed 1) this caught 82.5 %
/// instead of 75.6 % of what a weakened redaction left by day, 61.7 % instead of 52.6 % at
/// night (seed 2: 69.0 % instead of 62.4 %, 47.0 % instead of 42.0 %).
pub const CONFIRM_SHARE: f32 = 0.8;
/// Frames with a hit that confirm a finding whose best score is under the threshold.
pub const CONFIRM_FRAMES: u64 = 3;
/// How far such a finding must travel, first hit to last, in its box's larger side.
pub const CONFIRM_TRAVEL: f32 = 0.5;
/// A finding of at most this many frames, with a best score under [`BRIEF_SCORE`] and a hit
/// whose [`mosaic_likeness`] reaches [`BRIEF_MOSAIC`], is set aside as a mosaic: small
/// mosaics (2×3 blocks of 8 px) look like a face for a frame or two, and after compression
/// score 0.5–0.6 only, less than larger ones. Visible faces scored up to 0.47.
const BRIEF_FRAMES: u64 = 2;
const BRIEF_SCORE: f32 = 0.65;
const BRIEF_MOSAIC: f32 = 0.5;
/// Hits this close in time (frames apart) and overlapping belong to one finding.
const JOIN_FRAMES: u64 = 3;
/// Overlap (IoU) from which two hits are the same finding.
const JOIN_IOU: f32 = 0.2;
/// Hits that do not overlap are still the same finding when their centres are at most this many
/// times the earlier box's larger side apart and their sizes differ by at most [`JOIN_SIZE`]:
/// a small face in footage of a lower frame rate jumps further than its own width between
/// frames.
const JOIN_REACH: f32 = 1.5;
/// Largest ratio of the sides of two hits joined by [`JOIN_REACH`].
const JOIN_SIZE: f32 = 1.5;
/// The tile size of the closer passes, in source pixels, before doubling.
const CLOSER_TILE: usize = 640;
/// How much the closer passes enlarge.
const CLOSER_SCALE: f64 = 2.0;
/// Motion is measured against the picture this many frames back, so that slow walkers have
/// moved enough to show.
const MOTION_LAG: usize = 4;
/// A moving region is grown by this many pixels on each side, so a head above a moving body
/// and a face that barely moved are inside it.
const MOTION_MARGIN: usize = 24;
/// The moving look covers at most this share of the frame's area per frame; beyond it, the
/// regions take turns from frame to frame (a whole-frame change is light or the camera, not
/// people).
const MOTION_BUDGET: f64 = 0.25;
/// Share of the frame's area that the crops around dark patches ([`MotionLook::dark_looks`])
/// may take per frame: about a dozen face-sized crops (redaction's planner allows three);
/// beyond it they take turns. It bounds the cost on pictures with many dark patches.
const DARK_BUDGET: f64 = 0.04;
/// The look around a lost finding counts hits from this share of the threshold (0.3 at the
/// default 0.5): lower than the audit's own, because it looks only where a face just was.
pub const AROUND_SHARE: f32 = 0.6;
/// It looks in the frames up to this many after the finding's latest hit (detected, around or
/// followed); each hit it finds starts the count again.
pub const AROUND_GAP: u64 = 3;
/// The last box is grown by this many times its larger side on each side.
const AROUND_GROW: f32 = 1.0;
/// The crop is enlarged so the face is about this many pixels tall (2× at least, 3× at most).
const AROUND_FACE_PX: f32 = 64.0;
const AROUND_MIN_SCALE: f32 = 2.0;
const AROUND_MAX_SCALE: f32 = 3.0;
/// The enlarged crop is at most this many pixels across (a large face is enlarged less).
const AROUND_MAX_INPUT: f32 = 960.0;
/// Side of one contact sheet tile.
const SHEET_TILE: u32 = 160;
/// Tiles per contact sheet row.
const SHEET_COLUMNS: u32 = 8;
/// Findings drawn into the contact sheet at most (all are listed).
const SHEET_MAX: usize = 96;
/// Smallest block of veilcam's mosaic, in pixels (`redact::MOSAIC_MIN_BLOCK`).
const MOSAIC_MIN_PERIOD: usize = crate::redact::MOSAIC_MIN_BLOCK;
/// A hit whose [`mosaic_likeness`] reaches this is on a mosaic fill (veilcam's own, or any
/// other of square blocks), not on a visible face: it is set aside, not reported. Measured on
/// the harness's clips (seed 1, boxes of 16 px and more): mosaicked faces 0.68–0.97, visible
/// faces 0.26–0.47.
pub const MOSAIC_LIKENESS: f32 = 0.6;
/// The second model's score from which it counts a face.
pub const SECOND_THRESHOLD: f32 = 0.55;
/// Set-aside hits listed in the report at most (all are counted).
const SET_ASIDE_LISTED: usize = 1000;
/// Exit status of `veilcam audit` when it finds a face.
pub const EXIT_FOUND: u8 = 4;

/// How hard to look.
#[derive(Clone, Debug)]
pub struct AuditSettings {
    pub model: PathBuf,
    pub ort_lib: PathBuf,
    pub threshold: f32,
    /// Local contrast equalisation of the detector input, as in redaction (default: night
    /// pictures only).
    pub local_contrast: LocalContrast,
    /// Look again at twice the resolution where the picture moves.
    pub moving: bool,
    /// Also look in tiles at twice the resolution over the whole frame (about 5× the time).
    pub closer: bool,
    pub ort_threads: usize,
    /// Follow each finding through the frames around its hits while the face matches this well
    /// (normalised cross-correlation; `None`: do not follow; default [`FOLLOW_NCC`]).
    pub follow: Option<FollowSettings>,
    /// Take the detector's hits from an earlier `--json` report of the same video instead of
    /// looking (for measuring what follows the detector: joining, setting aside, following,
    /// the look around lost findings, which still runs the detector).
    pub hits_from: Option<PathBuf>,
    /// Look again, closer and at a lower score, around each finding in the frames where its
    /// face was lost ([`AROUND_SHARE`]).
    pub around: bool,
    /// The second face model (BlazeFace full-range), run on grey pictures on small tiles of what
    /// moves and on the crops around dark patches (`--second-model`); `None`: CenterFace alone.
    pub second_model: Option<PathBuf>,
    /// The second model's score from which it counts a face ([`SECOND_THRESHOLD`]).
    pub second_threshold: f32,
}

/// Which look found a hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Look {
    /// The whole frame at full resolution.
    Frame,
    /// A moving region at twice the resolution.
    Moving,
    /// A tile of the whole frame at twice the resolution (`--closer`).
    Tiles,
    /// A face-sized crop of its own, at twice the resolution, around a dark patch in a glow
    /// (a backlit head) or in a lit colour picture (a face in shade, equalised) where the
    /// picture moves.
    Dark,
    /// The second model ([`BlazeFace`]) on a small tile of a moving region or a crop around a
    /// dark patch, at about twice the resolution. A finding it alone makes must last and move
    /// whatever its score ([`verdict`]).
    Second,
    /// Not a detection: the face of a detected hit of the same finding, followed into this
    /// frame by its likeness ([`FOLLOW_NCC`]).
    Followed,
    /// A second, closer look at a lower score around a finding whose face was lost in this
    /// frame ([`AROUND_SHARE`]): it supports that finding, never makes one.
    Around,
}

impl Look {
    /// Whether the look makes findings: the frame, moving and tiles looks; not following or
    /// the look around a finding, which only support one.
    pub fn makes_findings(self) -> bool {
        !matches!(self, Look::Followed | Look::Around)
    }
}

/// Faces seen in one run of frames.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    pub first_frame: u64,
    pub last_frame: u64,
    /// Frames with a hit (a finding may skip a frame or two), followed ones included.
    pub frames: u64,
    /// Of them, frames where the face was followed, not detected.
    pub followed: u64,
    /// Of them, frames where the look around the finding found the face.
    pub around: u64,
    pub first_seconds: Option<f64>,
    pub last_seconds: Option<f64>,
    /// The frame of the best hit, its box (source pixels) and score.
    pub best_frame: u64,
    #[serde(rename = "box")]
    pub bbox: BBox,
    pub score: f32,
    /// Every hit of the finding, frame by frame.
    pub hits: Vec<Hit>,
    /// The largest [`mosaic_likeness`] of its detected hits.
    pub mosaic: f32,
    /// The latest detected box, for joining the next frames' hits (followed hits never join:
    /// following leaves the findings as the detector's hits make them).
    #[serde(skip)]
    last_box: BBox,
    #[serde(skip)]
    crop: Option<RgbImage>,
    /// The frame of the latest detected hit.
    #[serde(skip)]
    last_detected: u64,
    /// The latest frame with a hit, detected or followed, and its box: where following goes on.
    #[serde(skip)]
    followed_to: (u64, BBox),
    /// The times of the first and the latest detected hit.
    #[serde(skip)]
    detected_seconds: (Option<f64>, Option<f64>),
    /// The face as last detected, while it is being followed forward.
    #[serde(skip)]
    template: Option<Template>,
    /// Frames followed forward since the last detected hit.
    #[serde(skip)]
    followed_since: u64,
}

impl Finding {
    /// A finding of one detected hit.
    fn new(hit: &Hit, seconds: Option<f64>, crop: Option<RgbImage>) -> Self {
        Finding {
            first_frame: hit.frame,
            last_frame: hit.frame,
            frames: 1,
            followed: 0,
            around: 0,
            first_seconds: seconds,
            last_seconds: seconds,
            best_frame: hit.frame,
            bbox: hit.bbox,
            score: hit.score,
            hits: vec![*hit],
            mosaic: hit.mosaic,
            last_box: hit.bbox,
            crop,
            last_detected: hit.frame,
            followed_to: (hit.frame, hit.bbox),
            detected_seconds: (seconds, seconds),
            template: None,
            followed_since: 0,
        }
    }

    /// Adds a followed or around hit in frame order; it changes neither the best hit nor the
    /// verdict, nor which later hits join the finding.
    fn add_followed(&mut self, hit: Hit, seconds: Option<f64>) {
        let at = self.hits.partition_point(|h| h.frame < hit.frame);
        self.hits.insert(at, hit);
        self.frames += 1;
        match hit.look {
            Look::Around => self.around += 1,
            _ => self.followed += 1,
        }
        if hit.frame < self.first_frame {
            (self.first_frame, self.first_seconds) = (hit.frame, seconds);
        }
        if hit.frame > self.last_frame {
            (self.last_frame, self.last_seconds) = (hit.frame, seconds);
        }
        if hit.frame > self.followed_to.0 {
            self.followed_to = (hit.frame, hit.bbox);
        }
    }

    /// Drops its followed and around hits (its span shrinks back to its detected hits).
    fn drop_supporting(&mut self) {
        self.hits.retain(|h| h.look.makes_findings());
        self.frames -= self.followed + self.around;
        (self.followed, self.around) = (0, 0);
        if let (Some(first), Some(last)) = (self.hits.first(), self.hits.last()) {
            (self.first_frame, self.last_frame) = (first.frame, last.frame);
        }
        (self.first_seconds, self.last_seconds) = self.detected_seconds;
    }

    /// The face's motion per frame over its two latest hits (detected, followed or around),
    /// when they are close enough in time ([`motion`]).
    fn motion(&self) -> Option<(f32, f32)> {
        let mut latest = self.hits.iter().rev();
        let last = latest.next()?;
        let before = latest.find(|h| h.frame < last.frame)?;
        motion(&before.bbox, &last.bbox, last.frame - before.frame)
    }

    /// Its hits that the detector's own looks made (not followed, not around).
    fn detected(&self) -> impl Iterator<Item = &Hit> {
        self.hits.iter().filter(|h| h.look.makes_findings())
    }
}

/// One face seen in one frame.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Hit {
    pub frame: u64,
    #[serde(rename = "box")]
    pub bbox: BBox,
    pub score: f32,
    pub look: Look,
    /// How much the box looks like a mosaic fill ([`mosaic_likeness`], 0–1).
    pub mosaic: f32,
    /// A followed hit's match with the face as detected (normalised cross-correlation, up to
    /// 1); its `score` is that detected face's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ncc: Option<f32>,
}

/// What an audit found.
#[derive(Debug, Serialize)]
pub struct AuditReport {
    pub input: String,
    pub frames: u64,
    pub width: u32,
    pub height: u32,
    pub threshold: f32,
    /// Score from which hits count when their finding lasts `confirm_frames` frames.
    pub confirm_threshold: f32,
    pub confirm_frames: u64,
    /// `off`, `auto` or `on`.
    pub local_contrast: String,
    pub moving: bool,
    pub closer: bool,
    /// Mean share of the frame's area the moving look covered (0–1).
    pub moving_share: f64,
    /// Whether findings were followed through the frames around their hits, and the least
    /// match that kept following.
    pub follow: bool,
    pub follow_ncc: f32,
    /// Whether the audit looked again around lost findings, and from which score.
    pub around: bool,
    pub around_threshold: f32,
    /// Whether the second face model looked too.
    pub second_model: bool,
    /// Frames with at least one hit of a finding.
    pub frames_with_faces: u64,
    pub findings: Vec<Finding>,
    /// Hits that are not findings: on a mosaic fill, or weak and unconfirmed.
    pub set_aside_count: u64,
    /// The first [`SET_ASIDE_LISTED`] of them, for review.
    pub set_aside: Vec<SetAside>,
}

/// A hit that is not a finding, and why.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct SetAside {
    pub reason: Reason,
    #[serde(flatten)]
    pub hit: Hit,
}

/// Why a hit is not a finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Reason {
    /// Its box is made of square blocks ([`MOSAIC_LIKENESS`]).
    Mosaic,
    /// Its finding is brief, weak and somewhat blocky ([`BRIEF_FRAMES`]).
    Brief,
    /// Under the threshold, and its finding lasted fewer than [`CONFIRM_FRAMES`] frames or did
    /// not travel [`CONFIRM_TRAVEL`].
    Unconfirmed,
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
    let mut hits_of = match &settings.hits_from {
        Some(path) => HitSource::Recorded(Recorded::read(path, settings.second_threshold)?),
        None => HitSource::Detector(Box::new(Auditor::new(settings, info.width() as usize)?)),
    };
    let mut follower = settings.follow.map(Follower::new);
    let mut around = match settings.around {
        true => Some(AroundLook::new(settings)?),
        false => None,
    };
    let mut findings: Vec<Finding> = Vec::new();
    let mut aside = Aside::default();
    let mut frames = 0;
    while let Some(frame) = source.next_frame()? {
        crate::interrupt::check()?;
        let index = frame.index;
        let seconds = frame.pts().map(|t| t.nseconds() as f64 / 1e9);
        let FrameHits { faces: hits, mosaics } = match &mut hits_of {
            HitSource::Detector(auditor) => frame.with_picture(|pic| auditor.frame(pic, index))??,
            HitSource::Recorded(recorded) => recorded.frame(index),
        };
        aside.add(Reason::Mosaic, &mosaics);
        frame.with_picture(|pic| {
            join(&mut findings, &hits, index, seconds, pic);
            if let Some(around) = around.as_mut() {
                around.frame(&mut findings, pic, index, seconds)?;
            }
            if let Some(follower) = follower.as_mut() {
                follower.frame(&mut findings, pic, index, seconds);
            }
            Ok::<(), Error>(())
        })??;
        frames += 1;
        progress(frames);
    }
    if frames == 0 {
        return Err(Error::Pipeline(format!("{}: no video frames", input.display())));
    }
    let findings = settle(findings, settings.threshold, &mut aside);
    let frames_with_faces = findings.iter().flat_map(|f| f.hits.iter().map(|h| h.frame)).collect::<std::collections::BTreeSet<_>>().len() as u64;
    Ok(AuditReport {
        input: input.display().to_string(),
        frames,
        width: info.width(),
        height: info.height(),
        threshold: settings.threshold,
        confirm_threshold: confirm_threshold(settings.threshold),
        confirm_frames: CONFIRM_FRAMES,
        local_contrast: clap::ValueEnum::to_possible_value(&settings.local_contrast).map_or(String::new(), |v| v.get_name().to_string()),
        moving: settings.moving,
        closer: settings.closer,
        moving_share: match &hits_of {
            HitSource::Detector(auditor) => auditor.motion.as_ref().map_or(0.0, |m| m.looked as f64 / (frames as f64 * info.width() as f64 * info.height() as f64)),
            HitSource::Recorded(recorded) => recorded.moving_share,
        },
        follow: settings.follow.is_some(),
        follow_ncc: settings.follow.map_or(FOLLOW_NCC, |f| f.least),
        around: settings.around,
        around_threshold: around_threshold(settings.threshold),
        second_model: settings.second_model.is_some(),
        frames_with_faces,
        findings,
        set_aside_count: aside.count,
        set_aside: aside.listed,
    })
}

/// Where a frame's hits come from: the audit's detector, or an earlier report.
enum HitSource {
    Detector(Box<Auditor>),
    Recorded(Recorded),
}

/// The detected hits of an earlier report (`--json`), frame by frame: those of its findings and
/// those it set aside.
struct Recorded {
    hits: std::collections::BTreeMap<u64, Vec<Hit>>,
    moving_share: f64,
    /// The second model's hits under this score are dropped (an earlier report may have kept
    /// weaker ones).
    second_threshold: f32,
}

impl Recorded {
    fn read(path: &Path, second_threshold: f32) -> Result<Self> {
        let bad = |why: &str| Error::Settings(format!("{}: not a complete audit report: {why}", path.display()));
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let report: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(&e.to_string()))?;
        let aside = report["set_aside"].as_array().ok_or_else(|| bad("no set_aside"))?;
        if report["set_aside_count"].as_u64() != Some(aside.len() as u64) {
            return Err(bad("set_aside lists only part of the hits it set aside"));
        }
        let findings = report["findings"].as_array().ok_or_else(|| bad("no findings"))?;
        let mut hits: std::collections::BTreeMap<u64, Vec<Hit>> = Default::default();
        for h in findings.iter().flat_map(|f| f["hits"].as_array().into_iter().flatten()).chain(aside) {
            let hit = recorded_hit(h).ok_or_else(|| bad(&format!("unreadable hit {h}")))?;
            if hit.look.makes_findings() {
                hits.entry(hit.frame).or_default().push(hit);
            }
        }
        Ok(Recorded { hits, moving_share: report["moving_share"].as_f64().unwrap_or(0.0), second_threshold })
    }

    fn frame(&mut self, index: u64) -> FrameHits {
        let mut hits = self.hits.remove(&index).unwrap_or_default();
        hits.retain(|h| h.look != Look::Second || h.score >= self.second_threshold);
        let (faces, mosaics) = hits.into_iter().partition(|h| !on_mosaic(h));
        FrameHits { faces, mosaics }
    }
}

/// A hit as an audit report lists it.
fn recorded_hit(h: &serde_json::Value) -> Option<Hit> {
    let b = &h["box"];
    let f = |v: &serde_json::Value| v.as_f64().map(|v| v as f32);
    let look = serde_json::from_value(h["look"].clone()).ok()?;
    Some(Hit {
        frame: h["frame"].as_u64()?,
        bbox: BBox::new(f(&b["x1"])?, f(&b["y1"])?, f(&b["x2"])?, f(&b["y2"])?),
        score: f(&h["score"])?,
        look,
        mosaic: f(&h["mosaic"])?,
        ncc: None,
    })
}

/// The score from which hits are kept for confirmation, for a threshold.
pub fn confirm_threshold(threshold: f32) -> f32 {
    threshold * CONFIRM_SHARE
}

/// The score from which the look around a lost finding counts a hit, for a threshold.
pub fn around_threshold(threshold: f32) -> f32 {
    threshold * AROUND_SHARE
}

/// The hits set aside so far: all counted, the first [`SET_ASIDE_LISTED`] kept.
#[derive(Default)]
struct Aside {
    count: u64,
    listed: Vec<SetAside>,
}

impl Aside {
    fn add(&mut self, reason: Reason, hits: &[Hit]) {
        self.count += hits.len() as u64;
        let room = SET_ASIDE_LISTED.saturating_sub(self.listed.len());
        self.listed.extend(hits.iter().take(room).map(|&hit| SetAside { reason, hit }));
    }
}

/// Why a complete finding is not one, if it is not: under `threshold`, or found by the second
/// model alone (its scores are not CenterFace's, and it fires on more still things), and not
/// confirmed by lasting and moving; or brief, weak and somewhat blocky (a small mosaic).
/// Followed hits count for neither: following never makes a finding.
fn verdict(f: &Finding, threshold: f32) -> Option<Reason> {
    let detected: Vec<Hit> = f.detected().copied().collect();
    let frames = detected.len() as u64;
    let second_only = detected.iter().all(|h| h.look == Look::Second);
    if (f.score < threshold || second_only) && (frames < CONFIRM_FRAMES || travel(&detected) < CONFIRM_TRAVEL) {
        return Some(Reason::Unconfirmed);
    }
    (frames <= BRIEF_FRAMES && f.score < BRIEF_SCORE && f.mosaic >= BRIEF_MOSAIC).then_some(Reason::Brief)
}

/// How far the hits travel from the first to the last, in the largest side of their boxes.
fn travel(hits: &[Hit]) -> f32 {
    let (Some(first), Some(last)) = (hits.first(), hits.last()) else { return 0.0 };
    let side = hits.iter().map(|h| h.bbox.width().max(h.bbox.height())).fold(1.0, f32::max);
    let ((ax, ay), (bx, by)) = (first.bbox.center(), last.bbox.center());
    ((ax - bx).powi(2) + (ay - by).powi(2)).sqrt() / side
}

/// The findings that stand; the detected hits of the others go to `aside` (their followed and
/// around hits are dropped, and so are those of a finding detected in fewer than
/// [`FOLLOW_MIN_DETECTED`] frames).
fn settle(findings: Vec<Finding>, threshold: f32, aside: &mut Aside) -> Vec<Finding> {
    let mut kept = Vec::with_capacity(findings.len());
    for f in findings {
        match verdict(&f, threshold) {
            Some(reason) => aside.add(reason, &f.detected().copied().collect::<Vec<_>>()),
            None if f.followed + f.around > 0 && f.detected().count() < FOLLOW_MIN_DETECTED => {
                let mut f = f;
                f.drop_supporting();
                kept.push(f);
            }
            None => kept.push(f),
        }
    }
    kept
}

/// The audit's looks, one frame after the other (the moving look remembers the last frames).
pub struct Auditor {
    detector: CenterFace,
    second: Option<BlazeFace>,
    motion: Option<MotionLook>,
    closer: bool,
}

/// One frame's hits, sorted.
#[derive(Debug, Default)]
pub struct FrameHits {
    /// Faces that seem visible.
    pub faces: Vec<Hit>,
    /// Hits on a mosaic fill ([`MOSAIC_LIKENESS`]): set aside, not findings.
    pub mosaics: Vec<Hit>,
}

impl Auditor {
    /// Loads the detector for pictures `width` pixels wide: the frame's full resolution (the
    /// detector is never given less than the frame), with redaction's light adjustment.
    pub fn new(settings: &AuditSettings, width: usize) -> Result<Self> {
        let face = CenterFaceSettings {
            threshold: confirm_threshold(settings.threshold),
            detect_width: width.max(32),
            low_light: false,
            local_contrast: settings.local_contrast,
        };
        let detector = CenterFace::load(&settings.ort_lib, &settings.model, face, settings.ort_threads)?;
        let second = match &settings.second_model {
            Some(model) => Some(BlazeFace::load(&settings.ort_lib, model, settings.second_threshold, settings.ort_threads)?),
            None => None,
        };
        let shade = settings.local_contrast == LocalContrast::Dark;
        Ok(Auditor { detector, second, motion: settings.moving.then(|| MotionLook::new(shade)), closer: settings.closer })
    }

    /// Looks at frame `index` and sorts its hits into faces and mosaics.
    pub fn frame(&mut self, pic: &Picture<'_>, index: u64) -> Result<FrameHits> {
        let grey = crate::detect::preprocess::is_grey(pic);
        let regions = self.motion.as_mut().map(|m| m.regions(pic, grey));
        let hits = look(&mut self.detector, pic, grey, regions.as_ref(), self.closer)?;
        let mut hits: Vec<Hit> = merge(hits).into_iter().map(|(d, look)| to_hit(pic, index, d, look)).collect();
        if let (Some(second), Some(regions), true) = (self.second.as_mut(), regions.as_ref(), grey) {
            let found = second_look(second, pic, regions)?.into_iter().map(|d| to_hit(pic, index, d, Look::Second)).collect();
            hits.extend(second_hits(found, &hits));
        }
        let (faces, mosaics) = hits.into_iter().partition(|h| !on_mosaic(h));
        Ok(FrameHits { faces, mosaics })
    }
}

/// One frame's faces as one model sees them: the whole frame at full resolution, then moving
/// regions at 2× (and the dark patches in them, each in a face-sized crop of its own), then
/// (closer) tiles of the whole frame at 2×. Not yet merged.
fn look(detector: &mut CenterFace, pic: &Picture<'_>, grey: bool, motion: Option<&MotionRegions>, closer: bool) -> Result<Vec<(Detection, Look)>> {
    let fail = |message: String| Error::Detect { frame: 0, message };
    let mut hits: Vec<(Detection, Look)> = detector.detect(pic, grey).map_err(fail)?.into_iter().map(|d| (d, Look::Frame)).collect();
    if let Some(MotionRegions { moving, glow, shade }) = motion {
        for &region in moving {
            hits.extend(detector.detect_crop(pic, region, CLOSER_SCALE, grey).map_err(fail)?.into_iter().map(|d| (d, Look::Moving)));
        }
        // A backlit crop is run as it is and equalised when the contrast setting says so.
        for &region in glow {
            hits.extend(detector.detect_crop(pic, region, CLOSER_SCALE, grey).map_err(fail)?.into_iter().map(|d| (d, Look::Dark)));
        }
        for &region in shade {
            hits.extend(detector.detect_crop_equalised(pic, region, CLOSER_SCALE).map_err(fail)?.into_iter().map(|d| (d, Look::Dark)));
        }
    }
    if closer {
        for tile in tiles((0, 0, pic.width, pic.height), CLOSER_TILE) {
            hits.extend(detector.detect_crop(pic, tile, CLOSER_SCALE, grey).map_err(fail)?.into_iter().map(|d| (d, Look::Tiles)));
        }
    }
    Ok(hits)
}

/// The second model's look where a grey (night, infrared) picture moves (`--second-model`):
/// each moving region in small tiles ([`blazeface::TILE`]), and each crop around a dark patch
/// as it is. Colour pictures are left to CenterFace: by day the second model added few caught
/// faces on the harness and took many mosaicked faces for faces (`docs/evaluation.md`). It is
/// not on by default because at night too it takes some coarse mosaics of faces for faces.
fn second_look(second: &mut BlazeFace, pic: &Picture<'_>, motion: &MotionRegions) -> Result<Vec<Detection>> {
    let fail = |message: String| Error::Detect { frame: 0, message };
    let pieces = motion.moving.iter().flat_map(|&r| small_tiles(r, blazeface::TILE, blazeface::TILE_STEP));
    let mut found = Vec::new();
    for region in pieces.chain(motion.glow.iter().copied()).chain(motion.shade.iter().copied()) {
        found.extend(second.detect_crop(pic, region).map_err(fail)?);
    }
    Ok(found)
}

/// Of the second model's hits of a frame, those it adds to CenterFace's `first`: its mosaics
/// (somewhat blocky ones already, [`on_mosaic`]) as they are, to be set aside; of the others
/// the best of each overlapping group, where no hit of `first` is. CenterFace's hits win, as
/// the global pass does in redaction.
fn second_hits(found: Vec<Hit>, first: &[Hit]) -> Vec<Hit> {
    let (mosaics, faces): (Vec<Hit>, Vec<Hit>) = found.into_iter().partition(on_mosaic);
    let as_detection = |h: &Hit| Detection { class: crate::detect::Class::Face, bbox: h.bbox, score: h.score };
    let faces = suppress(faces.iter().map(|h| (as_detection(h), *h)).collect(), |(d, _)| d, crate::detect::blazeface::NMS_IOU);
    let new = faces.into_iter().map(|(_, h)| h).filter(|h| first.iter().all(|f| f.bbox.iou(&h.bbox) < NMS_IOU));
    mosaics.into_iter().chain(new).collect()
}

/// Non-maximum suppression that keeps which look found each kept hit.
fn merge(hits: Vec<(Detection, Look)>) -> Vec<(Detection, Look)> {
    suppress(hits, |(d, _)| d, NMS_IOU)
}

/// The closer look where the picture moves: the cell images of the last few frames, and whose
/// turn it is when the moving regions (or the dark patches in them) exceed their budget.
#[derive(Default)]
struct MotionLook {
    history: VecDeque<CellImage>,
    turn: usize,
    /// Whose turn it is among the dark patches.
    dark_turn: usize,
    /// Look at dark patches in lit pictures too ([`LocalContrast::Dark`]), not only in glow.
    shade: bool,
    /// Source pixels looked at so far (moving regions).
    looked: u64,
}

/// Where to look closer in one frame.
struct MotionRegions {
    /// What moved, in tiles.
    moving: Vec<Region>,
    /// Face-sized crops around dark patches in a glow in what moved (backlit heads,
    /// [`dark_in_glow`]).
    glow: Vec<Region>,
    /// Face-sized crops around dark patches in a lit colour picture (faces in shade or
    /// under-exposed, [`crate::detect::motion::dark_in_light`]), looked at equalised.
    shade: Vec<Region>,
}

impl MotionLook {
    fn new(shade: bool) -> Self {
        MotionLook { shade, ..MotionLook::default() }
    }

    /// The regions of `pic` to look at closely: what changed since [`MOTION_LAG`] frames ago
    /// (since the first frame, early on), cut into tiles, within [`MOTION_BUDGET`]; and the
    /// dark patches in it that redaction's planner gives crops of their own
    /// (`detect::Planner`), within [`DARK_BUDGET`]. A small backlit or shaded face of a busy
    /// street is found far more surely in its own crop than in its moving region's tile.
    fn regions(&mut self, pic: &Picture<'_>, grey: bool) -> MotionRegions {
        let cells = CellImage::from_picture(pic);
        let moving = match self.history.front() {
            Some(earlier) => moving_regions(earlier, &cells, pic.width, pic.height, MOTION_MARGIN),
            None => Vec::new(),
        };
        let area = pic.width * pic.height;
        let (glow, shade) = self.dark_looks(&cells, &moving, pic.width, pic.height, grey);
        self.history.push_back(cells);
        if self.history.len() > MOTION_LAG {
            self.history.pop_front();
        }
        let pieces: Vec<_> = moving.into_iter().flat_map(|r| tiles(r, CLOSER_TILE)).collect();
        let chosen = within_budget(&pieces, (MOTION_BUDGET * area as f64) as usize, self.turn);
        self.turn = self.turn.wrapping_add(chosen.len());
        self.looked += chosen.iter().map(|r| (r.2 * r.3) as u64).sum::<u64>();
        MotionRegions { moving: chosen, glow, shade }
    }

    /// The crops around dark patches in the `moving` regions: in a glow (any picture), and in
    /// a lit colour picture when `shade`; those of the second kind inside one of the first are
    /// left out. Both take turns within [`DARK_BUDGET`] of the frame's area.
    fn dark_looks(&mut self, cells: &CellImage, moving: &[Region], width: usize, height: usize, grey: bool) -> (Vec<Region>, Vec<Region>) {
        let glow = dark_in_glow(cells, moving, width, height);
        let shade = if self.shade && !grey { shade_outside_glow(cells, moving, &glow, width, height) } else { Vec::new() };
        let glows = glow.len();
        let all: Vec<_> = glow.into_iter().chain(shade).collect();
        let chosen = within_budget(&all, (DARK_BUDGET * (width * height) as f64) as usize, self.dark_turn);
        self.dark_turn = self.dark_turn.wrapping_add(chosen.len());
        // `within_budget` keeps the order from the turn on, wrapping around: sort by kind again.
        let is_glow = |r: &Region| all[..glows].contains(r);
        chosen.into_iter().partition(is_glow)
    }
}

/// The regions, starting at `turn` (modulo their number) and wrapping around, while their
/// total area stays within `budget` (the first is always taken).
fn within_budget(regions: &[(usize, usize, usize, usize)], budget: usize, turn: usize) -> Vec<(usize, usize, usize, usize)> {
    if regions.is_empty() {
        return Vec::new();
    }
    let mut spent = 0;
    let mut chosen = Vec::new();
    for i in 0..regions.len() {
        let r = regions[(turn + i) % regions.len()];
        if !chosen.is_empty() && spent + r.2 * r.3 > budget {
            break;
        }
        spent += r.2 * r.3;
        chosen.push(r);
    }
    chosen
}

/// Whether `h` is on a mosaic fill ([`MOSAIC_LIKENESS`]): set aside, not a face. The second
/// model's hits already when somewhat blocky ([`BRIEF_MOSAIC`]): it finds the shape of a head,
/// and a small mosaicked face (3×3 blocks) keeps it.
fn on_mosaic(h: &Hit) -> bool {
    h.mosaic >= MOSAIC_LIKENESS || (h.look == Look::Second && h.mosaic >= BRIEF_MOSAIC)
}

/// A detection of frame `index` as a hit, with how much its box looks like a mosaic.
fn to_hit(pic: &Picture<'_>, index: u64, d: Detection, look: Look) -> Hit {
    Hit { frame: index, bbox: d.bbox, score: d.score, look, mosaic: mosaic_likeness(pic, &d.bbox), ncc: None }
}

/// Adds a frame's hits to the findings: a hit continues a finding whose latest box it overlaps
/// within a few frames, or starts a new one.
fn join(findings: &mut Vec<Finding>, hits: &[Hit], index: u64, seconds: Option<f64>, pic: &Picture<'_>) {
    for hit in hits {
        let open = findings
            .iter_mut()
            .filter(|f| index > f.last_detected && index - f.last_detected <= JOIN_FRAMES)
            .filter_map(|f| continuation(&f.last_box, &hit.bbox).map(|c| (c, f)))
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, f)| f);
        match open {
            Some(f) => {
                if index > f.last_frame {
                    (f.last_frame, f.last_seconds) = (index, seconds);
                }
                f.last_detected = index;
                f.followed_to = (index, hit.bbox);
                f.detected_seconds.1 = seconds;
                f.frames += 1;
                f.last_box = hit.bbox;
                f.hits.push(*hit);
                f.mosaic = f.mosaic.max(hit.mosaic);
                if hit.score > f.score {
                    (f.best_frame, f.bbox, f.score, f.crop) = (index, hit.bbox, hit.score, Some(crop(pic, &hit.bbox)));
                }
            }
            None => findings.push(Finding::new(hit, seconds, Some(crop(pic, &hit.bbox)))),
        }
    }
}

/// How well `next` continues a finding whose latest box is `last` (higher is better), or `None`
/// when it does not: overlapping boxes rank above near ones.
fn continuation(last: &BBox, next: &BBox) -> Option<f32> {
    let iou = last.iou(next);
    if iou >= JOIN_IOU {
        return Some(1.0 + iou);
    }
    let side = |b: &BBox| b.width().max(b.height()).max(1.0);
    let ratio = side(last).max(side(next)) / side(last).min(side(next));
    let ((ax, ay), (bx, by)) = (last.center(), next.center());
    let distance = ((ax - bx).powi(2) + (ay - by).powi(2)).sqrt();
    let reach = JOIN_REACH * side(last);
    (ratio <= JOIN_SIZE && distance <= reach).then(|| 1.0 - distance / reach)
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

/// The luma of the pixels of `b` (clamped to the picture), row by row, and its size.
fn luma_of(pic: &Picture<'_>, b: &BBox) -> (Vec<i32>, usize, usize) {
    let c = b.clamped(pic.width as f32, pic.height as f32);
    let (x0, y0) = (c.x1.max(0.0) as usize, c.y1.max(0.0) as usize);
    let (x1, y1) = ((c.x2.ceil() as usize).min(pic.width), (c.y2.ceil() as usize).min(pic.height));
    let (w, h) = (x1.saturating_sub(x0), y1.saturating_sub(y0));
    let mut out = Vec::with_capacity(w * h);
    for y in y0..y1 {
        match pic.layout {
            crate::frame::Layout::I420 => out.extend(pic.planes[0].row(y)[x0..x1].iter().map(|&v| v as i32)),
            crate::frame::Layout::Rgb => out.extend(pic.planes[0].row(y)[x0 * 3..x1 * 3].chunks_exact(3).map(|p| (77 * p[0] as i32 + 150 * p[1] as i32 + 29 * p[2] as i32) >> 8)),
        }
    }
    (out, w, h)
}

/// The largest share of `energy` (one value per gap between neighbouring columns or rows) that
/// falls on a regular grid of some period from [`MOSAIC_MIN_PERIOD`] up, counting each grid line
/// with the gap after it (a block edge that compression smeared over two gaps).
fn grid_share(energy: &[f64]) -> f64 {
    let total: f64 = energy.iter().sum();
    if total <= 0.0 {
        return 1.0;
    }
    let n = energy.len();
    let mut best: f64 = 0.0;
    for period in MOSAIC_MIN_PERIOD..=n.max(MOSAIC_MIN_PERIOD) {
        for phase in 0..period.min(n) {
            let on: f64 = (phase..n).step_by(period).map(|x| energy[x] + energy.get(x + 1).copied().unwrap_or(0.0)).sum();
            best = best.max(on / total);
        }
    }
    best
}

/// How much `b` of `pic` looks like a mosaic fill: the share of its luma steps (squared
/// differences of neighbouring pixels) that lie on a regular grid of square-ish blocks, taken
/// across and down, the smaller of the two. A mosaic's blocks are flat and its steps are all
/// on the block edges, so it scores near 1 (0.68–0.97 over the harness's mosaicked faces of
/// 16 px and more, after H.264); a face's steps spread over eyes, nose, mouth and outline
/// (0.26–0.47 over its visible faces). Boxes too small for two blocks score 0: they cannot
/// be told apart and are never set aside.
pub fn mosaic_likeness(pic: &Picture<'_>, b: &BBox) -> f32 {
    let (l, w, h) = luma_of(pic, b);
    mosaic_likeness_of(&l, w, h)
}

/// [`mosaic_likeness`] of a `w`×`h` luma patch, row by row.
fn mosaic_likeness_of(l: &[i32], w: usize, h: usize) -> f32 {
    if w < 2 * MOSAIC_MIN_PERIOD || h < 2 * MOSAIC_MIN_PERIOD {
        return 0.0;
    }
    let mut across = vec![0.0; w - 1];
    let mut down = vec![0.0; h - 1];
    for y in 0..h {
        let row = &l[y * w..(y + 1) * w];
        for x in 0..w - 1 {
            across[x] += ((row[x + 1] - row[x]) as f64).powi(2);
        }
        if y + 1 < h {
            let next = &l[(y + 1) * w..(y + 2) * w];
            down[y] += row.iter().zip(next).map(|(a, b)| ((b - a) as f64).powi(2)).sum::<f64>();
        }
    }
    grid_share(&across).min(grid_share(&down)) as f32
}


// ---------------------------------------------------------------------------------------------
// Looking again around a finding whose face was lost.

/// The second, closer look around lost findings: a detector of its own, at
/// [`around_threshold`], run on a crop around each finding with no hit in the frame whose latest
/// hit is at most [`AROUND_GAP`] frames back.
struct AroundLook {
    detector: CenterFace,
}

impl AroundLook {
    fn new(settings: &AuditSettings) -> Result<Self> {
        let face = CenterFaceSettings {
            threshold: around_threshold(settings.threshold),
            // Only crops are looked at; their enlargement is the look's own.
            detect_width: crate::cli::DEFAULT_DETECT_WIDTH,
            low_light: false,
            local_contrast: settings.local_contrast,
        };
        Ok(AroundLook { detector: CenterFace::load(&settings.ort_lib, &settings.model, face, settings.ort_threads)? })
    }

    /// Looks around every finding lost in frame `index` (joined already: its detected hits are
    /// the findings'); a face found there is added to its finding as a hit with look `around`.
    fn frame(&mut self, findings: &mut [Finding], pic: &Picture<'_>, index: u64, seconds: Option<f64>) -> Result<()> {
        let lost: Vec<usize> = (0..findings.len()).filter(|&i| around_due(&findings[i], index)).collect();
        if lost.is_empty() {
            return Ok(());
        }
        let grey = crate::detect::preprocess::is_grey(pic);
        let mut taken: Vec<BBox> = findings.iter().flat_map(|f| f.hits.iter().rev().take_while(|h| h.frame == index).map(|h| h.bbox)).collect();
        for i in lost {
            let last = findings[i].followed_to.1;
            let Some((crop, scale)) = around_crop(&last, pic.width, pic.height) else { continue };
            let found = self.detector.detect_crop(pic, crop, scale, grey).map_err(|message| Error::Detect { frame: index, message })?;
            let candidates: Vec<Hit> = found.into_iter().map(|d| to_hit(pic, index, d, Look::Around)).collect();
            if let Some(hit) = around_pick(&last, &candidates, &taken) {
                taken.push(hit.bbox);
                findings[i].add_followed(hit, seconds);
            }
        }
        Ok(())
    }
}

/// Whether finding `f` is looked around in frame `index`: it has no hit there, and its latest
/// hit (detected, around or followed) is at most [`AROUND_GAP`] frames back.
fn around_due(f: &Finding, index: u64) -> bool {
    f.followed_to.0 < index && index - f.followed_to.0 <= AROUND_GAP
}

/// The crop `(x, y, w, h)` around `last` (grown by [`AROUND_GROW`] times its larger side on each
/// side, within the picture) and its enlargement; `None` when nothing of it is in the picture.
fn around_crop(last: &BBox, width: usize, height: usize) -> Option<((usize, usize, usize, usize), f64)> {
    let grow = last.width().max(last.height()) * AROUND_GROW;
    let x0 = (last.x1 - grow).max(0.0) as usize;
    let y0 = (last.y1 - grow).max(0.0) as usize;
    let x1 = ((last.x2 + grow).ceil().max(0.0) as usize).min(width);
    let y1 = ((last.y2 + grow).ceil().max(0.0) as usize).min(height);
    if x1 <= x0 || y1 <= y0 {
        return None;
    }
    let (w, h) = (x1 - x0, y1 - y0);
    let scale = (AROUND_FACE_PX / last.height().max(1.0)).clamp(AROUND_MIN_SCALE, AROUND_MAX_SCALE).min(AROUND_MAX_INPUT / w.max(h) as f32).max(1.0);
    Some(((x0, y0, w, h), scale as f64))
}

/// Of the look's `candidates`, the one that continues the finding last at `last` best (as
/// joining would), is no mosaic and is not where another finding's hit of the frame is.
fn around_pick(last: &BBox, candidates: &[Hit], taken: &[BBox]) -> Option<Hit> {
    candidates
        .iter()
        .filter(|h| h.mosaic < MOSAIC_LIKENESS && !taken.iter().any(|t| t.iou(&h.bbox) >= JOIN_IOU))
        .filter_map(|h| continuation(last, &h.bbox).map(|c| (c, h)))
        .max_by(|a, b| a.0.total_cmp(&b.0).then(a.1.score.total_cmp(&b.1.score)))
        .map(|(_, h)| *h)
}

// ---------------------------------------------------------------------------------------------
// Following a finding through the frames around its hits.

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
/// ([`FOLLOW_PATH_SLACK`]), when that is also the best match within reach: a face whose look
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
        let c = b.clamped(self.width as f32, self.height as f32);
        let (x0, y0) = (c.x1.max(0.0) as usize, c.y1.max(0.0) as usize);
        let (x1, y1) = ((c.x2.ceil() as usize).min(self.width), (c.y2.ceil() as usize).min(self.height));
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
struct Template {
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
    Some(Match { bbox: BBox::new(last.x1 + dx, last.y1 + dy, last.x2 + dx, last.y2 + dy), ncc, spread })
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
    (mosaic < MOSAIC_LIKENESS).then_some(Hit { frame: luma.index, bbox: m.bbox, score: t.score, look: Look::Followed, mosaic, ncc: Some(m.ncc) })
}

/// The motion per frame (px, centre to centre) from a face at `from` to the same face `frames`
/// frames later at `to`; `None` when they are more than [`FOLLOW_GAP`] + 1 frames apart.
fn motion(from: &BBox, to: &BBox, frames: u64) -> Option<(f32, f32)> {
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
struct Follower {
    ring: VecDeque<Luma>,
    settings: FollowSettings,
}

impl Follower {
    fn new(settings: FollowSettings) -> Self {
        Follower { ring: VecDeque::with_capacity(FOLLOW_RING), settings }
    }

    /// Frame `index` has been joined into `findings` (its detected hits are theirs); follows
    /// every finding into it that was followed or detected within [`FOLLOW_GAP`] frames before,
    /// and backward from every finding detected in it.
    fn frame(&mut self, findings: &mut [Finding], pic: &Picture<'_>, index: u64, seconds: Option<f64>) {
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

    #[test]
    fn tiles_cover_the_frame_and_overlap_at_the_seams() {
        let t = tiles((0, 0, 1920, 1080), CLOSER_TILE);
        assert!(t.iter().all(|&(x, y, w, h)| x + w <= 1920 && y + h <= 1080));
        for px in [0, 575, 576, 639, 1200, 1919] {
            for py in [0, 500, 1079] {
                assert!(t.iter().any(|&(x, y, w, h)| px >= x && px < x + w && py >= y && py < y + h), "({px},{py}) uncovered");
            }
        }
        assert_eq!(tiles((0, 0, 320, 240), CLOSER_TILE), vec![(0, 0, 320, 240)]);
    }

    #[test]
    fn tiles_of_a_region_stay_inside_it() {
        let t = tiles((100, 50, 900, 300), CLOSER_TILE);
        assert_eq!(t, vec![(100, 50, 640, 300), (360, 50, 640, 300)]);
    }

    #[test]
    fn regions_over_the_budget_take_turns_from_frame_to_frame() {
        let r = [(0, 0, 10, 10), (20, 0, 10, 10), (40, 0, 10, 10)];
        assert_eq!(within_budget(&r, 250, 0), vec![r[0], r[1]]);
        assert_eq!(within_budget(&r, 250, 2), vec![r[2], r[0]]);
        assert_eq!(within_budget(&r, 1000, 1).len(), 3);
        // A region larger than the budget is still looked at, alone.
        assert_eq!(within_budget(&[(0, 0, 100, 100)], 10, 5), vec![(0, 0, 100, 100)]);
        assert!(within_budget(&[], 10, 0).is_empty());
    }

    /// A 40×30 cell image (320×240 px) of a lit street (level 140) with dark faces (level 50,
    /// 2×3 cells) at the given cells.
    fn street_with_dark_faces(at: &[(usize, usize)]) -> CellImage {
        let mut cells = vec![140u8; 40 * 30];
        for &(fx, fy) in at {
            for y in fy..fy + 3 {
                for x in fx..fx + 2 {
                    cells[y * 40 + x] = 50;
                }
            }
        }
        CellImage { cols: 40, rows: 30, cells }
    }

    /// Regression (issue #13, day seed 1): a 12–24 px face in shade or backlit was found by
    /// redaction's own crop around its dark patch in 1 look of 2, and by the audit, which had
    /// no such look, in none of 150 frames it was left visible.
    #[test]
    fn a_dark_face_where_the_picture_moves_gets_a_crop_of_its_own_in_a_lit_picture() {
        let street = street_with_dark_faces(&[(19, 14)]);
        let moving = [(0, 0, 320, 240)];
        let (glow, shade) = MotionLook::new(true).dark_looks(&street, &moving, 320, 240, false);
        assert!(glow.is_empty(), "no glow around it");
        assert_eq!(shade.len(), 1, "{shade:?}");
        let (x, y, w, h) = shade[0];
        assert!(x <= 152 && y <= 112 && x + w >= 168 && y + h >= 136, "the crop holds the dark cells: {:?}", shade[0]);
        // Not where nothing moved, not on a grey (night) picture, which is equalised whole,
        // and not when the contrast setting leaves faces in shade alone.
        assert_eq!(MotionLook::new(true).dark_looks(&street, &[(0, 0, 80, 80)], 320, 240, false), (vec![], vec![]));
        assert_eq!(MotionLook::new(true).dark_looks(&street, &moving, 320, 240, true), (vec![], vec![]));
        assert_eq!(MotionLook::new(false).dark_looks(&street, &moving, 320, 240, false), (vec![], vec![]));
    }

    /// A picture full of dark patches (a hostile input) costs at most the budget per frame, and
    /// the patches take turns from frame to frame.
    #[test]
    fn crops_around_dark_patches_stay_within_their_budget_and_take_turns() {
        let faces: Vec<(usize, usize)> = (0..6).flat_map(|row| (0..9).map(move |col| (1 + col * 4, 1 + row * 5))).collect();
        let street = street_with_dark_faces(&faces);
        let (w, h) = (1920, 1080);
        let mut look = MotionLook::new(true);
        let budget = (DARK_BUDGET * (w * h) as f64) as usize;
        // The cell image is 320×240 px; as part of a 1080p frame the budget holds a few crops.
        let (_, first) = look.dark_looks(&street, &[(0, 0, 320, 240)], w, h, false);
        let all = crate::detect::motion::dark_in_light(&street, &[(0, 0, 320, 240)], w, h);
        assert!(all.len() > first.len(), "{} patches, {} looked at", all.len(), first.len());
        let area: usize = first.iter().map(|r| r.2 * r.3).sum();
        assert!(area <= budget, "{area} px over the budget of {budget}");
        let (_, second) = look.dark_looks(&street, &[(0, 0, 320, 240)], w, h, false);
        assert!(second.iter().all(|r| !first.contains(r)) || second.len() == all.len(), "the next frame looks at the others");
    }

    /// Regression: a 14 px pedestrian face of 10 fps street footage shown at 25 fps jumps about
    /// 15–25 px every 2–3 frames; joined by overlap only, it became a new finding at every jump
    /// (66 findings on the 10 s day mosaic control of the harness).
    #[test]
    fn a_small_face_that_jumps_further_than_its_width_stays_one_finding() {
        let face = |x: f32| BBox::from_xywh(x, 250.0, 14.0, 19.0);
        assert!(continuation(&face(800.0), &face(780.0)).is_some(), "a 20 px jump of a 14x19 face");
        assert!(continuation(&face(800.0), &face(760.0)).is_none(), "40 px is another face");
        // A much larger box nearby is not the same face.
        assert!(continuation(&face(800.0), &BBox::from_xywh(790.0, 240.0, 40.0, 50.0)).is_none());
        // Overlap ranks above mere nearness.
        assert!(continuation(&face(800.0), &face(803.0)).unwrap() > continuation(&face(800.0), &face(785.0)).unwrap());
    }

    /// A finding made of `scores` (one hit per frame from frame 10), every hit with the given
    /// mosaic likeness, walking 8 px a frame.
    fn finding(scores: &[f32], mosaic: f32) -> Finding {
        walking(scores, mosaic, 8.0)
    }

    /// The same, moving `step` px a frame.
    fn walking(scores: &[f32], mosaic: f32, step: f32) -> Finding {
        let hits: Vec<Hit> = scores
            .iter()
            .enumerate()
            .map(|(i, &score)| Hit { frame: 10 + i as u64, bbox: BBox::from_xywh(100.0 + step * i as f32, 100.0, 20.0, 26.0), score, look: Look::Frame, mosaic, ncc: None })
            .collect();
        let best = *hits.iter().max_by(|a, b| a.score.total_cmp(&b.score)).unwrap();
        let mut f = Finding::new(&hits[0], None, None);
        (f.last_frame, f.last_detected, f.frames, f.best_frame, f.bbox, f.score, f.mosaic, f.last_box) = (9 + hits.len() as u64, 9 + hits.len() as u64, hits.len() as u64, best.frame, best.bbox, best.score, mosaic, best.bbox);
        let last = *hits.last().unwrap();
        f.followed_to = (last.frame, last.bbox);
        f.hits = hits;
        f
    }

    #[test]
    fn a_weak_face_is_a_finding_once_it_lasts_three_frames() {
        let t = DEFAULT_THRESHOLD;
        assert_eq!(confirm_threshold(t), 0.4);
        assert_eq!(verdict(&finding(&[0.42, 0.45], 0.3), t), Some(Reason::Unconfirmed));
        assert_eq!(verdict(&finding(&[0.42, 0.45, 0.41], 0.3), t), None);
        // One hit at the threshold is enough on its own.
        assert_eq!(verdict(&finding(&[0.55], 0.3), t), None);
    }

    /// Regression (issue #13, day mosaic control, seed 1): a post on a railing scored 0.44 in
    /// 10 and then 14 frames at the same place; lasting alone made it two findings.
    #[test]
    fn a_weak_hit_that_stands_still_is_not_confirmed_by_lasting() {
        let t = DEFAULT_THRESHOLD;
        let many = [0.44; 14];
        assert_eq!(verdict(&walking(&many, 0.3, 0.0), t), Some(Reason::Unconfirmed));
        // 13 px over 26 px boxes: half the larger side.
        assert_eq!(verdict(&walking(&many, 0.3, 1.0), t), None);
        // At the threshold, standing still is no reason to doubt a face.
        assert_eq!(verdict(&walking(&[0.6; 14], 0.3, 0.0), t), None);
    }

    /// The second model scores on a scale of its own and fires on more still things (a post, a
    /// sign): a finding it alone made stands only when it lasts and moves, however high it
    /// scored; one CenterFace hit among them makes it an ordinary finding.
    #[test]
    fn a_finding_of_the_second_model_alone_must_last_and_move_whatever_its_score() {
        let t = DEFAULT_THRESHOLD;
        let second = |mut f: Finding| {
            f.hits.iter_mut().for_each(|h| h.look = Look::Second);
            f
        };
        assert_eq!(verdict(&second(finding(&[0.9, 0.9], 0.3)), t), Some(Reason::Unconfirmed), "brief");
        assert_eq!(verdict(&second(walking(&[0.9; 14], 0.3, 0.0)), t), Some(Reason::Unconfirmed), "still");
        assert_eq!(verdict(&second(finding(&[0.45, 0.9, 0.5], 0.3)), t), None, "lasting and walking");
        let mut mixed = second(finding(&[0.9, 0.9], 0.3));
        mixed.hits[0].look = Look::Frame;
        assert_eq!(verdict(&mixed, t), None, "CenterFace saw it too");
    }

    #[test]
    fn the_second_models_tiles_cover_a_region_and_hold_every_small_face_whole() {
        let region = (100, 50, 300, 96);
        let t = small_tiles(region, blazeface::TILE, blazeface::TILE_STEP);
        assert_eq!(t, vec![(100, 50, 96, 96), (164, 50, 96, 96), (228, 50, 96, 96), (292, 50, 96, 96), (304, 50, 96, 96)]);
        // Any 32 px face inside the region lies whole in some tile.
        for fx in (100..=368).step_by(4) {
            assert!(t.iter().any(|&(x, _, w, _)| fx >= x && fx + 32 <= x + w), "a face at x {fx}");
        }
        assert_eq!(small_tiles((0, 0, 40, 200), blazeface::TILE, blazeface::TILE_STEP).first(), Some(&(0, 0, 40, 96)), "a narrow region keeps its width");
        assert_eq!(small_tiles((0, 0, 40, 200), blazeface::TILE, blazeface::TILE_STEP).last(), Some(&(0, 104, 40, 96)));
    }

    /// Regression (issue #13, night mosaic control): a mosaicked face of 13 px (2×3 blocks of
    /// 8 px) scored 0.63 in two frames, with a mosaic likeness of 0.50 and 0.59 — under the
    /// per-hit bar, but no visible face of the harness reached 0.5.
    #[test]
    fn a_brief_weak_blocky_finding_is_set_aside_and_a_strong_or_lasting_one_is_not() {
        let t = DEFAULT_THRESHOLD;
        assert_eq!(verdict(&finding(&[0.63, 0.63], 0.59), t), Some(Reason::Brief));
        assert_eq!(verdict(&finding(&[0.63, 0.63], 0.40), t), None, "not blocky: a face");
        assert_eq!(verdict(&finding(&[0.8, 0.6], 0.59), t), None, "strong: reported");
        assert_eq!(verdict(&finding(&[0.6, 0.6, 0.6], 0.59), t), None, "lasting: reported");
    }

    #[test]
    fn settled_findings_leave_their_hits_aside_with_the_reason() {
        let mut aside = Aside::default();
        let kept = settle(vec![finding(&[0.45], 0.1), finding(&[0.9, 0.9], 0.1), finding(&[0.55, 0.52], 0.55)], DEFAULT_THRESHOLD, &mut aside);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].score, 0.9);
        assert_eq!(aside.count, 3);
        assert_eq!(aside.listed.iter().map(|a| a.reason).collect::<Vec<_>>(), vec![Reason::Unconfirmed, Reason::Brief, Reason::Brief]);
    }

    #[test]
    fn a_flat_box_or_one_too_small_for_two_blocks_is_not_a_mosaic() {
        let flat = vec![80u8; 64 * 64 * 3];
        let pic = Picture::from_planes(crate::frame::Layout::Rgb, 64, 64, [(&flat[..], 64 * 3)]);
        assert_eq!(mosaic_likeness(&pic, &BBox::from_xywh(8.0, 8.0, 15.0, 40.0)), 0.0, "too narrow for two 8 px blocks");
        assert!(mosaic_likeness(&pic, &BBox::from_xywh(8.0, 8.0, 40.0, 40.0)) >= MOSAIC_LIKENESS, "no step at all: nothing but blocks");
    }

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

    #[test]
    fn followed_hits_neither_confirm_nor_change_a_finding() {
        // Two weak detected hits are unconfirmed; followed hits between and after do not help.
        let mut f = finding(&[0.42, 0.45], 0.3);
        let hit = |frame: u64| Hit { frame, bbox: BBox::from_xywh(130.0, 100.0, 20.0, 26.0), score: 0.45, look: Look::Followed, mosaic: 0.7, ncc: Some(0.9) };
        for frame in [12, 13, 14, 9] {
            f.add_followed(hit(frame), None);
        }
        assert_eq!(f.hits.iter().map(|h| h.frame).collect::<Vec<_>>(), vec![9, 10, 11, 12, 13, 14]);
        assert_eq!((f.first_frame, f.last_frame, f.frames, f.followed), (9, 14, 6, 4));
        assert_eq!((f.score, f.mosaic), (0.45, 0.3), "the best hit and the likeness are the detected ones'");
        assert_eq!(verdict(&f, DEFAULT_THRESHOLD), Some(Reason::Unconfirmed));
        let mut aside = Aside::default();
        assert!(settle(vec![f], DEFAULT_THRESHOLD, &mut aside).is_empty());
        assert_eq!(aside.count, 2, "only the detected hits are set aside");
    }

    /// Regression (issue #13, night mosaic control, seed 1): one hit of 0.53 on a 13 px
    /// mosaicked face was followed for 57 frames; the template was the mosaic itself.
    #[test]
    fn a_face_detected_in_one_frame_only_keeps_no_followed_hits() {
        let hit = |frame: u64| Hit { frame, bbox: BBox::from_xywh(100.0, 100.0, 20.0, 26.0), score: 0.55, look: Look::Followed, mosaic: 0.4, ncc: Some(0.86) };
        let mut once = finding(&[0.55], 0.4);
        let mut twice = finding(&[0.55, 0.6], 0.4);
        for frame in [12, 13, 14] {
            once.add_followed(hit(frame), Some(frame as f64));
            twice.add_followed(hit(frame), Some(frame as f64));
        }
        let kept = settle(vec![once, twice], DEFAULT_THRESHOLD, &mut Aside::default());
        assert_eq!(kept.len(), 2);
        assert_eq!((kept[0].frames, kept[0].followed, kept[0].last_frame, kept[0].hits.len()), (1, 0, 10, 1));
        assert_eq!((kept[1].frames, kept[1].followed, kept[1].last_frame), (5, 3, 14));
    }

    #[test]
    fn the_look_around_a_lost_finding_crops_its_box_grown_by_a_side_and_enlarges_small_faces_more() {
        // A 20x26 face: grown 26 px each way, enlarged to about 64 px tall (2.46x).
        let (crop, scale) = around_crop(&BBox::from_xywh(100.0, 100.0, 20.0, 26.0), 1920, 1080).unwrap();
        assert_eq!(crop, (74, 74, 72, 78));
        assert!((scale - 64.0 / 26.0).abs() < 1e-3, "{scale}");
        // Small faces 3x at most, large ones 2x at least, within the picture and the input cap.
        assert_eq!(around_crop(&BBox::from_xywh(0.0, 0.0, 10.0, 12.0), 1920, 1080).unwrap(), ((0, 0, 22, 24), 3.0));
        let (crop, scale) = around_crop(&BBox::from_xywh(1800.0, 900.0, 200.0, 240.0), 1920, 1080).unwrap();
        assert_eq!((crop.0 + crop.2, crop.1 + crop.3), (1920, 1080));
        assert!(scale >= 1.0 && (crop.2.max(crop.3) as f64 * scale) <= AROUND_MAX_INPUT as f64 + 1.0, "{crop:?} {scale}");
        assert!(around_crop(&BBox::from_xywh(3000.0, 100.0, 20.0, 26.0), 1920, 1080).is_none(), "off the picture");
    }

    #[test]
    fn a_finding_is_looked_around_only_in_the_few_frames_after_its_latest_hit() {
        let f = finding(&[0.6, 0.6], 0.1); // hits in frames 10 and 11
        assert!(!around_due(&f, 11), "it has a hit there");
        assert!(around_due(&f, 12) && around_due(&f, 11 + AROUND_GAP));
        assert!(!around_due(&f, 12 + AROUND_GAP), "lost too long ago");
    }

    #[test]
    fn the_look_around_takes_the_face_that_continues_the_finding_and_no_mosaic_or_other_findings_face() {
        let last = BBox::from_xywh(100.0, 100.0, 20.0, 26.0);
        let hit = |x: f32, score: f32, mosaic: f32| Hit { frame: 12, bbox: BBox::from_xywh(x, 100.0, 20.0, 26.0), score, look: Look::Around, mosaic, ncc: None };
        // The nearer of two faces, though weaker; a face beyond reach is none.
        assert_eq!(around_pick(&last, &[hit(130.0, 0.6, 0.2), hit(104.0, 0.35, 0.2)], &[]).unwrap().bbox.x1, 104.0);
        assert!(around_pick(&last, &[hit(160.0, 0.9, 0.2)], &[]).is_none());
        assert!(around_pick(&last, &[hit(104.0, 0.5, 0.7)], &[]).is_none(), "a mosaic");
        assert!(around_pick(&last, &[hit(104.0, 0.5, 0.2)], &[BBox::from_xywh(103.0, 100.0, 20.0, 26.0)]).is_none(), "another finding's face");
    }

    /// The look around never makes a finding: its hits neither confirm a weak finding nor make
    /// a brief one last, and a finding detected once keeps none of them (as with following).
    #[test]
    fn around_hits_neither_confirm_nor_change_a_finding_and_need_two_detected_frames() {
        let around = |frame: u64, x: f32| Hit { frame, bbox: BBox::from_xywh(x, 100.0, 20.0, 26.0), score: 0.35, look: Look::Around, mosaic: 0.3, ncc: None };
        let mut weak = finding(&[0.42, 0.45], 0.3);
        for (frame, x) in [(12, 116.0), (13, 124.0), (14, 132.0)] {
            weak.add_followed(around(frame, x), None);
        }
        assert_eq!((weak.frames, weak.around, weak.followed, weak.last_frame, weak.followed_to.0), (5, 3, 0, 14, 14));
        assert_eq!((weak.score, weak.last_detected), (0.45, 11), "best hit and joining stay the detected ones'");
        assert_eq!(verdict(&weak, DEFAULT_THRESHOLD), Some(Reason::Unconfirmed));
        let mut once = finding(&[0.6], 0.3);
        let mut twice = finding(&[0.6, 0.6], 0.3);
        for frame in [12, 13] {
            once.add_followed(around(frame, 108.0), None);
            twice.add_followed(around(frame, 108.0), None);
        }
        let mut aside = Aside::default();
        let kept = settle(vec![weak, once, twice], DEFAULT_THRESHOLD, &mut aside);
        assert_eq!(aside.count, 2, "only the weak finding's detected hits are set aside");
        assert_eq!((kept[0].frames, kept[0].around, kept[0].hits.len()), (1, 0, 1));
        assert_eq!((kept[1].frames, kept[1].around, kept[1].last_frame), (4, 2, 13));
    }

    #[test]
    fn merged_hits_keep_the_best_score_and_its_look() {
        use crate::detect::Class;
        let d = |x: f32, score: f32| Detection { class: Class::Face, bbox: BBox::from_xywh(x, 0.0, 20.0, 20.0), score };
        let kept = merge(vec![(d(0.0, 0.6), Look::Frame), (d(2.0, 0.8), Look::Moving), (d(100.0, 0.55), Look::Frame)]);
        assert_eq!(kept.len(), 2);
        assert_eq!((kept[0].0.score, kept[0].1), (0.8, Look::Moving));
        assert_eq!(kept[1].1, Look::Frame);
    }
}
