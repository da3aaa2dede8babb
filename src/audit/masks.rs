//! An audit's findings as masks for a new redaction (`redact --obscure-findings AUDIT.json`).
//!
//! The review loop: redact, audit the output, look at the contact sheet, and redact the same
//! input again with the audit's report, so that every face the audit found is obscured too,
//! whatever the detectors and the policy make of it. Each finding covers the frames from its
//! first hit to its last, [`MARGIN_FRAMES`] more on each side; between two hits its box moves
//! in a straight line from one to the other, and before the first or after the last it stays
//! where it was. The policy grows each box by the mask scale and fills it like a face.
//!
//! The report must be of a video the size of the input: frame indices of the output of a
//! redaction are those of its input (exact timing), so the frame count is checked at the end
//! of the run ([`FindingsWatch`]) and a report of another video fails the run, leaving nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::geometry::BBox;
use crate::output::AtomicOutput;
use crate::sink::{Applied, FrameSink};
use crate::frame::Frame;

/// Frames before a finding's first hit and after its last that are covered too: the audit
/// looked at every frame, but a face turning towards the camera is a face a frame before the
/// detector is sure of it.
pub const MARGIN_FRAMES: u64 = 2;

/// The largest audit report `--obscure-findings` reads, as `verify` caps a bundle's manifest:
/// parsed, a report takes about 14 times its size (found by hostile use: a 99 MB report, the
/// findings of a real one repeated, took 1.4 GB).
pub const MAX_REPORT: u64 = 64 << 20;

/// The boxes of every finding of an audit report, frame by frame.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FindingMasks {
    /// Frame → (finding number from 1, box in source pixels).
    by_frame: BTreeMap<u64, Vec<(u64, BBox)>>,
    pub width: u32,
    pub height: u32,
    /// The frames of the video the report was made on.
    pub frames: u64,
    pub findings: usize,
    pub path: PathBuf,
}

impl FindingMasks {
    /// Reads the report `veilcam audit --json` wrote.
    pub fn read(path: &Path) -> Result<Self> {
        let bad = |why: String| Error::Settings(format!("--obscure-findings {}: not an audit report of veilcam: {why}", crate::one_line_path(path)));
        let bytes = crate::input::read_small(path, MAX_REPORT).map_err(|e| Error::io(path, e))?;
        let report: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
        let number = |key: &str| report[key].as_u64().ok_or_else(|| bad(format!("no \"{key}\"")));
        let (width, height, frames) = (number("width")?, number("height")?, number("frames")?);
        let findings = report["findings"].as_array().ok_or_else(|| bad("no \"findings\"".into()))?;
        let mut hits_of = Vec::with_capacity(findings.len());
        for (i, finding) in findings.iter().enumerate() {
            let hits = finding["hits"].as_array().filter(|h| !h.is_empty());
            let hits = hits.ok_or_else(|| bad(format!("finding {} has no hits", i + 1)))?;
            let hits = hits.iter().map(|h| hit(h, frames)).collect::<Option<Vec<_>>>();
            hits_of.push(hits.ok_or_else(|| bad(format!("finding {} has a hit without a frame of the video or a box", i + 1)))?);
        }
        let mut masks = FindingMasks::from_hits(&hits_of, frames);
        masks.width = u32::try_from(width).map_err(|_| bad("width".into()))?;
        masks.height = u32::try_from(height).map_err(|_| bad("height".into()))?;
        masks.path = path.to_path_buf();
        Ok(masks)
    }

    /// The masks of findings given as their hits (frame, box), in a video of `frames` frames.
    pub fn from_hits(findings: &[Vec<(u64, BBox)>], frames: u64) -> Self {
        let mut by_frame: BTreeMap<u64, Vec<(u64, BBox)>> = BTreeMap::new();
        for (i, hits) in findings.iter().enumerate() {
            for (frame, bbox) in path_of(hits, frames) {
                by_frame.entry(frame).or_default().push((i as u64 + 1, bbox));
            }
        }
        FindingMasks { by_frame, frames, findings: findings.len(), ..Default::default() }
    }

    /// The findings' boxes in frame `index`, with their numbers.
    pub fn at(&self, index: u64) -> &[(u64, BBox)] {
        self.by_frame.get(&index).map_or(&[], Vec::as_slice)
    }

    /// Refuses a report of a video of another size than the one being redacted.
    pub fn check_size(&self, input: &Path, width: u32, height: u32) -> Result<()> {
        if (self.width, self.height) == (width, height) {
            return Ok(());
        }
        Err(Error::Settings(format!(
            "--obscure-findings {}: the audit is of a {}×{} video, {} is {width}×{height}; give the audit of this input's redacted output",
            self.path.display(),
            self.width,
            self.height,
            input.display()
        )))
    }
}

/// One hit of a report: its frame (inside the video) and box.
fn hit(h: &serde_json::Value, frames: u64) -> Option<(u64, BBox)> {
    let frame = h["frame"].as_u64().filter(|&f| f < frames)?;
    let b = &h["box"];
    let c = |k: &str| b[k].as_f64().filter(|v| v.is_finite()).map(|v| v as f32);
    let bbox = BBox::new(c("x1")?, c("y1")?, c("x2")?, c("y2")?);
    (!bbox.is_empty()).then_some((frame, bbox))
}

/// Where one finding's face is, frame by frame: the union of its hits in a frame with hits, a
/// straight line between two such frames, the nearest hit's box in the margins.
fn path_of(hits: &[(u64, BBox)], frames: u64) -> Vec<(u64, BBox)> {
    let mut known: BTreeMap<u64, BBox> = BTreeMap::new();
    for &(frame, b) in hits {
        known.entry(frame).and_modify(|u| *u = u.hull(&b)).or_insert(b);
    }
    let (Some((&first, _)), Some((&last, _))) = (known.first_key_value(), known.last_key_value()) else { return Vec::new() };
    let span = first.saturating_sub(MARGIN_FRAMES)..=(last + MARGIN_FRAMES).min(frames.saturating_sub(1));
    span.map(|frame| {
        let before = known.range(..=frame).next_back();
        let after = known.range(frame..).next();
        let bbox = match (before, after) {
            (Some((&a, ba)), Some((&b, bb))) if a != b => ba.lerp(bb, (frame - a) as f32 / (b - a) as f32),
            (Some((_, b)), _) | (None, Some((_, b))) => *b,
            (None, None) => unreachable!("a finding has at least one hit"),
        };
        (frame, bbox)
    })
    .collect()
}

/// Fails the run at its end when the input had another number of frames than the audited
/// video: the report is of another video, and its frame numbers say nothing about this one.
pub struct FindingsWatch {
    path: PathBuf,
    expected: u64,
    seen: u64,
}

impl FindingsWatch {
    pub fn new(masks: &FindingMasks) -> Self {
        FindingsWatch { path: masks.path.clone(), expected: masks.frames, seen: 0 }
    }
}

impl FrameSink for FindingsWatch {
    fn push(&mut self, _frame: &Frame, _applied: &Applied<'_>) -> Result<()> {
        self.seen += 1;
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<Option<AtomicOutput>> {
        if self.seen == self.expected {
            return Ok(None);
        }
        Err(Error::Settings(format!(
            "--obscure-findings {}: the audit is of a video of {} frames, the input has {}; give the audit of this input's redacted output",
            self.path.display(),
            self.expected,
            self.seen
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn square(x: f32) -> BBox {
        BBox::new(x, 10.0, x + 10.0, 20.0)
    }

    #[test]
    fn a_finding_covers_its_frames_and_a_margin_moving_in_a_line_between_hits() {
        let masks = FindingMasks::from_hits(&[vec![(10, square(0.0)), (14, square(40.0))]], 100);
        assert!(masks.at(10 - MARGIN_FRAMES - 1).is_empty());
        assert_eq!(masks.at(10 - MARGIN_FRAMES), &[(1, square(0.0))]);
        assert_eq!(masks.at(12), &[(1, square(20.0))]);
        assert_eq!(masks.at(14 + MARGIN_FRAMES), &[(1, square(40.0))]);
        assert!(masks.at(14 + MARGIN_FRAMES + 1).is_empty());
    }

    #[test]
    fn hits_of_one_frame_are_joined_and_margins_stop_at_the_video_s_ends() {
        let masks = FindingMasks::from_hits(&[vec![(0, square(0.0)), (0, square(5.0)), (9, square(0.0))]], 10);
        assert_eq!(masks.at(0), &[(1, BBox::new(0.0, 10.0, 15.0, 20.0))]);
        assert_eq!(masks.by_frame.keys().copied().collect::<Vec<_>>(), (0..10).collect::<Vec<_>>());
    }

    #[test]
    fn a_report_with_a_hit_outside_the_video_or_without_a_box_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let write = |body: &str| {
            let path = dir.path().join("audit.json");
            std::fs::write(&path, body).unwrap();
            FindingMasks::read(&path)
        };
        let report = |hit: &str| format!(r#"{{"width": 64, "height": 48, "frames": 5, "findings": [{{"hits": [{hit}]}}]}}"#);
        let good = write(&report(r#"{"frame": 4, "box": {"x1": 1, "y1": 2, "x2": 11, "y2": 12}}"#)).unwrap();
        assert_eq!((good.width, good.height, good.frames, good.findings), (64, 48, 5, 1));
        let past_the_end = write(&report(r#"{"frame": 5, "box": {"x1": 1, "y1": 2, "x2": 11, "y2": 12}}"#)).unwrap_err();
        assert!(past_the_end.to_string().contains("finding 1 has a hit without a frame of the video"), "{past_the_end}");
        assert!(write(&report(r#"{"frame": 1}"#)).is_err());
        let not_json = write("{").unwrap_err().to_string();
        assert!(not_json.contains("not an audit report of veilcam"), "{not_json}");
    }

    #[test]
    fn a_report_larger_than_an_audit_writes_is_refused_before_it_is_parsed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.json");
        std::fs::File::create(&path).unwrap().set_len(MAX_REPORT + 1).unwrap();
        let err = FindingMasks::read(&path).unwrap_err().to_string();
        assert!(err.contains("larger than 64 MiB"), "{err}");
    }
}
