#!/usr/bin/env bash
# One command from a fresh checkout to a running service: virtualenv, dependencies, models, API.
# Extra arguments go to `python -m service serve` (e.g. --host 0.0.0.0 --port 8080).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON="${PYTHON:-python3}"
[[ -x .venv/bin/python ]] || "$PYTHON" -m venv .venv
# torch first, on its own, from the pin in requirements.txt (the lock leaves it out: its files
# differ between PyPI and the PyTorch indexes). TORCH_INDEX_URL picks the build, e.g.
# https://download.pytorch.org/whl/cpu (CPU only, smaller) or .../whl/cu128 (README "GPU").
.venv/bin/python -m pip install --quiet --disable-pip-version-check \
  ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} "$(grep -E '^torch==' requirements.txt)"
# Then everything else at the exact versions and hashes of the lock (scripts/lock.sh).
.venv/bin/python -m pip install --quiet --disable-pip-version-check \
  --require-hashes -r requirements.lock

# Fetch the pinned models once, unless told to stay offline or pointed at other models.
if [[ "${DEPECHE_OFFLINE:-0}" != "1" && -z "${DEPECHE_TRANSLATION_MODEL:-}${DEPECHE_SUMMARY_MODEL:-}" ]]; then
  models_dir="${DEPECHE_MODELS_DIR:-models}"
  if [[ ! -f "$models_dir/opus-mt-fr-en/config.json" || ! -f "$models_dir/distilbart-cnn-12-6/config.json" ]]; then
    .venv/bin/python scripts/fetch_models.py --models-dir "$models_dir" ||
      echo "serve.sh: models not fetched; the service will say what it is missing" >&2
  fi
fi

# DEPECHE_ENGINE=auto (the default): the first start converts each model to CTranslate2
# (models/<name>-ct2-int8 on the CPU); later starts reuse the copies.
# glibc gives every thread that allocates its own malloc arena and keeps what each one freed;
# CTranslate2's worker threads then hold their peaks apart. Two arenas cut the service's peak
# RSS by about 130 MB at 1 client (docs/benchmarks/cpu-2026-12-02-memory.md).
export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}"
exec .venv/bin/python -m service serve "$@"
