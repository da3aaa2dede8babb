//! Cuts on real footage: where the picture changes more than anything in it can move from one
//! frame to the next, the frame gets a look of its own, and live, nothing found before it
//! stands in for one (`Plan::cut`). And what appears between looks (`Plan::glance`).

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

/// What the planner adds between looks on real footage (`Plan::glance`): glances where
/// something appeared, and a look where more appeared than a glance takes. People walking
/// are motion under way, not news: on the sample clip and on vtest.avi (real street footage)
/// at most a fifth of the frames between looks get a glance, of a few thousand pixels, and
/// hardly any gets a look of its own (the first version glanced at whole moving regions and
/// gave a third of them full looks).
#[test]
fn walking_people_get_few_glances_between_looks_and_hardly_any_extra_look() {
    for clip in ["faces.mp4", "vtest.avi"] {
        let mut planner = Planner::new(2, None, true, 30.0);
        let (mut between, mut extra, mut glances, mut area) = (0usize, 0usize, 0usize, 0usize);
        for_each_frame(&sample(clip), |i, f| {
            let (cw, ch) = (f.chroma_width(), f.chroma_height());
            let pic = Picture::from_planes(Layout::I420, f.width, f.height, [(&f.y[..], f.width), (&f.u[..cw * ch], cw), (&f.v[..cw * ch], cw)]);
            let plan = planner.plan(i as u64, None, &pic);
            if i % 2 == 1 {
                between += 1;
                extra += usize::from(plan.faces);
                glances += usize::from(!plan.glance.is_empty());
                area += plan.glance.iter().map(|r| r.2 * r.3).sum::<usize>();
            }
        });
        assert!(extra <= 2, "{clip}: {extra} extra looks");
        assert!(glances * 5 <= between, "{clip}: glances on {glances} of {between} frames between looks");
        assert!(area <= glances * 10_000, "{clip}: {} px a glance", area / glances.max(1));
    }
}
