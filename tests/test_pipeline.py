"""The whole flow on the tiny models: coverage, order, paragraphs, strategy and meta.

The tiny Marian reproduces the memorized FLORES pairs exactly, so an article built from them has
a known translation; any dropped, repeated or misplaced sentence changes the output. Other
sentences come back as nonsense from the tiny models: only structure is checked for them.
"""

from __future__ import annotations

import random
from html import escape

import pytest

from service.article import ArticleInput
from service.errors import (
    ArticleTooLongError,
    ConflictingFieldsError,
    EmptyArticleError,
    MissingArticleError,
    UnsupportedLanguageError,
)
from service.pipeline import Pipeline
from service.stream import ProgressEvent, replay
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
