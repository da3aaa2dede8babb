//! Privacy zones rasterised for one resolution.
//!
//! A zone is a polygon in relative coordinates. [`ZoneMask`] turns the street zones of a camera
//! into per-row pixel spans once per resolution (not per frame); a pixel belongs to a zone
//! when its centre is inside the outline by the **non-zero winding rule**: every point the
//! outline goes around is inside, however often and in whichever direction, so a polygon whose
//! points are listed twice, reversed, or that crosses itself (a pentagram) covers all of its
//! inside. (The even-odd rule would leave such areas open: a street zone must never do that.)
//! Property zones answer "is this point on the owner's ground?" with the same rule.
//!
//! A zone too small to cover any pixel (zero area, collinear or repeated points) is rejected
//! when the config is read: see [`covers_a_pixel`].

use crate::config::{Camera, ZoneKind};
use crate::frame::PictureMut;

/// Side of the square frame a zone must cover at least one pixel centre of to be accepted:
/// a zone smaller than about a millionth of the frame would cover nothing at most resolutions.
pub const CHECK_RESOLUTION: usize = 1024;

/// Where the edge `a`–`b` crosses the horizontal line at `y`, with the direction it crosses in
/// (+1 downwards, −1 upwards), or `None` when it does not cross. An edge includes its upper end
/// and excludes its lower one, so a vertex on the line is counted once. The crossing is computed
/// from the edge's upper end whichever way round the edge is listed, so a reversed or repeated
/// outline gives bit-identical crossings.
fn crossing(a: (f64, f64), b: (f64, f64), y: f64) -> Option<(f64, i32)> {
    if (a.1 > y) == (b.1 > y) {
        return None;
    }
    let (dir, (top, bottom)) = if a.1 < b.1 { (1, (a, b)) } else { (-1, (b, a)) };
    Some((top.0 + (y - top.1) * (bottom.0 - top.0) / (bottom.1 - top.1), dir))
}

/// Every crossing of `polygon`'s outline with the line at `y`, sorted by x.
fn crossings(polygon: &[(f64, f64)], y: f64, out: &mut Vec<(f64, i32)>) {
    out.clear();
    let n = polygon.len();
    out.extend((0..n).filter_map(|i| crossing(polygon[(i + n - 1) % n], polygon[i], y)));
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
}

/// The x ranges `[start, end)` of the line at `y` where the winding number is not zero.
fn inside_ranges(polygon: &[(f64, f64)], y: f64, scratch: &mut Vec<(f64, i32)>, mut each: impl FnMut(f64, f64)) {
    crossings(polygon, y, scratch);
    let mut winding = 0;
    let mut start = 0.0;
    for &(x, dir) in scratch.iter() {
        let before = winding;
        winding += dir;
        if before == 0 && winding != 0 {
            start = x;
        } else if before != 0 && winding == 0 {
            each(start, x);
        }
    }
}

/// Non-zero winding point-in-polygon test in any coordinate system. A point exactly on a
/// crossing counts as right of it, as the rasteriser does.
pub fn contains(polygon: &[(f64, f64)], x: f64, y: f64) -> bool {
    let mut found = false;
    inside_ranges(polygon, y, &mut Vec::new(), |a, b| found |= a <= x && x < b);
    found
}

/// Columns `[x0, x1)` of row `y` whose pixel centres are inside `polygon` (pixel coordinates).
fn row_spans(polygon: &[(f64, f64)], y: usize, width: usize, scratch: &mut Vec<(f64, i32)>, out: &mut Vec<(usize, usize)>) {
    inside_ranges(polygon, y as f64 + 0.5, scratch, |a, b| {
        // Pixel x is inside when a <= x + 0.5 < b.
        let x0 = (a - 0.5).ceil().clamp(0.0, width as f64) as usize;
        let x1 = (b - 0.5).ceil().clamp(0.0, width as f64) as usize;
        if x0 < x1 {
            out.push((x0, x1));
        }
    });
}

/// Whether a polygon in relative coordinates covers at least one pixel of a
/// [`CHECK_RESOLUTION`]² frame: some row of pixel centres runs inside it for a pixel's width
/// or more. False for zero area (collinear or repeated points, whose rounding can still graze a
/// pixel centre on the line) and for slivers too small to matter.
pub fn covers_a_pixel(polygon: &[(f64, f64)]) -> bool {
    let size = CHECK_RESOLUTION as f64;
    let scaled: Vec<(f64, f64)> = polygon.iter().map(|&(x, y)| (x * size, y * size)).collect();
    let mut scratch = Vec::new();
    (0..CHECK_RESOLUTION).any(|y| {
        let mut wide = false;
        inside_ranges(&scaled, y as f64 + 0.5, &mut scratch, |a, b| wide |= b - a >= 1.0);
        wide
    })
}

/// The street zones of a camera at one resolution, as sorted, merged spans per row.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ZoneMask {
    pub width: usize,
    pub height: usize,
    rows: Vec<Vec<(usize, usize)>>,
}

impl ZoneMask {
    /// Rasterises every zone of `kind` for a `width`×`height` frame.
    pub fn new(camera: &Camera, kind: ZoneKind, width: usize, height: usize) -> Self {
        let polygons: Vec<Vec<(f64, f64)>> = camera
            .zones_of(kind)
            .map(|z| z.polygon.iter().map(|&(x, y)| (x * width as f64, y * height as f64)).collect())
            .collect();
        let mut scratch = Vec::new();
        let rows = (0..height)
            .map(|y| {
                let mut spans = Vec::new();
                for p in &polygons {
                    row_spans(p, y, width, &mut scratch, &mut spans);
                }
                merge(spans)
            })
            .collect();
        ZoneMask { width, height, rows }
    }

    pub fn is_empty(&self) -> bool {
        self.rows.iter().all(Vec::is_empty)
    }

    pub fn spans(&self, y: usize) -> &[(usize, usize)] {
        &self.rows[y]
    }

    /// Whether pixel `(x, y)` is in the mask.
    pub fn covers(&self, x: usize, y: usize) -> bool {
        self.rows.get(y).is_some_and(|r| r.iter().any(|&(a, b)| a <= x && x < b))
    }

    /// Sets every masked pixel to black, in every plane; a subsampled (chroma) sample is
    /// blackened when any of the pixels it covers is masked.
    pub fn blacken(&self, pic: &mut PictureMut<'_>) {
        debug_assert_eq!((pic.width, pic.height), (self.width, self.height));
        for plane in &mut pic.planes {
            let (xs, ys) = (plane.kind.x_shift, plane.kind.y_shift);
            let ch = plane.kind.channels;
            let black = plane.kind.black;
            for py in 0..plane.height {
                let from = py << ys;
                let to = ((py + 1) << ys).min(self.height);
                let mut spans: Vec<(usize, usize)> = Vec::new();
                for y in from..to {
                    spans.extend(self.rows[y].iter().map(|&(a, b)| (a >> xs, ((b + (1 << xs) - 1) >> xs).min(plane.width))));
                }
                for (a, b) in merge(spans) {
                    for px in plane.row_mut(py)[a * ch..b * ch].chunks_exact_mut(ch) {
                        px.copy_from_slice(&black[..ch]);
                    }
                }
            }
        }
    }
}

fn merge(mut spans: Vec<(usize, usize)>) -> Vec<(usize, usize)> {
    spans.sort_unstable();
    let mut out: Vec<(usize, usize)> = Vec::with_capacity(spans.len());
    for (a, b) in spans {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// Whether a point in pixels is inside any zone of `kind`.
pub fn point_in_zones(camera: &Camera, kind: ZoneKind, x: f64, y: f64, width: usize, height: usize) -> bool {
    let (rx, ry) = (x / width as f64, y / height as f64);
    camera.zones_of(kind).any(|z| contains(&z.polygon, rx, ry))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{PolicyConfig, Zone};
    use crate::frame::Layout;

    fn camera(kind: ZoneKind, polygon: &[(f64, f64)]) -> Camera {
        Camera {
            name: "c".into(),
            zones: vec![Zone { name: "z".into(), kind, polygon: polygon.to_vec() }],
            policy: PolicyConfig::default(),
        }
    }

    #[test]
    fn point_in_polygon_handles_non_convex_shapes() {
        // A "U": the notch (0.4..0.6, 0..0.6) is outside.
        let u = [(0.0, 0.0), (0.4, 0.0), (0.4, 0.6), (0.6, 0.6), (0.6, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)];
        assert!(contains(&u, 0.2, 0.3));
        assert!(!contains(&u, 0.5, 0.3));
        assert!(contains(&u, 0.5, 0.8));
        assert!(!contains(&u, 1.5, 0.5));
    }

    /// A five-pointed star drawn in one stroke: its outline crosses itself around the centre.
    const PENTAGRAM: [(f64, f64); 5] = [(0.5, 0.0), (0.79, 0.9), (0.02, 0.35), (0.98, 0.35), (0.21, 0.9)];

    #[test]
    fn a_pentagram_covers_its_centre() {
        assert!(contains(&PENTAGRAM, 0.5, 0.5), "the centre is wound around twice");
        let mask = ZoneMask::new(&camera(ZoneKind::Street, &PENTAGRAM), ZoneKind::Street, 100, 100);
        assert!(mask.covers(50, 50) && mask.covers(50, 45));
        assert!(!mask.covers(2, 98), "outside the star");
    }

    #[test]
    fn a_square_listed_twice_or_reversed_covers_the_same_pixels() {
        let square = [(0.25, 0.25), (0.75, 0.25), (0.75, 0.75), (0.25, 0.75)];
        let twice: Vec<_> = square.iter().chain(&square).copied().collect();
        let reversed: Vec<_> = square.iter().rev().copied().collect();
        let once = ZoneMask::new(&camera(ZoneKind::Street, &square), ZoneKind::Street, 40, 20);
        assert_eq!(once.spans(10), [(10, 30)]);
        for other in [twice, reversed] {
            assert_eq!(ZoneMask::new(&camera(ZoneKind::Street, &other), ZoneKind::Street, 40, 20), once, "{other:?}");
        }
    }

    #[test]
    fn zero_area_and_sub_pixel_polygons_cover_no_pixel() {
        assert!(!covers_a_pixel(&[(0.1, 0.1), (0.5, 0.5), (0.9, 0.9)]), "collinear");
        assert!(!covers_a_pixel(&[(0.1, 0.1), (0.9, 0.1), (0.1, 0.1), (0.9, 0.1)]), "a segment traced twice");
        assert!(!covers_a_pixel(&[(0.5, 0.5), (0.5001, 0.5), (0.5, 0.5001)]), "a sliver");
        assert!(covers_a_pixel(&[(0.0, 0.0), (0.01, 0.0), (0.0, 0.01)]), "a small corner triangle");
        assert!(covers_a_pixel(&PENTAGRAM));
    }

    #[test]
    fn rasterised_mask_matches_the_point_test_at_every_pixel_centre() {
        let poly = [(0.05, 0.1), (0.9, 0.0), (0.6, 0.5), (0.95, 0.95), (0.1, 0.7), (0.3, 0.4)];
        let cam = camera(ZoneKind::Street, &poly);
        for (w, h) in [(64, 48), (37, 23)] {
            let mask = ZoneMask::new(&cam, ZoneKind::Street, w, h);
            for y in 0..h {
                for x in 0..w {
                    let expected = contains(&poly, (x as f64 + 0.5) / w as f64, (y as f64 + 0.5) / h as f64);
                    assert_eq!(mask.covers(x, y), expected, "{w}x{h} pixel ({x},{y})");
                }
            }
        }
    }

    #[test]
    fn a_zone_covering_the_frame_masks_every_pixel_including_edges() {
        let cam = camera(ZoneKind::Street, &[(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]);
        let mask = ZoneMask::new(&cam, ZoneKind::Street, 33, 17);
        assert!((0..17).all(|y| mask.spans(y) == [(0, 33)]));
    }

    #[test]
    fn blacken_covers_chroma_samples_that_touch_the_zone() {
        // Left third of a 12x4 frame: luma columns 0..4 inside.
        let cam = camera(ZoneKind::Street, &[(0.0, 0.0), (0.34, 0.0), (0.34, 1.0), (0.0, 1.0)]);
        let mask = ZoneMask::new(&cam, ZoneKind::Street, 12, 4);
        let (mut y, mut u, mut v) = (vec![200u8; 16 * 4], vec![50u8; 8 * 2], vec![60u8; 8 * 2]);
        let mut pic = PictureMut::from_planes(Layout::I420, 12, 4, [(&mut y[..], 16), (&mut u[..], 8), (&mut v[..], 8)]);
        mask.blacken(&mut pic);
        assert_eq!(&y[0..6], &[16, 16, 16, 16, 200, 200]);
        assert_eq!(&u[0..3], &[128, 128, 50]);
        assert_eq!(&y[12..16], &[200; 4], "stride padding untouched");
    }

    #[test]
    fn property_membership_uses_relative_coordinates_at_any_resolution() {
        let cam = camera(ZoneKind::Property, &[(0.2, 0.5), (0.8, 0.5), (0.9, 1.0), (0.1, 1.0)]);
        assert!(point_in_zones(&cam, ZoneKind::Property, 960.0, 900.0, 1920, 1080));
        assert!(point_in_zones(&cam, ZoneKind::Property, 320.0, 300.0, 640, 360));
        assert!(!point_in_zones(&cam, ZoneKind::Property, 960.0, 300.0, 1920, 1080));
    }
}
