"""Engine rows: each engine and precision on the same work, through the service's own engines
and scheduler (`benchmark.adapter`), each row in a process of its own.

How lengths are forced: the inputs are texts made of words the tokenizer keeps whole, so each
sentence has exactly its planned source tokens; every output is forced to its planned length
with `GenerationSettings(min_length, max_length)` (`adapter.forced`). One call forces one
length, so an article's sentences are sent as one scheduler request per target length (three
levels), submitted together: the scheduler batches each level on its own, as the service
batches requests of different settings.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmark import adapter
from benchmark.common import (
    PRESET_SUMMARIZERS,
    PRESET_TRANSLATORS,
    median,
    peak_rss_mb,
    preset_summary_folder,
    preset_translation_folder,
    say,
    timed_runs,
)
from benchmark.models import ct2_folder, service_folder
from service.config import Settings

SERVICE_SUMMARY_BUDGET: int = Settings.model_fields["summary_batch_tokens"].default
"""The service's default summary batch budget, in padded tokens."""


@dataclass(frozen=True)
class EngineRow:
    label: str
    engine: str  # transformers | ctranslate2
    precision: str
    intra: int
    inter: int = 1
    profile: bool = False
    """Also measure encoder and per-step time by forcing one step against all of them."""
    folder: str | None = None
    """The model's folders when not the task's own (the other presets' models)."""

    @property
    def threads(self) -> str:
        return f"intra {self.intra} / inter {self.inter}"

    @property
    def base_label(self) -> str:
        """`CT2 int8 (2 workers)` -> `CT2 int8`: the summary row it pairs with."""
        return self.label.split(" (")[0]


def translation_rows(device: str, cores: int) -> list[EngineRow]:
    if device == "cuda":
        return [
            EngineRow("HF float32", "transformers", "float32", cores),
            EngineRow("HF float16", "transformers", "float16", cores),
            EngineRow("CT2 float16", "ctranslate2", "float16", cores, profile=True),
            EngineRow("CT2 int8_float16", "ctranslate2", "int8_float16", cores),
        ]
    return [
        EngineRow("HF float32", "transformers", "float32", 2),
        EngineRow("HF bfloat16", "transformers", "bfloat16", 2),
        EngineRow("HF dynamic int8", "transformers", "int8", 2),
        EngineRow("CT2 float32", "ctranslate2", "float32", 2),
        EngineRow("CT2 int8", "ctranslate2", "int8", 2),
        EngineRow("CT2 int8 (1 thread)", "ctranslate2", "int8", 1),
        EngineRow("CT2 int8 (2 workers)", "ctranslate2", "int8", 1, 2, profile=True),
        *(
            EngineRow(label, "ctranslate2", "int8", 1, 2, folder=preset_translation_folder(preset))
            for preset, label in PRESET_TRANSLATION_ROWS.items()
        ),
    ]


PRESET_TRANSLATION_ROWS = {
    preset: f"CT2 int8 (2 workers, {preset} preset: {name})"
    for preset, name in PRESET_TRANSLATORS.items()
}
"""The other presets' translators as the service runs them on the CPU (two one-thread
workers); each pairs end to end with its preset's summary row."""


SERVICE_SUMMARY_ROW = "CT2 int8 (1 thread)"
"""The summary as the service runs it on the CPU: each call on one thread, two side by side
(2 x 1 layout; one call alone runs as on a one-replica model)."""
SUMMARY_STREAMS = 4
"""Sample summaries sent at once to the service's summary row: two workers, each with a batch
of two (what the service's 1,024-token summary budget holds of the sample's ~500 tokens)."""


def summary_rows(device: str, cores: int) -> list[EngineRow]:
    rows = [
        row
        for row in translation_rows(device, cores)
        if row.label == row.base_label  # one row per engine and precision
    ]
    if device != "cuda":
        rows.append(EngineRow(SERVICE_SUMMARY_ROW, "ctranslate2", "int8", 1, 2))
        for preset, label in PRESET_SUMMARY_ROWS.items():
            folder = preset_summary_folder(preset)
            rows.append(EngineRow(label, "ctranslate2", "int8", 1, folder=folder))
    return rows


PRESET_SUMMARY_ROWS = {
    preset: f"CT2 int8 (1 thread, {preset} preset: {name})"
    for preset, name in PRESET_SUMMARIZERS.items()
}
"""The other presets' summarizers as the service runs them on the CPU."""


def summary_pair(translation_label: str, summary: dict[str, Any]) -> str:
    """The summary row an end-to-end configuration uses: the same layout when there is one
    (`CT2 int8 (1 thread)`), one-thread calls beside two translation workers as the service
    runs them, else the engine and precision's own row."""
    if translation_label in summary:
        return translation_label
    if translation_label.endswith("(2 workers)") and SERVICE_SUMMARY_ROW in summary:
        return SERVICE_SUMMARY_ROW
    return translation_label.split(" (")[0]


def model_folder(workdir: Path, task: str, row: EngineRow) -> Path:
    name = row.folder or task
    if row.engine == "transformers":
        return service_folder(workdir, name)
    return ct2_folder(workdir, name, "int8" if row.precision.startswith("int8") else "float32")


# --- inputs of exact token counts --------------------------------------------------------------


def _word_pool(model: adapter.Loaded, folder: Path) -> list[str]:
    """Words the tokenizer keeps as one token, first in a text or after a space."""
    vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
    words = sorted({t[1:] for t in vocab if t[:1] in ("\u2581", "\u0120") and t[1:].isalpha()})
    base = adapter.count(model, [""])[0]
    alone = adapter.count(model, words)
    twice = adapter.count(model, [f"{w} {w}" for w in words])
    pool = [
        w for w, a, b in zip(words, alone, twice, strict=True) if a == base + 1 and b == base + 2
    ]
    if len(pool) < 50:
        raise RuntimeError(f"only {len(pool)} one-token words in {folder}'s vocabulary")
    return pool


def make_texts(model: adapter.Loaded, folder: Path, lengths: list[int], seed: int) -> list[str]:
    """One text per length, each exactly that many tokens (special tokens included)."""
    pool = _word_pool(model, folder)
    base = adapter.count(model, [""])[0]
    rng = random.Random(seed)
    texts = [" ".join(rng.choice(pool) for _ in range(max(1, n - base))) for n in lengths]
    counts = adapter.count(model, texts)
    bad = [(n, c) for n, c in zip(lengths, counts, strict=True) if n != c]
    if bad:
        raise RuntimeError(f"inputs came out at other lengths than planned: {bad[:3]}")
    return texts


# --- profiling hooks (transformers) ------------------------------------------------------------


@contextmanager
def hooks(model: adapter.Loaded) -> Iterator[dict[str, float]]:
    """Seconds spent in the encoder, the decoder and the output layer while the block runs,
    and decoder calls (steps x batches); empty for an engine without a torch module."""
    totals: dict[str, float] = {}
    module = adapter.torch_model(model)
    if module is None:
        yield totals
        return
    parts = {
        "encoder_s": module.get_encoder(),
        "decoder_s": module.get_decoder(),
        "output_layer_s": module.get_output_embeddings() or module.lm_head,
    }
    handles = []
    local = threading.local()
    for name, part in parts.items():
        totals[name] = 0.0

        def before(_module: Any, _args: Any, name: str = name) -> None:
            setattr(local, name, time.perf_counter())

        def after(_module: Any, _args: Any, _out: Any, name: str = name) -> None:
            totals[name] += time.perf_counter() - getattr(local, name)
            if name == "decoder_s":
                totals["decoder_calls"] = totals.get("decoder_calls", 0) + 1

        handles.append(part.register_forward_pre_hook(before))
        handles.append(part.register_forward_hook(after))
    try:
        yield totals
    finally:
        for handle in handles:
            handle.remove()


def _per_run(totals: dict[str, float], runs: int) -> dict[str, float]:
    return {k: round(v / max(1, runs), 4) for k, v in totals.items()}


# --- workers -----------------------------------------------------------------------------------


def _stats(times: list[float], tokens: int) -> dict[str, Any]:
    seconds = median(times)
    return {
        "times_s": [round(t, 4) for t in times],
        "median_s": round(seconds, 4),
        "target_tokens": tokens,
        "tokens_per_s": round(tokens / seconds, 1) if seconds > 0 else None,
    }


def _expect(got: int, expected: int) -> None:
    if abs(got - expected) > 1:
        raise RuntimeError(f"forced lengths came out as {got} output tokens, not {expected}")


def _load(spec: dict[str, Any], task: str) -> adapter.Loaded:
    return adapter.load(
        task,
        Path(spec["model_dir"]),
        spec["engine"],
        spec["precision"],
        spec["intra"],
        spec["inter"],
        spec["device"],
    )


def _article_runner(
    model: adapter.Loaded, texts: list[str], targets: list[int], beams: int
) -> Callable[[], None]:
    """One article through the scheduler: one request per target length, all at once."""
    levels: dict[int, list[str]] = {}
    for text, target in zip(texts, targets, strict=True):
        levels.setdefault(target, []).append(text)
    work = [
        (adapter.prepare(model, group), adapter.forced(model, target, beams), target * len(group))
        for target, group in levels.items()
    ]

    def one(inputs: adapter.Inputs, settings: Any, expected: int) -> None:
        _expect(adapter.run(model, inputs, settings), expected)

    def run() -> None:
        _in_threads([(one, item) for item in work])

    return run


def _in_threads(calls: list[tuple[Callable[..., None], tuple[Any, ...]]]) -> None:
    """Run each call in a thread of its own; re-raise the first failure."""
    errors: list[BaseException] = []

    def guarded(call: Callable[..., None], args: tuple[Any, ...]) -> None:
        try:
            call(*args)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=item) for item in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def worker_translation(spec: dict[str, Any]) -> dict[str, Any]:
    model = _load(spec, "translation")
    ready_s = time.time() - spec["spawned_at"]
    beams, folder = spec["beams"], Path(spec["model_dir"])
    results: dict[str, Any] = {}
    profile: dict[str, Any] = {}
    texts: dict[str, list[str]] = {}
    for name in ("sample", "long"):
        article = spec["articles"][name]
        texts[name] = make_texts(model, folder, article["sources"], spec["seed"])
        targets = article["targets"]
        repeats = spec["repeats"] if name == "sample" else spec["long_repeats"]
        for mode in spec["modes"]:
            if name == "long" and mode == "naive" and not spec["naive_long"]:
                continue
            if mode == "naive":
                calls = [
                    (adapter.prepare(model, [t]), adapter.forced(model, n, beams), n)
                    for t, n in zip(texts[name], targets, strict=True)
                ]

                def run(calls: list[tuple[Any, Any, int]] = calls) -> None:
                    for inputs, settings, n in calls:
                        _expect(adapter.generate(model, inputs, settings), n)

            else:
                run = _article_runner(model, texts[name], targets, beams)
            warm = _article_runner(model, texts[name][:2], targets[:2], beams)
            say(f"  {spec['label']}: {name} article, {mode}")
            # A short warm-up (two sentences) before the sample article; the long article
            # runs after the sample article has warmed the model up.
            profiled = name == "sample" and mode == "batched"
            with hooks(model) if profiled else _nothing() as totals:
                times = timed_runs(run, repeats, warm if name == "sample" else (lambda: None))
            results[f"{name}_{mode}"] = _stats(times, sum(targets))
            if profiled and totals:
                profile["hooks"] = {**_per_run(totals, repeats), "median_s": median(times)}
    sample = spec["articles"]["sample"]
    if spec.get("profile"):
        profile["steps"] = _step_profile(model, texts["sample"], sample["targets"], spec)
    if spec.get("streams"):
        run = _article_runner(model, texts["sample"], sample["targets"], beams)

        def streams() -> None:
            _in_threads([(run, ()) for _ in range(spec["streams"])])

        say(f"  {spec['label']}: {spec['streams']} concurrent sample articles")
        times = timed_runs(streams, spec["repeats"], lambda: None)
        seconds = median(times)
        results["streams"] = {
            "streams": spec["streams"],
            "times_s": [round(t, 4) for t in times],
            "median_s": round(seconds, 4),
            "articles_per_min": round(spec["streams"] * 60 / seconds, 2),
            "tokens_per_s": round(spec["streams"] * sum(sample["targets"]) / seconds, 1),
        }
    model.close()
    rss = peak_rss_mb()
    return {"ready_s": round(ready_s, 3), "rss_mb": rss, "results": results, "profile": profile}


@contextmanager
def _nothing() -> Iterator[dict[str, float]]:
    yield {}


def _step_profile(
    model: adapter.Loaded, texts: list[str], targets: list[int], spec: dict[str, Any]
) -> dict[str, Any]:
    """The whole sample as one request forced to 1 step and to its longest target: the
    encoder (plus one step) against the decoder steps."""
    longest = max(targets)
    inputs = adapter.prepare(model, texts)
    timings = {}
    for steps in (1, longest):
        settings = adapter.forced(model, steps, spec["beams"])
        say(f"  {spec['label']}: whole sample as one request, {steps} step(s)")
        times = timed_runs(lambda s=settings: adapter.run(model, inputs, s), spec["repeats"])
        timings[steps] = median(times)
    return _steps(timings[1], timings[longest], longest)


def _steps(one: float, full: float, steps: int) -> dict[str, Any]:
    """Encoder and per-step time from a run of 1 step and one of `steps` steps."""
    step = (full - one) / (steps - 1) if steps > 1 else 0.0
    return {
        "one_step_s": round(one, 4),
        "all_steps_s": round(full, 4),
        "steps": steps,
        "step_s": round(step, 5),
        "encoder_s": round(max(0.0, one - step), 4),
        "decoder_s": round(full - max(0.0, one - step), 4),
    }


def worker_summary(spec: dict[str, Any]) -> dict[str, Any]:
    model = _load(spec, "summary")
    ready_s = time.time() - spec["spawned_at"]
    folder = Path(spec["model_dir"])
    text = make_texts(model, folder, [spec["summary_source"]], spec["seed"])
    inputs = adapter.prepare(model, text)
    target = spec["summary_target"]
    results: dict[str, Any] = {}
    profile: dict[str, Any] = {}
    for beams in spec["beam_sizes"]:
        say(f"  {spec['label']}: summary {spec['summary_source']}->{target}, beam {beams}")
        settings = adapter.forced(model, target, beams)
        warm = adapter.forced(model, min(4, target), beams)
        with hooks(model) if beams == spec["profile_beams"] else _nothing() as totals:
            times = timed_runs(
                lambda s=settings: _expect(adapter.run(model, inputs, s), target),
                spec["repeats"],
                lambda w=warm: adapter.run(model, inputs, w),
            )
        results[f"beam{beams}"] = _stats(times, target)
        if totals:
            profile["hooks"] = {**_per_run(totals, spec["repeats"]), "beams": beams}
    if spec.get("streams"):
        results["streams"] = _summary_streams(model, folder, spec)
    say(f"  {spec['label']}: summary forced to 1 step, beam {spec['profile_beams']}")
    one = adapter.forced(model, 1, spec["profile_beams"])
    times = timed_runs(lambda: adapter.run(model, inputs, one), spec["repeats"])
    profile["steps"] = {
        f"beam{beams}": {
            **_steps(median(times), results[f"beam{beams}"]["median_s"], target),
            "beams": beams,
        }
        for beams in spec["beam_sizes"]
    }
    model.close()
    rss = peak_rss_mb()
    return {"ready_s": round(ready_s, 3), "rss_mb": rss, "results": results, "profile": profile}


def _summary_streams(model: adapter.Loaded, folder: Path, spec: dict[str, Any]) -> dict[str, Any]:
    """`streams` sample-article summaries sent at once, one request each, through the
    service's scheduler (its budget makes the batches), at the service's beam: the summary's
    articles a minute with every worker busy. Each input is as long as the sample's
    translation (`streams_source` tokens), the text the service summarizes."""
    streams, target, beams = spec["streams"], spec["summary_target"], spec["profile_beams"]
    texts = make_texts(model, folder, [spec["streams_source"]] * streams, spec["seed"] + 1)
    settings = adapter.forced(model, target, beams)
    calls = [(adapter.prepare(model, [text]), settings) for text in texts]

    def one(inputs: adapter.Inputs, settings: Any) -> None:
        _expect(adapter.run(model, inputs, settings), target)

    say(
        f"  {spec['label']}: {streams} sample summaries at once "
        f"({spec['streams_source']}->{target}, beam {beams})"
    )
    times = timed_runs(lambda: _in_threads([(one, c) for c in calls]), spec["repeats"])
    seconds = median(times)
    batch = max(1, spec["summary_budget"] // spec["streams_source"])
    return {
        "streams": streams,
        "batch": batch,
        "beams": beams,
        "source_tokens": spec["streams_source"],
        "times_s": [round(t, 4) for t in times],
        "median_s": round(seconds, 4),
        "articles_per_min": round(streams * 60 / seconds, 2),
    }


# --- the parent side ---------------------------------------------------------------------------


def run_engines(
    sizes: Any, workdir: Path, options: dict[str, Any], attempt: Callable[..., dict[str, Any]]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Every translation and summary row, each in a process of its own."""
    articles = {"sample": asdict(sizes.sample), "long": asdict(sizes.long)}

    def translation_spec(row: EngineRow) -> dict[str, Any]:
        return {
            "beams": 4,
            "articles": articles,
            "naive_long": options["naive_long"],
            "modes": ["naive", "batched"] if row.label == "HF float32" else ["batched"],
            "long_repeats": sizes.long_repeats,
            "streams": sizes.streams if row.engine == "ctranslate2" else 0,
        }

    def summary_spec(row: EngineRow) -> dict[str, Any]:
        return {
            "summary_source": sizes.summary_source,
            "summary_target": sizes.summary_target,
            "beam_sizes": [4, 2],
            "profile_beams": 2,
            "streams": SUMMARY_STREAMS if row.label == SERVICE_SUMMARY_ROW else 0,
            "streams_source": sum(sizes.sample.targets),
            "summary_budget": SERVICE_SUMMARY_BUDGET,
        }

    translation = _run_rows(
        "translation",
        translation_rows(options["device"], options["cores"]),
        translation_spec,
        sizes,
        workdir,
        options,
        attempt,
    )
    summary = _run_rows(
        "summary",
        summary_rows(options["device"], options["cores"]),
        summary_spec,
        sizes,
        workdir,
        options,
        attempt,
    )
    return translation, summary


def _run_rows(
    kind: str,
    rows: list[EngineRow],
    spec_of: Callable[[EngineRow], dict[str, Any]],
    sizes: Any,
    workdir: Path,
    options: dict[str, Any],
    attempt: Callable[..., dict[str, Any]],
) -> dict[str, Any]:
    """The rows of one model (`kind`): each skipped when its precision is, else run through
    `attempt` with the spec every row shares plus `spec_of(row)`."""
    common = {"seed": options["seed"], "device": options["device"], "repeats": sizes.repeats}
    results: dict[str, Any] = {}
    for row in rows:
        if row.precision in options["skip_precisions"]:
            results[row.label] = {**asdict(row), "skipped": options["skip_reason"]}
            continue
        say(f"{kind} row: {row.label} ({row.threads})")
        spec = {
            **common,
            **asdict(row),
            "kind": kind,
            "label": f"{kind} {row.label}",
            "model_dir": str(model_folder(workdir, kind, row)),
            **spec_of(row),
        }
        results[row.label] = {**asdict(row), **attempt(spec)}
    return results


def build_articles(translation: dict[str, Any], summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The sample article end to end per configuration: translation + summary at beam 4."""
    pairs = [
        ("naive baseline: HF float32, sentence by sentence", "HF float32", "naive", "HF float32"),
        ("HF float32, batched", "HF float32", "batched", "HF float32"),
    ]
    presets = {t: PRESET_SUMMARY_ROWS.get(p) for p, t in PRESET_TRANSLATION_ROWS.items()}
    for label in translation:
        if label in presets:  # a preset's translator: with its own preset's summarizer
            if presets[label] in summary:
                paired = presets[label]
                pairs.append((f"{label}, batched; summary {paired}", label, "batched", paired))
        elif label != "HF float32":
            paired = summary_pair(label, summary)
            pairs.append((f"{label}, batched; summary {paired}", label, "batched", paired))
            if label.endswith("(2 workers)"):
                pairs += [
                    (f"{label}, batched; summary {other}", label, "batched", other)
                    for other in PRESET_SUMMARY_ROWS.values()
                    if other in summary
                ]
    rows = []
    for label, t_row, mode, s_row in pairs:
        t_data, s_data = translation.get(t_row, {}), summary.get(s_row, {})
        t, s = t_data.get("results", {}), s_data.get("results", {})
        # Both models, as a service holds them: two processes here, so the runtime's own
        # memory counts twice; load times add up as the service loads one after the other.
        rss = [t_data.get("rss_mb"), s_data.get("rss_mb")]
        ready = [t_data.get("ready_s"), s_data.get("ready_s")]
        translate_s = t.get(f"sample_{mode}", {}).get("median_s")
        summary_s = s.get("beam4", {}).get("median_s")
        total = translate_s + summary_s if translate_s and summary_s else None
        rows.append(
            {
                "label": label,
                "translation_s": translate_s,
                "summary_s": summary_s,
                "article_s": round(total, 4) if total else None,
                "articles_per_min": round(60 / total, 2) if total else None,
                "long_translation_s": t.get(f"long_{mode}", {}).get("median_s"),
                "streams_articles_per_min": t.get("streams", {}).get("articles_per_min"),
                "rss_mb_both": round(sum(rss), 1) if None not in rss else None,
                "ready_s_both": round(sum(ready), 3) if None not in ready else None,
            }
        )
    return rows
