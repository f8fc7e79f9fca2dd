"""What every part of the benchmark shares: paths, sizes of the workload, timing and memory."""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BENCH_SCRIPT = ROOT / "scripts" / "bench.py"
CONFIGS = ROOT / "models" / "configs"
SAMPLE_ARTICLE = ROOT / "scripts" / "examples" / "seed_article.fr.txt"
FLORES_FR = ROOT / "tests" / "data" / "flores_devtest_400.fr"
ORANGESUM = Path("/work/shared/data/articles/fr_news.jsonl")
TEST_MODELS = ROOT / ".test-models"
"""Tiny test models (scripts/make_test_models.py); the bench borrows their tokenizers."""

MARIAN = "opus-mt-fr-en"
BART = "distilbart-cnn-12-6"
PRESET_SUMMARIZERS = {"fast": "distilbart-cnn-12-3", "quality": "bart-large-cnn"}
"""The other presets' summarizers (models/manifest.json), each timed as one more summary row
from its own folders (`preset_summary_folder`)."""


PRESET_TRANSLATORS = {"quality": "opus-mt-tc-big-fr-en"}
"""The other presets' translators (models/manifest.json; `fast` shares the default's), each
timed as one more translation row from its own folders (`preset_translation_folder`)."""


def preset_translation_folder(preset: str) -> str:
    """The folder name (service and CTranslate2 copies) of `preset`'s translator."""
    return f"translation-{preset}"


def preset_summary_folder(preset: str) -> str:
    """The folder name (service and CTranslate2 copies) of `preset`'s summarizer."""
    return f"summary-{preset}"


TASK_MODEL = {"translation": MARIAN, "summary": BART}


def batch_tokens(task: str) -> int:
    """The service's default token budget per batch of `task`'s model
    (DEPECHE_TRANSLATION_BATCH_TOKENS / DEPECHE_SUMMARY_BATCH_TOKENS), read from its settings."""
    from service.config import Settings

    default: int = Settings.model_fields[f"{task}_batch_tokens"].default
    return default


BATCH_WAIT_MS = 5.0
"""The service's default gathering wait (DEPECHE_BATCH_WAIT_MS)."""
TRANSLATION_BEAMS = 4
"""opus-mt-fr-en's own num_beams, which the service keeps (DEPECHE_TRANSLATION_NUM_BEAMS)."""
SUMMARY_BEAMS = 2
"""The service's default DEPECHE_SUMMARY_NUM_BEAMS."""
LONG_WORDS = 2000

STARTED = time.perf_counter()
T0 = float(os.environ.get("BENCH_T0") or time.time())
"""Wall-clock start of the whole run, shared with the worker processes through the env."""


def say(message: str) -> None:
    """One progress line on stderr, timed from the start of the run."""
    print(f"[bench {time.time() - T0:7.1f}s] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Article:
    """A synthetic article for the engine rows: per-sentence source and target token counts."""

    sources: list[int]
    """Source tokens per sentence, special tokens included."""
    targets: list[int]
    """Target tokens per sentence, </s> included: decoder steps at a forced length."""


def make_article(levels: dict[int, int], source_total: int, seed: int) -> Article:
    """Sentences whose targets take the given levels ({length: count}) in a shuffled order,
    with source lengths of 0.9x the target (jittered) scaled to exactly `source_total`."""
    rng = random.Random(seed)
    targets = [length for length, count in sorted(levels.items()) for _ in range(count)]
    rng.shuffle(targets)
    raw = [max(3.0, 0.9 * t + rng.uniform(-3, 3)) for t in targets]
    scale = source_total / sum(raw)
    sources = [max(3, round(r * scale)) for r in raw]
    sources[sources.index(max(sources))] += source_total - sum(sources)
    return Article(sources, targets)


@dataclass(frozen=True)
class Sizes:
    """Every length and repeat count of one run."""

    quick: bool
    sample: Article
    long: Article
    summary_source: int
    summary_target: int
    repeats: int
    long_repeats: int
    streams: int
    service_sentence_tokens: int
    """Forced length of each sentence's translation in the service rows (</s> included)."""
    service_summary_tokens: int
    """Forced length of each summary in the service rows (<s> and </s> included)."""
    clients: list[int]
    requests_per_client: dict[int, int]


def make_sizes(args: argparse.Namespace, sample_sentences: int) -> Sizes:
    quick = bool(args.quick)
    repeats = args.repeats or (1 if quick else 3)
    long_repeats = args.long_repeats or 1
    clients = sorted({int(c) for c in args.clients.split(",") if c.strip()})
    per_client = {c: args.requests_per_client or (repeats if c == 1 else 1) for c in clients}
    if quick:
        return Sizes(
            quick=True,
            sample=make_article({4: 2, 8: 2}, 22, args.seed),
            long=make_article({4: 5, 8: 5}, 54, args.seed + 1),
            summary_source=48,
            summary_target=8,
            repeats=repeats,
            long_repeats=long_repeats,
            streams=2,
            service_sentence_tokens=6,
            service_summary_tokens=8,
            clients=clients,
            requests_per_client=per_client,
        )
    # The sample article: 17 sentences, 450 source tokens, 496 target tokens (notes: ~500).
    # The 2,000-word article: 100 sentences, 2,630 source tokens (1.32 per word as in the
    # sample), 2,920 target tokens. Summary: 700 tokens in, 120 out.
    return Sizes(
        quick=False,
        sample=make_article({16: 5, 28: 7, 44: 5}, 450, args.seed),
        long=make_article({16: 30, 28: 40, 44: 30}, 2630, args.seed + 1),
        summary_source=700,
        summary_target=120,
        repeats=repeats,
        long_repeats=long_repeats,
        streams=2,
        # ~500 target tokens over the sentences the service finds in the sample article.
        service_sentence_tokens=max(8, round(500 / max(1, sample_sentences))),
        service_summary_tokens=120,
        clients=clients,
        requests_per_client=per_client,
    )


def peak_rss_mb(pid: int | str = "self") -> float | None:
    """VmHWM (peak resident set) of a process, in MiB."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return None


def reset_peak_rss(pid: int | str = "self") -> bool:
    """Reset a process's VmHWM to its current RSS (Linux: `5` into clear_refs), so the next
    reading is the peak of what runs from now on. False where the kernel does not allow it."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (p95 of 3 samples is the largest)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def timed_runs(
    run: Callable[[], object], repeats: int, warmup: Callable[[], object] | None = None
) -> list[float]:
    """Call `warmup` (or `run`) once untimed, then `run` `repeats` times; wall seconds."""
    (warmup or run)()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return times
