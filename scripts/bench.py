"""Benchmark Dépêche on this machine: engines, precisions and the whole service, side by side.

The Hugging Face Hub is not needed. The two models are rebuilt from their real configurations
(``models/configs/``) with random weights (fixed seed), so every matrix has its real size, and
every generation is forced to a chosen length, so random weights cannot make a run shorter or
longer than the real model would be. One run measures, on the same machine and in one go:

* translation engine rows (opus-mt-fr-en architecture): a naive baseline (transformers, one
  sentence at a time, float32, beam 4), transformers batched in float32, bfloat16 and dynamic
  int8, and CTranslate2 in float32 and int8 with several intra/inter thread settings;
* summary rows (distilbart-cnn-12-6 architecture): each engine and precision at beam 4 and 2;
* the whole service over HTTP (``python -m service serve`` on 127.0.0.1) at 1, 4 and 16
  concurrent clients, and the same pipeline in-process, to get the service's own overhead.

How lengths are forced
    Engine rows get token ids, not text (the real tokenizers cannot be downloaded here). The
    sample article is 17 sentences, 450 source tokens, about 500 target tokens; the 2,000-word
    article is 100 sentences, 2,630 source and about 2,920 target tokens; the summary reads 700
    tokens and writes 120. Target lengths count ``</s>``. Transformers rows force each
    sentence's own length with a logits processor (``</s>`` forbidden before it, forced at it);
    batched rows therefore pay for padding exactly as they would in production. CTranslate2
    forces lengths per call (``min_decoding_length = max_decoding_length``), so sentence target
    lengths come in three levels and CTranslate2 gets one call per level (submitted together).
    That costs CTranslate2 a few more, smaller decoder steps than one call would: it is
    slightly pessimistic for CTranslate2, never optimistic.
    Service rows run the real sample article and a 2,000-word article through the real
    pipeline, with the tiny test tokenizers of ``.test-models/`` in front of the full-size
    random models and a generation config that forces every sentence's translation and every
    summary to a fixed length (``min_length`` one below ``max_length``). How many sentences,
    chunks and tokens there are is decided by the service itself; the token counts and
    tokens/s of those rows come from each response's ``meta.tokens``.

Usage::

    python scripts/bench.py --quick --json /tmp/bench.json      # every row, tiny sizes (<3 min)
    python scripts/bench.py --out bench.md --json bench.json    # the real run (~15-20 min)

Peak memory (VmHWM) and time to ready are measured per process: each engine row runs in a
subprocess of its own, and the server is a subprocess too.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.scheduler import plan_batches  # noqa: E402  (the service's own batching)

CONFIGS = ROOT / "models" / "configs"
SAMPLE_ARTICLE = ROOT / "scripts" / "examples" / "seed_article.fr.txt"
FLORES_FR = ROOT / "tests" / "data" / "flores_devtest_400.fr"
ORANGESUM = Path("/work/shared/data/articles/fr_news.jsonl")
TEST_MODELS = ROOT / ".test-models"
"""Tiny test models (scripts/make_test_models.py); the service rows borrow their tokenizers."""

MARIAN = "opus-mt-fr-en"
BART = "distilbart-cnn-12-6"
REAL_WINDOWS = {MARIAN: 512, BART: 1024}
"""model_max_length of the real tokenizers; the tiny test tokenizers say 128 and 256."""
BATCH_TOKENS = 4096
"""The service's default token budget per batch (DEPECHE_TRANSLATION_BATCH_TOKENS)."""
LONG_WORDS = 2000
QUICK_DIMS = {
    "d_model": 64,
    "encoder_layers": 2,
    "decoder_layers": 1,
    "encoder_attention_heads": 4,
    "decoder_attention_heads": 4,
    "encoder_ffn_dim": 128,
    "decoder_ffn_dim": 128,
}
QUICK_VOCAB = 2048  # above the tiny tokenizers' ids (1744 and 1500), so the service runs too

_started = time.perf_counter()
_T0 = float(os.environ.get("BENCH_T0") or time.time())
"""Wall-clock start of the whole run, shared with the worker processes through the env."""


def say(message: str) -> None:
    """One progress line on stderr, timed from the start of the run."""
    print(f"[bench {time.time() - _T0:7.1f}s] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Workload sizes
# --------------------------------------------------------------------------------------------


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


def token_ids(count: int, vocab: dict[str, Any], rng: random.Random) -> list[int]:
    """`count` source ids with the model's specials: [<s>] ... </s>."""
    body = count - 1 - (1 if vocab["bos"] is not None else 0)
    ids = [rng.randrange(vocab["low"], vocab["high"]) for _ in range(max(1, body))]
    return ([vocab["bos"]] if vocab["bos"] is not None else []) + ids + [vocab["eos"]]


# --------------------------------------------------------------------------------------------
# Small helpers shared by parent and workers
# --------------------------------------------------------------------------------------------


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


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (p95 of 3 samples is the largest)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def timed_runs(run: Any, repeats: int, warmup: Any = None) -> list[float]:
    """Call `warmup` (or `run`) once untimed, then `run` `repeats` times; wall seconds."""
    (warmup or run)()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return times


def package_version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def machine_info() -> dict[str, Any]:
    model = None
    flags: set[str] = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model is None:
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": model,
        "cores": cores,
        "avx512f": "avx512f" in flags,
        "avx512_vnni": "avx512_vnni" in flags,
        "amx_bf16": "amx_bf16" in flags,
        "amx_int8": "amx_int8" in flags,
        "amx": bool(flags & {"amx_tile", "amx_bf16", "amx_int8"}),
        "native_bf16": bool(flags & {"avx512_bf16", "amx_bf16"}),
        "python": sys.version.split()[0],
        "torch": package_version("torch"),
        "transformers": package_version("transformers"),
        "ctranslate2": package_version("ctranslate2"),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
    }


# --------------------------------------------------------------------------------------------
# Worker side: each runs in its own process, started as `bench.py --worker SPEC OUT`
# --------------------------------------------------------------------------------------------


def _quiet_transformers() -> None:
    import warnings

    warnings.filterwarnings("ignore")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def _vocab_tokens(vocab: dict[str, Any]) -> list[str]:
    """Stand-in token strings for every id (CTranslate2 takes tokens, not ids)."""
    marker = "\u2581" if vocab["bos"] is None else "\u0120"
    tokens = [f"{marker}w{i}" for i in range(vocab["size"])]
    for name in ("bos", "eos", "pad", "unk"):
        if vocab.get(name) is not None:
            tokens[vocab[name]] = vocab[f"{name}_token"]
    return tokens


def _force_lengths(targets: Sequence[int], num_beams: int, eos_id: int) -> Any:
    """A logits processor that ends row i with </s> exactly at token number targets[i]."""
    import torch
    from transformers import LogitsProcessor

    class ForceLengths(LogitsProcessor):  # type: ignore[misc]
        def __init__(self) -> None:
            self.targets = torch.tensor(list(targets)).repeat_interleave(num_beams)

        def __call__(self, input_ids: Any, scores: Any) -> Any:
            step = input_ids.shape[-1]  # number of the token being generated (start is 0)
            scores[self.targets > step, eos_id] = -math.inf
            last = self.targets == step
            if bool(last.any()):
                scores[last] = -math.inf
                scores[last, eos_id] = 0.0
            return scores

    return ForceLengths()


class HFRunner:
    """A transformers model and forced-length generation on token ids."""

    def __init__(self, spec: dict[str, Any]) -> None:
        _quiet_transformers()
        import torch
        from transformers import AutoModelForSeq2SeqLM

        self.torch = torch
        torch.set_num_threads(spec["intra"])
        dtype = torch.bfloat16 if spec["precision"] == "bfloat16" else torch.float32
        model = AutoModelForSeq2SeqLM.from_pretrained(spec["model_dir"], dtype=dtype)
        model.eval()
        if spec["precision"] == "int8":
            model = torch.ao.quantization.quantize_dynamic(
                model, {torch.nn.Linear}, dtype=torch.qint8
            )
        self.model = model
        self.vocab = spec["vocab"]

    def generate(self, sources: list[list[int]], targets: list[int], beams: int) -> int:
        torch = self.torch
        pad, eos = self.vocab["pad"], self.vocab["eos"]
        width = max(len(s) for s in sources)
        ids = torch.full((len(sources), width), pad, dtype=torch.long)
        mask = torch.zeros((len(sources), width), dtype=torch.long)
        for row, source in enumerate(sources):
            ids[row, : len(source)] = torch.tensor(source)
            mask[row, : len(source)] = 1
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=ids,
                attention_mask=mask,
                num_beams=beams,
                min_length=0,
                max_new_tokens=max(targets) + 1,
                logits_processor=[_force_lengths(targets, beams, eos)],
            )
        for row, target in zip(out.tolist(), targets, strict=True):
            generated = row[1:]
            length = generated.index(eos) + 1 if eos in generated else len(generated)
            if length != target:
                raise RuntimeError(f"forced length {target} came out as {length}")
        return sum(targets)


class CT2Runner:
    """A CTranslate2 translator; lengths forced per call, one call per target length."""

    def __init__(self, spec: dict[str, Any]) -> None:
        import ctranslate2

        self.translator = ctranslate2.Translator(
            spec["model_dir"],
            device="cpu",
            compute_type=spec["precision"],
            intra_threads=spec["intra"],
            inter_threads=spec["inter"],
        )
        self.tokens = _vocab_tokens(spec["vocab"])
        self.options = spec.get("ct2_options", {})

    def generate(self, sources: list[list[int]], targets: list[int], beams: int) -> int:
        groups: dict[int, list[list[str]]] = {}
        for source, target in zip(sources, targets, strict=True):
            groups.setdefault(target, []).append([self.tokens[i] for i in source])
        pending = [
            (
                target,
                self.translator.translate_batch(
                    batch,
                    beam_size=beams,
                    min_decoding_length=target,
                    max_decoding_length=target,
                    max_input_length=0,
                    asynchronous=True,
                    **self.options,
                ),
            )
            for target, batch in groups.items()
        ]
        for target, results in pending:
            for result in results:
                length = len(result.result().hypotheses[0])
                if length != target:
                    raise RuntimeError(f"forced length {target} came out as {length}")
        return sum(targets)


def _article_ids(
    article: dict[str, list[int]], vocab: dict[str, Any], seed: int
) -> list[list[int]]:
    rng = random.Random(seed)
    return [token_ids(n, vocab, rng) for n in article["sources"]]


def _stats(times: list[float], tokens: int) -> dict[str, Any]:
    seconds = median(times)
    return {
        "times_s": [round(t, 4) for t in times],
        "median_s": round(seconds, 4),
        "target_tokens": tokens,
        "tokens_per_s": round(tokens / seconds, 1) if seconds > 0 else None,
    }


def worker_translation(spec: dict[str, Any]) -> dict[str, Any]:
    runner: HFRunner | CT2Runner = HFRunner(spec) if spec["engine"] == "hf" else CT2Runner(spec)
    ready_s = time.time() - spec["spawned_at"]
    beams, vocab, seed = spec["beams"], spec["vocab"], spec["seed"]
    results: dict[str, Any] = {}
    for name in ("sample", "long"):
        if name == "long" and not spec["long"]:
            continue
        article = spec["articles"][name]
        sources = _article_ids(article, vocab, seed)
        targets = article["targets"]
        repeats = spec["repeats"] if name == "sample" else spec["long_repeats"]
        for mode in spec["modes"]:
            if name == "long" and mode == "naive" and not spec["naive_long"]:
                continue
            if mode == "naive":

                def run(sources: list[list[int]] = sources, targets: list[int] = targets) -> None:
                    for source, target in zip(sources, targets, strict=True):
                        runner.generate([source], [target], beams)

            else:

                def run(sources: list[list[int]] = sources, targets: list[int] = targets) -> None:
                    for batch in plan_batches([len(s) for s in sources], spec["batch_tokens"]):
                        runner.generate(
                            [sources[i] for i in batch], [targets[i] for i in batch], beams
                        )

            def warm(sources: list[list[int]] = sources, targets: list[int] = targets) -> None:
                runner.generate(sources[:2], targets[:2], beams)

            say(f"  {spec['label']}: {name} article, {mode}")
            # A short warm-up (two sentences) before the sample article; the long article
            # runs after the sample article has warmed the model up.
            times = timed_runs(run, repeats, warm if name == "sample" else (lambda: None))
            results[f"{name}_{mode}"] = _stats(times, sum(targets))
    if spec.get("streams"):
        article = spec["articles"]["sample"]
        sources = _article_ids(article, vocab, seed)
        targets = article["targets"]

        def streams() -> None:
            threads = [
                threading.Thread(target=runner.generate, args=(sources, targets, beams))
                for _ in range(spec["streams"])
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()

        say(f"  {spec['label']}: {spec['streams']} concurrent sample articles")
        times = timed_runs(streams, spec["repeats"], lambda: None)
        seconds = median(times)
        results["streams"] = {
            "streams": spec["streams"],
            "times_s": [round(t, 4) for t in times],
            "median_s": round(seconds, 4),
            "articles_per_min": round(spec["streams"] * 60 / seconds, 2),
            "tokens_per_s": round(spec["streams"] * sum(targets) / seconds, 1),
        }
    return {"ready_s": round(ready_s, 3), "rss_mb": peak_rss_mb(), "results": results}


def worker_summary(spec: dict[str, Any]) -> dict[str, Any]:
    runner: HFRunner | CT2Runner = HFRunner(spec) if spec["engine"] == "hf" else CT2Runner(spec)
    ready_s = time.time() - spec["spawned_at"]
    rng = random.Random(spec["seed"])
    source = token_ids(spec["summary_source"], spec["vocab"], rng)
    target = spec["summary_target"]
    results: dict[str, Any] = {}
    for beams in spec["beam_sizes"]:
        say(f"  {spec['label']}: summary {spec['summary_source']}->{target}, beam {beams}")
        times = timed_runs(
            lambda beams=beams: runner.generate([source], [target], beams),
            spec["repeats"],
            lambda beams=beams: runner.generate([source], [min(4, target)], beams),
        )
        results[f"beam{beams}"] = _stats(times, target)
    return {"ready_s": round(ready_s, 3), "rss_mb": peak_rss_mb(), "results": results}


def worker_pipeline(spec: dict[str, Any]) -> dict[str, Any]:
    """The service's Pipeline in-process, on the same models and settings as the server."""
    os.environ.update(spec["env"])
    _quiet_transformers()
    sys.path.insert(0, str(ROOT))
    from service.config import Settings
    from service.pipeline import Pipeline

    pipeline = Pipeline.load(Settings())
    pipeline.check()
    ready_s = time.time() - spec["spawned_at"]
    text = Path(spec["article"]).read_text(encoding="utf-8")
    metas: list[dict[str, Any]] = []

    def run() -> None:
        metas.append(pipeline.summarize(text).meta.model_dump())

    say("  in-process pipeline: sample article")
    times = timed_runs(run, spec["repeats"])
    if any((meta.get("cache") or {}).get("paragraphs_reused") for meta in metas):
        raise RuntimeError("the paragraph cache answered: the bench must measure work")
    close = getattr(pipeline, "close", None)
    if close is not None:
        close()
    keys = ("engine", "precision", "intra_threads", "inter_threads", "batch_wait_ms")
    keys += ("translation_num_beams", "summary_num_beams", "translation_batch_tokens")
    settings = pipeline.settings.model_dump(mode="json")
    return {
        "settings": {key: settings[key] for key in keys if key in settings},
        "ready_s": round(ready_s, 3),
        "rss_mb": peak_rss_mb(),
        "times_s": [round(t, 4) for t in times],
        "median_s": round(median(times), 4),
        "meta": metas[-1],
    }


def _copy_tokenizer(source: Path, target: Path, window: int) -> None:
    for path in source.iterdir():
        if path.name in {"config.json", "generation_config.json", "model.safetensors"}:
            continue
        shutil.copy2(path, target / path.name)
    config_path = target / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config["model_max_length"] = window
    config_path.write_text(json.dumps(config, indent=2) + "\n")


def _pad_vocabulary(folder: Path, size: int) -> None:
    """Extend a tiny tokenizer's vocabulary with unused entries up to the model's size.

    CTranslate2's converter wants one vocabulary entry per embedding row. The entries contain
    a space, which neither SentencePiece pieces nor byte-level BPE tokens ever do, so
    tokenization is unchanged; generation never reaches them either (final_logits_bias).
    """
    for name in ("vocab.json", "tokenizer.json"):
        path = folder / name
        if not path.is_file():
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        vocab = data["model"]["vocab"] if name == "tokenizer.json" else data
        if sorted(vocab.values()) != list(range(len(vocab))):
            raise RuntimeError(f"{path}: ids are not contiguous; cannot pad the vocabulary")
        for i in range(len(vocab), size):
            vocab[f"<unused {i}>"] = i
        path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def _allowed_output_ids(task: str, test_models: Path) -> list[int]:
    """Ids the random service models may emit, so their text decodes and re-tokenizes sanely.

    Translation: Marian pieces that start a word and are one token for the summary tokenizer
    too, so the English handed to the summarizer has about as many tokens as the translation.
    Summary: word-initial BPE tokens. Masking is done with final_logits_bias, which costs the
    same whatever its values.
    """
    from transformers import AutoTokenizer

    if task == "translation":
        pieces = json.loads((test_models / "translation" / "vocab.json").read_text())
        bpe = AutoTokenizer.from_pretrained(test_models / "summary")
        allowed = [
            i
            for piece, i in pieces.items()
            if piece.startswith("\u2581")
            and piece[1:].isalpha()
            and len(bpe(" " + piece[1:], add_special_tokens=False)["input_ids"]) == 1
        ]
    else:
        tokens = json.loads((test_models / "summary" / "vocab.json").read_text())
        allowed = [i for t, i in tokens.items() if t.startswith("\u0120") and t[1:].isalpha()]
    return sorted(allowed)


class _VocabOnlyTokenizer:
    """What CTranslate2's converter reads from a tokenizer: the vocabulary and special tokens."""

    def __init__(self, tokens: list[str], vocab: dict[str, Any]) -> None:
        self.tokens = tokens
        self.bos_token = vocab.get("bos_token")
        self.eos_token = vocab["eos_token"]
        self.unk_token = vocab["unk_token"]

    def get_vocab(self) -> dict[str, int]:
        return {token: i for i, token in enumerate(self.tokens)}

    def convert_ids_to_tokens(self, index: int) -> str:
        return self.tokens[index]


def _in_memory_converter(model_dir: Path, model: Any, tokenizer: _VocabOnlyTokenizer) -> Any:
    """CTranslate2's transformers converter, fed the model in memory and a vocabulary."""
    import ctranslate2

    class InMemory(ctranslate2.converters.TransformersConverter):  # type: ignore[misc]
        def load_model(self, *_args: Any, **_kwargs: Any) -> Any:
            return model

        def load_tokenizer(self, *_args: Any, **_kwargs: Any) -> Any:
            return tokenizer

    return InMemory(str(model_dir))


def _gemm_probe(torch: Any, size: int = 512) -> dict[str, float]:
    """GFLOP/s of one square matrix product per precision: a hint of what the CPU supports."""
    rates = {}
    a32 = torch.randn(size, size)
    b32 = torch.randn(size, size)
    a16 = a32.bfloat16()
    b16 = b32.bfloat16()
    linear = torch.nn.Sequential(torch.nn.Linear(size, size, bias=False))
    int8 = torch.ao.quantization.quantize_dynamic(linear, {torch.nn.Linear}, dtype=torch.qint8)
    cases = {
        "float32": lambda: a32 @ b32,
        "bfloat16": lambda: a16 @ b16,
        "int8_dynamic": lambda: int8(a32),
    }
    for name, product in cases.items():
        product()
        start = time.perf_counter()
        runs = 0
        while runs < 3 or time.perf_counter() - start < 0.2:
            product()
            runs += 1
        rates[name] = round(2 * size**3 * runs / (time.perf_counter() - start) / 1e9, 1)
    return rates


def worker_prepare(spec: dict[str, Any]) -> dict[str, Any]:
    """Build both random models: transformers folders, CTranslate2 int8/float32 conversions,
    and the service's folders (tiny tokenizers, forced-length generation config)."""
    _quiet_transformers()
    import torch
    from transformers import AutoConfig, AutoModelForSeq2SeqLM, GenerationConfig

    torch.set_num_threads(spec["threads"])
    gemm = _gemm_probe(torch)
    say(f"  matrix product 512^3, GFLOP/s: {gemm}")
    work = Path(spec["workdir"])
    test_models = Path(spec["test_models"])
    report: dict[str, Any] = {}
    for name, task in ((MARIAN, "translation"), (BART, "summary")):
        started = time.perf_counter()
        config = AutoConfig.from_pretrained(CONFIGS / f"{name}.config.json")
        generation = json.loads((CONFIGS / f"{name}.generation_config.json").read_text())
        if spec["quick"]:
            config.update(QUICK_DIMS)
            config.vocab_size = QUICK_VOCAB
            if name == MARIAN:
                last = QUICK_VOCAB - 1
                config.update({"decoder_vocab_size": QUICK_VOCAB, "pad_token_id": last})
                config.decoder_start_token_id = last
                generation.update(
                    pad_token_id=last, decoder_start_token_id=last, bad_words_ids=[[last]]
                )
        torch.manual_seed(spec["seed"])
        model = AutoModelForSeq2SeqLM.from_config(config)
        model.eval()
        model.generation_config = GenerationConfig.from_dict(generation)
        params = sum(p.numel() for p in model.parameters())
        say(f"  {name}: {params / 1e6:.2f} M parameters, random weights (seed {spec['seed']})")

        hf_dir = work / "hf" / name
        model.save_pretrained(hf_dir)
        vocab = spec["vocab"][name]
        tokenizer = _VocabOnlyTokenizer(_vocab_tokens(vocab), vocab)

        for quantization in ("int8", "float32"):
            _in_memory_converter(hf_dir, model, tokenizer).convert(
                str(work / "ct2" / f"{name}-{quantization}"), quantization=quantization
            )

        # The service's copy: the tiny tokenizer's special ids, outputs limited to ids that
        # decode to words, and lengths forced by the generation config.
        service_dir = work / "service" / task
        tiny = json.loads((test_models / task / "config.json").read_text())
        tiny_generation = json.loads((test_models / task / "generation_config.json").read_text())
        for key in ("pad_token_id", "decoder_start_token_id", "eos_token_id", "bos_token_id"):
            setattr(model.config, key, tiny[key])
        if hasattr(model.config, "forced_eos_token_id"):
            model.config.forced_eos_token_id = tiny.get("forced_eos_token_id")
        allowed = torch.tensor(_allowed_output_ids(task, test_models))
        with torch.no_grad():
            bias = torch.full_like(model.final_logits_bias, -1e4)
            bias[0, allowed] = 0.0
            bias[0, tiny["eos_token_id"]] = 0.0
            model.final_logits_bias.copy_(bias)
        forced = spec["service_lengths"][task]
        service_generation = dict(generation)
        for key in ("pad_token_id", "decoder_start_token_id", "eos_token_id", "bos_token_id"):
            if key in tiny_generation:
                service_generation[key] = tiny_generation[key]
        if "bad_words_ids" in tiny_generation:
            service_generation["bad_words_ids"] = tiny_generation["bad_words_ids"]
        # max_length counts the decoder start token; one below it, </s> is forced.
        service_generation.update(max_length=forced + 1, min_length=forced)
        model.generation_config = GenerationConfig.from_dict(service_generation)
        model.save_pretrained(service_dir)
        _copy_tokenizer(test_models / task, service_dir, REAL_WINDOWS[name])
        _pad_vocabulary(service_dir, model.config.vocab_size)
        report[name] = {
            "parameters_m": round(params / 1e6, 2),
            "prepare_s": round(time.perf_counter() - started, 1),
            "service_allowed_output_ids": len(allowed),
        }
        del model
    return {"models": report, "gemm_gflops": gemm}


def run_worker(spec_path: str, out_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    kind = spec["kind"]
    handlers = {
        "prepare": worker_prepare,
        "translation": worker_translation,
        "summary": worker_summary,
        "pipeline": worker_pipeline,
    }
    result = handlers[kind](spec)
    Path(out_path).write_text(json.dumps(result, indent=2))
    return 0


# --------------------------------------------------------------------------------------------
# Parent side
# --------------------------------------------------------------------------------------------


def spawn_worker(spec: dict[str, Any], workdir: Path, env: dict[str, str] | None = None) -> Any:
    """Run one worker process and return what it wrote; stderr streams through."""
    label = spec.get("label", spec["kind"]).replace(" ", "_").replace("/", "-")
    spec_path = workdir / f"spec-{label}.json"
    out_path = workdir / f"out-{label}.json"
    out_path.unlink(missing_ok=True)
    spec = {**spec, "spawned_at": time.time()}
    spec_path.write_text(json.dumps(spec))
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", str(spec_path)]
    completed = subprocess.run([*command, str(out_path)], env=env, cwd=ROOT, check=False)
    if completed.returncode != 0 or not out_path.is_file():
        raise RuntimeError(f"worker {label} failed (exit status {completed.returncode})")
    return json.loads(out_path.read_text())


def attempt(spec: dict[str, Any], workdir: Path, failures: list[str]) -> dict[str, Any]:
    """A worker whose failure is recorded, so one broken row does not lose the others."""
    try:
        result: dict[str, Any] = spawn_worker(spec, workdir)
    except RuntimeError as exc:
        failures.append(f"{spec['label']}: {exc}")
        say(f"  FAILED: {exc}")
        return {"skipped": f"failed: {exc}"}
    return result


def vocab_info(quick: bool) -> dict[str, dict[str, Any]]:
    """Special ids of the engine-row models (real configs) and the id range inputs use."""
    marian_size = QUICK_VOCAB if quick else 59514
    bart_size = QUICK_VOCAB if quick else 50264
    return {
        MARIAN: {
            "size": marian_size,
            "eos": 0,
            "unk": 1,
            "pad": marian_size - 1,
            "bos": None,
            "eos_token": "</s>",
            "unk_token": "<unk>",
            "pad_token": "<pad>",
            "low": 2,
            "high": min(marian_size - 1, 30000),
        },
        BART: {
            "size": bart_size,
            "bos": 0,
            "pad": 1,
            "eos": 2,
            "unk": 3,
            "bos_token": "<s>",
            "pad_token": "<pad>",
            "eos_token": "</s>",
            "unk_token": "<unk>",
            "low": 4,
            "high": min(bart_size, 30000),
        },
    }


@dataclass(frozen=True)
class EngineRow:
    label: str
    engine: str  # hf | ct2
    precision: str
    intra: int
    inter: int = 1

    @property
    def threads(self) -> str:
        return f"intra {self.intra} / inter {self.inter}"


TRANSLATION_ROWS = [
    EngineRow("HF float32", "hf", "float32", 2),
    EngineRow("HF bfloat16", "hf", "bfloat16", 2),
    EngineRow("HF dynamic int8", "hf", "int8", 2),
    EngineRow("CT2 float32", "ct2", "float32", 2),
    EngineRow("CT2 int8", "ct2", "int8", 2),
    EngineRow("CT2 int8 (1 thread)", "ct2", "int8", 1),
    EngineRow("CT2 int8 (2 workers)", "ct2", "int8", 1, 2),
]
SUMMARY_ROWS = [
    EngineRow("HF float32", "hf", "float32", 2),
    EngineRow("HF bfloat16", "hf", "bfloat16", 2),
    EngineRow("HF dynamic int8", "hf", "int8", 2),
    EngineRow("CT2 float32", "ct2", "float32", 2),
    EngineRow("CT2 int8", "ct2", "int8", 2),
]
ARTICLE_PAIRS = [
    # (label, translation row, translation mode, summary row)
    ("naive baseline: HF float32, sentence by sentence", "HF float32", "naive", "HF float32"),
    ("HF float32, batched", "HF float32", "batched", "HF float32"),
    ("HF bfloat16, batched", "HF bfloat16", "batched", "HF bfloat16"),
    ("HF dynamic int8, batched", "HF dynamic int8", "batched", "HF dynamic int8"),
    ("CT2 float32 (intra 2)", "CT2 float32", "batched", "CT2 float32"),
    ("CT2 int8 (intra 2)", "CT2 int8", "batched", "CT2 int8"),
    ("CT2 int8 (translation intra 1)", "CT2 int8 (1 thread)", "batched", "CT2 int8"),
    ("CT2 int8 (translation 2 workers x 1)", "CT2 int8 (2 workers)", "batched", "CT2 int8"),
]


def run_engines(
    sizes: Sizes, workdir: Path, vocab: dict[str, Any], options: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every translation and summary row, each in a process of its own."""
    articles = {"sample": asdict(sizes.sample), "long": asdict(sizes.long)}
    seed = options["seed"]
    translation: dict[str, Any] = {}
    for row in TRANSLATION_ROWS:
        if row.precision in options["skip_precisions"]:
            translation[row.label] = {**asdict(row), "skipped": options["skip_reason"]}
            continue
        say(f"translation row: {row.label} ({row.threads})")
        model_dir = (
            workdir / "hf" / MARIAN
            if row.engine == "hf"
            else workdir / "ct2" / f"{MARIAN}-{row.precision}"
        )
        spec = {
            "kind": "translation",
            "label": f"translation {row.label}",
            "engine": row.engine,
            "precision": row.precision,
            "intra": row.intra,
            "inter": row.inter,
            "model_dir": str(model_dir),
            "vocab": vocab[MARIAN],
            "beams": 4,
            "seed": seed,
            "articles": articles,
            "long": True,
            "naive_long": options["naive_long"],
            "modes": ["naive", "batched"] if row.label == "HF float32" else ["batched"],
            "repeats": sizes.repeats,
            "long_repeats": sizes.long_repeats,
            "batch_tokens": BATCH_TOKENS,
            "streams": sizes.streams if row.engine == "ct2" else 0,
        }
        translation[row.label] = {**asdict(row), **attempt(spec, workdir, options["failures"])}
    summary: dict[str, Any] = {}
    for row in SUMMARY_ROWS:
        if row.precision in options["skip_precisions"]:
            summary[row.label] = {**asdict(row), "skipped": options["skip_reason"]}
            continue
        say(f"summary row: {row.label} ({row.threads})")
        model_dir = (
            workdir / "hf" / BART
            if row.engine == "hf"
            else workdir / "ct2" / f"{BART}-{row.precision}"
        )
        spec = {
            "kind": "summary",
            "label": f"summary {row.label}",
            "engine": row.engine,
            "precision": row.precision,
            "intra": row.intra,
            "inter": row.inter,
            "model_dir": str(model_dir),
            "vocab": vocab[BART],
            "seed": seed,
            "summary_source": sizes.summary_source,
            "summary_target": sizes.summary_target,
            "beam_sizes": [4, 2],
            "repeats": sizes.repeats,
            # The model's own generation settings, also for CTranslate2.
            "ct2_options": {"length_penalty": 2.0, "no_repeat_ngram_size": 3},
        }
        summary[row.label] = {**asdict(row), **attempt(spec, workdir, options["failures"])}
    return translation, summary


def long_article_text(articles_path: Path, words: int) -> tuple[str, str]:
    """About `words` words of French news: OrangeSum bodies, else FLORES lines."""
    paragraphs: list[str] = []
    source = "FLORES devtest (tests/data)"
    if articles_path.is_file():
        source = f"OrangeSum bodies ({articles_path})"
        for line in articles_path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                paragraphs.extend(
                    p.strip() for p in json.loads(line)["text"].split("\n\n") if p.strip()
                )
    else:
        lines = [x.strip() for x in FLORES_FR.read_text(encoding="utf-8").splitlines()]
        lines = [x for x in lines if x]
        paragraphs = [" ".join(lines[i : i + 5]) for i in range(0, len(lines), 5)]
    chosen: list[str] = []
    count = 0
    for paragraph in paragraphs:
        if count >= words:
            break
        take = paragraph.split()[: words - count]
        text = " ".join(take)
        if len(take) < len(paragraph.split()):
            text = text.rstrip(",;:") + "."
        chosen.append(text)
        count += len(take)
    return "\n\n".join(chosen), source


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def service_env(models: Path, extra: dict[str, str]) -> dict[str, str]:
    """The server's environment: only our DEPECHE_ settings, models from `models`, offline,
    and no result or paragraph cache: every request repeats the same article, and the bench
    measures the work, not the cache (`drive` checks that no answer came from one)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEPECHE_")}
    env.update(
        DEPECHE_CACHE_SIZE="0",
        DEPECHE_TRANSLATION_MODEL=str(models / "translation"),
        DEPECHE_SUMMARY_MODEL=str(models / "summary"),
        DEPECHE_OFFLINE="1",
        DEPECHE_DEVICE="cpu",
        DEPECHE_LOG_LEVEL="warning",
        HF_HUB_OFFLINE="1",
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        PYTHONPATH=str(ROOT),
    )
    env.update(extra)
    return env


def drive(url: str, text: str, clients: int, per_client: int) -> dict[str, Any]:
    """`clients` threads, each POSTing the article `per_client` times; latencies and meta."""
    import httpx

    latencies: list[float] = []
    metas: list[dict[str, Any]] = []
    errors: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)

    def client() -> None:
        with httpx.Client(timeout=3600, trust_env=False) as http:
            barrier.wait()
            for _ in range(per_client):
                start = time.perf_counter()
                response = http.post(f"{url}/summarize", json={"text": text})
                elapsed = time.perf_counter() - start
                with lock:
                    if response.status_code == 200:
                        meta = response.json()["meta"]
                        reused = (meta.get("cache") or {}).get("paragraphs_reused", 0)
                        if response.headers.get("x-cache") == "hit" or reused:
                            errors.append("answered from a cache: the bench must measure work")
                        latencies.append(elapsed)
                        metas.append(meta)
                    else:
                        errors.append(f"{response.status_code}: {response.text[:200]}")

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    if errors:
        raise RuntimeError(f"{len(errors)} request(s) failed, first: {errors[0]}")
    return summarize_requests(latencies, metas, wall, clients)


def summarize_requests(
    latencies: list[float], metas: list[dict[str, Any]], wall: float, clients: int
) -> dict[str, Any]:
    tokens = [m["tokens"] for m in metas]
    out_tokens = [
        (t.get("translation_output") or 0) + (t.get("summary_output") or 0) for t in tokens
    ]
    translate_rate = [
        t["translation_output"] / (m["timings_ms"]["translate"] / 1000)
        for t, m in zip(tokens, metas, strict=True)
        if m["timings_ms"].get("translate")
    ]
    return {
        "clients": clients,
        "requests": len(latencies),
        "wall_s": round(wall, 3),
        "latencies_s": [round(x, 3) for x in latencies],
        "p50_s": round(percentile(latencies, 50), 3),
        "p95_s": round(percentile(latencies, 95), 3),
        "articles_per_min": round(len(latencies) * 60 / wall, 2),
        "tokens_per_s": round(
            median([o / s for o, s in zip(out_tokens, latencies, strict=True)]), 1
        ),
        "translation_tokens_per_s": round(median(translate_rate), 1) if translate_rate else None,
        "meta_tokens": tokens[-1],
        "strategy": metas[-1].get("strategy"),
        "chunks": metas[-1].get("chunks"),
        "coverage": metas[-1].get("coverage"),
        "timings_ms": metas[-1].get("timings_ms"),
    }


def run_service(
    sizes: Sizes, workdir: Path, env: dict[str, str], sample: str, long_text: str
) -> dict[str, Any]:
    import httpx

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = workdir / f"server-{env.get('DEPECHE_ENGINE', 'default')}.log"
    command = [sys.executable, "-m", "service", "serve", "--host", "127.0.0.1"]
    say(f"service: starting python -m service serve on 127.0.0.1:{port}")
    started = time.perf_counter()
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            [*command, "--port", str(port)], env=env, cwd=ROOT, stdout=log, stderr=log
        )
    try:
        ready_s = None
        while ready_s is None:
            if server.poll() is not None:
                tail = log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"the server exited ({server.returncode}):\n{tail}")
            if time.perf_counter() - started > 900:
                raise RuntimeError("the server was not ready after 900 s")
            try:
                if httpx.get(f"{url}/ready", timeout=5, trust_env=False).status_code == 200:
                    ready_s = time.perf_counter() - started
            except httpx.HTTPError:
                pass
            if ready_s is None:
                time.sleep(0.1)
        say(f"service: ready after {ready_s:.2f} s; warm-up request")
        drive(url, sample, 1, 1)
        runs: list[dict[str, Any]] = []
        for clients in sizes.clients:
            per_client = sizes.requests_per_client[clients]
            say(f"service: sample article, {clients} client(s) x {per_client} request(s)")
            runs.append({"article": "sample", **drive(url, sample, clients, per_client)})
        say(f"service: {LONG_WORDS}-word article, 1 client x {sizes.long_repeats} request(s)")
        runs.append({"article": "long", **drive(url, long_text, 1, sizes.long_repeats)})
        rss = peak_rss_mb(server.pid)
    finally:
        server.send_signal(signal.SIGTERM)  # SIGINT makes uvicorn re-raise it
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    return {"ready_s": round(ready_s, 3), "rss_mb": rss, "runs": runs}


def convert_for_service(workdir: Path, env: dict[str, str]) -> Path:
    """The service folders converted to CTranslate2 int8 by scripts/convert_models.py."""
    script = ROOT / "scripts" / "convert_models.py"
    if not script.is_file():
        raise RuntimeError("scripts/convert_models.py is missing")
    out = workdir / "service-ct2-int8"
    for task in ("translation", "summary"):
        say(f"service: converting the {task} model with scripts/convert_models.py (int8)")
        command = [sys.executable, str(script), "--source", str(workdir / "service" / task)]
        command += ["--out", str(out / task), "--quantization", "int8", "--force"]
        done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"convert_models.py failed: {(done.stderr or done.stdout)[-1500:]}")
        # The CTranslate2 engine spends no decoder step on the </s> that transformers forces at
        # max_length; one more position gives both engines the same number of decoder steps
        # (and the same output token count in meta.tokens).
        path = out / task / "generation_config.json"
        generation = json.loads(path.read_text(encoding="utf-8"))
        if generation.get("forced_eos_token_id") is not None:
            generation["max_length"] += 1
            generation["min_length"] += 1
            path.write_text(json.dumps(generation, indent=2) + "\n", encoding="utf-8")
    return out


def run_service_variant(
    engine: str,
    sizes: Sizes,
    workdir: Path,
    extra_env: dict[str, str],
    sample: str,
    long_text: str,
    failures: list[str],
) -> dict[str, Any]:
    """In-process pipeline, then the HTTP server, with DEPECHE_ENGINE=`engine`."""
    settings = {"DEPECHE_ENGINE": engine, **extra_env}
    result: dict[str, Any] = {"engine": engine, "env": settings}
    try:
        models = workdir / "service"
        if engine == "ctranslate2":
            models = convert_for_service(workdir, service_env(models, settings))
        env = service_env(models, settings)
        say(f"service ({engine}): in-process pipeline, same models and settings as the server")
        pipeline_spec = {
            "kind": "pipeline",
            "label": f"pipeline {engine}",
            "env": {k: v for k, v in env.items() if k.startswith(("DEPECHE_", "HF_"))},
            "article": str(SAMPLE_ARTICLE),
            "repeats": sizes.repeats,
        }
        result["in_process"] = spawn_worker(pipeline_spec, workdir, env=env)
        result.update(run_service(sizes, workdir, env, sample, long_text))
    except Exception as exc:  # a broken variant is reported; the other rows still count
        failures.append(f"service ({engine}): {exc}")
        say(f"  FAILED: service ({engine}): {exc}")
        result["error"] = str(exc)
        return result
    one = next(r for r in result["runs"] if r["article"] == "sample" and r["clients"] == 1)
    result["overhead_ratio"] = round(one["p50_s"] / result["in_process"]["median_s"], 4)
    return result


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def fmt(value: float | None, digits: int = 2, suffix: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:,.{digits}f}{suffix}"


def ratio(base: float | None, value: float | None) -> float | None:
    """How many times faster `value` is than `base` (both seconds)."""
    if not base or not value:
        return None
    return base / value


def build_articles(translation: dict[str, Any], summary: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for label, t_row, mode, s_row in ARTICLE_PAIRS:
        t = translation.get(t_row, {}).get("results", {})
        s = summary.get(s_row, {}).get("results", {})
        # Both models, as a service holds them: two processes here, so the runtime's own
        # memory (torch, about 300 MiB) counts twice; load times add up as the service loads
        # one model after the other.
        rss = [translation.get(t_row, {}).get("rss_mb"), summary.get(s_row, {}).get("rss_mb")]
        ready = [translation.get(t_row, {}).get("ready_s"), summary.get(s_row, {}).get("ready_s")]
        translate_s = t.get(f"sample_{mode}", {}).get("median_s")
        summary_s = s.get("beam4", {}).get("median_s")
        total = translate_s + summary_s if translate_s and summary_s else None
        long_s = t.get(f"long_{mode}", {}).get("median_s")
        rows.append(
            {
                "label": label,
                "translation_s": translate_s,
                "summary_s": summary_s,
                "article_s": round(total, 4) if total else None,
                "articles_per_min": round(60 / total, 2) if total else None,
                "long_translation_s": long_s,
                "streams_articles_per_min": t.get("streams", {}).get("articles_per_min"),
                "rss_mb_both": round(sum(rss), 1) if None not in rss else None,
                "ready_s_both": round(sum(ready), 3) if None not in ready else None,
            }
        )
    return rows


def _service_run(service: dict[str, Any], article: str, clients: int) -> dict[str, Any] | None:
    runs = service.get("runs", [])
    return next((r for r in runs if r["article"] == article and r["clients"] == clients), None)


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """A Markdown table."""
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out


def _threads_shown(threads: dict[str, int] | None) -> str:
    """`, 2 x 1 threads` from meta.models[].threads (inter x intra); nothing when unknown."""
    if not threads:
        return ""
    return f", {threads['inter']} x {threads['intra']} threads"


def render(report: dict[str, Any]) -> str:
    sizes = report["sizes"]
    machine = report["machine"]
    lines: list[str] = []
    add = lines.append
    quick = " (quick: tiny sizes, not a measurement)" if report["quick"] else ""
    add(f"# Dépêche benchmark{quick}")
    add("")
    add(
        f"Machine: {machine['cpu']}, {machine['cores']} cores, avx512f {machine['avx512f']}, "
        f"AMX {machine['amx']}; torch {machine['torch']}, transformers "
        f"{machine['transformers']}, ctranslate2 {machine['ctranslate2']}; "
        f"OMP_WAIT_POLICY={machine['omp_wait_policy'] or 'unset'}; 512³ matrix product "
        f"GFLOP/s {machine.get('gemm_gflops')}. "
        f"Medians of {sizes['repeats']} runs after a warm-up run "
        f"({LONG_WORDS}-word article: {sizes['long_repeats']} run(s) after the sample's "
        f"warm-up). The run took {report['duration_s']:.0f} s."
    )
    params = report.get("parameters_m", {})
    add(
        f"Models: {MARIAN} architecture ({fmt(params.get(MARIAN))} M parameters) and {BART} "
        f"architecture ({fmt(params.get(BART))} M), random weights, seed {report['seed']}."
    )
    add("")

    sample, long = sizes["sample"], sizes["long"]
    add("## Translation (forced lengths, beam 4)")
    add("")
    add(
        f"Sample article: {len(sample['sources'])} sentences, {sum(sample['sources'])} source "
        f"→ {sum(sample['targets'])} target tokens. {LONG_WORDS}-word article: "
        f"{len(long['sources'])} sentences, {sum(long['sources'])} → {sum(long['targets'])}. "
        "× = times faster than the naive baseline / than batched HF float32. Streams: "
        f"{sizes['streams']} sample articles translated at once (CTranslate2 only; transformers "
        "runs one call at a time behind the model lock)."
    )
    add("")
    translation = report["engines"]["translation"]
    hf32 = translation.get("HF float32", {}).get("results", {})
    naive_s = hf32.get("sample_naive", {}).get("median_s")
    batched_s = hf32.get("sample_batched", {}).get("median_s")
    rows = []
    for label, row in translation.items():
        if "skipped" in row:
            rows.append([label, f"{row['intra']}/{row['inter']}", f"skipped: {row['skipped']}"])
            rows[-1] += ["—"] * 9
            continue
        results = row["results"]
        for mode in ("naive", "batched"):
            if f"sample_{mode}" not in results:
                continue
            s = results[f"sample_{mode}"]
            lg = results.get(f"long_{mode}", {})
            rows.append(
                [
                    label,
                    f"{row['intra']}/{row['inter']}",
                    mode,
                    fmt(s["median_s"], 3),
                    fmt(s["tokens_per_s"], 0),
                    fmt(ratio(naive_s, s["median_s"])),
                    fmt(ratio(batched_s, s["median_s"])),
                    fmt(lg.get("median_s"), 2),
                    fmt(lg.get("tokens_per_s"), 0),
                    fmt(results.get("streams", {}).get("articles_per_min"), 1),
                    fmt(row["ready_s"], 2),
                    fmt(row["rss_mb"], 0),
                ]
            )
    header = ["engine", "intra/inter", "mode", "sample s", "target tok/s", "× naive"]
    header += ["× HF fp32", f"{LONG_WORDS}-word s", "tok/s", "streams art/min", "ready s"]
    lines += table([*header, "peak RSS MiB"], rows)
    add("")

    add(
        f"## Summary ({sizes['summary_source']} → {sizes['summary_target']} tokens, forced; "
        "length penalty 2.0, no repeated 3-grams)"
    )
    add("")
    summary = report["engines"]["summary"]
    base = summary.get("HF float32", {}).get("results", {})
    rows = []
    for label, row in summary.items():
        cells = [label, f"{row['intra']}/{row['inter']}"]
        if "skipped" in row:
            rows.append([*cells, f"skipped: {row['skipped']}", *(["—"] * 7)])
            continue
        for beam in ("beam4", "beam2"):
            r = row["results"][beam]
            cells += [
                fmt(r["median_s"], 3),
                fmt(r["tokens_per_s"], 1),
                fmt(ratio(base.get(beam, {}).get("median_s"), r["median_s"])),
            ]
        rows.append([*cells, fmt(row["ready_s"], 2), fmt(row["rss_mb"], 0)])
    header = ["engine", "intra/inter", "beam 4 s", "tok/s", "× HF fp32", "beam 2 s", "tok/s"]
    lines += table([*header, "× HF fp32", "ready s", "peak RSS MiB"], rows)
    add("")

    add("## Sample article end to end, engines only (translation + summary at beam 4, forced)")
    add("")
    articles = report["engines"]["articles"]
    naive = articles[0] if articles else {}
    batched_total = articles[1]["article_s"] if len(articles) > 1 else None
    rows = [
        [
            a["label"],
            fmt(a["translation_s"], 3),
            fmt(a["summary_s"], 3),
            fmt(a["article_s"], 3),
            fmt(ratio(naive.get("article_s"), a["article_s"])),
            fmt(ratio(batched_total, a["article_s"])),
            fmt(a["articles_per_min"], 1),
            fmt(a["rss_mb_both"], 0),
            fmt(ratio(a["rss_mb_both"], naive.get("rss_mb_both"))),
            fmt(a["ready_s_both"], 2),
            fmt(ratio(a["ready_s_both"], naive.get("ready_s_both"))),
        ]
        for a in articles
    ]
    header = ["configuration", "translation s", "summary s", "article s", "× naive"]
    header += ["× HF fp32 batched", "articles/min (one at a time)", "peak RSS MiB (both)"]
    lines += table([*header, "RSS / naive's", "ready s (both)", "ready / naive's"], rows)
    add("")
    add(
        "× columns: times faster (article s) than the baseline; RSS and ready are shown as a "
        "fraction of the naive baseline's (HF float32). RSS and ready add up the two model "
        "processes (translation and summary)."
    )
    add("")

    for engine, service in (report.get("service") or {}).items():
        add(f"## Whole service over HTTP: DEPECHE_ENGINE={engine} (service-decided lengths)")
        add("")
        if "error" in service:
            add(f"Failed: {service['error']}")
            add("")
            continue
        inproc = service["in_process"]
        shown = ", ".join(f"{k}={v}" for k, v in inproc.get("settings", {}).items())
        models = "; ".join(
            f"{m.get('task')}: {m.get('engine')}{_threads_shown(m.get('threads'))}"
            for m in inproc.get("meta", {}).get("models", [])
        )
        add(
            f"`python -m service serve` on 127.0.0.1, POST /summarize; settings {shown}; "
            f"engines {models}. Ready after {fmt(service['ready_s'])} s; server peak RSS "
            f"{fmt(service['rss_mb'], 0)} MiB. Each sentence's translation is forced to "
            f"{sizes['service_sentence_tokens']} tokens and each summary to "
            f"{sizes['service_summary_tokens']}; sentences, chunks and token counts are the "
            "service's own (tiny test tokenizers, so more source tokens than the real "
            "tokenizer makes); tokens/s from meta.tokens. Long article: "
            f"{service['long_article_words']} words of {service['long_article_source']}."
        )
        add("")
        rows = []
        for run in service["runs"]:
            t = run["meta_tokens"]
            rows.append(
                [
                    run["article"],
                    str(run["clients"]),
                    str(run["requests"]),
                    fmt(run["p50_s"], 2),
                    fmt(run["p95_s"], 2),
                    fmt(run["articles_per_min"], 2),
                    fmt(run["tokens_per_s"], 0),
                    fmt(run["translation_tokens_per_s"], 0),
                    f"{t.get('translation_input')}→{t.get('translation_output')}, "
                    f"{t.get('summary_input')}→{t.get('summary_output')}",
                    f"{run['strategy']} ({run['chunks']} chunk(s))",
                ]
            )
        header = ["article", "clients", "requests", "p50 s", "p95 s", "articles/min"]
        header += ["tokens/s", "translation tok/s", "meta tokens: translation, summary"]
        lines += table([*header, "summary strategy"], rows)
        add("")
        add(
            "In-process pipeline (same models and settings, sample article): "
            f"{fmt(inproc.get('median_s'), 3)} s, ready after {fmt(inproc.get('ready_s'))} s, "
            f"peak RSS {fmt(inproc.get('rss_mb'), 0)} MiB. Service overhead ratio (HTTP p50 at "
            f"1 client / in-process): {fmt(service.get('overhead_ratio'), 3)}."
        )
        add("")

    variants = {k: v for k, v in (report.get("service") or {}).items() if v.get("runs")}
    if variants:
        add("## Service variants side by side")
        add("")
        base = next(iter(variants.values()))
        base_name = next(iter(variants))
        naive_s = naive.get("article_s")
        rows = []
        for engine, service in variants.items():
            one = _service_run(service, "sample", 1) or {}
            most = _service_run(service, "sample", max(r["clients"] for r in service["runs"]))
            base_one = _service_run(base, "sample", 1) or {}
            base_most = _service_run(base, "sample", (most or {}).get("clients", 0)) or {}
            rows.append(
                [
                    engine,
                    fmt(one.get("p50_s"), 2),
                    fmt(ratio(base_one.get("p50_s"), one.get("p50_s"))),
                    fmt(ratio(naive_s, one.get("p50_s"))),
                    fmt(one.get("p95_s"), 2),
                    f"{fmt((most or {}).get('articles_per_min'), 1)} "
                    f"({(most or {}).get('clients')} clients)",
                    fmt(
                        ratio(
                            (most or {}).get("articles_per_min"), base_most.get("articles_per_min")
                        )
                    ),
                    fmt(service["rss_mb"], 0),
                    fmt(ratio(service["rss_mb"], base["rss_mb"])),
                    fmt(service["ready_s"], 2),
                    fmt(ratio(service["ready_s"], base["ready_s"])),
                    fmt(service.get("overhead_ratio"), 3),
                ]
            )
        header = ["DEPECHE_ENGINE", "p50 s, 1 client", f"× {base_name}", "× naive baseline"]
        header += ["p95 s", "articles/min", f"× {base_name}", "server RSS MiB"]
        lines += table(
            [*header, f"/ {base_name}", "ready s", f"/ {base_name}", "HTTP/in-process"], rows
        )
        add("")
        add(
            "× = times faster (p50) or more throughput (articles/min); / = fraction of the first "
            "variant's memory or start-up time. The naive baseline (engine-only, forced lengths) "
            "is only a yardstick here: the service decides its own lengths."
        )
        add("")

    add(f"## Summary figures (service rows: DEPECHE_ENGINE={report.get('service_engine')})")
    add("")
    for key in (
        "seed_article_s",
        "naive_baseline_s",
        "batched_hf_s",
        "articles_per_min_16_clients",
        "service_overhead_ratio",
        "rss_mb",
        "ready_s",
    ):
        add(f"- `{key}`: {fmt(report.get(key), 3)}")
    add("")
    add(
        "Forced lengths: the engine rows (translation, summary, sample-article totals) force "
        "every output length; the service rows force each sentence's translation and each "
        "summary but let the service decide sentences, chunks and tokens. `seed_article_s` is "
        "the service's p50 at 1 client; `naive_baseline_s` and `batched_hf_s` are engine-only "
        "totals (translation + summary at beam 4)."
    )
    for failure in report.get("failures", []):
        add(f"- FAILED: {failure}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Benchmark Dépêche's engines, precisions and HTTP service on this machine.",
    )
    parser.add_argument("--quick", action="store_true", help="every row at tiny sizes (CI)")
    parser.add_argument("--repeats", type=int, help="timed runs per row (default 3; quick 1)")
    parser.add_argument(
        "--long-repeats", type=int, help="timed runs of the 2,000-word article (default 1)"
    )
    parser.add_argument("--out", type=Path, help="write the Markdown report here")
    parser.add_argument("--json", type=Path, help="write the summary JSON here")
    parser.add_argument("--seed", type=int, default=0, help="weights and inputs seed")
    parser.add_argument("--clients", default="1,4,16", help="concurrent HTTP clients")
    parser.add_argument(
        "--requests-per-client", type=int, help="requests per client (default: 3/2/1)"
    )
    parser.add_argument(
        "--articles", type=Path, default=ORANGESUM, help="OrangeSum jsonl for the long article"
    )
    parser.add_argument(
        "--service-engines",
        default="transformers,ctranslate2",
        help="DEPECHE_ENGINE values to serve over HTTP, in order; the first one that runs "
        "gives the summary figures (ctranslate2 converts with scripts/convert_models.py)",
    )
    parser.add_argument(
        "--service-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra DEPECHE_ setting for the server and the in-process pipeline",
    )
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=["engines", "service"],
        help=argparse.SUPPRESS,
    )
    parser.add_argument(
        "--bf16",
        choices=["auto", "on", "off"],
        default="auto",
        help="HF bfloat16 rows (auto: when the CPU has avx512_bf16 or AMX, and in --quick)",
    )
    parser.add_argument(
        "--naive-long",
        action="store_true",
        help="also run the naive baseline on the 2,000-word article (slow; always in --quick)",
    )
    parser.add_argument(
        "--test-models",
        type=Path,
        default=TEST_MODELS,
        help="tiny test models folder (built by scripts/make_test_models.py when missing)",
    )
    parser.add_argument("--workdir", type=Path, help="keep models and logs here (else a temp dir)")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def ensure_test_models(folder: Path) -> None:
    """Build the tiny test models (their tokenizers are what the service rows need)."""
    if (folder / "translation" / "vocab.json").is_file() and (
        folder / "summary" / "vocab.json"
    ).is_file():
        return
    say(f"building the tiny test models: scripts/make_test_models.py --out {folder}")
    script = ROOT / "scripts" / "make_test_models.py"
    subprocess.run([sys.executable, str(script), "--out", str(folder)], check=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        return run_worker(*args.worker)
    os.environ["BENCH_T0"] = str(_T0)
    machine = machine_info()
    cores = machine["cores"] or 1
    sys.path.insert(0, str(ROOT))
    from service.text.segment import segment_article

    sample_text = SAMPLE_ARTICLE.read_text(encoding="utf-8")
    sample_sentences = len(segment_article(sample_text).all_sentences())
    sizes = make_sizes(args, sample_sentences)
    extra_env = dict(item.split("=", 1) for item in args.service_env)
    # bfloat16 without hardware support (AVX512-BF16 or AMX) is a slow software path in
    # torch: measuring it at full size costs many minutes and tells nothing about bf16.
    run_bf16 = args.bf16 == "on" or (
        args.bf16 == "auto" and (sizes.quick or machine["native_bf16"])
    )
    engine_options: dict[str, Any] = {
        "seed": args.seed,
        "naive_long": sizes.quick or args.naive_long,
        "skip_precisions": set() if run_bf16 else {"bfloat16"},
        "skip_reason": "this CPU has no native bfloat16 (no avx512_bf16 or amx_bf16 flag); "
        "--bf16 on runs it anyway",
    }
    failures: list[str] = []
    engine_options["failures"] = failures
    vocab = vocab_info(sizes.quick)
    ensure_test_models(args.test_models)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="depeche-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    say(f"work folder {workdir}; {'quick' if sizes.quick else 'full'} run on {machine['cpu']}")
    try:
        say("preparing random models (transformers, CTranslate2 int8/float32, service copies)")
        prepared = spawn_worker(
            {
                "kind": "prepare",
                "workdir": str(workdir),
                "test_models": str(args.test_models),
                "quick": sizes.quick,
                "seed": args.seed,
                "threads": cores,
                "vocab": vocab,
                "service_lengths": {
                    "translation": sizes.service_sentence_tokens,
                    "summary": sizes.service_summary_tokens,
                },
            },
            workdir,
        )
        translation: dict[str, Any] = {}
        summary: dict[str, Any] = {}
        if "engines" not in args.skip:
            translation, summary = run_engines(sizes, workdir, vocab, engine_options)
        articles = build_articles(translation, summary)
        service: dict[str, Any] = {}
        long_text, long_source = long_article_text(args.articles, LONG_WORDS)
        if "service" not in args.skip:
            for engine in [e.strip() for e in args.service_engines.split(",") if e.strip()]:
                service[engine] = run_service_variant(
                    engine, sizes, workdir, extra_env, sample_text, long_text, failures
                )
                service[engine]["long_article_source"] = long_source
                service[engine]["long_article_words"] = len(long_text.split())
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)

    primary = next((v for v in service.values() if v.get("runs")), {})
    runs = primary.get("runs", [])
    one = next((r for r in runs if r["article"] == "sample" and r["clients"] == 1), None)
    sixteen = next((r for r in runs if r["article"] == "sample" and r["clients"] == 16), None)
    machine["gemm_gflops"] = prepared["gemm_gflops"]
    report: dict[str, Any] = {
        "quick": sizes.quick,
        "seed": args.seed,
        "duration_s": round(time.perf_counter() - _started, 1),
        "machine": machine,
        "sizes": asdict(sizes),
        "parameters_m": {k: v["parameters_m"] for k, v in prepared["models"].items()},
        "service_engine": primary.get("engine"),
        "seed_article_s": one["p50_s"] if one else None,
        "naive_baseline_s": articles[0]["article_s"] if articles else None,
        "batched_hf_s": articles[1]["article_s"] if len(articles) > 1 else None,
        "articles_per_min_16_clients": sixteen["articles_per_min"] if sixteen else None,
        "service_overhead_ratio": primary.get("overhead_ratio"),
        "rss_mb": primary.get("rss_mb"),
        "ready_s": primary.get("ready_s"),
        "engines": {"translation": translation, "summary": summary, "articles": articles},
        "service": service,
        "failures": failures,
        "forced_lengths": {
            "engine_rows": "every output length forced (transformers: logits processor per "
            "sentence; CTranslate2: min_decoding_length = max_decoding_length, one call per "
            "target length)",
            "service_rows": "per-sentence translation and per-summary lengths forced by the "
            "generation config; sentence, chunk and token counts decided by the service",
        },
    }
    markdown = render(report)
    print(markdown)
    if args.out:
        args.out.write_text(markdown, encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    for failure in failures:
        say(f"FAILED: {failure}")
    say(f"done in {report['duration_s']:.0f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
