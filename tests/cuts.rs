//! Cuts on real footage: where the picture changes more than anything in it can move from one
//! frame to the next, the frame gets a look of its own, and live, nothing found before it
//! stands in for one (`Plan::cut`).

mod common;

use common::*;
use veilcam::detect::Planner;
use veilcam::frame::{Layout, Picture};

/// Whether the planner, fed `frames` in order, calls each one a cut.
fn cuts(frames: &[&I420]) -> Vec<bool> {
    let mut planner = Planner::new(1, None, false, 25.0);
    frames
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let (cw, ch) = (f.chroma_width(), f.chroma_height());
            let pic = Picture::from_planes(Layout::I420, f.width, f.height, [(&f.y[..], f.width), (&f.u[..cw * ch], cw), (&f.v[..cw * ch], cw)]);
            planner.plan(i as u64, None, &pic).cut
        })
        .collect()
}

/// Regression: a live camera's stream that jumped back in time (the test camera starts its
/// clip again when a client joins) showed all three faces of the sample clip for two frames in
/// the recording. Only the people in the still view had moved, 24 % of the picture's cells,
/// under the bar of 25 % then; the frame after the jump had no look of its own and the
/// tracker's boxes stood where the faces had been a second and a half earlier.
#[test]
fn a_stream_that_jumps_back_a_second_is_a_cut_and_walking_people_are_not() {
    let clip = decode_i420(&sample("faces.mp4"));
    for from in [25, 37, 50, 99] {
        assert_eq!(cuts(&[&clip[from - 1], &clip[from], &clip[0]]), [false, false, true], "a jump from frame {from} back to 0");
    }
    let walking: Vec<&I420> = clip.iter().collect();
    assert!(cuts(&walking).iter().all(|&c| !c), "consecutive frames of the sample clip are no cut");
    let vtest = decode_i420(&sample("vtest.avi"));
    assert!(cuts(&vtest.iter().collect::<Vec<_>>()).iter().all(|&c| !c), "consecutive frames of vtest.avi are no cut");
}
