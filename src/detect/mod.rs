//! Detection: from a picture to boxes in source pixels.
//!
//! Each stage is a separate piece: [`preprocess`] resizes and pads a picture into a reused
//! tensor, [`runtime`] loads ONNX Runtime and builds one session per worker, a decoder per
//! model ([`centerface`]) turns the model's output heads into boxes, and [`nms`] removes
//! duplicates.

pub mod centerface;
pub mod nanodet;
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

/// The detectors one worker owns (each with its own ONNX Runtime session) and how often each
/// runs.
pub struct DetectorSet {
    pub face: centerface::CenterFace,
    pub person: Option<nanodet::NanoDet>,
    pub face_every: u64,
    pub person_every: u64,
}

impl DetectorSet {
    /// Runs the detectors due on frame `index`; `None` when none was due.
    pub fn run(&mut self, index: u64, pic: &crate::frame::Picture<'_>) -> Result<Option<Vec<Detection>>, String> {
        let face_due = index % self.face_every == 0;
        let person_due = self.person.is_some() && index % self.person_every == 0;
        if !face_due && !person_due {
            return Ok(None);
        }
        let mut found = if face_due { self.face.detect(pic)? } else { Vec::new() };
        if let (true, Some(person)) = (person_due, self.person.as_mut()) {
            found.extend(person.detect(pic)?);
        }
        Ok(Some(found))
    }
}
