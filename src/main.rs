//! `veilcam` command-line entry: parse flags once, set the process up ([`veilcam::process`],
//! [`veilcam::logging`]), and hand the command to the module that runs it.
//!
//! Exit codes: 0 done; 1 error (nothing written), or a check that failed (`verify`, `log
//! verify`: after printing what failed); 2 a batch finished but some files failed; 3 `--salvage`
//! wrote an output but the input was damaged (gaps listed); 4 `audit` found a face; 130
//! interrupted by Ctrl-C, SIGTERM, SIGHUP (unless started with it ignored, as by `nohup`) or
//! another stop signal (nothing written).

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use veilcam::cli::{Cli, Command, ZonesCommand};
use veilcam::process::{self, INTERRUPTED};
use veilcam::settings::{media_kind, MediaKind, RedactSettings};
use veilcam::sink::file::EncoderSettings;
use veilcam::{batch, bench, pipeline, say, still};

/// Exit code when a batch finished but some files failed.
const SOME_FILES_FAILED: u8 = 2;
/// Exit code when `--salvage` wrote an output from a damaged input.
const SALVAGED: u8 = 3;

fn main() -> ExitCode {
    veilcam::detect::runtime::keep_telemetry_off();
    let cli = Cli::parse();
    veilcam::logging::init(cli.verbose, cli.quiet);
    process::harden();
    if let Err(why) = process::raise_open_file_limit() {
        say!("veilcam: error: {why}");
        return ExitCode::from(1);
    }
    process::stop_on_signal();
    let result = checked_stdout(run(&cli));
    // A signal is how a live camera is stopped: its result says how it ended (found by hostile
    // use: a stop while recording had failed printed "interrupted; no output written" and exit
    // 130 instead of the failure and exit 1, after segments had been written and served).
    let stopped_live = matches!(cli.command, Command::Live(_)) && !matches!(result, Err(veilcam::Error::Interrupted));
    if veilcam::interrupt::requested() && result.is_err() && !stopped_live {
        if matches!(cli.command, Command::Batch(_)) {
            // Files finished before the interrupt were committed and recorded; a re-run goes on.
            say!("veilcam: interrupted; the file in progress was not written (finished files are kept; run the same command again to go on)");
        } else {
            say!("veilcam: interrupted; no output written");
        }
        return ExitCode::from(INTERRUPTED);
    }
    match result {
        Ok(code) => code,
        Err(e) => {
            say!("veilcam: error: {e}");
            ExitCode::from(1)
        }
    }
}

/// The command's `result`, failed when its results could not all be written to stdout (a full
/// disk, an I/O error; a reader that has gone is no error): output cut off is no success.
fn checked_stdout(result: veilcam::Result<ExitCode>) -> veilcam::Result<ExitCode> {
    match veilcam::stdout::finish() {
        Ok(()) => result,
        Err(lost) => {
            if result.is_err() {
                say!("veilcam: error: {lost}");
            }
            result.and(Err(lost))
        }
    }
}

fn run(cli: &Cli) -> veilcam::Result<ExitCode> {
    if let Command::Batch(args) = &cli.command {
        let summary = batch::run(&args.input_dir, &args.output, args.jobs, &args.options, cli.quiet)?;
        say!(
            "veilcam: batch {} -> {}: {} done, {} skipped (already done), {} failed",
            args.input_dir.display(),
            args.output.display(),
            summary.done,
            summary.skipped,
            summary.failed.len()
        );
        for (path, why) in &summary.failed {
            say!("  failed: {}: {}", veilcam::one_line_path(path), batch::failure_reason(path, why));
        }
        return Ok(if summary.failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(SOME_FILES_FAILED) });
    }
    run_one(cli)
}

fn run_one(cli: &Cli) -> veilcam::Result<ExitCode> {
    match &cli.command {
        Command::Redact(args) => {
            let settings = RedactSettings::from_args(args)?;
            let summary = match media_kind(&settings.input) {
                MediaKind::Image => still::redact_image(&settings),
                MediaKind::Video => pipeline::redact_video(&settings, cli.quiet),
            }
            .map_err(|e| e.naming(&settings.input))?;
            if !cli.quiet {
                say!("veilcam: {} -> {}: {}", settings.input.display(), summary.output.display(), describe(&summary));
            }
            if !summary.damage.is_empty() {
                let d = &summary.damage;
                say!(
                    "veilcam: salvaged a damaged input ({}): {} undecodable frame(s), {} gap(s), {:.2} s missing{}",
                    d.reports.first().map_or("frames missing", String::as_str),
                    d.undecodable_frames,
                    d.gaps.len(),
                    d.missing_seconds(),
                    if settings.sidecar.is_some() { "; details in the sidecar" } else { "" }
                );
                return Ok(ExitCode::from(SALVAGED));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(args) => {
            let enc = EncoderSettings { preset: args.preset.clone(), crf: args.crf, threads: 0 };
            bench::run(&args.input, &args.work_dir, &enc, &args.redact_args, args.runs as usize)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Transcode(args) => {
            if let Some(stats) = args.stats.as_ref().filter(|s| s.exists() && !args.overwrite) {
                return Err(veilcam::Error::OutputExists { path: stats.clone() });
            }
            let enc = EncoderSettings { preset: args.preset.clone(), crf: args.crf, threads: 0 };
            let report = bench::plain_transcode(&args.input, &args.scratch_dir, &enc)?;
            if let Some(path) = &args.stats {
                bench::write_stats(path, &report)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Zones(ZonesCommand::Preview(args)) => veilcam::zone_preview::command(args, cli.quiet).map(|()| ExitCode::SUCCESS),
        Command::Live(args) => veilcam::live::commands::live(args, cli.quiet).map(|()| ExitCode::SUCCESS),
        Command::Testcam(args) => {
            let cam = veilcam::testcam::serve(&args.clip, std::net::SocketAddr::new(args.host, args.port), &args.mount)?;
            say!("veilcam: serving {} in a loop at {} (Ctrl-C stops)", args.clip.display(), cam.url());
            while !veilcam::interrupt::requested() {
                std::thread::sleep(Duration::from_millis(100));
            }
            cam.stop();
            Ok(ExitCode::SUCCESS)
        }
        Command::Export(args) => veilcam::export::commands::export(args, cli.quiet).map(|()| ExitCode::SUCCESS),
        Command::Hold(command) => veilcam::export::commands::hold(command).map(|()| ExitCode::SUCCESS),
        Command::Verify(args) => Ok(passed(veilcam::export::commands::verify(args)?)),
        Command::Keys(command) => Ok(passed(veilcam::export::commands::keys(command, cli.quiet)?)),
        Command::Log(command) => Ok(passed(veilcam::export::commands::log(command)?)),
        Command::Audit(args) => {
            let clean = veilcam::audit::command(args, cli.quiet)?;
            Ok(if clean { ExitCode::SUCCESS } else { ExitCode::from(veilcam::audit::EXIT_FOUND) })
        }
        Command::Worker(args) => veilcam::queue::commands::worker(args, cli.quiet).map(|()| ExitCode::SUCCESS),
        Command::Submit(args) => Ok(if veilcam::queue::commands::submit(args, cli.quiet)? { ExitCode::SUCCESS } else { ExitCode::from(SOME_FILES_FAILED) }),
        Command::Jobs(args) => veilcam::queue::commands::jobs(args).map(|()| ExitCode::SUCCESS),
        Command::Batch(_) => unreachable!("handled in run"),
    }
}

/// Exit 0 when every check passed, 1 otherwise.
fn passed(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// "N frames, N face detections[, N person detections], N fps (N s)".
fn describe(summary: &pipeline::Summary) -> String {
    let persons = if summary.persons > 0 { format!(", {} person detections", summary.persons) } else { String::new() };
    let frames = if summary.frames == 1 { "1 frame".to_string() } else { format!("{} frames", summary.frames) };
    let mut live = String::new();
    if summary.shed > 0 {
        live += &format!(", {} without a look of their own (detector behind)", summary.shed);
    }
    if summary.obscured > 0 {
        live += &format!(", {} fully obscured ({})", summary.obscured, veilcam::live::lag::causes(summary.obscured, summary.late));
    }
    format!(
        "{frames}, {} face detections{persons}{live}, {:.1} fps ({:.1} s)",
        summary.faces,
        summary.fps(),
        summary.elapsed.as_secs_f64()
    )
}
