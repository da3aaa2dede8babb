//! The video pipeline: stages on their own threads, joined by bounded channels.
//!
//! ```text
//! decode + plan ──planned frames──▶ detect workers (one ORT session each) ──detected──▶ redact + encode
//!  (GStreamer)     bounded                                                 bounded     (re-ordered)
//! ```
//! The decode thread also plans each frame's detection ([`crate::detect::Planner`]) in frame
//! order, so the workers keep no state and the result does not depend on how many there are
//! or which one takes a frame. The redact stage tracks faces and holds a bounded look-ahead window of frames (about a
//! second) so a detection can also mask the frames before it and the misses around it
//! ([`crate::track`]). Back-pressure reaches the decoder through the bounded channels, the
//! window and the appsrc queue, so memory does not grow with clip length. The output appears
//! only if every stage finished cleanly: a decode, detection or encode error drops the sink, and
//! with it the temp file.

use std::collections::{BTreeMap, VecDeque};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};

use crate::detect::{Class, Detection, DetectorSet, Plan, Planner};
use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::output::{commit_all, prepare_all, AtomicOutput, Target};
use crate::preview::annotate;
use crate::progress::Progress;
use crate::policy::Policy;
use crate::settings::RedactSettings;
use crate::sidecar::{FrameRecord, SidecarHeader, SidecarWriter};
use crate::sink::file::FileSink;
use crate::stats::{StageTimes, StatsReport};
use crate::source::file::FileSource;
use crate::source::Damage;
use crate::source::FrameSource;
use crate::track::{Tracker, TrackerSettings};

/// Frames each channel may hold.
const CHANNEL_DEPTH: usize = 4;

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
}

impl Summary {
    pub fn fps(&self) -> f64 {
        self.frames as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// A frame with the faces found in it; `ran` is false on frames the detector skipped.
struct Detected {
    frame: Frame,
    detections: Vec<Detection>,
    ran: bool,
    /// When the frame left the decoder (for latency).
    decoded_at: Instant,
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
        let mut prepared = prepare_all(&s.input, &wanted, s.overwrite)?.into_iter();
        let video = prepared.next().expect("the video output is always prepared");
        let mut next_if = |wanted: bool| if wanted { prepared.next() } else { None };
        let sidecar = next_if(s.sidecar.is_some());
        let preview = next_if(s.preview.is_some());
        let stats = next_if(s.stats.is_some());
        Ok(Targets { video, sidecar, preview, stats })
    }
}

/// Redacts one video file.
pub fn redact_video(s: &RedactSettings, quiet: bool) -> Result<Summary> {
    let started = Instant::now();
    crate::input::check(&s.input)?;
    let targets = Targets::prepare(s)?;
    let policy = Policy::new(s.camera.clone(), s.mask_scale, s.shape, s.fill);
    let detectors = (0..s.workers).map(|_| s.detectors(policy.needs_persons())).collect::<Result<Vec<_>>>()?;
    let source = FileSource::open_with(&s.input, s.salvage)?;
    let info = source.info().clone();
    let fps = info.fps();
    let fps = if fps.numer() > 0 && fps.denom() > 0 { fps.numer() as f64 / fps.denom() as f64 } else { 25.0 };
    let planner = s.planner(fps, policy.needs_persons());
    tracing::debug!(
        "decoding {}: {}x{} at {} fps, {}, faces every {} frame(s), {} worker(s)",
        s.input.display(),
        info.width(),
        info.height(),
        info.fps(),
        source.duration().map_or("duration unknown".to_string(), |d| format!("{:.2} s", d.nseconds() as f64 / 1e9)),
        planner.face_every,
        detectors.len()
    );
    let sidecar = targets
        .sidecar
        .map(|out| {
            let header = SidecarHeader {
                veilcam: env!("CARGO_PKG_VERSION"),
                input: s.input.display().to_string(),
                width: info.width(),
                height: info.height(),
                fps_n: info.fps().numer(),
                fps_d: info.fps().denom(),
            };
            SidecarWriter::create(out, &header)
        })
        .transpose()?;
    let audio = s.keep_audio.then_some(s.input.as_path());
    let preview = targets.preview.map(|out| FileSink::create(out, source.caps(), &s.encoder, None)).transpose()?;
    let sink = FileSink::create(targets.video, source.caps(), &s.encoder, audio)?;
    let progress = Progress::new(&s.input.file_name().unwrap_or_default().to_string_lossy(), source.estimated_frames(), quiet);
    let tracking = TrackerSettings {
        hold_frames: (s.hold_seconds * fps).round() as u64,
        lookahead_frames: (s.lookahead_seconds * fps).round() as u64,
        ..TrackerSettings::for_fps(fps, true)
    };

    let outputs = Outputs { sink, sidecar, preview };
    let times = StageTimes::default();
    let damage = source.damage_log();
    let done = run_stages(source, planner, detectors, outputs, policy, tracking, progress, &times)?;
    let damage = damage.take();
    let mut ready = vec![done.outputs.sink.finish()?];
    if let Some(sidecar) = done.outputs.sidecar {
        ready.push(sidecar.finish(&damage)?);
    }
    if let Some(preview) = done.outputs.preview {
        ready.push(preview.finish()?);
    }
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
    })
}

/// Writes `value` as pretty JSON to the temp file of `out`.
pub fn write_json(out: &AtomicOutput, value: &impl serde::Serialize) -> Result<()> {
    let file = std::fs::File::create(out.temp_path()).map_err(|e| Error::io(out.target(), e))?;
    let mut writer = std::io::BufWriter::new(file);
    serde_json::to_writer_pretty(&mut writer, value).map_err(|e| Error::io(out.target(), e.into()))?;
    std::io::Write::flush(&mut writer).map_err(|e| Error::io(out.target(), e))
}

/// Everything the run writes; each appears only if the whole run succeeds.
struct Outputs {
    sink: FileSink,
    sidecar: Option<SidecarWriter>,
    preview: Option<FileSink>,
}

/// What the stages hand back after the last frame.
struct StageOutput {
    frames: u64,
    faces: u64,
    persons: u64,
    outputs: Outputs,
}

/// A decoded frame on its way to a detection worker.
struct Planned {
    frame: Frame,
    plan: Plan,
    decoded_at: Instant,
}

/// Runs decode, detection and redaction concurrently; returns only after every thread ended.
#[allow(clippy::too_many_arguments)]
fn run_stages(
    source: impl FrameSource,
    planner: Planner,
    detectors: Vec<DetectorSet>,
    outputs: Outputs,
    policy: Policy,
    tracking: TrackerSettings,
    progress: Progress,
    times: &StageTimes,
) -> Result<StageOutput> {
    std::thread::scope(|scope| {
        let (frame_tx, frame_rx) = bounded::<Planned>(CHANNEL_DEPTH);
        let (det_tx, det_rx) = bounded::<Result<Detected>>(CHANNEL_DEPTH);
        let decoder = std::thread::Builder::new()
            .name("decode".into())
            .spawn_scoped(scope, move || decode_stage(source, planner, frame_tx, times))
            .expect("spawn decode thread");
        for (i, detector) in detectors.into_iter().enumerate() {
            let (rx, tx) = (frame_rx.clone(), det_tx.clone());
            std::thread::Builder::new()
                .name(format!("detect-{i}"))
                .spawn_scoped(scope, move || detect_stage(detector, rx, tx, times))
                .expect("spawn detect thread");
        }
        drop((frame_rx, det_tx));
        // `det_rx` is moved in and dropped on return, which unblocks the other stages on error.
        let redacted = redact_stage(det_rx, outputs, policy, tracking, progress, times);
        let decoded = decoder.join().unwrap_or_else(|_| Err(Error::Pipeline("decode thread panicked".into())));
        // A decode error explains a short stream: report it first.
        decoded?;
        redacted
    })
}

/// Pulls frames from the source and plans their detection, until end of stream or until
/// nobody listens.
fn decode_stage(mut source: impl FrameSource, mut planner: Planner, tx: Sender<Planned>, times: &StageTimes) -> Result<()> {
    while let Some(frame) = StageTimes::time(&times.decode, || source.next_frame())? {
        crate::interrupt::check()?;
        let decoded_at = Instant::now();
        let plan = frame.with_picture(|pic| planner.plan(frame.index, pic))?;
        if tx.send(Planned { frame, plan, decoded_at }).is_err() {
            break; // a later stage failed; it reports why
        }
    }
    Ok(())
}

/// Fault injection for tests and drills: with `VEILCAM_FAIL_DETECTOR_AT=N` in the environment
/// the detector reports an error on frame N (after the real detector ran), so a run can be made
/// to lose its detector mid-stream without a mock. Documented in the README.
const FAIL_DETECTOR_AT: &str = "VEILCAM_FAIL_DETECTOR_AT";

fn injected_detector_failure() -> Option<u64> {
    std::env::var(FAIL_DETECTOR_AT).ok()?.trim().parse().ok()
}

/// Runs the detectors each frame's plan asks for.
fn detect_stage(mut detectors: DetectorSet, rx: Receiver<Planned>, tx: Sender<Result<Detected>>, times: &StageTimes) {
    let fail_at = injected_detector_failure();
    for Planned { frame, plan, decoded_at } in rx {
        let result = if plan.any() || fail_at == Some(frame.index) {
            StageTimes::time(&times.detect, || frame.with_picture(|pic| detectors.run(pic, &plan)))
                .and_then(|r| r.map_err(|message| Error::Detect { frame: frame.index, message }))
                .and_then(|found| match fail_at {
                    Some(n) if n == frame.index => {
                        Err(Error::Detect { frame: n, message: format!("failure injected by {FAIL_DETECTOR_AT}") })
                    }
                    _ => Ok(found),
                })
        } else {
            Ok(Vec::new())
        }
        .map(|detections| Detected { ran: plan.any(), detections, frame, decoded_at });
        let failed = result.is_err();
        if tx.send(result).is_err() || failed {
            return;
        }
    }
}

/// The in-order tail of the pipeline: tracking, the look-ahead window, the fill, the sidecar
/// and the encoder.
struct Redactor<'t> {
    outputs: Outputs,
    policy: Policy,
    tracker: Tracker,
    window: VecDeque<Detected>,
    progress: Progress,
    frames: u64,
    faces: u64,
    persons: u64,
    times: &'t StageTimes,
}

impl Redactor<'_> {
    /// Takes the next frame in order; emits the frames that left the look-ahead window.
    fn accept(&mut self, item: Detected) -> Result<()> {
        if item.ran {
            self.tracker.observe(item.frame.index, &item.detections);
        }
        let faces = item.detections.iter().filter(|d| d.class == Class::Face).count() as u64;
        self.faces += faces;
        self.persons += item.detections.len() as u64 - faces;
        self.window.push_back(item);
        while self.window.len() as u64 > self.tracker.settings().lookahead_frames {
            let oldest = self.window.pop_front().expect("window is not empty");
            self.emit(oldest)?;
        }
        Ok(())
    }

    /// Obscures every tracked face of one frame and sends it on.
    fn emit(&mut self, item: Detected) -> Result<()> {
        let Detected { mut frame, detections, decoded_at, .. } = item;
        let boxes = self.tracker.boxes_at(frame.index);
        let policy = &mut self.policy;
        StageTimes::time(&self.times.redact, || frame.with_picture_mut(|pic| policy.apply(pic, &boxes)))?;
        if let Some(sidecar) = self.outputs.sidecar.as_mut() {
            sidecar.write(&FrameRecord {
                index: frame.index,
                pts_ns: frame.pts().map(|t| t.nseconds()),
                duration_ns: frame.buffer.duration().map(|t| t.nseconds()),
                detections: &detections,
                masks: &boxes,
            })?;
        }
        self.tracker.forget_before(frame.index + 1);
        if let Some(preview) = self.outputs.preview.as_mut() {
            let mut copy = Frame { index: frame.index, buffer: frame.buffer.copy_deep().map_err(|e| Error::Pipeline(format!("cannot copy frame: {e}")))?, info: frame.info.clone() };
            copy.with_picture_mut(|pic| annotate(pic, &boxes))?;
            preview.push(copy)?;
        }
        self.times.frame_latency(decoded_at);
        let sink = &mut self.outputs.sink;
        StageTimes::time(&self.times.encode_wait, || sink.push(frame))?;
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
        Ok(StageOutput { frames: self.frames, faces: self.faces, persons: self.persons, outputs: self.outputs })
    }
}

/// Puts detected frames back in order and feeds them to the [`Redactor`].
fn redact_stage(
    rx: Receiver<Result<Detected>>,
    outputs: Outputs,
    policy: Policy,
    tracking: TrackerSettings,
    progress: Progress,
    times: &StageTimes,
) -> Result<StageOutput> {
    let mut redactor = Redactor {
        times,
        outputs,
        policy,
        tracker: Tracker::new(tracking),
        window: VecDeque::new(),
        progress,
        frames: 0,
        faces: 0,
        persons: 0,
    };
    let mut pending: BTreeMap<u64, Detected> = BTreeMap::new();
    let mut next = 0u64;
    for item in rx {
        crate::interrupt::check()?;
        let item = item?;
        pending.insert(item.frame.index, item);
        while let Some(item) = pending.remove(&next) {
            redactor.accept(item)?;
            next += 1;
        }
    }
    if !pending.is_empty() {
        return Err(Error::Pipeline(format!("{} frames never came back from detection", pending.len())));
    }
    redactor.finish()
}
