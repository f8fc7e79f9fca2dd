#!/usr/bin/env bash
# One command from a fresh checkout to a running service: virtualenv, dependencies, models, API.
# Extra arguments go to `python -m service serve` (e.g. --host 0.0.0.0 --port 8080).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON="${PYTHON:-python3}"
[[ -x .venv/bin/python ]] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt

# Fetch the pinned models once, unless told to stay offline or pointed at other models.
if [[ "${DEPECHE_OFFLINE:-0}" != "1" && -z "${DEPECHE_TRANSLATION_MODEL:-}${DEPECHE_SUMMARY_MODEL:-}" ]]; then
  models_dir="${DEPECHE_MODELS_DIR:-models}"
  if [[ ! -f "$models_dir/opus-mt-fr-en/config.json" || ! -f "$models_dir/distilbart-cnn-12-6/config.json" ]]; then
    .venv/bin/python scripts/fetch_models.py --models-dir "$models_dir" ||
      echo "serve.sh: models not fetched; the service will say what it is missing" >&2
  fi
fi

exec .venv/bin/python -m service serve "$@"
