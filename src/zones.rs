//! Privacy zones rasterised for one resolution.
//!
//! A zone is a polygon in relative coordinates. [`ZoneMask`] turns the street zones of a camera
//! into per-row pixel spans once per resolution (not per frame); a pixel belongs to a zone
//! when its centre is inside the polygon (even-odd rule, so non-convex and self-touching
//! outlines work). Property zones answer "is this point on the owner's ground?".

use crate::config::{Camera, ZoneKind};
use crate::frame::PictureMut;

/// Even-odd point-in-polygon test in any coordinate system.
pub fn contains(polygon: &[(f64, f64)], x: f64, y: f64) -> bool {
    let mut inside = false;
    let n = polygon.len();
    for i in 0..n {
        let (xi, yi) = polygon[i];
        let (xj, yj) = polygon[(i + n - 1) % n];
        if (yi > y) != (yj > y) {
            let cross = xi + (y - yi) * (xj - xi) / (yj - yi);
            if x < cross {
                inside = !inside;
            }
        }
    }
    inside
}

/// Columns `[x0, x1)` of row `y` whose pixel centres are inside `polygon` (pixel coordinates).
fn row_spans(polygon: &[(f64, f64)], y: usize, width: usize, out: &mut Vec<(usize, usize)>) {
    let yc = y as f64 + 0.5;
    let n = polygon.len();
    let mut xs: Vec<f64> = Vec::new();
    for i in 0..n {
        let (xi, yi) = polygon[i];
        let (xj, yj) = polygon[(i + n - 1) % n];
        if (yi > yc) != (yj > yc) {
            xs.push(xi + (yc - yi) * (xj - xi) / (yj - yi));
        }
    }
    xs.sort_by(f64::total_cmp);
    for pair in xs.chunks_exact(2) {
        // Pixel x is inside when pair[0] <= x + 0.5 < pair[1].
        let x0 = (pair[0] - 0.5).ceil().clamp(0.0, width as f64) as usize;
        let x1 = (pair[1] - 0.5).ceil().clamp(0.0, width as f64) as usize;
        if x0 < x1 {
            out.push((x0, x1));
        }
    }
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
        let rows = (0..height)
            .map(|y| {
                let mut spans = Vec::new();
                for p in &polygons {
                    row_spans(p, y, width, &mut spans);
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
