#!/usr/bin/env bash
# Static checks, as CI runs them: ruff lint, ruff format, strict mypy on service/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY="${PY:-.venv/bin/python}"
"$PY" -m ruff check .
"$PY" -m ruff format --check .
"$PY" -m mypy
