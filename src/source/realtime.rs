//! A recorded clip played as a camera (`veilcam redact --realtime`): each frame is released
//! when the wall clock reaches its timestamp, so the engine meets it exactly as it meets a live
//! camera's frames — with a deadline, the live look-ahead (`live.lookahead_ms`'s default), and
//! detection shed when it falls behind.

use std::time::{Duration, Instant};

use crate::error::Result;
use crate::frame::Frame;
use crate::source::FrameSource;

/// Longest single sleep, so an interrupt is noticed promptly.
const SLEEP_SLICE: Duration = Duration::from_millis(50);

/// Wraps a source and releases its frames in real time.
pub struct RealTime<S> {
    inner: S,
    /// Wall clock and timestamp of the first frame.
    origin: Option<(Instant, gstreamer::ClockTime)>,
}

impl<S: FrameSource> RealTime<S> {
    pub fn new(inner: S) -> Self {
        RealTime { inner, origin: None }
    }
}

impl<S: FrameSource> FrameSource for RealTime<S> {
    fn next_frame(&mut self) -> Result<Option<Frame>> {
        let Some(frame) = self.inner.next_frame()? else { return Ok(None) };
        if let Some(pts) = frame.pts() {
            let (t0, p0) = *self.origin.get_or_insert((Instant::now(), pts));
            let due = t0 + Duration::from_nanos(pts.saturating_sub(p0).nseconds());
            while let Some(wait) = due.checked_duration_since(Instant::now()).filter(|w| !w.is_zero()) {
                crate::interrupt::check()?;
                std::thread::sleep(wait.min(SLEEP_SLICE));
            }
        }
        Ok(Some(frame))
    }
}
