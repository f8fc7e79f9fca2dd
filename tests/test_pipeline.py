"""The whole flow on the tiny models: coverage, order, paragraphs, strategy and meta.

The tiny Marian reproduces the memorized FLORES pairs exactly, so an article built from them has
a known translation; any dropped, repeated or misplaced sentence changes the output. Other
sentences come back as nonsense from the tiny models: only structure is checked for them.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence
from html import escape
from typing import Any

import pytest

from service.article import ArticleInput
from service.engines.base import Encoded, EncodingMemo, Generated, GenerationSettings
from service.errors import (
    ArticleTooLongError,
    ConflictingFieldsError,
    EmptyArticleError,
    MissingArticleError,
    UnsupportedLanguageError,
)
from service.pipeline import Pipeline
from service.scheduler import BatchScheduler, Ticket
from service.stream import ProgressEvent, replay
from service.summarize import encoded_chunks
from tests.conftest import DATA
from tests.fakes import RecordingEngine


def long_article(
    pairs: list[tuple[str, str]], min_words: int, seed: int = 7
) -> tuple[str, list[str], int]:
    """Paragraphs of 3–7 memorized sentences in shuffled order, their known translations, and
    the number of sentences."""
    rng = random.Random(seed)
    french: list[str] = []
    english: list[str] = []
    words = sentences = 0
    while words < min_words:
        chosen = [rng.randrange(len(pairs)) for _ in range(rng.randint(3, 7))]
        french.append(" ".join(pairs[i][0] for i in chosen))
        english.append(" ".join(pairs[i][1] for i in chosen))
        words += len(french[-1].split())
        sentences += len(chosen)
    return "\n\n".join(french), english, sentences


@pytest.mark.slow
def test_long_article_translated_exactly_once_in_order_and_map_reduced(
    pipeline: Pipeline, memorized_pairs: list[tuple[str, str]]
) -> None:
    text, expected, sentences = long_article(memorized_pairs, min_words=3000)
    assert len(text.split()) >= 3000
    result = pipeline.summarize(text)
    assert result.translation.paragraphs == expected
    coverage = result.meta.coverage
    assert coverage.sentences == coverage.translated == sentences
    assert result.meta.strategy == "map_reduce"
    assert result.meta.chunks > 1
    assert 1 <= len(result.key_points) <= 5


def test_sentences_reach_the_model_once_each(pipeline: Pipeline, sample_article: str) -> None:
    """Unseen sentences give nonsense, but each must be sent exactly once and come back in place."""
    recorder = RecordingEngine(window=pipeline.translator.max_input_tokens)
    recorder.count_tokens = pipeline.translator.count_tokens  # type: ignore[method-assign]
    shadow = Pipeline(recorder, pipeline.summarizer, pipeline.device, pipeline.settings)
    result = shadow.translate(sample_article, "Poutine et Kim Jong-Un")
    french = [line for line in sample_article.splitlines() if line.strip()]
    assert len(result.translation.paragraphs) == len(french)
    for source, english in zip(french, result.translation.paragraphs, strict=True):
        assert english.startswith("<")
        assert english.endswith(">")
        assert english.replace("<", "").replace(">", "").split() == source.split()
    assert result.translation.title == "<Poutine et Kim Jong-Un>"
    assert result.meta.coverage.sentences == result.meta.coverage.translated == 15
    # Each source word went to the model exactly once (long sentences in several pieces).
    source_words = ["Poutine", "et", "Kim", "Jong-Un", *sample_article.split()]
    assert sorted(" ".join(recorder.inputs).split()) == sorted(source_words)


def test_real_sentences_structure_and_meta(pipeline: Pipeline) -> None:
    french = (DATA / "flores_devtest_400.fr").read_text(encoding="utf-8").splitlines()[100:130]
    text = "\n\n".join(" ".join(french[i : i + 3]) for i in range(0, 30, 3))
    result = pipeline.summarize(text, title="Un titre de test", max_points=4)
    assert len(result.translation.paragraphs) == 10
    assert result.translation.title is not None
    assert result.translation.text.startswith(result.translation.title + "\n\n")
    meta = result.meta
    assert meta.coverage.sentences == meta.coverage.translated >= 31
    assert [m.task for m in meta.models] == ["translation", "summary"]
    assert meta.device == "cpu (float32)"
    assert meta.timings_ms.total >= meta.timings_ms.translate + meta.timings_ms.summarize > 0
    assert meta.tokens.translation_input > 0
    assert meta.tokens.summary_output > 0
    assert meta.strategy in ("single", "map_reduce")
    assert len(result.key_points) <= 4


def test_single_strategy_for_a_short_article(
    pipeline: Pipeline, memorized_pairs: list[tuple[str, str]]
) -> None:
    result = pipeline.summarize(memorized_pairs[0][0])
    assert result.translation.paragraphs == [memorized_pairs[0][1]]
    assert (result.meta.strategy, result.meta.chunks) == ("single", 1)


def test_translate_only_reports_one_model(
    pipeline: Pipeline, memorized_pairs: list[tuple[str, str]]
) -> None:
    result = pipeline.translate(memorized_pairs[1][0], title=memorized_pairs[2][0])
    assert result.translation.title == memorized_pairs[2][1]
    assert result.translation.paragraphs == [memorized_pairs[1][1]]
    assert [m.task for m in result.meta.models] == ["translation"]
    assert result.meta.strategy is None


def test_over_long_sentence_is_split_and_reported(
    pipeline: Pipeline, memorized_pairs: list[tuple[str, str]]
) -> None:
    # Longer than the tiny model's 128-token window: translated in pieces, nothing truncated.
    sentence = ", ".join(fr.rstrip(".") for fr, _ in memorized_pairs * 3) + "."
    assert pipeline.translator.count_tokens([sentence])[0] > pipeline.translator.max_input_tokens
    result = pipeline.translate(sentence)
    assert result.meta.coverage.split == 1
    assert result.meta.coverage.translated == 1
    assert any("translated in pieces" in w for w in result.meta.warnings)


def test_limits(pipeline: Pipeline) -> None:
    with pytest.raises(EmptyArticleError):
        pipeline.translate(" \n\t ")
    with pytest.raises(ArticleTooLongError, match="DEPECHE_MAX_CHARS"):
        pipeline.translate("a" * (pipeline.settings.max_chars + 1))


def test_memorized_pairs_as_html_paragraphs(
    pipeline: Pipeline, memorized_pairs: list[tuple[str, str]]
) -> None:
    html = "".join(f"<p>{fr}</p>" for fr, _ in memorized_pairs)
    result = pipeline.translate(ArticleInput(html=html, format="html"))
    expected = [en for _, en in memorized_pairs]
    assert result.translation.paragraphs == expected
    assert result.translation.blocks is not None
    assert [b.text for b in result.translation.blocks] == expected
    assert result.translation.html == "\n".join(f"<p>{escape(en)}</p>" for en in expected)
    assert result.meta.source_lang == "fr"


def test_every_part_is_translated_and_captions_stay_out_of_the_summary(
    pipeline: Pipeline,
) -> None:
    translator = RecordingEngine(window=pipeline.translator.max_input_tokens)
    summarizer = RecordingEngine(
        window=1000, transform=lambda t: "Un. Deux. Trois.", task="summary"
    )
    shadow = Pipeline(translator, summarizer, pipeline.device, pipeline.settings)
    article = ArticleInput(
        html=(
            "<h1>Le maire démissionne.</h1><p>Il quitte la mairie après dix ans de mandat.</p>"
            "<figure><figcaption>Le maire devant la mairie.</figcaption></figure>"
            "<ul><li>Une élection aura lieu en juin.</li></ul>"
        ),
        title="Démission à la mairie",
        standfirst="Le maire a annoncé son départ. Il reste conseiller.",
        captions=("Photo du maire.", "La mairie."),
    )
    result = shadow.summarize(article, max_points=3)
    # Title, 2 standfirst sentences, 4 blocks, 2 captions: 9 sentences, each sent once.
    assert result.meta.coverage.sentences == result.meta.coverage.translated == 9
    assert sorted(translator.inputs) == sorted(
        [
            "Démission à la mairie",
            "Le maire a annoncé son départ.",
            "Il reste conseiller.",
            "Le maire démissionne.",
            "Il quitte la mairie après dix ans de mandat.",
            "Le maire devant la mairie.",
            "Une élection aura lieu en juin.",
            "Photo du maire.",
            "La mairie.",
        ]
    )
    translation = result.translation
    assert translation.title == "<Démission à la mairie>"
    assert translation.standfirst == "<Le maire a annoncé son départ.> <Il reste conseiller.>"
    assert translation.captions == ["<Photo du maire.>", "<La mairie.>"]
    assert [b.kind for b in translation.blocks or []] == ["h1", "p", "figcaption", "li"]
    # The summarizer reads the body blocks, not the captions (nor title or standfirst).
    summarized = " ".join(summarizer.inputs)
    assert "<Il quitte la mairie après dix ans de mandat.>" in summarized
    assert "<Une élection aura lieu en juin.>" in summarized
    assert "devant la mairie" not in summarized
    assert "Photo" not in summarized


def test_english_input_never_reaches_the_translator(pipeline: Pipeline) -> None:
    translator = RecordingEngine(window=pipeline.translator.max_input_tokens)
    shadow = Pipeline(translator, pipeline.summarizer, pipeline.device, pipeline.settings)
    english = (DATA / "flores_devtest_400.en").read_text(encoding="utf-8").splitlines()[:6]
    text = "\n\n".join(" ".join(english[i : i + 2]) for i in range(0, 6, 2))
    result = shadow.summarize(text, title="A headline in English", max_points=3)
    assert translator.batches == []
    assert result.translation.paragraphs == text.split("\n\n")
    assert result.translation.title == "A headline in English"
    assert result.meta.source_lang == "en"
    assert result.meta.warnings[0] == "input is English: translation skipped"
    assert result.meta.coverage.translated == 0
    assert result.meta.coverage.sentences >= 6
    assert [m.task for m in result.meta.models] == ["summary"]
    assert result.key_points
    # Forced French, the same text goes through the translator.
    forced = shadow.translate(ArticleInput(text=text, source_lang="fr"))
    assert forced.meta.source_lang == "fr"
    assert translator.inputs


def test_german_is_refused_before_any_model_work(pipeline: Pipeline) -> None:
    translator = RecordingEngine(window=pipeline.translator.max_input_tokens)
    shadow = Pipeline(translator, pipeline.summarizer, pipeline.device, pipeline.settings)
    german = (
        "Die Bundesregierung hat am Montag ein neues Klimaschutzprogramm beschlossen, "
        "das bis 2030 gelten soll."
    )
    with pytest.raises(UnsupportedLanguageError, match='"de"'):
        shadow.summarize(german)
    assert translator.batches == []


def test_text_and_html_together_are_refused(pipeline: Pipeline) -> None:
    with pytest.raises(ConflictingFieldsError):
        pipeline.translate(ArticleInput(text="Bonjour.", html="<p>Bonjour.</p>"))
    with pytest.raises(MissingArticleError):
        pipeline.translate(ArticleInput(title="Un titre"))
    with pytest.raises(EmptyArticleError):
        pipeline.translate(ArticleInput(html="<script>alert(1)</script>"))


def test_the_device_label_says_the_precision_the_models_run_in() -> None:
    from service.device import DeviceChoice, EngineName, ResolvedPrecision
    from service.engines.base import ModelInfo, Task
    from service.pipeline import running_precision

    cpu = DeviceChoice("cpu", "float32")

    def info(task: Task, engine: EngineName, precision: ResolvedPrecision | None) -> ModelInfo:
        return ModelInfo(task, "id", "rev", engine, precision)

    both_int8 = [info("translation", "ctranslate2", "int8"), info("summary", "ctranslate2", "int8")]
    assert running_precision(cpu, both_int8).label == "cpu (int8)"
    mixed = [info("translation", "ctranslate2", "int8"), info("summary", "transformers", "float32")]
    assert running_precision(cpu, mixed).label == "cpu (translation int8, summary float32)"
    assert running_precision(cpu, [info("translation", "transformers", None)]) == cpu


def test_the_thread_budget_is_the_cores_on_the_cpu_and_none_on_cuda(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from service import pipeline as pipeline_module
    from service.config import Settings
    from service.device import DeviceChoice
    from service.pipeline import thread_budget

    monkeypatch.setattr(pipeline_module, "available_cores", lambda: 6)
    cpu, cuda = DeviceChoice("cpu", "float32"), DeviceChoice("cuda", "float16")
    derived = thread_budget(Settings(), cpu)
    assert derived is not None
    assert derived.threads == 6
    asked = thread_budget(Settings(compute_threads=3), cpu)
    assert asked is not None
    assert asked.threads == 3
    assert thread_budget(Settings(compute_threads=0), cpu) is None
    assert thread_budget(Settings(), cuda) is None


def test_both_schedulers_share_the_pipelines_budget(pipeline: Pipeline) -> None:
    budget = pipeline.thread_budget
    assert budget is not None  # the tiny models run on the CPU
    assert pipeline.translation_scheduler.budget is budget
    assert pipeline.summary_scheduler.budget is budget


def test_the_pipeline_streams_the_parts_a_replay_of_its_result_sends(pipeline: Pipeline) -> None:
    article = ArticleInput(
        html="<h2>Le bilan</h2><p>Le ministre a parlé. Il fait beau.</p><p></p><li>Un point.</li>",
        title="Un titre",
        standfirst="Un chapeau.",
        captions=("Une légende.",),
        format="html",
    )
    sent: list[ProgressEvent] = []
    result = pipeline.summarize(article, emit=sent.append)
    replayed: list[ProgressEvent] = []
    replay(result, replayed.append)
    assert sent == replayed
    paragraphs = result.translation.paragraphs
    assert len(paragraphs) == 3  # the empty <p> is no block
    assert [event.event for event in sent] == ["head", *["paragraph"] * 3, "key_points"]
    translated: list[ProgressEvent] = []
    pipeline.translate(article, emit=translated.append)
    assert translated == sent[:-1]


class GatedTranslator(RecordingEngine):
    """A translator whose last batch waits (up to 10 s) until the summary model has received a
    chunk: with the overlap on, the map pass must start while the translation still runs."""

    def __init__(self, window: int, summary_started: threading.Event, last: str) -> None:
        super().__init__(window=window)
        self.summary_started = summary_started
        self.last = last
        self.summary_was_first = False

    def generate(self, inputs: Sequence[Encoded], settings: GenerationSettings) -> Generated:
        if any(item.text == self.last for item in inputs):
            self.summary_was_first = self.summary_started.wait(10)
        return super().generate(inputs, settings)


class SignallingSummarizer(RecordingEngine):
    def __init__(self, window: int) -> None:
        super().__init__(window=window, transform=lambda t: "Un. Deux. Trois.", task="summary")
        self.started = threading.Event()

    def generate(self, inputs: Sequence[Encoded], settings: GenerationSettings) -> Generated:
        self.started.set()
        return super().generate(inputs, settings)


def spy_on_submit(scheduler: BatchScheduler) -> list[tuple[str, str]]:
    """(thread, text) of every item submitted to `scheduler` from now on, in order."""
    submitted: list[tuple[str, str]] = []
    submit = scheduler.submit

    def spy(items: Sequence[Encoded], *args: Any, **kwargs: Any) -> Ticket:
        submitted.extend((threading.current_thread().name, item.text) for item in items)
        return submit(items, *args, **kwargs)

    scheduler.submit = spy  # type: ignore[method-assign]
    return submitted


_LONG = " ".join(f"La phrase numéro {i} est ici et en dit plus." for i in range(12))
_OVERLAP_ARTICLES = [
    "\n\n".join(f"Le paragraphe {i} dit une chose. Il ajoute le détail {i}." for i in range(16)),
    "\n\n".join(
        ["Un début court.", _LONG, *(f"Le paragraphe {i} dit une chose." for i in range(10))]
    ),
    ArticleInput(
        html="".join(
            f"<p>Le paragraphe {i} dit une chose. Il ajoute le détail {i}.</p>"
            + (f"<figure><figcaption>Légende {i}.</figcaption></figure>" if i % 3 == 0 else "")
            for i in range(12)
        ),
        format="html",
    ),
]


@pytest.mark.parametrize("article", _OVERLAP_ARTICLES)
def test_summary_chunks_start_during_the_translation_with_the_same_chunks_and_result(
    pipeline: Pipeline, article: str | ArticleInput
) -> None:
    """Overlapped, the map pass submits exactly the chunks the whole body makes, the first
    before the translation's last batch, and the result is the non-overlapped one."""
    results = {}
    for overlap in (True, False):
        settings = pipeline.settings.model_copy(
            update={"summary_overlap": overlap, "translation_batch_tokens": 64}
        )
        article_input = ArticleInput.of(article)
        last = article_input.blocks[-1].text.split(". ")[-1]
        summarizer = SignallingSummarizer(window=40)
        translator = GatedTranslator(64, summarizer.started, last)
        shadow = Pipeline(translator, summarizer, pipeline.device, settings)
        submitted = spy_on_submit(shadow.summary_scheduler)
        if not overlap:
            summarizer.started.set()  # nothing to wait for
        result = shadow.summarize(article_input)
        shadow.close()
        results[overlap] = result
        if overlap:
            assert translator.summary_was_first
            body = [
                block.text
                for block in result.translation.blocks or []
                if block.kind != "figcaption"
            ] or result.translation.paragraphs
            whole = encoded_chunks(body, EncodingMemo(summarizer))
            # The map pass is the first len(whole) submissions, the reduce rounds follow.
            assert [text for _, text in submitted[: len(whole)]] == [c.text for c in whole]
            assert len(whole) > 1
            assert submitted[0][0] == "summary-planner"
            assert not any("Légende" in text for _, text in submitted)
    on, off = results[True], results[False]
    assert (on.key_points, on.summary, on.grounding) == (off.key_points, off.summary, off.grounding)
    assert on.translation == off.translation
    assert (on.meta.strategy, on.meta.chunks, on.meta.tokens) == (
        off.meta.strategy,
        off.meta.chunks,
        off.meta.tokens,
    )
    assert on.meta.strategy == "map_reduce"


def test_overlapped_and_plain_summaries_are_the_same_on_the_tiny_models(
    pipeline: Pipeline, memorized_pairs: list[tuple[str, str]]
) -> None:
    text, expected, _ = long_article(memorized_pairs, min_words=700, seed=11)
    results = []
    for overlap in (True, False):
        settings = pipeline.settings.model_copy(update={"summary_overlap": overlap})
        shadow = Pipeline(pipeline.translator, pipeline.summarizer, pipeline.device, settings)
        results.append(shadow.summarize(text))
        shadow.close()
    on, off = results
    assert on.translation.paragraphs == off.translation.paragraphs == expected
    assert on.meta.strategy == "map_reduce"
    assert (on.key_points, on.summary, on.grounding) == (off.key_points, off.summary, off.grounding)
    assert (on.meta.chunks, on.meta.tokens) == (off.meta.chunks, off.meta.tokens)


def test_a_short_article_is_summarized_in_one_call_after_the_translation(
    pipeline: Pipeline,
) -> None:
    translator = RecordingEngine(window=64)
    summarizer = RecordingEngine(
        window=1000, transform=lambda t: "Un. Deux. Trois.", task="summary"
    )
    settings = pipeline.settings.model_copy(update={"summary_overlap": True})
    shadow = Pipeline(translator, summarizer, pipeline.device, settings)
    result = shadow.summarize("Une phrase. Une autre.\n\nUn deuxième paragraphe.")
    shadow.close()
    assert (result.meta.strategy, result.meta.chunks) == ("single", 1)
    assert summarizer.batches == [["<Une phrase.> <Une autre.> <Un deuxième paragraphe.>"]]
