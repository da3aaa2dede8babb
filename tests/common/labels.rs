//! The persons of `sample_media/vtest.avi` labelled by hand in nine frames
//! (`tests/data/vtest_persons.json`; how they were labelled is in the file itself).
//!
//! Plain Rust and `serde_json` only, so that crates other than veilcam's own tests can share
//! the one loader: the evaluation crate includes this file with
//! `#[path = "../../tests/common/labels.rs"] mod labels;`. The JSON is read at compile time
//! (`include_str!`, relative to this file), so the path is the same from either crate.

/// A box in vtest.avi's (768×576) pixels, head to feet: x1, y1, x2, y2.
pub type Rect = (f64, f64, f64, f64);

const VTEST_PERSONS: &str = include_str!("../data/vtest_persons.json");

/// The hand-labelled persons of vtest.avi: (frame index, boxes) for each labelled frame, in the
/// file's order.
pub fn vtest_persons() -> Vec<(usize, Vec<Rect>)> {
    let json: serde_json::Value = serde_json::from_str(VTEST_PERSONS).expect("tests/data/vtest_persons.json is JSON");
    let frames = json["frames"].as_array().expect("tests/data/vtest_persons.json: `frames` is an array");
    frames
        .iter()
        .map(|f| {
            let index = f["index"].as_u64().expect("vtest_persons.json: a frame has an `index`") as usize;
            let persons = f["persons"].as_array().expect("vtest_persons.json: a frame has `persons`");
            (index, persons.iter().map(rect).collect())
        })
        .collect()
}

/// One `[x1, y1, x2, y2]` label.
fn rect(b: &serde_json::Value) -> Rect {
    let c = |k: usize| b[k].as_f64().expect("vtest_persons.json: a box is four numbers");
    (c(0), c(1), c(2), c(3))
}
