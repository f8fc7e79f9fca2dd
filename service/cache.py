"""In-memory LRU caches, the result key of a normalized article, and the translation stage's
paragraph cache (whole results are cached above the pipeline, in `service.articles`)."""

from __future__ import annotations

import hashlib
import json
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from service.article import ArticleInput
from service.engines.base import GenerationSettings, ModelInfo
from service.scheduler import OutputSink
from service.translate import SentenceTranslation

V = TypeVar("V")

PARAGRAPHS_PER_RESULT = 64
"""The paragraph cache holds this many paragraphs per result the result cache may hold."""


class LRUCache(Generic[V]):
    """A bounded, thread-safe least-recently-used map; `capacity` 0 keeps nothing."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(0, capacity)
        self._items: OrderedDict[Hashable, V] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.capacity > 0

    def get(self, key: Hashable) -> V | None:
        """The value under `key` (now the most recently used), or None."""
        with self._lock:
            value = self._items.get(key)
            if value is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: Hashable, value: V) -> None:
        """Store `value`, dropping the least recently used entries beyond the capacity."""
        if not self.enabled:
            return
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


def normalize(text: str | None) -> str | None:
    """NFC, every run of whitespace as one space, no leading or trailing space."""
    if text is None:
        return None
    return " ".join(unicodedata.normalize("NFC", text).split())


def _digest(payload: Any) -> str:
    data = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


def article_key(
    endpoint: str,
    article: ArticleInput,
    models: Sequence[Any],
    options: dict[str, Any] | None = None,
) -> str:
    """Cache key of one result: the endpoint, the article's normalized parts (blocks with their
    kind, title, standfirst, captions; text versus HTML input), the options (format,
    source_lang and `options`), every model's id, revision and engine, and the glossary and
    do_not_translate terms (a stored glossary's entries merged in, not its id)."""
    return _digest(
        {
            "endpoint": endpoint,
            "input": "html" if article.html is not None else "text",
            "blocks": [[block.kind, normalize(block.text)] for block in article.blocks],
            "title": normalize(article.title),
            "standfirst": normalize(article.standfirst),
            "captions": [normalize(caption) for caption in article.captions],
            "source_lang": article.source_lang,
            "format": article.format,
            "options": options or {},
            "models": [_model_dict(model) for model in models],
            # A glossary changes the translation: results never cross from one to another.
            "glossary": [list(entry) for entry in article.glossary],
            "do_not_translate": list(article.do_not_translate),
        }
    )


def _model_dict(model: Any) -> Any:
    dump = getattr(model, "model_dump", None)
    return dump() if callable(dump) else repr(model)


@dataclass(frozen=True)
class ParagraphReuse:
    """How many paragraphs (title, standfirst, body paragraphs, captions) came from the cache."""

    reused: int = 0
    translated: int = 0


class ParagraphCache:
    """Translations of single paragraphs, keyed by the paragraph's sentences, the translation
    model (id, revision, engine) and the generation settings: an updated article re-translates
    only the paragraphs that changed."""

    def __init__(self, capacity: int) -> None:
        self._lru: LRUCache[tuple[str, ...]] = LRUCache(capacity)

    @property
    def enabled(self) -> bool:
        return self._lru.enabled

    def __len__(self) -> int:
        return len(self._lru)

    @staticmethod
    def _key(sentences: Sequence[str], model: ModelInfo, settings: GenerationSettings) -> str:
        return _digest(
            {
                "sentences": list(sentences),
                "model": [model.id, model.revision, model.label],
                "settings": [settings.num_beams, settings.max_length, settings.min_length],
            }
        )

    def lookup(
        self, parts: Sequence[Sequence[str]], model: ModelInfo, settings: GenerationSettings
    ) -> list[tuple[str, ...] | None]:
        """The cached translation of each part (None when not cached, and for empty parts)."""
        return [
            self._lru.get(self._key(part, model, settings)) if part and self.enabled else None
            for part in parts
        ]

    def store(
        self,
        part: Sequence[str],
        model: ModelInfo,
        settings: GenerationSettings,
        translation: Sequence[str],
    ) -> None:
        """Keep a part's new translation, unless one of its sentences came back empty."""
        if part and all(s.strip() for s in translation):
            self._lru.put(self._key(part, model, settings), tuple(translation))

    def translate_parts(
        self,
        parts: Sequence[Sequence[str]],
        model: ModelInfo,
        settings: GenerationSettings,
        translate: Callable[[list[str], OutputSink | None, int], SentenceTranslation],
        landed: OutputSink | None = None,
        lead_parts: int = 0,
    ) -> tuple[SentenceTranslation, ParagraphReuse]:
        """Translate the sentences of every part (in order), reusing cached paragraphs.

        Only the sentences of the paragraphs not in the cache go to `translate`, in one call;
        the new translations are stored unless a sentence came back empty. The result has one
        translation per sentence of `parts`, in order; token counts and `split_sentences` are
        those of the sentences actually translated. `landed` hears (a sentence's position in
        `parts`, its translation) for every sentence: the cached ones at once, the others as
        the model returns them, through the sink handed to `translate`. `translate` also gets
        how many of the sentences it is sent belong to the first `lead_parts` parts (they
        come first): the ones a stream wants first.
        """
        starts = [0]
        for part in parts:
            starts.append(starts[-1] + len(part))
        found = self.lookup(parts, model, settings)
        missing = [i for i, part in enumerate(parts) if part and found[i] is None]
        outputs: list[str] = [""] * starts[-1]
        for i, cached in enumerate(found):
            if cached is not None:
                outputs[starts[i] : starts[i + 1]] = cached
                if landed is not None:
                    for k, text in enumerate(cached):
                        landed(starts[i] + k, text)
        owner = [starts[i] + k for i in missing for k in range(len(parts[i]))]
        todo = [sentence for i in missing for sentence in parts[i]]

        def sink(j: int, text: str) -> None:  # the j-th sentence sent, at its place
            if landed is not None:
                landed(owner[j], text)

        lead = sum(len(parts[i]) for i in missing if i < lead_parts)
        fresh = (
            translate(todo, sink if landed is not None else None, lead)
            if todo
            else SentenceTranslation(
                sentences=[], split_sentences=0, input_tokens=0, output_tokens=0
            )
        )
        for j, text in zip(owner, fresh.sentences, strict=True):
            outputs[j] = text
        for i in missing:
            self.store(parts[i], model, settings, outputs[starts[i] : starts[i + 1]])
        reused = sum(1 for entry in found if entry is not None)
        return (
            SentenceTranslation(
                sentences=outputs,
                split_sentences=fresh.split_sentences,
                input_tokens=fresh.input_tokens,
                output_tokens=fresh.output_tokens,
            ),
            ParagraphReuse(reused=reused, translated=len(missing)),
        )
