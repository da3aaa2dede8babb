#!/usr/bin/env python3
"""Reference BlazeFace full-range decoder (Python, onnxruntime) for models/blazeface_full.onnx.

The Rust decoder (src/detect/blazeface.rs) is compared against this. The model is
`mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite` of the PyPI wheel
mediapipe 0.10.14, densified and converted by models/prepare_blazeface.sh (models/README.md).

* input `input_1` [1,192,192,3] float32, **NHWC**: the picture stretched to 192x192
  (bilinear, pixel centres at i+0.5, no antialiasing; the same sampling as
  src/detect/preprocess.rs), channels R,G,B, value x / 127.5 - 1 (range -1..1).
* outputs, one row per anchor of a 48x48 grid (stride 4), row-major, i = row*48 + col:
    `Identity`   [1,2304,16]: box centre x, centre y, width, height, then 6 key points (x, y),
                 all in input pixels; the centre and key points relative to the anchor centre
    `Identity_1` [1,2304,1]: score logit
* anchor centre (ax, ay) = ((i mod 48) + 0.5) / 48, ((i div 48) + 0.5) / 48 (fractions of the input)
* box centre = reg[0]/192 + ax, reg[1]/192 + ay; w = reg[2]/192, h = reg[3]/192;
  score = sigmoid(clip(logit, -100, 100)); boxes clipped to the input, then scaled back to
  the source picture; greedy NMS, IoU 0.3 (MediaPipe blends overlapping boxes instead);
  score threshold 0.5.

Usage:
  python scripts/blazeface_ref.py image PATH [--threshold 0.5] [--draw OUT.png]
  python scripts/blazeface_ref.py [--model M] check [--tflite SPARSE.tflite]
      (1) with --tflite (needs tensorflow): the ONNX outputs against the TFLite interpreter on the
          original sparse model, max abs difference < 1e-3, for a fixed random input and the astronaut;
      (2) sample_media/astronaut.png against REFERENCE_FACES.
Requires onnxruntime, numpy and pillow.
"""
from __future__ import annotations

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # model_ref.py lies beside this script
sys.dont_write_bytecode = True  # no __pycache__ in the repo
from model_ref import (ROOT, fmt, image_cli, load_rgb, matches_reference, nms,  # noqa: E402
                       resize_bilinear, run_image, session)

DEFAULT_MODEL = os.path.join(ROOT, "models", "blazeface_full.onnx")
ASTRONAUT = os.path.join(ROOT, "sample_media", "astronaut.png")

SIZE = 192
GRID = 48
INPUT = "input_1"
BOXES = "Identity"
SCORES = "Identity_1"
NMS_IOU = 0.3
THRESHOLD = 0.5
MAX_ABS_DIFF = 1e-3

# Faces found on sample_media/astronaut.png (512x512) with onnxruntime 1.20.1 CPU, threshold 0.5:
# x1, y1, x2, y2 (source pixels), score. `check` allows 3 px and 0.02.
REFERENCE_FACES = [(171.93, 66.11, 278.42, 172.60, 0.9047)]


def preprocess(rgb: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 RGB -> [1,192,192,3] float32 NHWC in -1..1."""
    return (resize_bilinear(rgb, SIZE, SIZE) / 127.5 - 1.0)[None].astype(np.float32)


def decode(reg: np.ndarray, logits: np.ndarray, threshold: float = THRESHOLD) -> np.ndarray:
    """reg [1,2304,16], logits [1,2304,1] -> [K,5] (x1,y1,x2,y2,score) in fractions of the input, after NMS."""
    assert reg.shape == (1, GRID * GRID, 16), reg.shape
    assert logits.shape == (1, GRID * GRID, 1), logits.shape
    score = 1.0 / (1.0 + np.exp(-np.clip(logits[0, :, 0].astype(np.float64), -100, 100)))
    idx = np.nonzero(score >= threshold)[0]
    r = reg[0, idx].astype(np.float64)
    idx, r = idx[(r[:, 2] > 0) & (r[:, 3] > 0)], r[(r[:, 2] > 0) & (r[:, 3] > 0)]
    cx = r[:, 0] / SIZE + (idx % GRID + 0.5) / GRID
    cy = r[:, 1] / SIZE + (idx // GRID + 0.5) / GRID
    w, h = r[:, 2] / SIZE, r[:, 3] / SIZE
    boxes = np.clip(np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1), 0.0, 1.0)
    d = np.concatenate([boxes, score[idx, None]], axis=1).astype(np.float32).reshape(-1, 5)
    return d[nms(d[:, :4], d[:, 4], NMS_IOU)] if len(d) else d


class BlazeFace:
    def __init__(self, model: str = DEFAULT_MODEL, threads: int = 1):
        self.sess = session(model, threads)
        ins = [(i.name, i.shape) for i in self.sess.get_inputs()]
        assert ins == [(INPUT, [1, SIZE, SIZE, 3])], ins
        missing = {BOXES, SCORES} - {o.name for o in self.sess.get_outputs()}
        assert not missing, missing

    def raw(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """x: [1,192,192,3] float32 -> (Identity, Identity_1)."""
        reg, logits = self.sess.run([BOXES, SCORES], {INPUT: x})
        return reg, logits

    def detect(self, rgb: np.ndarray, threshold: float = THRESHOLD) -> np.ndarray:
        """rgb: HxWx3 uint8. Returns [K,5] float32 (x1,y1,x2,y2,score) in rgb's pixels, best first."""
        d = decode(*self.raw(preprocess(rgb)), threshold)
        ih, iw = rgb.shape[:2]
        d[:, 0:4:2] *= iw
        d[:, 1:4:2] *= ih
        return d


def tflite_outputs(tflite: str, x: np.ndarray) -> dict[str, np.ndarray]:
    """The TFLite interpreter's outputs on `tflite`, by output name."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    it = tf.lite.Interpreter(model_path=tflite)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    return {d["name"]: it.get_tensor(d["index"]) for d in it.get_output_details()}


def check(model: str, tflite: str | None) -> bool:
    det = BlazeFace(model)
    rgb = load_rgb(ASTRONAUT)
    ok = True
    if tflite:
        # The TFLite output names are not the ONNX ones; match them by shape ([.,.,16] boxes, [.,.,1] scores).
        inputs = {"random": np.random.RandomState(0).uniform(-1, 1, (1, SIZE, SIZE, 3)).astype(np.float32),
                  "astronaut": preprocess(rgb)}
        for what, x in inputs.items():
            ref = {o.shape[-1]: o for o in tflite_outputs(tflite, x).values()}
            reg, logits = det.raw(x)
            diffs = [float(np.abs(reg - ref[16]).max()), float(np.abs(logits - ref[1]).max())]
            same = max(diffs) < MAX_ABS_DIFF
            print(f"{what} input: max |ONNX - TFLite| boxes {diffs[0]:.2e}, logits {diffs[1]:.2e} "
                  f"({'OK' if same else 'TOO LARGE'}, limit {MAX_ABS_DIFF:g})")
            ok &= same
    dets = det.detect(rgb)
    print(f"astronaut.png: {len(dets)} faces (reference {len(REFERENCE_FACES)})")
    for d in dets:
        print("  " + fmt(d))
    same = matches_reference(dets, REFERENCE_FACES)
    ok &= same
    print("check: " + ("OK" if ok else "MISMATCH") + (", ONNX matches TFLite" if tflite else "")
          + (", astronaut matches the reference face" if same else ", astronaut differs from the reference face"))
    return ok


def main(argv=None) -> int:
    ap, sub = image_cli(__doc__, DEFAULT_MODEL, THRESHOLD)
    c = sub.add_parser("check")
    c.add_argument("--tflite", help="the original sparse .tflite: also compare the ONNX outputs with TFLite's")
    args = ap.parse_args(argv)
    if args.cmd == "image":
        return run_image(args, BlazeFace)
    return 0 if check(args.model, args.tflite) else 1


if __name__ == "__main__":
    sys.exit(main())
