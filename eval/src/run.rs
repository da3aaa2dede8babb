//! `veilcam-eval run`: make (or reuse) the clips, redact each with the real `veilcam` binary as
//! a subprocess, measure, report.
//!
//! Clips are cached under `<out>/clips/<variant>-<key>.mp4` (+ `.truth.json`), where the key
//! hashes the generator version, its settings and the source files; changing any of them
//! makes a new clip. One variant failing is reported and the others still run.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use super::generate::{content_key, generate, GenerateSettings, GenerateSummary, MediaPaths, Variant};
use super::fills::Fills;
use super::masks::mask_reach;
use super::measure::{measure, MeasureSettings};
use super::report::{Report, VariantReport, REPORT_FORMAT};
use super::truth::Truth;
use super::{EvalError, Result};

/// What `run` does.
#[derive(Clone, Debug)]
pub struct RunSettings {
    pub variants: Vec<Variant>,
    pub out_dir: PathBuf,
    /// Clip settings; `variant` is replaced by each of `variants`.
    pub clip: GenerateSettings,
    pub media: MediaPaths,
    pub veilcam: PathBuf,
    /// Extra arguments for `veilcam redact`.
    pub veilcam_args: Vec<String>,
    pub measure: MeasureSettings,
    /// Remake clips even when cached.
    pub regenerate: bool,
}

/// A clip and its truth, and whether this call made them.
#[derive(Clone, Debug)]
pub struct Clip {
    pub video: PathBuf,
    pub truth: PathBuf,
    pub generated: Option<GenerateSummary>,
}

/// The cached clip for `settings`, generated first if missing.
pub fn ensure_clip(settings: &GenerateSettings, media: &MediaPaths, clips_dir: &Path, regenerate: bool) -> Result<Clip> {
    settings.validate()?;
    let key = content_key(settings, media)?;
    let stem = format!("{}-{key}", settings.variant.name());
    let video = clips_dir.join(format!("{stem}.mp4"));
    let truth = clips_dir.join(format!("{stem}.truth.json"));
    let cached = !regenerate && video.is_file() && Truth::read(&truth).is_ok_and(|t| t.key == key);
    if cached {
        return Ok(Clip { video, truth, generated: None });
    }
    std::fs::create_dir_all(clips_dir).map_err(|e| EvalError::io(clips_dir, e))?;
    // The truth is written last, so a clip without a matching truth is never taken as cached.
    let _ = std::fs::remove_file(&truth);
    let summary = generate(settings, media, &video, &truth)?;
    Ok(Clip { video, truth, generated: Some(summary) })
}

/// The `veilcam` binary: `explicit`, or the one beside this executable.
pub fn locate_veilcam(explicit: Option<&Path>) -> Result<PathBuf> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => {
            let exe = std::env::current_exe().map_err(|e| EvalError::io("current executable", e))?;
            exe.parent().unwrap_or(Path::new(".")).join(format!("veilcam{}", std::env::consts::EXE_SUFFIX))
        }
    };
    if !path.is_file() {
        return Err(EvalError::Redact {
            binary: path,
            message: "not found (build it with `cargo build --release`, or pass --veilcam)".into(),
        });
    }
    Ok(path)
}

/// Runs `veilcam redact <input> -o <output> --overwrite <args…>`; returns its wall time and
/// its summary line.
pub fn redact(veilcam: &Path, input: &Path, output: &Path, args: &[String]) -> Result<(f64, Option<String>)> {
    let started = Instant::now();
    let result = Command::new(veilcam)
        .arg("redact")
        .arg(input)
        .arg("-o")
        .arg(output)
        .arg("--overwrite")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::inherit())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| EvalError::Redact { binary: veilcam.to_path_buf(), message: format!("cannot start: {e}") })?;
    let seconds = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&result.stderr);
    if !result.status.success() {
        return Err(EvalError::Redact {
            binary: veilcam.to_path_buf(),
            message: format!("{} on {}: {}", result.status, input.display(), stderr.trim()),
        });
    }
    let summary = stderr.lines().rev().find(|l| l.starts_with("veilcam:")).map(str::to_string);
    Ok((seconds, summary))
}

/// The `--sidecar PATH` (or `--sidecar=PATH`) among extra `veilcam redact` arguments.
fn sidecar_arg(args: &[String]) -> Option<PathBuf> {
    args.iter().enumerate().find_map(|(i, a)| match a.strip_prefix("--sidecar") {
        Some("") => args.get(i + 1).map(PathBuf::from),
        Some(rest) => rest.strip_prefix('=').map(PathBuf::from),
        None => None,
    })
}

/// Evaluates every variant; a failure in one is recorded in its row.
pub fn run(s: &RunSettings, log: &mut dyn FnMut(&str)) -> Result<Report> {
    let started = Instant::now();
    std::fs::create_dir_all(&s.out_dir).map_err(|e| EvalError::io(&s.out_dir, e))?;
    let mut variants = Vec::new();
    for &variant in &s.variants {
        let mut clip_settings = s.clip.clone();
        clip_settings.variant = variant;
        let mut row = VariantReport {
            variant: variant.name().into(),
            clip: PathBuf::new(),
            truth: PathBuf::new(),
            output: None,
            generated: false,
            generate_seconds: None,
            redact_seconds: None,
            measure_seconds: None,
            redact_summary: None,
            measurement: None,
            error: None,
        };
        if let Err(e) = run_variant(s, &clip_settings, &mut row, log) {
            log(&format!("{}: error: {e}", variant.name()));
            row.error = Some(e.to_string());
        }
        variants.push(row);
    }
    Ok(Report {
        format: REPORT_FORMAT.into(),
        veilcam: Some(s.veilcam.clone()),
        veilcam_args: s.veilcam_args.clone(),
        thresholds: s.measure,
        variants,
        total_seconds: started.elapsed().as_secs_f64(),
    })
}

fn run_variant(s: &RunSettings, clip_settings: &GenerateSettings, row: &mut VariantReport, log: &mut dyn FnMut(&str)) -> Result<()> {
    let name = clip_settings.variant.name();
    log(&format!("{name}: preparing clip ({}x{}, {} s)", clip_settings.width, clip_settings.height, clip_settings.seconds));
    let clip = ensure_clip(clip_settings, &s.media, &s.out_dir.join("clips"), s.regenerate)?;
    row.clip = clip.video.clone();
    row.truth = clip.truth.clone();
    match &clip.generated {
        Some(g) => {
            row.generated = true;
            row.generate_seconds = Some(g.seconds);
            log(&format!(
                "{name}: generated {} in {:.1} s: {} frames, {} tracks, {:.1} scored faces per frame",
                g.video.display(),
                g.seconds,
                g.frames,
                g.tracks,
                g.faces_per_frame
            ));
        }
        None => log(&format!("{name}: using cached {}", clip.video.display())),
    }
    let dir = s.out_dir.join(name);
    std::fs::create_dir_all(&dir).map_err(|e| EvalError::io(&dir, e))?;
    let output = dir.join("redacted.mp4");
    // The sidecar tells which box each mask was: the over-reach figures are read from it.
    let mut args = s.veilcam_args.clone();
    let sidecar = match sidecar_arg(&args) {
        Some(given) => given,
        None => {
            let path = dir.join("redacted.json");
            args.extend(["--sidecar".to_string(), path.display().to_string()]);
            path
        }
    };
    log(&format!("{name}: veilcam redact {} {}", clip.video.display(), args.join(" ")));
    let (secs, summary) = redact(&s.veilcam, &clip.video, &output, &args)?;
    row.output = Some(output.clone());
    row.redact_seconds = Some(secs);
    row.redact_summary = summary;
    let truth = Truth::read(&clip.truth)?;
    let details_path = dir.join("faces.csv");
    let file = File::create(&details_path).map_err(|e| EvalError::io(&details_path, e))?;
    let mut details = BufWriter::new(file);
    let started = Instant::now();
    let fills = Fills::read(&truth, &sidecar)?;
    let mut m = measure(&truth, &clip.video, &output, &s.measure, Some(&fills), Some(&mut details))?;
    m.masks = Some(mask_reach(&truth, &sidecar)?);
    row.measure_seconds = Some(started.elapsed().as_secs_f64());
    log(&format!("{name}: redacted in {secs:.1} s, measured in {:.1} s", row.measure_seconds.unwrap_or_default()));
    row.measurement = Some(m);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sidecar_among_the_redact_arguments_is_found_in_both_spellings() {
        let args = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(sidecar_arg(&args(&["--fill", "solid", "--sidecar", "a.json"])), Some(PathBuf::from("a.json")));
        assert_eq!(sidecar_arg(&args(&["--sidecar=b.json"])), Some(PathBuf::from("b.json")));
        assert_eq!(sidecar_arg(&args(&["--fill", "solid"])), None);
    }
}
