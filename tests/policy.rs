//! Subject access, `faces = "outside_property"` and the sidecar's record of what the policy obscured,
//! end to end on real footage (vtest.avi) with the real face and person models.
//!
//! The references are the test's own: persons labelled by hand in nine frames
//! (`tests/data/vtest_persons.json`) and, for subject access, which of those labels is the
//! chosen walker and which the one walking beside them (read off the frames, table below).
//! The sidecar is read for what veilcam says it did; the pixels are compared with the input to
//! check that it did exactly that.

mod common;

use std::path::{Path, PathBuf};

use common::labels::{vtest_persons, Rect};
use common::*;

const W: usize = 768;
const H: usize = 576;

/// The example camera's zones: the far road is street (above the line from y = 0.30 at the
/// left to 0.22 at the right), the left half of the plaza (x < 0.5, below the road) is the
/// property. The config is written here so the test does not depend on the example file.
const CONFIG: &str = r#"
[cameras.front.zones.street]
kind = "street"
coordinates = [[0.0, 0.0], [1.0, 0.0], [1.0, 0.22], [0.0, 0.30]]
[cameras.front.zones.plaza]
kind = "property"
coordinates = [[0.0, 0.30], [0.5, 0.26], [0.5, 1.0], [0.0, 1.0]]
[cameras.front.policy]
faces = "FACES"
bystanders = "BYSTANDERS"
"#;

fn write_config(dir: &Path, faces: &str, bystanders: &str) -> PathBuf {
    let path = dir.join(format!("{faces}-{bystanders}.toml"));
    std::fs::write(&path, CONFIG.replace("FACES", faces).replace("BYSTANDERS", bystanders)).unwrap();
    path
}

/// `redact` with the solid fill, whose masks the tests measure as black, and one encoder thread:
/// with several, x264 gives slightly different pixels from run to run, and its ringing inside a
/// small black mask varied around the `is_black` bound (a fresh-clone CI once measured a
/// 17×15 px mask's core above it).
fn redact_solid(input: &Path, output: &Path, args: &[&str]) {
    redact_ok(input, output, &[args, &["--fill", "solid", "--encoder-threads", "1"]].concat());
}

/// Whether pixel (x, y) is in the street zone or within `margin` pixels below it.
fn in_street(x: f64, y: f64, margin: f64) -> bool {
    let edge = (0.30 - 0.08 * x / W as f64) * H as f64;
    y < edge + margin
}

/// Feet (bottom centre) on the property: left half of the plaza. Labelled feet are never on
/// the x = 384 edge nor on the road.
fn on_property(r: &Rect) -> bool {
    (r.0 + r.2) / 2.0 < W as f64 / 2.0
}

fn pixels(r: Rect) -> impl Iterator<Item = (usize, usize)> {
    let (x1, y1, x2, y2) = (r.0.max(0.0) as usize, r.1.max(0.0) as usize, (r.2.max(0.0) as usize).min(W), (r.3.max(0.0) as usize).min(H));
    (y1..y2).flat_map(move |y| (x1..x2).map(move |x| (x, y)))
}

fn region_diff(a: &[u8], b: &[u8], r: Rect) -> f64 {
    let v: Vec<f64> = pixels(r).map(|(x, y)| (a[y * W + x] as f64 - b[y * W + x] as f64).abs()).collect();
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// Mean and standard deviation of the luma over the pixels of `r` outside the street.
fn mean_sd(frame: &[u8], r: Rect) -> (f64, f64) {
    let v: Vec<f64> = pixels(r).filter(|&(x, y)| !in_street(x as f64, y as f64, 0.0)).map(|(x, y)| frame[y * W + x] as f64).collect();
    let n = v.len().max(1) as f64;
    let mean = v.iter().sum::<f64>() / n;
    (mean, (v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n).sqrt())
}

/// Obscured with the solid fill: flat black (x264 keeps it at 16 ± 0; dark coats have texture).
fn is_black(frame: &[u8], r: Rect) -> bool {
    let (mean, sd) = mean_sd(frame, r);
    mean <= 30.0 && sd <= 5.0
}

fn shrink(r: Rect, share: f64) -> Rect {
    let (w, h) = (r.2 - r.0, r.3 - r.1);
    (r.0 + w * share, r.1 + h * share, r.2 - w * share, r.3 - h * share)
}

fn rect(b: &serde_json::Value) -> Rect {
    (b["x1"].as_f64().unwrap(), b["y1"].as_f64().unwrap(), b["x2"].as_f64().unwrap(), b["y2"].as_f64().unwrap())
}

fn contains(r: &Rect, x: f64, y: f64) -> bool {
    x >= r.0 && x < r.2 && y >= r.1 && y < r.3
}

fn sidecar_frames(path: &Path) -> Vec<serde_json::Value> {
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    json["frames"].as_array().unwrap().clone()
}

#[test]
fn faces_outside_property_keeps_residents_faces_and_hides_passers_by() {
    init();
    let dir = tempfile::tempdir().unwrap();
    let input = sample("vtest.avi");
    let (outside, all) = (dir.path().join("outside.mp4"), dir.path().join("all.mp4"));
    let config = write_config(dir.path(), "outside_property", "none");
    redact_solid(&input, &outside, &["--config", config.to_str().unwrap(), "--sidecar", dir.path().join("outside.json").to_str().unwrap()]);
    let config_all = write_config(dir.path(), "all", "none");
    redact_solid(&input, &all, &["--config", config_all.to_str().unwrap()]);
    let (input, outside, all) = (decode_gray(&input), decode_gray(&outside), decode_gray(&all));

    // The head: the top fifth of a labelled (head-to-feet) box.
    let head = |r: &Rect| (r.0, r.1, r.2, r.1 + (r.3 - r.1) * 0.2);
    let frames = sidecar_frames(&dir.path().join("outside.json"));
    assert_eq!(frames.len(), input.len());
    let (mut residents, mut residents_hidden_by_all, mut passers_by, mut passer_by_faces) = (0, 0, 0, 0);
    let mut problems = Vec::new();
    for (i, persons) in vtest_persons() {
        for r in &persons {
            let h = head(r);
            if on_property(r) {
                residents += 1;
                residents_hidden_by_all += usize::from(region_diff(&input[i], &all[i], h) > 10.0);
                let d = region_diff(&input[i], &outside[i], h);
                if d > 6.0 {
                    problems.push(format!("frame {i}: the face of the resident at {:.0},{:.0} changed by {d:.1}", r.0, r.1));
                }
                continue;
            }
            passers_by += 1;
            // Every face found in a passer-by's head is obscured, and black in the output.
            let faces = frames[i]["tracks"].as_array().unwrap().iter().filter(|t| t["class"] == "face").filter(|t| {
                let b = rect(&t["box"]);
                contains(&h, (b.0 + b.2) / 2.0, (b.1 + b.3) / 2.0)
            });
            for face in faces {
                passer_by_faces += 1;
                let done = frames[i]["obscured"].as_array().unwrap().iter().find(|o| o["track"] == face["track"]).cloned();
                match done {
                    Some(o) if o["why"] == "face" && is_black(&outside[i], shrink(rect(&o["box"]), 0.3)) => {}
                    other => problems.push(format!("frame {i}: the face {} of the passer-by at {:.0},{:.0} is not hidden ({other:?})", face["track"], r.0, r.1)),
                }
            }
        }
    }
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
    // The measures can fail: faces = "all" visibly obscures residents' faces, and passers-by
    // have faces found.
    assert!(residents >= 4 && residents_hidden_by_all >= 2, "{residents} residents, {residents_hidden_by_all} obscured by faces = all");
    assert!(passers_by >= 20 && passer_by_faces >= 10, "{passers_by} passers-by, {passer_by_faces} faces found on them");

    // The sidecar says why: faces only, no bystanders (bystanders = "none"), the street listed.
    for f in &frames {
        assert_eq!(f["street_zones"], serde_json::json!(["street"]));
        for o in f["obscured"].as_array().unwrap() {
            assert_eq!((o["class"].as_str(), o["why"].as_str()), (Some("face"), Some("face")), "frame {}: {o}", f["index"]);
        }
    }
}

/// The labelled frames where the chosen walker (`subject`) and the one walking at their side
/// (`companion`) are both labelled: label indices in `tests/data/vtest_persons.json`, read off
/// the frames (the two walk side by side from the right edge to the top of the picture, their
/// boxes overlapping; the subject is the one on the left).
const PAIR: [(usize, usize, usize); 7] = [(25, 0, 1), (40, 0, 1), (55, 0, 1), (70, 1, 2), (85, 1, 2), (100, 0, 1), (130, 1, 2)];

/// Runs `redact` on vtest.avi with the example zones (bystanders outside the property hidden,
/// faces all hidden), solid fill and `keep`; returns the sidecar's frames.
fn redact_keeping(dir: &Path, name: &str, keep: &[&str]) -> (PathBuf, Vec<serde_json::Value>) {
    let config = write_config(dir, "all", "outside_property");
    let (out, sidecar) = (dir.join(format!("{name}.mp4")), dir.join(format!("{name}.json")));
    let mut args = vec!["--config", config.to_str().unwrap(), "--sidecar", sidecar.to_str().unwrap()];
    args.extend_from_slice(keep);
    redact_solid(&sample("vtest.avi"), &out, &args);
    (out, sidecar_frames(&sidecar))
}

#[test]
fn subject_access_shows_the_chosen_walker_and_hides_the_one_beside_them_in_every_frame() {
    init();
    let dir = tempfile::tempdir().unwrap();
    let labelled = vtest_persons();
    // The subject is named by a point on its label in frame 40 (4.0–4.1 s at 10 fps).
    let (_, at40) = labelled.iter().find(|(i, _)| *i == 40).unwrap();
    let s = at40[0];
    let point = format!("{:.3},{:.3}@4.05", (s.0 + s.2) / 2.0 / W as f64, (s.1 + s.3) / 2.0 / H as f64);
    let (out, frames) = redact_keeping(dir.path(), "at", &["--keep-at", &point]);
    assert_eq!(frames.len(), 150);
    // The subject's track: the person kept in frame 40.
    let subject = frames[40]["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["class"] == "person" && frames[40]["kept"].as_array().unwrap().contains(&t["track"]))
        .map(|t| t["track"].as_u64().unwrap())
        .expect("a person is kept in frame 40");

    // Same input and settings, the id given directly: the very same decisions in every frame
    // (track ids are deterministic, and the first pass of --keep-at saw what the run saw).
    let (_, again) = redact_keeping(dir.path(), "track", &["--keep-track", &subject.to_string()]);
    for (a, b) in frames.iter().zip(&again) {
        for key in ["tracks", "obscured", "kept"] {
            assert_eq!(a[key], b[key], "frame {}: {key} differ between --keep-at and --keep-track {subject}", a["index"]);
        }
    }

    let input = decode_gray(&sample("vtest.avi"));
    let output = decode_gray(&out);
    let mut problems = Vec::new();

    // 1. Hand labels: the subject's body is visible where nobody else stands; the companion
    //    and every other labelled person are black, also where they overlap the subject.
    for &(i, s, c) in &PAIR {
        let persons = &labelled.iter().find(|(f, _)| *f == i).unwrap().1;
        for (k, r) in persons.iter().enumerate() {
            if k != s && !is_black(&output[i], shrink(*r, 0.25)) {
                let who = if k == c { "the companion" } else { "another person" };
                problems.push(format!("frame {i}: {who} at {:.0},{:.0} is visible {:?}", r.0, r.1, mean_sd(&output[i], shrink(*r, 0.25))));
            }
        }
        // The subject's own pixels: inside its label, away from every other label (grown by a
        // quarter) and from the street.
        let others: Vec<Rect> = persons.iter().enumerate().filter(|(k, _)| *k != s).map(|(_, r)| shrink(*r, -0.25)).collect();
        // The body below the head (a face there may be hidden when two are found in it).
        let r = persons[s];
        let body = (r.0 + (r.2 - r.0) * 0.1, r.1 + (r.3 - r.1) * 0.3, r.2 - (r.2 - r.0) * 0.1, r.3 - (r.3 - r.1) * 0.05);
        let own: Vec<(usize, usize)> = pixels(body)
            .filter(|&(x, y)| !in_street(x as f64, y as f64, 4.0) && !others.iter().any(|o| contains(o, x as f64, y as f64)))
            .collect();
        // Most of it as in the input: the others' boxes are grown (and their held boxes
        // linger), so their fill may cut into the subject's edge.
        let same = own.iter().filter(|&&(x, y)| input[i][y * W + x].abs_diff(output[i][y * W + x]) <= 12).count();
        let share = same as f64 / own.len().max(1) as f64;
        if own.len() < 300 || share < 0.6 {
            problems.push(format!("frame {i}: {:.0} % of the subject's body ({} px) as in the input", share * 100.0, own.len()));
        }
    }

    // 2. Every frame, by the sidecar: the subject's person box is kept whenever tracked, every
    //    other person is obscured as not the subject and is black, and the subject's pixels
    //    outside every obscured region are as in the input.
    let (mut subject_frames, mut measured) = (0, 0);
    for (i, f) in frames.iter().enumerate() {
        let tracks = f["tracks"].as_array().unwrap();
        let kept: Vec<u64> = f["kept"].as_array().unwrap().iter().map(|k| k.as_u64().unwrap()).collect();
        let obscured: Vec<Rect> = f["obscured"].as_array().unwrap().iter().map(|o| shrink(rect(&o["box"]), -0.05)).collect();
        for t in tracks.iter().filter(|t| t["class"] == "person") {
            let id = t["track"].as_u64().unwrap();
            if id == subject {
                continue;
            }
            let why = f["obscured"].as_array().unwrap().iter().find(|o| o["track"] == id).map(|o| o["why"].clone());
            if why != Some(serde_json::json!("not_the_subject")) || kept.contains(&id) {
                problems.push(format!("frame {i}: person {id} is not obscured as not the subject ({why:?})"));
            }
            if !is_black(&output[i], shrink(rect(&t["box"]), 0.25)) {
                problems.push(format!("frame {i}: person {id} is visible"));
            }
        }
        let Some(body) = tracks.iter().find(|t| t["class"] == "person" && t["track"] == subject) else { continue };
        subject_frames += 1;
        if !kept.contains(&subject) {
            problems.push(format!("frame {i}: the subject is tracked but not kept"));
        }
        let own: Vec<(usize, usize)> = pixels(shrink(rect(&body["box"]), 0.05))
            .filter(|&(x, y)| !in_street(x as f64, y as f64, 4.0) && !obscured.iter().any(|o| contains(o, x as f64, y as f64)))
            .collect();
        if own.len() >= 100 {
            measured += 1;
            let d = own.iter().map(|&(x, y)| (input[i][y * W + x] as f64 - output[i][y * W + x] as f64).abs()).sum::<f64>() / own.len() as f64;
            if d > 8.0 {
                problems.push(format!("frame {i}: the subject's visible part ({} px) changed by {d:.1}", own.len()));
            }
        }
    }
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
    assert!(subject_frames >= 100, "the subject is tracked in {subject_frames} frames");
    assert!(measured >= 50, "the subject shows in {measured} frames");
}

#[test]
fn keep_at_a_point_on_nobody_names_the_time_and_the_persons_near_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.mp4");
    let run = run_veilcam(&sample("vtest.avi"), &out, &["--keep-at", "0.02,0.98@4.05"]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    assert!(stderr.contains("vtest.avi") && stderr.contains("4.050 s") && stderr.contains("no person under that point"), "{stderr}");
    assert!(stderr.contains("track "), "candidates listed: {stderr}");
    assert!(!out.exists());
    assert_eq!(dir_entries(dir.path()), Vec::<String>::new(), "no temp file left");
}

#[test]
fn keep_at_past_the_end_of_the_clip_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.mp4");
    let run = run_veilcam(&sample("vtest.avi"), &out, &["--keep-at", "0.5,0.5@00:01:00"]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    // The time shows as it was given, not only as seconds (found by hostile use).
    assert!(stderr.contains("00:01:00.000 (60.000 s)") && stderr.contains("past the end"), "{stderr}");
    assert!(!out.exists());
}

#[test]
fn keep_track_with_an_id_that_is_no_person_fails_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.mp4");
    let run = run_veilcam(&sample("vtest.avi"), &out, &["--keep-track", "99999", "--sidecar", dir.path().join("s.json").to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    assert!(stderr.contains("--keep-track 99999") && stderr.contains("person tracks:"), "{stderr}");
    assert_eq!(dir_entries(dir.path()), Vec::<String>::new(), "neither video nor sidecar, nor a temp file");
}

fn iou(a: &Rect, b: &Rect) -> f64 {
    let iw = (a.2.min(b.2) - a.0.max(b.0)).max(0.0);
    let ih = (a.3.min(b.3) - a.1.max(b.1)).max(0.0);
    let inter = iw * ih;
    inter / ((a.2 - a.0) * (a.3 - a.1) + (b.2 - b.0) * (b.3 - b.1) - inter)
}

/// Regression (issue 12): the sidecar listed the tracker's boxes before the policy as
/// "masks": persons on the property and faces under `faces = "none"` appeared as masks, street
/// zones did not. It now records what the fill applied.
#[test]
fn sidecar_records_what_was_obscured_not_the_trackers_boxes() {
    init();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "none", "outside_property");
    let (out, sidecar) = (dir.path().join("out.mp4"), dir.path().join("out.json"));
    redact_solid(&sample("vtest.avi"), &out, &["--config", config.to_str().unwrap(), "--sidecar", sidecar.to_str().unwrap()]);
    let frames = sidecar_frames(&sidecar);
    let output = decode_gray(&out);
    let input = decode_gray(&sample("vtest.avi"));
    let mut problems = Vec::new();
    let (mut kept_faces, mut residents, mut bystanders) = (0, 0, 0);
    for (i, f) in frames.iter().enumerate() {
        if f["street_zones"] != serde_json::json!(["street"]) {
            problems.push(format!("frame {i}: street zones {}", f["street_zones"]));
        }
        let kept: Vec<u64> = f["kept"].as_array().unwrap().iter().map(|k| k.as_u64().unwrap()).collect();
        for t in f["tracks"].as_array().unwrap() {
            let id = t["track"].as_u64().unwrap();
            let obscured = f["obscured"].as_array().unwrap().iter().find(|o| o["track"] == id);
            if obscured.is_some() == kept.contains(&id) {
                problems.push(format!("frame {i}: track {id} must be either obscured or kept"));
            }
            if t["class"] == "face" {
                kept_faces += usize::from(kept.contains(&id));
                if obscured.is_some() {
                    problems.push(format!("frame {i}: face {id} listed as obscured under faces = none"));
                }
            }
        }
        // What the sidecar says was obscured is black in the output.
        for o in f["obscured"].as_array().unwrap() {
            if o["why"] != "bystander" || !is_black(&output[i], shrink(rect(&o["box"]), 0.25)) {
                problems.push(format!("frame {i}: {o} is not a black bystander"));
            }
        }
    }
    // Hand labels: residents are kept (and visible), bystanders obscured.
    for (i, persons) in vtest_persons() {
        let f = &frames[i];
        for r in &persons {
            let track = f["tracks"].as_array().unwrap().iter().filter(|t| t["class"] == "person").max_by(|a, b| iou(r, &rect(&a["box"])).total_cmp(&iou(r, &rect(&b["box"]))));
            let Some(track) = track.filter(|t| iou(r, &rect(&t["box"])) >= 0.3) else {
                problems.push(format!("frame {i}: no track on the person at {:.0},{:.0}", r.0, r.1));
                continue;
            };
            let kept = f["kept"].as_array().unwrap().contains(&track["track"]);
            let legs = (r.0 + (r.2 - r.0) * 0.25, r.1 + (r.3 - r.1) * 0.6, r.2 - (r.2 - r.0) * 0.25, r.3 - (r.3 - r.1) * 0.05);
            if on_property(r) {
                residents += 1;
                if !kept || region_diff(&input[i], &output[i], legs) > 12.0 {
                    problems.push(format!("frame {i}: the resident at {:.0},{:.0} (track {}) is not kept visible", r.0, r.1, track["track"]));
                }
            } else {
                bystanders += 1;
                if kept || !is_black(&output[i], shrink(*r, 0.25)) {
                    problems.push(format!("frame {i}: the bystander at {:.0},{:.0} (track {}) is not obscured", r.0, r.1, track["track"]));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
    assert!(kept_faces >= 100 && residents >= 4 && bystanders >= 20, "{kept_faces} kept faces, {residents} residents, {bystanders} bystanders");
}

#[test]
fn subject_access_on_an_image_keeps_the_person_under_the_point() {
    let dir = tempfile::tempdir().unwrap();
    let (kept, sidecar) = (dir.path().join("kept.png"), dir.path().join("kept.json"));
    redact_ok(&sample("astronaut.png"), &kept, &["--keep-at", "0.5,0.5@0", "--sidecar", sidecar.to_str().unwrap()]);
    let frames = sidecar_frames(&sidecar);
    assert_eq!(frames[0]["obscured"], serde_json::json!([]), "the only person is the subject: {}", frames[0]);
    let (input, output) = (image::open(sample("astronaut.png")).unwrap().to_rgb8(), image::open(&kept).unwrap().to_rgb8());
    // The astronaut's face (measured on the picture) is as in the input, pixel for pixel.
    for y in 60..175 {
        for x in 185..265 {
            assert_eq!(input.get_pixel(x, y), output.get_pixel(x, y), "pixel {x},{y}");
        }
    }
    // Without subject access the same face is obscured: the comparison above can fail.
    let plain = dir.path().join("plain.png");
    redact_ok(&sample("astronaut.png"), &plain, &[]);
    let plain = image::open(&plain).unwrap().to_rgb8();
    assert!((60..175).any(|y| (185..265).any(|x| input.get_pixel(x, y) != plain.get_pixel(x, y))));

    let run = run_veilcam(&sample("astronaut.png"), &dir.path().join("no.png"), &["--keep-track", "7"]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success() && stderr.contains("astronaut.png") && stderr.contains("--keep-track 7"), "{stderr}");
    assert!(!dir.path().join("no.png").exists());
}

/// `faces = "all+heads"` (issue 13): the head of every labelled person is black, residents on
/// the property included (a face is obscured everywhere), while their bodies stay as in the
/// input; the sidecar gives the reason `head`. With `faces = "all"` most of the same heads stay
/// visible, so the measure can fail.
#[test]
fn faces_all_plus_heads_hides_every_labelled_head_and_leaves_bodies_visible() {
    init();
    let dir = tempfile::tempdir().unwrap();
    let input_path = sample("vtest.avi");
    let (heads_out, all_out, sidecar) = (dir.path().join("heads.mp4"), dir.path().join("all.mp4"), dir.path().join("heads.json"));
    let heads_config = write_config(dir.path(), "all+heads", "none");
    redact_solid(&input_path, &heads_out, &["--config", heads_config.to_str().unwrap(), "--sidecar", sidecar.to_str().unwrap()]);
    let all_config = write_config(dir.path(), "all", "none");
    redact_solid(&input_path, &all_out, &["--config", all_config.to_str().unwrap()]);
    let (input, heads, all) = (decode_gray(&input_path), decode_gray(&heads_out), decode_gray(&all_out));

    // The head's core, from the label (head to feet): the middle quarter of the box width
    // (a head is about 0.3 of it), from 3 % to 11 % of its height (heads measure 1/7–1/8 of a
    // walker's height on vtest.avi).
    let head = |r: &Rect| {
        let (w, h, cx) = (r.2 - r.0, r.3 - r.1, (r.0 + r.2) / 2.0);
        (cx - w / 8.0, r.1 + h * 0.03, cx + w / 8.0, r.1 + h * 0.11)
    };
    let legs = |r: &Rect| (r.0 + (r.2 - r.0) * 0.25, r.1 + (r.3 - r.1) * 0.6, r.2 - (r.2 - r.0) * 0.25, r.3 - (r.3 - r.1) * 0.05);
    let outside_street = |r: Rect| pixels(r).filter(|&(x, y)| !in_street(x as f64, y as f64, 0.0)).count();
    let (mut measured, mut residents, mut visible_with_all) = (0, 0, 0);
    let mut problems = Vec::new();
    for (i, persons) in vtest_persons() {
        for r in &persons {
            // A head wholly in the (black) street zone says nothing.
            if outside_street(head(r)) < 20 {
                continue;
            }
            measured += 1;
            residents += usize::from(on_property(r));
            if !is_black(&heads[i], head(r)) {
                problems.push(format!("frame {i}: the head of the person at {:.0},{:.0} is visible {:?}", r.0, r.1, mean_sd(&heads[i], head(r))));
            }
            visible_with_all += usize::from(!is_black(&all[i], head(r)));
            let d = region_diff(&input[i], &heads[i], legs(r));
            if d > 12.0 {
                problems.push(format!("frame {i}: the body of the person at {:.0},{:.0} changed by {d:.1}", r.0, r.1));
            }
        }
    }
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
    assert!(measured >= 20 && residents >= 4, "{measured} heads measured, {residents} on the property");
    // The face detector alone leaves 10 of the 25 heads visible (backs of heads, faces it
    // misses), so the measure above can fail.
    assert!(visible_with_all * 5 >= measured, "faces = \"all\" leaves only {visible_with_all} of {measured} heads visible");

    // The sidecar: every head mask is a person's, with the reason "head", and black (checked
    // on masks of 16 px and more: x264's ringing at the edge of smaller ones reaches their core).
    let frames = sidecar_frames(&sidecar);
    let mut head_masks = 0;
    for (i, f) in frames.iter().enumerate() {
        for o in f["obscured"].as_array().unwrap().iter().filter(|o| o["why"] == "head") {
            head_masks += 1;
            let r = rect(&o["box"]);
            let large = r.2 - r.0 >= 16.0 && r.3 - r.1 >= 16.0;
            if o["class"] != "person" || o["shape"] != "ellipse" || (large && !is_black(&heads[i], shrink(r, 0.3))) {
                problems.push(format!("frame {i}: head mask {o} is not a black ellipse over a person"));
            }
        }
    }
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
    assert!(head_masks >= 300, "{head_masks} head masks in 150 frames");
}
