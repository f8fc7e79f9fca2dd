"""The result cache (X-Cache on the API) and the per-paragraph translation cache."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.api.app import create_app
from service.article import ArticleInput
from service.cache import LRUCache, ParagraphCache, article_key
from service.config import Settings
from service.engines.base import (
    Encoded,
    Generated,
    GenerationSettings,
    ModelInfo,
    Seq2SeqEngine,
)
from service.pipeline import Pipeline
from service.results import ModelUsed
from service.translate import SentenceTranslation


def spaced(text: str) -> str:
    """`text` as the segmenter hands it on: every run of whitespace one plain space."""
    return " ".join(text.split())


class Recorder:
    """The real translation engine, with a record of every sentence it was given."""

    def __init__(self, inner: Seq2SeqEngine) -> None:
        self.inner = inner
        self.info = inner.info
        self.inputs: list[str] = []

    @property
    def max_input_tokens(self) -> int:
        return self.inner.max_input_tokens

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self.inner.count_tokens(texts)

    def encode(self, texts: Sequence[str]) -> list[Encoded]:
        return self.inner.encode(texts)

    def generate(self, inputs: Sequence[Encoded], settings: GenerationSettings) -> Generated:
        self.inputs.extend(item.text for item in inputs)
        return self.inner.generate(inputs, settings)

    def check(self) -> None:
        self.inner.check()


@pytest.fixture
def cached_settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(update={"cache_size": 8, "jobs_db": tmp_path / "jobs.sqlite3"})


@pytest.fixture
def recording(pipeline: Pipeline, cached_settings: Settings) -> Iterator[tuple[Pipeline, Recorder]]:
    recorder = Recorder(pipeline.translator)
    shadow = Pipeline(recorder, pipeline.summarizer, pipeline.device, cached_settings)
    yield shadow, recorder
    shadow.close()


def test_lru_keeps_the_most_recently_used() -> None:
    lru: LRUCache[int] = LRUCache(2)
    lru.put("a", 1)
    lru.put("b", 2)
    assert lru.get("a") == 1  # "b" is now the oldest
    lru.put("c", 3)
    assert lru.get("b") is None
    assert (lru.get("a"), lru.get("c"), len(lru)) == (1, 3, 2)
    off: LRUCache[int] = LRUCache(0)
    off.put("a", 1)
    assert off.get("a") is None


def test_the_key_normalizes_whitespace_and_unicode_but_not_content() -> None:
    models = [ModelUsed(task="translation", id="m", revision="r", engine="e")]
    key = article_key("summarize", ArticleInput(text="Un été.\n\nDeux\u00a0mots."), models)
    same = ArticleInput(text="  Un e\u0301te\u0301.  \n\n\n Deux   mots.\n")
    assert article_key("summarize", same, models) == key
    assert article_key("translate", same, models) != key
    assert article_key("summarize", ArticleInput(text="Un été.\n\nDeux mots!"), models) != key
    assert (
        article_key("summarize", ArticleInput(html="<p>Un été.</p><p>Deux mots.</p>"), models)
        != key
    )
    assert article_key("summarize", same, models, {"max_points": 3}) != key
    other = [ModelUsed(task="translation", id="m", revision="r2", engine="e")]
    assert article_key("summarize", same, other) != key


def test_one_changed_paragraph_is_the_only_one_translated_again(
    recording: tuple[Pipeline, Recorder], memorized_pairs: list[tuple[str, str]]
) -> None:
    shadow, recorder = recording
    pairs = memorized_pairs
    first = shadow.translate(ArticleInput(text="\n\n".join(fr for fr, _ in pairs[:3])))
    assert first.translation.paragraphs == [en for _, en in pairs[:3]]
    assert first.meta.cache is not None
    assert (first.meta.cache.paragraphs_reused, first.meta.cache.paragraphs_translated) == (0, 3)
    assert sorted(recorder.inputs) == sorted(spaced(fr) for fr, _ in pairs[:3])

    recorder.inputs.clear()
    updated = [pairs[0], pairs[4], pairs[2]]  # the second paragraph was rewritten
    second = shadow.translate(ArticleInput(text="\n\n".join(fr for fr, _ in updated)))
    assert recorder.inputs == [spaced(pairs[4][0])]
    assert second.translation.paragraphs == [en for _, en in updated]
    assert second.meta.cache is not None
    assert (second.meta.cache.paragraphs_reused, second.meta.cache.paragraphs_translated) == (2, 1)
    # Reused sentences count as translated: nothing was dropped.
    assert second.meta.coverage.sentences == second.meta.coverage.translated == 3


def test_nothing_left_to_translate_still_reports_full_coverage(
    recording: tuple[Pipeline, Recorder], memorized_pairs: list[tuple[str, str]]
) -> None:
    shadow, recorder = recording
    fr, en = memorized_pairs[5]
    shadow.translate(ArticleInput(text=fr))
    recorder.inputs.clear()
    progress: list[tuple[int, int]] = []
    again = shadow.summarize(ArticleInput(text=fr), progress=lambda d, t: progress.append((d, t)))
    assert recorder.inputs == []
    assert again.translation.paragraphs == [en]
    assert again.meta.coverage.translated == again.meta.coverage.sentences == 1
    assert progress[-1] == (1, 1)


def test_no_cache_translates_everything(
    pipeline: Pipeline, settings: Settings, memorized_pairs: list[tuple[str, str]]
) -> None:
    recorder = Recorder(pipeline.translator)
    plain = Pipeline(
        recorder,
        pipeline.summarizer,
        pipeline.device,
        settings.model_copy(update={"cache_size": 0}),
    )
    try:
        text = "\n\n".join(fr for fr, _ in memorized_pairs[:2])
        plain.translate(text)
        result = plain.translate(text)
        assert sorted(recorder.inputs) == sorted([spaced(fr) for fr, _ in memorized_pairs[:2]] * 2)
        assert result.meta.cache is not None
        assert result.meta.cache.paragraphs_reused == 0
    finally:
        plain.close()


@pytest.fixture
def cached_client(cached_settings: Settings, pipeline: Pipeline) -> Iterator[TestClient]:
    with TestClient(create_app(cached_settings, pipeline=pipeline)) as client:
        yield client


@pytest.mark.parametrize("path", ["/translate", "/summarize"])
def test_a_repeated_article_is_a_cache_hit(
    cached_client: TestClient, memorized_pairs: list[tuple[str, str]], path: str
) -> None:
    text = "\n\n".join(fr for fr, _ in memorized_pairs[1:3])
    first = cached_client.post(path, json={"text": text, "title": "Un titre"})
    assert first.status_code == 200, first.text
    assert first.headers["x-cache"] == "miss"
    respaced = {"text": "  " + text.replace("\n\n", "\n \n\n") + "\n", "title": "Un  titre "}
    second = cached_client.post(path, json=respaced)
    assert second.headers["x-cache"] == "hit"
    assert second.json() == first.json()
    third = cached_client.post(path, json={"text": text, "title": "Un autre titre"})
    assert third.headers["x-cache"] == "miss"


def test_options_are_part_of_the_key(
    cached_client: TestClient, memorized_pairs: list[tuple[str, str]]
) -> None:
    text = memorized_pairs[3][0]
    assert cached_client.post("/summarize", json={"text": text}).headers["x-cache"] == "miss"
    three = cached_client.post("/summarize", json={"text": text, "options": {"max_points": 3}})
    assert three.headers["x-cache"] == "miss"
    as_html = cached_client.post("/summarize", json={"text": text, "format": "html"})
    assert as_html.headers["x-cache"] == "miss"
    assert cached_client.post("/summarize", json={"text": text}).headers["x-cache"] == "hit"


def test_errors_are_not_cached(cached_client: TestClient) -> None:
    response = cached_client.post("/translate", json={"text": " "})
    assert response.status_code == 422
    assert "x-cache" not in response.headers


def test_the_lead_counts_only_the_leading_parts_left_to_translate() -> None:
    # A stream wants its first parts first: translate hears how many of the sentences it is
    # sent belong to them, the cached ones left out.
    cache = ParagraphCache(8)
    model = ModelInfo("translation", "id", "rev", "transformers")
    settings = GenerationSettings()
    cache.store(["Un.", "Deux."], model, settings, ["One.", "Two."])
    calls: list[tuple[list[str], int]] = []

    def translate(todo: list[str], _sink: object, lead: int) -> SentenceTranslation:
        calls.append((todo, lead))
        return SentenceTranslation(
            sentences=[t.upper() for t in todo], split_sentences=0, input_tokens=0, output_tokens=0
        )

    parts = [["Un.", "Deux."], ["Trois."], ["Quatre.", "Cinq."]]
    result, reuse = cache.translate_parts(parts, model, settings, translate, lead_parts=2)
    assert calls == [(["Trois.", "Quatre.", "Cinq."], 1)]  # part 0 came from the cache
    assert result.sentences == ["One.", "Two.", "TROIS.", "QUATRE.", "CINQ."]
    assert (reuse.reused, reuse.translated) == (1, 2)
    calls.clear()
    cache.translate_parts([["Six."], ["Sept."]], model, settings, translate)
    assert calls == [(["Six.", "Sept."], 0)]  # nothing leads unless asked
