//! Policy: which tracked objects and which parts of the frame are obscured.
//!
//! Without a camera config every face is obscured. With one, `policy.faces` decides faces
//! (`all`, `all+heads`: every face and the head of every detected person, `none`, or
//! `outside_property`: a face whose person stands outside every property zone), `policy.bystanders` decides whole persons (a person whose ground point — the bottom
//! centre of the box — is outside every property zone is a bystander), and street zones are
//! blackened in every frame regardless of detection.
//!
//! Subject access ([`Keep`]) overrides the camera policy: one person track and its face stay
//! visible, every other face and person is obscured, street zones stay black. With
//! `faces = "all+heads"` the subject's head is kept like their face; everyone else is obscured
//! whole anyway.
//!
//! The night profile ([`NightProfile`]) does more for faces on grey (night/infrared) pictures,
//! where the face detector misses more: with `heads` the head of every person the face policy
//! concerns is obscured on those frames, as `all+heads` does always. A kept subject's head is
//! never obscured by it.
//!
//! An audit's findings (`redact --obscure-findings`, [`FindingMasks`]) are obscured besides,
//! whatever the rest decides: a person reviewed them and wants them gone.
//!
//! A picture too faint for the detectors to vouch for ([`MIN_VOUCHED_SPAN`]: black, or one flat
//! tone, to a viewer) is obscured whole, whatever was decided.
//!
//! [`Policy::decide`] is the one place that decides; its [`Decision`] is what is filled and
//! what the sidecar records.

use std::sync::Arc;

use serde::Serialize;

use crate::audit::masks::FindingMasks;
use crate::config::{BystanderPolicy, Camera, FacePolicy, ZoneKind};
use crate::detect::Class;
use crate::frame::{Layout, Picture, PictureMut};
use crate::geometry::BBox;
use crate::redact::{obscure_all, redact, FillMode, Region, Shape};
use crate::stats::quantile_bin;
use crate::track::TrackedBox;
use crate::zones::{point_in_zones, ZoneMask};

/// Growth of a bystander's body box before it is obscured.
pub const PERSON_MASK_SCALE: f32 = 1.15;

/// Subject access: whom a run keeps visible while everyone else is obscured.
///
/// `Track` keeps one person track (its id as written in the sidecar and drawn in the preview)
/// with the face inside its body; `At` names that person by a point (`x`, `y` relative 0–1)
/// at `time_ns` from the start of the clip and is resolved to a `Track` before the run
/// ([`crate::subject`]). With anything but `Nobody`, every other face, every other person
/// (whole body) and every street zone is obscured, whatever the camera policy says.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub enum Keep {
    /// No subject access: the camera policy alone decides.
    #[default]
    Nobody,
    /// Keep the person track with this id.
    Track(u64),
    /// Keep the person track under this point at this time.
    At { x: f32, y: f32, time_ns: u64 },
}

impl Keep {
    /// Whether this is a subject-access run (everyone but the subject obscured).
    pub fn is_subject_access(&self) -> bool {
        !matches!(self, Keep::Nobody)
    }

    /// Parses `--keep-at X,Y@TIME`: X,Y relative 0–1, TIME as seconds (`12.5`) or
    /// `[HH:]MM:SS[.mmm]` from the start of the clip.
    pub fn parse_at(s: &str) -> std::result::Result<Keep, String> {
        let usage = || format!("'{s}' is not X,Y@TIME (X,Y relative 0–1, TIME seconds or HH:MM:SS(.mmm)), e.g. 0.41,0.62@00:03:12");
        let (point, time) = s.split_once('@').ok_or_else(usage)?;
        let (x, y) = point.split_once(',').ok_or_else(usage)?;
        let coordinate = |v: &str, name: &str| -> std::result::Result<f32, String> {
            match v.trim().parse::<f32>() {
                Ok(c) if (0.0..=1.0).contains(&c) => Ok(c),
                Ok(_) => Err(format!("'{s}': {name} = {v} is outside 0–1 (coordinates are relative to the frame)")),
                Err(_) => Err(usage()),
            }
        };
        let (x, y) = (coordinate(x, "X")?, coordinate(y, "Y")?);
        let time_ns = parse_clip_time(time.trim()).ok_or_else(usage)?;
        Ok(Keep::At { x, y, time_ns })
    }
}

/// A time from the start of a clip, `SS[.fff]` or `[HH:]MM:SS[.fff]`, in nanoseconds.
pub fn parse_clip_time(s: &str) -> Option<u64> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.is_empty() || parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    let (whole, last) = parts.split_at(parts.len() - 1);
    let seconds: f64 = last[0].parse().ok().filter(|v: &f64| v.is_finite() && *v >= 0.0)?;
    if !whole.is_empty() && seconds >= 60.0 {
        return None;
    }
    let mut total = 0u64;
    for (i, p) in whole.iter().enumerate() {
        let v: u64 = p.parse().ok()?;
        // Minutes under an hour field must be under 60.
        if i > 0 && v >= 60 {
            return None;
        }
        total = total.checked_mul(60)?.checked_add(v)?;
    }
    // A time past what nanoseconds in 64 bits hold (584 years) is no time of a clip (found by
    // hostile use: `@1e300` was taken as the largest time and shown as such).
    let fraction = (seconds * 1e9).round();
    if fraction >= u64::MAX as f64 {
        return None;
    }
    total.checked_mul(60_000_000_000)?.checked_add(fraction as u64)
}

/// The night profile: what a run does beyond the camera policy on grey (night/infrared)
/// frames ([`crate::detect::preprocess::is_grey`]); colour frames are never touched by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NightProfile {
    /// Nothing more at night.
    Off,
    /// Run the person detector on grey frames and look closer (at twice the resolution) at the
    /// heads of the persons it finds, for faces the global pass missed.
    Look,
    /// As `look`, and obscure the head of every detected person on grey frames (as
    /// `faces = "all+heads"` does on every frame), whether or not a face was found in it. The
    /// default (`crate::cli::DEFAULT_NIGHT`).
    Heads,
}

/// Why the policy obscured a region.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Why {
    /// A face the face policy obscures.
    Face,
    /// A person standing where the bystander policy obscures them.
    Bystander,
    /// Subject access: a face or person that is not the kept subject.
    NotTheSubject,
    /// `faces = "all+heads"`, or the night profile `heads` on a grey frame: the head of a
    /// detected person (see [`head_mask`]), obscured whether or not a face was found in it.
    Head,
    /// `redact --obscure-findings`: a face an audit of an earlier output found; its `track` is
    /// the finding's number in that report.
    AuditFinding,
}

/// One region the policy obscured in a frame, as the sidecar records it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Obscured {
    pub track: u64,
    pub class: Class,
    /// The area filled (the tracked box grown by the mask scale), in source pixels.
    #[serde(rename = "box")]
    pub bbox: BBox,
    pub shape: Shape,
    pub why: Why,
}

/// What the policy did to one frame: every tracked box is either obscured or kept.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Decision {
    /// The regions filled, in the order they were filled.
    pub obscured: Vec<Obscured>,
    /// The street zones blackened (by name).
    pub street_zones: Vec<String>,
    /// The tracks left visible.
    pub kept: Vec<u64>,
    /// The whole picture was obscured besides: too faint for the detectors to vouch for it
    /// ([`MIN_VOUCHED_SPAN`]).
    #[serde(skip)]
    pub too_faint: bool,
}

/// A frame the policy did not decide (obscured whole, or no policy involved).
pub static NO_DECISION: Decision = Decision { obscured: Vec::new(), street_zones: Vec::new(), kept: Vec::new(), too_faint: false };

/// A picture whose brightness spans fewer levels than this (of 255, from the 0.1st to the 99.9th
/// percentile: a few stray pixels do not count) is obscured whole: no detector can vouch for it,
/// yet a stretch of its levels can still show a face (found by hostile use: a face stored in two or three grey levels — an
/// 8-bit PNG, or a 16-bit one whose 8-bit data a single bright pixel kept from being widened —
/// was found by no detector and written as it was, and a stretch of the output showed it). To a
/// viewer such a picture is black, or one flat tone, already.
pub const MIN_VOUCHED_SPAN: u8 = 8;

/// About how many points of a picture [`light_span`] samples.
const SPAN_SAMPLES: usize = 16_384;

/// The span of `pic`'s brightness from the 0.1st to the 99.9th percentile, sampled on a grid of
/// about [`SPAN_SAMPLES`] points (luma, or the mean of R, 2G and B).
fn light_span(pic: &Picture<'_>) -> u8 {
    let plane = &pic.planes[0];
    let step = ((pic.width * pic.height / SPAN_SAMPLES) as f64).sqrt().max(1.0) as usize;
    let mut histogram = [0u32; 256];
    for y in (0..pic.height).step_by(step) {
        let row = plane.row(y);
        for x in (0..pic.width).step_by(step) {
            let level = match pic.layout {
                Layout::I420 => row[x],
                Layout::Rgb => ((u16::from(row[3 * x]) + 2 * u16::from(row[3 * x + 1]) + u16::from(row[3 * x + 2])) / 4) as u8,
            };
            histogram[usize::from(level)] += 1;
        }
    }
    match (quantile_bin(&histogram, 0.001), quantile_bin(&histogram, 0.999)) {
        (Some(lo), Some(hi)) => (hi - lo) as u8,
        _ => 0,
    }
}

impl Decision {
    /// The regions to fill.
    pub fn regions(&self) -> Vec<Region> {
        self.obscured.iter().map(|o| Region { bbox: o.bbox, shape: o.shape }).collect()
    }
}

/// Upper part of a person box where the subject's own face may be (as a share of its height):
/// a face lower down belongs to someone else (a child carried, a person behind).
const SUBJECT_HEAD_SHARE: f32 = 0.5;
/// Narrowest face, as a share of the subject's body width, that can be the subject's own: a
/// smaller one is someone further away seen through the subject's box (the subject's faces on
/// vtest.avi measure 0.21–0.71).
const SUBJECT_FACE_MIN_SHARE: f32 = 0.15;

/// Head of a person for `faces = "all+heads"`, as shares of the person box: its height
/// (walkers on vtest.avi: 1/7 to 1/8 of the body box) …
pub const HEAD_HEIGHT_SHARE: f32 = 1.0 / 7.0;
/// … the mask's height against the head's (grown for the box top's jitter: NanoDet's top edge
/// lands anywhere from above the hair to the brow) …
pub const HEAD_MASK_GROWTH: f32 = 1.6;
/// … and the mask's width against the box width, kept between these aspects (width ÷ height)
/// so that a wide box (arms out, two people merged) still gets a head-shaped mask.
/// A head is about 0.3 of a walker's box width, and its centre strays up to about an eighth of
/// the width from the box centre (stride, arms, a bag): 0.55 covers both.
pub const HEAD_WIDTH_SHARE: f32 = 0.55;
pub const HEAD_ASPECT: (f32, f32) = (0.75, 1.25);

/// The face-shaped (elliptic) mask over the head of a person box: centred horizontally, its top
/// a little above the box top, [`HEAD_MASK_GROWTH`] head heights tall.
pub fn head_mask(person: &BBox) -> BBox {
    let head_h = person.height() * HEAD_HEIGHT_SHARE;
    let h = head_h * HEAD_MASK_GROWTH;
    let w = (person.width() * HEAD_WIDTH_SHARE).clamp(h * HEAD_ASPECT.0, h * HEAD_ASPECT.1);
    let (cx, _) = person.center();
    // The head's centre sits half a head below the box top; the growth goes mostly upwards
    // and sideways (a box top cutting the hair is commoner than one above it).
    let cy = person.y1 + head_h * 0.45;
    BBox::new(cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0)
}

/// The redaction policy of one run.
#[derive(Clone, Debug)]
pub struct Policy {
    pub camera: Option<Camera>,
    pub mask_scale: f32,
    pub shape: Shape,
    pub fill: FillMode,
    /// Subject access: whom to keep (an unresolved `Keep::At` keeps nobody: fail closed).
    pub keep: Keep,
    /// What more is done on grey (night/infrared) frames.
    pub night: NightProfile,
    /// `redact --obscure-findings`: faces an audit found, obscured whatever else is decided.
    findings: Option<Arc<FindingMasks>>,
    street: Option<ZoneMask>,
}

impl Policy {
    pub fn new(camera: Option<Camera>, mask_scale: f32, shape: Shape, fill: FillMode) -> Self {
        Policy { camera, mask_scale, shape, fill, keep: Keep::Nobody, night: NightProfile::Off, findings: None, street: None }
    }

    /// The same policy obscuring, besides, every face of an audit's `findings`.
    pub fn obscuring_findings(self, findings: Option<Arc<FindingMasks>>) -> Self {
        Policy { findings, ..self }
    }

    /// The same policy with the night profile `night`.
    pub fn at_night(self, night: NightProfile) -> Self {
        Policy { night, ..self }
    }

    /// Whether the night profile runs the person detector on grey frames: when it is on and the
    /// face policy obscures faces at all (with `faces = "none"` there is nothing to do more
    /// for), and the person detector is not needed on every frame anyway.
    pub fn needs_persons_at_night(&self) -> bool {
        self.night != NightProfile::Off && self.face_policy() != FacePolicy::None && !self.needs_persons()
    }

    /// The same policy for a subject-access run keeping `keep`.
    pub fn keeping(self, keep: Keep) -> Self {
        Policy { keep, ..self }
    }

    /// Whether the person detector is needed at all.
    pub fn needs_persons(&self) -> bool {
        self.keep.is_subject_access() || self.camera.as_ref().is_some_and(Camera::needs_persons)
    }

    fn face_policy(&self) -> FacePolicy {
        self.camera.as_ref().map_or(FacePolicy::All, |c| c.policy.faces)
    }

    /// Whether a person box (pixels of a `width`×`height` frame) is a bystander to obscure.
    pub fn is_bystander(&self, b: &TrackedBox, width: usize, height: usize) -> bool {
        let Some(camera) = &self.camera else { return false };
        match camera.policy.bystanders {
            BystanderPolicy::None => false,
            BystanderPolicy::All => true,
            BystanderPolicy::OutsideProperty => !stands_on_property(camera, &b.bbox, width, height),
        }
    }

    /// Whether `faces = "outside_property"` obscures `face`: when the ground point of a person
    /// box containing the face's centre lies outside every property zone, or, with no person
    /// around it, when the face's centre itself does. With several person boxes around the face
    /// (people overlapping in the picture), one standing outside is enough: the face may be
    /// theirs (fail closed).
    pub fn is_outside_face(&self, face: &TrackedBox, boxes: &[TrackedBox], width: usize, height: usize) -> bool {
        let Some(camera) = &self.camera else { return true };
        let (cx, cy) = face.bbox.center();
        let mut around = boxes.iter().filter(|b| b.class == Class::Person && contains(&b.bbox, cx, cy)).peekable();
        if around.peek().is_none() {
            return !point_in_zones(camera, ZoneKind::Property, cx as f64, cy as f64, width, height);
        }
        around.any(|p| !stands_on_property(camera, &p.bbox, width, height))
    }

    /// Whether the face policy obscures `face`.
    fn obscures_face(&self, face: &TrackedBox, boxes: &[TrackedBox], width: usize, height: usize) -> bool {
        match self.face_policy() {
            FacePolicy::All | FacePolicy::AllHeads => true,
            FacePolicy::None => false,
            FacePolicy::OutsideProperty => self.is_outside_face(face, boxes, width, height),
        }
    }

    /// Decides what to obscure among a frame's tracked boxes: the one place that does. The
    /// street zones are listed too (they are blackened in every frame). A colour frame; see
    /// [`Policy::decide_frame`].
    pub fn decide(&self, boxes: &[TrackedBox], width: usize, height: usize) -> Decision {
        self.decide_frame(boxes, width, height, false)
    }

    /// [`Policy::decide`] for a frame that is `grey` (night/infrared) or not: on a grey frame
    /// the night profile `heads` adds the heads of the persons whose faces the face policy
    /// obscures.
    pub fn decide_frame(&self, boxes: &[TrackedBox], width: usize, height: usize, grey: bool) -> Decision {
        let mut decision = Decision { street_zones: self.street_zone_names(), ..Decision::default() };
        let subject = self.keep.is_subject_access().then(|| self.subject_tracks(boxes));
        for b in boxes {
            let why = match (&subject, b.class) {
                (Some(kept), _) if kept.contains(&b.track) => None,
                (Some(_), _) => Some(Why::NotTheSubject),
                (None, Class::Face) => self.obscures_face(b, boxes, width, height).then_some(Why::Face),
                (None, Class::Person) => self.is_bystander(b, width, height).then_some(Why::Bystander),
            };
            match why {
                Some(why) => decision.obscured.push(self.obscured(b, why)),
                None if subject.is_none() && b.class == Class::Person && self.obscures_head(b, grey, width, height) => {
                    // The person stays visible, but not their head.
                    decision.obscured.push(Obscured { track: b.track, class: b.class, bbox: head_mask(&b.bbox), shape: Shape::Ellipse, why: Why::Head });
                }
                None => decision.kept.push(b.track),
            }
        }
        decision
    }

    /// Whether the head of person `b`, who is otherwise left visible, is obscured: always with
    /// `faces = "all+heads"`; on a grey frame with the night profile `heads`, when the face
    /// policy would obscure a face there (`all`: everyone; `outside_property`: a person standing
    /// outside every property zone).
    fn obscures_head(&self, b: &TrackedBox, grey: bool, width: usize, height: usize) -> bool {
        match (self.face_policy(), grey && self.night == NightProfile::Heads) {
            (FacePolicy::AllHeads, _) => true,
            (FacePolicy::All, true) => true,
            (FacePolicy::OutsideProperty, true) => {
                self.camera.as_ref().is_some_and(|c| !stands_on_property(c, &b.bbox, width, height))
            }
            _ => false,
        }
    }

    /// The region filled for box `b`: a face grown by the mask scale in the run's shape, a
    /// person's whole body as a box.
    fn obscured(&self, b: &TrackedBox, why: Why) -> Obscured {
        let (bbox, shape) = match b.class {
            Class::Face => (b.bbox.scaled(self.mask_scale), self.shape),
            Class::Person => (b.bbox.scaled(PERSON_MASK_SCALE), Shape::Box),
        };
        Obscured { track: b.track, class: b.class, bbox, shape, why }
    }

    /// Subject access: the tracks kept in this frame, the subject's person track and the one
    /// face in the upper part of its body (and not far smaller than a head there) that lies in
    /// no other person's (grown) box. When unsure (two faces there, or the face also inside
    /// another person), no face is kept.
    fn subject_tracks(&self, boxes: &[TrackedBox]) -> Vec<u64> {
        let Keep::Track(id) = self.keep else { return Vec::new() };
        let Some(body) = boxes.iter().find(|b| b.class == Class::Person && b.track == id) else { return Vec::new() };
        let head = BBox::new(body.bbox.x1, body.bbox.y1, body.bbox.x2, body.bbox.y1 + body.bbox.height() * SUBJECT_HEAD_SHARE);
        let others: Vec<BBox> =
            boxes.iter().filter(|b| b.class == Class::Person && b.track != id).map(|b| b.bbox.scaled(PERSON_MASK_SCALE)).collect();
        // Faces that may be the subject's: centred in its head, of a size a head can have.
        let faces: Vec<&TrackedBox> = boxes
            .iter()
            .filter(|b| b.class == Class::Face)
            .filter(|f| {
                let (cx, cy) = f.bbox.center();
                let share = f.bbox.width() / body.bbox.width().max(1.0);
                contains(&head, cx, cy) && (SUBJECT_FACE_MIN_SHARE..=1.0).contains(&share)
            })
            .collect();
        let mut kept = vec![id];
        if let [face] = faces.as_slice() {
            let (cx, cy) = face.bbox.center();
            if !others.iter().any(|o| contains(o, cx, cy)) {
                kept.push(face.track);
            }
        }
        kept
    }

    fn street_zone_names(&self) -> Vec<String> {
        let Some(camera) = &self.camera else { return Vec::new() };
        camera.zones_of(ZoneKind::Street).map(|z| z.name.clone()).collect()
    }

    /// [`Policy::decide_frame`] for frame `index`, with the faces of an audit's findings there.
    pub fn decide_at(&self, index: u64, boxes: &[TrackedBox], width: usize, height: usize, grey: bool) -> Decision {
        let mut decision = self.decide_frame(boxes, width, height, grey);
        decision.obscured.extend(self.findings_at(index));
        decision
    }

    /// The faces of the audit's findings in frame `index`, grown like faces.
    fn findings_at(&self, index: u64) -> impl Iterator<Item = Obscured> + '_ {
        let boxes = self.findings.as_deref().map_or(&[][..], |f| f.at(index));
        boxes.iter().map(|&(finding, b)| Obscured {
            track: finding,
            class: Class::Face,
            bbox: b.scaled(self.mask_scale),
            shape: self.shape,
            why: Why::AuditFinding,
        })
    }

    /// Obscures frame `index`: the regions [`Policy::decide`] chose and the faces of an audit's
    /// findings with the fill, then street zones in black. `grey`: the frame is a night/infrared
    /// picture (the planner's [`crate::detect::Plan::grey`]). Returns the decision, which is
    /// what was applied.
    pub fn apply(&mut self, pic: &mut PictureMut<'_>, index: u64, boxes: &[TrackedBox], grey: bool) -> Decision {
        let mut decision = self.decide_at(index, boxes, pic.width, pic.height, grey);
        if light_span(&pic.as_picture()) < MIN_VOUCHED_SPAN {
            obscure_all(pic);
            decision.too_faint = true;
            return decision;
        }
        redact(pic, &decision.regions(), self.fill);
        if let Some(camera) = &self.camera {
            let stale = self.street.as_ref().is_none_or(|m| (m.width, m.height) != (pic.width, pic.height));
            if stale {
                // Rasterised once per resolution, not per frame.
                self.street = Some(ZoneMask::new(camera, ZoneKind::Street, pic.width, pic.height));
            }
            if let Some(mask) = &self.street {
                mask.blacken(pic);
            }
        }
        decision
    }
}

/// Whether a person's ground point (the bottom centre of the box) is inside a property zone.
fn stands_on_property(camera: &Camera, b: &BBox, width: usize, height: usize) -> bool {
    let (cx, _) = b.center();
    point_in_zones(camera, ZoneKind::Property, cx as f64, b.y2 as f64, width, height)
}

fn contains(b: &BBox, x: f32, y: f32) -> bool {
    x >= b.x1 && x < b.x2 && y >= b.y1 && y < b.y2
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{parse_camera, PolicyConfig};
    use crate::geometry::BBox;
    use crate::track::Origin;

    #[test]
    fn the_light_span_leaves_out_a_few_stray_pixels_in_luma_and_in_rgb() {
        let (w, h) = (128, 128);
        let mut rgb: Vec<u8> = (0..w * h).flat_map(|i| [(i % 3) as u8; 3]).collect();
        rgb[..3 * 10].fill(255); // 10 of 16,384 pixels: under 1 in 1000
        assert_eq!(light_span(&Picture::from_planes(Layout::Rgb, w, h, [(&rgb[..], w * 3)])), 2);
        let gradient: Vec<u8> = (0..w * h).flat_map(|i| [(i % w * 2) as u8; 3]).collect();
        assert!(light_span(&Picture::from_planes(Layout::Rgb, w, h, [(&gradient[..], w * 3)])) > 200);
        // A black frame of a video (limited range) and a dark one with a lamp: 2 % of it white.
        let (y, chroma) = (vec![16u8; w * h], vec![128u8; w * h / 4]);
        let black = Picture::from_planes(Layout::I420, w, h, [(&y[..], w), (&chroma[..], w / 2), (&chroma[..], w / 2)]);
        assert_eq!(light_span(&black), 0);
        let lamp: Vec<u8> = (0..w * h).map(|i| if i < w * h / 50 { 235 } else { 16 }).collect();
        let lit = Picture::from_planes(Layout::I420, w, h, [(&lamp[..], w), (&chroma[..], w / 2), (&chroma[..], w / 2)]);
        assert!(light_span(&lit) >= MIN_VOUCHED_SPAN);
    }

    fn camera(bystanders: &str) -> Camera {
        let text = format!(
            "[cameras.c.zones.drive]\nkind = \"property\"\ncoordinates = [[0.0, 0.5], [1.0, 0.5], [1.0, 1.0], [0.0, 1.0]]\n[cameras.c.policy]\nbystanders = \"{bystanders}\"\n"
        );
        parse_camera(&text, std::path::Path::new("t.toml"), None).unwrap()
    }

    fn person(y2: f32) -> TrackedBox {
        TrackedBox { track: 1, class: Class::Person, bbox: BBox::new(40.0, y2 - 50.0, 60.0, y2), score: 0.9, origin: Origin::Detected, left_by: None }
    }

    fn face() -> TrackedBox {
        TrackedBox { track: 2, class: Class::Face, bbox: BBox::new(10.0, 10.0, 20.0, 20.0), score: 0.9, origin: Origin::Detected, left_by: None }
    }

    fn camera_with(faces: &str, bystanders: &str) -> Camera {
        let mut cam = camera(bystanders);
        cam.policy.faces = match faces {
            "all" => FacePolicy::All,
            "none" => FacePolicy::None,
            "all+heads" => FacePolicy::AllHeads,
            _ => FacePolicy::OutsideProperty,
        };
        cam
    }

    fn boxed(track: u64, class: Class, x1: f32, y1: f32, x2: f32, y2: f32) -> TrackedBox {
        TrackedBox { track, class, bbox: BBox::new(x1, y1, x2, y2), score: 0.9, origin: Origin::Detected, left_by: None }
    }

    fn obscured_tracks(d: &Decision) -> Vec<u64> {
        let mut t: Vec<u64> = d.obscured.iter().map(|o| o.track).collect();
        t.sort();
        t
    }

    #[test]
    fn without_a_config_only_faces_are_obscured() {
        let p = Policy::new(None, 1.3, Shape::Ellipse, FillMode::Mosaic);
        let d = p.decide(&[face(), person(90.0)], 100, 100);
        assert_eq!(d.obscured.len(), 1);
        assert_eq!(d.obscured[0].why, Why::Face);
        assert_eq!(d.kept, vec![1], "the person is left visible and says so");
        assert!(!p.needs_persons());
    }

    #[test]
    fn an_audit_finding_is_obscured_in_its_frames_whatever_the_face_policy() {
        let finding = BBox::new(40.0, 40.0, 50.0, 52.0);
        let masks = FindingMasks::from_hits(&[vec![(10, finding)]], 100);
        let p = Policy::new(Some(camera_with("none", "none")), 1.4, Shape::Ellipse, FillMode::Mosaic).obscuring_findings(Some(Arc::new(masks)));
        let d = p.decide_at(10, &[face()], 100, 100, false);
        assert_eq!(d.kept, vec![2], "faces = \"none\" keeps the tracked face");
        assert_eq!(d.obscured.len(), 1);
        let o = d.obscured[0];
        assert_eq!((o.track, o.why, o.shape), (1, Why::AuditFinding, Shape::Ellipse), "finding 1, in the run's shape");
        assert_eq!(o.bbox, finding.scaled(1.4), "grown like a face");
        assert!(p.decide_at(50, &[face()], 100, 100, false).obscured.is_empty(), "only in the finding's frames");
    }

    #[test]
    fn faces_outside_property_hides_the_face_of_a_person_standing_in_the_street() {
        // Property: the lower half. Person 1 stands on it (feet y=90), person 3 in the street
        // (feet y=40); each has a face in the top of its box.
        let p = Policy::new(Some(camera_with("outside_property", "none")), 1.3, Shape::Box, FillMode::Solid);
        assert!(p.needs_persons());
        let boxes = [
            boxed(1, Class::Person, 10.0, 55.0, 30.0, 90.0),
            boxed(2, Class::Face, 15.0, 56.0, 25.0, 64.0),
            boxed(3, Class::Person, 60.0, 5.0, 80.0, 40.0),
            boxed(4, Class::Face, 65.0, 6.0, 75.0, 14.0),
        ];
        let d = p.decide(&boxes, 100, 100);
        assert_eq!(obscured_tracks(&d), vec![4]);
        assert_eq!(d.obscured[0].why, Why::Face);
        assert_eq!(d.kept, vec![1, 2, 3]);
    }

    #[test]
    fn faces_outside_property_without_a_person_uses_the_face_itself() {
        let p = Policy::new(Some(camera_with("outside_property", "none")), 1.3, Shape::Box, FillMode::Solid);
        let on = boxed(1, Class::Face, 40.0, 70.0, 50.0, 80.0);
        let off = boxed(2, Class::Face, 40.0, 10.0, 50.0, 20.0);
        assert_eq!(obscured_tracks(&p.decide(&[on, off], 100, 100)), vec![2]);
    }

    #[test]
    fn faces_outside_property_hides_a_face_that_may_belong_to_a_person_outside() {
        // A small street person (feet y=45) stands behind a large one on the property: the
        // street person's face is inside both boxes, so it is hidden (it may be theirs), while
        // a face only inside the resident's box is kept.
        let p = Policy::new(Some(camera_with("outside_property", "none")), 1.3, Shape::Box, FillMode::Solid);
        let boxes = [
            boxed(1, Class::Person, 20.0, 20.0, 60.0, 95.0),
            boxed(2, Class::Person, 40.0, 15.0, 50.0, 45.0),
            boxed(3, Class::Face, 42.0, 16.0, 48.0, 22.0),
            boxed(4, Class::Face, 25.0, 50.0, 33.0, 58.0),
        ];
        assert_eq!(obscured_tracks(&p.decide(&boxes, 100, 100)), vec![3]);
    }

    #[test]
    fn faces_outside_property_with_no_property_zone_hides_every_face() {
        let text = "[cameras.c.policy]\nfaces = \"outside_property\"\n";
        let cam = parse_camera(text, std::path::Path::new("t.toml"), None).unwrap();
        let p = Policy::new(Some(cam), 1.3, Shape::Box, FillMode::Solid);
        let boxes = [boxed(1, Class::Person, 10.0, 55.0, 30.0, 90.0), boxed(2, Class::Face, 15.0, 56.0, 25.0, 64.0)];
        assert_eq!(obscured_tracks(&p.decide(&boxes, 100, 100)), vec![2]);
    }

    /// Two walkers: subject 1 (face 2) and another person 3 (face 4).
    fn two_walkers(other_x: f32) -> [TrackedBox; 4] {
        [
            boxed(1, Class::Person, 10.0, 10.0, 30.0, 90.0),
            boxed(2, Class::Face, 15.0, 12.0, 25.0, 22.0),
            boxed(3, Class::Person, other_x, 10.0, other_x + 20.0, 90.0),
            boxed(4, Class::Face, other_x + 5.0, 12.0, other_x + 15.0, 22.0),
        ]
    }

    #[test]
    fn subject_access_keeps_the_subject_and_hides_everyone_else_whatever_the_policy() {
        // The camera policy keeps every face and every person; subject access overrides it.
        let p = Policy::new(Some(camera_with("none", "none")), 1.3, Shape::Box, FillMode::Solid).keeping(Keep::Track(1));
        assert!(p.needs_persons());
        let d = p.decide(&two_walkers(60.0), 100, 100);
        assert_eq!(d.kept, vec![1, 2]);
        assert_eq!(obscured_tracks(&d), vec![3, 4]);
        assert!(d.obscured.iter().all(|o| o.why == Why::NotTheSubject));
        let body = d.obscured.iter().find(|o| o.track == 3).unwrap();
        assert_eq!(body.shape, Shape::Box, "another person is obscured whole");
        assert_eq!(d.street_zones, Vec::<String>::new());
    }

    #[test]
    fn subject_access_hides_the_subjects_face_where_another_body_overlaps_it() {
        // The other walker crosses in front: the subject's face centre (20, 17) is inside the
        // other person's box, so nobody can say whose face it is: hidden.
        let p = Policy::new(None, 1.3, Shape::Box, FillMode::Solid).keeping(Keep::Track(1));
        // The other walker's face is not found in this frame: only the subject's face is there.
        let d = p.decide(&two_walkers(12.0)[..3], 100, 100);
        assert_eq!(d.kept, vec![1]);
        assert_eq!(obscured_tracks(&d), vec![2, 3]);
        assert_eq!(p.decide(&two_walkers(40.0)[..3], 100, 100).kept, vec![1, 2], "apart, the face is kept");
    }

    #[test]
    fn subject_access_keeps_no_face_when_two_are_in_the_subjects_head() {
        let p = Policy::new(None, 1.3, Shape::Box, FillMode::Solid).keeping(Keep::Track(1));
        let mut boxes = two_walkers(60.0).to_vec();
        boxes.push(boxed(5, Class::Face, 20.0, 25.0, 28.0, 33.0));
        let d = p.decide(&boxes, 100, 100);
        assert_eq!(d.kept, vec![1]);
    }

    #[test]
    fn subject_access_keeps_no_face_far_smaller_than_the_subjects_head() {
        // A face 2 px wide in a 20 px wide body: someone far behind, seen through the subject.
        let p = Policy::new(None, 1.3, Shape::Box, FillMode::Solid).keeping(Keep::Track(1));
        let boxes = [boxed(1, Class::Person, 10.0, 10.0, 30.0, 90.0), boxed(2, Class::Face, 19.0, 15.0, 21.0, 17.0)];
        assert_eq!(p.decide(&boxes, 100, 100).kept, vec![1]);
    }

    #[test]
    fn subject_access_with_an_unresolved_point_or_an_absent_track_keeps_nobody() {
        for keep in [Keep::At { x: 0.2, y: 0.5, time_ns: 0 }, Keep::Track(9)] {
            let p = Policy::new(None, 1.3, Shape::Box, FillMode::Solid).keeping(keep);
            let d = p.decide(&two_walkers(60.0), 100, 100);
            assert!(d.kept.is_empty(), "{keep:?}: {d:?}");
            assert_eq!(d.obscured.len(), 4);
        }
    }

    #[test]
    fn street_zones_are_listed_in_every_decision() {
        let text = "[cameras.c.zones.road]\nkind = \"street\"\ncoordinates = [[0.0, 0.0], [1.0, 0.0], [1.0, 0.2]]\n";
        let cam = parse_camera(text, std::path::Path::new("t.toml"), None).unwrap();
        let p = Policy::new(Some(cam), 1.3, Shape::Box, FillMode::Solid).keeping(Keep::Track(1));
        assert_eq!(p.decide(&[], 100, 100).street_zones, vec!["road".to_string()]);
    }

    #[test]
    fn keep_at_parses_seconds_and_clock_times() {
        assert_eq!(Keep::parse_at("0.41,0.62@12.5"), Ok(Keep::At { x: 0.41, y: 0.62, time_ns: 12_500_000_000 }));
        assert_eq!(Keep::parse_at("0.5,0.5@00:03:12"), Ok(Keep::At { x: 0.5, y: 0.5, time_ns: 192_000_000_000 }));
        assert_eq!(Keep::parse_at("0.5,0.5@1:00:00.250"), Ok(Keep::At { x: 0.5, y: 0.5, time_ns: 3_600_250_000_000 }));
        assert_eq!(Keep::parse_at("0.5,0.5@02:03"), Ok(Keep::At { x: 0.5, y: 0.5, time_ns: 123_000_000_000 }));
        for bad in ["0.5,0.5", "0.5@3", "1.5,0.5@3", "0.5,-0.1@3", "0.5,0.5@", "0.5,0.5@1:75", "0.5,0.5@x", "0.5,0.5@-2", "0.5,0.5@1:2:3:4", "0.5,0.5@1e300", "0.5,0.5@99999999999999999:00:00"] {
            assert!(Keep::parse_at(bad).is_err(), "{bad}");
        }
        assert!(Keep::parse_at("1.5,0.5@3").unwrap_err().contains("outside 0–1"));
    }

    #[test]
    fn a_person_standing_outside_the_property_is_a_bystander() {
        let p = Policy::new(Some(camera("outside_property")), 1.3, Shape::Ellipse, FillMode::Mosaic);
        assert!(p.is_bystander(&person(40.0), 100, 100), "feet at y=40 are in the street half");
        assert!(!p.is_bystander(&person(90.0), 100, 100), "feet at y=90 are on the drive");
        let d = p.decide(&[person(40.0), person(90.0), face()], 100, 100);
        assert_eq!(d.obscured.len(), 2);
        assert_eq!(d.obscured.iter().map(|o| o.why).collect::<Vec<_>>(), vec![Why::Bystander, Why::Face]);
    }

    #[test]
    fn bystander_policy_all_and_none() {
        let all = Policy::new(Some(camera("all")), 1.3, Shape::Box, FillMode::Solid);
        assert!(all.is_bystander(&person(90.0), 100, 100));
        let none = Policy::new(Some(camera("none")), 1.3, Shape::Box, FillMode::Solid);
        assert!(!none.is_bystander(&person(40.0), 100, 100));
        assert!(!none.needs_persons());
    }

    #[test]
    fn all_plus_heads_obscures_every_face_and_the_head_of_every_person_on_the_property_too() {
        // Property: the lower half. Person 1 stands on it, person 3 in the street; face 2 is
        // person 1's, person 3's face was not found.
        let p = Policy::new(Some(camera_with("all+heads", "none")), 1.3, Shape::Box, FillMode::Solid);
        assert!(p.needs_persons());
        let boxes = [
            boxed(1, Class::Person, 10.0, 55.0, 30.0, 90.0),
            boxed(2, Class::Face, 15.0, 56.0, 25.0, 64.0),
            boxed(3, Class::Person, 60.0, 5.0, 80.0, 40.0),
        ];
        let d = p.decide(&boxes, 100, 100);
        assert_eq!(obscured_tracks(&d), vec![1, 2, 3]);
        assert!(d.kept.is_empty());
        let heads: Vec<&Obscured> = d.obscured.iter().filter(|o| o.why == Why::Head).collect();
        assert_eq!(heads.len(), 2);
        for head in heads {
            assert_eq!((head.class, head.shape), (Class::Person, Shape::Ellipse));
            let body = boxes.iter().find(|b| b.track == head.track).unwrap().bbox;
            assert_eq!(head.bbox, head_mask(&body));
        }
        assert_eq!(d.obscured.iter().find(|o| o.track == 2).unwrap().why, Why::Face);
    }

    #[test]
    fn a_head_mask_is_head_shaped_and_sits_on_top_of_the_body() {
        // A walker of 768×576 vtest.avi: 40×130 px.
        let walker = BBox::new(100.0, 200.0, 140.0, 330.0);
        let head = head_mask(&walker);
        let aspect = head.width() / head.height();
        assert!(aspect > HEAD_ASPECT.0 - 1e-3 && aspect < HEAD_ASPECT.1 + 1e-3, "{head:?}");
        assert!(head.height() > walker.height() / 8.0 && head.height() < walker.height() / 3.0, "{head:?}");
        assert!(head.y1 < walker.y1 && head.y2 < walker.y1 + walker.height() / 4.0, "{head:?}");
        assert!((head.center().0 - walker.center().0).abs() < 1e-3);
        // Arms out or two people merged: a wide box still gets a head-shaped mask.
        let wide = head_mask(&BBox::new(0.0, 0.0, 200.0, 130.0));
        assert!(wide.width() <= wide.height() * HEAD_ASPECT.1 + 1e-3, "{wide:?}");
    }

    #[test]
    fn all_plus_heads_with_subject_access_keeps_the_subjects_head() {
        let p = Policy::new(Some(camera_with("all+heads", "none")), 1.3, Shape::Box, FillMode::Solid).keeping(Keep::Track(1));
        let d = p.decide(&two_walkers(60.0), 100, 100);
        assert_eq!(d.kept, vec![1, 2]);
        assert!(d.obscured.iter().all(|o| o.why == Why::NotTheSubject), "{d:?}");
    }

    #[test]
    fn all_plus_heads_does_not_add_a_head_to_a_person_obscured_whole() {
        let p = Policy::new(Some(camera_with("all+heads", "all")), 1.3, Shape::Box, FillMode::Solid);
        let d = p.decide(&[person(40.0)], 100, 100);
        assert_eq!(d.obscured.iter().map(|o| o.why).collect::<Vec<_>>(), vec![Why::Bystander]);
    }

    /// Walker 1 (face 2 found) and walker 3 (face not found), on a policy with night profile
    /// `night`.
    fn night_walkers(camera: Option<Camera>, night: NightProfile) -> (Policy, [TrackedBox; 3]) {
        let p = Policy::new(camera, 1.3, Shape::Box, FillMode::Solid).at_night(night);
        (p, [two_walkers(60.0)[0], two_walkers(60.0)[1], two_walkers(60.0)[2]])
    }

    fn heads_of(d: &Decision) -> Vec<u64> {
        d.obscured.iter().filter(|o| o.why == Why::Head).map(|o| o.track).collect()
    }

    #[test]
    fn the_night_profile_obscures_the_heads_of_persons_on_grey_frames_only() {
        let (p, walkers) = night_walkers(None, NightProfile::Heads);
        assert!(!p.needs_persons() && p.needs_persons_at_night(), "the person detector runs at night only");
        let night = p.decide_frame(&walkers, 100, 100, true);
        assert_eq!(heads_of(&night), vec![1, 3], "{night:?}");
        for head in night.obscured.iter().filter(|o| o.why == Why::Head) {
            let body = walkers.iter().find(|b| b.track == head.track).unwrap().bbox;
            assert_eq!((head.bbox, head.shape), (head_mask(&body), Shape::Ellipse));
        }
        assert_eq!(obscured_tracks(&night), vec![1, 2, 3], "the face is obscured as well");
        let day = p.decide_frame(&walkers, 100, 100, false);
        assert_eq!(day, p.decide(&walkers, 100, 100));
        assert_eq!((obscured_tracks(&day), day.kept), (vec![2], vec![1, 3]), "colour frames are unchanged");
    }

    #[test]
    fn the_night_profile_look_and_off_add_no_head_masks() {
        for (night, persons) in [(NightProfile::Look, true), (NightProfile::Off, false)] {
            let (p, walkers) = night_walkers(None, night);
            assert_eq!(p.needs_persons_at_night(), persons, "{night:?}");
            let d = p.decide_frame(&walkers, 100, 100, true);
            assert!(heads_of(&d).is_empty(), "{night:?}: {d:?}");
            assert_eq!(d.kept, vec![1, 3]);
        }
    }

    #[test]
    fn the_night_profile_never_obscures_a_kept_subjects_head() {
        let p = Policy::new(None, 1.3, Shape::Box, FillMode::Solid).keeping(Keep::Track(1)).at_night(NightProfile::Heads);
        let d = p.decide_frame(&two_walkers(60.0), 100, 100, true);
        assert_eq!(d.kept, vec![1, 2], "the subject and their face stay visible at night");
        assert!(d.obscured.iter().all(|o| o.why == Why::NotTheSubject), "{d:?}");
    }

    #[test]
    fn the_night_profile_follows_the_face_policy() {
        // faces = "none": nothing more to do at night, and no person detector for it.
        let (p, walkers) = night_walkers(Some(camera_with("none", "none")), NightProfile::Heads);
        assert!(!p.needs_persons_at_night());
        assert!(p.decide_frame(&walkers, 100, 100, true).obscured.is_empty());
        // faces = "outside_property" (property: the lower half): the head of a person standing
        // in the street, not of one on the drive.
        let (p, _) = night_walkers(Some(camera_with("outside_property", "none")), NightProfile::Heads);
        let boxes = [boxed(1, Class::Person, 10.0, 55.0, 30.0, 90.0), boxed(3, Class::Person, 60.0, 5.0, 80.0, 40.0)];
        assert_eq!(heads_of(&p.decide_frame(&boxes, 100, 100, true)), vec![3]);
        assert!(heads_of(&p.decide_frame(&boxes, 100, 100, false)).is_empty());
    }

    #[test]
    fn faces_none_keeps_faces_visible() {
        let mut cam = camera("none");
        cam.policy = PolicyConfig { faces: FacePolicy::None, ..cam.policy };
        let p = Policy::new(Some(cam), 1.3, Shape::Box, FillMode::Solid);
        assert!(p.decide(&[face()], 100, 100).obscured.is_empty());
    }
}
