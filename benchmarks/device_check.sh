#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: Paddle's CUDA build from PyPI in its own environment, the
# exactness tests on the card, the separation and training benchmarks there, and the numbers.
# Every step is time-boxed (`timeout`); the whole run stays within --budget (default 480 s).
#
#   bash benchmarks/device_check.sh                    # paddlepaddle-gpu from PyPI (2.6.2)
#   bash benchmarks/device_check.sh --python PY        # a Paddle already installed (offline card)
#   bash benchmarks/device_check.sh --cpu              # the CPU path, on any machine
#
# Options:
#   --paddle SPEC   pip requirement for the GPU build (default paddlepaddle-gpu)
#   --venv DIR      its environment (default: benchmarks/paddle_check.sh's, per spec)
#   --python PY     use this interpreter as it is (installs nothing)
#   --cpu           run on the CPU even with a card (spec paddlepaddle unless --paddle)
#   --budget S      seconds for the whole run (default 480; split over the steps)
# Without a card (no nvidia-smi, or it lists none) it says so and takes the CPU path.
# Offline: PIP_NO_INDEX=1 PIP_FIND_LINKS=<wheels>, or --python; the exactness tests and the
# separation benchmark need the official 2stems weights: SPLEETER_PADDLE_TEST_CACHE=<a test
# cache holding them> (tests/conftest.py), which the benchmarks then read as MODEL_PATH.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
SPEC="" VENV="" PY="" FORCE_CPU=0 BUDGET=480

usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
need() { [ $# -ge 2 ] && [ -n "$2" ] || { echo "device_check: $1 needs a value" >&2; exit 2; }; }
while [ $# -gt 0 ]; do
    case "$1" in
        --paddle) need "$@"; SPEC=$2; shift 2 ;;
        --venv) need "$@"; VENV=$2; shift 2 ;;
        --python) need "$@"; PY=$2; shift 2 ;;
        --cpu) FORCE_CPU=1; shift ;;
        --budget) need "$@"; BUDGET=$2; shift 2 ;;
        -h|--help) usage ;;
        *) echo "device_check: unknown option $1" >&2; usage ;;
    esac
done
[[ "$BUDGET" =~ ^[1-9][0-9]*$ ]] && [ "$BUDGET" -ge 60 ] \
    || { echo "device_check: --budget must be at least 60 seconds" >&2; exit 2; }
[ -z "$PY" ] || [ -x "$PY" ] || { echo "device_check: --python $PY is not executable" >&2; exit 2; }

card=""
if [ "$FORCE_CPU" = 0 ] && command -v nvidia-smi >/dev/null; then
    card=$(timeout 20 nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -1)
fi
if [ -n "$card" ]; then
    DEVICE=gpu SPEC=${SPEC:-paddlepaddle-gpu}
    echo "== card: $card"
else
    DEVICE=cpu SPEC=${SPEC:-paddlepaddle}
    [ "$FORCE_CPU" = 1 ] && echo "== --cpu: the CPU path" || echo "== no NVIDIA card found (nvidia-smi): the CPU path"
fi

# Budget shares: environment 45 %, exactness tests 30 %, separation 12 %, training 13 %.
deadline=$((SECONDS + BUDGET))
share() { local left=$((deadline - SECONDS)) want=$((BUDGET * $1 / 100)); [ "$want" -lt "$left" ] || want=$left; echo $((want > 1 ? want : 1)); }
results=()
step() {  # step NAME SECONDS COMMAND...: run time-boxed, keep the output, record the outcome
    local name=$1 limit=$2 t0=$SECONDS status; shift 2
    echo "== $name (at most ${limit}s)"
    timeout "$limit" "$@" 2>&1 | tee "$work/$name.log"
    status=${PIPESTATUS[0]}
    local outcome="ok"
    [ "$status" = 0 ] || outcome="FAILED (exit $status)"
    [ "$status" = 124 ] && outcome="TIMED OUT after ${limit}s"
    results+=("$(printf '%-12s %-26s %4ss' "$name" "$outcome" $((SECONDS - t0)))")
    return "$status"
}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

check=(bash "$HERE/paddle_check.sh" --paddle "$SPEC")
[ -n "$VENV" ] && check+=(--venv "$VENV")
[ -n "$PY" ] && check+=(--python "$PY")
step environment "$(share 45)" "${check[@]}" --install-only || { printf '%s\n' "${results[@]}"; exit 1; }
if [ -z "$PY" ]; then
    PY=$(grep -oE '; /.*bin/python' "$work/environment.log" | tail -1 | cut -c3-)
fi
step exactness "$(share 30)" "${check[@]}" --python "$PY" --tests exactness --device "$DEVICE" --timeout 120

cache=${SPLEETER_PADDLE_TEST_CACHE:-$REPO/.cache/tests}
if [ -z "${MODEL_PATH:-}" ] && [ -d "$cache/models" ]; then export MODEL_PATH="$cache/models"; fi
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
step separation "$(share 12)" "$PY" "$HERE/bench_separate.py" --durations 30 --backends predictor eager --device "$DEVICE"
step training "$(share 13)" "$PY" "$HERE/bench_train.py" --songs 2 --steps 3 --batches 10 --workers 2 --device "$DEVICE"

echo
echo "== device check: $(grep -h '^== Paddle' "$work/environment.log" | cut -c4-)"
[ -n "$card" ] && echo "card: $card"
printf '%s\n' "${results[@]}"
grep -h 'files passed' "$work/exactness.log" 2>/dev/null
grep -hE '^ +[0-9]+s +(predictor|eager)' "$work/separation.log" 2>/dev/null | sed 's/^/separation: /'
grep -hE '^(training step|loader)' "$work/training.log" 2>/dev/null | sed 's/^/training: /'
! printf '%s\n' "${results[@]}" | grep -qv ' ok '
