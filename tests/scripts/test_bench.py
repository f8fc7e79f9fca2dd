"""scripts/bench.py --quick: every row runs end to end and the report is complete.

Nothing here looks at timings: tiny models on a shared CI machine measure nothing. The test
catches breakage of the benchmark itself (engines, conversions, the HTTP service rows).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow

SUMMARY_KEYS = (
    "seed_article_s",
    "naive_baseline_s",
    "batched_hf_s",
    "articles_per_min_16_clients",
    "service_overhead_ratio",
    "rss_mb",
    "ready_s",
)


def test_quick_run_reports_every_row(tmp_path: Path, test_models: Path) -> None:
    out_json = tmp_path / "bench.json"
    out_md = tmp_path / "bench.md"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEPECHE_")}
    command = [sys.executable, "scripts/bench.py", "--quick", "--json", str(out_json)]
    result = subprocess.run(
        [*command, "--out", str(out_md), "--test-models", str(test_models)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-4000:]

    report = json.loads(out_json.read_text(encoding="utf-8"))
    for key in SUMMARY_KEYS:
        assert isinstance(report[key], int | float), (key, report[key])
    machine = report["machine"]
    for key in ("cpu", "cores", "avx512f", "amx", "torch", "transformers", "ctranslate2"):
        assert key in machine
    assert report["failures"] == []

    translation = report["engines"]["translation"]
    assert {"HF float32", "HF bfloat16", "HF dynamic int8", "CT2 float32", "CT2 int8"} <= set(
        translation
    )
    assert {"sample_naive", "sample_batched", "long_batched"} <= set(
        translation["HF float32"]["results"]
    )
    assert "streams" in translation["CT2 int8 (2 workers)"]["results"]
    for row in translation.values():
        assert row["rss_mb"] > 0
        assert row["ready_s"] > 0
    summary = report["engines"]["summary"]
    assert all(set(row["results"]) == {"beam4", "beam2"} for row in summary.values())
    assert report["engines"]["articles"][0]["article_s"] == report["naive_baseline_s"]

    service = report["service"]["transformers"]
    assert [(r["article"], r["clients"]) for r in service["runs"]] == [
        ("sample", 1),
        ("sample", 4),
        ("sample", 16),
        ("long", 1),
    ]
    assert service["runs"][-1]["meta_tokens"]["translation_input"] > 0

    # The Markdown table went to stdout and to --out.
    assert "| engine | intra/inter | mode | sample s |" in result.stdout
    assert "## Whole service over HTTP" in result.stdout
    assert out_md.read_text(encoding="utf-8").strip() == result.stdout.strip()
