"""What the reference decoders (scripts/blazeface_ref.py, centerface_ref.py, nanodet_ref.py) share.

The onnxruntime session they all run, the bilinear sampling of src/detect/preprocess.rs, greedy
NMS with continuous areas, reading and drawing pictures, decoding video frames with GStreamer,
the comparison with pinned reference boxes and the `image` subcommand. Each script puts its own
directory on sys.path and imports this module; its decoding and the model's layout stay its own.
"""
from __future__ import annotations

import argparse
import os
import subprocess

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # the repository


def session(model: str, threads: int = 1):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    return ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])


def _sample_positions(dst: int, src: int):
    ratio = src / dst
    s = np.clip((np.arange(dst, dtype=np.float64) + 0.5) * ratio - 0.5, 0.0, src - 1)
    i0 = np.floor(s).astype(np.int64)
    i1 = np.minimum(i0 + 1, src - 1)
    return i0, i1, (s - i0).astype(np.float32)


def resize_bilinear(rgb: np.ndarray, w: int, h: int) -> np.ndarray:
    """HxWx3 uint8 -> h x w x 3 float32; half-pixel centres, no antialiasing (like OpenCV INTER_LINEAR)."""
    x0, x1, fx = _sample_positions(w, rgb.shape[1])
    y0, y1, fy = _sample_positions(h, rgb.shape[0])
    img = rgb.astype(np.float32)
    top = img[y0][:, x0] + (img[y0][:, x1] - img[y0][:, x0]) * fx[None, :, None]
    bot = img[y1][:, x0] + (img[y1][:, x1] - img[y1][:, x0]) * fx[None, :, None]
    return top + (bot - top) * fy[:, None, None]


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> list[int]:
    """Greedy NMS (continuous areas, no +1)."""
    x1, y1, x2, y2 = boxes.T
    areas = np.maximum(0, x2 - x1) * np.maximum(0, y2 - y1)
    order = scores.argsort(kind="stable")[::-1]
    keep = []
    while order.size:
        i = order[0]
        keep.append(int(i))
        rest = order[1:]
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
        inter = w * h
        union = areas[i] + areas[rest] - inter
        ovr = np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)
        order = rest[ovr <= iou]
    return keep


def load_rgb(path: str) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB"))


def draw(rgb: np.ndarray, dets: np.ndarray, path: str) -> None:
    from PIL import Image, ImageDraw

    im = Image.fromarray(rgb)
    dr = ImageDraw.Draw(im)
    for x1, y1, x2, y2, s in dets:
        dr.rectangle([x1, y1, x2, y2], outline=(255, 0, 0), width=2)
        dr.text((x1 + 2, y1 + 2), f"{s:.2f}", fill=(255, 255, 0))
    im.save(path)


def fmt(d) -> str:
    return "x1=%7.2f y1=%7.2f x2=%7.2f y2=%7.2f score=%.4f" % tuple(float(v) for v in d)


def matches_reference(dets: np.ndarray, reference) -> bool:
    """dets [K,5] and the pinned reference rows (x1,y1,x2,y2,score): as many boxes, and in order of
    x1 each within 3 px and its score within 0.02."""
    ref = np.array(reference, np.float32).reshape(-1, 5)
    if len(dets) != len(ref):
        return False
    ref = ref[np.argsort(ref[:, 0])]
    got = dets[np.argsort(dets[:, 0])]
    return bool(np.all(np.abs(got[:, :4] - ref[:, :4]) <= 3.0) and np.all(np.abs(got[:, 4] - ref[:, 4]) <= 0.02))


def decode_video_rgb(path: str, width: int, height: int, check: bool = True):
    """Yield HxWx3 uint8 frames of `path` decoded with GStreamer decodebin. With `check`, a
    gst-launch that fails raises RuntimeError once its frames are read (not when the caller
    stops early: closing the pipe ends gst-launch with an error)."""
    # GStreamer pads RGB rows to 4 bytes; for widths multiple of 4 the stride is exactly w*3.
    assert (width * 3) % 4 == 0, "width*3 must be a multiple of 4 for packed rows"
    cmd = ["gst-launch-1.0", "-q", "filesrc", f"location={path}", "!", "decodebin", "!", "videoconvert", "!",
           f"video/x-raw,format=RGB,width={width},height={height}", "!", "fdsink", "fd=1"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE)
    n = width * height * 3
    try:
        while True:
            buf = p.stdout.read(n)
            if len(buf) < n:
                break
            yield np.frombuffer(buf, np.uint8).reshape(height, width, 3)
    finally:
        p.stdout.close()
        rc = p.wait()
    if check and rc != 0:
        raise RuntimeError(f"gst-launch failed for {path}")


def image_cli(doc: str, default_model: str, threshold: float):
    """The parser of a script with `--model M` and the subcommand `image PATH [--threshold T]
    [--draw OUT.png]` (see run_image); returns it and its subparsers, for the script's own."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=default_model)
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("image")
    a.add_argument("path")
    a.add_argument("--threshold", type=float, default=threshold)
    a.add_argument("--draw")
    return ap, sub


def run_image(args, detector) -> int:
    """`image`: prints the boxes `detector(args.model)` finds on args.path, best first, and draws them."""
    rgb = load_rgb(args.path)
    dets = detector(args.model).detect(rgb, args.threshold)
    for d in dets:
        print(fmt(d))
    if args.draw:
        draw(rgb, dets, args.draw)
    return 0
