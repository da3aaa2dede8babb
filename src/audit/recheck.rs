//! Rechecking each finding: its own hits looked at again, closer, until one of them is seen
//! again.
//!
//! A face is a face in more than one crop and at more than one scale; what the detector takes
//! for a face in one look only — a walking person's foot, a car cut by the frame's edge, a
//! jacket, a washed-out patch, a coarse mosaic — is a quirk of that look. Each detected hit of
//! a finding is looked at again in a crop of its own box grown by two sides each way (the head
//! and shoulders around a face: the context that tells a face from a foot or a mosaic),
//! enlarged so the face is about 64 px tall (never shrunk: a large face is looked at as it
//! is), equalised when its own look was (the dark look), by the closer look's detector, which
//! counts faces from [`around_threshold`](super::around_threshold). A finding none of whose
//! hits is seen again there is set aside ([`Reason::NotSeenAgain`](super::Reason)); one hit
//! seen again is enough, and the later hits of a finding seen again are not rechecked.
//!
//! The second model's hits are not rechecked: CenterFace missing them is why that model runs,
//! and a finding it alone made must last and move already.
//!
//! It is off by default (`audit --recheck`). Measured on the harness's clean controls (seeds
//! 1–8, 160 s, every finding judged by eye): false alarms 24 → 8; the faces a weakened run left
//! visible that the audit shows, by day unchanged, at night 2 fewer of 89; but of the real
//! passers-by on the controls of seeds 7 and 8 (never used to choose), 11 of 58 were set aside
//! too — ten faces, small, dark, blurred or in profile, and a back of a head.

use super::around::{closer_crop, CloserLook};
use super::{Finding, Hit, Look};
use crate::detect::Detection;
use crate::error::{Error, Result};
use crate::frame::Picture;
use crate::geometry::BBox;

/// A rechecked hit's box is grown by this many times its larger side on each side. Chosen on the
/// harness's seeds 1–4 over one side (the look around a lost face's): the same false alarms
/// removed there, fewer faces lost; on seed 7, never used to choose, 6 of 32 real
/// passers-by's faces on the clean control set aside instead of 11, and the same 5 of 6 false
/// alarms.
const RECHECK_GROW: f32 = 2.0;
/// A rechecked hit's crop is enlarged from this scale up: a face of 64 px and more is looked at
/// at its own size (the look around a lost face enlarges at least 2×, for faces it expects
/// small).
const RECHECK_MIN_SCALE: f32 = 1.0;
/// Overlap (IoU) of the closer look's face with the hit from which it is the same face.
const RECHECK_IOU: f32 = super::findings::JOIN_IOU;

impl CloserLook {
    /// Rechecks the detected hits of frame `index` of every finding not seen again yet (joined
    /// already), recording on each hit the score of the face the closer look found on it (0:
    /// none).
    pub(super) fn recheck(&mut self, findings: &mut [Finding], pic: &Picture<'_>, index: u64) -> Result<()> {
        let grey = crate::detect::preprocess::is_grey(pic);
        for f in findings.iter_mut().filter(|f| !f.rechecked) {
            for h in f.hits.iter_mut().rev().take_while(|h| h.frame == index).filter(|h| awaits_recheck(h)) {
                let Some((crop, scale)) = closer_crop(&h.bbox, pic.width, pic.height, RECHECK_GROW, RECHECK_MIN_SCALE) else {
                    h.recheck = Some(0.0);
                    continue;
                };
                let found = match h.look {
                    Look::Dark => self.detector.detect_crop_equalised(pic, crop, scale),
                    _ => self.detector.detect_crop(pic, crop, scale, grey),
                }
                .map_err(|message| Error::Detect { frame: index, message })?;
                let score = same_face(&h.bbox, &found);
                h.recheck = Some(score);
                f.rechecked |= score > 0.0;
            }
        }
        Ok(())
    }
}

/// Whether hit `h` awaits the recheck: a detected hit of CenterFace's, not rechecked yet.
fn awaits_recheck(h: &Hit) -> bool {
    h.look.makes_findings() && h.look != Look::Second && h.recheck.is_none()
}

/// The best score of the closer look's faces `found` that overlap `bbox` ([`RECHECK_IOU`]); 0
/// when none does.
fn same_face(bbox: &BBox, found: &[Detection]) -> f32 {
    found.iter().filter(|d| d.bbox.iou(bbox) >= RECHECK_IOU).map(|d| d.score).fold(0.0, f32::max)
}

/// Whether one of `f`'s hits was seen again by the recheck (the closer look returns faces from
/// its own threshold up only).
pub(super) fn seen_again(f: &Finding) -> bool {
    f.hits.iter().any(|h| h.recheck.is_some_and(|s| s > 0.0))
}

/// Whether `f` stands the recheck: seen again, or found by the second model too (whose hits are
/// not rechecked).
pub(super) fn stands_recheck(f: &Finding) -> bool {
    seen_again(f) || f.hits.iter().any(|h| h.look == Look::Second)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detection(x: f32, score: f32) -> Detection {
        Detection { class: crate::detect::Class::Face, bbox: BBox::from_xywh(x, 100.0, 20.0, 26.0), score }
    }

    #[test]
    fn a_rechecked_hit_is_looked_at_with_its_head_and_shoulders_and_a_large_face_is_not_shrunk() {
        // A 20x26 face: grown 52 px each way, enlarged to about 64 px tall.
        let (crop, scale) = closer_crop(&BBox::from_xywh(200.0, 200.0, 20.0, 26.0), 1920, 1080, RECHECK_GROW, RECHECK_MIN_SCALE).unwrap();
        assert_eq!(crop, (148, 148, 124, 130));
        assert!((scale - 64.0 / 26.0).abs() < 1e-3, "{scale}");
        // A 100 px face is looked at at its own size.
        let (_, scale) = closer_crop(&BBox::from_xywh(600.0, 300.0, 80.0, 100.0), 1920, 1080, RECHECK_GROW, RECHECK_MIN_SCALE).unwrap();
        assert_eq!(scale, 1.0);
    }

    #[test]
    fn the_recheck_takes_the_best_face_on_the_hit_and_none_beside_it() {
        let hit = BBox::from_xywh(100.0, 100.0, 20.0, 26.0);
        assert_eq!(same_face(&hit, &[detection(104.0, 0.4), detection(98.0, 0.7)]), 0.7);
        assert_eq!(same_face(&hit, &[detection(125.0, 0.9)]), 0.0, "a face beside the hit is another");
        assert_eq!(same_face(&hit, &[]), 0.0);
    }
}
