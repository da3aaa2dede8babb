//! Telling the operator when a camera falls behind. Live, a frame whose detection misses the
//! latency budget leaves obscured whole (fail closed): safe, but a recording that blacks out
//! now and then. The count is in the metrics and in the summary at exit; a long-running camera
//! also says so in its log, once a [`LAG_WINDOW`], when at least [`LAG_WARN_SHARE`] of the
//! window's frames left obscured (or were dropped, with `late_frames = "drop"`), and once when it
//! keeps up again.

use std::time::{Duration, Instant};

use crate::error::Result;
use crate::frame::Frame;
use crate::output::AtomicOutput;
use crate::sink::{Applied, FrameSink, ObscuredWhole};

/// How often a camera's lag is weighed.
pub const LAG_WINDOW: Duration = Duration::from_secs(60);
/// Share of a window's frames left obscured for the deadline from which the log warns.
pub const LAG_WARN_SHARE: f64 = 0.01;

/// One window's count, when it is worth a line in the log.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Lag {
    /// At least [`LAG_WARN_SHARE`] of the window's frames left obscured whole, `late` of them
    /// because their own look was late or failed (the rest had no look close enough).
    Behind { frames: u64, obscured: u64, late: u64, seconds: f64 },
    /// The first window under that share after one at or over it.
    KeepingUp { frames: u64, obscured: u64, seconds: f64 },
}

impl Lag {
    /// The log line for this window; `dropped`: late frames are dropped (`late_frames = "drop"`)
    /// rather than sent on obscured.
    pub fn describe(&self, dropped: bool) -> String {
        let fate = if dropped { "were dropped" } else { "left fully obscured" };
        match *self {
            Lag::Behind { frames, obscured, late, seconds } => format!(
                "{obscured} of the {frames} frames of the last {seconds:.0} s ({:.1} %) {fate} because detection fell behind \
                 ({}); {}",
                100.0 * obscured as f64 / frames.max(1) as f64,
                causes(obscured, late),
                remedy(obscured, late)
            ),
            Lag::KeepingUp { frames, obscured, seconds } => {
                format!("detection keeps up again: {obscured} of the {frames} frames of the last {seconds:.0} s {fate}")
            }
        }
    }
}

/// Why `obscured` frames left obscured whole, `late` of them because their own look was late
/// or failed and the rest because no look came back close enough: the words of the lag warning
/// and of the run summaries (live cameras, `redact --realtime`).
pub fn causes(obscured: u64, late: u64) -> String {
    format!("{late} with a look late or failed, {} with no look close enough", obscured.saturating_sub(late))
}

/// What to do about `obscured` frames, `late` of them with a look late or failed: where looks
/// come back late, a longer budget (or more cores) lets them count; where they come too seldom
/// for the tracker to stand in between them, only more looks help.
fn remedy(obscured: u64, late: u64) -> &'static str {
    if 2 * late >= obscured {
        "raise live.latency_budget_ms, or give veilcam more CPU cores"
    } else {
        "give veilcam more CPU cores, or lower the camera's resolution or frame rate"
    }
}

/// Counts a camera's frames and those obscured for the deadline, window by window. Frames
/// before the first one that was not obscured (the engine starting: no look has come back yet)
/// are not counted, nor are filler frames (the camera away).
#[derive(Debug)]
pub struct LagWatch {
    window: Duration,
    since: Option<Instant>,
    frames: u64,
    obscured: u64,
    late: u64,
    behind: bool,
}

impl LagWatch {
    pub fn new(window: Duration) -> Self {
        LagWatch { window, since: None, frames: 0, obscured: 0, late: 0, behind: false }
    }

    /// Counts one frame seen at `at`, obscured whole because detection fell behind for it or
    /// not; at the end of a window, what to say of it, if anything.
    pub fn count(&mut self, obscured_whole: Option<ObscuredWhole>, at: Instant) -> Option<Lag> {
        let obscured = obscured_whole.is_some_and(ObscuredWhole::fell_behind);
        let since = match self.since {
            Some(since) => since,
            None if obscured => return None,
            None => *self.since.insert(at),
        };
        let elapsed = at.saturating_duration_since(since);
        let mut said = None;
        if elapsed >= self.window {
            said = self.close(elapsed.as_secs_f64());
            self.since = Some(at);
        }
        self.frames += 1;
        self.obscured += u64::from(obscured);
        self.late += u64::from(obscured_whole == Some(ObscuredWhole::LookLate));
        said
    }

    /// Ends a window of `seconds`.
    fn close(&mut self, seconds: f64) -> Option<Lag> {
        let (frames, obscured, late) = (std::mem::take(&mut self.frames), std::mem::take(&mut self.obscured), std::mem::take(&mut self.late));
        let behind = frames > 0 && obscured as f64 >= LAG_WARN_SHARE * frames as f64;
        let was_behind = std::mem::replace(&mut self.behind, behind);
        match (behind, was_behind) {
            (true, _) => Some(Lag::Behind { frames, obscured, late, seconds }),
            (false, true) => Some(Lag::KeepingUp { frames, obscured, seconds }),
            (false, false) => None,
        }
    }
}

/// A camera's [`LagWatch`] as a sink: it writes nothing, it logs.
pub struct LagLog {
    camera: String,
    watch: LagWatch,
    /// Late frames are dropped rather than sent on obscured (`late_frames = "drop"`).
    dropped: bool,
}

impl LagLog {
    pub fn new(camera: &str, dropped: bool) -> Self {
        LagLog { camera: camera.to_string(), watch: LagWatch::new(LAG_WINDOW), dropped }
    }
}

impl FrameSink for LagLog {
    fn push(&mut self, frame: &Frame, applied: &Applied<'_>) -> Result<()> {
        if frame.is_filler() {
            return Ok(());
        }
        match self.watch.count(applied.obscured_whole, Instant::now()) {
            Some(lag @ Lag::Behind { .. }) => tracing::warn!("camera {}: {}", self.camera, lag.describe(self.dropped)),
            Some(lag @ Lag::KeepingUp { .. }) => tracing::info!("camera {}: {}", self.camera, lag.describe(self.dropped)),
            None => {}
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<Option<AtomicOutput>> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `frames` frames at 30 fps from `start`, every `nth` one obscured (0: none), every
    /// other of those because its look was late.
    fn feed(watch: &mut LagWatch, start: Instant, first: u64, frames: u64, nth: u64) -> Vec<Lag> {
        let whole = |i: u64| match nth {
            0 => None,
            _ if i.is_multiple_of(2 * nth) => Some(ObscuredWhole::LookLate),
            _ if i.is_multiple_of(nth) => Some(ObscuredWhole::NoLookClose),
            _ => None,
        };
        (first..first + frames).filter_map(|i| watch.count(whole(i), start + Duration::from_millis(i * 1000 / 30))).collect()
    }

    #[test]
    fn a_camera_that_keeps_up_is_never_logged_about() {
        let mut watch = LagWatch::new(Duration::from_secs(10));
        let start = Instant::now();
        assert!(feed(&mut watch, start, 0, 30 * 35, 0).is_empty());
        // One frame obscured in 300 (0.3 %): under the share, not worth a warning.
        assert!(feed(&mut watch, start, 30 * 35, 30 * 35, 300).is_empty());
    }

    #[test]
    fn a_camera_falling_behind_is_warned_about_once_a_window_with_its_share_then_once_when_it_keeps_up() {
        let mut watch = LagWatch::new(Duration::from_secs(10));
        let start = Instant::now();
        // One frame in ten obscured for 25 s: two whole windows warned about, 30 of 300 each.
        let said = feed(&mut watch, start, 0, 30 * 25, 10);
        assert_eq!(said.len(), 2, "{said:?}");
        for lag in &said {
            let Lag::Behind { frames, obscured, late, seconds } = *lag else { panic!("{lag:?}") };
            assert_eq!((frames, obscured, late), (300, 30, 15));
            assert!((seconds - 10.0).abs() < 0.1, "{seconds}");
        }
        assert!(said[0].describe(false).contains("(10.0 %) left fully obscured"), "{}", said[0].describe(false));
        assert!(said[0].describe(true).contains("(10.0 %) were dropped"), "{}", said[0].describe(true));
        // Then it keeps up: the window that was running is still behind (14 of its 300 frames,
        // all in its first half), the next one says it keeps up, and after that nothing more.
        let said = feed(&mut watch, start, 30 * 25, 30 * 40, 0);
        assert!(matches!(said[..], [Lag::Behind { frames: 300, obscured: 14, .. }, Lag::KeepingUp { obscured: 0, .. }]), "{said:?}");
    }

    #[test]
    fn frames_obscured_before_the_first_look_came_back_are_not_lag() {
        let mut watch = LagWatch::new(Duration::from_secs(10));
        let start = Instant::now();
        // Two seconds of start-up obscured whole, then every frame looked at in time.
        let startup: Vec<Lag> = (0..60).filter_map(|i| watch.count(Some(ObscuredWhole::NoLookClose), start + Duration::from_millis(i * 33))).collect();
        assert!(startup.is_empty());
        assert!(feed(&mut watch, start, 60, 30 * 30, 0).is_empty(), "start-up counted as lag");
    }

    /// The warning names how many obscured frames had a look that came back late and how many
    /// had none close enough, and advises for the larger cause: a longer budget helps only the
    /// first. Before, every warning advised a longer budget among the rest, though on a slow
    /// host most frames are obscured for want of looks (a night rehearsal: 27 late, 223 without).
    #[test]
    fn a_warning_tells_late_looks_from_looks_too_seldom_and_advises_for_the_larger() {
        let seldom = Lag::Behind { frames: 447, obscured: 250, late: 27, seconds: 60.0 };
        let said = seldom.describe(false);
        assert!(said.contains("(27 with a look late or failed, 223 with no look close enough)"), "{said}");
        assert!(said.contains("more CPU cores") && !said.contains("latency_budget_ms"), "{said}");
        let late = Lag::Behind { frames: 447, obscured: 250, late: 200, seconds: 60.0 }.describe(false);
        assert!(late.contains("raise live.latency_budget_ms"), "{late}");
    }
}
