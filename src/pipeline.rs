//! The video pipeline: stages on their own threads, joined by bounded channels.
//!
//! ```text
//! decode thread ──frames──▶ detect workers (one ORT session each) ──detected──▶ redact + encode
//!  (GStreamer)    bounded                                           bounded     (in order)
//! ```
//! Back-pressure reaches the decoder through the bounded channels and the appsrc queue, so
//! memory does not grow with clip length. The output appears only if every stage finished
//! cleanly: a decode, detection or encode error drops the sink, and with it the temp file.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};

use crate::detect::centerface::CenterFace;
use crate::detect::Detection;
use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::geometry::BBox;
use crate::output::{ensure_distinct, AtomicOutput};
use crate::progress::Progress;
use crate::redact::{redact, FillMode, Region, Shape};
use crate::settings::RedactSettings;
use crate::sidecar::{FrameRecord, SidecarHeader, SidecarWriter};
use crate::sink::file::FileSink;
use crate::source::file::FileSource;
use crate::source::FrameSource;

/// Frames each channel may hold.
const CHANNEL_DEPTH: usize = 4;

/// What a finished run did.
#[derive(Clone, Debug)]
pub struct Summary {
    pub output: PathBuf,
    pub frames: u64,
    pub faces: u64,
    pub elapsed: Duration,
}

impl Summary {
    pub fn fps(&self) -> f64 {
        self.frames as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// A frame with the faces found in it.
struct Detected {
    frame: Frame,
    detections: Vec<Detection>,
}

/// How detections become obscured regions.
#[derive(Clone, Copy, Debug)]
pub struct MaskPolicy {
    pub mask_scale: f32,
    pub shape: Shape,
    pub fill: FillMode,
}

impl MaskPolicy {
    pub fn regions(&self, detections: &[Detection]) -> Vec<Region> {
        detections.iter().map(|d| Region { bbox: d.bbox.scaled(self.mask_scale), shape: self.shape }).collect()
    }
}

/// Redacts one video file.
pub fn redact_video(s: &RedactSettings, quiet: bool) -> Result<Summary> {
    let started = Instant::now();
    ensure_distinct(&s.input, &s.output)?;
    if !s.input.exists() {
        return Err(Error::InputNotFound { path: s.input.clone() });
    }
    let output = AtomicOutput::prepare(&s.output, s.overwrite)?;
    let sidecar_output = s.sidecar.as_deref().map(|p| AtomicOutput::prepare(p, s.overwrite)).transpose()?;
    let detectors = (0..s.workers)
        .map(|_| CenterFace::load(&s.ort_lib, &s.model, s.face, s.ort_threads))
        .collect::<Result<Vec<_>>>()?;
    let source = FileSource::open(&s.input)?;
    let info = source.info().clone();
    tracing::info!(
        input = %s.input.display(),
        width = info.width(),
        height = info.height(),
        fps = %info.fps(),
        duration = ?source.duration(),
        "decoding"
    );
    let sidecar = sidecar_output
        .map(|out| {
            let header = SidecarHeader {
                veilcam: env!("CARGO_PKG_VERSION"),
                input: s.input.display().to_string(),
                width: info.width(),
                height: info.height(),
                fps_n: info.fps().numer(),
                fps_d: info.fps().denom(),
            };
            SidecarWriter::create(out, &header)
        })
        .transpose()?;
    let audio = s.keep_audio.then_some(s.input.as_path());
    let sink = FileSink::create(output, source.caps(), &s.encoder, audio)?;
    let progress = Progress::new(&s.input.file_name().unwrap_or_default().to_string_lossy(), source.estimated_frames(), quiet);
    let policy = MaskPolicy { mask_scale: s.mask_scale, shape: s.shape, fill: s.fill };

    let (frames, faces, sink, sidecar) = run_stages(source, detectors, sink, sidecar, policy, progress)?;
    let output = sink.finish()?;
    if let Some(sidecar) = sidecar {
        sidecar.finish()?;
    }
    Ok(Summary { output, frames, faces, elapsed: started.elapsed() })
}

type StageOutput = (u64, u64, FileSink, Option<SidecarWriter>);

/// Runs decode, detection and redaction concurrently; returns only after every thread ended.
fn run_stages(
    source: FileSource,
    detectors: Vec<CenterFace>,
    sink: FileSink,
    sidecar: Option<SidecarWriter>,
    policy: MaskPolicy,
    progress: Progress,
) -> Result<StageOutput> {
    std::thread::scope(|scope| {
        let (frame_tx, frame_rx) = bounded::<Frame>(CHANNEL_DEPTH);
        let (det_tx, det_rx) = bounded::<Result<Detected>>(CHANNEL_DEPTH);
        let decoder = std::thread::Builder::new()
            .name("decode".into())
            .spawn_scoped(scope, move || decode_stage(source, frame_tx))
            .expect("spawn decode thread");
        for (i, detector) in detectors.into_iter().enumerate() {
            let (rx, tx) = (frame_rx.clone(), det_tx.clone());
            std::thread::Builder::new()
                .name(format!("detect-{i}"))
                .spawn_scoped(scope, move || detect_stage(detector, rx, tx))
                .expect("spawn detect thread");
        }
        drop((frame_rx, det_tx));
        // `det_rx` is moved in and dropped on return, which unblocks the other stages on error.
        let redacted = redact_stage(det_rx, sink, sidecar, policy, progress);
        let decoded = decoder.join().unwrap_or_else(|_| Err(Error::Pipeline("decode thread panicked".into())));
        // A decode error explains a short stream: report it first.
        decoded?;
        redacted
    })
}

/// Pulls frames from the source until end of stream or until nobody listens.
fn decode_stage(mut source: FileSource, tx: Sender<Frame>) -> Result<()> {
    while let Some(frame) = source.next_frame()? {
        if tx.send(frame).is_err() {
            break; // a later stage failed; it reports why
        }
    }
    Ok(())
}

/// Runs the detector on every frame it receives.
fn detect_stage(mut detector: CenterFace, rx: Receiver<Frame>, tx: Sender<Result<Detected>>) {
    for frame in rx {
        let result = frame
            .with_picture(|pic| detector.detect(pic))
            .and_then(|r| r.map_err(|message| Error::Detect { frame: frame.index, message }))
            .map(|detections| Detected { frame, detections });
        let failed = result.is_err();
        if tx.send(result).is_err() || failed {
            return;
        }
    }
}

/// Puts detected frames back in order, obscures faces and hands frames to the encoder.
fn redact_stage(
    rx: Receiver<Result<Detected>>,
    mut sink: FileSink,
    mut sidecar: Option<SidecarWriter>,
    policy: MaskPolicy,
    mut progress: Progress,
) -> Result<StageOutput> {
    let mut pending: BTreeMap<u64, Detected> = BTreeMap::new();
    let mut next = 0u64;
    let mut faces = 0u64;
    for item in rx {
        let item = item?;
        pending.insert(item.frame.index, item);
        while let Some(Detected { mut frame, detections }) = pending.remove(&next) {
            let regions = policy.regions(&detections);
            frame.with_picture_mut(|pic| redact(pic, &regions, policy.fill))?;
            if let Some(sidecar) = sidecar.as_mut() {
                let boxes: Vec<BBox> = regions.iter().map(|r| r.bbox).collect();
                sidecar.write(&FrameRecord {
                    index: frame.index,
                    pts_ns: frame.pts().map(|t| t.nseconds()),
                    duration_ns: frame.buffer.duration().map(|t| t.nseconds()),
                    detections: &detections,
                    regions: &boxes,
                })?;
            }
            faces += detections.len() as u64;
            sink.push(frame)?;
            progress.frame_done();
            next += 1;
        }
    }
    if !pending.is_empty() {
        return Err(Error::Pipeline(format!("{} frames never came back from detection", pending.len())));
    }
    progress.finish();
    Ok((next, faces, sink, sidecar))
}
