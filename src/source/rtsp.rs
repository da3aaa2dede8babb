//! A live camera over RTSP: `rtspsrc ! decodebin ! videoconvert ! videoscale ! I420, square pixels
//! ! appsink` (why square: `source::file::square_pixels`), wrapped in a
//! small state machine that reconnects with backoff and never blocks its caller for long.
//!
//! A live source has no end. Stock `rtspsrc` turns a killed server into a plain EOS and notices
//! a frozen one only after ~26 s, so [`RtspSource`] treats EOS as a disconnect, watches for
//! stalls itself (no frame for [`RtspOptions::stall_timeout`]), tears the pipeline down and
//! tries again after a backoff (1 s doubling to 30 s, reset after a minute of good frames).
//! Every retry is logged at warn with its [`RetryReason`].
//!
//! ## Events
//! [`RtspSource::next_event`] returns within the stall timeout (or the wait given to
//! [`RtspSource::next_event_within`]) with one [`SourceEvent`]:
//! - [`SourceEvent::Segment`] before the first frame of every connection, whenever the
//!   picture format changes and when the stream's timestamps jump: a new segment starts,
//!   frames carry the new
//!   `Arc<VideoInfo>`, `info_changed` says whether size, format or rate differ;
//! - [`SourceEvent::Frame`] a decoded I420 frame;
//! - [`SourceEvent::Disconnected`] once per lost connection, with the reason and the backoff;
//! - [`SourceEvent::Gap`] no frame within the wait (connecting, waiting out a backoff, or
//!   a stall not yet long enough to count): the engine emits obscured frames or keeps its
//!   outputs alive, then asks again.
//!
//! [`FrameSource::next_frame`] maps this onto the file-source contract as well as it can: a
//! frame is `Some(frame)`, and a gap is `Ok(None)` after the wait. For a live source `None`
//! therefore means "no frame now", not "end of stream"; live code should use `next_event`.
//!
//! ## Timestamps
//! PTS is running time from the first frame ever received (it is 0), measured within one
//! connection by the stream's own timestamps, and across connections by the wall clock: after
//! a reconnect the timeline jumps forward by the time the camera was away and never goes back.
//! A stream whose own timestamps stray more than 2 s from the wall clock (a camera clock reset)
//! starts a new stretch on the wall clock instead of leaving an hour-long hole or going back.
//! The first frame of each connection or stretch carries `DISCONT`.
//!
//! ## Credentials
//! A `user:pass@` in the URL is taken out of the location given to rtspsrc and passed through
//! its `user-id` / `user-pw` properties, so GStreamer never logs it. Everything this module
//! shows (logs, errors, `Debug`, [`RetryReason`]) uses [`redact_url`] and scrubs GStreamer's
//! messages with [`scrub_credentials`].

use std::sync::Arc;
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;
use gst::prelude::*;

use super::FrameSource;
use crate::error::{Error, Result};
use crate::frame::Frame;

/// Default wait without a frame before a connection counts as stalled.
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_millis(2500);
/// Default longest wait for the first frame of a new connection (a camera may send its first
/// key frame only seconds after PLAY).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default jitter-buffer latency of rtspsrc.
pub const DEFAULT_LATENCY: Duration = Duration::from_millis(100);
/// Default first backoff after a disconnect.
pub const DEFAULT_BACKOFF_INITIAL: Duration = Duration::from_secs(1);
/// Default longest backoff.
pub const DEFAULT_BACKOFF_MAX: Duration = Duration::from_secs(30);
/// Default time of good frames after which the backoff starts again from its initial value.
pub const DEFAULT_BACKOFF_RESET_AFTER: Duration = Duration::from_secs(60);
/// Frames the appsink may hold before the decoder waits.
const APPSINK_MAX_BUFFERS: u32 = 2;
/// One slice of waiting for a frame before the bus and the clock are checked again.
const PULL_SLICE: Duration = Duration::from_millis(50);
/// Name of the rtspsrc element, to tell network trouble from trouble on the media path.
const CAMERA_ELEMENT: &str = "camera";

/// Elements a camera needs beyond the ones every run needs, with the Debian package of each.
/// (decodebin finds the depayloader and decoder for the camera's codec.)
const RTSP_ELEMENTS: [(&str, &str); 1] = [("rtspsrc", "gstreamer1.0-plugins-good")];

/// A clear error naming what is missing and where it comes from.
pub(crate) fn require_elements(elements: &[(&str, &str)]) -> Result<()> {
    let missing: Vec<String> = elements
        .iter()
        .filter(|(name, _)| gst::ElementFactory::find(name).is_none())
        .map(|(name, package)| format!("{name} (from {package})"))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(Error::MissingElement {
        path: std::path::PathBuf::from("GStreamer"),
        message: format!("missing: {}; run scripts/setup", missing.join(", ")),
    })
}

/// How RTP travels from the camera (`"tcp"` or `"udp"` in a config file).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// RTP interleaved in the RTSP TCP connection: works through NAT and firewalls, no loss.
    #[default]
    Tcp,
    /// RTP over UDP: lower latency on a clean LAN, frames may be lost.
    Udp,
}

impl std::str::FromStr for Transport {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        match text.to_ascii_lowercase().as_str() {
            "tcp" => Ok(Transport::Tcp),
            "udp" => Ok(Transport::Udp),
            _ => Err(format!("transport {text:?}: use \"tcp\" or \"udp\"")),
        }
    }
}

impl Transport {
    fn rtspsrc_protocols(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
        }
    }
}

/// Reconnect backoff: `initial`, doubling up to `max`, back to `initial` after `reset_after` of
/// good frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackoffPolicy {
    pub initial: Duration,
    pub max: Duration,
    pub reset_after: Duration,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        BackoffPolicy {
            initial: DEFAULT_BACKOFF_INITIAL,
            max: DEFAULT_BACKOFF_MAX,
            reset_after: DEFAULT_BACKOFF_RESET_AFTER,
        }
    }
}

/// Settings of one RTSP camera source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtspOptions {
    pub transport: Transport,
    /// rtspsrc jitter-buffer latency.
    pub latency: Duration,
    /// No frame for this long on an established connection is a disconnect
    /// ([`RetryReason::Stall`]); also the longest a `next_event` call waits.
    pub stall_timeout: Duration,
    /// No first frame this long after a connection attempt began is a failed connect.
    pub connect_timeout: Duration,
    pub backoff: BackoffPolicy,
}

impl Default for RtspOptions {
    fn default() -> Self {
        RtspOptions {
            transport: Transport::Tcp,
            latency: DEFAULT_LATENCY,
            stall_timeout: DEFAULT_STALL_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            backoff: BackoffPolicy::default(),
        }
    }
}

/// Shortest stall timeout accepted: below it, ordinary network jitter would count as a stall.
const MIN_STALL_TIMEOUT: Duration = Duration::from_millis(200);

impl RtspOptions {
    /// Refuses settings that would make the source spin or never retry.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.stall_timeout < MIN_STALL_TIMEOUT {
            return Err(format!("stall timeout {:?} is below {MIN_STALL_TIMEOUT:?}", self.stall_timeout));
        }
        if self.connect_timeout < self.stall_timeout.min(Duration::from_secs(1)) {
            return Err(format!("connect timeout {:?} is too short", self.connect_timeout));
        }
        let b = &self.backoff;
        if b.initial.is_zero() || b.max < b.initial {
            return Err(format!("backoff from {:?} to {:?}: need 0 < initial <= max", b.initial, b.max));
        }
        Ok(())
    }
}

/// Why a connection ended and a retry follows.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RetryReason {
    /// The camera ended the stream (a live source has no end: a killed server looks like this).
    #[error("end of stream from a live camera")]
    Eos,
    /// GStreamer reported an error (credentials scrubbed from the text).
    #[error("error: {0}")]
    Error(String),
    /// No frame for the stall timeout on an established connection.
    #[error("no frame for {0:?}")]
    Stall(Duration),
    /// The connection could not be made, or gave no first frame in time.
    #[error("connect failed: {0}")]
    ConnectFailed(String),
}

/// Errors that stop an RTSP source from being created at all (nothing is retried for these).
#[derive(Debug, thiserror::Error)]
pub enum RtspError {
    #[error("camera URL {url}: {message}")]
    InvalidUrl { url: String, message: String },
    #[error("camera {url}: cannot build the pipeline: {message}")]
    Pipeline { url: String, message: String },
}

impl From<RtspError> for Error {
    fn from(e: RtspError) -> Self {
        match e {
            RtspError::InvalidUrl { .. } => Error::Settings(e.to_string()),
            RtspError::Pipeline { .. } => Error::Pipeline(e.to_string()),
        }
    }
}

/// What one look at the camera found. See the module documentation.
#[derive(Debug)]
pub enum SourceEvent {
    /// A new segment starts with the next frame: after (re)connecting, a format change or a
    /// jump in the stream's timestamps.
    Segment {
        info: Arc<gst_video::VideoInfo>,
        /// Size, format or frame rate differ from the previous segment's (false for the first).
        info_changed: bool,
        /// The number of connections that delivered frames before this one.
        reconnects: u64,
    },
    Frame(Frame),
    /// The connection was lost; the next attempt starts after `retry_in`.
    Disconnected { reason: RetryReason, retry_in: Duration },
    /// No frame within the wait.
    Gap {
        /// Time since the last frame, `None` before the first one.
        since_last_frame: Option<Duration>,
    },
}

/// `rtsp://user:pass@host/x` → `rtsp://***@host/x`, and the value of a password parameter
/// some cameras take in the path or query (`?user=admin&password=x` → `password=***`);
/// URLs without credentials are unchanged.
pub fn redact_url(url: &str) -> String {
    let url = match split_credentials(url) {
        Some((_, rest_start)) => format!("{}***@{}", &url[..scheme_end(url)], &url[rest_start..]),
        None => url.to_string(),
    };
    mask_password_params(&url)
}

/// Parameter names whose values are passwords (Dahua, XMeye and others put them in the URL).
const PASSWORD_KEYS: [&str; 4] = ["password", "passwd", "pass", "pwd"];

/// Replaces the value of every `password=`-like parameter (after `?`, `&`, `/` or `;`).
fn mask_password_params(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < text.len() {
        let after_delimiter = i > 0 && matches!(lower.as_bytes()[i - 1], b'?' | b'&' | b'/' | b';');
        let key = PASSWORD_KEYS.iter().find(|k| after_delimiter && lower[i..].starts_with(&format!("{k}=")));
        if let Some(key) = key {
            let value_start = i + key.len() + 1;
            let value_end = text[value_start..]
                .find(|c: char| matches!(c, '&' | '/' | '?' | '#' | ';' | '"' | '\'') || c.is_whitespace())
                .map_or(text.len(), |e| value_start + e);
            out.push_str(&text[copied..value_start]);
            out.push_str("***");
            copied = value_end;
            i = value_end.max(i + 1);
        } else {
            i += text[i..].chars().next().map_or(1, char::len_utf8);
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// Replaces every `scheme://user:pass@` in `text` with `scheme://***@`, and the values of
/// password parameters with `***`.
pub fn scrub_credentials(text: &str) -> String {
    mask_password_params(&scrub_userinfo(text))
}

fn scrub_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let authority_end = tail.find(|c: char| matches!(c, '/' | '?' | '#') || c.is_whitespace()).unwrap_or(tail.len());
        match tail[..authority_end].rfind('@') {
            Some(user_end) => {
                out.push_str("***");
                rest = &tail[user_end..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

/// Index just after `scheme://`, or 0.
fn scheme_end(url: &str) -> usize {
    url.find("://").map(|i| i + 3).unwrap_or(0)
}

/// The userinfo of `url` and the index where the host starts, if it has credentials.
fn split_credentials(url: &str) -> Option<(&str, usize)> {
    let start = scheme_end(url);
    let tail = &url[start..];
    let authority_end = tail.find(['/', '?', '#']).unwrap_or(tail.len());
    let at = tail[..authority_end].rfind('@')?;
    Some((&tail[..at], start + at + 1))
}

/// Decodes `%XX` escapes (userinfo may escape `:`, `@` and `/`).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A camera URL split into what may be shown and what may not.
#[derive(Clone)]
struct CameraUrl {
    /// The URL without credentials (given to rtspsrc as its location).
    location: String,
    /// `rtsp://***@host/...` when there are credentials, else the location.
    shown: String,
    user: Option<String>,
    password: Option<String>,
}

impl std::fmt::Debug for CameraUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

impl CameraUrl {
    fn parse(url: &str) -> std::result::Result<Self, RtspError> {
        let shown = redact_url(url.trim());
        let url = url.trim();
        let invalid = |message: &str| RtspError::InvalidUrl { url: shown.clone(), message: message.to_string() };
        let scheme = url.split("://").next().unwrap_or_default().to_ascii_lowercase();
        if !url.contains("://") || !matches!(scheme.as_str(), "rtsp" | "rtsps" | "rtspt" | "rtspu") {
            return Err(invalid("not an rtsp:// URL"));
        }
        let (location, user, password) = match split_credentials(url) {
            Some((userinfo, host_start)) => {
                let location = format!("{}{}", &url[..scheme_end(url)], &url[host_start..]);
                let (user, password) = match userinfo.split_once(':') {
                    Some((u, p)) => (percent_decode(u), Some(percent_decode(p))),
                    None => (percent_decode(userinfo), None),
                };
                (location, Some(user), password)
            }
            None => (url.to_string(), None, None),
        };
        let host = &location[scheme_end(&location)..];
        if host.is_empty() || host.starts_with('/') {
            return Err(invalid("no host"));
        }
        Ok(CameraUrl { location, shown, user, password })
    }

    /// GStreamer's text with the URL's credentials removed, however GStreamer quoted them.
    fn scrub(&self, text: &str) -> String {
        let mut text = scrub_credentials(text);
        for secret in [self.password.as_deref(), self.user.as_deref()].into_iter().flatten() {
            // Very short secrets would mangle ordinary words; they are caught by the URL scrub.
            if secret.len() >= 4 {
                text = text.replace(secret, "***");
            }
        }
        text
    }
}

/// Pure backoff bookkeeping, separate from the clock so it can be tested.
#[derive(Clone, Debug)]
struct Backoff {
    policy: BackoffPolicy,
    next: Duration,
}

impl Backoff {
    fn new(policy: BackoffPolicy) -> Self {
        Backoff { policy, next: policy.initial }
    }

    /// The wait before the next attempt, given how long the connection that just ended had
    /// been delivering frames (`None`: it never did).
    fn after_disconnect(&mut self, good_for: Option<Duration>) -> Duration {
        if good_for.is_some_and(|d| d >= self.policy.reset_after) {
            self.next = self.policy.initial;
        }
        let wait = self.next;
        self.next = (self.next * 2).min(self.policy.max);
        wait
    }
}

/// How far a frame's stream time may stray from the wall clock before the stream counts as
/// having jumped (a camera clock reset, a server restarting its timestamps).
const JUMP_TOLERANCE: Duration = Duration::from_secs(2);

/// The least time between two frames on veilcam's timeline. A camera that sends a frame with
/// the time of the one before (or a little earlier) gets it moved on by this much: no less,
/// because a container's clock (an MP4 track's time scale) would round a smaller step away and
/// hold two frames at one instant, which a muxer or player then drops (found by hostile use:
/// recordings with such pairs exported to working copies one frame short of their manifest).
const MIN_STEP: gst::ClockTime = gst::ClockTime::from_mseconds(1);

/// Maps the stream's running time onto veilcam's timeline: 0 at the first frame ever, the
/// stream's own spacing within a stretch, the wall clock between stretches. A stretch starts
/// with each connection and whenever the stream's time strays from the wall clock by more
/// than [`JUMP_TOLERANCE`]. Timestamps only go forward.
#[derive(Debug, Default)]
struct Timeline {
    /// Wall-clock time of PTS 0.
    epoch: Option<Instant>,
    /// Start of the current stretch: wall clock and the stream's running time there.
    anchor: Option<(Instant, gst::ClockTime)>,
    last: Option<gst::ClockTime>,
}

impl Timeline {
    fn new_connection(&mut self) {
        self.anchor = None;
    }

    /// The PTS of a frame received at `now` with stream running time `running`, and whether
    /// the stream jumped (a new stretch starts with this frame).
    fn map(&mut self, now: Instant, running: Option<gst::ClockTime>) -> (gst::ClockTime, bool) {
        let epoch = *self.epoch.get_or_insert(now);
        let running = running.unwrap_or_else(|| match self.anchor {
            // No timestamp: the wall clock decides.
            Some((wall, at)) => at + nanos(now - wall),
            None => gst::ClockTime::ZERO,
        });
        let (wall, at) = *self.anchor.get_or_insert((now, running));
        let expected = (now - wall).as_nanos() as i128;
        let actual = running.nseconds() as i128 - at.nseconds() as i128;
        let jumped = (actual - expected).unsigned_abs() > JUMP_TOLERANCE.as_nanos();
        let (wall, at) = if jumped {
            self.anchor = Some((now, running));
            (now, running)
        } else {
            (wall, at)
        };
        let mut pts = nanos(wall - epoch) + running.saturating_sub(at);
        if let Some(last) = self.last {
            pts = pts.max(last + MIN_STEP);
        }
        self.last = Some(pts);
        (pts, jumped)
    }
}

fn nanos(d: Duration) -> gst::ClockTime {
    gst::ClockTime::from_nseconds(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// One connection attempt or established connection.
struct Connection {
    pipeline: gst::Pipeline,
    appsink: gst_app::AppSink,
    bus: gst::Bus,
    started: Instant,
    /// Wall-clock time of this connection's first frame.
    first: Option<Instant>,
    last_frame: Option<Instant>,
    caps: Option<gst::Caps>,
}

enum State {
    Connected(Connection),
    /// Waiting out the backoff before the next attempt.
    Waiting { until: Instant },
}

/// A live RTSP camera. See the module documentation.
pub struct RtspSource {
    url: CameraUrl,
    options: RtspOptions,
    state: State,
    backoff: Backoff,
    timeline: Timeline,
    last_frame: Option<Instant>,
    info: Option<Arc<gst_video::VideoInfo>>,
    next_index: u64,
    /// Connections that delivered at least one frame.
    connections: u64,
    /// A frame held back while the `Segment` event before it is handed out.
    pending: Option<Frame>,
}

impl std::fmt::Debug for RtspSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtspSource")
            .field("url", &self.url.shown)
            .field("options", &self.options)
            .field("frames", &self.next_index)
            .finish_non_exhaustive()
    }
}

impl RtspSource {
    /// Starts connecting to `url`. Fails only for a URL that is not RTSP or a pipeline that
    /// cannot be built; an unreachable camera is retried (see [`RtspSource::next_event`]).
    pub fn open(url: &str, options: RtspOptions) -> Result<Self> {
        crate::init_gstreamer()?;
        require_elements(&RTSP_ELEMENTS)?;
        let url = CameraUrl::parse(url)?;
        options.validate().map_err(|message| Error::Settings(format!("camera {}: {message}", url.shown)))?;
        let connection = connect(&url, &options)?;
        tracing::info!(camera = %url.shown, transport = ?options.transport, "connecting to camera");
        Ok(RtspSource {
            backoff: Backoff::new(options.backoff),
            url,
            options,
            state: State::Connected(connection),
            timeline: Timeline::default(),
            last_frame: None,
            info: None,
            next_index: 0,
            connections: 0,
            pending: None,
        })
    }

    /// The camera URL with credentials replaced by `***`.
    pub fn shown_url(&self) -> &str {
        &self.url.shown
    }

    /// The format of the latest frames, once one has arrived.
    pub fn info(&self) -> Option<&Arc<gst_video::VideoInfo>> {
        self.info.as_ref()
    }

    /// Whether frames are flowing now (connected and the last frame within the stall timeout).
    pub fn is_receiving(&self) -> bool {
        matches!(&self.state, State::Connected(c) if c.last_frame.is_some_and(|t| t.elapsed() < self.options.stall_timeout))
    }

    /// The next event, waiting at most the stall timeout.
    pub fn next_event(&mut self) -> Result<SourceEvent> {
        self.next_event_within(self.options.stall_timeout)
    }

    /// The next event, waiting at most `wait` (a [`SourceEvent::Gap`] when nothing came).
    pub fn next_event_within(&mut self, wait: Duration) -> Result<SourceEvent> {
        if let Some(frame) = self.pending.take() {
            return Ok(SourceEvent::Frame(frame));
        }
        let deadline = Instant::now() + wait;
        loop {
            crate::interrupt::check()?;
            let now = Instant::now();
            if let State::Waiting { until } = self.state {
                if now >= until {
                    self.reconnect()?;
                    continue;
                }
                std::thread::sleep(until.min(deadline).saturating_duration_since(now).min(PULL_SLICE));
            } else if let Some(event) = self.poll_connection()? {
                return Ok(event);
            }
            if Instant::now() >= deadline {
                return Ok(SourceEvent::Gap { since_last_frame: self.last_frame.map(|t| t.elapsed()) });
            }
        }
    }

    fn reconnect(&mut self) -> Result<()> {
        tracing::warn!(camera = %self.url.shown, "reconnecting to camera");
        self.state = State::Connected(connect(&self.url, &self.options)?);
        Ok(())
    }

    /// One slice of waiting on the connection: a frame, a disconnect, or nothing yet.
    fn poll_connection(&mut self) -> Result<Option<SourceEvent>> {
        let State::Connected(conn) = &mut self.state else { return Ok(None) };
        if let Some(sample) = conn.appsink.try_pull_sample(gst::ClockTime::from_nseconds(PULL_SLICE.as_nanos() as u64)) {
            return self.on_sample(sample).map(Some);
        }
        if let Some(reason) = check_bus(conn, &self.url) {
            return Ok(Some(self.disconnect(reason)));
        }
        let now = Instant::now();
        let reason = match conn.last_frame {
            Some(last) if now - last >= self.options.stall_timeout => Some(RetryReason::Stall(now - last)),
            None if now - conn.started >= self.options.connect_timeout => Some(RetryReason::ConnectFailed(format!(
                "no frame within {:?} of connecting",
                self.options.connect_timeout
            ))),
            _ => None,
        };
        Ok(reason.map(|r| self.disconnect(r)))
    }

    /// Tears the connection down, logs the retry and schedules it.
    fn disconnect(&mut self, reason: RetryReason) -> SourceEvent {
        let good_for = match &self.state {
            State::Connected(c) => c.first.map(|t| t.elapsed()),
            State::Waiting { .. } => None,
        };
        let retry_in = self.backoff.after_disconnect(good_for);
        let old = std::mem::replace(&mut self.state, State::Waiting { until: Instant::now() + retry_in });
        if let State::Connected(conn) = old {
            teardown(conn);
        }
        tracing::warn!(camera = %self.url.shown, %reason, retry_in_s = retry_in.as_secs_f64(), "camera disconnected; retrying");
        SourceEvent::Disconnected { reason, retry_in }
    }

    /// Turns a sample into a frame on veilcam's timeline, preceded by a `Segment` event when
    /// a connection starts or the format changes.
    fn on_sample(&mut self, sample: gst::Sample) -> Result<SourceEvent> {
        let State::Connected(conn) = &mut self.state else { unreachable!("samples come only from a connection") };
        let now = Instant::now();
        let caps = sample.caps_owned().ok_or_else(|| Error::Pipeline(format!("camera {}: frame without caps", self.url.shown)))?;
        let mut buffer = sample
            .buffer_owned()
            .ok_or_else(|| Error::Pipeline(format!("camera {}: sample without buffer", self.url.shown)))?;
        let running = crate::running_time::of_sample(&sample);
        let first_of_connection = conn.first.is_none();
        if first_of_connection {
            conn.first = Some(now);
            self.timeline.new_connection();
        }
        conn.last_frame = Some(now);
        self.last_frame = Some(now);
        let (pts, jumped) = self.timeline.map(now, running);
        if jumped {
            tracing::warn!(camera = %self.url.shown, "camera timestamps jumped; a new segment starts");
        }

        let format_changed = conn.caps.as_ref() != Some(&caps);
        conn.caps = Some(caps.clone());
        {
            let buffer = buffer.make_mut();
            buffer.set_pts(pts);
            buffer.set_dts(gst::ClockTime::NONE);
            if first_of_connection || jumped {
                buffer.set_flags(gst::BufferFlags::DISCONT);
            }
        }
        let segment = if format_changed || first_of_connection || jumped {
            let info = gst_video::VideoInfo::from_caps(&caps)
                .map_err(|e| Error::Pipeline(format!("camera {}: unusable video caps {caps}: {e}", self.url.shown)))?;
            let info_changed = self.info.as_deref().is_some_and(|old| !same_format(old, &info));
            let info = Arc::new(info);
            self.info = Some(Arc::clone(&info));
            if first_of_connection {
                self.connections += 1;
                tracing::info!(camera = %self.url.shown, width = info.width(), height = info.height(), "camera frames flowing");
            }
            Some(SourceEvent::Segment { info, info_changed, reconnects: self.connections - 1 })
        } else {
            None
        };
        let info = Arc::clone(self.info.as_ref().expect("set with the first frame"));
        let frame = Frame { index: self.next_index, buffer, info };
        self.next_index += 1;
        Ok(match segment {
            Some(event) => {
                self.pending = Some(frame);
                event
            }
            None => SourceEvent::Frame(frame),
        })
    }
}

impl FrameSource for RtspSource {
    /// The next frame, or `Ok(None)` when none came within the stall timeout (a live source
    /// has no end: ask again). `Segment` and `Disconnected` events are logged, not returned.
    fn next_frame(&mut self) -> Result<Option<Frame>> {
        let deadline = Instant::now() + self.options.stall_timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_event_within(left)? {
                SourceEvent::Frame(frame) => return Ok(Some(frame)),
                SourceEvent::Gap { .. } => return Ok(None),
                SourceEvent::Segment { .. } | SourceEvent::Disconnected { .. } => {}
            }
        }
    }
}

impl Drop for RtspSource {
    fn drop(&mut self) {
        if let State::Connected(conn) = std::mem::replace(&mut self.state, State::Waiting { until: Instant::now() }) {
            teardown(conn);
        }
    }
}

fn same_format(a: &gst_video::VideoInfo, b: &gst_video::VideoInfo) -> bool {
    a.width() == b.width() && a.height() == b.height() && a.format() == b.format() && a.fps() == b.fps()
}

/// Stops a pipeline off the caller's thread: rtspsrc's TEARDOWN to a hung server may block.
fn teardown(conn: Connection) {
    let pipeline = conn.pipeline;
    let spawned = std::thread::Builder::new().name("rtsp-teardown".into()).spawn({
        let pipeline = pipeline.clone();
        move || {
            let _ = pipeline.set_state(gst::State::Null);
        }
    });
    if spawned.is_err() {
        let _ = pipeline.set_state(gst::State::Null);
    }
}

/// Looks at what the bus says: EOS or an error ends the connection.
fn check_bus(conn: &Connection, url: &CameraUrl) -> Option<RetryReason> {
    while let Some(msg) = conn.bus.pop() {
        match msg.view() {
            gst::MessageView::Eos(..) => return Some(RetryReason::Eos),
            gst::MessageView::Error(err) => {
                let text = url.scrub(&describe(&msg, &err.error().to_string(), err.debug().as_deref()));
                return Some(if conn.first.is_none() { RetryReason::ConnectFailed(text) } else { RetryReason::Error(text) });
            }
            gst::MessageView::Warning(w) => {
                let text = url.scrub(&describe(&msg, &w.error().to_string(), w.debug().as_deref()));
                let from_network = msg.src().is_some_and(|s| s.path_string().contains(CAMERA_ELEMENT));
                if from_network {
                    // rtspsrc warns before it errors or ends; the stall watchdog covers the rest.
                    tracing::debug!(camera = %url.shown, warning = %text, "camera warning");
                } else {
                    // A warning on the media path (decoder, converter) may mean garbage pixels.
                    return Some(RetryReason::Error(text));
                }
            }
            _ => {}
        }
    }
    None
}

fn describe(msg: &gst::Message, error: &str, debug: Option<&str>) -> String {
    crate::bus::describe(msg.src(), error, debug).0
}

/// Builds and starts one connection attempt.
fn connect(url: &CameraUrl, options: &RtspOptions) -> Result<Connection> {
    let (pipeline, appsink) = build(url, options).map_err(|e| RtspError::Pipeline { url: url.shown.clone(), message: url.scrub(&e.to_string()) })?;
    let bus = pipeline.bus().expect("a pipeline has a bus");
    let conn = Connection { pipeline, appsink, bus, started: Instant::now(), first: None, last_frame: None, caps: None };
    // A failure to start shows up on the bus and is handled as a failed connect.
    let _ = conn.pipeline.set_state(gst::State::Playing);
    Ok(conn)
}

/// Threads of the camera's libav decoder. libav decodes with frame threads by default, each
/// holding its own pictures in flight: at 1080p every extra thread costs several MiB of frames
/// and a frame of latency, while a camera's decode is a small share of the cores next to
/// detection and encoding (and several cameras already decode in parallel).
const DECODER_THREADS: i32 = 1;

fn build(url: &CameraUrl, options: &RtspOptions) -> std::result::Result<(gst::Pipeline, gst_app::AppSink), gst::glib::BoolError> {
    let pipeline = gst::Pipeline::with_name("veilcam-camera");
    let latency_ms = u32::try_from(options.latency.as_millis()).unwrap_or(u32::MAX);
    let mut src = gst::ElementFactory::make("rtspsrc")
        .name(CAMERA_ELEMENT)
        .property("location", &url.location)
        .property("latency", latency_ms)
        // rtspsrc's own connect timeout (20 s by default) follows ours.
        .property("tcp-timeout", u64::try_from(options.connect_timeout.as_micros()).unwrap_or(u64::MAX))
        .property_from_str("protocols", options.transport.rtspsrc_protocols());
    if let Some(user) = &url.user {
        src = src.property("user-id", user);
    }
    if let Some(password) = &url.password {
        src = src.property("user-pw", password);
    }
    let src = src.build()?;
    let decodebin = gst::ElementFactory::make("decodebin").build()?;
    decodebin.downcast_ref::<gst::Bin>().expect("decodebin is a bin").connect_deep_element_added(|_, _, element| {
        let is_libav = element.factory().is_some_and(|f| f.name().starts_with("avdec_"));
        if is_libav && element.has_property("max-threads") {
            element.set_property("max-threads", DECODER_THREADS);
        }
    });
    let convert = gst::ElementFactory::make("videoconvert").build()?;
    let square = super::file::square_pixels()?;
    let caps = gst_video::VideoCapsBuilder::new().format(gst_video::VideoFormat::I420).pixel_aspect_ratio(gst::Fraction::new(1, 1)).build();
    let appsink = gst_app::AppSink::builder()
        .caps(&caps)
        .sync(false)
        .max_buffers(APPSINK_MAX_BUFFERS)
        .drop(false)
        .build();
    pipeline.add_many([&src, &decodebin, &convert, &square, appsink.upcast_ref()])?;
    gst::Element::link_many([&convert, &square, appsink.upcast_ref()])?;

    let decode_sink = decodebin.static_pad("sink").expect("decodebin has a sink pad");
    src.connect_pad_added(move |_, pad| {
        let is_video = pad
            .current_caps()
            .and_then(|c| c.structure(0).and_then(|s| s.get::<&str>("media").ok().map(|m| m == "video")))
            .unwrap_or(false);
        if is_video && !decode_sink.is_linked() {
            if let Err(e) = pad.link(&decode_sink) {
                tracing::error!("cannot link the camera's video stream: {e:?}");
            }
        }
        // Other streams (audio, metadata) stay unlinked; rtspsrc discards them.
    });
    let convert_sink = convert.static_pad("sink").expect("videoconvert has a sink pad");
    decodebin.connect_pad_added(move |_, pad| {
        let is_video = pad
            .current_caps()
            .and_then(|c| c.structure(0).map(|s| s.name().starts_with("video/")))
            .unwrap_or(false);
        if is_video && !convert_sink.is_linked() {
            if let Err(e) = pad.link(&convert_sink) {
                tracing::error!("cannot link the decoded video: {e:?}");
            }
        }
    });
    Ok((pipeline, appsink))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_url_hides_user_and_password() {
        assert_eq!(redact_url("rtsp://user:pass@h/x"), "rtsp://***@h/x");
        assert_eq!(redact_url("rtsp://user@h:554/x?y=1"), "rtsp://***@h:554/x?y=1");
        assert_eq!(redact_url("rtsp://h/x"), "rtsp://h/x");
        // An '@' in the path is not userinfo.
        assert_eq!(redact_url("rtsp://h/x@y"), "rtsp://h/x@y");
    }

    #[test]
    fn password_parameters_in_path_or_query_are_masked() {
        assert_eq!(
            redact_url("rtsp://cam:554/cam/realmonitor?channel=1&user=admin&password=s3cret&subtype=0"),
            "rtsp://cam:554/cam/realmonitor?channel=1&user=admin&password=***&subtype=0"
        );
        assert_eq!(redact_url("rtsp://cam/user=admin&PassWord=x1;stream=0.sdp"), "rtsp://cam/user=admin&PassWord=***;stream=0.sdp");
        assert_eq!(redact_url("rtsp://cam/live?pwd=abc"), "rtsp://cam/live?pwd=***");
        // Not a parameter: a path that merely contains the word.
        assert_eq!(redact_url("rtsp://cam/passage=1"), "rtsp://cam/passage=1");
        assert_eq!(scrub_credentials("failed: rtsp://cam/x?pass=hunter2 (timeout)"), "failed: rtsp://cam/x?pass=*** (timeout)");
    }

    #[test]
    fn scrub_removes_every_url_credential_in_free_text() {
        let text = "Could not open rtsp://admin:s3cret@10.0.0.2/a (retry rtsp://u:p@cam/b) ok";
        let scrubbed = scrub_credentials(text);
        assert_eq!(scrubbed, "Could not open rtsp://***@10.0.0.2/a (retry rtsp://***@cam/b) ok");
    }

    #[test]
    fn credentials_are_split_off_the_location_and_percent_decoded() {
        let url = CameraUrl::parse("rtsp://ad%40min:p%3Ass@192.0.2.10:554/stream1").unwrap();
        assert_eq!(url.location, "rtsp://192.0.2.10:554/stream1");
        assert_eq!(url.user.as_deref(), Some("ad@min"));
        assert_eq!(url.password.as_deref(), Some("p:ss"));
        assert_eq!(format!("{url:?}"), "rtsp://***@192.0.2.10:554/stream1");
        assert_eq!(url.scrub("auth failed for p:ss"), "auth failed for ***");
    }

    #[test]
    fn a_url_that_is_not_rtsp_is_refused_without_showing_its_credentials() {
        let err = CameraUrl::parse("http://user:hunter22@cam/x").unwrap_err().to_string();
        assert!(err.contains("not an rtsp:// URL"), "{err}");
        assert!(!err.contains("hunter22"), "{err}");
        assert!(CameraUrl::parse("rtsp:///x").is_err());
    }

    #[test]
    fn transport_reads_from_text_and_config() {
        assert_eq!("UDP".parse::<Transport>(), Ok(Transport::Udp));
        assert!("quic".parse::<Transport>().unwrap_err().contains("quic"));
        #[derive(serde::Deserialize)]
        struct Camera {
            transport: Transport,
        }
        let camera: Camera = toml::from_str("transport = \"tcp\"").unwrap();
        assert_eq!(camera.transport, Transport::Tcp);
    }

    fn ms(v: u64) -> gst::ClockTime {
        gst::ClockTime::from_mseconds(v)
    }

    #[test]
    fn timeline_starts_at_zero_and_follows_the_stream_within_a_connection() {
        let t0 = Instant::now();
        let mut timeline = Timeline::default();
        timeline.new_connection();
        // The stream's running time starts anywhere; frames arrive with some jitter.
        assert_eq!(timeline.map(t0, Some(ms(5_000))), (ms(0), false));
        assert_eq!(timeline.map(t0 + Duration::from_millis(70), Some(ms(5_040))), (ms(40), false));
        assert_eq!(timeline.map(t0 + Duration::from_millis(400), Some(ms(5_080))), (ms(80), false));
    }

    #[test]
    fn timeline_moves_on_by_the_time_away_across_a_reconnect() {
        let t0 = Instant::now();
        let mut timeline = Timeline::default();
        timeline.new_connection();
        timeline.map(t0, Some(ms(1_000)));
        timeline.map(t0 + Duration::from_millis(40), Some(ms(1_040)));
        // The new connection's stream starts again at a small running time, 6 s later.
        timeline.new_connection();
        let (pts, jumped) = timeline.map(t0 + Duration::from_secs(6), Some(ms(10)));
        assert_eq!((pts, jumped), (ms(6_000), false));
        assert_eq!(timeline.map(t0 + Duration::from_millis(6_040), Some(ms(50))).0, ms(6_040));
    }

    #[test]
    fn timeline_starts_a_new_stretch_when_the_stream_time_jumps() {
        let t0 = Instant::now();
        let mut timeline = Timeline::default();
        timeline.new_connection();
        timeline.map(t0, Some(ms(3_600_000)));
        timeline.map(t0 + Duration::from_millis(40), Some(ms(3_600_040)));
        // Back by an hour (a camera clock reset): a jump, and the timeline stays on the wall clock.
        let (pts, jumped) = timeline.map(t0 + Duration::from_millis(80), Some(ms(0)));
        assert!(jumped);
        assert_eq!(pts, ms(80));
        assert_eq!(timeline.map(t0 + Duration::from_millis(120), Some(ms(40))), (ms(120), false));
        // Forward by an hour: a jump too, not an hour-long gap.
        let (pts, jumped) = timeline.map(t0 + Duration::from_millis(160), Some(ms(3_700_000)));
        assert!(jumped);
        assert_eq!(pts, ms(160));
    }

    #[test]
    fn timeline_never_goes_back_even_when_the_stream_does_a_little() {
        let t0 = Instant::now();
        let mut timeline = Timeline::default();
        timeline.new_connection();
        timeline.map(t0, Some(ms(1_000)));
        let (a, _) = timeline.map(t0 + Duration::from_millis(40), Some(ms(1_040)));
        let (b, jumped) = timeline.map(t0 + Duration::from_millis(80), Some(ms(1_020)));
        assert!(!jumped && b >= a + MIN_STEP, "{a} {b}");
        let (c, _) = timeline.map(t0 + Duration::from_millis(81), Some(ms(1_020)));
        assert_eq!(c, b + MIN_STEP, "the same time twice: moved on by a step a container keeps");
    }

    #[test]
    fn options_that_would_spin_or_never_retry_are_refused() {
        assert_eq!(RtspOptions::default().validate(), Ok(()));
        let zero_stall = RtspOptions { stall_timeout: Duration::ZERO, ..RtspOptions::default() };
        assert!(zero_stall.validate().unwrap_err().contains("stall timeout"));
        let no_backoff = RtspOptions { backoff: BackoffPolicy { initial: Duration::ZERO, ..BackoffPolicy::default() }, ..RtspOptions::default() };
        assert!(no_backoff.validate().is_err());
        let inverted = RtspOptions {
            backoff: BackoffPolicy { initial: Duration::from_secs(10), max: Duration::from_secs(1), ..BackoffPolicy::default() },
            ..RtspOptions::default()
        };
        assert!(inverted.validate().is_err());
    }

    #[test]
    fn backoff_doubles_to_its_cap_and_resets_after_a_good_minute() {
        let mut b = Backoff::new(BackoffPolicy::default());
        let waits: Vec<u64> = (0..7).map(|_| b.after_disconnect(None).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30]);
        // A short good spell does not reset it; a minute does.
        assert_eq!(b.after_disconnect(Some(Duration::from_secs(59))).as_secs(), 30);
        assert_eq!(b.after_disconnect(Some(Duration::from_secs(60))).as_secs(), 1);
        assert_eq!(b.after_disconnect(None).as_secs(), 2);
    }
}
