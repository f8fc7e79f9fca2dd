"""The article service, above the pipeline: validate, the result cache, the pipeline, then
usage. The routes, the batch endpoint, the job runner and the CLI all call it; it imports no
web code, and the pipeline does not know it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from service.article import ArticleInput, validate_article
from service.cache import LRUCache, article_key
from service.grounding.policy import Unsupported
from service.pipeline import Pipeline
from service.results import SummarizeResult, TranslateResult
from service.scheduler import Progress
from service.stream import ErrorEvent, EventSink, EventStream, replay

Count = Callable[[ArticleInput], None]
"""Counts one answered article (the API's usage per key); never raises."""


@dataclass(frozen=True)
class SummaryRequest:
    """What /summarize is asked, as the service takes it: the article (a stored glossary
    already merged in) and the summary options. A job keeps it as `to_body()`."""

    article: ArticleInput
    max_points: int | None = None
    unsupported: Unsupported = "flag"

    def to_body(self) -> dict[str, Any]:
        """The request as a /summarize body (its glossary resolved, so `glossary_id` is null):
        the stored form of a job, the same as jobs queued by earlier versions kept."""
        article = self.article
        return {
            "text": article.text,
            "html": article.html,
            "title": article.title,
            "standfirst": article.standfirst,
            "captions": list(article.captions),
            "source_lang": article.source_lang,
            "format": article.format,
            "extract_article": article.extract_article,
            "glossary": dict(article.glossary),
            "do_not_translate": list(article.do_not_translate),
            "glossary_id": None,
            "options": {"max_points": self.max_points, "unsupported": self.unsupported},
        }

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> SummaryRequest:
        """A stored job's request back (checked when the job was submitted); fields a job of an
        earlier version lacks take their defaults, and fields it is not about are ignored."""
        options: dict[str, Any] = body.get("options") or {}
        article = ArticleInput(
            text=body.get("text"),
            html=body.get("html"),
            title=body.get("title"),
            standfirst=body.get("standfirst"),
            captions=tuple(body.get("captions") or ()),
            source_lang=body.get("source_lang"),
            format=body.get("format") or "text",
            extract_article=bool(body.get("extract_article", True)),
            glossary=tuple(dict(body.get("glossary") or {}).items()),
            do_not_translate=tuple(body.get("do_not_translate") or ()),
        )
        return cls(
            article=article,
            max_points=options.get("max_points"),
            unsupported=cast(Unsupported, options.get("unsupported") or "flag"),
        )


def summarize_article(
    pipeline: Pipeline,
    results: ResultCache,
    request: SummaryRequest,
    *,
    progress: Progress | None = None,
    count: Count | None = None,
    emit: EventSink | None = None,
) -> tuple[SummarizeResult, bool]:
    """Summarize one article: validate it, answer from the result cache or run the pipeline,
    then count it; the result and whether it came from the cache. A cached answer reports its
    sentences as all done to `progress`, and its events to `emit` all at once."""
    validate_article(request.article, pipeline.settings.max_chars)
    result, hit = results.summarize(
        pipeline, request.article, request.max_points, request.unsupported, progress, emit
    )
    if hit and progress is not None:
        sentences = result.meta.coverage.sentences
        progress(sentences, sentences)
    if hit and emit is not None:
        replay(result, emit)
    if count is not None:
        count(request.article)
    return result, hit


def translate_article(
    pipeline: Pipeline,
    results: ResultCache,
    article: ArticleInput,
    *,
    count: Count | None = None,
    emit: EventSink | None = None,
) -> tuple[TranslateResult, bool]:
    """Translate one article the same way: validate, result cache or pipeline, count."""
    validate_article(article, pipeline.settings.max_chars)
    result, hit = results.translate(pipeline, article, emit)
    if hit and emit is not None:
        replay(result, emit)
    if count is not None:
        count(article)
    return result, hit


ErrorMaker = Callable[[BaseException], ErrorEvent]
"""The `error` event (the one envelope) for a failure after a stream started."""


def stream_summary(
    pipeline: Pipeline,
    results: ResultCache,
    request: SummaryRequest,
    on_error: ErrorMaker,
    *,
    count: Count | None = None,
) -> EventStream:
    """`summarize_article` in a worker thread, its events as an iterator (the one path: the
    JSON answer is the same call without `emit`). Call `first()` before sending anything."""
    return EventStream(
        lambda emit: summarize_article(pipeline, results, request, count=count, emit=emit)[0],
        on_error,
        name="summarize-stream",
    )


def stream_translation(
    pipeline: Pipeline,
    results: ResultCache,
    article: ArticleInput,
    on_error: ErrorMaker,
    *,
    count: Count | None = None,
) -> EventStream:
    """`translate_article` in a worker thread, its events as an iterator."""
    return EventStream(
        lambda emit: translate_article(pipeline, results, article, count=count, emit=emit)[0],
        on_error,
        name="translate-stream",
    )


class ResultCache:
    """Whole /summarize and /translate results, keyed by `article_key`; `capacity` 0 disables."""

    def __init__(self, capacity: int) -> None:
        self._lru: LRUCache[SummarizeResult | TranslateResult] = LRUCache(capacity)

    def __len__(self) -> int:
        return len(self._lru)

    def summarize(
        self,
        pipeline: Pipeline,
        article: ArticleInput,
        max_points: int | None = None,
        unsupported: Unsupported = "flag",
        progress: Progress | None = None,
        emit: EventSink | None = None,
    ) -> tuple[SummarizeResult, bool]:
        """The summary of `article`, and whether it came from the cache."""
        points = max_points or pipeline.settings.default_max_points
        options = {"max_points": points, "unsupported": unsupported}
        key = article_key("summarize", article, pipeline.models(), options)
        cached = self._lru.get(key) if self._lru.enabled else None
        if isinstance(cached, SummarizeResult):
            return cached, True
        result = pipeline.summarize(
            article, max_points=points, progress=progress, unsupported=unsupported, emit=emit
        )
        self._lru.put(key, result)
        return result, False

    def translate(
        self, pipeline: Pipeline, article: ArticleInput, emit: EventSink | None = None
    ) -> tuple[TranslateResult, bool]:
        """The translation of `article`, and whether it came from the cache."""
        key = article_key("translate", article, pipeline.models())
        cached = self._lru.get(key) if self._lru.enabled else None
        if isinstance(cached, TranslateResult):
            return cached, True
        result = pipeline.translate(article, emit=emit)
        self._lru.put(key, result)
        return result, False
