#!/usr/bin/env bash
# Build models/blazeface_full.onnx (MediaPipe BlazeFace full-range face detector, 192x192) from
# the sparse TFLite model in the PyPI wheel mediapipe 0.10.14, and models/LICENSE-blazeface.txt.
#
#   1. `pip download --no-deps mediapipe==0.10.14` (cp311 manylinux_2_17_x86_64 wheel, 35.7 MB;
#      this script checks its SHA-256). Only
#      mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite (676,746 bytes)
#      and mediapipe-0.10.14.dist-info/LICENSE (Apache-2.0) are extracted; their SHA-256 are
#      pinned. The licence is written, after a modification notice, to LICENSE-blazeface.txt
#      beside OUTPUT.
#   2. A Python 3.11 venv outside the repository, at
#      ${VEILCAM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/veilcam}/blazeface-tf2onnx-venv, with
#      tensorflow-cpu 2.15.1, tf2onnx 1.16.1, onnx 1.17.0, protobuf 3.20.3, numpy 1.26.4 and, for
#      the check, onnxruntime 1.20.1 and pillow 13.0.0.
#   3. Densify (python, TensorFlow Lite, below). tf2onnx crashes (segfault) on the sparse model:
#      46 of its float16 weight tensors are stored sparse and expanded at run time by DENSIFY ops.
#      The TFLite interpreter runs the model once with experimental_preserve_all_tensors=True;
#      each DENSIFY output tensor gets its dense float16 values as a constant buffer (the sparse
#      input tensor points at the same buffer, without sparsity) and the DENSIFY ops are dropped.
#      The values are those TFLite itself computes; flatbuffer_utils writes dense.tflite.
#   4. python -m tf2onnx.convert --tflite dense.tflite --output raw.onnx --opset 13
#   5. A canonicalisation pass (python onnx, below). tf2onnx's output is not byte-reproducible:
#      generated tensor names (roi__422 in one run, roi__468 in the next, ...) change. The pass
#      renames every internal tensor t0, t1, ... in order of first use and every node
#      <OpType>_<index>, orders the initializers by first use, clears value_info, drops the
#      unused ai.onnx.ml opset import, orders the outputs Identity, Identity_1 and gives them their
#      static shapes. Weights and computation are unchanged. With it, repeated runs here gave
#      identical bytes (EXPECTED_SHA256). Other package versions may still serialise
#      differently, so a different hash is reported but is not an error; the behaviour check
#      below decides.
#   6. Behaviour check, in the venv: scripts/blazeface_ref.py check --tflite compares the ONNX
#      outputs with the TFLite interpreter on the original sparse model (max abs difference
#      < 1e-3, a fixed random input and the astronaut) and the face found on
#      sample_media/astronaut.png with the pinned reference box.
#
# Usage: models/prepare_blazeface.sh [-o OUTPUT] [--wheel mediapipe-0.10.14-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl] [--no-verify]
# Environment: VEILCAM_CACHE, PYTHON311 (default python3.11).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
ME="prepare_blazeface"
# shellcheck source=models/prepare_common.sh
source "$ROOT/models/prepare_common.sh"

PKG="mediapipe"
VERSION="0.10.14"
WHEEL_NAME="mediapipe-${VERSION}-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
TFLITE_PATH="mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite"
LICENSE_PATH="mediapipe-${VERSION}.dist-info/LICENSE"
WHEEL_SHA256=a807328339e7356fda0bb14df12fedbf1d33bdf81649c5f8666b0026b1cc30b4     # 35,664,771 bytes
TFLITE_SHA256=2c3728e6da56f21e21a320433396fb06d40d9088f2247c05e5635a688d45dfe1    # 676,746 bytes
LICENSE_SHA256=8707eef0533987efc5b155d64761eeb6e20793f50b9bd1a68dad1cf4719d0ed8   # 12,331 bytes
EXPECTED_SHA256=34f16b4e353db6c7c94b2d44f5db735bd07caf551bc7e3fbdecf9f3ae24df423   # models/blazeface_full.onnx, 2,052,168 bytes
PIP_PINS=("tensorflow-cpu==2.15.1" "tf2onnx==1.16.1" "onnx==1.17.0" "protobuf==3.20.3" "numpy==1.26.4"
          "onnxruntime==1.20.1" "pillow==13.0.0")

OUT="$ROOT/models/blazeface_full.onnx"
parse_args --wheel WHEEL "$@"
init_dirs blazeface
check_py311  # here already: it also downloads the wheel

# 1. Source files.
if [[ -z "$WHEEL" ]]; then
    say "pip download ${PKG}==${VERSION}"
    "$PY311" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
        --python-version 311 --platform manylinux_2_17_x86_64 -d "$WORK" "${PKG}==${VERSION}"
    WHEEL="$WORK/$WHEEL_NAME"
fi
check_sha "$WHEEL" "$WHEEL_SHA256"
"$PY311" -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2], sys.argv[3:])' \
    "$WHEEL" "$WORK/src" "$TFLITE_PATH" "$LICENSE_PATH"
rm -f "$WORK/$WHEEL_NAME"
SPARSE="$WORK/src/$TFLITE_PATH"
check_sha "$SPARSE" "$TFLITE_SHA256"
check_sha "$WORK/src/$LICENSE_PATH" "$LICENSE_SHA256"

# 2. Converter venv.
ensure_venv

# 3. Densify.
say "densify"
TF_CPP_MIN_LOG_LEVEL=3 "$VENV/bin/python" - "$SPARSE" "$WORK/dense.tflite" <<'PY' >&2 2>"$WORK/densify.log" || { cat "$WORK/densify.log" >&2; exit 1; }
import sys

import numpy as np
import tensorflow as tf
from tensorflow.lite.python import schema_py_generated as schema
from tensorflow.lite.tools import flatbuffer_utils

src, dst = sys.argv[1], sys.argv[2]
it = tf.lite.Interpreter(model_path=src, experimental_preserve_all_tensors=True)
it.allocate_tensors()
inp = it.get_input_details()[0]
it.set_tensor(inp["index"], np.zeros(inp["shape"], np.float32))
it.invoke()

model = flatbuffer_utils.read_model(src)
assert len(model.subgraphs) == 1, len(model.subgraphs)
sg = model.subgraphs[0]

def opcode(op):
    c = model.operatorCodes[op.opcodeIndex]
    return max(c.builtinCode, c.deprecatedBuiltinCode)

keep, n = [], 0
for op in sg.operators:
    if opcode(op) != schema.BuiltinOperator.DENSIFY:
        keep.append(op)
        continue
    dense = sg.tensors[op.outputs[0]]
    sparse = sg.tensors[op.inputs[0]]
    assert sparse.sparsity is not None, sparse.name
    buf = schema.BufferT()
    buf.data = np.frombuffer(it.get_tensor(op.outputs[0]).tobytes(), np.uint8)
    model.buffers.append(buf)
    dense.buffer = sparse.buffer = len(model.buffers) - 1
    sparse.sparsity = None
    n += 1
sg.operators = keep
assert n == 46, n
flatbuffer_utils.write_model(model, dst)

# The dense model must compute what the sparse one does.
x = np.random.RandomState(0).uniform(-1, 1, inp["shape"]).astype(np.float32)
outs = []
for path in (src, dst):
    i = tf.lite.Interpreter(model_path=path)
    i.allocate_tensors()
    i.set_tensor(i.get_input_details()[0]["index"], x)
    i.invoke()
    outs.append([i.get_tensor(d["index"]) for d in i.get_output_details()])
diff = max(float(np.abs(a - b).max()) for a, b in zip(*outs))
assert diff < 1e-3, diff
print(f"prepare_blazeface: densified {n} tensors, {len(keep)} ops left, max |dense - sparse| {diff:.1e}")
PY

# 4. Convert.
run_tf2onnx tflite "$WORK" dense.tflite

# 5. Canonicalise.
canonicalise <<'PY'
import sys

import onnx

from canonical_onnx import rename, used_constants, write

src, dst = sys.argv[1], sys.argv[2]
m = onnx.load(src)
g = m.graph
ins = [(i.name, [d.dim_value for d in i.type.tensor_type.shape.dim]) for i in g.input]
assert ins == [("input_1", [1, 192, 192, 3])], ins
OUTPUTS = [("Identity", 16), ("Identity_1", 1)]
assert sorted(o.name for o in g.output) == [n for n, _ in OUTPUTS], [o.name for o in g.output]
const = {t.name: t for t in g.initializer}
assert not [n for n in g.node if n.input and all(x in const for x in n.input if x)], "unexpected constant-only nodes"

new_nodes, ren = rename(g, g.node)
inits = []
for x in used_constants(g.node, const, ren):
    t = onnx.TensorProto()  # the initializer as tf2onnx wrote it, renamed
    t.CopyFrom(const[x])
    t.name = ren[x]
    inits.append(t)
write(m, new_nodes, inits, [(n, [1, 2304, ch]) for n, ch in OUTPUTS], "blazeface_full_range",
      "MediaPipe BlazeFace full-range face detector, 192x192. From PyPI mediapipe 0.10.14 "
      "mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite (Apache-2.0), "
      "densified, converted by tf2onnx 1.16.1 (--tflite, opset 13) and canonicalised by veilcam "
      "models/prepare_blazeface.sh.", dst, "prepare_blazeface")
PY

LICENSE_OUT="$(dirname "$OUT")/LICENSE-blazeface.txt"
{
    cat <<EOF
Licence for models/blazeface_full.onnx
======================================

The file is a format conversion (TFLite -> ONNX, by tf2onnx, after expanding the sparse
weight tensors to dense ones, then renaming of internal tensors) of
${TFLITE_PATH}
from the PyPI wheel mediapipe ${VERSION} (The MediaPipe Authors, https://github.com/google/mediapipe),
licensed under the Apache License 2.0. The wheel's ${LICENSE_PATH}
is reproduced below, unchanged. The wheel has no NOTICE file.

Modification notice (Apache-2.0 section 4(b)): the model was converted to ONNX by veilcam's
models/prepare_blazeface.sh; the weights are the model's float16 values widened to float32.


EOF
    cat "$WORK/src/$LICENSE_PATH"
} >"$LICENSE_OUT"
say "wrote $LICENSE_OUT"
report_sha

# 6. Behaviour check.
if ((VERIFY)); then
    TF_CPP_MIN_LOG_LEVEL=3 "$VENV/bin/python" "$ROOT/scripts/blazeface_ref.py" --model "$OUT" check --tflite "$SPARSE"
fi
