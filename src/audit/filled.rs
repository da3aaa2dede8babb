//! What the redaction filled, from its sidecar (`audit --sidecar`): a hit whose box has its
//! middle (where a face's features are) in a region filled solid or with a mosaic is not a face
//! left visible, since the face's pixels are not left there. The detectors do take veilcam's own coarse mosaics of small
//! faces for faces (a mosaic of 2×2 blocks keeps a face's layout); with the sidecar the audit
//! sets those hits aside as `filled` instead of listing them, so a review sees what is left.
//!
//! Only irreversible fills count: a sidecar of a `--fill blur` run is refused, since a blurred
//! face can still be recognised. The sidecar must be of the audited video: its size is checked
//! when it is read and its frame count at the end ([`Filled::check_frames`]). And it is never
//! taken at its word: a hit is set aside only where the picture under it is a fill, flat within
//! the mosaic's blocks ([`MAX_RESIDUE`]). Found by hostile use: the sidecar of an earlier,
//! stronger run (or of another output of the same input) silenced every finding of a video whose
//! faces were all plainly visible.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::frame::Picture;
use crate::geometry::BBox;
use crate::redact::{mosaic_block, FillMode, Region, Shape};

use super::mosaic::luma_of;

/// The middle of a hit's box, as a share of its width and height: where a face's eyes, nose and
/// mouth lie. The detectors' boxes on veilcam's own small mosaics sit a few pixels off the
/// mosaic, so their rims reach past it (on the README demo, 56–79 % of the whole box lay in
/// the fill, 88–100 % of its middle).
pub const FILLED_MIDDLE: f32 = 0.6;
/// Share of that middle that must lie in filled regions for the hit to be set aside. A face
/// half covered (a mask over its mouth, eyes left) has about half its middle filled.
pub const FILLED_SHARE: f32 = 0.85;

/// When the sidecar says a hit lies in a fill, how its pixels there must look for the audit to
/// agree (`Residue::is_fill`). Each pixel is compared with the mean of its mosaic block (each
/// block's rim left out, where the encoder smears the steps between blocks), in levels of 255:
/// veilcam's fills are flat within each block, up to the encoder's noise, while a face is not.
/// At most [`FLAT`] on average is a fill whatever the blocks; else at most [`MAX_RESIDUE`], and
/// at most [`MAX_RESIDUE_SHARE`] of how far the blocks' means lie from each other (a dim night
/// face differs little within blocks, but as little between them).
///
/// Measured, hits on fills against hits on visible faces under the same sidecar: the README demo
/// (`faces.mp4`, its output at the defaults) 31 of its 34 hits on fills agreed to (the other
/// three, 9–12 px across, stay findings), none of 427 hits on the input's faces; the harness's
/// night clip, its mosaic control, every one of 97 labelled faces, and none of the same 97 on
/// the clip itself.
pub const MAX_RESIDUE: f64 = 6.0;
/// See [`MAX_RESIDUE`].
pub const FLAT: f64 = 1.0;
/// See [`MAX_RESIDUE`].
pub const MAX_RESIDUE_SHARE: f64 = 0.3;
/// The brightest mean luma of a solid fill's pixels (black is 16, or 0 in full range; the
/// encoder's ringing at the box's edges lifts it).
pub const SOLID_MAX_LUMA: f64 = 48.0;

/// Points across (and down) a hit's box at which "filled" is tested.
const SAMPLES: usize = 12;

/// The part of a sidecar this reads; other fields are ignored.
#[derive(Deserialize)]
struct Sidecar {
    width: u32,
    height: u32,
    fill: Option<FillMode>,
    frames: Vec<SidecarFrame>,
}

#[derive(Deserialize)]
struct SidecarFrame {
    index: u64,
    #[serde(default)]
    obscured: Vec<SidecarRegion>,
    #[serde(default)]
    fully_obscured: bool,
}

#[derive(Deserialize)]
struct SidecarRegion {
    #[serde(rename = "box")]
    bbox: SidecarBox,
    shape: Shape,
}

#[derive(Deserialize)]
struct SidecarBox {
    x1: f32,
    y1: f32,
    x2: f32,
    y2: f32,
}

/// What was filled, frame by frame.
enum FrameFill {
    Whole,
    Regions(Vec<(BBox, Shape)>),
}

/// The regions a redaction filled irreversibly, frame by frame, from its sidecar.
pub struct Filled {
    path: PathBuf,
    /// Solid or mosaic: how the regions were filled.
    fill: FillMode,
    frames: u64,
    by_frame: BTreeMap<u64, FrameFill>,
}

impl Filled {
    /// Reads `path`, the sidecar of the redaction that wrote a `width`×`height` video.
    pub fn read(path: &Path, width: u32, height: u32) -> Result<Self> {
        let bad = |why: String| Error::Settings(format!("--sidecar {}: {why}", path.display()));
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let sidecar: Sidecar = serde_json::from_reader(std::io::BufReader::new(file))
            .map_err(|e| bad(format!("not a sidecar of veilcam redact: {e}")))?;
        let fill = match sidecar.fill {
            Some(fill @ (FillMode::Solid | FillMode::Mosaic)) => fill,
            Some(FillMode::Blur) => return Err(bad("its run filled with blur, which can leave a face recognisable; only solid and mosaic fills are taken as hiding a face".into())),
            None => return Err(bad("it does not say how its regions were filled (written by an older veilcam); redact again to get one that does".into())),
        };
        if (sidecar.width, sidecar.height) != (width, height) {
            return Err(bad(format!("it is of a {}×{} video, the audited one is {width}×{height}", sidecar.width, sidecar.height)));
        }
        let frames = sidecar.frames.len() as u64;
        let by_frame = sidecar
            .frames
            .into_iter()
            .map(|f| {
                let fill = match f.fully_obscured {
                    true => FrameFill::Whole,
                    false => FrameFill::Regions(f.obscured.into_iter().map(|r| (BBox::new(r.bbox.x1, r.bbox.y1, r.bbox.x2, r.bbox.y2), r.shape)).collect()),
                };
                (f.index, fill)
            })
            .collect();
        Ok(Filled { path: path.to_path_buf(), fill, frames, by_frame })
    }

    /// Whether at least [`FILLED_SHARE`] of the middle of `b` ([`FILLED_MIDDLE`]) lies in what
    /// was filled in frame `index`, and `pic`, that frame, looks filled where `b` lies in the
    /// fill (by `Residue::is_fill`: [`MAX_RESIDUE`]).
    pub fn covers(&self, index: u64, b: &BBox, pic: &Picture<'_>) -> bool {
        if b.is_empty() {
            return false;
        }
        let middle = b.scaled(FILLED_MIDDLE);
        match self.by_frame.get(&index) {
            Some(FrameFill::Whole) => {
                let whole = (BBox::new(0.0, 0.0, pic.width as f32, pic.height as f32), Shape::Box);
                Residue::of(pic, b, &[whole]).is_some_and(|r| r.is_fill(FillMode::Solid))
            }
            Some(FrameFill::Regions(regions)) if !regions.is_empty() => {
                filled_share(&middle, regions) >= FILLED_SHARE && Residue::of(pic, b, regions).is_some_and(|r| r.is_fill(self.fill))
            }
            _ => false,
        }
    }

    /// Refuses a sidecar of a video with another number of frames than the audited one.
    pub fn check_frames(&self, audited: u64) -> Result<()> {
        if self.frames == audited {
            return Ok(());
        }
        Err(Error::Settings(format!(
            "--sidecar {}: it records {} frames, the audited video has {audited}; give the sidecar of the run that wrote it",
            self.path.display(),
            self.frames
        )))
    }
}

/// How the luma of the pixels of a hit that lie in a fill departs from the fill's blocks.
#[derive(Clone, Copy, Debug)]
struct Residue {
    /// Mean distance of a pixel from its block's mean.
    within: f64,
    /// Mean distance of a pixel's block's mean from the mean of all.
    between: f64,
    /// The mean of all.
    mean: f64,
}

impl Residue {
    /// The residue of the pixels of `b` that lie in `regions`, each against the mosaic block it
    /// lies in (the first region's that holds it: blocks of [`mosaic_block`] from its box's top
    /// left corner, as the redaction laid them), leaving out each block's outer row and column.
    /// `None` when no such pixel is filled.
    fn of(pic: &Picture<'_>, b: &BBox, regions: &[(BBox, Shape)]) -> Option<Residue> {
        let (x0, y0, _, _) = b.pixels(pic.width, pic.height);
        let (luma, w, _) = luma_of(pic, b);
        let cells: Vec<((usize, usize, usize), f64)> = luma
            .iter()
            .enumerate()
            .filter_map(|(i, &value)| {
                let (x, y) = (x0 + i % w, y0 + i / w);
                let (n, (r, _)) = regions.iter().enumerate().find(|(_, &(bbox, shape))| Region { bbox, shape }.contains(x as f32 + 0.5, y as f32 + 0.5))?;
                let (block, ox, oy) = (mosaic_block(r), r.x1.floor().max(0.0) as usize, r.y1.floor().max(0.0) as usize);
                let (dx, dy) = (x.saturating_sub(ox), y.saturating_sub(oy));
                let inner = |d: usize| (1..block - 1).contains(&(d % block));
                (inner(dx) && inner(dy)).then_some(((n, dx / block, dy / block), f64::from(value)))
            })
            .collect();
        if cells.is_empty() {
            return None;
        }
        let mut sums: BTreeMap<(usize, usize, usize), (f64, f64)> = BTreeMap::new();
        for &(cell, value) in &cells {
            let sum = sums.entry(cell).or_default();
            *sum = (sum.0 + value, sum.1 + 1.0);
        }
        let block_mean = |cell: &(usize, usize, usize)| sums[cell].0 / sums[cell].1;
        let count = cells.len() as f64;
        let mean = cells.iter().map(|(_, v)| v).sum::<f64>() / count;
        Some(Residue {
            within: cells.iter().map(|(cell, v)| (v - block_mean(cell)).abs()).sum::<f64>() / count,
            between: cells.iter().map(|(cell, _)| (block_mean(cell) - mean).abs()).sum::<f64>() / count,
            mean,
        })
    }

    /// Whether these pixels look like a fill of `mode` ([`MAX_RESIDUE`]): a mosaic's blocks
    /// flat, a solid fill dark and flat (the encoder rings at a black box's edges, and a solid
    /// fill has no blocks to differ from each other).
    fn is_fill(self, mode: FillMode) -> bool {
        match mode {
            FillMode::Solid => self.mean <= SOLID_MAX_LUMA && self.within <= MAX_RESIDUE,
            _ => self.within <= FLAT || (self.within <= MAX_RESIDUE && self.within <= MAX_RESIDUE_SHARE * (self.between + 0.5)),
        }
    }
}

/// The share of `b` (sampled on a grid of points) inside any of `regions`.
fn filled_share(b: &BBox, regions: &[(BBox, Shape)]) -> f32 {
    let at = |i: usize, from: f32, size: f32| from + size * (i as f32 + 0.5) / SAMPLES as f32;
    let inside = (0..SAMPLES)
        .flat_map(|i| (0..SAMPLES).map(move |j| (at(i, b.x1, b.width()), at(j, b.y1, b.height()))))
        .filter(|&(x, y)| regions.iter().any(|&(bbox, shape)| Region { bbox, shape }.contains(x, y)))
        .count();
    inside as f32 / (SAMPLES * SAMPLES) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sidecar(dir: &Path, fill: &str, frames: &str) -> PathBuf {
        let path = dir.join("s.json");
        let body = format!(r#"{{"veilcam":"0","input":"x","width":100,"height":80,"fps_n":25,"fps_d":1{fill},"frames":[{frames}],"damage":{{}}}}"#);
        std::fs::write(&path, body).unwrap();
        path
    }

    const TWO_FRAMES: &str = r#"{"index":0,"obscured":[{"track":1,"class":"face","box":{"x1":10,"y1":10,"x2":50,"y2":60},"shape":"ellipse","why":"face"}]},
{"index":1,"obscured":[],"fully_obscured":true}"#;

    /// A 100×80 RGB picture of fine texture (a face's detail, as far as a fill is concerned).
    fn textured() -> Vec<u8> {
        (0..100 * 80 * 3).map(|i| ((i / 3) * 37 % 251 + i % 3 * 50) as u8).collect()
    }

    /// `textured()` with frame 0's region of [`TWO_FRAMES`] filled by veilcam's own `mode`.
    fn filled_by(mode: FillMode) -> Vec<u8> {
        let mut pixels = textured();
        let mut pic = crate::frame::PictureMut::from_planes(crate::frame::Layout::Rgb, 100, 80, [(&mut pixels[..], 300)]);
        let region = crate::redact::Region { bbox: BBox::new(10.0, 10.0, 50.0, 60.0), shape: Shape::Ellipse };
        crate::redact::redact(&mut pic, &[region], mode);
        pixels
    }

    fn view(pixels: &[u8]) -> Picture<'_> {
        Picture::from_planes(crate::frame::Layout::Rgb, 100, 80, [(pixels, 300)])
    }

    #[test]
    fn a_hit_inside_a_filled_ellipse_is_covered_and_one_reaching_past_it_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let filled = Filled::read(&sidecar(dir.path(), r#","fill":"mosaic""#, TWO_FRAMES), 100, 80).unwrap();
        let pixels = filled_by(FillMode::Mosaic);
        let pic = view(&pixels);
        assert!(filled.covers(0, &BBox::new(18.0, 18.0, 42.0, 52.0), &pic), "well inside the ellipse");
        assert!(filled.covers(0, &BBox::new(14.0, 15.0, 50.0, 59.0), &pic), "a rim outside, the middle inside");
        assert!(!filled.covers(0, &BBox::new(30.0, 20.0, 70.0, 50.0), &pic), "half outside: a face beside the mask");
        assert!(!filled.covers(0, &BBox::new(10.0, -10.0, 50.0, 40.0), &pic), "the lower half covered, the eyes not");
        let black = vec![0u8; 100 * 80 * 3];
        assert!(filled.covers(1, &BBox::new(0.0, 0.0, 5.0, 5.0), &view(&black)), "a frame obscured whole");
        assert!(!filled.covers(2, &BBox::new(18.0, 18.0, 42.0, 52.0), &pic), "a frame the sidecar does not list");
        assert!(filled.check_frames(2).is_ok());
        assert!(filled.check_frames(3).unwrap_err().to_string().contains("records 2 frames, the audited video has 3"));
    }

    /// Found by hostile use: the sidecar of another run of the same input, given beside an
    /// output whose faces were left visible, set every hit aside. Only a fill is taken for one.
    #[test]
    fn a_hit_where_the_sidecar_says_filled_but_the_picture_is_not_stays_a_finding() {
        let dir = tempfile::tempdir().unwrap();
        let filled = Filled::read(&sidecar(dir.path(), r#","fill":"mosaic""#, TWO_FRAMES), 100, 80).unwrap();
        let middle = BBox::new(18.0, 18.0, 42.0, 52.0);
        for mode in [FillMode::Mosaic, FillMode::Solid] {
            assert!(filled.covers(0, &middle, &view(&filled_by(mode))), "{mode:?}");
        }
        let untouched = textured();
        assert!(!filled.covers(0, &middle, &view(&untouched)), "the picture is not filled there");
        assert!(!filled.covers(1, &BBox::new(0.0, 0.0, 5.0, 5.0), &view(&untouched)), "nor obscured whole");
    }

    #[test]
    fn a_sidecar_of_a_blur_run_another_size_or_no_fill_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let message = |fill: &str, w: u32| Filled::read(&sidecar(dir.path(), fill, TWO_FRAMES), w, 80).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(message(r#","fill":"blur""#, 100).contains("blur, which can leave a face recognisable"));
        assert!(message("", 100).contains("does not say how its regions were filled"));
        assert!(message(r#","fill":"solid""#, 200).contains("100×80 video, the audited one is 200×80"));
        assert!(message(r#","fill":"solid""#, 100).is_empty());
    }
}
