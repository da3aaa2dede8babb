//! `veilcam live`: every camera of a live config through the same engine as files, in real time.
//!
//! ```text
//! RtspSource ─▶ LiveFeed ─▶ engine (pipeline::run_stages, Pace::live: a latency budget after
//!  (reconnects)  (gaps,     which a frame leaves fully obscured, detection shed before frames
//!                 metrics)  are late, a 200 ms look-ahead) ─▶ Restream (RTSP mount /NAME)
//!                                                    ─▶ Recorder (segments + SHA-256 index)
//!                                                    ─▶ metrics (frames out, obscured, latency)
//!                                                    ─▶ log (a line a minute while it falls behind)
//! ```
//! One thread per camera; the RTSP server, the metrics server and the retention sweeper are
//! shared. Nothing but the engine's output reaches a sink: the raw stream is never written,
//! served or kept beyond the frames in flight (bounded channels, at most the latency budget).
//! A signal ends every camera's stream cleanly, so the recorder closes its segment.
//!
//! While a camera is away (frozen, unplugged, reconnecting), [`LiveFeed`] keeps the stream
//! going with black **filler frames** at the camera's last size and frame rate, from
//! [`FILLER_AFTER`] without a frame until the camera's frames flow again, so viewers and NVRs
//! on the restream do not time out. The engine passes them on obscured whole without a look
//! ([`Frame::is_filler`]); the recording keeps them too (a black stretch where the camera was
//! away, one continuous timeline); metrics count them as `frames_filler`, not as frames out.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer_video as gst_video;

use crate::cli::RedactOptions;
use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::live::config::{AuthMethod, LateFrames, LiveCamera, LiveConfig, Transport as ConfigTransport};
use crate::live::lag::LagLog;
use crate::live::metrics::{CameraMetrics, LiveMetrics, MetricsServer};
use crate::live::retention::{Retention, Sweeper};
use crate::output::AtomicOutput;
use crate::pipeline::{run_stages, stages, Pace};
use crate::policy::Policy;
use crate::progress::Progress;
use crate::settings::RedactSettings;
use crate::sink::recorder::{Recorder, RecorderSettings};
use crate::sink::restream::{Credentials, RestreamSettings, RtspServer};
use crate::sink::{Applied, FrameSink, ObscuredWhole};
use crate::source::rtsp::{RtspOptions, RtspSource, SourceEvent, Transport};
use crate::source::FrameSource;
use crate::stats::StageTimes;

/// How long one wait for a camera frame lasts before the stop flag is looked at again.
const FEED_POLL: Duration = Duration::from_millis(200);
/// How often the retention sweeper runs: often enough that the disk floor (`min_free_mb`) is
/// kept while cameras write (found by hostile use: at once a minute, a camera filled a small
/// disk between two sweeps).
const SWEEP_EVERY: Duration = Duration::from_secs(5);
/// Frame rate assumed for detection cadence until a camera says its own.
const ASSUMED_FPS: f64 = 25.0;
/// With no frame from the camera for this long, black filler frames take its place.
pub const FILLER_AFTER: Duration = Duration::from_secs(1);

/// What a whole `veilcam live` run did, per camera: one camera's failure does not hide what
/// the others did.
#[derive(Debug, Default)]
pub struct LiveSummary {
    /// The cameras that ran until the stop, in the config's order.
    pub cameras: Vec<CameraSummary>,
    /// The cameras that failed, in the config's order, each with what ended it.
    pub failed: Vec<CameraFailure>,
}

/// A camera that ended with an error instead of at the stop.
#[derive(Debug)]
pub struct CameraFailure {
    pub name: String,
    pub error: Error,
}

impl LiveSummary {
    /// `Ok` when every camera ran until the stop; otherwise the run's error, naming each camera
    /// that failed and why (one failure is returned as it is, its camera named).
    pub fn outcome(self) -> Result<()> {
        let mut failed = self.failed.into_iter();
        let Some(first) = failed.next() else { return Ok(()) };
        let mut message = format!("camera {}: {}", first.name, first.error);
        for more in failed {
            message += &format!("; camera {}: {}", more.name, more.error);
        }
        Err(Error::Pipeline(message))
    }
}

/// What one camera's stream did.
#[derive(Debug, Default, Clone)]
pub struct CameraSummary {
    pub name: String,
    pub frames: u64,
    /// Frames that left fully obscured because detection fell behind
    /// ([`Summary::obscured`](crate::pipeline::Summary::obscured)).
    pub obscured: u64,
    /// Of `obscured`, the frames whose own look was late or failed.
    pub late: u64,
    /// Frames that skipped detection because the detectors were behind (the tracker covered).
    pub shed: u64,
    /// Black filler frames sent while the camera was away (counted in `frames`).
    pub filler: u64,
}

/// Everything shared by the cameras of one run.
pub struct LiveServices {
    pub server: RtspServer,
    pub metrics: Arc<LiveMetrics>,
    metrics_server: Option<MetricsServer>,
    sweeper: Option<Sweeper>,
}

impl LiveServices {
    /// Starts the restream server, the metrics server and the retention sweeper of `config`.
    pub fn start(config: &LiveConfig) -> Result<Self> {
        let credentials = config.auth.as_ref().map(|a| Credentials {
            user: a.user.clone(),
            password: a.password.expose().to_string(),
            digest: a.method == AuthMethod::Digest,
        });
        let restream = RestreamSettings { preset: config.encoder_preset.clone(), ..RestreamSettings::default() };
        let metrics = Arc::new(LiveMetrics::new(config.cameras.iter().map(|c| c.name().to_string()), config.health_stale));
        let metrics_server = config.metrics.map(|addr| MetricsServer::start(addr, Arc::clone(&metrics))).transpose()?;
        let server = RtspServer::start(config.listen, credentials.as_ref(), restream)?;
        let sweeper = match &config.recordings {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
                crate::live::retention::check_floor(dir, config.min_free_bytes)?;
                let mut retention = Retention::new(config.retain, config.min_free_bytes);
                for cam in &config.cameras {
                    retention.per_camera.insert(cam.name().to_string(), cam.retain);
                }
                Some(Sweeper::start(dir.clone(), retention, SWEEP_EVERY)?)
            }
            None => None,
        };
        Ok(LiveServices { server, metrics, metrics_server, sweeper })
    }

    /// Where the restream of `camera` is served.
    pub fn restream_url(&self, camera: &str) -> String {
        self.server.url(camera)
    }

    /// Where `/metrics` and `/healthz` are served, if anywhere.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_server.as_ref().map(MetricsServer::local_addr)
    }

    /// Stops the sweeper and the metrics server (the RTSP server stops when dropped).
    pub fn stop(self) {
        if let Some(sweeper) = self.sweeper {
            let _ = sweeper.stop();
        }
        if let Some(server) = self.metrics_server {
            server.stop();
        }
    }
}

/// What [`run`] tells its caller once the servers are up: where to watch and to scrape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ready<'a> {
    /// A camera's redacted restream.
    Restream { camera: &'a str, url: &'a str },
    /// Where `/metrics` and `/healthz` are served (the port picked when the config says 0).
    Metrics(SocketAddr),
}

/// Runs every camera of `config` until a signal ([`crate::interrupt`]) ends the streams.
/// `on_ready` is told where each camera's restream and the metrics are served once the
/// servers are up. An error is one that stopped the whole run (before the cameras started);
/// a camera that fails is in [`LiveSummary::failed`], beside the summaries of the others
/// ([`LiveSummary::outcome`] turns it into the run's error).
pub fn run(config: &LiveConfig, options: &RedactOptions, on_ready: &dyn Fn(Ready<'_>)) -> Result<LiveSummary> {
    check_recordings(config)?;
    let services = LiveServices::start(config)?;
    for cam in &config.cameras {
        on_ready(Ready::Restream { camera: cam.name(), url: &services.restream_url(cam.name()) });
    }
    if let Some(addr) = services.metrics_addr() {
        on_ready(Ready::Metrics(addr));
    }
    let results: Vec<Result<CameraSummary>> = std::thread::scope(|scope| {
        let handles: Vec<_> = config
            .cameras
            .iter()
            .map(|cam| {
                let services = &services;
                std::thread::Builder::new()
                    .name(format!("camera-{}", cam.name()))
                    .spawn_scoped(scope, move || log_failure(cam.name(), run_camera(cam, config, services, options)))
                    .expect("spawn camera thread")
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(Error::Pipeline("camera thread panicked".into())))).collect()
    });
    services.stop();
    // Every camera's result, not only those before the first failure (found by review: one
    // failed camera hid the summaries of all the others).
    let mut summary = LiveSummary::default();
    for (cam, result) in config.cameras.iter().zip(results) {
        match result {
            Ok(done) => summary.cameras.push(done),
            Err(error) => summary.failed.push(CameraFailure { name: cam.name().to_string(), error }),
        }
    }
    Ok(summary)
}

/// Checks, before anything is served or announced, that every camera can record: its
/// directory is a directory (or can be made: nothing is created before the run starts), no
/// other recorder holds it (a second `veilcam live` with the same recordings), and its index
/// reads. Found by hostile use: a camera whose
/// recording directory was a file, or whose index was corrupt, had its restream announced,
/// never served it, logged nothing and `/healthz` called it stale as if the camera were
/// unreachable; the cause came out only at shutdown.
///
/// Nor may two cameras record into one directory (found by hostile use: with `rec/b -> a`, both
/// restreams were announced, camera a stopped at its first segment, and the error blamed "a
/// second veilcam live").
fn check_recordings(config: &LiveConfig) -> Result<()> {
    let Some(dir) = &config.recordings else { return Ok(()) };
    let mut directories: Vec<(&str, (u64, u64))> = Vec::new();
    for cam in &config.cameras {
        let camera_dir = RecorderSettings::new(dir, cam.name()).camera_dir();
        check_camera_dir(cam.name(), &camera_dir)?;
        let Some(id) = crate::input::file_id(&camera_dir) else { continue };
        if let Some((other, _)) = directories.iter().find(|(_, seen)| *seen == id) {
            return Err(Error::Settings(format!(
                "cameras {other} and {} would record into the same directory ({}); give each camera its own",
                cam.name(),
                crate::one_line_path(&camera_dir)
            )));
        }
        directories.push((cam.name(), id));
    }
    Ok(())
}

/// One camera's part of [`check_recordings`]; the error names the camera, the path and why.
fn check_camera_dir(camera: &str, camera_dir: &std::path::Path) -> Result<()> {
    let cannot = |why: String| Error::Settings(format!("camera {camera}: cannot record into {}: {why}", camera_dir.display()));
    // The directory, or the nearest of its parents that exists, must be a directory.
    let Some(existing) = camera_dir.ancestors().find(|p| p.as_os_str().is_empty() || p.exists()) else { return Ok(()) };
    if !existing.as_os_str().is_empty() && !existing.is_dir() {
        return Err(cannot(format!("{} is not a directory", existing.display())));
    }
    if existing != camera_dir {
        return Ok(());
    }
    drop(crate::live::segments::claim_recorder(camera_dir)?);
    crate::live::segments::read_index(camera_dir).map_err(|e| cannot(e.to_string()))?;
    Ok(())
}

/// Logs a camera's failure when it happens, not only when every camera has stopped: the
/// other cameras go on, and without this line nothing would say why this one is gone.
fn log_failure(camera: &str, result: Result<CameraSummary>) -> Result<CameraSummary> {
    if let Err(e) = &result {
        tracing::error!(camera, "camera {camera} stopped: {e}");
    }
    result
}

/// One camera: RTSP in, the engine in real time, restream + recorder + metrics out.
pub fn run_camera(cam: &LiveCamera, config: &LiveConfig, services: &LiveServices, options: &RedactOptions) -> Result<CameraSummary> {
    let name = cam.name().to_string();
    let metrics = services.metrics.camera(&name).cloned();
    let source = RtspSource::open(&camera_url(cam), rtsp_options(cam))?;
    let feed = LiveFeed::new(source, metrics.clone());
    // With recordings, the recorder's encoder feeds the restream too: one encode per camera.
    let mut sinks: Vec<Box<dyn FrameSink>> = match &config.recordings {
        Some(dir) => {
            let settings = RecorderSettings {
                segment_seconds: config.segment.as_secs().max(1),
                preset: config.encoder_preset.clone(),
                ..RecorderSettings::new(dir, &name)
            };
            let restream = services.server.mount_encoded(&name)?;
            let mut recorder = Recorder::create(settings)?.feeding(restream);
            if let Some(m) = metrics.clone() {
                // Found by hostile use: these two series stayed 0 whatever was recorded.
                let on_segment = m.clone();
                recorder = recorder
                    .on_segment(Box::new(move |_, on_disk| {
                        on_segment.segment_closed();
                        on_segment.set_recording_bytes(on_disk);
                    }))
                    .on_failure(Box::new(move |failure| match failure {
                        Some(_) => m.recording_failed(),
                        None => m.recording_resumed(),
                    }));
            }
            vec![Box::new(recorder)]
        }
        None => vec![Box::new(services.server.mount(&name)?)],
    };
    let drops = config.late_frames == LateFrames::Drop;
    if drops {
        sinks = sinks.into_iter().map(|s| Box::new(DropObscured(s)) as Box<dyn FrameSink>).collect();
    }
    sinks.push(Box::new(MetricsSink { metrics, drops }));
    sinks.push(Box::new(LagLog::new(&name, drops)));
    run_engine(feed, cam, (config.latency_budget, config.lookahead), options, sinks).map(|mut s| {
        s.name = name;
        s
    })
}

/// Feeds `feed` through the engine in live mode and closes the sinks. A frame leaves obscured
/// when its look has not come back within `budget`, and a decided frame is held back for
/// `lookahead` (`live.latency_budget_ms`, `live.lookahead_ms`).
pub fn run_engine(
    feed: impl FrameSource,
    cam: &LiveCamera,
    (budget, lookahead): (Duration, Duration),
    options: &RedactOptions,
    sinks: Vec<Box<dyn FrameSink>>,
) -> Result<CameraSummary> {
    let settings = RedactSettings::for_live(options, cam.camera.clone(), lookahead)?;
    let policy = Policy::new(settings.camera.clone(), settings.mask_scale, settings.shape, settings.fill);
    let stages = stages(&settings, policy, ASSUMED_FPS, None, Pace::live(budget))?;
    let times = StageTimes::default();
    let done = run_stages(feed, stages, sinks, Progress::new("live", None, true), &times)?;
    for sink in done.sinks {
        sink.finish()?;
    }
    Ok(CameraSummary {
        name: cam.name().to_string(),
        frames: done.frames,
        obscured: done.obscured,
        late: done.late,
        shed: done.shed,
        filler: done.filler,
    })
}

/// The camera URL with its credentials, for the source (which hands them to rtspsrc apart
/// from the location and never logs them).
fn camera_url(cam: &LiveCamera) -> String {
    let location = cam.source.location();
    match (cam.source.user(), cam.source.password()) {
        (Some(user), password) => {
            let (scheme, rest) = location.split_once("://").unwrap_or(("rtsp", location.as_str()));
            let password = password.map(|p| format!(":{}", percent_encode(p.expose()))).unwrap_or_default();
            format!("{scheme}://{}{password}@{rest}", percent_encode(user))
        }
        (None, _) => location,
    }
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn rtsp_options(cam: &LiveCamera) -> RtspOptions {
    let transport = match cam.transport {
        ConfigTransport::Tcp => Transport::Tcp,
        ConfigTransport::Udp => Transport::Udp,
    };
    RtspOptions { transport, ..RtspOptions::default() }
}

/// A camera as the engine sees it: frames until a signal ends the stream. Gaps (no frame for
/// a while, reconnects) are counted and logged and never end the stream; after
/// [`FILLER_AFTER`] they are filled with black frames (see the module documentation).
/// Frames are numbered and timestamped here, camera and filler frames on one timeline.
pub struct LiveFeed {
    source: RtspSource,
    metrics: Option<CameraMetrics>,
    timeline: FeedTimeline,
}

impl LiveFeed {
    pub fn new(source: RtspSource, metrics: Option<CameraMetrics>) -> Self {
        LiveFeed { source, metrics, timeline: FeedTimeline::default() }
    }

    fn log_event(&self, event: SourceEvent) {
        match event {
            SourceEvent::Frame(_) | SourceEvent::Gap { .. } => {}
            SourceEvent::Disconnected { reason, retry_in } => {
                tracing::warn!("camera {}: {reason}; retrying in {:.1} s", self.source.shown_url(), retry_in.as_secs_f64());
                if let Some(m) = &self.metrics {
                    m.reconnect(reason_label(&reason));
                }
            }
            SourceEvent::Segment { info, info_changed, reconnects } => {
                tracing::info!(
                    "camera {}: stream {}x{} (connection {})",
                    self.source.shown_url(),
                    info.width(),
                    info.height(),
                    reconnects + 1
                );
                if info_changed {
                    tracing::warn!("camera {}: the picture size or rate changed", self.source.shown_url());
                }
            }
        }
    }
}

impl FrameSource for LiveFeed {
    fn next_frame(&mut self) -> Result<Option<Frame>> {
        loop {
            if crate::interrupt::requested() {
                return Ok(None);
            }
            let wait = self.timeline.until_filler(Instant::now()).map_or(FEED_POLL, |w| w.min(FEED_POLL));
            let event = match self.source.next_event_within(wait) {
                Err(Error::Interrupted) => return Ok(None), // a signal ends a live stream cleanly
                other => other?,
            };
            if let SourceEvent::Frame(frame) = event {
                if let Some(m) = &self.metrics {
                    m.frame_in();
                }
                return Ok(Some(self.timeline.camera_frame(frame, Instant::now())));
            }
            self.log_event(event);
            if let Some(filler) = self.timeline.filler(Instant::now())? {
                return Ok(Some(filler));
            }
        }
    }
}

/// The feed's own frame numbers and timestamps, and when filler frames are due.
#[derive(Default)]
struct FeedTimeline {
    next_index: u64,
    last_pts: Option<gst::ClockTime>,
    /// Wall-clock time of PTS 0 (the camera's timeline follows the wall clock between
    /// connections, so filler frames are stamped by it too).
    epoch: Option<Instant>,
    /// When the camera's latest frame arrived.
    last_camera_frame: Option<Instant>,
    /// When the next filler frame is due, in a gap that has started.
    next_filler: Option<Instant>,
    /// A black picture at the camera's latest format, shared by every filler frame.
    black: Option<Frame>,
}

impl FeedTimeline {
    /// Numbers a camera frame and keeps its timestamp after the filler frames before it.
    fn camera_frame(&mut self, mut frame: Frame, now: Instant) -> Frame {
        let pts = frame.pts().unwrap_or(gst::ClockTime::ZERO);
        self.epoch.get_or_insert_with(|| now.checked_sub(Duration::from_nanos(pts.nseconds())).unwrap_or(now));
        let pts = self.after_last(pts);
        frame.index = self.take_index();
        frame.buffer.make_mut().set_pts(pts);
        if self.black.as_ref().is_none_or(|b| b.info != frame.info) {
            self.black = None;
        }
        if self.black.is_none() {
            self.black = black_frame(&frame.info).ok();
        }
        self.last_camera_frame = Some(now);
        self.next_filler = None;
        frame
    }

    /// How long until a filler frame is due; `None` before the camera's first frame.
    fn until_filler(&self, now: Instant) -> Option<Duration> {
        let due = self.next_filler.or_else(|| self.last_camera_frame.map(|t| t + FILLER_AFTER))?;
        Some(due.saturating_duration_since(now))
    }

    /// A black frame when one is due: at the camera's last size and rate, stamped by the wall
    /// clock, flagged `GAP`.
    fn filler(&mut self, now: Instant) -> Result<Option<Frame>> {
        let (Some(due), Some(black), Some(epoch)) = (self.until_filler(now), self.black.as_ref(), self.epoch) else {
            return Ok(None);
        };
        if !due.is_zero() {
            return Ok(None);
        }
        let fps = black.info.fps();
        let interval = if fps.numer() > 0 && fps.denom() > 0 {
            Duration::from_secs_f64(fps.denom() as f64 / fps.numer() as f64)
        } else {
            Duration::from_secs_f64(1.0 / ASSUMED_FPS)
        };
        let first_of_gap = self.next_filler.is_none();
        let scheduled = self.next_filler.unwrap_or(now);
        // One frame per interval; after a hiccup longer than that, none are made up.
        self.next_filler = Some(if now - scheduled > interval { now + interval } else { scheduled + interval });
        let mut frame = black.share();
        let pts = self.after_last(nanos(now - epoch));
        {
            let buffer = frame.buffer.make_mut();
            buffer.set_pts(pts);
            buffer.set_duration(nanos(interval));
            buffer.set_flags(gst::BufferFlags::GAP);
            if first_of_gap {
                buffer.set_flags(gst::BufferFlags::DISCONT);
            }
        }
        frame.index = self.take_index();
        Ok(Some(frame))
    }

    fn after_last(&mut self, pts: gst::ClockTime) -> gst::ClockTime {
        let pts = match self.last_pts {
            Some(last) if pts <= last => last + gst::ClockTime::from_nseconds(1),
            _ => pts,
        };
        self.last_pts = Some(pts);
        pts
    }

    fn take_index(&mut self) -> u64 {
        self.next_index += 1;
        self.next_index - 1
    }
}

fn nanos(d: Duration) -> gst::ClockTime {
    gst::ClockTime::from_nseconds(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// A black I420 picture of `info`'s format (rows padded to its strides).
fn black_frame(info: &Arc<gst_video::VideoInfo>) -> Result<Frame> {
    if info.format() != gst_video::VideoFormat::I420 {
        return Err(Error::Pipeline(format!("filler frames: unexpected camera format {:?}", info.format())));
    }
    let buffer = gst::Buffer::with_size(info.size()).map_err(|e| Error::Pipeline(format!("filler frame: {e}")))?;
    let mut video = gst_video::VideoFrame::from_buffer_writable(buffer, info)
        .map_err(|_| Error::Pipeline("filler frame: cannot map the picture".into()))?;
    for (plane, value) in [(0, 16u8), (1, 128), (2, 128)] {
        video.plane_data_mut(plane).map_err(|e| Error::Pipeline(format!("filler frame: {e}")))?.fill(value);
    }
    Ok(Frame { index: 0, buffer: video.into_buffer(), info: Arc::clone(info) })
}

fn reason_label(reason: &crate::source::rtsp::RetryReason) -> &'static str {
    use crate::source::rtsp::RetryReason::*;
    match reason {
        Eos => "eos",
        Error(_) => "error",
        Stall(_) => "stall",
        ConnectFailed(_) => "connect_failed",
    }
}

/// With `late_frames = "drop"`: frames that would leave fully obscured are not sent at all.
struct DropObscured(Box<dyn FrameSink>);

impl FrameSink for DropObscured {
    fn push(&mut self, frame: &Frame, applied: &Applied<'_>) -> Result<()> {
        // Filler frames are not late frames: they keep the restream alive and go on.
        if applied.fell_behind() {
            return Ok(());
        }
        self.0.push(frame, applied)
    }

    fn finish(self: Box<Self>) -> Result<Option<AtomicOutput>> {
        self.0.finish()
    }
}

/// Counts what leaves: frames out, frames obscured for the deadline or dropped, latency.
struct MetricsSink {
    metrics: Option<CameraMetrics>,
    /// `late_frames = "drop"`: the frames detection fell behind for are not sent
    /// ([`DropObscured`]), so they count as dropped, not as out (a camera that sends nothing
    /// is not healthy).
    drops: bool,
}

impl FrameSink for MetricsSink {
    fn push(&mut self, _: &Frame, applied: &Applied<'_>) -> Result<()> {
        if let Some(m) = &self.metrics {
            let latency = applied.decoded_at.elapsed();
            match applied.obscured_whole {
                Some(ObscuredWhole::Filler) => m.frame_filler(),
                Some(behind) => {
                    if self.drops {
                        m.frame_dropped();
                    } else {
                        m.frame_obscured_deadline(latency);
                    }
                    if behind == ObscuredWhole::LookLate {
                        m.frame_look_late();
                    }
                }
                None => m.frame_out(latency),
            }
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

    #[test]
    fn two_cameras_recording_into_one_directory_are_refused_before_anything_runs() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("rec/a")).unwrap();
        std::os::unix::fs::symlink("a", dir.path().join("rec/b")).unwrap();
        let text = "[live]\nrecordings = \"rec\"\n[cameras.a]\nsource = \"rtsp://127.0.0.1:9/a\"\n[cameras.b]\nsource = \"rtsp://127.0.0.1:9/b\"\n";
        let config = crate::live::config::parse_live(text, &dir.path().join("live.toml")).unwrap();
        let err = check_recordings(&config).unwrap_err().to_string();
        assert!(err.contains("cameras a and b would record into the same directory"), "{err}");
        std::fs::remove_file(dir.path().join("rec/b")).unwrap();
        check_recordings(&config).expect("each camera its own directory");
    }
}
