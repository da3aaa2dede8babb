//! `veilcam-eval`: generate test clips with ground truth, measure redaction, or do both around
//! the real `veilcam` binary. See docs/evaluation.md.

use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use veilcam_eval::control::{make_control, Control};
use veilcam_eval::generate::{self, GenerateSettings, MediaPaths, Variant};
use veilcam_eval::fills::Fills;
use veilcam_eval::masks;
use veilcam_eval::measure::{self, MeasureSettings};
use veilcam_eval::report::{self, Report, REPORT_FORMAT};
use veilcam_eval::run::{self, RunSettings};
use veilcam_eval::truth::Truth;
use veilcam_eval::{EvalError, Result};

#[derive(Debug, Parser)]
#[command(name = "veilcam-eval", version, about = "Measure how well veilcam hides faces, on generated clips with ground truth")]
struct Cli {
    /// Only errors and the final table.
    #[arg(short, long, global = true)]
    quiet: bool,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Generate (or reuse) the clips, redact them with `veilcam`, measure, report.
    Run(RunArgs),
    /// Generate clips with truth: OUT/VARIANT.mp4 and OUT/VARIANT.truth.json.
    Generate(GenerateArgs),
    /// Measure one redacted output against its input and truth.
    Measure(MeasureArgs),
    /// Make a reference output from a generated clip (untouched re-encode, faces blacked out,
    /// or obscured at their true positions) to check the measurement.
    Control(ControlArgs),
}

#[derive(Debug, Args)]
struct ControlArgs {
    #[arg(long)]
    truth: PathBuf,
    #[arg(long)]
    input: PathBuf,
    #[arg(long)]
    output: PathBuf,
    #[arg(long, value_enum)]
    kind: Control,
    /// x264 quality of the re-encode (veilcam's default is 21).
    #[arg(long, default_value_t = 21)]
    crf: u32,
    /// Also write the sidecar veilcam would have written of these fills (for `veilcam audit
    /// --sidecar`; not for a blur).
    #[arg(long)]
    sidecar: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum VariantArg {
    Day,
    Night,
    /// Faces on the heads of the people walking in the footage (asked for by name; not in `all`).
    Walkers,
    WalkersNight,
    All,
}

impl VariantArg {
    fn variants(self) -> Vec<Variant> {
        match self {
            VariantArg::Day => vec![Variant::Day],
            VariantArg::Night => vec![Variant::Night],
            VariantArg::Walkers => vec![Variant::Walkers],
            VariantArg::WalkersNight => vec![Variant::WalkersNight],
            VariantArg::All => Variant::ALL.to_vec(),
        }
    }
}

#[derive(Debug, Args)]
struct ClipArgs {
    /// Which clip look(s).
    #[arg(long, value_enum, default_value_t = VariantArg::All)]
    variant: VariantArg,
    #[arg(long, default_value_t = generate::DEFAULT_WIDTH)]
    width: u32,
    #[arg(long, default_value_t = generate::DEFAULT_HEIGHT)]
    height: u32,
    #[arg(long, default_value_t = generate::DEFAULT_FPS)]
    fps: u32,
    /// Clip length in seconds.
    #[arg(long, default_value_t = generate::DEFAULT_SECONDS)]
    seconds: f64,
    /// Lanes of faces moving at once.
    #[arg(long, default_value_t = generate::DEFAULT_FACES)]
    faces: u32,
    #[arg(long, default_value_t = generate::DEFAULT_SEED)]
    seed: u64,
    /// x264 quality of the generated clip.
    #[arg(long, default_value_t = generate::DEFAULT_CRF)]
    crf: u32,
    /// Directory with vtest.avi, astronaut.png and faces/ [default: the repository's sample_media].
    #[arg(long, value_name = "DIR")]
    media_dir: Option<PathBuf>,
}

impl ClipArgs {
    fn settings(&self, variant: Variant) -> GenerateSettings {
        GenerateSettings {
            variant,
            width: self.width,
            height: self.height,
            fps: self.fps,
            seconds: self.seconds,
            faces: self.faces,
            seed: self.seed,
            crf: self.crf,
            preset: generate::DEFAULT_PRESET.into(),
        }
    }

    fn media(&self) -> MediaPaths {
        self.media_dir.clone().map(|dir| MediaPaths { dir }).unwrap_or_default()
    }
}

#[derive(Debug, Args)]
struct ThresholdArgs {
    /// A face is redacted below this correlation of band-passed detail (input vs output).
    #[arg(long, default_value_t = measure::DEFAULT_MIN_CORR)]
    min_corr: f64,
    /// … or below this ratio of band-pass energy (output / input).
    #[arg(long, default_value_t = measure::DEFAULT_MIN_ENERGY)]
    min_energy: f64,
    /// Luma change (2×2 mean) that counts as a marked change outside faces.
    #[arg(long, default_value_t = measure::DEFAULT_CHANGE_LEVELS)]
    change_levels: f32,
    /// Face boxes grown by this factor are excluded from over-redaction.
    #[arg(long, default_value_t = measure::DEFAULT_DILATION)]
    dilation: f64,
}

impl ThresholdArgs {
    fn settings(&self) -> MeasureSettings {
        MeasureSettings { min_corr: self.min_corr, min_energy: self.min_energy, change_levels: self.change_levels, dilation: self.dilation }
    }
}

#[derive(Debug, Args)]
struct RunArgs {
    #[command(flatten)]
    clip: ClipArgs,
    #[command(flatten)]
    thresholds: ThresholdArgs,
    /// Output directory (clips are cached in OUT/clips).
    #[arg(long, default_value = "out/eval")]
    out: PathBuf,
    /// The veilcam binary [default: the one beside veilcam-eval].
    #[arg(long, value_name = "PATH")]
    veilcam: Option<PathBuf>,
    /// Remake the clips even if cached.
    #[arg(long)]
    regenerate: bool,
    /// Extra arguments for `veilcam redact` (after `--`).
    #[arg(last = true)]
    veilcam_args: Vec<String>,
}

#[derive(Debug, Args)]
struct GenerateArgs {
    #[command(flatten)]
    clip: ClipArgs,
    #[arg(long, default_value = "out/eval/clips")]
    out: PathBuf,
}

#[derive(Debug, Args)]
struct MeasureArgs {
    #[arg(long)]
    truth: PathBuf,
    /// The generated clip the truth belongs to.
    #[arg(long)]
    input: PathBuf,
    /// The redacted clip.
    #[arg(long)]
    output: PathBuf,
    /// Write the measurement as JSON here.
    #[arg(long, value_name = "PATH")]
    json: Option<PathBuf>,
    /// Write one CSV line per scored face here.
    #[arg(long, value_name = "PATH")]
    details: Option<PathBuf>,
    /// The run's `--sidecar`: a face counts as hidden only where the run filled it, and the
    /// masks' over-reach is added (mask ÷ face area, widest mask).
    #[arg(long, value_name = "PATH")]
    sidecar: Option<PathBuf>,
    #[command(flatten)]
    thresholds: ThresholdArgs,
}

fn main() -> ExitCode {
    veilcam::detect::runtime::keep_telemetry_off();
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("VEILCAM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("veilcam=warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();
    let quiet = cli.quiet;
    let mut log = move |line: &str| {
        if !quiet {
            eprintln!("veilcam-eval: {line}");
        }
    };
    let result = match &cli.command {
        Cmd::Run(a) => cmd_run(a, &mut log),
        Cmd::Generate(a) => cmd_generate(a, &mut log).map(|()| true),
        Cmd::Measure(a) => cmd_measure(a).map(|()| true),
        Cmd::Control(a) => Truth::read(&a.truth)
            .and_then(|t| make_control(&t, &a.input, &a.output, a.kind, a.crf, a.sidecar.as_deref()))
            .map(|frames| {
                log(&format!("{}: {frames} frames", a.output.display()));
                true
            }),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        // Some variant failed; the others were reported.
        Ok(false) => ExitCode::from(2),
        Err(e) => {
            eprintln!("veilcam-eval: error: {e}");
            ExitCode::from(1)
        }
    }
}

fn cmd_run(a: &RunArgs, log: &mut dyn FnMut(&str)) -> Result<bool> {
    let settings = RunSettings {
        variants: a.clip.variant.variants(),
        out_dir: a.out.clone(),
        clip: a.clip.settings(Variant::Day),
        media: a.clip.media(),
        veilcam: run::locate_veilcam(a.veilcam.as_deref())?,
        veilcam_args: a.veilcam_args.clone(),
        measure: a.thresholds.settings(),
        regenerate: a.regenerate,
    };
    let report = run::run(&settings, log)?;
    let path = a.out.join("report.json");
    report.write(&path)?;
    print_table(&report, a.clip.fps as f64);
    for v in &report.variants {
        if let Some(e) = &v.error {
            println!("{}: FAILED: {e}", v.variant);
        }
    }
    println!("report: {} ({:.1} s)", path.display(), report.total_seconds);
    Ok(report.variants.iter().all(|v| v.error.is_none()))
}

fn print_table(report: &Report, fps: f64) {
    let rows: Vec<(&str, &measure::Measurement)> =
        report.variants.iter().filter_map(|v| v.measurement.as_ref().map(|m| (v.variant.as_str(), m))).collect();
    if !rows.is_empty() {
        print!("{}", report::table(&rows, fps));
    }
}

fn cmd_generate(a: &GenerateArgs, log: &mut dyn FnMut(&str)) -> Result<()> {
    let media = a.clip.media();
    std::fs::create_dir_all(&a.out).map_err(|e| EvalError::io(&a.out, e))?;
    for variant in a.clip.variant.variants() {
        let settings = a.clip.settings(variant);
        let video = a.out.join(format!("{}.mp4", variant.name()));
        let truth = a.out.join(format!("{}.truth.json", variant.name()));
        let g = generate::generate(&settings, &media, &video, &truth)?;
        log(&format!(
            "{}: {} + {} in {:.1} s: {} frames, {} tracks, {} scored faces ({:.1} per frame), {} drawn",
            variant.name(),
            g.video.display(),
            g.truth.display(),
            g.seconds,
            g.frames,
            g.tracks,
            g.faces_scored,
            g.faces_per_frame,
            g.faces_drawn
        ));
    }
    Ok(())
}

fn cmd_measure(a: &MeasureArgs) -> Result<()> {
    let truth = Truth::read(&a.truth)?;
    let mut details = match &a.details {
        Some(p) => Some(BufWriter::new(File::create(p).map_err(|e| EvalError::io(p, e))?)),
        None => None,
    };
    let fills = a.sidecar.as_ref().map(|p| Fills::read(&truth, p)).transpose()?;
    let mut m = measure::measure(
        &truth,
        &a.input,
        &a.output,
        &a.thresholds.settings(),
        fills.as_ref(),
        details.as_mut().map(|w| w as &mut dyn std::io::Write),
    )?;
    if let Some(sidecar) = &a.sidecar {
        m.masks = Some(masks::mask_reach(&truth, sidecar)?);
    }
    let fps = truth.fps_n as f64 / truth.fps_d.max(1) as f64;
    print!("{}", report::table(&[(truth.variant.as_str(), &m)], fps));
    if let Some(p) = &a.json {
        let doc = serde_json::json!({
            "format": REPORT_FORMAT,
            "truth": a.truth, "input": a.input, "output": a.output,
            "thresholds": a.thresholds.settings(),
            "measurement": m,
        });
        let text = serde_json::to_string_pretty(&doc).expect("serialises") + "\n";
        std::fs::write(p, text).map_err(|e| EvalError::io(p, e))?;
    }
    Ok(())
}
