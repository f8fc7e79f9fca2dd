"""Benchmark Dépêche on this machine: engines, precisions and the whole service, side by side.

The Hugging Face Hub is not needed: both models are rebuilt from their real configurations
(``models/configs/``) with random weights and forced output lengths, so every matrix has its
real size and random weights cannot make a run shorter or longer. The engine rows run through
the service's own engines and scheduler; the service rows run ``python -m service serve`` over
HTTP (1, 4 and 16 clients, and a streamed answer) and the same pipeline in-process. The report
adds the profile (encoder against decoder, per step, the output layer), the floor this machine
allows for the sample article, and the targets of issue 10. The code is in
``scripts/benchmark/`` (machine, models, adapter, engines, service, floor, report, cli).

Usage::

    python scripts/bench.py --quick --json /tmp/bench.json      # every row, tiny sizes
    python scripts/bench.py --out bench.md --json bench.json    # the real run

Peak memory (VmHWM) and time to ready are measured per process: each engine row runs in a
subprocess of its own (``bench.py --worker SPEC OUT``), and the server is a subprocess too.
"""

from __future__ import annotations

import sys

from benchmark.cli import main  # scripts/ is on sys.path when this file runs

if __name__ == "__main__":
    sys.exit(main())
