//! `veilcam bench`: redaction against a plain GStreamer transcode of the same clip, in one run.
//!
//! Both run as child processes of this binary (so each one's peak memory is its own):
//! `veilcam transcode` is `filesrc ! decodebin ! videoconvert ! x264enc ! mp4mux`
//! with the same encoder settings, and `veilcam redact` is the real thing. The report gives
//! fps, the ratio redact ÷ plain in wall time, redaction's per-stage busy time, latency and
//! peak RSS of each.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use gstreamer as gst;
use gst::prelude::*;

use crate::bus::{self, BusEvent};
use crate::error::{Error, Result};
use crate::sink::file::EncoderSettings;
use crate::stats::{cpu_seconds, peak_rss_bytes, StatsReport};

/// Transcodes `input` to `output` with GStreamer alone: the baseline redaction is compared to.
pub fn plain_transcode(input: &Path, output: &Path, enc: &EncoderSettings) -> Result<StatsReport> {
    crate::init_gstreamer()?;
    let started = Instant::now();
    let err = |message: String| Error::Encode { path: output.to_path_buf(), message };
    let description =
        "filesrc name=src ! decodebin ! videoconvert ! video/x-raw,format=I420 ! x264enc name=enc ! mp4mux ! filesink name=sink";
    let pipeline = gst::parse::launch(description)
        .map_err(|e| err(e.to_string()))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| err("not a pipeline".into()))?;
    let by_name = |n: &str| pipeline.by_name(n).ok_or_else(|| err(format!("no element {n}")));
    by_name("src")?.set_property("location", input);
    by_name("sink")?.set_property("location", output);
    let encoder = by_name("enc")?;
    encoder.set_property("quantizer", enc.crf);
    encoder.set_property_from_str("pass", "qual");
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

/// Runs both child processes on `input` and prints the comparison; returns (plain, redact).
pub fn run(input: &Path, work_dir: &Path, enc: &EncoderSettings, redact_args: &[String]) -> Result<(StatsReport, StatsReport)> {
    std::fs::create_dir_all(work_dir).map_err(|e| Error::io(work_dir, e))?;
    let exe = std::env::current_exe().map_err(|e| Error::io("veilcam", e))?;
    let crf = enc.crf.to_string();
    let plain = child(
        &exe,
        work_dir,
        "plain",
        &["transcode", path_str(input)?, "--preset", &enc.preset, "--crf", &crf],
    )?;
    let mut args: Vec<&str> = vec!["redact", path_str(input)?, "--preset", &enc.preset, "--crf", &crf];
    args.extend(redact_args.iter().map(String::as_str));
    let redact = child(&exe, work_dir, "redact", &args)?;
    print_report(input, enc, &plain, &redact);
    Ok((plain, redact))
}

fn path_str(p: &Path) -> Result<&str> {
    p.to_str().ok_or_else(|| Error::Settings(format!("{}: path is not UTF-8", p.display())))
}

fn child(exe: &Path, dir: &Path, name: &str, args: &[&str]) -> Result<StatsReport> {
    let output = dir.join(format!("{name}.mp4"));
    let stats = dir.join(format!("{name}.stats.json"));
    let status = Command::new(exe)
        .args(args)
        .arg("-o")
        .arg(&output)
        .arg("--stats")
        .arg(&stats)
        .arg("--overwrite")
        .arg("--quiet")
        .status()
        .map_err(|e| Error::io(exe, e))?;
    if !status.success() {
        return Err(Error::Pipeline(format!("bench: `veilcam {}` failed ({status})", args.join(" "))));
    }
    let text = std::fs::read_to_string(&stats).map_err(|e| Error::io(&stats, e))?;
    serde_json::from_str(&text).map_err(|e| Error::Pipeline(format!("{}: {e}", stats.display())))
}

fn print_report(input: &Path, enc: &EncoderSettings, plain: &StatsReport, redact: &StatsReport) {
    let mb = |r: &StatsReport| r.peak_rss_mb.map(|m| format!("{m:.0} MB")).unwrap_or_else(|| "?".into());
    println!("bench: {} (x264 preset {}, crf {})", input.display(), enc.preset, enc.crf);
    let cpu = |r: &StatsReport| r.cpu_s.map(|c| format!("{c:.2}")).unwrap_or_else(|| "?".into());
    println!("  {:<18} {:>7} {:>9} {:>9} {:>9} {:>10}", "", "frames", "wall s", "fps", "CPU s", "peak RSS");
    for (name, r) in [("plain transcode", plain), ("veilcam redact", redact)] {
        println!("  {:<18} {:>7} {:>9.2} {:>9.1} {:>9} {:>10}", name, r.frames, r.wall_s, r.fps, cpu(r), mb(r));
    }
    println!("  ratio redact / plain (wall time): {:.2}", redact.wall_s / plain.wall_s.max(1e-9));
    if let (Some(p), Some(r)) = (plain.cpu_s, redact.cpu_s) {
        println!("  ratio redact / plain (CPU time, less sensitive to other load): {:.2}", r / p.max(1e-9));
    }
    println!(
        "  redact busy time: decode wait {:.2} s, detect {:.2} s (summed over workers), track+policy+fill {:.2} s, encoder back-pressure {:.2} s",
        redact.decode_s, redact.detect_s, redact.redact_s, redact.encode_wait_s
    );
    let ms = |v: Option<u64>| v.map(|m| format!("{m} ms")).unwrap_or_else(|| "?".into());
    println!(
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
