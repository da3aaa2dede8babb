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
WHEEL=""
VERIFY=1
while (($#)); do
    case "$1" in
        -o|--output) OUT="$2"; shift 2 ;;
        --wheel) WHEEL="$2"; shift 2 ;;
        --no-verify) VERIFY=0; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
        *) echo "prepare_blazeface: unknown argument $1" >&2; exit 2 ;;
    esac
done

CACHE="${VEILCAM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/veilcam}"
VENV="$CACHE/blazeface-tf2onnx-venv"
PY311="${PYTHON311:-python3.11}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/prepare-blazeface.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

check_sha() { # file expected
    local got
    got="$(sha256sum "$1" | cut -d' ' -f1)"
    if [[ "$got" != "$2" ]]; then
        echo "prepare_blazeface: $1 has sha256 $got, expected $2" >&2
        exit 1
    fi
}

"$PY311" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
    || { echo "prepare_blazeface: $PY311 is not Python 3.11 (set PYTHON311)" >&2; exit 1; }

# 1. Source files.
if [[ -z "$WHEEL" ]]; then
    echo "prepare_blazeface: pip download ${PKG}==${VERSION}" >&2
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

# 2. Converter venv (cached; rebuilt when the pins change).
STAMP="$VENV/.veilcam-pins"
if [[ ! -x "$VENV/bin/python" || "$(cat "$STAMP" 2>/dev/null)" != "${PIP_PINS[*]}" ]]; then
    echo "prepare_blazeface: creating $VENV" >&2
    rm -rf "$VENV"
    mkdir -p "$CACHE"
    "$PY311" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PIP_PINS[@]}"
    printf '%s' "${PIP_PINS[*]}" >"$STAMP"
fi

# 3. Densify.
echo "prepare_blazeface: densify" >&2
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
echo "prepare_blazeface: tf2onnx --tflite" >&2
(cd "$WORK" && TF_CPP_MIN_LOG_LEVEL=3 "$VENV/bin/python" -m tf2onnx.convert \
    --tflite dense.tflite --output "$WORK/raw.onnx" --opset 13 >"$WORK/tf2onnx.log" 2>&1) \
    || { cat "$WORK/tf2onnx.log" >&2; exit 1; }

# 5. Canonicalise.
mkdir -p "$(dirname "$OUT")"
"$VENV/bin/python" - "$WORK/raw.onnx" "$OUT.tmp" <<'PY'
import sys

import onnx
from onnx import helper

src, dst = sys.argv[1], sys.argv[2]
m = onnx.load(src)
g = m.graph
ins = [(i.name, [d.dim_value for d in i.type.tensor_type.shape.dim]) for i in g.input]
assert ins == [("input_1", [1, 192, 192, 3])], ins
OUTPUTS = [("Identity", 16), ("Identity_1", 1)]
assert sorted(o.name for o in g.output) == [n for n, _ in OUTPUTS], [o.name for o in g.output]
const = {t.name: t for t in g.initializer}
assert not [n for n in g.node if n.input and all(x in const for x in n.input if x)], "unexpected constant-only nodes"

# Rename internal tensors in order of first use; name nodes by op type and position.
io = {i.name for i in g.input} | {o.name for o in g.output}
ren = {}
def rn(x):
    if x == "" or x in io:
        return x
    return ren.setdefault(x, f"t{len(ren)}")
new_nodes = []
for k, n in enumerate(g.node):
    c = onnx.NodeProto()
    c.CopyFrom(n)
    c.input[:] = [rn(x) for x in c.input]
    c.output[:] = [rn(x) for x in c.output]
    c.name = f"{c.op_type}_{k}"
    new_nodes.append(c)
used = sorted({x for n in g.node for x in n.input if x in const}, key=lambda x: int(ren[x][1:]))
inits = []
for x in used:
    t = onnx.TensorProto()
    t.CopyFrom(const[x])
    t.name = ren[x]
    inits.append(t)
del g.node[:]
g.node.extend(new_nodes)
del g.initializer[:]
g.initializer.extend(inits)
del g.value_info[:]
del g.output[:]
g.output.extend(helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, [1, 2304, ch]) for n, ch in OUTPUTS)
ops = {n.domain for n in g.node}
keep_opsets = [o for o in m.opset_import if o.domain in ops or o.domain in ("", "ai.onnx")]
del m.opset_import[:]
m.opset_import.extend(keep_opsets)
g.name = "blazeface_full_range"
m.doc_string = ("MediaPipe BlazeFace full-range face detector, 192x192. From PyPI mediapipe 0.10.14 "
                "mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite (Apache-2.0), "
                "densified, converted by tf2onnx 1.16.1 (--tflite, opset 13) and canonicalised by veilcam "
                "models/prepare_blazeface.sh.")
onnx.checker.check_model(m, full_check=True)
with open(dst, "wb") as f:
    f.write(m.SerializeToString(deterministic=True))
print(f"prepare_blazeface: {len(new_nodes)} nodes, {len(inits)} initializers, ops "
      + ",".join(sorted({n.op_type for n in new_nodes})), file=sys.stderr)
PY
mv "$OUT.tmp" "$OUT"

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
echo "prepare_blazeface: wrote $LICENSE_OUT" >&2

got="$(sha256sum "$OUT" | cut -d' ' -f1)"
echo "prepare_blazeface: wrote $OUT ($(stat -c %s "$OUT") bytes), sha256 $got" >&2
if [[ "$got" == "$EXPECTED_SHA256" ]]; then
    echo "prepare_blazeface: sha256 matches the committed model" >&2
else
    echo "prepare_blazeface: NOTE sha256 differs from the committed model ($EXPECTED_SHA256);" \
         "tf2onnx/onnx/protobuf versions can change the bytes, so rely on the behaviour check" >&2
fi

# 6. Behaviour check.
if ((VERIFY)); then
    TF_CPP_MIN_LOG_LEVEL=3 "$VENV/bin/python" "$ROOT/scripts/blazeface_ref.py" --model "$OUT" check --tflite "$SPARSE"
fi
