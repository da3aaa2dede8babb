//! `veilcam live` end to end, with real parts only: `veilcam testcam` serves
//! `sample_media/faces.mp4` as a looping RTSP camera, `veilcam live` reads it, and a
//! GStreamer client (`rtspsrc ! decodebin`) reads the redacted restream back.
//!
//! Which faces.mp4 frame a received frame shows is found by comparing the background (the
//! faces masked out), so the ground truth of faces.json applies to it; a face counts as shown
//! when the received frame carries its fine detail ([`detail_gain`]).

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use gst::prelude::*;
use gstreamer as gst;
use gstreamer_app as gst_app;

/// A received face carrying more than this share of the source face's detail is visible
/// (the file tests use 0.08–0.18; two extra H.264 generations blur what is left).
const SHOWN: f64 = 0.25;
/// A frame counts as fully obscured when its mean luma is below this.
const BLACK: f64 = 20.0;

/// A child process killed when the test ends, however it ends. Its stderr is collected as
/// it comes, so a test can wait for a line and show everything on failure.
struct Proc {
    child: Option<Child>,
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// Collects stderr until the child closes it.
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Proc {
    fn spawn(cmd: &mut Command) -> Proc {
        let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("veilcam runs");
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (stderr, sink) = (child.stderr.take().unwrap(), std::sync::Arc::clone(&lines));
        let reader = std::thread::spawn(move || {
            for line in std::io::BufRead::lines(std::io::BufReader::new(stderr)).map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Proc { child: Some(child), lines, reader: Some(reader) }
    }

    fn stderr(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// The first word after `marker` on a stderr line, waiting up to a minute for it.
    fn wait_for(&self, marker: &str) -> String {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(60) {
            let found = self.lines.lock().unwrap().iter().find_map(|l| l.split_once(marker).map(|(_, rest)| rest.to_string()));
            if let Some(rest) = found {
                return rest.split_whitespace().next().unwrap_or_default().to_string();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("no line with {marker:?} within a minute:\n{}", self.stderr());
    }

    fn signal(&self, sig: libc::c_int) {
        let pid = self.child.as_ref().unwrap().id() as libc::pid_t;
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(pid, sig) };
    }

    /// Waits at most `limit` for the exit; returns the exit code and stderr.
    fn wait(mut self, limit: Duration) -> (Option<i32>, String) {
        let mut child = self.child.take().unwrap();
        let started = Instant::now();
        while child.try_wait().unwrap().is_none() {
            if started.elapsed() > limit {
                let _ = child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let code = child.wait().unwrap().code();
        // The last lines (the summary, the error) are read once the child has closed stderr
        // (a fixed pause was found too short on a loaded machine).
        let _ = self.reader.take().expect("waited once").join();
        (code, self.stderr())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn veilcam() -> Command {
    Command::new(env!("CARGO_BIN_EXE_veilcam"))
}

/// `veilcam testcam faces.mp4` on a port of its choosing; returns it and its URL.
fn testcam() -> (Proc, String) {
    let cam = Proc::spawn(veilcam().arg("testcam").arg(sample("faces.mp4")).args(["--port", "0"]));
    let url = cam.wait_for(" in a loop at ");
    (cam, url)
}

/// `veilcam live` on a config for one camera reading the test camera at `cam_url` with
/// credentials in the URL, restreaming on a port of its choosing; returns it and the
/// restream URL.
fn live(dir: &Path, cam_url: &str, extra: &str, env: &[(&str, &str)]) -> (Proc, String) {
    start_live(&mut live_command(dir, cam_url, extra, env))
}

/// The command [`live`] runs.
fn live_command(dir: &Path, cam_url: &str, extra: &str, env: &[(&str, &str)]) -> Command {
    let source = cam_url.replacen("rtsp://", "rtsp://user:SECRET-PASSWORD@", 1);
    let text = format!(
        "[live]\nlisten = \"127.0.0.1:0\"\nrecordings = \"{}\"\nsegment_seconds = 2\n{extra}\n\
         [cameras.door]\nsource = \"{source}\"\n",
        dir.join("recordings").display()
    );
    let config = dir.join("live.toml");
    std::fs::write(&config, text).unwrap();
    let mut cmd = veilcam();
    cmd.arg("live").arg("--config").arg(&config).args(["--workers", "1"]).env("VEILCAM_HOME", dir.join("home"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Starts `veilcam live` and waits for its restream URL.
fn start_live(cmd: &mut Command) -> (Proc, String) {
    let proc = Proc::spawn(cmd);
    let url = proc.wait_for("redacted restream at ");
    (proc, url)
}

/// A connection that has brought no frame for this long is given up and made again, as a
/// viewer or NVR does.
const SILENT_CONNECTION: Duration = Duration::from_secs(15);

/// Reads the luma frames of the RTSP stream at `url`, handing each to `take` with its size
/// (the rows padded to their stride), until `take` says it has enough or `limit` passes.
/// Connects again whenever the stream breaks (the camera behind it went away, or the server
/// refused a client while an earlier media was tearing down) or stays silent for
/// [`SILENT_CONNECTION`]. Returns whether `take` had enough.
fn read_luma(url: &str, limit: Duration, mut take: impl FnMut((usize, usize), &[u8]) -> bool) -> bool {
    init();
    let started = Instant::now();
    let mut enough = false;
    while !enough && started.elapsed() < limit {
        let mut last_frame = Instant::now();
        let pipeline = gst::parse::launch(&format!(
            "rtspsrc location={url} protocols=tcp latency=100 ! decodebin ! videoconvert ! video/x-raw,format=GRAY8 ! appsink name=out sync=false"
        ))
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
        let sink = pipeline.by_name("out").unwrap().downcast::<gst_app::AppSink>().unwrap();
        pipeline.set_state(gst::State::Playing).unwrap();
        while !enough && started.elapsed() < limit {
            let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_mseconds(500)) else {
                if sink.is_eos() || pipeline.bus().unwrap().pop_filtered(&[gst::MessageType::Error]).is_some() {
                    break;
                }
                if last_frame.elapsed() > SILENT_CONNECTION {
                    eprintln!("no frame from {url} for {SILENT_CONNECTION:?}: connecting again");
                    break;
                }
                continue;
            };
            last_frame = Instant::now();
            let caps = sample.caps().unwrap().structure(0).unwrap().to_owned();
            let (w, h) = (caps.get::<i32>("width").unwrap() as usize, caps.get::<i32>("height").unwrap() as usize);
            let map = sample.buffer().unwrap().map_readable().unwrap();
            enough = take((w, h), map.as_slice());
        }
        pipeline.set_state(gst::State::Null).unwrap();
        if !enough {
            std::thread::sleep(Duration::from_millis(300));
        }
    }
    enough
}

/// Reads `n` luma frames of the RTSP stream at `url` (served by `server`), retrying the
/// connection until `limit`.
fn read_restream(url: &str, n: usize, limit: Duration, server: &Proc) -> Vec<Vec<u8>> {
    let mut frames: Vec<Vec<u8>> = Vec::new();
    read_luma(url, limit, |(w, h), data| {
        assert_eq!((w, h), (FACES_W, FACES_H), "the restream keeps the camera's size");
        let stride = data.len() / h;
        frames.push((0..h).flat_map(|y| data[y * stride..y * stride + w].to_vec()).collect());
        frames.len() >= n
    });
    assert!(frames.len() >= n, "only {} of {n} frames of {url} within {limit:?}; its server said:\n{}", frames.len(), server.stderr());
    frames
}

/// The faces.mp4 frame `frame` shows: the one whose background (faces masked out, every 4th
/// pixel) differs least.
fn matching_source(frame: &[u8], source: &[Vec<u8>], truth: &[(u64, Vec<FaceBox>)]) -> usize {
    let outside = |i: usize, x: usize, y: usize| {
        truth[i].1.iter().all(|f| {
            let g = f.grown(1.6);
            (x as f64) < g.x1 || (x as f64) > g.x2 || (y as f64) < g.y1 || (y as f64) > g.y2
        })
    };
    (0..source.len())
        .min_by_key(|&i| {
            let mut diff = 0u64;
            for y in (0..FACES_H).step_by(4) {
                for x in (0..FACES_W).step_by(4) {
                    if outside(i, x, y) {
                        diff += (frame[y * FACES_W + x] as i64 - source[i][y * FACES_W + x] as i64).unsigned_abs();
                    }
                }
            }
            diff
        })
        .unwrap()
}

/// Live mode looks ahead only 200 ms: a face the detector misses in one frame, or one that moves
/// while the machine is too busy to look at every frame (load shedding), shows in that frame.
/// File mode with `--lookahead 0` measures the same limit (docs/evaluation.md). The restream
/// may show at most this share of the face-frames it carries; the camera itself shows all.
const LIVE_MISS_ALLOWANCE: f64 = 0.03;

/// The faces still shown in `frames`, as messages.
fn shown_faces(frames: &[Vec<u8>]) -> Vec<String> {
    shown_faces_by_source(frames).into_iter().map(|(_, s)| s).collect()
}

/// Fails when more than [`LIVE_MISS_ALLOWANCE`] of the face-frames in `frames` show, or when
/// any face shows where the test camera's stream jumps: in a frame of the clip's first two
/// (where it loops, or starts again for a new client: a cut either way).
fn assert_faces_hidden(what: &str, frames: &[Vec<u8>]) {
    let truth = faces_truth();
    let face_frames: usize = frames.len() * truth.iter().map(|(_, f)| f.len()).max().unwrap_or(0);
    let shown = shown_faces_by_source(frames);
    assert!(
        (shown.len() as f64) <= LIVE_MISS_ALLOWANCE * face_frames as f64,
        "{what}: {} of about {face_frames} face-frames visible:\n{}",
        shown.len(),
        shown.iter().map(|(_, s)| s.as_str()).collect::<Vec<_>>().join("\n")
    );
    // Regression: where the camera loops, the frame without a look of its own showed all three
    // faces, the tracker's boxes being where they had been; and where the stream jumped back
    // to the clip's start from 1.5 s into it, the recording showed them for two frames, a jump
    // the picture test did not yet call a cut. A cut gets its own look, and nothing from
    // before it stands in for one.
    let at_cut: Vec<&str> = shown.iter().filter(|(i, _)| *i <= 1).map(|(_, s)| s.as_str()).collect();
    assert!(at_cut.is_empty(), "{what}: faces shown where the camera's stream jumps:\n{}", at_cut.join("\n"));
}

/// For each received frame, the faces of its source frame that still show, with that source
/// frame's index.
fn shown_faces_by_source(frames: &[Vec<u8>]) -> Vec<(usize, String)> {
    static SOURCE: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    let source = SOURCE.get_or_init(|| decode_gray(&sample("faces.mp4")));
    let truth = faces_truth();
    let mut shown = Vec::new();
    for (n, frame) in frames.iter().enumerate() {
        let i = matching_source(frame, source, &truth);
        for face in &truth[i].1 {
            let px = face.ellipse_pixels(FACES_W, FACES_H);
            let gain = detail_gain(&source[i], frame, FACES_W, &px);
            if gain > SHOWN {
                shown.push((i, format!("received frame {n} (source frame {i}) face {}: {gain:.2}", face.id)));
            }
        }
    }
    shown
}

fn mean(frame: &[u8]) -> f64 {
    frame.iter().map(|&v| v as f64).sum::<f64>() / frame.len() as f64
}

#[test]
fn the_restream_and_the_recording_of_a_live_camera_hide_every_face() {
    let dir = tempfile::tempdir().unwrap();
    let (cam, cam_url) = testcam();
    let (live, restream) = live(dir.path(), &cam_url, "", &[]);

    // The measure sees faces in the camera's own stream: it can fail. (40 frames: a client that
    // joins between key frames first gets up to a second of grey pictures.)
    let raw = read_restream(&cam_url, 40, Duration::from_secs(60), &cam);
    assert!(shown_faces(&raw).len() >= 10, "the camera shows faces: {:?}", shown_faces(&raw));

    let frames = read_restream(&restream, 40, Duration::from_secs(60), &live);
    // (The 40 frames read hold the loop in about 2 runs of 5.)
    assert_faces_hidden("the restream", &frames);

    // A whole segment is recorded before the stop (the restream may be read while the models
    // still load on a slow machine, so the frames read are no measure of what was recorded).
    let camera_dir = dir.path().join("recordings/door");
    let full_segment = || {
        let index = std::fs::read_to_string(camera_dir.join("index.jsonl")).unwrap_or_default();
        index.lines().any(|l| serde_json::from_str::<serde_json::Value>(l).is_ok_and(|r| r["frames"].as_u64() >= Some(35)))
    };
    assert!(wait_until(Duration::from_secs(60), full_segment), "no whole segment recorded:\n{}", live.stderr());
    // SIGTERM closes the current segment: exit 0, no unfinished file, every segment indexed.
    live.signal(libc::SIGTERM);
    let (code, err) = live.wait(Duration::from_secs(30));
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("SECRET-PASSWORD"), "credentials in the log:\n{err}");
    // The audit log has the start and the stop, without the camera's credentials.
    let audit = std::fs::read_to_string(dir.path().join("home/audit.jsonl")).unwrap();
    assert!(audit.contains("\"live.start\"") && audit.contains("\"live.stop\""), "{audit}");
    assert!(!audit.contains("SECRET-PASSWORD"), "{audit}");
    let names = dir_entries(&camera_dir);
    let segments: Vec<&String> = names.iter().filter(|n| n.ends_with(".mp4")).collect();
    assert!(segments.len() >= 2, "segments: {names:?}");
    assert!(!names.iter().any(|n| n.contains(".part") || n.starts_with(".tmp")), "unfinished files: {names:?}");
    let index = std::fs::read_to_string(camera_dir.join("index.jsonl")).unwrap();
    // Segments are 2 s long (50 frames), not cut at every jitter of the camera's timestamps.
    let counts: Vec<u64> = index.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["frames"].as_u64().unwrap()).collect();
    // (Before the fix every segment held 2–4 frames. On a busy machine a stall and reconnect
    // legitimately starts a short one, so one full segment is asked for, not all.)
    assert!(counts.iter().any(|&n| n >= 35), "frames per segment: {counts:?}");
    for name in &segments {
        assert!(index.contains(name.as_str()), "{name} is not in the index");
        let recorded: Vec<Vec<u8>> = decode_gray(&camera_dir.join(name));
        assert!(!recorded.is_empty(), "{name} decodes");
        assert_faces_hidden(name, &recorded);
    }
}

#[test]
fn frames_whose_detection_is_late_leave_fully_obscured_never_raw() {
    let dir = tempfile::tempdir().unwrap();
    let (_cam, cam_url) = testcam();
    // Every detection takes 400 ms longer than the budget allows.
    let (live, restream) = live(dir.path(), &cam_url, "latency_budget_ms = 100", &[("VEILCAM_DETECTOR_DELAY_MS", "400")]);
    let frames = read_restream(&restream, 30, Duration::from_secs(60), &live);
    let leaks = shown_faces(&frames);
    assert!(leaks.is_empty(), "faces visible while detection is late:\n{}", leaks.join("\n"));
    let black = frames.iter().filter(|f| mean(f) < BLACK).count();
    assert!(black * 2 > frames.len(), "most frames are obscured whole ({black} of {})", frames.len());
    live.signal(libc::SIGINT);
    let (code, err) = live.wait(Duration::from_secs(30));
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("obscured for the deadline"), "{err}");
}

/// Regression (session 38): with `late_frames = "drop"` the frames detection fell behind for
/// were counted as sent (`frames_out`, `frames_obscured_deadline`), `frames_dropped` stayed at
/// 0, and `/healthz` called a camera healthy that had sent nothing at all.
#[test]
fn frames_dropped_for_the_deadline_count_as_dropped_and_a_camera_sending_none_is_unhealthy() {
    let dir = tempfile::tempdir().unwrap();
    let (_cam, cam_url) = testcam();
    let extra = "latency_budget_ms = 100\nlate_frames = \"drop\"\nmetrics = \"127.0.0.1:0\"";
    let (live, _restream) = live(dir.path(), &cam_url, extra, &[("VEILCAM_DETECTOR_DELAY_MS", "400")]);
    let addr: std::net::SocketAddr = live.wait_for("veilcam: metrics at http://").trim_end_matches(',').trim_end_matches("/metrics").parse().unwrap();
    let count = |text: &str, name: &str| -> u64 { metric_sample(text, &format!("veilcam_{name}{{camera=\"door\"}}")).parse().unwrap() };
    let started = Instant::now();
    let text = loop {
        let text = http(addr, "GET", "/metrics").body;
        if count(&text, "frames_dropped_total") >= 20 || started.elapsed() > Duration::from_secs(60) {
            break text;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(count(&text, "frames_dropped_total") >= 20, "{text}\n{}", live.stderr());
    assert_eq!(count(&text, "frames_out_total"), 0, "{text}");
    assert_eq!(count(&text, "frames_obscured_deadline_total"), 0, "{text}");
    // Every look comes back 300 ms past the budget: the frames that had one count as late.
    let late = count(&text, "frames_look_late_total");
    assert!(late > 0 && late <= count(&text, "frames_dropped_total"), "{text}");
    let health = http(addr, "GET", "/healthz");
    assert_eq!(health.status, 503, "a camera that sends nothing is healthy: {}", health.body);
    assert!(health.body.contains("\"seconds_since_frame_out\":null"), "{}", health.body);
    live.signal(libc::SIGINT);
    let (code, err) = live.wait(Duration::from_secs(30));
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("dropped for the deadline"), "the summary says what became of the frames:\n{err}");
}

/// Sizes of the frames of the RTSP stream at `url` until `enough` of them are `want`, or
/// `limit`; connects again whenever the stream breaks (the camera behind it went away).
fn restream_sizes_until(url: &str, want: (usize, usize), enough: usize, limit: Duration) -> Vec<(usize, usize)> {
    let mut sizes = Vec::new();
    read_luma(url, limit, |size, _| {
        sizes.push(size);
        sizes.iter().filter(|&&s| s == want).count() >= enough
    });
    sizes
}

/// Polls `done` every 50 ms until it holds or `limit` passes; returns whether it held.
fn wait_until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while !done() {
        if started.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

/// Whether the recorder of `camera_dir` writes a segment: past its claim and its recovery.
fn recording_started(camera_dir: &Path) -> bool {
    let mut entries = std::fs::read_dir(camera_dir).into_iter().flatten().flatten();
    entries.any(|e| e.file_name().to_string_lossy().ends_with(".mp4.part"))
}

/// Found by hostile use: a second `veilcam live` with the same recordings announced a restream
/// that never served, then failed. It is refused before it announces anything.
#[test]
fn a_second_live_with_the_same_recordings_is_refused_before_it_announces_a_restream() {
    let dir = tempfile::tempdir().unwrap();
    let (_cam, cam_url) = testcam();
    let (first, _restream) = live(dir.path(), &cam_url, "", &[]);
    let camera_dir = dir.path().join("recordings/door");
    assert!(wait_until(Duration::from_secs(60), || recording_started(&camera_dir)), "the first live never started recording\n{}", first.stderr());
    let second = live_command(dir.path(), &cam_url, "", &[]).output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&second.stdout), String::from_utf8_lossy(&second.stderr));
    assert_eq!(second.status.code(), Some(1), "{said}");
    assert!(said.contains("another recorder is recording this camera"), "{said}");
    assert!(!said.contains("restream at"), "a restream that never serves was announced: {said}");
    first.signal(libc::SIGINT);
    let (code, err) = first.wait(Duration::from_secs(30));
    assert_eq!(code, Some(0), "the first live goes on: {err}");
}

/// Found by hostile use: with one camera's recording directory a file (or its index corrupt),
/// both restreams were announced, that camera was never served and nothing was logged;
/// `/healthz` called it stale, and the cause came out only at shutdown. Every camera's
/// recordings are checked before anything is announced.
#[test]
fn a_camera_that_cannot_record_is_refused_before_any_restream_is_announced() {
    let dir = tempfile::tempdir().unwrap();
    let recordings = dir.path().join("recordings");
    std::fs::create_dir_all(&recordings).unwrap();
    // No camera is needed: recordings are checked before any camera is read.
    std::fs::write(recordings.join("door"), "x").unwrap();
    let live = Proc::spawn(&mut live_command(dir.path(), "rtsp://127.0.0.1:9/none", "", &[]));
    let (code, err) = live.wait(Duration::from_secs(20));
    assert_eq!(code, Some(1), "refused at once, not run (killed after 20 s: no exit code): {err}");
    assert!(err.contains("camera door") && err.contains("recordings/door") && err.contains("not a directory"), "{err}");
    assert!(!err.contains("restream at"), "a restream that never serves was announced: {err}");

    std::fs::remove_file(recordings.join("door")).unwrap();
    std::fs::create_dir(recordings.join("door")).unwrap();
    std::fs::write(recordings.join("door/index.jsonl"), "{\"file\": 1}\n").unwrap();
    let live = Proc::spawn(&mut live_command(dir.path(), "rtsp://127.0.0.1:9/none", "", &[]));
    let (code, err) = live.wait(Duration::from_secs(20));
    assert_eq!(code, Some(1), "refused at once, not run (killed after 20 s: no exit code): {err}");
    assert!(err.contains("camera door") && err.contains("index.jsonl: line 1"), "{err}");
    assert!(!err.contains("restream at"), "a restream that never serves was announced: {err}");
}

#[test]
fn a_camera_that_comes_back_at_another_size_goes_on_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (cam, cam_url) = testcam();
    let port = cam_url.rsplit_once(':').unwrap().1.split('/').next().unwrap().to_string();
    let (live, restream) = live(dir.path(), &cam_url, "", &[]);
    let before = restream_sizes_until(&restream, (FACES_W, FACES_H), 10, Duration::from_secs(60));
    assert!(before.iter().filter(|&&s| s == (FACES_W, FACES_H)).count() >= 10, "{before:?}\n{}", live.stderr());

    // The camera reboots with another configuration: same URL, 768x576 at 10 fps.
    drop(cam);
    let cam = Proc::spawn(veilcam().arg("testcam").arg(sample("vtest.avi")).args(["--port", &port]));
    cam.wait_for(" in a loop at ");
    let after = restream_sizes_until(&restream, (768, 576), 10, Duration::from_secs(60));
    assert!(after.iter().filter(|&&s| s == (768, 576)).count() >= 10, "the restream never showed the new size: {after:?}\n{}", live.stderr());

    live.signal(libc::SIGINT);
    let (code, err) = live.wait(Duration::from_secs(30));
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("reconnect") || err.contains("retrying"), "the disconnect is logged: {err}");
    // The recording went on too: a segment at each size, all indexed and playable.
    let camera_dir = dir.path().join("recordings/door");
    let index = std::fs::read_to_string(camera_dir.join("index.jsonl")).unwrap();
    let sizes: Vec<usize> = index
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["file"].as_str().unwrap().to_string())
        .map(|name| decode_gray(&camera_dir.join(name)).first().map_or(0, Vec::len))
        .collect();
    assert!(sizes.contains(&(FACES_W * FACES_H)), "no segment at the first size: {sizes:?}");
    assert!(sizes.contains(&(768 * 576)), "no segment at the new size: {sizes:?}");
}

#[test]
fn the_restream_keeps_serving_black_filler_frames_while_the_camera_is_away() {
    // A viewer (or NVR) on the restream must not time out while the camera reconnects: from
    // about a second without camera frames, black frames at the last size keep coming on the
    // same connection, and the camera's pictures follow once it is back.
    let dir = tempfile::tempdir().unwrap();
    let (cam, cam_url) = testcam();
    let port = cam_url.rsplit_once(':').unwrap().1.split('/').next().unwrap().to_string();
    let (live, restream) = live(dir.path(), &cam_url, "", &[]);
    let mut cam = Some(cam);
    let (mut restarted, mut killed_at) = (None, None);
    let mut arrivals: Vec<(Instant, bool)> = Vec::new();
    let (mut black_while_away, mut pictures_after) = (0, 0);
    read_luma(&restream, Duration::from_secs(90), |(w, h), data| {
        assert_eq!((w, h), (FACES_W, FACES_H), "filler frames keep the camera's size");
        let stride = data.len() / h;
        let luma: Vec<u8> = (0..h).flat_map(|y| data[y * stride..y * stride + w].to_vec()).collect();
        let black = mean(&luma) < BLACK;
        arrivals.push((Instant::now(), black));
        let pictures = arrivals.iter().filter(|(_, b)| !b).count();
        if killed_at.is_none() && pictures >= 20 {
            drop(cam.take()); // the camera is unplugged
            killed_at = Some(Instant::now());
        }
        if let Some(killed) = killed_at {
            if restarted.is_none() {
                black_while_away += usize::from(black);
                // Three seconds away (past the stall and a reconnect attempt) and a second of
                // filler seen (a loaded machine starts it later), then it is back.
                if killed.elapsed() > Duration::from_secs(3) && black_while_away >= 25 {
                    let back = Proc::spawn(veilcam().arg("testcam").arg(sample("faces.mp4")).args(["--port", &port]));
                    back.wait_for(" in a loop at ");
                    restarted = Some(back);
                    arrivals.push((Instant::now(), true)); // waiting for it was no gap in the stream
                }
            } else {
                pictures_after += usize::from(!black);
            }
        }
        pictures_after >= 10
    });
    // The camera is restarted from the restream's frames: none while it is away, no restart.
    assert!(restarted.is_some(), "no frames while the camera was away ({} in all)\n{}", arrivals.len(), live.stderr());
    assert!(pictures_after >= 10, "the camera's pictures did not come back: {pictures_after}\n{}", live.stderr());
    assert!(black_while_away >= 25, "only {black_while_away} black frames while the camera was away\n{}", live.stderr());
    let longest = arrivals.windows(2).map(|w| w[1].0 - w[0].0).max().unwrap();
    assert!(longest < Duration::from_millis(2000), "the restream paused for {longest:?}\n{}", live.stderr());

    live.signal(libc::SIGINT);
    let (code, err) = live.wait(Duration::from_secs(30));
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("filler"), "the summary counts the filler frames: {err}");
}

/// Found by hostile use: when the recordings' disk filled, a segment cut mid-write got its
/// final name with an index line for frames it did not hold (or none at all), and the camera
/// ended, restream and all. Now the cut segment is indexed as cut, the restream goes on, and
/// recording is tried again. (The disk is "full" past 300 kB a file: a file size limit fails a
/// write as a full disk does, and every 2 s segment here is larger.)
#[test]
fn a_full_recording_disk_keeps_the_restream_going_and_indexes_only_what_was_written() {
    const LIMIT: u64 = 300_000;
    let dir = tempfile::tempdir().unwrap();
    let (_cam, cam_url) = testcam();
    let mut cmd = live_command(dir.path(), &cam_url, "", &[]);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let limit = libc::rlimit { rlim_cur: LIMIT, rlim_max: LIMIT };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let (live, restream) = start_live(&mut cmd);
    live.wait_for("recording stopped; the restream goes on");
    let frames = read_restream(&restream, 40, Duration::from_secs(60), &live);
    assert_faces_hidden("the restream while recording is suspended", &frames);
    live.wait_for("recording again");
    live.signal(libc::SIGTERM);
    let (code, err) = live.wait(Duration::from_secs(30));
    assert!(code.is_some(), "live exits on SIGTERM: {err}");

    let camera_dir = dir.path().join("recordings/door");
    let names = dir_entries(&camera_dir);
    assert!(!names.iter().any(|n| n.ends_with(".part")), "left unfinished: {names:?}\n{err}");
    let index = std::fs::read_to_string(camera_dir.join("index.jsonl")).unwrap_or_default();
    let records: Vec<serde_json::Value> = index.lines().map(|l| serde_json::from_str(l).expect("whole index lines")).collect();
    let segments: Vec<&String> = names.iter().filter(|n| n.ends_with(".mp4")).collect();
    assert!(!segments.is_empty(), "the cut segments are kept: {names:?}\n{err}");
    for name in segments {
        let record = records.iter().find(|r| r["file"] == name.as_str()).unwrap_or_else(|| panic!("{name} is not in the index: {index}"));
        let path = camera_dir.join(name);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), record["bytes"].as_u64().unwrap(), "{name}: size");
        assert!(record["bytes"].as_u64().unwrap() <= LIMIT, "{name}: larger than what could be written");
        let decoded = decode_gray(&path);
        assert_eq!(decoded.len() as u64, record["frames"].as_u64().unwrap(), "{name}: frames decoded vs index");
        assert_faces_hidden(name, &decoded);
    }
}

/// Found by hostile use: `min_free_mb` above the size of the whole disk was taken, and every
/// segment was deleted as soon as it closed while `/healthz` said ok, without a word.
#[test]
fn a_free_space_floor_no_disk_can_meet_is_refused_at_start_and_nothing_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    // No camera is needed: the floor is checked before any camera is read.
    let live = Proc::spawn(&mut live_command(dir.path(), "rtsp://127.0.0.1:9/none", "min_free_mb = 100000000000", &[]));
    let (code, err) = live.wait(Duration::from_secs(20));
    assert_eq!(code, Some(1), "refused at once, not run (killed after 20 s: no exit code): {err}");
    assert!(err.contains("live.min_free_mb") && err.contains("every recording would be deleted"), "{err}");
    assert!(dir_entries(&dir.path().join("recordings")).is_empty(), "nothing recorded: {err}");
}

/// Found by hostile use: a stop (SIGTERM) while recording had failed (the camera's directory
/// replaced by a file) exited 130 with "interrupted; no output written", after segments had
/// been written and the restream served; docs/live.md says it exits 1 with the failure.
#[test]
fn a_stop_while_recording_has_failed_exits_1_with_the_failure() {
    let dir = tempfile::tempdir().unwrap();
    let (_cam, cam_url) = testcam();
    let (live, _restream) = live(dir.path(), &cam_url, "", &[]);
    let camera_dir = dir.path().join("recordings/door");
    // Found by CI: replaced as soon as it existed, the directory was sometimes gone before the
    // recorder claimed it, a failure to start (exit 1 before recording), not the one under test.
    assert!(wait_until(Duration::from_secs(60), || recording_started(&camera_dir)), "never started recording\n{}", live.stderr());
    vanish(&camera_dir);
    std::fs::write(&camera_dir, b"not a directory").unwrap();
    live.wait_for("recording stopped; the restream goes on");
    live.signal(libc::SIGTERM);
    let (code, err) = live.wait(Duration::from_secs(30));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("veilcam: error:") && !err.contains("no output written"), "{err}");
}

/// Found by review: when one camera failed, the exit summaries of the other cameras were never
/// printed (the first failure ended the gathering of the cameras' results). Every camera that
/// ran to the stop prints its summary; the one that failed is named in the error, exit 1.
#[test]
fn every_other_cameras_summary_is_printed_when_one_camera_fails() {
    let dir = tempfile::tempdir().unwrap();
    let (_cam, cam_url) = testcam();
    let recordings = dir.path().join("recordings");
    let text = format!(
        "[live]\nlisten = \"127.0.0.1:0\"\nrecordings = \"{}\"\nsegment_seconds = 2\n\n\
         [cameras.door]\nsource = \"{cam_url}\"\n\n[cameras.yard]\nsource = \"{cam_url}\"\n",
        recordings.display()
    );
    let config = dir.path().join("live.toml");
    std::fs::write(&config, text).unwrap();
    let mut cmd = veilcam();
    cmd.arg("live").arg("--config").arg(&config).args(["--workers", "1"]).env("VEILCAM_HOME", dir.path().join("home"));
    let (live, _restream) = start_live(&mut cmd);
    let (door, yard) = (recordings.join("door"), recordings.join("yard"));
    let both = || recording_started(&door) && recording_started(&yard);
    assert!(wait_until(Duration::from_secs(90), both), "never started recording\n{}", live.stderr());
    // The first camera of the config fails: its recording directory becomes a file.
    vanish(&door);
    std::fs::write(&door, b"not a directory").unwrap();
    live.wait_for("recording stopped; the restream goes on");
    live.signal(libc::SIGTERM);
    let (code, err) = live.wait(Duration::from_secs(30));
    assert_eq!(code, Some(1), "{err}");
    assert!(err.lines().any(|l| l.starts_with("veilcam: camera yard: ") && l.contains(" frames, ")), "yard's summary is missing:\n{err}");
    assert!(err.contains("veilcam: error: camera door: "), "the failed camera is not named:\n{err}");
    assert!(!err.lines().any(|l| l.starts_with("veilcam: camera door: ") && l.contains(" frames, ")), "door failed:\n{err}");
}
