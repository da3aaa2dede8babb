//! Live-mode configuration: the `[live]` table and each camera's RTSP `source`, validated.
//!
//! ```toml
//! [live]
//! listen = "127.0.0.1:8554"          # redacted restream: rtsp://HOST:PORT/<camera>
//! recordings = "/var/lib/veilcam/recordings"   # absent: no recording, restream only
//! segment_seconds = 60
//! retain_hours = 72                   # per-camera override allowed
//! min_free_mb = 500                   # oldest segments go first below this much free space
//! metrics = "127.0.0.1:9108"          # Prometheus /metrics and /healthz; absent: off
//! health_stale_seconds = 5            # /healthz is 503 once a camera is quiet this long
//! latency_budget_ms = 250             # a frame not decided by then leaves obscured
//! lookahead_ms = 200                  # frames held back after their look, so a face found later masks them too
//! late_frames = "obscure"             # or "drop"
//! encoder_preset = "auto"             # x264 preset of each camera's one encode (restream + recording)
//! transport = "tcp"                   # or "udp"; per-camera override allowed
//! [live.auth]                         # optional: viewers of the restream must log in
//! user = "viewer"
//! password_file = "/etc/veilcam/restream.pass"   # or password = "..."
//! method = "basic"                    # or "digest"
//!
//! [cameras.front_door]
//! source = "rtsp://user:pass@192.0.2.10/stream1"
//! retain_hours = 24
//! transport = "udp"
//! # zones and policy as for files
//! ```
//!
//! The raw tables ([`LiveTable`], and the `source`/`retain_hours`/`transport` keys of
//! [`crate::config::CameraConfig`]) are parsed with the rest of the camera config, so a file
//! with a `[live]` table still serves `veilcam redact --config`. [`load_live`] turns them into a
//! [`LiveConfig`]: defaults filled in from the `DEFAULT_*` constants, ranges checked, addresses
//! parsed, and the camera URLs split into a location and credentials.
//!
//! Credentials never show: [`Secret`] and [`RtspUrl`] print `***` in `Debug` and `Display`,
//! error messages never quote a URL's user information (see [`redact_credentials`]), and the
//! TOML errors are given as line, column and key path without the offending source line.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::config::{self, Camera, CameraConfig, Config};
use crate::error::{Error, Result};

/// Where the redacted restream listens when `[live] listen` is absent.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8554";
/// Length of one recording segment.
pub const DEFAULT_SEGMENT_SECONDS: u64 = 60;
/// Age after which a segment (not on legal hold) is deleted.
pub const DEFAULT_RETAIN_HOURS: f64 = 72.0;
/// Free space below which the oldest segments are deleted early.
pub const DEFAULT_MIN_FREE_MB: u64 = 500;
/// Time from a camera frame's arrival to its departure, redacted or obscured.
pub const DEFAULT_LATENCY_BUDGET_MS: u64 = 250;
/// How long a decided frame is held back before it leaves, so that a face first detected on a
/// later frame is masked on it too (back-filled, as files are over one second). Without it a
/// face that walks in shows until the first look that finds it: on the harness's walkers, live
/// recall rose from 93.5–97.3 % to 97.5–99.4 % with it (docs/evaluation.md, "A live
/// look-ahead"). It adds this much to every frame's latency.
pub const DEFAULT_LOOKAHEAD_MS: u64 = 200;
/// How long a camera may stay quiet before `/healthz` answers 503.
pub const DEFAULT_HEALTH_STALE_SECONDS: u64 = 5;
/// The default x264 speed preset of a camera's encode: chosen by [`auto_preset`].
pub const DEFAULT_ENCODER_PRESET: &str = "auto";
/// Cores a 1080p30 camera needs for a `veryfast` encode beside its decode and detection.
/// Measured on 2 cores (`scripts/bench-live`): one camera holds 30 fps with every frame looked
/// at; three cameras hold 23.5–24.3 fps with `veryfast` and 29.3–29.4 fps with `ultrafast`.
const CORES_PER_VERYFAST_CAMERA: usize = 2;

/// The preset `encoder_preset = "auto"` stands for: `veryfast` while every camera has
/// `CORES_PER_VERYFAST_CAMERA` cores, else `ultrafast`, which takes about half the CPU for
/// larger files and keeps the frame rate when cameras outnumber the cores.
pub fn auto_preset(cameras: usize, cores: usize) -> &'static str {
    if cameras * CORES_PER_VERYFAST_CAMERA <= cores {
        "veryfast"
    } else {
        "ultrafast"
    }
}

const SEGMENT_SECONDS_RANGE: std::ops::RangeInclusive<u64> = 1..=3600;
/// Up to ten years; fractions allowed (a test retains for seconds).
const MAX_RETAIN_HOURS: f64 = 87_600.0;
const LATENCY_BUDGET_MS_RANGE: std::ops::RangeInclusive<u64> = 20..=10_000;
/// The look-ahead's range (`live.lookahead_ms`, and `redact --live-lookahead` rehearsing it).
pub const LOOKAHEAD_MS_RANGE: std::ops::RangeInclusive<u64> = 0..=2_000;
const HEALTH_STALE_SECONDS_RANGE: std::ops::RangeInclusive<u64> = 1..=3600;

/// A string that must never be printed: a password, or a URL that may carry one.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the one place that needs it (an rtspsrc property, an auth token).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The `[live]` table as written (every key optional; see the module docs).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveTable {
    pub listen: Option<String>,
    pub recordings: Option<PathBuf>,
    pub segment_seconds: Option<u64>,
    pub retain_hours: Option<f64>,
    pub min_free_mb: Option<u64>,
    pub metrics: Option<String>,
    pub health_stale_seconds: Option<u64>,
    pub latency_budget_ms: Option<u64>,
    pub lookahead_ms: Option<u64>,
    pub late_frames: Option<LateFrames>,
    pub encoder_preset: Option<String>,
    pub transport: Option<Transport>,
    pub auth: Option<AuthTable>,
}

/// `[live.auth]` as written.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthTable {
    pub user: String,
    pub password: Option<Secret>,
    pub password_file: Option<PathBuf>,
    pub method: Option<AuthMethod>,
}

/// What leaves in place of a frame whose detection missed the latency budget or failed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LateFrames {
    /// The frame leaves fully obscured (the stream keeps its frame rate).
    #[default]
    Obscure,
    /// The frame is not sent at all.
    Drop,
}

/// How RTP reaches veilcam from the camera.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// RTP interleaved in the RTSP connection: passes NAT and firewalls, no packet loss.
    #[default]
    Tcp,
    Udp,
}

impl Transport {
    /// The value for rtspsrc's `protocols` property (`set_property_from_str`).
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
        }
    }
}

/// How restream viewers authenticate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// HTTP digest auth: the password never crosses the network in the clear.
    Digest,
    /// HTTP basic auth (the password is only encoded): use it on a trusted network or behind TLS.
    #[default]
    Basic,
}

/// Restream login, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestreamAuth {
    pub user: String,
    pub password: Secret,
    pub method: AuthMethod,
}

/// One live camera: its zones and policy, where to read it and how long to keep it.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveCamera {
    /// Name, zones and policy, exactly as file mode reads them.
    pub camera: Camera,
    pub source: RtspUrl,
    pub transport: Transport,
    pub retain: Duration,
}

impl LiveCamera {
    pub fn name(&self) -> &str {
        &self.camera.name
    }
}

/// The validated live configuration: every camera that has a `source`, in name order.
#[derive(Clone, Debug, PartialEq)]
pub struct LiveConfig {
    /// The file it was read from, for messages.
    pub path: PathBuf,
    pub listen: SocketAddr,
    /// Where segments go; `None` runs the restream without recording.
    pub recordings: Option<PathBuf>,
    pub segment: Duration,
    /// Default retention; each camera carries its own in [`LiveCamera::retain`].
    pub retain: Duration,
    pub min_free_bytes: u64,
    /// `None`: no metrics server.
    pub metrics: Option<SocketAddr>,
    pub health_stale: Duration,
    pub latency_budget: Duration,
    /// How long decided frames are held back ([`DEFAULT_LOOKAHEAD_MS`]).
    pub lookahead: Duration,
    pub late_frames: LateFrames,
    /// x264 speed preset of each camera's encode (`auto` resolved by [`auto_preset`]).
    pub encoder_preset: String,
    pub auth: Option<RestreamAuth>,
    pub cameras: Vec<LiveCamera>,
}

/// Reads `path` and returns the live configuration.
pub fn load_live(path: &Path) -> Result<LiveConfig> {
    parse_live(&crate::config::read_text(path)?, path)
}

/// Parses `text` (read from `path`, named in errors) into a [`LiveConfig`].
pub fn parse_live(text: &str, path: &Path) -> Result<LiveConfig> {
    let err = |message: String| Error::Config { path: path.to_path_buf(), message };
    let config: Config = config::parse_toml(text, path)?;
    let table = config.live.clone().unwrap_or_default();
    let base_dir = path.parent().unwrap_or(Path::new("."));
    let (live, transport) = validate_table(&table, base_dir).map_err(err)?;
    let cameras = live_cameras(&config, &live, transport, path)?;
    let encoder_preset = match live.encoder_preset.as_str() {
        DEFAULT_ENCODER_PRESET => auto_preset(cameras.len(), std::thread::available_parallelism().map_or(1, |n| n.get())).to_string(),
        chosen => chosen.to_string(),
    };
    Ok(LiveConfig { path: path.to_path_buf(), cameras, encoder_preset, ..live })
}

fn live_cameras(config: &Config, live: &LiveConfig, transport: Transport, path: &Path) -> Result<Vec<LiveCamera>> {
    let err = |message: String| Error::Config { path: path.to_path_buf(), message };
    let mut cameras = Vec::new();
    for (name, raw) in config.cameras.iter().filter(|(_, c)| c.source.is_some()) {
        check_camera_name(name).map_err(err)?;
        let camera = config::validate_camera(name, raw, path)?;
        cameras.push(live_camera(name, raw, camera, live.retain, transport).map_err(err)?);
    }
    if cameras.is_empty() {
        return Err(err(
            "no camera has a `source`; live mode reads cameras.NAME.source = \"rtsp://HOST/PATH\"".to_string(),
        ));
    }
    Ok(cameras)
}

/// One camera with a `source`; `retain` and `transport` are the `[live]` defaults.
fn live_camera(
    name: &str,
    raw: &CameraConfig,
    camera: Camera,
    retain: Duration,
    transport: Transport,
) -> std::result::Result<LiveCamera, String> {
    let url = raw.source.as_ref().expect("filtered on source");
    let source = RtspUrl::parse(url.expose()).map_err(|e| format!("cameras.{name}.source: {e}"))?;
    let retain = match raw.retain_hours {
        Some(hours) => retain_from_hours(hours).map_err(|e| format!("cameras.{name}.retain_hours: {e}"))?,
        None => retain,
    };
    let transport = raw.transport.unwrap_or(transport);
    Ok(LiveCamera { camera, source, transport, retain })
}

/// Camera names become restream mount paths, metric labels and recording directories.
fn check_camera_name(name: &str) -> std::result::Result<(), String> {
    let ok = !name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "cameras.{name:?}: a live camera's name becomes a URL path and a directory name: use 1–64 letters, digits, '_' or '-'"
        ))
    }
}

/// Checks the `[live]` table: the configuration without its cameras, and the default transport.
fn validate_table(t: &LiveTable, base_dir: &Path) -> std::result::Result<(LiveConfig, Transport), String> {
    let listen = socket_addr("live.listen", t.listen.as_deref().unwrap_or(DEFAULT_LISTEN))?;
    let metrics = t.metrics.as_deref().map(|m| socket_addr("live.metrics", m)).transpose()?;
    if metrics == Some(listen) && listen.port() != 0 {
        return Err(format!("live.metrics: {listen} is also live.listen; give the metrics server its own port"));
    }
    let segment_seconds = in_range("live.segment_seconds", t.segment_seconds.unwrap_or(DEFAULT_SEGMENT_SECONDS), SEGMENT_SECONDS_RANGE)?;
    let retain = retain_from_hours(t.retain_hours.unwrap_or(DEFAULT_RETAIN_HOURS)).map_err(|e| format!("live.retain_hours: {e}"))?;
    let budget_ms = in_range("live.latency_budget_ms", t.latency_budget_ms.unwrap_or(DEFAULT_LATENCY_BUDGET_MS), LATENCY_BUDGET_MS_RANGE)?;
    let lookahead_ms = in_range("live.lookahead_ms", t.lookahead_ms.unwrap_or(DEFAULT_LOOKAHEAD_MS), LOOKAHEAD_MS_RANGE)?;
    let stale = in_range(
        "live.health_stale_seconds",
        t.health_stale_seconds.unwrap_or(DEFAULT_HEALTH_STALE_SECONDS),
        HEALTH_STALE_SECONDS_RANGE,
    )?;
    let min_free_mb = t.min_free_mb.unwrap_or(DEFAULT_MIN_FREE_MB);
    let min_free_bytes = min_free_mb.checked_mul(1024 * 1024).ok_or_else(|| format!("live.min_free_mb: {min_free_mb} is too large"))?;
    let recordings = t.recordings.as_ref().map(|dir| resolve(base_dir, dir));
    if recordings.as_ref().is_some_and(|d| d.as_os_str().is_empty()) {
        return Err("live.recordings: empty path (leave the key out to run without recording)".into());
    }
    if let Some(dir) = recordings.as_ref().filter(|d| d.exists() && !d.is_dir()) {
        return Err(format!("live.recordings: {} is a file, not a directory", dir.display()));
    }
    let auth = t.auth.as_ref().map(|a| restream_auth(a, base_dir)).transpose()?;
    let encoder_preset = t.encoder_preset.clone().unwrap_or_else(|| DEFAULT_ENCODER_PRESET.to_string());
    if encoder_preset != DEFAULT_ENCODER_PRESET && !crate::sink::file::PRESETS.contains(&encoder_preset.as_str()) {
        return Err(format!("live.encoder_preset: '{encoder_preset}' is not auto or one of {}", crate::sink::file::PRESETS.join(", ")));
    }
    let config = LiveConfig {
        path: PathBuf::new(),
        listen,
        recordings,
        segment: Duration::from_secs(segment_seconds),
        retain,
        min_free_bytes,
        metrics,
        health_stale: Duration::from_secs(stale),
        latency_budget: Duration::from_millis(budget_ms),
        lookahead: Duration::from_millis(lookahead_ms),
        late_frames: t.late_frames.unwrap_or_default(),
        encoder_preset,
        auth,
        cameras: Vec::new(),
    };
    Ok((config, t.transport.unwrap_or_default()))
}

/// A relative path in the config is relative to the config file's directory.
fn resolve(base_dir: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() || p.as_os_str().is_empty() {
        p.to_path_buf()
    } else {
        base_dir.join(p)
    }
}

fn socket_addr(key: &str, value: &str) -> std::result::Result<SocketAddr, String> {
    value
        .parse()
        .map_err(|_| format!("{key}: {value:?} is not an IP address and port (like \"127.0.0.1:9108\" or \"[::1]:9108\")"))
}

fn in_range(key: &str, value: u64, range: std::ops::RangeInclusive<u64>) -> std::result::Result<u64, String> {
    if range.contains(&value) {
        Ok(value)
    } else {
        Err(format!("{key}: {value} is outside {}–{}", range.start(), range.end()))
    }
}

fn retain_from_hours(hours: f64) -> std::result::Result<Duration, String> {
    if hours.is_finite() && hours > 0.0 && hours <= MAX_RETAIN_HOURS {
        Ok(Duration::from_secs_f64(hours * 3600.0))
    } else {
        // `{:?}`: 1e300 is written as such, not as 301 digits (found by hostile use).
        Err(format!("{hours:?} is not a number of hours above 0 and at most {MAX_RETAIN_HOURS}"))
    }
}

fn restream_auth(a: &AuthTable, base_dir: &Path) -> std::result::Result<RestreamAuth, String> {
    if a.user.is_empty() || a.user.contains(':') || a.user.chars().any(char::is_control) {
        return Err("live.auth.user: must be non-empty, without ':' or control characters".into());
    }
    let password = match (&a.password, &a.password_file) {
        (Some(p), None) => p.clone(),
        (None, Some(file)) => read_password_file(&resolve(base_dir, file))?,
        (Some(_), Some(_)) => return Err("live.auth: give either password or password_file, not both".into()),
        (None, None) => return Err("live.auth: give password or password_file".into()),
    };
    if password.expose().is_empty() {
        return Err("live.auth: the password is empty".into());
    }
    Ok(RestreamAuth { user: a.user.clone(), password, method: a.method.unwrap_or_default() })
}

/// The largest password file read: a password is one line.
const MAX_PASSWORD_FILE: u64 = 64 << 10;

/// The file's contents without one trailing newline (as `echo pass > file` writes it).
fn read_password_file(path: &Path) -> std::result::Result<Secret, String> {
    let at = |why: String| format!("live.auth.password_file: {}: {why}", crate::one_line_path(path));
    let bytes = crate::input::read_small(path, MAX_PASSWORD_FILE).map_err(|e| at(e.to_string()))?;
    let text = String::from_utf8(bytes).map_err(|_| at("is not UTF-8 text".into()))?;
    let password = text.strip_suffix('\n').map(|t| t.strip_suffix('\r').unwrap_or(t)).unwrap_or(&text);
    if password.contains('\n') {
        return Err(at("holds more than one line".into()));
    }
    Ok(Secret::new(password))
}

/// An `rtsp://` or `rtsps://` URL split into a location without credentials and the
/// (percent-decoded) credentials. `Debug` and `Display` show `rtsp://***@host/path`.
#[derive(Clone, PartialEq, Eq)]
pub struct RtspUrl {
    scheme: &'static str,
    user: Option<String>,
    password: Option<Secret>,
    /// `host`, `host:port` or `[v6]:port`, as written.
    host_port: String,
    /// Everything from the first `/` or `?` after the host, as written (may be empty).
    rest: String,
}

/// Why a camera URL was refused. Never quotes the URL's user information.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("not an RTSP URL: it must start with rtsp:// or rtsps://")]
    Scheme,
    #[error("contains spaces or control characters")]
    Whitespace,
    #[error("has no host")]
    NoHost,
    #[error("the port is not a number from 1 to 65535 (a password with '/', '?' or '#' must be percent-encoded)")]
    Port,
    #[error("the host has characters a host name cannot have (a password with '/', '?' or '#' must be percent-encoded)")]
    Host,
    #[error("bad percent-encoding in the user name or password")]
    Percent,
}

impl RtspUrl {
    pub fn parse(text: &str) -> std::result::Result<Self, UrlError> {
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(UrlError::Whitespace);
        }
        let (scheme, after) = split_scheme(text)?;
        let end = after.find(['/', '?', '#']).unwrap_or(after.len());
        let (authority, rest) = after.split_at(end);
        let (userinfo, host_port) = match authority.rfind('@') {
            Some(at) => (Some(&authority[..at]), &authority[at + 1..]),
            None => (None, authority),
        };
        check_host_port(host_port)?;
        let (user, password) = match userinfo {
            None => (None, None),
            Some(info) => {
                let (u, p) = info.split_once(':').map_or((info, None), |(u, p)| (u, Some(p)));
                (Some(percent_decode(u)?), p.map(percent_decode).transpose()?.map(Secret::new))
            }
        };
        Ok(RtspUrl { scheme, user, password, host_port: host_port.to_string(), rest: rest.to_string() })
    }

    /// The URL without credentials, for rtspsrc's `location` (give the credentials through
    /// its `user-id` and `user-pw` properties, so GStreamer never logs them).
    pub fn location(&self) -> String {
        format!("{}://{}{}", self.scheme, self.host_port, self.rest)
    }

    /// The user name, percent-decoded; `None` when the URL has no user information.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// The password, percent-decoded.
    pub fn password(&self) -> Option<&Secret> {
        self.password.as_ref()
    }

    /// `host` or `host:port`, as written.
    pub fn host_port(&self) -> &str {
        &self.host_port
    }

    pub fn is_tls(&self) -> bool {
        self.scheme == "rtsps"
    }
}

impl fmt::Display for RtspUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let credentials = if self.user.is_some() { "***@" } else { "" };
        write!(f, "{}://{credentials}{}{}", self.scheme, self.host_port, self.rest)
    }
}

impl fmt::Debug for RtspUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RtspUrl({self})")
    }
}

fn split_scheme(text: &str) -> std::result::Result<(&'static str, &str), UrlError> {
    let (scheme, after) = text.split_once("://").ok_or(UrlError::Scheme)?;
    match scheme.to_ascii_lowercase().as_str() {
        "rtsp" => Ok(("rtsp", after)),
        "rtsps" => Ok(("rtsps", after)),
        _ => Err(UrlError::Scheme),
    }
}

fn check_host_port(host_port: &str) -> std::result::Result<(), UrlError> {
    let (host, port) = if let Some(v6) = host_port.strip_prefix('[') {
        let (addr, after) = v6.split_once(']').ok_or(UrlError::Host)?;
        if addr.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(UrlError::Host);
        }
        (addr, after.strip_prefix(':').map(Some).unwrap_or_else(|| if after.is_empty() { None } else { Some("") }))
    } else {
        match host_port.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        }
    };
    if host.is_empty() {
        return Err(UrlError::NoHost);
    }
    if !host_port.starts_with('[') && !host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')) {
        return Err(UrlError::Host);
    }
    match port.map(|p| p.parse::<u16>()) {
        None => Ok(()),
        Some(Ok(p)) if p > 0 => Ok(()),
        Some(_) => Err(UrlError::Port),
    }
}

fn percent_decode(s: &str) -> std::result::Result<String, UrlError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3).ok_or(UrlError::Percent)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| UrlError::Percent)?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| UrlError::Percent)
}

/// `text` with the user information of every `scheme://user:pass@host` in it replaced by `***`,
/// for messages that may quote a URL (TOML errors, GStreamer errors, logs).
///
/// Errs on the safe side: everything between `://` and the last `@` of the URL (which ends at
/// whitespace, a quote or an angle bracket) goes, so a password with an unencoded `/` is hidden
/// too, at the price of a path that holds an `@`.
pub fn redact_credentials(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        let (head, tail) = rest.split_at(pos + 3);
        out.push_str(head);
        let end = tail.find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '`' | '<' | '>')).unwrap_or(tail.len());
        let url = &tail[..end];
        match url.rfind('@') {
            Some(at) => {
                out.push_str("***");
                out.push_str(&url[at..]);
            }
            None => out.push_str(url),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_splits_into_location_and_decoded_credentials() {
        let url = RtspUrl::parse("rtsp://admin:p%40ss%2Fw@192.0.2.10:554/stream1?channel=1").unwrap();
        assert_eq!(url.location(), "rtsp://192.0.2.10:554/stream1?channel=1");
        assert_eq!(url.user(), Some("admin"));
        assert_eq!(url.password().unwrap().expose(), "p@ss/w");
        assert_eq!(url.to_string(), "rtsp://***@192.0.2.10:554/stream1?channel=1");
        assert!(!format!("{url:?}").contains("admin"));
    }

    #[test]
    fn an_unencoded_at_sign_in_the_password_still_splits_at_the_last_one() {
        let url = RtspUrl::parse("rtsps://u:a@b@cam.local/s").unwrap();
        assert_eq!((url.user(), url.password().map(Secret::expose)), (Some("u"), Some("a@b")));
        assert_eq!(url.location(), "rtsps://cam.local/s");
        assert!(url.is_tls());
    }

    #[test]
    fn ipv6_hosts_and_ports_parse() {
        assert_eq!(RtspUrl::parse("rtsp://[::1]:8554/x").unwrap().location(), "rtsp://[::1]:8554/x");
        assert_eq!(RtspUrl::parse("rtsp://[::1]").unwrap().host_port(), "[::1]");
        assert_eq!(RtspUrl::parse("rtsp://[::1]x"), Err(UrlError::Port));
    }

    #[test]
    fn bad_urls_are_refused_with_their_cause() {
        assert_eq!(RtspUrl::parse("http://cam/s"), Err(UrlError::Scheme));
        assert_eq!(RtspUrl::parse("cam/s"), Err(UrlError::Scheme));
        assert_eq!(RtspUrl::parse("rtsp:///s"), Err(UrlError::NoHost));
        assert_eq!(RtspUrl::parse("rtsp://cam:0/s"), Err(UrlError::Port));
        assert_eq!(RtspUrl::parse("rtsp://cam:99999/s"), Err(UrlError::Port));
        assert_eq!(RtspUrl::parse("rtsp://u:p%zz@cam/s"), Err(UrlError::Percent));
        assert_eq!(RtspUrl::parse("rtsp://cam /s"), Err(UrlError::Whitespace));
        // A '/' in an unencoded password cuts the authority short: "user:pa" is no host:port.
        assert_eq!(RtspUrl::parse("rtsp://user:pa/ss@cam/s"), Err(UrlError::Port));
    }

    #[test]
    fn redact_credentials_hides_every_userinfo() {
        let text = "a rtsp://u:p@h/x and `rtsps://only@h2` and 'rtsp://u:pa/ss@h3/s' and http://h4/p";
        assert_eq!(redact_credentials(text), "a rtsp://***@h/x and `rtsps://***@h2` and 'rtsp://***@h3/s' and http://h4/p");
    }
}
