//! Axis-aligned boxes in pixel coordinates, shared by detectors, the tracker and the fills.

use serde::Serialize;

/// A box with corners `(x1, y1)` (inclusive) and `(x2, y2)` (exclusive), in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct BBox {
    pub x1: f32,
    pub y1: f32,
    pub x2: f32,
    pub y2: f32,
}

impl BBox {
    pub fn new(x1: f32, y1: f32, x2: f32, y2: f32) -> Self {
        BBox { x1, y1, x2, y2 }
    }

    pub fn from_xywh(x: f32, y: f32, w: f32, h: f32) -> Self {
        BBox::new(x, y, x + w, y + h)
    }

    pub fn width(&self) -> f32 {
        (self.x2 - self.x1).max(0.0)
    }

    pub fn height(&self) -> f32 {
        (self.y2 - self.y1).max(0.0)
    }

    pub fn area(&self) -> f32 {
        self.width() * self.height()
    }

    pub fn center(&self) -> (f32, f32) {
        ((self.x1 + self.x2) * 0.5, (self.y1 + self.y2) * 0.5)
    }

    pub fn intersection(&self, other: &BBox) -> f32 {
        let w = (self.x2.min(other.x2) - self.x1.max(other.x1)).max(0.0);
        let h = (self.y2.min(other.y2) - self.y1.max(other.y1)).max(0.0);
        w * h
    }

    /// Intersection over union; 0 for two empty boxes.
    pub fn iou(&self, other: &BBox) -> f32 {
        let inter = self.intersection(other);
        let union = self.area() + other.area() - inter;
        if union <= 0.0 {
            0.0
        } else {
            inter / union
        }
    }

    /// The smallest box holding both.
    pub fn hull(&self, other: &BBox) -> BBox {
        BBox::new(self.x1.min(other.x1), self.y1.min(other.y1), self.x2.max(other.x2), self.y2.max(other.y2))
    }

    /// The box `t` of the way from `self` to `other`, corner by corner (`t` = 0: `self`, 1: `other`).
    pub fn lerp(&self, other: &BBox, t: f32) -> BBox {
        let m = |p: f32, q: f32| p + (q - p) * t;
        BBox::new(m(self.x1, other.x1), m(self.y1, other.y1), m(self.x2, other.x2), m(self.y2, other.y2))
    }

    /// The box moved by `dx` and `dy`, its size kept.
    pub fn moved(&self, dx: f32, dy: f32) -> BBox {
        BBox::new(self.x1 + dx, self.y1 + dy, self.x2 + dx, self.y2 + dy)
    }

    /// The box grown (or shrunk) about its centre by `factor` in each dimension.
    pub fn scaled(&self, factor: f32) -> BBox {
        let (cx, cy) = self.center();
        let hw = self.width() * factor * 0.5;
        let hh = self.height() * factor * 0.5;
        BBox::new(cx - hw, cy - hh, cx + hw, cy + hh)
    }

    /// The box with both coordinates multiplied by `sx` and `sy` (a change of resolution).
    pub fn rescaled(&self, sx: f32, sy: f32) -> BBox {
        BBox::new(self.x1 * sx, self.y1 * sy, self.x2 * sx, self.y2 * sy)
    }

    /// The part of the box inside a `width`×`height` picture.
    pub fn clamped(&self, width: f32, height: f32) -> BBox {
        BBox::new(
            self.x1.clamp(0.0, width),
            self.y1.clamp(0.0, height),
            self.x2.clamp(0.0, width),
            self.y2.clamp(0.0, height),
        )
    }

    /// The whole pixels the box touches in a `width`×`height` picture, as `(x0, y0, x1, y1)`
    /// (ends exclusive): its start rounded down, its end rounded up, both within the picture.
    pub fn pixels(&self, width: usize, height: usize) -> (usize, usize, usize, usize) {
        let c = self.clamped(width as f32, height as f32);
        let (x0, y0) = (c.x1.max(0.0) as usize, c.y1.max(0.0) as usize);
        let (x1, y1) = ((c.x2.ceil() as usize).min(width), (c.y2.ceil() as usize).min(height));
        (x0, y0, x1, y1)
    }

    pub fn is_empty(&self) -> bool {
        self.width() <= 0.0 || self.height() <= 0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_boxs_pixels_are_whole_and_inside_the_picture() {
        assert_eq!(BBox::new(1.5, 2.2, 4.1, 6.0).pixels(10, 10), (1, 2, 5, 6));
        assert_eq!(BBox::new(-3.0, -1.0, 12.5, 8.5).pixels(10, 8), (0, 0, 10, 8));
        let (x0, _, x1, _) = BBox::new(20.0, 0.0, 30.0, 5.0).pixels(10, 10);
        assert!(x1 <= x0, "a box beside the picture has no pixels");
    }

    #[test]
    fn iou_of_identical_boxes_is_one_and_of_disjoint_boxes_zero() {
        let a = BBox::new(0.0, 0.0, 10.0, 10.0);
        assert!((a.iou(&a) - 1.0).abs() < 1e-6);
        assert_eq!(a.iou(&BBox::new(20.0, 20.0, 30.0, 30.0)), 0.0);
        let half = BBox::new(5.0, 0.0, 15.0, 10.0);
        assert!((a.iou(&half) - 50.0 / 150.0).abs() < 1e-6);
    }

    #[test]
    fn scaling_keeps_the_centre() {
        let b = BBox::new(10.0, 20.0, 30.0, 60.0).scaled(1.5);
        assert_eq!(b.center(), (20.0, 40.0));
        assert_eq!((b.width(), b.height()), (30.0, 60.0));
    }

    #[test]
    fn the_hull_holds_both_boxes_and_lerp_runs_corner_by_corner() {
        let (a, b) = (BBox::new(0.0, 0.0, 10.0, 10.0), BBox::new(20.0, 5.0, 40.0, 25.0));
        assert_eq!(a.hull(&b), BBox::new(0.0, 0.0, 40.0, 25.0));
        assert_eq!(a.lerp(&b, 0.0), a);
        assert_eq!(a.lerp(&b, 1.0), b);
        assert_eq!(a.lerp(&b, 0.5), BBox::new(10.0, 2.5, 25.0, 17.5));
    }
}
