//! Face cut-outs: a real photograph, its face box, and a feathered elliptical cut-out around
//! the head (hair and neck included) that can be drawn at any size, brightness and position.
//!
//! The cut-out is converted once to premultiplied BT.601 limited-range Y, U, V plus alpha at
//! full chroma resolution and kept as a pyramid of halvings, so that drawing a 12 px face from a
//! 120 px photo averages over the right area instead of aliasing.

use std::path::{Path, PathBuf};

use super::{EvalError, Result};

/// Width of the cut-out ellipse as a multiple of the face width.
const CUT_W: f64 = 1.9;
/// Height of the cut-out ellipse as a multiple of the face height.
const CUT_H: f64 = 2.2;
/// The ellipse centre lies this many face heights below the face centre (more neck than hair).
const CUT_DY: f64 = 0.15;
/// Alpha falls from 1 to 0 over this outer fraction of the ellipse radius.
const FEATHER: f64 = 0.22;

/// Which set an identity belongs to. Defaults may be tuned on [`IdentitySet::Tuning`] faces
/// only; [`IdentitySet::HeldOut`] faces are reported beside them and show whether what was tuned
/// generalises. The split is by person, never by image: every photo of one person is in one set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentitySet {
    Tuning,
    HeldOut,
}

impl IdentitySet {
    pub const ALL: [IdentitySet; 2] = [IdentitySet::Tuning, IdentitySet::HeldOut];

    pub fn name(self) -> &'static str {
        match self {
            IdentitySet::Tuning => "tuning",
            IdentitySet::HeldOut => "held_out",
        }
    }
}

/// A face photograph shipped in `sample_media/` and the face box found in it.
#[derive(Clone, Copy, Debug)]
pub struct PhotoSpec {
    /// File name recorded in the truth.
    pub name: &'static str,
    /// Path below the media directory.
    pub rel_path: &'static str,
    /// Tight face box `[x1, y1, x2, y2]` in photo pixels (CenterFace at full resolution;
    /// `scripts/eval_faces.py` reproduces them, sample_media/README.md lists them).
    pub face: [f64; 4],
    /// Who is pictured: photos of one person share this and their set.
    pub person: &'static str,
    pub set: IdentitySet,
    /// Head yaw in degrees where labelled (0 = frontal, 90 = full profile); `None`: unlabelled.
    pub yaw_deg: Option<f32>,
}

/// A face is a profile from this yaw on (reported as its own row).
pub const PROFILE_YAW_DEG: f32 = 60.0;

/// The photographs faces are cut from: every identity whose licence allows it that the package
/// search found (sample_media/README.md). The three the defaults were developed on are the
/// tuning set; the held-out set has never been used to choose a default.
pub const PHOTOS: [PhotoSpec; 4] = [
    PhotoSpec {
        name: "astronaut.png",
        rel_path: "astronaut.png",
        face: [181.53, 58.20, 269.88, 177.81],
        person: "Eileen Collins",
        set: IdentitySet::Tuning,
        yaw_deg: None,
    },
    PhotoSpec {
        name: "camera.png",
        rel_path: "faces/camera.png",
        face: [202.28, 118.91, 257.64, 196.86],
        person: "cameraman (skimage)",
        set: IdentitySet::Tuning,
        yaw_deg: None,
    },
    PhotoSpec {
        name: "left06.jpg",
        rel_path: "faces/left06.jpg",
        face: [240.31, 116.93, 324.17, 238.76],
        person: "calibration sequence (opencv)",
        set: IdentitySet::Tuning,
        yaw_deg: None,
    },
    PhotoSpec {
        name: "grace_hopper.jpg",
        rel_path: "faces/grace_hopper.jpg",
        face: [173.50, 127.67, 358.50, 334.06],
        person: "Grace Hopper",
        set: IdentitySet::HeldOut,
        yaw_deg: None,
    },
];

/// The photo's entry, by the file name recorded in the truth.
pub fn photo_by_name(name: &str) -> Option<&'static PhotoSpec> {
    PHOTOS.iter().find(|p| p.name == name)
}

impl PhotoSpec {
    pub fn path(&self, media_dir: &Path) -> PathBuf {
        media_dir.join(self.rel_path)
    }
}

/// Premultiplied `[Y·a, U·a, V·a, a]`.
pub type Px = [f32; 4];

/// One level of the pyramid.
#[derive(Clone, Debug)]
struct Level {
    w: usize,
    h: usize,
    px: Vec<Px>,
}

impl Level {
    #[inline]
    fn get(&self, x: isize, y: isize) -> Px {
        if x < 0 || y < 0 || x >= self.w as isize || y >= self.h as isize {
            [0.0; 4]
        } else {
            self.px[y as usize * self.w + x as usize]
        }
    }

    /// Bilinear sample at continuous coordinates (pixel centres at `i + 0.5`); zero outside.
    #[inline]
    fn sample(&self, u: f64, v: f64) -> Px {
        let (fx, fy) = (u - 0.5, v - 0.5);
        let (x0, y0) = (fx.floor(), fy.floor());
        let (ax, ay) = ((fx - x0) as f32, (fy - y0) as f32);
        let (x0, y0) = (x0 as isize, y0 as isize);
        let (p00, p10, p01, p11) = (self.get(x0, y0), self.get(x0 + 1, y0), self.get(x0, y0 + 1), self.get(x0 + 1, y0 + 1));
        let mut out = [0.0; 4];
        for c in 0..4 {
            let top = p00[c] + (p10[c] - p00[c]) * ax;
            let bottom = p01[c] + (p11[c] - p01[c]) * ax;
            out[c] = top + (bottom - top) * ay;
        }
        out
    }

    fn halved(&self) -> Level {
        let (w, h) = (self.w.div_ceil(2), self.h.div_ceil(2));
        let mut px = vec![[0.0; 4]; w * h];
        for y in 0..h {
            for x in 0..w {
                let mut acc = [0.0f32; 4];
                let mut n = 0.0f32;
                for (sx, sy) in [(2 * x, 2 * y), (2 * x + 1, 2 * y), (2 * x, 2 * y + 1), (2 * x + 1, 2 * y + 1)] {
                    if sx < self.w && sy < self.h {
                        let p = self.px[sy * self.w + sx];
                        for c in 0..4 {
                            acc[c] += p[c];
                        }
                        n += 1.0;
                    }
                }
                px[y * w + x] = acc.map(|v| v / n);
            }
        }
        Level { w, h, px }
    }
}

/// Where and how a sprite is drawn at one instant.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pose {
    /// Face-box centre in output pixels.
    pub cx: f64,
    pub cy: f64,
    /// Face-box height in output pixels.
    pub face_h: f64,
    /// Luma gain about black (1 = as photographed).
    pub gain: f32,
}

/// A cut-out ready to draw.
#[derive(Clone, Debug)]
pub struct Sprite {
    levels: Vec<Level>,
    /// Face box in level-0 cut-out pixels.
    face: [f64; 4],
}

/// A drawn sprite: premultiplied pixels over a rectangle of the frame whose corner and size are
/// even, so that 2×2 chroma blocks are whole.
#[derive(Clone, Debug)]
pub struct Layer {
    pub x0: usize,
    pub y0: usize,
    pub w: usize,
    pub h: usize,
    pub px: Vec<Px>,
}

impl Layer {
    /// Alpha at frame pixel `(x, y)`, 0 outside the layer.
    #[inline]
    pub fn alpha_at(&self, x: usize, y: usize) -> f32 {
        if x < self.x0 || y < self.y0 || x >= self.x0 + self.w || y >= self.y0 + self.h {
            0.0
        } else {
            self.px[(y - self.y0) * self.w + (x - self.x0)][3]
        }
    }
}

impl Sprite {
    /// Loads a photo and cuts out its head.
    pub fn load(spec: &PhotoSpec, media_dir: &Path, mirrored: bool) -> Result<Self> {
        let path = spec.path(media_dir);
        let img = image::open(&path)
            .map_err(|e| EvalError::Image { path: path.clone(), message: e.to_string() })?
            .into_rgb8();
        Ok(Sprite::from_rgb(&img, spec.face, mirrored))
    }

    /// Cuts the head out of an RGB image given its face box.
    pub fn from_rgb(img: &image::RgbImage, face: [f64; 4], mirrored: bool) -> Self {
        let [x1, y1, x2, y2] = face;
        let (fw, fh) = (x2 - x1, y2 - y1);
        let (ecx, ecy) = ((x1 + x2) / 2.0, (y1 + y2) / 2.0 + CUT_DY * fh);
        let (rx, ry) = (CUT_W * fw / 2.0, CUT_H * fh / 2.0);
        let (iw, ih) = (img.width() as f64, img.height() as f64);
        let cx0 = (ecx - rx).floor().max(0.0);
        let cy0 = (ecy - ry).floor().max(0.0);
        let cx1 = (ecx + rx).ceil().min(iw);
        let cy1 = (ecy + ry).ceil().min(ih);
        let (w, h) = ((cx1 - cx0) as usize, (cy1 - cy0) as usize);
        let mut px = vec![[0.0f32; 4]; w * h];
        for y in 0..h {
            for x in 0..w {
                let (sx, sy) = (cx0 as u32 + x as u32, cy0 as u32 + y as u32);
                let [r, g, b] = img.get_pixel(sx, sy).0;
                let (dx, dy) = ((sx as f64 + 0.5 - ecx) / rx, (sy as f64 + 0.5 - ecy) / ry);
                let r_norm = (dx * dx + dy * dy).sqrt();
                let a = smoothstep(1.0, 1.0 - FEATHER, r_norm) as f32;
                let [yy, u, v] = rgb_to_yuv(r, g, b);
                let dst = if mirrored { w - 1 - x } else { x };
                px[y * w + dst] = [yy * a, u * a, v * a, a];
            }
        }
        let mut face = [x1 - cx0, y1 - cy0, x2 - cx0, y2 - cy0];
        if mirrored {
            face = [w as f64 - face[2], face[1], w as f64 - face[0], face[3]];
        }
        let mut levels = vec![Level { w, h, px }];
        while levels.last().is_some_and(|l| l.w.min(l.h) >= 8) {
            let next = levels.last().expect("non-empty").halved();
            levels.push(next);
        }
        Sprite { levels, face }
    }

    fn face_size(&self) -> (f64, f64) {
        (self.face[2] - self.face[0], self.face[3] - self.face[1])
    }

    fn face_center(&self) -> (f64, f64) {
        ((self.face[0] + self.face[2]) / 2.0, (self.face[1] + self.face[3]) / 2.0)
    }

    /// Face width / face height of the photo.
    pub fn aspect(&self) -> f64 {
        let (w, h) = self.face_size();
        w / h
    }

    /// The face box `[x1, y1, x2, y2]` in output pixels for a pose.
    pub fn face_box(&self, p: &Pose) -> [f64; 4] {
        let s = p.face_h / self.face_size().1;
        let (fw, fh) = self.face_size();
        [p.cx - fw * s / 2.0, p.cy - fh * s / 2.0, p.cx + fw * s / 2.0, p.cy + fh * s / 2.0]
    }

    /// The whole cut-out's rectangle `[x1, y1, x2, y2]` in output pixels for a pose.
    pub fn extent(&self, p: &Pose) -> [f64; 4] {
        let s = p.face_h / self.face_size().1;
        let (fcx, fcy) = self.face_center();
        let l0 = &self.levels[0];
        [p.cx - fcx * s, p.cy - fcy * s, p.cx + (l0.w as f64 - fcx) * s, p.cy + (l0.h as f64 - fcy) * s]
    }

    /// Draws the sprite averaged over `poses` (one pose, or several along a motion path for
    /// motion blur) into a layer clipped to a `width`×`height` frame; `None` if nothing is
    /// inside the frame.
    pub fn render(&self, poses: &[Pose], width: usize, height: usize) -> Option<Layer> {
        let mut r = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
        for p in poses {
            let e = self.extent(p);
            r = [r[0].min(e[0]), r[1].min(e[1]), r[2].max(e[2]), r[3].max(e[3])];
        }
        let x0 = (r[0].floor().max(0.0) as usize) & !1;
        let y0 = (r[1].floor().max(0.0) as usize) & !1;
        let x1 = ((r[2].ceil().min(width as f64).max(0.0) as usize + 1) & !1).min(width);
        let y1 = ((r[3].ceil().min(height as f64).max(0.0) as usize + 1) & !1).min(height);
        if x1 <= x0 || y1 <= y0 {
            return None;
        }
        let (w, h) = (x1 - x0, y1 - y0);
        let mut px = vec![[0.0f32; 4]; w * h];
        let weight = 1.0 / poses.len() as f32;
        let (fcx, fcy) = self.face_center();
        for p in poses {
            let s = p.face_h / self.face_size().1;
            // Coarsest level that still has at least one source pixel per output pixel.
            let level = ((1.0 / s).log2().floor().max(0.0) as usize).min(self.levels.len() - 1);
            let lv = &self.levels[level];
            let k = (1u32 << level) as f64;
            let e = self.extent(p);
            let ex0 = (e[0].floor().max(x0 as f64) as usize).min(x1);
            let ey0 = (e[1].floor().max(y0 as f64) as usize).min(y1);
            let ex1 = (e[2].ceil().max(0.0) as usize).clamp(x0, x1);
            let ey1 = (e[3].ceil().max(0.0) as usize).clamp(y0, y1);
            let gain = p.gain;
            for y in ey0..ey1 {
                let v = ((y as f64 + 0.5 - p.cy) / s + fcy) / k;
                let row = &mut px[(y - y0) * w..(y - y0 + 1) * w];
                for x in ex0..ex1 {
                    let u = ((x as f64 + 0.5 - p.cx) / s + fcx) / k;
                    let q = lv.sample(u, v);
                    if q[3] <= 0.0 {
                        continue;
                    }
                    let luma = 16.0 * q[3] + (q[0] - 16.0 * q[3]) * gain;
                    let dst = &mut row[x - x0];
                    dst[0] += luma * weight;
                    dst[1] += q[1] * weight;
                    dst[2] += q[2] * weight;
                    dst[3] += q[3] * weight;
                }
            }
        }
        Some(Layer { x0, y0, w, h, px })
    }
}

/// 0 at `edge0`, 1 at `edge1`, smooth in between (either order).
pub fn smoothstep(edge0: f64, edge1: f64, x: f64) -> f64 {
    let t = ((x - edge0) / (edge1 - edge0)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// BT.601 limited-range RGB → YUV, unrounded.
pub fn rgb_to_yuv(r: u8, g: u8, b: u8) -> [f32; 3] {
    let (r, g, b) = (r as f32, g as f32, b as f32);
    [
        16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0,
        128.0 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255.0,
        128.0 + (112.0 * r - 93.786 * g - 18.214 * b) / 255.0,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checker(w: u32, h: u32) -> image::RgbImage {
        image::RgbImage::from_fn(w, h, |x, y| if (x / 4 + y / 4) % 2 == 0 { image::Rgb([200, 180, 160]) } else { image::Rgb([40, 40, 40]) })
    }

    #[test]
    fn face_box_is_centred_on_the_pose_and_scaled_to_its_height() {
        let s = Sprite::from_rgb(&checker(200, 200), [80.0, 60.0, 120.0, 120.0], false);
        let b = s.face_box(&Pose { cx: 500.0, cy: 300.0, face_h: 30.0, gain: 1.0 });
        assert!((b[3] - b[1] - 30.0).abs() < 1e-9);
        assert!((b[2] - b[0] - 20.0).abs() < 1e-9);
        assert!(((b[0] + b[2]) / 2.0 - 500.0).abs() < 1e-9);
    }

    #[test]
    fn cut_out_is_opaque_at_the_face_and_clear_at_its_corners() {
        let s = Sprite::from_rgb(&checker(200, 200), [80.0, 60.0, 120.0, 120.0], true);
        let pose = Pose { cx: 100.0, cy: 100.0, face_h: 60.0, gain: 1.0 };
        let layer = s.render(&[pose], 400, 300).expect("inside");
        assert!(layer.alpha_at(100, 100) > 0.99);
        let e = s.extent(&pose);
        assert!(layer.alpha_at(e[0] as usize + 1, e[1] as usize + 1) < 0.01);
        assert_eq!(layer.x0 % 2 + layer.y0 % 2 + layer.w % 2 + layer.h % 2, 0);
    }

    #[test]
    fn mirroring_keeps_the_face_box_inside_the_cut_out() {
        let s = Sprite::from_rgb(&checker(200, 200), [60.0, 60.0, 110.0, 120.0], true);
        let l0 = &s.levels[0];
        assert!(s.face[0] >= 0.0 && s.face[2] <= l0.w as f64);
    }

    #[test]
    fn off_frame_pose_renders_nothing() {
        let s = Sprite::from_rgb(&checker(200, 200), [80.0, 60.0, 120.0, 120.0], false);
        assert!(s.render(&[Pose { cx: -500.0, cy: 100.0, face_h: 30.0, gain: 1.0 }], 400, 300).is_none());
    }

    #[test]
    fn identities_are_split_by_person_and_both_sets_have_one() {
        for set in IdentitySet::ALL {
            assert!(PHOTOS.iter().any(|p| p.set == set), "no {} identity", set.name());
        }
        for a in &PHOTOS {
            for b in &PHOTOS {
                if a.person == b.person {
                    assert_eq!(a.set, b.set, "{} is in both sets", a.person);
                }
            }
            assert_eq!(PHOTOS.iter().filter(|p| p.name == a.name).count(), 1, "{} listed twice", a.name);
            assert_eq!(photo_by_name(a.name).map(|p| p.rel_path), Some(a.rel_path));
        }
    }
}
