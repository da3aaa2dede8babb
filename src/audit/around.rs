//! Looking again around a finding whose face was lost: closer, and at a lower score, in the
//! few frames after its latest hit. The detector of this closer look also rechecks each
//! finding's own hits ([`recheck`](super::recheck)).

use super::mosaic::on_mosaic;
use super::findings::{continuation, JOIN_IOU};
use super::{to_hit, AuditSettings, Finding, Hit, Look};
use crate::detect::centerface::{CenterFace, CenterFaceSettings};
use crate::error::{Error, Result};
use crate::frame::Picture;
use crate::geometry::BBox;

/// The look around a lost finding counts hits from this share of the threshold (0.3 at the
/// default 0.5): lower than the audit's own, because it looks only where a face just was.
pub const AROUND_SHARE: f32 = 0.6;
/// It looks in the frames up to this many after the finding's latest hit (detected, around or
/// followed); each hit it finds starts the count again.
pub const AROUND_GAP: u64 = 3;
/// The last box is grown by this many times its larger side on each side.
const AROUND_GROW: f32 = 1.0;
/// The crop is enlarged so the face is about this many pixels tall (from a look's least
/// enlargement, 3× at most).
const CLOSER_FACE_PX: f32 = 64.0;
const AROUND_MIN_SCALE: f32 = 2.0;
const CLOSER_MAX_SCALE: f32 = 3.0;
/// The enlarged crop is at most this many pixels across (a large face is enlarged less).
const CLOSER_MAX_INPUT: f32 = 960.0;

/// The score from which the look around a lost finding counts a hit, for a threshold.
pub fn around_threshold(threshold: f32) -> f32 {
    threshold * AROUND_SHARE
}

/// The closer looks: a detector of their own, at [`around_threshold`], run on enlarged crops —
/// around each finding with no hit in the frame whose latest hit is at most [`AROUND_GAP`]
/// frames back, and around each finding's own hits until one is seen again
/// ([`recheck`](super::recheck)).
pub(super) struct CloserLook {
    pub(super) detector: CenterFace,
}

impl CloserLook {
    pub(super) fn new(settings: &AuditSettings) -> Result<Self> {
        let face = CenterFaceSettings {
            threshold: around_threshold(settings.threshold),
            // Only crops are looked at; their enlargement is the look's own.
            detect_width: crate::cli::DEFAULT_DETECT_WIDTH,
            low_light: false,
            local_contrast: settings.local_contrast,
        };
        Ok(CloserLook { detector: CenterFace::load(&settings.ort_lib, &settings.model, face, settings.ort_threads)? })
    }

    /// Looks around every finding lost in frame `index` (joined already: its detected hits are
    /// the findings'); a face found there is added to its finding as a hit with look `around`.
    pub(super) fn around(&mut self, findings: &mut [Finding], pic: &Picture<'_>, index: u64, seconds: Option<f64>) -> Result<()> {
        let lost: Vec<usize> = (0..findings.len()).filter(|&i| around_due(&findings[i], index)).collect();
        if lost.is_empty() {
            return Ok(());
        }
        let grey = crate::detect::preprocess::is_grey(pic);
        let mut taken: Vec<BBox> = findings.iter().flat_map(|f| f.hits.iter().rev().take_while(|h| h.frame == index).map(|h| h.bbox)).collect();
        for i in lost {
            let last = findings[i].followed_to.1;
            let Some((crop, scale)) = closer_crop(&last, pic.width, pic.height, AROUND_GROW, AROUND_MIN_SCALE) else { continue };
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

/// The crop `(x, y, w, h)` around `last` (grown by `grow` times its larger side on each side,
/// within the picture) and its enlargement (from `min_scale` up, so the face is about
/// [`CLOSER_FACE_PX`] tall); `None` when nothing of it is in the picture.
pub(super) fn closer_crop(last: &BBox, width: usize, height: usize, grow: f32, min_scale: f32) -> Option<((usize, usize, usize, usize), f64)> {
    let grow = last.width().max(last.height()) * grow;
    let x0 = (last.x1 - grow).max(0.0) as usize;
    let y0 = (last.y1 - grow).max(0.0) as usize;
    let x1 = ((last.x2 + grow).ceil().max(0.0) as usize).min(width);
    let y1 = ((last.y2 + grow).ceil().max(0.0) as usize).min(height);
    if x1 <= x0 || y1 <= y0 {
        return None;
    }
    let (w, h) = (x1 - x0, y1 - y0);
    let scale = (CLOSER_FACE_PX / last.height().max(1.0)).clamp(min_scale, CLOSER_MAX_SCALE).min(CLOSER_MAX_INPUT / w.max(h) as f32).max(1.0);
    Some(((x0, y0, w, h), scale as f64))
}

/// Of the look's `candidates`, the one that continues the finding last at `last` best (as
/// joining would), is no mosaic and is not where another finding's hit of the frame is.
fn around_pick(last: &BBox, candidates: &[Hit], taken: &[BBox]) -> Option<Hit> {
    candidates
        .iter()
        .filter(|h| !on_mosaic(h) && !taken.iter().any(|t| t.iou(&h.bbox) >= JOIN_IOU))
        .filter_map(|h| continuation(last, &h.bbox).map(|c| (c, h)))
        .max_by(|a, b| a.0.total_cmp(&b.0).then(a.1.score.total_cmp(&b.1.score)))
        .map(|(_, h)| *h)
}

#[cfg(test)]
mod tests {
    use super::super::findings::tests::finding;
    use super::*;

    #[test]
    fn the_look_around_a_lost_finding_crops_its_box_grown_by_a_side_and_enlarges_small_faces_more() {
        // A 20x26 face: grown 26 px each way, enlarged to about 64 px tall (2.46x).
        let (crop, scale) = closer_crop(&BBox::from_xywh(100.0, 100.0, 20.0, 26.0), 1920, 1080, AROUND_GROW, AROUND_MIN_SCALE).unwrap();
        assert_eq!(crop, (74, 74, 72, 78));
        assert!((scale - 64.0 / 26.0).abs() < 1e-3, "{scale}");
        // Small faces 3x at most, large ones 2x at least, within the picture and the input cap.
        assert_eq!(closer_crop(&BBox::from_xywh(0.0, 0.0, 10.0, 12.0), 1920, 1080, AROUND_GROW, AROUND_MIN_SCALE).unwrap(), ((0, 0, 22, 24), 3.0));
        let (crop, scale) = closer_crop(&BBox::from_xywh(1800.0, 900.0, 200.0, 240.0), 1920, 1080, AROUND_GROW, AROUND_MIN_SCALE).unwrap();
        assert_eq!((crop.0 + crop.2, crop.1 + crop.3), (1920, 1080));
        assert!(scale >= 1.0 && (crop.2.max(crop.3) as f64 * scale) <= CLOSER_MAX_INPUT as f64 + 1.0, "{crop:?} {scale}");
        assert!(closer_crop(&BBox::from_xywh(3000.0, 100.0, 20.0, 26.0), 1920, 1080, AROUND_GROW, AROUND_MIN_SCALE).is_none(), "off the picture");
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
        let hit = |x: f32, score: f32, mosaic: f32| Hit { frame: 12, bbox: BBox::from_xywh(x, 100.0, 20.0, 26.0), score, look: Look::Around, mosaic, ncc: None, recheck: None, flat: 0.0 };
        // The nearer of two faces, though weaker; a face beyond reach is none.
        assert_eq!(around_pick(&last, &[hit(130.0, 0.6, 0.2), hit(104.0, 0.35, 0.2)], &[]).unwrap().bbox.x1, 104.0);
        assert!(around_pick(&last, &[hit(160.0, 0.9, 0.2)], &[]).is_none());
        assert!(around_pick(&last, &[hit(104.0, 0.5, 0.7)], &[]).is_none(), "a mosaic");
        assert!(around_pick(&last, &[hit(104.0, 0.5, 0.2)], &[BBox::from_xywh(103.0, 100.0, 20.0, 26.0)]).is_none(), "another finding's face");
    }
}
