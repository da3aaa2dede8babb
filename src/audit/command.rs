//! `veilcam audit VIDEO`: the flags turned into [`AuditSettings`], the contact sheet and JSON
//! report written, the findings listed on stdout and a summary line on stderr.

use super::{AuditReport, AuditSettings, FollowSettings};
use crate::cli::AuditArgs;
use crate::error::{Error, Result};
use crate::models;
use crate::output::{commit_all, prepare_all, Target, INPUT};

/// Audits `args.input`; true when no face is visible in it (main exits with
/// [`super::EXIT_FOUND`] otherwise).
pub fn command(args: &AuditArgs, quiet: bool) -> Result<bool> {
    if !(args.threshold > 0.0 && args.threshold < 1.0) {
        return Err(Error::Settings(format!("--threshold {} must be above 0 and below 1", args.threshold)));
    }
    let mut targets = Vec::new();
    if let Some(p) = &args.contact_sheet {
        crate::output::check_extension(p, "png", "a contact sheet is a PNG image")?;
        targets.push(Target { option: "--contact-sheet", path: p });
    }
    if let Some(p) = &args.json {
        targets.push(Target { option: "--json", path: p });
    }
    let reads = crate::output::reads([
        (INPUT, Some(args.input.as_path())),
        ("--sidecar", args.sidecar.as_deref()),
        ("--hits-from", args.hits_from.as_deref()),
        ("--model", args.model.as_deref()),
        ("--ort-lib", args.ort_lib.as_deref()),
    ]);
    let mut outputs = prepare_all(&reads, &targets, args.overwrite)?.into_iter();
    let (sheet_out, json_out) = (args.contact_sheet.as_ref().and_then(|_| outputs.next()), args.json.as_ref().and_then(|_| outputs.next()));
    let settings = settings(args)?;
    let mut progress = crate::progress::Progress::new(&args.input.file_name().unwrap_or_default().to_string_lossy(), None, quiet);
    let report = super::audit(&args.input, &settings, |_| progress.frame_done()).map_err(|e| e.naming(&args.input))?;
    progress.finish();
    let mut ready = Vec::new();
    if let Some(out) = sheet_out {
        ready.push(super::write_contact_sheet(&report, out)?);
    }
    if let Some(out) = json_out {
        let text = serde_json::to_string_pretty(&report).expect("the report serialises");
        std::fs::write(out.temp_path(), text + "\n").map_err(|e| Error::io(out.target(), e))?;
        ready.push(out);
    }
    commit_all(ready)?;
    print_findings(&report);
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
    Ok(report.clean())
}

/// How hard to look, from the flags.
fn settings(args: &AuditArgs) -> Result<AuditSettings> {
    Ok(AuditSettings {
        model: models::locate(models::FLOAT_FACE_MODEL, args.model.as_deref())?,
        ort_lib: crate::detect::runtime::locate_library(args.ort_lib.as_deref()),
        threshold: args.threshold,
        local_contrast: args.local_contrast,
        moving: !args.no_moving,
        closer: args.closer,
        ort_threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        follow: (!args.no_follow).then_some(FollowSettings { least: args.follow_ncc, least_on_path: args.follow_ncc_on_path, frames: args.follow_frames }),
        hits_from: args.hits_from.clone(),
        around: !args.no_around,
        recheck: args.recheck,
        second_model: args.second_model.then(|| models::locate(models::SECOND_FACE_MODEL, None)).transpose()?,
        second_threshold: args.second_threshold,
        sidecar: args.sidecar.clone(),
    })
}

/// One line on stdout per finding.
fn print_findings(report: &AuditReport) {
    for (i, f) in report.findings.iter().enumerate() {
        let time = |s: Option<f64>| s.map_or("?".to_string(), |s| format!("{s:.2} s"));
        out!(
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
}
