//! veilcam: redact faces from video and images before any frame is stored or shared.
//!
//! One frame's path through the program, module by module:
//! [`source`] (GStreamer decode → appsink) → [`detect`] (CenterFace via ONNX Runtime) →
//! [`redact`] (irreversible fills) → [`sink`] (appsrc → x264 → mux, atomic [`output`]).
//! [`pipeline`] wires those stages with bounded channels; [`still`] does the same for one image.
//!
//! Before any command runs, the `veilcam` binary sets its process up ([`process`]: no core
//! dumps, enough open files, signals that stop every stage) and its log ([`logging`]).

/// `text` as one line of plain text: its control characters (a newline or a terminal escape in
/// a file name, a zip entry's name, a hold's case) are shown escaped, so no name can forge a
/// line of veilcam's own or drive the terminal (found by hostile use: a name holding
/// "\nveilcam: done …" printed a fake line, a zip entry a fake "OK" line of `verify`).
pub fn one_line(text: &str) -> String {
    text.chars().flat_map(|c| if c.is_control() { c.escape_default().collect::<Vec<_>>() } else { vec![c] }).collect()
}

/// `path` as one line of plain text, like [`one_line`], with each byte that is not UTF-8 shown
/// as `\xNN`, so names that differ only in such bytes look different (found by hostile use:
/// `n\xff.mp4` and `n\xfe.mp4` both printed as `n\u{fffd}.mp4`, as `display()` shows them).
pub fn one_line_path(path: &std::path::Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut shown = String::new();
    for chunk in path.as_os_str().as_bytes().utf8_chunks() {
        shown += &one_line(chunk.valid());
        for byte in chunk.invalid() {
            shown += &format!("\\x{byte:02x}");
        }
    }
    shown
}

/// Writes one line of a command's results to stdout ([`stdout`]). A reader that has gone
/// (`veilcam audit … | head -1`) must not abort the command, as `println!` would with a panic:
/// what was written to files stays, and the exit code still says what was found. Any other
/// failed write fails the command when it ends ([`stdout::finish`]).
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::stdout::write_line(format_args!($($arg)*))
    };
}

/// Writes one line to stderr (a message or a warning of veilcam's own), as one line
/// ([`one_line`]): a name holding a newline cannot forge a second line. A closed or full stderr
/// must never abort a run (`eprintln!` panics then), so write errors are ignored.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        let line = $crate::one_line(&::std::format!($($arg)*)) + "\n";
        // One write: lines of other threads cannot split it.
        let _ = ::std::io::Write::write_all(&mut ::std::io::stderr().lock(), line.as_bytes());
    }};
}

pub mod append;
pub mod audit;
pub mod batch;
pub mod bench;
pub mod bus;
pub mod cli;
pub mod config;
pub mod detect;
pub mod export;
pub mod error;
pub mod frame;
pub mod geometry;
pub mod input;
pub mod interrupt;
pub mod leftover;
pub mod live;
pub mod logging;
pub mod metrics_http;
pub mod models;
pub mod mp4box;
pub mod output;
pub mod pipeline;
pub mod policy;
pub mod preview;
pub mod process;
pub mod progress;
pub mod queue;
pub mod redact;
pub mod running_time;
pub mod settings;
pub mod sidecar;
pub mod sink;
pub mod source;
pub mod stats;
pub mod still;
pub mod stdout;
pub mod subject;
pub mod testcam;
pub mod track;
pub mod zone_preview;
pub mod zones;

use std::path::PathBuf;
use std::sync::OnceLock;

use gstreamer as gst;

pub use error::{Error, Result};

/// GStreamer elements a run needs, with the Debian package that ships each.
const REQUIRED_ELEMENTS: [(&str, &str); 8] = [
    ("decodebin", "gstreamer1.0-plugins-base"),
    ("videoconvert", "gstreamer1.0-plugins-base"),
    ("videoflip", "gstreamer1.0-plugins-good"),
    ("appsink", "gstreamer1.0-plugins-base"),
    ("appsrc", "gstreamer1.0-plugins-base"),
    ("x264enc", "gstreamer1.0-plugins-ugly"),
    ("mp4mux", "gstreamer1.0-plugins-good"),
    ("filesink", "gstreamer1.0 (core)"),
];

/// Initialises GStreamer once and checks that the elements veilcam uses are installed.
pub fn init_gstreamer() -> Result<()> {
    static INIT: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    INIT.get_or_init(|| {
        gst::init().map_err(|e| format!("cannot initialise GStreamer: {e}"))?;
        let missing: Vec<String> = REQUIRED_ELEMENTS
            .iter()
            .filter(|(name, _)| gst::ElementFactory::find(name).is_none())
            .map(|(name, pkg)| format!("{name} (from {pkg})"))
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!("missing: {}; run scripts/setup", missing.join(", ")))
        }
    })
    .clone()
    .map_err(|message| Error::MissingElement { path: PathBuf::from("GStreamer"), message })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_message_stays_one_line_whatever_a_file_name_holds() {
        assert_eq!(super::one_line("done a\nveilcam: done b\u{1b}[31m"), "done a\\nveilcam: done b\\u{1b}[31m");
    }
}
