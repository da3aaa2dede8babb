//! The video pipeline: stages on their own threads, joined by bounded channels.
//!
//! ```text
//! decode + plan ──planned frames──▶ detect workers (one ORT session each) ──detected──▶ redact + encode
//!  (GStreamer)     bounded                                                 bounded     (re-ordered)
//! ```
//! The decode thread also plans each frame's detection ([`crate::detect::Planner`]) in frame
//! order, so the workers keep no state and the result does not depend on how many there are
//! or which one takes a frame. The one thing that flows back is which face tracks the tracker
//! lost, for the planner to look again where their motion puts them (`LostBoard`); a file
//! plans frame N with those of frame N − `LOST_LAG` exactly, so this too is independent of
//! timing. The redact stage tracks faces and holds a bounded look-ahead window of frames (about a
//! second) so a detection can also mask the frames before it and the misses around it
//! ([`crate::track`]). Back-pressure reaches the decoder through the bounded channels, the
//! window and the appsrc queue, so memory does not grow with clip length. The output appears
//! only if every stage finished cleanly: a decode, detection or encode error drops the sink, and
//! with it the temp file.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};

use crate::audit::masks::{FindingMasks, FindingsWatch};
use crate::detect::{Class, Detection, DetectorSet, Plan, Planner};
use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::sink::{Applied, FrameSink, ObscuredWhole};
use crate::output::{commit_all, prepare_all, AtomicOutput, Target};
use crate::preview::PreviewSink;
use crate::progress::Progress;
use crate::policy::{Decision, Keep, Policy};
use crate::settings::{PersonLoad, RedactSettings};
use crate::sidecar::{SidecarHeader, SidecarWriter};
use crate::sink::file::FileSink;
use crate::stats::{StageTimes, StatsReport};
use crate::source::file::FileSource;
use crate::source::realtime::RealTime;
use crate::source::Damage;
use crate::source::FrameSource;
use crate::track::{LostFace, Tracker, TrackerSettings};

/// Frames each channel may hold.
const CHANNEL_DEPTH: usize = 4;

/// Frames by which a file's planner lags the tracker's lost faces ([`LostBoard`]): it plans
/// frame N with what the tail had lost at frame N − this, exactly, so the plans do not depend
/// on how far the tail has come (runs agree whatever the workers' timing). More than the
/// frames the channels hold between the decoder and the tail, so the decoder never waits in
/// a steady stream.
const LOST_LAG: u64 = 3 * CHANNEL_DEPTH as u64;

/// What a finished run did.
#[derive(Clone, Debug)]
pub struct Summary {
    pub output: PathBuf,
    pub frames: u64,
    /// Face detections, summed over frames.
    pub faces: u64,
    /// Person detections, summed over frames (only when the policy looks for persons).
    pub persons: u64,
    pub elapsed: Duration,
    pub stats: Option<StatsReport>,
    /// What `--salvage` skipped: empty for an input that decoded cleanly.
    pub damage: Damage,
    /// Frames that left fully obscured because detection fell behind (live): their own look
    /// was late or failed, or no look came back close enough before them for the tracker to
    /// stand in for one (and, where person looks are due, no person look).
    pub obscured: u64,
    /// Of `obscured`, the frames whose own look was late or failed.
    pub late: u64,
    /// Frames that skipped detection because the detectors were behind (live; the tracker
    /// covered them).
    pub shed: u64,
}

impl Summary {
    pub fn fps(&self) -> f64 {
        self.frames as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Every file one video run writes. All are checked before the first frame is decoded and
/// appear together, only if the whole run succeeded.
struct Targets {
    video: AtomicOutput,
    sidecar: Option<AtomicOutput>,
    preview: Option<AtomicOutput>,
    stats: Option<AtomicOutput>,
}

impl Targets {
    fn prepare(s: &RedactSettings) -> Result<Self> {
        let mut wanted = vec![Target { option: "-o", path: &s.output }];
        let optional = [("--sidecar", &s.sidecar), ("--preview", &s.preview), ("--stats", &s.stats)];
        wanted.extend(optional.iter().filter_map(|(option, p)| p.as_deref().map(|path| Target { option, path })));
        let mut prepared = prepare_all(&s.reads(), &wanted, s.overwrite)?.into_iter();
        let video = prepared.next().expect("the video output is always prepared");
        let mut next_if = |wanted: bool| if wanted { prepared.next() } else { None };
        let sidecar = next_if(s.sidecar.is_some());
        let preview = next_if(s.preview.is_some());
        let stats = next_if(s.stats.is_some());
        Ok(Targets { video, sidecar, preview, stats })
    }
}

/// The frame rate of a source's caps, or 25 when the caps do not say.
pub fn source_fps(info: &gstreamer_video::VideoInfo) -> f64 {
    let fps = info.fps();
    if fps.numer() > 0 && fps.denom() > 0 { fps.numer() as f64 / fps.denom() as f64 } else { 25.0 }
}

/// The most decoded frames the look-ahead holds, whatever the frame rate: a second at 240 fps.
pub const LOOKAHEAD_MAX_FRAMES: u64 = 240;
/// The most bytes of decoded frames the look-ahead holds: a second of 4K at 60 fps fits, 8K at
/// 30 fps looks ahead 0.7 s.
pub const LOOKAHEAD_MAX_BYTES: u64 = 1 << 30;

/// The frames held back for a look-ahead of `seconds` at `fps`, each frame `frame_bytes` when
/// decoded (when known: a live camera's frame size may change, and its look-ahead is bounded by
/// `live.lookahead_ms` instead). At most [`LOOKAHEAD_MAX_FRAMES`] and [`LOOKAHEAD_MAX_BYTES`]:
/// memory is bounded by what a clip is, not by what it claims (found by hostile use: a 640×480
/// clip claiming 10,000 fps held 6,000 frames, 3 GB, for its one-second look-ahead).
pub fn lookahead_frames(seconds: f64, fps: f64, frame_bytes: Option<usize>) -> u64 {
    let wanted = ((seconds * fps).round() as u64).min(LOOKAHEAD_MAX_FRAMES);
    match frame_bytes {
        Some(bytes) => wanted.min((LOOKAHEAD_MAX_BYTES / bytes.max(1) as u64).max(1)),
        None => wanted,
    }
}

/// The stages of a file run of `s` with `policy` over frames of `info`: one detector set per
/// worker, the planner, the tracker settings. Every pass over the same input with the same
/// settings builds them here, so detections and track ids agree between passes (subject access
/// resolves `--keep-at` in a first pass, [`crate::subject`]).
pub fn file_stages(s: &RedactSettings, policy: Policy, info: &gstreamer_video::VideoInfo) -> Result<Stages> {
    stages(s, policy, source_fps(info), Some(info.size()), Pace::FILE)
}

/// The stages of any run, file or live (which differ in `pace` and in the settings: a live
/// camera's look-ahead is a fraction of a second): the night profile applied to `policy`, one
/// detector set per worker with the person model when the policy or the night profile needs
/// it, the planner, and the tracker settings at `fps` for frames of `frame_bytes`
/// ([`lookahead_frames`]).
pub fn stages(s: &RedactSettings, policy: Policy, fps: f64, frame_bytes: Option<usize>, pace: Pace) -> Result<Stages> {
    let policy = policy.at_night(s.night);
    let persons = PersonLoad::for_needs(policy.needs_persons(), policy.needs_persons_at_night());
    let detectors = (0..s.workers).map(|_| detectors(s, &policy, persons)).collect::<Result<Vec<_>>>()?;
    let window = lookahead_frames(s.lookahead_seconds, fps, frame_bytes);
    let planner = s.planner_for(fps, window, &policy);
    let tracking = TrackerSettings {
        hold_frames: (s.hold_seconds * fps).round() as u64,
        lookahead_frames: window,
        ..TrackerSettings::for_fps(fps, true)
    };
    Ok(Stages { planner, detectors, policy, tracking, pace: Pace::FILE }.paced(pace))
}

/// One worker's detectors for `policy` (the person model as `persons` says). A person model
/// that cannot be loaded when only the night profile needs it fails with an error that says so
/// and how to run without it.
pub(crate) fn detectors(s: &RedactSettings, policy: &Policy, persons: PersonLoad) -> Result<DetectorSet> {
    s.detectors(persons).map_err(|e| match &e {
        // Only the night profile's own models: a bad face model fails with --night off too
        // (found by hostile use: its error said --night off would run).
        Error::Model { path, .. }
            if !policy.needs_persons() && path != &s.model && (path == &s.person_model || path == &s.second_model) =>
        {
            for_the_night_profile(e)
        }
        _ => e,
    })
}

/// A person model that could not be loaded when only the night profile needs it: the error
/// says so and how to run without it.
pub(crate) fn for_the_night_profile(e: Error) -> Error {
    match e {
        Error::Model { path, message } => {
            Error::Model { path, message: format!("{message}; the night profile (--night) needs it on grey frames, --night off runs without it") }
        }
        other => other,
    }
}

/// Redacts one video file.
pub fn redact_video(s: &RedactSettings, quiet: bool) -> Result<Summary> {
    let started = Instant::now();
    crate::input::check(&s.input)?;
    let findings = s.findings.as_deref().map(FindingMasks::read).transpose()?.map(Arc::new);
    let targets = Targets::prepare(s)?;
    let keep = crate::subject::resolve(s)?;
    let source = FileSource::open_with(&s.input, s.salvage)?;
    let info = source.info().clone();
    if let Some(f) = &findings {
        f.check_size(&s.input, info.width(), info.height())?;
    }
    let policy = Policy::new(s.camera.clone(), s.mask_scale, s.shape, s.fill).keeping(keep).obscuring_findings(findings.clone());
    let stages = file_stages(s, policy, &info)?;
    tracing::debug!(
        "decoding {}: {}x{} at {} fps, {}, faces every {} frame(s), {} worker(s)",
        s.input.display(),
        info.width(),
        info.height(),
        info.fps(),
        source.duration().map_or("duration unknown".to_string(), |d| format!("{:.2} s", d.nseconds() as f64 / 1e9)),
        stages.planner.face_every,
        stages.detectors.len()
    );
    let damage = source.damage_log();
    let mut sinks: Vec<Box<dyn FrameSink>> = Vec::new();
    if let Keep::Track(id) = keep {
        // First, so a subject never seen fails the run before the encoders finish.
        sinks.push(Box::new(crate::subject::SubjectWatch::new(id)));
    }
    if let Some(f) = &findings {
        // First too: an audit of another video fails the run before the encoders finish.
        sinks.push(Box::new(FindingsWatch::new(f)));
    }
    let audio = s.keep_audio.then_some(s.input.as_path());
    sinks.push(Box::new(FileSink::create(targets.video, source.caps(), &s.encoder, audio)?));
    if let Some(out) = targets.sidecar {
        let header = SidecarHeader {
            veilcam: env!("CARGO_PKG_VERSION"),
            input: s.input.display().to_string(),
            width: info.width(),
            height: info.height(),
            fps_n: info.fps().numer(),
            fps_d: info.fps().denom(),
            fill: s.fill,
        };
        sinks.push(Box::new(SidecarWriter::create(out, &header, damage.clone())?));
    }
    if let Some(out) = targets.preview {
        sinks.push(Box::new(PreviewSink::new(FileSink::create(out, source.caps(), &s.encoder, None)?)));
    }
    let progress = Progress::new(&s.input.file_name().unwrap_or_default().to_string_lossy(), source.estimated_frames(), quiet);
    let times = StageTimes::default();
    let done = match s.realtime {
        None => run_stages(source, stages, sinks, progress, &times)?,
        Some(budget) => {
            let stages = stages.paced(Pace::rehearsal(budget));
            run_stages(RealTime::new(source), stages, sinks, progress, &times)?
        }
    };
    let mut ready = Vec::new();
    for sink in done.sinks {
        ready.extend(sink.finish()?);
    }
    let damage = damage.take();
    let elapsed = started.elapsed();
    let stats = times.report(done.frames, elapsed);
    if let Some(out) = targets.stats {
        write_json(&out, &stats)?;
        ready.push(out);
    }
    commit_all(ready)?;
    Ok(Summary {
        output: s.output.clone(),
        frames: done.frames,
        faces: done.faces,
        persons: done.persons,
        elapsed,
        stats: Some(stats),
        damage,
        obscured: done.obscured,
        late: done.late,
        shed: done.shed,
    })
}

/// Writes `value` as pretty JSON to the temp file of `out`.
pub fn write_json(out: &AtomicOutput, value: &impl serde::Serialize) -> Result<()> {
    let file = std::fs::File::create(out.temp_path()).map_err(|e| Error::io(out.target(), e))?;
    let mut writer = std::io::BufWriter::new(file);
    serde_json::to_writer_pretty(&mut writer, value).map_err(|e| Error::io(out.target(), e.into()))?;
    std::io::Write::flush(&mut writer).map_err(|e| Error::io(out.target(), e))
}

/// What the stages hand back after the last frame.
pub struct StageOutput {
    pub frames: u64,
    pub faces: u64,
    pub persons: u64,
    /// Frames emitted fully obscured because detection fell behind (live mode; see
    /// [`Summary::obscured`]).
    pub obscured: u64,
    /// Of `obscured`, the frames whose own look was late or failed.
    pub late: u64,
    /// Frames that skipped detection because the detectors were behind (live mode).
    pub shed: u64,
    /// Black filler frames passed on while a live camera was away ([`Frame::is_filler`]).
    pub filler: u64,
    /// The sinks, to be finished by the caller.
    pub sinks: Vec<Box<dyn FrameSink>>,
}

/// How frames are paced through the stages: as fast as they decode (files) or in real time
/// with a latency budget (live cameras, and files replayed as a camera with `--realtime`).
#[derive(Clone, Copy, Debug)]
pub struct Pace {
    /// How long after decoding a frame may wait for its detection; `None` waits as long as it
    /// takes. A frame whose detection is later leaves fully obscured.
    pub budget: Option<Duration>,
    /// Live: a detector error obscures that frame and the run goes on; when the detectors fall
    /// behind, frames skip detection (the tracker carries the masks) before any frame misses
    /// its budget.
    pub live: bool,
    /// An interrupt ends the stream cleanly so the sinks can close their files (a camera's
    /// recording); otherwise it fails the run and nothing is written (a file).
    pub interrupt_ends_stream: bool,
}

impl Pace {
    /// Files: every frame waits for its detection; a detector error ends the run.
    pub const FILE: Pace = Pace { budget: None, live: false, interrupt_ends_stream: false };

    /// Live cameras: frames leave within `budget` of decoding.
    pub fn live(budget: Duration) -> Pace {
        Pace { budget: Some(budget), live: true, interrupt_ends_stream: true }
    }

    /// A file replayed as a live camera (`redact --realtime`): paced and decided as live, but
    /// an interrupt fails the run like any file run.
    pub fn rehearsal(budget: Duration) -> Pace {
        Pace { interrupt_ends_stream: false, ..Pace::live(budget) }
    }
}

/// A decoded frame on its way to a detection worker: a second reference to the pixels, which
/// the worker only reads.
struct Planned {
    frame: Frame,
    plan: Plan,
}

/// A decoded frame on its way to the in-order tail, where it waits for its findings.
struct Decoded {
    frame: Frame,
    decoded_at: Instant,
    /// The plan's [`Plan::grey`], for the policy (false for a live filler frame, which is
    /// obscured whole).
    grey: bool,
    /// The plan's [`Plan::cut`]: the picture changed since the frame before more than motion can.
    cut: bool,
    /// The person cadence frames like this one are planned at ([`Planner::person_cadence`]);
    /// `None`: no person look is due on them.
    person_every: Option<u64>,
}

/// What the detectors found in one frame; `ran` is false on frames they skipped or only
/// glanced at ([`Plan::glance`]), `persons` true when the person detector was among those that
/// ran.
struct Found {
    index: u64,
    detections: Vec<Detection>,
    ran: bool,
    persons: bool,
    /// The face look had nothing to compare with ([`Plan::first_sight`](crate::detect::Plan::first_sight)).
    first_sight: bool,
}

impl Found {
    /// No look: the frame skipped detection.
    fn skipped(index: u64) -> Self {
        Found { index, detections: Vec::new(), ran: false, persons: false, first_sight: false }
    }
}

/// The pipeline's threads and its in-order tail: everything except where frames come from
/// and where they go.
pub struct Stages {
    pub planner: Planner,
    pub detectors: Vec<DetectorSet>,
    pub policy: Policy,
    pub tracking: TrackerSettings,
    pub pace: Pace,
}

impl Stages {
    /// The same stages at `pace`; live, the night profile's second face model takes turns over
    /// the closer look's tiles ([`Planner::live`]).
    pub fn paced(self, pace: Pace) -> Self {
        let planner = if pace.live { self.planner.live() } else { self.planner };
        Stages { planner, pace, ..self }
    }
}

/// Runs decode, detection and redaction concurrently; returns only after every thread ended.
pub fn run_stages(
    source: impl FrameSource,
    stages: Stages,
    sinks: Vec<Box<dyn FrameSink>>,
    progress: Progress,
    times: &StageTimes,
) -> Result<StageOutput> {
    let Stages { planner, detectors, policy, tracking, pace } = stages;
    // Live, a frame may go without a look of its own for twice the planned cadence.
    let max_unlooked = pace.live.then(|| 2 * planner.face_every);
    let lost = LostBoard::default();
    std::thread::scope(|scope| {
        // Live, a frame goes to a detector only if one is free at that moment (a rendezvous
        // channel): a look queued behind others comes back after its frame's deadline, CPU
        // spent for nothing while the frame leaves obscured. Frames without a free detector
        // skip their look and the tracker carries them.
        let plan_depth = if pace.live { 0 } else { CHANNEL_DEPTH };
        let lost = &lost;
        let (plan_tx, plan_rx) = bounded::<Planned>(plan_depth);
        // Room for every frame that can be in detection at once, so the tail is never starved
        // of a frame whose findings it already holds.
        let (frame_tx, frame_rx) = bounded::<Decoded>(2 * CHANNEL_DEPTH + detectors.len());
        let (found_tx, found_rx) = bounded::<Result<Found>>(CHANNEL_DEPTH);
        let to_tail = Tail { frames: frame_tx, skipped: found_tx.clone() };
        let decoder = std::thread::Builder::new()
            .name("decode".into())
            .spawn_scoped(scope, move || decode_stage(source, planner, plan_tx, to_tail, pace, lost, times))
            .expect("spawn decode thread");
        for (i, detector) in detectors.into_iter().enumerate() {
            let (rx, tx) = (plan_rx.clone(), found_tx.clone());
            let keep_going = pace.live;
            std::thread::Builder::new()
                .name(format!("detect-{i}"))
                .spawn_scoped(scope, move || detect_stage(detector, rx, tx, keep_going, times))
                .expect("spawn detect thread");
        }
        drop((plan_rx, found_tx));
        let redactor = Redactor::new(sinks, policy, tracking, max_unlooked, progress, lost, times);
        // The receivers are moved in and dropped on return, which unblocks the other stages on
        // error; so does closing the board of lost faces, for a planner waiting on it.
        let redacted = {
            let _closing = ClosedOnDrop(lost);
            redact_stage(frame_rx, found_rx, pace, redactor)
        };
        let decoded = decoder.join().unwrap_or_else(|_| Err(Error::Pipeline("decode thread panicked".into())));
        // A decode error explains a short stream: report it first.
        let shed = decoded?;
        redacted.map(|out| StageOutput { shed, ..out })
    })
}

/// Where the decode thread sends each frame besides the detectors: the frame itself to the
/// tail, and, for a frame that skips detection because the detectors are behind, its empty
/// findings.
struct Tail {
    frames: Sender<Decoded>,
    skipped: Sender<Result<Found>>,
}

/// The face tracks the tracker lost ([`Tracker::lost_faces`]), passed from the tail back to
/// the planner, which looks again where their motion puts them
/// ([`crate::detect::Planner::look_again`]).
#[derive(Default)]
struct LostBoard {
    state: Mutex<Board>,
    changed: Condvar,
}

#[derive(Default)]
struct Board {
    /// The latest frame the tail took.
    through: Option<u64>,
    /// What the tracker had lost as of each frame the tail took, from the oldest a plan may
    /// still ask for (at most the frames between the decoder and the tail, and [`LOST_LAG`]).
    lost: VecDeque<(u64, Vec<LostFace>)>,
    /// The tail stopped: nothing more comes.
    closed: bool,
}

impl LostBoard {
    fn board(&self) -> std::sync::MutexGuard<'_, Board> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The tail took frame `index`, having lost `lost` by then. What no plan can ask for any
    /// more is forgotten here, so the board stays bounded when nobody reads it (a run without
    /// the closer look, which plans without it): the decoder plans frames after `index`, with
    /// those of frames after `index` − [`LOST_LAG`].
    fn publish(&self, index: u64, lost: Vec<LostFace>) {
        let mut board = self.board();
        board.through = Some(index);
        while board.lost.front().is_some_and(|(i, _)| i + LOST_LAG <= index) {
            board.lost.pop_front();
        }
        board.lost.push_back((index, lost));
        drop(board);
        self.changed.notify_all();
    }

    fn close(&self) {
        self.board().closed = true;
        self.changed.notify_all();
    }

    /// The lost faces to plan frame `index` with. Files: those of frame `index` − [`LOST_LAG`]
    /// exactly, waiting for the tail to take it (it takes every frame before `index` without
    /// the decoder); none before then, or once the tail stopped. Live: the latest, without
    /// waiting (a live run depends on timing anyway).
    fn for_plan(&self, index: u64, live: bool) -> Vec<LostFace> {
        let mut board = self.board();
        if live {
            while board.lost.len() > 1 {
                board.lost.pop_front();
            }
            return board.lost.back().map(|(_, lost)| lost.clone()).unwrap_or_default();
        }
        let Some(wanted) = index.checked_sub(LOST_LAG) else { return Vec::new() };
        while !board.closed && board.through.is_none_or(|t| t < wanted) {
            board = self.changed.wait(board).unwrap_or_else(PoisonError::into_inner);
        }
        while board.lost.front().is_some_and(|(i, _)| *i < wanted) {
            board.lost.pop_front();
        }
        match board.lost.front() {
            Some((i, lost)) if *i == wanted => lost.clone(),
            _ => Vec::new(),
        }
    }
}

/// Closes the board when the tail stops, however it stops (a planner may be waiting on it).
struct ClosedOnDrop<'a>(&'a LostBoard);

impl Drop for ClosedOnDrop<'_> {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// Pulls frames from the source and plans their detection, until end of stream or until
/// nobody listens. Each frame goes to the detectors and, by another channel, to the tail.
/// Live pace: a frame the detectors have no room for skips detection instead of waiting (and,
/// for a camera, an interrupt ends the stream). Returns how many frames skipped detection.
fn decode_stage(
    mut source: impl FrameSource,
    mut planner: Planner,
    plan_tx: Sender<Planned>,
    tail: Tail,
    pace: Pace,
    lost: &LostBoard,
    times: &StageTimes,
) -> Result<u64> {
    let mut shed = 0;
    while let Some(frame) = StageTimes::time(&times.decode, || source.next_frame())? {
        if pace.interrupt_ends_stream && crate::interrupt::requested() {
            break;
        }
        crate::interrupt::check()?;
        let decoded_at = Instant::now();
        let index = frame.index;
        if pace.live && frame.is_filler() {
            // Nothing to look at: it leaves obscured whole, not counted as shed or late. What
            // the camera shows when it is back is a new start (a cut).
            planner.camera_away();
            let skipped = tail.skipped.send(Ok(Found::skipped(index))).is_ok();
            if !skipped || tail.frames.send(Decoded { frame, decoded_at, grey: false, cut: false, person_every: None }).is_err() {
                break;
            }
            continue;
        }
        let pts = frame.pts().map(|t| t.nseconds());
        if planner.small_faces {
            planner.look_again(lost.for_plan(index, pace.live));
        }
        let plan = frame.with_picture(|pic| planner.plan(index, pts, pic))?;
        let (grey, cut, person_every) = (plan.grey, plan.cut, planner.person_cadence(plan.grey));
        let planned = Planned { frame: frame.share(), plan };
        let sent = if pace.live {
            match plan_tx.try_send(planned) {
                Ok(()) => true,
                Err(TrySendError::Full(skipped)) => {
                    shed += 1;
                    planner.skipped(&skipped.plan);
                    tail.skipped.send(Ok(Found::skipped(index))).is_ok()
                }
                Err(TrySendError::Disconnected(_)) => false,
            }
        } else {
            plan_tx.send(planned).is_ok()
        };
        if !sent || tail.frames.send(Decoded { frame, decoded_at, grey, cut, person_every }).is_err() {
            break; // a later stage failed; it reports why
        }
    }
    Ok(shed)
}

/// Fault injection for tests and drills: with `VEILCAM_FAIL_DETECTOR_AT=N` in the environment
/// the detector reports an error on frame N (after the real detector ran), so a run can be made
/// to lose its detector mid-stream without a mock. Documented in the README.
const FAIL_DETECTOR_AT: &str = "VEILCAM_FAIL_DETECTOR_AT";

fn injected_detector_failure() -> Option<u64> {
    std::env::var(FAIL_DETECTOR_AT).ok()?.trim().parse().ok()
}

/// Fault injection: with `VEILCAM_DETECTOR_DELAY_MS=N` every detection takes N ms longer, to
/// see a slow detector (an overloaded machine) make live frames leave obscured. Documented in
/// the README.
const DETECTOR_DELAY_MS: &str = "VEILCAM_DETECTOR_DELAY_MS";

fn injected_detector_delay() -> Option<Duration> {
    let ms: u64 = std::env::var(DETECTOR_DELAY_MS).ok()?.trim().parse().ok()?;
    Some(Duration::from_millis(ms))
}

/// Runs the detectors each frame's plan asks for. The worker's reference to the pixels is
/// dropped before its findings are sent, so the tail can fill the frame in place.
fn detect_stage(
    mut detectors: DetectorSet,
    rx: Receiver<Planned>,
    tx: Sender<Result<Found>>,
    keep_going: bool,
    times: &StageTimes,
) {
    let fail_at = injected_detector_failure();
    let delay = injected_detector_delay();
    for Planned { frame, plan } in rx {
        if crate::interrupt::requested() {
            return; // the tail obscures (live) or fails (files) what is left
        }
        let index = frame.index;
        if let Some(delay) = delay.filter(|_| plan.any()) {
            std::thread::sleep(delay);
        }
        let result = if plan.any() || fail_at == Some(index) {
            StageTimes::time(&times.detect, || frame.with_picture(|pic| detectors.run(pic, &plan)))
                .and_then(|r| r.map_err(|message| Error::Detect { frame: index, message }))
                .and_then(|found| match fail_at {
                    Some(n) if n == index => {
                        Err(Error::Detect { frame: n, message: format!("failure injected by {FAIL_DETECTOR_AT}") })
                    }
                    _ => Ok(found),
                })
        } else {
            Ok(Vec::new())
        }
        .map(|detections| Found { index, detections, ran: plan.is_look(), persons: plan.persons, first_sight: plan.first_sight });
        drop(frame);
        let failed = result.is_err();
        if tx.send(result).is_err() || (failed && !keep_going) {
            return;
        }
    }
}

/// A frame in the look-ahead window with what was found in it.
struct Windowed {
    frame: Frame,
    /// What the frame's look found (none when it had no look of its own).
    detections: Vec<Detection>,
    /// What a glance at the frame found ([`Plan::glance`]).
    glanced: Vec<Detection>,
    decoded_at: Instant,
    /// Whether, and why, the whole picture is obscured (detection fell behind for it, or it
    /// is a filler frame).
    obscured_whole: Option<ObscuredWhole>,
    /// The plan's [`Plan::grey`].
    grey: bool,
}

/// The in-order tail of the pipeline: tracking, the look-ahead window, the fill, and the sinks.
struct Redactor<'t> {
    sinks: Vec<Box<dyn FrameSink>>,
    policy: Policy,
    tracker: Tracker,
    window: VecDeque<Windowed>,
    progress: Progress,
    frames: u64,
    faces: u64,
    persons: u64,
    obscured: u64,
    /// Frames whose own look was late or failed (all of them leave obscured whole).
    late: u64,
    filler: u64,
    /// Live: a frame without a look of its own may lean on the tracker only this many frames
    /// after the last look that came back in time; later (or before any look) it leaves
    /// obscured. `None` for files, where every look comes back.
    max_unlooked: Option<u64>,
    /// The last frame whose look came back.
    last_look: Option<u64>,
    /// Live: the last frame whose look with the person detector came back. A frame on which
    /// person looks are due leaves obscured whole when there was none for twice their cadence
    /// (or none yet): the person boxes (bystanders' bodies, and at night the heads of walkers
    /// whose faces the face models miss) would otherwise be missing from it.
    last_person_look: Option<u64>,
    /// Live: the first look since the stream began (or since its last cut) that could look for
    /// small faces; frames leave obscured whole until a look-ahead window after it
    /// ([`Redactor::warmed_up`]).
    first_seeing_look: Option<(u64, Option<gstreamer::ClockTime>)>,
    /// Where the tracker's lost faces go back to the planner.
    lost: &'t LostBoard,
    times: &'t StageTimes,
}

/// Whether a look that came back (`last`, if any) lies at most `max` frames before `index`.
fn looked_within(last: Option<u64>, index: u64, max: u64) -> bool {
    last.is_some_and(|last| index - last <= max)
}

impl<'t> Redactor<'t> {
    fn new(
        sinks: Vec<Box<dyn FrameSink>>,
        policy: Policy,
        tracking: TrackerSettings,
        max_unlooked: Option<u64>,
        progress: Progress,
        lost: &'t LostBoard,
        times: &'t StageTimes,
    ) -> Self {
        Redactor {
            max_unlooked,
            last_look: None,
            last_person_look: None,
            first_seeing_look: None,
            sinks,
            policy,
            tracker: Tracker::new(tracking),
            window: VecDeque::new(),
            progress,
            frames: 0,
            faces: 0,
            persons: 0,
            obscured: 0,
            late: 0,
            filler: 0,
            lost,
            times,
        }
    }

    /// Takes the next frame in order with its findings (`None`: late or failed, so the frame
    /// is obscured whole); emits the frames that left the look-ahead window.
    fn accept(&mut self, decoded: Decoded, found: Option<Found>) -> Result<()> {
        let Decoded { frame, decoded_at, grey, cut, person_every } = decoded;
        if cut {
            // What is found from here on is of another picture: it joins no track of before.
            self.tracker.cut(frame.index);
        }
        if cut && self.max_unlooked.is_some() {
            // Live, where the faces were before a cut says nothing about where they are now:
            // until a look at or after it comes back, nothing stands in for one.
            self.last_look = None;
            self.last_person_look = None;
            self.first_seeing_look = None;
        }
        let index = frame.index;
        let (detections, glanced, obscured_whole) = match found {
            Some(found) if found.ran => {
                self.tracker.observe(index, &found.detections);
                // Live, a face look that could not look for small faces (nothing to compare
                // with yet) stands neither for its frame nor for those after it.
                let blind = found.first_sight && self.max_unlooked.is_some();
                if !blind {
                    self.last_look = Some(index);
                    self.first_seeing_look.get_or_insert((index, frame.buffer.pts()));
                }
                if found.persons {
                    self.last_person_look = Some(index);
                }
                let covered = !blind && self.persons_cover(index, person_every);
                (found.detections, Vec::new(), (!covered).then_some(ObscuredWhole::NoLookClose))
            }
            // A filler frame (a live camera away) is obscured whole by nature: decided below.
            Some(found) if frame.is_filler() => (found.detections, Vec::new(), None),
            Some(found) => {
                // A glance's findings (what appeared between two looks) start tracks of their
                // own; the frame still leans on the tracker for the rest.
                self.tracker.glimpse(index, &found.detections);
                let covered = self.tracker_covers(index) && self.persons_cover(index, person_every);
                (Vec::new(), found.detections, (!covered).then_some(ObscuredWhole::NoLookClose))
            }
            None => (Vec::new(), Vec::new(), Some(ObscuredWhole::LookLate)),
        };
        // A filler frame is obscured whole whatever its look said.
        let obscured_whole = match obscured_whole {
            _ if frame.is_filler() => Some(ObscuredWhole::Filler),
            None if !self.warmed_up(index, frame.buffer.pts()) => Some(ObscuredWhole::NoLookClose),
            whole => whole,
        };
        let faces = detections.iter().chain(&glanced).filter(|d| d.class == Class::Face).count() as u64;
        self.faces += faces;
        self.persons += (detections.len() + glanced.len()) as u64 - faces;
        self.window.push_back(Windowed { frame, detections, glanced, decoded_at, obscured_whole, grey });
        self.lost.publish(index, self.tracker.lost_faces(index));
        while self.window.len() as u64 > self.tracker.settings().lookahead_frames {
            let oldest = self.window.pop_front().expect("window is not empty");
            self.emit(oldest)?;
        }
        Ok(())
    }

    /// Whether frame `index` may leave with masks: always for files; live, from a tracker's
    /// hold (a second by default, as far as files look ahead) after the first look since the
    /// stream began (or since its last cut) that could look for small faces. Every face in view
    /// is new then, and a small one is found only once it has moved under a look, up to half a
    /// second in (found by hostile use: on every camera connection a 12×17 px face showed on
    /// the first frames, found 267 ms in, past the 200 ms look-ahead; at 320×180, 15 fps, found
    /// 600 ms in). The first second then leaves obscured whole, as a file's first second would
    /// be masked from looks up to a second after it; later frames lean on the look-ahead.
    ///
    /// The hold is counted in the frames' own time where they have timestamps: a live camera's
    /// rate is not known when its settings are made (found by hostile use: at 2 fps the first
    /// 27 frames, 13.5 s, left obscured whole; at 60 fps the hold would have lasted 0.4 s).
    fn warmed_up(&self, index: u64, pts: Option<gstreamer::ClockTime>) -> bool {
        let settings = self.tracker.settings();
        self.max_unlooked.is_none()
            || self.first_seeing_look.is_some_and(|(first, first_pts)| match (first_pts, pts) {
                (Some(first_pts), Some(pts)) => pts.saturating_sub(first_pts).nseconds() as u128 >= settings.hold().as_nanos(),
                _ => index >= first + settings.hold_frames,
            })
    }

    /// Whether the tracker may stand in for a look at frame `index`: always for files; live,
    /// only shortly after a look that came back (never before the first one).
    fn tracker_covers(&self, index: u64) -> bool {
        self.max_unlooked.is_none_or(|max| looked_within(self.last_look, index, max))
    }

    /// Whether the person boxes the tracker holds may stand for a person look at frame `index`,
    /// on which person looks are due every `person_every` frames: always for files and where
    /// none are due; live, only within twice that cadence of a person look that came back.
    fn persons_cover(&self, index: u64, person_every: Option<u64>) -> bool {
        match (self.max_unlooked, person_every) {
            (Some(_), Some(every)) => looked_within(self.last_person_look, index, 2 * every),
            _ => true,
        }
    }

    /// Obscures every tracked face of one frame (or the whole frame) and hands it to the sinks.
    fn emit(&mut self, item: Windowed) -> Result<()> {
        let Windowed { mut frame, detections, glanced, decoded_at, obscured_whole, grey } = item;
        let (index, boxes) = (frame.index, self.tracker.boxes_at(frame.index));
        let policy = &mut self.policy;
        let decision = StageTimes::time(&self.times.redact, || {
            frame.with_picture_mut(|pic| {
                if obscured_whole.is_some() {
                    // What leaves when detection fell behind or failed.
                    crate::redact::obscure_all(pic);
                    Decision::default()
                } else {
                    policy.apply(pic, index, &boxes, grey)
                }
            })
        })?;
        // A filler frame (a live camera away) is obscured whole by nature, not for a deadline.
        self.obscured += u64::from(obscured_whole.is_some_and(ObscuredWhole::fell_behind));
        self.late += u64::from(obscured_whole == Some(ObscuredWhole::LookLate));
        self.filler += u64::from(obscured_whole == Some(ObscuredWhole::Filler));
        self.tracker.forget_before(frame.index + 1);
        self.times.frame_latency(decoded_at);
        let applied = Applied { detections: &detections, glanced: &glanced, masks: &boxes, decision: &decision, obscured_whole, decoded_at };
        let sinks = &mut self.sinks;
        StageTimes::time(&self.times.encode_wait, || sinks.iter_mut().try_for_each(|sink| sink.push(&frame, &applied)))?;
        self.progress.frame_done();
        self.frames += 1;
        Ok(())
    }

    /// Emits what is left in the window at end of stream.
    fn finish(mut self) -> Result<StageOutput> {
        while let Some(item) = self.window.pop_front() {
            self.emit(item)?;
        }
        self.progress.finish();
        Ok(StageOutput {
            frames: self.frames,
            faces: self.faces,
            persons: self.persons,
            obscured: self.obscured,
            late: self.late,
            shed: 0,
            filler: self.filler,
            sinks: self.sinks,
        })
    }
}

/// Takes frames in order and waits for each one's findings, up to the deadline.
fn redact_stage(
    frames: Receiver<Decoded>,
    found: Receiver<Result<Found>>,
    pace: Pace,
    mut redactor: Redactor<'_>,
) -> Result<StageOutput> {
    let mut waiting: BTreeMap<u64, Result<Found>> = BTreeMap::new();
    for decoded in frames {
        if !pace.interrupt_ends_stream {
            crate::interrupt::check()?;
        }
        let index = decoded.frame.index;
        let due = pace.budget.map(|b| decoded.decoded_at + b);
        let result = loop {
            if let Some(result) = waiting.remove(&index) {
                break Some(result);
            }
            let next = match due {
                None => found.recv().map_err(|_| ()),
                Some(due) => found.recv_timeout(due.saturating_duration_since(Instant::now())).map_err(|_| ()),
            };
            match next {
                Ok(Ok(f)) if f.index < index => {} // late findings of a frame already gone
                Ok(Ok(f)) => {
                    waiting.insert(f.index, Ok(f));
                }
                Ok(Err(e)) => match &e {
                    Error::Detect { frame, .. } if pace.live => {
                        tracing::warn!("{e}; the frame leaves obscured");
                        waiting.insert(*frame, Err(e));
                    }
                    _ => return Err(e),
                },
                Err(()) if due.is_some() => break None, // late: obscured
                Err(()) => return Err(Error::Pipeline(format!("frame {index} never came back from detection"))),
            }
        };
        match result {
            Some(Ok(f)) => redactor.accept(decoded, Some(f))?,
            Some(Err(_)) | None => redactor.accept(decoded, None)?,
        }
        waiting.retain(|&i, _| i > index);
    }
    redactor.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use gstreamer as gst;
    use gstreamer_video as gst_video;

    fn lost_at(frame: u64) -> Vec<LostFace> {
        vec![LostFace { bbox: crate::geometry::BBox::from_xywh(10.0, 10.0, 20.0, 20.0), frame, velocity: [0.0, 0.0], held_until: frame + 5 }]
    }

    /// A file's plans must not depend on how far the tail has come (an export compares runs
    /// with one and two workers byte for byte): frame N is planned with what the tracker had
    /// lost at frame N − LOST_LAG exactly, the planner waiting for the tail to take it.
    #[test]
    fn a_file_plans_with_the_lost_faces_of_a_fixed_frame_before_waiting_for_the_tail() {
        let board = LostBoard::default();
        assert!(board.for_plan(LOST_LAG - 1, false).is_empty(), "nothing before the lag");
        std::thread::scope(|scope| {
            // The tail never passes the frame before the one planned.
            let tail = scope.spawn(|| {
                for index in 0..=LOST_LAG {
                    std::thread::sleep(Duration::from_millis(2));
                    board.publish(index, if index == 1 { lost_at(index) } else { Vec::new() });
                }
            });
            // Planned as soon as the tail took frame 1, whatever it took after.
            assert_eq!(board.for_plan(LOST_LAG + 1, false), lost_at(1));
            assert!(board.for_plan(LOST_LAG + 2, false).is_empty(), "frame 2 had lost none");
            tail.join().unwrap();
        });
        // A tail that stopped leaves no planner waiting.
        board.close();
        assert!(board.for_plan(10 * LOST_LAG, false).is_empty());
    }

    /// Found by review: with the closer look off nobody reads the board, and it kept an entry
    /// for every frame of the stream (a live camera's grew for as long as it ran).
    #[test]
    fn the_board_of_lost_faces_stays_bounded_when_nobody_reads_it() {
        let board = LostBoard::default();
        for index in 0..10_000 {
            board.publish(index, lost_at(index));
        }
        assert!(board.board().lost.len() as u64 <= LOST_LAG, "{} entries", board.board().lost.len());
        // What the next plan asks for is still there.
        assert_eq!(board.for_plan(10_000 + LOST_LAG - 1, false), lost_at(9_999));
    }

    #[test]
    fn live_plans_with_the_latest_lost_faces_without_waiting() {
        let board = LostBoard::default();
        assert!(board.for_plan(100, true).is_empty());
        board.publish(7, lost_at(7));
        board.publish(8, lost_at(8));
        assert_eq!(board.for_plan(100, true), lost_at(8));
        assert_eq!(board.for_plan(101, true), lost_at(8), "until the tail takes another frame");
        board.publish(9, Vec::new());
        assert!(board.for_plan(102, true).is_empty());
    }

    #[test]
    fn the_look_ahead_holds_its_seconds_of_frames_within_a_frame_and_a_byte_cap() {
        let i420 = |w: usize, h: usize| Some(w * h * 3 / 2);
        assert_eq!(lookahead_frames(1.0, 30.0, i420(1920, 1080)), 30);
        assert_eq!(lookahead_frames(0.0, 30.0, i420(1920, 1080)), 0, "no look-ahead asked, none held");
        assert_eq!(lookahead_frames(1.0, 60.0, i420(3840, 2160)), 60, "a second of 4K at 60 fps fits");
        // A clip claiming 10,000 fps; 8K, whose second at 30 fps is 1.5 GB.
        assert_eq!(lookahead_frames(1.0, 10_000.0, i420(640, 480)), LOOKAHEAD_MAX_FRAMES);
        assert_eq!(lookahead_frames(1.0, 30.0, i420(7680, 4320)), 21);
        assert_eq!(lookahead_frames(5.0, 30.0, i420(16_000, 2_500)), 17, "the largest frames a file may have");
        // Live: bounded by `live.lookahead_ms` at the assumed rate.
        assert_eq!(lookahead_frames(0.2, 25.0, None), 5);
    }

    /// Regression: `redact --realtime` took the file stages and changed only their pace, so a
    /// rehearsal did not plan its looks as a live camera does.
    #[test]
    fn stages_at_a_live_pace_plan_as_live_cameras_do_and_files_do_not() {
        let paced = |pace| {
            let policy = Policy::new(None, 1.3, crate::redact::Shape::Box, crate::redact::FillMode::Solid);
            let tracking = TrackerSettings::for_fps(30.0, false);
            Stages { planner: Planner::new(1, None, true, 30.0), detectors: Vec::new(), policy, tracking, pace: Pace::FILE }.paced(pace)
        };
        assert!(paced(Pace::live(Duration::from_millis(250))).planner.is_live());
        assert!(paced(Pace::rehearsal(Duration::from_millis(250))).planner.is_live(), "a rehearsal plans as live");
        assert!(!paced(Pace::FILE).planner.is_live());
    }

    /// Records, per frame the tail hands on, what `what` reads of it.
    struct Record<T>(std::sync::Arc<std::sync::Mutex<Vec<T>>>, fn(&crate::sink::Applied<'_>) -> T);

    impl<T: Send> FrameSink for Record<T> {
        fn push(&mut self, _: &Frame, applied: &crate::sink::Applied<'_>) -> Result<()> {
            self.0.lock().unwrap().push((self.1)(applied));
            Ok(())
        }

        fn finish(self: Box<Self>) -> Result<Option<crate::output::AtomicOutput>> {
            Ok(None)
        }
    }

    /// Which of the frames `looks` describes leave obscured whole, from a tail live or not.
    /// Each look: the frame's person cadence (`None`: no person look due) and what came back
    /// (`None`: no look; `Some(persons)`: a look, with the person detector or not). Live, the
    /// first second after the first look ([`Redactor::warmed_up`]) is left out of these: the
    /// tracker holds nothing here (`hold_frames` 0).
    fn obscured_by_tail(live: bool, looks: &[(Option<u64>, Option<bool>)]) -> Vec<bool> {
        let frames = (0u64..).zip(looks).map(|(index, &(person_every, look))| {
            (false, person_every, Found { index, detections: Vec::new(), ran: look.is_some(), persons: look == Some(true), first_sight: false })
        });
        through_tail(TrackerSettings { hold_frames: 0, ..TrackerSettings::for_fps(30.0, false) }, live.then_some(2), frames)
    }

    /// The video info of the tests' 64×64 I420 frames (GStreamer initialised).
    fn small_frames() -> std::sync::Arc<gst_video::VideoInfo> {
        gst::init().unwrap();
        std::sync::Arc::new(gst_video::VideoInfo::builder(gst_video::VideoFormat::I420, 64, 64).build().unwrap())
    }

    /// Feeds a tail frames of textured 64×64 pictures, each with whether it is a cut, its person
    /// cadence and what came back; returns, per frame, whether it left obscured whole.
    fn through_tail(tracking: TrackerSettings, max_unlooked: Option<u64>, frames: impl IntoIterator<Item = (bool, Option<u64>, Found)>) -> Vec<bool> {
        recorded_by_tail(tracking, max_unlooked, frames, |applied| applied.fully_obscured())
    }

    /// [`through_tail`] with frames timestamped `interval` apart, as a camera's are.
    fn through_tail_every(interval: Duration, tracking: TrackerSettings, max_unlooked: Option<u64>, frames: impl IntoIterator<Item = (bool, Option<u64>, Found)>) -> Vec<bool> {
        recorded_by_tail_every(Some(interval), tracking, max_unlooked, frames, |applied| applied.fully_obscured())
    }

    /// [`through_tail`], recording what `what` reads of each frame the tail hands on.
    fn recorded_by_tail<T: Clone + Send + 'static>(
        tracking: TrackerSettings,
        max_unlooked: Option<u64>,
        frames: impl IntoIterator<Item = (bool, Option<u64>, Found)>,
        what: fn(&crate::sink::Applied<'_>) -> T,
    ) -> Vec<T> {
        recorded_by_tail_every(None, tracking, max_unlooked, frames, what)
    }

    /// [`recorded_by_tail`] with frames timestamped `interval` apart (`None`: untimed).
    fn recorded_by_tail_every<T: Clone + Send + 'static>(
        interval: Option<Duration>,
        tracking: TrackerSettings,
        max_unlooked: Option<u64>,
        frames: impl IntoIterator<Item = (bool, Option<u64>, Found)>,
        what: fn(&crate::sink::Applied<'_>) -> T,
    ) -> Vec<T> {
        let info = small_frames();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let policy = Policy::new(None, 1.3, crate::redact::Shape::Box, crate::redact::FillMode::Solid);
        let times = StageTimes::default();
        let sinks: Vec<Box<dyn FrameSink>> = vec![Box::new(Record(seen.clone(), what))];
        let lost = LostBoard::default();
        let mut tail = Redactor::new(sinks, policy, tracking, max_unlooked, Progress::new("test", None, true), &lost, &times);
        for (cut, person_every, found) in frames {
            // A picture with detail: a flat one is obscured whole by the policy whatever the looks.
            let picture: Vec<u8> = (0..info.size()).map(|i| (i * 37 % 251) as u8).collect();
            let mut buffer = gst::Buffer::from_mut_slice(picture);
            let pts = interval.map(|i| gst::ClockTime::from_nseconds(i.as_nanos() as u64 * found.index));
            buffer.get_mut().unwrap().set_pts(pts);
            let frame = Frame { index: found.index, buffer, info: info.clone() };
            let decoded = Decoded { frame, decoded_at: Instant::now(), grey: true, cut, person_every };
            tail.accept(decoded, Some(found)).unwrap();
        }
        tail.finish().unwrap();
        let seen = seen.lock().unwrap().clone();
        seen
    }

    /// A source handing on the frames it holds.
    struct Frames(std::vec::IntoIter<Frame>);

    impl FrameSource for Frames {
        fn next_frame(&mut self) -> Result<Option<Frame>> {
            Ok(self.0.next())
        }
    }

    /// Found by hostile use: a camera knocked sideways (or a view switched) at a look; the face
    /// found there joined the track of the face before, and the frame between the two looks was
    /// masked halfway between them, leaving the face of before uncovered. The cut reaches the
    /// tracker: the frame before it keeps a mask where the face of before stands.
    #[test]
    fn a_cut_at_a_look_leaves_the_frame_before_it_masked_where_its_face_was() {
        let face = |x: f32| vec![Detection { class: Class::Face, bbox: crate::geometry::BBox::from_xywh(x, 20.0, 12.0, 12.0), score: 0.9 }];
        let looked = |index: u64, detections: Vec<Detection>| Found { index, detections, ran: true, persons: false, first_sight: false };
        let skipped = |index: u64| Found { index, detections: Vec::new(), ran: false, persons: false, first_sight: false };
        let frames = [(false, looked(0, face(10.0))), (false, skipped(1)), (false, looked(2, face(10.0))), (false, skipped(3)), (true, looked(4, face(26.0)))];
        let masks = recorded_by_tail(TrackerSettings::for_fps(25.0, true), None, frames.map(|(cut, found)| (cut, None, found)), |applied| {
            applied.decision.obscured.iter().map(|o| o.bbox).collect::<Vec<_>>()
        });
        let covers = |b: &crate::geometry::BBox, x: f32| b.x1 <= x && x + 12.0 <= b.x2;
        assert!(masks[3].iter().any(|b| covers(b, 10.0)), "frame 3: the face of before, at x 10-22, is covered: {:?}", masks[3]);
        assert!(masks[4].iter().any(|b| covers(b, 26.0)), "frame 4: the face after the cut is covered: {:?}", masks[4]);
    }

    /// Found in review: a live camera back after an absence (filler frames) with the same size
    /// and view was no cut, so its first second left with masks instead of obscured whole (a
    /// small face that walked in meanwhile showed until a look could find it).
    #[test]
    fn live_the_first_frame_after_filler_frames_reaches_the_tail_as_a_cut() {
        let info = small_frames();
        let frames: Vec<Frame> = (0..12u64)
            .map(|index| {
                let mut buffer = gst::Buffer::from_mut_slice(vec![100u8; info.size()]);
                if (5..8).contains(&index) {
                    buffer.get_mut().unwrap().set_flags(gst::BufferFlags::GAP);
                }
                Frame { index, buffer, info: info.clone() }
            })
            .collect();
        let (plan_tx, _plan_rx) = bounded::<Planned>(0);
        let (frame_tx, frame_rx) = bounded::<Decoded>(16);
        let (found_tx, _found_rx) = bounded::<Result<Found>>(16);
        let planner = Planner::new(1, None, true, 25.0).live();
        let times = StageTimes::default();
        let tail = Tail { frames: frame_tx, skipped: found_tx };
        decode_stage(Frames(frames.into_iter()), planner, plan_tx, tail, Pace::live(Duration::from_millis(250)), &LostBoard::default(), &times).unwrap();
        let cuts: Vec<u64> = frame_rx.try_iter().filter(|d| d.cut).map(|d| d.frame.index).collect();
        assert_eq!(cuts, [8], "the camera's first frame back is a cut, the filler frames and the still view are not");
    }

    /// Live, a stream's first frames and those after a cut leave obscured whole until a hold
    /// after the first look that could look for small faces (one with an earlier picture to
    /// compare with): found by hostile use, a small face showed on the first frames of every
    /// camera connection.
    #[test]
    fn live_frames_leave_obscured_until_a_second_after_the_first_look_that_could_see_small_faces() {
        // A look at every frame; the first two had nothing to compare with; a cut at frame 8.
        let frames = (0..14u64).map(|index| {
            (index == 8, None, Found { index, detections: Vec::new(), ran: true, persons: false, first_sight: index < 2 || index == 8 })
        });
        let seen = through_tail(TrackerSettings { hold_frames: 3, ..TrackerSettings::for_fps(30.0, false) }, Some(2), frames);
        let expected = [true, true, true, true, true, false, false, false, true, true, true, true, false, false];
        assert_eq!(seen, expected, "obscured whole, per frame: the first seeing looks at 2 and 9, each with a hold of 3 frames");
    }

    /// Found by hostile use: a live camera's settings are made at an assumed 25 fps (its own
    /// rate is not known then), and the hold after the first seeing look was counted in those
    /// frames: a 2 fps camera left its first 27 frames (13.5 s) obscured whole, and at 60 fps
    /// the hold would have ended 0.4 s in. It lasts its second of the frames' own time.
    #[test]
    fn live_the_hold_after_the_first_seeing_look_lasts_a_second_of_the_cameras_own_time() {
        let assumed = TrackerSettings::for_fps(25.0, false);
        let looks = |n: u64| {
            (0..n).map(|index| (false, None, Found { index, detections: Vec::new(), ran: true, persons: false, first_sight: index < 2 }))
        };
        // 2 fps: the first seeing look at frame 2 (1.0 s); a second later is frame 4.
        let seen = through_tail_every(Duration::from_millis(500), assumed, Some(2), looks(8));
        assert_eq!(seen, [true, true, true, true, false, false, false, false], "at 2 fps");
        // 60 fps: a second after frame 2 is frame 62.
        let seen = through_tail_every(Duration::from_nanos(16_666_667), assumed, Some(2), looks(70));
        let first_clear = seen.iter().position(|&obscured| !obscured);
        assert_eq!(first_clear, Some(62), "at 60 fps: {seen:?}");
    }

    /// Regression: live, a frame on which person looks were due was decided by face looks
    /// alone when no person look had come back (the person model loading at the first grey
    /// frame, or person looks late under load), so at night the heads of walkers were not
    /// obscured on it. It now leaves obscured whole until a person look comes back, and again
    /// when none came back for twice their cadence; frames without person looks due, and files,
    /// are as before.
    #[test]
    fn live_frames_due_a_person_look_leave_obscured_until_one_comes_back() {
        let (night, face_look, person_look) = (Some(6), Some(false), Some(true));
        let mut looks = vec![(night, face_look), (night, face_look), (night, person_look)];
        looks.extend((3..=16).map(|_| (night, face_look)));
        looks.push((None, face_look));
        let live = obscured_by_tail(true, &looks);
        let expected: Vec<bool> = (0..looks.len()).map(|i| i < 2 || (15..=16).contains(&i)).collect();
        assert_eq!(live, expected, "obscured whole, per frame");
        assert!(obscured_by_tail(false, &looks).iter().all(|&o| !o), "files wait for every look");
    }
}
