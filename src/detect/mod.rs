//! Detection: from a picture to boxes in source pixels.
//!
//! Each stage is a separate piece: [`preprocess`] resizes and pads a picture into a reused
//! tensor, [`runtime`] loads ONNX Runtime and builds one session per worker, a decoder per
//! model ([`centerface`]) turns the model's output heads into boxes, and [`nms`] removes
//! duplicates.

pub mod centerface;
pub mod nms;
pub mod preprocess;
pub mod runtime;

use serde::Serialize;

use crate::geometry::BBox;

/// What a detection is of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Class {
    Face,
    Person,
}

/// One object found in one frame, in source pixel coordinates.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Detection {
    pub class: Class,
    #[serde(rename = "box")]
    pub bbox: BBox,
    pub score: f32,
}
