//! `testcam`: a looping RTSP test camera, in process, for demos and tests.
//!
//! [`serve`] starts a gst-rtsp-server on its own GLib main context and thread. It serves one
//! clip, decoded by [`FileSource`] and played in real time (each frame is pushed when the wall
//! clock reaches its timestamp) in a loop forever, re-encoded as H.264 (`x264enc
//! tune=zerolatency`, one key frame a second) over RTP at `rtsp://ADDR/MOUNT`. All clients share
//! one media, like a real camera: what they see is "now", not the clip's start.
//!
//! The camera can misbehave on purpose, so reconnect logic can be tested against real RTSP:
//! [`TestCam::freeze`] stops the pictures while the RTSP session stays up (a hung encoder), and
//! [`TestCam::stop`] (or drop) closes every client connection and the listening socket (a camera
//! that was unplugged); [`serve`] again on the same port is the camera coming back.
//! [`TestCamOptions::credentials`] requires HTTP basic authentication.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer_app as gst_app;
use gstreamer_rtsp_server as rtsp_server;
use gst::glib;
use gst::prelude::*;
use rtsp_server::prelude::*;

use crate::error::{Error, Result};
use crate::source::file::FileSource;
use crate::source::FrameSource;

/// Threads the server may use. More than one: a pipeline that reads back from the same server
/// (a restream test) deadlocks with gst-rtsp-server's default of one.
const SERVER_THREADS: i32 = 4;
/// Longest wait for the server thread to bind its socket.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// Frames the encoder may have queued before older ones are dropped.
const QUEUED_FRAMES: u32 = 4;
/// How often an idle feeder (no client, or frozen) looks again.
const IDLE_POLL: Duration = Duration::from_millis(20);
/// A feeder that falls this far behind the wall clock starts pacing afresh instead of bursting.
const MAX_LATE: Duration = Duration::from_secs(1);
/// The role name given to the one authenticated user.
const ROLE: &str = "camera-viewer";

/// How the test camera behaves beyond the clip it serves.
#[derive(Clone, Default)]
pub struct TestCamOptions {
    /// `(user, password)`: clients must authenticate with HTTP basic auth.
    pub credentials: Option<(String, String)>,
}

impl std::fmt::Debug for TestCamOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let credentials = self.credentials.as_ref().map(|(user, _)| format!("{user}:***"));
        f.debug_struct("TestCamOptions").field("credentials", &credentials).finish()
    }
}

/// A running test camera. Dropping it stops it.
pub struct TestCam {
    url: String,
    port: u16,
    mount: String,
    control: Arc<FeedControl>,
    main_loop: glib::MainLoop,
    context: glib::MainContext,
    server: rtsp_server::RTSPServer,
    server_thread: Option<JoinHandle<()>>,
    feeder: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for TestCam {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCam").field("url", &self.url).finish_non_exhaustive()
    }
}

/// Shared between the camera's handle, the server's media and the feeder thread.
#[derive(Default)]
struct FeedControl {
    /// The encoder input of the media clients are watching, if any.
    appsrc: Mutex<Option<gst_app::AppSrc>>,
    frozen: AtomicBool,
    stop: AtomicBool,
}

/// Serves `clip` in a loop at `rtsp://ADDR/MOUNT` (port 0 picks a free port; see
/// [`TestCam::port`]).
pub fn serve(clip: &Path, addr: SocketAddr, mount: &str) -> Result<TestCam> {
    serve_with(clip, addr, mount, TestCamOptions::default())
}

/// [`serve`] with options (authentication).
pub fn serve_with(clip: &Path, addr: SocketAddr, mount: &str, options: TestCamOptions) -> Result<TestCam> {
    crate::init_gstreamer()?;
    crate::source::rtsp::require_elements(&[("rtph264pay", "gstreamer1.0-plugins-good")])?;
    let mount = normalise_mount(mount)?;
    // Opened once here so a clip that cannot be decoded fails now, naming the file.
    let probe = FileSource::open(clip)?;
    let caps = probe.caps().clone();
    let fps = probe.info().fps();
    drop(probe);
    let key_interval = if fps.numer() > 0 && fps.denom() > 0 { (fps.numer() / fps.denom()).max(1) } else { 25 };

    let control = Arc::new(FeedControl::default());
    let context = glib::MainContext::new();
    let main_loop = glib::MainLoop::new(Some(&context), false);
    let server = build_server(addr, &mount, &caps, key_interval, &options, &control)?;

    let (ready_tx, ready_rx) = mpsc::channel();
    let thread = {
        let (context, main_loop, server) = (context.clone(), main_loop.clone(), server.clone());
        std::thread::Builder::new()
            .name("testcam-server".into())
            .spawn(move || run_server(context, main_loop, server, ready_tx))
            .map_err(|e| Error::Pipeline(format!("testcam: cannot start the server thread: {e}")))?
    };
    let port = match ready_rx.recv_timeout(START_TIMEOUT) {
        Ok(Ok(port)) => port,
        Ok(Err(message)) => {
            let _ = thread.join();
            return Err(Error::Pipeline(format!("testcam: cannot listen on {addr}: {message}")));
        }
        Err(_) => {
            main_loop.quit();
            return Err(Error::Pipeline(format!("testcam: the server on {addr} did not start")));
        }
    };
    let feeder = {
        let (control, clip) = (Arc::clone(&control), clip.to_path_buf());
        std::thread::Builder::new()
            .name("testcam-feed".into())
            .spawn(move || feed(&clip, &control))
            .map_err(|e| Error::Pipeline(format!("testcam: cannot start the feeder thread: {e}")))?
    };
    let host = match addr.ip() {
        ip if ip.is_unspecified() => "127.0.0.1".to_string(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        ip => ip.to_string(),
    };
    let url = format!("rtsp://{host}:{port}{mount}");
    tracing::info!(%url, clip = %clip.display(), "test camera serving");
    Ok(TestCam {
        url,
        port,
        mount,
        control,
        main_loop,
        context,
        server,
        server_thread: Some(thread),
        feeder: Some(feeder),
    })
}

impl TestCam {
    /// `rtsp://HOST:PORT/MOUNT`, without credentials.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The port the server listens on (the real one when 0 was asked for).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops sending pictures while the RTSP session stays up, as a hung camera does.
    pub fn freeze(&self) {
        self.control.frozen.store(true, Ordering::SeqCst);
    }

    /// Sends pictures again after [`TestCam::freeze`].
    pub fn thaw(&self) {
        self.control.frozen.store(false, Ordering::SeqCst);
    }

    /// Closes every client connection and the listening socket, as an unplugged camera would.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.control.stop.store(true, Ordering::SeqCst);
        if let Some(feeder) = self.feeder.take() {
            let _ = feeder.join();
        }
        let Some(thread) = self.server_thread.take() else { return };
        // Clients are closed on the server's own context, then its loop ends and the thread
        // drops the listening socket.
        let (server, main_loop, mount) = (self.server.clone(), self.main_loop.clone(), self.mount.clone());
        self.context.invoke(move || {
            if let Some(mounts) = server.mount_points() {
                mounts.remove_factory(&mount);
            }
            // Sessions first, so no media is still streaming into a connection being closed.
            if let Some(sessions) = server.session_pool() {
                sessions.filter(Some(&mut |_, _| rtsp_server::RTSPFilterResult::Remove));
            }
            server.client_filter(Some(&mut |_, _| rtsp_server::RTSPFilterResult::Remove));
            main_loop.quit();
        });
        let _ = thread.join();
        if let Some(appsrc) = self.control.appsrc.lock().unwrap_or_else(|p| p.into_inner()).take() {
            drop(appsrc);
        }
        tracing::info!(url = %self.url, "test camera stopped");
    }
}

impl Drop for TestCam {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn normalise_mount(mount: &str) -> Result<String> {
    let trimmed = mount.trim_matches('/');
    let valid = !trimmed.is_empty()
        && trimmed.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    if !valid {
        return Err(Error::Settings(format!("testcam mount {mount:?}: use letters, digits, '-', '_', '.' and '/'")));
    }
    Ok(format!("/{trimmed}"))
}

fn build_server(
    addr: SocketAddr,
    mount: &str,
    caps: &gst::Caps,
    key_interval: i32,
    options: &TestCamOptions,
    control: &Arc<FeedControl>,
) -> Result<rtsp_server::RTSPServer> {
    let server = rtsp_server::RTSPServer::new();
    server.set_address(&addr.ip().to_string());
    server.set_service(&addr.port().to_string());
    let pool = rtsp_server::RTSPThreadPool::new();
    pool.set_max_threads(SERVER_THREADS);
    server.set_thread_pool(Some(&pool));

    let factory = rtsp_server::RTSPMediaFactory::new();
    factory.set_launch(&format!(
        "( appsrc name=feed is-live=true format=time do-timestamp=true max-buffers={QUEUED_FRAMES} leaky-type=downstream \
         ! videoconvert ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={key_interval} threads=1 \
         ! rtph264pay name=pay0 pt=96 config-interval=-1 )"
    ));
    factory.set_shared(true);
    let (caps, control) = (caps.clone(), Arc::clone(control));
    factory.connect_media_configure(move |_, media| {
        let Ok(bin) = media.element().downcast::<gst::Bin>() else { return };
        let Some(appsrc) = bin.by_name("feed").and_then(|e| e.downcast::<gst_app::AppSrc>().ok()) else { return };
        appsrc.set_caps(Some(&caps));
        *control.appsrc.lock().unwrap_or_else(|p| p.into_inner()) = Some(appsrc);
    });

    if let Some((user, pass)) = &options.credentials {
        let auth = rtsp_server::RTSPAuth::new();
        let token = rtsp_server::RTSPToken::builder().field(rtsp_server::RTSP_TOKEN_MEDIA_FACTORY_ROLE, ROLE).build();
        auth.add_basic(rtsp_server::RTSPAuth::make_basic(user, pass).as_str(), &token);
        server.set_auth(Some(&auth));
        let role = gst::Structure::builder(ROLE)
            .field(rtsp_server::RTSP_PERM_MEDIA_FACTORY_ACCESS, true)
            .field(rtsp_server::RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, true)
            .build();
        factory.add_role_from_structure(&role);
    }
    let mounts = server
        .mount_points()
        .ok_or_else(|| Error::Pipeline("testcam: the RTSP server has no mount points".into()))?;
    mounts.add_factory(mount, factory);
    Ok(server)
}

/// The server thread: binds the socket on `context`, reports the port, runs until quit.
fn run_server(
    context: glib::MainContext,
    main_loop: glib::MainLoop,
    server: rtsp_server::RTSPServer,
    ready: mpsc::Sender<std::result::Result<u16, String>>,
) {
    let guard = match context.acquire() {
        Ok(guard) => guard,
        Err(e) => {
            let _ = ready.send(Err(format!("cannot own the main context: {e}")));
            return;
        }
    };
    let source = match server.attach(Some(&context)) {
        Ok(source) => source,
        Err(e) => {
            let _ = ready.send(Err(e.to_string()));
            return;
        }
    };
    let port = server.bound_port();
    let remove = |source: glib::SourceId| {
        // The source lives on this context, not the default one `SourceId::remove` looks in.
        if let Some(source) = context.find_source_by_id(&source) {
            source.destroy();
        }
    };
    if ready.send(u16::try_from(port).map_err(|_| format!("bound to no port ({port})"))).is_err() {
        remove(source);
        return;
    }
    main_loop.run();
    remove(source);
    drop(guard);
}

/// Decodes `clip` in a loop and pushes each frame into the watched media when the wall clock
/// reaches it. Idle while nobody watches or while frozen.
fn feed(clip: &Path, control: &FeedControl) {
    while !control.stop.load(Ordering::SeqCst) {
        if let Err(e) = feed_once(clip, control) {
            tracing::warn!(clip = %clip.display(), error = %e, "testcam: cannot play the clip; trying again");
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

/// One pass over the clip.
fn feed_once(clip: &Path, control: &FeedControl) -> Result<()> {
    let mut source = FileSource::open(clip)?;
    let mut due = Instant::now();
    while let Some(frame) = source.next_frame()? {
        let length = frame.buffer.duration().map(|d| Duration::from_nanos(d.nseconds())).unwrap_or(Duration::from_millis(40));
        loop {
            if control.stop.load(Ordering::SeqCst) {
                return Ok(());
            }
            let watched = control.appsrc.lock().unwrap_or_else(|p| p.into_inner()).is_some();
            if watched && !control.frozen.load(Ordering::SeqCst) {
                break;
            }
            std::thread::sleep(IDLE_POLL);
            due = Instant::now();
        }
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        } else if now - due > MAX_LATE {
            due = now;
        }
        due += length;
        push(control, frame.buffer);
    }
    Ok(())
}

/// Pushes one frame; a media that went away (client gone) is forgotten.
fn push(control: &FeedControl, mut buffer: gst::Buffer) {
    let mut slot = control.appsrc.lock().unwrap_or_else(|p| p.into_inner());
    let Some(appsrc) = slot.as_ref() else { return };
    {
        let buffer = buffer.make_mut();
        // appsrc stamps the buffer with the pipeline's clock (do-timestamp).
        buffer.set_pts(gst::ClockTime::NONE);
        buffer.set_dts(gst::ClockTime::NONE);
    }
    if appsrc.push_buffer(buffer).is_err() {
        *slot = None;
    }
}
