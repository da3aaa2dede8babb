//! The RTSP camera source against a real RTSP server: `veilcam::testcam` (gst-rtsp-server,
//! x264) serving the sample clips, read back by `veilcam::source::rtsp::RtspSource` (rtspsrc,
//! decodebin). No fixed ports: every camera binds port 0, a restart reuses the port it got.
//! Every wait has a deadline, so a broken source fails a test instead of hanging it.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use gstreamer as gst;
use gst::prelude::*;
use veilcam::source::rtsp::{RetryReason, RtspOptions, RtspSource, SourceEvent, Transport};
use veilcam::source::FrameSource;
use veilcam::testcam::{self, FeedMode, TestCam, TestCamOptions};

/// Longest wait for the first frames from a camera that has just started.
const FIRST_FRAMES: Duration = Duration::from_secs(15);
/// The bounds: a camera that comes back gives frames within 5 s; a killed or frozen
/// one is noticed within 3 s.
const BACK_WITHIN: Duration = Duration::from_secs(5);
const NOTICED_WITHIN: Duration = Duration::from_secs(3);

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_media").join(name)
}

fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// Everything logged through `tracing` by this test binary, at every level.
fn captured_logs() -> &'static Mutex<Vec<u8>> {
    static LOGS: OnceLock<Mutex<Vec<u8>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        struct Capture;
        impl Write for Capture {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                captured_logs().lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(|| Capture)
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        Mutex::new(Vec::new())
    })
}

/// Starts capturing `tracing` output and GStreamer's own RTSP debug log (rtspsrc and the
/// RTSP connection, at DEBUG level; at LOG level rtspsrc prints whole RTSP messages,
/// the Authorization header included, which is why veilcam never raises it), where a location with credentials would show up.
fn start_capturing_logs() {
    let _ = captured_logs();
    static GST_LOG: OnceLock<()> = OnceLock::new();
    GST_LOG.get_or_init(|| {
        veilcam::init_gstreamer().unwrap();
        gst::log::remove_default_log_function();
        gst::log::set_threshold_from_string("rtsp*:5", false);
        gst::log::add_log_function(|category, _level, _file, _function, _line, _object, message| {
            if let Some(text) = message.get() {
                let line = format!("gst {}: {}\n", category.name(), text);
                captured_logs().lock().unwrap().extend_from_slice(line.as_bytes());
            }
        });
    });
}

/// Frames (and the events around them) collected from a source.
#[derive(Default)]
struct Seen {
    frames: Vec<gst::Buffer>,
    sizes: Vec<(u32, u32)>,
    segments: Vec<(u32, u32, bool, u64)>,
    disconnects: Vec<RetryReason>,
}

impl Seen {
    /// Records one event; returns whether it was a frame.
    fn record(&mut self, event: SourceEvent) -> bool {
        match event {
            SourceEvent::Frame(frame) => {
                self.sizes.push((frame.info.width(), frame.info.height()));
                self.frames.push(frame.buffer);
                true
            }
            SourceEvent::Segment { info, info_changed, reconnects } => {
                self.segments.push((info.width(), info.height(), info_changed, reconnects));
                false
            }
            SourceEvent::Disconnected { reason, .. } => {
                self.disconnects.push(reason);
                false
            }
            SourceEvent::Gap { .. } => false,
        }
    }
}

/// Reads events until `frames` more frames came, or fails after `within`. Checks on the way
/// that no call blocks longer than the stall timeout (plus scheduling slack).
fn read_frames(source: &mut RtspSource, seen: &mut Seen, frames: usize, within: Duration) {
    let deadline = Instant::now() + within;
    let max_call = RtspOptions::default().stall_timeout + Duration::from_millis(700);
    let mut got = 0;
    while got < frames {
        assert!(Instant::now() < deadline, "only {got} of {frames} frames within {within:?}; disconnects: {:?}", seen.disconnects);
        let started = Instant::now();
        let event = source.next_event().expect("a live source does not fail");
        assert!(started.elapsed() <= max_call, "next_event blocked for {:?}", started.elapsed());
        if seen.record(event) {
            got += 1;
        }
    }
}

/// A source reading `url` with `options`, and the first `frames` frames it read (within
/// [`FIRST_FRAMES`]).
fn watch(url: &str, options: RtspOptions, frames: usize) -> (RtspSource, Seen) {
    let mut source = RtspSource::open(url, options).unwrap();
    let mut seen = Seen::default();
    read_frames(&mut source, &mut seen, frames, FIRST_FRAMES);
    (source, seen)
}

/// Stops `cam` (a camera unplugged) and waits until `source` notices; returns the address to
/// start it again on and how long noticing took.
fn kill(cam: TestCam, source: &mut RtspSource, seen: &mut Seen) -> (SocketAddr, Duration) {
    let addr = SocketAddr::from(([127, 0, 0, 1], cam.port()));
    cam.stop();
    (addr, wait_for_disconnect(source, seen, NOTICED_WITHIN))
}

/// Reads events until a disconnect is reported; returns how long that took.
fn wait_for_disconnect(source: &mut RtspSource, seen: &mut Seen, within: Duration) -> Duration {
    let started = Instant::now();
    let before = seen.disconnects.len();
    while seen.disconnects.len() == before {
        assert!(started.elapsed() < within + Duration::from_secs(5), "no disconnect noticed");
        seen.record(source.next_event().expect("a live source does not fail"));
    }
    started.elapsed()
}

fn assert_strictly_increasing_from_zero(frames: &[gst::Buffer]) {
    let pts: Vec<u64> = frames.iter().map(|b| b.pts().expect("every frame has a PTS").nseconds()).collect();
    assert_eq!(pts[0], 0, "the first frame starts the timeline");
    for pair in pts.windows(2) {
        assert!(pair[1] > pair[0], "PTS went back or stood still: {pair:?}");
    }
}

/// A copy of faces.mp4 scaled to 640x360, made with GStreamer.
fn scaled_clip(dir: &Path) -> PathBuf {
    let out = dir.join("faces-640x360.mp4");
    let pipeline = gst::parse::launch(
        "filesrc name=in ! decodebin ! videoconvert ! videoscale ! video/x-raw,width=640,height=360 \
         ! x264enc speed-preset=ultrafast threads=1 ! mp4mux ! filesink name=out",
    )
    .expect("pipeline parses")
    .downcast::<gst::Bin>()
    .unwrap();
    pipeline.by_name("in").unwrap().set_property("location", sample("faces.mp4"));
    pipeline.by_name("out").unwrap().set_property("location", &out);
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let msg = bus
        .timed_pop_filtered(gst::ClockTime::from_seconds(60), &[gst::MessageType::Eos, gst::MessageType::Error])
        .expect("scaling finishes within a minute");
    pipeline.set_state(gst::State::Null).unwrap();
    assert!(matches!(msg.view(), gst::MessageView::Eos(..)), "scaling failed: {msg:?}");
    out
}

/// The engine runs each camera on its own thread; both ends must move there.
#[test]
fn the_source_and_the_test_camera_can_move_between_threads() {
    fn assert_send<T: Send>() {}
    assert_send::<RtspSource>();
    assert_send::<TestCam>();
}

#[test]
fn reads_twenty_frames_of_faces_from_a_test_camera() {
    let cam = testcam::serve(&sample("faces.mp4"), any_port(), "front_door").unwrap();
    assert_ne!(cam.port(), 0, "port 0 is replaced by the bound port");
    assert!(cam.url().ends_with("/front_door"), "{}", cam.url());
    let (_source, seen) = watch(cam.url(), RtspOptions::default(), 20);
    assert_eq!(seen.segments[0], (1280, 720, false, 0), "a segment announces the first frame");
    assert!(seen.sizes.iter().all(|&s| s == (1280, 720)));
    assert!(seen.disconnects.is_empty(), "{:?}", seen.disconnects);
    assert_strictly_increasing_from_zero(&seen.frames);
    assert!(seen.frames[0].flags().contains(gst::BufferFlags::DISCONT));
    // 20 frames at 25 fps span about 0.76 s of camera time.
    let span = seen.frames[19].pts().unwrap() - seen.frames[0].pts().unwrap();
    assert!(span >= gst::ClockTime::from_mseconds(600) && span <= gst::ClockTime::from_mseconds(1500), "{span}");
}

#[test]
fn the_test_camera_loops_its_clip_without_a_break() {
    // faces.mp4 is 100 frames (4 s); 110 frames cross the loop point.
    let cam = testcam::serve(&sample("faces.mp4"), any_port(), "cam").unwrap();
    let (_source, seen) = watch(cam.url(), RtspOptions::default(), 110);
    assert!(seen.disconnects.is_empty(), "{:?}", seen.disconnects);
    assert_eq!(seen.segments.len(), 1, "one segment: the loop is seamless for the client");
    assert_strictly_increasing_from_zero(&seen.frames);
    let span = seen.frames[109].pts().unwrap().mseconds();
    assert!((4000..=5000).contains(&span), "110 frames at 25 fps span {span} ms");
}

/// The H.264 access units of `pipeline`'s appsink named `units` (byte-stream, one access unit
/// per buffer), `n` of them or fewer by `within`; also the caps they came with.
fn pull_units(pipeline: &gst::Bin, n: usize, within: Duration) -> (Vec<gst::Buffer>, Option<gst::Caps>) {
    let sink = pipeline.by_name("units").unwrap().downcast::<gstreamer_app::AppSink>().unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let deadline = Instant::now() + within;
    let (mut units, mut caps) = (Vec::new(), None);
    while units.len() < n && Instant::now() < deadline {
        if let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_mseconds(200)) {
            caps = sample.caps().map(|c| c.to_owned());
            units.push(sample.buffer_owned().unwrap());
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    (units, caps)
}

/// `LOCATION ! h264parse ! byte-stream access units ! appsink name=units`.
fn units_pipeline(source: &str) -> gst::Bin {
    gst::parse::launch(&format!(
        "{source} ! h264parse ! video/x-h264,stream-format=byte-stream,alignment=au ! appsink name=units sync=false"
    ))
    .expect("pipeline parses")
    .downcast::<gst::Bin>()
    .unwrap()
}

#[test]
fn a_pass_through_test_camera_serves_the_clips_own_access_units_at_its_size_across_a_loop() {
    // faces.mp4 is H.264 (100 frames, B-frames, one key frame): served without re-encoding,
    // the client receives the clip's own access units, in the clip's order, loop after loop.
    let clip = sample("faces.mp4");
    let cam = testcam::serve(&clip, any_port(), "cam").unwrap();
    assert_eq!(cam.mode(), FeedMode::PassThrough);
    let file = units_pipeline(&format!("filesrc location={} ! qtdemux", clip.display()));
    let (originals, _) = pull_units(&file, 100, Duration::from_secs(30));
    assert_eq!(originals.len(), 100);

    let client = units_pipeline(&format!("rtspsrc location={} latency=100 ! rtph264depay", cam.url()));
    let (served, caps) = pull_units(&client, 115, FIRST_FRAMES + Duration::from_secs(5));
    assert_eq!(served.len(), 115, "115 access units cross the loop point");
    // The client's PLAY starts the clip again, from its key frame (a unit or two fed while the
    // client was being set up may come first).
    let start = served[..5].iter().rposition(|u| !u.flags().contains(gst::BufferFlags::DELTA_UNIT));
    let start = start.expect("the stream starts on a key frame within its first units");
    let served = &served[start..];
    assert!(served.len() > originals.len(), "{} units from the key frame do not cross the loop", served.len());
    let caps = caps.unwrap();
    let s = caps.structure(0).unwrap();
    assert_eq!((s.get::<i32>("width").unwrap(), s.get::<i32>("height").unwrap()), (1280, 720), "{caps}");
    // Key frames carry the parameter sets again; every other unit is the clip's, byte for byte.
    for (i, unit) in served.iter().enumerate() {
        let original = &originals[i % originals.len()];
        if original.flags().contains(gst::BufferFlags::DELTA_UNIT) {
            let (a, b) = (unit.map_readable().unwrap(), original.map_readable().unwrap());
            assert!(a.as_slice() == b.as_slice(), "access unit {i} differs from the clip's ({} vs {} bytes)", a.len(), b.len());
        }
    }
    // Decoded, the frames keep the clip's size and increasing timestamps across the loop.
    let (_source, seen) = watch(cam.url(), RtspOptions::default(), 110);
    assert!(seen.sizes.iter().all(|&s| s == (1280, 720)));
    assert_strictly_increasing_from_zero(&seen.frames);
}

#[test]
fn a_clip_that_is_not_h264_is_re_encoded_by_the_test_camera() {
    // vtest.avi is MS-MPEG4: it cannot be passed through.
    let cam = testcam::serve(&sample("vtest.avi"), any_port(), "cam").unwrap();
    assert_eq!(cam.mode(), FeedMode::Reencode);
    let (_source, seen) = watch(cam.url(), RtspOptions::default(), 5);
    assert!(seen.sizes.iter().all(|&s| s == (768, 576)), "{:?}", seen.sizes);
}

#[test]
fn reads_frames_over_udp_when_asked() {
    let cam = testcam::serve(&sample("faces.mp4"), any_port(), "cam").unwrap();
    let options = RtspOptions { transport: Transport::Udp, ..RtspOptions::default() };
    let (_source, seen) = watch(cam.url(), options, 10);
    assert!(seen.sizes.iter().all(|&s| s == (1280, 720)));
    assert_strictly_increasing_from_zero(&seen.frames);
}

#[test]
fn frames_flow_again_within_5s_of_a_killed_camera_restarting_on_its_port() {
    let clip = sample("faces.mp4");
    let cam = testcam::serve(&clip, any_port(), "cam").unwrap();
    let (mut source, mut seen) = watch(cam.url(), RtspOptions::default(), 5);

    let (addr, noticed) = kill(cam, &mut source, &mut seen);
    assert!(noticed <= NOTICED_WITHIN, "a killed camera was noticed only after {noticed:?}");
    // Noticed because the stream ended, not by waiting for a stall.
    assert!(!matches!(seen.disconnects[0], RetryReason::Stall(_)), "{:?}", seen.disconnects);
    // While the camera is away, the source keeps answering with gaps.
    let gap_started = Instant::now();
    match source.next_event_within(Duration::from_millis(300)).unwrap() {
        SourceEvent::Gap { since_last_frame } => assert!(since_last_frame.is_some()),
        other => panic!("expected a gap while the camera is away, got {other:?}"),
    }
    assert!(gap_started.elapsed() < Duration::from_millis(900));

    let cam = testcam::serve(&clip, addr, "cam").unwrap();
    let restarted = Instant::now();
    let (before, refused_before) = (seen.frames.len(), seen.disconnects.len());
    read_frames(&mut source, &mut seen, 5, FIRST_FRAMES);
    let first_new = &seen.frames[before];
    // A retry that meets the old session's media still tearing down gets gst-rtsp-server's 503
    // (see the frozen-camera test) and the next one comes 2 s later: one such refusal is
    // allowed for, and only when it happened.
    let refusals = seen.disconnects.len() - refused_before;
    let limit = BACK_WITHIN + Duration::from_secs(1) + Duration::from_secs(2) * refusals.min(1) as u32;
    assert!(restarted.elapsed() <= limit, "5 frames came {:?} after the restart; disconnects: {:?}", restarted.elapsed(), seen.disconnects);
    let segment = *seen.segments.last().unwrap();
    assert_eq!(segment, (1280, 720, false, 1), "a new segment after the reconnect");
    assert!(first_new.flags().contains(gst::BufferFlags::DISCONT));
    assert_strictly_increasing_from_zero(&seen.frames);
    drop(cam);
}

#[test]
fn a_killed_camera_restarted_within_the_backoff_gives_frames_within_5s() {
    // The time to the first frame after the restart, measured precisely (the test above also
    // checks order and segments).
    let clip = sample("faces.mp4");
    let cam = testcam::serve(&clip, any_port(), "cam").unwrap();
    let (mut source, mut seen) = watch(cam.url(), RtspOptions::default(), 3);
    let (addr, _) = kill(cam, &mut source, &mut seen);
    std::thread::sleep(Duration::from_millis(1500));
    let _cam = testcam::serve(&clip, addr, "cam").unwrap();
    let restarted = Instant::now();
    read_frames(&mut source, &mut seen, 1, BACK_WITHIN + Duration::from_secs(5));
    let took = restarted.elapsed();
    assert!(took <= BACK_WITHIN, "frames came back {took:?} after the restart");
}

#[test]
fn a_camera_back_with_another_resolution_gives_frames_of_the_new_size() {
    let dir = tempfile::tempdir().unwrap();
    veilcam::init_gstreamer().unwrap();
    let small = scaled_clip(dir.path());
    let cam = testcam::serve(&sample("faces.mp4"), any_port(), "cam").unwrap();
    let (mut source, mut seen) = watch(cam.url(), RtspOptions::default(), 3);
    let (addr, _) = kill(cam, &mut source, &mut seen);

    let _cam = testcam::serve(&small, addr, "cam").unwrap();
    let before = seen.frames.len();
    read_frames(&mut source, &mut seen, 5, FIRST_FRAMES);
    assert_eq!(*seen.segments.last().unwrap(), (640, 360, true, 1), "the change is announced");
    assert!(seen.sizes[before..].iter().all(|&s| s == (640, 360)), "{:?}", &seen.sizes[before..]);
    assert_eq!(source.info().map(|i| (i.width(), i.height())), Some((640, 360)));
    assert_strictly_increasing_from_zero(&seen.frames);
}

#[test]
fn a_frozen_camera_is_noticed_as_a_stall_within_3s() {
    let cam = testcam::serve(&sample("faces.mp4"), any_port(), "cam").unwrap();
    let (mut source, mut seen) = watch(cam.url(), RtspOptions::default(), 5);
    cam.freeze();
    let noticed = wait_for_disconnect(&mut source, &mut seen, NOTICED_WITHIN);
    assert!(matches!(seen.disconnects[0], RetryReason::Stall(_)), "{:?}", seen.disconnects);
    assert!(noticed <= NOTICED_WITHIN, "a frozen camera was noticed only after {noticed:?}");
    // Thawed, it is reconnected after the 1 s backoff. The stalled session's shared media may
    // still be tearing down when the first retry comes, and gst-rtsp-server answers that one
    // 503: the next retry (2 s later) gets frames. Allow for that one refusal.
    cam.thaw();
    read_frames(&mut source, &mut seen, 3, BACK_WITHIN + Duration::from_secs(3));
    assert_strictly_increasing_from_zero(&seen.frames);
}

#[test]
fn next_frame_returns_none_within_the_stall_timeout_while_no_camera_answers() {
    // Nothing listens on this port any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut source = RtspSource::open(&format!("rtsp://127.0.0.1:{port}/none"), RtspOptions::default()).unwrap();
    for _ in 0..2 {
        let started = Instant::now();
        assert!(source.next_frame().unwrap().is_none());
        assert!(started.elapsed() <= RtspOptions::default().stall_timeout + Duration::from_millis(500));
    }
}

#[test]
fn a_server_that_accepts_but_never_answers_is_a_failed_connect_after_the_connect_timeout() {
    // A TCP listener that takes the connection and says nothing, like a wedged camera.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = std::thread::spawn(move || listener.accept().map(|(stream, _)| stream));
    let options = RtspOptions { connect_timeout: Duration::from_secs(1), ..RtspOptions::default() };
    let mut source = RtspSource::open(&format!("rtsp://127.0.0.1:{port}/wedged"), options).unwrap();
    let mut seen = Seen::default();
    let took = wait_for_disconnect(&mut source, &mut seen, Duration::from_secs(3));
    assert!(matches!(&seen.disconnects[0], RetryReason::ConnectFailed(_)), "{:?}", seen.disconnects);
    assert!(took >= Duration::from_millis(900) && took <= Duration::from_secs(3), "{took:?}");
    drop(source);
    drop(held.join());
}

#[test]
fn a_test_camera_on_a_port_in_use_or_with_a_missing_clip_is_an_error_naming_it() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let err = testcam::serve(&sample("faces.mp4"), addr, "cam").unwrap_err().to_string();
    assert!(err.contains(&addr.to_string()) && err.contains("in use"), "the system's reason, not GStreamer's: {err}");
    let missing = sample("no-such-clip.mp4");
    let err = testcam::serve(&missing, any_port(), "cam").unwrap_err().to_string();
    assert!(err.contains("no-such-clip.mp4"), "{err}");
    let err = testcam::serve(&sample("faces.mp4"), any_port(), "bad mount?").unwrap_err().to_string();
    assert!(err.contains("bad mount?"), "{err}");
}

#[test]
fn a_test_camera_given_a_file_without_video_fails_at_once_naming_it() {
    // The camera decides pass-through or re-encode from one opening of the clip; a file that is
    // no media at all, or media without video, must still fail at start, quickly, naming it.
    veilcam::init_gstreamer().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("notes.mp4");
    std::fs::write(&text, "not a video, just some words\n".repeat(200)).unwrap();
    let audio = dir.path().join("tone.wav");
    let encode = format!("audiotestsrc num-buffers=20 ! wavenc ! filesink location={}", audio.display());
    let pipeline = gst::parse::launch(&encode).unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let bus = pipeline.bus().unwrap();
    let done = bus.timed_pop_filtered(gst::ClockTime::from_seconds(10), &[gst::MessageType::Eos, gst::MessageType::Error]);
    assert!(matches!(done.map(|m| m.type_()), Some(gst::MessageType::Eos)), "the audio file was written");
    pipeline.set_state(gst::State::Null).unwrap();
    for clip in [&text, &audio] {
        let started = Instant::now();
        let err = testcam::serve(clip, any_port(), "cam").unwrap_err().to_string();
        let name = clip.file_name().unwrap().to_str().unwrap();
        assert!(err.contains(name), "{err}");
        assert!(started.elapsed() < NOTICED_WITHIN, "{name}: the error took {:?}", started.elapsed());
    }
}

#[test]
fn credentials_never_appear_in_errors_logs_or_debug_output() {
    const PASSWORD: &str = "s3cr3t-pass";
    const WRONG: &str = "wr0ng-guess";
    start_capturing_logs();
    let options = TestCamOptions { credentials: Some(("viewer".into(), PASSWORD.into())) };
    let cam = testcam::serve_with(&sample("faces.mp4"), any_port(), "private", options.clone()).unwrap();
    assert!(!format!("{options:?}").contains(PASSWORD));
    let with = |pass: &str| cam.url().replacen("rtsp://", &format!("rtsp://viewer:{pass}@"), 1);

    // The right password gives frames.
    let mut good = RtspSource::open(&with(PASSWORD), RtspOptions::default()).unwrap();
    let mut seen = Seen::default();
    read_frames(&mut good, &mut seen, 3, FIRST_FRAMES);
    assert!(!format!("{good:?}").contains(PASSWORD), "{good:?}");
    assert_eq!(good.shown_url(), format!("rtsp://***@127.0.0.1:{}/private", cam.port()));

    // A wrong one is a failed connect whose reason names no secret.
    let mut bad = RtspSource::open(&with(WRONG), RtspOptions::default()).unwrap();
    let mut refused = Seen::default();
    wait_for_disconnect(&mut bad, &mut refused, NOTICED_WITHIN);
    let reason = &refused.disconnects[0];
    assert!(matches!(reason, RetryReason::ConnectFailed(_)), "{reason:?}");
    // Not an rtsp URL: the error names the URL without its password.
    let not_rtsp = RtspSource::open(&format!("http://viewer:{PASSWORD}@host/x"), RtspOptions::default()).unwrap_err();

    drop(good);
    drop(bad);
    drop(cam);
    let logs = String::from_utf8_lossy(&captured_logs().lock().unwrap()).into_owned();
    assert!(logs.contains("camera disconnected; retrying"), "the retry was logged: {logs}");
    assert!(logs.contains("***@127.0.0.1"), "the camera is named, redacted: {logs}");
    assert!(logs.contains("gst rtspsrc"), "GStreamer's RTSP log was captured too");
    let shown = [format!("{reason}"), format!("{reason:?}"), not_rtsp.to_string(), format!("{not_rtsp:?}"), logs];
    // Basic auth sends base64("viewer:PASSWORD"); its stem does not depend on the alignment.
    let encoded = ["dmlld2VyOnMzY3IzdC1wYXNz", "dmlld2VyOndyMG5nLWd1ZXNz"];
    for text in &shown {
        assert!(!text.contains(PASSWORD) && !text.contains(WRONG), "a password leaked: {text}");
        assert!(!encoded.iter().any(|e| text.contains(e)), "an Authorization header leaked: {text}");
    }
}
