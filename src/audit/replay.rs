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
    pub(super) moving_share: f64,
    /// The second model's hits under this score are dropped (an earlier report may have kept
    /// weaker ones).
    second_threshold: f32,
}

impl Recorded {
    pub(super) fn read(path: &Path, second_threshold: f32) -> Result<Self> {
        let bad = |why: &str| Error::Settings(format!("{}: not a complete audit report: {why}", path.display()));
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let report: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(&e.to_string()))?;
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
        Ok(Recorded { hits, moving_share: report["moving_share"].as_f64().unwrap_or(0.0), second_threshold })
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
