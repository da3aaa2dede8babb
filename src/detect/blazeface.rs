//! BlazeFace full-range (MediaPipe's face detector for faces far from the camera), a second
//! face model of another lineage than CenterFace, converted from the TFLite file of the PyPI
//! `mediapipe` wheel by `models/prepare_blazeface.sh`. The audit runs it beside CenterFace on
//! small crops: it finds small over-exposed, backlit and night faces that CenterFace misses at
//! any enlargement (`docs/evaluation.md`, "A second model in the audit").
//!
//! Input `input_1`: `[1, 192, 192, 3]` float, **NHWC**, RGB scaled to −1..1 (`x / 127.5 − 1`);
//! a crop is stretched over it.
//!
//! Outputs, one row per anchor of a 48×48 grid (stride 4, row-major, 2304 in all):
//! - `Identity` `[1, 2304, 16]`: the box (centre x, centre y, width, height, in input pixels;
//!   the centre relative to the anchor's), then six key points;
//! - `Identity_1` `[1, 2304, 1]`: the score as a logit.

use std::path::Path;

use ndarray::{Array4, ArrayView3, Ix3};
use ort::session::Session;
use ort::value::TensorRef;

use super::nms::non_maximum_suppression;
use super::preprocess::{fill_tensor, InputSpec, Letterbox};
use super::{runtime, Class, Detection, Region};
use crate::frame::Picture;
use crate::geometry::BBox;

const INPUT: &str = "input_1";
const BOXES: &str = "Identity";
const SCORES: &str = "Identity_1";
/// Side of the input, in pixels.
pub const SIZE: usize = 192;
/// Side of the anchor grid (stride 4).
const GRID: usize = 48;
/// Values per anchor in the box output: 4 of the box, 12 of the key points.
const VALUES: usize = 16;
pub const NMS_IOU: f32 = 0.3;
/// Tiles of a region it is run on, in source pixels (each stretched over its 192 px input, 2×),
/// and the step between them: neighbouring tiles overlap by 32 px, so a face of up to 32 px
/// lies whole in one; larger faces are CenterFace's. Tiles of 64 px (3×) caught fewer of the
/// faces CenterFace missed on the harness's night clip (22 against 32 in 10 frames).
pub const TILE: usize = 96;
pub const TILE_STEP: usize = 64;
/// BlazeFace's boxes are squares; CenterFace's, on which the tracker's joining, the masks and
/// the harness's truth are built, are narrower than tall. A box keeps its centre and becomes
/// this much as wide and as tall (on the four photographs of `sample_media`, CenterFace's box
/// ÷ BlazeFace's: width 0.68–0.93, mean 0.83; height 0.96–1.26, mean 1.10), so that a face
/// found by either model gets a mask of the same shape.
const BOX_WIDTH: f32 = 0.85;
const BOX_HEIGHT: f32 = 1.1;
const SPEC: InputSpec = InputSpec { bgr: false, mean: [127.5; 3], std: [127.5; 3] };

/// One BlazeFace session with its reusable input buffers.
pub struct BlazeFace {
    session: Session,
    threshold: f32,
    /// The crop as [`fill_tensor`] writes it (NCHW), and as the model takes it (NHWC).
    planar: Array4<f32>,
    input: Array4<f32>,
}

impl BlazeFace {
    pub fn load(library: &Path, model: &Path, threshold: f32, intra_threads: usize) -> crate::error::Result<Self> {
        let signature = runtime::Signature { kind: "a BlazeFace face model", input: INPUT, outputs: &[BOXES, SCORES] };
        let session = runtime::session_checked(library, model, intra_threads, &signature)?;
        Ok(BlazeFace { session, threshold, planar: Array4::zeros((1, 3, SIZE, SIZE)), input: Array4::zeros((1, SIZE, SIZE, 3)) })
    }

    /// Finds faces in the crop `(x, y, w, h)` of `pic`, stretched over the model's input;
    /// boxes are in `pic`'s pixels.
    pub fn detect_crop(&mut self, pic: &Picture<'_>, (x, y, w, h): Region) -> Result<Vec<Detection>, String> {
        let mut lb = Letterbox::stretch(pic.width, pic.height, SIZE, SIZE);
        (lb.crop_x, lb.crop_y, lb.crop_w, lb.crop_h) = (x, y, w.max(1), h.max(1));
        fill_tensor(pic, &lb, &SPEC, &mut self.planar);
        self.input.assign(&self.planar.view().permuted_axes([0, 2, 3, 1]));
        let raw = self.infer().map_err(|e| e.to_string())?;
        Ok(raw.into_iter().map(|d| Detection { bbox: lb.to_source(&d.bbox), ..d }).collect())
    }

    fn infer(&mut self) -> ort::Result<Vec<Detection>> {
        let outputs = self.session.run(ort::inputs![INPUT => TensorRef::from_array_view(&self.input)?])?;
        let boxes = outputs[BOXES].try_extract_array::<f32>()?.into_dimensionality::<Ix3>().map_err(shape_error)?;
        let scores = outputs[SCORES].try_extract_array::<f32>()?.into_dimensionality::<Ix3>().map_err(shape_error)?;
        Ok(non_maximum_suppression(decode(boxes, scores, self.threshold), NMS_IOU))
    }
}

fn shape_error(e: ndarray::ShapeError) -> ort::Error {
    ort::Error::new(format!("unexpected BlazeFace output shape: {e}"))
}

/// The faces of batch 0 scoring `threshold` or more, in input pixels.
pub fn decode(boxes: ArrayView3<'_, f32>, scores: ArrayView3<'_, f32>, threshold: f32) -> Vec<Detection> {
    let anchors = scores.shape()[1].min(boxes.shape()[1]).min(GRID * GRID);
    debug_assert_eq!(boxes.shape()[2], VALUES);
    let stride = (SIZE / GRID) as f32;
    let mut out = Vec::new();
    for i in 0..anchors {
        let score = sigmoid(scores[[0, i, 0]]);
        if score < threshold {
            continue;
        }
        let cx = ((i % GRID) as f32 + 0.5) * stride + boxes[[0, i, 0]];
        let cy = ((i / GRID) as f32 + 0.5) * stride + boxes[[0, i, 1]];
        let (w, h) = (boxes[[0, i, 2]] * BOX_WIDTH, boxes[[0, i, 3]] * BOX_HEIGHT);
        if w <= 0.0 || h <= 0.0 {
            continue;
        }
        let bbox = BBox::new(cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0).clamped(SIZE as f32, SIZE as f32);
        out.push(Detection { class: Class::Face, bbox, score });
    }
    out
}

/// The logistic function, with the logit clipped to ±100 as MediaPipe does.
fn sigmoid(logit: f32) -> f32 {
    1.0 / (1.0 + (-logit.clamp(-100.0, 100.0)).exp())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    #[test]
    fn a_confident_anchor_decodes_around_its_cell() {
        let mut boxes = Array3::<f32>::zeros((1, GRID * GRID, VALUES));
        let mut scores = Array3::<f32>::from_elem((1, GRID * GRID, 1), -20.0);
        let i = 10 * GRID + 20; // row 10, column 20: anchor centre (82, 42)
        scores[[0, i, 0]] = 3.0;
        // A square of 20 px at (80, 46): 17 px wide and 22 tall, the shape of CenterFace's.
        (boxes[[0, i, 0]], boxes[[0, i, 1]], boxes[[0, i, 2]], boxes[[0, i, 3]]) = (-2.0, 4.0, 20.0, 20.0);
        scores[[0, i + 1, 0]] = -1.0; // 0.27: under the threshold
        let found = decode(boxes.view(), scores.view(), 0.5);
        assert_eq!(found.len(), 1);
        let d = found[0];
        assert!((d.score - 0.9526).abs() < 1e-3, "{}", d.score);
        let b = d.bbox;
        assert!((b.x1 - 71.5).abs() < 1e-3 && (b.y1 - 35.0).abs() < 1e-3, "{b:?}");
        assert!((b.x2 - 88.5).abs() < 1e-3 && (b.y2 - 57.0).abs() < 1e-3, "{b:?}");
    }

    #[test]
    fn a_box_of_no_size_or_off_the_scale_logit_is_handled() {
        let mut boxes = Array3::<f32>::zeros((1, GRID * GRID, VALUES));
        let mut scores = Array3::<f32>::from_elem((1, GRID * GRID, 1), -1e6);
        scores[[0, 0, 0]] = 1e6;
        assert!(decode(boxes.view(), scores.view(), 0.5).is_empty(), "zero width and height");
        (boxes[[0, 0, 2]], boxes[[0, 0, 3]]) = (8.0, 8.0);
        let found = decode(boxes.view(), scores.view(), 0.5);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].score, 1.0);
    }
}
