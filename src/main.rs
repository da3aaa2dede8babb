//! `veilcam` command-line entry: parse flags once, validate them into settings, run.
//!
//! Exit codes: 0 done; 1 error (nothing written); 2 a batch finished but some files failed;
//! 3 `--salvage` wrote an output but the input was damaged (gaps listed); 130 interrupted by
//! Ctrl-C, SIGTERM, SIGHUP (unless started with it ignored, as by `nohup`) or another stop
//! signal (nothing written).

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use veilcam::cli::{self, Cli, Command, HoldCommand, ZonesCommand};
use veilcam::live::camera::Ready;
use veilcam::settings::{media_kind, MediaKind, PersonLoad, RedactSettings};
use veilcam::sink::file::EncoderSettings;
use veilcam::{batch, bench, config, pipeline, still, zone_preview};

/// Exit code when a batch finished but some files failed.
const SOME_FILES_FAILED: u8 = 2;
/// Exit code when `--salvage` wrote an output from a damaged input.
const SALVAGED: u8 = 3;
/// Exit code after Ctrl-C, SIGTERM, SIGHUP or another of [`STOP_SIGNALS`] (128 + SIGINT, as shells
/// report an interrupt).
const INTERRUPTED: u8 = 130;
/// How long the stages may take to unwind after a signal before the process is ended anyway.
const UNWIND_GRACE: Duration = Duration::from_secs(10);
/// How often a second signal is looked for while the stages unwind.
const SIGNAL_POLL: Duration = Duration::from_millis(50);

/// Writes one line to stderr. A closed or full stderr must never abort a run (`eprintln!`
/// panics then), so write errors are ignored.
macro_rules! say {
    ($($arg:tt)*) => {{
        let line = one_line(&format!($($arg)*));
        let _ = writeln!(std::io::stderr().lock(), "{line}");
    }};
}

use veilcam::one_line;

fn main() -> ExitCode {
    veilcam::detect::runtime::keep_telemetry_off();
    let cli = Cli::parse();
    init_logging(cli.verbose, cli.quiet);
    harden_process();
    if let Err(why) = raise_open_file_limit() {
        say!("veilcam: error: {why}");
        return ExitCode::from(1);
    }
    stop_on_signal();
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

/// Signals that end the process unless handled: each asks every stage to stop like Ctrl-C.
/// Ctrl-\ (SIGQUIT) and the user and timer signals would otherwise kill it without cleanup
/// (and SIGQUIT would dump its memory, raw frames included).
const STOP_SIGNALS: [i32; 8] = [
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGALRM,
    libc::SIGVTALRM,
];

/// Ctrl-C, SIGTERM, SIGHUP and the other [`STOP_SIGNALS`] ask every stage to stop
/// ([`veilcam::interrupt`]); the run then unwinds like after any error, its temp files are
/// removed by their owners, and `main` exits with code 130. Should the stages not have unwound
/// after [`UNWIND_GRACE`], or should a second signal come, the unfinished files are removed and
/// the process ends at once.
///
/// One thread, started here, does all of it: no thread need start once a signal has come
/// (found by hostile use: under a memory limit the grace timer's thread could not start, the
/// panic took the signal thread with it, and a run hung in GStreamer ignored every signal).
fn stop_on_signal() {
    let handled = STOP_SIGNALS.into_iter().filter(|&signal| !(signal == libc::SIGHUP && inherited_ignored(signal)));
    let mut signals = match signal_hook::iterator::Signals::new(handled) {
        Ok(signals) => signals,
        Err(e) => {
            tracing::warn!("cannot handle interrupt signals ({e}): an interrupted run may leave hidden .part files");
            return;
        }
    };
    let watch = move || {
        if signals.forever().next().is_none() {
            return;
        }
        if veilcam::interrupt::requested() {
            end_now();
        }
        veilcam::interrupt::request();
        let deadline = std::time::Instant::now() + UNWIND_GRACE;
        while std::time::Instant::now() < deadline {
            if signals.pending().next().is_some() {
                end_now();
            }
            std::thread::sleep(SIGNAL_POLL);
        }
        end_now();
    };
    if let Err(e) = std::thread::Builder::new().name("veilcam-signals".into()).spawn(watch) {
        tracing::warn!("cannot handle interrupt signals ({e}): an interrupted run may leave hidden .part files");
    }
}

/// Whether `signal` was ignored by the process that started this one: `nohup` ignores SIGHUP so
/// that a run outlives its terminal, and handling it would undo that (found by hostile use: a
/// `nohup veilcam batch` ended at logout).
fn inherited_ignored(signal: i32) -> bool {
    // SAFETY: reads the signal's disposition without changing it (a null new action).
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(signal, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_IGN
    }
}

/// What no run may do whatever happens to it: dump its memory, which holds raw frames, in a
/// core file (a crash, or a core handler such as systemd-coredump), or be killed by a file-size
/// limit (SIGXFSZ) instead of failing the write like a full disk, which removes the temp files.
fn harden_process() {
    // SAFETY: plain system calls on this process, with valid arguments.
    unsafe {
        let no_core = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::setrlimit(libc::RLIMIT_CORE, &no_core) != 0 || libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) != 0 {
            tracing::warn!("cannot turn core dumps off: a crash could write raw frames to disk");
        }
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
}

/// The fewest open files a run is let start with: a redaction with a sidecar and a preview
/// holds 27 at its peak.
const MIN_OPEN_FILES: u64 = 64;

/// Raises the soft limit on open files to the hard one (GStreamer, ONNX Runtime and the outputs
/// hold many), and refuses to start below [`MIN_OPEN_FILES`] (found by hostile use: under
/// `ulimit -n 24` GStreamer could not make its poll descriptors, wrote a million warnings in 20 s
/// while spinning, and after 5 minutes blamed the encoder).
fn raise_open_file_limit() -> Result<(), String> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit on this process, with a valid struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return Ok(()); // cannot tell: let the run find out
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    if limit.rlim_cur < MIN_OPEN_FILES {
        return Err(format!(
            "the open-file limit is {} (ulimit -n), and veilcam needs at least {MIN_OPEN_FILES}; raise it and run again",
            limit.rlim_cur
        ));
    }
    Ok(())
}

/// Removes the unfinished outputs and ends the process without running exit handlers (other
/// threads may still be inside GStreamer or ONNX Runtime).
fn end_now() -> ! {
    let files = veilcam::output::remove_pending();
    veilcam::export::run::remove_pending();
    let removed = files + veilcam::leftover::remove_pending();
    veilcam::export::hold::remove_pending();
    say!("veilcam: interrupted; {removed} unfinished file(s) removed, no output written");
    // SAFETY: `_exit` ends the process at once; nothing of this process runs after it.
    unsafe { libc::_exit(INTERRUPTED as i32) }
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
        Command::Zones(ZonesCommand::Preview(args)) => {
            let camera = config::load_camera(&args.config, args.camera.as_deref())?;
            // A redacted preview needs the detectors whatever is drawn: fail closed.
            let settings = (args.detections || !args.unredacted)
                .then(|| RedactSettings::for_preview(args.ort_lib.as_deref()))
                .transpose()?;
            let detectors = settings.as_ref().map(|s| s.detectors(PersonLoad::for_needs(args.detections || camera.needs_persons(), false))).transpose()?;
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
                say!("veilcam: warning: {} shows the UNREDACTED frame: faces are visible in it", args.output.display());
            }
            if !cli.quiet {
                let what = if args.unredacted { "the unredacted frame" } else { "the redacted frame" };
                say!(
                    "veilcam: zones of camera '{}' drawn on {what} in {} ({} detections)",
                    camera.name,
                    args.output.display(),
                    drawn
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Live(args) => {
            let config = veilcam::live::config::load_live(&args.config)?;
            tracing::info!(preset = %config.encoder_preset, cameras = config.cameras.len(), "x264 preset of each camera's encode");
            let ready = |ready: Ready<'_>| {
                if cli.quiet {
                    return;
                }
                match ready {
                    Ready::Restream { camera, url } => say!("veilcam: camera {camera}: redacted restream at {url}"),
                    Ready::Metrics(addr) => say!("veilcam: metrics at http://{addr}/metrics, health at http://{addr}/healthz"),
                }
            };
            // Every live start and stop goes into the audit log, with the config it ran.
            let (config_sha256, _) = veilcam::live::segments::hash_file(&args.config)?;
            let cameras: Vec<&str> = config.cameras.iter().map(|c| c.name()).collect();
            let mut audit = veilcam::export::audit::AuditLog::open_default()?;
            let started = serde_json::json!({ "config": args.config.display().to_string(), "config_sha256": config_sha256, "cameras": cameras });
            audit.append("live.start", started)?;
            let result = veilcam::live::camera::run(&config, &args.options(), &ready);
            let stopped = match &result {
                Ok(s) => {
                    let frames = s.cameras.iter().map(|c| c.frames).sum::<u64>();
                    let mut stopped = serde_json::json!({ "cameras": cameras, "frames": frames, "ok": s.failed.is_empty() });
                    if !s.failed.is_empty() {
                        let failed = s.failed.iter().map(|f| serde_json::json!({ "camera": f.name, "error": f.error.to_string() }));
                        stopped["failed"] = failed.collect();
                    }
                    stopped
                }
                Err(e) => serde_json::json!({ "cameras": cameras, "ok": false, "error": e.to_string() }),
            };
            if let Err(e) = audit.append("live.stop", stopped).and_then(|()| audit.close()) {
                tracing::warn!("cannot record the stop in the audit log: {e}");
            }
            let summary = result?;
            let fate = if config.late_frames == veilcam::live::config::LateFrames::Drop { "dropped" } else { "obscured" };
            for cam in &summary.cameras {
                say!(
                    "veilcam: camera {}: {} frames, {} {fate} for the deadline ({}), {} without a look (tracker), {} filler while away",
                    cam.name,
                    cam.frames,
                    cam.obscured,
                    veilcam::live::lag::causes(cam.obscured, cam.late),
                    cam.shed,
                    cam.filler
                );
            }
            // After the others' summaries: a failed camera, named, makes the exit non-zero.
            summary.outcome()?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Testcam(args) => {
            let cam = veilcam::testcam::serve(&args.clip, std::net::SocketAddr::new(args.host, args.port), &args.mount)?;
            say!("veilcam: serving {} in a loop at {} (Ctrl-C stops)", args.clip.display(), cam.url());
            while !veilcam::interrupt::requested() {
                std::thread::sleep(Duration::from_millis(100));
            }
            cam.stop();
            Ok(ExitCode::SUCCESS)
        }
        Command::Export(args) => {
            let request = veilcam::export::run::Request::from_args(args)?;
            let done = veilcam::export::run::export(&request, cli.quiet)?;
            if !cli.quiet {
                say!(
                    "veilcam: case {} exported to {}: {} ({} frames, {:.2} s); {} segment(s) on legal hold",
                    request.case,
                    done.bundle.display(),
                    done.working_copy,
                    done.frames,
                    done.duration_seconds,
                    done.held.len()
                );
            }
            for gap in &done.gaps {
                say!("veilcam: warning: no recording {}; listed in the report", gap.describe());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Hold(command) => {
            use veilcam::export::{hold, run::recordings_root};
            match command {
                HoldCommand::List(at) => {
                    let root = recordings_root(at.recordings.as_deref(), at.config.as_deref())?;
                    let held = hold::list(&root)?;
                    for h in &held {
                        veilcam::out!("{}\t{}", one_line(&h.segment.display().to_string()), one_line(&h.cases.join(",")));
                    }
                    // An export killed outright (SIGKILL) cannot take back the holds it placed
                    // first; they keep raw footage past retention until released.
                    for case in hold::unfinished_cases(&held, &veilcam::export::keys::data_dir()) {
                        say!(
                            "veilcam: case {case}: held, but no export of it finished (one running now, or one that was killed: `veilcam hold release --case {case}` frees its segments)"
                        );
                    }
                }
                HoldCommand::Release { case, at } => {
                    let root = recordings_root(at.recordings.as_deref(), at.config.as_deref())?;
                    let mut log = veilcam::export::audit::AuditLog::open_default()?;
                    let released = hold::release(&root, case)?;
                    if released.freed.is_empty() && released.still_held.is_empty() {
                        // Found by hostile use: a mistyped case id "released" nothing and exited 0.
                        return Err(veilcam::Error::Settings(hold::holds_nothing(&root, case)?));
                    }
                    let names = |v: &[std::path::PathBuf]| v.iter().map(|p| p.display().to_string()).collect::<Vec<_>>();
                    log.append(
                        "hold_release",
                        serde_json::json!({ "case": case, "released": names(&released.freed), "still_held": names(&released.still_held) }),
                    )?;
                    log.close()?;
                    say!(
                        "veilcam: case {case}: {} segment(s) released, {} still held by other cases",
                        released.freed.len(),
                        released.still_held.len()
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify(args) => Ok(passed(veilcam::export::commands::verify(args)?)),
        Command::Keys(command) => Ok(passed(veilcam::export::commands::keys(command, cli.quiet)?)),
        Command::Log(command) => Ok(passed(veilcam::export::commands::log(command)?)),
        Command::Audit(args) => audit(args, cli.quiet),
        Command::Worker(args) => {
            veilcam::queue::commands::worker(args, cli.quiet)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Submit(args) => Ok(if veilcam::queue::commands::submit(args, cli.quiet)? { ExitCode::SUCCESS } else { ExitCode::from(SOME_FILES_FAILED) }),
        Command::Jobs(args) => {
            veilcam::queue::commands::jobs(args)?;
            Ok(ExitCode::SUCCESS)
        }
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

/// `veilcam audit`: lists the faces still visible in a video; exit 4 when any.
fn audit(args: &cli::AuditArgs, quiet: bool) -> veilcam::Result<ExitCode> {
    use veilcam::output::{commit_all, prepare_all, Target, INPUT};
    if !(args.threshold > 0.0 && args.threshold < 1.0) {
        return Err(veilcam::Error::Settings(format!("--threshold {} must be between 0 and 1", args.threshold)));
    }
    let mut targets = Vec::new();
    if let Some(p) = &args.contact_sheet {
        veilcam::output::check_extension(p, "png", "a contact sheet is a PNG image")?;
        targets.push(Target { option: "--contact-sheet", path: p });
    }
    if let Some(p) = &args.json {
        targets.push(Target { option: "--json", path: p });
    }
    let reads = veilcam::output::reads([
        (INPUT, Some(args.input.as_path())),
        ("--sidecar", args.sidecar.as_deref()),
        ("--hits-from", args.hits_from.as_deref()),
        ("--model", args.model.as_deref()),
        ("--ort-lib", args.ort_lib.as_deref()),
    ]);
    let mut outputs = prepare_all(&reads, &targets, args.overwrite)?.into_iter();
    let (sheet_out, json_out) = (args.contact_sheet.as_ref().and_then(|_| outputs.next()), args.json.as_ref().and_then(|_| outputs.next()));
    let settings = veilcam::audit::AuditSettings {
        model: veilcam::models::locate(veilcam::models::FLOAT_FACE_MODEL, args.model.as_deref())?,
        ort_lib: veilcam::detect::runtime::locate_library(args.ort_lib.as_deref()),
        threshold: args.threshold,
        local_contrast: args.local_contrast,
        moving: !args.no_moving,
        closer: args.closer,
        ort_threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        follow: (!args.no_follow).then_some(veilcam::audit::FollowSettings { least: args.follow_ncc, least_on_path: args.follow_ncc_on_path, frames: args.follow_frames }),
        hits_from: args.hits_from.clone(),
        around: !args.no_around,
        recheck: args.recheck,
        second_model: args.second_model.then(|| veilcam::models::locate(veilcam::models::SECOND_FACE_MODEL, None)).transpose()?,
        second_threshold: args.second_threshold,
        sidecar: args.sidecar.clone(),
    };
    let mut progress = veilcam::progress::Progress::new(&args.input.file_name().unwrap_or_default().to_string_lossy(), None, quiet);
    let report = veilcam::audit::audit(&args.input, &settings, |_| progress.frame_done()).map_err(|e| e.naming(&args.input))?;
    progress.finish();
    let mut ready = Vec::new();
    if let Some(out) = sheet_out {
        ready.push(veilcam::audit::write_contact_sheet(&report, out)?);
    }
    if let Some(out) = json_out {
        let text = serde_json::to_string_pretty(&report).expect("the report serialises");
        std::fs::write(out.temp_path(), text + "\n").map_err(|e| veilcam::Error::io(out.target(), e))?;
        ready.push(out);
    }
    commit_all(ready)?;
    for (i, f) in report.findings.iter().enumerate() {
        let time = |s: Option<f64>| s.map_or("?".to_string(), |s| format!("{s:.2} s"));
        veilcam::out!(
            "finding {}: frames {}-{} ({} to {}, {} with a face), best score {:.2} at frame {}, box {:.0},{:.0} {:.0}x{:.0}",
            i + 1,
            f.first_frame,
            f.last_frame,
            time(f.first_seconds),
            time(f.last_seconds),
            f.frames,
            f.score,
            f.best_frame,
            f.bbox.x1,
            f.bbox.y1,
            f.bbox.width(),
            f.bbox.height()
        );
    }
    if !quiet {
        say!(
            "veilcam: audit of {}: {} frames, {} finding(s), {} frame(s) with a face visible{}{}",
            args.input.display(),
            report.frames,
            report.findings.len(),
            report.frames_with_faces,
            report.filled_count.map_or(String::new(), |n| format!(" ({n} hit(s) on the sidecar's fills set aside)")),
            if report.clean() { "" } else { " — review them before sharing" }
        );
    }
    Ok(if report.clean() { ExitCode::SUCCESS } else { ExitCode::from(veilcam::audit::EXIT_FOUND) })
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

/// By default only warnings are logged (the progress bar and the summary line are the normal
/// output); `-v` adds progress and details, `-vv` debugging, `-vvv` everything. Colours only on
/// a terminal.
fn init_logging(verbose: u8, quiet: bool) {
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

    #[test]
    fn a_message_stays_one_line_whatever_a_file_name_holds() {
        assert_eq!(veilcam::one_line("done a\nveilcam: done b\u{1b}[31m"), "done a\\nveilcam: done b\\u{1b}[31m");
    }
}
