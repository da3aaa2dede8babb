//! Policy: which tracked objects and which parts of the frame are obscured.
//!
//! Without a camera config every face is obscured. With one, `policy.faces` decides faces,
//! `policy.bystanders` decides whole persons (a person whose ground point — the bottom centre
//! of the box — is outside every property zone is a bystander), and street zones are blackened
//! in every frame regardless of detection.

use crate::config::{BystanderPolicy, Camera, FacePolicy, ZoneKind};
use crate::detect::Class;
use crate::frame::PictureMut;
use crate::redact::{redact, FillMode, Region, Shape};
use crate::track::TrackedBox;
use crate::zones::{point_in_zones, ZoneMask};

/// Growth of a bystander's body box before it is obscured.
pub const PERSON_MASK_SCALE: f32 = 1.15;

/// The redaction policy of one run.
#[derive(Clone, Debug)]
pub struct Policy {
    pub camera: Option<Camera>,
    pub mask_scale: f32,
    pub shape: Shape,
    pub fill: FillMode,
    street: Option<ZoneMask>,
}

impl Policy {
    pub fn new(camera: Option<Camera>, mask_scale: f32, shape: Shape, fill: FillMode) -> Self {
        Policy { camera, mask_scale, shape, fill, street: None }
    }

    /// Whether the person detector is needed at all.
    pub fn needs_persons(&self) -> bool {
        self.camera.as_ref().is_some_and(Camera::needs_persons)
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
            BystanderPolicy::OutsideProperty => {
                let (cx, _) = b.bbox.center();
                !point_in_zones(camera, ZoneKind::Property, cx as f64, b.bbox.y2 as f64, width, height)
            }
        }
    }

    /// The regions to obscure for a frame's tracked boxes.
    pub fn regions(&self, boxes: &[TrackedBox], width: usize, height: usize) -> Vec<Region> {
        boxes
            .iter()
            .filter_map(|b| match b.class {
                Class::Face if self.face_policy() == FacePolicy::All => {
                    Some(Region { bbox: b.bbox.scaled(self.mask_scale), shape: self.shape })
                }
                Class::Person if self.is_bystander(b, width, height) => {
                    Some(Region { bbox: b.bbox.scaled(PERSON_MASK_SCALE), shape: Shape::Box })
                }
                _ => None,
            })
            .collect()
    }

    /// Obscures one frame: tracked regions with the fill, then street zones in black.
    pub fn apply(&mut self, pic: &mut PictureMut<'_>, boxes: &[TrackedBox]) {
        let regions = self.regions(boxes, pic.width, pic.height);
        redact(pic, &regions, self.fill);
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
    }
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
