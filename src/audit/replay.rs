//! Replaying an earlier report: the detector's hits of an earlier `--json` report, frame by
//! frame, in place of the detector's looks (`AuditSettings::hits_from`).

use std::path::Path;

use super::mosaic::mosaic_and_flat;
use super::{FrameHits, Hit, Look};
use crate::error::{Error, Result};
use crate::frame::Picture;
use crate::geometry::BBox;

/// The detected hits of an earlier report (`--json`), frame by frame: those of its findings and
/// those it set aside.
pub(super) struct Recorded {
    hits: std::collections::BTreeMap<u64, Vec<Hit>>,
    /// How the recorded hits were looked for: a replay's report tells these, not its own
    /// options, which did not look.
    pub(super) looked: Looked,
    /// The video the report was made of: frames, width, height.
    video: (u64, u32, u32),
    /// The second model's hits under this score are dropped (an earlier report may have kept
    /// weaker ones).
    second_threshold: f32,
}

impl Recorded {
    pub(super) fn read(path: &Path, second_threshold: f32) -> Result<Self> {
        let bad = |why: &str| Error::Settings(format!("{}: not a complete audit report: {why}", crate::one_line_path(path)));
        let bytes = crate::input::read_small(path, super::masks::MAX_REPORT).map_err(|e| Error::io(path, e))?;
        let report: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| bad(&e.to_string()))?;
        let aside = report["set_aside"].as_array().ok_or_else(|| bad("no set_aside"))?;
        if report["set_aside_count"].as_u64() != Some(aside.len() as u64) {
            return Err(bad("set_aside lists only part of the hits it set aside"));
        }
        let findings = report["findings"].as_array().ok_or_else(|| bad("no findings"))?;
        let mut hits: std::collections::BTreeMap<u64, Vec<Hit>> = Default::default();
        for h in findings.iter().flat_map(|f| f["hits"].as_array().into_iter().flatten()).chain(aside) {
            let hit = recorded_hit(h).ok_or_else(|| bad(&format!("unreadable hit {h}")))?;
            if hit.look.makes_findings() {
                hits.entry(hit.frame).or_default().push(hit);
            }
        }
        let video = (|| Some((report["frames"].as_u64()?, u32::try_from(report["width"].as_u64()?).ok()?, u32::try_from(report["height"].as_u64()?).ok()?)))()
            .ok_or_else(|| bad("no frames, width or height"))?;
        let looked = Looked::read(&report).ok_or_else(|| bad("no local_contrast, moving, closer or moving_share"))?;
        Ok(Recorded { hits, looked, video, second_threshold })
    }

    /// Refuses to replay the report over a video of another size, or another number of frames
    /// (`frames`: how many the video audited had), naming `path` (the report).
    pub(super) fn check_video(&self, path: &Path, frames: Option<u64>, width: u32, height: u32) -> Result<()> {
        let (recorded_frames, w, h) = self.video;
        let other = |what: String| Err(Error::Settings(format!("{}: a report of another video ({what}); replay a report of the video audited", path.display())));
        if (w, h) != (width, height) {
            return other(format!("{w}x{h}, not {width}x{height}"));
        }
        match frames {
            Some(frames) if frames != recorded_frames => other(format!("{recorded_frames} frames, not {frames}")),
            _ => Ok(()),
        }
    }

    /// The recorded hits of frame `index`, their mosaic likeness and flat blocks measured on
    /// `pic` (the frame of the video audited now).
    pub(super) fn frame(&mut self, pic: &Picture<'_>, index: u64) -> FrameHits {
        let mut hits = self.hits.remove(&index).unwrap_or_default();
        hits.retain(|h| h.look != Look::Second || h.score >= self.second_threshold);
        // Measured again on the picture, not taken from the report: the rules may have changed
        // since, and a report edited by hand cannot set a visible face aside.
        for h in &mut hits {
            (h.mosaic, h.flat) = mosaic_and_flat(pic, &h.bbox);
        }
        FrameHits::sorted(hits)
    }
}

/// How an audit looked for its hits, as its report tells it.
#[derive(Clone, Debug)]
pub(super) struct Looked {
    pub(super) local_contrast: String,
    pub(super) moving: bool,
    pub(super) closer: bool,
    pub(super) second_model: bool,
    pub(super) moving_share: f64,
}

impl Looked {
    fn read(report: &serde_json::Value) -> Option<Self> {
        Some(Looked {
            local_contrast: report["local_contrast"].as_str()?.to_string(),
            moving: report["moving"].as_bool()?,
            closer: report["closer"].as_bool()?,
            // Reports of builds before the second model did not say: it had not looked.
            second_model: report["second_model"].as_bool().unwrap_or(false),
            moving_share: report["moving_share"].as_f64()?,
        })
    }
}

/// A hit as an audit report lists it. Its mosaic likeness and flat blocks are not read: they are
/// measured again on the video ([`Recorded::frame`]).
fn recorded_hit(h: &serde_json::Value) -> Option<Hit> {
    let b = &h["box"];
    let f = |v: &serde_json::Value| v.as_f64().map(|v| v as f32);
    let look = serde_json::from_value(h["look"].clone()).ok()?;
    Some(Hit {
        frame: h["frame"].as_u64()?,
        bbox: BBox::new(f(&b["x1"])?, f(&b["y1"])?, f(&b["x2"])?, f(&b["y2"])?),
        score: f(&h["score"])?,
        look,
        mosaic: 0.0,
        flat: 0.0,
        ncc: None,
        recheck: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report's mosaic likeness is measured again on the video, so a hit is read without it,
    /// and a recorded value is not taken.
    #[test]
    fn a_recorded_hit_is_read_without_its_mosaic_likeness_and_a_recorded_one_is_ignored() {
        let hit = serde_json::json!({"frame": 7, "box": {"x1": 10.0, "y1": 20.0, "x2": 30.0, "y2": 46.0}, "score": 0.6, "look": "frame"});
        let read = recorded_hit(&hit).expect("a hit without its likeness");
        assert_eq!((read.frame, read.score, read.look), (7, 0.6, Look::Frame));
        let mut edited = hit.clone();
        edited["mosaic"] = serde_json::json!(0.99);
        assert_eq!(recorded_hit(&edited).unwrap().mosaic, 0.0);
        edited["look"] = serde_json::json!("a look of no kind");
        assert!(recorded_hit(&edited).is_none());
    }
}
