//! The export's media checks for `veilcam verify` ([`super::verify::MediaCheck`]): the working
//! copy decodes to exactly the frames the manifest states, and the sidecar records exactly as
//! many frames. A file whose hash matched can still fail here when it was made wrong, or when
//! the manifest was re-signed after an edit of its counts.

use std::path::Path;

use serde_json::Value;

use super::verify::MediaCheck;
use crate::source::file::FileSource;
use crate::source::FrameSource;

fn produced<'a>(manifest: &'a Value, field: &str) -> Option<&'a Value> {
    manifest.get("produced").and_then(|p| p.get(field))
}

fn stated_frames(manifest: &Value) -> Result<u64, String> {
    produced(manifest, "frames").and_then(Value::as_u64).ok_or_else(|| "the manifest states no frame count (produced.frames)".into())
}

/// The working copy decodes cleanly to `produced.frames` frames.
pub struct WorkingCopyFrames;

impl MediaCheck for WorkingCopyFrames {
    fn applies(&self, name: &str, manifest: &Value) -> bool {
        produced(manifest, "working_copy").and_then(Value::as_str) == Some(name)
    }

    fn check(&self, _name: &str, path: &Path, manifest: &Value) -> Result<String, String> {
        let stated = stated_frames(manifest)?;
        let mut source = FileSource::open(path).map_err(|e| format!("does not decode: {e}"))?;
        let mut frames = 0u64;
        while source.next_frame().map_err(|e| format!("does not decode to its end: {e}"))?.is_some() {
            frames += 1;
        }
        if frames != stated {
            return Err(format!("decodes to {frames} frames, the manifest states {stated}"));
        }
        Ok(format!("{frames} frames decoded, as stated"))
    }
}

/// The sidecar is complete JSON with one record per frame of the working copy.
pub struct SidecarFrames;

impl MediaCheck for SidecarFrames {
    fn applies(&self, name: &str, manifest: &Value) -> bool {
        produced(manifest, "sidecar").and_then(Value::as_str) == Some(name)
    }

    fn check(&self, _name: &str, path: &Path, manifest: &Value) -> Result<String, String> {
        let stated = stated_frames(manifest)?;
        let text = std::fs::read(path).map_err(|e| e.to_string())?;
        let sidecar: Value = serde_json::from_slice(&text).map_err(|e| format!("is not valid JSON: {e}"))?;
        let frames = sidecar.get("frames").and_then(Value::as_array).map(Vec::len).ok_or("has no \"frames\" list")? as u64;
        if frames != stated {
            return Err(format!("records {frames} frames, the manifest states {stated}"));
        }
        Ok(format!("{frames} frame records, as stated"))
    }
}

/// The working copy carries a C2PA manifest that validates (signature and data hash); an
/// untrusted credential (veilcam's self-generated certificate) is reported, not failed. Catches
/// a stripped manifest, and video bytes altered after signing even where the bundle was
/// re-sealed so that its own hashes match.
pub struct ContentCredentials;

impl MediaCheck for ContentCredentials {
    fn applies(&self, name: &str, manifest: &Value) -> bool {
        produced(manifest, "working_copy").and_then(Value::as_str) == Some(name)
    }

    fn check(&self, _name: &str, path: &Path, _manifest: &Value) -> Result<String, String> {
        super::credentials::check(path)
    }
}

/// The checks an export's bundle gets. C2PA comes before the frame count: a file's first
/// failing check is the one reported, and the C2PA data hash names any change of the video's
/// bytes, where a decoder only sometimes stumbles over one.
pub fn all() -> Vec<Box<dyn MediaCheck>> {
    vec![Box::new(ContentCredentials), Box::new(WorkingCopyFrames), Box::new(SidecarFrames)]
}
