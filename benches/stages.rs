//! Per-stage costs at real frame sizes: detector pre-processing, CenterFace inference at the
//! detection widths users choose between, the fills over face-sized regions of a 1080p frame,
//! the whole-frame black-out and the motion cells. Input is a real photograph
//! (sample_media/astronaut.png) tiled to 1920×1080. Fast paths are shown beside their reference
//! versions.

use std::path::Path;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use ndarray::Array4;

use veilcam::detect::motion::CellImage;
use veilcam::detect::centerface::{CenterFace, CenterFaceSettings, DetectWidth, LocalContrast};
use veilcam::detect::preprocess::{fill_tensor, fill_tensor_reference, InputSpec, Letterbox};
use veilcam::detect::runtime;
use veilcam::frame::{Layout, Picture, PictureMut};
use veilcam::geometry::BBox;
use veilcam::redact::{obscure_all, redact, FillMode, Region, Shape};
use veilcam::settings::DEFAULT_MODEL;

const W: usize = 1920;
const H: usize = 1080;

/// A 1920×1080 RGB frame tiled from a real photograph.
fn frame_rgb() -> Vec<u8> {
    let img = image::open(concat!(env!("CARGO_MANIFEST_DIR"), "/sample_media/astronaut.png")).unwrap().to_rgb8();
    let mut out = vec![0u8; W * H * 3];
    for y in 0..H {
        for x in 0..W {
            let p = img.get_pixel((x % 512) as u32, (y % 512) as u32);
            out[(y * W + x) * 3..(y * W + x) * 3 + 3].copy_from_slice(&p.0);
        }
    }
    out
}

/// The same frame as I420 (BT.601 limited range), as decoded video arrives.
fn frame_i420() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let rgb = frame_rgb();
    let px = |x: usize, y: usize| {
        let i = (y * W + x) * 3;
        (rgb[i] as f32, rgb[i + 1] as f32, rgb[i + 2] as f32)
    };
    let mut y_plane = vec![0u8; W * H];
    for y in 0..H {
        for x in 0..W {
            let (r, g, b) = px(x, y);
            y_plane[y * W + x] = (16.0 + 0.257 * r + 0.504 * g + 0.098 * b) as u8;
        }
    }
    let (mut u, mut v) = (vec![0u8; W * H / 4], vec![0u8; W * H / 4]);
    for y in 0..H / 2 {
        for x in 0..W / 2 {
            let (r, g, b) = px(2 * x, 2 * y);
            u[y * W / 2 + x] = (128.0 - 0.148 * r - 0.291 * g + 0.439 * b) as u8;
            v[y * W / 2 + x] = (128.0 + 0.439 * r - 0.368 * g - 0.071 * b) as u8;
        }
    }
    (y_plane, u, v)
}

fn bench_preprocess(c: &mut Criterion) {
    let (y, u, v) = frame_i420();
    let pic = Picture::from_planes(Layout::I420, W, H, [(&y[..], W), (&u[..], W / 2), (&v[..], W / 2)]);
    let mut group = c.benchmark_group("preprocess_1080p");
    for width in [640usize, 960, 1920] {
        let lb = Letterbox::fit_width(W, H, width, 32);
        let mut t = Array4::zeros((1, 3, lb.input_h, lb.input_w));
        group.bench_with_input(BenchmarkId::new("fast", width), &width, |b, _| {
            b.iter(|| fill_tensor(&pic, &lb, &InputSpec::RGB_RAW, &mut t))
        });
        group.bench_with_input(BenchmarkId::new("reference", width), &width, |b, _| {
            b.iter(|| fill_tensor_reference(&pic, &lb, &InputSpec::RGB_RAW, &mut t))
        });
    }
    group.finish();
}

fn bench_centerface(c: &mut Criterion) {
    let data = frame_rgb();
    let pic = Picture::from_planes(Layout::Rgb, W, H, [(&data[..], W * 3)]);
    let lib = runtime::locate_library(None);
    let mut group = c.benchmark_group("centerface_1080p");
    group.sample_size(10);
    for threads in [1usize, 2] {
        for width in [640usize, 960, 1920] {
            let settings = CenterFaceSettings { threshold: 0.2, detect_width: DetectWidth::Pixels(width), low_light: false, local_contrast: LocalContrast::Off };
            let mut det = CenterFace::load(&lib, Path::new(DEFAULT_MODEL), settings, threads).expect("model loads");
            group.bench_with_input(BenchmarkId::new(format!("{threads}thr"), width), &width, |b, _| {
                b.iter(|| det.detect(&pic, false).unwrap())
            });
        }
    }
    group.finish();
}

fn bench_fill(c: &mut Criterion) {
    let mut group = c.benchmark_group("fill_1080p_i420_8faces");
    let regions: Vec<Region> = (0..8)
        .map(|i| Region { bbox: BBox::from_xywh(100.0 + 220.0 * i as f32, 300.0, 160.0, 200.0), shape: Shape::Ellipse })
        .collect();
    for mode in [FillMode::Solid, FillMode::Mosaic, FillMode::Blur] {
        let (mut y, mut u, mut v) = (vec![128u8; W * H], vec![100u8; W * H / 4], vec![150u8; W * H / 4]);
        group.bench_function(format!("{mode:?}"), |b| {
            b.iter(|| {
                let mut pic = PictureMut::from_planes(Layout::I420, W, H, [(&mut y[..], W), (&mut u[..], W / 2), (&mut v[..], W / 2)]);
                redact(&mut pic, &regions, mode);
            })
        });
    }
    group.finish();
}

/// What a live frame costs when its look came too late: the whole 1080p picture blacked out.
fn bench_obscure_all(c: &mut Criterion) {
    let (mut y, mut u, mut v) = (vec![128u8; W * H], vec![100u8; W * H / 4], vec![150u8; W * H / 4]);
    c.bench_function("obscure_all_1080p_i420", |b| {
        b.iter(|| {
            let mut pic = PictureMut::from_planes(Layout::I420, W, H, [(&mut y[..], W), (&mut u[..], W / 2), (&mut v[..], W / 2)]);
            obscure_all(&mut pic);
        })
    });
}

/// The motion cells every frame costs (one mean per 8×8 cell of 1080p luma), from which the
/// closer look finds what moved.
fn bench_motion_cells(c: &mut Criterion) {
    let (y, u, v) = frame_i420();
    c.bench_function("motion_cells_1080p_i420", |b| {
        b.iter(|| {
            let pic = Picture::from_planes(Layout::I420, W, H, [(&y[..], W), (&u[..], W / 2), (&v[..], W / 2)]);
            CellImage::from_picture(&pic)
        })
    });
}

criterion_group!(benches, bench_preprocess, bench_centerface, bench_fill, bench_obscure_all, bench_motion_cells);
criterion_main!(benches);
