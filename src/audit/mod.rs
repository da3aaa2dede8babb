//! `veilcam audit`: an independent check of a redacted video for faces still visible.
//!
//! The check looks harder than redaction does, so it can catch what redaction missed, on every
//! frame: the float CenterFace model (redaction uses the int8 one by default) at the frame's full
//! resolution (redaction's global pass looks at a third of it, at least 640 px), with the same
//! local contrast equalisation that redaction's detector input gets; then again at twice the
//! resolution where the picture changed in the last few frames (walking people: faces of 12–24 px
//! that the full-resolution pass misses), within a budget of the frame's area, and in a face-sized
//! crop of its own around each dark patch there (a backlit head, a face in shade: the crops
//! redaction's planner makes); with `--second-model`, on grey (night, infrared) pictures, a second
//! model of another lineage ([`BlazeFace`] full-range) over the same regions in small tiles, for
//! the small backlit, over-exposed and dark faces CenterFace misses at any enlargement; and, with
//! `--closer`, over the whole frame in overlapping tiles at twice the resolution. Hits in
//! consecutive frames that overlap, or lie close with a similar size, are one *finding*; each
//! finding is listed with its frames, times and best box, and drawn into a contact sheet (one tile
//! per finding, in the listed order) for a person to review. Exit status 4 when anything is found.
//!
//! Not every hit is a finding: a hit on a mosaic fill (its luma steps on a grid of square
//! blocks, [`mosaic_likeness`]) is set aside, and so is a brief, weak, somewhat blocky finding
//! (a small mosaic) and one every hit of which is somewhat blocky with flat blocks
//! ([`flat_blocks`], a mosaic of a face of 20–30 px); a hit under the threshold but above
//! [`CONFIRM_SHARE`] of it counts only when its finding lasts and moves (a walking face).
//! Set-aside hits are listed with the reason.
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
//! With `--recheck`, each finding's hits are looked at again, closer and with more of the head
//! and shoulders around them, by the same detector; a finding none of whose hits is seen again
//! is set aside ([`Reason::NotSeenAgain`], `recheck`). It removes two thirds of the false
//! alarms and some real small faces, so it is off by default.
//!
//! It is also how veilcam measures itself on footage without ground truth: the evaluation
//! harness runs it on a deliberately weakened redaction and counts what it catches
//! (`docs/evaluation.md`).
//!
//! The stages, frame by frame: `looks` (the detector's looks at the frame) → `findings`
//! (joining the hits into findings) → `recheck` (each finding's hits looked at closer, with
//! `--recheck`), `follow` (the face into the frames around its hits) and `around` (looking
//! again where it was lost) → at the end, the verdict on each finding (`findings`) and the
//! `sheet`.
//! `mosaic` tells a mosaic fill from a face for every stage; `replay` takes the looks' hits from
//! an earlier report instead (`--hits-from`). [`command`] is the `veilcam audit` command: the
//! flags, the files it writes and the lines it prints.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::detect::blazeface::BlazeFace;
use crate::detect::centerface::{CenterFace, CenterFaceSettings, DetectWidth, LocalContrast};
use crate::detect::Detection;
use crate::error::{Error, Result};
use crate::frame::Picture;
use crate::geometry::BBox;
use crate::source::file::FileSource;
use crate::source::FrameSource;

mod around;
mod command;
pub mod filled;
mod findings;
mod follow;
mod looks;
pub mod masks;
mod mosaic;
mod recheck;
mod replay;
mod sheet;

pub use around::{around_threshold, AROUND_GAP, AROUND_SHARE};
pub use command::command;
pub use findings::{confirm_threshold, Finding, CONFIRM_FRAMES, CONFIRM_SHARE, CONFIRM_TRAVEL};
pub use follow::{FollowSettings, FOLLOW_FRAMES, FOLLOW_GAP, FOLLOW_MIN_DETECTED, FOLLOW_NCC, FOLLOW_NCC_ON_PATH, FOLLOW_RING};
pub use mosaic::{flat_blocks, mosaic_likeness, FLAT_SHARE, MOSAIC_LIKENESS, SOMEWHAT_BLOCKY};
pub use sheet::write_contact_sheet;

use around::CloserLook;
use filled::Filled;
use findings::{join, settle, Aside};
use follow::Follower;
use looks::{look, merge, second_hits, second_look, MotionLook};
use mosaic::{mosaic_and_flat, on_mosaic};
use replay::{Looked, Recorded};

/// Score from which the audit counts a face. Higher than redaction's threshold: the audit
/// runs a stronger look and must not cry wolf on mosaics and masks.
pub const DEFAULT_THRESHOLD: f32 = 0.5;
/// The second model's score from which it counts a face.
pub const SECOND_THRESHOLD: f32 = 0.55;
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
    /// the look around lost findings, which still runs the detector). Each hit's mosaic
    /// likeness and flat blocks are measured again on the video, not read from the report.
    pub hits_from: Option<PathBuf>,
    /// Look again, closer and at a lower score, around each finding in the frames where its
    /// face was lost ([`AROUND_SHARE`]).
    pub around: bool,
    /// Look at each finding's hits again, closer, and set aside a finding none of whose hits
    /// is seen again there ([`Reason::NotSeenAgain`]).
    pub recheck: bool,
    /// The second face model (BlazeFace full-range), run on grey pictures on small tiles of what
    /// moves and on the crops around dark patches (`--second-model`); `None`: CenterFace alone.
    pub second_model: Option<PathBuf>,
    /// The second model's score from which it counts a face ([`SECOND_THRESHOLD`]).
    pub second_threshold: f32,
    /// The sidecar of the redaction that wrote the video (`--sidecar`): hits lying in a region
    /// it filled solid or with a mosaic are set aside ([`Reason::Filled`]).
    pub sidecar: Option<PathBuf>,
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
    /// whatever its score (`verdict`).
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
    /// The share of its blocks that are flat, as a mosaic's are ([`flat_blocks`], 0–1).
    pub flat: f32,
    /// A followed hit's match with the face as detected (normalised cross-correlation, up to
    /// 1); its `score` is that detected face's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ncc: Option<f32>,
    /// A rechecked hit's score in the closer look at its own box (0: not seen again there;
    /// see `recheck`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recheck: Option<f32>,
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
    /// Whether each finding's hits were looked at again, closer (from `around_threshold`).
    pub recheck: bool,
    /// Whether the second face model looked too.
    pub second_model: bool,
    /// The earlier report whose hits were replayed (`--hits-from`) in place of looking; the
    /// looks above (`local_contrast`, `moving`, `closer`, `second_model`) are those it tells.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hits_from: Option<String>,
    /// The redaction's sidecar by which hits in filled regions were set aside (`--sidecar`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sidecar: Option<String>,
    /// Hits set aside by that sidecar: where it says the redaction filled, and the picture is a
    /// fill ([`Reason::Filled`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filled_count: Option<u64>,
    /// Frames with at least one hit of a finding.
    pub frames_with_faces: u64,
    pub findings: Vec<Finding>,
    /// Hits that are not findings: on a mosaic fill, or weak and unconfirmed.
    pub set_aside_count: u64,
    /// The first `SET_ASIDE_LISTED` of them, for review.
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
    /// Its finding is brief, weak and somewhat blocky (`BRIEF_FRAMES`).
    Brief,
    /// Under the threshold, and its finding lasted fewer than [`CONFIRM_FRAMES`] frames or did
    /// not travel [`CONFIRM_TRAVEL`].
    Unconfirmed,
    /// Its box lies in a region the redaction filled solid or with a mosaic, by its sidecar
    /// ([`filled::FILLED_SHARE`] of it at least).
    Filled,
    /// None of its finding's hits was seen again when looked at closer (`recheck`).
    #[serde(rename = "not_seen_again")]
    NotSeenAgain,
    /// Every hit of its finding is somewhat blocky with half its blocks flat, as a small mosaic
    /// is (`flat_blocky`).
    #[serde(rename = "flat_blocks")]
    FlatBlocks,
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
    let filled = settings.sidecar.as_deref().map(|p| Filled::read(p, info.width(), info.height())).transpose()?;
    let mut hits_of = match &settings.hits_from {
        Some(path) => {
            let recorded = Recorded::read(path, settings.second_threshold)?;
            recorded.check_video(path, None, info.width(), info.height())?;
            HitSource::Recorded(recorded)
        }
        None => HitSource::Detector(Box::new(Auditor::new(settings, info.width() as usize)?)),
    };
    let mut follower = settings.follow.map(Follower::new);
    let mut closer = match settings.around || settings.recheck {
        true => Some(CloserLook::new(settings)?),
        false => None,
    };
    let mut findings: Vec<Finding> = Vec::new();
    let mut aside = Aside::default();
    let mut filled_count = 0;
    let mut frames = 0;
    while let Some(frame) = source.next_frame()? {
        crate::interrupt::check()?;
        let index = frame.index;
        let seconds = frame.pts().map(|t| t.nseconds() as f64 / 1e9);
        let FrameHits { faces: hits, mosaics } = match &mut hits_of {
            HitSource::Detector(auditor) => frame.with_picture(|pic| auditor.frame(pic, index))??,
            HitSource::Recorded(recorded) => frame.with_picture(|pic| recorded.frame(pic, index))?,
        };
        aside.add(Reason::Mosaic, &mosaics);
        let (hits, on_fills): (Vec<Hit>, Vec<Hit>) = match &filled {
            Some(filled) => frame.with_picture(|pic| hits.into_iter().partition(|h| !filled.covers(index, &h.bbox, pic)))?,
            None => (hits, Vec::new()),
        };
        filled_count += on_fills.len() as u64;
        aside.add(Reason::Filled, &on_fills);
        frame.with_picture(|pic| {
            join(&mut findings, &hits, index, seconds, pic);
            if let Some(closer) = closer.as_mut() {
                if settings.recheck {
                    closer.recheck(&mut findings, pic, index)?;
                }
                if settings.around {
                    closer.around(&mut findings, pic, index, seconds)?;
                }
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
    if let Some(filled) = &filled {
        filled.check_frames(frames)?;
    }
    if let (HitSource::Recorded(recorded), Some(path)) = (&hits_of, &settings.hits_from) {
        recorded.check_video(path, Some(frames), info.width(), info.height())?;
    }
    let looked = match &hits_of {
        HitSource::Detector(auditor) => Looked {
            local_contrast: clap::ValueEnum::to_possible_value(&settings.local_contrast).map_or(String::new(), |v| v.get_name().to_string()),
            moving: settings.moving,
            closer: settings.closer,
            second_model: settings.second_model.is_some(),
            moving_share: auditor.motion.as_ref().map_or(0.0, |m| m.looked as f64 / (frames as f64 * info.width() as f64 * info.height() as f64)),
        },
        HitSource::Recorded(recorded) => recorded.looked.clone(),
    };
    let findings = settle(findings, settings.threshold, settings.recheck, &mut aside);
    let frames_with_faces = findings.iter().flat_map(|f| f.hits.iter().map(|h| h.frame)).collect::<std::collections::BTreeSet<_>>().len() as u64;
    Ok(AuditReport {
        input: input.display().to_string(),
        frames,
        width: info.width(),
        height: info.height(),
        threshold: settings.threshold,
        confirm_threshold: confirm_threshold(settings.threshold),
        confirm_frames: CONFIRM_FRAMES,
        local_contrast: looked.local_contrast,
        moving: looked.moving,
        closer: looked.closer,
        moving_share: looked.moving_share,
        follow: settings.follow.is_some(),
        follow_ncc: settings.follow.map_or(FOLLOW_NCC, |f| f.least),
        around: settings.around,
        around_threshold: around_threshold(settings.threshold),
        recheck: settings.recheck,
        second_model: looked.second_model,
        hits_from: settings.hits_from.as_ref().map(|p| p.display().to_string()),
        sidecar: settings.sidecar.as_ref().map(|p| p.display().to_string()),
        filled_count: filled.is_some().then_some(filled_count),
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

impl FrameHits {
    /// A frame's hits, their mosaic likeness measured, sorted into faces and mosaics.
    fn sorted(hits: Vec<Hit>) -> Self {
        let (faces, mosaics) = hits.into_iter().partition(|h| !on_mosaic(h));
        FrameHits { faces, mosaics }
    }
}

impl Auditor {
    /// Loads the detector for pictures `width` pixels wide: the frame's full resolution (the
    /// detector is never given less than the frame), with redaction's light adjustment.
    pub fn new(settings: &AuditSettings, width: usize) -> Result<Self> {
        let face = CenterFaceSettings {
            threshold: confirm_threshold(settings.threshold),
            detect_width: DetectWidth::Pixels(width.max(32)),
            low_light: false,
            local_contrast: settings.local_contrast,
        };
        let detector = CenterFace::load(&settings.ort_lib, &settings.model, face, settings.ort_threads)?;
        let second = match &settings.second_model {
            Some(model) => Some(BlazeFace::load(&settings.ort_lib, model, settings.second_threshold, settings.ort_threads)?),
            None => None,
        };
        let shade = settings.local_contrast.looks_in_shade();
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
        Ok(FrameHits::sorted(hits))
    }
}

/// A detection of frame `index` as a hit, with how much its box looks like a mosaic.
fn to_hit(pic: &Picture<'_>, index: u64, d: Detection, look: Look) -> Hit {
    let (mosaic, flat) = mosaic_and_flat(pic, &d.bbox);
    Hit { frame: index, bbox: d.bbox, score: d.score, look, mosaic, flat, ncc: None, recheck: None }
}
