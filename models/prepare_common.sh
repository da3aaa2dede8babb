# shellcheck shell=bash
# What models/prepare_blazeface.sh and models/prepare_nanodet.sh share: argument parsing, the
# cache, the converter venv with pinned pip packages, the work dir, SHA-256 checks, the tf2onnx
# run, the canonicalisation step's plumbing and the final hash report. Sourced, not run: the
# script sets ROOT, ME (its name, the prefix of every message) and the default OUT first, and
# PIP_PINS and EXPECTED_SHA256 before it calls the functions that use them. What a script
# downloads, extracts and checks, and how its model is canonicalised, stay in the script.

say() { # message...: to stderr, after the script's name
    echo "$ME: $*" >&2
}

die() { # message...
    say "$@"
    exit 1
}

# parse_args OPTION VARIABLE "$@": -o/--output sets OUT, OPTION FILE sets VARIABLE (an already
# downloaded package; empty: download it), --no-verify clears VERIFY, -h prints the script's
# header comment (the lines up to `set -euo`, so keep that right below it).
# shellcheck disable=SC2034  # VERIFY is read by the script
parse_args() {
    local option="$1" variable="$2"
    shift 2
    printf -v "$variable" '%s' ""
    VERIFY=1
    while (($#)); do
        case "$1" in
            -o|--output) OUT="$2"; shift 2 ;;
            "$option") printf -v "$variable" '%s' "$2"; shift 2 ;;
            --no-verify) VERIFY=0; shift ;;
            -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
            *) say "unknown argument $1"; exit 2 ;;
        esac
    done
}

# init_dirs NAME: CACHE, VENV ($CACHE/NAME-tf2onnx-venv), PY311 and WORK, a fresh work dir that
# is removed however the script ends.
init_dirs() {
    CACHE="${VEILCAM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/veilcam}"
    VENV="$CACHE/$1-tf2onnx-venv"
    PY311="${PYTHON311:-python3.11}"
    WORK="$(mktemp -d "${TMPDIR:-/tmp}/${ME//_/-}.XXXXXX")"
    trap 'rm -rf "$WORK"' EXIT
}

check_sha() { # file expected
    local got
    got="$(sha256sum "$1" | cut -d' ' -f1)"
    if [[ "$got" != "$2" ]]; then
        die "$1 has sha256 $got, expected $2"
    fi
}

check_py311() {
    "$PY311" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
        || die "$PY311 is not Python 3.11 (set PYTHON311)"
}

# Converter venv (cached; rebuilt when the pins change).
ensure_venv() {
    local stamp="$VENV/.veilcam-pins"
    if [[ ! -x "$VENV/bin/python" || "$(cat "$stamp" 2>/dev/null)" != "${PIP_PINS[*]}" ]]; then
        say "creating $VENV"
        rm -rf "$VENV"
        mkdir -p "$CACHE"
        check_py311
        "$PY311" -m venv "$VENV"
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PIP_PINS[@]}"
        printf '%s' "${PIP_PINS[*]}" >"$stamp"
    fi
}

# run_tf2onnx FORMAT DIR MODEL: DIR/MODEL (tf2onnx --FORMAT) to $WORK/raw.onnx, opset 13; tf2onnx is
# chatty, so its log is shown only when it fails.
run_tf2onnx() {
    say "tf2onnx --$1"
    (cd "$2" && TF_CPP_MIN_LOG_LEVEL=3 "$VENV/bin/python" -m tf2onnx.convert \
        "--$1" "$3" --output "$WORK/raw.onnx" --opset 13 >"$WORK/tf2onnx.log" 2>&1) \
        || { cat "$WORK/tf2onnx.log" >&2; exit 1; }
}

# canonicalise <<'PY' ... PY: runs the python on stdin in the venv with the arguments raw.onnx and
# the file to write, models/ on its path (for canonical_onnx.py; -B: no __pycache__ in the repo),
# then moves that file to OUT, so that OUT is never half written; when the python fails, its
# half-written file is removed too.
canonicalise() {
    mkdir -p "$(dirname "$OUT")"
    PYTHONPATH="$ROOT/models${PYTHONPATH:+:$PYTHONPATH}" "$VENV/bin/python" -B - "$WORK/raw.onnx" "$OUT.tmp" \
        || { rm -f "$OUT.tmp"; die "canonicalising $WORK/raw.onnx failed"; }
    mv "$OUT.tmp" "$OUT"
}

# A different hash is reported but is not an error: other package versions may serialise
# differently, and the behaviour check decides.
report_sha() {
    local got
    got="$(sha256sum "$OUT" | cut -d' ' -f1)"
    say "wrote $OUT ($(stat -c %s "$OUT") bytes), sha256 $got"
    if [[ "$got" == "$EXPECTED_SHA256" ]]; then
        say "sha256 matches the committed model"
    else
        say "NOTE sha256 differs from the committed model ($EXPECTED_SHA256);" \
            "tf2onnx/onnx/protobuf versions can change the bytes, so rely on the behaviour check"
    fi
}
