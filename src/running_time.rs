//! Running time: a buffer's PTS counted in its segment, the clock GStreamer's sinks and muxers
//! go by. A file's PTS may start anywhere (an MP4 edit list that starts the media late, a
//! decoder's B-frame offset) and a camera's at its own clock; veilcam times every frame and
//! sound by its running time, so outputs keep the input's timing whatever the PTS.

use gst::prelude::*;
use gstreamer as gst;

/// The running time of `pts` in `segment`; the PTS itself where there is no time segment.
fn in_segment(segment: Option<&gst::FormattedSegment<gst::ClockTime>>, pts: Option<gst::ClockTime>) -> Option<gst::ClockTime> {
    match (segment, pts) {
        (Some(segment), Some(pts)) => segment.to_running_time(pts),
        (_, pts) => pts,
    }
}

/// The running time of `sample`'s buffer, in the sample's segment.
pub fn of_sample(sample: &gst::SampleRef) -> Option<gst::ClockTime> {
    let segment = sample.segment().and_then(|s| s.downcast_ref::<gst::ClockTime>());
    in_segment(segment, sample.buffer()?.pts())
}

/// The running time of `buffer` passing `pad`, in the pad's current segment.
pub fn on_pad(pad: &gst::Pad, buffer: &gst::BufferRef) -> Option<gst::ClockTime> {
    let event = pad.sticky_event::<gst::event::Segment>(0);
    let segment = event.as_ref().and_then(|e| e.segment().downcast_ref::<gst::ClockTime>().cloned());
    in_segment(segment.as_ref(), buffer.pts())
}
