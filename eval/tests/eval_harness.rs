//! The evaluation harness must be honest: a copy that leaves every face alone scores ≈ 0 %
//! recall, and a copy with every labelled face blacked out scores 100 %. Also: the generator is
//! deterministic and its truth is self-consistent.
//!
//! Clips are short (1 s at 640×360) and made once per test binary.

use std::path::PathBuf;
use std::sync::OnceLock;

use veilcam_eval::control::{make_control, Control};
use veilcam_eval::fills::Fills;
use veilcam_eval::generate::{generate, GenerateSettings, MediaPaths, Variant};
use veilcam_eval::measure::{measure, MeasureSettings, Measurement};
use veilcam_eval::sprite::IdentitySet;
use veilcam_eval::truth::{SizeBucket, Truth};

struct Clip {
    video: PathBuf,
    truth: Truth,
    truth_path: PathBuf,
}

struct Fixture {
    dir: tempfile::TempDir,
    day: Clip,
    night: Clip,
}

fn settings(variant: Variant) -> GenerateSettings {
    GenerateSettings { width: 640, height: 360, seconds: 1.0, faces: 6, ..GenerateSettings::new(variant) }
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let make = |variant: Variant| {
            let video = dir.path().join(format!("{}.mp4", variant.name()));
            let truth_path = dir.path().join(format!("{}.truth.json", variant.name()));
            generate(&settings(variant), &MediaPaths::default(), &video, &truth_path).expect("clip generates");
            Clip { video, truth: Truth::read(&truth_path).expect("truth reads"), truth_path }
        };
        let (day, night) = (make(Variant::Day), make(Variant::Night));
        Fixture { dir, day, night }
    })
}

fn measure_control(clip: &Clip, control: Control) -> Measurement {
    let out = fixture().dir.path().join(format!("{}-{control:?}.mp4", clip.truth.variant));
    make_control(&clip.truth, &clip.video, &out, control, 21, None).expect("control encodes");
    measure(&clip.truth, &clip.video, &out, &MeasureSettings::default(), None, None).expect("measures")
}

fn assert_timing_matches(m: &Measurement) {
    assert!(m.frames.frames_match, "{:?}", m.frames);
    assert!(m.frames.duration_match, "{:?}", m.frames);
    assert_eq!(m.frames.pts_mismatches, 0);
}

#[test]
fn an_identical_copy_scores_zero_recall() {
    for clip in [&fixture().day, &fixture().night] {
        let copy = fixture().dir.path().join(format!("{}-copy.mp4", clip.truth.variant));
        std::fs::copy(&clip.video, &copy).expect("copies");
        let m = measure(&clip.truth, &clip.video, &copy, &MeasureSettings::default(), None, None).expect("measures");
        assert!(m.recall.total > 50, "{}: only {} faces", clip.truth.variant, m.recall.total);
        assert_eq!(m.recall.redacted, 0, "{}: {:?}", clip.truth.variant, m.recall);
        assert_eq!(m.leaks.leaked_frames, m.leaks.frames_with_faces);
        assert_eq!(m.over_redaction.changed, 0);
        assert_timing_matches(&m);
    }
}

#[test]
fn an_untouched_re_encode_scores_about_zero_recall() {
    for clip in [&fixture().day, &fixture().night] {
        let m = measure_control(clip, Control::Untouched);
        let recall = m.recall.percent.expect("faces were scored");
        assert!(recall <= 2.0, "{}: untouched copy scored {recall:.1} % ({:?})", clip.truth.variant, m.recall);
        let over = m.over_redaction.percent.expect("background measured");
        assert!(over < 0.05, "{}: re-encoding alone changed {over:.3} % of the background", clip.truth.variant);
        assert_timing_matches(&m);
    }
}

#[test]
fn a_copy_with_every_labelled_face_blacked_out_scores_full_recall() {
    for clip in [&fixture().day, &fixture().night] {
        let m = measure_control(clip, Control::Blackout);
        assert_eq!(m.recall.redacted, m.recall.total, "{}: {:?}", clip.truth.variant, m.recall);
        assert_eq!(m.leaks.leaked_frames, 0);
        assert_eq!(m.leaks.longest_run, 0);
        for (bucket, r) in &m.buckets {
            assert_eq!(r.redacted, r.total, "{}: bucket {bucket:?}", clip.truth.variant);
        }
        assert_timing_matches(&m);
    }
}

#[test]
fn a_face_changed_with_no_fill_over_it_in_the_sidecar_is_counted_visible() {
    let clip = &fixture().day;
    let dir = fixture().dir.path();
    let (black, black_sidecar, none_sidecar) = (dir.join("fills-black.mp4"), dir.join("fills-black.json"), dir.join("fills-none.json"));
    make_control(&clip.truth, &clip.video, &black, Control::Blackout, 21, Some(&black_sidecar)).expect("control encodes");
    make_control(&clip.truth, &clip.video, &dir.join("fills-none.mp4"), Control::Untouched, 21, Some(&none_sidecar)).expect("control encodes");
    let with = |sidecar| {
        let fills = Fills::read(&clip.truth, sidecar).expect("sidecar reads");
        measure(&clip.truth, &clip.video, &black, &MeasureSettings::default(), Some(&fills), None).expect("measures")
    };
    // The blacked-out faces with the sidecar of those fills: all hidden, none by the encoder.
    let filled = with(&black_sidecar);
    assert_eq!(filled.recall.redacted, filled.recall.total, "{:?}", filled.recall);
    assert_eq!(filled.hidden_without_fill, Some(0));
    // The same pictures with a sidecar that filled nothing: every face's change is unexplained.
    let unfilled = with(&none_sidecar);
    assert_eq!(unfilled.recall.redacted, 0, "{:?}", unfilled.recall);
    assert_eq!(unfilled.hidden_without_fill, Some(unfilled.recall.total));
    assert_eq!(unfilled.leaks.leaked_frames, unfilled.leaks.frames_with_faces);
}

#[test]
fn tuning_and_held_out_faces_are_each_scored_honestly() {
    for clip in [&fixture().day, &fixture().night] {
        let name = &clip.truth.variant;
        let copy = fixture().dir.path().join(format!("{name}-copy-sets.mp4"));
        std::fs::copy(&clip.video, &copy).expect("copies");
        let same = measure(&clip.truth, &clip.video, &copy, &MeasureSettings::default(), None, None).expect("measures");
        let black = measure_control(clip, Control::Blackout);
        for set in IdentitySet::ALL {
            let (s, b) = (&same.sets[&set], &black.sets[&set]);
            assert!(s.recall.total > 0, "{name}: no {} faces", set.name());
            assert_eq!(s.recall.redacted, 0, "{name} {}: {:?}", set.name(), s.recall);
            assert_eq!(b.recall.redacted, b.recall.total, "{name} {}: {:?}", set.name(), b.recall);
            assert_eq!(b.longest_run, 0, "{name} {}", set.name());
        }
        // Every scored face is in exactly one set and has a light condition.
        let in_sets: usize = black.sets.values().map(|s| s.recall.total).sum();
        let lit: usize = black.light.values().map(|r| r.total).sum();
        assert_eq!((in_sets, lit), (black.recall.total, black.recall.total), "{name}");
    }
}

#[test]
fn veilcams_own_fills_at_the_true_positions_count_as_redacted() {
    for control in [Control::Mosaic, Control::Blur] {
        let m = measure_control(&fixture().day, control);
        let recall = m.recall.percent.expect("faces were scored");
        assert!(recall >= 99.0, "{control:?}: {recall:.1} % ({:?})", m.recall);
    }
}

#[test]
fn the_generator_is_deterministic() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (video, truth) = (dir.path().join("again.mp4"), dir.path().join("again.truth.json"));
    generate(&settings(Variant::Day), &MediaPaths::default(), &video, &truth).expect("clip generates");
    let first = &fixture().day;
    assert_eq!(std::fs::read(&truth).unwrap(), std::fs::read(&first.truth_path).unwrap(), "truth differs");
    assert_eq!(std::fs::read(&video).unwrap(), std::fs::read(&first.video).unwrap(), "video bytes differ");
}

#[test]
fn truth_boxes_are_clipped_to_the_frame_and_flagged() {
    for clip in [&fixture().day, &fixture().night] {
        let t = &clip.truth;
        assert_eq!(t.frames.len() as u64, t.frame_count);
        let (mut partial, mut small) = (0, 0);
        for frame in &t.frames {
            for f in &frame.faces {
                assert!(f.x + f.w <= t.width && f.y + f.h <= t.height, "{f:?}");
                let [x1, y1, x2, y2] = f.full;
                let outside = x1 < 0.0 || y1 < 0.0 || x2 > t.width as f32 || y2 > t.height as f32;
                assert_eq!(f.partial, outside, "{f:?}");
                assert_eq!(f.bucket, SizeBucket::of_height((y2 - y1) as f64), "{f:?}");
                // The visible box covers the clipped face box.
                assert!(f.x as f32 <= x1.max(0.0) && (f.x + f.w) as f32 >= x2.min(t.width as f32), "{f:?}");
                partial += (f.scored && f.partial) as usize;
                small += (f.scored && f.bucket <= SizeBucket::H24) as usize;
            }
        }
        assert!(partial > 0, "{}: no partial faces", t.variant);
        assert!(small * 2 > t.scored_faces(), "{}: small faces are not the majority", t.variant);
    }
}

/// The mosaic control's sidecar is what veilcam's audit reads: every labelled face lies in its
/// fills, so `audit --sidecar` can tell the control's mosaics from faces left visible.
#[test]
fn the_mosaic_controls_sidecar_covers_every_labelled_face_for_the_audit() {
    let clip = &fixture().night;
    let dir = tempfile::tempdir().unwrap();
    let (out, sidecar) = (dir.path().join("mosaic.mp4"), dir.path().join("mosaic.json"));
    let frames = make_control(&clip.truth, &clip.video, &out, Control::Mosaic, 21, Some(&sidecar)).expect("control encodes");
    let (w, h) = (clip.truth.width, clip.truth.height);
    let filled = veilcam::audit::filled::Filled::read(&sidecar, w, h).expect("veilcam reads the control's sidecar");
    filled.check_frames(frames).expect("one record a frame");
    // The audit takes a hit for a fill only where the picture is one: each face is looked at
    // on the control as encoded.
    use veilcam::source::FrameSource;
    let mut video = veilcam::source::file::FileSource::open(&out).expect("the control decodes");
    let (mut faces, mut uncovered) = (0, Vec::new());
    for tf in &clip.truth.frames {
        let frame = video.next_frame().expect("decodes").expect("a frame for every record");
        for f in tf.faces.iter().filter(|f| f.scored) {
            let b = veilcam::geometry::BBox::from_xywh(f.x as f32, f.y as f32, f.w as f32, f.h as f32);
            if !frame.with_picture(|pic| filled.covers(frame.index, &b, pic)).unwrap() {
                uncovered.push(format!("frame {}: face {} ({}×{})", frame.index, f.track, f.w, f.h));
            }
            faces += 1;
        }
    }
    assert!(faces > 50, "{faces} faces checked");
    assert!(uncovered.is_empty(), "{} of {faces} faces not taken for fills:\n{}", uncovered.len(), uncovered.join("\n"));
    // The same sidecar beside the clip the control was made from, whose faces are visible (dim
    // grey night faces, which differ little within the mosaic's blocks).
    let mut video = veilcam::source::file::FileSource::open(&clip.video).expect("the clip decodes");
    let mut taken = Vec::new();
    for tf in &clip.truth.frames {
        let frame = video.next_frame().expect("decodes").expect("a frame for every record");
        for f in tf.faces.iter().filter(|f| f.scored) {
            let b = veilcam::geometry::BBox::from_xywh(f.x as f32, f.y as f32, f.w as f32, f.h as f32);
            if frame.with_picture(|pic| filled.covers(frame.index, &b, pic)).unwrap() {
                taken.push(format!("frame {}: face {} ({}×{})", frame.index, f.track, f.w, f.h));
            }
        }
    }
    assert!(taken.is_empty(), "{} of {faces} visible faces taken for fills:\n{}", taken.len(), taken.join("\n"));
    // A blur's sidecar would be refused by the audit: none is written.
    assert!(make_control(&clip.truth, &clip.video, &dir.path().join("blur.mp4"), Control::Blur, 21, Some(&dir.path().join("blur.json"))).is_err());
    assert!(!dir.path().join("blur.json").exists() && !dir.path().join("blur.mp4").exists());
}
