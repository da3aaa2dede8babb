//! Resizing a picture into a detector's input tensor.
//!
//! The picture is scaled to `content_w`×`content_h`, written at the top-left of an
//! `input_w`×`input_h` NCHW float tensor, and the rest is padded with zeros. [`Letterbox`]
//! records that geometry so boxes can be mapped back to source pixels in one place.

use ndarray::{Array4, ArrayViewMut2, Axis};

use rayon::prelude::*;

use crate::frame::{Layout, Picture, Plane};
use crate::geometry::BBox;
use crate::stats::quantile_bin;

/// Largest extra downscaling of one side that [`Letterbox::fit_width`] accepts to avoid padding.
pub const MAX_SQUEEZE: f64 = 0.05;

/// How a region of a source picture (the whole picture, or a crop) maps onto a detector input.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Letterbox {
    pub src_w: usize,
    pub src_h: usize,
    /// The source region fed to the detector, in source pixels.
    pub crop_x: usize,
    pub crop_y: usize,
    pub crop_w: usize,
    pub crop_h: usize,
    pub content_w: usize,
    pub content_h: usize,
    pub input_w: usize,
    pub input_h: usize,
}

impl Letterbox {
    /// Scales a `src_w`×`src_h` picture to `target_w` pixels wide (keeping the aspect ratio,
    /// never wider than the source), then pads both sides up to a multiple of `align`.
    ///
    /// When the picture is scaled down anyway, a side that would need padding is instead
    /// scaled a little further down to the multiple of `align` below it, if that is at most
    /// [`MAX_SQUEEZE`] smaller: 1080p at 640 px wide becomes 640×352 rather than 640×360
    /// padded to 384, 8 % fewer pixels to run the detector on for a 2 % change of aspect.
    pub fn fit_width(src_w: usize, src_h: usize, target_w: usize, align: usize) -> Self {
        let scale = target_w.min(src_w).max(1) as f64 / src_w as f64;
        let mut lb = Self::crop(src_w, src_h, (0, 0, src_w, src_h), scale, align);
        if scale < 1.0 {
            let squeeze = |content: usize| {
                let aligned = content / align * align;
                if aligned > 0 && (content - aligned) as f64 <= MAX_SQUEEZE * content as f64 { aligned } else { content }
            };
            (lb.content_w, lb.content_h) = (squeeze(lb.content_w), squeeze(lb.content_h));
            (lb.input_w, lb.input_h) = (lb.content_w.div_ceil(align) * align, lb.content_h.div_ceil(align) * align);
        }
        lb
    }

    /// Scales the crop `(x, y, w, h)` of a picture by `scale` (above 1 enlarges small faces),
    /// then pads up to a multiple of `align`.
    pub fn crop(src_w: usize, src_h: usize, (x, y, w, h): (usize, usize, usize, usize), scale: f64, align: usize) -> Self {
        let content_w = ((w as f64 * scale).round() as usize).max(1);
        let content_h = ((h as f64 * scale).round() as usize).max(1);
        Letterbox {
            src_w,
            src_h,
            crop_x: x,
            crop_y: y,
            crop_w: w,
            crop_h: h,
            content_w,
            content_h,
            input_w: content_w.div_ceil(align) * align,
            input_h: content_h.div_ceil(align) * align,
        }
    }

    /// Stretches the picture over a fixed `w`×`h` input (no padding).
    pub fn stretch(src_w: usize, src_h: usize, w: usize, h: usize) -> Self {
        Letterbox {
            src_w,
            src_h,
            crop_x: 0,
            crop_y: 0,
            crop_w: src_w,
            crop_h: src_h,
            content_w: w,
            content_h: h,
            input_w: w,
            input_h: h,
        }
    }

    pub fn scale_x(&self) -> f32 {
        self.content_w as f32 / self.crop_w as f32
    }

    pub fn scale_y(&self) -> f32 {
        self.content_h as f32 / self.crop_h as f32
    }

    /// Maps a box in input-tensor pixels back to source pixels, clipped to the picture.
    pub fn to_source(&self, b: &BBox) -> BBox {
        let r = b.rescaled(1.0 / self.scale_x(), 1.0 / self.scale_y());
        r.moved(self.crop_x as f32, self.crop_y as f32).clamped(self.src_w as f32, self.src_h as f32)
    }

    /// Output sample positions along x and y for a plane `plane_w`×`plane_h` of the picture.
    fn positions(&self, plane_w: usize, plane_h: usize) -> (Vec<Sample>, Vec<Sample>) {
        let fx = plane_w as f32 / self.src_w as f32;
        let fy = plane_h as f32 / self.src_h as f32;
        (
            sample_positions(self.content_w, self.crop_x as f32 * fx, self.crop_w as f32 * fx, plane_w),
            sample_positions(self.content_h, self.crop_y as f32 * fy, self.crop_h as f32 * fy, plane_h),
        )
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
///
/// Samples each plane at its own resolution (I420 chroma at half size) and converts to RGB once
/// per output pixel; [`fill_tensor_reference`] is the plain version it is tested against.
pub fn fill_tensor(pic: &Picture<'_>, lb: &Letterbox, spec: &InputSpec, tensor: &mut Array4<f32>) {
    assert_eq!(tensor.shape(), &[1, 3, lb.input_h, lb.input_w]);
    let plane_len = lb.input_h * lb.input_w;
    let data = tensor.as_slice_mut().expect("a freshly allocated tensor is contiguous");
    data.fill(0.0);
    let (c0, rest) = data.split_at_mut(plane_len);
    let (c1, c2) = rest.split_at_mut(plane_len);
    // Output channel k receives RGB component `rgb_of[k]`.
    let rgb_of: [usize; 3] = if spec.bgr { [2, 1, 0] } else { [0, 1, 2] };
    let norm = Norm { rgb_of, mean: spec.mean, scale: spec.std.map(|s| 1.0 / s) };
    let (luma_x, luma_y) = lb.positions(pic.planes[0].width, pic.planes[0].height);
    let rows = c0
        .par_chunks_mut(lb.input_w)
        .zip(c1.par_chunks_mut(lb.input_w))
        .zip(c2.par_chunks_mut(lb.input_w))
        .take(lb.content_h)
        .enumerate();
    match pic.layout {
        Layout::Rgb => rows.for_each(|(dy, ((o0, o1), o2))| rgb_row(&pic.planes[0], luma_y[dy], &luma_x, &norm, &mut [o0, o1, o2])),
        Layout::I420 => {
            let (chroma_x, chroma_y) = lb.positions(pic.planes[1].width, pic.planes[1].height);
            let (luma_x, chroma_x) = (Span::of(&luma_x), Span::of(&chroma_x));
            rows.for_each_init(Blend::default, |blend, (dy, ((o0, o1), o2))| {
                blend.rows(pic, luma_y[dy], chroma_y[dy], &luma_x, &chroma_x);
                blend.write(&luma_x, &chroma_x, &norm, [o0, o1, o2]);
            });
        }
    }
}

/// Output sample positions along x, relative to the first source column they read.
struct Span {
    first: usize,
    /// One past the last source column read.
    end: usize,
    samples: Vec<Sample>,
}

impl Span {
    fn of(xs: &[Sample]) -> Self {
        let first = xs.iter().map(|s| s.0).min().unwrap_or(0);
        let end = xs.iter().map(|s| s.1 + 1).max().unwrap_or(0);
        Span { first, end, samples: xs.iter().map(|&(a, b, f)| (a - first, b - first, f)).collect() }
    }
}

/// The two source rows around one output row, blended vertically, for each I420 plane: the
/// horizontal pass then reads two neighbours from each instead of four bytes from two rows.
#[derive(Default)]
struct Blend {
    y: Vec<f32>,
    u: Vec<f32>,
    v: Vec<f32>,
}

impl Blend {
    fn rows(&mut self, pic: &Picture<'_>, (y0, y1, fy): Sample, (c0, c1, cfy): Sample, xs: &Span, cxs: &Span) {
        let (py, pu, pv) = (&pic.planes[0], &pic.planes[1], &pic.planes[2]);
        blend(&py.row(y0)[xs.first..xs.end], &py.row(y1)[xs.first..xs.end], fy, &mut self.y);
        blend(&pu.row(c0)[cxs.first..cxs.end], &pu.row(c1)[cxs.first..cxs.end], cfy, &mut self.u);
        blend(&pv.row(c0)[cxs.first..cxs.end], &pv.row(c1)[cxs.first..cxs.end], cfy, &mut self.v);
    }

    fn write(&self, xs: &Span, cxs: &Span, norm: &Norm, [o0, o1, o2]: [&mut [f32]; 3]) {
        let lerp = |row: &[f32], &(a, b, f): &Sample| row[a] + (row[b] - row[a]) * f;
        let outputs = o0.iter_mut().zip(o1.iter_mut()).zip(o2.iter_mut());
        for (((o0, o1), o2), (x, cx)) in outputs.zip(xs.samples.iter().zip(&cxs.samples)) {
            let rgb = yuv_to_rgb_f32(lerp(&self.y, x), lerp(&self.u, cx), lerp(&self.v, cx));
            *o0 = norm.channel(0, rgb);
            *o1 = norm.channel(1, rgb);
            *o2 = norm.channel(2, rgb);
        }
    }
}

/// `out[i] = a[i] + (b[i] - a[i]) * f`.
fn blend(a: &[u8], b: &[u8], f: f32, out: &mut Vec<f32>) {
    out.clear();
    out.extend(a.iter().zip(b).map(|(&p, &q)| p as f32 + (q as f32 - p as f32) * f));
}

/// Per-output-channel normalisation.
struct Norm {
    rgb_of: [usize; 3],
    mean: [f32; 3],
    scale: [f32; 3],
}

impl Norm {
    #[inline(always)]
    fn write(&self, out: &mut [&mut [f32]; 3], dx: usize, rgb: [f32; 3]) {
        for (k, channel) in out.iter_mut().enumerate() {
            channel[dx] = self.channel(k, rgb);
        }
    }

    /// Output channel `k` of one RGB pixel.
    #[inline(always)]
    fn channel(&self, k: usize, rgb: [f32; 3]) -> f32 {
        (rgb[self.rgb_of[k]] - self.mean[k]) * self.scale[k]
    }
}

fn rgb_row(p: &Plane<'_>, (y0, y1, fy): Sample, xs: &[Sample], norm: &Norm, out: &mut [&mut [f32]; 3]) {
    let (r0, r1) = (p.row(y0), p.row(y1));
    for (dx, &(x0, x1, fx)) in xs.iter().enumerate() {
        let rgb: [f32; 3] = std::array::from_fn(|k| bilerp(r0[x0 * 3 + k], r0[x1 * 3 + k], r1[x0 * 3 + k], r1[x1 * 3 + k], fx, fy));
        norm.write(out, dx, rgb);
    }
}

/// Two neighbouring source samples and the weight of the second.
type Sample = (usize, usize, f32);

#[inline(always)]
fn bilerp(p00: u8, p01: u8, p10: u8, p11: u8, fx: f32, fy: f32) -> f32 {
    let top = p00 as f32 + (p01 as f32 - p00 as f32) * fx;
    let bottom = p10 as f32 + (p11 as f32 - p10 as f32) * fx;
    top + (bottom - top) * fy
}

/// BT.601 limited-range YUV to RGB in floats, clamped to 0..255.
#[inline(always)]
fn yuv_to_rgb_f32(y: f32, u: f32, v: f32) -> [f32; 3] {
    let c = (y - 16.0) * 1.164_383;
    let (d, e) = (u - 128.0, v - 128.0);
    [
        (c + 1.596_027 * e).clamp(0.0, 255.0),
        (c - 0.391_762 * d - 0.812_968 * e).clamp(0.0, 255.0),
        (c + 2.017_232 * d).clamp(0.0, 255.0),
    ]
}

/// The plain reference: converts the four neighbours of every output pixel to RGB and
/// interpolates in RGB, through `Picture::rgb_at` and indexed tensor writes.
pub fn fill_tensor_reference(pic: &Picture<'_>, lb: &Letterbox, spec: &InputSpec, tensor: &mut Array4<f32>) {
    debug_assert_eq!(tensor.shape(), &[1, 3, lb.input_h, lb.input_w]);
    tensor.fill(0.0);
    let (map_x, map_y) = lb.positions(lb.src_w, lb.src_h);
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
                rgb[c] = bilerp(p00[c], p01[c], p10[c], p11[c], fx, fy);
            }
            for (c, channel) in channels.iter_mut().enumerate() {
                let src_c = if spec.bgr { 2 - c } else { c };
                channel[[dy, dx]] = (rgb[src_c] - spec.mean[c]) / spec.std[c];
            }
        }
    }
}

/// For each of `dst` output samples spread over `[start, start + len)` of a line of `limit`
/// source samples: the two source samples around its centre and the weight of the second.
fn sample_positions(dst: usize, start: f32, len: f32, limit: usize) -> Vec<Sample> {
    let ratio = len / dst as f32;
    (0..dst)
        .map(|d| {
            let s = (start + (d as f32 + 0.5) * ratio - 0.5).clamp(0.0, (limit - 1) as f32);
            let i0 = s.floor() as usize;
            let i1 = (i0 + 1).min(limit - 1);
            (i0, i1, s - i0 as f32)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letterbox_pads_to_the_alignment_and_maps_boxes_back() {
        // 1000x600 at 640 wide is 640x384 exactly. At 520 wide it is 520x312: the width is
        // squeezed to 512 (1.5 %), but 312 -> 288 would be 7.7 %, so the height is padded to 320.
        let lb = Letterbox::fit_width(1000, 600, 640, 32);
        assert_eq!((lb.content_w, lb.content_h, lb.input_w, lb.input_h), (640, 384, 640, 384));
        let lb = Letterbox::fit_width(1000, 600, 520, 32);
        assert_eq!((lb.content_w, lb.content_h, lb.input_w, lb.input_h), (512, 312, 512, 320));
        let b = lb.to_source(&BBox::new(51.2, 52.0, 102.4, 104.0));
        assert!((b.x1 - 100.0).abs() < 1e-3 && (b.y1 - 100.0).abs() < 1e-3, "{b:?}");
        assert!((b.x2 - 200.0).abs() < 1e-3 && (b.y2 - 200.0).abs() < 1e-3, "{b:?}");
    }

    #[test]
    fn a_downscaled_side_is_squeezed_to_the_alignment_instead_of_padded() {
        let lb = Letterbox::fit_width(1920, 1080, 640, 32);
        assert_eq!((lb.content_w, lb.content_h, lb.input_w, lb.input_h), (640, 352, 640, 352));
        // Boxes map back through each side's own scale.
        let b = lb.to_source(&BBox::new(64.0, 35.2, 128.0, 70.4));
        assert!((b.x1 - 192.0).abs() < 1e-3 && (b.y1 - 108.0).abs() < 1e-3, "{b:?}");
        assert!((b.x2 - 384.0).abs() < 1e-3 && (b.y2 - 216.0).abs() < 1e-3, "{b:?}");
    }

    #[test]
    fn letterbox_never_upscales_small_pictures() {
        let lb = Letterbox::fit_width(320, 240, 640, 32);
        assert_eq!((lb.content_w, lb.content_h, lb.input_w, lb.input_h), (320, 240, 320, 256));
        let b = lb.to_source(&BBox::new(10.0, 10.0, 400.0, 300.0));
        assert_eq!((b.x2, b.y2), (320.0, 240.0), "boxes are clipped to the source");
    }

    #[test]
    fn a_crop_maps_boxes_back_with_its_offset_and_scale() {
        let lb = Letterbox::crop(1920, 1080, (800, 400, 160, 96), 2.0, 32);
        assert_eq!((lb.content_w, lb.content_h, lb.input_w, lb.input_h), (320, 192, 320, 192));
        let b = lb.to_source(&BBox::new(20.0, 40.0, 60.0, 80.0));
        assert_eq!((b.x1, b.y1, b.x2, b.y2), (810.0, 420.0, 830.0, 440.0));
    }

    #[test]
    fn a_crop_samples_the_right_source_pixels() {
        // 8x4 RGB picture whose red channel is 10*x + y; crop columns 4..8, rows 2..4 at 1:1.
        let mut data = [0u8; 8 * 4 * 3];
        for y in 0..4 {
            for x in 0..8 {
                data[(y * 8 + x) * 3] = (10 * x + y) as u8;
            }
        }
        let pic = Picture::from_planes(Layout::Rgb, 8, 4, [(&data[..], 24)]);
        let lb = Letterbox::crop(8, 4, (4, 2, 4, 2), 1.0, 2);
        let mut t = Array4::zeros((1, 3, lb.input_h, lb.input_w));
        fill_tensor(&pic, &lb, &InputSpec::RGB_RAW, &mut t);
        assert_eq!(t[[0, 0, 0, 0]], 42.0);
        assert_eq!(t[[0, 0, 1, 3]], 73.0);
    }

    #[test]
    fn tensor_holds_the_picture_and_zero_padding() {
        // 4x2 RGB picture, rows padded to 16 bytes; red ramp in x, green = 10*y.
        let mut data = [0u8; 32];
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

    /// A smooth I420 picture of odd size with stride padding (picture-like, not noise: the
    /// two paths place chroma differently, which only matters at sample-to-sample jumps).
    fn smooth_i420(w: usize, h: usize) -> (Vec<u8>, Vec<u8>, Vec<u8>, usize, usize) {
        let (ys, cs) = (w + 7, w.div_ceil(2) + 5);
        let (ch, cw) = (h.div_ceil(2), w.div_ceil(2));
        let f = |x: f32, y: f32, a: f32, b: f32| (128.0 + 90.0 * (x / a).sin() * (y / b).cos()) as u8;
        let mut y = vec![0xEE; ys * h];
        for r in 0..h {
            for c in 0..w {
                y[r * ys + c] = f(c as f32, r as f32, 9.0, 7.0);
            }
        }
        let (mut u, mut v) = (vec![0xEE; cs * ch], vec![0xEE; cs * ch]);
        for r in 0..ch {
            for c in 0..cw {
                u[r * cs + c] = f(c as f32, r as f32, 11.0, 13.0) / 2 + 64;
                v[r * cs + c] = f(r as f32, c as f32, 8.0, 10.0) / 2 + 64;
            }
        }
        (y, u, v, ys, cs)
    }

    #[test]
    fn fast_tensor_fill_matches_the_reference_on_i420_and_rgb() {
        let (w, h) = (211, 97);
        let (y, u, v, ys, cs) = smooth_i420(w, h);
        let pic = Picture::from_planes(Layout::I420, w, h, [(&y[..], ys), (&u[..], cs), (&v[..], cs)]);
        for (spec, target) in [(InputSpec::RGB_RAW, 96usize), (InputSpec { bgr: true, mean: [103.5, 116.3, 123.7], std: [57.4, 57.1, 58.4] }, 211)] {
            let lb = Letterbox::fit_width(w, h, target, 32);
            let mut fast = Array4::zeros((1, 3, lb.input_h, lb.input_w));
            let mut reference = fast.clone();
            fill_tensor(&pic, &lb, &spec, &mut fast);
            fill_tensor_reference(&pic, &lb, &spec, &mut reference);
            // Interpolating YUV before converting differs from converting first by rounding
            // and clamping only; both feed the detector the same picture.
            let diffs: Vec<f32> = fast.iter().zip(reference.iter()).map(|(a, b)| (a - b).abs() * spec.std[0]).collect();
            let mean = diffs.iter().sum::<f32>() / diffs.len() as f32;
            let worst = diffs.iter().copied().fold(0f32, f32::max);
            assert!(mean < 2.0, "mean difference {mean} (0..255 scale)");
            assert!(worst < 24.0, "worst difference {worst} (0..255 scale)");
        }
        // Packed RGB: both paths interpolate the same samples, so they agree exactly.
        let packed: Vec<u8> = (0..w * 3 * h).map(|i| (i * 7 % 251) as u8).collect();
        let pic = Picture::from_planes(Layout::Rgb, w, h, [(&packed[..], w * 3)]);
        let lb = Letterbox::fit_width(w, h, 128, 32);
        let mut fast = Array4::zeros((1, 3, lb.input_h, lb.input_w));
        let mut reference = fast.clone();
        fill_tensor(&pic, &lb, &InputSpec::RGB_RAW, &mut fast);
        fill_tensor_reference(&pic, &lb, &InputSpec::RGB_RAW, &mut reference);
        assert!(fast.iter().zip(reference.iter()).all(|(a, b)| (a - b).abs() < 1e-3));
    }
}

/// Low-light normalisation of a detector input (RGB 0..255, `[1, 3, H, W]`, content in the
/// top-left `content_w`×`content_h`): a dark or low-contrast picture (night, IR, backlight) is
/// stretched so its 1st–99th brightness percentiles span 0–255, with the gain capped at
/// [`MAX_LIGHT_GAIN`]. A picture that already spans most of the range is left as it is. Only what
/// the detector sees changes, never the video. Returns the gain applied (1.0: none).
pub fn normalise_light(tensor: &mut Array4<f32>, content_w: usize, content_h: usize) -> f32 {
    let (h, w) = (tensor.shape()[2], tensor.shape()[3]);
    let (cw, ch) = (content_w.min(w), content_h.min(h));
    if cw == 0 || ch == 0 {
        return 1.0;
    }
    let plane = h * w;
    let data = tensor.as_slice_mut().expect("a detector input is contiguous");
    let mut histogram = [0u32; 256];
    for y in (0..ch).step_by(2) {
        for x in (0..cw).step_by(2) {
            let i = y * w + x;
            let level = (data[i] + data[plane + i] + data[2 * plane + i]) / 3.0;
            histogram[level.clamp(0.0, 255.0) as usize] += 1;
        }
    }
    let percentile = |q: f64| quantile_bin(&histogram, q).unwrap_or(255) as f32;
    let (lo, hi) = (percentile(0.01), percentile(0.99));
    if hi - lo >= MIN_LIGHT_SPAN {
        return 1.0;
    }
    let gain = (255.0 / (hi - lo).max(1.0)).min(MAX_LIGHT_GAIN);
    // Centre the stretched range: a dark picture is lifted, a washed-out one pulled down.
    let offset = ((lo + hi) / 2.0) * gain - 127.5;
    for y in 0..ch {
        for c in 0..3 {
            let row = &mut data[c * plane + y * w..c * plane + y * w + cw];
            for v in row {
                *v = (*v * gain - offset).clamp(0.0, 255.0);
            }
        }
    }
    gain
}

/// A picture whose 1st–99th brightness percentiles span at least this is left as it is.
pub const MIN_LIGHT_SPAN: f32 = 160.0;
/// The most low-light normalisation multiplies contrast by.
pub const MAX_LIGHT_GAIN: f32 = 3.0;

#[cfg(test)]
mod light_tests {
    use super::*;

    /// A 1×3×h×w detector input whose three channels all hold `levels(x, y)`.
    pub(super) fn picture(levels: impl Fn(usize, usize) -> f32, w: usize, h: usize) -> Array4<f32> {
        let mut t = Array4::zeros((1, 3, h, w));
        for c in 0..3 {
            for y in 0..h {
                for x in 0..w {
                    t[[0, c, y, x]] = levels(x, y);
                }
            }
        }
        t
    }

    #[test]
    fn a_dark_low_contrast_picture_is_stretched_for_the_detector() {
        // Night: levels 20..60.
        let mut t = picture(|x, _| 20.0 + (x % 41) as f32, 64, 32);
        let gain = normalise_light(&mut t, 64, 32);
        assert_eq!(gain, MAX_LIGHT_GAIN);
        let (lo, hi) = t.iter().fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        assert!(hi - lo > 100.0 && lo >= 0.0 && hi <= 255.0, "{lo}..{hi}");
    }

    #[test]
    fn a_picture_with_full_contrast_is_left_as_it_is() {
        let mut t = picture(|x, y| ((x * 7 + y * 3) % 256) as f32, 64, 64);
        let before = t.clone();
        assert_eq!(normalise_light(&mut t, 64, 64), 1.0);
        assert_eq!(t, before);
    }

    #[test]
    fn the_letterbox_padding_is_not_touched() {
        let mut t = picture(|x, _| 30.0 + (x % 20) as f32, 64, 32);
        for c in 0..3 {
            for y in 16..32 {
                for x in 0..64 {
                    t[[0, c, y, x]] = 0.0;
                }
            }
        }
        normalise_light(&mut t, 64, 16);
        assert!((16..32).all(|y| (0..64).all(|x| t[[0, 0, y, x]] == 0.0)));
    }
}

/// Local contrast equalisation of a detector input (RGB 0..255, `[1, 3, H, W]`, content in the
/// top-left `content_w`×`content_h`), CLAHE-like: the content is cut into tiles of about
/// [`LOCAL_TILE`] pixels; each tile gets a brightness mapping from its own histogram, equalised
/// with each level's share clipped at [`LOCAL_CLIP`] times the mean (so flat areas and noise are
/// not blown up), and every pixel takes the bilinear blend of the four nearest tiles' mappings.
/// A dark face in front of a bright glow gets its contrast back where a global stretch cannot
/// (the glow already spans the range). Brightness is the mean of R, G and B; each channel moves
/// by the same amount, so colour differences are kept. Only what the detector sees changes.
pub fn equalise_local(tensor: &mut Array4<f32>, content_w: usize, content_h: usize) {
    let (h, w) = (tensor.shape()[2], tensor.shape()[3]);
    let (cw, ch) = (content_w.min(w), content_h.min(h));
    if cw == 0 || ch == 0 {
        return;
    }
    let plane = h * w;
    let data = tensor.as_slice_mut().expect("a detector input is contiguous");
    let level = |data: &[f32], i: usize| ((data[i] + data[plane + i] + data[2 * plane + i]) / 3.0).clamp(0.0, 255.0);
    let (tx, ty) = (cw.div_ceil(LOCAL_TILE).max(1), ch.div_ceil(LOCAL_TILE).max(1));
    let (tile_w, tile_h) = (cw as f32 / tx as f32, ch as f32 / ty as f32);
    // One mapping (256 levels) per tile, row-major.
    let mut maps = vec![[0f32; 256]; tx * ty];
    for (k, map) in maps.iter_mut().enumerate() {
        let (x0, y0) = (((k % tx) as f32 * tile_w) as usize, ((k / tx) as f32 * tile_h) as usize);
        let (x1, y1) = ((((k % tx) + 1) as f32 * tile_w) as usize, (((k / tx) + 1) as f32 * tile_h) as usize);
        let mut histogram = [0f32; 256];
        for y in y0..y1.min(ch) {
            for x in x0..x1.min(cw) {
                histogram[level(data, y * w + x) as usize] += 1.0;
            }
        }
        *map = tile_mapping(&histogram);
    }
    // Tile centres: a pixel at x lies between centres floor(x / tile_w - 0.5) and the next.
    let neighbours = |p: usize, size: f32, n: usize| {
        let t = (p as f32 + 0.5) / size - 0.5;
        let t0 = t.floor().clamp(0.0, (n - 1) as f32);
        let f = (t - t0).clamp(0.0, 1.0);
        let i0 = t0 as usize;
        (i0, (i0 + 1).min(n - 1), f)
    };
    let xs: Vec<(usize, usize, f32)> = (0..cw).map(|x| neighbours(x, tile_w, tx)).collect();
    for y in 0..ch {
        let (r0, r1, fy) = neighbours(y, tile_h, ty);
        for (x, &(c0, c1, fx)) in xs.iter().enumerate() {
            let i = y * w + x;
            let l = level(data, i) as usize;
            let top = maps[r0 * tx + c0][l] * (1.0 - fx) + maps[r0 * tx + c1][l] * fx;
            let bottom = maps[r1 * tx + c0][l] * (1.0 - fx) + maps[r1 * tx + c1][l] * fx;
            let delta = top * (1.0 - fy) + bottom * fy - l as f32;
            for c in 0..3 {
                let v = &mut data[c * plane + i];
                *v = (*v + delta).clamp(0.0, 255.0);
            }
        }
    }
}

/// The clipped-equalisation mapping of one tile's brightness histogram.
fn tile_mapping(histogram: &[f32; 256]) -> [f32; 256] {
    let total: f32 = histogram.iter().sum();
    let mut map = [0f32; 256];
    if total == 0.0 {
        map.iter_mut().enumerate().for_each(|(l, m)| *m = l as f32);
        return map;
    }
    let limit = (LOCAL_CLIP * total / 256.0).max(1.0);
    let excess: f32 = histogram.iter().map(|&c| (c - limit).max(0.0)).sum();
    let spread = excess / 256.0;
    let mut seen = 0.0;
    for (l, m) in map.iter_mut().enumerate() {
        seen += histogram[l].min(limit) + spread;
        *m = seen / total * 255.0;
    }
    map
}

/// Side in detector-input pixels of the tiles [`equalise_local`] equalises on their own.
pub const LOCAL_TILE: usize = 64;
/// How many times the mean count one brightness level may hold before its excess is spread over
/// all levels (CLAHE's clip limit): lower keeps more of the picture as it was.
pub const LOCAL_CLIP: f32 = 3.0;

#[cfg(test)]
mod local_tests {
    use super::light_tests::picture;
    use super::*;


    /// Spread (max − min) of channel 0 over a rectangle.
    fn spread(t: &Array4<f32>, xs: std::ops::Range<usize>, ys: std::ops::Range<usize>) -> f32 {
        let v: Vec<f32> = ys.flat_map(|y| xs.clone().map(move |x| (x, y))).map(|(x, y)| t[[0, 0, y, x]]).collect();
        v.iter().cloned().fold(f32::MIN, f32::max) - v.iter().cloned().fold(f32::MAX, f32::min)
    }

    /// A dark, low-contrast patch (a backlit face) on a bright glow: the global stretch leaves
    /// it alone (the picture spans the range), the local equalisation widens its contrast.
    #[test]
    fn a_dark_face_before_a_bright_glow_gets_its_contrast_back() {
        let face = |x: usize, y: usize| (96..160).contains(&x) && (32..96).contains(&y);
        let levels = |x: usize, y: usize| if face(x, y) { 30.0 + ((x * 3 + y * 5) % 17) as f32 } else { 150.0 + ((x + y) % 100) as f32 };
        let mut global = picture(levels, 256, 128);
        assert_eq!(normalise_light(&mut global, 256, 128), 1.0, "the global stretch cannot help here");
        let mut local = picture(levels, 256, 128);
        let before = spread(&local, 104..152, 40..88);
        equalise_local(&mut local, 256, 128);
        let after = spread(&local, 104..152, 40..88);
        assert!(after > 2.0 * before, "face spread {before} -> {after}");
    }

    #[test]
    fn a_flat_picture_stays_flat_and_colour_differences_are_kept() {
        let mut t = picture(|_, _| 100.0, 128, 64);
        for y in 0..64 {
            for x in 0..128 {
                t[[0, 0, y, x]] = 120.0; // a little red
            }
        }
        equalise_local(&mut t, 128, 64);
        let (r, g) = (t[[0, 0, 10, 10]], t[[0, 1, 10, 10]]);
        assert!((r - g - 20.0).abs() < 1e-3, "r {r} g {g}");
        assert!(t.iter().all(|&v| (0.0..=255.0).contains(&v)));
        assert!((0..64).all(|y| (0..128).all(|x| t[[0, 1, y, x]] == g)), "a flat picture gets one shift");
    }

    #[test]
    fn local_equalisation_leaves_the_letterbox_padding_alone() {
        let mut t = picture(|x, y| if y < 40 { 30.0 + (x % 20) as f32 } else { 0.0 }, 96, 64);
        equalise_local(&mut t, 96, 40);
        assert!((40..64).all(|y| (0..96).all(|x| (0..3).all(|c| t[[0, c, y, x]] == 0.0))));
    }
}

/// Whether a detector input (RGB 0..255, `[1, 3, H, W]`, content in the top-left
/// `content_w`×`content_h`) looks backlit: a dark patch with glow on three sides — some cell of
/// [`BACKLIT_CELL`] px at mean brightness [`BACKLIT_DARK`] or less has a cell at
/// [`BACKLIT_BRIGHT`] or more within [`BACKLIT_REACH`] cells to its left, to its right (in its
/// row) and above it (in its column). That is a head before a bright sky, window or lamp,
/// where one exposure cannot serve both and the face keeps little contrast. A bright sky above a
/// dark street, or a dark doorway beside a window, is not: the dark lies on one side of the
/// bright only, and an ordinary street crop does not pay for a second look (before, any glow and
/// any dark patch in the same crop counted, and half of the closer looks at a street scene ran
/// twice). Brightness is the mean of R, G and B, sampled on every second pixel of every second
/// row.
pub fn is_backlit(tensor: &Array4<f32>, content_w: usize, content_h: usize) -> bool {
    let cells = CellBrightness::of(tensor, content_w, content_h);
    let bright = |x: usize, y: usize| cells.at(x, y) >= BACKLIT_BRIGHT;
    let lit_left = |x: usize, y: usize| (x.saturating_sub(BACKLIT_REACH)..x).any(|cx| bright(cx, y));
    let lit_right = |x: usize, y: usize| (x + 1..(x + 1 + BACKLIT_REACH).min(cells.w)).any(|cx| bright(cx, y));
    let lit_above = |x: usize, y: usize| (y.saturating_sub(BACKLIT_REACH)..y).any(|cy| bright(x, cy));
    (0..cells.h).any(|y| {
        (0..cells.w).any(|x| cells.at(x, y) <= BACKLIT_DARK && lit_left(x, y) && lit_right(x, y) && lit_above(x, y))
    })
}

/// Mean brightness of the [`BACKLIT_CELL`]-px cells of a detector input's content.
struct CellBrightness {
    w: usize,
    h: usize,
    means: Vec<f32>,
}

impl CellBrightness {
    fn of(tensor: &Array4<f32>, content_w: usize, content_h: usize) -> Self {
        let (h, w) = (tensor.shape()[2], tensor.shape()[3]);
        let (cw, ch) = (content_w.min(w) / BACKLIT_CELL, content_h.min(h) / BACKLIT_CELL);
        let plane = h * w;
        let data = tensor.as_slice().expect("a detector input is contiguous");
        let mean = |cx: usize, cy: usize| {
            let (mut sum, mut n) = (0.0, 0.0);
            for y in (cy * BACKLIT_CELL..(cy + 1) * BACKLIT_CELL).step_by(2) {
                for x in (cx * BACKLIT_CELL..(cx + 1) * BACKLIT_CELL).step_by(2) {
                    let i = y * w + x;
                    sum += (data[i] + data[plane + i] + data[2 * plane + i]) / 3.0;
                    n += 1.0;
                }
            }
            sum / n
        };
        let means = (0..ch).flat_map(|cy| (0..cw).map(move |cx| (cx, cy))).map(|(cx, cy)| mean(cx, cy)).collect();
        CellBrightness { w: cw, h: ch, means }
    }

    fn at(&self, x: usize, y: usize) -> f32 {
        self.means[y * self.w + x]
    }
}

/// Brightness (0..255) from which a cell counts as glow for [`is_backlit`].
pub const BACKLIT_BRIGHT: f32 = 200.0;
/// Brightness up to which a cell counts as dark for [`is_backlit`].
pub const BACKLIT_DARK: f32 = 80.0;
/// The side of [`is_backlit`]'s cells, in detector-input pixels (a closer look's input is at
/// twice native resolution: 4 px of the frame).
pub const BACKLIT_CELL: usize = 8;
/// How many cells away from a dark cell [`is_backlit`] looks for glow (40 input px, 20 px of
/// the frame: about a small face's width).
pub const BACKLIT_REACH: usize = 5;

/// Whether `pic` looks like a night or infrared picture: almost every sampled pixel has neutral
/// colour (I420 chroma within [`GREY_CHROMA`] of 128; packed RGB channels within twice that of
/// each other). Samples about 4,000 pixels on a regular grid, so it costs next to nothing.
pub fn is_grey(pic: &Picture<'_>) -> bool {
    let neutral = |a: u8| (a as i32 - 128).abs() <= GREY_CHROMA;
    let near = |a: u8, b: u8| (a as i32 - b as i32).abs() <= 2 * GREY_CHROMA;
    let mostly = |(grey, n): (usize, usize)| n > 0 && grey as f64 >= GREY_SHARE * n as f64;
    match pic.layout {
        Layout::I420 => {
            mostly(grey_samples(&pic.planes[1], |row, x| neutral(row[x])))
                && mostly(grey_samples(&pic.planes[2], |row, x| neutral(row[x])))
        }
        Layout::Rgb => mostly(grey_samples(&pic.planes[0], |row, x| {
            let (r, g, b) = (row[3 * x], row[3 * x + 1], row[3 * x + 2]);
            near(r, g) && near(g, b)
        })),
    }
}

/// (grey samples, samples) over about 4,000 pixels of `plane` on a regular grid.
fn grey_samples(plane: &Plane<'_>, test: impl Fn(&[u8], usize) -> bool) -> (usize, usize) {
    let step = ((plane.width * plane.height / 4096) as f64).sqrt().max(1.0) as usize;
    let (mut grey, mut n) = (0, 0);
    for y in (0..plane.height).step_by(step) {
        let row = plane.row(y);
        for x in (0..plane.width).step_by(step) {
            n += 1;
            grey += test(row, x) as usize;
        }
    }
    (grey, n)
}

/// How far (in levels) from neutral a pixel's chroma may be and still count as grey.
pub const GREY_CHROMA: i32 = 6;
/// The share of sampled pixels that must be grey for a picture to count as night/IR.
pub const GREY_SHARE: f64 = 0.97;

#[cfg(test)]
pub(super) mod backlit_tests {
    use super::light_tests::picture;
    use super::*;

    /// A 128×128 crop on a background at `ground`: a disc of radius 14 at `face` inside a ring
    /// up to radius 40 at `ring`.
    pub(in crate::detect) fn crop(face: f32, ring: f32, ground: f32) -> Array4<f32> {
        picture(
            |x, y| {
                let r = ((x as f32 - 64.0).powi(2) + (y as f32 - 64.0).powi(2)).sqrt();
                if r < 14.0 { face } else if r < 40.0 { ring } else { ground }
            },
            128,
            128,
        )
    }

    #[test]
    fn a_dark_face_in_a_glow_is_backlit() {
        assert!(is_backlit(&crop(40.0, 235.0, 100.0), 128, 128));
    }

    #[test]
    fn even_light_a_bright_sky_alone_or_darkness_alone_is_not_backlit() {
        assert!(!is_backlit(&crop(150.0, 120.0, 100.0), 128, 128), "evenly lit");
        assert!(!is_backlit(&crop(150.0, 235.0, 240.0), 128, 128), "bright, nothing dark");
        assert!(!is_backlit(&crop(20.0, 40.0, 30.0), 128, 128), "dark, no glow");
    }

    #[test]
    fn only_the_content_counts_not_the_padding() {
        // The glow right of the face lies in the padding (right of column 64) only.
        let t = crop(40.0, 235.0, 100.0);
        assert!(is_backlit(&t, 128, 128));
        assert!(!is_backlit(&t, 64, 128));
    }

    /// Regression (issue 13): any glow and any dark patch in the same crop counted as backlight,
    /// so half of the closer looks at an ordinary street scene ran twice.
    #[test]
    fn a_bright_sky_above_a_dark_street_or_a_doorway_beside_a_window_is_not_backlit() {
        let sky_over_street = picture(|_, y| if y < 48 { 240.0 } else { 40.0 }, 128, 96);
        assert!(!is_backlit(&sky_over_street, 128, 96), "glow above only");
        let doorway_by_window = picture(|x, _| if x < 64 { 30.0 } else { 245.0 }, 128, 96);
        assert!(!is_backlit(&doorway_by_window, 128, 96), "glow to one side only");
    }

    #[test]
    fn a_dark_head_before_a_bright_window_with_its_body_below_is_backlit() {
        // Glow left, right and above a dark head; below it the dark body reaches the edge.
        let head = |x: usize, y: usize| {
            let (dx, dy) = (x as f32 - 64.0, y as f32 - 40.0);
            (dx * dx + dy * dy).sqrt() < 12.0 || (y > 40 && (x as f32 - 64.0).abs() < 24.0)
        };
        let t = picture(|x, y| if head(x, y) { 50.0 } else { 230.0 }, 128, 96);
        assert!(is_backlit(&t, 128, 96));
    }
}

#[cfg(test)]
mod grey_tests {
    use super::*;

    #[test]
    fn a_grey_infrared_picture_is_recognised_and_a_coloured_one_is_not() {
        let (w, h) = (160, 90);
        let (cw, ch) = (w / 2, h / 2);
        let y: Vec<u8> = (0..w * h).map(|i| (i * 13 % 200) as u8 + 20).collect();
        let neutral: Vec<u8> = (0..cw * ch).map(|i| 126 + (i % 5) as u8).collect();
        let grey = Picture::from_planes(Layout::I420, w, h, [(&y[..], w), (&neutral[..], cw), (&neutral[..], cw)]);
        assert!(is_grey(&grey));
        // A street by day: chroma spread over skin, sky, cars.
        let colour: Vec<u8> = (0..cw * ch).map(|i| 100 + (i * 7 % 60) as u8).collect();
        let day = Picture::from_planes(Layout::I420, w, h, [(&y[..], w), (&colour[..], cw), (&neutral[..], cw)]);
        assert!(!is_grey(&day));
        let packed_grey: Vec<u8> = (0..w * h).flat_map(|i| { let l = (i * 13 % 200) as u8; [l, l + 3, l] }).collect();
        assert!(is_grey(&Picture::from_planes(Layout::Rgb, w, h, [(&packed_grey[..], w * 3)])));
        let packed_colour: Vec<u8> = (0..w * h).flat_map(|i| { let l = (i * 13 % 200) as u8; [l + 40, l, l] }).collect();
        assert!(!is_grey(&Picture::from_planes(Layout::Rgb, w, h, [(&packed_colour[..], w * 3)])));
    }
}
