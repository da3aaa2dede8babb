//! The clip generator: real face photographs cut out and composited onto real street footage,
//! with per-frame ground truth.
//!
//! ```text
//! vtest.avi ─FileSource─▶ upscale (cover, centre crop) ─▶ faces drawn nearest-last ─▶ night look?
//!                                                           │ truth per frame             │
//!                                                           ▼                             ▼
//!                                                   <clip>.truth.json         appsrc → x264 → mp4
//! ```
//! Frames are made and encoded one at a time; only the current background frame, the face
//! cut-outs and the (small) truth are held in memory. The result depends only on the settings,
//! the seed and the source files: the same inputs give the same decoded frames and the same
//! truth, and the MP4 header times are fixed so the file bytes repeat too (on one x264 build).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use gstreamer as gst;
use gstreamer_video as gst_video;
use serde::{Deserialize, Serialize};

use super::rng::{Fnv64, SplitMix64};
use super::scene::{self, Light, SceneSettings, Track};
use super::sprite::{Layer, Pose, Sprite, PHOTOS};
use super::truth::{SizeBucket, Truth, TruthFace, TruthFrame, TruthTrack, TRUTH_FORMAT};
use super::{EvalError, Result};
use veilcam::frame::{Frame, Picture};
use veilcam::output::AtomicOutput;
use veilcam::sink::file::{EncoderSettings, FileSink};
use veilcam::source::file::FileSource;
use veilcam::source::FrameSource;

/// Bumped whenever a change to the generator changes its output, so cached clips are remade.
pub const GENERATOR_VERSION: &str = "veilcam-eval-generator/4";
pub const DEFAULT_WIDTH: u32 = 1920;
pub const DEFAULT_HEIGHT: u32 = 1080;
pub const DEFAULT_FPS: u32 = 25;
pub const DEFAULT_SECONDS: f64 = 10.0;
/// Lanes of faces running at once (see [`scene`]); about 7 faces are in view on average.
pub const DEFAULT_FACES: u32 = 9;
pub const DEFAULT_SEED: u64 = 1;
/// High quality, so that the generated clip itself is not what hides a face.
pub const DEFAULT_CRF: u32 = 16;
pub const DEFAULT_PRESET: &str = "veryfast";
/// Background footage, below the media directory.
pub const BACKGROUND: &str = "vtest.avi";

/// Exposure time as a fraction of the frame interval (motion blur length).
const SHUTTER: f64 = 0.5;
/// Most sub-frame positions averaged for motion blur.
const MAX_BLUR_SAMPLES: usize = 8;
/// A face is scored when at least this share of its box is inside the frame …
const MIN_VISIBLE_SHARE: f64 = 0.3;
/// … its visible part is at least this many pixels across …
const MIN_VISIBLE_PX: u32 = 8;
/// … and at most this share of the visible part is hidden behind nearer faces.
const MAX_OCCLUDED: f64 = 0.35;
/// Night look: luma contrast about black, black lift, sensor noise (luma levels, 1 σ).
const NIGHT_CONTRAST: f32 = 0.42;
const NIGHT_LIFT: f32 = 22.0;
const NIGHT_NOISE: f32 = 5.0;
/// Skin is bright under infrared light: faces are drawn this much brighter at night, up to
/// [`NIGHT_MAX_GAIN`] (beyond which bright photos clip and lose their detail).
const NIGHT_FACE_GAIN: f32 = 1.35;
const NIGHT_MAX_GAIN: f32 = 1.2;
/// Backlight: the glow behind a backlit face reaches this many face heights from its centre …
const GLOW_RADIUS: f64 = 2.4;
/// … and lifts the luma there this far towards white (fading out over the outer half).
const GLOW_STRENGTH: f32 = 0.8;

/// Which look a clip has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    /// Colour daylight street.
    Day,
    /// Infrared-like night: grey, low contrast, noisy.
    Night,
    /// Faces on the heads of the people walking in the footage ([`super::walkers`]), by day.
    Walkers,
    /// The walkers in the night look.
    #[serde(rename = "walkers-night")]
    WalkersNight,
}

impl Variant {
    /// The variants a plain run measures (the walkers are asked for by name).
    pub const ALL: [Variant; 2] = [Variant::Day, Variant::Night];

    pub fn name(self) -> &'static str {
        match self {
            Variant::Day => "day",
            Variant::Night => "night",
            Variant::Walkers => "walkers",
            Variant::WalkersNight => "walkers-night",
        }
    }

    /// Whether the clip has the infrared-like night look.
    pub fn is_night(self) -> bool {
        matches!(self, Variant::Night | Variant::WalkersNight)
    }

    /// Each variant gets its own scene from the same user seed.
    fn seed_salt(self) -> u64 {
        match self {
            Variant::Day => 0x6461_795F_7363_656E,
            Variant::Night => 0x6E69_6768_745F_7363,
            Variant::Walkers => 0x7761_6C6B_5F64_6179,
            Variant::WalkersNight => 0x7761_6C6B_5F6E_6974,
        }
    }
}

/// Everything that determines a generated clip.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GenerateSettings {
    pub variant: Variant,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub seconds: f64,
    /// Lanes of faces running at once.
    pub faces: u32,
    pub seed: u64,
    pub crf: u32,
    pub preset: String,
}

impl GenerateSettings {
    pub fn new(variant: Variant) -> Self {
        GenerateSettings {
            variant,
            width: DEFAULT_WIDTH,
            height: DEFAULT_HEIGHT,
            fps: DEFAULT_FPS,
            seconds: DEFAULT_SECONDS,
            faces: DEFAULT_FACES,
            seed: DEFAULT_SEED,
            crf: DEFAULT_CRF,
            preset: DEFAULT_PRESET.into(),
        }
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(EvalError::Settings(m));
        if self.width < 64 || self.height < 64 || self.width % 2 == 1 || self.height % 2 == 1 {
            return bad(format!("frame size {}x{}: both sides must be even and at least 64", self.width, self.height));
        }
        if self.fps == 0 || self.fps > 240 {
            return bad(format!("fps {}: expected 1–240", self.fps));
        }
        if !(self.seconds > 0.0 && self.seconds <= 600.0) {
            return bad(format!("seconds {}: expected more than 0 and at most 600", self.seconds));
        }
        if self.faces == 0 || self.faces > 64 {
            return bad(format!("faces {}: expected 1–64", self.faces));
        }
        if self.crf > 51 || !veilcam::sink::file::PRESETS.contains(&self.preset.as_str()) {
            return bad(format!("encoder crf {} / preset '{}' not valid for x264", self.crf, self.preset));
        }
        Ok(())
    }

    pub fn frame_count(&self) -> u64 {
        (self.seconds * self.fps as f64).round().max(1.0) as u64
    }

    fn scene_seed(&self) -> u64 {
        self.seed ^ self.variant.seed_salt()
    }
}

/// Where the source media live (the repository's `sample_media/` by default).
#[derive(Clone, Debug)]
pub struct MediaPaths {
    pub dir: PathBuf,
}

impl Default for MediaPaths {
    fn default() -> Self {
        MediaPaths { dir: PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../sample_media")) }
    }
}

impl MediaPaths {
    pub fn background(&self) -> PathBuf {
        self.dir.join(BACKGROUND)
    }

    /// Every file the generator reads.
    pub fn sources(&self) -> Vec<PathBuf> {
        let mut v = vec![self.background()];
        v.extend(PHOTOS.iter().map(|p| p.path(&self.dir)));
        v
    }
}

/// The cache key of a clip: generator version, settings and the bytes of every source file.
pub fn content_key(settings: &GenerateSettings, media: &MediaPaths) -> Result<String> {
    let mut h = Fnv64::default();
    h.update(GENERATOR_VERSION.as_bytes());
    h.update(serde_json::to_string(settings).expect("settings serialise").as_bytes());
    for path in media.sources() {
        let bytes = std::fs::read(&path).map_err(|e| EvalError::io(&path, e))?;
        h.update(&(bytes.len() as u64).to_le_bytes());
        h.update(&bytes);
    }
    Ok(format!("{:016x}", h.finish()))
}

/// What a generation produced.
#[derive(Clone, Debug, Serialize)]
pub struct GenerateSummary {
    pub video: PathBuf,
    pub truth: PathBuf,
    pub frames: u64,
    pub tracks: usize,
    /// Face boxes counted in recall, and all drawn face boxes.
    pub faces_scored: usize,
    pub faces_drawn: usize,
    pub faces_per_frame: f64,
    pub seconds: f64,
}

/// A packed I420 picture (stride = width).
#[derive(Clone, Debug)]
pub struct Canvas {
    pub width: usize,
    pub height: usize,
    pub y: Vec<u8>,
    pub u: Vec<u8>,
    pub v: Vec<u8>,
}

impl Canvas {
    pub fn new(width: usize, height: usize) -> Self {
        let (cw, ch) = (width / 2, height / 2);
        Canvas { width, height, y: vec![16; width * height], u: vec![128; cw * ch], v: vec![128; cw * ch] }
    }

    /// Copies the planes into a GStreamer buffer laid out as `info` says (its own strides).
    fn to_buffer(&self, info: &gst_video::VideoInfo) -> gst::Buffer {
        let mut data = vec![0u8; info.size()];
        let planes: [(&[u8], usize, usize); 3] =
            [(&self.y, self.width, self.height), (&self.u, self.width / 2, self.height / 2), (&self.v, self.width / 2, self.height / 2)];
        for (i, (src, w, h)) in planes.into_iter().enumerate() {
            let (offset, stride) = (info.offset()[i], info.stride()[i] as usize);
            for row in 0..h {
                data[offset + row * stride..offset + row * stride + w].copy_from_slice(&src[row * w..(row + 1) * w]);
            }
        }
        gst::Buffer::from_mut_slice(data)
    }

    /// Draws a layer over the picture (premultiplied "over"); chroma takes the 2×2 mean.
    /// Brightens a disc around a face (its centre and height given) towards white and washes
    /// out its colour: the bright background of a backlit face.
    fn glow(&mut self, cx: f64, cy: f64, face_h: f64) {
        let r = GLOW_RADIUS * face_h;
        let (w, h) = (self.width as f64, self.height as f64);
        let (x0, x1) = ((cx - r).floor().max(0.0) as usize, (cx + r).ceil().min(w).max(0.0) as usize);
        let (y0, y1) = ((cy - r).floor().max(0.0) as usize, (cy + r).ceil().min(h).max(0.0) as usize);
        let weight = |x: f64, y: f64| {
            let d = ((x - cx).powi(2) + (y - cy).powi(2)).sqrt() / r;
            GLOW_STRENGTH * ((1.0 - d) * 2.0).clamp(0.0, 1.0) as f32
        };
        for y in y0..y1 {
            for x in x0..x1 {
                let a = weight(x as f64 + 0.5, y as f64 + 0.5);
                if a > 0.0 {
                    let p = &mut self.y[y * self.width + x];
                    *p = (*p as f32 + (235.0 - *p as f32) * a).round() as u8;
                }
            }
        }
        let cw = self.width / 2;
        for y in y0 / 2..y1.div_ceil(2).min(self.height / 2) {
            for x in x0 / 2..x1.div_ceil(2).min(cw) {
                let a = weight(2.0 * x as f64 + 1.0, 2.0 * y as f64 + 1.0);
                if a > 0.0 {
                    for plane in [&mut self.u, &mut self.v] {
                        let p = &mut plane[y * cw + x];
                        *p = (*p as f32 + (128.0 - *p as f32) * a).round() as u8;
                    }
                }
            }
        }
    }

    fn composite(&mut self, layer: &Layer) {
        let cw = self.width / 2;
        for ly in 0..layer.h {
            let row = &layer.px[ly * layer.w..(ly + 1) * layer.w];
            let dst = &mut self.y[(layer.y0 + ly) * self.width + layer.x0..][..layer.w];
            for (d, p) in dst.iter_mut().zip(row) {
                if p[3] > 0.0 {
                    *d = (*d as f32 * (1.0 - p[3]) + p[0]).round().clamp(0.0, 255.0) as u8;
                }
            }
        }
        for cy in 0..layer.h / 2 {
            for cx in 0..layer.w / 2 {
                let mut acc = [0.0f32; 4];
                for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                    let p = layer.px[(2 * cy + dy) * layer.w + 2 * cx + dx];
                    for c in 0..4 {
                        acc[c] += p[c] * 0.25;
                    }
                }
                if acc[3] <= 0.0 {
                    continue;
                }
                let i = (layer.y0 / 2 + cy) * cw + layer.x0 / 2 + cx;
                self.u[i] = (self.u[i] as f32 * (1.0 - acc[3]) + acc[1]).round().clamp(0.0, 255.0) as u8;
                self.v[i] = (self.v[i] as f32 * (1.0 - acc[3]) + acc[2]).round().clamp(0.0, 255.0) as u8;
            }
        }
    }

    /// Grey, low-contrast and noisy, like an infrared night picture.
    fn night_look(&mut self, rng: &mut SplitMix64) {
        for p in &mut self.y {
            let v = 16.0 + NIGHT_LIFT + (*p as f32 - 16.0) * NIGHT_CONTRAST + rng.noise() * NIGHT_NOISE;
            *p = v.round().clamp(16.0, 235.0) as u8;
        }
        self.u.fill(128);
        self.v.fill(128);
    }
}

/// Bilinear "cover" scaling of a source picture to the canvas: scaled until both sides are
/// covered, then centre-cropped. Tap tables are built once per plane.
struct Upscaler {
    planes: [PlaneTaps; 3],
}

struct PlaneTaps {
    xs: Vec<(usize, f32)>,
    ys: Vec<(usize, f32)>,
}

impl PlaneTaps {
    fn new(src: (usize, usize), dst: (usize, usize), scale: f64, crop: (f64, f64)) -> Self {
        let taps = |n_dst: usize, n_src: usize, off: f64| {
            (0..n_dst)
                .map(|i| {
                    let s = ((i as f64 + 0.5 + off) / scale - 0.5).clamp(0.0, (n_src - 1) as f64);
                    let i0 = (s.floor() as usize).min(n_src.saturating_sub(2));
                    (i0, (s - i0 as f64) as f32)
                })
                .collect()
        };
        PlaneTaps { xs: taps(dst.0, src.0, crop.0), ys: taps(dst.1, src.1, crop.1) }
    }
}

impl Upscaler {
    fn new(src_w: usize, src_h: usize, dst_w: usize, dst_h: usize) -> Self {
        let scale = (dst_w as f64 / src_w as f64).max(dst_h as f64 / src_h as f64);
        let crop = ((src_w as f64 * scale - dst_w as f64) / 2.0, (src_h as f64 * scale - dst_h as f64) / 2.0);
        let luma = PlaneTaps::new((src_w, src_h), (dst_w, dst_h), scale, crop);
        let chroma = || {
            PlaneTaps::new((src_w.div_ceil(2), src_h.div_ceil(2)), (dst_w / 2, dst_h / 2), scale, (crop.0 / 2.0, crop.1 / 2.0))
        };
        Upscaler { planes: [luma, chroma(), chroma()] }
    }

    fn run(&self, pic: &Picture<'_>, canvas: &mut Canvas) {
        let w = canvas.width;
        let outs: [(&mut Vec<u8>, usize); 3] = [(&mut canvas.y, w), (&mut canvas.u, w / 2), (&mut canvas.v, w / 2)];
        for ((dst, dw), (taps, plane)) in outs.into_iter().zip(self.planes.iter().zip(&pic.planes)) {
            let mut tmp = vec![0.0f32; plane.width];
            for (row, &(y0, wy)) in taps.ys.iter().enumerate() {
                let (a, b) = (plane.row(y0), plane.row((y0 + 1).min(plane.height - 1)));
                for (t, (&pa, &pb)) in tmp.iter_mut().zip(a.iter().zip(b)) {
                    *t = pa as f32 + (pb as f32 - pa as f32) * wy;
                }
                let out = &mut dst[row * dw..(row + 1) * dw];
                for (o, &(x0, wx)) in out.iter_mut().zip(&taps.xs) {
                    let (l, r) = (tmp[x0], tmp[(x0 + 1).min(tmp.len() - 1)]);
                    *o = (l + (r - l) * wx).round() as u8;
                }
            }
        }
    }
}

/// A face drawn into the current frame.
struct Drawn {
    track: u32,
    face_box: [f64; 4],
    /// Drawn in front of a glow (backlight).
    backlit: bool,
    layer: Option<Layer>,
}

/// Generates one clip and its truth file.
pub fn generate(settings: &GenerateSettings, media: &MediaPaths, video: &Path, truth_path: &Path) -> Result<GenerateSummary> {
    settings.validate()?;
    let started = Instant::now();
    let key = content_key(settings, media)?;
    let (w, h) = (settings.width as usize, settings.height as usize);

    // Two cut-outs per photo (as taken and mirrored).
    let mut sprites = Vec::new();
    for spec in &PHOTOS {
        sprites.push([Sprite::load(spec, &media.dir, false)?, Sprite::load(spec, &media.dir, true)?]);
    }
    let scene_settings = SceneSettings {
        width: settings.width,
        height: settings.height,
        seconds: settings.seconds,
        slots: settings.faces,
        seed: settings.scene_seed(),
        photos: PHOTOS.len(),
    };
    let tracks = match settings.variant {
        Variant::Walkers | Variant::WalkersNight => super::walkers::plan(&media.background(), &scene_settings)?,
        Variant::Day | Variant::Night => scene::plan(&scene_settings),
    };

    let mut background = FileSource::open(&media.background())?;
    let bg_info = Arc::clone(background.info());
    let bg_fps = bg_info.fps();
    if bg_fps.numer() <= 0 || bg_fps.denom() <= 0 {
        return Err(EvalError::Settings(format!("{}: background has no frame rate", media.background().display())));
    }
    let upscaler = Upscaler::new(bg_info.width() as usize, bg_info.height() as usize, w, h);
    let mut bg_canvas = Canvas::new(w, h);
    let mut bg_index: Option<u64> = None;

    let info = gst_video::VideoInfo::builder(gst_video::VideoFormat::I420, settings.width, settings.height)
        .fps(gst::Fraction::new(settings.fps as i32, 1))
        .build()
        .map_err(|e| EvalError::Settings(format!("video format: {e}")))?;
    let caps = info.to_caps().map_err(|e| EvalError::Settings(format!("video caps: {e}")))?;
    let info = Arc::new(info);
    if let Some(dir) = video.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| EvalError::io(dir, e))?;
    }
    let enc = EncoderSettings { preset: settings.preset.clone(), crf: settings.crf, threads: 1 };
    let mut sink = FileSink::create(AtomicOutput::prepare(video, true)?, &caps, &enc, None)?;

    let frame_count = settings.frame_count();
    let fps = settings.fps as f64;
    let pts = |i: u64| gst::ClockTime::from_nseconds(i * 1_000_000_000 / settings.fps as u64);
    let mut noise = SplitMix64::new(settings.scene_seed() ^ 0x006E_6F69_7365);
    let mut frames = Vec::with_capacity(frame_count as usize);
    let (mut scored, mut drawn_total) = (0usize, 0usize);

    for i in 0..frame_count {
        let t = i as f64 / fps;
        // Background frame shown at time t (the background keeps its own frame rate).
        let want = (t * bg_fps.numer() as f64 / bg_fps.denom() as f64 + 1e-9).floor() as u64;
        while bg_index.is_none_or(|b| b < want) {
            match background.next_frame()? {
                Some(frame) => {
                    frame.with_picture(|pic| upscaler.run(pic, &mut bg_canvas))?;
                    bg_index = Some(bg_index.map_or(0, |b| b + 1));
                }
                // Shorter background than clip: the last frame stays.
                None if bg_index.is_some() => break,
                None => return Err(EvalError::Settings(format!("{}: no frames", media.background().display()))),
            }
        }
        let mut canvas = bg_canvas.clone();

        let face_gain = if settings.variant.is_night() { (NIGHT_FACE_GAIN, NIGHT_MAX_GAIN) } else { (1.0, f32::MAX) };
        let mut drawn = draw_faces(&tracks, &sprites, t, fps, face_gain, w, h);
        for d in &drawn {
            if d.backlit {
                let [x1, y1, x2, y2] = d.face_box;
                canvas.glow((x1 + x2) / 2.0, (y1 + y2) / 2.0, y2 - y1);
            }
            if let Some(layer) = &d.layer {
                canvas.composite(layer);
            }
        }
        if settings.variant.is_night() {
            canvas.night_look(&mut noise);
        }
        let faces = label(&mut drawn, w, h);
        scored += faces.iter().filter(|f| f.scored).count();
        drawn_total += faces.len();
        frames.push(TruthFrame { index: i, pts_ns: pts(i).nseconds(), faces });

        let mut buffer = canvas.to_buffer(&info);
        {
            let b = buffer.get_mut().expect("new buffer is writable");
            b.set_pts(pts(i));
            b.set_duration(pts(i + 1) - pts(i));
        }
        sink.push(Frame { index: i, buffer, info: Arc::clone(&info) })?;
    }
    drop(background);
    let finished = sink.finish()?;
    let written = finished.target().to_path_buf();
    finished.commit()?;
    fix_mp4_times(&written)?;

    let truth = Truth {
        format: TRUTH_FORMAT.into(),
        variant: settings.variant.name().into(),
        seed: settings.seed,
        key,
        width: settings.width,
        height: settings.height,
        fps_n: settings.fps as i32,
        fps_d: 1,
        frame_count,
        duration_ns: pts(frame_count).nseconds(),
        box_format: "x,y,w,h: visible face box in whole pixels (clipped to the frame); full: unclipped [x1,y1,x2,y2]".into(),
        tracks: tracks
            .iter()
            .map(|t| TruthTrack {
                id: t.id,
                photo: PHOTOS[t.photo].name.into(),
                set: Some(PHOTOS[t.photo].set),
                yaw_deg: PHOTOS[t.photo].yaw_deg,
                light: Some(t.light),
                fast: t.fast,
                mirrored: t.mirrored,
                start_s: round2(t.t0),
                end_s: round2(t.t1),
            })
            .collect(),
        frames,
    };
    truth.write(truth_path)?;
    Ok(GenerateSummary {
        video: written,
        truth: truth_path.to_path_buf(),
        frames: frame_count,
        tracks: tracks.len(),
        faces_scored: scored,
        faces_drawn: drawn_total,
        faces_per_frame: scored as f64 / frame_count as f64,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Renders every track that is on screen at time `t`, farthest (smallest) first. The track's
/// own brightness is capped by `gain.1` (at night: bright photos would clip); its light
/// condition's gain applies after the cap (over-exposure is meant to clip).
fn draw_faces(tracks: &[Track], sprites: &[[Sprite; 2]], t: f64, fps: f64, gain: (f32, f32), w: usize, h: usize) -> Vec<Drawn> {
    let mut live: Vec<(&Track, f64)> = tracks.iter().filter_map(|tr| tr.at(t).map(|s| (tr, s.face_h))).collect();
    live.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.id.cmp(&b.0.id)));
    live.into_iter()
        .map(|(track, _)| {
            let sprite = &sprites[track.photo][track.mirrored as usize];
            let light = track.light_gain as f32;
            let pose = |s: scene::TrackState| Pose { cx: s.cx, cy: s.cy, face_h: s.face_h, gain: (s.gain as f32 * gain.0).min(gain.1) * light };
            let centre = pose(track.at_clamped(t));
            let shutter = SHUTTER / fps;
            let (a, b) = (track.at_clamped(t - shutter / 2.0), track.at_clamped(t + shutter / 2.0));
            let blur_px = ((b.cx - a.cx).powi(2) + (b.cy - a.cy).powi(2)).sqrt();
            let n = ((blur_px / 1.5).ceil() as usize).clamp(1, MAX_BLUR_SAMPLES);
            let poses: Vec<Pose> = if n == 1 {
                vec![centre]
            } else {
                (0..n).map(|k| pose(track.at_clamped(t + shutter * ((k as f64 + 0.5) / n as f64 - 0.5)))).collect()
            };
            Drawn {
                track: track.id,
                face_box: sprite.face_box(&centre),
                backlit: track.light == Light::Backlight,
                layer: sprite.render(&poses, w, h),
            }
        })
        .collect()
}

/// Truth records for the faces drawn in one frame (in draw order).
fn label(drawn: &mut [Drawn], w: usize, h: usize) -> Vec<TruthFace> {
    let mut faces = Vec::new();
    for i in 0..drawn.len() {
        let [x1, y1, x2, y2] = drawn[i].face_box;
        let (cx1, cy1, cx2, cy2) = (x1.max(0.0), y1.max(0.0), x2.min(w as f64), y2.min(h as f64));
        if cx2 <= cx1 || cy2 <= cy1 {
            continue;
        }
        let (ix1, iy1) = (cx1.floor() as usize, cy1.floor() as usize);
        let (ix2, iy2) = (cx2.ceil() as usize, cy2.ceil() as usize);
        let visible_share = (cx2 - cx1) * (cy2 - cy1) / ((x2 - x1) * (y2 - y1));
        // Share of the visible box under a nearer face's cut-out.
        let nearer: Vec<&Layer> = drawn[i + 1..].iter().filter_map(|d| d.layer.as_ref()).collect();
        let mut covered = 0usize;
        if !nearer.is_empty() {
            for y in iy1..iy2 {
                for x in ix1..ix2 {
                    if nearer.iter().any(|l| l.alpha_at(x, y) > 0.5) {
                        covered += 1;
                    }
                }
            }
        }
        let occluded = covered as f64 / ((ix2 - ix1) * (iy2 - iy1)) as f64;
        let (bw, bh) = ((ix2 - ix1) as u32, (iy2 - iy1) as u32);
        let partial = x1 < 0.0 || y1 < 0.0 || x2 > w as f64 || y2 > h as f64;
        let scored = visible_share >= MIN_VISIBLE_SHARE
            && bw >= MIN_VISIBLE_PX
            && bh >= MIN_VISIBLE_PX
            && occluded <= MAX_OCCLUDED;
        faces.push(TruthFace {
            track: drawn[i].track,
            x: ix1 as u32,
            y: iy1 as u32,
            w: bw,
            h: bh,
            full: [x1, y1, x2, y2].map(|v| round2(v) as f32),
            bucket: SizeBucket::of_height(y2 - y1),
            partial,
            occluded: round2(occluded) as f32,
            scored,
        });
    }
    faces.sort_by_key(|f| f.track);
    faces
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// 2024-01-01T00:00:00Z in seconds since 1904-01-01 (the MP4 epoch).
const MP4_FIXED_TIME: u64 = 3_786_912_000;

/// mp4mux stamps the wall-clock time into `mvhd`, `tkhd` and `mdhd`; a fixed time makes a
/// regenerated clip byte-identical.
fn fix_mp4_times(path: &Path) -> Result<()> {
    let mut data = std::fs::read(path).map_err(|e| EvalError::io(path, e))?;
    fn walk(data: &mut [u8], start: usize, end: usize) -> usize {
        let mut patched = 0;
        let mut pos = start;
        while pos + 8 <= end {
            let mut size = u32::from_be_bytes(data[pos..pos + 4].try_into().expect("4 bytes")) as usize;
            let kind: [u8; 4] = data[pos + 4..pos + 8].try_into().expect("4 bytes");
            let mut header = 8;
            if size == 1 && pos + 16 <= end {
                size = u64::from_be_bytes(data[pos + 8..pos + 16].try_into().expect("8 bytes")) as usize;
                header = 16;
            } else if size == 0 {
                size = end - pos;
            }
            if size < header || pos + size > end {
                break;
            }
            let body = pos + header;
            match &kind {
                b"moov" | b"trak" | b"mdia" => patched += walk(data, body, pos + size),
                b"mvhd" | b"tkhd" | b"mdhd" if body + 20 <= pos + size => {
                    if data[body] == 1 {
                        for off in [4, 12] {
                            data[body + off..body + off + 8].copy_from_slice(&MP4_FIXED_TIME.to_be_bytes());
                        }
                    } else {
                        for off in [4, 8] {
                            data[body + off..body + off + 4].copy_from_slice(&(MP4_FIXED_TIME as u32).to_be_bytes());
                        }
                    }
                    patched += 1;
                }
                _ => {}
            }
            pos += size;
        }
        patched
    }
    let len = data.len();
    if walk(&mut data, 0, len) < 3 {
        return Err(EvalError::Settings(format!("{}: mvhd/tkhd/mdhd not found", path.display())));
    }
    std::fs::write(path, &data).map_err(|e| EvalError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backlight_glow_brightens_around_the_face_and_leaves_the_rest() {
        let mut c = Canvas::new(200, 100);
        c.y.fill(60);
        c.u.fill(90);
        c.glow(50.0, 50.0, 10.0);
        assert_eq!(c.y[50 * 200 + 50], 200, "centre lifted 80 % of the way to white");
        assert!(c.y[50 * 200 + 66] > 60 && c.y[50 * 200 + 66] < 200, "fades out");
        assert_eq!(c.y[50 * 200 + 190], 60, "far away untouched");
        assert!(c.u[25 * 100 + 25] > 90 && c.u[25 * 100 + 25] <= 128, "colour washed out");
        assert_eq!(c.u[25 * 100 + 95], 90);
    }
}
