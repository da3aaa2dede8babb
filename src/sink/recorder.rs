//! The live recorder: redacted frames → one camera's segments on disk.
//!
//! `appsrc ! videoconvert ! x264enc tune=zerolatency ! h264parse ! splitmuxsink` (and, when it
//! feeds the restream, a `tee` after `h264parse` with a leaky branch to it) with
//! `mp4mux fragment-duration=500` as the muxer and a key frame every 0.5 s: fragmented MP4, so
//! a kill -9 loses only the last second or so (the fragment being written and the key-frame
//! interval splitmuxsink holds back; measured about 1.1 s). Segments are `segment_seconds` long (splitmuxsink asks the encoder for a key
//! frame at each split) and named by the UTC of their first frame through
//! `format-location-full`. The layout on disk, the `.part` → final rename and the index are
//! described in [`crate::live::segments`].
//!
//! Timing: the first frame of a run of contiguous timestamps is pinned to the wall clock (or
//! just after the previous run's end, so names never go backwards), and every later frame's
//! UTC is that plus its PTS offset. A segment ends where the frame after its last starts, the
//! next segment's start, so consecutive segments of a run meet to the millisecond in the index
//! (the MP4 itself ends the last frame after its nominal duration). A timestamp jump
//! (backwards, or forward by more than [`MAX_GAP`]) or new caps (a camera that came back at
//! another size) ends the run: its segment is closed and a new pipeline starts a new one.
//!
//! A thread per run reads the bus: it commits each segment splitmuxsink closes (fsync, hash,
//! rename, index line) even while no frame arrives, and records the first failure, which the
//! next `push` sees. `push` never blocks on a failed encoder: it waits for room in the
//! appsrc's small queue itself, with a deadline.
//!
//! A failure (a full disk, the directory gone, an encoder that stalls) does not end the camera:
//! recording is **suspended**. The failed run is stopped; its open segment stays `.part`.
//! Frames go on to the restream through a pipeline without the segment branch, and after
//! [`RETRY_FIRST`] (doubling up to [`RETRY_MAX`]) the recorder tries again: it recovers the
//! `.part` files ([`segments::recover`]) and starts a new recording run. The hook given to
//! [`Recorder::on_failure`] hears of each failure and each recovery (the live metrics and
//! `/healthz`), and `finish` returns the failure if recording was suspended at the end.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;
use gst::prelude::*;

use crate::bus::{self, BusEvent};
use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::live::segments::{self, Fragments, SegmentRecord, PART_SUFFIX, SEGMENT_EXT};
use crate::output::AtomicOutput;
use crate::sink::restream::{EncodedRestream, Served};
use crate::sink::{Applied, FrameSink};

/// Default segment length.
pub const DEFAULT_SEGMENT_SECONDS: u64 = 60;
/// Default x264 speed preset: real time at 1080p on a small machine.
pub const DEFAULT_PRESET: &str = "veryfast";
/// Default x264 constant quantizer.
pub const DEFAULT_QUANTIZER: u32 = 23;
/// Length of one MP4 fragment: what is written at once, so part of what a kill -9 loses.
pub const FRAGMENT_MS: u32 = 500;
/// Time between key frames. splitmuxsink holds back one key-frame interval (it cuts segments
/// on key frames), the rest of what a kill -9 loses.
pub const KEY_INTERVAL_MS: u32 = 500;
/// A forward timestamp gap beyond this starts a new segment.
pub const MAX_GAP: gst::ClockTime = gst::ClockTime::from_seconds(2);
/// Encoded frames queued for the restream before the oldest is dropped.
const RESTREAM_QUEUE_FRAMES: u32 = 8;
/// Raw frames the appsrc may queue before `push` waits for the encoder.
const QUEUE_FRAMES: u64 = 3;
/// Longest wait for room in the queue before the recorder counts as stalled.
const STALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for the last segment to close.
const FINISH_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one read of the bus waits.
const BUS_POLL: gst::ClockTime = gst::ClockTime::from_mseconds(100);
/// Wait after a first failure before recording again; each failure in a row doubles it.
pub const RETRY_FIRST: Duration = Duration::from_secs(5);
/// Longest wait between two tries.
pub const RETRY_MAX: Duration = Duration::from_secs(80);

/// What a recorder is told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecorderSettings {
    /// The recordings root; segments go to `dir/camera/`.
    pub dir: PathBuf,
    /// Camera name (a single path component).
    pub camera: String,
    /// Segment length in seconds (at least 1).
    pub segment_seconds: u64,
    /// x264 speed preset.
    pub preset: String,
    /// x264 constant quantizer (0–51).
    pub quantizer: u32,
}

impl RecorderSettings {
    /// Defaults for `camera` under `dir`.
    pub fn new(dir: impl Into<PathBuf>, camera: impl Into<String>) -> Self {
        RecorderSettings {
            dir: dir.into(),
            camera: camera.into(),
            segment_seconds: DEFAULT_SEGMENT_SECONDS,
            preset: DEFAULT_PRESET.into(),
            quantizer: DEFAULT_QUANTIZER,
        }
    }

    /// The camera's directory.
    pub fn camera_dir(&self) -> PathBuf {
        self.dir.join(&self.camera)
    }
}

/// Where frame timestamps sit on the UTC time line, for one run.
#[derive(Clone, Copy, Debug)]
struct TimeBase {
    utc_ms: i64,
    pts: gst::ClockTime,
}

impl TimeBase {
    fn utc_of(&self, pts: gst::ClockTime) -> i64 {
        self.utc_ms + (pts.nseconds() as i64 - self.pts.nseconds() as i64) / 1_000_000
    }
}

/// State shared with the streaming thread (naming) and the bus thread (committing).
struct Shared {
    camera_dir: PathBuf,
    base: Mutex<Option<TimeBase>>,
    /// Open segment `.part` path → where it starts.
    open: Mutex<HashMap<PathBuf, OpenSegment>>,
    /// (PTS, end) of each frame pushed into the recording run and not yet in a committed
    /// segment, in order: a segment ends where the frame after its last starts.
    pushed: Mutex<VecDeque<(gst::ClockTime, gst::ClockTime)>>,
    /// The first failure of the run, returned by the next `push`.
    failure: Mutex<Option<String>>,
    /// Records of the segments committed so far.
    committed: Mutex<Vec<SegmentRecord>>,
    /// End (UTC ms) of the latest segment committed, so the next run's names follow on.
    last_end_ms: Mutex<i64>,
    /// Told of each segment committed, with the bytes of the camera's indexed segments.
    on_segment: Mutex<Option<SegmentHook>>,
}

/// The most frames [`Shared::pushed`] remembers (segments that are never committed must not
/// make it grow): an hour at 30 fps, far past any segment's length.
const MAX_PUSHED: usize = 108_000;

/// Where an open segment starts: its UTC (ms) and the running time (the PTS as pushed) of its
/// first frame, when splitmuxsink said.
#[derive(Clone, Copy, Debug)]
struct OpenSegment {
    start_ms: i64,
    first: Option<gst::ClockTime>,
}

/// What a recorder tells of each segment it commits: its record, and the bytes of all the
/// camera's segments in the index (the metrics' `veilcam_segments_total` and
/// `veilcam_recording_bytes`).
pub type SegmentHook = Box<dyn Fn(&SegmentRecord, u64) + Send>;

/// What a recorder tells when recording stops for a failure (`Some(error)`) and when it records
/// again (`None`).
pub type FailureHook = Box<dyn Fn(Option<&Error>) + Send>;

impl Shared {
    fn fail(&self, message: String) {
        let mut failure = self.failure.lock().unwrap_or_else(|e| e.into_inner());
        if failure.is_none() {
            tracing::error!(camera_dir = %self.camera_dir.display(), %message, "recorder failed");
            *failure = Some(message);
        }
    }

    /// A free `.part` path for a segment starting at `start_ms`.
    fn name_segment(&self, start_ms: i64) -> PathBuf {
        let stem = segments::segment_stem(start_ms);
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        (0..)
            .map(|n| if n == 0 { format!("{stem}.{SEGMENT_EXT}") } else { format!("{stem}-{n}.{SEGMENT_EXT}") })
            .map(|name| self.camera_dir.join(name))
            .find(|path| {
                let part = part_path(path);
                !path.exists() && !part.exists() && !open.contains_key(&part)
            })
            .map(|path| part_path(&path))
            .expect("an unused name exists")
    }
}

fn part_path(final_path: &Path) -> PathBuf {
    let mut name = final_path.as_os_str().to_os_string();
    name.push(PART_SUFFIX);
    PathBuf::from(name)
}

fn final_path(part: &Path) -> PathBuf {
    PathBuf::from(part.to_string_lossy().trim_end_matches(PART_SUFFIX).to_string())
}

/// One pipeline: frames of one caps and contiguous timestamps.
struct Run {
    pipeline: gst::Pipeline,
    appsrc: gst_app::AppSrc,
    info: gst_video::VideoInfo,
    bus_thread: Option<JoinHandle<()>>,
    /// Set by the bus thread when the pipeline has drained after EOS.
    drained: Arc<Mutex<bool>>,
    max_queued: u64,
    /// End of the latest frame pushed.
    last_end: Option<gst::ClockTime>,
    /// PTS of the frame pushed last.
    last_pts: Option<gst::ClockTime>,
    /// Whether this run writes segments (while recording is suspended it only feeds the
    /// restream).
    records: bool,
}

/// Recording stopped by a failure, until `retry_at`.
struct Suspended {
    error: Error,
    retry_at: Instant,
    /// The restream's own pipeline failed meanwhile too (logged once).
    restream_failed: bool,
}

/// A camera's recorder (a [`FrameSink`]).
pub struct Recorder {
    settings: RecorderSettings,
    shared: Arc<Shared>,
    run: Option<Run>,
    /// The restream fed from this recorder's encoder, if any.
    restream: Option<EncodedRestream>,
    /// This recorder's claim on its camera directory: no other records there meanwhile.
    claim: Option<segments::RecorderClaim>,
    /// Set while recording is suspended after a failure.
    suspended: Option<Suspended>,
    /// Failures in a row (the retry wait doubles with each): a failure after recording ran for
    /// [`RETRY_MAX`] starts a new row.
    failures_in_a_row: u32,
    /// When recording last started (or resumed).
    recording_since: Instant,
    on_failure: Option<FailureHook>,
}

impl Recorder {
    /// Creates `dir/camera/` and recovers what a crash left there ([`segments::recover`]).
    /// The pipeline starts with the first frame.
    pub fn create(settings: RecorderSettings) -> Result<Self> {
        crate::init_gstreamer()?;
        validate(&settings)?;
        let camera_dir = settings.camera_dir();
        let (claim, recovered) = claim_and_recover(&camera_dir)?;
        let last_end_ms = segments::read_index(&camera_dir)?.iter().filter_map(SegmentRecord::end_ms).max().unwrap_or(0);
        let shared = Arc::new(Shared {
            camera_dir,
            base: Mutex::new(None),
            open: Mutex::new(HashMap::new()),
            pushed: Mutex::new(VecDeque::new()),
            failure: Mutex::new(None),
            committed: Mutex::new(recovered),
            last_end_ms: Mutex::new(last_end_ms),
            on_segment: Mutex::new(None),
        });
        Ok(Recorder {
            settings,
            shared,
            run: None,
            restream: None,
            claim: Some(claim),
            suspended: None,
            failures_in_a_row: 0,
            recording_since: Instant::now(),
            on_failure: None,
        })
    }

    /// Feeds `restream` with the H.264 this recorder encodes (one encode per camera instead of
    /// two): the encoder's output is split after `h264parse`, one branch to the segments, one
    /// to the restream, which never makes the recording wait (a leaky queue of a few frames).
    pub fn feeding(mut self, restream: EncodedRestream) -> Self {
        self.restream = Some(restream);
        self
    }

    /// Tells `hook` of each segment committed from now on.
    pub fn on_segment(self, hook: SegmentHook) -> Self {
        *self.shared.on_segment.lock().unwrap_or_else(|e| e.into_inner()) = Some(hook);
        self
    }

    /// Tells `hook` when recording stops for a failure and when it records again.
    pub fn on_failure(mut self, hook: FailureHook) -> Self {
        self.on_failure = Some(hook);
        self
    }

    /// Whether recording is suspended after a failure (frames still reach the restream).
    pub fn is_suspended(&self) -> bool {
        self.suspended.is_some()
    }

    /// The records of the segments this recorder has closed (and recovered) so far.
    pub fn committed(&self) -> Vec<SegmentRecord> {
        self.shared.committed.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The `.part` file being written now, if any.
    pub fn current_part(&self) -> Option<PathBuf> {
        self.shared.open.lock().unwrap_or_else(|e| e.into_inner()).keys().next().cloned()
    }

    fn err(&self, message: String) -> Error {
        Error::Encode { path: self.shared.camera_dir.clone(), message }
    }

    fn check_failure(&self) -> Result<()> {
        match self.shared.failure.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            Some(message) => Err(self.err(message)),
            None => Ok(()),
        }
    }

    /// Whether `frame` cannot continue the current run.
    fn breaks_run(&self, frame: &Frame) -> bool {
        let Some(run) = &self.run else { return false };
        if *frame.info != run.info {
            tracing::info!(camera = %self.settings.camera, "new caps: starting a new segment");
            return true;
        }
        // A live camera's frames jitter: a frame may start before the previous one's nominal
        // end. Only a step back past the previous frame's start, or a gap, is a jump.
        match (frame.pts(), run.last_end) {
            (Some(pts), Some(end)) if run.last_pts.is_some_and(|last| pts <= last) || pts > end + MAX_GAP => {
                tracing::info!(camera = %self.settings.camera, pts = %pts, expected = %end, "timestamp jump: starting a new segment");
                true
            }
            _ => false,
        }
    }

    fn start_run(&mut self, frame: &Frame, records: bool) -> Result<()> {
        let pts = frame.pts().unwrap_or(gst::ClockTime::ZERO);
        let last_end = *self.shared.last_end_ms.lock().unwrap_or_else(|e| e.into_inner());
        // The time line never goes back, even when frames come faster than real time (a name taken
        // in the same second gets a suffix: `…Z-1.mp4`).
        let utc_ms = segments::now_ms().max(last_end);
        *self.shared.base.lock().unwrap_or_else(|e| e.into_inner()) = Some(TimeBase { utc_ms, pts });
        self.shared.pushed.lock().unwrap_or_else(|e| e.into_inner()).clear();
        let caps = frame.info.to_caps().map_err(|e| self.err(format!("frame caps: {e}")))?;
        let restream = self.restream.as_ref();
        let (pipeline, appsrc) = build(&self.settings, &caps, &frame.info, &self.shared, restream, records).map_err(|e| self.err(e.to_string()))?;
        let bus = pipeline.bus().expect("a pipeline has a bus");
        let drained = Arc::new(Mutex::new(false));
        let bus_thread = spawn_bus_thread(bus, Arc::clone(&self.shared), Arc::clone(&drained))?;
        let max_queued = frame.info.size() as u64 * QUEUE_FRAMES;
        let run = Run {
            pipeline,
            appsrc,
            info: (*frame.info).clone(),
            bus_thread: Some(bus_thread),
            drained,
            max_queued,
            last_end: None,
            last_pts: None,
            records,
        };
        // Kept before it starts, so a failed start is torn down like any run (bus thread included).
        let started = run.pipeline.set_state(gst::State::Playing);
        self.run = Some(run);
        if started.is_err() {
            let message = self.shared.failure.lock().unwrap_or_else(|e| e.into_inner()).clone();
            self.discard_run();
            return Err(self.err(message.unwrap_or_else(|| "cannot start the recorder".into())));
        }
        Ok(())
    }

    /// Ends the current run: EOS, wait until the last segment is committed, stop the pipeline.
    fn end_run(&mut self) -> Result<()> {
        let Some(mut run) = self.run.take() else { return Ok(()) };
        let result = (|| {
            run.appsrc.end_of_stream().map_err(|flow| self.err(format!("cannot end the segment: {flow:?}")))?;
            let deadline = Instant::now() + FINISH_TIMEOUT;
            while !*run.drained.lock().unwrap_or_else(|e| e.into_inner()) {
                self.check_failure()?;
                if Instant::now() > deadline {
                    return Err(self.err("timed out closing the segment".into()));
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Ok(())
        })();
        let _ = run.pipeline.set_state(gst::State::Null);
        // After a failure the pipeline never drains: stop the bus thread all the same.
        *run.drained.lock().unwrap_or_else(|e| e.into_inner()) = true;
        if let Some(thread) = run.bus_thread.take() {
            let _ = thread.join();
        }
        result?;
        self.check_failure()
    }

    fn wait_for_room(&self, run: &Run) -> Result<()> {
        let deadline = Instant::now() + STALL_TIMEOUT;
        while run.appsrc.current_level_bytes() >= run.max_queued {
            self.check_failure()?;
            if Instant::now() > deadline {
                return Err(self.err(format!("the encoder took no frame for {} s", STALL_TIMEOUT.as_secs())));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(())
    }
}

impl FrameSink for Recorder {
    /// Records `frame` (and hands it to the restream). A failure suspends recording (see the
    /// module documentation) and never fails the push: the camera and its restream go on.
    fn push(&mut self, frame: &Frame, _applied: &Applied<'_>) -> Result<()> {
        self.resume_when_due();
        if let Err(error) = self.feed(frame, self.suspended.is_none()) {
            if self.suspended.is_none() {
                self.suspend(error);
                // The frame still goes to the restream, through a pipeline that only restreams.
                if let Err(error) = self.feed(frame, false) {
                    self.restream_failed(error);
                }
            } else {
                self.restream_failed(error);
            }
        }
        Ok(())
    }

    /// Closes the current segment cleanly (the SIGTERM path); a live sink has no output to
    /// commit, so this returns `None`. If recording was suspended, what the failed runs left is
    /// recovered where the disk allows, and the failure is returned.
    fn finish(mut self: Box<Self>) -> Result<Option<AtomicOutput>> {
        let ended = self.end_run();
        if let Some(restream) = &self.restream {
            restream.end();
        }
        if let Some(suspended) = self.suspended.take() {
            let _ = segments::recover(&self.shared.camera_dir);
            return Err(suspended.error);
        }
        ended?;
        Ok(None)
    }
}

impl Recorder {
    /// Pushes `frame` into a run that records (`records`) or only restreams, starting one
    /// as needed. Without a restream, a run that only restreams is not started at all.
    fn feed(&mut self, frame: &Frame, records: bool) -> Result<()> {
        self.check_failure()?;
        if self.run.as_ref().is_some_and(|run| run.records != records) || self.breaks_run(frame) {
            self.end_run()?;
        }
        if self.run.is_none() {
            if !records && self.restream.is_none() {
                return Ok(());
            }
            self.start_run(frame, records)?;
        }
        let run = self.run.as_ref().expect("started above");
        self.wait_for_room(run)?;
        let mut buffer = frame.buffer.clone();
        if buffer.pts().is_none() {
            // A frame without a timestamp follows the one before.
            buffer.make_mut().set_pts(run.last_end.unwrap_or(gst::ClockTime::ZERO));
        }
        let pts = buffer.pts().expect("set above");
        let end = pts + buffer.duration().unwrap_or(gst::ClockTime::from_mseconds(40));
        // Known before splitmuxsink can close the segment this frame follows.
        if run.records {
            let mut pushed = self.shared.pushed.lock().unwrap_or_else(|e| e.into_inner());
            if pushed.len() == MAX_PUSHED {
                pushed.pop_front();
            }
            pushed.push_back((pts, end));
        }
        run.appsrc.push_buffer(buffer).map_err(|flow| {
            if run.records {
                self.shared.pushed.lock().unwrap_or_else(|e| e.into_inner()).pop_back();
            }
            let message = self.shared.failure.lock().unwrap_or_else(|e| e.into_inner()).clone();
            self.err(message.unwrap_or_else(|| format!("the recorder refused frame {}: {flow:?}", frame.index)))
        })?;
        let run = self.run.as_mut().expect("started above");
        (run.last_end, run.last_pts) = (Some(end), Some(pts));
        Ok(())
    }

    /// The pipeline that only restreams failed: it is stopped, and the next frame starts another
    /// (logged once while recording is suspended, not once a frame).
    fn restream_failed(&mut self, error: Error) {
        if let Some(suspended) = self.suspended.as_mut().filter(|s| !s.restream_failed) {
            suspended.restream_failed = true;
            tracing::warn!(camera = %self.settings.camera, %error, "restream without recording failed");
        }
        self.discard_run();
    }

    /// Stops recording after `error`: the failed run is stopped (its open segment stays
    /// `.part`) and recording is tried again after a wait that doubles with each failure in a
    /// row (a retry that fails again, as on a disk that stays full).
    fn suspend(&mut self, error: Error) {
        self.discard_run();
        self.shared.open.lock().unwrap_or_else(|e| e.into_inner()).clear();
        *self.shared.failure.lock().unwrap_or_else(|e| e.into_inner()) = None;
        if self.recording_since.elapsed() >= RETRY_MAX {
            self.failures_in_a_row = 0;
        }
        let wait = RETRY_FIRST.saturating_mul(1 << self.failures_in_a_row.min(8)).min(RETRY_MAX);
        self.failures_in_a_row += 1;
        tracing::error!(
            camera = %self.settings.camera,
            %error,
            "recording stopped; the restream goes on; recording again in {} s",
            wait.as_secs()
        );
        if let Some(hook) = &self.on_failure {
            hook(Some(&error));
        }
        self.suspended = Some(Suspended { error, retry_at: Instant::now() + wait, restream_failed: false });
    }

    /// Once the wait after a failure is over: recovers what the failed run left and records
    /// again (or, failing that, waits longer).
    fn resume_when_due(&mut self) {
        if self.suspended.as_ref().is_none_or(|s| Instant::now() < s.retry_at) {
            return;
        }
        match self.reopen() {
            Ok(()) => {
                self.suspended = None;
                self.recording_since = Instant::now();
                tracing::info!(camera = %self.settings.camera, "recording again");
                if let Some(hook) = &self.on_failure {
                    hook(None);
                }
            }
            Err(error) => self.suspend(error),
        }
    }

    /// Makes the camera directory ready to record into again: there (created afresh if it was
    /// removed), claimed, and without `.part` files (recovered or removed).
    fn reopen(&mut self) -> Result<()> {
        // A claim on a directory removed meanwhile holds nothing: claim it afresh.
        self.claim = None;
        let (claim, recovered) = claim_and_recover(&self.shared.camera_dir)?;
        self.claim = Some(claim);
        let mut committed = self.shared.committed.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(end_ms) = recovered.iter().filter_map(SegmentRecord::end_ms).max() {
            let mut last_end = self.shared.last_end_ms.lock().unwrap_or_else(|e| e.into_inner());
            *last_end = (*last_end).max(end_ms);
        }
        committed.extend(recovered);
        Ok(())
    }

    /// Stops the current run without closing its segment: it stays as `.part`, to be recovered
    /// by the next recorder; nothing incomplete gets a final name.
    fn discard_run(&mut self) {
        if let Some(mut run) = self.run.take() {
            let _ = run.pipeline.set_state(gst::State::Null);
            *run.drained.lock().unwrap_or_else(|e| e.into_inner()) = true;
            if let Some(thread) = run.bus_thread.take() {
                let _ = thread.join();
            }
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        // Unfinished (an error elsewhere): see `discard_run`.
        self.discard_run();
    }
}

/// Makes `camera_dir` (if it is missing), claims it for this recorder, and recovers the `.part`
/// files a crash or a failed run left there ([`segments::recover`]). The claim comes first:
/// another recorder's open segment is no crash's leftover.
fn claim_and_recover(camera_dir: &Path) -> Result<(segments::RecorderClaim, Vec<SegmentRecord>)> {
    std::fs::create_dir_all(camera_dir).map_err(|e| Error::io(camera_dir, e))?;
    let claim = segments::claim_recorder(camera_dir)?;
    Ok((claim, segments::recover(camera_dir)?))
}

fn validate(settings: &RecorderSettings) -> Result<()> {
    let bad = |why: &str| Err(Error::Settings(format!("recorder for camera '{}': {why}", settings.camera)));
    let name_ok = !settings.camera.is_empty()
        && settings.camera != "."
        && settings.camera != ".."
        && !settings.camera.contains(['/', '\\', '\0']);
    if !name_ok {
        return bad("the camera name must be a plain file name");
    }
    if settings.segment_seconds == 0 {
        return bad("segment_seconds must be at least 1");
    }
    if !crate::sink::file::PRESETS.contains(&settings.preset.as_str()) {
        return bad(&format!("unknown x264 preset '{}'", settings.preset));
    }
    if settings.quantizer > 51 {
        return bad("the quantizer must be 0–51");
    }
    Ok(())
}

/// Reads the run's bus until the pipeline drains or is stopped: commits closed segments and
/// records failures.
fn spawn_bus_thread(bus: gst::Bus, shared: Arc<Shared>, drained: Arc<Mutex<bool>>) -> Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("veilcam-recorder-bus".into())
        .spawn(move || loop {
            if *drained.lock().unwrap_or_else(|e| e.into_inner()) {
                return;
            }
            let Some(msg) = bus.timed_pop(BUS_POLL) else { continue };
            if let gst::MessageView::Element(element) = msg.view() {
                if let Some(s) = element.structure().filter(|s| s.name() == "splitmuxsink-fragment-closed") {
                    if let Err(e) = commit_closed(&shared, s) {
                        shared.fail(e.to_string());
                    }
                }
                continue;
            }
            match bus::classify(&msg) {
                Some(BusEvent::Eos) => {
                    *drained.lock().unwrap_or_else(|e| e.into_inner()) = true;
                    return;
                }
                Some(BusEvent::Failure(f)) => shared.fail(f.0),
                None => {}
            }
        })
        .map_err(|e| Error::Pipeline(format!("cannot start the recorder's bus thread: {e}")))
}

/// Commits the segment a `splitmuxsink-fragment-closed` message names.
fn commit_closed(shared: &Shared, s: &gst::StructureRef) -> Result<()> {
    let part = PathBuf::from(s.get::<String>("location").map_err(|e| Error::Pipeline(format!("fragment-closed: {e}")))?);
    let opened = shared.open.lock().unwrap_or_else(|e| e.into_inner()).remove(&part);
    let Some(OpenSegment { start_ms, first }) = opened else {
        return Err(Error::Pipeline(format!("{}: closed but never opened", part.display())));
    };
    // Not the message's running time: that is where splitmuxsink decided to split, which can
    // be a key-frame interval past the segment's last frame.
    let end_of = |fragments: &Fragments| segment_end(shared, first?, fragments).map(|end| end.max(start_ms));
    let Some(record) = segments::commit_segment_ending(&part, &final_path(&part), start_ms, false, end_of)? else {
        return Ok(());
    };
    tracing::info!(file = %record.file, frames = record.frames, bytes = record.bytes, "segment closed");
    let end_ms = record.end_ms().unwrap_or(start_ms);
    *shared.last_end_ms.lock().unwrap_or_else(|e| e.into_inner()) = end_ms;
    if let Some(hook) = shared.on_segment.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
        let on_disk = segments::read_index(&shared.camera_dir).map_or(record.bytes, |all| all.iter().map(|r| r.bytes).sum());
        hook(&record, on_disk);
    }
    shared.committed.lock().unwrap_or_else(|e| e.into_inner()).push(record);
    Ok(())
}

/// The UTC (ms) where a segment whose first frame was pushed at `first` ends: where the frame
/// after its last starts, which is where the next segment of the run starts (to the
/// millisecond, by the same [`TimeBase`]), or the end of its last frame when none follows (the
/// run's last segment). Not the file's own duration: the MP4 gives a segment's last frame its
/// nominal duration, and a live camera's next frame comes earlier or later than that, so
/// consecutive segments overlapped or left a gap by up to a frame (found by review of a live
/// recording's index). Frames up to the segment's last are forgotten. `None` (the file's own
/// duration then) for a segment cut short, or one whose frames were not all seen.
fn segment_end(shared: &Shared, first: gst::ClockTime, fragments: &Fragments) -> Option<i64> {
    let base = (*shared.base.lock().unwrap_or_else(|e| e.into_inner()))?;
    let mut pushed = shared.pushed.lock().unwrap_or_else(|e| e.into_inner());
    let at = pushed.partition_point(|&(pts, _)| pts < first);
    let after = at.checked_add(usize::try_from(fragments.samples).ok()?)?;
    let end = match pushed.get(after) {
        Some(&(next, _)) => next,
        None if after == pushed.len() && after > at => pushed[after - 1].1,
        None => return None,
    };
    pushed.drain(..after);
    (!fragments.cut_short).then(|| base.utc_of(end))
}

/// Running time of a sample's buffer: the appsrc's segment starts at 0, so this is the frame's
/// PTS as pushed. (The encoder's output PTS is not: x264enc shifts it by 1000 hours.)
fn running_time(sample: &gst::Sample) -> Option<gst::ClockTime> {
    let pts = sample.buffer()?.pts()?;
    let segment = sample.segment()?.downcast_ref::<gst::ClockTime>()?;
    segment.to_running_time(pts)
}

/// The run's pipeline: `appsrc ! videoconvert ! x264enc ! h264parse`, then the segments
/// (`records`), the restream tap, or both through a `tee`.
fn build(
    settings: &RecorderSettings,
    caps: &gst::Caps,
    info: &gst_video::VideoInfo,
    shared: &Arc<Shared>,
    restream: Option<&EncodedRestream>,
    records: bool,
) -> std::result::Result<(gst::Pipeline, gst_app::AppSrc), gst::glib::BoolError> {
    let pipeline = gst::Pipeline::with_name(&format!("veilcam-record-{}", settings.camera));
    let (appsrc, convert, filter) = super::file::raw_input(caps, info, QUEUE_FRAMES)?;
    let encoder = encoder(settings, info)?;
    let parse = gst::ElementFactory::make("h264parse").build()?;
    pipeline.add_many([appsrc.upcast_ref(), &convert, &filter, &encoder, &parse])?;
    gst::Element::link_many([appsrc.upcast_ref(), &convert, &filter, &encoder, &parse])?;
    match (restream, records) {
        (None, _) => {
            let splitmux = segment_writer(settings, shared)?;
            pipeline.add(&splitmux)?;
            parse.link(&splitmux)?;
        }
        (Some(restream), false) => {
            let tap = restream_tap(restream.clone())?;
            pipeline.add_many([&tap.0, tap.1.upcast_ref()])?;
            gst::Element::link_many([&parse, &tap.0, tap.1.upcast_ref()])?;
        }
        (Some(restream), true) => {
            let splitmux = segment_writer(settings, shared)?;
            let tee = gst::ElementFactory::make("tee").build()?;
            let to_disk = gst::ElementFactory::make("queue").build()?;
            let tap = restream_tap(restream.clone())?;
            pipeline.add_many([&tee, &to_disk, &splitmux, &tap.0, tap.1.upcast_ref()])?;
            gst::Element::link_many([&parse, &tee, &to_disk, &splitmux])?;
            gst::Element::link_many([&tee, &tap.0, tap.1.upcast_ref()])?;
        }
    }
    Ok((pipeline, appsrc))
}

/// x264 at the camera's settings, a key frame every [`KEY_INTERVAL_MS`].
fn encoder(settings: &RecorderSettings, info: &gst_video::VideoInfo) -> std::result::Result<gst::Element, gst::glib::BoolError> {
    let fps = info.fps();
    let key_int = if fps.numer() > 0 && fps.denom() > 0 {
        (fps.numer() as i64 * KEY_INTERVAL_MS as i64 / (fps.denom() as i64 * 1000)).clamp(1, 300) as u32
    } else {
        15
    };
    let encoder = gst::ElementFactory::make("x264enc").property("key-int-max", key_int).build()?;
    super::h264::constant_quality(&encoder, settings.quantizer);
    encoder.set_property_from_str("tune", "zerolatency");
    encoder.set_property_from_str("speed-preset", &settings.preset);
    Ok(encoder)
}

/// `splitmuxsink` into fragmented MP4 segments, each named by the UTC of its first frame.
fn segment_writer(settings: &RecorderSettings, shared: &Arc<Shared>) -> std::result::Result<gst::Element, gst::glib::BoolError> {
    let muxer = gst::ElementFactory::make("mp4mux").property("fragment-duration", FRAGMENT_MS).build()?;
    let splitmux = gst::ElementFactory::make("splitmuxsink")
        .property("muxer", &muxer)
        .property("max-size-time", settings.segment_seconds * 1_000_000_000)
        .property("send-keyframe-requests", true)
        .build()?;
    let naming = Arc::clone(shared);
    splitmux.connect("format-location-full", false, move |args| {
        let sample = args[2].get::<gst::Sample>().ok();
        let base = *naming.base.lock().unwrap_or_else(|e| e.into_inner());
        let first = sample.as_ref().and_then(running_time);
        let start_ms = match (base, first) {
            (Some(base), Some(running_time)) => base.utc_of(running_time),
            _ => segments::now_ms(),
        };
        let part = naming.name_segment(start_ms);
        naming.open.lock().unwrap_or_else(|e| e.into_inner()).insert(part.clone(), OpenSegment { start_ms, first });
        Some(part.to_string_lossy().into_owned().to_value())
    });
    Ok(splitmux)
}

/// The restream branch: a leaky queue (a slow restream drops frames, never holds up the
/// recording) into an appsink that hands each encoded frame to the restream and asks the
/// encoder for a key frame when a new client waits for one.
fn restream_tap(restream: EncodedRestream) -> std::result::Result<(gst::Element, gst_app::AppSink), gst::glib::BoolError> {
    let queue = gst::ElementFactory::make("queue")
        .property("max-size-buffers", RESTREAM_QUEUE_FRAMES)
        .property("max-size-bytes", 0u32)
        .property("max-size-time", 0u64)
        .build()?;
    queue.set_property_from_str("leaky", "downstream");
    let sink = gst_app::AppSink::builder().sync(false).max_buffers(RESTREAM_QUEUE_FRAMES).drop(true).build();
    let asked = Arc::new(AtomicBool::new(false));
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                match restream.push(&sample) {
                    Served::Done => asked.store(false, Ordering::SeqCst),
                    Served::NeedKeyFrame if !asked.swap(true, Ordering::SeqCst) => {
                        let event = gst_video::UpstreamForceKeyUnitEvent::builder().all_headers(true).build();
                        if let Some(pad) = sink.static_pad("sink") {
                            pad.push_event(event);
                        }
                    }
                    Served::NeedKeyFrame => {}
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    Ok((queue, sink))
}
