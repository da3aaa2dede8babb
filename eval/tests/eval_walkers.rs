//! The walkers clip's faces sit on the heads of the people walking in vtest.avi: checked against
//! the persons labelled by hand in nine frames (`tests/data/vtest_persons.json`), not against
//! anything veilcam detects.


use veilcam_eval::generate::MediaPaths;
use veilcam_eval::scene::SceneSettings;
use veilcam_eval::walkers;

#[path = "../../tests/common/labels.rs"]
mod labels;

use labels::{vtest_persons, Rect};

/// The head of a labelled person (head to feet): the top quarter, a little wider than the box.
fn head(r: &Rect) -> Rect {
    let (w, h) = (r.2 - r.0, r.3 - r.1);
    (r.0 - w * 0.15, r.1 - h * 0.05, r.2 + w * 0.15, r.1 + h * 0.25)
}

fn contains(r: &Rect, (x, y): (f64, f64)) -> bool {
    x >= r.0 && x < r.2 && y >= r.1 && y < r.3
}

#[test]
fn walker_faces_sit_on_the_heads_of_labelled_people_and_most_heads_get_one() {
    veilcam::init_gstreamer().expect("GStreamer");
    let scene = SceneSettings { width: 1920, height: 1080, seconds: 15.0, slots: 1, seed: 1, photos: 3 };
    let tracks = walkers::plan(&MediaPaths::default().background(), &scene).expect("walkers planned");
    assert!(tracks.len() >= 15, "{} walker tracks", tracks.len());
    // 768×576 covers 1920×1080 at 2.5×, cropped by 180 px at the top.
    let to_source = |cx: f64, cy: f64| (cx / 2.5, (cy + 180.0) / 2.5);
    let (mut faces, mut on_heads, mut heads, mut heads_with_face) = (0, 0, 0, 0);
    let mut stray = Vec::new();
    for (i, persons) in vtest_persons() {
        let t = i as f64 / 10.0;
        let centres: Vec<(u32, (f64, f64), f64)> = tracks.iter().filter_map(|tr| tr.at(t).map(|s| (tr.id, to_source(s.cx, s.cy), s.face_h))).collect();
        for &(id, c, face_h) in &centres {
            assert!((walkers::FACE_HEIGHT.0..=walkers::FACE_HEIGHT.1).contains(&face_h), "track {id}: face {face_h} px");
            faces += 1;
            if persons.iter().any(|p| contains(&head(p), c)) {
                on_heads += 1;
            } else if persons.iter().any(|p| contains(&(p.0 - 30.0, p.1 - 30.0, p.2 + 30.0, p.3), c)) {
                stray.push(format!("frame {i}: the face of track {id} at {:.0},{:.0} is near a person but off their head", c.0, c.1));
            }
        }
        for p in &persons {
            heads += 1;
            heads_with_face += usize::from(centres.iter().any(|&(_, c, _)| contains(&head(p), c)));
        }
    }
    eprintln!("{on_heads} of {faces} faces on a labelled head, {heads_with_face} of {heads} labelled heads carry a face, {} stray", stray.len());
    // Faces away from every label are on persons the labels leave out (about half of them).
    // Of the faces near a labelled person, nearly all are on the head: people crossing in depth
    // merge into one blob for a while, whose top may then lie between them (1 of 21).
    assert!(on_heads >= 15 && stray.len() * 10 <= on_heads + stray.len(), "{} of {} faces near a person are off the head:\n{}", stray.len(), on_heads + stray.len(), stray.join("\n"));
    assert!(heads_with_face * 10 >= heads * 7, "{heads_with_face} of {heads} labelled heads carry a face");
}
