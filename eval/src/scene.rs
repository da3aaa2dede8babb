//! Scene planning: which faces appear when, where they go, how big and how bright they are.
//!
//! The frame is filled by `slots` independent lanes. Each lane runs tracks one after another;
//! a track enters from one edge of the frame, passes one or two interior waypoints on a
//! Hermite curve timed by distance (smooth, near-constant velocity), and leaves by another edge, while its face height
//! drifts between two values and its brightness breathes slowly. The first track of each lane
//! is already under way at t = 0, so the clip starts with faces in view. Everything is drawn
//! from one [`SplitMix64`] seed.

use super::rng::SplitMix64;

/// Share of tracks whose starting face height falls in 12–24, 24–48, 48–96 and 96+ px: small
/// faces (the doorbell's street) dominate.
const BUCKET_WEIGHTS: [f64; 4] = [0.3, 0.32, 0.18, 0.2];
/// Bucket limits in face-height pixels; the last is capped by [`max_face_height`].
const BUCKET_EDGES: [f64; 5] = [12.0, 24.0, 48.0, 96.0, 240.0];
/// Share of fast tracks (visible motion blur).
const FAST_SHARE: f64 = 0.15;
/// Speeds in face heights per second: near (big) faces cross more pixels than far ones, and
/// motion blur stays a fraction of the face (at 25 fps and a half-frame shutter, a fast track
/// smears by 0.1–0.18 face heights).
const SPEED_NORMAL: (f64, f64) = (0.8, 4.0);
const SPEED_FAST: (f64, f64) = (5.0, 9.0);
/// Slowest speed, in frame widths per second.
const MIN_SPEED: f64 = 0.03;
/// Shortest and longest time a track is on its path, seconds.
const LIFETIME: (f64, f64) = (2.0, 30.0);
/// Entry/exit edges: left, right, bottom, top.
const SIDE_WEIGHTS: [f64; 4] = [0.35, 0.35, 0.2, 0.1];
/// Share of tracks lit as photographed, over-exposed, under-exposed and backlit (order of
/// [`Light::ALL`]).
const LIGHT_WEIGHTS: [f64; 4] = [0.55, 0.15, 0.15, 0.15];
/// Luma gain about black of an over-exposed face (bright skin clips, detail washes out) …
const OVER_GAIN: (f64, f64) = (1.7, 2.3);
/// … of an under-exposed one …
const UNDER_GAIN: (f64, f64) = (0.28, 0.42);
/// … and of a backlit one, whose surroundings are also brightened (see `generate`).
const BACKLIGHT_GAIN: (f64, f64) = (0.35, 0.5);
/// Salt of the per-track light draw: a stream apart from the paths, so that adding the light
/// conditions left every path, size and speed as it was.
const LIGHT_SALT: u64 = 0x6C69_6768_745F_6472;

/// How a track's face is lit: a deterministic draw per track.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Light {
    /// As photographed (with the slow brightness drift every track has).
    Normal,
    /// Washed out: the face drawn 1.7–2.3× brighter, clipping.
    Over,
    /// Dark: the face drawn at 0.28–0.42× its brightness.
    Under,
    /// Dark face (0.35–0.5×) in front of a bright glow (sky, window, headlights).
    Backlight,
}

impl Light {
    pub const ALL: [Light; 4] = [Light::Normal, Light::Over, Light::Under, Light::Backlight];

    pub fn name(self) -> &'static str {
        match self {
            Light::Normal => "normal",
            Light::Over => "over",
            Light::Under => "under",
            Light::Backlight => "backlight",
        }
    }
}

/// What the planner needs to know about the picture.
#[derive(Clone, Copy, Debug)]
pub struct SceneSettings {
    pub width: u32,
    pub height: u32,
    pub seconds: f64,
    pub slots: u32,
    pub seed: u64,
    /// Number of distinct face photographs.
    pub photos: usize,
}

/// A face's path through the clip.
#[derive(Clone, Debug)]
pub struct Track {
    pub id: u32,
    pub photo: usize,
    pub mirrored: bool,
    /// Moves fast enough to smear visibly (motion blur).
    pub fast: bool,
    pub light: Light,
    /// Luma gain of the light condition, on top of the track's own brightness.
    pub light_gain: f64,
    pub t0: f64,
    pub t1: f64,
    /// Face-centre waypoints and the share of `[t0, t1]` at which each is passed (in
    /// proportion to the distance travelled, so the speed is about constant).
    keys: Vec<(f64, f64)>,
    key_times: Vec<f64>,
    h0: f64,
    h1: f64,
    gain0: f64,
    gain_amp: f64,
    gain_period: f64,
    gain_phase: f64,
}

/// Position, size and brightness at one instant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrackState {
    pub cx: f64,
    pub cy: f64,
    pub face_h: f64,
    pub gain: f64,
}

impl Track {
    /// A track along a path found in footage rather than planned: face centres `keys` passed
    /// at shares `key_times` (0 to 1) of `life` (start and end, seconds), the face height going
    /// from `heights.0` to `heights.1`, at a steady brightness `gain`, in normal light.
    #[allow(clippy::too_many_arguments)]
    pub fn along(id: u32, photo: usize, mirrored: bool, life: (f64, f64), keys: Vec<(f64, f64)>, key_times: Vec<f64>, heights: (f64, f64), gain: f64) -> Track {
        Track {
            id,
            photo,
            mirrored,
            fast: false,
            light: Light::Normal,
            light_gain: 1.0,
            t0: life.0,
            t1: life.1,
            keys,
            key_times,
            h0: heights.0,
            h1: heights.1,
            gain0: gain,
            gain_amp: 0.0,
            gain_period: 1.0,
            gain_phase: 0.0,
        }
    }

    /// The state at time `t` (seconds), or `None` outside the track's life.
    pub fn at(&self, t: f64) -> Option<TrackState> {
        if t < self.t0 || t > self.t1 {
            return None;
        }
        Some(self.at_clamped(t))
    }

    /// The state at `t` clamped to the track's life (for motion-blur samples at its ends).
    pub fn at_clamped(&self, t: f64) -> TrackState {
        let u = ((t - self.t0) / (self.t1 - self.t0)).clamp(0.0, 1.0);
        let (cx, cy) = hermite(&self.keys, &self.key_times, u);
        let e = u * u * (3.0 - 2.0 * u);
        let face_h = self.h0 * (self.h1 / self.h0).powf(e);
        let gain = self.gain0 + self.gain_amp * (std::f64::consts::TAU * t / self.gain_period + self.gain_phase).sin();
        TrackState { cx, cy, face_h, gain: gain.clamp(0.4, 1.25) }
    }
}

/// Largest face generated in a frame of this height.
pub fn max_face_height(height: u32) -> f64 {
    (height as f64 * 0.24).min(BUCKET_EDGES[4])
}

/// Plans every track of a clip.
pub fn plan(s: &SceneSettings) -> Vec<Track> {
    let root = SplitMix64::new(s.seed);
    let mut tracks = Vec::new();
    for slot in 0..s.slots {
        let mut rng = root.fork(slot as u64 + 1);
        let mut first = true;
        let mut t = 0.0;
        while t < s.seconds {
            let id = tracks.len() as u32;
            let mut track = plan_track(&mut rng, s, id);
            draw_light(&mut track, &mut root.fork(LIGHT_SALT ^ id as u64));
            let life = track.t1 - track.t0;
            let start = if first { -rng.range(0.1, 0.9) * life } else { t };
            track.t0 = start;
            track.t1 = start + life;
            t = track.t1 + rng.range(0.0, 1.2);
            first = false;
            tracks.push(track);
        }
    }
    tracks
}

fn plan_track(rng: &mut SplitMix64, s: &SceneSettings, id: u32) -> Track {
    let (w, h) = (s.width as f64, s.height as f64);
    let hmax = max_face_height(s.height);
    // Starting face height: a bucket, then log-uniform inside it (empty buckets skipped).
    let weights: Vec<f64> = (0..4).map(|b| if BUCKET_EDGES[b] < hmax { BUCKET_WEIGHTS[b] } else { 0.0 }).collect();
    let b = rng.weighted(&weights);
    let h0 = rng.log_range(BUCKET_EDGES[b], BUCKET_EDGES[b + 1].min(hmax));
    let h1 = (h0 * rng.log_range(0.6, 1.7)).clamp(BUCKET_EDGES[0], hmax);

    let entry = rng.weighted(&SIDE_WEIGHTS);
    let exit = loop {
        let side = rng.weighted(&SIDE_WEIGHTS);
        if side != entry {
            break side;
        }
    };
    let mut keys = vec![edge_point(rng, entry, w, h, h0)];
    for _ in 0..1 + rng.below(2) {
        keys.push((rng.range(0.08, 0.92) * w, rng.range(0.12, 0.88) * h));
    }
    keys.push(edge_point(rng, exit, w, h, h1));
    let mut cumulative = vec![0.0];
    for p in keys.windows(2) {
        let d = ((p[1].0 - p[0].0).powi(2) + (p[1].1 - p[0].1).powi(2)).sqrt();
        cumulative.push(cumulative.last().expect("non-empty") + d);
    }
    let length = *cumulative.last().expect("non-empty");
    let key_times = cumulative.iter().map(|c| c / length).collect();
    let fast = rng.chance(FAST_SHARE);
    let (lo, hi) = if fast { SPEED_FAST } else { SPEED_NORMAL };
    let speed = (rng.range(lo, hi) * (h0 * h1).sqrt()).max(MIN_SPEED * w);
    let life = (length / speed).clamp(LIFETIME.0, LIFETIME.1);

    Track {
        id,
        photo: rng.below(s.photos),
        mirrored: rng.chance(0.5),
        fast,
        light: Light::Normal,
        light_gain: 1.0,
        t0: 0.0,
        t1: life,
        keys,
        key_times,
        h0,
        h1,
        gain0: rng.range(0.6, 1.1),
        gain_amp: rng.range(0.0, 0.15),
        gain_period: rng.range(2.0, 6.0),
        gain_phase: rng.range(0.0, std::f64::consts::TAU),
    }
}

/// The track's light condition and its gain.
fn draw_light(track: &mut Track, rng: &mut SplitMix64) {
    track.light = Light::ALL[rng.weighted(&LIGHT_WEIGHTS)];
    track.light_gain = match track.light {
        Light::Normal => 1.0,
        Light::Over => rng.range(OVER_GAIN.0, OVER_GAIN.1),
        Light::Under => rng.range(UNDER_GAIN.0, UNDER_GAIN.1),
        Light::Backlight => rng.range(BACKLIGHT_GAIN.0, BACKLIGHT_GAIN.1),
    };
}

/// A point beyond one edge, far enough out that a face of height `face_h` (with its hair and
/// neck) is wholly outside.
fn edge_point(rng: &mut SplitMix64, side: usize, w: f64, h: f64, face_h: f64) -> (f64, f64) {
    let margin = 1.5 * face_h + 4.0;
    match side {
        0 => (-margin, rng.range(0.15, 0.85) * h),
        1 => (w + margin, rng.range(0.15, 0.85) * h),
        2 => (rng.range(0.1, 0.9) * w, h + margin),
        _ => (rng.range(0.1, 0.9) * w, -margin),
    }
}

/// Cubic Hermite curve through `keys` passed at `times` (increasing, 0 to 1), evaluated at `u`
/// in [0, 1]. Tangents are central differences over the neighbouring keys (one-sided at the
/// ends), so position and velocity are continuous (Catmull-Rom with non-uniform timing).
fn hermite(keys: &[(f64, f64)], times: &[f64], u: f64) -> (f64, f64) {
    let n = keys.len();
    if n == 1 {
        return keys[0];
    }
    let i = times.windows(2).position(|t| u <= t[1]).unwrap_or(n - 2);
    let tangent = |k: usize| {
        let (a, b) = (k.saturating_sub(1), (k + 1).min(n - 1));
        let dt = times[b] - times[a];
        ((keys[b].0 - keys[a].0) / dt, (keys[b].1 - keys[a].1) / dt)
    };
    let dt = times[i + 1] - times[i];
    let s = ((u - times[i]) / dt).clamp(0.0, 1.0);
    let (s2, s3) = (s * s, s * s * s);
    let (h00, h10, h01, h11) = (2.0 * s3 - 3.0 * s2 + 1.0, s3 - 2.0 * s2 + s, -2.0 * s3 + 3.0 * s2, s3 - s2);
    let (m0, m1) = (tangent(i), tangent(i + 1));
    let (p0, p1) = (keys[i], keys[i + 1]);
    (
        h00 * p0.0 + h10 * dt * m0.0 + h01 * p1.0 + h11 * dt * m1.0,
        h00 * p0.1 + h10 * dt * m0.1 + h01 * p1.1 + h11 * dt * m1.1,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> SceneSettings {
        SceneSettings { width: 1920, height: 1080, seconds: 10.0, slots: 8, seed: 42, photos: 3 }
    }

    #[test]
    fn same_seed_same_plan() {
        let a = plan(&settings());
        let b = plan(&settings());
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.at_clamped(1.234), y.at_clamped(1.234));
        }
    }

    #[test]
    fn paths_pass_their_waypoints_and_move_smoothly() {
        let keys = vec![(0.0, 0.0), (10.0, 5.0), (40.0, 0.0)];
        let times = vec![0.0, 0.25, 1.0];
        assert_eq!(hermite(&keys, &times, 0.0), (0.0, 0.0));
        let mid = hermite(&keys, &times, 0.25);
        assert!((mid.0 - 10.0).abs() < 1e-9 && (mid.1 - 5.0).abs() < 1e-9);
        let end = hermite(&keys, &times, 1.0);
        assert!((end.0 - 40.0).abs() < 1e-9 && end.1.abs() < 1e-9);
        for track in plan(&settings()) {
            let mut prev = track.at_clamped(track.t0);
            let steps: Vec<f64> = (1..=200)
                .map(|k| {
                    let st = track.at_clamped(track.t0 + (track.t1 - track.t0) * k as f64 / 200.0);
                    let step = ((st.cx - prev.cx).powi(2) + (st.cy - prev.cy).powi(2)).sqrt();
                    prev = st;
                    step
                })
                .collect();
            let mean = steps.iter().sum::<f64>() / steps.len() as f64;
            let max = steps.iter().cloned().fold(0.0, f64::max);
            // Timed by distance: no sudden sprints between waypoints.
            assert!(max < 2.5 * mean, "track {}: step {max:.1} px vs mean {mean:.1}", track.id);
        }
    }

    #[test]
    fn tracks_start_and_end_outside_the_frame_and_respect_size_limits() {
        let s = settings();
        for track in plan(&s) {
            for t in [track.t0, track.t1] {
                let st = track.at_clamped(t);
                let outside = st.cx < 0.0 || st.cy < 0.0 || st.cx > s.width as f64 || st.cy > s.height as f64;
                assert!(outside, "track {} at {t}: {st:?}", track.id);
                assert!(st.face_h >= 12.0 - 1e-9 && st.face_h <= max_face_height(s.height) + 1e-9);
            }
        }
    }

    #[test]
    fn every_light_condition_is_drawn_with_a_gain_in_its_range() {
        let s = SceneSettings { seconds: 60.0, ..settings() };
        let tracks = plan(&s);
        for light in Light::ALL {
            let n = tracks.iter().filter(|t| t.light == light).count();
            assert!(n >= tracks.len() / 20, "{}: {n} of {} tracks", light.name(), tracks.len());
        }
        assert!(tracks.iter().any(|t| t.fast) && tracks.iter().any(|t| !t.fast));
        for t in &tracks {
            let expected = match t.light {
                Light::Normal => (1.0, 1.0),
                Light::Over => OVER_GAIN,
                Light::Under => UNDER_GAIN,
                Light::Backlight => BACKLIGHT_GAIN,
            };
            assert!(t.light_gain >= expected.0 && t.light_gain <= expected.1, "track {}: {:?} {}", t.id, t.light, t.light_gain);
        }
    }
}
