"""The CTranslate2 engine on the tiny models, converted once per session by the converter script.

Greedy decoding in float32 must give the same tokens as the transformers engine on the same
checkpoint, for MarianMT and BART; int8 must still reproduce the memorized pairs exactly; the
pipeline must work unchanged on CTranslate2 engines.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from service.config import Precision, Settings
from service.device import DeviceChoice, ThreadLayout, available_cores
from service.engines.base import GenerationSettings, Seq2SeqEngine, Task
from service.engines.ct2 import CT2Seq2SeqEngine, load_tokenizer
from service.engines.loader import (
    EngineSetting,
    ModelLoadError,
    ModelSource,
    resolve_source,
)
from service.engines.registry import choose_engine, load_engine
from service.pipeline import Pipeline
from tests.conftest import DATA, ROOT, _load_script

CPU = DeviceChoice("cpu", "float32")
GREEDY = GenerationSettings(num_beams=1)
MODEL_DEFAULTS = GenerationSettings()


def local(task: Task, folder: Path) -> ModelSource:
    return ModelSource(task, str(folder), "local", True, None)


def load(
    task: Task, folder: Path, engine: EngineSetting = "auto", precision: Precision = "auto"
) -> Seq2SeqEngine:
    return load_engine(
        local(task, folder),
        CPU,
        offline=True,
        hub_timeout_s=1,
        engine=engine,
        precision=precision,
        intra_threads=2,
    )


@pytest.fixture(scope="module")
def cli_run(
    test_models: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """The converter's command line on a copy of the tiny Marian that records a hub source."""
    work = tmp_path_factory.mktemp("cli")
    source = work / "opus-mt-fr-en"
    shutil.copytree(test_models / "translation", source)
    (source / ".depeche-source.json").write_text(
        json.dumps({"id": "Helsinki-NLP/opus-mt-fr-en", "revision": "abc123"})
    )
    result = subprocess.run(
        [sys.executable, "scripts/convert_models.py", "--source", str(source)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    return result, work / "opus-mt-fr-en-ct2-int8"


@pytest.fixture(scope="module")
def unseen_french() -> list[str]:
    return (DATA / "flores_devtest_400.fr").read_text(encoding="utf-8").splitlines()[200:210]


@pytest.fixture(scope="module")
def english_lines() -> list[str]:
    return (DATA / "flores_devtest_400.en").read_text(encoding="utf-8").splitlines()[200:210]


# --- agreement with transformers -------------------------------------------------------------


def test_marian_greedy_float32_agrees_with_transformers(
    pipeline: Pipeline,
    ct2_models: Path,
    memorized_pairs: list[tuple[str, str]],
    unseen_french: list[str],
) -> None:
    hf = pipeline.translator
    ct2 = load("translation", ct2_models / "translation", precision="float32")
    assert (hf.info.label, ct2.info.label) == ("transformers (float32)", "ctranslate2 (float32)")
    texts = [fr for fr, _ in memorized_pairs] + unseen_french
    expected = hf.generate(hf.encode(texts), GREEDY)
    got = ct2.generate(ct2.encode(texts), GREEDY)
    assert got.texts == expected.texts
    assert (got.input_tokens, got.output_tokens) == (expected.input_tokens, expected.output_tokens)
    assert got.per_output == expected.per_output
    assert len(got.per_output) == len(got.texts)
    assert sum(got.per_output) == got.output_tokens
    assert got.texts[: len(memorized_pairs)] == [en for _, en in memorized_pairs]


def test_bart_greedy_float32_agrees_with_transformers(
    pipeline: Pipeline, ct2_models: Path, english_lines: list[str]
) -> None:
    hf = pipeline.summarizer
    ct2 = load("summary", ct2_models / "summary", precision="float32")
    expected = hf.generate(hf.encode(english_lines), GREEDY)
    got = ct2.generate(ct2.encode(english_lines), GREEDY)
    assert got.texts == expected.texts
    assert (got.input_tokens, got.output_tokens) == (expected.input_tokens, expected.output_tokens)
    assert got.per_output == expected.per_output
    assert len(got.per_output) == len(got.texts)
    assert sum(got.per_output) == got.output_tokens
    assert not any(text.startswith("<s>") or "</s>" in text for text in got.texts)


def test_sub_batches_give_the_same_outputs_on_both_engines(
    pipeline: Pipeline,
    ct2_models: Path,
    memorized_pairs: list[tuple[str, str]],
    unseen_french: list[str],
) -> None:
    # GenerationSettings.sub_batch decodes a call's inputs a few at a time (the scheduler sets
    # it on batches taken at low load, to bound a call's working memory): the outputs, their
    # order and each one's token count stay those of the whole batch at once.
    texts = [fr for fr, _ in memorized_pairs] + unseen_french
    for engine in (pipeline.translator, load("translation", ct2_models / "translation")):
        encoded = engine.encode(texts)
        whole = engine.generate(encoded, MODEL_DEFAULTS)
        split = engine.generate(encoded, replace(MODEL_DEFAULTS, sub_batch=3))
        assert split.texts == whole.texts, engine.info.label
        assert split.per_output == whole.per_output
        assert (split.input_tokens, split.output_tokens) == (
            whole.input_tokens,
            whole.output_tokens,
        )
        assert split.texts[: len(memorized_pairs)] == [en for _, en in memorized_pairs]


@pytest.mark.parametrize("task", ["translation", "summary"])
def test_model_generation_config_is_followed(
    pipeline: Pipeline,
    ct2_models: Path,
    task: Task,
    memorized_pairs: list[tuple[str, str]],
    unseen_french: list[str],
    english_lines: list[str],
) -> None:
    """Beam size, lengths, length penalty and no-repeat n-grams come from the model's config,
    so the default (beam) decoding agrees as well, and so does a length limit that cuts."""
    hf = pipeline.translator if task == "translation" else pipeline.summarizer
    ct2 = load(task, ct2_models / task, precision="float32")
    texts = (
        [fr for fr, _ in memorized_pairs] + unseen_french
        if task == "translation"
        else english_lines
    )
    for settings in (MODEL_DEFAULTS, GenerationSettings(num_beams=1, max_length=12)):
        got = ct2.generate(ct2.encode(texts), settings).texts
        assert got == hf.generate(hf.encode(texts), settings).texts


def test_window_and_counts_match_transformers(pipeline: Pipeline, ct2_models: Path) -> None:
    for hf, task in ((pipeline.translator, "translation"), (pipeline.summarizer, "summary")):
        ct2 = load(task, ct2_models / task)
        assert ct2.max_input_tokens == hf.max_input_tokens
        sample = ["Bonjour le monde.", "Une phrase un peu plus longue, avec une virgule."]
        assert ct2.count_tokens(sample) == hf.count_tokens(sample)
    assert load("translation", ct2_models / "translation").max_input_tokens == 128


def test_input_over_the_window_is_refused(ct2_models: Path) -> None:
    engine = load("translation", ct2_models / "translation")
    with pytest.raises(ValueError, match="128-token window"):
        engine.generate(engine.encode(["mot " * 200]), MODEL_DEFAULTS)
    assert engine.generate([], MODEL_DEFAULTS).texts == []


# --- int8 ------------------------------------------------------------------------------------


def test_int8_reproduces_the_memorized_pairs(
    ct2_models: Path, memorized_pairs: list[tuple[str, str]]
) -> None:
    engine = load("translation", ct2_models / "translation")  # auto on CPU: int8
    assert engine.info.label == "ctranslate2 (int8)"
    french = [fr for fr, _ in memorized_pairs]
    english = [en for _, en in memorized_pairs]
    assert engine.generate(engine.encode(french), MODEL_DEFAULTS).texts == english
    assert engine.generate(engine.encode(french), GREEDY).texts == english


# --- converter command line ------------------------------------------------------------------


def test_cli_writes_a_complete_converted_folder(
    cli_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    result, out = cli_run
    assert result.returncode == 0, result.stderr
    assert "DEPECHE_TRANSLATION_MODEL=" in result.stdout
    for name in ("model.bin", "config.json", "hf_config.json", "generation_config.json"):
        assert (out / name).is_file(), name
    for name in ("source.spm", "target.spm", "vocab.json", "tokenizer_config.json"):
        assert (out / name).is_file(), name
    tokenizer_config = json.loads((out / "tokenizer_config.json").read_text())
    assert tokenizer_config["tokenizer_class"] == "MarianTokenizer"
    record = json.loads((out / ".depeche-source.json").read_text())
    assert record["id"] == "Helsinki-NLP/opus-mt-fr-en"
    assert record["revision"] == "abc123"
    assert record["quantization"] == "int8"
    assert record["converted_from"].endswith("opus-mt-fr-en")
    assert record["ctranslate2_version"] == "4.8.5"


def test_cli_output_reports_its_source_and_translates_exactly(
    cli_run: tuple[subprocess.CompletedProcess[str], Path],
    memorized_pairs: list[tuple[str, str]],
) -> None:
    result, out = cli_run
    assert result.returncode == 0, result.stderr
    engine = load_engine(
        resolve_source("translation", Settings(translation_model=str(out))),
        CPU,
        offline=True,
        hub_timeout_s=1,
    )
    assert (engine.info.id, engine.info.revision) == ("Helsinki-NLP/opus-mt-fr-en", "abc123")
    assert engine.info.label == "ctranslate2 (int8)"
    texts = engine.generate(engine.encode([fr for fr, _ in memorized_pairs]), MODEL_DEFAULTS).texts
    assert texts == [en for _, en in memorized_pairs]


def test_cli_missing_source_is_one_clear_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "scripts/convert_models.py", "--source", str(tmp_path / "nowhere")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "no model at" in lines[0]
    assert "fetch_models.py" in lines[0]


def test_cli_refuses_to_overwrite_without_force(
    cli_run: tuple[subprocess.CompletedProcess[str], Path], test_models: Path
) -> None:
    _, out = cli_run
    converter = _load_script("convert_models")
    with pytest.raises(converter.ConvertError, match="--force"):
        converter.convert(test_models / "translation", out, "int8")
    with pytest.raises(converter.ConvertError, match="would replace the source"):
        converter.convert(test_models / "translation", test_models, "int8", force=True)


# --- the pipeline on CTranslate2 -------------------------------------------------------------


@pytest.fixture(scope="module")
def ct2_pipeline(ct2_models: Path) -> Iterator[Pipeline]:
    settings = Settings(
        translation_model=str(ct2_models / "translation"),
        summary_model=str(ct2_models / "summary"),
        offline=True,
        device="cpu",
        intra_threads=2,
    )
    pipeline = Pipeline.load(settings)
    yield pipeline
    pipeline.close()


def test_ct2_pipeline_translates_memorized_article_exactly(
    ct2_pipeline: Pipeline, memorized_pairs: list[tuple[str, str]]
) -> None:
    assert [m.engine for m in ct2_pipeline.models()] == ["ctranslate2 (int8)"] * 2
    assert isinstance(ct2_pipeline.translator, CT2Seq2SeqEngine)
    paragraphs = [memorized_pairs[i : i + 3] for i in range(0, len(memorized_pairs), 3)]
    text = "\n\n".join(" ".join(fr for fr, _ in p) for p in paragraphs)
    result = ct2_pipeline.summarize(text, title=memorized_pairs[0][0], max_points=3)
    assert result.translation.title == memorized_pairs[0][1]
    assert result.translation.paragraphs == [" ".join(en for _, en in p) for p in paragraphs]
    coverage = result.meta.coverage
    assert coverage.sentences == coverage.translated == len(memorized_pairs) + 1
    assert result.meta.tokens.summary_output > 0
    assert result.summary
    assert result.meta.device == "cpu (int8)", "the precision the models run in, not float32"


def test_ct2_pipeline_splits_an_over_long_sentence(
    ct2_pipeline: Pipeline, memorized_pairs: list[tuple[str, str]]
) -> None:
    sentence = ", ".join(fr.rstrip(".") for fr, _ in memorized_pairs * 3) + "."
    translator = ct2_pipeline.translator
    assert translator.max_input_tokens == 128
    assert translator.count_tokens([sentence])[0] > 128
    result = ct2_pipeline.translate(sentence)
    assert result.meta.coverage.split == 1
    assert result.meta.coverage.translated == 1
    assert any("translated in pieces" in w for w in result.meta.warnings)


def test_concurrent_calls_give_the_sequential_results(
    ct2_pipeline: Pipeline, memorized_pairs: list[tuple[str, str]], unseen_french: list[str]
) -> None:
    engine = ct2_pipeline.translator
    texts = [fr for fr, _ in memorized_pairs] + unseen_french
    sequential = [engine.generate(engine.encode([t]), MODEL_DEFAULTS).texts[0] for t in texts]
    with ThreadPoolExecutor(max_workers=4) as pool:
        parallel = list(
            pool.map(lambda t: engine.generate(engine.encode([t]), MODEL_DEFAULTS).texts[0], texts)
        )
    assert parallel == sequential
    engine.check()


# --- engine choice and refusals --------------------------------------------------------------


def test_auto_picks_ctranslate2_only_for_converted_folders(
    ct2_models: Path, test_models: Path
) -> None:
    converted = local("translation", ct2_models / "translation")
    original = local("translation", test_models / "translation")
    hub = ModelSource("translation", "Helsinki-NLP/opus-mt-fr-en", "main", False, None)
    assert choose_engine("auto", converted) == "ctranslate2"
    assert choose_engine("auto", original) == "transformers"
    assert choose_engine("auto", hub) == "transformers"
    assert choose_engine("transformers", converted) == "transformers"


def _models_dir(tmp_path: Path, *folders: str) -> Path:
    (tmp_path / "manifest.json").write_text((ROOT / "models" / "manifest.json").read_text())
    for name in folders:
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text("{}")
        if "-ct2-" in name:
            (tmp_path / name / "model.bin").write_bytes(b"")
    return tmp_path


def test_converted_sibling_is_preferred_unless_transformers_is_asked(tmp_path: Path) -> None:
    models = _models_dir(tmp_path, "opus-mt-fr-en", "opus-mt-fr-en-ct2-int8")
    auto = resolve_source("translation", Settings(models_dir=models))
    assert auto.location == str(models / "opus-mt-fr-en-ct2-int8")
    forced = resolve_source("translation", Settings(models_dir=models, engine="ctranslate2"))
    assert forced.location == str(models / "opus-mt-fr-en-ct2-int8")
    plain = resolve_source("translation", Settings(models_dir=models, engine="transformers"))
    assert plain.location == str(models / "opus-mt-fr-en")
    # The quantization looked for follows DEPECHE_PRECISION; none converted: the fetched folder.
    other = resolve_source("translation", Settings(models_dir=models, precision="float32"))
    assert other.location == str(models / "opus-mt-fr-en")


def test_converted_sibling_for_an_explicit_precision(tmp_path: Path) -> None:
    models = _models_dir(tmp_path, "distilbart-cnn-12-6", "distilbart-cnn-12-6-ct2-float16")
    source = resolve_source("summary", Settings(models_dir=models, precision="float16"))
    assert source.location == str(models / "distilbart-cnn-12-6-ct2-float16")
    assert resolve_source("summary", Settings(models_dir=models)).location == str(
        models / "distilbart-cnn-12-6"
    )


def test_ctranslate2_engine_on_an_unconverted_folder_names_the_converter(
    test_models: Path,
) -> None:
    with pytest.raises(ModelLoadError, match=r"convert_models\.py"):
        load("translation", test_models / "translation", engine="ctranslate2")


def test_transformers_engine_on_a_converted_folder_is_explained(ct2_models: Path) -> None:
    with pytest.raises(ModelLoadError, match="DEPECHE_ENGINE=transformers cannot load"):
        load("translation", ct2_models / "translation", engine="transformers")


@pytest.mark.parametrize("precision", ["bfloat16", "float16", "int8_float16"])
def test_ctranslate2_on_cpu_refuses_16_bit(ct2_models: Path, precision: Precision) -> None:
    with pytest.raises(ModelLoadError, match=f"DEPECHE_PRECISION={precision}") as caught:
        load("translation", ct2_models / "translation", precision=precision)
    assert "\n" not in str(caught.value)


# --- thread layout, parallel batches, and a process without torch -----------------------------


@pytest.mark.parametrize("task", ["translation", "summary"])
def test_tokenizer_is_the_one_autotokenizer_builds(ct2_models: Path, task: Task) -> None:
    from transformers import AutoTokenizer

    folder = ct2_models / task
    ours = load_tokenizer(folder)
    auto = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    assert type(ours) is type(auto)
    texts = (DATA / "flores_devtest_400.fr").read_text(encoding="utf-8").splitlines()[:20]
    assert ours(texts)["input_ids"] == auto(texts)["input_ids"]


def article_of(pairs: list[tuple[str, str]]) -> tuple[str, list[str]]:
    groups = [pairs[i : i + 3] for i in range(0, len(pairs), 3)]
    french = "\n\n".join(" ".join(fr for fr, _ in g) for g in groups)
    return french, [" ".join(en for _, en in g) for g in groups]


def test_default_layout_per_model_is_loaded_and_reported(ct2_models: Path) -> None:
    pipeline = Pipeline.load(
        Settings(
            translation_model=str(ct2_models / "translation"),
            summary_model=str(ct2_models / "summary"),
            offline=True,
            device="cpu",
        )
    )
    cores = available_cores()
    calls = min(2, cores)  # summaries run two at once, each on half the cores
    translator, summarizer = pipeline.translator, pipeline.summarizer
    assert translator.info.threads == ThreadLayout(inter=cores, intra=1)
    assert summarizer.info.threads == ThreadLayout(inter=calls, intra=cores // calls)
    assert isinstance(translator, CT2Seq2SeqEngine)
    assert isinstance(summarizer, CT2Seq2SeqEngine)
    assert translator.translator.num_translators == cores
    assert summarizer.translator.num_translators == calls
    assert pipeline.translation_scheduler.workers == cores
    assert pipeline.summary_scheduler.workers == calls
    threads = [m.threads.model_dump() if m.threads else None for m in pipeline.models()]
    assert threads == [
        {"inter": cores, "intra": 1},
        {"inter": calls, "intra": cores // calls},
    ]
    pipeline.close()


class CountingTranslator:
    """Wraps a ctranslate2.Translator: records how many translate_batch calls overlap."""

    def __init__(self, translator: Any) -> None:
        self.translator = translator
        self.active = 0
        self.most_active = 0
        self.calls = 0
        self._lock = threading.Lock()

    def translate_batch(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            self.active += 1
            self.calls += 1
            self.most_active = max(self.most_active, self.active)
        try:
            time.sleep(0.1)  # long enough for a parallel call to start meanwhile
            return self.translator.translate_batch(*args, **kwargs)
        finally:
            with self._lock:
                self.active -= 1


def test_parallel_batches_of_one_article_reach_ctranslate2(
    ct2_models: Path, memorized_pairs: list[tuple[str, str]]
) -> None:
    pipeline = Pipeline.load(
        Settings(
            translation_model=str(ct2_models / "translation"),
            summary_model=str(ct2_models / "summary"),
            offline=True,
            device="cpu",
            translation_inter_threads=2,
            translation_intra_threads=1,
            cache_size=0,
        )
    )
    engine = pipeline.translator
    assert isinstance(engine, CT2Seq2SeqEngine)
    assert engine.translator.num_translators == 2
    counting = CountingTranslator(engine.translator)
    engine.translator = counting
    french, english = article_of(memorized_pairs)
    result = pipeline.translate(french)
    pipeline.close()
    assert result.translation.paragraphs == english
    assert counting.calls >= 2
    assert counting.most_active == 2, "the article's batches should run side by side"
    assert result.meta.models[0].threads is not None
    assert result.meta.models[0].threads.model_dump() == {"inter": 2, "intra": 1}


TORCH_FREE = """
import json, sys, resource, time
started = time.perf_counter()
import service.api.app  # the whole service, as `python -m service serve` imports it
from service.config import Settings
from service.pipeline import Pipeline

translation, summary, text = sys.argv[1:4]
pipeline = Pipeline.load(Settings(translation_model=translation, summary_model=summary,
                                  offline=True, device="auto", cache_size=0))
ready = time.perf_counter() - started
result = pipeline.summarize(text, max_points=3)
pipeline.close()
print(json.dumps({
    "torch": sorted(m for m in sys.modules if m == "torch" or m.startswith("torch.")),
    "transformers": sorted(m for m in sys.modules if m.split(".")[0] == "transformers"),
    "paragraphs": result.translation.paragraphs,
    "engines": [m.engine for m in result.meta.models],
    "device": result.meta.device,
    "ready_s": ready,
    "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


def test_a_ctranslate2_only_service_never_imports_torch_or_transformers(
    ct2_models: Path, memorized_pairs: list[tuple[str, str]]
) -> None:
    french, english = article_of(memorized_pairs)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEPECHE_")}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            TORCH_FREE,
            str(ct2_models / "translation"),
            str(ct2_models / "summary"),
            french,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["torch"] == [], "torch was imported by a CTranslate2-only service"
    # The converter wrote the runtime tokenizer records (service.engines.codec).
    assert report["transformers"] == [], "transformers was imported by a CTranslate2 service"
    assert report["engines"] == ["ctranslate2 (int8)", "ctranslate2 (int8)"]
    assert report["paragraphs"] == english
