//! Command-line flags, as typed by the user. [`crate::settings`] validates them once into the
//! configuration the rest of the program sees.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::detect::centerface::{DetectWidth, LocalContrast};
use crate::policy::{Keep, NightProfile};
use crate::redact::{FillMode, Shape};
use crate::settings::{parse_cadence, parse_detect_width, Cadence};

#[derive(Debug, Parser)]
#[command(name = "veilcam", version, about = "Redact faces from video and images before they are stored or shared")]
pub struct Cli {
    /// More log output (-v: progress and details, -vv: debug, -vvv: trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// No progress bar and no summary line; errors only.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Redact one video (any format GStreamer decodes) or image (JPEG, PNG).
    Redact(RedactArgs),
    /// Redact every video and image under a directory into another, keeping relative paths.
    /// Files a previous batch finished are skipped on re-run; a failed file is reported and the
    /// run goes on (exit code 2 if any failed).
    Batch(BatchArgs),
    /// Compare redaction with a plain GStreamer transcode of the same clip (fps, ratio, stage
    /// times, latency, peak memory).
    Bench(BenchArgs),
    /// Plain GStreamer transcode with veilcam's encoder settings (the bench baseline), written
    /// to a file without a name in --scratch-dir: it is the clip unredacted, and is never kept.
    #[command(hide = true)]
    Transcode(TranscodeArgs),
    /// Privacy zones of a camera config.
    #[command(subcommand)]
    Zones(ZonesCommand),
    /// Redact live RTSP cameras in real time: every camera of the config that has a `source`
    /// is restreamed redacted at rtsp://LISTEN/CAMERA and recorded in segments (see docs/live.md).
    /// Ctrl-C or SIGTERM closes the current segments and exits 0.
    Live(LiveArgs),
    /// Serve a clip as a looping RTSP camera (for demos and tests of `live`).
    Testcam(TestcamArgs),
    /// Answer a legal request: the recordings of one camera for a UTC range (or --input files),
    /// redacted, with a report, placed on legal hold and sealed in a signed bundle (see
    /// docs/export.md).
    Export(ExportArgs),
    /// Legal holds on recorded segments (placed by `export`).
    #[command(subcommand)]
    Hold(HoldCommand),
    /// Check an export bundle: its signature, every file's SHA-256 and size, nothing missing
    /// or added. One line per file; exit 0 only when everything checks.
    Verify(VerifyArgs),
    /// The Ed25519 key that signs export bundles and audit-log checkpoints.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// The hash-chained audit log of what was done: exports, verifies, holds, key creation
    /// (not `veilcam audit`, which checks a video for visible faces).
    #[command(subcommand)]
    Log(LogCommand),
    /// Check a redacted video for faces still visible: a stronger look than redaction's (float
    /// model, every frame, full resolution; --closer adds tiles at 2×). Lists each finding with
    /// its frames and times; exit 0 when clean, 4 when a face was found.
    Audit(AuditArgs),
    /// Take redaction jobs from the work queue (NATS JetStream) and redact them between S3
    /// objects, `--jobs` at a time (see docs/queue.md).
    Worker(WorkerArgs),
    /// Queue one redaction job per media object under an s3:// prefix (or one object).
    Submit(SubmitArgs),
    /// The work queue's state: depth, jobs queued / running / done / failed with reasons,
    /// dead letters.
    Jobs(JobsArgs),
}

#[derive(Debug, Args)]
#[command(after_long_help = EXPORT_HELP)]
#[command(mut_args(hide_refused_by_export), mut_arg("keep_at", keep_at_in_export))]
pub struct ExportArgs {
    /// Case id (letters, digits, '-', '_', '.'); names the working copy. A case is exported
    /// once: a second export of the same id is refused.
    #[arg(long, value_name = "ID")]
    pub case: String,
    /// Legal basis of the request (e.g. "court order 4 O 12/26").
    #[arg(long, value_name = "TEXT")]
    pub basis: String,
    /// Who asked for the footage.
    #[arg(long, value_name = "TEXT")]
    pub requester: String,
    /// Who makes the export [default: $USER].
    #[arg(long, value_name = "NAME")]
    pub operator: Option<String>,
    /// Start of the range: UTC (RFC 3339, e.g. 2026-11-20T14:00:00Z) for recordings; an offset
    /// (90, 90.5s, 00:01:30) from the start of the first file with --input.
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
    /// End of the range (exclusive), like --from.
    #[arg(long, value_name = "TIME")]
    pub to: Option<String>,
    /// Recordings root of `veilcam live` (DIR/CAMERA/index.jsonl) [default: `[live] recordings`
    /// of --config].
    #[arg(long, value_name = "DIR", conflicts_with = "inputs")]
    pub recordings: Option<PathBuf>,
    /// Export these files (in this order, as one timeline) instead of recordings.
    #[arg(long = "input", value_name = "FILE")]
    pub inputs: Vec<PathBuf>,
    /// The bundle to write (named .zip); never overwritten.
    #[arg(short, long, value_name = "PATH")]
    pub output: PathBuf,
    /// Directory of the signing key [default: $VEILCAM_HOME/keys, else
    /// $XDG_DATA_HOME/veilcam/keys, else ~/.local/share/veilcam/keys].
    #[arg(long, value_name = "DIR")]
    pub key_dir: Option<PathBuf>,
    #[command(flatten, next_help_heading = "Subject access")]
    pub keep: KeepArgs,
    #[command(flatten)]
    pub options: RedactOptions,
}

/// Options of `redact` that `export` refuses (`export::Request::from_args` says why): they
/// still parse, so the refusal can name them, but its help does not offer them.
const REFUSED_BY_EXPORT: &[&str] = &["keep_audio", "sidecar", "preview", "stats", "overwrite", "salvage"];
/// Options of `redact` a queued job may not carry (`queue::job::check_submittable`).
const REFUSED_BY_SUBMIT: &[&str] = &["sidecar", "preview", "stats", "overwrite"];

fn hide_refused_by_export(arg: clap::Arg) -> clap::Arg {
    hide_if_listed(arg, REFUSED_BY_EXPORT)
}

fn hide_refused_by_submit(arg: clap::Arg) -> clap::Arg {
    hide_if_listed(arg, REFUSED_BY_SUBMIT)
}

fn hide_if_listed(arg: clap::Arg, refused: &[&str]) -> clap::Arg {
    if refused.contains(&arg.get_id().as_str()) {
        arg.hide(true)
    } else {
        arg
    }
}

/// `--keep-at` as `export` reads its TIME.
fn keep_at_in_export(arg: clap::Arg) -> clap::Arg {
    arg.help("Keep the person under point X,Y (relative 0–1) at TIME visible, e.g. 0.41,0.62@14:03:12")
        .long_help(
            "Keep the person under point X,Y (relative 0–1) at TIME visible; obscure everyone else.\n\n\
             With recordings, TIME is a UTC time of day inside the range (e.g. 0.41,0.62@14:03:12); \
             with --input, an offset from the start of the first file (seconds or HH:MM:SS(.mmm)).",
        )
}

/// What `export --help` adds.
const EXPORT_HELP: &str = "\
Sources:
  Recordings: --camera NAME --from UTC --to UTC, with --recordings DIR or --config FILE (its
  [live] recordings). Every segment used must match the SHA-256 in the camera's index.jsonl. Time
  in the range without a recording is listed as a gap in the report and the manifest.
  Files: --input FILE (repeatable), --from/--to optional offsets.

The export redacts with the camera's zones (--config/--camera) and obscures every face whatever
the camera's recording policy. The segments used are placed on legal hold for the case
(`veilcam hold release --case ID` lifts it). A failed or interrupted export leaves no bundle, no
temp file and no new hold.";

#[derive(Debug, Subcommand)]
pub enum HoldCommand {
    /// List held segments and the cases holding them.
    List(HoldArgs),
    /// Release a case's holds; a segment another case holds stays held.
    Release {
        /// The case whose holds go.
        #[arg(long, value_name = "ID")]
        case: String,
        #[command(flatten)]
        at: HoldArgs,
    },
}

#[derive(Debug, Args)]
pub struct HoldArgs {
    /// Recordings root [default: `[live] recordings` of --config].
    #[arg(long, value_name = "DIR")]
    pub recordings: Option<PathBuf>,
    /// Config (TOML) whose `[live] recordings` is the recordings root.
    #[arg(long, value_name = "PATH", conflicts_with = "recordings")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// The video to check (usually a redacted output).
    pub input: PathBuf,
    /// The sidecar of the redaction that wrote INPUT (`redact --sidecar`): a hit lying in a
    /// region it filled solid or with a mosaic is set aside (`filled`), not listed.
    ///
    /// None of a face's pixels are left inside such a fill, but the detectors take veilcam's
    /// coarse mosaics of small faces for faces. A hit counts as lying in the fill when 85 % of
    /// the middle of its box (60 % across and down, where a face's features are) does. The sidecar must be of this video (size and frame count) and of a solid or
    /// mosaic fill (a blurred face can still be recognised).
    #[arg(long, value_name = "JSON")]
    pub sidecar: Option<PathBuf>,
    /// Write a PNG (named .png) with one tile per finding (its best frame, the face outlined),
    /// in the order listed, for review.
    #[arg(long, value_name = "PNG")]
    pub contact_sheet: Option<PathBuf>,
    /// Write the findings as JSON.
    #[arg(long, value_name = "PATH")]
    pub json: Option<PathBuf>,
    /// Detection score from which a face counts as visible. Weaker hits, from 0.8× it, count
    /// when their finding lasts 3 frames and moves (a face, not a post that scores alike).
    #[arg(long, default_value_t = crate::audit::DEFAULT_THRESHOLD)]
    pub threshold: f32,
    /// Local contrast equalisation of the detector input, as in `redact`; by default `both`:
    /// night pictures looked at twice, as they are and equalised (at night about 1.8× the time
    /// of `dark`, `redact`'s default), backlit crops twice, and a crop of its own, equalised,
    /// around each dark patch where a lit picture moves.
    #[arg(long, value_enum, default_value_t = AUDIT_LOCAL_CONTRAST)]
    pub local_contrast: LocalContrast,
    /// Skip the second look, at twice the resolution, where the picture moves (for faces of
    /// 12–24 px on walking people).
    #[arg(long)]
    pub no_moving: bool,
    /// Also look over the whole frame in overlapping tiles at twice the resolution, for faces of
    /// 10–20 px that do not move (about five times the time).
    #[arg(long)]
    pub closer: bool,
    /// Do not follow a finding's face into the frames around its hits (where the detector
    /// misses the face it found in the frames beside).
    #[arg(long)]
    pub no_follow: bool,
    /// Do not look again, closer and at a lower score, around a finding in the frames where its
    /// face was lost (hits with look `around`; they never make a finding on their own).
    #[arg(long)]
    pub no_around: bool,
    /// Look at each finding's hits again, closer (the box grown by two sides each way, enlarged
    /// so the face is about 64 px tall), and set aside a finding none of whose hits is seen
    /// again there (`not_seen_again`): what the detector takes for a face in one look only — a
    /// foot, a car cut by the frame's edge, a coarse mosaic — is no face. On the harness's clean
    /// controls it left a third of the false alarms (8 instead of 24 in 160 s), but it also set
    /// aside about 1 in 6 real small faces of passers-by there (dark, blurred, in profile), so
    /// it is off by default: a missed face costs more than a tile to look at.
    #[arg(long)]
    pub recheck: bool,
    /// On grey (night, infrared) pictures, also run the second face model (BlazeFace
    /// full-range, models/blazeface_full.onnx) on small tiles of what moves and on the crops
    /// around dark patches: it finds some small backlit, over-exposed and dark faces CenterFace
    /// misses, but takes coarse mosaics of dark faces for faces. On the harness's night clips
    /// of seeds 1-8 (session 29) it showed 72 instead of 71 of the 89 faces a weakened run left
    /// visible, added 21 false alarms in 80 s of clean video (nearly all dark mosaics of faces),
    /// and cost about 45 % more time at night.
    #[arg(long)]
    pub second_model: bool,
    /// The second model's score from which it counts a face.
    #[arg(long, default_value_t = crate::audit::SECOND_THRESHOLD, hide = true)]
    pub second_threshold: f32,
    /// Take the detector's hits from an earlier `--json` report of the same video instead of
    /// running the detector (for measuring the later stages; each hit's mosaic likeness and
    /// flat blocks are measured again on the video).
    #[arg(long, value_name = "JSON", hide = true)]
    pub hits_from: Option<PathBuf>,
    /// The least match (normalised cross-correlation) that keeps following a face.
    #[arg(long, default_value_t = crate::audit::FOLLOW_NCC, hide = true)]
    pub follow_ncc: f32,
    /// The least match that keeps following a face where its motion predicts it.
    #[arg(long, default_value_t = crate::audit::FOLLOW_NCC_ON_PATH, hide = true)]
    pub follow_ncc_on_path: f32,
    /// Frames followed at most from one detected hit, each way.
    #[arg(long, default_value_t = crate::audit::FOLLOW_FRAMES, hide = true)]
    pub follow_frames: u64,
    /// Face model [default: the float CenterFace, models/centerface.onnx].
    #[arg(long, value_name = "PATH")]
    pub model: Option<PathBuf>,
    /// ONNX Runtime shared library (see `redact --help`).
    #[arg(long, value_name = "PATH")]
    pub ort_lib: Option<PathBuf>,
    /// Replace the contact sheet or JSON if they exist.
    #[arg(long)]
    pub overwrite: bool,
}

#[derive(Debug, Args)]
pub struct LiveArgs {
    /// Config (TOML) with a `[live]` table and cameras that have a `source`.
    #[arg(long, value_name = "PATH")]
    pub config: PathBuf,
    /// How faces are obscured.
    #[arg(long, value_enum, default_value_t = DEFAULT_FILL)]
    pub fill: FillMode,
    /// Detection score (0–1) from which a face is obscured; lower hides more.
    #[arg(long, default_value_t = DEFAULT_THRESHOLD)]
    pub threshold: f32,
    /// Width frames are scaled to for the global detection pass (see `redact --help`).
    #[arg(long, default_value = "auto", value_name = "PX|auto", value_parser = parse_detect_width)]
    pub detect_width: DetectWidth,
    /// Detection workers per camera.
    #[arg(long, default_value_t = default_workers(), hide_default_value = true)]
    pub workers: usize,
    /// CenterFace ONNX model (see `redact --help`).
    #[arg(long, env = "VEILCAM_MODEL", value_name = "PATH")]
    pub model: Option<PathBuf>,
    /// ONNX Runtime shared library (see `redact --help`).
    #[arg(long, value_name = "PATH")]
    pub ort_lib: Option<PathBuf>,
}

impl LiveArgs {
    /// The detection options of a live run (everything else at its default).
    pub fn options(&self) -> RedactOptions {
        RedactOptions {
            fill: self.fill,
            threshold: self.threshold,
            detect_width: self.detect_width,
            workers: self.workers,
            model: self.model.clone(),
            ort_lib: self.ort_lib.clone(),
            ..RedactOptions::default()
        }
    }
}

#[derive(Debug, Args)]
pub struct TestcamArgs {
    /// Clip to serve, in a loop, in real time.
    pub clip: PathBuf,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: std::net::IpAddr,
    /// Port to listen on (0: any free port).
    #[arg(long, default_value_t = 8554)]
    pub port: u16,
    /// Mount: the camera is served at rtsp://HOST:PORT/MOUNT.
    #[arg(long, default_value = "cam")]
    pub mount: String,
}

#[derive(Debug, Args)]
#[command(after_long_help = BATCH_HELP)]
pub struct BatchArgs {
    /// Directory of inputs (searched recursively, following symlinks; each directory once).
    pub input_dir: PathBuf,
    /// Directory for the outputs (videos become .mp4, images keep their format). It may not be
    /// the input directory or contain it; inside the input directory it is not searched.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Files redacted at once.
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    #[command(flatten)]
    pub options: RedactOptions,
}

/// What `batch --help` adds about outputs.
const BATCH_HELP: &str = "\
Outputs and re-runs:
  Each finished file is recorded in OUTPUT/.veilcam-batch.jsonl (input path, size, mtime,
  outputs). A re-run skips a file only when that record matches the input as it is now and its
  outputs exist. A file at an output path that veilcam batch did not write, or an output of an
  input that changed since, is a failed file, never \"done\"; --overwrite redoes such files (and
  all others). Videos that would share an output keep their source extension: cam.avi and
  cam.mkv beside cam.mp4 become cam.avi.mp4 and cam.mkv.mp4. Anything with a media name that is
  not a regular file (FIFO, device) is a failed file.

Side outputs in batch:
  --sidecar DIR, --preview DIR and --stats DIR name directories (they may be OUTPUT itself). Each
  video gets its own files there, at its output's relative path: OUT.json (sidecar),
  OUT-without-extension.preview.mp4 (preview) and OUT.stats.json (stats); e.g.
  front/visitor.avi -> front/visitor.mp4, front/visitor.mp4.json, front/visitor.preview.mp4,
  front/visitor.mp4.stats.json. Images get no side outputs.";

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Clip to measure (e.g. a 1080p30 H.264 file; scripts/bench makes one).
    pub input: PathBuf,
    /// x264 speed preset, for both runs.
    #[arg(long, default_value = "veryfast")]
    pub preset: String,
    /// x264 constant quality, for both runs.
    #[arg(long, default_value_t = 21)]
    pub crf: u32,
    /// Where the redacted output and both runs' stats go (the plain transcode, unredacted, is
    /// written to a file without a name there, gone with its process).
    #[arg(long, default_value = "out/bench")]
    pub work_dir: PathBuf,
    /// Pairs of runs (plain transcode, then redaction), one after the other; with more than one,
    /// the median of the pairs' ratios is printed too (the host's speed drifts between runs).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub runs: u32,
    /// Extra `veilcam redact` options, after `--`.
    #[arg(last = true)]
    pub redact_args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct TranscodeArgs {
    pub input: PathBuf,
    /// Directory whose file system takes the transcode (a file without a name, gone with the
    /// process).
    #[arg(long)]
    pub scratch_dir: PathBuf,
    #[arg(long, default_value = "veryfast")]
    pub preset: String,
    #[arg(long, default_value_t = 21)]
    pub crf: u32,
    #[arg(long, value_name = "PATH")]
    pub stats: Option<PathBuf>,
    #[arg(long)]
    pub overwrite: bool,
}

#[derive(Debug, Subcommand)]
pub enum ZonesCommand {
    /// Draw a camera's zones (and optionally detections) on one frame of a clip, as PNG. The
    /// frame is redacted first (faces, bystanders, street zones), unless --unredacted.
    Preview(ZonesPreviewArgs),
}

#[derive(Debug, Args)]
pub struct ZonesPreviewArgs {
    /// Camera config (TOML).
    #[arg(long, value_name = "PATH")]
    pub config: PathBuf,
    /// Camera of the config (optional if it defines only one).
    #[arg(long, value_name = "NAME")]
    pub camera: Option<String>,
    /// Video or image to draw on.
    pub input: PathBuf,
    /// Output PNG (named .png).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Frame of the video to use (from 0).
    #[arg(long, default_value_t = 0)]
    pub frame: u64,
    /// Also outline what the face and person detectors find on the frame (faces yellow,
    /// bystanders red, persons on the property green).
    #[arg(long)]
    pub detections: bool,
    /// Draw on the raw frame instead of the redacted one: the PNG then contains every face and
    /// person exactly as filmed. Without it the frame is redacted with the camera's policy and
    /// the default fill (the face detector always runs, so ONNX Runtime and the models are
    /// needed).
    #[arg(long)]
    pub unredacted: bool,
    /// Replace the output if it exists.
    #[arg(long)]
    pub overwrite: bool,
    /// ONNX Runtime shared library (see `redact --help`).
    #[arg(long, value_name = "PATH")]
    pub ort_lib: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RedactArgs {
    /// Input video or image.
    pub input: PathBuf,
    /// Output file: .mp4, .mkv or .mov for video; .jpg or .png for images.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Play the clip as `veilcam live` plays a camera, in real time (to rehearse a live setup).
    ///
    /// Frames arrive at their timestamps; every frame is looked at, looks are shed when the
    /// detector falls behind, a frame not decided within BUDGET_MS of its arrival leaves fully
    /// obscured, and decided frames are held back 200 ms (the live look-ahead, `live.lookahead_ms`;
    /// another with `--live-lookahead`) so a face found a little later is masked on them too.
    /// To rehearse a live setup on a recording, and to measure live recall with the evaluation
    /// harness. A live camera looks at every frame it can with its look-ahead, so
    /// `--detect-every` and `--lookahead` are refused beside it rather than silently ignored.
    #[arg(long, value_name = "BUDGET_MS", num_args = 0..=1, default_missing_value = "250",
          conflicts_with_all = ["detect_every", "lookahead"])]
    pub realtime: Option<u64>,
    /// With `--realtime`: the live look-ahead to rehearse, in milliseconds, as a camera's
    /// `live.lookahead_ms` sets it (0–2000; default 200; 0 holds no frame back).
    #[arg(long, value_name = "MS", requires = "realtime")]
    pub live_lookahead: Option<u64>,
    #[command(flatten, next_help_heading = "Subject access")]
    pub keep: KeepArgs,
    #[command(flatten)]
    pub options: RedactOptions,
    /// Obscure, besides, every face an audit of an earlier output of this input found.
    ///
    /// The review loop: redact, run `veilcam audit OUTPUT --json AUDIT.json --contact-sheet
    /// SHEET.png`, look at the sheet, then redact the same input again with
    /// `--obscure-findings AUDIT.json`. Each finding is obscured like a face from its first
    /// frame to its last, two frames more on each side, whatever the detectors and the camera
    /// policy decide; the sidecar lists these masks with "why": "audit_finding". The audit
    /// must be of a video of the input's size and frame count (else nothing is written).
    /// Videos only; not with subject access, since an audit of a subject-access output finds
    /// the subject too.
    #[arg(long, value_name = "AUDIT.json", help_heading = "Masks", conflicts_with_all = ["keep_track", "keep_at"])]
    pub obscure_findings: Option<PathBuf>,
}

/// Subject access (`redact` and `export`): keep one person visible, obscure everyone else.
#[derive(Clone, Debug, Default, Args)]
pub struct KeepArgs {
    /// Keep the person track N (its id in the sidecar or `--preview`) visible; obscure everyone
    /// else.
    ///
    /// Subject access: the track stays visible, face and body, for its lifetime; every other
    /// face and person and every street zone is obscured, whatever the camera policy says. Ids
    /// are the same on every run of the same input with the same settings.
    #[arg(long, value_name = "N", conflicts_with = "keep_at")]
    pub keep_track: Option<u64>,
    /// Keep the person under point X,Y (relative 0–1) at TIME visible, e.g. 0.41,0.62@00:03:12.
    ///
    /// Subject access: TIME is seconds or HH:MM:SS(.mmm) from the start of the clip. A first
    /// detection pass up to TIME finds the track; then it runs as --keep-track.
    #[arg(long, value_name = "X,Y@TIME", value_parser = Keep::parse_at)]
    pub keep_at: Option<Keep>,
}

impl KeepArgs {
    /// The subject these flags name (`Keep::Nobody` without either).
    pub fn keep(&self) -> Keep {
        match (self.keep_track, self.keep_at) {
            (Some(id), _) => Keep::Track(id),
            (None, Some(at)) => at,
            (None, None) => Keep::Nobody,
        }
    }
}

/// Everything about how to redact, shared by `redact` and `batch`.
#[derive(Clone, Debug, Args)]
pub struct RedactOptions {
    /// Keep the input's audio (re-encoded to AAC). By default audio is stripped.
    #[arg(long, help_heading = "Output")]
    pub keep_audio: bool,
    /// Also write every frame's detections and obscured regions as JSON.
    #[arg(long, help_heading = "Output", value_name = "PATH")]
    pub sidecar: Option<PathBuf>,
    /// Also write a review video: the redacted frames with each mask's box, track id and score.
    ///
    /// Box colours: green detected, yellow interpolated, orange held, cyan back-filled.
    #[arg(long, help_heading = "Output", value_name = "PATH")]
    pub preview: Option<PathBuf>,
    /// Write run statistics (fps, per-stage time, latency, peak memory) as JSON.
    #[arg(long, help_heading = "Output", value_name = "PATH")]
    pub stats: Option<PathBuf>,
    /// Replace the output (and sidecar, preview, stats) if it exists.
    #[arg(long, help_heading = "Output")]
    pub overwrite: bool,
    /// Redact what decodes of a damaged input (truncated, corrupt data) instead of failing.
    ///
    /// Each decoded frame keeps its timestamp, the gaps are listed in the sidecar and the summary,
    /// and the exit code is 3 when anything was lost. Without it, an input that does not decode
    /// cleanly to its end is an error and nothing is written.
    #[arg(long, help_heading = "Output")]
    pub salvage: bool,
    /// How faces are obscured. `solid` and `mosaic` are irreversible; `blur` is weaker.
    #[arg(long, help_heading = "Masks", value_enum, default_value_t = DEFAULT_FILL)]
    pub fill: FillMode,
    /// Outline of the obscured area.
    #[arg(long, help_heading = "Masks", value_enum, default_value_t = DEFAULT_SHAPE)]
    pub shape: Shape,
    /// Growth of each detected face box before it is obscured (1.0 = the box as detected).
    ///
    /// The default leaves room for boxes that are a little tight when detecting at a reduced width.
    #[arg(long, help_heading = "Masks", default_value_t = DEFAULT_MASK_SCALE)]
    pub mask_scale: f32,
    /// Seconds of frames held back before encoding, so a face detected later also masks the
    /// frames before it (0 = no look-ahead; live cameras hold 0.2 s, `live.lookahead_ms`).
    #[arg(long, help_heading = "Masks", default_value_t = DEFAULT_LOOKAHEAD_SECONDS, value_name = "SECONDS")]
    pub lookahead: f64,
    /// Seconds a face stays masked (moving with its track) after its last detection.
    #[arg(long, help_heading = "Masks", default_value_t = DEFAULT_HOLD_SECONDS, value_name = "SECONDS")]
    pub hold: f64,
    /// Detection score (0–1) from which a face is obscured; lower hides more.
    #[arg(long, help_heading = "Detection", default_value_t = DEFAULT_THRESHOLD)]
    pub threshold: f32,
    /// Width in pixels frames are scaled to for the global detection pass (never upscaled);
    /// larger finds smaller faces but costs more.
    ///
    /// `auto` is 640 up to 1080p; above it a third of the frame's width (1280 at 4K), and a
    /// second pass at 640 beside it, so that a face is looked at as on 1080p footage whether
    /// its size in pixels or its share of the scene is what it keeps.
    #[arg(long, help_heading = "Detection", default_value = "auto", value_name = "PX|auto", value_parser = parse_detect_width)]
    pub detect_width: DetectWidth,
    /// Run the face detector on every n-th frame only; the tracker fills the frames between.
    ///
    /// `auto` detects about 15 times a second: every frame up to 20 fps, every 2nd at 25 and 30
    /// fps; 1 costs twice the detection time, 3 loses faces.
    #[arg(long, help_heading = "Detection", default_value = "auto", value_name = "N|auto", value_parser = parse_cadence)]
    pub detect_every: Cadence,
    /// Skip the closer look for small faces, at up to twice native resolution where the picture
    /// moves.
    ///
    /// By default, regions that moved since the previous detection (and the heads of detected
    /// persons) are searched again at twice native resolution, within a fixed per-frame budget;
    /// regions taller than 128 px (near, tall movers, whose faces are larger) less enlarged.
    #[arg(long, help_heading = "Detection")]
    pub no_small_faces: bool,
    /// Equalise contrast tile by tile (CLAHE-like) before detection, for backlit, dark and
    /// night faces.
    ///
    /// It runs on the whole picture and on each closer look, so a dark face before a bright
    /// background (backlight) or in a dark corner keeps its contrast; where it applies it replaces --low-light. Only what the
    /// detector sees changes. `auto`: on grey (night/infrared) pictures only, where it raised
    /// the harness's night recall (tuning set) from 75 to 93 %; `backlit`: as `auto`, and a
    /// closer look at a colour picture whose crop is backlit (a dark patch with glow to its
    /// left, right and above) runs twice, as it is and equalised (by day backlit faces 53 -> 73 %
    /// on six tuning seeds, bench ratio +0.05-0.1); `dark` (the default): as `backlit`, and each
    /// dark patch of a lit, moving part of a colour picture (a face in shade or under-exposed)
    /// gets a face-sized closer look of its own, equalised, two a look at most (day faces missed
    /// on 11 tuning seeds 355 -> 239, redaction CPU +4.5 %); `both`: as `dark`, and every look
    /// at a grey picture runs twice, as it is and equalised (the audit's default; for redaction
    /// it doubles the night detector's time and was not measured there); `on` everywhere (by
    /// day it cost 0.6 points on the tuning set).
    #[arg(long, help_heading = "Detection", value_enum, default_value_t = DEFAULT_LOCAL_CONTRAST)]
    pub local_contrast: LocalContrast,
    /// Stretch dark or low-contrast pictures (night, IR, backlight) before detection.
    ///
    /// Only what the detector sees changes. On the harness's night clips it finds more 24–48 px
    /// faces (95.6 → 98.8 %) but not more faces overall (97.7 → 97.5 %): off by default.
    #[arg(long, help_heading = "Detection")]
    pub low_light: bool,
    /// The night profile: what more is done for faces on grey (night/infrared) frames.
    ///
    /// The face detector misses more there; colour frames are never touched by it. `look`: run the
    /// person detector on grey frames and look closer at the heads it finds; `heads`: as `look`,
    /// and obscure every detected person's head on grey frames (as `faces = "all+heads"` does on
    /// every frame); a kept subject's head stays visible.
    #[arg(long, help_heading = "Detection", value_enum, default_value_t = DEFAULT_NIGHT)]
    pub night: NightProfile,
    /// Person detection score (0–1) from which a person is tracked.
    #[arg(long, help_heading = "Detection", default_value_t = DEFAULT_PERSON_THRESHOLD)]
    pub person_threshold: f32,
    /// Run the person detector on every n-th frame; the tracker covers the rest. `auto` runs it
    /// about 5 times a second.
    #[arg(long, help_heading = "Detection", default_value = "auto", value_name = "N|auto", value_parser = parse_cadence)]
    pub person_every: Cadence,
    /// Camera config (TOML) with privacy zones and policy; see docs/redact.md.
    #[arg(long, help_heading = "Camera policy", value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Camera of the config to use (optional if it defines only one).
    #[arg(long, help_heading = "Camera policy", value_name = "NAME")]
    pub camera: Option<String>,
    /// x264 speed preset (ultrafast … veryslow).
    #[arg(long, help_heading = "Encoding", default_value = DEFAULT_PRESET)]
    pub preset: String,
    /// x264 constant quality, 0–51 (lower is better quality, larger files).
    #[arg(long, help_heading = "Encoding", default_value_t = DEFAULT_CRF)]
    pub crf: u32,
    /// x264 threads, 0 for x264's choice; 1 makes the output repeatable (slower).
    ///
    /// Several threads give slightly different bytes and pixels from run to run.
    #[arg(long, help_heading = "Encoding", default_value_t = 0)]
    pub encoder_threads: u32,
    /// CenterFace ONNX model [default: centerface_int8.onnx].
    ///
    /// centerface.onnx is the float original. Searched for in $VEILCAM_MODEL_DIR, EXE_DIR/models/,
    /// EXE_DIR/../share/veilcam/models/ (EXE_DIR: the binary's directory),
    /// /usr/local/share/veilcam/models/, /usr/share/veilcam/models/ and the build tree.
    #[arg(long, help_heading = "Models and resources", env = "VEILCAM_MODEL", value_name = "PATH")]
    pub model: Option<PathBuf>,
    /// NanoDet person model, used when the policy obscures bystanders [default: nanodet_416.onnx].
    ///
    /// Searched for like --model.
    #[arg(long, help_heading = "Models and resources", value_name = "PATH")]
    pub person_model: Option<PathBuf>,
    /// ONNX Runtime shared library [default: the first libonnxruntime.so found; --help lists where].
    ///
    /// Searched for in $VEILCAM_ORT_LIB, $ORT_DYLIB_PATH, beside the executable or in ../lib/veilcam/,
    /// /usr/local/lib/veilcam/, /usr/lib/veilcam/, and the cache that scripts/fetch-onnxruntime fills.
    #[arg(long, help_heading = "Models and resources", value_name = "PATH")]
    pub ort_lib: Option<PathBuf>,
    /// Detection workers, each with its own ONNX Runtime session [default: CPU cores, at most 2].
    ///
    /// More help only on larger machines.
    #[arg(long, help_heading = "Models and resources", default_value_t = default_workers(), hide_default_value = true)]
    pub workers: usize,
    /// ONNX Runtime threads per worker.
    #[arg(long, help_heading = "Models and resources", default_value_t = DEFAULT_ORT_THREADS)]
    pub ort_threads: usize,
    /// Subject access (set from [`KeepArgs`] by `redact`, or by `export`): whom to keep
    /// visible. Not a flag of its own, so `batch` has no subject.
    #[arg(skip)]
    pub keep: Keep,
}

/// Every option's default, named (the flags above take them from here too).
pub const DEFAULT_FILL: FillMode = FillMode::Mosaic;
pub const DEFAULT_SHAPE: Shape = Shape::Ellipse;
pub const DEFAULT_THRESHOLD: f32 = 0.2;
pub const DEFAULT_MASK_SCALE: f32 = 1.4;
pub const DEFAULT_DETECT_WIDTH: DetectWidth = DetectWidth::Auto;
pub const DEFAULT_LOOKAHEAD_SECONDS: f64 = 1.0;
pub const DEFAULT_HOLD_SECONDS: f64 = 1.0;
pub const DEFAULT_PERSON_THRESHOLD: f32 = 0.4;
pub const DEFAULT_PRESET: &str = "veryfast";
pub const DEFAULT_CRF: u32 = 21;
pub const DEFAULT_ORT_THREADS: usize = 1;
/// The local contrast of a run given no `--local-contrast` (see docs/evaluation.md, "Dark faces
/// by day, and a track's old path kept when it jumps").
pub const DEFAULT_LOCAL_CONTRAST: LocalContrast = LocalContrast::Dark;
/// `audit`'s: as `redact`'s, and night pictures looked at as they are too (session 28: at night
/// it showed more of the faces a weakened redaction left, `docs/evaluation.md`).
pub const AUDIT_LOCAL_CONTRAST: LocalContrast = LocalContrast::Both;
/// The night profile of a run given no `--night` (see docs/evaluation.md, "The night profile").
pub const DEFAULT_NIGHT: NightProfile = NightProfile::Heads;

impl Default for RedactOptions {
    /// The options of a run given no flags, without parsing a command line.
    fn default() -> Self {
        RedactOptions {
            fill: DEFAULT_FILL,
            shape: DEFAULT_SHAPE,
            threshold: DEFAULT_THRESHOLD,
            mask_scale: DEFAULT_MASK_SCALE,
            detect_width: DEFAULT_DETECT_WIDTH,
            no_small_faces: false,
            low_light: false,
            local_contrast: DEFAULT_LOCAL_CONTRAST,
            night: DEFAULT_NIGHT,
            detect_every: Cadence::Auto,
            lookahead: DEFAULT_LOOKAHEAD_SECONDS,
            hold: DEFAULT_HOLD_SECONDS,
            config: None,
            camera: None,
            person_model: None,
            person_threshold: DEFAULT_PERSON_THRESHOLD,
            person_every: Cadence::Auto,
            preset: DEFAULT_PRESET.to_string(),
            crf: DEFAULT_CRF,
            encoder_threads: 0,
            keep_audio: false,
            sidecar: None,
            preview: None,
            overwrite: false,
            stats: None,
            salvage: false,
            model: std::env::var_os("VEILCAM_MODEL").map(PathBuf::from),
            ort_lib: None,
            workers: default_workers(),
            ort_threads: DEFAULT_ORT_THREADS,
            keep: Keep::Nobody,
        }
    }
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The bundle (zip) written by `veilcam export`.
    pub bundle: PathBuf,
    /// Public key file (`veilcam.pub`, minisign format) the bundle must be signed with; without
    /// it the signature is checked with the key the bundle names, whose fingerprint is printed.
    #[arg(long, value_name = "PUBFILE")]
    pub key: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create the signing key pair (never overwrites one) and print its fingerprint.
    Init(KeysArgs),
    /// Print the fingerprint and key id of the signing key.
    Show(KeysArgs),
}

#[derive(Debug, Args)]
pub struct KeysArgs {
    /// Key directory [default: $VEILCAM_HOME/keys, else $XDG_DATA_HOME/veilcam/keys, else
    /// ~/.local/share/veilcam/keys].
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// Check the whole audit log: every entry's hash, the chain, the order and the signed
    /// checkpoints; names the line and seq of each break. Exit 0 only when intact.
    Verify(LogVerifyArgs),
    /// Print the audit log, one entry per line.
    Show(LogArgs),
    /// Write a signed checkpoint over the log's current head now.
    Seal(LogArgs),
}

#[derive(Debug, Args)]
pub struct LogArgs {
    /// Audit log [default: $VEILCAM_HOME/audit.jsonl, else $XDG_DATA_HOME/veilcam/audit.jsonl,
    /// else ~/.local/share/veilcam/audit.jsonl].
    #[arg(long, value_name = "PATH")]
    pub log: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct LogVerifyArgs {
    #[command(flatten)]
    pub log: LogArgs,
    /// Public key file the checkpoints must be signed with; repeat it to trust the keys a log
    /// was signed with before a key was replaced [default: veilcam.pub of the default key
    /// directory, when there is one].
    #[arg(long, value_name = "PUBFILE")]
    pub key: Vec<PathBuf>,
}

/// One detection worker per core, up to two: measured best on two cores (docs/evaluation.md).
fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_named_defaults_are_what_an_empty_command_line_gives() {
        let cli = Cli::try_parse_from(["veilcam", "redact", "in.mp4", "-o", "out.mp4"]).unwrap();
        let Command::Redact(args) = cli.command else { panic!("a redact command") };
        assert_eq!(format!("{:?}", args.options), format!("{:?}", RedactOptions::default()));
        assert_eq!(args.keep.keep(), Keep::Nobody);
    }

    #[test]
    fn export_and_submit_help_offer_no_side_output_they_refuse() {
        use clap::CommandFactory;
        let cli = Cli::command();
        let hidden = |command: &str, id: &str| {
            let sub = cli.find_subcommand(command).expect("subcommand");
            sub.get_arguments().find(|a| a.get_id() == id).unwrap_or_else(|| panic!("{command} has {id}")).is_hide_set()
        };
        for id in ["keep_audio", "sidecar", "preview", "stats", "overwrite", "salvage"] {
            assert!(hidden("export", id) && !hidden("redact", id) && !hidden("batch", id), "{id}");
        }
        for id in ["sidecar", "preview", "stats", "overwrite"] {
            assert!(hidden("submit", id), "{id}");
        }
        assert!(!hidden("export", "fill") && !hidden("submit", "keep_audio"));
    }

    #[test]
    fn keep_track_and_keep_at_name_one_subject() {
        let parse = |extra: &[&str]| Cli::try_parse_from(["veilcam", "redact", "in.mp4", "-o", "out.mp4"].iter().chain(extra));
        let Command::Redact(args) = parse(&["--keep-track", "7"]).unwrap().command else { panic!("a redact command") };
        assert_eq!(args.keep.keep(), Keep::Track(7));
        let Command::Redact(args) = parse(&["--keep-at", "0.25,0.75@1:02.5"]).unwrap().command else { panic!("a redact command") };
        assert_eq!(args.keep.keep(), Keep::At { x: 0.25, y: 0.75, time_ns: 62_500_000_000 });
        assert!(parse(&["--keep-track", "7", "--keep-at", "0.5,0.5@1"]).is_err(), "one subject at a time");
        assert!(Cli::try_parse_from(["veilcam", "batch", "in", "-o", "out", "--keep-track", "7"]).is_err(), "batch has no subject");
    }
}

/// Where the work queue is. Credentials never on the command line: a `.creds` file, or
/// $NATS_USER + $NATS_PASSWORD, or $NATS_TOKEN.
#[derive(Clone, Debug, Args)]
pub struct NatsArgs {
    /// NATS server URL.
    #[arg(long, env = "VEILCAM_NATS", default_value = "nats://127.0.0.1:4222", value_name = "URL")]
    pub nats: String,
    /// NATS credentials file (mode 0600) [default: $NATS_CREDS].
    #[arg(long, value_name = "FILE")]
    pub nats_creds: Option<PathBuf>,
}

/// Where the object store is. Credentials never on the command line: a file, or
/// $AWS_ACCESS_KEY_ID + $AWS_SECRET_ACCESS_KEY; with neither, anonymous.
#[derive(Clone, Debug, Args)]
pub struct S3Args {
    /// S3 endpoint, e.g. http://127.0.0.1:8333 for SeaweedFS [default: AWS].
    #[arg(long, env = "AWS_ENDPOINT_URL", value_name = "URL")]
    pub s3_endpoint: Option<String>,
    /// S3 region.
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    pub s3_region: String,
    /// File (mode 0600) with `access_key_id = ...` and `secret_access_key = ...` lines.
    #[arg(long, value_name = "FILE")]
    pub s3_credentials: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct WorkerArgs {
    #[command(flatten)]
    pub nats: NatsArgs,
    #[command(flatten)]
    pub s3: S3Args,
    /// The bucket this worker reads inputs from and writes outputs to (s3://BUCKET).
    #[arg(long, value_name = "s3://BUCKET")]
    pub store: String,
    /// Jobs redacted at once by this worker (each like one `veilcam redact`).
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// Seconds without an ack before a job is delivered to another worker (a running job
    /// sends in-progress acks, so only a dead worker's jobs move).
    #[arg(long, default_value_t = crate::queue::worker::DEFAULT_ACK_WAIT_SECONDS, value_name = "SECONDS")]
    pub ack_wait: u64,
    /// Deliveries of a job before it goes to the dead-letter subject with its error.
    #[arg(long, default_value_t = crate::queue::worker::DEFAULT_MAX_DELIVER, value_name = "N")]
    pub max_deliver: i64,
    /// Serve Prometheus metrics on ADDR (e.g. 127.0.0.1:9101) at /metrics.
    #[arg(long, value_name = "ADDR")]
    pub metrics: Option<std::net::SocketAddr>,
    /// Directory for the private per-job temp directories [default: the system temp dir].
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// Exit once the queue is empty and no job is unfinished anywhere (for batch runs, benches).
    #[arg(long)]
    pub exit_when_idle: bool,
    /// CenterFace model on this machine (see `redact --model`).
    #[arg(long, env = "VEILCAM_MODEL", value_name = "PATH")]
    pub model: Option<PathBuf>,
    /// NanoDet person model on this machine (see `redact --person-model`).
    #[arg(long, value_name = "PATH")]
    pub person_model: Option<PathBuf>,
    /// ONNX Runtime library on this machine (see `redact --ort-lib`).
    #[arg(long, value_name = "PATH")]
    pub ort_lib: Option<PathBuf>,
    /// Detection workers per job (see `redact --workers`).
    #[arg(long)]
    pub workers: Option<usize>,
    /// ONNX Runtime threads per detection worker (see `redact --ort-threads`).
    #[arg(long)]
    pub ort_threads: Option<usize>,
}

#[derive(Debug, Args)]
#[command(mut_args(hide_refused_by_submit))]
pub struct SubmitArgs {
    #[command(flatten)]
    pub nats: NatsArgs,
    #[command(flatten)]
    pub s3: S3Args,
    /// Input: s3://BUCKET/PREFIX/ (every media object under it) or s3://BUCKET/KEY (one).
    #[arg(value_name = "s3://BUCKET/PREFIX/")]
    pub input: String,
    /// Output prefix (s3://BUCKET/PREFIX/), or the output key for a single input.
    #[arg(long, value_name = "s3://BUCKET/PREFIX/")]
    pub out: String,
    /// Redaction options, as for `redact` (the camera config is carried in the job, pinned by
    /// its SHA-256; --model, --ort-lib, --workers, --ort-threads are the worker's own).
    #[command(flatten)]
    pub options: RedactOptions,
}

#[derive(Debug, Args)]
pub struct JobsArgs {
    #[command(flatten)]
    pub nats: NatsArgs,
    /// Print the state as JSON.
    #[arg(long)]
    pub json: bool,
}
