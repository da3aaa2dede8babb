//! Subject access: resolving `--keep-at X,Y@TIME` to a person track, and checking that the
//! kept track exists.
//!
//! A track id is the tracker's id, as written in the sidecar (`tracks`, `kept`) and drawn on
//! the `--preview` video. The tracker, the planner and the detectors are deterministic for the
//! same input and settings, so ids agree between runs. `--keep-at` needs the track under a
//! point at TIME before the frames before TIME are encoded, so [`resolve`] first runs the same
//! engine ([`crate::pipeline::run_stages`], stages from [`crate::pipeline::file_stages`]) on
//! the clip up to TIME plus the look-ahead, with no encoder, and reads the person boxes the
//! tracker gives the frame shown at TIME. Stopping there changes nothing for that frame: in
//! the full run, too, it leaves the look-ahead window when exactly those frames were observed.
//! The real pass then runs with `Keep::Track`.

use std::path::Path;
use std::sync::{Arc, Mutex};

use gstreamer_video::VideoInfo;

use crate::detect::Class;
use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::geometry::BBox;
use crate::output::AtomicOutput;
use crate::pipeline::{file_stages, run_stages};
use crate::policy::{Keep, Policy};
use crate::progress::Progress;
use crate::settings::RedactSettings;
use crate::sink::{Applied, FrameSink};
use crate::source::file::FileSource;
use crate::source::FrameSource;
use crate::stats::StageTimes;
use crate::track::TrackedBox;

/// Persons near a missed point listed in the error, at most.
const CANDIDATES_LISTED: usize = 5;

/// The subject `s.keep` names, with `Keep::At` resolved to the person track under the point at
/// that time (a detection and tracking pass over the clip up to that time). `Nobody` and
/// `Track` are returned as they are.
pub fn resolve(s: &RedactSettings) -> Result<Keep> {
    let Keep::At { .. } = s.keep else { return Ok(s.keep) };
    let source = FileSource::open_with(&s.input, s.salvage)?;
    let info = source.info().clone();
    resolve_in(s, source, &info, &s.input.display().to_string())
}

/// [`resolve`] over any source of frames of `info` (an export's chain of recorded segments), its time
/// counted from the source's first frame; `label` names the source in errors.
pub fn resolve_in(s: &RedactSettings, source: impl FrameSource, info: &VideoInfo, label: &str) -> Result<Keep> {
    let Keep::At { x, y, time_ns } = s.keep else { return Ok(s.keep) };
    let policy = Policy::new(s.camera.clone(), s.mask_scale, s.shape, s.fill).keeping(s.keep);
    let stages = file_stages(s, policy, info)?;
    let lookahead = stages.tracking.lookahead_frames;
    let probe = Arc::new(Mutex::new(Probe::default()));
    let source = UpTo { inner: source, clock: ClipClock::default(), time_ns, lookahead, at: None, last: 0 };
    let sinks: Vec<Box<dyn FrameSink>> = vec![Box::new(ProbeSink { clock: ClipClock::default(), time_ns, probe: Arc::clone(&probe) })];
    run_stages(source, stages, sinks, Progress::new("--keep-at", None, true), &StageTimes::default())?;
    let probe = probe.lock().expect("probe lock").clone();
    let id = pick(&probe, x, y, time_ns).map_err(|message| Error::Settings(format!("{label}: --keep-at {message}")))?;
    tracing::info!("--keep-at {x},{y}@{}: person track {id}", clock_and_seconds(time_ns));
    Ok(Keep::Track(id))
}

/// Subject access on a still image, whose boxes are its detections (ids as in its sidecar):
/// `Keep::At` (time 0) resolved to the person under the point; `Keep::Track` checked to name
/// a person. An error names the image and the persons found.
pub fn resolve_still(keep: Keep, boxes: &[TrackedBox], width: usize, height: usize, input: &Path) -> Result<Keep> {
    let persons: Vec<(u64, BBox)> = boxes.iter().filter(|b| b.class == Class::Person).map(|b| (b.track, b.bbox)).collect();
    let err = |message: String| Error::Settings(format!("{}: {message}", input.display()));
    match keep {
        Keep::Nobody => Ok(keep),
        Keep::Track(id) if persons.iter().any(|(p, _)| *p == id) => Ok(keep),
        Keep::Track(id) => {
            let ids: Vec<String> = persons.iter().map(|(p, _)| p.to_string()).collect();
            let known = if ids.is_empty() { "no person was found".to_string() } else { format!("person ids: {}", ids.join(", ")) };
            Err(err(format!("--keep-track {id}: no person with that id in this image ({known}; ids are in the sidecar's \"tracks\")")))
        }
        Keep::At { time_ns, .. } if time_ns > 0 => Err(err(format!("--keep-at: an image has a single frame, at time 0, not {}", seconds(time_ns)))),
        Keep::At { x, y, time_ns } => {
            let probe = Probe { frame: Some((0, width, height, persons)), last_ns: Some(0) };
            pick(&probe, x, y, time_ns).map(Keep::Track).map_err(|m| err(format!("--keep-at {m}")))
        }
    }
}

/// Index, width, height and person boxes (track id, box) of one frame.
type PersonsInFrame = (u64, usize, usize, Vec<(u64, BBox)>);

/// What the first pass saw of the frame shown at the asked time.
#[derive(Clone, Debug, Default)]
struct Probe {
    /// The frame shown at the time.
    frame: Option<PersonsInFrame>,
    /// Clip time of the last frame seen, for an error past the end.
    last_ns: Option<u64>,
}

/// The person track whose box contains point (`x`, `y`) (relative) in the probed frame, or a
/// message naming the time and the persons near the point.
fn pick(probe: &Probe, x: f32, y: f32, time_ns: u64) -> std::result::Result<u64, String> {
    let at = format!("{x},{y}@{}", clock_and_seconds(time_ns));
    let Some((index, w, h, persons)) = &probe.frame else {
        let end = probe.last_ns.map_or("the clip has no frames".to_string(), |t| format!("its last frame is at {}", seconds(t)));
        return Err(format!("{at}: that time is past the end of the clip ({end})"));
    };
    let (px, py) = (x * *w as f32, y * *h as f32);
    let hits: Vec<u64> = persons.iter().filter(|(_, b)| px >= b.x1 && px < b.x2 && py >= b.y1 && py < b.y2).map(|(id, _)| *id).collect();
    match hits.as_slice() {
        [id] => Ok(*id),
        [] if persons.is_empty() => Err(format!("{at}: no person was found in frame {index} at that time")),
        [] => {
            let mut near: Vec<(f32, u64, BBox)> = persons.iter().map(|(id, b)| (distance(b, px, py), *id, *b)).collect();
            near.sort_by(|a, b| a.0.total_cmp(&b.0));
            let listed: Vec<String> = near
                .iter()
                .take(CANDIDATES_LISTED)
                .map(|(_, id, b)| {
                    let (cx, cy) = b.center();
                    format!("track {id} around {:.2},{:.2} (box {:.2},{:.2}–{:.2},{:.2})", cx / *w as f32, cy / *h as f32, b.x1 / *w as f32, b.y1 / *h as f32, b.x2 / *w as f32, b.y2 / *h as f32)
                })
                .collect();
            Err(format!("{at}: no person under that point in frame {index}; persons nearest to it: {}", listed.join("; ")))
        }
        several => {
            let ids: Vec<String> = several.iter().map(u64::to_string).collect();
            Err(format!("{at}: the point lies on {} persons in frame {index} (tracks {}); choose one with --keep-track", several.len(), ids.join(", ")))
        }
    }
}

/// Distance from a point to a box (0 inside).
fn distance(b: &BBox, x: f32, y: f32) -> f32 {
    let dx = (b.x1 - x).max(0.0).max(x - b.x2);
    let dy = (b.y1 - y).max(0.0).max(y - b.y2);
    (dx * dx + dy * dy).sqrt()
}

fn seconds(ns: u64) -> String {
    format!("{:.3} s", ns as f64 / 1e9)
}

/// `--keep-at`'s time in both the forms it may be given: `00:03:12.500 (192.500 s)`.
fn clock_and_seconds(ns: u64) -> String {
    let ms = ns / 1_000_000;
    let (h, m, s, ms_part) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    format!("{h:02}:{m:02}:{s:02}.{ms_part:03} ({})", seconds(ns))
}

/// Clip time of frames: the first frame's timestamp is 0.
#[derive(Clone, Copy, Debug, Default)]
struct ClipClock {
    first_pts: Option<u64>,
}

impl ClipClock {
    /// When `frame` is shown, from the start of the clip: `[start, end)` in nanoseconds.
    fn span(&mut self, frame: &Frame) -> (u64, u64) {
        let fps = frame.info.fps();
        let nominal = if fps.numer() > 0 && fps.denom() > 0 { 1_000_000_000 * fps.denom() as u64 / fps.numer() as u64 } else { 40_000_000 };
        let duration = frame.buffer.duration().map_or(nominal, |d| d.nseconds()).max(1);
        let start = match frame.pts() {
            Some(pts) => pts.nseconds().saturating_sub(*self.first_pts.get_or_insert(pts.nseconds())),
            None => frame.index * duration,
        };
        (start, start + duration)
    }

    /// Whether `frame` is the one on screen at `time_ns`.
    fn shows(&mut self, frame: &Frame, time_ns: u64) -> bool {
        let (start, end) = self.span(frame);
        start <= time_ns && time_ns < end
    }
}

/// A source that ends `lookahead` frames after the frame shown at `time_ns`.
struct UpTo<S> {
    inner: S,
    clock: ClipClock,
    time_ns: u64,
    lookahead: u64,
    /// Index of the frame shown at the time, once seen.
    at: Option<u64>,
    /// Index of the last frame fed.
    last: u64,
}

impl<S: FrameSource> FrameSource for UpTo<S> {
    fn next_frame(&mut self) -> Result<Option<Frame>> {
        if self.at.is_some_and(|at| self.last >= at + self.lookahead) {
            // Every frame the tracker observes before frame `at` leaves the window was fed.
            return Ok(None);
        }
        let Some(frame) = self.inner.next_frame()? else { return Ok(None) };
        if self.at.is_none() && self.clock.shows(&frame, self.time_ns) {
            self.at = Some(frame.index);
        }
        self.last = frame.index;
        Ok(Some(frame))
    }
}

/// Reads the person boxes of the frame shown at `time_ns`.
struct ProbeSink {
    clock: ClipClock,
    time_ns: u64,
    probe: Arc<Mutex<Probe>>,
}

impl FrameSink for ProbeSink {
    fn push(&mut self, frame: &Frame, applied: &Applied<'_>) -> Result<()> {
        let shown = self.clock.shows(frame, self.time_ns);
        let mut probe = self.probe.lock().expect("probe lock");
        probe.last_ns = Some(self.clock.span(frame).0);
        if shown && probe.frame.is_none() {
            let persons = applied.masks.iter().filter(|b| b.class == Class::Person).map(|b| (b.track, b.bbox)).collect();
            probe.frame = Some((frame.index, frame.width(), frame.height(), persons));
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<Option<AtomicOutput>> {
        Ok(None)
    }
}

/// Fails a subject-access run whose kept track never appears as a person: its output would
/// show nobody, and the id was most likely mistyped or is a face track.
pub struct SubjectWatch {
    id: u64,
    kept_frames: u64,
    persons: std::collections::BTreeSet<u64>,
}

/// Person track ids listed when the subject was never seen, at most.
const PERSONS_LISTED: usize = 20;

impl SubjectWatch {
    pub fn new(id: u64) -> Self {
        SubjectWatch { id, kept_frames: 0, persons: Default::default() }
    }
}

impl FrameSink for SubjectWatch {
    fn push(&mut self, _frame: &Frame, applied: &Applied<'_>) -> Result<()> {
        if applied.decision.kept.contains(&self.id) {
            self.kept_frames += 1;
        }
        if self.persons.len() < PERSONS_LISTED {
            self.persons.extend(applied.masks.iter().filter(|b| b.class == Class::Person).map(|b| b.track));
        }
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<Option<AtomicOutput>> {
        if self.kept_frames > 0 {
            tracing::info!("--keep-track {}: kept visible in {} frame(s)", self.id, self.kept_frames);
            return Ok(None);
        }
        let ids: Vec<String> = self.persons.iter().take(PERSONS_LISTED).map(u64::to_string).collect();
        let known = if ids.is_empty() { "no person was tracked".to_string() } else { format!("person tracks: {}", ids.join(", ")) };
        Err(Error::Settings(format!(
            "--keep-track {}: no person track with that id in this clip ({known}; ids are in the sidecar's \"tracks\" and on the --preview video)",
            self.id
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(persons: &[(u64, BBox)]) -> Probe {
        Probe { frame: Some((42, 100, 100, persons.to_vec())), last_ns: Some(5_000_000_000) }
    }

    #[test]
    fn a_point_on_one_person_picks_its_track() {
        let p = probe(&[(3, BBox::new(10.0, 10.0, 30.0, 90.0)), (7, BBox::new(50.0, 10.0, 70.0, 90.0))]);
        assert_eq!(pick(&p, 0.6, 0.5, 4_200_000_000), Ok(7));
    }

    #[test]
    fn a_point_on_nobody_names_the_time_and_the_nearest_persons() {
        let p = probe(&[(3, BBox::new(10.0, 10.0, 30.0, 90.0)), (7, BBox::new(50.0, 10.0, 70.0, 90.0))]);
        let e = pick(&p, 0.4, 0.5, 4_200_000_000).unwrap_err();
        assert!(e.contains("4.200 s") && e.contains("frame 42") && e.contains("track 3") && e.contains("track 7"), "{e}");
        assert!(e.find("track 3").unwrap() < e.find("track 7").unwrap(), "nearest first: {e}");
    }

    #[test]
    fn a_point_on_two_overlapping_persons_is_refused() {
        let p = probe(&[(3, BBox::new(10.0, 10.0, 50.0, 90.0)), (7, BBox::new(30.0, 10.0, 70.0, 90.0))]);
        let e = pick(&p, 0.4, 0.5, 0).unwrap_err();
        assert!(e.contains("tracks 3, 7") && e.contains("--keep-track"), "{e}");
    }

    #[test]
    fn a_time_past_the_end_says_where_the_clip_ends() {
        let e = pick(&Probe { frame: None, last_ns: Some(79_400_000_000) }, 0.5, 0.5, 90_000_000_000).unwrap_err();
        assert!(e.contains("past the end") && e.contains("79.400 s"), "{e}");
    }
}
