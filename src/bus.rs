//! GStreamer bus messages turned into errors.
//!
//! Warnings on the media path are treated as errors: a converter that cannot map a buffer only
//! *warns* and then emits garbage (see ENVIRONMENT.md, "Stride"), and veilcam must never pass
//! garbage — or unredacted pixels — downstream.

use gstreamer as gst;
use gst::prelude::*;

/// A bus message that ends the run, as text naming the element and the debug detail.
#[derive(Debug, Clone)]
pub struct BusFailure(pub String);

impl std::fmt::Display for BusFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What one look at the bus found.
#[derive(Debug)]
pub enum BusEvent {
    Eos,
    Failure(BusFailure),
}

/// Pops messages until one matters or none is left after `timeout` (`ZERO`: only what is
/// already queued). Messages that do not matter are dropped.
///
/// Not `Bus::timed_pop_filtered`: in gstreamer-rs 0.25 it subtracts the time already spent
/// from the timeout before the first pop, so with a zero timeout it never pops anything and a
/// pipeline's error goes unnoticed.
pub fn poll(bus: &gst::Bus, timeout: gst::ClockTime) -> Option<BusEvent> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_nanos(timeout.nseconds());
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let msg = bus.timed_pop(gst::ClockTime::from_nseconds(left.as_nanos() as u64))?;
        if let Some(event) = classify(&msg) {
            return Some(event);
        }
    }
}

/// Maps one message to an event; `None` for messages that do not matter.
pub fn classify(msg: &gst::Message) -> Option<BusEvent> {
    use gst::MessageView;
    match msg.view() {
        MessageView::Eos(..) => Some(BusEvent::Eos),
        MessageView::Error(err) => Some(BusEvent::Failure(describe(
            msg.src(),
            &err.error().to_string(),
            err.debug().as_deref(),
        ))),
        MessageView::Warning(w) => {
            let text = w.error().to_string();
            // Benign, well-known warnings that do not touch pixels.
            if is_benign_warning(&text) {
                tracing::debug!(warning = %text, "ignored benign GStreamer warning");
                return None;
            }
            Some(BusEvent::Failure(describe(msg.src(), &text, w.debug().as_deref())))
        }
        _ => None,
    }
}

fn is_benign_warning(text: &str) -> bool {
    // Emitted by sinks that cannot keep up with a clock; veilcam's file sinks are not synced.
    text.contains("A lot of buffers are being dropped")
        || text.contains("Delayed linking failed")
}

/// "ERROR [ELEMENT-PATH] (DETAIL)", one line.
pub fn describe(src: Option<&gst::Object>, error: &str, debug: Option<&str>) -> BusFailure {
    let element = src.map(|s| s.path_string().to_string()).unwrap_or_else(|| "pipeline".into());
    let detail = debug.map(detail).filter(|d| !d.is_empty()).map(|d| format!(" ({d})")).unwrap_or_default();
    BusFailure(format!("{error} [{element}]{detail}"))
}

/// A message's debug text as one line for its reader. GStreamer begins it with where in its
/// own source the message was posted, `FILE(LINE): FUNCTION (): ELEMENT-PATH:`, then a line
/// break and the detail; only the detail is kept, its lines joined (found by hostile use: every
/// error veilcam printed from GStreamer carried an escaped `\n` and a C file name).
fn detail(debug: &str) -> String {
    let mut lines = debug.lines().map(str::trim).filter(|l| !l.is_empty()).peekable();
    if lines.peek().is_some_and(|first| is_origin(first)) {
        lines.next();
    }
    lines.collect::<Vec<_>>().join("; ")
}

/// Whether `line` is GStreamer's `FILE(LINE): FUNCTION (): ELEMENT-PATH[:]` origin line (the
/// colon only when a detail follows).
fn is_origin(line: &str) -> bool {
    line.split_once("): ").is_some_and(|(file, rest)| file.contains('(') && rest.contains(" (): "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_already_on_the_bus_is_found_without_waiting() {
        gst::init().unwrap();
        let bus = gst::Bus::new();
        bus.post(gst::message::Latency::new()).unwrap();
        let error = gst::message::Error::new(gst::CoreError::Failed, "encoder failed");
        bus.post(error).unwrap();
        let found = poll(&bus, gst::ClockTime::ZERO);
        assert!(matches!(&found, Some(BusEvent::Failure(f)) if f.0.contains("encoder failed")), "{found:?}");
        assert!(poll(&bus, gst::ClockTime::ZERO).is_none(), "nothing left");
    }

    #[test]
    fn an_error_reads_as_one_line_without_gstreamers_source_location() {
        let debug = "../libs/gst/base/gstbasesrc.c(3132): gst_base_src_loop (): /GstPipeline:pipeline0/GstFileSrc:src:\nstreaming stopped, reason error (-5)";
        assert_eq!(detail(debug), "streaming stopped, reason error (-5)");
        assert_eq!(detail("../gst/isomp4/qtdemux.c(9001): qtdemux_parse_trak (): /GstPipeline:p/GstQTDemux:d:\n"), "");
        assert_eq!(detail("../plugins/elements/gstelements_private.c(338): gst_writev_iovecs (): /GstPipeline:e/GstFileSink:f"), "");
        assert_eq!(detail("no origin here\nsecond line"), "no origin here; second line");
        assert_eq!(detail("x264 said (3): too big"), "x264 said (3): too big");
    }
}
