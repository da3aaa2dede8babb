//! The unit that flows through the pipeline, and stride-aware views of its pixels.
//!
//! Video frames are I420 (planar Y, U, V; chroma at half resolution both ways) as decoded by
//! GStreamer; still images are packed RGB. Both are seen by the detectors and the fills through
//! [`Picture`] / [`PictureMut`], a list of planes that each carry their own stride, size,
//! channel count and subsampling. No code here assumes `stride == width * channels`.

use std::sync::Arc;

use gstreamer as gst;
use gstreamer_video as gst_video;
use gst_video::prelude::*;

use crate::error::{Error, Result};

/// Pixel layouts veilcam reads and writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Planar 4:2:0 YUV (BT.601 limited range is assumed for colour conversion).
    I420,
    /// Packed 8-bit RGB.
    Rgb,
}

/// How one plane relates to the picture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlaneKind {
    /// Bytes per sample.
    pub channels: usize,
    /// log2 of the horizontal subsampling (1 for I420 chroma).
    pub x_shift: u32,
    /// log2 of the vertical subsampling.
    pub y_shift: u32,
    /// The value of black in this plane, per channel.
    pub black: [u8; 3],
}

const I420_PLANES: [PlaneKind; 3] = [
    PlaneKind { channels: 1, x_shift: 0, y_shift: 0, black: [16, 0, 0] },
    PlaneKind { channels: 1, x_shift: 1, y_shift: 1, black: [128, 0, 0] },
    PlaneKind { channels: 1, x_shift: 1, y_shift: 1, black: [128, 0, 0] },
];
const RGB_PLANES: [PlaneKind; 1] = [PlaneKind { channels: 3, x_shift: 0, y_shift: 0, black: [0, 0, 0] }];

impl Layout {
    pub fn planes(self) -> &'static [PlaneKind] {
        match self {
            Layout::I420 => &I420_PLANES,
            Layout::Rgb => &RGB_PLANES,
        }
    }

    /// Each plane's kind and size in samples (width, height) for a `width`×`height` picture,
    /// in plane order.
    fn plane_sizes(self, width: usize, height: usize) -> impl Iterator<Item = (PlaneKind, usize, usize)> {
        self.planes().iter().map(move |kind| (*kind, plane_extent(width, kind.x_shift), plane_extent(height, kind.y_shift)))
    }
}

/// Samples across a plane of a `width`-pixel-wide picture.
pub fn plane_extent(full: usize, shift: u32) -> usize {
    (full + (1 << shift) - 1) >> shift
}

/// A read-only plane: `height` rows of `stride` bytes, of which the first `width * channels` are
/// pixels.
#[derive(Clone, Copy, Debug)]
pub struct Plane<'a> {
    pub data: &'a [u8],
    pub stride: usize,
    pub width: usize,
    pub height: usize,
    pub kind: PlaneKind,
}

impl<'a> Plane<'a> {
    /// The pixel bytes of row `y` (without stride padding).
    #[inline]
    pub fn row(&self, y: usize) -> &'a [u8] {
        let start = y * self.stride;
        &self.data[start..start + self.width * self.kind.channels]
    }
}

/// A writable plane.
#[derive(Debug)]
pub struct PlaneMut<'a> {
    pub data: &'a mut [u8],
    pub stride: usize,
    pub width: usize,
    pub height: usize,
    pub kind: PlaneKind,
}

impl PlaneMut<'_> {
    #[inline]
    pub fn row_mut(&mut self, y: usize) -> &mut [u8] {
        let start = y * self.stride;
        let len = self.width * self.kind.channels;
        &mut self.data[start..start + len]
    }

    #[inline]
    pub fn row(&self, y: usize) -> &[u8] {
        let start = y * self.stride;
        &self.data[start..start + self.width * self.kind.channels]
    }
}

/// A read-only picture: its layout, size in pixels and planes.
#[derive(Clone, Debug)]
pub struct Picture<'a> {
    pub layout: Layout,
    pub width: usize,
    pub height: usize,
    pub planes: Vec<Plane<'a>>,
}

/// A writable picture.
#[derive(Debug)]
pub struct PictureMut<'a> {
    pub layout: Layout,
    pub width: usize,
    pub height: usize,
    pub planes: Vec<PlaneMut<'a>>,
}

impl<'a> Picture<'a> {
    /// Views planes given as `(bytes, stride)` in the layout's plane order.
    pub fn from_planes(layout: Layout, width: usize, height: usize, planes: impl IntoIterator<Item = (&'a [u8], usize)>) -> Self {
        let planes = layout
            .plane_sizes(width, height)
            .zip(planes)
            .map(|((kind, width, height), (data, stride))| Plane { data, stride, width, height, kind })
            .collect();
        Picture { layout, width, height, planes }
    }

    /// Reads the colour at pixel `(x, y)` as RGB.
    #[inline]
    pub fn rgb_at(&self, x: usize, y: usize) -> [u8; 3] {
        match self.layout {
            Layout::Rgb => {
                let p = &self.planes[0];
                let i = y * p.stride + x * 3;
                [p.data[i], p.data[i + 1], p.data[i + 2]]
            }
            Layout::I420 => {
                let (py, pu, pv) = (&self.planes[0], &self.planes[1], &self.planes[2]);
                let luma = py.data[y * py.stride + x];
                let (cx, cy) = (x >> 1, y >> 1);
                let u = pu.data[cy * pu.stride + cx];
                let v = pv.data[cy * pv.stride + cx];
                yuv_to_rgb(luma, u, v)
            }
        }
    }
}

impl<'a> PictureMut<'a> {
    /// Views writable planes given as `(bytes, stride)` in the layout's plane order.
    pub fn from_planes(layout: Layout, width: usize, height: usize, planes: impl IntoIterator<Item = (&'a mut [u8], usize)>) -> Self {
        let planes = layout
            .plane_sizes(width, height)
            .zip(planes)
            .map(|((kind, width, height), (data, stride))| PlaneMut { data, stride, width, height, kind })
            .collect();
        PictureMut { layout, width, height, planes }
    }

    /// A read-only view of the same pixels.
    pub fn as_picture(&self) -> Picture<'_> {
        Picture {
            layout: self.layout,
            width: self.width,
            height: self.height,
            planes: self
                .planes
                .iter()
                .map(|p| Plane { data: p.data, stride: p.stride, width: p.width, height: p.height, kind: p.kind })
                .collect(),
        }
    }
}

/// BT.601 limited-range YUV to RGB.
#[inline]
pub fn yuv_to_rgb(y: u8, u: u8, v: u8) -> [u8; 3] {
    let c = (y as i32 - 16) * 298;
    let d = u as i32 - 128;
    let e = v as i32 - 128;
    let clip = |x: i32| ((x + 128) >> 8).clamp(0, 255) as u8;
    [clip(c + 409 * e), clip(c - 100 * d - 208 * e), clip(c + 516 * d)]
}

/// One decoded video frame with its timing, owned by exactly one pipeline stage at a time.
///
/// The GStreamer buffer is kept as is, so PTS, duration and flags reach the encoder untouched.
#[derive(Debug)]
pub struct Frame {
    /// Position in the stream, from 0.
    pub index: u64,
    pub buffer: gst::Buffer,
    pub info: Arc<gst_video::VideoInfo>,
}

impl Frame {
    /// A second reference to the same pixels, for a stage that only reads them (detection)
    /// while the frame goes on. Whoever writes first gets a private copy (GStreamer's
    /// copy-on-write), so a reader never sees a half-redacted picture, nor a writer a stale one.
    pub fn share(&self) -> Frame {
        Frame { index: self.index, buffer: self.buffer.clone(), info: Arc::clone(&self.info) }
    }

    pub fn pts(&self) -> Option<gst::ClockTime> {
        self.buffer.pts()
    }

    /// A filler frame: a black picture standing in for frames a live camera did not send
    /// (GStreamer's `GAP` flag, "media-neutral data that fills a gap"). The engine passes it
    /// on obscured whole without a look.
    pub fn is_filler(&self) -> bool {
        self.buffer.flags().contains(gst::BufferFlags::GAP)
    }

    pub fn width(&self) -> usize {
        self.info.width() as usize
    }

    pub fn height(&self) -> usize {
        self.info.height() as usize
    }

    /// Runs `f` on a read-only view of the pixels.
    pub fn with_picture<R>(&self, f: impl FnOnce(&Picture<'_>) -> R) -> Result<R> {
        let vframe = gst_video::VideoFrameRef::from_buffer_ref_readable(self.buffer.as_ref(), &self.info)
            .map_err(|e| Error::Pipeline(format!("frame {}: cannot map for reading: {e}", self.index)))?;
        let strides = plane_strides(vframe.plane_stride());
        let mut planes = Vec::with_capacity(3);
        for (i, stride) in strides.into_iter().enumerate() {
            let data = vframe
                .plane_data(i as u32)
                .map_err(|e| Error::Pipeline(format!("frame {}: cannot read plane {i}: {e}", self.index)))?;
            planes.push((data, stride));
        }
        let pic = Picture::from_planes(Layout::I420, self.width(), self.height(), planes);
        Ok(f(&pic))
    }

    /// Runs `f` on a writable view of the pixels (copying the buffer first if it is shared).
    pub fn with_picture_mut<R>(&mut self, f: impl FnOnce(&mut PictureMut<'_>) -> R) -> Result<R> {
        let index = self.index;
        let (width, height) = (self.width(), self.height());
        let info = Arc::clone(&self.info);
        let buffer = self.buffer.make_mut();
        let mut vframe = gst_video::VideoFrameRef::from_buffer_ref_writable(buffer, &info)
            .map_err(|e| Error::Pipeline(format!("frame {index}: cannot map for writing: {e}")))?;
        let strides = plane_strides(vframe.plane_stride());
        let [y, u, v, _] = vframe.planes_data_mut();
        let mut pic = PictureMut::from_planes(Layout::I420, width, height, [(y, strides[0]), (u, strides[1]), (v, strides[2])]);
        Ok(f(&mut pic))
    }
}

fn plane_strides(strides: &[i32]) -> [usize; 3] {
    [strides[0] as usize, strides[1] as usize, strides[2] as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_widths_round_chroma_up() {
        assert_eq!(plane_extent(853, 1), 427);
        assert_eq!(plane_extent(852, 1), 426);
        assert_eq!(plane_extent(853, 0), 853);
    }

    #[test]
    fn rgb_picture_respects_stride_padding() {
        // 3x2 RGB with rows padded to 12 bytes: padding must never be read as pixels.
        let mut data = [0xEEu8; 24];
        for y in 0..2 {
            for x in 0..3 {
                let i = y * 12 + x * 3;
                data[i..i + 3].copy_from_slice(&[x as u8, y as u8, 7]);
            }
        }
        let pic = Picture::from_planes(Layout::Rgb, 3, 2, [(&data[..], 12)]);
        assert_eq!(pic.rgb_at(2, 1), [2, 1, 7]);
        assert_eq!(pic.planes[0].row(1), &[0, 1, 7, 1, 1, 7, 2, 1, 7]);
    }

    #[test]
    fn limited_range_black_and_white_convert_to_rgb_extremes() {
        assert_eq!(yuv_to_rgb(16, 128, 128), [0, 0, 0]);
        assert_eq!(yuv_to_rgb(235, 128, 128), [255, 255, 255]);
    }
}
