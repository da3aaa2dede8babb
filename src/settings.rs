//! Validated settings: built once from the command line, read everywhere else.

use std::path::{Path, PathBuf};

use crate::cli::RedactArgs;
use crate::detect::centerface::CenterFaceSettings;
use crate::detect::runtime;
use crate::error::{Error, Result};
use crate::redact::{FillMode, Shape};
use crate::sink::file::{EncoderSettings, PRESETS};

/// Where the bundled face model lives when nothing else is named.
pub const DEFAULT_MODEL: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/models/centerface.onnx");

/// Everything one redaction run needs to know.
#[derive(Clone, Debug)]
pub struct RedactSettings {
    pub input: PathBuf,
    pub output: PathBuf,
    pub fill: FillMode,
    pub shape: Shape,
    pub mask_scale: f32,
    pub face: CenterFaceSettings,
    pub encoder: EncoderSettings,
    pub keep_audio: bool,
    pub sidecar: Option<PathBuf>,
    pub preview: Option<PathBuf>,
    pub overwrite: bool,
    pub model: PathBuf,
    pub ort_lib: PathBuf,
    pub workers: usize,
    pub ort_threads: usize,
    pub detect_every: u64,
    pub lookahead_seconds: f64,
    pub hold_seconds: f64,
}

/// What kind of file a path is, by extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaKind {
    Image,
    Video,
}

pub fn media_kind(path: &Path) -> MediaKind {
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).unwrap_or_default();
    if matches!(ext.as_str(), "jpg" | "jpeg" | "png") {
        MediaKind::Image
    } else {
        MediaKind::Video
    }
}

impl RedactSettings {
    pub fn from_args(a: &RedactArgs) -> Result<Self> {
        let bad = |m: String| Err(Error::Settings(m));
        if !(a.threshold > 0.0 && a.threshold < 1.0) {
            return bad(format!("--threshold {} must be between 0 and 1", a.threshold));
        }
        if !(1.0..=4.0).contains(&a.mask_scale) {
            return bad(format!("--mask-scale {} must be between 1.0 and 4.0", a.mask_scale));
        }
        if !(32..=7680).contains(&a.detect_width) {
            return bad(format!("--detect-width {} must be between 32 and 7680", a.detect_width));
        }
        if !PRESETS.contains(&a.preset.as_str()) {
            return bad(format!("--preset {} is not one of {}", a.preset, PRESETS.join(", ")));
        }
        if a.crf > 51 {
            return bad(format!("--crf {} must be between 0 and 51", a.crf));
        }
        if a.workers == 0 || a.workers > 16 {
            return bad(format!("--workers {} must be between 1 and 16", a.workers));
        }
        if a.ort_threads == 0 || a.ort_threads > 64 {
            return bad(format!("--ort-threads {} must be between 1 and 64", a.ort_threads));
        }
        if a.detect_every == 0 || a.detect_every > 30 {
            return bad(format!("--detect-every {} must be between 1 and 30", a.detect_every));
        }
        if !(0.0..=5.0).contains(&a.lookahead) {
            return bad(format!("--lookahead {} must be between 0 and 5 seconds", a.lookahead));
        }
        if !(0.0..=5.0).contains(&a.hold) {
            return bad(format!("--hold {} must be between 0 and 5 seconds", a.hold));
        }
        if media_kind(&a.input) != media_kind(&a.output) {
            return bad(format!(
                "{} and {} must both be videos or both be images",
                a.input.display(),
                a.output.display()
            ));
        }
        if media_kind(&a.output) == MediaKind::Video {
            crate::sink::file::muxer_for(&a.output)?;
        }
        if let Some(preview) = &a.preview {
            if media_kind(&a.input) == MediaKind::Image {
                return bad("--preview is for videos; use --sidecar for images".into());
            }
            crate::sink::file::muxer_for(preview)?;
        }
        Ok(RedactSettings {
            input: a.input.clone(),
            output: a.output.clone(),
            fill: a.fill,
            shape: a.shape,
            mask_scale: a.mask_scale,
            face: CenterFaceSettings { threshold: a.threshold, detect_width: a.detect_width },
            encoder: EncoderSettings { preset: a.preset.clone(), crf: a.crf },
            keep_audio: a.keep_audio,
            sidecar: a.sidecar.clone(),
            preview: a.preview.clone(),
            overwrite: a.overwrite,
            model: a.model.clone().unwrap_or_else(default_model),
            ort_lib: runtime::locate_library(a.ort_lib.as_deref()),
            workers: a.workers,
            ort_threads: a.ort_threads,
            detect_every: a.detect_every,
            lookahead_seconds: a.lookahead,
            hold_seconds: a.hold,
        })
    }
}

/// `$VEILCAM_MODEL_DIR/centerface.onnx` if set, else the repository's model.
fn default_model() -> PathBuf {
    std::env::var_os("VEILCAM_MODEL_DIR")
        .map(|d| PathBuf::from(d).join("centerface.onnx"))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_MODEL))
}
