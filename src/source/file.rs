//! A video file decoded by GStreamer: `filesrc ! decodebin ! videoconvert ! videoflip ! videoscale
//! ! I420, square pixels ! appsink`, turned upright as the file's orientation tag says, and with
//! square pixels as players show it (`square_pixels`).
//!
//! Any container and codec GStreamer can decode works. Only the first video stream is used (a
//! warning names the file when it has more); other streams go to a `fakesink` (audio, if kept,
//! is read again by the sink). The pipeline is prerolled on open, so a file that is missing,
//! empty, truncated or not a video fails before any output exists.
//!
//! By default a file must decode cleanly to its end: a frame a decoder cannot decode, frames
//! it gives nothing back for (`FileSource::check_all_decoded`), a demuxer that meets the end of
//! the file mid-frame, or a stream that stops short of the container's duration ends the run
//! with that cause ([`super::integrity`]). With `salvage`
//! the frames that do decode go on with their own timestamps, and what was lost is recorded
//! as [`Damage`](super::integrity::Damage) (gaps in the timeline, undecodable frames, what GStreamer said).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gstreamer as gst;
use gstreamer_app as gst_app;
use gstreamer_base as gst_base;
use gst_base::prelude::*;
use gstreamer_video as gst_video;

use super::integrity::{self, DamageLog, Gap};
use super::FrameSource;
use crate::bus::{self, BusEvent};
use crate::error::{Error, Result};
use crate::frame::Frame;

/// How long a demuxer's logged error may take to reach the bus before the open gives up
/// waiting for it ([`DamageLog::demuxer_failure`]).
const DEMUXER_ERROR_GRACE: Duration = Duration::from_secs(1);

/// Frames the appsink may hold before the decoder waits.
const APPSINK_MAX_BUFFERS: u32 = 4;
/// How long one wait for a frame lasts before the bus is checked again.
const PULL_TIMEOUT: gst::ClockTime = gst::ClockTime::from_mseconds(100);
/// Longest time opening (prerolling) a file may take.
const PREROLL_TIMEOUT: Duration = Duration::from_secs(30);
const NO_VIDEO: &str = "veilcam-no-video";

/// A frame layout in words: "I420, 640×480, progressive, pixel aspect 1/1".
fn describe_layout(info: &gst_video::VideoInfo) -> String {
    format!("{}, {}×{}, {}, pixel aspect {}", info.format().to_str(), info.width(), info.height(), info.interlace_mode().to_str(), info.par())
}

/// Why frame `index` cannot be written: it has no timestamp, so neither has the output frame
/// (found by hostile use: a bare MJPEG or MPEG-4 stream, frames without a container, was
/// written as a video of one frame, or of none, and the run reported every frame done).
fn untimed(index: u64) -> String {
    format!(
        "frame {index} has no timestamp (a bare stream without a container?); put it in a container that gives its frame rate (MKV, MP4) and redact that"
    )
}

/// A decoding file.
pub struct FileSource {
    path: PathBuf,
    pipeline: gst::Pipeline,
    appsink: gst_app::AppSink,
    bus: gst::Bus,
    info: Arc<gst_video::VideoInfo>,
    /// The caps frames are handed out with: the decoder's, and the field order of interlaced
    /// ones ([`with_field_order`]).
    caps: gst::Caps,
    /// The decoder's caps, which every frame's must equal.
    decoded: gst::Caps,
    duration: Option<gst::ClockTime>,
    next_index: u64,
    ended: bool,
    /// The frame decoded last, handed out once the next one (or the end) is known.
    pending: Option<Frame>,
    /// The first frame, pulled on opening when the file prerolled on a gap before it
    /// ([`FileSource::first_frame_caps`]), handed out first.
    first: Option<gst::Sample>,
    /// End (ns, running time) of the latest buffer of any other stream (audio), to tell a
    /// truncated file from one whose audio outlasts its video.
    other_streams_end: Arc<AtomicU64>,
    /// Redact what decodes of a damaged file instead of failing.
    salvage: bool,
    damage: DamageLog,
    /// End of the frame handed out last, to find gaps in a salvaged timeline.
    last_end: Option<gst::ClockTime>,
    /// How far the first frame's timestamp lies after its running time: a recording cut from
    /// a longer one starts at 5 s, its container's duration counting from 0.
    start_offset: Option<gst::ClockTime>,
    /// Frames given to the video decoder whose pictures this source hands out ([`Fed`]).
    fed: Fed,
}

impl FileSource {
    /// Opens and prerolls `path`; damage is an error.
    pub fn open(path: &Path) -> Result<Self> {
        Self::open_with(path, false)
    }

    /// Opens and prerolls `path`; with `salvage`, damage is recorded instead of failing.
    pub fn open_with(path: &Path, salvage: bool) -> Result<Self> {
        crate::init_gstreamer()?;
        crate::input::check(path)?;
        let decode_err = |message: String| Error::Decode { path: path.to_path_buf(), message };
        if let Some(format) = still_image(path).map_err(|e| Error::io(path, e))? {
            let ext = if format == "JPEG" { "jpg" } else { "png" };
            // Named as an image already, it reached a video's path by a command that takes only
            // videos (found by hostile use: `audit photo.jpg` was told to name it .jpg).
            let hint = match crate::settings::media_kind(path) {
                crate::settings::MediaKind::Image => "this command takes videos only".to_string(),
                crate::settings::MediaKind::Video => format!("name it .{ext} to redact it as an image (whose size and damage are checked)"),
            };
            return Err(decode_err(format!("a {format} image, not a video: {hint}")));
        }
        let other_streams_end = Arc::new(AtomicU64::new(0));
        let damage = DamageLog::default();
        integrity::register(&damage);
        let fed = Fed::default();
        let (pipeline, appsink) =
            build(path, Arc::clone(&other_streams_end), &damage, &fed, salvage).map_err(|e| decode_err(e.to_string()))?;
        let bus = pipeline.bus().expect("a pipeline has a bus");
        damage.watch_bus(&bus);
        let mut source = FileSource {
            path: path.to_path_buf(),
            pipeline,
            appsink,
            bus,
            info: Arc::new(gst_video::VideoInfo::builder(gst_video::VideoFormat::I420, 16, 16).build().expect("valid")),
            caps: gst::Caps::new_empty(),
            decoded: gst::Caps::new_empty(),
            duration: None,
            next_index: 0,
            ended: false,
            pending: None,
            first: None,
            other_streams_end,
            salvage,
            damage,
            last_end: None,
            start_offset: None,
            fed,
        };
        source.preroll()?;
        Ok(source)
    }

    fn preroll(&mut self) -> Result<()> {
        self.pipeline.set_state(gst::State::Paused).map_err(|_| self.failure_or("cannot start decoding"))?;
        let deadline = std::time::Instant::now() + PREROLL_TIMEOUT;
        let mut demuxer_failed_at = None;
        loop {
            if std::time::Instant::now() > deadline {
                return Err(self.decode_error("timed out opening the file"));
            }
            crate::interrupt::check()?;
            if let Some(failure) = self.damage.demuxer_failure() {
                // A demuxer's error that decodebin dropped (integrity's docs): it normally
                // reaches the bus within milliseconds, with GStreamer's full text; if it has
                // not after a grace period, it never will.
                if demuxer_failed_at.get_or_insert_with(std::time::Instant::now).elapsed() >= DEMUXER_ERROR_GRACE {
                    return Err(self.decode_error(readable_failure(failure)));
                }
            }
            let Some(msg) = self.bus.timed_pop(gst::ClockTime::from_mseconds(100)) else { continue };
            match msg.view() {
                gst::MessageView::AsyncDone(..) => break,
                gst::MessageView::Application(a) if a.structure().is_some_and(|s| s.name() == NO_VIDEO) => {
                    // A file cut before its first frame has no stream to show either; say
                    // it is cut (found by hostile use: "contains no video stream").
                    return Err(match self.damage.first_report() {
                        Some(report) => self.decode_error(format!("no video could be read: the file is truncated or damaged ({report})")),
                        None => Error::NoVideo { path: self.path.clone() },
                    });
                }
                gst::MessageView::Eos(..) => return Err(self.decode_error("no frames before end of file")),
                _ => match bus::classify(&msg) {
                    Some(BusEvent::Failure(f)) => return Err(self.decode_error(readable_failure(f.0))),
                    Some(BusEvent::Eos) => return Err(self.decode_error("no frames before end of file")),
                    None => {}
                },
            }
        }
        let prerolled = self.appsink.try_pull_preroll(gst::ClockTime::ZERO);
        let queried = self.pipeline.query_duration::<gst::ClockTime>();
        self.duration = queried.map(|d| self.fragmented_duration().unwrap_or(d));
        if let Some(declared) = truncated_avi_length(&self.path) {
            // avidemux rebuilds the index of a cut AVI from what is left and reports that as
            // the duration; the header still says how long the video was.
            self.duration = Some(self.duration.map_or(declared, |d| d.max(declared)));
        }
        self.pipeline.set_state(gst::State::Playing).map_err(|_| self.failure_or("cannot start decoding"))?;
        let caps = match prerolled.as_ref().and_then(|sample| sample.caps_owned()) {
            Some(caps) => caps,
            None => self.first_frame_caps(deadline)?,
        };
        let info = gst_video::VideoInfo::from_caps(&caps).map_err(|e| self.decode_error(format!("unusable video caps {caps}: {e}")))?;
        too_large(info.width(), info.height()).map_or(Ok(()), |why| Err(self.decode_error(why)))?;
        self.info = Arc::new(info);
        let first = prerolled.as_ref().or(self.first.as_ref()).and_then(|s| s.buffer());
        self.caps = first.and_then(|b| with_field_order(&caps, b)).unwrap_or_else(|| caps.clone());
        self.decoded = caps;
        Ok(())
    }

    /// The caps of the first frame, which is pulled and kept to be handed out first: for a file
    /// that prerolled on a gap instead of a frame. An MP4 whose edit list starts the video late
    /// (ffmpeg writes one when the video starts after the audio) does: the decoder's caps for
    /// the gap are a placeholder without a frame rate, and taking them for the stream's, its
    /// first frame was refused as "the video format changed at frame 0" (found by hostile use).
    fn first_frame_caps(&mut self, deadline: std::time::Instant) -> Result<gst::Caps> {
        loop {
            if let Some(sample) = self.appsink.try_pull_sample(PULL_TIMEOUT) {
                let caps = sample.caps_owned().ok_or_else(|| Error::NoVideo { path: self.path.clone() })?;
                self.first = Some(sample);
                return Ok(caps);
            }
            crate::interrupt::check()?;
            match bus::poll(&self.bus, gst::ClockTime::ZERO) {
                Some(BusEvent::Failure(f)) => return Err(self.decode_error(readable_failure(f.0))),
                Some(BusEvent::Eos) => return Err(self.decode_error("no frames before end of file")),
                None if self.appsink.is_eos() => return Err(self.decode_error("no frames before end of file")),
                None if std::time::Instant::now() > deadline => return Err(self.decode_error("timed out opening the file")),
                None => {}
            }
        }
    }

    /// The duration of a fragmented MP4 (the live recorder's segments) as its fragments' samples
    /// add up. Its `mehd` box is no measure: in a segment after the first, mp4mux writes the
    /// running time at the segment's end there (2 s for the second 1 s segment), which made
    /// every later segment look truncated.
    fn fragmented_duration(&self) -> Option<gst::ClockTime> {
        let mut head = [0u8; 8];
        std::io::Read::read_exact(&mut std::fs::File::open(&self.path).ok()?, &mut head).ok()?;
        if &head[4..8] != b"ftyp" {
            return None; // not an ISO base media file: nothing to scan
        }
        let fragments = crate::live::segments::scan_fragments(&self.path).ok()?;
        (fragments.count > 0 && fragments.duration_ns > 0).then(|| gst::ClockTime::from_nseconds(fragments.duration_ns))
    }

    /// The error on the bus, or a generic one if there is none.
    fn failure_or(&self, fallback: &str) -> Error {
        let message = match bus::poll(&self.bus, gst::ClockTime::ZERO) {
            Some(BusEvent::Failure(f)) => f.0,
            _ => fallback.to_string(),
        };
        self.decode_error(message)
    }

    /// A decoding error of this file.
    fn decode_error(&self, message: impl Into<String>) -> Error {
        Error::Decode { path: self.path.clone(), message: message.into() }
    }

    pub fn info(&self) -> &Arc<gst_video::VideoInfo> {
        &self.info
    }

    /// Caps of the decoded frames (I420, with the stream's frame rate and pixel aspect ratio).
    pub fn caps(&self) -> &gst::Caps {
        &self.caps
    }

    pub fn duration(&self) -> Option<gst::ClockTime> {
        self.duration
    }

    /// Expected number of frames, from duration and frame rate, if both are known.
    pub fn estimated_frames(&self) -> Option<u64> {
        let fps = self.info.fps();
        let duration = self.duration?;
        if fps.numer() <= 0 || fps.denom() <= 0 {
            return None;
        }
        Some((duration.nseconds() as u128 * fps.numer() as u128 / (fps.denom() as u128 * 1_000_000_000)).max(1) as u64)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the damage of this decode is recorded (read it after the last frame).
    pub fn damage_log(&self) -> DamageLog {
        self.damage.clone()
    }

    /// Strict mode: the first damage report ends the run, naming what was lost.
    fn check_damage(&self) -> Result<()> {
        if self.salvage {
            return Ok(());
        }
        match self.damage.first_report() {
            Some(report) => Err(Error::Decode {
                path: self.path.clone(),
                message: format!("the file is damaged ({report}); `veilcam redact --salvage` redacts the frames that do decode"),
            }),
            None => Ok(()),
        }
    }

    /// The length of one frame at the stream's nominal rate, if it has one.
    fn nominal_frame(&self) -> Option<gst::ClockTime> {
        let fps = self.info.fps();
        (fps.numer() > 0 && fps.denom() > 0)
            .then(|| gst::ClockTime::from_nseconds(1_000_000_000 * fps.denom() as u64 / fps.numer() as u64))
    }

    /// With `salvage`, notes a jump in the timeline before `frame` as a gap.
    fn note_gap(&mut self, frame: &Frame) {
        let (Some(pts), Some(frame_len)) = (frame.pts(), self.nominal_frame()) else { return };
        if let Some(end) = self.last_end {
            if self.salvage && pts > end + frame_len / 2 {
                self.damage.gap(Gap { from_ns: end.nseconds(), to_ns: pts.nseconds() });
            }
        }
        let len = frame.buffer.duration().filter(|d| d.nseconds() > 1).unwrap_or(frame_len);
        self.last_end = Some(pts + len);
    }
}

impl FileSource {
    /// At the end of the stream: every frame given to the video decoder came out of it. A
    /// decoder that meets frames whose reference is lost (a keyframe cut out by packet loss,
    /// a recording that starts between keyframes) gives nothing back for them and says
    /// nothing (found by hostile use: with one keyframe's packets lost from an MPEG-TS
    /// stream, 11 of 42 frames vanished and the run succeeded). Strict mode fails; salvage
    /// records the frames as undecodable. Interlaced streams are not counted: a field-coded
    /// picture reaches the decoder in two halves.
    fn check_all_decoded(&self) -> Result<()> {
        let Some(fed) = self.fed.count() else { return Ok(()) };
        if self.info.interlace_mode() != gst_video::VideoInterlaceMode::Progressive || fed <= self.next_index {
            return Ok(());
        }
        let lost = fed - self.next_index;
        let what = format!("the decoder gave back {} of the {fed} frames it was given: {lost} could not be decoded, as data they depend on is missing", self.next_index);
        if !self.salvage {
            return Err(self.decode_error(format!("the file is damaged ({what}); `veilcam redact --salvage` redacts the frames that do decode")));
        }
        // Frames a decoder dropped as corrupt were counted already, as it said so.
        let unreported = lost.saturating_sub(self.damage.snapshot().undecodable_frames);
        if unreported > 0 {
            self.damage.undecodable(unreported, what);
        }
        Ok(())
    }

    /// Whether frames in `caps` are laid out as the ones so far: the same format, size, rate,
    /// pixel aspect ratio and interlacing (found by hostile use: an MJPEG camera's recording
    /// that turned grey at night, the same size, was refused as "the video format changed").
    fn same_layout(&self, caps: &gst::CapsRef) -> bool {
        gst_video::VideoInfo::from_caps(caps).is_ok_and(|new| {
            let layout = |i: &gst_video::VideoInfo| (i.format(), i.width(), i.height(), i.fps(), i.par(), i.interlace_mode());
            layout(&new) == layout(&self.info)
        })
    }

    /// Why frames in `caps` cannot follow the ones so far (one output has one size and rate),
    /// in words: the frame it happened at, what changed, and what the user can do.
    fn format_change(&self, caps: &gst::CapsRef) -> String {
        let at = format!("at frame {}", self.next_index);
        let what = match gst_video::VideoInfo::from_caps(caps) {
            Ok(new) if (new.width(), new.height()) != (self.info.width(), self.info.height()) => {
                format!("the picture size changed {at} from {}×{} to {}×{}", self.info.width(), self.info.height(), new.width(), new.height())
            }
            Ok(new) if new.fps() != self.info.fps() => format!("the frame rate changed {at} from {} to {} fps", self.info.fps(), new.fps()),
            Ok(new) => format!("the video format changed {at} from {} to {}", describe_layout(&self.info), describe_layout(&new)),
            Err(_) => format!("the video format changed {at} to one veilcam cannot read"),
        };
        format!("{what}; an output holds one size and rate, so split the input where it changes")
    }

    /// The next decoded frame with its timestamp as running time (so an MP4 edit list that
    /// starts the media late does not shift the output), or `None` at end of stream.
    fn pull(&mut self) -> Result<Option<Frame>> {
        loop {
            if let Some(sample) = self.first.take().or_else(|| self.appsink.try_pull_sample(PULL_TIMEOUT)) {
                let mut buffer = sample
                    .buffer_owned()
                    .ok_or_else(|| self.decode_error("sample without buffer"))?;
                if let Some(caps) = sample.caps().filter(|caps| *caps != self.decoded.as_ref()) {
                    if !self.same_layout(caps) {
                        return Err(self.decode_error(self.format_change(caps)));
                    }
                    // Only a description changed (a day/night camera's grey pictures come with
                    // another colorimetry): the frames are laid out as before.
                    self.decoded = caps.to_owned();
                }
                let running = crate::running_time::of_sample(&sample);
                drop(sample);
                if let (None, Some(pts), Some(running)) = (self.start_offset, buffer.pts(), running) {
                    self.start_offset = Some(pts.saturating_sub(running));
                }
                if running != buffer.pts() {
                    buffer.make_mut().set_pts(running);
                }
                if running.is_none() {
                    return Err(self.decode_error(untimed(self.next_index)));
                }
                self.check_damage()?;
                let frame = Frame { index: self.next_index, buffer, info: Arc::clone(&self.info) };
                self.next_index += 1;
                return Ok(Some(frame));
            }
            crate::interrupt::check()?;
            // No frame: decoding ended, failed, or is merely slow. The bus says which.
            match bus::poll(&self.bus, gst::ClockTime::ZERO) {
                Some(BusEvent::Failure(f)) if self.salvage && self.next_index > 0 => {
                    // Salvage: the frames before a fatal error are kept; the rest is a gap.
                    self.damage.report(readable_failure(f.0));
                    return Ok(None);
                }
                Some(BusEvent::Failure(f)) if self.next_index > 0 => {
                    let message = format!(
                        "the file is damaged after frame {} ({}); `veilcam redact --salvage` redacts the frames that do decode",
                        self.next_index,
                        readable_failure(f.0)
                    );
                    return Err(self.decode_error(message));
                }
                Some(BusEvent::Failure(f)) => {
                    return Err(self.decode_error(readable_failure(f.0)))
                }
                Some(BusEvent::Eos) => {
                    self.check_damage()?;
                    return Ok(None);
                }
                None if self.appsink.is_eos() => {
                    self.check_damage()?;
                    return Ok(None);
                }
                None => {}
            }
        }
    }

    /// Checks that the stream did not stop short of the container's duration (a truncated file
    /// ends with a plain end-of-stream), and gives the last frame the rest of the duration.
    fn finish_last(&self, last: &mut Frame) -> Result<()> {
        let (Some(duration), Some(pts)) = (self.duration, last.pts()) else { return Ok(()) };
        // In running time, as the frames' timestamps are (found by hostile use: an MKV whose
        // timestamps start at 5 s was refused as "stream ended at 1.60 s of 6.60 s").
        let duration = duration.saturating_sub(self.start_offset.unwrap_or(gst::ClockTime::ZERO));
        let stated = last.buffer.duration().filter(|d| d.nseconds() > 1).unwrap_or(gst::ClockTime::from_mseconds(40));
        // The container may give the last frame longer than the decoder's 1/fps (a camera's
        // frame before a stall): it is shown until its frame's end in the container.
        let fed_end = self.fed.end().filter(|&end| end > pts + stated);
        if let Some(end) = fed_end {
            last.buffer.make_mut().set_duration(end - pts);
        }
        let frame_len = fed_end.map_or(stated, |end| end - pts);
        let video_end = pts + frame_len;
        let end = video_end.max(gst::ClockTime::from_nseconds(self.other_streams_end.load(Ordering::Relaxed)));
        let slack = (stated * 2).max(gst::ClockTime::from_mseconds(200));
        if end + slack < duration && self.salvage {
            self.damage.report(format!("the stream ends at {:.2} s of {:.2} s", end.nseconds() as f64 / 1e9, duration.nseconds() as f64 / 1e9));
            self.damage.gap(Gap { from_ns: end.nseconds(), to_ns: duration.nseconds() });
        } else if end + slack < duration {
            return Err(Error::Decode {
                path: self.path.clone(),
                message: format!(
                    "stream ended at {:.2} s of {:.2} s: the file is truncated or damaged",
                    end.nseconds() as f64 / 1e9,
                    duration.nseconds() as f64 / 1e9
                ),
            });
        }
        // The container's duration is the video's own only when there is no other stream.
        let video_only = self.other_streams_end.load(Ordering::Relaxed) == 0;
        if video_only && duration > video_end && duration - pts <= stated * 4 {
            last.buffer.make_mut().set_duration(duration - pts);
        } else if last.buffer.duration().is_none_or(|d| d.nseconds() <= 1) {
            last.buffer.make_mut().set_duration(frame_len);
        }
        Ok(())
    }
}

/// The length an AVI file's header declares for its video stream (`strh`: `dwLength` ×
/// `dwScale` ÷ `dwRate`), if the file is shorter than its RIFF header says (cut off).
fn truncated_avi_length(path: &Path) -> Option<gst::ClockTime> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).ok()?;
    let file_len = file.metadata().ok()?.len();
    let mut head = vec![0u8; 64 * 1024];
    let read = file.read(&mut head).ok()?;
    avi_declared_length(&head[..read], file_len)
}

/// [`truncated_avi_length`] on the file's first bytes.
fn avi_declared_length(head: &[u8], file_len: u64) -> Option<gst::ClockTime> {
    let u32_at = |at: usize| head.get(at..at + 4).map(|b| u32::from_le_bytes(b.try_into().unwrap()));
    if head.get(0..4)? != b"RIFF" || head.get(8..12)? != b"AVI " {
        return None;
    }
    if u64::from(u32_at(4)?) + 8 <= file_len {
        return None; // whole, as far as the RIFF header knows
    }
    // The first video stream header: "strh" then fccType "vids"; dwScale, dwRate at +20, +24
    // and dwLength at +32 of its data.
    let at = (0..head.len().saturating_sub(12)).find(|&i| &head[i..i + 4] == b"strh" && &head[i + 8..i + 12] == b"vids")?;
    let data = at + 8;
    let (scale, rate, length) = (u32_at(data + 20)?, u32_at(data + 24)?, u32_at(data + 32)?);
    (scale > 0 && rate > 0 && length > 0)
        .then(|| gst::ClockTime::from_nseconds((u128::from(length) * u128::from(scale) * 1_000_000_000 / u128::from(rate)) as u64))
}

impl FrameSource for FileSource {
    /// Frames are handed out one behind the decoder, so a frame without a usable duration
    /// (variable frame rate) gets the gap to the next frame's timestamp.
    fn next_frame(&mut self) -> Result<Option<Frame>> {
        if self.ended {
            return Ok(None);
        }
        loop {
            match self.pull()? {
                Some(next) => {
                    let next_pts = next.pts();
                    let Some(mut frame) = self.pending.replace(next) else { continue };
                    if let (Some(pts), Some(next_pts)) = (frame.pts(), next_pts) {
                        // A salvaged frame before a gap keeps its nominal length.
                        let gap = self.salvage && self.nominal_frame().is_some_and(|f| next_pts > pts + f + f / 2);
                        if frame.buffer.duration().is_none_or(|d| d.nseconds() <= 1) && next_pts > pts && !gap {
                            frame.buffer.make_mut().set_duration(next_pts - pts);
                        }
                    }
                    self.note_gap(&frame);
                    return Ok(Some(frame));
                }
                None => {
                    self.ended = true;
                    self.check_all_decoded()?;
                    let last = match self.pending.take() {
                        Some(mut last) => {
                            self.finish_last(&mut last)?;
                            self.note_gap(&last);
                            Some(last)
                        }
                        None => None,
                    };
                    if self.salvage && !self.damage.has_reports() {
                        // Jumps in a file nothing was wrong with are variable frame rate.
                        self.damage.clear_gaps();
                    }
                    return Ok(last);
                }
            }
        }
    }
}

impl Drop for FileSource {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
        integrity::unwatch(&self.damage);
    }
}

/// A bus error in words a user can act on; GStreamer's own text follows.
fn readable_failure(message: String) -> String {
    if message.contains("This appears to be a text file") {
        "not a video or image format GStreamer recognises: it is a text file".into()
    } else if message.contains("Could not determine type of stream") {
        "not a video or image format GStreamer recognises".into()
    } else if let Some(kind) = missing_decoder(&message).filter(|kind| !kind.starts_with("video/") && !kind.starts_with("image/")) {
        // Found by hostile use: a zip or a program given as the input was blamed on the
        // GStreamer installation ("missing a plug-in"); only a media type lacks a plug-in.
        format!("not a video or image: GStreamer finds it is {kind}")
    } else if message.contains("No pads created") {
        // A demuxer that found no stream with data in the file: a track without frames (found
        // by hostile use: a Matroska file whose video track holds no frame).
        "no frames: the file's tracks hold none, or it is truncated or damaged".into()
    } else if message.contains("contains no playable streams") {
        // An MP4 cut before its index (mp4mux writes it at the end) says only this.
        "no stream in it can be played: the file is truncated or damaged, or holds no video".into()
    } else {
        message
    }
}

/// The type decodebin found no decoder for, from its "Missing decoder: NAME (TYPE)" line.
fn missing_decoder(message: &str) -> Option<&str> {
    let line = &message[message.find("Missing decoder: ")?..];
    let open = line.find('(')?;
    let close = open + line[open..].find(')')?;
    Some(&line[open + 1..close])
}

/// How many frames each video decoder of a decode was given, and which decoder feeds the
/// output: frames in their segment (a decoder clips the others), with data, and neither
/// headers nor frames the container marks decode-only (a VP8 alt-ref frame is never shown).
#[derive(Clone, Default)]
struct Fed {
    by_decoder: Arc<std::sync::Mutex<std::collections::HashMap<String, Arc<AtomicU64>>>>,
    output: Arc<std::sync::OnceLock<Arc<AtomicU64>>>,
    /// See [`Fed::end`].
    demuxed_end: Arc<AtomicU64>,
    demuxed_watched: Arc<AtomicBool>,
}

impl Fed {
    /// Counts the frames given to `decoder`.
    fn watch(&self, decoder: &gst::Element) {
        let Some(sink) = decoder.static_pad("sink") else { return };
        let given = Arc::new(AtomicU64::new(0));
        self.by_decoder.lock().unwrap_or_else(|e| e.into_inner()).insert(decoder.name().to_string(), Arc::clone(&given));
        sink.add_probe(gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST, move |pad, info| {
            let shown = |b: &gst::BufferRef| {
                let skipped = gst::BufferFlags::DECODE_ONLY | gst::BufferFlags::HEADER | gst::BufferFlags::GAP;
                b.size() > 0 && !b.flags().intersects(skipped) && crate::running_time::on_pad(pad, b).is_some()
            };
            let n = match &info.data {
                Some(gst::PadProbeData::Buffer(b)) => u64::from(shown(b)),
                Some(gst::PadProbeData::BufferList(list)) => list.iter().filter(|b| shown(b)).count() as u64,
                _ => 0,
            };
            given.fetch_add(n, Ordering::Relaxed);
            gst::PadProbeReturn::Ok
        });
    }

    /// Notes that decodebin's `pad` is the one the output reads: its decoder, if it has one,
    /// is the one whose count matters.
    fn output_from(&self, pad: &gst::Pad) {
        let decoder = pad.downcast_ref::<gst::GhostPad>().and_then(|g| g.target()).and_then(|t| t.parent_element());
        let given = decoder.and_then(|d| self.by_decoder.lock().unwrap_or_else(|e| e.into_inner()).get(d.name().as_str()).cloned());
        if let Some(given) = given {
            let _ = self.output.set(given);
        }
    }

    /// Frames given to the output's decoder so far, if it is a video decoder.
    fn count(&self) -> Option<u64> {
        self.output.get().map(|c| c.load(Ordering::Relaxed))
    }

    /// Where the demuxer's first video stream ends by the container's own frame durations
    /// (running time), if known: decoders and parsers stamp every frame 1/fps long, while the
    /// container gives each frame until the next (a live camera's frame before a stall).
    fn end(&self) -> Option<gst::ClockTime> {
        let end = self.demuxed_end.load(Ordering::Relaxed);
        (end > 0).then(|| gst::ClockTime::from_nseconds(end))
    }

    /// Follows the end of `demuxer`'s first video stream ([`Fed::end`]).
    fn watch_demuxer(&self, demuxer: &gst::Element) {
        let end = Arc::clone(&self.demuxed_end);
        let taken = Arc::clone(&self.demuxed_watched);
        demuxer.connect_pad_added(move |_, pad| {
            let is_video = pad
                .current_caps()
                .and_then(|c| c.structure(0).map(|s| s.name().starts_with("video/")))
                .unwrap_or_else(|| pad.name().starts_with("video"));
            if !is_video || taken.swap(true, Ordering::SeqCst) {
                return;
            }
            let end = Arc::clone(&end);
            pad.add_probe(gst::PadProbeType::BUFFER | gst::PadProbeType::BUFFER_LIST, move |pad, info| {
                let note = |b: &gst::BufferRef| {
                    if let (Some(at), Some(length)) = (crate::running_time::on_pad(pad, b), b.duration()) {
                        end.fetch_max((at + length).nseconds(), Ordering::Relaxed);
                    }
                };
                match &info.data {
                    Some(gst::PadProbeData::Buffer(b)) => note(b),
                    Some(gst::PadProbeData::BufferList(list)) => list.iter().for_each(note),
                    _ => {}
                }
                gst::PadProbeReturn::Ok
            });
        });
    }
}

/// `caps` with the field order of interlaced frames that the first frame's flags give, where
/// the caps leave it unsaid (decoders mark it on each buffer): the encoder (x264) takes it from
/// the caps alone, and encoded top-field-first video as bottom-field-first (found by hostile use: every
/// field pair of an interlaced H.264 clip came out in reverse time order).
fn with_field_order(caps: &gst::Caps, first: &gst::BufferRef) -> Option<gst::Caps> {
    let s = caps.structure(0)?;
    let interlaced = s.get::<&str>("interlace-mode").is_ok_and(|m| m != "progressive");
    // `flags()` keeps only the core flags; the video ones sit above them.
    // SAFETY: reads a field of a buffer the reference keeps alive.
    let flags = unsafe { (*first.as_ptr()).mini_object.flags };
    if !interlaced || s.has_field("field-order") || flags & gst_video::VideoBufferFlags::INTERLACED.bits() == 0 {
        return None;
    }
    let tff = flags & gst_video::VideoBufferFlags::TFF.bits() != 0;
    let mut caps = caps.clone();
    caps.make_mut().set("field-order", if tff { "top-field-first" } else { "bottom-field-first" });
    Some(caps)
}

fn build(
    path: &Path,
    other_end: Arc<AtomicU64>,
    damage: &DamageLog,
    fed: &Fed,
    salvage: bool,
) -> std::result::Result<(gst::Pipeline, gst_app::AppSink), gst::glib::BoolError> {
    let pipeline = gst::Pipeline::with_name("veilcam-decode");
    let filesrc = gst::ElementFactory::make("filesrc").property("location", path).build()?;
    let decodebin = gst::ElementFactory::make("decodebin").build()?;
    let log = damage.clone();
    let counted = fed.clone();
    integrity::prefer_reporting_decoders(&decodebin);
    decodebin.connect("deep-element-added", false, move |args| {
        let element = args[2].get::<gst::Element>().expect("deep-element-added gives an element");
        integrity::harden_decoder(&element, salvage);
        if element.is::<gst_video::VideoDecoder>() {
            counted.watch(&element);
        }
        let is_demuxer = element.factory().is_some_and(|f| f.metadata(gst::ELEMENT_METADATA_KLASS).is_some_and(|k| k.contains("Demux")));
        if is_demuxer {
            integrity::watch_demuxer(&element, &log);
            counted.watch_demuxer(&element);
        }
        None
    });
    let convert = gst::ElementFactory::make("videoconvert").name("convert").build()?;
    // Frames turned as the file's orientation tag says (a phone's rotation matrix): detection
    // needs faces upright, and the output, written without the tag, stands as players showed
    // the input. Without a tag, GStreamer 1.22's videoflip in `auto` still copies every frame
    // into a buffer of its own (3 MB at 1080p; 2–3 % of a redaction's CPU time): it starts in
    // passthrough instead, which a tag that turns the picture switches off by itself.
    let upright = gst::ElementFactory::make("videoflip").property_from_str("video-direction", "auto").build()?;
    if let Some(transform) = upright.downcast_ref::<gst_base::BaseTransform>() {
        transform.set_passthrough(true);
    }
    let square = square_pixels()?;
    let caps = gst_video::VideoCapsBuilder::new().format(gst_video::VideoFormat::I420).pixel_aspect_ratio(gst::Fraction::new(1, 1)).build();
    let appsink = gst_app::AppSink::builder()
        .name("frames")
        .caps(&caps)
        .sync(false)
        .max_buffers(APPSINK_MAX_BUFFERS)
        .drop(false)
        .build();
    pipeline.add_many([&filesrc, &decodebin, &convert, &upright, &square, appsink.upcast_ref()])?;
    filesrc.link(&decodebin)?;
    gst::Element::link_many([&convert, &upright, &square, appsink.upcast_ref()])?;

    let video_linked = Arc::new(AtomicBool::new(false));
    let pipeline_weak = pipeline.downgrade();
    let linked = Arc::clone(&video_linked);
    let name = crate::one_line(&path.display().to_string());
    let fed = fed.clone();
    decodebin.connect_pad_added(move |_, pad| {
        let Some(pipeline) = pipeline_weak.upgrade() else { return };
        let is_video = pad
            .current_caps()
            .and_then(|c| c.structure(0).map(|s| s.name().starts_with("video/")))
            .unwrap_or(false);
        if is_video && !linked.swap(true, Ordering::SeqCst) {
            let Some(convert) = pipeline.by_name("convert") else { return };
            let sink_pad = convert.static_pad("sink").expect("videoconvert has a sink pad");
            fed.output_from(pad);
            if let Err(e) = pad.link(&sink_pad) {
                tracing::error!("cannot link video stream: {e:?}");
            }
        } else {
            // Streams veilcam does not use are discarded; a second video stream is footage the
            // user may expect in the output (found by hostile use: it went without a word).
            if is_video {
                tracing::warn!("{name}: a second video stream is left out: only the first is redacted and written");
            }
            if let Ok(fake) = gst::ElementFactory::make("fakesink").property("sync", false).property("async", false).build() {
                if pipeline.add(&fake).is_ok() {
                    let _ = fake.sync_state_with_parent();
                    let sink_pad = fake.static_pad("sink").expect("fakesink has a sink pad");
                    let end = Arc::clone(&other_end);
                    sink_pad.add_probe(gst::PadProbeType::BUFFER, move |pad, info| {
                        if let Some(buffer) = info.buffer() {
                            if let Some(t) = crate::running_time::on_pad(pad, buffer) {
                                let stop = t + buffer.duration().unwrap_or(gst::ClockTime::ZERO);
                                end.fetch_max(stop.nseconds(), Ordering::Relaxed);
                            }
                        }
                        gst::PadProbeReturn::Ok
                    });
                    let _ = pad.link(&sink_pad);
                }
            }
        }
    });
    let linked = Arc::clone(&video_linked);
    let pipeline_weak = pipeline.downgrade();
    decodebin.connect_no_more_pads(move |_| {
        if !linked.load(Ordering::SeqCst) {
            if let Some(p) = pipeline_weak.upgrade() {
                let msg = gst::message::Application::new(gst::Structure::new_empty(NO_VIDEO));
                let _ = p.post_message(msg);
            }
        }
    });
    Ok((pipeline, appsink))
}

/// The largest side of a video frame veilcam redacts: H.264's encoder (x264) takes no more.
pub const MAX_SIDE: u32 = 16_384;

/// The most pixels of a video frame veilcam redacts: 8K (DCI 8192 × 4320, 35 million) fits.
/// Frames are held for the look-ahead, a second of them by default, so memory grows with the
/// frame's size (found by hostile use: a 9 MB clip of 8000 × 8000 frames took 4.6 GB by its
/// twelfth frame, and its audit 12 GB for two).
pub const MAX_PIXELS: u64 = 40_000_000;

/// Why frames of `width`×`height` are refused, if they are.
fn too_large(width: u32, height: u32) -> Option<String> {
    if width > MAX_SIDE || height > MAX_SIDE {
        return Some(format!("its frames are {width}×{height} pixels: larger than {MAX_SIDE} on a side, the most H.264 takes"));
    }
    (u64::from(width) * u64::from(height) > MAX_PIXELS).then(|| {
        format!("its frames are {width}×{height} pixels: more than {} million a frame (8K is 35 million)", MAX_PIXELS / 1_000_000)
    })
}

/// `Some("PNG")` or `Some("JPEG")` when `path` holds one still image, whatever its name:
/// GStreamer decodes either as a video of one frame, past the checks of still images (found by
/// hostile use: a 248 KB PNG of 16,000 × 16,000 named `.mp4` took 3.1 GB, an animated one was cut
/// to its first picture, and a truncated JPEG was redacted). A stream of JPEGs (MJPEG, as IP
/// cameras dump it) is a video: an end-of-image marker followed by a second image's start.
fn still_image(path: &Path) -> std::io::Result<Option<&'static str>> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut head = [0u8; 8];
    let read = file.read(&mut head)?;
    if head[..read] == *b"\x89PNG\r\n\x1a\n" {
        return Ok(Some("PNG"));
    }
    if !head[..read].starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Ok(None);
    }
    // Look for `FF D9 FF D8` (one image ends, the next begins), across the chunks' seams.
    let mut reader = std::io::BufReader::with_capacity(1 << 16, file);
    let mut last = head[..read].to_vec();
    loop {
        let chunk = std::io::BufRead::fill_buf(&mut reader)?;
        if chunk.is_empty() {
            return Ok(Some("JPEG"));
        }
        let seam = [&last[last.len().saturating_sub(3)..], &chunk[..chunk.len().min(3)]].concat();
        if seam.windows(4).chain(chunk.windows(4)).any(|w| w == [0xFF, 0xD9, 0xFF, 0xD8]) {
            return Ok(None);
        }
        last = chunk[chunk.len().saturating_sub(3)..].to_vec();
        let used = chunk.len();
        std::io::BufRead::consume(&mut reader, used);
    }
}

/// A `videoscale` that gives the picture square pixels (with the appsink's
/// `pixel-aspect-ratio=1/1`), keeping its height and the width players show it at; in
/// passthrough, without a copy, when its pixels are square already. Found by hostile use: a
/// clip stored squeezed to a quarter of its width (pixel aspect ratio 4:1) was looked at as
/// stored, its faces squeezed past what the detector finds, and written with the same ratio,
/// so players stretched them back, visible.
pub(crate) fn square_pixels() -> std::result::Result<gst::Element, gst::glib::BoolError> {
    gst::ElementFactory::make("videoscale").build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vtest_head() -> Vec<u8> {
        let bytes = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/sample_media/vtest.avi")).unwrap();
        bytes[..64 * 1024].to_vec()
    }

    /// Found by hostile use: a zip given as the input was blamed on the installation.
    #[test]
    fn a_file_of_no_media_type_is_said_to_be_no_video_and_a_missing_codec_stays_a_missing_plugin() {
        let missing = |kind: &str| {
            format!("Your GStreamer installation is missing a plug-in. [/GstPipeline:veilcam-decode/GstDecodeBin:decodebin0] (../gst/playback/gstdecodebin2.c(4704): gst_decode_bin_expose (): /GstPipeline:veilcam-decode/GstDecodeBin:decodebin0:\nno suitable plugins found:\nMissing decoder: {kind} ({kind})\n)")
        };
        assert_eq!(readable_failure(missing("application/zip")), "not a video or image: GStreamer finds it is application/zip");
        assert_eq!(readable_failure(missing("application/x-executable")), "not a video or image: GStreamer finds it is application/x-executable");
        assert_eq!(readable_failure(missing("video/x-h266")), missing("video/x-h266"), "a codec GStreamer lacks");
        let no_pads = "GStreamer encountered a general stream error. [/GstPipeline:veilcam-decode/GstDecodeBin:decodebin0/GstMatroskaDemux:matroskademux0] (../gst/matroska/matroska-demux.c(6082): gst_matroska_demux_loop (): /GstPipeline:veilcam-decode/GstDecodeBin:decodebin0/GstMatroskaDemux:matroskademux0:\nNo pads created)";
        assert_eq!(readable_failure(no_pads.into()), "no frames: the file's tracks hold none, or it is truncated or damaged");
    }

    /// A still image goes to the still path, whatever its name; a stream of JPEGs is a video.
    #[test]
    fn one_png_or_jpeg_is_a_still_image_and_a_stream_of_jpegs_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, bytes: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            path
        };
        let png = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/sample_media/faces/camera.png")).unwrap();
        let jpeg = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/sample_media/faces/grace_hopper.jpg")).unwrap();
        assert_eq!(still_image(&write("a.mp4", &png)).unwrap(), Some("PNG"));
        assert_eq!(still_image(&write("b.mp4", &jpeg)).unwrap(), Some("JPEG"));
        assert_eq!(still_image(&write("c.mp4", &jpeg[..jpeg.len() / 2])).unwrap(), Some("JPEG"), "cut short");
        // Three images back to back.
        let stream = [&jpeg[..], &jpeg[..], &jpeg[..]].concat();
        assert_eq!(still_image(&write("d.mjpeg", &stream)).unwrap(), None);
        assert_eq!(still_image(&write("e.mp4", &vtest_head())).unwrap(), None);
    }

    #[test]
    fn frames_larger_than_8k_or_than_h264_takes_are_refused() {
        assert_eq!(too_large(7680, 4320), None);
        assert_eq!(too_large(8192, 4320), None);
        assert_eq!(too_large(16_384, 16), None);
        assert!(too_large(8000, 8000).unwrap().contains("8000×8000 pixels: more than 40 million"));
        assert!(too_large(20_000, 16).unwrap().contains("larger than 16384 on a side"));
    }

    #[test]
    fn a_cut_avi_declares_the_length_its_header_gives() {
        let head = vtest_head();
        let riff_len = u64::from(u32::from_le_bytes(head[4..8].try_into().unwrap())) + 8;
        let declared = avi_declared_length(&head, riff_len / 2);
        assert_eq!(declared, Some(gst::ClockTime::from_seconds(15)), "150 frames at 10 fps");
    }

    #[test]
    fn a_whole_avi_or_another_container_declares_nothing() {
        let head = vtest_head();
        let riff_len = u64::from(u32::from_le_bytes(head[4..8].try_into().unwrap())) + 8;
        assert_eq!(avi_declared_length(&head, riff_len), None);
        assert_eq!(avi_declared_length(b"\0\0\0\x18ftypisom", 10), None);
        assert_eq!(avi_declared_length(&head[..100], 1), None, "no stream header in reach");
    }
}
