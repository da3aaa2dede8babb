//! Ground truth written next to each generated clip (`<clip>.truth.json`) and read back by the
//! measurement.
//!
//! One record per frame lists every face drawn into it. A face's `x, y, w, h` is the *visible*
//! part of its tight face box (forehead to chin, ear to ear) in whole output pixels, rounded
//! outwards and clipped to the frame; `full` is the unclipped box with sub-pixel corners.
//! Faces that are mostly outside the frame or hidden behind a nearer face are kept (so that
//! obscuring them is never counted as over-redaction) but marked `scored: false`.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::scene::Light;
use super::sprite::IdentitySet;
use super::{EvalError, Result};

/// The `format` field of a truth file this code reads and writes.
pub const TRUTH_FORMAT: &str = "veilcam-eval-truth/1";

/// Face-height classes, in output pixels of the full (unclipped) face box.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SizeBucket {
    #[serde(rename = "<12")]
    Tiny,
    #[serde(rename = "12-24")]
    H12,
    #[serde(rename = "24-48")]
    H24,
    #[serde(rename = "48-96")]
    H48,
    #[serde(rename = "96+")]
    H96,
}

impl SizeBucket {
    /// The buckets faces are generated in (faces below 12 px are not generated).
    pub const SCORED: [SizeBucket; 4] = [SizeBucket::H12, SizeBucket::H24, SizeBucket::H48, SizeBucket::H96];

    pub fn of_height(h: f64) -> Self {
        match h {
            h if h < 12.0 => SizeBucket::Tiny,
            h if h < 24.0 => SizeBucket::H12,
            h if h < 48.0 => SizeBucket::H24,
            h if h < 96.0 => SizeBucket::H48,
            _ => SizeBucket::H96,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            SizeBucket::Tiny => "<12",
            SizeBucket::H12 => "12-24",
            SizeBucket::H24 => "24-48",
            SizeBucket::H48 => "48-96",
            SizeBucket::H96 => "96+",
        }
    }
}

/// One face in one frame.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TruthFace {
    /// Track id: the same person across frames.
    pub track: u32,
    /// Visible part of the face box, whole pixels, inside the frame.
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
    /// Unclipped face box `[x1, y1, x2, y2]`, may extend past the frame.
    pub full: [f32; 4],
    pub bucket: SizeBucket,
    /// The face box is cut by the frame edge.
    pub partial: bool,
    /// Fraction of the visible box covered by nearer faces' cut-outs.
    pub occluded: f32,
    /// Counted in recall. False when less than 30 % of the box is in the frame, the visible
    /// part is under 8 px across, or more than 35 % of it is hidden by a nearer face.
    pub scored: bool,
}

impl TruthFace {
    pub fn full_height(&self) -> f32 {
        self.full[3] - self.full[1]
    }
}

/// The faces in one frame.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TruthFrame {
    pub index: u64,
    pub pts_ns: u64,
    pub faces: Vec<TruthFace>,
}

/// Where a track's pixels came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TruthTrack {
    pub id: u32,
    /// File name of the face photograph.
    pub photo: String,
    /// The photo's identity set (absent in truth files from before the split).
    #[serde(default)]
    pub set: Option<IdentitySet>,
    /// Head yaw in degrees where the photo is labelled.
    #[serde(default)]
    pub yaw_deg: Option<f32>,
    /// Light condition (absent in older truth files).
    #[serde(default)]
    pub light: Option<Light>,
    /// Moves fast enough to smear (motion blur).
    #[serde(default)]
    pub fast: bool,
    pub mirrored: bool,
    /// First and last moment (seconds) the track is on its path; it may be outside the frame.
    pub start_s: f64,
    pub end_s: f64,
}

/// A whole truth file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Truth {
    pub format: String,
    pub variant: String,
    pub seed: u64,
    /// Content key of the generator settings and source files.
    pub key: String,
    pub width: u32,
    pub height: u32,
    pub fps_n: i32,
    pub fps_d: i32,
    pub frame_count: u64,
    pub duration_ns: u64,
    pub box_format: String,
    pub tracks: Vec<TruthTrack>,
    pub frames: Vec<TruthFrame>,
}

impl Truth {
    pub fn read(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| EvalError::io(path, e))?;
        let truth: Truth = serde_json::from_reader(BufReader::new(file))
            .map_err(|source| EvalError::Truth { path: path.to_path_buf(), source })?;
        if truth.format != TRUTH_FORMAT {
            return Err(EvalError::Settings(format!(
                "{}: truth format '{}', expected '{TRUTH_FORMAT}'",
                path.display(),
                truth.format
            )));
        }
        Ok(truth)
    }

    /// Writes the file atomically (temp file beside it, then rename).
    pub fn write(&self, path: &Path) -> Result<()> {
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let temp = tempfile::Builder::new().prefix(".truth.").tempfile_in(dir).map_err(|e| EvalError::io(path, e))?;
        {
            let mut w = BufWriter::new(temp.as_file());
            serde_json::to_writer(&mut w, self).map_err(|source| EvalError::Truth { path: path.to_path_buf(), source })?;
            w.write_all(b"\n").and_then(|_| w.flush()).map_err(|e| EvalError::io(path, e))?;
        }
        temp.persist(path).map_err(|e| EvalError::io(path, e.error))?;
        Ok(())
    }

    /// Faces counted in recall.
    pub fn scored_faces(&self) -> usize {
        self.frames.iter().map(|f| f.faces.iter().filter(|x| x.scored).count()).sum()
    }
}

/// A scored, whole face whose box is `x, y, w, h` (for tests).
#[cfg(test)]
pub(crate) fn face_box(x: u32, y: u32, w: u32, h: u32) -> TruthFace {
    TruthFace {
        track: 0,
        x,
        y,
        w,
        h,
        full: [x as f32, y as f32, (x + w) as f32, (y + h) as f32],
        bucket: SizeBucket::of_height(h as f64),
        partial: false,
        occluded: 0.0,
        scored: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_edges_are_half_open() {
        assert_eq!(SizeBucket::of_height(11.99), SizeBucket::Tiny);
        assert_eq!(SizeBucket::of_height(12.0), SizeBucket::H12);
        assert_eq!(SizeBucket::of_height(24.0), SizeBucket::H24);
        assert_eq!(SizeBucket::of_height(95.9), SizeBucket::H48);
        assert_eq!(SizeBucket::of_height(96.0), SizeBucket::H96);
        assert_eq!(serde_json::to_string(&SizeBucket::H24).unwrap(), "\"24-48\"");
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let json = r#"{"track":1,"x":0,"y":0,"w":1,"h":1,"full":[0,0,1,1],"bucket":"12-24",
                       "partial":false,"occluded":0,"scored":true,"colour":"red"}"#;
        let err = serde_json::from_str::<TruthFace>(json).unwrap_err().to_string();
        assert!(err.contains("colour"), "{err}");
    }
}
