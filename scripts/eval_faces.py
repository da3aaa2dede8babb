#!/usr/bin/env python3
"""Face photographs for the evaluation harness (veilcam-eval): fetch, check, copy, and find
the face box of each with CenterFace at full resolution (what eval/src/sprite.rs lists).

  python scripts/eval_faces.py [--out sample_media] [--matplotlib-wheel WHL]
  python scripts/eval_faces.py --boxes-only        # only print the boxes of the shipped photos

Needs numpy, pillow and onnxruntime (see models/README.md), and `pip` to fetch the wheel.
Sources, licences and the search that found no more: sample_media/README.md.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import centerface_ref  # noqa: E402

MATPLOTLIB = "matplotlib==3.11.2"
MATPLOTLIB_WHEEL_SHA = "07d9b9fa60cd4c393692f50d0bb03123242ddf61c99bb0e95e75feb354e7c1a8"
# (path in the wheel, file in sample_media/faces/, SHA-256 of the file)
FROM_MATPLOTLIB = [
    ("matplotlib/mpl-data/sample_data/grace_hopper.jpg", "grace_hopper.jpg",
     "a8ca6d734765703b09728ab47fe59f473d93ae3967fc24c7c0288c3c7adb7130"),
]
# Every photo the harness uses, below sample_media/.
PHOTOS = ["astronaut.png", "faces/camera.png", "faces/left06.jpg", "faces/grace_hopper.jpg"]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch_matplotlib(tmp: str) -> str:
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
                    "--python-version", "3.11", "--platform", "manylinux2014_x86_64", "-d", tmp, MATPLOTLIB],
                   check=True)
    return next(os.path.join(tmp, f) for f in os.listdir(tmp) if f.startswith("matplotlib-") and f.endswith(".whl"))


def copy_photos(wheel: str, out: str) -> None:
    with open(wheel, "rb") as f:
        got = sha256(f.read())
    if got != MATPLOTLIB_WHEEL_SHA:
        sys.exit(f"{wheel}: sha256 {got}, expected {MATPLOTLIB_WHEEL_SHA}")
    with zipfile.ZipFile(wheel) as z:
        for inner, name, want in FROM_MATPLOTLIB:
            data = z.read(inner)
            if sha256(data) != want:
                sys.exit(f"{wheel}:{inner}: sha256 {sha256(data)}, expected {want}")
            os.makedirs(os.path.join(out, "faces"), exist_ok=True)
            with open(os.path.join(out, "faces", name), "wb") as f:
                f.write(data)  # copied unchanged


def print_boxes(media: str) -> None:
    from PIL import Image

    cf = centerface_ref.CenterFace()
    for rel in PHOTOS:
        rgb = np.asarray(Image.open(os.path.join(media, rel)).convert("RGB"))
        dets = cf.detect(rgb, threshold=0.5)
        if len(dets) != 1:
            sys.exit(f"{rel}: {len(dets)} faces at threshold 0.5, expected 1")
        x1, y1, x2, y2, s = dets[0]
        print(f"{rel}: face [{x1:.2f}, {y1:.2f}, {x2:.2f}, {y2:.2f}] score {s:.2f}  ({rgb.shape[1]}x{rgb.shape[0]})")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(ROOT, "sample_media"))
    ap.add_argument("--matplotlib-wheel")
    ap.add_argument("--boxes-only", action="store_true")
    a = ap.parse_args(argv)
    if not a.boxes_only:
        with tempfile.TemporaryDirectory() as tmp:
            copy_photos(a.matplotlib_wheel or fetch_matplotlib(tmp), a.out)
    print_boxes(a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
