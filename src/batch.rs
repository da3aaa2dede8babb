//! `veilcam batch`: redact an archive, directory by directory.
//!
//! Every video and image under the input directory is redacted to the same relative path under
//! the output directory (videos become `.mp4`). Outputs appear only when complete (atomic
//! rename), so an existing output means a finished file and is skipped on re-run; an interrupted
//! run leaves nothing half-written. An error on one file is reported and the others go on; the
//! run then exits with code 2 and lists what failed.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::RedactOptions;
use crate::error::{Error, Result};
use crate::pipeline;
use crate::settings::{media_kind, MediaKind, RedactSettings};
use crate::still;

/// Extensions taken as video inputs (images are those of [`media_kind`]).
const VIDEO_EXTENSIONS: [&str; 10] = ["mp4", "m4v", "mov", "mkv", "avi", "webm", "ts", "mts", "mpg", "mpeg"];

/// One file to redact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    pub input: PathBuf,
    pub output: PathBuf,
}

/// What happened to one file.
#[derive(Debug)]
pub enum Outcome {
    Done { frames: u64, faces: u64 },
    Skipped,
    Failed(Error),
}

/// Totals of a batch run.
#[derive(Debug, Default)]
pub struct BatchSummary {
    pub done: usize,
    pub skipped: usize,
    pub failed: Vec<(PathBuf, String)>,
}

/// The jobs for every redactable file under `input_dir`, in path order.
pub fn plan(input_dir: &Path, output_dir: &Path) -> Result<Vec<Job>> {
    if !input_dir.is_dir() {
        return Err(Error::io(input_dir, std::io::Error::new(std::io::ErrorKind::NotFound, "is not a directory")));
    }
    let mut files = Vec::new();
    walk(input_dir, &mut files)?;
    files.sort();
    Ok(files
        .into_iter()
        .filter_map(|input| {
            let rel = input.strip_prefix(input_dir).ok()?.to_path_buf();
            let output = match media_kind(&input) {
                MediaKind::Image => output_dir.join(&rel),
                MediaKind::Video => output_dir.join(rel).with_extension("mp4"),
            };
            Some(Job { input, output })
        })
        .collect())
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else if is_media(&path) {
            out.push(path);
        }
    }
    Ok(())
}

fn is_media(path: &Path) -> bool {
    let hidden = path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.'));
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).unwrap_or_default();
    !hidden && (media_kind(path) == MediaKind::Image || VIDEO_EXTENSIONS.contains(&ext.as_str()))
}

/// Redacts one job (skipping it when its output exists).
pub fn run_job(job: &Job, options: &RedactOptions) -> Outcome {
    if job.output.exists() && !options.overwrite {
        return Outcome::Skipped;
    }
    let result = (|| {
        if let Some(parent) = job.output.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        let settings = RedactSettings::new(&job.input, &job.output, options)?;
        match media_kind(&job.input) {
            MediaKind::Image => still::redact_image(&settings),
            MediaKind::Video => pipeline::redact_video(&settings, true),
        }
    })();
    match result {
        Ok(summary) => Outcome::Done { frames: summary.frames, faces: summary.faces },
        Err(e) => Outcome::Failed(e),
    }
}

/// Runs every job with `jobs` files at a time; reports each file as it finishes.
pub fn run(input_dir: &Path, output_dir: &Path, jobs: usize, options: &RedactOptions, quiet: bool) -> Result<BatchSummary> {
    let plan = plan(input_dir, output_dir)?;
    let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new(plan.len() as u64) };
    bar.set_style(ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} files  ETA {eta}").expect("valid template").progress_chars("=> "));
    bar.set_message("batch");
    let queue = Mutex::new(plan.iter());
    let summary = Mutex::new(BatchSummary::default());
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| loop {
                let Some(job) = queue.lock().expect("queue lock").next() else { return };
                let outcome = run_job(job, options);
                let line = match &outcome {
                    Outcome::Done { frames, faces } => format!("done    {} ({frames} frames, {faces} face detections)", job.input.display()),
                    Outcome::Skipped => format!("skipped {} (output exists)", job.input.display()),
                    Outcome::Failed(e) => format!("FAILED  {}: {e}", job.input.display()),
                };
                if !quiet || matches!(outcome, Outcome::Failed(_)) {
                    bar.suspend(|| eprintln!("veilcam: {line}"));
                }
                bar.inc(1);
                let mut s = summary.lock().expect("summary lock");
                match outcome {
                    Outcome::Done { .. } => s.done += 1,
                    Outcome::Skipped => s.skipped += 1,
                    Outcome::Failed(e) => s.failed.push((job.input.clone(), e.to_string())),
                }
            });
        }
    });
    bar.finish_and_clear();
    Ok(summary.into_inner().expect("summary lock"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_keeps_relative_paths_and_turns_videos_into_mp4() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in");
        std::fs::create_dir_all(input.join("cam1/2026-11-01")).unwrap();
        for f in ["cam1/2026-11-01/a.avi", "cam1/b.MKV", "snap.jpg", "notes.txt", ".hidden.mp4"] {
            std::fs::write(input.join(f), b"x").unwrap();
        }
        let jobs = plan(&input, &dir.path().join("out")).unwrap();
        let outs: Vec<String> =
            jobs.iter().map(|j| j.output.strip_prefix(dir.path()).unwrap().display().to_string()).collect();
        assert_eq!(outs, vec!["out/cam1/2026-11-01/a.mp4", "out/cam1/b.mp4", "out/snap.jpg"]);
    }
}
