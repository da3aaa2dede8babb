#!/usr/bin/env python3
"""Would a closer or brighter look show the faces the audit never shows? A best-case probe.

For each face a weakened run left visible that `veilcam audit` never showed (the rule of
`scripts/eval-audit`: no audit hit centred in the face box grown 1.5x in any frame it is visible),
up to SAMPLES of its visible frames are cut from the redacted video in a square crop *centred on
the face* (its side 6x the face's width, at least 64 px) and shown to
- CenterFace (the audit's float model) enlarged 1x to 4x, as the picture is, darkened (gamma 2.2),
  brightened (gamma 0.45) and stretched to the full 0..255 range: the heatmap's peak within a
  quarter of the face's width of its centre;
- BlazeFace full-range (the audit's second model) on a tile of 96, 64 and 48 px centred on the face,
  stretched over its 192 px input (2x, 3x, 4x): the best score of an anchor whose box centre lies
  within 12 input px of the face's centre.

A look the audit could add sees a face no better placed than this, so a face that stays under the
audit's bars here (CenterFace 0.5, or 0.4 for a face that lasts and moves; BlazeFace 0.55) is not
shown by any such look at those scales. It is an upper bound for looks, not a measure of the audit.
Seconds a seed.

    PY=~/.cache/veilcam/blazeface-tf2onnx-venv/bin/python   # or any venv with numpy + onnxruntime
    $PY scripts/never-shown-probe.py out/eval-audit/seed-1 [out/eval-audit/seed-2 ...] \
        [--variant night] [--json probe.json]

Needs the audits `scripts/eval-audit SEED` wrote (weak/VARIANT/audit.json, faces.csv,
redacted.mp4 and its sidecar) and gst-launch-1.0 to decode.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model_ref import ROOT, decode_video_rgb, resize_bilinear, session  # noqa: E402

SAMPLES = 6
SCALES = (1, 2, 3, 4)
TILES = (96, 64, 48)
BLAZE_SIZE = 192
CENTERFACE_BAR, CONFIRM_BAR, BLAZE_BAR = 0.5, 0.4, 0.55
TONES = {
    "as is": lambda c: c,
    "darkened": lambda c: (255 * (c / 255.0) ** 2.2),
    "brightened": lambda c: (255 * (c / 255.0) ** 0.45),
    "stretched": lambda c: (c - c.min()) * (255.0 / max(1.0, float(c.max() - c.min()))),
}


def inside(b, x, y, w, h, grow=1.5):
    cx, cy = (b["x1"] + b["x2"]) / 2, (b["y1"] + b["y2"]) / 2
    return abs(cx - (x + w / 2)) <= w * grow / 2 and abs(cy - (y + h / 2)) <= h * grow / 2


def never_shown(clip: str):
    """{track: [(frame, x, y, w, h)]} of the faces left visible that no audit hit ever lands on."""
    audit = json.load(open(os.path.join(clip, "audit.json")))
    hits = {}
    for f in audit["findings"]:
        for h in f["hits"]:
            hits.setdefault(h["frame"], []).append(h["box"])
    visible, shown = {}, set()
    for r in csv.DictReader(open(os.path.join(clip, "faces.csv"))):
        if r["redacted"] != "0":
            continue
        fr, box = int(r["frame"]), tuple(float(r[k]) for k in "xywh")
        visible.setdefault(r["track"], []).append((fr, *box))
        if any(inside(b, *box) for b in hits.get(fr, [])):
            shown.add(r["track"])
    return {t: rows for t, rows in visible.items() if t not in shown}


def centerface_peak(cf, crop: np.ndarray, cx: float, cy: float, w: float) -> float:
    h, wd = crop.shape[:2]
    pad = np.zeros(((h + 31) // 32 * 32, (wd + 31) // 32 * 32, 3), np.float32)
    pad[:h, :wd] = crop
    heat = cf.run(None, {cf.get_inputs()[0].name: pad.transpose(2, 0, 1)[None]})[0][0, 0]
    r, gx, gy = max(1, int(w / 8)), int(cx / 4), int(cy / 4)
    return float(heat[max(0, gy - r):gy + r + 1, max(0, gx - r):gx + r + 1].max())


def blazeface_best(bf, tile: np.ndarray, cx: float, cy: float) -> float:
    k = BLAZE_SIZE / tile.shape[0]
    x = resize_bilinear(tile, BLAZE_SIZE, BLAZE_SIZE) / 127.5 - 1.0
    boxes, logits = bf.run(None, {"input_1": x[None].astype(np.float32)})
    grid = (np.arange(BLAZE_SIZE // 4) + 0.5) * 4
    ax, ay = (a.ravel() for a in np.meshgrid(grid, grid))
    near = (np.abs(ax + boxes[0, :, 0] - cx * k) < 12) & (np.abs(ay + boxes[0, :, 1] - cy * k) < 12)
    score = 1 / (1 + np.exp(-np.clip(logits[0, :, 0], -50, 50)))
    return float(score[near].max()) if near.any() else 0.0


def square(frame: np.ndarray, cx: float, cy: float, side: int):
    """A crop of `side` px centred on (cx, cy), moved inside the frame; its origin."""
    fh, fw = frame.shape[:2]
    side = min(side, fh, fw)
    x0 = int(min(max(0, cx - side / 2), fw - side))
    y0 = int(min(max(0, cy - side / 2), fh - side))
    return frame[y0:y0 + side, x0:x0 + side], x0, y0


def probe_frame(cf, bf, frame, x, y, w, h):
    cx, cy = x + w / 2, y + h / 2
    crop, x0, y0 = square(frame, cx, cy, max(64, int(w * 6)))
    cf_best = {}
    for tone, f in TONES.items():
        toned = f(crop.astype(np.float32))
        for s in SCALES:
            big = resize_bilinear(toned.clip(0, 255).astype(np.uint8), crop.shape[1] * s, crop.shape[0] * s) if s > 1 else toned
            cf_best[(tone, s)] = centerface_peak(cf, big, (cx - x0) * s, (cy - y0) * s, w * s)
    bf_best = {}
    for side in TILES:
        tile, tx, ty = square(frame, cx, cy, side)
        bf_best[side] = blazeface_best(bf, tile, cx - tx, cy - ty)
    return cf_best, bf_best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("seeds", nargs="+", help="out/eval-audit/seed-N directories (weak/VARIANT inside)")
    ap.add_argument("--variant", default="night")
    ap.add_argument("--json", help="write every face's best scores here")
    args = ap.parse_args(argv)
    cf = session(os.path.join(ROOT, "models", "centerface.onnx"), threads=2)
    bf = session(os.path.join(ROOT, "models", "blazeface_full.onnx"), threads=2)
    report, reachable = [], 0
    for seed_dir in args.seeds:
        clip = os.path.join(seed_dir, "weak", args.variant)
        faces = never_shown(clip)
        picks = {}
        for t, rows in faces.items():
            for row in rows[:: max(1, len(rows) // SAMPLES)][:SAMPLES]:
                picks.setdefault(row[0], []).append((t, row))
        sidecar = json.load(open(os.path.join(clip, "redacted.json")))
        width, height = int(sidecar["width"]), int(sidecar["height"])
        best = {t: ({}, {}) for t in faces}
        last = max(picks, default=-1)
        for i, frame in enumerate(decode_video_rgb(os.path.join(clip, "redacted.mp4"), width, height, check=False)):
            for t, (_, x, y, w, h) in picks.get(i, []):
                cf_s, bf_s = probe_frame(cf, bf, frame, x, y, w, h)
                for k, v in cf_s.items():
                    best[t][0][k] = max(best[t][0].get(k, 0.0), v)
                for k, v in bf_s.items():
                    best[t][1][k] = max(best[t][1].get(k, 0.0), v)
            if i >= last:
                break
        for t, (cf_s, bf_s) in sorted(best.items(), key=lambda kv: -len(faces[kv[0]])):
            (tone, s), cf_top = max(cf_s.items(), key=lambda kv: kv[1])
            side, bf_top = max(bf_s.items(), key=lambda kv: kv[1])
            widths = [int(r[3]) for r in faces[t]]
            over = cf_top >= CONFIRM_BAR or bf_top >= BLAZE_BAR
            reachable += over
            print(f"{seed_dir} track {t} ({min(widths)}-{max(widths)} px, {len(widths)} frames): "
                  f"CenterFace best {cf_top:.2f} ({tone}, {s}x), as is 1x {cf_s[('as is', 1)]:.2f}; "
                  f"BlazeFace best {bf_top:.2f} ({side} px tile){'  <- over a bar' if over else ''}")
            report.append({"seed": seed_dir, "track": t, "frames": len(widths), "px": [min(widths), max(widths)],
                           "centerface": {f"{k[0]} {k[1]}x": round(v, 3) for k, v in cf_s.items()},
                           "blazeface": {f"{k} px": round(v, 3) for k, v in bf_s.items()}})
    print(f"{reachable} of {len(report)} never-shown faces reach CenterFace {CONFIRM_BAR} or BlazeFace {BLAZE_BAR} "
          f"in a crop centred on them (CenterFace's own bar is {CENTERFACE_BAR})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
