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


def _fetch(tmp_path: Path, *args: str, **env_extra: str) -> subprocess.CompletedProcess[str]:
    env = dict(
        os.environ,
        HF_ENDPOINT=f"http://127.0.0.1:{free_port()}",
        HF_HOME=str(tmp_path / "hf"),
        **env_extra,
    )
    if "DEPECHE_PRESET" not in env_extra:
        env.pop("DEPECHE_PRESET", None)
    return subprocess.run(
        [sys.executable, "scripts/fetch_models.py", "--models-dir", str(tmp_path), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_preset_fetches_its_own_pinned_pair(tmp_path: Path) -> None:
    """With the hub unreachable, the first line printed names the preset's first model."""
    result = _fetch(tmp_path, "--preset", "quality")
    assert result.returncode != 0
    assert result.stdout.startswith(
        "[translation] Helsinki-NLP/opus-mt-tc-big-fr-en @ df6dfc5e22be93169ad457196ad8472ad749f886"
    ), result.stdout
    result = _fetch(tmp_path, "--only", "summary", DEPECHE_PRESET="fast")
    assert result.stdout.startswith("[summary] sshleifer/distilbart-cnn-12-3 @ "), result.stdout
    result = _fetch(tmp_path, "--only", "summary")
    assert result.stdout.startswith("[summary] sshleifer/distilbart-cnn-12-6 @ "), result.stdout


def test_an_unknown_preset_is_one_clear_line(tmp_path: Path) -> None:
    result = _fetch(tmp_path, "--preset", "turbo")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: unknown preset 'turbo'; choose one of fast, balanced, quality"
    )
    assert result.stdout == ""
