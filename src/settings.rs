//! Validated settings: built once from the command line, read everywhere else.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::{RedactArgs, RedactOptions};
use crate::config::{self, Camera};
use crate::detect::centerface::CenterFace;
use crate::detect::nanodet::NanoDet;
use crate::detect::blazeface::BlazeFace;
use crate::detect::{Deferred, DetectorSet, Planner};
use crate::detect::centerface::{CenterFaceSettings, DetectWidth, DETECT_WIDTH_RANGE};
use crate::detect::runtime;
use crate::live::config::{DEFAULT_LOOKAHEAD_MS, LOOKAHEAD_MS_RANGE};
use crate::error::{Error, Result};
use crate::output::{Target, INPUT};
use crate::models;
use crate::policy::{Keep, NightProfile, Policy};
use crate::redact::{FillMode, Shape};
use crate::sink::file::{EncoderSettings, PRESETS};

// Build-tree model paths, kept here for the tests and benches that name them; the binary looks
// models up with `models::locate`.
pub use crate::models::{DEFAULT_MODEL, DEFAULT_PERSON_MODEL, FLOAT_MODEL};

/// Everything one redaction run needs to know.
#[derive(Clone, Debug)]
pub struct RedactSettings {
    pub input: PathBuf,
    pub output: PathBuf,
    pub fill: FillMode,
    pub shape: Shape,
    pub mask_scale: f32,
    pub face: CenterFaceSettings,
    pub encoder: EncoderSettings,
    pub keep_audio: bool,
    pub sidecar: Option<PathBuf>,
    pub preview: Option<PathBuf>,
    pub stats: Option<PathBuf>,
    pub overwrite: bool,
    /// Redact what decodes of a damaged input instead of failing.
    pub salvage: bool,
    pub model: PathBuf,
    pub ort_lib: PathBuf,
    pub workers: usize,
    pub ort_threads: usize,
    pub detect_every: Cadence,
    pub lookahead_seconds: f64,
    pub hold_seconds: f64,
    pub camera: Option<Camera>,
    pub person_model: PathBuf,
    pub person_threshold: f32,
    /// The night profile's second face model (BlazeFace full-range), for grey frames.
    pub second_model: PathBuf,
    pub person_every: Cadence,
    pub small_faces: bool,
    /// `--realtime`: the clip is played as a live camera with this latency budget.
    pub realtime: Option<Duration>,
    /// Subject access: whom to keep visible (`Keep::Nobody`: the camera policy decides).
    pub keep: Keep,
    /// What more is done for faces on grey (night/infrared) frames.
    pub night: NightProfile,
    /// `--obscure-findings`: an audit report whose findings are obscured besides.
    pub findings: Option<PathBuf>,
    /// `--config`: the camera config `camera` was read from.
    pub config: Option<PathBuf>,
}

/// How often a detector runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cadence {
    /// A fixed number of detections per second of video, whatever the frame rate.
    Auto,
    /// Every n-th frame.
    Every(u64),
}

/// Face detections per second of video with `--detect-every auto`: every frame up to 20 fps,
/// every 2nd frame at 25 and 30 fps. The tracker interpolates the frame between two looks;
/// every 3rd frame loses faces (see docs/evaluation.md).
pub const FACE_RATE: f64 = 15.0;
/// Person detections per second of video with `--person-every auto`.
pub const PERSON_RATE: f64 = 5.0;
/// The widest cadence: `--detect-every` and `--person-every` accept 1 to this many frames, and an
/// automatic cadence is never wider.
pub const CADENCE_MAX: u64 = 30;

impl Cadence {
    /// The frame interval at `fps` for an automatic rate of `per_second` detections, with a
    /// look-ahead of `window` frames. An automatic interval is never wider than the look-ahead
    /// (when there is one) nor than [`CADENCE_MAX`], so a face first found at one look also
    /// masks the frames back to the look before, whatever the frame rate (found by hostile use:
    /// a clip that claims 10,000 fps was looked at every 667 frames).
    pub fn frames(self, fps: f64, per_second: f64, window: u64) -> u64 {
        let most = if window == 0 { CADENCE_MAX } else { window.min(CADENCE_MAX) };
        match self {
            Cadence::Every(n) => n,
            Cadence::Auto => ((fps / per_second).round() as u64).clamp(1, most),
        }
    }
}

/// Parses `auto` or a frame interval from 1 to [`CADENCE_MAX`].
pub fn parse_cadence(s: &str) -> std::result::Result<Cadence, String> {
    if s.eq_ignore_ascii_case("auto") {
        return Ok(Cadence::Auto);
    }
    match s.parse::<u64>() {
        Ok(n) if (1..=CADENCE_MAX).contains(&n) => Ok(Cadence::Every(n)),
        _ => Err(format!("'{s}' is neither 'auto' nor a whole number from 1 to {CADENCE_MAX}")),
    }
}

/// Parses `auto` or a width in pixels within [`DETECT_WIDTH_RANGE`].
pub fn parse_detect_width(s: &str) -> std::result::Result<DetectWidth, String> {
    if s.eq_ignore_ascii_case("auto") {
        return Ok(DetectWidth::Auto);
    }
    let (lo, hi) = DETECT_WIDTH_RANGE.into_inner();
    match s.parse::<usize>() {
        Ok(n) if DETECT_WIDTH_RANGE.contains(&n) => Ok(DetectWidth::Pixels(n)),
        _ => Err(format!("'{s}' is neither 'auto' nor a whole number from {lo} to {hi}")),
    }
}

/// What kind of file a path is, by extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaKind {
    Image,
    Video,
}

pub fn media_kind(path: &Path) -> MediaKind {
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).unwrap_or_default();
    if matches!(ext.as_str(), "jpg" | "jpeg" | "png") {
        MediaKind::Image
    } else {
        MediaKind::Video
    }
}

/// Still-image formats veilcam neither reads nor writes, by extension: refused by name rather
/// than taken for videos (found by hostile use: `x.bmp -o y.png` was told the two "must both be
/// videos or both be images", and `x.bmp -o y.mp4` failed with a raw decoder message).
const OTHER_IMAGES: [&str; 13] = ["bmp", "tif", "tiff", "webp", "heic", "heif", "avif", "jp2", "jxl", "pnm", "ppm", "pgm", "tga"];

/// An error if `path` names a still-image format other than JPEG and PNG.
pub fn check_image_format(path: &Path) -> std::result::Result<(), String> {
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).unwrap_or_default();
    if OTHER_IMAGES.contains(&ext.as_str()) {
        return Err(format!(
            "{}: {} images are not supported; veilcam's still images are JPEG and PNG (convert it first)",
            path.display(),
            ext.to_ascii_uppercase()
        ));
    }
    Ok(())
}

impl RedactSettings {
    pub fn from_args(a: &RedactArgs) -> Result<Self> {
        let mut settings = Self::paced_from_args(a)?;
        if let Some(report) = &a.obscure_findings {
            if media_kind(&a.input) == MediaKind::Image {
                let input = a.input.display();
                return Err(Error::Settings(format!("--obscure-findings: an audit lists frames of a video; {input} is a still image")));
            }
            settings.findings = Some(report.clone());
        }
        Ok(settings)
    }

    /// Every file the run reads (that exists), each with the option naming it: no output may
    /// replace one ([`crate::output::prepare_all`]).
    pub fn reads(&self) -> Vec<Target<'_>> {
        crate::output::reads([
            (INPUT, Some(self.input.as_path())),
            ("--config", self.config.as_deref()),
            ("--obscure-findings", self.findings.as_deref()),
            ("--model", Some(&self.model)),
            ("--person-model", Some(&self.person_model)),
            ("the second face model", Some(&self.second_model)),
            ("--ort-lib", Some(&self.ort_lib)),
        ])
    }

    /// The settings of `a` as a file run or, with `--realtime`, a live rehearsal.
    fn paced_from_args(a: &RedactArgs) -> Result<Self> {
        let options = RedactOptions { keep: a.keep.keep(), ..a.options.clone() };
        let Some(budget_ms) = a.realtime else { return Self::new(&a.input, &a.output, &options) };
        if !(10..=10_000).contains(&budget_ms) {
            return Err(Error::Settings(format!("--realtime {budget_ms}: the budget must be 10–10000 ms")));
        }
        if options.keep != Keep::Nobody {
            // Track ids of a real-time run depend on which frames the machine had time to look
            // at: a subject chosen by id could be another person.
            return Err(Error::Settings("--realtime cannot be combined with --keep-track or --keep-at".into()));
        }
        if media_kind(&a.input) == MediaKind::Image {
            return Err(Error::Settings(format!("--realtime plays a video as a live camera; {} is a still image", a.input.display())));
        }
        let lookahead_ms = a.live_lookahead.unwrap_or(DEFAULT_LOOKAHEAD_MS);
        if !LOOKAHEAD_MS_RANGE.contains(&lookahead_ms) {
            let (lo, hi) = LOOKAHEAD_MS_RANGE.into_inner();
            return Err(Error::Settings(format!("--live-lookahead {lookahead_ms}: the look-ahead must be {lo}–{hi} ms")));
        }
        let lookahead = Duration::from_millis(lookahead_ms);
        let mut settings = Self::new(&a.input, &a.output, &live_options(&options, lookahead))?;
        settings.realtime = Some(Duration::from_millis(budget_ms));
        Ok(settings)
    }

    /// Settings for redacting `input` to `output` with `o`.
    pub fn new(input: &Path, output: &Path, o: &RedactOptions) -> Result<Self> {
        let bad = |m: String| Err(Error::Settings(m));
        if !(o.threshold > 0.0 && o.threshold < 1.0) {
            return bad(format!("--threshold {} must be above 0 and below 1", o.threshold));
        }
        if !(1.0..=4.0).contains(&o.mask_scale) {
            return bad(format!("--mask-scale {} must be between 1.0 and 4.0", o.mask_scale));
        }
        if let DetectWidth::Pixels(n) = o.detect_width {
            if !DETECT_WIDTH_RANGE.contains(&n) {
                let (lo, hi) = DETECT_WIDTH_RANGE.into_inner();
                return bad(format!("--detect-width {n} must be between {lo} and {hi}"));
            }
        }
        if !PRESETS.contains(&o.preset.as_str()) {
            return bad(format!("--preset {} is not one of {}", o.preset, PRESETS.join(", ")));
        }
        if o.crf > 51 {
            return bad(format!("--crf {} must be between 0 and 51", o.crf));
        }
        if o.workers == 0 || o.workers > 16 {
            return bad(format!("--workers {} must be between 1 and 16", o.workers));
        }
        if o.ort_threads == 0 || o.ort_threads > 64 {
            return bad(format!("--ort-threads {} must be between 1 and 64", o.ort_threads));
        }
        if !(0.0..=5.0).contains(&o.lookahead) {
            return bad(format!("--lookahead {} must be between 0 and 5 seconds", o.lookahead));
        }
        if !(0.0..=5.0).contains(&o.hold) {
            return bad(format!("--hold {} must be between 0 and 5 seconds", o.hold));
        }
        if !(o.person_threshold > 0.0 && o.person_threshold < 1.0) {
            return bad(format!("--person-threshold {} must be above 0 and below 1", o.person_threshold));
        }
        if o.camera.is_some() && o.config.is_none() {
            return bad("--camera needs --config".into());
        }
        let camera = o.config.as_deref().map(|p| config::load_camera(p, o.camera.as_deref())).transpose()?;
        // What the paths are comes before what their names say (a directory has no extension).
        for target in std::iter::once(output).chain(o.preview.as_deref()) {
            crate::output::check_kind(target)?;
        }
        for path in [input, output] {
            check_image_format(path).map_err(Error::Settings)?;
        }
        if media_kind(input) != media_kind(output) {
            return bad(format!(
                "{} and {} must both be videos or both be images",
                input.display(),
                output.display()
            ));
        }
        if media_kind(output) == MediaKind::Video {
            crate::sink::file::muxer_for(output)?;
        }
        if let Some(preview) = &o.preview {
            if media_kind(input) == MediaKind::Image {
                return bad("--preview is for videos; use --sidecar for images".into());
            }
            crate::sink::file::muxer_for(preview)?;
        }
        let model = models::locate(models::FACE_MODEL, o.model.as_deref())?;
        let person_model = match models::locate(models::PERSON_MODEL, o.person_model.as_deref()) {
            Ok(path) => path,
            Err(e) if o.keep.is_subject_access() || camera.as_ref().is_some_and(Camera::needs_persons) => return Err(e),
            // Not needed by the policy; `detectors` repeats the search if asked to load it.
            Err(_) => PathBuf::from(models::PERSON_MODEL),
        };
        // Needed on grey frames only; `detectors` checks it when the night profile may run.
        let second_model = models::locate(models::SECOND_FACE_MODEL, None).unwrap_or_else(|_| PathBuf::from(models::SECOND_FACE_MODEL));
        Ok(RedactSettings {
            input: input.to_path_buf(),
            output: output.to_path_buf(),
            fill: o.fill,
            shape: o.shape,
            mask_scale: o.mask_scale,
            face: CenterFaceSettings { threshold: o.threshold, detect_width: o.detect_width, low_light: o.low_light, local_contrast: o.local_contrast },
            encoder: EncoderSettings { preset: o.preset.clone(), crf: o.crf, threads: o.encoder_threads },
            keep_audio: o.keep_audio,
            sidecar: o.sidecar.clone(),
            preview: o.preview.clone(),
            stats: o.stats.clone(),
            overwrite: o.overwrite,
            salvage: o.salvage,
            model,
            ort_lib: runtime::locate_library(o.ort_lib.as_deref()),
            workers: o.workers,
            ort_threads: o.ort_threads,
            detect_every: o.detect_every,
            lookahead_seconds: o.lookahead,
            hold_seconds: o.hold,
            camera,
            person_model,
            person_threshold: o.person_threshold,
            second_model,
            person_every: o.person_every,
            small_faces: !o.no_small_faces,
            realtime: None,
            findings: None,
            config: o.config.clone(),
            keep: o.keep,
            night: o.night,
        })
    }

    /// Detection settings for a live camera: `options` with the camera's zones and policy and
    /// the live look-ahead `lookahead` (a fraction of a second: a live frame cannot wait long).
    pub fn for_live(options: &RedactOptions, camera: Camera, lookahead: Duration) -> Result<Self> {
        // Every frame is looked at: with a short look-ahead, a frame between two looks has
        // little but the tracker's guess (a face that jumps shows until the next look).
        // When the detectors fall behind, frames skip looks (Pace::live) before any is late.
        let options = RedactOptions { config: None, camera: None, ..live_options(options, lookahead) };
        let mut settings = Self::new(Path::new("live.mp4"), Path::new("live.mp4"), &options)?;
        settings.camera = Some(camera);
        Ok(settings)
    }

    /// Default detection settings, for tools that only look at one frame.
    pub fn for_preview(ort_lib: Option<&Path>) -> Result<Self> {
        let options = RedactOptions { ort_lib: ort_lib.map(Path::to_path_buf), ..RedactOptions::default() };
        Self::new(Path::new("frame.mp4"), Path::new("unused.mp4"), &options)
    }

    /// Loads one worker's detectors (sessions are per worker, never shared); the person model
    /// as `persons` says, and with the night profile on, the second face model at the first
    /// grey frame. A person model that is not there fails here either way, and so does the
    /// second model when persons may be looked for at night too.
    pub fn detectors(&self, persons: PersonLoad) -> Result<DetectorSet> {
        let face = CenterFace::load(&self.ort_lib, &self.model, self.face, self.ort_threads)?;
        if persons != PersonLoad::Never {
            self.check_person_model()?;
        }
        let night = self.night != NightProfile::Off;
        if night && persons != PersonLoad::Never {
            check_model(&self.second_model, models::SECOND_FACE_MODEL).map_err(crate::pipeline::for_the_night_profile)?;
        }
        let second = night.then(|| {
            let (lib, model, threads) = (self.ort_lib.clone(), self.second_model.clone(), self.ort_threads);
            let load = move || BlazeFace::load(&lib, &model, SECOND_THRESHOLD, threads).map_err(crate::pipeline::for_the_night_profile);
            Deferred::OnFirstUse(Some(Box::new(load) as crate::detect::Load<BlazeFace>))
        });
        let load = {
            let (lib, model, threshold, threads) = (self.ort_lib.clone(), self.person_model.clone(), self.person_threshold, self.ort_threads);
            move || NanoDet::load(&lib, &model, threshold, threads)
        };
        let person = match persons {
            PersonLoad::Never => None,
            PersonLoad::Now => Some(Deferred::Loaded(load()?)),
            PersonLoad::OnFirstUse => Some(Deferred::OnFirstUse(Some(Box::new(move || load().map_err(crate::pipeline::for_the_night_profile)) as crate::detect::LoadPersons))),
        };
        Ok(DetectorSet { face, person, second })
    }

    /// Fails unless the person model is a file: a run must not find out at its first grey
    /// frame, minutes in, that the model it was given is not there.
    fn check_person_model(&self) -> Result<()> {
        check_model(&self.person_model, models::PERSON_MODEL)
    }

    /// The planner for a video at `fps` frames per second with a look-ahead of `window` frames;
    /// `with_persons` when the policy needs the person detector.
    pub fn planner(&self, fps: f64, window: u64, with_persons: bool) -> Planner {
        let person_every = with_persons.then(|| self.person_every.frames(fps, PERSON_RATE, window));
        let face_every = self.detect_every.frames(fps, FACE_RATE, window);
        Planner::new(face_every, person_every, self.small_faces, fps).in_shade(self.face.local_contrast.looks_in_shade())
    }

    /// The planner for `policy` at `fps` and a look-ahead of `window` frames:
    /// [`RedactSettings::planner`], with the person detector at its cadence on grey frames when
    /// the night profile asks for it.
    pub fn planner_for(&self, fps: f64, window: u64, policy: &Policy) -> Planner {
        let night = policy.needs_persons_at_night().then(|| self.person_every.frames(fps, PERSON_RATE, window));
        self.planner(fps, window, policy.needs_persons()).at_night(night)
    }
}

/// The score from which the night profile's second face model counts a face: lower than the
/// audit's ([`crate::audit::SECOND_THRESHOLD`]), which must not cry wolf; here a miss is a leak.
pub const SECOND_THRESHOLD: f32 = 0.5;

/// Fails unless `path` (the model `name`, as the settings found it) is a file; a model not
/// found when the settings were made gets the error that lists the places searched.
fn check_model(path: &Path, name: &str) -> Result<()> {
    if path == Path::new(name) && !path.is_file() {
        models::locate(name, None)?;
    }
    if !path.is_file() {
        return Err(Error::Model { path: path.to_path_buf(), message: "no such file".into() });
    }
    Ok(())
}

/// When a worker loads the person model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PersonLoad {
    /// Not at all: nothing needs persons.
    Never,
    /// With the worker: the policy needs persons on every frame.
    Now,
    /// On the first frame that asks for persons: only the night profile needs them, on grey
    /// frames, which colour footage never has.
    OnFirstUse,
}

impl PersonLoad {
    /// `Now` when `every_frame` needs persons, else `OnFirstUse` when `some_frames` may, else
    /// `Never`.
    pub fn for_needs(every_frame: bool, some_frames: bool) -> Self {
        match (every_frame, some_frames) {
            (true, _) => PersonLoad::Now,
            (false, true) => PersonLoad::OnFirstUse,
            (false, false) => PersonLoad::Never,
        }
    }
}

/// `options` as a live camera uses them: every frame looked at (when the detectors fall behind,
/// frames skip looks before any is late), and a look-ahead of `lookahead` instead of a file's
/// second: a live frame can wait only a little for later ones, so a face found on a later frame
/// masks at most that much of the time before (`live.lookahead_ms`).
fn live_options(options: &RedactOptions, lookahead: Duration) -> RedactOptions {
    RedactOptions { lookahead: lookahead.as_secs_f64(), detect_every: Cadence::Every(1), ..options.clone() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn automatic_cadence_keeps_detections_per_second_across_frame_rates() {
        let second = |fps: f64| fps.round() as u64;
        assert_eq!(Cadence::Auto.frames(10.0, FACE_RATE, second(10.0)), 1);
        assert_eq!(Cadence::Auto.frames(20.0, FACE_RATE, second(20.0)), 1);
        assert_eq!(Cadence::Auto.frames(25.0, FACE_RATE, second(25.0)), 2);
        assert_eq!(Cadence::Auto.frames(30.0, FACE_RATE, second(30.0)), 2);
        assert_eq!(Cadence::Auto.frames(60.0, FACE_RATE, second(60.0)), 4);
        assert_eq!(Cadence::Auto.frames(5.0, PERSON_RATE, second(5.0)), 1, "never less than every frame");
        assert_eq!(Cadence::Every(4).frames(30.0, FACE_RATE, second(30.0)), 4);
        assert_eq!(Cadence::Auto.frames(30.0, FACE_RATE, 0), 2, "without a look-ahead, as with one");
    }

    #[test]
    fn an_automatic_cadence_looks_at_least_once_per_look_ahead_whatever_the_frame_rate() {
        // A clip claiming 10,000 fps: 15 looks a second would be 667 frames apart.
        assert_eq!(Cadence::Auto.frames(10_000.0, FACE_RATE, 0), CADENCE_MAX);
        assert_eq!(Cadence::Auto.frames(10_000.0, FACE_RATE, 240), CADENCE_MAX);
        // A look-ahead cut short by its memory cap: every frame it holds is reached back to.
        assert_eq!(Cadence::Auto.frames(240.0, FACE_RATE, 10), 10);
        assert_eq!(Cadence::Auto.frames(30.0, PERSON_RATE, 3), 3, "persons too");
        // An explicit cadence is the user's.
        assert_eq!(Cadence::Every(30).frames(10_000.0, FACE_RATE, 10), 30);
    }

    #[test]
    fn cadence_accepts_auto_or_a_small_whole_number() {
        assert_eq!(parse_cadence("auto"), Ok(Cadence::Auto));
        assert_eq!(parse_cadence("3"), Ok(Cadence::Every(3)));
        assert!(parse_cadence("0").is_err());
        assert!(parse_cadence("fast").is_err());
    }

    #[test]
    fn automatic_detection_width_is_640_up_to_1080p_and_a_third_of_larger_frames_with_640_beside() {
        for (width, expected) in [(320, 640), (1280, 640), (1920, 640), (2560, 854), (3840, 1280), (7680, 2560)] {
            assert_eq!(DetectWidth::Auto.for_picture(width), expected, "{width} px wide");
        }
        assert_eq!(DetectWidth::Pixels(480).for_picture(3840), 480);
        // Above 1080p a second pass looks at 640 px as before; a width given is one pass.
        assert_eq!(DetectWidth::Auto.coarse_for(1920), None);
        assert_eq!(DetectWidth::Auto.coarse_for(3840), Some(640));
        assert_eq!(DetectWidth::Pixels(1280).coarse_for(3840), None);
    }

    #[test]
    fn detection_width_accepts_auto_or_pixels_from_32_to_7680() {
        assert_eq!(parse_detect_width("auto"), Ok(DetectWidth::Auto));
        assert_eq!(parse_detect_width("1280"), Ok(DetectWidth::Pixels(1280)));
        for bad in ["31", "7681", "-640", "wide"] {
            assert!(parse_detect_width(bad).is_err(), "{bad}");
        }
        assert_eq!(DetectWidth::Auto.to_string(), "auto", "what a queued job carries");
    }
}
