//! The detector's looks at one frame: the whole frame, the regions that move and the dark
//! patches in them, the second model, and (`--closer`) tiles of the whole frame; their hits merged.

use std::collections::VecDeque;

use super::mosaic::on_mosaic;
use super::{Hit, Look};
use crate::detect::blazeface::{self, BlazeFace};
#[cfg(doc)]
use crate::detect::centerface::LocalContrast;
use crate::detect::centerface::{CenterFace, NMS_IOU};
use crate::detect::motion::{dark_in_glow, moving_regions, shade_outside_glow, CellImage};
use crate::detect::nms::suppress;
use crate::detect::{small_tiles, tiles, Region};
use crate::detect::Detection;
use crate::error::{Error, Result};
use crate::frame::Picture;

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

/// One frame's faces as one model sees them: the whole frame at full resolution, then moving
/// regions at 2× (and the dark patches in them, each in a face-sized crop of its own), then
/// (closer) tiles of the whole frame at 2×. Not yet merged.
pub(super) fn look(detector: &mut CenterFace, pic: &Picture<'_>, grey: bool, motion: Option<&MotionRegions>, closer: bool) -> Result<Vec<(Detection, Look)>> {
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
pub(super) fn second_look(second: &mut BlazeFace, pic: &Picture<'_>, motion: &MotionRegions) -> Result<Vec<Detection>> {
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
pub(super) fn second_hits(found: Vec<Hit>, first: &[Hit]) -> Vec<Hit> {
    let (mosaics, faces): (Vec<Hit>, Vec<Hit>) = found.into_iter().partition(on_mosaic);
    let as_detection = |h: &Hit| Detection { class: crate::detect::Class::Face, bbox: h.bbox, score: h.score };
    let faces = suppress(faces.iter().map(|h| (as_detection(h), *h)).collect(), |(d, _)| d, crate::detect::blazeface::NMS_IOU);
    let new = faces.into_iter().map(|(_, h)| h).filter(|h| first.iter().all(|f| f.bbox.iou(&h.bbox) < NMS_IOU));
    mosaics.into_iter().chain(new).collect()
}

/// Non-maximum suppression that keeps which look found each kept hit.
pub(super) fn merge(hits: Vec<(Detection, Look)>) -> Vec<(Detection, Look)> {
    suppress(hits, |(d, _)| d, NMS_IOU)
}

/// The closer look where the picture moves: the cell images of the last few frames, and whose
/// turn it is when the moving regions (or the dark patches in them) exceed their budget.
#[derive(Default)]
pub(super) struct MotionLook {
    history: VecDeque<CellImage>,
    turn: usize,
    /// Whose turn it is among the dark patches.
    dark_turn: usize,
    /// Look at dark patches in lit pictures too ([`LocalContrast::Dark`]), not only in glow.
    shade: bool,
    /// Source pixels looked at so far (moving regions).
    pub(super) looked: u64,
}

/// Where to look closer in one frame.
pub(super) struct MotionRegions {
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
    pub(super) fn new(shade: bool) -> Self {
        MotionLook { shade, ..MotionLook::default() }
    }

    /// The regions of `pic` to look at closely: what changed since [`MOTION_LAG`] frames ago
    /// (since the first frame, early on), cut into tiles, within [`MOTION_BUDGET`]; and the
    /// dark patches in it that redaction's planner gives crops of their own
    /// (`detect::Planner`), within [`DARK_BUDGET`]. A small backlit or shaded face of a busy
    /// street is found far more surely in its own crop than in its moving region's tile.
    pub(super) fn regions(&mut self, pic: &Picture<'_>, grey: bool) -> MotionRegions {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::BBox;

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
