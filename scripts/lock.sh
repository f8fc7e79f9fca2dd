#!/usr/bin/env bash
# Regenerate the locks from the requirement files, with pip-tools' pip-compile:
#   requirements.lock      runtime set (requirements.txt), exact versions and sha256 hashes
#   requirements-dev.lock  runtime + dev set (requirements-dev.txt), the same versions for the
#                          packages both hold (compiled under requirements.lock as a constraint)
# torch stays out of both (--unsafe-package torch): scripts/serve.sh, scripts/test.sh and the
# Dockerfile install the torch pin of requirements.txt first, from PyPI or the PyTorch CPU/CUDA
# index, whose files have other hashes than the CPU build this workplace has on disk. The
# packages torch needs (sympy, networkx, ...) are locked all the same.
# Without arguments, pins already in a lock are kept where they still fit (adding a package
# moves nothing else). Arguments go to pip-compile: `scripts/lock.sh --upgrade` takes the
# newest releases of everything, `--upgrade-package NAME` of one package.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PY="${PY:-.venv/bin/python}"
# The header of each lock names this script as the command that made it.
export CUSTOM_COMPILE_COMMAND="scripts/lock.sh"
common=(
  --quiet
  --resolver=backtracking
  --generate-hashes
  --unsafe-package=torch
  --strip-extras
  # Local indexes and wheel folders of this machine must not end up in the lock.
  --no-emit-index-url
  --no-emit-find-links
  --no-emit-trusted-host
)
"$PY" -m piptools compile "${common[@]}" "$@" --output-file=requirements.lock requirements.txt
"$PY" -m piptools compile "${common[@]}" "$@" --constraint=requirements.lock \
  --output-file=requirements-dev.lock requirements-dev.txt
echo "lock.sh: requirements.lock and requirements-dev.lock written"
