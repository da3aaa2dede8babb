//! The walkers scene: faces composited onto the heads of the people actually walking in the
//! background footage (vtest.avi, a static camera), so that faces sit on bodies, in a busy
//! scene, at the sizes a CCTV camera sees them (20–35 px at 1080p).
//!
//! The heads are found without veilcam's detectors (using them would measure veilcam against
//! itself):
//!
//! 1. **Background**: the per-pixel temporal median of the luma over every
//!    [`MEDIAN_EVERY`]-th frame (walkers keep moving, so each pixel shows the ground most of
//!    the time).
//! 2. **Foreground blobs** per frame: pixels differing from the background by more than
//!    [`FOREGROUND_THRESHOLD`] levels, counted in [`CELL`]-pixel cells, closed (dilated, then
//!    eroded) and grouped into 4-connected blobs; blobs shorter than [`MIN_PERSON_HEIGHT`] are
//!    dropped. A blob wider than one walker ([`WALKER_ASPECT`] of its height) is cut into that
//!    many equal columns (people walking side by side).
//! 3. **Head** of each blob (or column): the topmost foreground row, a head height of
//!    [`HEAD_SHARE`] of the blob's height, centred on the mean column of the foreground pixels
//!    in that head band.
//! 4. **Tracks**: heads linked frame to frame (nearest predicted position, gaps of up to
//!    [`MAX_GAP`] frames bridged), tracks shorter than [`MIN_TRACK_FRAMES`] dropped, positions
//!    smoothed over ±[`SMOOTH`] frames, the size taken as the median of each half of the track.
//!
//! Limits: a walker standing still fades into the median background and loses its track;
//! shadows join the blob at the feet (the head, at the top, is unaffected); people crossing
//! each other may swap or merge tracks for a few frames; a person hidden behind the lamp post
//! is cut in two blobs (the lower one, too short, is dropped). The face is drawn where the
//! track says, a smooth path through the heads of the 10 fps background, so between two
//! background frames it may lead or trail its head by a few pixels.

use std::path::Path;

use super::rng::SplitMix64;
use super::scene::{SceneSettings, Track};
use super::{EvalError, Result};
use veilcam::frame::Picture;
use veilcam::source::file::FileSource;
use veilcam::source::FrameSource;

/// Every how many background frames one goes into the median.
pub const MEDIAN_EVERY: u64 = 2;
/// Luma difference from the background that makes a pixel foreground.
pub const FOREGROUND_THRESHOLD: u8 = 28;
/// Side of the cells foreground is counted in (source pixels) …
pub const CELL: usize = 4;
/// … and the foreground pixels a cell needs.
const CELL_MIN: usize = 5;
/// Shortest blob taken for a walker (source pixels; walkers on vtest.avi are 60–130 px tall).
pub const MIN_PERSON_HEIGHT: usize = 40;
/// Width of one walker's blob as a share of its height (wider blobs are several walkers).
pub const WALKER_ASPECT: f64 = 0.5;
/// Head height as a share of the walker's height.
pub const HEAD_SHARE: f64 = 1.0 / 7.5;
/// Frames a track may miss and continue.
pub const MAX_GAP: usize = 3;
/// Shortest track kept (frames of the background).
pub const MIN_TRACK_FRAMES: usize = 10;
/// Positions are averaged over this many frames either side.
pub const SMOOTH: usize = 3;
/// Face height drawn (output pixels): the head's height divided by this …
const HEAD_PER_FACE: f64 = 1.2;
/// … kept within these sizes (the CCTV range of issue 13).
pub const FACE_HEIGHT: (f64, f64) = (20.0, 35.0);
/// The face centre lies this share of the head height below the head centre: above it, as
/// the blob's top row misses the thin edge of the hair (a face drawn at the head centre
/// looked low, on the chin, against the footage).
const FACE_DROP: f64 = -0.15;

/// A head found in one frame, in source pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Head {
    pub frame: usize,
    pub cx: f64,
    pub cy: f64,
    /// Head height.
    pub size: f64,
}

/// A luma picture, packed.
#[derive(Clone, Debug)]
pub struct Luma {
    pub width: usize,
    pub height: usize,
    pub px: Vec<u8>,
}

impl Luma {
    fn of(pic: &Picture<'_>) -> Luma {
        let plane = &pic.planes[0];
        let mut px = Vec::with_capacity(plane.width * plane.height);
        for y in 0..plane.height {
            px.extend_from_slice(&plane.row(y)[..plane.width]);
        }
        Luma { width: plane.width, height: plane.height, px }
    }
}

/// Plans the walker tracks of a clip: heads found in `background`, mapped to the output frame
/// (scaled to cover it and centre-cropped, as the generator scales the footage).
pub fn plan(background: &Path, s: &SceneSettings) -> Result<Vec<Track>> {
    let (median, fps) = median_background(background)?;
    let mut source = FileSource::open(background)?;
    let mut heads = Vec::new();
    let last = (s.seconds * fps).ceil() as usize;
    let mut index = 0usize;
    while index <= last {
        let Some(frame) = source.next_frame()? else { break };
        let luma = frame.with_picture(Luma::of)?;
        heads.extend(find_heads(&median, &luma, index));
        index += 1;
    }
    let tracks = link(&heads);
    let mut rng = SplitMix64::new(s.seed ^ 0x7761_6C6B);
    let map = Mapping::new(median.width, median.height, s.width as usize, s.height as usize);
    Ok(tracks.iter().enumerate().map(|(id, t)| to_track(id as u32, t, fps, &map, s.photos, &mut rng)).collect())
}

/// The temporal median of the background's luma and its frame rate.
fn median_background(path: &Path) -> Result<(Luma, f64)> {
    let mut source = FileSource::open(path)?;
    let fps = source.info().fps();
    if fps.numer() <= 0 || fps.denom() <= 0 {
        return Err(EvalError::Settings(format!("{}: background has no frame rate", path.display())));
    }
    let fps = fps.numer() as f64 / fps.denom() as f64;
    let mut samples: Vec<Luma> = Vec::new();
    let mut i = 0u64;
    while let Some(frame) = source.next_frame()? {
        if i.is_multiple_of(MEDIAN_EVERY) {
            samples.push(frame.with_picture(Luma::of)?);
        }
        i += 1;
    }
    let Some(first) = samples.first() else { return Err(EvalError::Settings(format!("{}: no frames", path.display()))) };
    let (w, h) = (first.width, first.height);
    let mut column = vec![0u8; samples.len()];
    let mut px = vec![0u8; w * h];
    for (p, out) in px.iter_mut().enumerate() {
        for (c, s) in column.iter_mut().zip(&samples) {
            *c = s.px[p];
        }
        let mid = column.len() / 2;
        *out = *column.select_nth_unstable(mid).1;
    }
    Ok((Luma { width: w, height: h, px }, fps))
}

/// The heads of the walkers in `frame` (frame number `index`) against `background`.
pub fn find_heads(background: &Luma, frame: &Luma, index: usize) -> Vec<Head> {
    let (w, h) = (frame.width, frame.height);
    let fg = |x: usize, y: usize| frame.px[y * w + x].abs_diff(background.px[y * w + x]) > FOREGROUND_THRESHOLD;
    let (gw, gh) = (w / CELL, h / CELL);
    let mut cells = vec![false; gw * gh];
    for cy in 0..gh {
        for cx in 0..gw {
            let n = (0..CELL).flat_map(|dy| (0..CELL).map(move |dx| (cx * CELL + dx, cy * CELL + dy))).filter(|&(x, y)| fg(x, y)).count();
            cells[cy * gw + cx] = n >= CELL_MIN;
        }
    }
    let cells = erode(&dilate(&cells, gw, gh), gw, gh);
    let mut heads = Vec::new();
    for blob in blobs(&cells, gw, gh) {
        let (x1, y1, x2, y2) = (blob.x1 * CELL, blob.y1 * CELL, (blob.x2 + 1) * CELL, (blob.y2 + 1) * CELL);
        let height = y2 - y1;
        if height < MIN_PERSON_HEIGHT {
            continue;
        }
        let in_blob = |x: usize, y: usize| blob.cells.contains(&(x / CELL, y / CELL)) && fg(x, y);
        let columns = (((x2 - x1) as f64 / (WALKER_ASPECT * height as f64)).round() as usize).max(1);
        let step = (x2 - x1) as f64 / columns as f64;
        for c in 0..columns {
            let (ca, cb) = (x1 + (c as f64 * step) as usize, (x1 + ((c + 1) as f64 * step) as usize).min(x2));
            if let Some(head) = head_of(&in_blob, ca, cb, y1, y2, index) {
                heads.push(head);
            }
        }
    }
    heads
}

/// The head at the top of the foreground between columns `xa..xb` and rows `y1..y2`.
fn head_of(fg: &impl Fn(usize, usize) -> bool, xa: usize, xb: usize, y1: usize, y2: usize, index: usize) -> Option<Head> {
    let row_count = |y: usize| (xa..xb).filter(|&x| fg(x, y)).count();
    let top = (y1..y2).find(|&y| row_count(y) >= 2)?;
    let bottom = (top..y2).rev().find(|&y| row_count(y) >= 2)?;
    let height = bottom + 1 - top;
    if height < MIN_PERSON_HEIGHT {
        return None;
    }
    let size = height as f64 * HEAD_SHARE;
    let band = top..(top + size.ceil() as usize).min(y2);
    let (mut sum, mut n) = (0.0, 0usize);
    for y in band {
        for x in xa..xb {
            if fg(x, y) {
                sum += x as f64 + 0.5;
                n += 1;
            }
        }
    }
    (n >= 3).then(|| Head { frame: index, cx: sum / n as f64, cy: top as f64 + size / 2.0, size })
}

/// A 4-connected group of cells and its bounding box (in cells).
struct Blob {
    cells: std::collections::HashSet<(usize, usize)>,
    x1: usize,
    y1: usize,
    x2: usize,
    y2: usize,
}

fn blobs(cells: &[bool], gw: usize, gh: usize) -> Vec<Blob> {
    let mut seen = vec![false; cells.len()];
    let mut out = Vec::new();
    for start in 0..cells.len() {
        if !cells[start] || seen[start] {
            continue;
        }
        seen[start] = true;
        let mut stack = vec![start];
        let mut blob = Blob { cells: Default::default(), x1: usize::MAX, y1: usize::MAX, x2: 0, y2: 0 };
        while let Some(i) = stack.pop() {
            let (x, y) = (i % gw, i / gw);
            blob.cells.insert((x, y));
            (blob.x1, blob.y1, blob.x2, blob.y2) = (blob.x1.min(x), blob.y1.min(y), blob.x2.max(x), blob.y2.max(y));
            let mut visit = |j: usize| {
                if cells[j] && !seen[j] {
                    seen[j] = true;
                    stack.push(j);
                }
            };
            if x > 0 {
                visit(i - 1);
            }
            if x + 1 < gw {
                visit(i + 1);
            }
            if y > 0 {
                visit(i - gw);
            }
            if y + 1 < gh {
                visit(i + gw);
            }
        }
        out.push(blob);
    }
    out
}

fn dilate(cells: &[bool], gw: usize, gh: usize) -> Vec<bool> {
    neighbourhood(cells, gw, gh, true)
}

fn erode(cells: &[bool], gw: usize, gh: usize) -> Vec<bool> {
    neighbourhood(cells, gw, gh, false)
}

/// 3×3 dilation (`any`) or erosion (every in-frame neighbour set).
fn neighbourhood(cells: &[bool], gw: usize, gh: usize, any: bool) -> Vec<bool> {
    let mut out = vec![false; cells.len()];
    for y in 0..gh {
        for x in 0..gw {
            let mut around = (y.saturating_sub(1)..(y + 2).min(gh)).flat_map(|ny| (x.saturating_sub(1)..(x + 2).min(gw)).map(move |nx| ny * gw + nx));
            out[y * gw + x] = if any { around.any(|j| cells[j]) } else { around.all(|j| cells[j]) };
        }
    }
    out
}

/// Links heads into tracks (each a list of heads in frame order), shortest dropped.
pub fn link(heads: &[Head]) -> Vec<Vec<Head>> {
    let mut done: Vec<Vec<Head>> = Vec::new();
    let mut active: Vec<Vec<Head>> = Vec::new();
    let last_frame = heads.iter().map(|h| h.frame).max().unwrap_or(0);
    for frame in 0..=last_frame {
        let found: Vec<&Head> = heads.iter().filter(|h| h.frame == frame).collect();
        // Every (track, head) pair near enough, nearest first.
        let mut pairs = Vec::new();
        for (t, track) in active.iter().enumerate() {
            let (px, py) = predict(track, frame);
            let gate = (track.last().expect("tracks are never empty").size * 1.2).max(8.0);
            for (k, h) in found.iter().enumerate() {
                let d = ((h.cx - px).powi(2) + (h.cy - py).powi(2)).sqrt();
                if d < gate {
                    pairs.push((d, t, k));
                }
            }
        }
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (mut track_used, mut head_used) = (vec![false; active.len()], vec![false; found.len()]);
        for (_, t, k) in pairs {
            if !track_used[t] && !head_used[k] {
                track_used[t] = true;
                head_used[k] = true;
                active[t].push(*found[k]);
            }
        }
        for (k, h) in found.iter().enumerate() {
            if !head_used[k] {
                active.push(vec![**h]);
            }
        }
        let (ended, alive): (Vec<_>, Vec<_>) =
            active.into_iter().partition(|t| t.last().expect("tracks are never empty").frame + MAX_GAP < frame);
        done.extend(ended);
        active = alive;
    }
    done.extend(active);
    done.retain(|t| t.last().expect("non-empty").frame - t[0].frame + 1 >= MIN_TRACK_FRAMES);
    done.sort_by_key(|t| (t[0].frame, (t[0].cx * 10.0) as i64));
    done
}

/// Where `track` is expected at `frame`: the last position moved on at the last velocity.
fn predict(track: &[Head], frame: usize) -> (f64, f64) {
    let last = track[track.len() - 1];
    let Some(prev) = track.len().checked_sub(2).map(|i| track[i]) else { return (last.cx, last.cy) };
    let dt = (last.frame - prev.frame) as f64;
    let ahead = (frame - last.frame) as f64;
    (last.cx + (last.cx - prev.cx) / dt * ahead, last.cy + (last.cy - prev.cy) / dt * ahead)
}

/// Every frame of a track from its first to its last head, gaps interpolated, positions
/// averaged over ±[`SMOOTH`] frames.
pub fn smooth(track: &[Head]) -> Vec<Head> {
    let mut filled: Vec<Head> = Vec::new();
    for pair in track.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        let n = b.frame - a.frame;
        for k in 0..n {
            let f = k as f64 / n as f64;
            filled.push(Head { frame: a.frame + k, cx: a.cx + (b.cx - a.cx) * f, cy: a.cy + (b.cy - a.cy) * f, size: a.size + (b.size - a.size) * f });
        }
    }
    filled.push(track[track.len() - 1]);
    (0..filled.len())
        .map(|i| {
            let window = &filled[i.saturating_sub(SMOOTH)..(i + SMOOTH + 1).min(filled.len())];
            let n = window.len() as f64;
            Head {
                frame: filled[i].frame,
                cx: window.iter().map(|h| h.cx).sum::<f64>() / n,
                cy: window.iter().map(|h| h.cy).sum::<f64>() / n,
                size: filled[i].size,
            }
        })
        .collect()
}

/// From source pixels to output pixels, as the generator's cover-and-crop upscaler maps them.
struct Mapping {
    scale: f64,
    crop: (f64, f64),
}

impl Mapping {
    fn new(src_w: usize, src_h: usize, dst_w: usize, dst_h: usize) -> Self {
        let scale = (dst_w as f64 / src_w as f64).max(dst_h as f64 / src_h as f64);
        Mapping { scale, crop: ((src_w as f64 * scale - dst_w as f64) / 2.0, (src_h as f64 * scale - dst_h as f64) / 2.0) }
    }

    fn point(&self, x: f64, y: f64) -> (f64, f64) {
        (x * self.scale - self.crop.0, y * self.scale - self.crop.1)
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The generator's track for one walker: the face centred a little below the head centre,
/// sized from the head, one photo per walker in turn.
fn to_track(id: u32, heads: &[Head], fps: f64, map: &Mapping, photos: usize, rng: &mut SplitMix64) -> Track {
    let path = smooth(heads);
    let half = path.len() / 2;
    let face_h = |part: &[Head]| (median(part.iter().map(|h| h.size).collect()) * map.scale / HEAD_PER_FACE).clamp(FACE_HEIGHT.0, FACE_HEIGHT.1);
    let (h0, h1) = (face_h(&path[..half.max(1)]), face_h(&path[half..]));
    let keys: Vec<(f64, f64)> = path.iter().map(|h| map.point(h.cx, h.cy + h.size * FACE_DROP)).collect();
    let (first, last) = (path[0].frame as f64, path[path.len() - 1].frame as f64);
    let key_times = path.iter().map(|h| (h.frame as f64 - first) / (last - first)).collect();
    Track::along(id, id as usize % photos, rng.chance(0.5), (first / fps, last / fps), keys, key_times, (h0, h1), rng.range(0.75, 1.05))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A grey ground with dark figures (`(x, top, width, height)`) on it.
    fn picture(figures: &[(usize, usize, usize, usize)]) -> Luma {
        let (w, h) = (320, 240);
        let mut px = vec![150u8; w * h];
        for &(x0, y0, fw, fh) in figures {
            for y in y0..y0 + fh {
                for x in x0..x0 + fw {
                    // A narrower head on the top seventh.
                    let head = y < y0 + fh / 7 && (x < x0 + fw / 3 || x >= x0 + fw - fw / 3);
                    if !head {
                        px[y * w + x] = 40;
                    }
                }
            }
        }
        Luma { width: w, height: h, px }
    }

    #[test]
    fn a_figure_gets_its_head_at_the_top_centre() {
        let ground = picture(&[]);
        let heads = find_heads(&ground, &picture(&[(100, 60, 30, 84)]), 0);
        assert_eq!(heads.len(), 1, "{heads:?}");
        let head = heads[0];
        assert!((head.cx - 115.0).abs() < 3.0 && (head.cy - 66.0).abs() < 5.0, "{head:?}");
        assert!((head.size - 84.0 * HEAD_SHARE).abs() < 3.0, "{head:?}");
    }

    #[test]
    fn two_figures_side_by_side_get_two_heads_and_small_blobs_none() {
        let ground = picture(&[]);
        let heads = find_heads(&ground, &picture(&[(100, 60, 36, 84), (136, 60, 36, 84), (250, 100, 10, 20)]), 0);
        let mut xs: Vec<f64> = heads.iter().map(|h| h.cx).collect();
        xs.sort_by(f64::total_cmp);
        assert_eq!(xs.len(), 2, "{heads:?}");
        assert!((xs[0] - 118.0).abs() < 5.0 && (xs[1] - 154.0).abs() < 5.0, "{xs:?}");
    }

    #[test]
    fn heads_are_linked_across_a_gap_and_short_tracks_are_dropped() {
        // A walker moving right 2 px a frame, missed in frames 10 and 11; a flicker of 3 frames.
        let mut heads: Vec<Head> = (0..30).filter(|f| !(10..12).contains(f)).map(|f| Head { frame: f, cx: 50.0 + 2.0 * f as f64, cy: 80.0, size: 12.0 }).collect();
        heads.extend((5..8).map(|f| Head { frame: f, cx: 250.0, cy: 40.0, size: 10.0 }));
        let tracks = link(&heads);
        assert_eq!(tracks.len(), 1, "{tracks:?}");
        let path = smooth(&tracks[0]);
        assert_eq!(path.len(), 30, "the gap is filled");
        assert!((path[11].cx - 72.0).abs() < 1e-6, "{:?}", path[11]);
    }
}
