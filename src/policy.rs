//! Policy: which tracked objects and which parts of the frame are obscured.
//!
//! Without a camera config every face is obscured. With one, `policy.faces` decides faces
//! (`all`, `none`, or `outside_property`: a face whose person stands outside every property
//! zone), `policy.bystanders` decides whole persons (a person whose ground point — the bottom
//! centre of the box — is outside every property zone is a bystander), and street zones are
//! blackened in every frame regardless of detection.
//!
//! Subject access ([`Keep`]) overrides the camera policy: one person track and its face stay
//! visible, every other face and person is obscured, street zones stay black.
//!
//! [`Policy::decide`] is the one place that decides; its [`Decision`] is what is filled and
//! what the sidecar records.

use serde::Serialize;

use crate::config::{BystanderPolicy, Camera, FacePolicy, ZoneKind};
use crate::detect::Class;
use crate::frame::PictureMut;
use crate::geometry::BBox;
use crate::redact::{redact, FillMode, Region, Shape};
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
        total = total * 60 + v;
    }
    Some(total * 60_000_000_000 + (seconds * 1e9).round() as u64)
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
}

/// A frame the policy did not decide (obscured whole, or no policy involved).
pub static NO_DECISION: Decision = Decision { obscured: Vec::new(), street_zones: Vec::new(), kept: Vec::new() };

impl Decision {
    /// The regions to fill.
    pub fn regions(&self) -> Vec<Region> {
        self.obscured.iter().map(|o| Region { bbox: o.bbox, shape: o.shape }).collect()
    }
}

/// Upper part of a person box where the subject's own face may be (as a share of its height):
/// a face lower down belongs to someone else (a child carried, a person behind).
const SUBJECT_HEAD_SHARE: f32 = 0.5;

/// The redaction policy of one run.
#[derive(Clone, Debug)]
pub struct Policy {
    pub camera: Option<Camera>,
    pub mask_scale: f32,
    pub shape: Shape,
    pub fill: FillMode,
    /// Subject access: whom to keep (an unresolved `Keep::At` keeps nobody: fail closed).
    pub keep: Keep,
    street: Option<ZoneMask>,
}

impl Policy {
    pub fn new(camera: Option<Camera>, mask_scale: f32, shape: Shape, fill: FillMode) -> Self {
        Policy { camera, mask_scale, shape, fill, keep: Keep::Nobody, street: None }
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
            FacePolicy::All => true,
            FacePolicy::None => false,
            FacePolicy::OutsideProperty => self.is_outside_face(face, boxes, width, height),
        }
    }

    /// Decides what to obscure among a frame's tracked boxes: the one place that does. The
    /// street zones are listed too (they are blackened in every frame).
    pub fn decide(&self, boxes: &[TrackedBox], width: usize, height: usize) -> Decision {
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
                None => decision.kept.push(b.track),
            }
        }
        decision
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
    /// face in the upper part of its body that lies in no other person's (grown) box. When
    /// unsure (two faces there, or the face also inside another person), no face is kept.
    fn subject_tracks(&self, boxes: &[TrackedBox]) -> Vec<u64> {
        let Keep::Track(id) = self.keep else { return Vec::new() };
        let Some(body) = boxes.iter().find(|b| b.class == Class::Person && b.track == id) else { return Vec::new() };
        let head = BBox::new(body.bbox.x1, body.bbox.y1, body.bbox.x2, body.bbox.y1 + body.bbox.height() * SUBJECT_HEAD_SHARE);
        let others: Vec<BBox> =
            boxes.iter().filter(|b| b.class == Class::Person && b.track != id).map(|b| b.bbox.scaled(PERSON_MASK_SCALE)).collect();
        let faces: Vec<&TrackedBox> = boxes
            .iter()
            .filter(|b| b.class == Class::Face)
            .filter(|f| {
                let (cx, cy) = f.bbox.center();
                contains(&head, cx, cy)
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

    /// Obscures one frame: the regions [`Policy::decide`] chose with the fill, then street
    /// zones in black. Returns the decision, which is what was applied.
    pub fn apply(&mut self, pic: &mut PictureMut<'_>, boxes: &[TrackedBox]) -> Decision {
        let decision = self.decide(boxes, pic.width, pic.height);
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

    fn camera(bystanders: &str) -> Camera {
        let text = format!(
            "[cameras.c.zones.drive]\nkind = \"property\"\ncoordinates = [[0.0, 0.5], [1.0, 0.5], [1.0, 1.0], [0.0, 1.0]]\n[cameras.c.policy]\nbystanders = \"{bystanders}\"\n"
        );
        parse_camera(&text, std::path::Path::new("t.toml"), None).unwrap()
    }

    fn person(y2: f32) -> TrackedBox {
        TrackedBox { track: 1, class: Class::Person, bbox: BBox::new(40.0, y2 - 50.0, 60.0, y2), score: 0.9, origin: Origin::Detected }
    }

    fn face() -> TrackedBox {
        TrackedBox { track: 2, class: Class::Face, bbox: BBox::new(10.0, 10.0, 20.0, 20.0), score: 0.9, origin: Origin::Detected }
    }

    #[test]
    fn without_a_config_only_faces_are_obscured() {
        let p = Policy::new(None, 1.3, Shape::Ellipse, FillMode::Mosaic);
        let regions = p.regions(&[face(), person(90.0)], 100, 100);
        assert_eq!(regions.len(), 1);
        assert!(!p.needs_persons());
    }

    #[test]
    fn a_person_standing_outside_the_property_is_a_bystander() {
        let p = Policy::new(Some(camera("outside_property")), 1.3, Shape::Ellipse, FillMode::Mosaic);
        assert!(p.is_bystander(&person(40.0), 100, 100), "feet at y=40 are in the street half");
        assert!(!p.is_bystander(&person(90.0), 100, 100), "feet at y=90 are on the drive");
        assert_eq!(p.regions(&[person(40.0), person(90.0), face()], 100, 100).len(), 2);
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
    fn faces_none_keeps_faces_visible() {
        let mut cam = camera("none");
        cam.policy = PolicyConfig { faces: FacePolicy::None, ..cam.policy };
        let p = Policy::new(Some(cam), 1.3, Shape::Box, FillMode::Solid);
        assert!(p.regions(&[face()], 100, 100).is_empty());
    }
}
