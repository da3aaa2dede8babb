//! `veilcam bench`: redaction against a plain GStreamer transcode of the same clip, in one run.
//!
//! Both run as child processes of this binary (so each one's peak memory is its own):
//! `veilcam transcode` is `filesrc ! decodebin ! videoconvert ! x264enc ! mp4mux`
//! with the same encoder settings, and `veilcam redact` is the real thing. The report gives
//! fps, the ratio redact ÷ plain in wall time and CPU time, redaction's per-stage busy time,
//! latency and peak RSS of each; with `--runs N`, N such pairs one after the other and the
//! median of their ratios (the host's speed drifts, so one pair is a noisy figure).

use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gstreamer as gst;
use gst::prelude::*;

use crate::bus::{self, BusEvent};
use crate::error::{Error, Result};
use crate::sink::file::EncoderSettings;
use crate::stats::{cpu_seconds, peak_rss_bytes, StatsReport};

/// Transcodes `input` with GStreamer alone, the baseline redaction is compared to, into a file
/// in `scratch_dir` that has no name: it is the clip unredacted, so it never appears in the
/// directory and vanishes with the process however the process ends (found by hostile use: a
/// bench killed with SIGKILL left the transcode finishing a whole unredacted `plain.mp4`).
pub fn plain_transcode(input: &Path, scratch_dir: &Path, enc: &EncoderSettings) -> Result<StatsReport> {
    crate::init_gstreamer()?;
    let started = Instant::now();
    let err = |message: String| Error::Encode { path: scratch_dir.to_path_buf(), message };
    let scratch = unnamed_file(scratch_dir)?;
    let output = format!("/proc/self/fd/{}", scratch.as_raw_fd());
    let description =
        "filesrc name=src ! decodebin ! videoconvert ! video/x-raw,format=I420 ! x264enc name=enc ! mp4mux ! filesink name=sink";
    let pipeline = gst::parse::launch(description)
        .map_err(|e| err(e.to_string()))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| err("not a pipeline".into()))?;
    let by_name = |n: &str| pipeline.by_name(n).ok_or_else(|| err(format!("no element {n}")));
    by_name("src")?.set_property("location", input);
    by_name("sink")?.set_property("location", &output);
    let encoder = by_name("enc")?;
    crate::sink::h264::constant_quality(&encoder, enc.crf);
    encoder.set_property_from_str("speed-preset", &enc.preset);
    let frames = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&frames);
    encoder.static_pad("sink").expect("x264enc has a sink pad").add_probe(gst::PadProbeType::BUFFER, move |_, _| {
        counter.fetch_add(1, Ordering::Relaxed);
        gst::PadProbeReturn::Ok
    });
    let bus = pipeline.bus().expect("a pipeline has a bus");
    pipeline.set_state(gst::State::Playing).map_err(|_| err("cannot start".into()))?;
    let result = loop {
        if crate::interrupt::requested() {
            break Err(Error::Interrupted);
        }
        match bus::poll(&bus, gst::ClockTime::from_mseconds(200)) {
            Some(BusEvent::Eos) => break Ok(()),
            Some(BusEvent::Failure(f)) => break Err(err(f.0)),
            None => {}
        }
    };
    let _ = pipeline.set_state(gst::State::Null);
    result?;
    let wall = started.elapsed();
    let frames = frames.load(Ordering::Relaxed);
    Ok(StatsReport {
        frames,
        wall_s: wall.as_secs_f64(),
        fps: frames as f64 / wall.as_secs_f64().max(1e-9),
        decode_s: 0.0,
        detect_s: 0.0,
        redact_s: 0.0,
        encode_wait_s: 0.0,
        latency_p50_ms: None,
        latency_p99_ms: None,
        peak_rss_mb: peak_rss_bytes().map(|b| b as f64 / (1024.0 * 1024.0)),
        cpu_s: cpu_seconds(),
    })
}

/// A file without a name in `dir` (`O_TMPFILE`), readable by its owner only.
fn unnamed_file(dir: &Path) -> Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_TMPFILE)
        .open(dir)
        .map_err(|e| Error::io(dir, e))
}

/// Runs both child processes on `input`, `runs` times in pairs (plain, then redact), and prints
/// the comparison; returns the pairs. The plain transcode's output, the footage unredacted, has
/// no name and goes with its process ([`plain_transcode`]); the redacted one stays in `work_dir`. The host's speed drifts between runs (on the 2-core
/// build machine the same redaction took 16.5 to 21.3 CPU seconds), so each ratio is taken
/// within its pair, and with more than one pair the median is the figure to report.
pub fn run(input: &Path, work_dir: &Path, enc: &EncoderSettings, redact_args: &[String], runs: usize) -> Result<Vec<(StatsReport, StatsReport)>> {
    std::fs::create_dir_all(work_dir).map_err(|e| Error::io(work_dir, e))?;
    let exe = std::env::current_exe().map_err(|e| Error::io("veilcam", e))?;
    let crf = enc.crf.to_string();
    let plain_args = ["transcode", path_str(input)?, "--preset", &enc.preset, "--crf", &crf];
    let mut redact: Vec<&str> = vec!["redact", path_str(input)?, "--preset", &enc.preset, "--crf", &crf];
    redact.extend(redact_args.iter().map(String::as_str));
    let mut pairs = Vec::with_capacity(runs);
    for _ in 0..runs.max(1) {
        let plain = child(&exe, work_dir, "plain", &plain_args, None)?;
        let redacted = child(&exe, work_dir, "redact", &redact, Some(&work_dir.join("redact.mp4")))?;
        print_report(input, enc, &plain, &redacted);
        pairs.push((plain, redacted));
    }
    if pairs.len() > 1 {
        print_summary(&pairs);
    }
    Ok(pairs)
}

/// Redaction's time ÷ the plain transcode's in one pair: wall time, and CPU time where both
/// processes reported it.
pub fn ratios(plain: &StatsReport, redact: &StatsReport) -> (f64, Option<f64>) {
    let cpu = plain.cpu_s.zip(redact.cpu_s).map(|(p, r)| r / p.max(1e-9));
    (redact.wall_s / plain.wall_s.max(1e-9), cpu)
}

/// The median of `values` (the mean of the middle two for an even count); `None` when empty.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

/// The ratios of every pair, their median and range.
fn print_summary(pairs: &[(StatsReport, StatsReport)]) {
    let (wall, cpu): (Vec<f64>, Vec<Option<f64>>) = pairs.iter().map(|(p, r)| ratios(p, r)).unzip();
    let line = |name: &str, v: &[f64]| {
        let each: Vec<String> = v.iter().map(|r| format!("{r:.2}")).collect();
        let (lo, hi) = v.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &r| (lo.min(r), hi.max(r)));
        if let Some(m) = median(v) {
            out!("  {name}: median {m:.2} (range {lo:.2}-{hi:.2}; runs {})", each.join(", "));
        }
    };
    out!("summary of {} runs (each ratio within its own pair):", pairs.len());
    line("ratio redact / plain (wall time)", &wall);
    let cpu: Vec<f64> = cpu.into_iter().flatten().collect();
    if cpu.len() == pairs.len() {
        line("ratio redact / plain (CPU time)", &cpu);
    }
    let rss: Vec<f64> = pairs.iter().filter_map(|(_, r)| r.peak_rss_mb).collect();
    if let Some(m) = median(&rss) {
        out!("  veilcam peak RSS: median {m:.0} MB");
    }
}

fn path_str(p: &Path) -> Result<&str> {
    p.to_str().ok_or_else(|| Error::Settings(format!("{}: path is not UTF-8", p.display())))
}

/// Runs `veilcam ARGS` writing `output` (none: the transcode, into `--scratch-dir DIR`) and its
/// stats, and returns the stats. The
/// child ends with this process (`PR_SET_PDEATHSIG`), and a signal here stops it too: a
/// killed or interrupted bench leaves no child running on (found by hostile use).
fn child(exe: &Path, dir: &Path, name: &str, args: &[&str], output: Option<&Path>) -> Result<StatsReport> {
    let stats = dir.join(format!("{name}.stats.json"));
    let mut cmd = Command::new(exe);
    cmd.args(args);
    match output {
        Some(output) => cmd.arg("-o").arg(output),
        None => cmd.arg("--scratch-dir").arg(dir),
    };
    cmd.arg("--stats").arg(&stats).arg("--overwrite").arg("--quiet");
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut running = cmd.spawn().map_err(|e| Error::io(exe, e))?;
    let status = loop {
        if let Some(status) = running.try_wait().map_err(|e| Error::io(exe, e))? {
            break status;
        }
        if crate::interrupt::requested() {
            // SAFETY: kill(2) on our own child, which has not been reaped.
            unsafe { libc::kill(running.id() as libc::pid_t, libc::SIGTERM) };
            let _ = running.wait();
            return Err(Error::Interrupted);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    if !status.success() {
        return Err(Error::Pipeline(format!("bench: `veilcam {}` failed ({status})", args.join(" "))));
    }
    let text = std::fs::read_to_string(&stats).map_err(|e| Error::io(&stats, e))?;
    serde_json::from_str(&text).map_err(|e| Error::Pipeline(format!("{}: {e}", stats.display())))
}

fn print_report(input: &Path, enc: &EncoderSettings, plain: &StatsReport, redact: &StatsReport) {
    let mb = |r: &StatsReport| r.peak_rss_mb.map(|m| format!("{m:.0} MB")).unwrap_or_else(|| "?".into());
    out!("bench: {} (x264 preset {}, crf {})", input.display(), enc.preset, enc.crf);
    let cpu = |r: &StatsReport| r.cpu_s.map(|c| format!("{c:.2}")).unwrap_or_else(|| "?".into());
    out!("  {:<18} {:>7} {:>9} {:>9} {:>9} {:>10}", "", "frames", "wall s", "fps", "CPU s", "peak RSS");
    for (name, r) in [("plain transcode", plain), ("veilcam redact", redact)] {
        out!("  {:<18} {:>7} {:>9.2} {:>9.1} {:>9} {:>10}", name, r.frames, r.wall_s, r.fps, cpu(r), mb(r));
    }
    let (wall, cpu) = ratios(plain, redact);
    out!("  ratio redact / plain (wall time): {wall:.2}");
    if let Some(cpu) = cpu {
        out!("  ratio redact / plain (CPU time, less sensitive to other load): {cpu:.2}");
    }
    out!(
        "  redact busy time: decode wait {:.2} s, detect {:.2} s (summed over workers), track+policy+fill {:.2} s, encoder back-pressure {:.2} s",
        redact.decode_s, redact.detect_s, redact.redact_s, redact.encode_wait_s
    );
    let ms = |v: Option<u64>| v.map(|m| format!("{m} ms")).unwrap_or_else(|| "?".into());
    out!(
        "  frame latency decode -> encoder: p50 {}, p99 {} (includes the look-ahead window)",
        ms(redact.latency_p50_ms),
        ms(redact.latency_p99_ms)
    );
}

/// Writes a stats report as JSON.
pub fn write_stats(path: &Path, report: &StatsReport) -> Result<()> {
    let text = serde_json::to_string_pretty(report).expect("stats serialise");
    std::fs::write(path, text).map_err(|e| Error::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(wall_s: f64, cpu_s: Option<f64>) -> StatsReport {
        StatsReport {
            frames: 10,
            wall_s,
            fps: 10.0 / wall_s,
            decode_s: 0.0,
            detect_s: 0.0,
            redact_s: 0.0,
            encode_wait_s: 0.0,
            latency_p50_ms: None,
            latency_p99_ms: None,
            peak_rss_mb: None,
            cpu_s,
        }
    }

    #[test]
    fn each_ratio_is_taken_within_its_own_pair() {
        assert_eq!(ratios(&report(2.0, Some(4.0)), &report(3.0, Some(8.0))), (1.5, Some(2.0)));
        assert_eq!(ratios(&report(2.0, None), &report(3.0, Some(8.0))), (1.5, None), "no CPU ratio without both CPU times");
    }

    #[test]
    fn the_median_of_the_runs_ignores_one_outlier_either_way() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[1.9]), Some(1.9));
        assert_eq!(median(&[2.3, 1.8, 1.9]), Some(1.9));
        assert_eq!(median(&[1.0, 2.0, 3.0, 10.0]), Some(2.5));
    }
}
