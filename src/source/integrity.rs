//! Damage that GStreamer reports quietly, gathered so that a damaged input is an error (or,
//! with `--salvage`, a recorded gap) instead of a short or patched-up output.
//!
//! A decode is clean only if nothing below happened; each is recorded in the source's
//! [`DamageLog`]:
//! - a video decoder dropped a frame it could not decode: with `output-corrupt=false` the
//!   libav decoders drop corrupt frames instead of concealing them, and every drop posts a QoS
//!   message ([`DamageLog::watch_bus`]);
//! - a video decoder reported a decoding error: with `max-errors=0` (strict mode) the first
//!   one is a bus error ([`harden_decoder`]);
//! - a demuxer met the end of the file in the middle of a frame. avidemux and matroskademux
//!   only say so in the debug log ("Short read … (truncated file?)", "Dropping short buffer"),
//!   so a log function watches their categories for the demuxers of veilcam's pipelines
//!   ([`watch_demuxer`]);
//! - a libav decoder concealed an error (a frame cut off at the end of an MPEG-TS or raw H.264
//!   file decodes with grey blocks and no flag; an MJPEG frame cut short or corrupt, for which
//!   libav's decoder is chosen over the silent `jpegdec`, [`prefer_reporting_decoders`]):
//!   libav logs it at ERROR level, without naming
//!   the element, so such a message counts against every decode running at the time
//!   ([`register`]). Two files decoded at once in one process (`batch --jobs 2`) can thus both
//!   fail for the damage of one; the clean one succeeds when run again.
//!
//! Truncation of a container that declares its duration is checked by the source itself.
//!
//! The same log watch catches a demuxer's own error ([`DamageLog::demuxer_failure`]): decodebin
//! drops an error its demuxer posts while decodebin is still plugging it in (a race in
//! GStreamer 1.22's decodebin2, seen in `batch` on a file opened after another), so the error
//! never reaches the bus and the file's source would wait for its opening deadline.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Once};

use gstreamer as gst;
use gst::prelude::*;
use serde::Serialize;

/// The debug category of libav's own log (its ERROR level is libav's `AV_LOG_ERROR`).
const LIBAV: &str = "libav";
/// Debug categories and phrases by which demuxers report a file that ends mid-frame.
const TRUNCATION_SIGNS: [(&str, &str); 4] = [
    ("avidemux", "Short read"),
    ("matroskareadcommon", "Dropping short buffer"),
    ("qtdemux", "truncated"),
    // An atom that runs past the end of the file (an MP4 cut inside its first fragment).
    ("qtdemux", "short read"),
];
/// Reports kept word for word; later ones are only counted.
const MAX_REPORTS: usize = 20;
/// Debug categories of the demuxers whose element errors the log watch reads (an element error
/// is logged in the element's category as a warning, "error: TEXT").
const DEMUXER_CATEGORIES: [&str; 3] = ["qtdemux", "avidemux", "matroskademux"];

/// What a decode lost, as `--salvage` records it in the sidecar and the summary.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Damage {
    /// Spans of the timeline without a decodable frame, in nanoseconds of stream time.
    pub gaps: Vec<Gap>,
    /// Frames a decoder dropped because it could not decode them.
    pub undecodable_frames: u64,
    /// What GStreamer said about the damage, first reports first.
    pub reports: Vec<String>,
}

impl Damage {
    pub fn is_empty(&self) -> bool {
        self.gaps.is_empty() && self.undecodable_frames == 0 && self.reports.is_empty()
    }

    /// Seconds of the timeline covered by gaps.
    pub fn missing_seconds(&self) -> f64 {
        self.gaps.iter().map(|g| g.to_ns.saturating_sub(g.from_ns)).sum::<u64>() as f64 / 1e9
    }
}

/// A span `[from_ns, to_ns)` with no frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Gap {
    pub from_ns: u64,
    pub to_ns: u64,
}

/// The damage of one decode, shared with GStreamer's threads.
#[derive(Clone, Debug, Default)]
pub struct DamageLog(Arc<Mutex<Logged>>);

/// What the log watch and the bus recorded for one decode.
#[derive(Debug, Default)]
struct Logged {
    damage: Damage,
    /// The first error a watched demuxer logged (see the module's docs): why the file could
    /// not be opened, not what a salvaged decode lost.
    demuxer_error: Option<String>,
}

impl DamageLog {
    fn lock(&self) -> std::sync::MutexGuard<'_, Logged> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn report(&self, what: String) {
        let mut logged = self.lock();
        if logged.damage.reports.len() < MAX_REPORTS {
            logged.damage.reports.push(what);
        }
    }

    /// Records `frames` frames a decoder could not decode, and why.
    pub fn undecodable(&self, frames: u64, what: String) {
        self.lock().damage.undecodable_frames += frames;
        self.report(what);
    }

    pub fn gap(&self, gap: Gap) {
        self.lock().damage.gaps.push(gap);
    }

    /// Records a demuxer's error (the first one is kept).
    fn demuxer_failed(&self, what: String) {
        self.lock().demuxer_error.get_or_insert(what);
    }

    /// The first error a demuxer of this decode logged, whether or not it reached the bus.
    pub fn demuxer_failure(&self) -> Option<String> {
        self.lock().demuxer_error.clone()
    }

    /// The first report, if anything was damaged.
    pub fn first_report(&self) -> Option<String> {
        let logged = self.lock();
        let d = &logged.damage;
        d.reports.first().cloned().or_else(|| (!d.gaps.is_empty()).then(|| "frames are missing".to_string()))
    }

    pub fn has_reports(&self) -> bool {
        let logged = self.lock();
        !logged.damage.reports.is_empty() || logged.damage.undecodable_frames > 0
    }

    /// A copy of what was recorded so far.
    pub fn snapshot(&self) -> Damage {
        self.lock().damage.clone()
    }

    pub fn take(&self) -> Damage {
        std::mem::take(&mut *self.lock()).damage
    }

    pub fn clear_gaps(&self) {
        self.lock().damage.gaps.clear();
    }

    /// Records every frame a video decoder drops (a QoS message from a decoder in a pipeline
    /// without a clock means it could not decode the frame).
    pub fn watch_bus(&self, bus: &gst::Bus) {
        let log = self.clone();
        bus.set_sync_handler(move |_, msg| {
            if let gst::MessageView::Qos(qos) = msg.view() {
                let from = msg.src().map(|s| s.name().to_string()).unwrap_or_else(|| "decoder".into());
                let (_, _, stream_time, timestamp, _) = qos.get();
                let timestamp = stream_time.or(timestamp);
                let at = timestamp.map_or(String::new(), |t| format!(" at {:.3} s", t.nseconds() as f64 / 1e9));
                log.undecodable(1, format!("{from} could not decode the frame{at}"));
            }
            gst::BusSyncReply::Pass
        });
    }
}

/// Makes a decoder that decodebin plugged fail or drop instead of concealing damage:
/// libav decoders drop corrupt frames (`output-corrupt=false`), and in strict mode a video
/// decoder's first decoding error ends the run (`max-errors=0`); with `--salvage` decoding goes
/// on past errors (`max-errors=-1`) and the drops are counted.
pub fn harden_decoder(element: &gst::Element, salvage: bool) {
    if element.find_property("output-corrupt").is_some() {
        element.set_property("output-corrupt", false);
    }
    if element.is::<gstreamer_video::VideoDecoder>() && element.find_property("max-errors").is_some() {
        element.set_property("max-errors", if salvage { -1i32 } else { 0i32 });
    }
}

/// The decoder that `decodebin` is to try instead of one that hides damage: GStreamer's
/// `jpegdec` decodes a JPEG frame of an MJPEG video that is cut short or corrupt as grey blocks
/// and says nothing (libjpeg's warnings go nowhere); libav's, whose errors the log watch
/// reads, reports it ("overread", "error dc").
const INSTEAD: [(&str, &str); 1] = [("jpegdec", "avdec_mjpeg")];

/// Makes `decodebin` skip the decoders of `INSTEAD` where their replacement is installed and
/// takes the stream, so that a damaged frame is reported like any other decoder's. (libav's
/// MJPEG decoder takes parsed JPEG frames, as demuxers give them; a raw stream of JPEGs, which
/// decodebin has no parser for, stays with `jpegdec`.)
pub fn prefer_reporting_decoders(decodebin: &gst::Element) {
    // decodebin's "autoplug-select" answers with a `GstAutoplugSelectResult`: 0 try, 2 skip.
    let Some(result) = gst::glib::Type::from_name("GstAutoplugSelectResult") else { return };
    decodebin.connect("autoplug-select", false, move |args| {
        let (caps, factory) = (args[2].get::<gst::Caps>().ok()?, args[3].get::<gst::ElementFactory>().ok()?);
        let takes = |name: &str| gst::ElementFactory::find(name).is_some_and(|f| f.can_sink_all_caps(&caps));
        let replaced = INSTEAD.iter().any(|(hides, reports)| factory.name() == *hides && takes(reports));
        gst::glib::EnumClass::with_type(result)?.to_value(if replaced { 2 } else { 0 })
    });
}

/// The decodes being watched: their logs, and their demuxers by element name (GStreamer names
/// elements uniquely in a process).
#[derive(Default)]
struct Watched {
    decodes: Vec<DamageLog>,
    demuxers: HashMap<String, DamageLog>,
}

static WATCHED: Mutex<Option<Watched>> = Mutex::new(None);

fn watched() -> std::sync::MutexGuard<'static, Option<Watched>> {
    WATCHED.lock().unwrap_or_else(|e| e.into_inner())
}

/// Watches GStreamer's debug log for damage while the decode that reports to `log` runs.
pub fn register(log: &DamageLog) {
    install_log_watch();
    watched().get_or_insert_with(Watched::default).decodes.push(log.clone());
}

/// Watches the debug log of `demuxer` for the signs of a file that ends mid-frame.
pub fn watch_demuxer(demuxer: &gst::Element, log: &DamageLog) {
    watched().get_or_insert_with(Watched::default).demuxers.insert(demuxer.name().to_string(), log.clone());
}

/// Stops watching for the decode that reports to `log`.
pub fn unwatch(log: &DamageLog) {
    if let Some(w) = watched().as_mut() {
        w.demuxers.retain(|_, l| !Arc::ptr_eq(&l.0, &log.0));
        w.decodes.retain(|l| !Arc::ptr_eq(&l.0, &log.0));
    }
}

fn install_log_watch() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // Without GST_DEBUG the default log function would now print these warnings.
        if std::env::var_os("GST_DEBUG").is_none() {
            gst::log::remove_default_log_function();
        }
        let categories = TRUNCATION_SIGNS.iter().map(|(c, _)| *c).chain(DEMUXER_CATEGORIES).map(|c| (c, gst::DebugLevel::Warning));
        for (category, level) in categories.chain([(LIBAV, gst::DebugLevel::Error)]) {
            if gst::DebugCategory::get(category).is_none_or(|c| c.threshold() < level) {
                gst::log::set_threshold_for_name(category, level);
            }
        }
        gst::log::add_log_function(|category, level, _file, _function, _line, object, message| {
            if level > gst::DebugLevel::Warning {
                return;
            }
            let Some(text) = message.get() else { return };
            let guard = watched();
            let Some(w) = guard.as_ref() else { return };
            if category.name() == LIBAV && level == gst::DebugLevel::Error {
                for log in &w.decodes {
                    log.report(format!("libav: {}", text.trim()));
                }
                return;
            }
            let error = text.strip_prefix("error: ").filter(|_| DEMUXER_CATEGORIES.contains(&category.name()));
            let sign = TRUNCATION_SIGNS.iter().any(|(c, phrase)| category.name() == *c && text.contains(phrase));
            let Some(object) = object.filter(|_| sign || error.is_some()) else { return };
            // A pad is shown as `element:pad`.
            let shown = object.to_string();
            let element = shown.split(':').next().unwrap_or_default();
            if let Some(log) = w.demuxers.get(element) {
                match error {
                    Some(error) => log.demuxer_failed(error.trim().to_string()),
                    None => log.report(format!("{element}: {text}")),
                }
            }
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The error qtdemux logs when a file has no stream it can play, as GStreamer 1.22's
    /// `GST_ELEMENT_ERROR` logs it: the text, then the debug detail.
    fn log_element_error(demuxer: &gst::Element) {
        let category = gst::DebugCategory::get("qtdemux").expect("qtdemux is loaded");
        gst::warning!(category, obj = demuxer, "error: This file contains no playable streams.");
        gst::warning!(category, obj = demuxer, "error: no known streams found");
    }

    #[test]
    fn a_watched_demuxers_error_is_kept_even_when_it_never_reaches_the_bus() {
        gst::init().unwrap();
        let demuxer = gst::ElementFactory::make("qtdemux").build().unwrap();
        let (watched, other) = (DamageLog::default(), DamageLog::default());
        register(&watched);
        register(&other);
        watch_demuxer(&demuxer, &watched);
        log_element_error(&demuxer);
        assert_eq!(watched.demuxer_failure().as_deref(), Some("This file contains no playable streams."));
        assert!(!watched.has_reports(), "an error is not damage to salvage");
        assert_eq!(other.demuxer_failure(), None, "another decode's demuxer failed");
        unwatch(&watched);
        unwatch(&other);
    }
}
