//! Control outputs that show the measurement is honest: re-encodes of a generated clip in which
//! the labelled faces are left alone, blacked out, or obscured with veilcam's own fills at the
//! true face positions. A harness that gives the untouched copy a high recall, or the blacked
//! out copy a low one, is broken.
//!
//! With a sidecar path, the control also gets the sidecar veilcam would have written for it:
//! per frame, the regions filled (for `veilcam audit --sidecar`, which sets aside hits on
//! veilcam's own fills, as a user auditing their own output does).

use std::path::Path;

use serde::Serialize;

use super::truth::Truth;
use super::{EvalError, Result};
use veilcam::detect::Class;
use veilcam::frame::PictureMut;
use veilcam::geometry::BBox;
use veilcam::output::AtomicOutput;
use veilcam::policy::{Decision, Obscured, Why};
use veilcam::redact::{redact, FillMode, Region, Shape};
use veilcam::sidecar::{FrameRecord, SidecarHeader, SidecarWriter};
use veilcam::sink::file::{EncoderSettings, FileSink};
use veilcam::source::file::FileSource;
use veilcam::source::integrity::DamageLog;
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

/// Re-encodes `input` to `output` (x264 at `crf`, veryfast) with `control` applied per frame,
/// and writes the sidecar of the fills to `sidecar` when asked (not for a blur: `veilcam audit`
/// refuses the sidecar of a reversible fill).
pub fn make_control(truth: &Truth, input: &Path, output: &Path, control: Control, crf: u32, sidecar: Option<&Path>) -> Result<u64> {
    let mut source = FileSource::open(input)?;
    let enc = EncoderSettings { preset: "veryfast".into(), crf, threads: 1 };
    let mut sink = FileSink::create(AtomicOutput::prepare(output, true)?, &source.caps().clone(), &enc, None)?;
    let mut writer = match sidecar {
        Some(_) if control == Control::Blur => return Err(EvalError::Mismatch("a blur control has no sidecar: veilcam audit refuses a reversible fill's".into())),
        Some(path) => {
            let info = source.info().clone();
            let header = SidecarHeader {
                veilcam: env!("CARGO_PKG_VERSION"),
                input: input.display().to_string(),
                width: info.width(),
                height: info.height(),
                fps_n: info.fps().numer(),
                fps_d: info.fps().denom(),
                fill: if control == Control::Blackout { FillMode::Solid } else { FillMode::Mosaic },
            };
            Some(SidecarWriter::create(AtomicOutput::prepare(path, true)?, &header, DamageLog::default())?)
        }
        None => None,
    };
    let mut frames = 0;
    while let Some(mut frame) = source.next_frame()? {
        let faces = truth.frames.get(frame.index as usize).map_or(&[][..], |tf| &tf.faces[..]);
        frame.with_picture_mut(|pic| apply(pic, faces, control))?;
        if let Some(writer) = writer.as_mut() {
            writer.write(&FrameRecord::new(frame.index, &[], &[], &decision(faces, control)))?;
        }
        sink.push(frame)?;
        frames += 1;
    }
    drop(source);
    if frames == 0 {
        return Err(EvalError::Mismatch(format!("{}: no frames", input.display())));
    }
    let video = sink.finish()?;
    match writer {
        Some(writer) => veilcam::output::commit_all(vec![video, writer.close()?])?,
        None => video.commit()?,
    }
    Ok(frames)
}

/// What the control filled in one frame, as a sidecar records it.
fn decision(faces: &[super::truth::TruthFace], control: Control) -> Decision {
    let region = |f: &super::truth::TruthFace| match control {
        Control::Untouched => None,
        Control::Blackout => f.scored.then(|| (BBox::from_xywh(f.x as f32, f.y as f32, f.w as f32, f.h as f32), Shape::Box)),
        Control::Mosaic | Control::Blur => Some((mosaic_box(f), Shape::Ellipse)),
    };
    let obscured = faces
        .iter()
        .filter_map(|f| region(f).map(|(bbox, shape)| Obscured { track: u64::from(f.track), class: Class::Face, bbox, shape, why: Why::Face }))
        .collect();
    Decision { obscured, ..Decision::default() }
}

/// The region a mosaic or blur control fills for a face: its whole box grown as veilcam grows it.
fn mosaic_box(f: &super::truth::TruthFace) -> BBox {
    BBox::new(f.full[0], f.full[1], f.full[2], f.full[3]).scaled(MASK_SCALE)
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
                .map(|f| Region { bbox: mosaic_box(f), shape: Shape::Ellipse })
                .collect();
            let mode = if control == Control::Mosaic { FillMode::Mosaic } else { FillMode::Blur };
            redact(pic, &regions, mode);
        }
    }
}
