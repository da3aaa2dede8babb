//! The selected files as one stream: each is decoded in turn ([`FileSource`]), the frames of
//! its keep window pass, and their timestamps are rewritten so the output runs on without a
//! jump from one file to the next (a gap between recordings is listed in the report, not
//! played as a frozen picture). Frame indices count from 0 over the whole stream.
//!
//! Trimming is frame-exact: a frame passes when it was shown at some instant of the window
//! (`start < to && end > from`, in the file's own time from its first frame), so the output
//! covers the whole requested range and not a frame more. A frame is shown from its timestamp
//! until the next frame's: its display interval, whatever duration its MP4 sample or the decoder
//! states (a live camera's last frame before a dropout, or one before a late frame, lasts far
//! longer than 1/fps). The frames are therefore read one ahead. A file's last frame lasts its
//! own duration, a recorded segment's last frame until the segment's end in the index, where the
//! next segment starts (`Current::last_length`). Each frame passed keeps its own timestamp
//! (shifted) and gets its display interval as its duration, so the working copy times every
//! kept frame as the source showed it. A file is closed as soon as a frame starting at or past
//! the window's end is read.
//!
//! What each file gave ([`PartUse`]: frames, its time span, where it sits in the output) is
//! kept for the report.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use gstreamer as gst;
use gstreamer_video as gst_video;
use serde::Serialize;

use super::select::Part;
use super::ExportError;
use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::source::file::FileSource;
use crate::source::FrameSource;

/// What one file contributed.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PartUse {
    pub name: String,
    /// Frames kept.
    pub frames: u64,
    /// The file's own time (ns after its first frame) of the first kept frame's start…
    pub first_ns: Option<u64>,
    /// …and of the last kept frame's end.
    pub end_ns: Option<u64>,
    /// Where its frames sit in the output (ns from the output's start).
    pub out_start_ns: Option<u64>,
    pub out_end_ns: Option<u64>,
    /// The frame rate the file declares (numerator, denominator); the report states it once
    /// for the whole output ([`declared_rate`]).
    #[serde(skip)]
    pub fps: (i32, i32),
}

/// The frame rate of an output made of `uses`, as the report states it: the rate every file
/// with a kept frame declares, or each of them in turn when they differ (a live camera's
/// recordings declare the rate their frames came at, segment by segment; each frame keeps
/// its own time either way).
pub fn declared_rate(uses: &[PartUse]) -> String {
    let mut rates: Vec<(i32, i32)> = Vec::new();
    for u in uses.iter().filter(|u| u.frames > 0) {
        if !rates.contains(&u.fps) {
            rates.push(u.fps);
        }
    }
    let each: Vec<String> = rates.iter().map(|(n, d)| format!("{n}/{d}")).collect();
    match each.as_slice() {
        [one] => one.clone(),
        many => format!("variable ({})", many.join(", ")),
    }
}

/// The least step between two frames of the output (see [`ChainSource::next_frame`]).
const MIN_STEP_NS: u64 = 1_000_000;

/// What keeps `next`'s frames from following `first`'s in one output, in words; `None` when
/// they fit: the same pixel format, size, pixel aspect and interlacing. The frame rate may
/// differ: a recording of a live camera declares the rate its frames came at in that segment
/// (26/1 in one, 25/1 in the next), and each frame keeps its own time. Colorimetry, chroma
/// siting and multiview fields may differ too (found by hostile use: two 320×240 I420 files
/// differing only there were refused with both caps dumped in full).
fn picture_change(first: &gst::Caps, next: &gst::Caps) -> Option<String> {
    let (Ok(a), Ok(b)) = (gst_video::VideoInfo::from_caps(first), gst_video::VideoInfo::from_caps(next)) else {
        return (first != next).then(|| format!("{next} after {first}"));
    };
    if (a.width(), a.height()) != (b.width(), b.height()) {
        Some(format!("the picture is {}×{} after {}×{}", b.width(), b.height(), a.width(), a.height()))
    } else if a.par() != b.par() {
        let ratio = |f: gst::Fraction| format!("{}:{}", f.numer(), f.denom());
        Some(format!("the pixel aspect ratio is {} after {}", ratio(b.par()), ratio(a.par())))
    } else if a.format() != b.format() {
        Some(format!("the pixel format is {} after {}", b.format().to_str(), a.format().to_str()))
    } else if a.interlace_mode() != b.interlace_mode() {
        Some(format!("the video is {} after {}", b.interlace_mode().to_str(), a.interlace_mode().to_str()))
    } else {
        None
    }
}

/// Several files decoded one after another.
pub struct ChainSource {
    parts: VecDeque<Part>,
    current: Option<Current>,
    caps: gst::Caps,
    estimated: Option<u64>,
    next_index: u64,
    /// End of the last frame handed out, in output time.
    cursor_ns: u64,
    /// Start of the last frame handed out, in output time.
    last_out_ns: Option<u64>,
    uses: Arc<Mutex<Vec<PartUse>>>,
}

struct Current {
    source: FileSource,
    part: Part,
    first_pts: Option<u64>,
    /// Output time of this file's first kept frame minus its own time.
    shift: Option<i128>,
    used: PartUse,
    /// The latest frame read and its start (own time): its end is the next frame's start.
    held: Option<(Frame, u64)>,
    /// No frame is read from the file any more (its end, or a frame past the window was read).
    drained: bool,
}

impl ChainSource {
    /// Opens the first file (its caps are the stream's; every later file must have the same).
    pub fn open(parts: Vec<Part>) -> Result<Self> {
        let mut parts: VecDeque<Part> = parts.into();
        let first = parts.pop_front().ok_or_else(|| Error::Pipeline("export: no source files".into()))?;
        let source = FileSource::open(&first.path)?;
        let caps = source.caps().clone();
        let estimated = std::iter::once(&first)
            .chain(parts.iter())
            .map(|p| p.record.as_ref().map(|r| r.frames))
            .sum::<Option<u64>>()
            .or_else(|| source.estimated_frames());
        let current = Current::new(source, first);
        Ok(ChainSource {
            parts,
            current: Some(current),
            caps,
            estimated,
            next_index: 0,
            cursor_ns: 0,
            last_out_ns: None,
            uses: Arc::new(Mutex::new(Vec::new())),
        })
    }

    /// Caps of the decoded frames.
    pub fn caps(&self) -> &gst::Caps {
        &self.caps
    }

    /// Frames the whole files hold (an upper bound of what passes), if known.
    pub fn estimated_frames(&self) -> Option<u64> {
        self.estimated
    }

    /// Where each file's contribution is recorded as it finishes (read after the run).
    pub fn uses(&self) -> Arc<Mutex<Vec<PartUse>>> {
        Arc::clone(&self.uses)
    }

    /// Closes the current file and opens the next; `false` when none is left.
    fn advance(&mut self) -> Result<bool> {
        if let Some(done) = self.current.take() {
            self.uses.lock().unwrap_or_else(|e| e.into_inner()).push(done.used);
        }
        let Some(part) = self.parts.pop_front() else { return Ok(false) };
        let source = FileSource::open(&part.path)?;
        if let Some(what) = picture_change(&self.caps, source.caps()) {
            return Err(ExportError::FormatChanged { path: part.path.clone(), what }.into());
        }
        self.current = Some(Current::new(source, part));
        Ok(true)
    }
}

impl Current {
    fn new(source: FileSource, part: Part) -> Self {
        let fps = source.info().fps();
        let used = PartUse { name: part.name.clone(), fps: (fps.numer(), fps.denom()), ..PartUse::default() };
        Current { source, part, first_pts: None, shift: None, used, held: None, drained: false }
    }

    /// How long the file's last frame, starting at `start` (own time), is shown: a recorded
    /// segment's until the segment's end in the index (where the next segment starts, also when
    /// the MP4 gives that frame a shorter or a longer duration), a file's for the duration the
    /// file gives it (the rest of the container's duration, [`FileSource`]).
    fn last_length(&self, frame: &Frame, start: u64) -> u64 {
        let span_ns = self
            .part
            .record
            .as_ref()
            .and_then(|r| u64::try_from(r.end_ms()? - r.start_ms()?).ok())
            .map(|ms| ms.saturating_mul(1_000_000));
        match span_ns {
            Some(span) if span > start => span - start,
            _ => own_length(frame),
        }
    }
}

/// The duration a decoded frame states (at least 1 ns).
fn own_length(frame: &Frame) -> u64 {
    frame.buffer.duration().map_or(1, |d| d.nseconds().max(1))
}

impl FrameSource for ChainSource {
    fn next_frame(&mut self) -> Result<Option<Frame>> {
        loop {
            let Some(current) = self.current.as_mut() else { return Ok(None) };
            let (mut frame, start, length) = if current.drained {
                match current.held.take() {
                    Some((frame, start)) => {
                        let length = current.last_length(&frame, start);
                        (frame, start, length)
                    }
                    None => {
                        if self.advance()? {
                            continue;
                        }
                        return Ok(None);
                    }
                }
            } else {
                match current.source.next_frame()? {
                    Some(frame) => {
                        let path = &current.part.path;
                        let pts = frame
                            .pts()
                            .ok_or_else(|| Error::Decode { path: path.clone(), message: format!("frame {} has no timestamp", frame.index) })?
                            .nseconds();
                        let first = *current.first_pts.get_or_insert(pts);
                        let start = pts.saturating_sub(first);
                        let Some((previous, previous_start)) = current.held.replace((frame, start)) else { continue };
                        if start >= current.part.keep_to_ns {
                            // This frame and every later one lie past the window.
                            current.held = None;
                            current.drained = true;
                        }
                        // Shown until the next frame; two frames at one instant keep their own
                        // duration (the output places them a step apart, below).
                        let length = if start > previous_start { start - previous_start } else { own_length(&previous) };
                        (previous, previous_start, length)
                    }
                    None => {
                        current.drained = true;
                        continue;
                    }
                }
            };
            if start >= current.part.keep_to_ns || start.saturating_add(length) <= current.part.keep_from_ns {
                continue;
            }
            let shift = *current.shift.get_or_insert(self.cursor_ns as i128 - start as i128);
            // Strictly later than the frame before, by a step the MP4 keeps: a recording with two
            // frames at one instant would otherwise lose one in the working copy.
            let out = ((start as i128 + shift).max(0) as u64).max(self.last_out_ns.map_or(0, |last| last + MIN_STEP_NS));
            self.last_out_ns = Some(out);
            let used = &mut current.used;
            used.frames += 1;
            used.first_ns.get_or_insert(start);
            used.end_ns = Some(start + length);
            used.out_start_ns.get_or_insert(out);
            used.out_end_ns = Some(out + length);
            let buffer = frame.buffer.make_mut();
            buffer.set_pts(gst::ClockTime::from_nseconds(out));
            buffer.set_dts(gst::ClockTime::NONE);
            buffer.set_duration(gst::ClockTime::from_nseconds(length));
            frame.index = self.next_index;
            self.next_index += 1;
            self.cursor_ns = out + length;
            return Ok(Some(frame));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(width: i32, rate: i32) -> gst::Caps {
        gst::init().unwrap();
        gst::Caps::builder("video/x-raw").field("format", "I420").field("width", width).field("height", 720).field("framerate", gst::Fraction::new(rate, 1)).build()
    }

    /// Found in review: an export of segments declaring 26/1 and then 25/1 stated 26/1 for
    /// the whole output, the first segment's rate.
    #[test]
    fn an_output_of_files_declaring_different_rates_is_stated_variable_with_each_rate() {
        let used = |name: &str, frames: u64, fps: (i32, i32)| PartUse { name: name.into(), frames, fps, ..PartUse::default() };
        let one = [used("a", 25, (25, 1)), used("b", 25, (25, 1))];
        assert_eq!(declared_rate(&one), "25/1");
        let mixed = [used("a", 26, (26, 1)), used("b", 0, (30, 1)), used("c", 25, (25, 1)), used("d", 26, (26, 1))];
        assert_eq!(declared_rate(&mixed), "variable (26/1, 25/1)", "a file of which no frame is kept states nothing");
    }

    #[test]
    fn segments_of_one_camera_join_whatever_rate_they_declare_but_not_across_a_size_change() {
        // Found by hostile use: exports across 3 of 21 segment boundaries of a live recording
        // failed with "framerate 27/1 after 25/1".
        assert_eq!(picture_change(&caps(1280, 27), &caps(1280, 25)), None);
        assert_eq!(picture_change(&caps(1280, 25), &caps(640, 25)).as_deref(), Some("the picture is 640×720 after 1280×720"));
    }

    #[test]
    fn files_differing_only_in_colorimetry_join_and_a_new_aspect_is_said_in_words() {
        let with = |field: &str, value: &str| {
            let mut c = caps(320, 25);
            c.make_mut().set(field, value);
            c
        };
        assert_eq!(picture_change(&with("colorimetry", "bt601"), &with("colorimetry", "bt709")), None);
        let wide = {
            let mut c = caps(320, 25);
            c.make_mut().set("pixel-aspect-ratio", gst::Fraction::new(4, 3));
            c
        };
        assert_eq!(picture_change(&caps(320, 25), &wide).as_deref(), Some("the pixel aspect ratio is 4:3 after 1:1"));
    }
}
