//! `veilcam batch`: redact an archive, directory by directory.
//!
//! Every video and image under the input directory is redacted to the same relative path under
//! the output directory (videos become `.mp4`; videos that would land on the same `.mp4` keep
//! their source extension: `cam.avi` → `cam.avi.mp4`). Outputs appear only when complete
//! (atomic rename), and a completion manifest in the output directory ([`manifest`]) records
//! each finished job, so a re-run skips exactly what veilcam batch finished and never takes
//! another file at an output path for done. An error on one file is reported and the others go
//! on; the run then exits with code 2 and lists what failed.
//!
//! The walk follows symlinks but visits each directory once (by device and inode), never
//! enters the output directories or an earlier batch's output directory inside the input tree
//! (one holding a manifest), and reports anything that is not a regular file (a FIFO, a
//! device) as a failed file instead of opening it. An output directory equal to the input
//! directory, or one containing it, is refused before anything is written, and so is one inside
//! the input tree that already holds footage batch did not write.
//!
//! In batch, `--sidecar`, `--preview` and `--stats` name directories: each video gets its own
//! side outputs there, at its output's relative path (`<out>.json`, `<out stem>.preview.mp4`,
//! `<out>.stats.json`).

pub mod manifest;

use std::collections::{BTreeMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::RedactOptions;
use crate::error::{Error, Result};
use crate::pipeline;
use crate::settings::{media_kind, MediaKind, RedactSettings};
use crate::still;
use manifest::{Identity, Manifest, Name, Record, State};

/// Extensions taken as video inputs (images are those of [`media_kind`]): containers, and the
/// raw streams DVRs export. A file named so that GStreamer cannot decode fails, reported; one
/// not named so is left alone with a note only (found by hostile use: `batch -q` over `.3gp` and
/// `.m2ts` clips exited 0 without redacting them or a word).
const VIDEO_EXTENSIONS: [&str; 27] = [
    "mp4", "m4v", "mov", "mkv", "avi", "webm", "ts", "mts", "m2ts", "m2t", "mpg", "mpeg", "vob", "3gp", "3g2", "flv", "wmv", "asf",
    "ogv", "mxf", "dv", "h264", "264", "h265", "265", "hevc", "mjpeg",
];

/// Extension of every video output.
const VIDEO_OUTPUT_EXTENSION: &str = "mp4";

/// Where a batch reads and writes: the input tree as given, and the output directories resolved
/// to canonical absolute paths (they exist once the layout is built).
#[derive(Clone, Debug)]
pub struct BatchDirs {
    pub input_dir: PathBuf,
    input_canonical: PathBuf,
    pub output_dir: PathBuf,
    pub sidecar_dir: Option<PathBuf>,
    pub preview_dir: Option<PathBuf>,
    pub stats_dir: Option<PathBuf>,
}

/// One file to redact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Job {
    /// The input as found under the input directory.
    pub input: PathBuf,
    /// Its path relative to the input directory.
    pub rel: PathBuf,
    /// The redacted file.
    pub output: PathBuf,
    /// The side outputs asked for (each `None` when not asked for, or not made for this kind).
    pub side: SideOutputs,
}

/// Per-file side outputs of a job.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SideOutputs {
    pub sidecar: Option<PathBuf>,
    pub preview: Option<PathBuf>,
    pub stats: Option<PathBuf>,
}

impl Job {
    /// Every file the job writes: the output first, then its side outputs.
    pub fn outputs(&self) -> Vec<&Path> {
        std::iter::once(self.output.as_path())
            .chain([&self.side.sidecar, &self.side.preview, &self.side.stats].into_iter().flatten().map(PathBuf::as_path))
            .collect()
    }

    /// The key of the job in the manifest.
    fn key(&self) -> Name {
        Name::new(&self.rel)
    }
}

/// What a batch will do, decided before any file is written.
#[derive(Debug, Default)]
pub struct Plan {
    pub jobs: Vec<Job>,
    /// Files found that cannot be redacted (not a regular file, an unreadable directory, an
    /// output two inputs would share), with the cause.
    pub failed: Vec<(PathBuf, String)>,
    /// What the user should know: renamed outputs, directories not walked.
    pub notes: Vec<String>,
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

impl BatchDirs {
    /// Checks that no output directory is, or contains, the input directory, then creates the
    /// output directories. In batch, `options.sidecar`, `.preview` and `.stats` are directories.
    pub fn new(input_dir: &Path, output_dir: &Path, options: &RedactOptions) -> Result<Self> {
        if !input_dir.is_dir() {
            // Found by hostile use: a directory that does not exist was "not a directory".
            let why = if input_dir.exists() { "is not a directory" } else { "does not exist" };
            return Err(Error::io(input_dir, std::io::Error::new(std::io::ErrorKind::NotFound, why)));
        }
        let input_canonical = input_dir.canonicalize().map_err(|e| Error::io(input_dir, e))?;
        let output_resolved = resolve(output_dir).map_err(|e| Error::io(output_dir, e))?;
        let roots = [("-o/--output", Some(output_dir)), ("--sidecar", options.sidecar.as_deref()), ("--preview", options.preview.as_deref()), ("--stats", options.stats.as_deref())];
        // Every root is checked before any is created: a refusal leaves nothing behind.
        let mut checked = Vec::new();
        for (flag, dir) in roots {
            checked.push(dir.map(|d| check_root(flag, d, &input_canonical, &output_resolved)).transpose()?);
        }
        let mut resolved = Vec::new();
        for ((_, dir), checked) in roots.iter().zip(checked) {
            resolved.push(dir.zip(checked).map(|(d, c)| create_root(d, &c)).transpose()?);
        }
        let mut resolved = resolved.into_iter();
        let output_dir = resolved.next().flatten().expect("the output directory is always given");
        Ok(BatchDirs {
            input_dir: input_dir.to_path_buf(),
            input_canonical,
            output_dir,
            sidecar_dir: resolved.next().flatten(),
            preview_dir: resolved.next().flatten(),
            stats_dir: resolved.next().flatten(),
        })
    }

    /// Directories the walk never enters: everything veilcam writes.
    fn output_roots(&self) -> Vec<&Path> {
        std::iter::once(&self.output_dir).chain([&self.sidecar_dir, &self.preview_dir, &self.stats_dir].into_iter().flatten()).map(PathBuf::as_path).collect()
    }

    /// Refuses an output that a symbolic link under an output directory leads into the input
    /// tree, outside every output directory (found by hostile use: with `out/x` a link to the
    /// input directory, `--overwrite` replaced the input `in/a.mp4` with the redaction of
    /// `in/x/a.mp4`, and without it a new output landed among the inputs).
    fn check_outside_input(&self, output: &Path) -> Result<()> {
        let resolved = resolve(output).map_err(|e| Error::io(output, e))?;
        if !resolved.starts_with(&self.input_canonical) || self.output_roots().iter().any(|root| resolved.starts_with(root)) {
            return Ok(());
        }
        let why = format!(
            "a symbolic link leads it into the input directory {} (to {}); refusing to write among the inputs",
            self.input_dir.display(),
            resolved.display()
        );
        Err(Error::io(output, std::io::Error::other(why)))
    }

    /// The manifest's name for an output: relative to the output directory when inside it.
    fn key(&self, output: &Path) -> Name {
        Name::new(output.strip_prefix(&self.output_dir).unwrap_or(output))
    }

    /// The side outputs of an input whose output is `out_rel` (relative to the output dir).
    fn side_outputs(&self, out_rel: &Path, kind: MediaKind) -> SideOutputs {
        let suffixed = |dir: &Path, suffix: &str| {
            let mut name = out_rel.file_name().unwrap_or_default().to_os_string();
            name.push(suffix);
            dir.join(out_rel.with_file_name(name))
        };
        let video = kind == MediaKind::Video;
        SideOutputs {
            // `redact` writes no sidecar for an image (yet): asking for one would record an output
            // that never appears.
            sidecar: self.sidecar_dir.as_deref().filter(|_| video).map(|d| suffixed(d, ".json")),
            preview: self.preview_dir.as_deref().filter(|_| video).map(|d| d.join(out_rel.with_extension(format!("preview.{VIDEO_OUTPUT_EXTENSION}")))),
            stats: self.stats_dir.as_deref().filter(|_| video).map(|d| suffixed(d, ".stats.json")),
        }
    }
}

/// Refuses an output directory (`flag`) that is the input directory or contains it, that holds
/// footage among the inputs ([`refuse_footage_among_outputs`]), that is not a directory, or that
/// does not exist yet and is named like a video, image or JSON file; returns its resolved path.
fn check_root(flag: &str, dir: &Path, input: &Path, output: &Path) -> Result<PathBuf> {
    let resolved = resolve(dir).map_err(|e| Error::io(dir, e))?;
    if resolved == input {
        return Err(Error::Settings(format!("{flag} {} is the input directory: outputs must go to another directory", dir.display())));
    }
    if input.starts_with(&resolved) {
        return Err(Error::Settings(format!(
            "{flag} {} contains the input directory {}: outputs could land among the inputs; use a directory outside it",
            dir.display(),
            input.display()
        )));
    }
    refuse_footage_among_outputs(flag, &resolved, input, output)?;
    if !resolved.exists() && (has_media_extension(dir) || dir.extension().is_some_and(|e| e.eq_ignore_ascii_case("json"))) {
        // Found by hostile use: `--sidecar out/a.mp4`, as `redact` takes it, made a directory
        // `out/a.mp4`, where the output `a.mp4` then could not go.
        return Err(Error::Settings(format!(
            "{flag} {} names a file, but in batch it names a directory (each video's file goes there); give a directory",
            dir.display()
        )));
    }
    if resolved.exists() && !resolved.is_dir() {
        return Err(Error::Settings(format!("{flag} {} is not a directory (in batch it names a directory)", dir.display())));
    }
    Ok(resolved)
}

/// Creates the checked output directory `resolved` (given as `dir`); returns its canonical path.
fn create_root(dir: &Path, resolved: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(resolved).map_err(|e| Error::io(dir, e))?;
    resolved.canonicalize().map_err(|e| Error::io(dir, e))
}

/// Refuses an output directory (`flag`, resolved `dir`) inside the input tree that already
/// holds footage veilcam batch did not write there: the walk skips output directories, so that
/// footage would never be redacted, and `--overwrite` would replace it (found by hostile use:
/// `batch in -o in/sub --overwrite` replaced the user's `in/sub/a.mp4`). An earlier batch's
/// output directory (one holding its completion record, or inside one) is its own, and so are
/// the review videos of `--preview`.
fn refuse_footage_among_outputs(flag: &str, dir: &Path, input: &Path, output: &Path) -> Result<()> {
    if !dir.starts_with(input) || (dir.starts_with(output) && holds_batch_record(output)) {
        return Ok(());
    }
    let previews = format!(".preview.{VIDEO_OUTPUT_EXTENSION}");
    let footage = walkdir_media(dir).into_iter().find(|p| !(flag == "--preview" && p.to_string_lossy().ends_with(&previews)));
    match footage {
        None => Ok(()),
        Some(found) => Err(Error::Settings(format!(
            "{flag} {} lies inside the input directory and already holds footage veilcam batch did not write ({}): it would be neither redacted nor safe from --overwrite; use a new or empty directory, or one outside the input",
            dir.display(),
            found.display()
        ))),
    }
}

/// The media files under `dir`, without following links, up to the first few.
fn walkdir_media(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&next) else { continue };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else { continue };
            if kind.is_dir() {
                pending.push(entry.path());
            } else if is_media(&entry.path()) {
                found.push(entry.path());
                if found.len() >= 8 {
                    return found;
                }
            }
        }
    }
    found
}

/// The canonical absolute form of `path`, which need not exist yet: its deepest existing
/// ancestor is canonicalized and the rest appended (`.` and `..` resolved lexically).
fn resolve(path: &Path) -> std::io::Result<PathBuf> {
    let absolute = std::path::absolute(path)?;
    let components: Vec<Component> = absolute.components().collect();
    for split in (1..=components.len()).rev() {
        let head: PathBuf = components[..split].iter().collect();
        if let Ok(mut resolved) = head.canonicalize() {
            for c in &components[split..] {
                match c {
                    Component::ParentDir => {
                        resolved.pop();
                    }
                    Component::Normal(name) => resolved.push(name),
                    _ => {}
                }
            }
            return Ok(resolved);
        }
    }
    Ok(absolute)
}

/// The jobs for every redactable file under the input directory, in path order.
pub fn plan(layout: &BatchDirs) -> Plan {
    let mut walker = Walker {
        layout,
        skip: layout.output_roots(),
        visited: HashSet::new(),
        found: Vec::new(),
        unhandled: Vec::new(),
        hidden_media: Vec::new(),
        plan: Plan::default(),
    };
    walker.walk(&layout.input_dir, Path::new(""));
    let Walker { mut found, mut plan, unhandled, hidden_media, .. } = walker;
    plan.notes.extend(left_alone_notes("file", "batch", &unhandled, &hidden_media));
    found.sort();
    let (jobs, renamed) = assign_outputs(layout, found);
    plan.notes.extend(renamed);
    let (jobs, collided) = drop_collisions(jobs);
    plan.jobs = jobs;
    plan.failed.extend(collided);
    plan.failed.sort();
    plan
}

/// Depth-first walk of the input tree, following symlinks, each directory once.
struct Walker<'a> {
    layout: &'a BatchDirs,
    skip: Vec<&'a Path>,
    visited: HashSet<(u64, u64)>,
    /// Redactable files, relative to the input directory.
    found: Vec<PathBuf>,
    /// Other files (not hidden) left alone, relative to the input directory.
    unhandled: Vec<PathBuf>,
    /// Hidden files with a media extension left alone (a name starting with `.`: partial
    /// downloads and sync copies, macOS's `._` files), relative to the input directory.
    hidden_media: Vec<PathBuf>,
    plan: Plan,
}

/// Files shown by name in the note on files left alone.
const UNHANDLED_SHOWN: usize = 5;

/// The notes on inputs left alone, naming the first few of each kind: `unhandled` ones that are
/// not a video or image (found by hostile use: a `.webp`, `.bmp` or `.gif` in the tree was
/// skipped without a word) and `hidden` ones with a media extension (found by hostile use:
/// `.hidden.mp4` was skipped without a word). `things` names them ("file", "object") and `by`
/// the command that chose ("batch", "submit"): `veilcam submit` chooses objects as batch
/// chooses files, and says so the same way.
pub(crate) fn left_alone_notes(things: &str, by: &str, unhandled: &[PathBuf], hidden: &[PathBuf]) -> Vec<String> {
    let mut notes = Vec::new();
    if !unhandled.is_empty() {
        notes.push(format!(
            "not redacted: {} {things}(s) that are not a video or image {by} handles (videos: {}; images: JPEG, PNG): {}",
            unhandled.len(),
            VIDEO_EXTENSIONS.join(", "),
            first_few(unhandled)
        ));
    }
    if !hidden.is_empty() {
        notes.push(format!("not redacted: {} hidden {things}(s) (a name starting with '.'): {}", hidden.len(), first_few(hidden)));
    }
    notes
}

/// The first [`UNHANDLED_SHOWN`] of `paths`, and how many more.
fn first_few(paths: &[PathBuf]) -> String {
    let more = paths.len().saturating_sub(UNHANDLED_SHOWN);
    let mut shown: Vec<String> = paths.iter().take(UNHANDLED_SHOWN).map(|p| crate::one_line_path(p)).collect();
    if more > 0 {
        shown.push(format!("and {more} more"));
    }
    shown.join(", ")
}

impl Walker<'_> {
    fn walk(&mut self, dir: &Path, rel: &Path) {
        let (meta, canonical) = match std::fs::metadata(dir).and_then(|m| Ok((m, dir.canonicalize()?))) {
            Ok(found) => found,
            Err(e) => return self.plan.failed.push((dir.to_path_buf(), e.to_string())),
        };
        if self.skip.iter().any(|root| canonical.starts_with(root)) {
            if canonical.starts_with(&self.layout.input_canonical) {
                self.plan.notes.push(format!("not searched: {} (an output directory)", crate::one_line_path(dir)));
            }
            return;
        }
        if !self.visited.insert((meta.dev(), meta.ino())) {
            self.plan.notes.push(format!("not searched: {} (already visited: a symlink loop or a second link)", crate::one_line_path(dir)));
            return;
        }
        // Found by hostile use: a batch into another directory redacted again the outputs of an
        // earlier batch kept inside the input tree. Given as the input itself, it is searched.
        if rel != Path::new("") && holds_batch_record(dir) {
            self.plan.notes.push(format!(
                "not searched: {} (the output directory of an earlier veilcam batch; give it as the input directory to redact it again)",
                crate::one_line_path(dir)
            ));
            return;
        }
        let entries = match std::fs::read_dir(dir).and_then(|d| d.collect::<std::io::Result<Vec<_>>>()) {
            Ok(entries) => entries,
            Err(e) => return self.plan.failed.push((dir.to_path_buf(), format!("cannot read directory: {e}"))),
        };
        let mut names: Vec<_> = entries.into_iter().map(|e| e.file_name()).collect();
        names.sort();
        for name in names {
            self.visit(&dir.join(&name), &rel.join(&name));
        }
    }

    fn visit(&mut self, path: &Path, rel: &Path) {
        let meta = match std::fs::metadata(path) {
            Ok(meta) => meta,
            Err(e) => {
                if is_media(path) {
                    let why = if path.is_symlink() { format!("broken symlink: {e}") } else { e.to_string() };
                    self.plan.failed.push((path.to_path_buf(), why));
                }
                return;
            }
        };
        if meta.is_dir() {
            return self.walk(path, rel);
        }
        if !is_media(path) {
            if meta.is_file() {
                let list = if !is_hidden(path) { &mut self.unhandled } else if has_media_extension(path) { &mut self.hidden_media } else { return };
                list.push(rel.to_path_buf());
            }
            return;
        }
        if !meta.is_file() {
            return self.plan.failed.push((path.to_path_buf(), format!("not a regular file: {}", crate::input::type_name(&meta.file_type()))));
        }
        // A symlink into an output directory is an output, not an input.
        let into_output = path.canonicalize().is_ok_and(|c| self.skip.iter().any(|root| c.starts_with(root)));
        if !into_output {
            self.found.push(rel.to_path_buf());
        }
    }
}

/// Whether `dir` holds the completion manifest of a batch (a regular file, not a link to one).
fn holds_batch_record(dir: &Path) -> bool {
    dir.join(manifest::MANIFEST_NAME).symlink_metadata().is_ok_and(|m| m.is_file())
}

/// Whether `path` names a file batch (and the work queue) redacts: a media extension, not hidden.
pub fn is_media(path: &Path) -> bool {
    !is_hidden(path) && has_media_extension(path)
}

/// Whether the file name of `path` starts with `.`.
fn is_hidden(path: &Path) -> bool {
    path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.'))
}

/// Whether `path` has the extension of a video or image batch handles.
pub(crate) fn has_media_extension(path: &Path) -> bool {
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).unwrap_or_default();
    media_kind(path) == MediaKind::Image || VIDEO_EXTENSIONS.contains(&ext.as_str())
}

/// The output path (relative) of each input: images keep their path, videos become `.mp4`. Videos
/// that would share an output keep their source extension (`cam.avi` → `cam.avi.mp4`), except
/// one that is already named so (`cam.mp4`). Returns the jobs and a note per renaming.
fn assign_outputs(layout: &BatchDirs, inputs: Vec<PathBuf>) -> (Vec<Job>, Vec<String>) {
    let natural = |rel: &Path| match media_kind(rel) {
        MediaKind::Image => rel.to_path_buf(),
        MediaKind::Video => rel.with_extension(VIDEO_OUTPUT_EXTENSION),
    };
    let mut by_output: BTreeMap<PathBuf, Vec<PathBuf>> = BTreeMap::new();
    for rel in inputs {
        by_output.entry(natural(&rel)).or_default().push(rel);
    }
    let mut jobs = Vec::new();
    let mut notes = Vec::new();
    for (out_rel, rels) in by_output {
        let shared = rels.len() > 1;
        for rel in &rels {
            let out_rel = if shared && *rel != out_rel {
                let mut name = rel.file_name().unwrap_or_default().to_os_string();
                name.push(format!(".{VIDEO_OUTPUT_EXTENSION}"));
                let renamed = rel.with_file_name(name);
                let others: Vec<String> = rels.iter().map(|r| crate::one_line_path(r)).collect();
                let (from, to, shared) = (crate::one_line_path(rel), crate::one_line_path(&renamed), crate::one_line_path(&out_rel));
                notes.push(format!("{from} -> {to} ({} would all be {shared})", others.join(", ")));
                renamed
            } else {
                out_rel.clone()
            };
            jobs.push(Job {
                input: layout.input_dir.join(rel),
                rel: rel.clone(),
                output: layout.output_dir.join(&out_rel),
                side: layout.side_outputs(&out_rel, media_kind(rel)),
            });
        }
    }
    jobs.sort_by(|a, b| a.rel.cmp(&b.rel));
    (jobs, notes)
}

/// Jobs that would write the same file (after renaming) all fail: which of them would win is
/// not the user's choice, and none may silently skip.
fn drop_collisions(jobs: Vec<Job>) -> (Vec<Job>, Vec<(PathBuf, String)>) {
    let mut writers: BTreeMap<&Path, Vec<&Path>> = BTreeMap::new();
    for job in &jobs {
        for out in job.outputs() {
            writers.entry(out).or_default().push(&job.input);
        }
    }
    let mut failed = Vec::new();
    let mut clashing = HashSet::new();
    for (out, inputs) in &writers {
        if inputs.len() > 1 {
            for input in inputs {
                let others: Vec<String> = inputs.iter().filter(|i| *i != input).map(|i| crate::one_line_path(i)).collect();
                failed.push((input.to_path_buf(), format!("{} would also be written for {}; rename one of them", crate::one_line_path(out), others.join(", "))));
                clashing.insert(input.to_path_buf());
            }
        }
        // An output that another's path needs as a directory (`a.avi` becomes `a.mp4`, beside a
        // directory `a.mp4/`; found by hostile use: the loser failed with "File exists (os
        // error 17)"). Paths under `out` sort right after it.
        let below = writers.range::<&Path, _>((std::ops::Bound::Excluded(out), std::ops::Bound::Unbounded));
        for (inner, inner_inputs) in below.take_while(|(inner, _)| inner.starts_with(out)) {
            let why = format!("{} would be both a file and the directory of {}; rename one of their inputs", crate::one_line_path(out), crate::one_line_path(inner));
            for input in inputs.iter().chain(inner_inputs) {
                if clashing.insert(input.to_path_buf()) {
                    failed.push((input.to_path_buf(), why.clone()));
                }
            }
        }
    }
    let jobs = jobs.into_iter().filter(|j| !clashing.contains(&j.input)).collect();
    (jobs, failed)
}

/// What to do with one job, given what an earlier run recorded and what exists.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// Done by an earlier run, for this very input: leave it.
    Skip,
    /// Redact; `overwrite` lets the job replace outputs at its paths.
    Run { overwrite: bool },
    /// An output exists that this job may not replace without `--overwrite`.
    Refuse(Refusal),
}

/// Why an existing output is not replaced.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No earlier run of veilcam batch recorded writing it.
    NotWritten,
    /// veilcam batch wrote it, from an input that has changed since.
    InputChanged,
    /// veilcam batch redacted this input before, to other outputs.
    OtherOutputs(Vec<Name>),
    /// veilcam batch wrote it, and it was replaced or changed since.
    Changed,
}

impl Refusal {
    fn message(&self) -> String {
        match self {
            Refusal::NotWritten => "exists but was not written by veilcam batch; --overwrite replaces it".into(),
            Refusal::InputChanged => "exists, but its input changed since it was redacted; --overwrite redoes it".into(),
            Refusal::Changed => "exists, but was replaced or changed since veilcam batch wrote it (size or modification time); --overwrite redoes it".into(),
            Refusal::OtherOutputs(before) => {
                let before: Vec<String> = before.iter().map(Name::to_string).collect();
                format!("exists, but the input was redacted before to other outputs ({}); --overwrite redoes it", before.join(", "))
            }
        }
    }
}

/// Decides a job from the manifest's last `record` of its input, the input's `identity` now, the
/// manifest keys of the outputs it would write and the identity of what is `found` at each.
pub fn decide(record: Option<&Record>, identity: &Identity, keys: &[Name], found: &[Option<Identity>], overwrite: bool) -> Decision {
    let same_outputs = record.is_some_and(|r| r.outputs == keys);
    let same_input = record.is_some_and(|r| r.identity == *identity);
    let all_exist = found.iter().all(Option::is_some);
    let untouched = record.is_some_and(|r| untouched(r, found));
    match record {
        // A claimed job whose outputs all exist finished them (outputs appear only complete); only
        // its `done` line was cut off, by a signal.
        Some(_) if same_input && same_outputs && all_exist && untouched && !overwrite => Decision::Skip,
        _ if overwrite || found.iter().all(Option::is_none) => Decision::Run { overwrite },
        // veilcam's own outputs of an unfinished job, or of a finished one partly deleted since.
        Some(r) if same_outputs && (r.state == State::Claimed || (same_input && untouched)) => Decision::Run { overwrite: true },
        Some(r) if !same_outputs => Decision::Refuse(Refusal::OtherOutputs(r.outputs.clone())),
        Some(_) if same_input => Decision::Refuse(Refusal::Changed),
        Some(_) => Decision::Refuse(Refusal::InputChanged),
        None => Decision::Refuse(Refusal::NotWritten),
    }
}

/// Whether every output `found` is as `record` says it was committed (found by hostile use: a
/// re-run skipped a job whose output had been replaced since). A record without identities (a
/// `claimed` line, or an older build's) can only say the outputs exist.
fn untouched(record: &Record, found: &[Option<Identity>]) -> bool {
    record.written.is_empty()
        || (record.written.len() == found.len() && record.written.iter().zip(found).all(|(w, f)| f.is_none_or(|f| f == *w)))
}

/// What every job of a run shares.
struct Context<'a> {
    layout: &'a BatchDirs,
    manifest: &'a Manifest,
    options: &'a RedactOptions,
}

/// Redacts one job, unless an earlier run did it; records it in the manifest.
fn run_job(job: &Job, cx: &Context<'_>) -> Outcome {
    match try_run_job(job, cx) {
        Ok(outcome) => outcome,
        Err(e) => Outcome::Failed(e),
    }
}

fn try_run_job(job: &Job, cx: &Context<'_>) -> Result<Outcome> {
    let outputs = job.outputs();
    for out in &outputs {
        cx.layout.check_outside_input(out)?;
    }
    let identity = Identity::of(&job.input)?;
    let keys: Vec<Name> = outputs.iter().map(|p| cx.layout.key(p)).collect();
    let found: Vec<Option<Identity>> = outputs.iter().map(|p| Identity::of_entry(p)).collect();
    let overwrite = match decide(cx.manifest.last(&job.key()), &identity, &keys, &found, cx.options.overwrite) {
        Decision::Skip => return Ok(Outcome::Skipped),
        Decision::Refuse(why) => {
            let existing = outputs.iter().zip(&found).find(|(_, f)| f.is_some()).map_or(job.output.as_path(), |(p, _)| p);
            return Err(Error::io(existing, std::io::Error::other(why.message())));
        }
        Decision::Run { overwrite } => overwrite,
    };
    let mut options = cx.options.clone();
    options.overwrite = overwrite;
    options.sidecar = job.side.sidecar.clone();
    options.preview = job.side.preview.clone();
    options.stats = job.side.stats.clone();
    let settings = RedactSettings::new(&job.input, &job.output, &options)?;
    for out in &outputs {
        if let Some(parent) = out.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
    }
    let record = |state, written| Record { state, input: job.key(), identity, outputs: keys.clone(), written, veilcam: env!("CARGO_PKG_VERSION").into() };
    cx.manifest.append(&record(State::Claimed, Vec::new()))?;
    let summary = match media_kind(&job.input) {
        MediaKind::Image => still::redact_image(&settings)?,
        MediaKind::Video => pipeline::redact_video(&settings, true)?,
    };
    let written = outputs.iter().map(|p| Identity::of(p)).collect::<Result<Vec<_>>>()?;
    cx.manifest.append(&record(State::Done, written))?;
    Ok(Outcome::Done { frames: summary.frames, faces: summary.faces })
}

/// `FAILED  <file>: <why>`.
fn failure_line(path: &Path, why: &str) -> String {
    format!("FAILED  {}: {}", crate::one_line_path(path), failure_reason(path, why))
}

/// Why `path` failed, without the file named again when the error names it first (found by
/// hostile use: `FAILED  in/audio.mp4: in/audio.mp4: contains no video stream`).
pub fn failure_reason<'a>(path: &Path, why: &'a str) -> &'a str {
    let shown = path.display().to_string();
    why.strip_prefix(shown.as_str()).and_then(|rest| rest.strip_prefix(": ")).unwrap_or(why)
}

pub fn run(input_dir: &Path, output_dir: &Path, jobs: usize, options: &RedactOptions, quiet: bool) -> Result<BatchSummary> {
    let layout = BatchDirs::new(input_dir, output_dir, options)?;
    let plan = plan(&layout);
    let manifest = Manifest::open(&layout.output_dir)?;
    let bar = if quiet { ProgressBar::hidden() } else { ProgressBar::new(plan.jobs.len() as u64) };
    bar.set_style(ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} files  ETA {eta}").expect("valid template").progress_chars("=> "));
    bar.set_message("batch");
    let report = |line: String, always: bool| {
        if !quiet || always {
            // A closed stderr must not abort the batch: write errors are ignored.
            bar.suspend(|| say!("veilcam: {line}"));
        }
    };
    for note in &plan.notes {
        report(note.clone(), false);
    }
    for (path, why) in &plan.failed {
        report(failure_line(path, why), true);
    }
    let cx = Context { layout: &layout, manifest: &manifest, options };
    let queue = Mutex::new(plan.jobs.iter());
    let summary = Mutex::new(BatchSummary { failed: plan.failed.clone(), ..BatchSummary::default() });
    std::thread::scope(|scope| {
        for _ in 0..jobs.max(1) {
            scope.spawn(|| loop {
                // After a signal no new file is started; the ones running unwind by themselves.
                if crate::interrupt::requested() {
                    return;
                }
                let Some(job) = queue.lock().expect("queue lock").next() else { return };
                let outcome = run_job(job, &cx);
                let line = match &outcome {
                    Outcome::Done { frames, faces } => format!("done    {} ({frames} frames, {faces} face detections)", crate::one_line_path(&job.input)),
                    Outcome::Skipped => format!("skipped {} (already done)", crate::one_line_path(&job.input)),
                    Outcome::Failed(e) => failure_line(&job.input, &e.to_string()),
                };
                report(line, matches!(outcome, Outcome::Failed(_)));
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
    crate::interrupt::check()?;
    Ok(summary.into_inner().expect("summary lock"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn a_failure_names_its_file_once() {
        let path = Path::new("in/audio.mp4");
        assert_eq!(failure_line(path, "in/audio.mp4: contains no video stream"), "FAILED  in/audio.mp4: contains no video stream");
        assert_eq!(failure_line(path, "model m.onnx: no such file"), "FAILED  in/audio.mp4: model m.onnx: no such file");
        assert_eq!(failure_reason(path, "in/audio.mp4.bak: x"), "in/audio.mp4.bak: x", "only the file itself is taken off");
    }

    fn options(extra: &[&str]) -> RedactOptions {
        #[derive(Parser)]
        struct Opts {
            #[command(flatten)]
            o: RedactOptions,
        }
        Opts::parse_from(std::iter::once("t").chain(extra.iter().copied())).o
    }

    fn touch(root: &Path, files: &[&str]) {
        for f in files {
            let path = root.join(f);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, b"x").unwrap();
        }
    }

    fn outputs(plan: &Plan, root: &Path) -> Vec<String> {
        plan.jobs.iter().map(|j| j.output.strip_prefix(root).unwrap().display().to_string()).collect()
    }

    #[test]
    fn the_plan_keeps_relative_paths_and_turns_videos_into_mp4() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in");
        touch(&input, &["cam1/2026-11-01/a.avi", "cam1/b.MKV", "snap.jpg", "notes.txt", ".hidden.mp4", "phone/c.3gp", "dvr/d.m2ts", "dvr/e.h264"]);
        let layout = BatchDirs::new(&input, &dir.path().join("out"), &options(&[])).unwrap();
        let plan = plan(&layout);
        // Found by hostile use: `.3gp` and `.m2ts` clips were left alone, with only a note.
        let expected = ["cam1/2026-11-01/a.mp4", "cam1/b.mp4", "dvr/d.mp4", "dvr/e.mp4", "phone/c.mp4", "snap.jpg"];
        assert_eq!(outputs(&plan, &layout.output_dir), expected);
        assert!(plan.failed.is_empty(), "{plan:?}");
        // Other files are left alone, and the user is told which.
        assert_eq!(plan.notes.len(), 2, "{plan:?}");
        assert!(plan.notes[0].starts_with("not redacted: 1 file(s)") && plan.notes[0].ends_with(": notes.txt"), "{plan:?}");
        // So is a hidden video (found by hostile use: it was skipped without a word).
        assert_eq!(plan.notes[1], "not redacted: 1 hidden file(s) (a name starting with '.'): .hidden.mp4", "{plan:?}");
    }

    /// Found by hostile use: `a.avi` (output `a.mp4`) beside a directory `a.mp4/` made one of
    /// them fail with "File exists (os error 17)".
    #[test]
    fn an_output_that_another_needs_as_a_directory_fails_both_saying_why() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in");
        touch(&input, &["a.avi", "a.mp4/x.png", "a.mp4/y.png", "b.avi"]);
        let layout = BatchDirs::new(&input, &dir.path().join("out"), &options(&[])).unwrap();
        let plan = plan(&layout);
        assert_eq!(outputs(&plan, &layout.output_dir), vec!["b.mp4"]);
        let mut failed: Vec<_> = plan.failed.iter().map(|(p, why)| (p.strip_prefix(&input).unwrap().display().to_string(), why.clone())).collect();
        failed.sort();
        assert_eq!(failed.iter().map(|f| f.0.as_str()).collect::<Vec<_>>(), ["a.avi", "a.mp4/x.png", "a.mp4/y.png"], "{failed:?}");
        assert!(failed.iter().all(|(_, why)| why.contains("would be both a file and the directory of")), "{failed:?}");
    }

    #[test]
    fn videos_that_would_share_an_output_keep_their_source_extension() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in");
        touch(&input, &["cam.avi", "cam.mkv", "cam.mp4", "door.avi"]);
        let layout = BatchDirs::new(&input, &dir.path().join("out"), &options(&[])).unwrap();
        let plan = plan(&layout);
        assert_eq!(outputs(&plan, &layout.output_dir), vec!["cam.avi.mp4", "cam.mkv.mp4", "cam.mp4", "door.mp4"]);
        assert_eq!(plan.notes.len(), 2, "each renaming is reported: {:?}", plan.notes);
        assert!(plan.notes[0].starts_with("cam.avi -> cam.avi.mp4"), "{:?}", plan.notes);
    }

    #[test]
    fn a_collision_left_after_renaming_fails_every_file_involved() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in");
        touch(&input, &["cam.avi", "cam.mp4", "cam.avi.mp4"]);
        let layout = BatchDirs::new(&input, &dir.path().join("out"), &options(&[])).unwrap();
        let plan = plan(&layout);
        assert_eq!(outputs(&plan, &layout.output_dir), vec!["cam.mp4"]);
        let failed: Vec<_> = plan.failed.iter().map(|(p, _)| p.file_name().unwrap().to_str().unwrap()).collect();
        assert_eq!(failed, vec!["cam.avi", "cam.avi.mp4"]);
        assert!(plan.failed[0].1.contains("would also be written for"), "{:?}", plan.failed);
    }

    #[test]
    fn side_outputs_get_one_file_per_input_in_their_directories() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in");
        touch(&input, &["front/visitor.avi", "snap.png"]);
        let (s, p, t) = (dir.path().join("s"), dir.path().join("p"), dir.path().join("t"));
        let o = options(&["--sidecar", s.to_str().unwrap(), "--preview", p.to_str().unwrap(), "--stats", t.to_str().unwrap()]);
        let layout = BatchDirs::new(&input, &dir.path().join("out"), &o).unwrap();
        let plan = plan(&layout);
        let root = dir.path().canonicalize().unwrap();
        let rel = |p: &Option<PathBuf>| p.as_ref().map(|p| p.strip_prefix(&root).unwrap().display().to_string());
        let video = &plan.jobs[0].side;
        assert_eq!(rel(&video.sidecar).as_deref(), Some("s/front/visitor.mp4.json"));
        assert_eq!(rel(&video.preview).as_deref(), Some("p/front/visitor.preview.mp4"));
        assert_eq!(rel(&video.stats).as_deref(), Some("t/front/visitor.mp4.stats.json"));
        assert_eq!(plan.jobs[1].side, SideOutputs::default(), "images have no side outputs");
    }

    #[test]
    fn an_output_directory_that_is_or_contains_the_input_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in");
        touch(&input, &["a.jpg"]);
        for (out, extra) in [(input.clone(), vec![]), (input.join("."), vec![]), (dir.path().to_path_buf(), vec![]), (dir.path().join("out"), vec!["--sidecar", input.to_str().unwrap()])] {
            let err = BatchDirs::new(&input, &out, &options(&extra)).unwrap_err().to_string();
            assert!(err.contains("input directory"), "{out:?} {extra:?}: {err}");
        }
    }

    #[test]
    fn an_output_directory_named_like_a_file_is_refused_and_nothing_is_created() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in");
        touch(&input, &["a.mp4"]);
        let out = dir.path().join("out");
        for flag in ["--sidecar", "--preview", "--stats"] {
            for name in ["a.mp4", "a.json", "b.JPG"] {
                let side = out.join(name);
                let err = BatchDirs::new(&input, &out, &options(&[flag, side.to_str().unwrap()])).unwrap_err().to_string();
                assert!(err.contains("names a file"), "{flag} {name}: {err}");
            }
        }
        let err = BatchDirs::new(&input, &dir.path().join("redacted.mp4"), &options(&[])).unwrap_err().to_string();
        assert!(err.contains("-o/--output") && err.contains("names a file"), "{err}");
        assert!(!out.exists() && !dir.path().join("redacted.mp4").exists(), "nothing created");
        // A directory that already exists is taken whatever its name.
        std::fs::create_dir_all(out.join("2024.mp4")).unwrap();
        BatchDirs::new(&input, &out, &options(&["--sidecar", out.join("2024.mp4").to_str().unwrap()])).unwrap();
    }

    #[test]
    fn the_walk_skips_an_output_tree_inside_the_input_and_visits_each_directory_once() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in");
        touch(&input, &["a.jpg", "sub/b.jpg", "redacted/a.jpg"]);
        // An earlier batch's output there (one with footage and no record is refused).
        std::fs::write(input.join("redacted").join(manifest::MANIFEST_NAME), "").unwrap();
        std::os::unix::fs::symlink("..", input.join("sub/loop")).unwrap();
        let layout = BatchDirs::new(&input, &input.join("redacted"), &options(&[])).unwrap();
        let plan = plan(&layout);
        let rels: Vec<_> = plan.jobs.iter().map(|j| j.rel.display().to_string()).collect();
        assert_eq!(rels, vec!["a.jpg", "sub/b.jpg"]);
        assert_eq!(plan.notes.len(), 2, "{:?}", plan.notes);
    }

    #[test]
    fn the_walk_skips_an_earlier_batchs_output_directory_but_not_one_given_as_the_input() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("in");
        touch(&input, &["a.jpg", "redacted/a.jpg", "redacted/sub/b.jpg", "linked/c.jpg"]);
        std::fs::write(input.join("redacted").join(manifest::MANIFEST_NAME), "").unwrap();
        // A link named like the record is not one.
        std::os::unix::fs::symlink(input.join("redacted").join(manifest::MANIFEST_NAME), input.join("linked").join(manifest::MANIFEST_NAME)).unwrap();
        let plan = plan(&BatchDirs::new(&input, &dir.path().join("out2"), &options(&[])).unwrap());
        let rels: Vec<_> = plan.jobs.iter().map(|j| j.rel.display().to_string()).collect();
        assert_eq!(rels, vec!["a.jpg", "linked/c.jpg"]);
        assert!(plan.notes.iter().any(|n| n.contains("redacted") && n.contains("earlier veilcam batch")), "{:?}", plan.notes);
        let again = super::plan(&BatchDirs::new(&input.join("redacted"), &dir.path().join("out3"), &options(&[])).unwrap());
        assert_eq!(again.jobs.len(), 2, "an earlier output given as the input is redacted again: {:?}", again.notes);
    }

    #[test]
    fn a_path_that_does_not_exist_yet_resolves_through_its_existing_ancestor() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().canonicalize().unwrap();
        std::fs::create_dir(real.join("in")).unwrap();
        std::os::unix::fs::symlink(real.join("in"), real.join("link")).unwrap();
        assert_eq!(resolve(&real.join("link/new/../x")).unwrap(), real.join("in/x"));
        assert_eq!(resolve(&real.join("link/.")).unwrap(), real.join("in"));
    }

    fn identity(size: u64) -> Identity {
        Identity { size, mtime_s: 1, mtime_ns: 0 }
    }

    /// What a job finds at its outputs: the output identity `identity(10)` where one exists.
    fn found(exist: &[bool]) -> Vec<Option<Identity>> {
        exist.iter().map(|e| e.then(|| identity(10))).collect()
    }

    fn record(state: State, size: u64, outputs: &[&str]) -> Record {
        Record { state, input: "a.avi".into(), identity: identity(size), outputs: outputs.iter().map(|&s| s.into()).collect(), written: Vec::new(), veilcam: "t".into() }
    }

    #[test]
    fn a_finished_job_whose_output_was_replaced_since_is_not_taken_for_done() {
        let keys: Vec<Name> = vec!["a.mp4".into(), "a.mp4.json".into()];
        let done = Record { written: vec![identity(10), identity(20)], ..record(State::Done, 1, &["a.mp4", "a.mp4.json"]) };
        let as_written = [Some(identity(10)), Some(identity(20))];
        assert_eq!(decide(Some(&done), &identity(1), &keys, &as_written, false), Decision::Skip);
        let replaced = [Some(identity(11)), Some(identity(20))];
        assert_eq!(decide(Some(&done), &identity(1), &keys, &replaced, false), Decision::Refuse(Refusal::Changed));
        assert_eq!(decide(Some(&done), &identity(1), &keys, &replaced, true), Decision::Run { overwrite: true });
        // One output deleted, the other as written: veilcam's own, redone.
        assert_eq!(decide(Some(&done), &identity(1), &keys, &[Some(identity(10)), None], false), Decision::Run { overwrite: true });
        // One deleted, the other replaced: not veilcam's any more.
        assert_eq!(decide(Some(&done), &identity(1), &keys, &[Some(identity(11)), None], false), Decision::Refuse(Refusal::Changed));
        assert_eq!(decide(Some(&done), &identity(2), &keys, &replaced, false), Decision::Refuse(Refusal::InputChanged));
    }

    #[test]
    fn only_a_recorded_finished_job_for_the_same_input_is_skipped() {
        let keys: Vec<Name> = vec!["a.mp4".into()];
        let done = record(State::Done, 1, &["a.mp4"]);
        assert_eq!(decide(Some(&done), &identity(1), &keys, &found(&[true]), false), Decision::Skip);
        assert_eq!(decide(None, &identity(1), &keys, &found(&[true]), false), Decision::Refuse(Refusal::NotWritten));
        assert_eq!(decide(None, &identity(1), &keys, &found(&[false]), false), Decision::Run { overwrite: false });
        assert_eq!(decide(None, &identity(1), &keys, &found(&[true]), true), Decision::Run { overwrite: true });
        assert_eq!(decide(Some(&done), &identity(2), &keys, &found(&[true]), false), Decision::Refuse(Refusal::InputChanged));
        assert_eq!(decide(Some(&done), &identity(2), &keys, &found(&[false]), false), Decision::Run { overwrite: false });
        let claimed = record(State::Claimed, 1, &["a.mp4", "a.mp4.json"]);
        let with_sidecar: Vec<Name> = vec!["a.mp4".into(), "a.mp4.json".into()];
        assert_eq!(decide(Some(&claimed), &identity(1), &with_sidecar, &found(&[true, false]), false), Decision::Run { overwrite: true });
        assert_eq!(decide(Some(&claimed), &identity(2), &with_sidecar, &found(&[true, true]), false), Decision::Run { overwrite: true });
        assert_eq!(decide(Some(&claimed), &identity(1), &with_sidecar, &found(&[true, true]), false), Decision::Skip);
        assert_eq!(
            decide(Some(&done), &identity(1), &with_sidecar, &found(&[true, false]), false),
            Decision::Refuse(Refusal::OtherOutputs(vec!["a.mp4".into()]))
        );
    }
}
