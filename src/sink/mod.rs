//! Sinks: where redacted frames go. Every sink receives each redacted frame in order together
//! with what was applied to it ([`Applied`]) through one trait, [`FrameSink`], so the file
//! encoder, the sidecar, the review video and the live restream and recorder are fed by the
//! same in-order tail of the pipeline.

pub mod edit_list;
pub mod file;
pub mod h264;
pub mod recorder;
pub mod restream;

use crate::detect::Detection;
use crate::error::Result;
use crate::frame::Frame;
use crate::output::AtomicOutput;
use crate::policy::Decision;
use crate::track::TrackedBox;

/// What the pipeline did to one frame, as every sink sees it.
#[derive(Clone, Copy, Debug)]
pub struct Applied<'a> {
    /// What the detectors found in this frame (empty on frames they skipped).
    pub detections: &'a [Detection],
    /// What a glance at this frame found, between two looks ([`crate::detect::Plan::glance`]).
    pub glanced: &'a [Detection],
    /// Where the tracker places every track in this frame (detected, interpolated, held or
    /// back-filled), before the policy.
    pub masks: &'a [TrackedBox],
    /// What the policy obscured and kept of those boxes, and the street zones blackened: what
    /// was applied ([`crate::policy::NO_DECISION`] on a frame obscured whole).
    pub decision: &'a Decision,
    /// Whether, and why, the whole picture was obscured instead of redacted box by box (the
    /// masks then say nothing about the picture).
    pub obscured_whole: Option<ObscuredWhole>,
    /// When the frame left the decoder (latency is measured from here).
    pub decoded_at: std::time::Instant,
}

impl Applied<'_> {
    /// The whole picture was obscured, for any reason (the policy's too: a picture too faint
    /// to vouch for).
    pub fn fully_obscured(&self) -> bool {
        self.obscured_whole.is_some() || self.decision.too_faint
    }

    /// The whole picture was obscured because detection fell behind (live mode).
    pub fn fell_behind(&self) -> bool {
        self.obscured_whole.is_some_and(ObscuredWhole::fell_behind)
    }
}

/// Why a frame's whole picture is obscured instead of redacted box by box.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObscuredWhole {
    /// Detection fell behind (live): the frame's own look came back after its deadline, or
    /// failed. The one cause a longer `latency_budget_ms` helps with.
    LookLate,
    /// Detection fell behind (live): the frame had no look of its own, and none came back close
    /// enough before it for the tracker to stand in. More cores, or fewer pixels a second, help.
    NoLookClose,
    /// A black filler frame, standing in for a live camera that is away: obscured by nature.
    Filler,
}

impl ObscuredWhole {
    /// Whether detection fell behind (a look late, or none close enough), not a filler frame.
    pub fn fell_behind(self) -> bool {
        self != ObscuredWhole::Filler
    }
}

/// A consumer of redacted frames. `push` is called once per frame in stream order, from one
/// thread; a sink that falls behind makes `push` wait (back-pressure), and one that fails
/// returns the error, which ends the run.
pub trait FrameSink: Send {
    /// Takes one redacted frame. The frame's buffer is shared: a sink that keeps it takes a
    /// reference (`frame.buffer.clone()`), never a copy of the pixels.
    fn push(&mut self, frame: &Frame, applied: &Applied<'_>) -> Result<()>;

    /// Ends the stream after the last frame. A file sink returns its complete output, which the
    /// caller commits together with the run's other outputs; a live sink returns `None`.
    fn finish(self: Box<Self>) -> Result<Option<AtomicOutput>>;
}
