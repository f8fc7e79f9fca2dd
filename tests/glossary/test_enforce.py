"""Glossaries enforced through the pipeline: with engine doubles that keep, drop or repeat the
placeholder (so `applied` is tested both ways), and end to end on the tiny Marian, which was
trained on placeholder pairs (tests/data/placeholder_pairs.tsv), on transformers and on
CTranslate2."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from service.article import ArticleInput
from service.device import DeviceChoice
from service.engines.base import Seq2SeqEngine
from service.engines.loader import ModelSource
from service.engines.registry import load_engine
from service.errors import InvalidGlossaryError
from service.glossary.protect import count_in
from service.pipeline import Pipeline
from service.results import TranslateResult
from tests.conftest import _load_script
from tests.fakes import RecordingEngine

SWEDEN_FR = "Il a produit plus de 1000 timbres pour la Suède et 28 autres pays."
SWEDEN_EN = "He produced over {} and 28 other countries."
URL = "https://www.example.org/direct?id=7"
SMOKE_FR = f"Les reportages télévisés montrent de la fumée blanche provenant de l'usine ({URL})."
SMOKE_EN = f"Television reports show white smoke coming from the plant ({URL})."
COUNCIL = (("Conseil de sécurité nationale", "National Security Council"),)


def shadow(pipeline: Pipeline, transform: Callable[[str], str]) -> tuple[Pipeline, RecordingEngine]:
    engine = RecordingEngine(window=pipeline.translator.max_input_tokens, transform=transform)
    return Pipeline(engine, pipeline.summarizer, pipeline.device, pipeline.settings), engine


def uses(result: TranslateResult) -> list[tuple[str, str, str, list[int], bool]]:
    return [(u.source, u.target, u.kind, u.sentences, u.applied) for u in result.meta.glossary]


def test_the_model_sees_placeholders_and_the_english_gets_the_target(pipeline: Pipeline) -> None:
    copying, engine = shadow(pipeline, lambda text: text)
    article = ArticleInput(
        text="Le Conseil de sécurité nationale s'est réuni. Il pleut.\n\nLe conseil de "
        "securite nationale, encore.",
        title="Réunion du Conseil de sécurité nationale",
        glossary=COUNCIL,
    )
    result = copying.translate(article)
    assert "Conseil" not in " ".join(engine.inputs), "the model never sees a protected term"
    assert "Le 801 s'est réuni." in engine.inputs
    assert result.translation.title == "Réunion du National Security Council"
    assert result.translation.paragraphs == [
        "Le National Security Council s'est réuni. Il pleut.",
        "Le National Security Council, encore.",
    ]
    assert uses(result) == [
        ("Conseil de sécurité nationale", "National Security Council", "glossary", [0, 1, 3], True)
    ]
    assert result.meta.warnings == []
    copying.close()


def test_a_dropped_placeholder_is_never_reported_as_applied(pipeline: Pipeline) -> None:
    dropping, engine = shadow(pipeline, lambda text: re.sub(r"\b8\d\d\b", "", text))
    article = ArticleInput(text="Le Conseil de sécurité nationale s'est réuni.", glossary=COUNCIL)
    result = dropping.translate(article)
    # Translated again as written, so the sentence keeps its meaning; the target is not there.
    assert engine.inputs == ["Le 801 s'est réuni.", "Le Conseil de sécurité nationale s'est réuni."]
    assert result.translation.paragraphs == ["Le Conseil de sécurité nationale s'est réuni."]
    assert uses(result) == [
        ("Conseil de sécurité nationale", "National Security Council", "glossary", [0], False)
    ]
    assert result.meta.warnings == [
        'glossary: "Conseil de sécurité nationale" is not translated as "National Security '
        'Council" in sentence(s) 0: the translation model did not keep it'
    ]
    assert result.meta.coverage.translated == 1
    dropping.close()


def test_a_repeated_placeholder_falls_back_too(pipeline: Pipeline) -> None:
    repeating, engine = shadow(pipeline, lambda text: f"{text} {text}")
    article = ArticleInput(text="Selon @depeche, ça tient.", do_not_translate=("ça",))
    result = repeating.translate(article)
    assert engine.inputs == ["Selon 801, 802 tient.", "Selon @depeche, ça tient."]
    # The fallback's English holds both terms (twice, even), so both count as applied.
    assert [(u.source, u.kind, u.applied) for u in result.meta.glossary] == [
        ("@depeche", "protected", True),
        ("ça", "do_not_translate", True),
    ]


def test_the_fallback_counts_a_target_the_model_wrote_by_itself(pipeline: Pipeline) -> None:
    def translate(text: str) -> str:
        text = re.sub(r"\b8\d\d\b", "", text)  # loses every placeholder
        return text.replace("Conseil de sécurité nationale", "National Security Council")

    natural, _ = shadow(pipeline, translate)
    result = natural.translate(
        ArticleInput(text="Le Conseil de sécurité nationale.", glossary=COUNCIL)
    )
    assert result.translation.paragraphs == ["Le National Security Council."]
    assert [u.applied for u in result.meta.glossary] == [True]


def test_only_the_sentence_that_lost_its_placeholder_is_translated_again(
    pipeline: Pipeline,
) -> None:
    def translate(text: str) -> str:
        return text.replace("801", "") if text.startswith("B") else text

    partial, engine = shadow(pipeline, translate)
    article = ArticleInput(text="A ONU. B ONU.", glossary=(("ONU", "UN"),))
    result = partial.translate(article)
    assert engine.inputs == ["A 801.", "B 801.", "B ONU."]
    assert result.translation.paragraphs == ["A UN. B ONU."]
    (use,) = result.meta.glossary
    assert (use.sentences, use.applied) == ([0, 1], False)
    assert result.meta.warnings[0].endswith(
        "in sentence(s) 1: the translation model did not keep it"
    )


def test_no_terms_no_report_and_no_change(pipeline: Pipeline) -> None:
    copying, engine = shadow(pipeline, lambda text: text)
    result = copying.translate("Il pleut sur Paris.")
    assert result.meta.glossary == []
    assert engine.inputs == ["Il pleut sur Paris."]


def test_english_input_skips_the_glossary_and_says_so(pipeline: Pipeline) -> None:
    article = ArticleInput(
        text="The council met on Monday in Washington.", source_lang="en", glossary=COUNCIL
    )
    result = pipeline.translate(article)
    assert result.meta.glossary == []
    assert any("glossary and do_not_translate were not applied" in w for w in result.meta.warnings)


def test_bad_terms_are_refused_before_any_model_work(pipeline: Pipeline) -> None:
    with pytest.raises(InvalidGlossaryError, match="whitespace"):
        pipeline.translate(ArticleInput(text="Bonjour.", glossary=((" ONU", "UN"),)))


def test_cached_paragraphs_never_leak_across_glossaries(pipeline: Pipeline, tmp_path: Path) -> None:
    """The paragraph cache holds what the model wrote for the protected sentence; each request
    puts its own target back."""
    settings = pipeline.settings.model_copy(update={"cache_size": 8})
    engine = RecordingEngine(window=pipeline.translator.max_input_tokens, transform=str.upper)
    cached = Pipeline(engine, pipeline.summarizer, pipeline.device, settings)
    text = "Le Conseil de sécurité nationale s'est réuni."
    first = cached.translate(ArticleInput(text=text, glossary=COUNCIL))
    second = cached.translate(ArticleInput(text=text, glossary=((*COUNCIL[0][:1], "NSC"),)))
    plain = cached.translate(ArticleInput(text=text))
    assert first.translation.paragraphs == ["LE National Security Council S'EST RÉUNI."]
    assert second.translation.paragraphs == ["LE NSC S'EST RÉUNI."]
    assert plain.translation.paragraphs == ["LE CONSEIL DE SÉCURITÉ NATIONALE S'EST RÉUNI."]
    assert second.meta.cache is not None
    assert second.meta.cache.paragraphs_reused == 1
    assert engine.inputs == ["Le 801 s'est réuni.", text]
    cached.close()


# --- end to end on the tiny Marian -----------------------------------------------------------


def check_tiny(pipeline: Pipeline) -> None:
    """What the tiny Marian does with protection, on whichever engine `pipeline` runs."""
    for glossary in ((("Suède", "the Kingdom of Sweden"),), (("SUEDE", "the Kingdom of Sweden"),)):
        result = pipeline.translate(ArticleInput(text=SWEDEN_FR, glossary=glossary))
        assert result.translation.paragraphs == [
            SWEDEN_EN.format("1,000 stamps for the Kingdom of Sweden")
        ]
        assert uses(result) == [(glossary[0][0], "the Kingdom of Sweden", "glossary", [0], True)]

    result = pipeline.translate(ArticleInput(text=SWEDEN_FR, do_not_translate=("Suède",)))
    assert result.translation.paragraphs == [SWEDEN_EN.format("1,000 stamps for Suède")]
    assert uses(result) == [("Suède", "Suède", "do_not_translate", [0], True)]

    result = pipeline.translate(ArticleInput(text=SMOKE_FR))
    assert result.translation.paragraphs == [SMOKE_EN]
    assert uses(result) == [(URL, URL, "protected", [0], True)]


def test_tiny_marian_applies_glossary_keeps_terms_and_urls(pipeline: Pipeline) -> None:
    check_tiny(pipeline)


def test_tiny_marian_is_reported_honestly_where_it_loses_the_placeholder(
    pipeline: Pipeline, memorized_pairs: list[tuple[str, str]]
) -> None:
    """On sentences it was not trained to copy placeholders in, the tiny model may drop them:
    whatever it writes, `applied` says exactly whether the target is in the English."""
    governor, _ = memorized_pairs[3]
    glossary = (("gouverneur", "Governor"), ("blessés", "wounded"))
    result = pipeline.translate(ArticleInput(text=governor, glossary=glossary))
    (english,) = result.translation.paragraphs
    assert "801" not in english
    assert "802" not in english
    for use, (_, target) in zip(result.meta.glossary, glossary, strict=True):
        assert use.applied == (count_in(english, target) >= 1)
    assert len(result.meta.warnings) == sum(not use.applied for use in result.meta.glossary)


@pytest.fixture(scope="module")
def ct2_translator(test_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Seq2SeqEngine:
    out = tmp_path_factory.mktemp("ct2-glossary") / "translation"
    _load_script("convert_models").convert(test_models / "translation", out, "int8")
    return load_engine(
        ModelSource("translation", str(out), "local", True, None),
        DeviceChoice("cpu", "float32"),
        offline=True,
        hub_timeout_s=1,
        engine="ctranslate2",
        precision="auto",
        intra_threads=1,
    )


@pytest.fixture
def ct2_pipeline(pipeline: Pipeline, ct2_translator: Seq2SeqEngine) -> Iterator[Pipeline]:
    shadowed = Pipeline(ct2_translator, pipeline.summarizer, pipeline.device, pipeline.settings)
    yield shadowed
    shadowed.close()


def test_tiny_marian_on_ctranslate2_applies_them_too(ct2_pipeline: Pipeline) -> None:
    assert ct2_pipeline.translator.info.label == "ctranslate2 (int8)"
    check_tiny(ct2_pipeline)
