"""The article service, above the pipeline: validate, the result cache, then the pipeline.
The routes, the batch endpoint, the job runner and the CLI all reach the pipeline through it."""

from __future__ import annotations

from service.article import ArticleInput
from service.cache import LRUCache, article_key
from service.grounding.policy import Unsupported
from service.pipeline import Pipeline
from service.results import SummarizeResult, TranslateResult


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
    ) -> tuple[SummarizeResult, bool]:
        """The summary of `article`, and whether it came from the cache."""
        points = max_points or pipeline.settings.default_max_points
        options = {"max_points": points, "unsupported": unsupported}
        key = article_key("summarize", article, pipeline.models(), options)
        cached = self._lru.get(key) if self._lru.enabled else None
        if isinstance(cached, SummarizeResult):
            return cached, True
        result = pipeline.summarize(article, max_points=points, unsupported=unsupported)
        self._lru.put(key, result)
        return result, False

    def translate(self, pipeline: Pipeline, article: ArticleInput) -> tuple[TranslateResult, bool]:
        """The translation of `article`, and whether it came from the cache."""
        key = article_key("translate", article, pipeline.models())
        cached = self._lru.get(key) if self._lru.enabled else None
        if isinstance(cached, TranslateResult):
            return cached, True
        result = pipeline.translate(article)
        self._lru.put(key, result)
        return result, False
