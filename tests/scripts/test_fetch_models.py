"""scripts/fetch_models.py: fails fast, in one line, when the hub cannot be reached."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import ROOT, free_port


def test_unreachable_hub_is_one_clear_line(tmp_path: Path) -> None:
    env = dict(
        os.environ, HF_ENDPOINT=f"http://127.0.0.1:{free_port()}", HF_HOME=str(tmp_path / "hf")
    )
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "scripts/fetch_models.py", "--models-dir", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert time.monotonic() - started < 30
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "unreachable" in lines[0]
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.glob("*/config.json"))
