//! `veilcam live`: every camera of a live config through the same engine as files, in real time.
//!
//! ```text
//! RtspSource ─▶ LiveFeed ─▶ engine (pipeline::run_stages, Pace::live: no look-ahead, a latency
//!  (reconnects)  (gaps,     budget after which a frame leaves fully obscured, detection shed
//!                 metrics)  before frames are late) ─▶ Restream (RTSP mount /NAME)
//!                                                    ─▶ Recorder (segments + SHA-256 index)
//!                                                    ─▶ metrics (frames out, obscured, latency)
//! ```
//! One thread per camera; the RTSP server, the metrics server and the retention sweeper are
//! shared. Nothing but the engine's output reaches a sink: the raw stream is never written,
//! served or kept beyond the frames in flight (bounded channels, at most the latency budget).
//! A signal ends every camera's stream cleanly, so the recorder closes its segment.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cli::RedactOptions;
use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::live::config::{AuthMethod, LateFrames, LiveCamera, LiveConfig, Transport as ConfigTransport};
use crate::live::metrics::{CameraMetrics, LiveMetrics, MetricsServer};
use crate::live::retention::{Retention, Sweeper};
use crate::output::AtomicOutput;
use crate::pipeline::{run_stages, Pace, Stages};
use crate::policy::Policy;
use crate::progress::Progress;
use crate::settings::RedactSettings;
use crate::sink::recorder::{Recorder, RecorderSettings};
use crate::sink::restream::{Credentials, RestreamSettings, RtspServer};
use crate::sink::{Applied, FrameSink};
use crate::source::rtsp::{RtspOptions, RtspSource, SourceEvent, Transport};
use crate::source::FrameSource;
use crate::stats::StageTimes;
use crate::track::TrackerSettings;

/// How long one wait for a camera frame lasts before the stop flag is looked at again.
const FEED_POLL: Duration = Duration::from_millis(200);
/// How often the retention sweeper runs.
const SWEEP_EVERY: Duration = Duration::from_secs(60);
/// Frame rate assumed for detection cadence until a camera says its own.
const ASSUMED_FPS: f64 = 25.0;

/// What a whole `veilcam live` run did, per camera.
#[derive(Debug, Default)]
pub struct LiveSummary {
    pub cameras: Vec<CameraSummary>,
}

/// What one camera's stream did.
#[derive(Debug, Default, Clone)]
pub struct CameraSummary {
    pub name: String,
    pub frames: u64,
    /// Frames that left fully obscured because their detection was late or failed.
    pub obscured: u64,
    /// Frames that skipped detection because the detectors were behind (the tracker covered).
    pub shed: u64,
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
        let server = RtspServer::start(config.listen, credentials.as_ref(), restream)?;
        let metrics = Arc::new(LiveMetrics::new(config.cameras.iter().map(|c| c.name().to_string()), config.health_stale));
        let metrics_server = config.metrics.map(|addr| MetricsServer::start(addr, Arc::clone(&metrics))).transpose()?;
        let sweeper = match &config.recordings {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
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

/// Runs every camera of `config` until a signal ([`crate::interrupt`]) ends the streams.
/// `on_ready` is told each camera's name and restream URL once the servers are up.
pub fn run(config: &LiveConfig, options: &RedactOptions, on_ready: &dyn Fn(&str, &str)) -> Result<LiveSummary> {
    let services = LiveServices::start(config)?;
    for cam in &config.cameras {
        on_ready(cam.name(), &services.restream_url(cam.name()));
    }
    let results: Vec<Result<CameraSummary>> = std::thread::scope(|scope| {
        let handles: Vec<_> = config
            .cameras
            .iter()
            .map(|cam| {
                let services = &services;
                std::thread::Builder::new()
                    .name(format!("camera-{}", cam.name()))
                    .spawn_scoped(scope, move || run_camera(cam, config, services, options))
                    .expect("spawn camera thread")
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(Error::Pipeline("camera thread panicked".into())))).collect()
    });
    services.stop();
    let mut summary = LiveSummary::default();
    for r in results {
        summary.cameras.push(r?);
    }
    Ok(summary)
}

/// One camera: RTSP in, the engine in real time, restream + recorder + metrics out.
pub fn run_camera(cam: &LiveCamera, config: &LiveConfig, services: &LiveServices, options: &RedactOptions) -> Result<CameraSummary> {
    let name = cam.name().to_string();
    let metrics = services.metrics.camera(&name).cloned();
    let source = RtspSource::open(&camera_url(cam), rtsp_options(cam))?;
    let feed = LiveFeed { source, metrics: metrics.clone(), started: Instant::now() };
    // With recordings, the recorder's encoder feeds the restream too: one encode per camera.
    let mut sinks: Vec<Box<dyn FrameSink>> = match &config.recordings {
        Some(dir) => {
            let settings = RecorderSettings {
                segment_seconds: config.segment.as_secs().max(1),
                preset: config.encoder_preset.clone(),
                ..RecorderSettings::new(dir, &name)
            };
            let restream = services.server.mount_encoded(&name)?;
            vec![Box::new(Recorder::create(settings)?.feeding(restream))]
        }
        None => vec![Box::new(services.server.mount(&name)?)],
    };
    if config.late_frames == LateFrames::Drop {
        sinks = sinks.into_iter().map(|s| Box::new(DropObscured(s)) as Box<dyn FrameSink>).collect();
    }
    sinks.push(Box::new(MetricsSink { metrics }));
    run_engine(feed, cam, config.latency_budget, options, sinks).map(|mut s| {
        s.name = name;
        s
    })
}

/// Feeds `feed` through the engine in live mode and closes the sinks.
pub fn run_engine(
    feed: impl FrameSource,
    cam: &LiveCamera,
    budget: Duration,
    options: &RedactOptions,
    sinks: Vec<Box<dyn FrameSink>>,
) -> Result<CameraSummary> {
    let settings = RedactSettings::for_live(options, cam.camera.clone())?;
    let policy = Policy::new(settings.camera.clone(), settings.mask_scale, settings.shape, settings.fill);
    let detectors = (0..settings.workers).map(|_| settings.detectors(policy.needs_persons())).collect::<Result<Vec<_>>>()?;
    let planner = settings.planner(ASSUMED_FPS, policy.needs_persons());
    let tracking = TrackerSettings {
        hold_frames: (settings.hold_seconds * ASSUMED_FPS).round() as u64,
        lookahead_frames: 0,
        ..TrackerSettings::for_fps(ASSUMED_FPS, true)
    };
    let stages = Stages { planner, detectors, policy, tracking, pace: Pace::live(budget) };
    let times = StageTimes::default();
    let done = run_stages(feed, stages, sinks, Progress::new("live", None, true), &times)?;
    for sink in done.sinks {
        sink.finish()?;
    }
    Ok(CameraSummary { name: cam.name().to_string(), frames: done.frames, obscured: done.obscured, shed: done.shed })
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
/// a while, reconnects) are waited out, counted and logged; they never end the stream.
pub struct LiveFeed {
    pub source: RtspSource,
    pub metrics: Option<CameraMetrics>,
    pub started: Instant,
}

impl FrameSource for LiveFeed {
    fn next_frame(&mut self) -> Result<Option<Frame>> {
        loop {
            if crate::interrupt::requested() {
                return Ok(None);
            }
            let event = match self.source.next_event_within(FEED_POLL) {
                Err(Error::Interrupted) => return Ok(None), // a signal ends a live stream cleanly
                other => other?,
            };
            match event {
                SourceEvent::Frame(frame) => {
                    if let Some(m) = &self.metrics {
                        m.frame_in();
                    }
                    return Ok(Some(frame));
                }
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
                SourceEvent::Gap { .. } => {}
            }
        }
    }
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
        if applied.fully_obscured {
            return Ok(());
        }
        self.0.push(frame, applied)
    }

    fn finish(self: Box<Self>) -> Result<Option<AtomicOutput>> {
        self.0.finish()
    }
}

/// Counts what leaves: frames out, frames obscured for the deadline, latency.
struct MetricsSink {
    metrics: Option<CameraMetrics>,
}

impl FrameSink for MetricsSink {
    fn push(&mut self, _frame: &Frame, applied: &Applied<'_>) -> Result<()> {
        if let Some(m) = &self.metrics {
            let latency = applied.decoded_at.elapsed();
            if applied.fully_obscured {
                m.frame_obscured_deadline(latency);
            } else {
                m.frame_out(latency);
            }
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<Option<AtomicOutput>> {
        Ok(None)
    }
}
