//! Encoding redacted frames to a file:
//! `appsrc ! videoconvert ! x264enc ! mp4mux|matroskamux|qtmux ! filesink`.
//!
//! Buffers keep the decoder's PTS and duration and the appsrc caps are the decoder's caps, so
//! the output has the input's frame count, timestamps and frame rate. With `keep_audio`, the
//! input is opened a second time inside this pipeline and its audio re-encoded to AAC; GStreamer's
//! muxer paces that branch, so audio never piles up in memory. The muxer keeps only the tags set
//! on it (none), so no tag of the input (title, artist, comment, location …) reaches the file.
//!
//! A file whose first frame or sound comes late (an MP4 edit list that starts them after the
//! movie's start) starts as late in the output: mp4mux and qtmux would start the earliest of
//! them at the file's start, so the finished file is given an empty edit first
//! ([`super::edit_list`]).
//!
//! The appsrc never blocks: [`FileSink::push`] waits for room in its queue itself while watching
//! the bus, so an encoder, muxer or disk that fails (disk full, a frame size x264 refuses) ends
//! the run with that error within milliseconds instead of leaving the caller blocked forever
//! in `push_buffer`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;
use gst::prelude::*;

use crate::bus::{self, BusEvent};
use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::output::AtomicOutput;

/// Smallest frame side the H.264 encoder takes (x264enc refuses to negotiate below it).
pub const MIN_SIDE: u32 = 16;
/// x264 speed presets, fastest first.
pub const PRESETS: [&str; 10] =
    ["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo"];
/// Bytes of raw video the appsrc may queue before `push` waits for the encoder.
const QUEUE_FRAMES: u64 = 4;
/// Longest wait for the encoder and muxer to drain after the last frame.
const FINISH_TIMEOUT: Duration = Duration::from_secs(300);
/// Longest time the encoder may take a frame from a full queue before the run fails as stalled.
const STALL_TIMEOUT: Duration = Duration::from_secs(120);
/// How often a full queue is looked at again (the bus wakes the wait at once on an error).
const QUEUE_POLL: gst::ClockTime = gst::ClockTime::from_mseconds(10);

/// Encoder choices.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncoderSettings {
    /// x264 speed preset (one of [`PRESETS`]).
    pub preset: String,
    /// Constant quality (x264 CRF, 0–51, lower is better).
    pub crf: u32,
    /// Encoder threads, 0 for x264's choice. x264 in GStreamer does not give the same bytes
    /// twice for the same input with more than one thread; one thread does.
    pub threads: u32,
}

impl Default for EncoderSettings {
    fn default() -> Self {
        EncoderSettings { preset: "veryfast".into(), crf: 21, threads: 0 }
    }
}

/// An encoding output file.
pub struct FileSink {
    target: PathBuf,
    /// Taken by `finish`; dropping it unfinished removes the temp file.
    output: Option<AtomicOutput>,
    pipeline: gst::Pipeline,
    appsrc: gst_app::AppSrc,
    bus: gst::Bus,
    /// Bytes of raw frames the appsrc may hold before `push` waits.
    max_queued: u64,
    /// Whether the muxer starts its earliest stream at the file's start (mp4mux and qtmux;
    /// [`super::edit_list`]).
    starts_earliest_at_zero: bool,
    /// What the audio branch kept, if anything.
    sound: Arc<Sound>,
    /// The first frame's time.
    first_pts: Option<gst::ClockTime>,
}

impl FileSink {
    /// Builds and starts the encoder for frames described by `caps`.
    pub fn create(output: AtomicOutput, caps: &gst::Caps, enc: &EncoderSettings, audio_from: Option<&Path>) -> Result<Self> {
        crate::init_gstreamer()?;
        let target = output.target().to_path_buf();
        let info = gst_video::VideoInfo::from_caps(caps).map_err(|e| encode_err(&target, format!("caps {caps}: {e}")))?;
        if info.width() < MIN_SIDE || info.height() < MIN_SIDE {
            let why = format!("frames of {}x{} are too small for the H.264 encoder (at least {MIN_SIDE}x{MIN_SIDE})", info.width(), info.height());
            return Err(encode_err(&target, why));
        }
        let muxer = muxer_for(&target)?;
        let sound = Arc::new(Sound::default());
        let caps = encodable_caps(caps, &info);
        let (pipeline, appsrc) = build(output.temp_path(), &caps, &info, enc, muxer, audio_from.map(|input| (input, Arc::clone(&sound))))
            .map_err(|e| missing_or_encode(&target, e))?;
        let bus = pipeline.bus().expect("a pipeline has a bus");
        let max_queued = info.size() as u64 * QUEUE_FRAMES;
        let starts_earliest_at_zero = muxer != "matroskamux";
        let sink = FileSink { target, output: Some(output), pipeline, appsrc, bus, max_queued, starts_earliest_at_zero, sound, first_pts: None };
        sink.pipeline.set_state(gst::State::Playing).map_err(|_| sink.failure("cannot start the encoder"))?;
        Ok(sink)
    }

    /// Hands one redacted frame to the encoder, waiting while its queue is full.
    pub fn push(&mut self, frame: Frame) -> Result<()> {
        self.wait_for_room()?;
        if self.first_pts.is_none() {
            self.first_pts = frame.buffer.pts();
        }
        self.appsrc.push_buffer(frame.buffer).map_err(|flow| self.failure(&format!("encoder refused frame {}: {flow:?}", frame.index)))?;
        Ok(())
    }

    /// Waits until the appsrc queue has room, failing as soon as the pipeline reports an error,
    /// ends early, stalls, or the run is interrupted.
    fn wait_for_room(&self) -> Result<()> {
        let mut level = self.appsrc.current_level_bytes();
        let mut moved_at = Instant::now();
        loop {
            match bus::poll(&self.bus, gst::ClockTime::ZERO) {
                Some(BusEvent::Failure(f)) => return Err(encode_err(&self.target, f.0)),
                Some(BusEvent::Eos) => return Err(encode_err(&self.target, "the encoder ended before the last frame".into())),
                None => {}
            }
            if level < self.max_queued {
                return Ok(());
            }
            crate::interrupt::check()?;
            if let Some(BusEvent::Failure(f)) = bus::poll(&self.bus, QUEUE_POLL) {
                return Err(encode_err(&self.target, f.0));
            }
            let now = self.appsrc.current_level_bytes();
            if now != level {
                (level, moved_at) = (now, Instant::now());
            } else if moved_at.elapsed() > STALL_TIMEOUT {
                return Err(encode_err(&self.target, format!("the encoder took no frame for {} s", STALL_TIMEOUT.as_secs())));
            }
        }
    }

    /// Drains the encoder and closes the file. The output is complete but not yet in place:
    /// the caller commits it together with the run's other outputs
    /// ([`crate::output::commit_all`]).
    pub fn finish(mut self) -> Result<AtomicOutput> {
        self.appsrc.end_of_stream().map_err(|flow| self.failure(&format!("cannot end stream: {flow:?}")))?;
        let deadline = Instant::now() + FINISH_TIMEOUT;
        loop {
            crate::interrupt::check()?;
            match bus::poll(&self.bus, gst::ClockTime::from_mseconds(100)) {
                Some(BusEvent::Eos) => break,
                Some(BusEvent::Failure(f)) => return Err(encode_err(&self.target, f.0)),
                None if Instant::now() > deadline => {
                    return Err(encode_err(&self.target, "timed out finishing the file".into()))
                }
                None => {}
            }
        }
        self.pipeline
            .set_state(gst::State::Null)
            .map_err(|_| encode_err(&self.target, "cannot close the file".into()))?;
        let output = self.output.take().expect("finish runs once");
        // mp4mux starts the earlier of the picture and the sound at the file's start, and the
        // other as long after it as it was.
        let first = match (self.first_pts, self.sound.first()) {
            (Some(picture), Some(sound)) => Some(picture.min(sound)),
            (picture, sound) => picture.or(sound),
        };
        match first {
            Some(late) if self.starts_earliest_at_zero && late > gst::ClockTime::ZERO => {
                super::edit_list::start_late(output.temp_path(), late.nseconds())
                    .map_err(|why| encode_err(&self.target, format!("cannot start the file {late} late as in the input: {why}")))?;
                // A player shows nothing before it, as it does with the input.
                tracing::info!(output = %self.target.display(), starts_at = %late, "the file starts late, as in the input");
            }
            _ => {}
        }
        Ok(output)
    }

    /// The error on the bus, or `fallback`.
    fn failure(&self, fallback: &str) -> Error {
        let message = match bus::poll(&self.bus, gst::ClockTime::from_mseconds(50)) {
            Some(BusEvent::Failure(f)) => f.0,
            _ => fallback.to_string(),
        };
        encode_err(&self.target, message)
    }
}

/// What the audio branch kept, told from its streaming threads.
#[derive(Default)]
struct Sound {
    /// A sound to keep was found.
    found: AtomicBool,
    /// The running time of its first encoded buffer: when it starts at the muxer.
    first: OnceLock<gst::ClockTime>,
}

impl Sound {
    /// When the kept sound starts at the muxer, if a sound passed.
    fn first(&self) -> Option<gst::ClockTime> {
        self.first.get().copied()
    }

    /// Notes the running times of the buffers leaving `pad`, until the first.
    fn watch_start(self: &Arc<Self>, pad: &gst::Pad) {
        let sound = Arc::clone(self);
        pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| match info.buffer().and_then(|b| crate::running_time::on_pad(pad, b)) {
            Some(t) => {
                let _ = sound.first.set(t);
                gst::PadProbeReturn::Remove
            }
            None => gst::PadProbeReturn::Ok,
        });
    }
}

impl Drop for FileSink {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

fn encode_err(path: &Path, message: String) -> Error {
    Error::Encode { path: path.to_path_buf(), message }
}

fn missing_or_encode(path: &Path, e: gst::glib::BoolError) -> Error {
    let message = e.to_string();
    if message.contains("Failed to create element") || message.contains("no such element") {
        Error::MissingElement { path: path.to_path_buf(), message }
    } else {
        encode_err(path, message)
    }
}

/// The input end of every encoding pipeline: `appsrc` (frames with their own timestamps,
/// holding at most `queue_frames` frames; non-blocking, since the caller waits for room itself
/// while watching the bus: a blocking appsrc would wait forever once the encoder has failed)
/// `! videoconvert ! capsfilter` to what x264 takes (4:2:0, or 4:4:4 at odd sizes, which 4:2:0
/// cannot hold).
pub(crate) fn raw_input(
    caps: &gst::Caps,
    info: &gst_video::VideoInfo,
    queue_frames: u64,
) -> std::result::Result<(gst_app::AppSrc, gst::Element, gst::Element), gst::glib::BoolError> {
    let appsrc = gst_app::AppSrc::builder()
        .name("frames")
        .caps(caps)
        .format(gst::Format::Time)
        .is_live(false)
        .do_timestamp(false)
        .block(false)
        .max_bytes(info.size() as u64 * queue_frames)
        .build();
    let convert = gst::ElementFactory::make("videoconvert").build()?;
    let odd = info.width() % 2 == 1 || info.height() % 2 == 1;
    let format = if odd { gst_video::VideoFormat::Y444 } else { gst_video::VideoFormat::I420 };
    let filter = gst::ElementFactory::make("capsfilter")
        .property("caps", gst_video::VideoCapsBuilder::new().format(format).build())
        .build()?;
    Ok((appsrc, convert, filter))
}

/// Frame rates above this are taken for a demuxer's or an encoder's placeholder, not a
/// camera's (phones film slow motion at up to 960 fps).
const MAX_PLAUSIBLE_FPS: i32 = 1000;

/// The decoder's caps as the encoder takes them: a frame rate no camera films at becomes 0/1
/// (variable), so x264 paces its rate control by the frames' own timestamps. Found by hostile
/// use: a variable-rate MP4 whose H.264 timing said 1,000,000,000 fps (what x264enc writes for
/// 0/1) left x264 under a second's peak rate a billionth of a bit a frame, and every frame of the
/// output showed the first one's picture (timestamps exact, exit 0).
fn encodable_caps(caps: &gst::Caps, info: &gst_video::VideoInfo) -> gst::Caps {
    let fps = info.fps();
    if fps.denom() <= 0 || fps.numer() / fps.denom() <= MAX_PLAUSIBLE_FPS {
        return caps.clone();
    }
    let mut caps = caps.clone();
    caps.make_mut().set("framerate", gst::Fraction::new(0, 1));
    caps
}

/// The muxer for a target's extension.
pub fn muxer_for(target: &Path) -> Result<&'static str> {
    let ext = target.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).unwrap_or_default();
    match ext.as_str() {
        "mp4" | "m4v" => Ok("mp4mux"),
        "mov" => Ok("qtmux"),
        "mkv" => Ok("matroskamux"),
        "" => Err(Error::Settings(format!("{}: no file extension (use .mp4, .mov or .mkv)", target.display()))),
        other => Err(Error::Settings(format!(
            "{}: unsupported output container '{other}' (use .mp4, .mov or .mkv)",
            target.display()
        ))),
    }
}

fn build(
    location: &Path,
    caps: &gst::Caps,
    info: &gst_video::VideoInfo,
    enc: &EncoderSettings,
    muxer: &str,
    audio_from: Option<(&Path, Arc<Sound>)>,
) -> std::result::Result<(gst::Pipeline, gst_app::AppSrc), gst::glib::BoolError> {
    let pipeline = gst::Pipeline::with_name("veilcam-encode");
    let (appsrc, convert, filter) = raw_input(caps, info, QUEUE_FRAMES)?;
    let encoder = gst::ElementFactory::make("x264enc").property("threads", enc.threads).build()?;
    super::h264::constant_quality(&encoder, enc.crf);
    encoder.set_property_from_str("speed-preset", &enc.preset);
    // No B-frames. With them, frames that come at irregular times (a live camera's recording,
    // any variable-rate video) are reordered so that the last one is presented past the end the
    // container records, and players and decoders drop it (found by hostile use: exports of
    // live recordings decoded to a frame fewer than their manifest states).
    encoder.set_property("bframes", 0u32);
    let mux = gst::ElementFactory::make(muxer).name("mux").build()?;
    if mux.has_property("trak-timescale") {
        mux.set_property("trak-timescale", track_timescale(info.fps()));
    }
    // The input's tags (title, artist, comment, GPS …) reach the muxer with the audio branch;
    // a muxer that keeps only the tags set on it (none) writes none of them.
    if let Some(setter) = mux.dynamic_cast_ref::<gst::TagSetter>() {
        setter.set_tag_merge_mode(gst::TagMergeMode::KeepAll);
    }
    let filesink = gst::ElementFactory::make("filesink").property("location", location).build()?;
    // No h264parse: x264enc already emits AVC access units the muxers take, and the parser
    // would drop the last frame's duration (it derives durations from the next frame).
    pipeline.add_many([appsrc.upcast_ref(), &convert, &filter, &encoder, &mux, &filesink])?;
    gst::Element::link_many([appsrc.upcast_ref(), &convert, &filter, &encoder, &mux, &filesink])?;
    if let Some((input, sound)) = audio_from {
        add_audio_branch(&pipeline, input, sound)?;
    }
    Ok((pipeline, appsrc))
}

/// MPEG's 90 kHz clock, the base of every MP4/MOV output's track time scale.
const BASE_TIMESCALE: u64 = 90_000;
/// The largest track time scale chosen for a frame rate (32-bit sample lengths then still hold
/// frames of 7 minutes).
const MAX_TIMESCALE: u64 = 10_000_000;

/// The track time scale of an MP4 or MOV output at `fps`. MP4 and MOV keep times in ticks of
/// it, by default one derived from the caps' frame rate (2500 a second at 25/1), which rounds a
/// live camera's jittery times to 0.4 ms. 90 kHz holds any millisecond and most rates exactly;
/// the smallest multiple of it in which one frame is a whole number of ticks holds the rest
/// (found by hostile use: at 90 kHz frames of 24000/1001 fps alternated 3754 and 3753 ticks,
/// and 7 fps frames drifted by up to 6 µs): 360 kHz for 24000/1001, 630 kHz for 7 fps.
fn track_timescale(fps: gst::Fraction) -> u32 {
    let (n, d) = (u64::try_from(fps.numer()).unwrap_or(0), u64::try_from(fps.denom()).unwrap_or(0));
    if n == 0 || d == 0 {
        return BASE_TIMESCALE as u32;
    }
    // A frame lasts d/n s, so T·d/n ticks: whole when n / gcd(n, d) divides T.
    let gcd = |mut a: u64, mut b: u64| {
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    };
    let step = n / gcd(n, d);
    let timescale = BASE_TIMESCALE / gcd(BASE_TIMESCALE, step) * step;
    u32::try_from(timescale).ok().filter(|&t| u64::from(t) <= MAX_TIMESCALE).unwrap_or(BASE_TIMESCALE as u32)
}

/// `filesrc ! decodebin` → first audio stream → `audioconvert ! audioresample ! avenc_aac ! mux`;
/// `sound` tells when a sound is found and when it starts.
fn add_audio_branch(pipeline: &gst::Pipeline, input: &Path, sound: Arc<Sound>) -> std::result::Result<(), gst::glib::BoolError> {
    let filesrc = gst::ElementFactory::make("filesrc").property("location", input).build()?;
    // Only audio is decoded here: other streams leave decodebin still encoded, into a fakesink
    // (found by hostile use: with the video decoded towards audio caps, every input without
    // an audio track failed with a "missing decoder" error).
    let decodebin = gst::ElementFactory::make("decodebin")
        .property("caps", gst::Caps::builder("audio/x-raw").build())
        .build()?;
    decodebin.connect("autoplug-continue", false, |args| {
        let caps = args.get(2).and_then(|c| c.get::<gst::Caps>().ok());
        Some(caps.is_none_or(|c| leads_to_audio(&c)).to_value())
    });
    pipeline.add_many([&filesrc, &decodebin])?;
    filesrc.link(&decodebin)?;
    let weak = pipeline.downgrade();
    decodebin.connect_pad_added(move |_, pad| {
        let Some(pipeline) = weak.upgrade() else { return };
        let is_audio = pad
            .current_caps()
            .and_then(|c| c.structure(0).map(|s| s.name().starts_with("audio/")))
            .unwrap_or(false);
        let target = if is_audio && !sound.found.swap(true, Ordering::SeqCst) {
            audio_chain(&pipeline, &sound)
        } else {
            gst::ElementFactory::make("fakesink").property("sync", false).property("async", false).build().and_then(|f| {
                pipeline.add(&f)?;
                f.sync_state_with_parent()?;
                Ok(f)
            })
        };
        match target {
            Ok(el) => {
                if let Err(e) = pad.link(&el.static_pad("sink").expect("sink pad")) {
                    tracing::error!("cannot link audio: {e:?}");
                }
            }
            Err(e) => tracing::error!("cannot build audio branch: {e}"),
        }
    });
    Ok(())
}

/// Whether decodebin should go on plugging after a stream of `caps`: for audio, and for a
/// container (caps a demuxer takes, such as `video/quicktime`) that may hold audio; not for a
/// video, picture or subtitle stream, which is left encoded.
fn leads_to_audio(caps: &gst::CapsRef) -> bool {
    let media = caps.structure(0).map(|s| s.name().as_str()).unwrap_or_default();
    let elementary = ["video/", "image/", "text/", "subpicture/", "closedcaption/"].iter().any(|p| media.starts_with(p));
    !elementary || demuxers().iter().any(|f| f.can_sink_any_caps(caps))
}

/// The registry's demuxers, listed once per process (decodebin asks [`leads_to_audio`] at each
/// stream it finds).
fn demuxers() -> &'static [gst::ElementFactory] {
    static DEMUXERS: std::sync::OnceLock<Vec<gst::ElementFactory>> = std::sync::OnceLock::new();
    DEMUXERS.get_or_init(|| gst::ElementFactory::factories_with_type(gst::ElementFactoryType::DEMUXER, gst::Rank::MARGINAL).into_iter().collect())
}

fn audio_chain(pipeline: &gst::Pipeline, sound: &Arc<Sound>) -> std::result::Result<gst::Element, gst::glib::BoolError> {
    let queue = gst::ElementFactory::make("queue").build()?;
    empty_tags(&queue.static_pad("sink").expect("queue has a sink pad"));
    let convert = gst::ElementFactory::make("audioconvert").build()?;
    let resample = gst::ElementFactory::make("audioresample").build()?;
    let encoder = gst::ElementFactory::make("avenc_aac").build()?;
    let mux = pipeline.by_name("mux").expect("mux exists");
    pipeline.add_many([&queue, &convert, &resample, &encoder])?;
    gst::Element::link_many([&queue, &convert, &resample, &encoder])?;
    encoder.link(&mux)?;
    sound.watch_start(&encoder.static_pad("src").expect("an encoder has a src pad"));
    for el in [&queue, &convert, &resample, &encoder] {
        el.sync_state_with_parent()?;
    }
    Ok(queue)
}

/// Empties every tag event that reaches `pad`: the audio stream's own tags (title, artist …)
/// would otherwise be written as track tags by matroskamux whatever its merge mode.
fn empty_tags(pad: &gst::Pad) {
    pad.add_probe(gst::PadProbeType::EVENT_DOWNSTREAM, |_, info| {
        let is_tag = matches!(&info.data, Some(gst::PadProbeData::Event(e)) if e.type_() == gst::EventType::Tag);
        if is_tag {
            info.data = Some(gst::PadProbeData::Event(gst::event::Tag::new(gst::TagList::new())));
        }
        gst::PadProbeReturn::Ok
    });
}

impl super::FrameSink for FileSink {
    fn push(&mut self, frame: &Frame, _applied: &super::Applied<'_>) -> Result<()> {
        FileSink::push(self, frame.share())
    }

    fn finish(self: Box<Self>) -> Result<Option<AtomicOutput>> {
        FileSink::finish(*self).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_track_time_scale_holds_one_frame_in_whole_ticks() {
        let cases = [((25, 1), 90_000), ((30000, 1001), 90_000), ((24000, 1001), 360_000), ((60000, 1001), 180_000), ((7, 1), 630_000), ((0, 1), 90_000)];
        for ((n, d), expected) in cases {
            let t = track_timescale(gst::Fraction::new(n, d));
            assert_eq!(t, expected, "{n}/{d}");
            if n > 0 {
                assert_eq!(u64::from(t) * d as u64 % n as u64, 0, "{n}/{d}: a frame is a whole number of ticks");
            }
        }
        // A rate no bounded multiple of 90 kHz holds stays at 90 kHz.
        assert_eq!(track_timescale(gst::Fraction::new(1_000_003, 1)), 90_000);
    }
}
