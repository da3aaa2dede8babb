//! Greedy non-maximum suppression.

use super::Detection;

/// Keeps the best-scoring detections, dropping any that overlaps a kept one of its class by
/// more than `iou_threshold`. The result is sorted by descending score.
pub fn non_maximum_suppression(candidates: Vec<Detection>, iou_threshold: f32) -> Vec<Detection> {
    suppress(candidates, |d| d, iou_threshold)
}

/// [`non_maximum_suppression`] of items that carry a detection (`detection` reaches it) and
/// something more, which is kept with it.
pub fn suppress<T>(mut candidates: Vec<T>, detection: impl Fn(&T) -> &Detection, iou_threshold: f32) -> Vec<T> {
    candidates.sort_by(|a, b| detection(b).score.total_cmp(&detection(a).score));
    let mut kept: Vec<T> = Vec::with_capacity(candidates.len().min(64));
    for cand in candidates {
        let c = detection(&cand);
        if kept.iter().map(&detection).all(|k| k.class != c.class || k.bbox.iou(&c.bbox) <= iou_threshold) {
            kept.push(cand);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::Class;
    use crate::geometry::BBox;

    fn face(x: f32, score: f32) -> Detection {
        Detection { class: Class::Face, bbox: BBox::from_xywh(x, 0.0, 10.0, 10.0), score }
    }

    #[test]
    fn overlapping_duplicates_collapse_to_the_best_score() {
        let kept = non_maximum_suppression(vec![face(0.0, 0.5), face(1.0, 0.9), face(50.0, 0.3)], 0.3);
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0].score, 0.9);
        assert_eq!(kept[1].bbox.x1, 50.0);
    }

    #[test]
    fn boxes_below_the_iou_threshold_are_all_kept() {
        // IoU of these two is 1/3 > 0.3 → suppressed; at 0.4 both stay.
        let pair = vec![face(0.0, 0.9), face(5.0, 0.8)];
        assert_eq!(non_maximum_suppression(pair.clone(), 0.3).len(), 1);
        assert_eq!(non_maximum_suppression(pair, 0.4).len(), 2);
    }
}
