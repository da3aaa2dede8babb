//! The evaluation harness: how well does `veilcam redact` hide faces, and how much else does it
//! touch?
//!
//! - [`generate`] makes test clips with ground truth: real face photographs ([`sprite`]) moving
//!   over real street footage on planned paths ([`scene`]) under drawn light conditions, in a
//!   day and an infrared-like night look, with per-frame face boxes ([`truth`]); the walkers
//!   variants put the faces on the heads of the people walking in the footage ([`walkers`]).
//!   Each person is in the tuning or the held-out set ([`sprite::IdentitySet`]), and every
//!   figure is reported for both.
//! - [`measure`] decides per labelled face whether the output still shows it, and counts
//!   changes outside faces; [`masks`] reads the run's sidecar and measures how far the masks
//!   reach beyond the faces (mask ÷ face area, the widest mask against its track's detections).
//! - [`report`] turns measurements into `report.json` and a table; [`run`] ties it together
//!   around the real `veilcam` binary (`veilcam-eval run`).
//! - [`control`] makes reference outputs (untouched, blacked out, mosaicked at the true
//!   positions) that show the measurement is honest.
//!
//! Everything streams: one frame (or one input/output pair) at a time.

pub mod control;
pub mod generate;
pub mod fills;
pub mod masks;
pub mod measure;
pub mod report;
pub mod rng;
pub mod run;
pub mod scene;
pub mod sprite;
pub mod truth;
pub mod walkers;

use std::path::PathBuf;

/// Everything that can stop an evaluation step.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// Decoding or encoding through veilcam's media code.
    #[error(transparent)]
    Media(#[from] veilcam::Error),

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{path}: cannot read image: {message}")]
    Image { path: PathBuf, message: String },

    #[error("{path}: invalid truth file: {source}")]
    Truth {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },

    /// Input, output and truth do not describe the same video.
    #[error("mismatch: {0}")]
    Mismatch(String),

    #[error("{binary}: {message}")]
    Redact { binary: PathBuf, message: String },

    #[error("invalid setting: {0}")]
    Settings(String),
}

impl EvalError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        EvalError::Io { path: path.into(), source }
    }
}

pub type Result<T, E = EvalError> = std::result::Result<T, E>;
