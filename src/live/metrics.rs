//! Live-mode metrics and health: a Prometheus registry with one label set per camera, and a
//! small HTTP server on its own thread serving `/metrics` and `/healthz`.
//!
//! The engine asks [`LiveMetrics::camera`] once for a camera's [`CameraMetrics`] handle and
//! then calls its `&self` methods per frame: each is an atomic add or store (the latency
//! histogram takes a short lock), no allocation, no label lookup.
//!
//! Exposed series (OpenMetrics text, every one labelled `camera`):
//!
//! | series | type | meaning |
//! |---|---|---|
//! | `veilcam_frames_in_total` | counter | frames received from the camera |
//! | `veilcam_frames_out_total` | counter | frames sent on (redacted, or obscured for the deadline) |
//! | `veilcam_frames_obscured_deadline_total` | counter | frames sent fully obscured because detection fell behind: a look late or failed, or none close enough (also in `frames_out`) |
//! | `veilcam_frames_dropped_total` | counter | frames not sent because detection fell behind (`late_frames = "drop"`; not in `frames_out`) |
//! | `veilcam_frames_look_late_total` | counter | of the frames obscured or dropped for the deadline, those whose own look came back late or failed (the others had no look close enough; only these are helped by a longer `latency_budget_ms`) |
//! | `veilcam_frames_filler_total` | counter | black filler frames sent while the camera was away (not in `frames_out`) |
//! | `veilcam_detection_lag_seconds` | gauge | how far detection trails the newest camera frame |
//! | `veilcam_latency_seconds` | histogram | camera frame arrival → frame sent on |
//! | `veilcam_reconnects_total` | counter, also labelled `reason` | reconnects to the camera |
//! | `veilcam_segments_total` | counter | recording segments closed |
//! | `veilcam_recording_bytes` | gauge | bytes of this camera's recordings on disk |
//! | `veilcam_recording_failures_total` | counter | times recording stopped for a failure (a full disk) |
//! | `veilcam_recording_suspended` | gauge | 1 while recording is stopped after a failure, else 0 |
//!
//! `/healthz` answers 200 while every camera has, within the stale window, both delivered a
//! frame (`frame_in`) and had one sent on (`frame_out`, `frame_obscured_deadline`), and none has
//! its recording suspended; else 503 (`"stale"` or `"recording_failed"`). A camera that has not
//! yet done both counts as stale. The body is a short JSON document naming each camera's state.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use serde::Serialize;

use crate::error::Result;
use crate::metrics_http::{HttpServer, Request, Response};

/// Upper bounds (seconds) of the latency histogram's buckets, dense around the 250 ms budget.
pub const LATENCY_BUCKETS: [f64; 14] = [0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 2.0, 5.0];

/// `Content-Type` of `/metrics`.
pub const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CameraLabel {
    camera: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReconnectLabels {
    camera: String,
    reason: String,
}

type GaugeF64 = Gauge<f64, AtomicU64>;
type HistogramFamily = Family<CameraLabel, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// The metric families, each holding one series per camera.
struct Families {
    frames_in: Family<CameraLabel, Counter>,
    frames_out: Family<CameraLabel, Counter>,
    obscured_deadline: Family<CameraLabel, Counter>,
    dropped: Family<CameraLabel, Counter>,
    look_late: Family<CameraLabel, Counter>,
    filler: Family<CameraLabel, Counter>,
    detection_lag: Family<CameraLabel, GaugeF64>,
    latency: HistogramFamily,
    reconnects: Family<ReconnectLabels, Counter>,
    segments: Family<CameraLabel, Counter>,
    recording_bytes: Family<CameraLabel, Gauge>,
    recording_failures: Family<CameraLabel, Counter>,
    recording_suspended: Family<CameraLabel, Gauge>,
}

impl Families {
    fn new() -> Self {
        Families {
            frames_in: Family::default(),
            frames_out: Family::default(),
            obscured_deadline: Family::default(),
            dropped: Family::default(),
            look_late: Family::default(),
            filler: Family::default(),
            detection_lag: Family::default(),
            latency: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
            reconnects: Family::default(),
            segments: Family::default(),
            recording_bytes: Family::default(),
            recording_failures: Family::default(),
            recording_suspended: Family::default(),
        }
    }

    fn register(&self, r: &mut Registry) {
        r.register("frames_in", "Frames received from the camera", self.frames_in.clone());
        r.register("frames_out", "Frames sent on, redacted or obscured", self.frames_out.clone());
        r.register(
            "frames_obscured_deadline",
            "Frames sent fully obscured because detection fell behind (a look late or failed, or none close enough)",
            self.obscured_deadline.clone(),
        );
        r.register("frames_dropped", "Frames not sent because detection fell behind (late_frames = \"drop\")", self.dropped.clone());
        r.register(
            "frames_look_late",
            "Frames obscured or dropped for the deadline whose own look came back late or failed (the others had no look close enough)",
            self.look_late.clone(),
        );
        r.register("frames_filler", "Black filler frames sent while the camera was away", self.filler.clone());
        r.register_with_unit(
            "detection_lag",
            "How far detection trails the newest camera frame",
            Unit::Seconds,
            self.detection_lag.clone(),
        );
        r.register_with_unit("latency", "Camera frame arrival to frame sent on", Unit::Seconds, self.latency.clone());
        r.register("reconnects", "Reconnects to the camera, by reason", self.reconnects.clone());
        r.register("segments", "Recording segments closed", self.segments.clone());
        r.register_with_unit("recording", "Bytes of recordings on disk", Unit::Bytes, self.recording_bytes.clone());
        r.register("recording_failures", "Times recording stopped for a failure", self.recording_failures.clone());
        r.register("recording_suspended", "1 while recording is stopped after a failure", self.recording_suspended.clone());
    }

    fn camera(&self, name: &str, clock: Instant) -> CameraMetrics {
        let label = CameraLabel { camera: name.to_string() };
        CameraMetrics {
            name: Arc::from(name),
            frames_in: self.frames_in.get_or_create_owned(&label),
            frames_out: self.frames_out.get_or_create_owned(&label),
            obscured_deadline: self.obscured_deadline.get_or_create_owned(&label),
            dropped: self.dropped.get_or_create_owned(&label),
            look_late: self.look_late.get_or_create_owned(&label),
            filler: self.filler.get_or_create_owned(&label),
            detection_lag: self.detection_lag.get_or_create_owned(&label),
            latency: self.latency.get_or_create_owned(&label),
            reconnects: self.reconnects.clone(),
            segments: self.segments.get_or_create_owned(&label),
            recording_bytes: self.recording_bytes.get_or_create_owned(&label),
            recording_failures: self.recording_failures.get_or_create_owned(&label),
            recording_suspended: self.recording_suspended.get_or_create_owned(&label),
            clock,
            last_in: Arc::new(AtomicU64::new(NEVER)),
            last_out: Arc::new(AtomicU64::new(NEVER)),
        }
    }
}

/// "No frame yet" in the last-frame stamps (which hold nanoseconds since the clock + 1).
const NEVER: u64 = 0;

/// One camera's metrics. Cheap to clone (shared counters); every method takes `&self`.
#[derive(Clone)]
pub struct CameraMetrics {
    name: Arc<str>,
    frames_in: Counter,
    frames_out: Counter,
    obscured_deadline: Counter,
    dropped: Counter,
    look_late: Counter,
    filler: Counter,
    detection_lag: GaugeF64,
    latency: Histogram,
    reconnects: Family<ReconnectLabels, Counter>,
    segments: Counter,
    recording_bytes: Gauge<i64, AtomicI64>,
    recording_failures: Counter,
    recording_suspended: Gauge<i64, AtomicI64>,
    clock: Instant,
    last_in: Arc<AtomicU64>,
    last_out: Arc<AtomicU64>,
}

impl std::fmt::Debug for CameraMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CameraMetrics").field("camera", &self.name).finish_non_exhaustive()
    }
}

impl CameraMetrics {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A frame arrived from the camera.
    pub fn frame_in(&self) {
        self.frames_in.inc();
        self.stamp(&self.last_in);
    }

    /// A redacted frame was sent on, `latency` after its arrival from the camera.
    pub fn frame_out(&self, latency: Duration) {
        self.frames_out.inc();
        self.latency.observe(latency.as_secs_f64());
        self.stamp(&self.last_out);
    }

    /// A frame was sent on fully obscured because its detection missed the budget or failed;
    /// counted in `frames_out` as well.
    pub fn frame_obscured_deadline(&self, latency: Duration) {
        self.obscured_deadline.inc();
        self.frame_out(latency);
    }

    /// A frame obscured or dropped for the deadline ([`frame_obscured_deadline`](Self::frame_obscured_deadline),
    /// [`frame_dropped`](Self::frame_dropped)) had a look of its own that came back late or
    /// failed: counted besides.
    pub fn frame_look_late(&self) {
        self.look_late.inc();
    }

    /// A black filler frame was sent while the camera was away (not a frame out: `/healthz`
    /// stays stale until the camera's own frames flow again).
    pub fn frame_filler(&self) {
        self.filler.inc();
    }

    /// A frame was not sent (`late_frames = "drop"`) because detection fell behind for it: its
    /// look was late or failed, or none came back close enough. Not a frame out.
    pub fn frame_dropped(&self) {
        self.dropped.inc();
    }

    /// How far detection trails the newest camera frame.
    pub fn set_detection_lag(&self, lag: Duration) {
        self.detection_lag.set(lag.as_secs_f64());
    }

    /// The source reconnected (or is about to) for `reason`, a short stable word such as
    /// `"eos"`, `"stall"` or `"error"`. Allocates a label the first time a reason is seen.
    pub fn reconnect(&self, reason: &str) {
        let labels = ReconnectLabels { camera: self.name.to_string(), reason: reason.to_string() };
        self.reconnects.get_or_create(&labels).inc();
    }

    /// A recording segment was closed.
    pub fn segment_closed(&self) {
        self.segments.inc();
    }

    /// Bytes of this camera's recordings now on disk (after a segment closes or a sweep).
    pub fn set_recording_bytes(&self, bytes: u64) {
        self.recording_bytes.set(i64::try_from(bytes).unwrap_or(i64::MAX));
    }

    /// Recording stopped for a failure (the restream goes on).
    pub fn recording_failed(&self) {
        self.recording_failures.inc();
        self.recording_suspended.set(1);
    }

    /// Recording started again after a failure.
    pub fn recording_resumed(&self) {
        self.recording_suspended.set(0);
    }

    fn recording_is_suspended(&self) -> bool {
        self.recording_suspended.get() != 0
    }

    fn stamp(&self, slot: &AtomicU64) {
        let nanos = u64::try_from(self.clock.elapsed().as_nanos()).unwrap_or(u64::MAX - 1);
        slot.store(nanos + 1, Ordering::Relaxed);
    }

    /// Time since the last stamp in `slot`, `None` if never stamped.
    fn since(&self, slot: &AtomicU64, now: Instant) -> Option<Duration> {
        match slot.load(Ordering::Relaxed) {
            NEVER => None,
            stamp => Some(now.saturating_duration_since(self.clock + Duration::from_nanos(stamp - 1))),
        }
    }
}

/// One camera's line in the `/healthz` body.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CameraHealth {
    pub camera: String,
    pub healthy: bool,
    /// Seconds since the last frame from the camera; `null` before the first.
    pub seconds_since_frame_in: Option<f64>,
    /// Seconds since the last frame sent on; `null` before the first.
    pub seconds_since_frame_out: Option<f64>,
    /// Recording is stopped after a failure (a full disk); the restream goes on.
    pub recording_suspended: bool,
    /// Frames came in and went out within the stale window.
    #[serde(skip)]
    pub fresh: bool,
}

/// The `/healthz` answer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Health {
    /// `"ok"`, `"stale"` (a camera without fresh frames) or `"recording_failed"`.
    pub status: &'static str,
    pub stale_after_seconds: f64,
    pub cameras: Vec<CameraHealth>,
}

impl Health {
    pub fn is_healthy(&self) -> bool {
        self.status == "ok"
    }
}

/// The live metrics of every camera, and the health verdict drawn from them.
pub struct LiveMetrics {
    registry: Registry,
    cameras: Vec<CameraMetrics>,
    stale_after: Duration,
}

impl std::fmt::Debug for LiveMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveMetrics").field("cameras", &self.cameras).field("stale_after", &self.stale_after).finish()
    }
}

impl LiveMetrics {
    /// Metrics for `cameras` (each series starts at zero, so every camera shows from the first
    /// scrape); `/healthz` calls a camera stale after `stale_after` without frames.
    pub fn new<S: AsRef<str>>(cameras: impl IntoIterator<Item = S>, stale_after: Duration) -> Self {
        let families = Families::new();
        let mut registry = Registry::with_prefix("veilcam");
        families.register(&mut registry);
        let clock = Instant::now();
        let cameras = cameras.into_iter().map(|name| families.camera(name.as_ref(), clock)).collect();
        LiveMetrics { registry, cameras, stale_after }
    }

    /// The handle of camera `name`, if it was named in [`LiveMetrics::new`].
    pub fn camera(&self, name: &str) -> Option<&CameraMetrics> {
        self.cameras.iter().find(|c| c.name() == name)
    }

    /// Every series in OpenMetrics text (what `/metrics` serves).
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        text
    }

    /// The health verdict now (what `/healthz` serves).
    pub fn health(&self) -> Health {
        let now = Instant::now();
        let cameras: Vec<CameraHealth> = self.cameras.iter().map(|c| self.camera_health(c, now)).collect();
        let stale = cameras.iter().any(|c| !c.fresh);
        let status = if stale {
            "stale"
        } else if cameras.iter().any(|c| c.recording_suspended) {
            "recording_failed"
        } else {
            "ok"
        };
        Health {
            status,
            stale_after_seconds: self.stale_after.as_secs_f64(),
            cameras,
        }
    }

    fn camera_health(&self, c: &CameraMetrics, now: Instant) -> CameraHealth {
        let since_in = c.since(&c.last_in, now);
        let since_out = c.since(&c.last_out, now);
        let fresh = |d: Option<Duration>| d.is_some_and(|d| d <= self.stale_after);
        let recording_suspended = c.recording_is_suspended();
        let frames_fresh = fresh(since_in) && fresh(since_out);
        CameraHealth {
            camera: c.name().to_string(),
            healthy: frames_fresh && !recording_suspended,
            recording_suspended,
            fresh: frames_fresh,
            seconds_since_frame_in: since_in.map(|d| round_ms(d.as_secs_f64())),
            seconds_since_frame_out: since_out.map(|d| round_ms(d.as_secs_f64())),
        }
    }
}

fn round_ms(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

/// The HTTP server for `/metrics` and `/healthz`, on its own thread, bounded against idle and
/// slow clients ([`crate::metrics_http`]); stops when dropped.
pub struct MetricsServer {
    server: HttpServer,
}

impl MetricsServer {
    /// Listens on `addr` (port 0 picks a free port; see [`MetricsServer::local_addr`]).
    pub fn start(addr: SocketAddr, metrics: Arc<LiveMetrics>) -> Result<Self> {
        let server = HttpServer::start(addr, "veilcam-metrics", "metrics server", Arc::new(move |request: Request<'_>| respond(request, &metrics)))?;
        let addr = server.local_addr();
        tracing::info!(%addr, "metrics on http://{addr}/metrics, health on http://{addr}/healthz");
        Ok(MetricsServer { server })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// Stops serving and returns once the port is closed.
    pub fn stop(self) {
        self.server.stop();
    }
}

fn respond(request: Request<'_>, metrics: &LiveMetrics) -> Response {
    let (status, content_type, body) = match (request.method, request.path) {
        ("GET" | "HEAD", "/metrics") => (200, METRICS_CONTENT_TYPE, metrics.encode()),
        ("GET" | "HEAD", "/healthz") => {
            let health = metrics.health();
            let body = serde_json::to_string(&health).expect("health serialises") + "\n";
            (if health.is_healthy() { 200 } else { 503 }, "application/json", body)
        }
        ("GET" | "HEAD", _) => (404, "text/plain; charset=utf-8", "not found: try /metrics or /healthz\n".into()),
        _ => (405, "text/plain; charset=utf-8", "only GET and HEAD\n".into()),
    };
    Response { status, content_type, body }
}
