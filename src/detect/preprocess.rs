//! Resizing a picture into a detector's input tensor.
//!
//! The picture is scaled to `content_w`×`content_h`, written at the top-left of an
//! `input_w`×`input_h` NCHW float tensor, and the rest is padded with zeros. [`Letterbox`]
//! records that geometry so boxes can be mapped back to source pixels in one place.

use ndarray::{Array4, ArrayViewMut2, Axis};

use crate::frame::Picture;
use crate::geometry::BBox;

/// How a source picture maps onto a detector input.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Letterbox {
    pub src_w: usize,
    pub src_h: usize,
    pub content_w: usize,
    pub content_h: usize,
    pub input_w: usize,
    pub input_h: usize,
}

impl Letterbox {
    /// Scales a `src_w`×`src_h` picture to `target_w` pixels wide (keeping the aspect ratio,
    /// never wider than the source), then pads both sides up to a multiple of `align`.
    pub fn fit_width(src_w: usize, src_h: usize, target_w: usize, align: usize) -> Self {
        let content_w = target_w.min(src_w).max(1);
        let content_h = ((src_h as f64 * content_w as f64 / src_w as f64).round() as usize).max(1);
        Letterbox {
            src_w,
            src_h,
            content_w,
            content_h,
            input_w: content_w.div_ceil(align) * align,
            input_h: content_h.div_ceil(align) * align,
        }
    }

    /// Stretches the picture over a fixed `w`×`h` input (no padding).
    pub fn stretch(src_w: usize, src_h: usize, w: usize, h: usize) -> Self {
        Letterbox { src_w, src_h, content_w: w, content_h: h, input_w: w, input_h: h }
    }

    pub fn scale_x(&self) -> f32 {
        self.content_w as f32 / self.src_w as f32
    }

    pub fn scale_y(&self) -> f32 {
        self.content_h as f32 / self.src_h as f32
    }

    /// Maps a box in input-tensor pixels back to source pixels, clipped to the picture.
    pub fn to_source(&self, b: &BBox) -> BBox {
        b.rescaled(1.0 / self.scale_x(), 1.0 / self.scale_y()).clamped(self.src_w as f32, self.src_h as f32)
    }
}

/// Channel order and normalisation a model expects: `value = (pixel - mean) / std`.
#[derive(Clone, Copy, Debug)]
pub struct InputSpec {
    pub bgr: bool,
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl InputSpec {
    /// RGB 0..255, as CenterFace takes it.
    pub const RGB_RAW: InputSpec = InputSpec { bgr: false, mean: [0.0; 3], std: [1.0; 3] };
}

/// Fills `tensor` (shape `[1, 3, input_h, input_w]`) from `pic` by bilinear sampling.
pub fn fill_tensor(pic: &Picture<'_>, lb: &Letterbox, spec: &InputSpec, tensor: &mut Array4<f32>) {
    debug_assert_eq!(tensor.shape(), &[1, 3, lb.input_h, lb.input_w]);
    tensor.fill(0.0);
    let map_x = sample_positions(lb.content_w, lb.src_w);
    let map_y = sample_positions(lb.content_h, lb.src_h);
    let mut batch = tensor.index_axis_mut(Axis(0), 0);
    let mut rgb = [0f32; 3];
    let (mut c0, mut rest) = batch.view_mut().split_at(Axis(0), 1);
    let (mut c1, mut c2) = rest.view_mut().split_at(Axis(0), 1);
    let mut channels: [ArrayViewMut2<f32>; 3] =
        [c0.index_axis_mut(Axis(0), 0), c1.index_axis_mut(Axis(0), 0), c2.index_axis_mut(Axis(0), 0)];
    for (dy, &(y0, y1, fy)) in map_y.iter().enumerate() {
        for (dx, &(x0, x1, fx)) in map_x.iter().enumerate() {
            let p00 = pic.rgb_at(x0, y0);
            let p01 = pic.rgb_at(x1, y0);
            let p10 = pic.rgb_at(x0, y1);
            let p11 = pic.rgb_at(x1, y1);
            for c in 0..3 {
                let top = p00[c] as f32 + (p01[c] as f32 - p00[c] as f32) * fx;
                let bottom = p10[c] as f32 + (p11[c] as f32 - p10[c] as f32) * fx;
                rgb[c] = top + (bottom - top) * fy;
            }
            for c in 0..3 {
                let src_c = if spec.bgr { 2 - c } else { c };
                channels[c][[dy, dx]] = (rgb[src_c] - spec.mean[c]) / spec.std[c];
            }
        }
    }
}

/// For each of `dst` output samples: the two source samples around its centre and the weight
/// of the second.
fn sample_positions(dst: usize, src: usize) -> Vec<(usize, usize, f32)> {
    let ratio = src as f32 / dst as f32;
    (0..dst)
        .map(|d| {
            let s = ((d as f32 + 0.5) * ratio - 0.5).clamp(0.0, (src - 1) as f32);
            let i0 = s.floor() as usize;
            let i1 = (i0 + 1).min(src - 1);
            (i0, i1, s - i0 as f32)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Layout;

    #[test]
    fn letterbox_pads_to_the_alignment_and_maps_boxes_back() {
        let lb = Letterbox::fit_width(1920, 1080, 640, 32);
        assert_eq!((lb.content_w, lb.content_h, lb.input_w, lb.input_h), (640, 360, 640, 384));
        let b = lb.to_source(&BBox::new(64.0, 36.0, 128.0, 72.0));
        assert!((b.x1 - 192.0).abs() < 1e-3 && (b.y1 - 108.0).abs() < 1e-3);
        assert!((b.x2 - 384.0).abs() < 1e-3 && (b.y2 - 216.0).abs() < 1e-3);
    }

    #[test]
    fn letterbox_never_upscales_small_pictures() {
        let lb = Letterbox::fit_width(320, 240, 640, 32);
        assert_eq!((lb.content_w, lb.content_h, lb.input_w, lb.input_h), (320, 240, 320, 256));
        let b = lb.to_source(&BBox::new(10.0, 10.0, 400.0, 300.0));
        assert_eq!((b.x2, b.y2), (320.0, 240.0), "boxes are clipped to the source");
    }

    #[test]
    fn tensor_holds_the_picture_and_zero_padding() {
        // 4x2 RGB picture, rows padded to 16 bytes; red ramp in x, green = 10*y.
        let mut data = vec![0u8; 32];
        for y in 0..2 {
            for x in 0..4 {
                let i = y * 16 + x * 3;
                data[i..i + 3].copy_from_slice(&[x as u8 * 50, y as u8 * 10, 200]);
            }
        }
        let pic = Picture::from_planes(Layout::Rgb, 4, 2, [(&data[..], 16)]);
        let lb = Letterbox::fit_width(4, 2, 4, 4);
        let mut t = Array4::zeros((1, 3, lb.input_h, lb.input_w));
        t.fill(9.0);
        fill_tensor(&pic, &lb, &InputSpec::RGB_RAW, &mut t);
        assert_eq!(t[[0, 0, 0, 3]], 150.0);
        assert_eq!(t[[0, 1, 1, 0]], 10.0);
        assert_eq!(t[[0, 2, 0, 0]], 200.0);
        assert_eq!(t[[0, 2, 2, 0]], 0.0, "padding rows are zero");
        let bgr = InputSpec { bgr: true, ..InputSpec::RGB_RAW };
        fill_tensor(&pic, &lb, &bgr, &mut t);
        assert_eq!(t[[0, 0, 0, 0]], 200.0, "BGR order puts blue first");
    }
}
