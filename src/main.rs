//! `veilcam` command-line entry: parse flags once, validate them into settings, run.

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use veilcam::cli::{Cli, Command, ZonesCommand};
use veilcam::settings::{media_kind, MediaKind, RedactSettings};
use veilcam::sink::file::EncoderSettings;
use veilcam::{batch, bench, config, pipeline, still, zone_preview};

/// Exit code when a batch finished but some files failed.
const SOME_FILES_FAILED: u8 = 2;
/// Exit code after Ctrl-C, SIGTERM or SIGHUP (128 + SIGINT, as shells report an interrupt).
const INTERRUPTED: i32 = 130;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.quiet);
    remove_outputs_on_signal();
    match run(&cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("veilcam: error: {e}");
            ExitCode::from(1)
        }
    }
}

/// When a signal ends the process, drop handlers do not run: delete the outputs still being
/// written first, so an interrupted run leaves nothing behind.
fn remove_outputs_on_signal() {
    let installed = ctrlc::set_handler(|| {
        let removed = veilcam::output::remove_pending();
        eprintln!("veilcam: interrupted; {removed} unfinished file(s) removed, no output written");
        std::process::exit(INTERRUPTED);
    });
    if let Err(e) = installed {
        tracing::warn!("cannot handle interrupt signals ({e}): an interrupted run may leave hidden .part files");
    }
}

fn run(cli: &Cli) -> veilcam::Result<ExitCode> {
    if let Command::Batch(args) = &cli.command {
        let summary = batch::run(&args.input_dir, &args.output, args.jobs, &args.options, cli.quiet)?;
        eprintln!(
            "veilcam: batch {} -> {}: {} done, {} skipped (already done), {} failed",
            args.input_dir.display(),
            args.output.display(),
            summary.done,
            summary.skipped,
            summary.failed.len()
        );
        for (path, why) in &summary.failed {
            eprintln!("  failed: {}: {why}", path.display());
        }
        return Ok(if summary.failed.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(SOME_FILES_FAILED) });
    }
    run_one(cli).map(|()| ExitCode::SUCCESS)
}

fn run_one(cli: &Cli) -> veilcam::Result<()> {
    match &cli.command {
        Command::Redact(args) => {
            let settings = RedactSettings::from_args(args)?;
            let summary = match media_kind(&settings.input) {
                MediaKind::Image => still::redact_image(&settings)?,
                MediaKind::Video => pipeline::redact_video(&settings, cli.quiet)?,
            };
            if let (Some(path), Some(stats)) = (&args.options.stats, &summary.stats) {
                bench::write_stats(path, stats)?;
            }
            if !cli.quiet {
                eprintln!(
                    "veilcam: {} -> {}: {} frames, {} face detections, {:.1} fps ({:.1} s)",
                    settings.input.display(),
                    summary.output.display(),
                    summary.frames,
                    summary.faces,
                    summary.fps(),
                    summary.elapsed.as_secs_f64()
                );
            }
            Ok(())
        }
        Command::Bench(args) => {
            let enc = EncoderSettings { preset: args.preset.clone(), crf: args.crf, threads: 0 };
            bench::run(&args.input, &args.work_dir, &enc, &args.redact_args)?;
            Ok(())
        }
        Command::Transcode(args) => {
            if args.output.exists() && !args.overwrite {
                return Err(veilcam::Error::OutputExists { path: args.output.clone() });
            }
            let enc = EncoderSettings { preset: args.preset.clone(), crf: args.crf, threads: 0 };
            let report = bench::plain_transcode(&args.input, &args.output, &enc)?;
            if let Some(path) = &args.stats {
                bench::write_stats(path, &report)?;
            }
            Ok(())
        }
        Command::Zones(ZonesCommand::Preview(args)) => {
            let camera = config::load_camera(&args.config, args.camera.as_deref())?;
            // A redacted preview needs the detectors whatever is drawn: fail closed.
            let settings = (args.detections || !args.unredacted)
                .then(|| RedactSettings::for_preview(args.ort_lib.as_deref()))
                .transpose()?;
            let detectors = settings.as_ref().map(|s| s.detectors(args.detections || camera.needs_persons())).transpose()?;
            let look = match &settings {
                Some(s) if !args.unredacted => zone_preview::Look::Redacted { fill: s.fill, shape: s.shape, mask_scale: s.mask_scale },
                _ => zone_preview::Look::Unredacted,
            };
            let preview = zone_preview::ZonePreview {
                camera: &camera,
                input: &args.input,
                output: args.output.clone(),
                frame: args.frame,
                overwrite: args.overwrite,
                look,
                draw_detections: args.detections,
            };
            let drawn = zone_preview::write(&preview, detectors)?;
            if args.unredacted {
                eprintln!("veilcam: warning: {} shows the UNREDACTED frame: faces are visible in it", args.output.display());
            }
            if !cli.quiet {
                let what = if args.unredacted { "the unredacted frame" } else { "the redacted frame" };
                eprintln!(
                    "veilcam: zones of camera '{}' drawn on {what} in {} ({} detections)",
                    camera.name,
                    args.output.display(),
                    drawn
                );
            }
            Ok(())
        }
        Command::Batch(_) => unreachable!("handled in run"),
    }
}

fn init_logging(verbose: u8, quiet: bool) {
    let default = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "info",
        (false, 1) => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_env("VEILCAM_LOG").unwrap_or_else(|_| EnvFilter::new(format!("veilcam={default}")));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();
}
