#!/usr/bin/env bash
# The package on another Paddle build: a virtual environment with that Paddle and the
# package with its dev extra, then the tests that depend on Paddle's version, one file at a time.
#
#   bash benchmarks/paddle_check.sh                          # Paddle 2.6.2, CPU (PyPI's release)
#   bash benchmarks/paddle_check.sh --paddle 'paddlepaddle>=3'   # any other pip spec
#   bash benchmarks/paddle_check.sh --python /opt/env/bin/python  # a Paddle already installed
#   bash benchmarks/paddle_check.sh --tests exactness --device gpu   # what device_check.sh runs
#
# Options:
#   --paddle SPEC     pip requirement for Paddle (default paddlepaddle==2.6.2)
#   --venv DIR        the environment (default $XDG_CACHE_HOME/spleeter-paddle/venv-<spec>);
#                     reused while it holds SPEC and this requirements.txt and pyproject.toml
#   --python PY       use this interpreter as it is (installs nothing)
#   --tests SET       exactness | all (default all: + separation, training steps, export)
#   --device D        cpu | gpu (the tests' --device option, tests/conftest.py)
#   --timeout S       per test file (default 600)
#   --install-only    build the environment, run nothing
# Needs network access to a package index, or PIP_NO_INDEX=1 PIP_FIND_LINKS=<wheels>.
# Prints one line per file and a summary; exit status 0 only when every file passed.
set -uo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
PADDLE_SPEC="paddlepaddle==2.6.2"
VENV="" PY="" TESTS=all DEVICE=cpu PER_FILE=600 INSTALL_ONLY=0

usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
need() { [ $# -ge 2 ] && [ -n "$2" ] || { echo "paddle_check: $1 needs a value" >&2; exit 2; }; }
while [ $# -gt 0 ]; do
    case "$1" in
        --paddle) need "$@"; PADDLE_SPEC=$2; shift 2 ;;
        --venv) need "$@"; VENV=$2; shift 2 ;;
        --python) need "$@"; PY=$2; shift 2 ;;
        --tests) need "$@"; TESTS=$2; shift 2 ;;
        --device) need "$@"; DEVICE=$2; shift 2 ;;
        --timeout) need "$@"; PER_FILE=$2; shift 2 ;;
        --install-only) INSTALL_ONLY=1; shift ;;
        -h|--help) usage ;;
        *) echo "paddle_check: unknown option $1" >&2; usage ;;
    esac
done
case "$TESTS" in exactness|all) ;; *) echo "paddle_check: --tests must be exactness or all" >&2; exit 2 ;; esac
case "$DEVICE" in cpu|gpu) ;; *) echo "paddle_check: --device must be cpu or gpu" >&2; exit 2 ;; esac
[[ "$PER_FILE" =~ ^[1-9][0-9]*$ ]] || { echo "paddle_check: --timeout must be seconds" >&2; exit 2; }

# The files whose results depend on Paddle (its kernels, jit.save, the predictor, the optimiser).
EXACTNESS=(
    tests/model/test_models.py tests/model/test_bias_layers.py
    tests/pretrained/test_weight_conversion.py tests/pretrained/test_tf_checkpoint.py
    tests/audio/test_spectrogram.py tests/separation/test_official.py
)
SEPARATION=(
    tests/separation/test_masks.py tests/separation/test_inference.py
    tests/separation/test_pipeline.py tests/separation/test_mono_model.py
    tests/separation/test_stream.py
)
TRAINING=(
    tests/training/test_train_speed_equivalence.py tests/training/test_side_by_side.py
    tests/training/test_trainer.py tests/training/test_checkpoint.py
)
EXPORT=(tests/export/test_export.py tests/export/test_backends.py)
FILES=("${EXACTNESS[@]}")
[ "$TESTS" = all ] && FILES+=("${SEPARATION[@]}" "${TRAINING[@]}" "${EXPORT[@]}")

if [ -z "$PY" ]; then
    base=$(command -v python3 || command -v python) || { echo "paddle_check: no python" >&2; exit 1; }
    VENV=${VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/spleeter-paddle/venv-$(printf %s "$PADDLE_SPEC" | tr -c 'A-Za-z0-9.=-' _)}
    VENV=$(realpath -m "$VENV")
    stamp="$VENV/.spleeter-paddle-check"
    want="$PADDLE_SPEC $(cat "$REPO/requirements.txt" "$REPO/pyproject.toml" | sha256sum | cut -c1-16)"
    if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        echo "== environment $VENV: $PADDLE_SPEC + the package's dev extra"
        rm -f "$stamp"
        "$base" -m venv "$VENV" && "$VENV/bin/python" -m pip install -q "$PADDLE_SPEC" -e "$REPO[dev]" \
            || { echo "paddle_check: installing $PADDLE_SPEC failed" >&2; exit 1; }
        # The ONNX converter goes with Paddle's release: 2.x reads Paddle 3 programs only.
        if ! "$VENV/bin/python" -c 'import paddle, sys; sys.exit(paddle.__version__.startswith("2."))'; then
            "$VENV/bin/python" -m pip install -q "paddle2onnx>=1.3.1,<2" \
                || { echo "paddle_check: installing paddle2onnx 1.3 failed" >&2; exit 1; }
        fi
        echo "$want" >"$stamp"
    fi
    PY="$VENV/bin/python"
fi
versions=$("$PY" -c 'import numpy, paddle; print(f"Paddle {paddle.__version__} (CUDA: {paddle.device.is_compiled_with_cuda()}), numpy {numpy.__version__}")' 2>/dev/null) \
    || { echo "paddle_check: $PY cannot import paddle and numpy" >&2; exit 1; }
echo "== $versions; $PY"
[ "$INSTALL_ONLY" = 1 ] && exit 0

cd "$REPO" || exit 1
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
failed=0 started=$SECONDS
for file in "${FILES[@]}"; do
    t0=$SECONDS
    log=$(mktemp)
    timeout "$PER_FILE" "$PY" -m pytest -q -x -p no:cacheprovider --basetemp "$log.tmp" \
        --device "$DEVICE" "$file" >"$log" 2>&1
    status=$?
    summary=$(grep -E ' in [0-9.]+s' "$log" | tail -1 | tr -d '=')
    [ "$status" = 124 ] && summary="timed out after ${PER_FILE}s"
    printf '%-52s %-4s %4ss  %s\n' "$file" "$([ "$status" = 0 ] && echo ok || echo FAIL)" $((SECONDS - t0)) "${summary:-exit $status}"
    if [ "$status" != 0 ]; then
        failed=$((failed + 1))
        tail -25 "$log" | sed 's/^/    /'
    fi
    rm -rf "$log" "$log.tmp"
done
echo "== $versions, --device $DEVICE: $((${#FILES[@]} - failed))/${#FILES[@]} files passed in $((SECONDS - started)) s"
[ "$failed" = 0 ]
