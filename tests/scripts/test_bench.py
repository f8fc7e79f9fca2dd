"""scripts/bench.py --quick: every row runs end to end and the report is complete; and the
parts of scripts/benchmark/ that compute rather than measure (the floor, the stream reader,
the targets).

Nothing here looks at timings: tiny models on a shared CI machine measure nothing. The quick
run catches breakage of the benchmark itself (engines, conversions, the HTTP service rows).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))

from benchmark.floor import Shape, cost, engine_bound, floor_seconds
from benchmark.report import ENGINES_OUT_OF_REACH, HEADLINE_KEYS, targets
from benchmark.service import stream_timings

SUMMARY_KEYS = (
    "seed_article_s",
    "naive_baseline_s",
    "batched_hf_s",
    "articles_per_min_16_clients",
    "service_overhead_ratio",
    "rss_mb",
    "ready_s",
)
NEW_KEYS = ("floor_s", "first_paragraph_s", "translation_s", "rss_mb_16_clients", "rss_mb_load")


def run_bench(args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """`scripts/bench.py ARGS` in a subprocess without the caller's DEPECHE_ settings; it must
    succeed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEPECHE_")}
    result = subprocess.run(
        [sys.executable, "scripts/bench.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result


@pytest.mark.slow
def test_quick_run_reports_every_row(tmp_path: Path, test_models: Path) -> None:
    out_json = tmp_path / "bench.json"
    out_md = tmp_path / "bench.md"
    result = run_bench(
        [
            "--quick",
            "--json",
            str(out_json),
            "--out",
            str(out_md),
            "--test-models",
            str(test_models),
        ],
        timeout=900,
    )

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
    # Both beams everywhere; the service's summary row also sends sample summaries at once.
    assert all(set(row["results"]) - {"streams"} == {"beam4", "beam2"} for row in summary.values())
    assert [label for label, row in summary.items() if "streams" in row["results"]] == [
        "CT2 int8 (1 thread)"
    ]
    assert summary["CT2 int8 (1 thread)"]["results"]["streams"]["articles_per_min"] > 0
    assert report["engines"]["articles"][0]["article_s"] == report["naive_baseline_s"]

    service = report["service"]["transformers"]
    assert [(r["article"], r["clients"]) for r in service["runs"]] == [
        ("sample", 1),
        ("sample", 4),
        ("sample", 16),
        ("long", 1),
    ]
    assert service["runs"][-1]["meta_tokens"]["translation_input"] > 0

    # The new headline keys: the floor and the 16-client memory are measured; the stream's
    # figures are numbers when the server streams, else None ("not available").
    assert set(NEW_KEYS) <= set(HEADLINE_KEYS)
    assert report["floor_s"] > 0
    assert report["floor"]["parts"].keys() == {"translation", "summary"}
    assert report["rss_mb_16_clients"] > 0
    assert report["rss_mb_load"] > 0
    assert report["service_engine"] == "auto"  # the default setting, as a user runs it
    auto = report["service"]["auto"]
    assert auto["in_process"]["meta"]["models"][0]["engine"].startswith("ctranslate2")
    assert all(run["rss_mb"] > 0 for run in auto["runs"])
    stream = auto["stream"]
    if stream["available"]:
        assert 0 < report["first_paragraph_s"] <= report["translation_s"]
    else:
        assert report["first_paragraph_s"] is None
        assert report["translation_s"] is None
    assert report["targets"][0]["target"].startswith("sample article")
    assert report["engines"]["summary"]["CT2 int8"]["profile"]["steps"]["beam2"]["steps"] > 1
    assert "output_layer_s" in report["engines"]["translation"]["HF float32"]["profile"]["hooks"]

    # The Markdown table went to stdout and to --out.
    assert "| engine | intra/inter | mode | sample s |" in result.stdout
    assert "## Whole service over HTTP" in result.stdout
    for heading in ("## Profile", "## The floor", "## Targets", "## Streaming"):
        assert heading in result.stdout
    assert out_md.read_text(encoding="utf-8").strip() == result.stdout.strip()

    # The engine bound: the quick run has the service's own layout among its rows.
    bound = report["engine_bound"]
    assert bound is not None
    assert report["engine_bound_s"] == bound["bound_s"] > 0
    assert bound["summary_row"] in summary
    assert bound["translation_row"] in translation

    # --from-json measures nothing and derives the same report from the saved one.
    again = tmp_path / "again.json"
    rerun = run_bench(["--from-json", str(out_json), "--json", str(again)], timeout=120)
    derived = json.loads(again.read_text(encoding="utf-8"))
    assert derived.pop("derived_from_json") is True
    assert derived == report
    assert "Re-derived with `scripts/bench.py --from-json`" in rerun.stdout


def test_cost_counts_every_matrix_product_of_a_tiny_model() -> None:
    shape = Shape(
        d_model=2, encoder_layers=1, decoder_layers=1, encoder_ffn=4, decoder_ffn=4, vocab=10
    )
    c = cost(shape, sources=[3], targets=[2], beams=1)
    # Encoder: 2 x (4d² + 2d·ffn = 32) x 3 tokens + QK^T and AV 4·n²·d = 72.
    assert c.encoder_flops == 2 * 32 * 3 + 72
    # Decoder: cross K/V once (2 · 2d² · 3 = 48); per step 2 x (6d² + 2d·ffn = 40) plus
    # attention 4d(step + n), plus the output layer 2·d·V = 40.
    assert c.decoder_flops == 48 + (80 + 32 + 40) + (80 + 40 + 40)
    assert c.output_layer_flops == 2 * 40
    assert c.steps == 2
    assert c.step_bytes == 40 + 20  # decoder weights a step reads, and the output layer


def test_cost_scales_with_beams_in_the_decoder_only() -> None:
    shape = Shape(512, 6, 6, 2048, 2048, 59514)
    one, four = cost(shape, [20], [30], 1), cost(shape, [20], [30], 4)
    assert four.encoder_flops == one.encoder_flops
    cross = 6 * 2 * 2 * 512**2 * 20
    assert four.decoder_flops - cross == pytest.approx(4 * (one.decoder_flops - cross))


def test_floor_adds_compute_at_the_int8_rate_and_weight_reads_at_the_bandwidth() -> None:
    shape = Shape(2, 1, 1, 4, 4, 10)
    c = cost(shape, [3], [2], 1)
    floor = floor_seconds({"translation": c}, int8_gflops=1e-6, read_gbps=1e-7)
    part = floor["parts"]["translation"]
    assert part["compute_s"] == pytest.approx((264 + 360) / 1000)  # 1,000 FLOP/s
    assert part["memory_s"] == pytest.approx(2 * 60 / 100)  # 100 B/s
    assert floor["floor_s"] == pytest.approx(part["compute_s"] + part["memory_s"])
    assert part["output_layer_share"] == pytest.approx(80 / 360)


class _Clock:
    def __init__(self, *times: float) -> None:
        self.times = list(times)

    def __call__(self) -> float:
        return self.times.pop(0)


def test_stream_timings_reads_the_first_and_last_paragraph() -> None:
    lines = [
        '{"event": "head", "title": "t"}',
        '{"event": "paragraph", "index": 0, "text": "a"}',
        "",
        '{"event": "paragraph", "index": 1, "text": "b"}',
        '{"event": "key_points", "key_points": [], "summary": ""}',
        '{"event": "done", "meta": {}}',
    ]
    timings = stream_timings("application/x-ndjson", lines, 10.0, _Clock(10.4, 11.5, 12.0))
    assert timings["available"] is True
    assert timings["first_paragraph_s"] == pytest.approx(0.4)
    assert timings["translation_s"] == pytest.approx(1.5)
    assert timings["total_s"] == pytest.approx(2.0)
    assert timings["paragraphs"] == 2


def test_stream_timings_says_not_available_for_plain_json() -> None:
    timings = stream_timings("application/json", ['{"translation": {}}'], 0.0, _Clock())
    assert timings == {"available": False, "content_type": "application/json"}


def test_stream_timings_fails_on_an_error_event() -> None:
    lines = ['{"event": "error", "error": {"code": "inference_failed"}}']
    with pytest.raises(RuntimeError, match="error event"):
        stream_timings("application/x-ndjson", lines, 0.0, _Clock())


def test_targets_say_met_missed_out_of_reach_or_not_measured() -> None:
    report = {
        "machine": {"avx512f": False},
        "floor_s": 2.0,
        "floor": {"parts": {"translation": {"floor_s": 0.8}}},
        "seed_article_s": 5.0,
        "naive_baseline_s": 50.0,
        "first_paragraph_s": None,
        "translation_s": None,
        "articles_per_min_16_clients": 31.0,
        "rss_mb_16_clients": 900.0,  # MiB: 944 MB
        "ready_s": 2.0,
        "weights_mb_int8": 380.0,
        "service_engine": "auto",
        "service": {"auto": {"runs": [{"article": "sample", "clients": 1, "rss_mb": 700.0}]}},
    }
    verdicts = {t["target"]: t["verdict"] for t in targets(report)}
    # Missed: 10×, where the floor (2 s) would give 25×; 2.5× the floor; 734 MB, weights 380.
    assert verdicts["sample article ≥ 15× the naive pipeline"] == "missed"
    assert verdicts["sample article ≤ 3.0 s on a 2-core AVX-512 machine"] == "—"  # AVX2 here
    assert verdicts["sample article within 2× of the floor"] == "missed"
    assert verdicts["first translated paragraph ≤ 1.0 s (stream)"] == "—"
    assert verdicts["≥ 30 articles/min at 16 clients"] == "met"
    assert verdicts["peak RSS ≤ 700 MB at 1 client"] == "missed"  # 700 MiB = 734 MB
    # The load's own peak counts at 1 client where it was measured, and only then.
    served = {
        **report,
        "service": {"auto": {"runs": [{**report["service"]["auto"]["runs"][0], "rss_mb": 600.0}]}},
    }
    verdicts = {t["target"]: t["verdict"] for t in targets(served)}
    assert verdicts["peak RSS ≤ 700 MB at 1 client"] == "met"  # 629 MB
    loading = {**served, "rss_mb_load": 690.0}  # 724 MB while loading
    verdicts = {t["target"]: t["verdict"] for t in targets(loading)}
    assert verdicts["peak RSS ≤ 700 MB at 1 client"] == "missed"
    assert verdicts["peak RSS ≤ 1 GB at 16 clients"] == "met"
    assert verdicts["ready ≤ 3 s when the CTranslate2 copies exist"] == "met"
    # Out of reach where the floor is beyond the target: 4 s of floor, on AVX-512.
    slow = {**report, "machine": {"avx512f": True}, "floor_s": 4.0}
    verdicts = {t["target"]: t["verdict"] for t in targets(slow)}
    assert verdicts["sample article ≤ 3.0 s on a 2-core AVX-512 machine"] == "out of reach"
    assert verdicts["sample article ≥ 15× the naive pipeline"] == "out of reach"  # 12.5× at best
    # Out of reach with these engines: the floor allows it, the fastest rows add up to more.
    engines = {**report, "machine": {"avx512f": True}, "engine_bound_s": 3.5}
    verdicts = {t["target"]: t["verdict"] for t in targets(engines)}
    assert verdicts["sample article ≤ 3.0 s on a 2-core AVX-512 machine"] == ENGINES_OUT_OF_REACH
    assert verdicts["sample article ≥ 15× the naive pipeline"] == ENGINES_OUT_OF_REACH  # 3.33 s
    assert verdicts["sample article within 2× of the floor"] == "missed"  # 4 s allowed
    assert verdicts["≥ 30 articles/min at 16 clients"] == "met"  # the bound is about time
    # A bound under the target changes nothing: missed stays missed.
    fast = {**engines, "engine_bound_s": 2.9}
    verdicts = {t["target"]: t["verdict"] for t in targets(fast)}
    assert verdicts["sample article ≤ 3.0 s on a 2-core AVX-512 machine"] == "missed"


def _row(engine: str, precision: str, intra: int, inter: int, **extra: object) -> dict:
    return {"engine": engine, "precision": precision, "intra": intra, "inter": inter, **extra}


def test_engine_bound_adds_the_fastest_translation_and_summary_decoder() -> None:
    translation = {
        "HF float32": _row(
            "transformers", "float32", 2, 1, results={"sample_batched": {"times_s": [9.0, 8.0]}}
        ),
        "CT2 int8 (2 workers)": _row(
            "ctranslate2", "int8", 1, 2, results={"sample_batched": {"times_s": [1.4, 1.2]}}
        ),
    }

    def summary_row(intra: int, decoder_s: float, folder: str | None = None) -> dict:
        steps = {"beam2": {"decoder_s": decoder_s, "steps": 120, "step_s": decoder_s / 120}}
        return _row("ctranslate2", "int8", intra, 1, folder=folder, profile={"steps": steps})

    summary = {
        "CT2 int8": summary_row(2, 3.5),
        "CT2 int8 (1 thread)": summary_row(1, 3.0),
        "CT2 int8 (1 thread, fast preset)": summary_row(1, 1.0, folder="summary-fast"),
    }
    layouts = {
        "translation": {"engine": "ctranslate2 (int8)", "threads": {"inter": 2, "intra": 1}},
        "summary": {"engine": "ctranslate2 (int8)", "threads": {"inter": 2, "intra": 1}},
    }
    bound = engine_bound(translation, summary, 2, layouts)
    assert bound is not None
    # The fastest run of the fastest row, and the default summarizer's fastest decoder (the
    # preset's own row does not count: the service runs the default model).
    assert (bound["translation_row"], bound["translation_s"]) == ("CT2 int8 (2 workers)", 1.2)
    assert (bound["summary_row"], bound["summary_decoder_s"]) == ("CT2 int8 (1 thread)", 3.0)
    assert bound["bound_s"] == pytest.approx(4.2)
    # No bound when the rows do not include the layout the service runs: it may be faster.
    two_threads = {**layouts, "summary": {**layouts["summary"], "threads": {"intra": 2}}}
    del summary["CT2 int8"]
    assert engine_bound(translation, summary, 2, two_threads) is None
    # A preset's row in the service's layout does not stand in for the default model's.
    one_thread = {**layouts, "summary": {**layouts["summary"], "threads": {"intra": 1}}}
    del summary["CT2 int8 (1 thread)"]
    assert engine_bound(translation, summary, 2, one_thread) is None
    assert engine_bound(translation, summary, 2, {}) is None
    assert engine_bound(translation, summary, 4, layouts) is None  # no beam-4 profile


def test_the_wide_marian_tokenizer_cuts_finer_and_keeps_every_id(
    tmp_path: Path, test_models: Path
) -> None:
    import shutil

    from benchmark.common import SAMPLE_ARTICLE
    from benchmark.models import spm_word_pieces, train_wide_spm, widen_marian_tokenizer
    from transformers import MarianTokenizer

    folder = tmp_path / "translation"
    shutil.copytree(test_models / "translation", folder)
    before: dict[str, int] = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
    lines = [line for line in SAMPLE_ARTICLE.read_text(encoding="utf-8").splitlines() if line]
    tiny = MarianTokenizer.from_pretrained(folder)
    tiny_tokens = sum(map(len, tiny(lines)["input_ids"]))

    proto = train_wide_spm()
    assert proto == train_wide_spm(), "the same model on every machine"
    added = widen_marian_tokenizer(folder, proto)
    after: dict[str, int] = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
    assert added == len(after) - len(before) > 1000
    assert all(after[piece] == i for piece, i in before.items()), "old ids move"
    assert sorted(after.values()) == list(range(len(after)))
    assert spm_word_pieces(proto) <= after.keys()

    wide = MarianTokenizer.from_pretrained(folder)
    ids = wide(lines)["input_ids"]
    assert sum(map(len, ids)) < 0.7 * tiny_tokens
    assert wide.unk_token_id not in {i for row in ids for i in row}
    for line, text in zip(lines, wide.batch_decode(ids, skip_special_tokens=True), strict=True):
        assert text.split() == line.split()
