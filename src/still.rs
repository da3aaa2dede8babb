//! Still images (JPEG, PNG): decoded with `image`, redacted like a video frame, written
//! without any of the input's metadata (EXIF, XMP, ICC text) and atomically, together with its
//! sidecar and stats when asked for.

mod jpeg;
mod png;

use std::time::Instant;

use image::codecs::jpeg::JpegEncoder;
use image::{ImageDecoder, ImageFormat, RgbImage};

use crate::detect::{Class, Plan};
use crate::error::{Error, Result};
use crate::frame::{Layout, Picture, PictureMut};
use crate::output::{commit_all, prepare_all, AtomicOutput, Target};
use crate::pipeline::{write_json, Summary};
use crate::sidecar::{FrameRecord, SidecarHeader, SidecarWriter};
use crate::source::Damage;
use crate::stats::StageTimes;
use crate::policy::Policy;
use crate::track::TrackedBox;
use crate::settings::{PersonLoad, RedactSettings};

const JPEG_QUALITY: u8 = 92;

/// Redacts one image. Its `--sidecar` (one frame) and `--stats` are committed with it.
pub fn redact_image(s: &RedactSettings) -> Result<Summary> {
    let started = Instant::now();
    crate::input::check(&s.input)?;
    let mut wanted = vec![Target { option: "-o", path: &s.output }];
    let optional = [("--sidecar", &s.sidecar), ("--stats", &s.stats)];
    wanted.extend(optional.iter().filter_map(|(option, p)| p.as_deref().map(|path| Target { option, path })));
    let mut prepared = prepare_all(&s.reads(), &wanted, s.overwrite)?.into_iter();
    let output = prepared.next().expect("the image output is always prepared");
    let sidecar_out = s.sidecar.as_ref().and_then(|_| prepared.next());
    let stats_out = s.stats.as_ref().and_then(|_| prepared.next());

    let mut policy = Policy::new(s.camera.clone(), s.mask_scale, s.shape, s.fill).keeping(s.keep).at_night(s.night);
    let mut img = decode(&s.input)?;
    let (w, h) = (img.width() as usize, img.height() as usize);
    let (detections, detect_time, grey) = {
        let pic = Picture::from_planes(Layout::Rgb, w, h, [(img.as_raw().as_slice(), w * 3)]);
        let mut plan = Plan::single(&pic, false);
        // The night profile's person look, as on a video's grey frames.
        plan.persons = policy.needs_persons() || (policy.needs_persons_at_night() && plan.grey);
        let load = PersonLoad::for_needs(plan.persons, false);
        let mut detectors = crate::pipeline::detectors(s, &policy, load)?;
        let started = Instant::now();
        let found = detectors.run(&pic, &plan).map_err(|message| Error::Detect { frame: 0, message })?;
        (found, started.elapsed(), plan.grey)
    };
    let boxes: Vec<TrackedBox> = detections.iter().enumerate().map(|(i, d)| TrackedBox::detected(i as u64, d)).collect();
    policy.keep = crate::subject::resolve_still(s.keep, &boxes, w, h, &s.input)?;
    let decision = {
        let data: &mut [u8] = &mut img;
        let mut pic = PictureMut::from_planes(Layout::Rgb, w, h, [(data, w * 3)]);
        policy.apply(&mut pic, 0, &boxes, grey)
    };
    if decision.too_faint {
        tracing::warn!(
            "{}: the picture is too faint for the detectors to vouch for it (its brightness spans under {} levels); it was obscured whole",
            crate::one_line_path(&s.input),
            crate::policy::MIN_VOUCHED_SPAN
        );
    }
    write_image(&img, &output)?;
    let mut ready = vec![output];
    if let Some(out) = sidecar_out {
        let header = SidecarHeader { veilcam: env!("CARGO_PKG_VERSION"), input: s.input.display().to_string(), width: w as u32, height: h as u32, fps_n: 0, fps_d: 1, fill: s.fill };
        let mut sidecar = SidecarWriter::create(out, &header, Default::default())?;
        sidecar.write(&FrameRecord::new(0, &detections, &boxes, &decision))?;
        ready.push(sidecar.close()?);
    }
    let elapsed = started.elapsed();
    let times = StageTimes::default();
    times.detect.store(detect_time.as_nanos() as u64, std::sync::atomic::Ordering::Relaxed);
    let stats = times.report(1, elapsed);
    if let Some(out) = stats_out {
        write_json(&out, &stats)?;
        ready.push(out);
    }
    commit_all(ready)?;
    let faces = detections.iter().filter(|d| d.class == Class::Face).count() as u64;
    Ok(Summary {
        output: s.output.clone(),
        frames: 1,
        faces,
        persons: detections.len() as u64 - faces,
        elapsed,
        stats: Some(stats),
        damage: Damage::default(),
        obscured: 0,
        late: 0,
        shed: 0,
    })
}

/// The largest side of an image veilcam redacts, checked from its header before it is decoded
/// (found by hostile use: a 7.8 KB PNG of 1×2,000,000 pixels took 22 s and 5.8 GB).
pub const MAX_SIDE: u32 = 16_384;

/// The most pixels of an image veilcam redacts, also checked from its header: a medium-format
/// camera's 100 MP picture fits (found by hostile use: a 2 MB 16-bit PNG of 16,384 × 16,384
/// took 3.5 GB, and a 632-byte JPEG whose header says 16,000 × 16,000 took 3.3 GB).
pub const MAX_PIXELS: u64 = 120_000_000;

/// Decodes an image upright (its EXIF orientation applied), refusing one that does not decode
/// cleanly to its end: a truncated or corrupt JPEG is an error (the lenient decoder would fill
/// the rest with grey), checked by decoding it once more in zune-jpeg's strict mode
/// ([`jpeg::damage`]).
pub(crate) fn decode(path: &std::path::Path) -> Result<RgbImage> {
    let err = |message: String| Error::Image { path: path.to_path_buf(), message };
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let format = image::guess_format(&bytes).map_err(|_| err("not a JPEG or PNG image".into()))?;
    let bytes = if format == ImageFormat::Png { png::without_compressed_metadata(&bytes) } else { std::borrow::Cow::Borrowed(&bytes[..]) };
    let (width, height) = image::ImageReader::with_format(std::io::Cursor::new(&bytes), format)
        .into_dimensions()
        .map_err(|e| err(e.to_string()))?;
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err(err(format!("{width}×{height} pixels: larger than {MAX_SIDE} on a side")));
    }
    if u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(err(format!("{width}×{height} pixels: more than {} million", MAX_PIXELS / 1_000_000)));
    }
    if format == ImageFormat::Png && is_animated_png(&bytes) {
        // Found by hostile use: only the default image was redacted and written, without a word.
        return Err(err("an animated PNG: veilcam redacts one picture; convert the animation to a video".into()));
    }
    if let Some(why) = (format == ImageFormat::Jpeg).then(|| jpeg::damage(&bytes)).flatten() {
        return Err(err(format!("the JPEG is damaged or truncated ({why})")));
    }
    let mut decoder = image::ImageReader::with_format(std::io::Cursor::new(&bytes), format).into_decoder().map_err(|e| err(e.to_string()))?;
    // A camera's EXIF orientation says how the picture stands; detection needs it upright (a
    // face lying on its side is one the detector misses), and the output, written without
    // metadata, must stand as viewers showed the input.
    let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = image::DynamicImage::from_decoder(decoder).map_err(|e| err(e.to_string()))?;
    img.apply_orientation(orientation);
    widen_low_bits(&mut img);
    Ok(img.to_rgb8())
}

/// Moves the values of a 16-bit image whose data lies in its low bits up to the top bits, as a
/// viewer that honours the PNG's significant bits shows it: 8-, 10- or 12-bit data stored
/// without scaling. Found by hostile use: 8-bit data in a 16-bit PNG became values of 0 and 1
/// as 8 bits, the detector found no face there, and a stretch of contrast showed it in the
/// output. Data that reaches the top four bits is left as it is (a dark 16-bit photograph stays
/// dark); alpha is left alone. A few stray samples above the data (under 1 in 10,000, a hot
/// pixel) do not count, and saturate (found by hostile use: one pixel at 65,535 kept the data
/// of such a PNG from being widened).
fn widen_low_bits(img: &mut image::DynamicImage) {
    use image::DynamicImage::*;
    let (samples, channels, alpha): (&mut [u16], usize, bool) = match img {
        ImageLuma16(b) => (b, 1, false),
        ImageLumaA16(b) => (b, 2, true),
        ImageRgb16(b) => (b, 3, false),
        ImageRgba16(b) => (b, 4, true),
        _ => return,
    };
    let colour = |i: usize| !alpha || i % channels != channels - 1;
    // A histogram, not a sorted copy: a 120-megapixel RGB picture holds 360 million samples.
    let mut histogram = vec![0u64; 1 << 16];
    for (_, &v) in samples.iter().enumerate().filter(|&(i, _)| colour(i)) {
        histogram[usize::from(v)] += 1;
    }
    let count: u64 = histogram.iter().sum();
    // The highest value once up to 1 in 10,000 samples above it are left out.
    let Some(high) = crate::stats::rank_bin(&histogram, count - count / 10_000) else { return };
    let high = high as u16;
    if high == 0 || high >= 1 << 12 {
        return;
    }
    let shift = high.leading_zeros();
    for (i, v) in samples.iter_mut().enumerate() {
        if colour(i) {
            *v = (u32::from(*v) << shift).min(u32::from(u16::MAX)) as u16;
        }
    }
}

/// Whether the PNG in `bytes` is animated (APNG): more than the one picture a viewer without
/// APNG shows.
fn is_animated_png(bytes: &[u8]) -> bool {
    image::codecs::png::PngDecoder::new(std::io::Cursor::new(bytes)).and_then(|d| d.is_apng()).unwrap_or(false)
}

fn write_image(img: &RgbImage, output: &AtomicOutput) -> Result<()> {
    // Found by hostile use: a full disk was reported as "cannot read image".
    let err = |e: image::ImageError| Error::ImageWrite { path: output.target().to_path_buf(), message: e.to_string() };
    let format = ImageFormat::from_path(output.target()).map_err(err)?;
    let file = std::fs::File::create(output.temp_path()).map_err(|e| Error::io(output.target(), e))?;
    let mut writer = std::io::BufWriter::new(file);
    match format {
        ImageFormat::Jpeg => img.write_with_encoder(JpegEncoder::new_with_quality(&mut writer, JPEG_QUALITY)).map_err(err)?,
        _ => img.write_to(&mut writer, format).map_err(err)?,
    }
    std::io::Write::flush(&mut writer).map_err(|e| Error::io(output.target(), e))
}
