"""The malloc arena cap that `python -m service` applies at start (service.process)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from service.process import MALLOC_ARENAS, cap_malloc_arenas
from tests.conftest import ROOT

# Threads that each allocate and keep a block: with one arena per thread, glibc's statistics
# show as many arenas as threads; under the cap, at most the cap.
ARENAS = """
import ctypes, sys, threading
from service.process import cap_malloc_arenas
if sys.argv[1] == "cap":
    cap_malloc_arenas()
kept = []
def work():
    kept.append(ctypes.create_string_buffer(1 << 16))
    done.wait()
done = threading.Event()
threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads: t.start()
import time; time.sleep(0.5)
libc = ctypes.CDLL("libc.so.6")
libc.malloc_info(0, ctypes.c_void_p.in_dll(libc, "stderr"))
done.set()
for t in threads: t.join()
"""


def _arenas(mode: str) -> int:
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", ARENAS, mode], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stderr.count("<heap nr=")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_the_cap_keeps_threads_to_two_arenas() -> None:
    assert _arenas("cap") <= MALLOC_ARENAS
    assert _arenas("none") > MALLOC_ARENAS, "the test threads would each get an arena uncapped"


def test_an_explicit_setting_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert cap_malloc_arenas() == 4
