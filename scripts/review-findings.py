#!/usr/bin/env python3
"""A sheet for judging an audit's findings by eye, with their surroundings.

`veilcam audit --contact-sheet` shows each finding's box close up, which is what a user reviews.
Judging a finding of the harness's controls (`scripts/eval-audit`) needs more: whose head it is,
and where the labelled faces are. For each finding this draws its best frame in a square of
2 * RADIUS px around the finding's box (red), with every labelled face of the clip's truth in
that frame (yellow: on a control, mosaicked), enlarged 2x and captioned with the finding's
number (as in the audit's report and `scripts/eval-audit`'s listing), frame, best score and
frames; six to a row. Session 46 judged seed 1's controls with it (docs/evaluation.md, "The
generator/4 controls judged by eye").

    python3 scripts/review-findings.py out/eval-audit/seed-1/mosaic/night.mp4 \\
        out/eval-audit/seed-1/mosaic/night.audit.json out/eval-audit/seed-1/mosaic/night.truth.json \\
        /tmp/night-review.png

Needs numpy and Pillow (any venv of the other scripts). Seconds a clip.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model_ref import decode_video_rgb  # noqa: E402

RADIUS = 110
COLUMNS = 6


def tile(rgb: np.ndarray, finding: dict, index: int, faces: list) -> "Image.Image":
    from PIL import Image, ImageDraw

    b = finding["box"]
    cx, cy = int((b["x1"] + b["x2"]) / 2), int((b["y1"] + b["y2"]) / 2)
    padded = np.zeros((rgb.shape[0] + 2 * RADIUS, rgb.shape[1] + 2 * RADIUS, 3), np.uint8)
    padded[RADIUS:-RADIUS, RADIUS:-RADIUS] = rgb
    im = Image.fromarray(padded[cy : cy + 2 * RADIUS, cx : cx + 2 * RADIUS])
    d = ImageDraw.Draw(im)
    shift = lambda x, y: (x - cx + RADIUS, y - cy + RADIUS)  # noqa: E731
    for f in faces:
        d.rectangle([shift(f["x"], f["y"]), shift(f["x"] + f["w"], f["y"] + f["h"])], outline=(255, 255, 0))
    d.rectangle([shift(b["x1"], b["y1"]), shift(b["x2"], b["y2"])], outline=(255, 0, 0))
    im = im.resize((4 * RADIUS, 4 * RADIUS), Image.NEAREST)
    caption = f"#{index + 1} f{finding['best_frame']} s{finding['score']:.2f} n{finding['frames']}"
    ImageDraw.Draw(im).text((4, 4), caption, fill=(0, 255, 0))
    return im


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("video", help="the audited video")
    ap.add_argument("audit", help="its audit's --json report")
    ap.add_argument("truth", help="the clip's truth (veilcam-eval); use an empty frames list for none")
    ap.add_argument("out", help="the sheet (PNG)")
    a = ap.parse_args()
    from PIL import Image

    audit, truth = json.load(open(a.audit)), json.load(open(a.truth))
    findings = audit["findings"]
    if not findings:
        print("no findings")
        return 0
    wanted: dict[int, list[int]] = {}
    for i, f in enumerate(findings):
        wanted.setdefault(f["best_frame"], []).append(i)
    tiles: dict[int, Image.Image] = {}
    for n, rgb in enumerate(decode_video_rgb(a.video, audit["width"], audit["height"], check=False)):
        for i in wanted.pop(n, []):
            faces = truth["frames"][n]["faces"] if n < len(truth.get("frames", [])) else []
            tiles[i] = tile(rgb, findings[i], i, faces)
        if not wanted:
            break
    side = 4 * RADIUS
    rows = (len(tiles) + COLUMNS - 1) // COLUMNS
    sheet = Image.new("RGB", (COLUMNS * side, rows * side))
    for k, i in enumerate(sorted(tiles)):
        sheet.paste(tiles[i], ((k % COLUMNS) * side, (k // COLUMNS) * side))
    sheet.save(a.out)
    print(f"{a.out}: {len(tiles)} findings")
    return 0


if __name__ == "__main__":
    sys.exit(main())
