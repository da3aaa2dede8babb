//! Still images (JPEG, PNG): decoded with `image`, redacted like a video frame, written
//! without any of the input's metadata (EXIF, XMP, ICC text) and atomically.

use std::time::Instant;

use image::codecs::jpeg::JpegEncoder;
use image::{ImageFormat, RgbImage};

use crate::detect::Plan;
use crate::error::{Error, Result};
use crate::frame::{Layout, Picture, PictureMut};
use crate::output::{ensure_distinct, AtomicOutput};
use crate::pipeline::Summary;
use crate::policy::Policy;
use crate::track::TrackedBox;
use crate::settings::RedactSettings;

const JPEG_QUALITY: u8 = 92;

pub fn redact_image(s: &RedactSettings) -> Result<Summary> {
    let started = Instant::now();
    ensure_distinct(&s.input, &s.output)?;
    if !s.input.exists() {
        return Err(Error::InputNotFound { path: s.input.clone() });
    }
    let output = AtomicOutput::prepare(&s.output, s.overwrite)?;
    let mut policy = Policy::new(s.camera.clone(), s.mask_scale, s.shape, s.fill);
    let mut detectors = s.detectors(policy.needs_persons())?;
    let mut img = image::open(&s.input)
        .map_err(|e| Error::Image { path: s.input.clone(), message: e.to_string() })?
        .to_rgb8();
    let (w, h) = (img.width() as usize, img.height() as usize);
    let detections = {
        let pic = Picture::from_planes(Layout::Rgb, w, h, [(img.as_raw().as_slice(), w * 3)]);
        detectors.run(&pic, &Plan::single(policy.needs_persons())).map_err(|message| Error::Detect { frame: 0, message })?
    };
    let boxes: Vec<TrackedBox> = detections.iter().enumerate().map(|(i, d)| TrackedBox::detected(i as u64, d)).collect();
    {
        let data: &mut [u8] = &mut img;
        let mut pic = PictureMut::from_planes(Layout::Rgb, w, h, [(data, w * 3)]);
        policy.apply(&mut pic, &boxes);
    }
    write_image(&img, &output)?;
    output.commit()?;
    Ok(Summary { output: s.output.clone(), frames: 1, faces: detections.len() as u64, elapsed: started.elapsed(), stats: None })
}

fn write_image(img: &RgbImage, output: &AtomicOutput) -> Result<()> {
    let err = |e: image::ImageError| Error::Image { path: output.target().to_path_buf(), message: e.to_string() };
    let format = ImageFormat::from_path(output.target()).map_err(err)?;
    let file = std::fs::File::create(output.temp_path()).map_err(|e| Error::io(output.target(), e))?;
    let mut writer = std::io::BufWriter::new(file);
    match format {
        ImageFormat::Jpeg => img.write_with_encoder(JpegEncoder::new_with_quality(&mut writer, JPEG_QUALITY)).map_err(err)?,
        _ => img.write_to(&mut writer, format).map_err(err)?,
    }
    std::io::Write::flush(&mut writer).map_err(|e| Error::io(output.target(), e))
}
