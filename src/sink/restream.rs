//! The redacted restream: an RTSP server (gst-rtsp-server) with one mount per camera.
//!
//! One [`RtspServer`] serves every camera. It binds when it starts (port 0 picks a free port,
//! [`RtspServer::port`] tells which), runs its own GLib main loop on a thread and a thread pool
//! of [`SERVER_THREADS`] (the library's default of one deadlocks a client that reads back from
//! the same server). [`RtspServer::mount`] adds `/NAME` and returns its [`Restream`], the
//! [`FrameSink`] the pipeline feeds.
//!
//! Each mount is one shared media, so every client sees the same stream. A mount is fed either
//! raw frames ([`RtspServer::mount`], a [`Restream`]: `appsrc ! videoconvert ! x264enc
//! tune=zerolatency ! rtph264pay name=pay0`) or the H.264 another sink already encodes
//! ([`RtspServer::mount_encoded`], an [`EncodedRestream`]: `appsrc ! h264parse ! rtph264pay`):
//! `veilcam live` feeds the restream from the recorder's encoder, so a camera costs one encode,
//! not two. An encoded mount serves nothing to a new client until a key frame comes, and asks
//! the encoder for one. The media exists
//! only while a client is connected; frames pushed with no client, or before its media plays,
//! are dropped. Each frame is stamped with the media's running time when it is pushed
//! (`running_time`). The appsrc is live and leaky: it holds at most [`QUEUE_FRAMES`] frames and
//! drops the oldest when the encoder is behind, so a slow client never makes the pipeline wait
//! and never makes the server keep more than a few frames. New caps (a camera back at another
//! size) are set on the appsrc; the encoder starts again at the new size.
//!
//! Only what `push` is handed (already redacted) is ever served. With [`Credentials`], every
//! mount needs HTTP basic or digest auth; the password is never logged or printed (`Debug` hides it).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use gstreamer as gst;
use gstreamer_app as gst_app;
use gstreamer_rtsp_server as rtsp;
use gstreamer_video as gst_video;
use gst::glib;
use gst::prelude::*;
use rtsp::prelude::*;

use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::output::AtomicOutput;
use crate::sink::{Applied, FrameSink};

/// Threads of the server's pool (more than one: see the module docs).
pub const SERVER_THREADS: i32 = 4;
/// Frames the appsrc of a mount holds at most (the oldest is dropped beyond that).
pub const QUEUE_FRAMES: u64 = 3;
/// The role every authenticated user gets.
const ROLE: &str = "viewer";

/// A user name and password for the restream's authentication.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub user: String,
    pub password: String,
    /// HTTP digest (RFC 2617: the password never crosses the network) instead of basic.
    pub digest: bool,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &"<hidden>")
            .field("digest", &self.digest)
            .finish()
    }
}

/// Encoder choices of the restream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestreamSettings {
    /// x264 speed preset: `ultrafast` or `veryfast` keep up in real time.
    pub preset: String,
    /// Key frame interval in seconds (a client joining waits at most this for a picture).
    pub key_seconds: u32,
    /// x264 bitrate in kbit/s.
    pub bitrate_kbps: u32,
}

impl Default for RestreamSettings {
    fn default() -> Self {
        RestreamSettings { preset: "ultrafast".into(), key_seconds: 1, bitrate_kbps: 4000 }
    }
}

/// The RTSP server shared by every camera's restream.
pub struct RtspServer {
    server: rtsp::RTSPServer,
    addr: SocketAddr,
    main_loop: glib::MainLoop,
    context: glib::MainContext,
    thread: Option<JoinHandle<()>>,
    source: Option<glib::SourceId>,
    auth: bool,
    settings: RestreamSettings,
}

impl std::fmt::Debug for RtspServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtspServer").field("addr", &self.addr).field("auth", &self.auth).finish()
    }
}

impl RtspServer {
    /// Binds to `listen` (port 0: any free port) and starts serving.
    pub fn start(listen: SocketAddr, credentials: Option<&Credentials>, settings: RestreamSettings) -> Result<Self> {
        crate::init_gstreamer()?;
        let err = |message: String| Error::Pipeline(format!("restream on {listen}: {message}"));
        if !crate::sink::file::PRESETS.contains(&settings.preset.as_str()) {
            return Err(Error::Settings(format!("restream: unknown x264 preset '{}'", settings.preset)));
        }
        for element in ["x264enc", "rtph264pay"] {
            if gst::ElementFactory::find(element).is_none() {
                return Err(Error::MissingElement { path: "restream".into(), message: element.into() });
            }
        }
        let server = rtsp::RTSPServer::new();
        server.set_address(&listen.ip().to_string());
        server.set_service(&listen.port().to_string());
        let pool = rtsp::RTSPThreadPool::new();
        pool.set_max_threads(SERVER_THREADS);
        server.set_thread_pool(Some(&pool));
        if let Some(credentials) = credentials {
            let auth = rtsp::RTSPAuth::new();
            let token = rtsp::RTSPToken::builder().field(rtsp::RTSP_TOKEN_MEDIA_FACTORY_ROLE, ROLE).build();
            if credentials.digest {
                auth.add_digest(&credentials.user, &credentials.password, &token);
                auth.set_supported_methods(rtsp::gst_rtsp::RTSPAuthMethod::Digest);
            } else {
                let basic = rtsp::RTSPAuth::make_basic(&credentials.user, &credentials.password);
                auth.add_basic(basic.as_str(), &token);
            }
            server.set_auth(Some(&auth));
        }
        let context = glib::MainContext::new();
        let source = server.attach(Some(&context)).map_err(|e| err(format!("cannot bind: {}", bind_failure(listen, &e))))?;
        let port = server.bound_port();
        if port <= 0 {
            return Err(err("cannot bind".into()));
        }
        let addr = SocketAddr::new(listen.ip(), port as u16);
        let main_loop = glib::MainLoop::new(Some(&context), false);
        let running = main_loop.clone();
        let server_context = context.clone();
        let thread = std::thread::Builder::new()
            .name("veilcam-rtsp-server".into())
            .spawn(move || {
                context
                    .with_thread_default(|| running.run())
                    .unwrap_or_else(|e| tracing::error!(error = %e, "the RTSP server's main loop did not start"));
            })
            .map_err(|e| err(format!("cannot start the server thread: {e}")))?;
        tracing::info!(%addr, auth = credentials.is_some(), "restream listening");
        Ok(RtspServer { server, addr, main_loop, context: server_context, thread: Some(thread), source: Some(source), auth: credentials.is_some(), settings })
    }

    /// The address the server listens on (with the real port when 0 was asked for).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The URL of a camera's mount (without credentials).
    pub fn url(&self, camera: &str) -> String {
        format!("rtsp://{}/{camera}", self.addr)
    }

    /// Adds the mount `/camera`, fed raw frames: returns the sink that encodes and serves them.
    pub fn mount(&self, camera: &str) -> Result<Restream> {
        let state = self.add_mount(camera, &launch_line(&self.settings))?;
        Ok(Restream { state })
    }

    /// Adds the mount `/camera`, fed H.264 that is already encoded (by the recorder): returns
    /// the handle that serves it.
    pub fn mount_encoded(&self, camera: &str) -> Result<EncodedRestream> {
        let state = self.add_mount(camera, ENCODED_LAUNCH)?;
        Ok(EncodedRestream { state })
    }

    fn add_mount(&self, camera: &str, launch: &str) -> Result<Arc<MountState>> {
        let valid = !camera.is_empty() && camera.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
        if !valid {
            return Err(Error::Settings(format!("restream: camera name '{camera}' must be letters, digits, '_', '-' or '.'")));
        }
        let mounts = self.server.mount_points().ok_or_else(|| Error::Pipeline("restream: no mount points".into()))?;
        let state = Arc::new(MountState {
            camera: camera.to_string(),
            key_seconds: self.settings.key_seconds.max(1),
            appsrc: Mutex::new(None),
            caps: Mutex::new(None),
            key_frame_needed: AtomicBool::new(true),
        });
        let factory = rtsp::RTSPMediaFactory::new();
        factory.set_launch(launch);
        factory.set_shared(true);
        // A client leaving must not stop the stream the others watch; the last one leaving ends
        // the media, and the next client gets a fresh one.
        factory.set_stop_on_disconnect(false);
        if self.auth {
            let role = gst::Structure::builder(ROLE)
                .field(rtsp::RTSP_PERM_MEDIA_FACTORY_ACCESS, true)
                .field(rtsp::RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, true)
                .build();
            factory.add_role_from_structure(&role);
        }
        let configured = Arc::clone(&state);
        factory.connect_media_configure(move |_, media| configured.attach(media));
        mounts.add_factory(&format!("/{camera}"), factory);
        tracing::info!(camera, "restream mount added");
        Ok(state)
    }
}

/// Why the RTSP server could not listen on `listen`: GStreamer says only "Failed to attach main
/// context to RTSP server", so the operating system is asked (found by hostile use: a port in
/// use gave that message, not "address in use").
pub(crate) fn bind_failure(listen: SocketAddr, attach: &glib::BoolError) -> String {
    match std::net::TcpListener::bind(listen) {
        Err(e) => e.to_string(),
        Ok(_) => attach.to_string(),
    }
}

impl Drop for RtspServer {
    fn drop(&mut self) {
        // Close every client, which ends the media they watch: nothing is served after this.
        self.server.client_filter(Some(&mut |_, _| rtsp::RTSPFilterResult::Remove));
        // The source lives in the server's own context, not the default one.
        if let Some(source) = self.source.take().and_then(|id| self.context.find_source_by_id(&id)) {
            source.destroy();
        }
        if let Some(thread) = self.thread.take() {
            // A quit before the thread's `run` has started is lost (found by hostile use: a
            // server dropped right after its start, when the metrics port was taken, hung the
            // process): ask again until the thread has ended.
            while !thread.is_finished() {
                self.main_loop.quit();
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            let _ = thread.join();
        }
    }
}

fn launch_line(settings: &RestreamSettings) -> String {
    format!(
        "( appsrc name=frames is-live=true format=time block=false \
         max-bytes=0 max-buffers={QUEUE_FRAMES} leaky-type=downstream \
         ! videoconvert ! video/x-raw,format=I420 \
         ! x264enc name=encoder tune=zerolatency speed-preset={} key-int-max={} bitrate={} \
         ! rtph264pay name=pay0 pt=96 config-interval=-1 )",
        settings.preset,
        // Until the frame rate is known (set from the caps when a client connects), 30 fps.
        settings.key_seconds.max(1) * 30,
        settings.bitrate_kbps,
    )
}

/// The media of an encoded mount: the H.264 is only re-packetised.
const ENCODED_LAUNCH: &str = "( appsrc name=frames is-live=true format=time block=false \
     max-bytes=0 max-buffers=8 leaky-type=downstream \
     ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=-1 )";

/// What a mount's sink shares with the server's media callbacks.
struct MountState {
    camera: String,
    /// Seconds between key frames.
    key_seconds: u32,
    /// The appsrc of the media being served, while a client is connected.
    appsrc: Mutex<Option<gst_app::AppSrc>>,
    /// Caps of the latest frame (and, for raw frames, their video info), given to a media
    /// created later.
    caps: Mutex<Option<(Option<gst_video::VideoInfo>, gst::Caps)>>,
    /// An encoded mount's new media waits for a key frame (a client cannot decode before one).
    key_frame_needed: AtomicBool,
}

impl MountState {
    /// Takes the appsrc of a newly configured media.
    fn attach(self: &Arc<Self>, media: &rtsp::RTSPMedia) {
        let bin = media.element();
        let Some(appsrc) = bin
            .dynamic_cast_ref::<gst::Bin>()
            .and_then(|b| b.by_name_recurse_up("frames"))
            .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
        else {
            tracing::error!(camera = %self.camera, "restream media without its appsrc");
            return;
        };
        // The caps stay locked until the appsrc is stored, so a frame with new caps pushed
        // meanwhile either comes before (its caps are set here) or sees this appsrc (and sets
        // them itself): never neither, which left the stream without caps.
        let caps = self.caps.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, caps)) = &*caps {
            appsrc.set_caps(Some(caps));
        }
        if let Some((Some(info), _)) = &*caps {
            let fps = info.fps();
            if let Some(encoder) = bin.dynamic_cast_ref::<gst::Bin>().and_then(|b| b.by_name("encoder")) {
                if fps.numer() > 0 && fps.denom() > 0 {
                    let frames = (self.key_seconds as i32 * fps.numer() / fps.denom()).clamp(1, 600) as u32;
                    encoder.set_property("key-int-max", frames);
                }
            }
        }
        self.key_frame_needed.store(true, Ordering::SeqCst);
        *self.appsrc.lock().unwrap_or_else(|e| e.into_inner()) = Some(appsrc.clone());
        drop(caps);
        forget_when_unprepared(media, self, |state| &state.appsrc, &appsrc, |state| {
            tracing::debug!(camera = %state.camera, "restream media ended");
        });
        tracing::debug!(camera = %self.camera, "restream media started");
    }
}

/// Empties `owner`'s `slot` when `media` ends (its last client left) if the slot still holds
/// `appsrc`, the media's own: a media made for a newer client may already have taken its
/// place. Then calls `ended`. Neither the media nor `owner` keeps the other alive.
pub(crate) fn forget_when_unprepared<T: Send + Sync + 'static>(
    media: &rtsp::RTSPMedia,
    owner: &Arc<T>,
    slot: fn(&T) -> &Mutex<Option<gst_app::AppSrc>>,
    appsrc: &gst_app::AppSrc,
    ended: fn(&T),
) {
    let (owner, ours) = (Arc::downgrade(owner), appsrc.downgrade());
    media.connect_unprepared(move |_| {
        let Some(owner) = owner.upgrade() else { return };
        let mut current = slot(&owner).lock().unwrap_or_else(|e| e.into_inner());
        if current.as_ref().is_some_and(|a| ours.upgrade().as_ref() == Some(a)) {
            *current = None;
            drop(current);
            ended(&owner);
        }
    });
}

impl MountState {
    /// Pushes `buffer` (a raw frame or an encoded one) to the clients' stream, never waiting:
    /// a new reference to the same memory, stamped with the media's running time now. Dropped
    /// (`false`) while the media does not play yet (see [`running_time`]); a media going away
    /// (the last client left) drops it too.
    fn serve(&self, appsrc: &gst_app::AppSrc, buffer: &gst::BufferRef) -> bool {
        let Some(now) = running_time(appsrc) else { return false };
        let mut buffer = buffer.copy();
        {
            let buffer = buffer.get_mut().expect("a fresh copy is writable");
            buffer.set_pts(now);
            buffer.set_dts(now);
        }
        if let Err(flow) = appsrc.push_buffer(buffer) {
            tracing::debug!(camera = %self.camera, ?flow, "restream dropped a frame");
        }
        true
    }
}

/// The running time of `appsrc`'s media now, while the media plays; `None` before. On its way
/// to PLAYING a pipeline gives its elements the clock before their base time, and a running
/// time read in between is the clock's own time, hours ahead. A frame stamped so (appsrc's
/// `do-timestamp` stamped a new media's first frame so, about once in 40 starts on a loaded
/// machine) holds the server's RTP sink, which waits for that time, and every client with it.
pub(crate) fn running_time(appsrc: &gst_app::AppSrc) -> Option<gst::ClockTime> {
    // A bin sets its child's base time before changing the child's state: PLAYING means set.
    (appsrc.current_state() == gst::State::Playing).then(|| appsrc.current_running_time()).flatten()
}

/// The restream of one camera (a [`FrameSink`]).
pub struct Restream {
    state: Arc<MountState>,
}

impl Restream {
    /// Whether a client is watching (frames pushed now are served).
    pub fn has_clients(&self) -> bool {
        self.state.appsrc.lock().unwrap_or_else(|e| e.into_inner()).is_some()
    }

    /// Remembers the frame's caps and takes the appsrc of the media being served, under one
    /// lock with [`MountState::attach`]; the caps are `Some` when they are new.
    fn note_caps(&self, frame: &Frame) -> Result<(Option<gst::Caps>, Option<gst_app::AppSrc>)> {
        let mut current = self.state.caps.lock().unwrap_or_else(|e| e.into_inner());
        let appsrc = self.state.appsrc.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if current.as_ref().is_some_and(|(info, _)| info.as_ref() == Some(&*frame.info)) {
            return Ok((None, appsrc));
        }
        let caps = frame
            .info
            .to_caps()
            .map_err(|e| Error::Pipeline(format!("restream {}: frame caps: {e}", self.state.camera)))?;
        *current = Some((Some((*frame.info).clone()), caps.clone()));
        Ok((Some(caps), appsrc))
    }
}

impl FrameSink for Restream {
    /// Hands the frame to the clients' stream; dropped when nobody watches. Never waits.
    fn push(&mut self, frame: &Frame, _applied: &Applied<'_>) -> Result<()> {
        let (new_caps, appsrc) = self.note_caps(frame)?;
        let Some(appsrc) = appsrc else { return Ok(()) };
        if let Some(caps) = new_caps {
            tracing::info!(camera = %self.state.camera, %caps, "restream caps changed");
            appsrc.set_caps(Some(&caps));
        }
        self.state.serve(&appsrc, &frame.buffer);
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<Option<AtomicOutput>> {
        if let Some(appsrc) = self.state.appsrc.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = appsrc.end_of_stream();
        }
        Ok(None)
    }
}

/// The restream of one camera fed with H.264 another sink encodes (see
/// [`RtspServer::mount_encoded`]). Cloned into the encoder's output callback.
#[derive(Clone)]
pub struct EncodedRestream {
    state: Arc<MountState>,
}

impl std::fmt::Debug for EncodedRestream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncodedRestream").field("camera", &self.state.camera).finish()
    }
}

/// What became of one encoded frame handed to an [`EncodedRestream`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Served {
    /// Served to the clients, or nobody watches.
    Done,
    /// A client waits for a key frame: the frame was dropped, and the encoder should make the
    /// next one a key frame.
    NeedKeyFrame,
}

impl EncodedRestream {
    /// Whether a client is watching.
    pub fn has_clients(&self) -> bool {
        self.state.appsrc.lock().unwrap_or_else(|e| e.into_inner()).is_some()
    }

    /// Serves one encoded frame (H.264 access unit, with its caps); never waits.
    pub fn push(&self, sample: &gst::Sample) -> Served {
        let (Some(caps), Some(buffer)) = (sample.caps_owned(), sample.buffer()) else { return Served::Done };
        // Caps and appsrc under the caps lock, as in `MountState::attach`.
        let (new_caps, appsrc) = {
            let mut current = self.state.caps.lock().unwrap_or_else(|e| e.into_inner());
            let new = current.as_ref().is_none_or(|(_, c)| *c != caps);
            if new {
                *current = Some((None, caps.clone()));
            }
            (new, self.state.appsrc.lock().unwrap_or_else(|e| e.into_inner()).clone())
        };
        let Some(appsrc) = appsrc else { return Served::Done };
        if new_caps {
            tracing::info!(camera = %self.state.camera, %caps, "restream caps changed");
            appsrc.set_caps(Some(&caps));
            self.state.key_frame_needed.store(true, Ordering::SeqCst);
        }
        let key = !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
        let key_needed = self.state.key_frame_needed.load(Ordering::SeqCst);
        if key_needed && !key {
            return Served::NeedKeyFrame;
        }
        // A key frame dropped before the media plays is still needed.
        if self.state.serve(&appsrc, buffer) && key_needed {
            self.state.key_frame_needed.store(false, Ordering::SeqCst);
        }
        Served::Done
    }

    /// Ends the stream the clients watch.
    pub fn end(&self) {
        if let Some(appsrc) = self.state.appsrc.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = appsrc.end_of_stream();
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A media's live appsrc as a test has it: `appsrc ! fakesink` in a pipeline of its own,
    /// in state NULL (for the restream's and the test camera's tests).
    pub(crate) fn appsrc_into_fakesink() -> (gst::Pipeline, gst_app::AppSrc) {
        crate::init_gstreamer().unwrap();
        let appsrc = gst_app::AppSrc::builder().is_live(true).format(gst::Format::Time).build();
        let pipeline = gst::Pipeline::new();
        let sink = gst::ElementFactory::make("fakesink").property("async", false).build().unwrap();
        pipeline.add_many([appsrc.upcast_ref(), &sink]).unwrap();
        appsrc.link(&sink).unwrap();
        (pipeline, appsrc)
    }

    /// An appsrc in a pipeline on its way to PLAYING: it has the clock, not yet its base time.
    fn appsrc_before_playing() -> (gst::Pipeline, gst_app::AppSrc) {
        let (pipeline, appsrc) = appsrc_into_fakesink();
        pipeline.set_state(gst::State::Paused).unwrap();
        appsrc.set_clock(Some(&gst::SystemClock::obtain())).unwrap();
        (pipeline, appsrc)
    }

    #[test]
    fn a_media_on_its_way_to_playing_gives_no_running_time_to_stamp_with() {
        let (pipeline, appsrc) = appsrc_before_playing();
        let clock_now = gst::SystemClock::obtain().time();
        let trap = appsrc.current_running_time().expect("a clock and a base time of 0");
        assert!(trap >= clock_now, "read now, the running time is the clock's own time: {trap}");
        assert_eq!(running_time(&appsrc), None, "no stamp before the media plays");

        pipeline.set_state(gst::State::Playing).unwrap();
        let now = running_time(&appsrc).expect("a playing media has a running time");
        assert!(now < gst::ClockTime::from_seconds(10), "the media's running time, not the clock's: {now}");
        pipeline.set_state(gst::State::Null).unwrap();
    }

    #[test]
    fn a_frame_for_a_media_that_does_not_play_yet_is_dropped_not_stamped_with_the_clocks_time() {
        let (pipeline, appsrc) = appsrc_before_playing();
        let state = MountState {
            camera: "door".into(),
            key_seconds: 1,
            appsrc: Mutex::new(Some(appsrc.clone())),
            caps: Mutex::new(None),
            key_frame_needed: AtomicBool::new(false),
        };
        let frame = gst::Buffer::with_size(16).unwrap();
        assert!(!state.serve(&appsrc, &frame), "not served before the media plays");
        assert_eq!(appsrc.current_level_buffers(), 0, "nothing queued to be stamped later");

        pipeline.set_state(gst::State::Playing).unwrap();
        assert!(state.serve(&appsrc, &frame), "served once it plays");
        pipeline.set_state(gst::State::Null).unwrap();
    }

    /// Regression: the key frame a new media waits for was marked served even when it was
    /// dropped because the media did not play yet; the delta frames after it then reached the
    /// client, which could decode nothing until the next key frame.
    #[test]
    fn a_key_frame_dropped_before_the_media_plays_is_still_needed() {
        let (pipeline, appsrc) = appsrc_before_playing();
        let caps = gst::Caps::builder("video/x-h264").field("stream-format", "byte-stream").field("alignment", "au").build();
        let restream = EncodedRestream {
            state: Arc::new(MountState {
                camera: "door".into(),
                key_seconds: 1,
                appsrc: Mutex::new(Some(appsrc)),
                caps: Mutex::new(Some((None, caps.clone()))),
                key_frame_needed: AtomicBool::new(true),
            }),
        };
        let sample = |key: bool| {
            let mut buffer = gst::Buffer::with_size(16).unwrap();
            if !key {
                buffer.get_mut().unwrap().set_flags(gst::BufferFlags::DELTA_UNIT);
            }
            gst::Sample::builder().buffer(&buffer).caps(&caps).build()
        };
        assert_eq!(restream.push(&sample(true)), Served::Done, "the key frame is dropped, not refused");
        assert_eq!(restream.push(&sample(false)), Served::NeedKeyFrame, "no delta frame before a served key frame");

        pipeline.set_state(gst::State::Playing).unwrap();
        assert_eq!(restream.push(&sample(true)), Served::Done);
        assert_eq!(restream.push(&sample(false)), Served::Done, "the key frame was served: deltas follow");
        pipeline.set_state(gst::State::Null).unwrap();
    }
}
