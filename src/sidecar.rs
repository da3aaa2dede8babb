//! The `--sidecar` JSON: per frame, what was detected, where the tracker placed each track, and
//! what was actually obscured after the policy (`obscured`, `street_zones`, `kept`: the
//! [`Decision`] the fill applied, never a guess of it). Written as a stream (one frame at a
//! time) to an atomic output, so it costs no memory per frame and appears only with a complete
//! video (or image).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde::Serialize;

use crate::detect::Detection;
use crate::error::{Error, Result};
use crate::output::AtomicOutput;
use crate::policy::{Decision, Obscured};
use crate::redact::FillMode;
use crate::frame::Frame;
use crate::sink::{Applied, FrameSink};
use crate::source::integrity::DamageLog;
use crate::track::TrackedBox;

/// The header fields of a sidecar.
#[derive(Debug, Serialize)]
pub struct SidecarHeader<'a> {
    pub veilcam: &'a str,
    pub input: String,
    pub width: u32,
    pub height: u32,
    pub fps_n: i32,
    pub fps_d: i32,
    /// How the regions under `obscured` were filled (`veilcam audit --sidecar` sets aside
    /// what lies in an irreversible fill).
    pub fill: FillMode,
}

/// One frame's record.
#[derive(Debug, Serialize)]
pub struct FrameRecord<'a> {
    pub index: u64,
    pub pts_ns: Option<u64>,
    pub duration_ns: Option<u64>,
    /// What the detector found in this frame (empty on frames without a look of their own).
    pub detections: &'a [Detection],
    /// What a glance found in this frame between two looks: where something appeared where
    /// nothing moved lately (absent when there was no glance or it found nothing).
    #[serde(skip_serializing_if = "<[Detection]>::is_empty")]
    pub glanced: &'a [Detection],
    /// Where the tracker placed each track, before the policy: detected, interpolated, held or
    /// back-filled (`"tracks"` in the JSON; ids are those of `--keep-track` and the preview).
    #[serde(rename = "tracks")]
    pub masks: &'a [TrackedBox],
    /// The regions filled: track, class, box, shape and why (`face`, `head`, `bystander`,
    /// `not_the_subject`).
    pub obscured: &'a [Obscured],
    /// The street zones blackened, by name.
    pub street_zones: &'a [String],
    /// The tracks left visible.
    pub kept: &'a [u64],
    /// The whole picture was obscured: detection fell behind (its look was late or failed, or
    /// no look came back close enough before it), or the picture was too faint to vouch for
    /// ([`crate::policy::MIN_VOUCHED_SPAN`]).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub fully_obscured: bool,
}

impl<'a> FrameRecord<'a> {
    /// The record of frame `index` with what the policy decided for it.
    pub fn new(index: u64, detections: &'a [Detection], masks: &'a [TrackedBox], decision: &'a Decision) -> Self {
        FrameRecord {
            index,
            pts_ns: None,
            duration_ns: None,
            detections,
            glanced: &[],
            masks,
            obscured: &decision.obscured,
            street_zones: &decision.street_zones,
            kept: &decision.kept,
            fully_obscured: decision.too_faint,
        }
    }
}

pub struct SidecarWriter {
    output: AtomicOutput,
    writer: BufWriter<File>,
    frames: u64,
    /// Read when the file is closed: what `--salvage` skipped.
    damage: DamageLog,
}

impl SidecarWriter {
    pub fn create(output: AtomicOutput, header: &SidecarHeader<'_>, damage: DamageLog) -> Result<Self> {
        let file = File::create(output.temp_path()).map_err(|e| Error::io(output.target(), e))?;
        let mut writer = BufWriter::new(file);
        let head = serde_json::to_string(header).expect("header serialises");
        // `{...header, "frames": [` — the closing `]}` is written by `finish`.
        let open = format!("{},\"frames\":[\n", &head[..head.len() - 1]);
        writer.write_all(open.as_bytes()).map_err(|e| Error::io(output.target(), e))?;
        Ok(SidecarWriter { output, writer, frames: 0, damage })
    }

    pub fn write(&mut self, record: &FrameRecord<'_>) -> Result<()> {
        let sep = if self.frames == 0 { "" } else { ",\n" };
        let line = serde_json::to_string(record).expect("records serialise");
        write!(self.writer, "{sep}{line}").map_err(|e| Error::io(self.output.target(), e))?;
        self.frames += 1;
        Ok(())
    }

    /// Closes the JSON with what `--salvage` skipped (`"damage"`: gaps, undecodable frames,
    /// reports; empty for a clean input). The file is complete but not yet in place: the caller
    /// commits it together with the run's other outputs.
    pub fn close(mut self) -> Result<AtomicOutput> {
        let damage = serde_json::to_string(&self.damage.snapshot()).expect("damage serialises");
        write!(self.writer, "\n],\"damage\":{damage}}}\n")
            .and_then(|_| self.writer.flush())
            .map_err(|e| Error::io(self.output.target(), e))?;
        drop(self.writer);
        Ok(self.output)
    }

    pub fn target(&self) -> &Path {
        self.output.target()
    }
}

impl FrameSink for SidecarWriter {
    fn push(&mut self, frame: &Frame, applied: &Applied<'_>) -> Result<()> {
        self.write(&FrameRecord {
            pts_ns: frame.pts().map(|t| t.nseconds()),
            duration_ns: frame.buffer.duration().map(|t| t.nseconds()),
            fully_obscured: applied.fully_obscured(),
            glanced: applied.glanced,
            ..FrameRecord::new(frame.index, applied.detections, applied.masks, applied.decision)
        })
    }

    fn finish(self: Box<Self>) -> Result<Option<AtomicOutput>> {
        self.close().map(Some)
    }
}
