//! The log of a veilcam process: warnings by default, more with `-v`, on stderr, each record on
//! one line ([`init`]).

use std::io::{IsTerminal, Write};

use tracing_subscriber::EnvFilter;

/// By default only warnings are logged (the progress bar and the summary line are the normal
/// output); `-v` adds progress and details, `-vv` debugging, `-vvv` everything. Colours only on
/// a terminal.
pub fn init(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_env("VEILCAM_LOG").unwrap_or_else(|_| EnvFilter::new(format!("veilcam={default}")));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| OneLine(std::io::stderr()))
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}

/// Writes each log record as one line: a line break inside it (a file name's) is shown
/// escaped, so no name can forge a log line of veilcam's own (found by hostile use: a killed
/// run's temp file named "…\nveilcam: …" printed a second line in the warning that removed
/// it). The formatter writes a whole record at a time and already escapes terminal escapes.
struct OneLine<W>(W);

impl<W: Write> Write for OneLine<W> {
    fn write(&mut self, record: &[u8]) -> std::io::Result<usize> {
        self.0.write_all(&one_line_record(record))?;
        Ok(record.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// `record` with its inner line breaks escaped, its final newline kept.
fn one_line_record(record: &[u8]) -> Vec<u8> {
    let (body, end) = record.strip_suffix(b"\n").map_or((record, &b""[..]), |body| (body, &b"\n"[..]));
    let mut line = Vec::with_capacity(record.len());
    for &byte in body {
        match byte {
            b'\n' => line.extend_from_slice(b"\\n"),
            b'\r' => line.extend_from_slice(b"\\r"),
            _ => line.push(byte),
        }
    }
    line.extend_from_slice(end);
    line
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_log_record_stays_one_line_whatever_a_file_name_holds() {
        assert_eq!(super::one_line_record(b"WARN removed /t/.k\nveilcam: FORGED\r.part\n"), b"WARN removed /t/.k\\nveilcam: FORGED\\r.part\n");
    }
}
