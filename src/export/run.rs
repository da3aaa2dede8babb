//! One export from request to bundle. The order is chosen so that a failure anywhere leaves
//! nothing behind: every check that can refuse the request (case id, bundle path, case already
//! exported, signing key, camera, range, segment hashes) runs before any work; the working
//! copy, sidecar and report are written into a hidden staging directory beside the bundle,
//! which is removed on any error or interrupt; holds placed by this export are taken back on
//! failure ([`super::hold::Placed`]); the bundle appears under its final name only when
//! complete.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use gstreamer_video as gst_video;

use super::chain::{ChainSource, PartUse};
use super::hold::Placed;
use super::report::{self, Facts, ModelFact, PolicyFact, ProducedFact, SourceFact, ZoneFact};
use super::select::{self, Gap, Origin, Selection, UtcRange};
use super::audit::{self, AuditLog};
use super::bundle::{self, BundleFile};
use super::credentials::{self, Credential, CredentialFact, Ingredient};
use super::keys::{self, SigningKey};
use super::{case_record, check_case_id, ExportError};
use crate::cli::RedactOptions;
use crate::config::{FacePolicy, ZoneKind};
use crate::detect::centerface::DetectWidth;
use crate::error::{Error, Result};
use crate::leftover::{HeldDir, Lock};
use crate::live::segments::{self, format_rfc3339_ms};
use crate::output::{commit_all, AtomicOutput};
use crate::pipeline::{file_stages, run_stages};
use crate::policy::{Keep, Policy};
use crate::progress::Progress;
use crate::settings::{media_kind, MediaKind, RedactSettings};
use crate::sidecar::{SidecarHeader, SidecarWriter};
use crate::sink::file::FileSink;
use crate::sink::FrameSink;
use crate::source::integrity::DamageLog;
use crate::stats::StageTimes;

/// Where an export's frames come from.
#[derive(Clone, Debug)]
pub enum Sources {
    /// Segments of `camera` under the recordings `root` for a UTC range.
    Recordings { root: PathBuf, camera: String, range: UtcRange },
    /// Files, in order, with an optional window (ns from the start of the first file).
    Files { inputs: Vec<PathBuf>, from_ns: Option<u64>, to_ns: Option<u64> },
}

/// A legal request, as the operator states it.
#[derive(Clone, Debug)]
pub struct Request {
    pub case: String,
    /// The legal basis (court order, subject access request …).
    pub basis: String,
    pub requester: String,
    pub operator: String,
    pub sources: Sources,
    /// The bundle to write (`.zip`).
    pub bundle: PathBuf,
    /// Directory of the signing key ([`keys::default_dir`] unless given).
    pub key_dir: PathBuf,
    /// Detection and encoding options; `config`/`camera` give zones and policy.
    pub options: RedactOptions,
    /// Subject access, as given: `--keep-at` TIME is a UTC time of day for recordings (the
    /// date of the range), an offset from the start of the first file for `--input`.
    pub keep: Keep,
}

/// What an export produced.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub bundle: PathBuf,
    pub working_copy: String,
    pub frames: u64,
    pub duration_seconds: f64,
    pub gaps: Vec<Gap>,
    /// Segments now on hold for the case.
    pub held: Vec<PathBuf>,
}

/// The file names inside a bundle.
#[derive(Clone, Debug)]
pub struct Names {
    pub working_copy: String,
    pub sidecar: String,
    pub report: String,
}

/// Name of the report inside a bundle.
pub const REPORT_NAME: &str = "report.txt";

/// Case records of exports still sealing, removed by [`remove_pending`] when the process ends
/// on a second signal (with the staging directories, which [`crate::leftover::remove_pending`]
/// removes).
static RECORDS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Removes the case records of exports still sealing (the process is about to end).
pub fn remove_pending() {
    if let Some(records) = crate::interrupt::lock_when_ending(&RECORDS) {
        records.iter().for_each(|r| drop(std::fs::remove_file(r)));
    }
}

/// Random characters in a staging directory's name.
const STAGING_RANDOM: usize = 6;

/// A hidden staging directory beside the bundle, locked if the file system can
/// ([`crate::leftover::HeldDir`]) and removed when dropped, after removing those of this bundle
/// left by an export that was killed.
fn staging(bundle: &Path) -> Result<HeldDir> {
    let parent = parent_dir(bundle);
    let name = bundle.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let prefix = format!(".{name}.staging-");
    crate::leftover::sweep(&parent, |n| n.len() == prefix.len() + STAGING_RANDOM && n.starts_with(&prefix));
    HeldDir::create(tempfile::Builder::new().prefix(&prefix).rand_bytes(STAGING_RANDOM), &parent, Lock::IfSupported).map_err(|e| Error::io(&parent, e))
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The bundle must be named `.zip`, must not exist (never overwritten), and its directory must.
fn check_bundle_target(bundle: &Path) -> Result<()> {
    crate::output::check_extension(bundle, "zip", "a bundle is a zip archive")?;
    if bundle.symlink_metadata().is_ok() {
        return Err(ExportError::BundleExists { path: bundle.to_path_buf() }.into());
    }
    let parent = parent_dir(bundle);
    if !parent.is_dir() {
        let why = std::io::Error::new(std::io::ErrorKind::NotFound, format!("directory {} does not exist", parent.display()));
        return Err(Error::io(bundle, why));
    }
    Ok(())
}

/// Only letters, digits, `-`, `_` and `.` (anything else becomes `-`), for file names.
fn file_safe(text: &str) -> String {
    text.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '-' }).collect()
}

/// `2026-11-20T14:00:00.000Z` → `20261120T140000Z` (milliseconds only when not zero).
fn compact_utc(ms: i64) -> String {
    let full = format_rfc3339_ms(ms).replace(['-', ':'], "");
    full.replace(".000Z", "Z")
}

fn compact_offset(ns: Option<u64>, default: &str) -> String {
    ns.map_or(default.to_string(), |ns| {
        let s = format!("{:.3}", ns as f64 / 1e9);
        format!("{}s", s.trim_end_matches('0').trim_end_matches('.'))
    })
}

/// `CASE_CAMERA_FROM_TO.mp4` and the names beside it.
pub fn names(case: &str, sources: &Sources, camera: Option<&str>) -> Names {
    let stem = match sources {
        Sources::Recordings { camera, range, .. } => {
            format!("{case}_{}_{}_{}", file_safe(camera), compact_utc(range.from_ms), compact_utc(range.to_ms))
        }
        Sources::Files { inputs, from_ns, to_ns } => {
            let label = camera.map(str::to_string).unwrap_or_else(|| {
                inputs.first().and_then(|p| p.file_stem()).map_or("input".into(), |s| s.to_string_lossy().into_owned())
            });
            format!("{case}_{}_{}_{}", file_safe(&label), compact_offset(*from_ns, "0s"), compact_offset(*to_ns, "end"))
        }
    };
    Names { working_copy: format!("{stem}.mp4"), sidecar: format!("{stem}.sidecar.json"), report: REPORT_NAME.to_string() }
}

/// Checks everything that can refuse `request` before any work, in the order a user fixes
/// them: case id, bundle path, case already exported, inputs that are not videos.
pub fn check_request(request: &Request) -> Result<()> {
    check_case_id(&request.case)?;
    check_bundle_target(&request.bundle)?;
    let record = case_record(&keys::data_dir(), &request.case);
    if record.exists() {
        return Err(ExportError::CaseExported { case: request.case.clone(), record }.into());
    }
    if let Sources::Files { inputs, .. } = &request.sources {
        if let Some(image) = inputs.iter().find(|p| media_kind(p) == MediaKind::Image) {
            return Err(Error::Settings(format!("{}: export takes videos; redact an image with `veilcam redact`", image.display())));
        }
    }
    Ok(())
}

/// Picks and checks the source files.
pub fn select(sources: &Sources) -> Result<Selection> {
    match sources {
        Sources::Recordings { root, camera, range } => select::from_recordings(root, camera, *range),
        Sources::Files { inputs, from_ns, to_ns } => select::from_files(inputs, *from_ns, *to_ns),
    }
}

/// The settings of the redaction run: the operator's options with every face obscured
/// whatever the camera's recording policy (a recording may keep faces on the property; an
/// export shows no one but the subject), the heads of persons too where the camera asks for
/// them (`all+heads`), and one encoder thread (repeatable bytes).
pub fn redact_settings(first_source: &Path, working_copy: &Path, options: &RedactOptions) -> Result<RedactSettings> {
    let mut settings = RedactSettings::new(first_source, working_copy, options)?;
    if let Some(camera) = settings.camera.as_mut() {
        if camera.policy.faces != FacePolicy::AllHeads {
            camera.policy.faces = FacePolicy::All;
        }
    }
    settings.encoder.threads = 1;
    Ok(settings)
}

/// What the engine did.
struct Produced {
    frames: u64,
    faces: u64,
    persons: u64,
    duration_ns: u64,
    width: u32,
    height: u32,
    fps: String,
    /// The subject kept (`--keep-at` resolved to its track).
    keep: Keep,
    uses: Vec<PartUse>,
}

/// Runs the one engine ([`run_stages`], stages from [`file_stages`] as for every file run) over
/// the selected files into the working copy and its sidecar, both committed into `dir`. A
/// `--keep-at` subject is first resolved to its track by a pass over the same stream
/// ([`crate::subject::resolve_in`]).
fn redact(selection: &Selection, settings: &RedactSettings, dir: &Path, names: &Names, label: String, quiet: bool) -> Result<Produced> {
    let keep = match settings.keep {
        Keep::At { .. } => {
            let source = ChainSource::open(selection.parts.clone())?;
            let info = caps_info(&source, selection)?;
            crate::subject::resolve_in(settings, source, &info, &label)?
        }
        other => other,
    };
    let policy = Policy::new(settings.camera.clone(), settings.mask_scale, settings.shape, settings.fill).keeping(keep);
    let source = ChainSource::open(selection.parts.clone())?;
    let uses = source.uses();
    let info = caps_info(&source, selection)?;
    let fps = info.fps();
    let stages = file_stages(settings, policy, &info)?;
    let video = AtomicOutput::prepare(&dir.join(&names.working_copy), false)?;
    let sidecar = AtomicOutput::prepare(&dir.join(&names.sidecar), false)?;
    let header = SidecarHeader {
        veilcam: env!("CARGO_PKG_VERSION"),
        input: label,
        width: info.width(),
        height: info.height(),
        fps_n: fps.numer(),
        fps_d: fps.denom(),
        fill: settings.fill,
    };
    let mut sinks: Vec<Box<dyn FrameSink>> = Vec::new();
    if let Keep::Track(id) = keep {
        sinks.push(Box::new(crate::subject::SubjectWatch::new(id)));
    }
    sinks.push(Box::new(FileSink::create(video, source.caps(), &settings.encoder, None)?));
    sinks.push(Box::new(SidecarWriter::create(sidecar, &header, DamageLog::default())?));
    let progress = Progress::new(&names.working_copy, source.estimated_frames(), quiet);
    let times = StageTimes::default();
    let done = run_stages(source, stages, sinks, progress, &times)?;
    let mut ready = Vec::new();
    for sink in done.sinks {
        ready.extend(sink.finish()?);
    }
    commit_all(ready)?;
    let uses = std::mem::take(&mut *uses.lock().unwrap_or_else(|e| e.into_inner()));
    let duration_ns = uses.iter().filter_map(|u| u.out_end_ns).max().unwrap_or(0);
    if done.frames == 0 {
        return Err(Error::Pipeline("no frame of the sources lies in the requested range".into()));
    }
    Ok(Produced {
        frames: done.frames,
        faces: done.faces,
        persons: done.persons,
        duration_ns,
        width: info.width(),
        height: info.height(),
        fps: super::chain::declared_rate(&uses),
        keep,
        uses,
    })
}

fn caps_info(source: &ChainSource, selection: &Selection) -> Result<gst_video::VideoInfo> {
    gst_video::VideoInfo::from_caps(source.caps())
        .map_err(|e| Error::Pipeline(format!("{}: unusable caps: {e}", selection.parts[0].path.display())))
}

/// `--keep-at`'s TIME as a time in the working copy: for recordings a UTC time of day on the
/// range's date (the day that puts it inside the range), for files an offset from the start of
/// the first file. Gaps do not count: the working copy runs on across them.
pub fn keep_in_output(keep: Keep, selection: &Selection) -> Result<Keep> {
    let Keep::At { x, y, time_ns } = keep else { return Ok(keep) };
    let bad = |why: String| Error::Settings(format!("--keep-at {x},{y}@{:.3} s: {why}", time_ns as f64 / 1e9));
    let out_ns = match &selection.origin {
        Origin::Files { from_ns, to_ns } => {
            let from = from_ns.unwrap_or(0);
            if time_ns < from || to_ns.is_some_and(|to| time_ns >= to) {
                return Err(bad("that time lies outside --from/--to".into()));
            }
            time_ns - from
        }
        Origin::Recordings { range, .. } => {
            const DAY_MS: i64 = 86_400_000;
            let tod_ms = (time_ns / 1_000_000) as i64;
            if tod_ms >= DAY_MS {
                return Err(bad("with recordings TIME is a UTC time of day (HH:MM:SS)".into()));
            }
            let day = range.from_ms.div_euclid(DAY_MS) * DAY_MS;
            let utc = [day + tod_ms, day + DAY_MS + tod_ms]
                .into_iter()
                .find(|t| (range.from_ms..range.to_ms).contains(t))
                .ok_or_else(|| bad(format!("that time of day is not inside the range {}", describe_utc(range))))?;
            let mut before_ms = 0i64;
            let mut found = None;
            for part in &selection.parts {
                let Some(record) = &part.record else { continue };
                let (Some(start), Some(end)) = (record.start_ms(), record.end_ms()) else { continue };
                let (a, b) = (start.max(range.from_ms), end.min(range.to_ms));
                if (a..b).contains(&utc) {
                    found = Some(before_ms + utc - a);
                    break;
                }
                before_ms += (b - a).max(0);
            }
            let ms = found.ok_or_else(|| bad(format!("nothing was recorded at {}", format_rfc3339_ms(utc))))?;
            ms as u64 * 1_000_000
        }
    };
    Ok(Keep::At { x, y, time_ns: out_ns })
}

fn describe_utc(range: &UtcRange) -> String {
    format!("{} to {}", format_rfc3339_ms(range.from_ms), format_rfc3339_ms(range.to_ms))
}

/// `--from`/`--to` in words.
fn describe_range(sources: &Sources) -> String {
    match sources {
        Sources::Recordings { range, .. } => {
            format!("{} to {} (UTC)", format_rfc3339_ms(range.from_ms), format_rfc3339_ms(range.to_ms))
        }
        Sources::Files { from_ns, to_ns, .. } => format!(
            "{} to {} of the input(s)",
            from_ns.map_or("the start".into(), |n| format!("{:.3} s", n as f64 / 1e9)),
            to_ns.map_or("the end".into(), |n| format!("{:.3} s", n as f64 / 1e9))
        ),
    }
}

/// An `f32` setting as the decimal the user typed (0.2, not 0.20000000298023224).
fn decimal(x: f32) -> f64 {
    x.to_string().parse().unwrap_or(x as f64)
}

/// The effective settings, as the manifest records them.
fn settings_json(s: &RedactSettings) -> serde_json::Value {
    serde_json::json!({
        "fill": s.fill,
        "shape": s.shape,
        "mask_scale": decimal(s.mask_scale),
        "face_threshold": decimal(s.face.threshold),
        "detect_width": match s.face.detect_width {
            DetectWidth::Auto => serde_json::json!("auto"),
            DetectWidth::Pixels(n) => serde_json::json!(n),
        },
        "detect_every": format!("{:?}", s.detect_every),
        "small_faces": s.small_faces,
        "lookahead_seconds": s.lookahead_seconds,
        "hold_seconds": s.hold_seconds,
        "person_threshold": decimal(s.person_threshold),
        "person_every": format!("{:?}", s.person_every),
        "x264_preset": s.encoder.preset,
        "x264_crf": s.encoder.crf,
        "x264_threads": s.encoder.threads,
        "workers": s.workers,
        "ort_threads": s.ort_threads,
    })
}

fn policy_fact(s: &RedactSettings, options: &RedactOptions, keep: String) -> PolicyFact {
    let camera_config = options.config.as_ref().map(|p| match &s.camera {
        Some(c) => format!("{} (camera '{}')", p.display(), c.name),
        None => p.display().to_string(),
    });
    let zones = s.camera.iter().flat_map(|c| c.zones.iter()).map(|z| ZoneFact {
        name: z.name.clone(),
        kind: match z.kind {
            ZoneKind::Street => "street (always obscured)".into(),
            ZoneKind::Property => "property".into(),
        },
        coordinates: z.polygon.clone(),
    });
    PolicyFact {
        camera_config,
        faces: s.camera.as_ref().map_or("all", |c| c.policy.faces.as_str()).into(),
        bystanders: s.camera.as_ref().map_or("none".into(), |c| format!("{:?}", c.policy.bystanders).to_lowercase()),
        zones: zones.collect(),
        keep,
    }
}

/// Who was kept visible, in words.
fn describe_keep(asked: Keep, resolved: Keep) -> String {
    match (asked, resolved) {
        (Keep::Nobody, _) => "nobody".into(),
        (Keep::At { x, y, time_ns }, Keep::Track(id)) => {
            format!("person track {id} (the person at {x},{y} at {:.3} s of the source time, --keep-at)", time_ns as f64 / 1e9)
        }
        (_, Keep::Track(id)) => format!("person track {id} (--keep-track), face and body, for its lifetime"),
        (asked, _) => format!("{asked:?}"),
    }
}

fn model_facts(s: &RedactSettings, persons: bool) -> Result<Vec<ModelFact>> {
    let mut models = vec![("faces (CenterFace)", &s.model)];
    if persons {
        models.push(("persons (NanoDet)", &s.person_model));
    }
    models
        .into_iter()
        .map(|(role, path)| {
            let (sha256, _) = segments::hash_file(path)?;
            Ok(ModelFact { role, file: path.file_name().map_or(String::new(), |n| n.to_string_lossy().into_owned()), sha256 })
        })
        .collect()
}

/// Runs one export. `quiet` hides the progress bar.
pub fn export(request: &Request, quiet: bool) -> Result<Outcome> {
    let started = Instant::now();
    check_request(request)?;
    let key = SigningKey::load(&request.key_dir)?;
    // Made on first use, before any work: an export without Content Credentials is not made.
    let credential = Credential::load_or_create(&request.key_dir)?;
    // Opened before any work: an export that cannot be logged is not made.
    let mut log = AuditLog::open(&audit::default_path())?.with_key(SigningKey::load(&request.key_dir)?);
    let names = names(&request.case, &request.sources, camera_label(request).as_deref());
    // Settings (models, config, ranges of every option) are checked before the sources are read.
    let mut settings = redact_settings(&first_source(&request.sources), &parent_dir(&request.bundle).join(&names.working_copy), &request.options)?;
    let selection = select(&request.sources)?;
    settings.input = selection.parts[0].path.clone();
    settings.keep = keep_in_output(request.keep, &selection)?;
    let staging = staging(&request.bundle)?;
    let segments_used: Vec<PathBuf> = match &selection.origin {
        Origin::Recordings { .. } => selection.parts.iter().map(|p| p.path.clone()).collect(),
        Origin::Files { .. } => Vec::new(),
    };
    let holds = Placed::place_all(&segments_used, &request.case)?;
    // No case id or time of export here: the sidecar is the same on a re-run (repeatability).
    let label = format!("export of {}", describe_range(&request.sources));
    let produced = redact(&selection, &settings, staging.path(), &names, label, quiet)?;
    let c2pa = embed_credentials(&selection, &settings, &produced, staging.path(), &names, &credential)?;
    let facts = facts(request, &selection, &settings, &produced, &names, holds.segments(), c2pa)?;
    let report_path = staging.path().join(&names.report);
    let report_out = AtomicOutput::prepare(&report_path, false)?;
    std::fs::write(report_out.temp_path(), report::render(&facts)).map_err(|e| Error::io(&report_path, e))?;
    report_out.commit()?;
    let record = seal(request, &staging, &names, &facts, &key)?;
    let logged = log.append("export", audit_details(request, &facts)).and_then(|_| log.close());
    if let Err(e) = logged {
        // Not logged: the export is taken back whole (bundle, case record, holds).
        let _ = std::fs::remove_file(&request.bundle);
        let _ = std::fs::remove_file(&record);
        return Err(e);
    }
    holds.keep();
    tracing::info!(bundle = %request.bundle.display(), elapsed = ?started.elapsed(), "export done");
    Ok(Outcome {
        bundle: request.bundle.clone(),
        working_copy: names.working_copy,
        frames: produced.frames,
        duration_seconds: produced.duration_ns as f64 / 1e9,
        gaps: selection.gaps,
        held: segments_used,
    })
}

/// The camera the working copy is named after: the recorded camera, or `--camera` with files.
fn camera_label(request: &Request) -> Option<String> {
    match &request.sources {
        Sources::Recordings { camera, .. } => Some(camera.clone()),
        Sources::Files { .. } => request.options.camera.clone(),
    }
}

/// The first source as far as it is known before selection (for the settings' checks).
fn first_source(sources: &Sources) -> PathBuf {
    match sources {
        Sources::Files { inputs, .. } => inputs.first().cloned().unwrap_or_default(),
        Sources::Recordings { .. } => PathBuf::from("segment.mp4"),
    }
}

/// Everything the manifest and the report state about one export.
fn facts(
    request: &Request,
    selection: &Selection,
    settings: &RedactSettings,
    produced: &Produced,
    names: &Names,
    held: &[PathBuf],
    c2pa: CredentialFact,
) -> Result<Facts> {
    let policy = Policy::new(settings.camera.clone(), settings.mask_scale, settings.shape, settings.fill).keeping(produced.keep);
    let source_fact = |p: &select::Part| SourceFact {
        name: p.name.clone(),
        sha256: p.sha256.clone(),
        bytes: p.bytes,
        hash_checked_against: if p.record.is_some() { "the recording index (matched)" } else { "hashed on receipt (no index)" },
        start: p.record.as_ref().map(|r| r.start.clone()),
        end: p.record.as_ref().map(|r| r.end.clone()),
        frames_indexed: p.record.as_ref().map(|r| r.frames),
        recovered: p.record.as_ref().is_some_and(|r| r.recovered),
        used: produced.uses.iter().find(|u| u.name == p.name).cloned().unwrap_or_else(|| PartUse { name: p.name.clone(), ..PartUse::default() }),
    };
    Ok(Facts {
        case: request.case.clone(),
        basis: request.basis.clone(),
        requester: request.requester.clone(),
        operator: request.operator.clone(),
        exported_at: format_rfc3339_ms(segments::now_ms()),
        veilcam_version: env!("CARGO_PKG_VERSION").to_string(),
        origin: selection.origin.clone(),
        range: describe_range(&request.sources),
        gaps: selection.gaps.clone(),
        clock_notes: selection.clock_notes.clone(),
        sources: selection.parts.iter().map(source_fact).collect(),
        models: model_facts(settings, policy.needs_persons())?,
        settings: settings_json(settings),
        policy: policy_fact(settings, &request.options, describe_keep(request.keep, produced.keep)),
        produced: ProducedFact {
            working_copy: names.working_copy.clone(),
            sidecar: names.sidecar.clone(),
            report: names.report.clone(),
            frames: produced.frames,
            duration_seconds: produced.duration_ns as f64 / 1e9,
            width: produced.width,
            height: produced.height,
            fps: produced.fps.clone(),
            face_detections: produced.faces,
            person_detections: produced.persons,
        },
        holds: held.iter().map(|p| p.display().to_string()).collect(),
        repeatability: report::REPEATABILITY.iter().map(|s| s.to_string()).collect(),
        provenance: report::provenance(&c2pa),
        content_credentials: c2pa,
    })
}

/// What the working copy shows of whom, for the `c2pa.edited` action.
fn edit_description(settings: &RedactSettings, keep: Keep) -> String {
    let fill = format!("{:?}", settings.fill).to_lowercase();
    let kept = match keep {
        Keep::Track(id) => format!("; person track {id} (the subject) left visible"),
        _ => String::new(),
    };
    format!("faces, bystanders and street zones obscured by veilcam (irreversible {fill} fill){kept}")
}

/// Embeds the C2PA manifest in the staged working copy (before the bundle hashes it).
fn embed_credentials(
    selection: &Selection,
    settings: &RedactSettings,
    produced: &Produced,
    dir: &Path,
    names: &Names,
    credential: &Credential,
) -> Result<CredentialFact> {
    crate::interrupt::check()?;
    // Base names only: the published video must not carry the operator's directory layout.
    let base = |p: &select::Part| p.path.file_name().map_or(p.name.clone(), |n| n.to_string_lossy().into_owned());
    let sources: Vec<Ingredient> = selection.parts.iter().map(|p| Ingredient { name: base(p), sha256: p.sha256.clone() }).collect();
    credentials::embed(&dir.join(&names.working_copy), &sources, &edit_description(settings, produced.keep), credential)
}

/// Seals the staged files into the signed bundle and records the case as exported (the record
/// is claimed first, so two exports of one case cannot both finish, and taken back if sealing
/// fails).
fn seal(request: &Request, staging: &HeldDir, names: &Names, facts: &Facts, key: &SigningKey) -> Result<PathBuf> {
    crate::interrupt::check()?;
    let files: Vec<BundleFile> = [&names.working_copy, &names.sidecar, &names.report]
        .into_iter()
        .map(|name| BundleFile { name: name.clone(), path: staging.path().join(name) })
        .collect();
    let manifest = serde_json::to_value(facts).expect("facts serialise");
    // The record is made and listed (and later unlisted and, on failure, removed) under the
    // list's lock, so a process ended at once between the two leaves no record behind.
    let record = {
        let mut records = crate::interrupt::lock_list(&RECORDS);
        let record = record_case(request)?;
        records.push(record.clone());
        record
    };
    let sealed = bundle::seal(&request.bundle, &files, manifest, key);
    let mut records = crate::interrupt::lock_list(&RECORDS);
    if sealed.is_err() {
        let _ = std::fs::remove_file(&record);
    }
    records.retain(|r| r != &record);
    sealed.map(|_| record)
}

/// What the audit log records of an export: the case, its sources with their hashes, the
/// range, the gaps, the holds and the bundle.
fn audit_details(request: &Request, facts: &Facts) -> serde_json::Value {
    let bundle = std::path::absolute(&request.bundle).unwrap_or_else(|_| request.bundle.clone());
    serde_json::json!({
        "case": facts.case,
        "basis": facts.basis,
        "requester": facts.requester,
        "operator": facts.operator,
        "range": facts.range,
        "sources": facts.sources.iter().map(|s| serde_json::json!({ "name": s.name, "sha256": s.sha256 })).collect::<Vec<_>>(),
        "gaps": facts.gaps,
        "holds": facts.holds,
        "keep": facts.policy.keep,
        "bundle": bundle,
        "working_copy": facts.produced.working_copy,
        "frames": facts.produced.frames,
    })
}

/// Records that the case was exported, refusing when another export of it got there first.
/// Returns the record's path.
fn record_case(request: &Request) -> Result<PathBuf> {
    let record = case_record(&keys::data_dir(), &request.case);
    let dir = record.parent().expect("the record lies in a directory");
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let bundle = std::path::absolute(&request.bundle).unwrap_or_else(|_| request.bundle.clone());
    let entry = serde_json::json!({
        "case": request.case,
        "bundle": bundle,
        "exported_at": format_rfc3339_ms(segments::now_ms()),
        "operator": request.operator,
    });
    let mut file = match std::fs::OpenOptions::new().write(true).create_new(true).open(&record) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(ExportError::CaseExported { case: request.case.clone(), record }.into())
        }
        Err(e) => return Err(Error::io(&record, e)),
    };
    std::io::Write::write_all(&mut file, format!("{entry}\n").as_bytes()).map_err(|e| Error::io(&record, e))?;
    Ok(record)
}

/// The recordings root: `explicit`, else `[live] recordings` of `config` (relative to the
/// config file's directory).
pub fn recordings_root(explicit: Option<&Path>, config: Option<&Path>) -> Result<PathBuf> {
    if let Some(dir) = explicit {
        return Ok(dir.to_path_buf());
    }
    let Some(config) = config else { return Err(ExportError::NoRecordingsDir.into()) };
    let text = crate::config::read_text(config)?;
    let parsed: crate::config::Config = crate::config::parse_toml(&text, config)?;
    let dir = parsed.live.and_then(|l| l.recordings).ok_or(ExportError::NoRecordingsDir)?;
    Ok(if dir.is_absolute() { dir } else { parent_dir(config).join(dir) })
}

impl Request {
    /// Validates the command line of `veilcam export`.
    pub fn from_args(a: &crate::cli::ExportArgs) -> Result<Request> {
        let o = &a.options;
        let unused = [
            (o.sidecar.is_some(), "--sidecar (the bundle always holds the sidecar)"),
            (o.preview.is_some(), "--preview"),
            (o.stats.is_some(), "--stats"),
            (o.overwrite, "--overwrite (an export never overwrites)"),
            (o.salvage, "--salvage (an export takes only sources that decode cleanly)"),
            (o.keep_audio, "--keep-audio (an export carries no audio)"),
        ];
        if let Some((_, flag)) = unused.iter().find(|(given, _)| *given) {
            return Err(Error::Settings(format!("export does not take {flag}")));
        }
        for (flag, text) in [("--basis", Some(&a.basis)), ("--requester", Some(&a.requester)), ("--operator", a.operator.as_ref())] {
            if let Some(text) = text.filter(|t| t.chars().any(char::is_control)) {
                // Found by hostile use: a newline in --basis wrote a forged line into the
                // signed report.txt. The report escapes such characters too.
                return Err(Error::Settings(format!(
                    "{flag} '{}' holds a line break or another control character; give it as one line of text",
                    crate::one_line(text)
                )));
            }
        }
        let sources = if a.inputs.is_empty() {
            let camera = o.camera.clone().ok_or_else(|| Error::Settings("export needs --camera NAME (or --input FILE)".into()))?;
            let (Some(from), Some(to)) = (&a.from, &a.to) else {
                return Err(Error::Settings("export from recordings needs --from and --to (UTC, e.g. 2026-11-20T14:00:00Z)".into()));
            };
            let range = UtcRange::parse(from, to)?;
            let root = recordings_root(a.recordings.as_deref(), o.config.as_deref())?;
            select::check_camera_name(&root, &camera)?;
            Sources::Recordings { root, camera, range }
        } else {
            let from_ns = a.from.as_deref().map(|t| select::parse_offset("--from", t)).transpose()?;
            let to_ns = a.to.as_deref().map(|t| select::parse_offset("--to", t)).transpose()?;
            select::check_distinct_inputs(&a.inputs)?;
            Sources::Files { inputs: a.inputs.clone(), from_ns, to_ns }
        };
        let mut options = o.clone();
        if matches!(sources, Sources::Recordings { .. }) && options.config.is_none() {
            // --camera names the recorded camera; without a config there is no policy to load.
            options.camera = None;
        }
        let operator = a.operator.clone().or_else(|| std::env::var("USER").ok()).unwrap_or_else(|| "unknown".into());
        Ok(Request {
            keep: a.keep.keep(),
            case: a.case.clone(),
            basis: a.basis.clone(),
            requester: a.requester.clone(),
            operator,
            sources,
            bundle: a.output.clone(),
            key_dir: a.key_dir.clone().unwrap_or_else(keys::default_dir),
            options,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::select::Part;
    use crate::live::segments::SegmentRecord;

    const T0: i64 = 1_795_183_200_000; // 2026-11-20T14:00:00Z

    #[test]
    fn the_recordings_root_comes_only_from_a_config_that_is_a_small_regular_file() {
        // Found by review: `--config /dev/zero` was read to its (no) end, a FIFO waited on.
        let dir = tempfile::tempdir().unwrap();
        let err = recordings_root(None, Some(dir.path())).unwrap_err().to_string();
        assert!(err.starts_with("config ") && err.ends_with("is not a regular file (a directory)"), "{err}");
        let big = dir.path().join("big.toml");
        std::fs::File::create(&big).unwrap().set_len(crate::config::MAX_CONFIG + 1).unwrap();
        let err = recordings_root(None, Some(&big)).unwrap_err().to_string();
        assert!(err.ends_with("big.toml: is larger than 16 MiB"), "{err}");
    }

    fn part(start: i64, end: i64) -> Part {
        let record = SegmentRecord {
            file: format!("{start}.mp4"),
            start: format_rfc3339_ms(start),
            end: format_rfc3339_ms(end),
            frames: 1,
            bytes: 1,
            sha256: String::new(),
            recovered: false,
        };
        Part { path: PathBuf::from(&record.file), name: record.file.clone(), sha256: String::new(), bytes: 1, record: Some(record), keep_from_ns: 0, keep_to_ns: 0 }
    }

    fn selection(range: UtcRange, parts: Vec<Part>) -> Selection {
        Selection { origin: Origin::Recordings { root: PathBuf::new(), camera: "c".into(), range }, parts, gaps: Vec::new(), clock_notes: Vec::new() }
    }

    fn at(hms: &str) -> Keep {
        Keep::parse_at(&format!("0.5,0.5@{hms}")).unwrap()
    }

    #[test]
    fn keep_at_a_utc_time_of_day_maps_into_the_working_copy_across_a_gap() {
        // Recorded 14:00:00–14:01:00 and 14:02:00–14:03:00; the range starts at 14:00:30.
        let range = UtcRange { from_ms: T0 + 30_000, to_ms: T0 + 180_000 };
        let s = selection(range, vec![part(T0, T0 + 60_000), part(T0 + 120_000, T0 + 180_000)]);
        let ns = |keep: Keep| match keep {
            Keep::At { time_ns, .. } => time_ns,
            other => panic!("{other:?}"),
        };
        assert_eq!(ns(keep_in_output(at("14:00:40"), &s).unwrap()), 10_000_000_000);
        // 30 s of the first segment, then the gap does not count.
        assert_eq!(ns(keep_in_output(at("14:02:05.5"), &s).unwrap()), 35_500_000_000);
        let gap = keep_in_output(at("14:01:30"), &s).unwrap_err().to_string();
        assert!(gap.contains("nothing was recorded at 2026-11-20T14:01:30.000Z"), "{gap}");
        let outside = keep_in_output(at("13:00:00"), &s).unwrap_err().to_string();
        assert!(outside.contains("not inside the range"), "{outside}");
        assert_eq!(keep_in_output(Keep::Track(7), &s).unwrap(), Keep::Track(7));
    }

    #[test]
    fn keep_at_with_files_counts_from_from() {
        let s = Selection { origin: Origin::Files { from_ns: Some(2_000_000_000), to_ns: Some(5_000_000_000) }, parts: Vec::new(), gaps: Vec::new(), clock_notes: Vec::new() };
        assert_eq!(keep_in_output(at("3"), &s).unwrap(), Keep::At { x: 0.5, y: 0.5, time_ns: 1_000_000_000 });
        assert!(keep_in_output(at("6"), &s).is_err());
    }

    #[test]
    fn an_export_obscures_every_face_and_keeps_a_cameras_head_masks() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("veilcam.toml");
        let input = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample_media/faces.mp4");
        let faces_in_export = |policy: &str| {
            std::fs::write(&config, format!("[cameras.c.policy]\nfaces = \"{policy}\"\nbystanders = \"none\"\n")).unwrap();
            let options = crate::cli::RedactOptions { config: Some(config.clone()), camera: Some("c".into()), ..Default::default() };
            let settings = redact_settings(&input, &dir.path().join("out.mp4"), &options).unwrap();
            settings.camera.unwrap().policy.faces
        };
        assert_eq!(faces_in_export("none"), FacePolicy::All);
        assert_eq!(faces_in_export("outside_property"), FacePolicy::All);
        assert_eq!(faces_in_export("all+heads"), FacePolicy::AllHeads);
    }

    #[test]
    fn the_export_and_hold_command_lines_are_consistent() {
        use clap::{CommandFactory, Parser};
        crate::cli::Cli::command().debug_assert();
        let cli = crate::cli::Cli::try_parse_from([
            "veilcam", "export", "--case", "c", "--basis", "b", "--requester", "r", "--camera", "front_door",
            "--from", "2026-11-20T14:00:00Z", "--to", "2026-11-20T14:20:00Z", "--recordings", "/rec", "-o", "c.zip",
            "--keep-at", "0.41,0.62@14:03:12",
        ])
        .unwrap();
        let crate::cli::Command::Export(args) = cli.command else { panic!("an export command") };
        let request = Request::from_args(&args).unwrap();
        assert!(matches!(&request.sources, Sources::Recordings { camera, range, .. } if camera == "front_door" && range.to_ms - range.from_ms == 1_200_000));
        assert_eq!(request.keep, Keep::At { x: 0.41, y: 0.62, time_ns: (14 * 3600 + 3 * 60 + 12) * 1_000_000_000 });
        assert!(crate::cli::Cli::try_parse_from(["veilcam", "export", "--case", "c", "--basis", "b", "--requester", "r", "--input", "a.mp4", "--recordings", "/rec", "-o", "c.zip"]).is_err());
        let sidecar = crate::cli::Cli::try_parse_from(["veilcam", "export", "--case", "c", "--basis", "b", "--requester", "r", "--input", "a.mp4", "--sidecar", "s.json", "-o", "c.zip"]).unwrap();
        let crate::cli::Command::Export(args) = sidecar.command else { panic!("an export command") };
        assert!(Request::from_args(&args).unwrap_err().to_string().contains("--sidecar"));
    }

    #[test]
    fn working_copies_are_named_by_case_camera_and_range() {
        let sources = Sources::Recordings {
            root: PathBuf::new(),
            camera: "front_door".into(),
            range: UtcRange { from_ms: T0, to_ms: T0 + 1_200_500 },
        };
        let n = names("2026-117", &sources, None);
        assert_eq!(n.working_copy, "2026-117_front_door_20261120T140000Z_20261120T142000.500Z.mp4");
        assert_eq!(n.sidecar, "2026-117_front_door_20261120T140000Z_20261120T142000.500Z.sidecar.json");
        let files = Sources::Files { inputs: vec![PathBuf::from("/x/door cam.mkv")], from_ns: None, to_ns: Some(90_500_000_000) };
        assert_eq!(names("c", &files, None).working_copy, "c_door-cam_0s_90.5s.mp4");
    }
}
