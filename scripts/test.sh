#!/usr/bin/env bash
# One command from a fresh checkout to a full test run: virtualenv, dependencies, lint, tests.
# The tiny test models are built on first use into .test-models/ and reused afterwards.
# Extra arguments go to pytest (e.g. -m "not slow" for the quick loop, -k NAME, -x).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON="${PYTHON:-python3}"
[[ -x .venv/bin/python ]] || "$PYTHON" -m venv .venv
# torch==2.13.0 is pinned in requirements.txt: here it resolves to the CPU build.
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt

# Torch threads spin-wait by default; passive waiting keeps parallel test processes (the
# server under test, the CLI) from starving each other on small machines.
export OMP_WAIT_POLICY=PASSIVE

PY=.venv/bin/python scripts/lint.sh
exec .venv/bin/python -m pytest "$@"
