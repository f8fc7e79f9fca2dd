#!/usr/bin/env bash
# One command from a fresh checkout to a full test run: virtualenv, dependencies, lint, tests.
# The tiny test models are built on first use into .test-models/ and reused afterwards.
# Extra arguments go to pytest (e.g. -m "not slow" for the quick loop, -k NAME, -x).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON="${PYTHON:-python3}"
[[ -x .venv/bin/python ]] || "$PYTHON" -m venv .venv
# torch first, from the pin in requirements.txt (on this project's CI machines it resolves to
# the CPU build; TORCH_INDEX_URL picks another index), then the dev lock: the runtime set and
# the test tools at exact versions with hashes (scripts/lock.sh).
.venv/bin/python -m pip install --quiet --disable-pip-version-check \
  ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} "$(grep -E '^torch==' requirements.txt)"
.venv/bin/python -m pip install --quiet --disable-pip-version-check \
  --require-hashes -r requirements-dev.lock

# Torch threads spin-wait by default; passive waiting keeps parallel test processes (the
# server under test, the CLI) from starving each other on small machines.
export OMP_WAIT_POLICY=PASSIVE

PY=.venv/bin/python scripts/lint.sh
exec .venv/bin/python -m pytest "$@"
