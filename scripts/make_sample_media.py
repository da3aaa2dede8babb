#!/usr/bin/env python3
"""Build veilcam's sample media from real photos/footage shipped in packages.

Outputs (in --out, default sample_media/):
  vtest.avi      first 150 frames (15.0 s @ 10 fps) of Debian opencv-doc's vtest.avi,
                 stream-copied (original MS-MPEG4v3 bitstream, no re-encode) and remuxed by avimux
  astronaut.png  copy of scikit-image's skimage/data/astronaut.png
  faces.mp4      1280x720, 25 fps, 100 frames (4.0 s), H.264 (x264) in MP4: three real face
                 photographs moving over upscaled vtest.avi street footage
  faces.json     ground truth: tight face box of every face in every frame of faces.mp4

Sources (pinned by SHA-256):
  * Debian bookworm `opencv-doc` 4.6.0+dfsg-12: usr/share/doc/opencv-doc/examples/data/{vtest.avi,left06.jpg}
  * PyPI `scikit-image` 0.26.0 wheel: skimage/data/{astronaut.png,camera.png}

The face box inside each source photo is found by running CenterFace
(models/centerface.onnx, via scripts/centerface_ref.py) on the photo, and is then
mapped through the compositing geometry. Everything is deterministic.

Usage (venv with numpy, pillow, onnxruntime; gst-launch-1.0 with -good/-ugly/-libav):
  python scripts/make_sample_media.py [--opencv-doc-deb F.deb | --opencv-data DIR]
                                      [--skimage-wheel F.whl | --skimage-data DIR] [--check]
Without the source options it runs `apt-get download opencv-doc=4.6.0+dfsg-12` and
`pip download --no-deps scikit-image==0.26.0` into a temporary directory.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # no __pycache__ in the repo
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import centerface_ref  # noqa: E402

OPENCV_DOC_VERSION = "4.6.0+dfsg-12"
OPENCV_DATA = "usr/share/doc/opencv-doc/examples/data"
SKIMAGE_VERSION = "0.26.0"
SHA256 = {
    "vtest.avi": "45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf",
    "left06.jpg": "1cb164db61b3bd52f58a7e9340bb27c5e0278895bc80b6f292fba5cf9bccc4a1",
    "astronaut.png": "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
    "camera.png": "b0793d2adda0fa6ae899c03989482bff9a42d3d5690fc7e3648f2795d730c23a",
}

VTEST_FRAMES = 150
W, H, FPS, N_FRAMES = 1280, 720, 25, 100
BG_FPS = 10  # vtest.avi frame rate

# Face tracks. Keyframes: (time s, face-centre x, face-centre y, face height), output pixels.
# Between keyframes the motion uses a cosine ease, so paths are smooth (C1) and
# sizes change continuously. Face heights span ~60..250 px.
TRACKS = [
    {"id": 0, "src": "astronaut.png", "keys": [(0.0, 230, 250, 90), (2.0, 420, 330, 160), (4.0, 690, 370, 250)]},
    {"id": 1, "src": "camera.png", "keys": [(0.0, 1150, 180, 150), (2.0, 1020, 230, 100), (4.0, 930, 160, 60)]},
    {"id": 2, "src": "left06.jpg", "keys": [(0.0, 880, 590, 70), (2.0, 1010, 560, 110), (4.0, 1120, 520, 170)]},
]
# Cut-out around the face (in units of the face box): width 2.0*fw, height 2.1*fh,
# centre 0.25*fh below the face centre (head, hair and some shoulders), elliptical, feathered.
CUT_W, CUT_H, CUT_DY = 2.0, 2.1, 0.25


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_sha(path: str, name: str) -> str:
    got = sha256_file(path)
    if got != SHA256[name]:
        raise SystemExit(f"{path}: sha256 {got}, expected {SHA256[name]}")
    return path


def run(cmd, **kw):
    print("+", " ".join(cmd), file=sys.stderr)
    return subprocess.run(cmd, check=True, **kw)


def get_sources(args, tmp: str) -> dict[str, str]:
    opencv_data = args.opencv_data
    if opencv_data is None:
        deb = args.opencv_doc_deb
        if deb is None:
            run(["apt-get", "download", f"opencv-doc={OPENCV_DOC_VERSION}"], cwd=tmp)
            deb = os.path.join(tmp, f"opencv-doc_{OPENCV_DOC_VERSION}_all.deb")
        run(["dpkg-deb", "-x", deb, os.path.join(tmp, "opencv-doc")])
        opencv_data = os.path.join(tmp, "opencv-doc", OPENCV_DATA)
    sk_data = args.skimage_data
    if sk_data is None:
        whl = args.skimage_wheel
        if whl is None:
            run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                 "--platform", "manylinux_2_28_x86_64", "--python-version", "3.11",
                 f"scikit-image=={SKIMAGE_VERSION}", "-d", os.path.join(tmp, "whl")])
            whl = [os.path.join(tmp, "whl", f) for f in os.listdir(os.path.join(tmp, "whl"))][0]
        with zipfile.ZipFile(whl) as z:
            for n in ("astronaut.png", "camera.png"):
                z.extract(f"skimage/data/{n}", os.path.join(tmp, "sk"))
        sk_data = os.path.join(tmp, "sk", "skimage", "data")
    return {
        "vtest.avi": check_sha(os.path.join(opencv_data, "vtest.avi"), "vtest.avi"),
        "left06.jpg": check_sha(os.path.join(opencv_data, "left06.jpg"), "left06.jpg"),
        "astronaut.png": check_sha(os.path.join(sk_data, "astronaut.png"), "astronaut.png"),
        "camera.png": check_sha(os.path.join(sk_data, "camera.png"), "camera.png"),
    }


def count_frames(path: str, w: int, h: int) -> int:
    return sum(1 for _ in centerface_ref.decode_video_rgb(path, w, h))


def make_vtest(src: str, out: str) -> None:
    # Stream copy (no re-encode). identity's eos-after=N lets N-1 buffers through.
    # avimux needs the explicit video_0 pad, otherwise gst-launch links its audio pad.
    tmp = out + ".tmp"
    run(["gst-launch-1.0", "-q", "filesrc", f"location={src}", "!", "avidemux", "!",
         "identity", f"eos-after={VTEST_FRAMES + 1}", "!", "m.video_0",
         "avimux", "name=m", "!", "filesink", f"location={tmp}"])
    n = count_frames(tmp, 768, 576)
    if n != VTEST_FRAMES:
        raise SystemExit(f"vtest cut has {n} frames, expected {VTEST_FRAMES}")
    os.replace(tmp, out)


def ease(keys, t: float):
    for (t0, *a), (t1, *b) in zip(keys, keys[1:]):
        if t0 <= t <= t1:
            u = (1 - math.cos(math.pi * (t - t0) / (t1 - t0))) / 2
            return [x + (y - x) * u for x, y in zip(a, b)]
    raise ValueError(t)


class FaceSource:
    """A source photo, its CenterFace face box and the cut-out around it."""

    def __init__(self, path: str, cf: centerface_ref.CenterFace):
        self.img = Image.open(path).convert("RGB")
        dets = cf.detect(np.asarray(self.img), 0.5)
        if len(dets) != 1:
            raise SystemExit(f"{path}: expected exactly one face, got {len(dets)}")
        x1, y1, x2, y2, self.score = (float(v) for v in dets[0])
        self.face = (x1, y1, x2, y2)
        fw, fh = x2 - x1, y2 - y1
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2 + CUT_DY * fh
        iw, ih = self.img.size
        # integer crop rectangle, clamped to the photo
        self.crop = (
            max(0, round(cx - CUT_W * fw / 2)), max(0, round(cy - CUT_H * fh / 2)),
            min(iw, round(cx + CUT_W * fw / 2)), min(ih, round(cy + CUT_H * fh / 2)),
        )
        self.patch = self.img.crop(self.crop)
        cw, ch = self.patch.size
        # elliptical alpha, feathered; computed at 4x and downscaled for smooth edges
        m = Image.new("L", (cw * 4, ch * 4), 0)
        ImageDraw.Draw(m).ellipse((0, 0, cw * 4 - 1, ch * 4 - 1), fill=255)
        m = m.filter(ImageFilter.GaussianBlur(radius=0.05 * min(cw, ch) * 4))
        self.mask = m.resize((cw, ch), Image.LANCZOS)
        self.fh = fh
        self.info = {"face_box": [round(v, 2) for v in self.face], "score": round(self.score, 4), "crop": list(self.crop)}

    def place(self, fcx: float, fcy: float, face_h: float):
        """Scale so the face is face_h tall with its centre at (fcx, fcy).
        Returns (patch, mask, (px, py), face box in output pixels as floats)."""
        s = face_h / self.fh
        cw, ch = self.patch.size
        nw, nh = max(1, round(cw * s)), max(1, round(ch * s))
        sx, sy = nw / cw, nh / ch  # exact scales actually applied
        x1, y1, x2, y2 = self.face
        c0, c1 = self.crop[0], self.crop[1]
        # face centre relative to the patch, scaled -> choose integer paste origin
        px = round(fcx - ((x1 + x2) / 2 - c0) * sx)
        py = round(fcy - ((y1 + y2) / 2 - c1) * sy)
        box = (px + (x1 - c0) * sx, py + (y1 - c1) * sy, px + (x2 - c0) * sx, py + (y2 - c1) * sy)
        patch = self.patch.resize((nw, nh), Image.LANCZOS)
        mask = self.mask.resize((nw, nh), Image.LANCZOS)
        return patch, mask, (px, py), box


# 2024-01-01T00:00:00Z in seconds since 1904-01-01 (the MP4 epoch)
MP4_FIXED_TIME = 3786912000


def fix_mp4_times(path: str) -> None:
    """mp4mux stamps the current time into mvhd/tkhd/mdhd; overwrite the creation and
    modification times with a fixed value so the output is byte-for-byte reproducible."""
    with open(path, "r+b") as f:
        data = bytearray(f.read())

        def walk(start: int, end: int) -> int:
            patched = 0
            pos = start
            while pos + 8 <= end:
                size = int.from_bytes(data[pos:pos + 4], "big")
                kind = bytes(data[pos + 4:pos + 8])
                hdr = 8
                if size == 1:
                    size, hdr = int.from_bytes(data[pos + 8:pos + 16], "big"), 16
                elif size == 0:
                    size = end - pos
                body = pos + hdr
                if kind in (b"moov", b"trak", b"mdia"):
                    patched += walk(body, pos + size)
                elif kind in (b"mvhd", b"tkhd", b"mdhd"):
                    if data[body] == 1:  # version 1: 64-bit times
                        for off in (4, 12):
                            data[body + off:body + off + 8] = MP4_FIXED_TIME.to_bytes(8, "big")
                    else:
                        for off in (4, 8):
                            data[body + off:body + off + 4] = MP4_FIXED_TIME.to_bytes(4, "big")
                    patched += 1
                pos += size
            return patched

        if walk(0, len(data)) < 3:
            raise SystemExit(f"{path}: mvhd/tkhd/mdhd not found")
        f.seek(0)
        f.write(data)


def background_frames(vtest: str, n: int):
    """vtest frames 768x576 -> 1280x960 (bicubic) -> centre crop 1280x720."""
    frames = []
    for i, rgb in enumerate(centerface_ref.decode_video_rgb(vtest, 768, 576)):
        if i >= n:
            break
        im = Image.fromarray(rgb).resize((1280, 960), Image.BICUBIC).crop((0, 120, 1280, 840))
        frames.append(im)
    return frames


def make_faces(sources: dict, vtest_cut: str, out_mp4: str, out_json: str) -> dict:
    cf = centerface_ref.CenterFace(threads=2)
    faces = {t["id"]: FaceSource(sources[t["src"]], cf) for t in TRACKS}
    bg = background_frames(vtest_cut, N_FRAMES * BG_FPS // FPS)

    tmp = out_mp4 + ".tmp.mp4"
    gst = [
        "gst-launch-1.0", "-q", "fdsrc", "fd=0", "blocksize=%d" % (W * H * 3), "!",
        "rawvideoparse", "format=rgb", f"width={W}", f"height={H}", f"framerate={FPS}/1", "!",
        "videoconvert", "!", "video/x-raw,format=I420", "!",
        "x264enc", "pass=qual", "quantizer=20", "speed-preset=slow", "key-int-max=50", "threads=2", "!",
        "video/x-h264,profile=high", "!",
        "mp4mux", "faststart=true", "!", "filesink", f"location={tmp}",
    ]
    print("+", " ".join(gst), file=sys.stderr)
    enc = subprocess.Popen(gst, stdin=subprocess.PIPE)
    truth = []
    for i in range(N_FRAMES):
        t = i / FPS
        frame = bg[i * BG_FPS // FPS].copy()
        boxes = []
        cutouts = []
        for tr in TRACKS:
            fcx, fcy, fh = ease(tr["keys"], t)
            patch, mask, (px, py), box = faces[tr["id"]].place(fcx, fcy, fh)
            frame.paste(patch, (px, py), mask)
            cutouts.append((px, py, px + patch.size[0], py + patch.size[1]))
            boxes.append((tr["id"], box))
        # faces must stay fully inside the frame and not be covered by a later cut-out
        for k, (fid, b) in enumerate(boxes):
            assert 0 <= b[0] and 0 <= b[1] and b[2] <= W and b[3] <= H, (i, fid, b)
            for c in cutouts[k + 1:]:
                assert b[2] <= c[0] or c[2] <= b[0] or b[3] <= c[1] or c[3] <= b[1], (i, fid, b, c)
        enc.stdin.write(np.asarray(frame, np.uint8).tobytes())
        truth.append({
            "index": i,
            "pts_ns": i * 1_000_000_000 // FPS,
            "faces": [
                {"id": fid, "x": round(b[0]), "y": round(b[1]), "w": round(b[2]) - round(b[0]), "h": round(b[3]) - round(b[1])}
                for fid, b in boxes
            ],
        })
    enc.stdin.close()
    if enc.wait() != 0:
        raise SystemExit("encoder failed")
    fix_mp4_times(tmp)
    n = count_frames(tmp, W, H)
    if n != N_FRAMES:
        raise SystemExit(f"{tmp}: decoded {n} frames, expected {N_FRAMES}")
    os.replace(tmp, out_mp4)
    doc = {
        "width": W, "height": H, "fps_n": FPS, "fps_d": 1, "frame_count": N_FRAMES,
        "box_format": "x,y,w,h in output pixels; tight face box (CenterFace box of the source photo mapped through the compositing geometry)",
        "sources": {str(tid): {"file": tr["src"], **faces[tid].info} for tid, tr in ((t["id"], t) for t in TRACKS)},
        "frames": truth,
    }
    with open(out_json, "w") as f:
        json.dump(doc, f, indent=None, separators=(",", ":"))
        f.write("\n")
    return doc


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(ROOT, "sample_media"))
    ap.add_argument("--opencv-doc-deb")
    ap.add_argument("--opencv-data", help="extracted .../examples/data directory of opencv-doc")
    ap.add_argument("--skimage-wheel")
    ap.add_argument("--skimage-data", help="a skimage/data directory")
    ap.add_argument("--check", action="store_true", help="run CenterFace over faces.mp4 and report detection rates")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="veilcam-media-") as tmp:
        src = get_sources(args, tmp)
        vtest = os.path.join(args.out, "vtest.avi")
        make_vtest(src["vtest.avi"], vtest)
        shutil.copyfile(src["astronaut.png"], os.path.join(args.out, "astronaut.png"))
        mp4, js = os.path.join(args.out, "faces.mp4"), os.path.join(args.out, "faces.json")
        make_faces(src, vtest, mp4, js)
    for n in ("vtest.avi", "astronaut.png", "faces.mp4", "faces.json"):
        p = os.path.join(args.out, n)
        print(f"{n}: {os.path.getsize(p)} bytes sha256 {sha256_file(p)}")
    if args.check:
        print(json.dumps(centerface_ref.check_video(mp4, js, 0.2, 0.5), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
