#!/usr/bin/env bash
# One call on a CUDA machine (issue 10, GPU): the test suite with DEPECHE_DEVICE=cuda, then the
# benchmark on CUDA (auto = CTranslate2 float16; HF float16 and CT2 int8_float16 rows beside
# it): translation tokens/s, summary s, the sample article end to end. Everything lands in
# $OUT: nvidia-smi.txt, tests-cuda.txt, bench-cuda.md/.json/.log. About 10 minutes.
#   OUT=/tmp/gpu PY=.venv/bin/python scripts/gpu_check.sh
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY="${PY:-.venv/bin/python}"
OUT="${OUT:-/tmp/gpu-check}"
mkdir -p "$OUT"
export OMP_WAIT_POLICY=PASSIVE HF_HUB_OFFLINE=1
own_models=""
if [ -z "${DEPECHE_TEST_MODELS_DIR:-}" ]; then
    own_models="$(mktemp -d)/test-models"  # built by the first test that needs them
    export DEPECHE_TEST_MODELS_DIR="$own_models"
fi

nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
DEPECHE_DEVICE=cuda timeout "${TESTS_TIMEOUT:-240}" "$PY" -m pytest -q -m "not slow" \
    -p no:cacheprovider > "$OUT/tests-cuda.txt" 2>&1
tests=$?
timeout "${BENCH_TIMEOUT:-330}" "$PY" scripts/bench.py --device cuda --repeats 2 \
    --service-engines auto --clients 1,16 --test-models "$DEPECHE_TEST_MODELS_DIR" \
    --out "$OUT/bench-cuda.md" --json "$OUT/bench-cuda.json" 2> "$OUT/bench-cuda.log"
bench=$?
[ -n "$own_models" ] && rm -rf "$own_models"  # only what this script built
tail -n 3 "$OUT/tests-cuda.txt"
grep -A 14 "^## Summary figures" "$OUT/bench-cuda.md" 2>/dev/null || tail -n 20 "$OUT/bench-cuda.log"
echo "tests exit $tests, bench exit $bench"
[ "$tests" -eq 0 ] && [ "$bench" -eq 0 ]
