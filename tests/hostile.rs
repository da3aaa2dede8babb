//! Regression tests for the defects found by using veilcam as a hostile user would (issue #10):
//! damaged media, encoder failures, aliased and clobbering output paths, FIFOs, closed pipes,
//! long names, tags, signals. Each test is named after the defect it pins down and failed
//! before its fix.

mod common;

use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::*;
use gstreamer as gst;
use gstreamer_video as gst_video;
use gst_video::prelude::*;

/// Detection quality and encoding speed are not the point here.
const FAST: &[&str] = &["--preset", "ultrafast", "--detect-width", "320"];
/// Exit code of `--salvage` when the input was damaged.
const SALVAGED: i32 = 3;

fn veilcam() -> Command {
    Command::new(env!("CARGO_BIN_EXE_veilcam"))
}

/// `veilcam -q redact <input> -o <output> FAST <args>`, killed if it runs past `limit`.
fn redact_within(limit: Duration, input: &Path, output: &Path, args: &[&str]) -> Output {
    let mut cmd = veilcam();
    cmd.args(["-q", "redact"]).arg(input).arg("-o").arg(output).args(FAST).args(args);
    run_within(limit, cmd)
}

fn run_within(limit: Duration, mut cmd: Command) -> Output {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("veilcam runs");
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("veilcam still ran after {limit:?}:\n{}", String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The run failed with exit code 1, named each of `expect` on stderr, and left `dir` as it was.
fn assert_failed_cleanly(out: &Output, dir: &Path, before: &[String], expect: &[&str]) {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(1), "exit status:\n{err}");
    for snippet in expect {
        assert!(err.to_lowercase().contains(&snippet.to_lowercase()), "stderr does not mention {snippet:?}:\n{err}");
    }
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(dir_entries(dir), before, "files appeared or vanished in {}", dir.display());
}

/// `faces.mp4`'s H.264 stream remuxed by `mux` (e.g. `mpegtsmux`), then cut to 45 %.
fn truncated_remux(dir: &Path, name: &str, mux: &str) -> PathBuf {
    let whole = dir.join(format!("whole-{name}"));
    gst_launch(&format!(
        "filesrc location={} ! qtdemux ! h264parse ! {mux} ! filesink location={}",
        sample("faces.mp4").display(),
        whole.display()
    ));
    let bytes = std::fs::read(&whole).unwrap();
    std::fs::remove_file(&whole).unwrap();
    let cut = dir.join(name);
    std::fs::write(&cut, &bytes[..bytes.len() * 45 / 100]).unwrap();
    cut
}

/// `faces.mp4` with 20 KB of noise written into its middle.
fn corrupted_faces(dir: &Path) -> PathBuf {
    let mut bytes = std::fs::read(sample("faces.mp4")).unwrap();
    let mid = bytes.len() / 2;
    let mut x = 0x2545_f491_u32;
    for b in &mut bytes[mid..mid + 20_000] {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *b = x as u8;
    }
    let path = dir.join("corrupt.mp4");
    std::fs::write(&path, bytes).unwrap();
    path
}

// ---------------------------------------------------------------------------------------------
// 1. Encoder-side failures end the run instead of hanging it
// ---------------------------------------------------------------------------------------------

#[test]
fn frames_too_small_for_the_encoder_fail_fast_instead_of_hanging() {
    let dir = tempfile::tempdir().unwrap();
    for (w, h) in [(1, 1), (2, 2), (17, 9)] {
        let input = dir.path().join(format!("tiny-{w}x{h}.mkv"));
        gst_launch(&format!(
            "videotestsrc num-buffers=10 ! video/x-raw,width={w},height={h},framerate=10/1,format=I420 ! matroskamux ! filesink location={}",
            input.display()
        ));
        let before = dir_entries(dir.path());
        let out = redact_within(Duration::from_secs(30), &input, &dir.path().join("out.mp4"), &[]);
        assert_failed_cleanly(&out, dir.path(), &before, &["out.mp4", "too small"]);
    }
}

/// Runs veilcam with its file size limited to `bytes` (as on a nearly full disk: writes past it
/// fail with EFBIG; SIGXFSZ is ignored so the write error reaches the encoder).
fn redact_on_a_full_disk(bytes: u64, input: &Path, output: &Path, args: &[&str]) -> Output {
    let mut cmd = veilcam();
    cmd.args(["-q", "redact"]).arg(input).arg("-o").arg(output).args(FAST).args(args);
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let limit = libc::rlimit { rlim_cur: bytes, rlim_max: bytes };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    run_within(Duration::from_secs(60), cmd)
}

#[test]
fn a_full_disk_after_output_started_ends_the_run_with_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let before = dir_entries(dir.path());
    let out = redact_on_a_full_disk(300_000, &sample("vtest.avi"), &dir.path().join("out.mp4"), &[]);
    assert_failed_cleanly(&out, dir.path(), &before, &["out.mp4", "cannot encode"]);
    // One line for its reader, without where in GStreamer's C source the error was raised.
    let said = stderr(&out);
    assert!(said.trim_end().lines().count() == 1 && !said.contains(".c(") && !said.contains("\\n"), "{said}");
    // The same for a preview that runs out of room while the main output still has it.
    let out = redact_on_a_full_disk(
        300_000,
        &sample("vtest.avi"),
        &dir.path().join("out.mp4"),
        &["--preview", dir.path().join("review.mp4").to_str().unwrap(), "--crf", "40"],
    );
    assert_failed_cleanly(&out, dir.path(), &before, &["cannot encode"]);
}

#[test]
fn a_detector_failing_after_output_started_leaves_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let before = dir_entries(dir.path());
    let mut cmd = veilcam();
    cmd.args(["-q", "redact"]).arg(sample("vtest.avi")).arg("-o").arg(dir.path().join("out.mp4")).args(FAST);
    cmd.arg("--sidecar").arg(dir.path().join("out.json")).env("VEILCAM_FAIL_DETECTOR_AT", "90");
    let out = run_within(Duration::from_secs(60), cmd);
    assert_failed_cleanly(&out, dir.path(), &before, &["vtest.avi", "detector failed on frame 90"]);
}

// ---------------------------------------------------------------------------------------------
// 2–4. Damaged inputs are errors; --salvage redacts what decodes and says what was lost
// ---------------------------------------------------------------------------------------------

fn assert_damaged_input_is_refused(input: &Path, dir: &Path) {
    let before = dir_entries(dir);
    let out = redact_within(Duration::from_secs(60), input, &dir.join("out.mp4"), &[]);
    let name = input.file_name().unwrap().to_str().unwrap();
    assert_failed_cleanly(&out, dir, &before, &[name, "damaged", "--salvage"]);
}

/// Salvages `input`: exit code 3, an output whose frames keep the input's decodable
/// timestamps, and the loss recorded in the sidecar.
fn assert_salvaged(input: &Path, dir: &Path) -> serde_json::Value {
    let (output, sidecar) = (dir.join("salvaged.mp4"), dir.join("salvaged.json"));
    let out = redact_within(
        Duration::from_secs(60),
        input,
        &output,
        &["--salvage", "--sidecar", sidecar.to_str().unwrap(), "--overwrite"],
    );
    assert_eq!(out.status.code(), Some(SALVAGED), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&sidecar).unwrap()).unwrap();
    let damage = &json["damage"];
    assert!(!damage["reports"].as_array().unwrap().is_empty(), "the sidecar says what was damaged: {damage}");
    let frames = json["frames"].as_array().unwrap();
    let written = probe(&output);
    assert_eq!(written.frames.len(), frames.len(), "every salvaged frame is in the output");
    assert!(frames.len() > 10, "the frames before the damage were kept");
    let sidecar_pts: Vec<u64> = frames.iter().map(|f| f["pts_ns"].as_u64().unwrap()).collect();
    let output_pts: Vec<u64> = written.frames.iter().map(|f| f.pts.unwrap()).collect();
    assert_eq!(sidecar_pts, output_pts, "each frame keeps its own timestamp");
    json
}

#[test]
fn a_truncated_avi_without_a_full_index_is_refused_and_can_be_salvaged() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(sample("vtest.avi")).unwrap();
    let cut = dir.path().join("cut.avi");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    assert_damaged_input_is_refused(&cut, dir.path());
    let json = assert_salvaged(&cut, dir.path());
    // avidemux rebuilds the index from what is left and calls that the duration; the header
    // says 150 frames (15 s), so the lost tail is a gap up to 15 s.
    let gaps = json["damage"]["gaps"].as_array().unwrap();
    let last = gaps.last().unwrap_or_else(|| panic!("the lost tail is a gap: {}", json["damage"]));
    assert_eq!(last["to_ns"].as_u64(), Some(15_000_000_000), "{}", json["damage"]);
}

/// Found by hostile use: an MP4 cut inside its first fragment was said to contain "no video
/// stream"; it is said to be truncated.
#[test]
fn an_mp4_cut_before_its_first_frame_is_called_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(sample("faces.mp4")).unwrap();
    let cut = dir.path().join("cut.mp4");
    std::fs::write(&cut, &bytes[..5000]).unwrap();
    let before = dir_entries(dir.path());
    let out = redact_within(Duration::from_secs(60), &cut, &dir.path().join("out.mp4"), &[]);
    assert_failed_cleanly(&out, dir.path(), &before, &["cut.mp4", "truncated or damaged"]);
    assert!(!stderr(&out).contains("no video stream"), "{}", stderr(&out));
}

/// Found by hostile use: in a batch, an MP4 cut before its index was now and then reported
/// after 30 s as "timed out opening the file" (and otherwise in GStreamer's words only, "This
/// file contains no playable streams", with its debug detail). decodebin drops an error
/// its demuxer posts while it is still plugging the demuxer in (a race of GStreamer 1.22's
/// decodebin2), so the error never reached the bus.
#[test]
fn a_demuxer_error_that_decodebin_drops_still_fails_the_file_at_once_with_its_cause() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    let good = input.join("good.mp4");
    gst_launch(&format!(
        "videotestsrc num-buffers=10 ! video/x-raw,width=160,height=120,framerate=25/1 ! x264enc ! mp4mux ! filesink location={}",
        good.display()
    ));
    let bytes = std::fs::read(&good).unwrap();
    let moov = bytes.windows(4).position(|w| w == b"moov").expect("mp4mux writes its index at the end") - 4;
    std::fs::write(input.join("no-index.mp4"), &bytes[..moov]).unwrap();
    // One file after the other, the cut one second: the race hit about one run in five here.
    for run in 0..15 {
        let output = dir.path().join(format!("out{run}"));
        let mut cmd = veilcam();
        cmd.args(["-q", "batch"]).arg(&input).arg("-o").arg(&output);
        let out = run_within(Duration::from_secs(15), cmd);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "run {run}:\n{err}");
        assert!(err.contains("no-index.mp4") && err.contains("truncated or damaged"), "run {run}:\n{err}");
        assert!(!err.contains("timed out"), "run {run}:\n{err}");
        assert!(output.join("good.mp4").exists() && !output.join("no-index.mp4").exists(), "run {run}: {:?}", dir_entries(&output));
    }
}

/// Found by hostile use: a bare MJPEG stream (JPEGs one after another, as a camera's HTTP
/// stream is saved) has a timestamp on its first frame at most; it was written as a video of one
/// frame (MP4) or none (MKV), while the run said every frame was done and exited 0.
#[test]
fn frames_without_timestamps_are_refused_naming_the_input() {
    require_elements(&[("jpegenc", "gstreamer1.0-plugins-good"), ("avdec_mjpeg", "gstreamer1.0-libav")]);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("cam.mjpeg");
    gst_launch(&format!(
        "videotestsrc num-buffers=20 pattern=ball ! video/x-raw,width=160,height=120,framerate=10/1 ! jpegenc ! filesink location={}",
        input.display()
    ));
    for output in ["out.mp4", "out.mkv"] {
        let before = dir_entries(dir.path());
        let out = redact_within(Duration::from_secs(60), &input, &dir.path().join(output), &[]);
        assert_failed_cleanly(&out, dir.path(), &before, &["cam.mjpeg", "has no timestamp"]);
    }
}

#[test]
fn truncated_streams_that_declare_no_length_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("cut.ts", "mpegtsmux"),
        ("cut.mkv", "matroskamux streamable=true"),
        ("cut.h264", "video/x-h264,stream-format=byte-stream"),
    ];
    for (name, mux) in cases {
        let cut = truncated_remux(dir.path(), name, mux);
        assert_damaged_input_is_refused(&cut, dir.path());
        std::fs::remove_file(cut).unwrap();
    }
}

#[test]
fn corrupt_data_mid_stream_is_refused_and_salvage_records_the_gap() {
    let dir = tempfile::tempdir().unwrap();
    let corrupt = corrupted_faces(dir.path());
    assert_damaged_input_is_refused(&corrupt, dir.path());
    let json = assert_salvaged(&corrupt, dir.path());
    let gaps = json["damage"]["gaps"].as_array().unwrap();
    assert!(!gaps.is_empty(), "the frames lost in the middle are a gap: {}", json["damage"]);
}

/// An MP4 of 45 frames (15 fps, a keyframe every 15) whose frames `lost` were never received,
/// as packet loss leaves a recording: the frames after a lost keyframe refer to it.
fn with_lost_frames(dir: &Path, lost: std::ops::Range<usize>) -> PathBuf {
    use gstreamer_app as gst_app;
    init();
    let encode = "videotestsrc num-buffers=45 pattern=ball ! video/x-raw,width=160,height=120,framerate=15/1 \
        ! x264enc key-int-max=15 bframes=0 ! h264parse ! video/x-h264,stream-format=avc,alignment=au ! appsink name=out sync=false";
    let encode = gst::parse::launch(encode).unwrap().downcast::<gst::Pipeline>().unwrap();
    let appsink = encode.by_name("out").unwrap().downcast::<gst_app::AppSink>().unwrap();
    encode.set_state(gst::State::Playing).unwrap();
    let (mut caps, mut kept) = (None, Vec::new());
    for i in 0.. {
        let Ok(sample) = appsink.pull_sample() else { break };
        caps = sample.caps_owned();
        if !lost.contains(&i) {
            kept.push(sample.buffer_owned().unwrap());
        }
    }
    encode.set_state(gst::State::Null).unwrap();
    let out = dir.join("lost.mp4");
    let mux = gst::parse::launch(&format!("appsrc name=in format=time ! h264parse ! mp4mux ! filesink location={}", out.display())).unwrap();
    let mux = mux.downcast::<gst::Pipeline>().unwrap();
    let appsrc = mux.by_name("in").unwrap().downcast::<gst_app::AppSrc>().unwrap();
    appsrc.set_caps(caps.as_ref());
    mux.set_state(gst::State::Playing).unwrap();
    for buffer in kept {
        appsrc.push_buffer(buffer).unwrap();
    }
    appsrc.end_of_stream().unwrap();
    let bus = mux.bus().unwrap();
    let msg = bus.timed_pop_filtered(gst::ClockTime::from_seconds(30), &[gst::MessageType::Eos, gst::MessageType::Error]);
    assert!(matches!(msg.as_ref().map(|m| m.view()), Some(gst::MessageView::Eos(..))), "{msg:?}");
    mux.set_state(gst::State::Null).unwrap();
    out
}

/// Found by hostile use: with a keyframe's packets lost, the decoder gave nothing back for the
/// frames that refer to it and said nothing: 11 of 42 frames vanished, the run succeeded, and
/// `--salvage` recorded no damage.
#[test]
fn frames_the_decoder_gives_nothing_back_for_are_damage() {
    let dir = tempfile::tempdir().unwrap();
    let lost = with_lost_frames(dir.path(), 14..17);
    assert_damaged_input_is_refused(&lost, dir.path());
    let json = assert_salvaged(&lost, dir.path());
    let damage = &json["damage"];
    assert!(damage["undecodable_frames"].as_u64().unwrap() >= 9, "{damage}");
    assert!(damage["reports"][0].as_str().unwrap().contains("could not be decoded, as data they depend on is missing"), "{damage}");
    // The same clip with nothing lost is clean.
    let whole = with_lost_frames(dir.path(), 0..0);
    let out = redact_within(Duration::from_secs(60), &whole, &dir.path().join("whole.mp4"), &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(probe(&dir.path().join("whole.mp4")).frames.len(), 45);
}

/// An MJPEG AVI (as IP cameras and DVRs record) of 20 frames whose frame 10 is cut short at
/// half its entropy-coded data, its chunk keeping its size: the rest zeros, or an end-of-image
/// marker and zeros (`marked`).
fn with_a_jpeg_frame_cut_short(dir: &Path, marked: bool) -> PathBuf {
    let whole = dir.join("whole.avi");
    gst_launch(&format!(
        "videotestsrc num-buffers=20 pattern=ball ! video/x-raw,width=320,height=240,framerate=10/1,format=I420 ! jpegenc ! avimux ! filesink location={}",
        whole.display()
    ));
    let mut bytes = std::fs::read(&whole).unwrap();
    let find = |bytes: &[u8], what: &[u8], from: usize| from + bytes[from..].windows(what.len()).position(|w| w == what).unwrap();
    let mut start = 0;
    for _ in 0..=10 {
        start = find(&bytes, b"\xFF\xD8\xFF", start) + 1;
    }
    let (scan, end) = (find(&bytes, b"\xFF\xDA", start), find(&bytes, b"\xFF\xD9", start) + 2);
    let cut = scan + (end - scan) / 2;
    bytes[cut..end].fill(0);
    if marked {
        bytes[cut..cut + 2].copy_from_slice(b"\xFF\xD9");
    }
    let damaged = dir.join(if marked { "marked.avi" } else { "cut.avi" });
    std::fs::write(&damaged, bytes).unwrap();
    damaged
}

/// Found by hostile use: a JPEG frame of an MJPEG video cut short decoded as grey blocks, exit
/// 0 and no word: GStreamer's `jpegdec` patches it up silently. libav's decoder, chosen
/// instead, reports it.
#[test]
fn a_jpeg_frame_cut_short_in_an_mjpeg_video_is_damage() {
    require_elements(&[("jpegenc", "gstreamer1.0-plugins-good"), ("avdec_mjpeg", "gstreamer1.0-libav")]);
    for marked in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let damaged = with_a_jpeg_frame_cut_short(dir.path(), marked);
        assert_damaged_input_is_refused(&damaged, dir.path());
        let json = assert_salvaged(&damaged, dir.path());
        assert!(json["damage"]["reports"][0].as_str().unwrap().starts_with("libav: "), "{}", json["damage"]);
        let out = redact_within(Duration::from_secs(60), &dir.path().join("whole.avi"), &dir.path().join("whole.mp4"), &[]);
        assert!(out.status.success(), "the same video undamaged is clean: {}", stderr(&out));
        assert_eq!(probe(&dir.path().join("whole.mp4")).frames.len(), 20);
    }
}

#[test]
fn an_intact_file_decodes_cleanly_and_salvage_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = redact_within(Duration::from_secs(60), &sample("faces.mp4"), &dir.path().join("a.mp4"), &["--salvage"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(probe(&dir.path().join("a.mp4")).frames.len(), 100);
}

/// Two recordings joined into one MPEG-TS file (as DVRs export them) whose picture size or
/// frame rate differs: once refused with the raw caps of the new format; now with the frame it
/// changed at, the change in words and what to do — and still nothing written.
#[test]
fn a_size_or_rate_change_mid_stream_is_refused_naming_frame_and_change() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [((320, 240, 10), (640, 360, 10), "picture size changed at frame 20 from 320×240 to 640×360"), ((320, 240, 10), (320, 240, 20), "frame rate changed at frame 20 from 10 to 20 fps")];
    for (i, (first, second, expect)) in cases.into_iter().enumerate() {
        let mut joined = Vec::new();
        for (w, h, fps) in [first, second] {
            let part = dir.path().join("part.ts");
            gst_launch(&format!(
                "videotestsrc num-buffers=20 ! video/x-raw,width={w},height={h},framerate={fps}/1 ! x264enc key-int-max=10 ! h264parse ! mpegtsmux ! filesink location={}",
                part.display()
            ));
            joined.extend(std::fs::read(&part).unwrap());
            std::fs::remove_file(&part).unwrap();
        }
        let input = dir.path().join(format!("joined{i}.ts"));
        std::fs::write(&input, joined).unwrap();
        let before = dir_entries(dir.path());
        let out = redact_within(Duration::from_secs(60), &input, &dir.path().join("out.mp4"), &[]);
        assert_failed_cleanly(&out, dir.path(), &before, &[&format!("joined{i}.ts"), expect, "split the input"]);
    }
}

/// Found by hostile use (session 33): a Matroska file declaring 300 fps over frames 40 ms apart
/// was looked at every 20th frame (`--detect-every auto` plans 15 looks a second from the
/// declared rate), 0.8 s of real time, and a face shown for 0.4 s went out unmasked with exit
/// 0. Looks now also come whenever a frame's timestamp is a look's spacing past the latest
/// look, so the file is looked at every 2nd frame, as the same footage declared honestly.
#[test]
fn a_file_declaring_more_frames_a_second_than_its_timestamps_show_is_looked_at_as_often() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("lies.mkv");
    gst_launch(&format!(
        "filesrc location={} ! qtdemux ! h264parse ! capssetter caps=video/x-h264,framerate=300/1 ! matroskamux ! filesink location={}",
        sample("faces.mp4").display(),
        input.display()
    ));
    let (output, sidecar) = (dir.path().join("out.mp4"), dir.path().join("out.json"));
    let out = redact_within(Duration::from_secs(300), &input, &output, &["--sidecar", sidecar.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (frames, looked) = frames_looked_at(&sidecar);
    assert_eq!(frames, 100);
    assert!(looked >= 45, "faces were looked for in only {looked} of 100 frames (every 20th frame: 5)");
}

/// The frames of a run over faces.mp4's frames, from its `sidecar`, and how many were looked
/// at: faces.mp4 shows three faces in every frame, so a frame looked at has detections.
fn frames_looked_at(sidecar: &Path) -> (usize, usize) {
    let sidecar: serde_json::Value = serde_json::from_slice(&std::fs::read(sidecar).unwrap()).unwrap();
    let frames = sidecar["frames"].as_array().unwrap();
    (frames.len(), frames.iter().filter(|f| !f["detections"].as_array().unwrap().is_empty()).count())
}

/// Found by hostile use (session 43): the look-ahead held a second of frames at the rate a clip
/// says it has, and the automatic cadence looked 15 times a second: a 640×480 clip at 10,000
/// fps held 6,000 frames (3 GB) and was looked at every 667th frame. The look-ahead now holds
/// at most 240 frames (and 1 GiB), and an automatic cadence looks at least every 30th frame.
/// Here faces.mp4 at 640×360, its frames shown in turn 3,000 times at 10,000 fps: without the
/// caps the look-ahead alone would hold about 1 GB.
#[test]
fn a_clip_at_ten_thousand_frames_a_second_is_looked_at_often_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let faces = source_frames(&sample("faces.mp4"), 100, 640, 360);
    let clip = SourceFrames { info: faces.info.clone(), buffers: faces.buffers.iter().cycle().take(3_000).cloned().collect() };
    let input = dir.path().join("fast.mp4");
    // A constant quantizer: x264's default bit rate spread over 10,000 frames a second is grey.
    encode_frames(&clip, &Timing::Fps(10_000, 1), &format!("{X264_FAST} pass=quant quantizer=23 ! mp4mux"), "", &input);
    let (output, sidecar, stats) = (dir.path().join("out.mp4"), dir.path().join("out.json"), dir.path().join("stats.json"));
    let args = ["--sidecar", sidecar.to_str().unwrap(), "--stats", stats.to_str().unwrap()];
    let out = redact_within(Duration::from_secs(300), &input, &output, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    let (frames, looked) = frames_looked_at(&sidecar);
    assert_eq!(frames, 3_000);
    assert!(looked >= 90, "faces were looked for in only {looked} of 3,000 frames (every 30th: 100)");
    let stats: serde_json::Value = serde_json::from_slice(&std::fs::read(&stats).unwrap()).unwrap();
    let peak = stats["peak_rss_mb"].as_f64().unwrap();
    assert!(peak < 900.0, "the run peaked at {peak:.0} MB");
}

/// Found by hostile use (session 33): with a look every second frame (`--detect-every auto` at
/// 30 fps), a face shown in a single frame between two looks was seen by no look, nothing
/// carried it, and it went out unmasked with exit 0. A frame where something appears where
/// nothing moved lately now gets a glance there (`Plan::glance`). Here a face of the sample
/// clip is pasted for one frame (7, between the looks at 6 and 8) onto a still part of the
/// street.
#[test]
fn a_face_shown_only_between_two_looks_is_masked() {
    let dir = tempfile::tempdir().unwrap();
    let (w, h) = (FACES_W, FACES_H);
    let mut street = vtest_frames(12, w as u32, h as u32);
    let faces = source_frames(&sample("faces.mp4"), 1, w as u32, h as u32);
    // Face 0 of the sample's first frame (196,205 67×90) with a little around it, to 160,270:
    // a wall that nothing passes in these frames.
    let (from, to, size) = ((186, 196), (160, 270), (88, 110));
    paste_i420(&faces.buffers[0], from, &mut street.buffers[7], to, size);
    let input = dir.path().join("flash.mp4");
    encode_frames(&street, &Timing::Fps(30, 1), &format!("{X264_FAST} ! mp4mux"), "", &input);
    let (output, sidecar) = (dir.path().join("out.mp4"), dir.path().join("out.json"));
    let out = redact_within(Duration::from_secs(120), &input, &output, &["--sidecar", sidecar.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (before, after) = (decode_gray(&input), decode_gray(&output));
    assert_eq!(after.len(), 12);
    let face = FaceBox { id: 0, x1: 170.0, y1: 279.0, x2: 237.0, y2: 369.0 };
    let kept = detail_gain(&before[7], &after[7], w, &face.ellipse_pixels(w, h));
    assert!(kept < 0.3, "frame 7 still shows {:.0} % of the face's detail", kept * 100.0);
    // The sidecar says how: frame 7 had no look of its own, and a glance found the face.
    let sidecar: serde_json::Value = serde_json::from_slice(&std::fs::read(&sidecar).unwrap()).unwrap();
    let frame = &sidecar["frames"][7];
    assert!(frame["detections"].as_array().unwrap().is_empty(), "{frame}");
    assert!(frame["glanced"].as_array().is_some_and(|g| g.iter().any(|d| face.iou(&d["box"]) > 0.3)), "{frame}");
}

/// Copies the `size` (even) block of I420 `src` at `from` into `dst` at `to` (even
/// coordinates), all three planes.
fn paste_i420(src: &gst::Buffer, from: (usize, usize), dst: &mut gst::Buffer, to: (usize, usize), size: (usize, usize)) {
    let info = gst_video::VideoInfo::builder(gst_video::VideoFormat::I420, FACES_W as u32, FACES_H as u32).build().unwrap();
    let src = gst_video::VideoFrameRef::from_buffer_ref_readable(src.as_ref(), &info).unwrap();
    let mut dst = gst_video::VideoFrameRef::from_buffer_ref_writable(dst.make_mut(), &info).unwrap();
    for plane in 0..3u32 {
        let k = if plane == 0 { 1 } else { 2 };
        let (ss, ds) = (src.plane_stride()[plane as usize] as usize, dst.plane_stride()[plane as usize] as usize);
        let data = src.plane_data(plane).unwrap().to_vec();
        let out = dst.plane_data_mut(plane).unwrap();
        for row in 0..size.1 / k {
            let (s, d) = ((from.1 / k + row) * ss + from.0 / k, (to.1 / k + row) * ds + to.0 / k);
            out[d..d + size.0 / k].copy_from_slice(&data[s..s + size.0 / k]);
        }
    }
}

/// Found by hostile use (session 33): a Matroska file with two video streams was redacted with
/// the first stream only, and nothing said the second was left out.
#[test]
fn a_second_video_stream_left_out_is_named_in_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("two views.mkv");
    let branch = format!("filesrc location={} ! qtdemux ! h264parse ! m.", sample("faces.mp4").display());
    gst_launch(&format!("matroskamux name=m ! filesink location=\"{}\" {branch} {branch}", input.display()));
    let output = dir.path().join("out.mp4");
    let mut cmd = veilcam();
    cmd.arg("redact").arg(&input).arg("-o").arg(&output).args(FAST);
    let out = run_within(Duration::from_secs(120), cmd);
    assert!(out.status.success(), "{}", stderr(&out));
    let warned = stderr(&out);
    assert!(warned.contains("two views.mkv: a second video stream is left out"), "{warned}");
    assert_eq!(probe(&output).frames.len(), 100, "the first stream is redacted whole");
}

#[test]
fn a_truncated_jpeg_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(sample("faces/left06.jpg")).unwrap();
    let cut = dir.path().join("cut.jpg");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let before = dir_entries(dir.path());
    let out = redact_within(Duration::from_secs(30), &cut, &dir.path().join("out.jpg"), &[]);
    assert_failed_cleanly(&out, dir.path(), &before, &["cut.jpg", "truncated"]);
}

/// Found by hostile use: a JPEG cut in half and closed with an EOI marker was redacted, exit 0,
/// with its lower half grey (the decoder reads zeros after the marker).
#[test]
fn a_truncated_jpeg_closed_with_an_end_marker_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(sample("faces/grace_hopper.jpg")).unwrap();
    let cut = dir.path().join("cut.jpg");
    std::fs::write(&cut, [&bytes[..bytes.len() / 2], &[0xFF, 0xD9]].concat()).unwrap();
    let before = dir_entries(dir.path());
    let out = redact_within(Duration::from_secs(30), &cut, &dir.path().join("out.jpg"), &[]);
    assert_failed_cleanly(&out, dir.path(), &before, &["cut.jpg", "truncated"]);
}

/// Found by hostile use: a progressive JPEG cut short and closed with an end marker was
/// redacted, exit 0, blurred where its later scans were missing. Cut within its first scans (the
/// run of ones finds it) and between its last ones (its coefficients do), it is refused.
#[test]
fn a_progressive_jpeg_cut_short_and_closed_with_an_end_marker_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/grace_hopper_progressive.jpg")).unwrap();
    let whole = dir.path().join("whole.jpg");
    std::fs::write(&whole, &bytes).unwrap();
    let out = redact_within(Duration::from_secs(30), &whole, &dir.path().join("whole.out.jpg"), &[]);
    assert!(out.status.success(), "the whole progressive JPEG is redacted: {}", String::from_utf8_lossy(&out.stderr));
    // In its second scan, its sixth, and its seventh (the DC refinement, raw bits) with the
    // three after it missing.
    for keep in [bytes.len() / 8, bytes.len() / 2, bytes.len() * 103 / 200] {
        let cut = dir.path().join(format!("cut{keep}.jpg"));
        std::fs::write(&cut, [&bytes[..keep], &[0xFF, 0xD9]].concat()).unwrap();
        let before = dir_entries(dir.path());
        let out = redact_within(Duration::from_secs(30), &cut, &dir.path().join("out.jpg"), &[]);
        assert_failed_cleanly(&out, dir.path(), &before, &[&format!("cut{keep}.jpg"), "truncated"]);
    }
}

/// Found by hostile use: a still image named as a video went down the video path, past the
/// checks of stills: a 248 KB PNG of 16,000 × 16,000 took 3.1 GB, and a truncated JPEG was
/// redacted. It is refused, saying what it is and how to name it.
#[test]
fn a_still_image_named_as_a_video_is_refused_saying_it_is_an_image() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("photo.mp4");
    std::fs::copy(sample("faces/camera.png"), &png).unwrap();
    let jpeg = dir.path().join("cut.mkv");
    let bytes = std::fs::read(sample("faces/grace_hopper.jpg")).unwrap();
    std::fs::write(&jpeg, [&bytes[..bytes.len() / 2], &[0xFF, 0xD9]].concat()).unwrap();
    let before = dir_entries(dir.path());
    let out = redact_within(Duration::from_secs(30), &png, &dir.path().join("out.mp4"), &[]);
    assert_failed_cleanly(&out, dir.path(), &before, &["photo.mp4", "a PNG image, not a video", "name it .png"]);
    let out = redact_within(Duration::from_secs(30), &jpeg, &dir.path().join("out.mp4"), &[]);
    assert_failed_cleanly(&out, dir.path(), &before, &["cut.mkv", "a JPEG image, not a video", "name it .jpg"]);
    // Found by hostile use: `audit photo.jpg` was told to name it .jpg.
    let mut audit = veilcam();
    audit.args(["-q", "audit"]).arg(sample("faces/grace_hopper.jpg"));
    let out = run_within(Duration::from_secs(30), audit);
    assert_failed_cleanly(&out, dir.path(), &before, &["grace_hopper.jpg", "a JPEG image, not a video: this command takes videos only"]);
}

/// Found by hostile use: frames wider than x264 takes failed with GStreamer's "Can not
/// initialize x264 encoder", after decoding began; they are refused on opening, saying why.
#[test]
fn frames_wider_than_h264_takes_are_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let wide = dir.path().join("wide.mkv");
    gst_launch(&format!(
        "videotestsrc num-buffers=2 ! video/x-raw,format=I420,width=20000,height=16,framerate=25/1 ! matroskamux ! filesink location={}",
        wide.display()
    ));
    let before = dir_entries(dir.path());
    let out = redact_within(Duration::from_secs(30), &wide, &dir.path().join("out.mp4"), &[]);
    assert_failed_cleanly(&out, dir.path(), &before, &["wide.mkv", "20000×16 pixels", "larger than 16384 on a side"]);
}

/// Found by hostile use: a 4 KB PNG of 1×2,000,000 pixels took 22 s and 5.8 GB. Its size is
/// read from the header and refused before anything is decoded.
#[test]
fn an_image_too_large_on_a_side_is_refused_before_it_is_decoded() {
    let dir = tempfile::tempdir().unwrap();
    let tall = dir.path().join("tall.png");
    // One grey column, deflated: a few kB on disk.
    image::GrayImage::from_pixel(1, 2_000_000, image::Luma([128])).save(&tall).unwrap();
    let before = dir_entries(dir.path());
    let started = Instant::now();
    let out = redact_within(Duration::from_secs(30), &tall, &dir.path().join("out.png"), &[]);
    assert_failed_cleanly(&out, dir.path(), &before, &["tall.png", "1×2000000 pixels", "larger than 16384"]);
    assert!(started.elapsed() < Duration::from_secs(5), "refused in {:?}", started.elapsed());
}

/// Found by hostile use: a 632-byte JPEG whose header says 16,000 × 16,000 (within the side
/// limit) was decoded whole: 10 s and 3.3 GB. Its pixel count is refused from the header.
#[test]
fn an_image_of_too_many_pixels_is_refused_before_it_is_decoded() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = Vec::new();
    image::RgbImage::from_pixel(16, 16, image::Rgb([90, 120, 150])).write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Jpeg).unwrap();
    // The frame header (SOF0: FF C0, length, precision, height, width) made to say 16000 × 16000.
    let sof = bytes.windows(2).position(|w| w == [0xFF, 0xC0]).expect("a baseline JPEG");
    bytes[sof + 5..sof + 9].copy_from_slice(&[0x3E, 0x80, 0x3E, 0x80]);
    let huge = dir.path().join("huge.jpg");
    std::fs::write(&huge, &bytes).unwrap();
    let before = dir_entries(dir.path());
    let started = Instant::now();
    let out = redact_within(Duration::from_secs(30), &huge, &dir.path().join("out.jpg"), &[]);
    assert_failed_cleanly(&out, dir.path(), &before, &["huge.jpg", "16000×16000 pixels", "more than 120 million"]);
    assert!(started.elapsed() < Duration::from_secs(5), "refused in {:?}", started.elapsed());
}

/// Found by hostile use: an animated PNG was redacted to its default picture alone, exit 0.
#[test]
fn an_animated_png_is_refused_not_cut_to_one_picture() {
    let dir = tempfile::tempdir().unwrap();
    let mut png = Vec::new();
    image::RgbImage::from_pixel(32, 32, image::Rgb([200, 200, 200])).write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
    // An animation control chunk (acTL: 2 frames, looping) right after the header chunk.
    let after_ihdr = 8 + 8 + 13 + 4;
    png.splice(after_ihdr..after_ihdr, png_chunk(b"acTL", &[0, 0, 0, 2, 0, 0, 0, 0]));
    let anim = dir.path().join("anim.png");
    std::fs::write(&anim, &png).unwrap();
    let before = dir_entries(dir.path());
    let out = redact_within(Duration::from_secs(30), &anim, &dir.path().join("out.png"), &[]);
    assert_failed_cleanly(&out, dir.path(), &before, &["anim.png", "animated PNG"]);
}

/// A PNG chunk: length, type, data and the CRC-32 of type and data.
fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut crc = !0u32;
    for &byte in kind.iter().chain(data) {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    let mut chunk = (data.len() as u32).to_be_bytes().to_vec();
    chunk.extend_from_slice(kind);
    chunk.extend_from_slice(data);
    chunk.extend_from_slice(&(!crc).to_be_bytes());
    chunk
}

// ---------------------------------------------------------------------------------------------
// 5. No input tag reaches an output
// ---------------------------------------------------------------------------------------------

#[test]
fn keep_audio_writes_no_tag_of_the_input() {
    let dir = tempfile::tempdir().unwrap();
    for (name, mux, audio_enc) in [("tagged.mp4", "mp4mux", "avenc_aac"), ("tagged.mkv", "matroskamux", "vorbisenc")] {
        let input = dir.path().join(name);
        gst_launch(&format!(
            "videotestsrc num-buffers=25 ! video/x-raw,width=320,height=240,framerate=25/1 ! taginject tags=\"title=VIDEOTITLE,artist=VIDEOARTIST,comment=VIDEOCOMMENT\" ! x264enc ! h264parse ! {mux} name=m ! filesink location={} \
             audiotestsrc num-buffers=50 ! taginject tags=\"title=AUDIOTITLE,artist=AUDIOARTIST,comment=AUDIOCOMMENT\" ! {audio_enc} ! m.",
            input.display()
        ));
        let raw = std::fs::read(&input).unwrap();
        assert!(contains(&raw, b"AUDIOTITLE") || contains(&raw, b"VIDEOTITLE"), "the test input carries tags");
        for ext in ["mp4", "mkv", "mov"] {
            for keep in [false, true] {
                let output = dir.path().join(format!("out-{keep}.{ext}"));
                let args: &[&str] = if keep { &["--keep-audio"] } else { &[] };
                let out = redact_within(Duration::from_secs(60), &input, &output, args);
                assert!(out.status.success(), "{}", stderr(&out));
                let written = std::fs::read(&output).unwrap();
                for tag in ["VIDEOTITLE", "VIDEOARTIST", "VIDEOCOMMENT", "AUDIOTITLE", "AUDIOARTIST", "AUDIOCOMMENT"] {
                    assert!(!contains(&written, tag.as_bytes()), "{tag} of {name} leaked into .{ext} (keep audio: {keep})");
                }
                std::fs::remove_file(output).unwrap();
            }
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

// ---------------------------------------------------------------------------------------------
// 6–7, 12, 14. Output paths: checked together, committed together
// ---------------------------------------------------------------------------------------------

#[test]
fn no_side_output_may_overwrite_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.mp4");
    std::fs::copy(sample("faces.mp4"), &input).unwrap();
    let original = std::fs::read(&input).unwrap();
    let via_dotdot = format!("{}/sub/../in.mp4", dir.path().display());
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let out = dir.path().join("out.mp4");
    for (option, target) in [
        ("--stats", input.to_str().unwrap()),
        ("--sidecar", input.to_str().unwrap()),
        ("--preview", input.to_str().unwrap()),
        ("--stats", via_dotdot.as_str()),
    ] {
        for overwrite in [false, true] {
            let before = dir_entries(dir.path());
            let mut args = vec![option, target];
            if overwrite {
                args.push("--overwrite");
            }
            let run = redact_within(Duration::from_secs(30), &input, &out, &args);
            assert_failed_cleanly(&run, dir.path(), &before, &["in.mp4", "input"]);
            assert_eq!(std::fs::read(&input).unwrap(), original, "{option} {target} changed the input");
        }
    }
}

/// Found by hostile use: with `--overwrite`, an output could replace a file the run reads
/// other than its input: `--stats cam.toml` the camera config given as `--config cam.toml`,
/// `--sidecar audit.json` the report given as `--obscure-findings audit.json`, and `audit
/// --json r.json` the sidecar it read as `--sidecar r.json`.
#[test]
fn no_output_may_overwrite_a_file_the_run_reads() {
    let dir = tempfile::tempdir().unwrap();
    let input = sample("faces.mp4");
    let (config, findings, sidecar) = (dir.path().join("cam.toml"), dir.path().join("audit.json"), dir.path().join("r.json"));
    std::fs::write(&config, "[cameras.front.zones.street]\nkind = \"street\"\ncoordinates = [[0.0, 0.0], [1.0, 0.0], [1.0, 0.3], [0.0, 0.3]]\n").unwrap();
    let report = r#"{"width": 1280, "height": 720, "frames": 100, "findings": []}"#;
    std::fs::write(&findings, report).unwrap();
    std::fs::write(&sidecar, b"{}").unwrap();
    let (config_s, findings_s, sidecar_s) = (config.to_str().unwrap(), findings.to_str().unwrap(), sidecar.to_str().unwrap());
    let out = dir.path().join("out.mp4");
    let runs: [(&[&str], &str); 2] = [
        (&["--config", config_s, "--stats", config_s, "--overwrite"], "cam.toml: is the file of --config, which this run reads"),
        (&["--obscure-findings", findings_s, "--sidecar", findings_s, "--overwrite"], "audit.json: is the file of --obscure-findings, which this run reads"),
    ];
    for (args, expect) in runs {
        let before = dir_entries(dir.path());
        let run = redact_within(Duration::from_secs(30), &input, &out, args);
        assert_failed_cleanly(&run, dir.path(), &before, &[expect]);
    }
    let before = dir_entries(dir.path());
    let mut audit = veilcam();
    audit.args(["-q", "audit"]).arg(&input).args(["--sidecar", sidecar_s, "--json", sidecar_s, "--overwrite"]);
    let run = run_within(Duration::from_secs(30), audit);
    assert_failed_cleanly(&run, dir.path(), &before, &["r.json: is the file of --sidecar, which this run reads"]);
    assert_eq!(std::fs::read(&sidecar).unwrap(), b"{}");
    assert_eq!(std::fs::read_to_string(&findings).unwrap(), report);
    assert!(std::fs::read_to_string(&config).unwrap().starts_with("[cameras.front"));
}

#[test]
fn an_existing_stats_file_is_kept_without_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let stats = dir.path().join("stats.json");
    std::fs::write(&stats, b"precious").unwrap();
    let before = dir_entries(dir.path());
    let run = redact_within(Duration::from_secs(30), &sample("faces.mp4"), &dir.path().join("out.mp4"), &["--stats", stats.to_str().unwrap()]);
    assert_failed_cleanly(&run, dir.path(), &before, &["stats.json", "already exists"]);
    assert_eq!(std::fs::read(&stats).unwrap(), b"precious");
}

#[test]
fn outputs_naming_the_same_file_or_an_unwritable_place_are_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.mp4");
    std::fs::write(dir.path().join("plain-file"), b"x").unwrap();
    let unwritable = dir.path().join("plain-file/stats.json");
    for args in [vec!["--sidecar", out.to_str().unwrap()], vec!["--stats", unwritable.to_str().unwrap()]] {
        let before = dir_entries(dir.path());
        let started = Instant::now();
        let run = redact_within(Duration::from_secs(30), &sample("vtest.avi"), &out, &args);
        assert_failed_cleanly(&run, dir.path(), &before, &[]);
        assert!(started.elapsed() < Duration::from_secs(10), "refused before redacting, not after");
    }
}

#[test]
fn images_honour_sidecar_and_stats() {
    let dir = tempfile::tempdir().unwrap();
    let (out, sidecar, stats) = (dir.path().join("out.png"), dir.path().join("s.json"), dir.path().join("st.json"));
    let run = redact_within(
        Duration::from_secs(60),
        &sample("astronaut.png"),
        &out,
        &["--sidecar", sidecar.to_str().unwrap(), "--stats", stats.to_str().unwrap()],
    );
    assert!(run.status.success(), "{}", stderr(&run));
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&sidecar).unwrap()).unwrap();
    let frames = json["frames"].as_array().unwrap();
    assert_eq!(frames.len(), 1);
    assert!(!frames[0]["tracks"].as_array().unwrap().is_empty(), "the astronaut's face is in the sidecar");
    let obscured = frames[0]["obscured"].as_array().unwrap();
    assert!(obscured.iter().any(|o| o["class"] == "face" && o["why"] == "face"), "and recorded as obscured: {obscured:?}");
    let stats: serde_json::Value = serde_json::from_slice(&std::fs::read(&stats).unwrap()).unwrap();
    assert_eq!(stats["frames"], 1);
}

#[test]
fn an_output_name_near_name_max_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let name = format!("{}.mp4", "n".repeat(240));
    let out = dir.path().join(&name);
    let run = redact_within(Duration::from_secs(60), &sample("faces.mp4"), &out, &[]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(out.is_file());
}

// ---------------------------------------------------------------------------------------------
// 9, 15. Inputs that are not regular files
// ---------------------------------------------------------------------------------------------

#[test]
fn fifos_devices_and_symlink_loops_are_refused_with_their_cause() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("p.jpg");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let looped = dir.path().join("loop.mp4");
    std::os::unix::fs::symlink(&looped, &looped).unwrap();
    let cases: [(&Path, &str, &str); 3] =
        [(&fifo, "o.jpg", "FIFO"), (Path::new("/dev/zero"), "o.mp4", "character device"), (&looped, "o.mp4", "symbolic links")];
    for (input, output, cause) in cases {
        let before = dir_entries(dir.path());
        let run = redact_within(Duration::from_secs(20), input, &dir.path().join(output), &[]);
        assert_failed_cleanly(&run, dir.path(), &before, &[cause]);
        assert!(!stderr(&run).contains("file is empty"), "{}", stderr(&run));
    }
}

// ---------------------------------------------------------------------------------------------
// 13, 19. What veilcam says, and that saying it never aborts a run
// ---------------------------------------------------------------------------------------------

#[test]
fn a_closed_stderr_does_not_abort_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.mp4");
    let mut child = veilcam()
        .arg("redact")
        .arg(sample("faces.mp4"))
        .arg("-o")
        .arg(&out)
        .args(FAST)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stderr.take()); // the reader is gone, as with `2>&1 | head -1`
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "a run whose stderr closed still succeeds");
    assert_eq!(probe(&out).frames.len(), 100);
}

/// `veilcam audit out.mp4 | head -1` panicked (exit 101, a backtrace on stderr) when the reader
/// had gone before the findings were listed: `println!` aborts on a closed stdout.
#[test]
fn a_closed_stdout_does_not_abort_an_audit_nor_change_its_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("faces.mp4");
    let json = dir.path().join("audit.json");
    let src = source_frames(&sample("faces.mp4"), 10, FACES_W as u32, FACES_H as u32);
    encode_frames(&src, &Timing::Fps(25, 1), &format!("{X264_FAST} ! mp4mux"), "", &clip);
    let mut child = veilcam()
        .arg("audit")
        .arg(&clip)
        .arg("--json")
        .arg(&json)
        .args(["--no-moving", "--no-follow", "--no-around"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader is gone, as with `| head -0`
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(4), "the unredacted faces are still reported by the exit code: {err}");
    assert!(!err.contains("panicked"), "{err}");
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert!(!report["findings"].as_array().unwrap().is_empty());
}

#[test]
fn default_output_is_one_plain_summary_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = veilcam();
    cmd.arg("redact").arg(sample("faces.mp4")).arg("-o").arg(dir.path().join("out.mp4")).args(FAST);
    let out = run_within(Duration::from_secs(60), cmd);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one summary line when not on a terminal:\n{err}");
    assert!(lines[0].contains("100 frames") && lines[0].contains("face detections"), "{err}");
    assert!(!err.contains('\x1b'), "no colour codes in a pipe: {err:?}");
    assert!(!err.contains("Some("), "no debug formatting: {err}");
}

#[test]
fn person_detections_are_not_called_face_detections() {
    let dir = tempfile::tempdir().unwrap();
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/veilcam.toml");
    let mut cmd = veilcam();
    cmd.arg("redact").arg(sample("vtest.avi")).arg("-o").arg(dir.path().join("out.mp4")).args(FAST);
    cmd.arg("--config").arg(config);
    let out = run_within(Duration::from_secs(120), cmd);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("person detections"), "persons are counted apart: {err}");
}

#[test]
fn a_text_file_is_reported_as_an_unrecognised_format() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("notes.mp4");
    std::fs::write(&input, "meeting notes, not a video\n".repeat(50)).unwrap();
    let before = dir_entries(dir.path());
    let run = redact_within(Duration::from_secs(30), &input, &dir.path().join("out.mp4"), &[]);
    assert_failed_cleanly(&run, dir.path(), &before, &["notes.mp4", "not a video or image format"]);
}

// ---------------------------------------------------------------------------------------------
// 20. Signals: stop, clean up, exit — on one path
// ---------------------------------------------------------------------------------------------

/// Starts a redaction of vtest.avi (with a sidecar and stats) into `dir`.
fn start_redaction(dir: &Path) -> std::process::Child {
    redaction(dir).spawn().expect("veilcam runs")
}

/// The command [`start_redaction`] runs.
fn redaction(dir: &Path) -> Command {
    let mut command = veilcam();
    command
        .args(["-q", "redact"])
        .arg(sample("vtest.avi"))
        .arg("-o")
        .arg(dir.join("out.mp4"))
        .arg("--sidecar")
        .arg(dir.join("out.json"))
        .arg("--stats")
        .arg(dir.join("stats.json"))
        .args(FAST)
        .stderr(Stdio::piped());
    command
}

/// Waits until the redaction started by [`start_redaction`] has made its three temp files.
fn wait_for_temp_files(dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while dir_entries(dir).len() < 3 {
        assert!(Instant::now() < deadline, "no temp files appeared");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn signal(child: &std::process::Child, sig: libc::c_int) {
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, sig) }, 0);
}

/// Waits (at most a minute) until `child` catches SIGINT, as its `/proc` status says.
fn wait_for_sigint_handler(child: &std::process::Child) {
    let status = format!("/proc/{}/status", child.id());
    let catches = || {
        let text = std::fs::read_to_string(&status).unwrap_or_default();
        let caught = text.lines().find_map(|l| l.strip_prefix("SigCgt:")).and_then(|m| u64::from_str_radix(m.trim(), 16).ok());
        caught.is_some_and(|mask| mask & (1 << (libc::SIGINT - 1)) != 0)
    };
    let started = std::time::Instant::now();
    while !catches() {
        assert!(started.elapsed() < Duration::from_secs(60), "veilcam never caught SIGINT");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Waits for the child and returns its exit code and stderr.
fn finish(mut child: std::process::Child) -> (Option<i32>, String) {
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    (child.wait().unwrap().code(), err)
}

#[test]
fn sigterm_and_sighup_stop_the_run_and_leave_nothing() {
    for sig in [libc::SIGTERM, libc::SIGHUP] {
        let dir = tempfile::tempdir().unwrap();
        let child = start_redaction(dir.path());
        wait_for_temp_files(dir.path());
        std::thread::sleep(Duration::from_millis(300));
        signal(&child, sig);
        let (code, err) = finish(child);
        assert_eq!(code, Some(130), "signal {sig}: {err}");
        assert!(err.contains("interrupted"), "{err}");
        assert!(dir_entries(dir.path()).is_empty(), "left behind: {:?}", dir_entries(dir.path()));
    }
}

/// Found by hostile use: veilcam handled SIGHUP even when started with it ignored, so a `nohup
/// veilcam batch …` ended at logout. A hangup ignored by whoever started the run stays ignored.
#[test]
fn a_run_started_under_nohup_outlives_a_hangup() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = redaction(dir.path());
    // SAFETY: signal(2) in the child before exec, as nohup does.
    unsafe {
        command.pre_exec(|| {
            libc::signal(libc::SIGHUP, libc::SIG_IGN);
            Ok(())
        });
    }
    let child = command.spawn().expect("veilcam runs");
    wait_for_sigint_handler(&child);
    wait_for_temp_files(dir.path());
    signal(&child, libc::SIGHUP);
    let (code, err) = finish(child);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(dir_entries(dir.path()), ["out.json", "out.mp4", "stats.json"]);
}

/// Found by hostile use: a run killed outright (SIGKILL, the OOM killer, a power cut) cannot
/// clean up, and its temp files stayed beside the outputs for good. The next run of the same
/// outputs removes them.
#[test]
fn temp_files_of_a_killed_run_are_removed_by_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    let child = start_redaction(dir.path());
    wait_for_temp_files(dir.path());
    std::thread::sleep(Duration::from_millis(1100)); // older than a writer's first moment
    signal(&child, libc::SIGKILL);
    finish(child);
    assert_eq!(dir_entries(dir.path()).len(), 3, "the kill left three temp files");
    let (code, err) = finish(start_redaction(dir.path()));
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(dir_entries(dir.path()), ["out.json", "out.mp4", "stats.json"], "only the outputs are left");
}

/// Found by hostile use: under `ulimit -n 24` GStreamer could not make its poll descriptors
/// and spun for minutes, writing a million warnings, before failing with a misleading error.
/// A limit too low to run is refused at once, naming it; a low soft limit is raised to the
/// hard one.
#[test]
fn an_open_file_limit_too_low_to_run_is_refused_at_once_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let with_limit = |soft: u64, hard: u64| {
        let mut command = veilcam();
        command.args(["-q", "redact"]).arg(sample("vtest.avi")).arg("-o").arg(dir.path().join("out.mp4")).args(FAST).args(["--overwrite"]);
        // SAFETY: setrlimit(2) in the child before exec.
        unsafe {
            command.pre_exec(move || {
                let rlimit = libc::rlimit { rlim_cur: soft, rlim_max: hard };
                libc::setrlimit(libc::RLIMIT_NOFILE, &rlimit);
                Ok(())
            });
        }
        command.output().unwrap()
    };
    let refused = with_limit(24, 24);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{err}");
    assert!(err.contains("open-file limit is 24") && err.lines().count() == 1, "{err}");
    assert!(dir_entries(dir.path()).is_empty());
    let raised = with_limit(24, 1024);
    assert!(raised.status.success(), "{}", String::from_utf8_lossy(&raised.stderr));
    assert_eq!(dir_entries(dir.path()), ["out.mp4"]);
}

/// Found by hostile use: ONNX Runtime (1.29 on) logged a `ProcessInfo` event (the program's
/// path, the OS, a device id) for upload to Microsoft, kept under
/// `~/.cache/Microsoft/DeveloperTools`, on every run. A privacy tool sends nothing anywhere.
#[test]
fn a_run_leaves_no_telemetry_of_onnx_runtime_behind() {
    let home = tempfile::tempdir().unwrap();
    let out = home.path().join("out.png");
    let run = veilcam()
        .args(["-q", "redact"])
        .arg(sample("astronaut.png"))
        .arg("-o")
        .arg(&out)
        .env("HOME", home.path())
        .env("VEILCAM_ORT_LIB", veilcam::detect::runtime::locate_library(None))
        .env_remove("XDG_CACHE_HOME")
        .env_remove("ORT_DISABLE_TELEMETRY")
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert_eq!(dir_entries(home.path()), ["out.png"], "nothing but the output under HOME");
}

/// Found by hostile use: an output directory renamed during a run made the run fail (its
/// outputs' paths were gone), and its temp files, finished redactions, stayed in the renamed
/// directory. They are removed wherever their directory went.
#[test]
fn an_output_directory_renamed_during_the_run_keeps_no_temp_file() {
    let root = tempfile::tempdir().unwrap();
    let (dir, moved) = (root.path().join("a"), root.path().join("a2"));
    std::fs::create_dir(&dir).unwrap();
    let child = start_redaction(&dir);
    wait_for_temp_files(&dir);
    std::fs::rename(&dir, &moved).unwrap();
    let (code, err) = finish(child);
    assert_eq!(code, Some(1), "{err}");
    assert!(dir_entries(&moved).is_empty(), "left behind: {:?}", dir_entries(&moved));
}

/// Found by hostile use: the warning that removes a killed run's temp file printed the file's
/// name as it is, so a name holding a line break forged a line of veilcam's own.
#[test]
fn a_killed_runs_temp_file_cannot_forge_a_log_line_by_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("k\nveilcam: FORGED\r.mp4");
    let run = || veilcam().args(["redact"]).arg(sample("vtest.avi")).arg("-o").arg(&out).args(FAST).arg("--overwrite").stderr(Stdio::piped()).spawn().unwrap();
    let child = run();
    let deadline = Instant::now() + Duration::from_secs(60);
    while dir_entries(dir.path()).is_empty() {
        assert!(Instant::now() < deadline, "no temp file appeared");
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(1100)); // older than a writer's first moment
    signal(&child, libc::SIGKILL);
    finish(child);
    let (code, err) = finish(run());
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("left by a run that was killed"), "the temp file was removed: {err}");
    assert!(!err.lines().any(|l| l.starts_with("veilcam: FORGED")), "{err}");
}

#[test]
fn an_interruption_at_any_moment_leaves_all_outputs_or_none() {
    // Interrupts at moments spread over the run: before work starts, while frames flow, while
    // the outputs are finished and committed. Every run must end with code 0 (it finished
    // first: all three outputs) or 130 (none), never a crash or a leftover temp file.
    let mut interrupted = 0;
    for i in 0..10u64 {
        let dir = tempfile::tempdir().unwrap();
        let child = start_redaction(dir.path());
        // From when it catches SIGINT: before that, a signal kills it as it kills any process
        // (found by CI review: on a loaded machine 50 ms can come before the handler).
        wait_for_sigint_handler(&child);
        std::thread::sleep(Duration::from_millis(50 + i * 280));
        signal(&child, libc::SIGINT);
        let (code, err) = finish(child);
        let left = dir_entries(dir.path());
        match code {
            Some(130) => {
                interrupted += 1;
                assert!(left.is_empty(), "run {i}: interrupted but left {left:?}:\n{err}");
            }
            Some(0) => assert_eq!(left, ["out.json", "out.mp4", "stats.json"], "run {i}: finished but wrote {left:?}"),
            other => panic!("run {i}: exit {other:?}:\n{err}"),
        }
        assert!(!err.contains("ONNX") && !err.contains("panicked"), "run {i}: {err}");
    }
    assert!(interrupted >= 3, "most runs were interrupted mid-way ({interrupted} of 10)");
}

/// `veilcam bench` transcodes the clip plainly to compare: that copy is the footage unredacted,
/// and it was left in the work directory (found by hostile use). Only the redacted one stays.
#[test]
fn bench_keeps_no_unredacted_copy_of_the_clip() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_veilcam"))
        .args(["-q", "bench"])
        .arg(sample("faces.mp4"))
        .args(["--runs", "1", "--preset", "ultrafast", "--work-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ratio redact / plain"), "the bench still compares");
    let left: Vec<String> = dir_entries(dir.path()).into_iter().filter(|n| n.ends_with(".mp4")).collect();
    assert_eq!(left, ["redact.mp4"], "only the redacted output stays");
}

/// The veilcam processes still running with `dir` on their command line.
fn children_working_in(dir: &Path) -> Vec<String> {
    let needle = dir.to_string_lossy().into_owned();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains("veilcam") && c.contains(&needle))
        .collect()
}

/// Found by hostile use: a bench killed with SIGKILL (an operator, the OOM killer) left its
/// plain-transcode child running on, which finished a whole unredacted `plain.mp4` in the work
/// directory; and a bench ignored SIGTERM. Now the transcode has no file name at all, the
/// children end with the bench, and a signal stops it.
#[test]
fn a_killed_or_interrupted_bench_leaves_no_child_and_no_unredacted_file() {
    let input = sample("vtest.avi");
    for signal in [libc::SIGKILL, libc::SIGTERM] {
        let dir = tempfile::tempdir().unwrap();
        let mut bench = veilcam()
            .args(["-q", "bench"])
            .arg(&input)
            .args(["--runs", "3", "--preset", "ultrafast", "--work-dir"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Mid-way through the plain transcode (it writes its stats when done).
        let deadline = Instant::now() + Duration::from_secs(30);
        while children_working_in(dir.path()).iter().all(|c| !c.contains(" transcode ")) {
            assert!(Instant::now() < deadline, "the transcode never started");
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(200));
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(bench.id() as libc::pid_t, signal) };
        let started = Instant::now();
        let status = bench.wait().unwrap();
        assert!(!status.success(), "signal {signal}: {status}");
        assert!(started.elapsed() < Duration::from_secs(10), "signal {signal}: the bench took {:?} to stop", started.elapsed());
        let deadline = Instant::now() + Duration::from_secs(10);
        while !children_working_in(dir.path()).is_empty() {
            assert!(Instant::now() < deadline, "signal {signal}: children left running: {:?}", children_working_in(dir.path()));
            std::thread::sleep(Duration::from_millis(50));
        }
        let videos: Vec<String> = dir_entries(dir.path()).into_iter().filter(|n| n.contains(".mp4")).collect();
        assert!(videos.is_empty(), "signal {signal}: left {videos:?}");
    }
}

/// Found by hostile use: every output was made 0644 whatever the umask, so on a host whose
/// operator chose umask 077 an unredacted zones preview or a subject-access output became
/// readable by every user. Outputs now follow the umask.
#[test]
fn outputs_follow_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let image = sample("faces/grace_hopper.jpg");
    let (out, sidecar) = (dir.path().join("out.jpg"), dir.path().join("out.json"));
    let mut cmd = veilcam();
    cmd.args(["-q", "redact"]).arg(&image).arg("-o").arg(&out).arg("--sidecar").arg(&sidecar);
    // SAFETY: umask(2) is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::umask(0o077);
            Ok(())
        });
    }
    let run = run_within(Duration::from_secs(60), cmd);
    assert!(run.status.success(), "{}", stderr(&run));
    for path in [&out, &sidecar] {
        let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}: {mode:o}", path.display());
    }
}

/// Found by hostile use: a variable-rate MP4 whose H.264 timing claimed 1,000,000,000 fps
/// (what x264enc writes for a frame rate of 0/1) was encoded under a second's peak rate split
/// among a billion frames: every output frame showed the first one's picture (exit 0, the
/// timestamps exact). The encoder now paces by the frames' timestamps.
#[test]
fn a_frame_rate_no_camera_films_at_does_not_freeze_the_output() {
    use gstreamer_app as gst_app;
    init();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("vfr.mp4");
    // Frames of a moving ball, given to x264enc with a frame rate of 0/1.
    let frames = gst::parse::launch("videotestsrc num-buffers=40 pattern=ball ! video/x-raw,format=I420,width=320,height=240,framerate=25/1 ! appsink name=out sync=false").unwrap();
    let frames = frames.downcast::<gst::Pipeline>().unwrap();
    let appsink = frames.by_name("out").unwrap().downcast::<gst_app::AppSink>().unwrap();
    let encode = gst::parse::launch(&format!(
        "appsrc name=in format=time caps=video/x-raw,format=I420,width=320,height=240,framerate=0/1 ! x264enc speed-preset=ultrafast ! h264parse ! mp4mux ! filesink location={}",
        input.display()
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let appsrc = encode.by_name("in").unwrap().downcast::<gst_app::AppSrc>().unwrap();
    frames.set_state(gst::State::Playing).unwrap();
    encode.set_state(gst::State::Playing).unwrap();
    // Irregular times (a pause after every tenth frame), so the container's rate is no
    // constant one either and the decoder takes the stream's.
    let at = |i: u64| gst::ClockTime::from_mseconds(i * 40 + i / 10 * 100);
    for i in 0.. {
        let Ok(sample) = appsink.pull_sample() else { break };
        let mut buffer = sample.buffer_owned().unwrap();
        let b = buffer.make_mut();
        b.set_pts(at(i));
        b.set_duration(at(i + 1) - at(i));
        appsrc.push_buffer(buffer).unwrap();
    }
    appsrc.end_of_stream().unwrap();
    let msg = encode.bus().unwrap().timed_pop_filtered(gst::ClockTime::from_seconds(30), &[gst::MessageType::Eos, gst::MessageType::Error]);
    assert!(matches!(msg.as_ref().map(|m| m.view()), Some(gst::MessageView::Eos(..))), "{msg:?}");
    frames.set_state(gst::State::Null).unwrap();
    encode.set_state(gst::State::Null).unwrap();
    let output = dir.path().join("out.mp4");
    let out = redact_within(Duration::from_secs(60), &input, &output, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let (before, after) = (decode_gray(&input), decode_gray(&output));
    assert_eq!(before.len(), after.len());
    let mean_diff = |a: &[u8], b: &[u8]| a.iter().zip(b).map(|(x, y)| x.abs_diff(*y) as f64).sum::<f64>() / a.len() as f64;
    for (i, (b, a)) in before.iter().zip(&after).enumerate() {
        // No face in the picture: the output is the input, re-encoded.
        assert!(mean_diff(b, a) < 4.0, "frame {i} is not the input's picture (mean difference {:.1})", mean_diff(b, a));
    }
}

/// Found by hostile use: top-field-first interlaced video came out bottom-field-first (the
/// decoder marks the order on each frame, the encoder reads it from the caps alone), so every
/// pair of fields played in reverse time order on a deinterlacing player.
#[test]
fn interlaced_video_keeps_its_field_order() {
    use gstreamer_app as gst_app;
    init();
    let dir = tempfile::tempdir().unwrap();
    for tff in [true, false] {
        let input = dir.path().join(format!("interlaced-{tff}.mkv"));
        gst_launch(&format!(
            "videotestsrc num-buffers=10 pattern=ball ! video/x-raw,width=320,height=240,framerate=25/1 ! interlace field-pattern=2:2 top-field-first={tff} \
             ! x264enc interlaced=true speed-preset=ultrafast ! h264parse ! matroskamux ! filesink location={}",
            input.display()
        ));
        let output = dir.path().join(format!("out-{tff}.mp4"));
        let out = redact_within(Duration::from_secs(60), &input, &output, &["--overwrite"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let decode = gst::parse::launch(&format!("filesrc location={} ! decodebin ! appsink name=out sync=false", output.display())).unwrap();
        let decode = decode.downcast::<gst::Pipeline>().unwrap();
        let appsink = decode.by_name("out").unwrap().downcast::<gst_app::AppSink>().unwrap();
        decode.set_state(gst::State::Playing).unwrap();
        let caps = appsink.pull_sample().unwrap().caps_owned().unwrap();
        decode.set_state(gst::State::Null).unwrap();
        let order = caps.structure(0).unwrap().get::<String>("field-order").unwrap_or_default();
        assert_eq!(order, if tff { "top-field-first" } else { "bottom-field-first" }, "{caps}");
    }
}
