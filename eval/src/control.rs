//! Control outputs that show the measurement is honest: re-encodes of a generated clip in which
//! the labelled faces are left alone, blacked out, or obscured with veilcam's own fills at the
//! true face positions. A harness that gives the untouched copy a high recall, or the blacked
//! out copy a low one, is broken.

use std::path::Path;

use serde::Serialize;

use super::truth::Truth;
use super::{EvalError, Result};
use veilcam::frame::PictureMut;
use veilcam::geometry::BBox;
use veilcam::output::AtomicOutput;
use veilcam::redact::{redact, FillMode, Region, Shape};
use veilcam::sink::file::{EncoderSettings, FileSink};
use veilcam::source::file::FileSource;
use veilcam::source::FrameSource;

/// Which control to make.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Control {
    /// Decoded and re-encoded, nothing changed (expected recall ≈ 0 %).
    Untouched,
    /// Every labelled face box (visible part) painted black (expected recall 100 %).
    Blackout,
    /// Every drawn face obscured with veilcam's mosaic, ellipse 1.3× the true box.
    Mosaic,
    /// The same with veilcam's blur.
    Blur,
}

/// veilcam's default growth of a face box before it is obscured.
const MASK_SCALE: f32 = 1.3;

/// Re-encodes `input` to `output` (x264 at `crf`, veryfast) with `control` applied per frame.
pub fn make_control(truth: &Truth, input: &Path, output: &Path, control: Control, crf: u32) -> Result<u64> {
    let mut source = FileSource::open(input)?;
    let enc = EncoderSettings { preset: "veryfast".into(), crf, threads: 1 };
    let mut sink = FileSink::create(AtomicOutput::prepare(output, true)?, &source.caps().clone(), &enc, None)?;
    let mut frames = 0;
    while let Some(mut frame) = source.next_frame()? {
        if let Some(tf) = truth.frames.get(frame.index as usize) {
            frame.with_picture_mut(|pic| apply(pic, &tf.faces, control))?;
        }
        sink.push(frame)?;
        frames += 1;
    }
    drop(source);
    sink.finish()?.commit()?;
    if frames == 0 {
        return Err(EvalError::Mismatch(format!("{}: no frames", input.display())));
    }
    Ok(frames)
}

fn apply(pic: &mut PictureMut<'_>, faces: &[super::truth::TruthFace], control: Control) {
    match control {
        Control::Untouched => {}
        Control::Blackout => {
            for f in faces.iter().filter(|f| f.scored) {
                for plane in &mut pic.planes {
                    let (xs, ys) = (plane.kind.x_shift, plane.kind.y_shift);
                    let (x0, y0) = ((f.x >> xs) as usize, (f.y >> ys) as usize);
                    let x1 = (((f.x + f.w) as usize + (1 << xs) - 1) >> xs).min(plane.width);
                    let y1 = (((f.y + f.h) as usize + (1 << ys) - 1) >> ys).min(plane.height);
                    let black = plane.kind.black[0];
                    for y in y0..y1 {
                        plane.row_mut(y)[x0..x1].fill(black);
                    }
                }
            }
        }
        Control::Mosaic | Control::Blur => {
            let regions: Vec<Region> = faces
                .iter()
                .map(|f| Region { bbox: BBox::new(f.full[0], f.full[1], f.full[2], f.full[3]).scaled(MASK_SCALE), shape: Shape::Ellipse })
                .collect();
            let mode = if control == Control::Mosaic { FillMode::Mosaic } else { FillMode::Blur };
            redact(pic, &regions, mode);
        }
    }
}
