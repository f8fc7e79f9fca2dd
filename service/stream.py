"""Streamed results (README "Streaming"): the events a /summarize or /translate stream carries,
built from a result or fed by the pipeline as it goes, and a worker thread that turns a
blocking call into an iterator of them. No web code: the route frames them as NDJSON or SSE.

The events together hold exactly what the JSON response holds: `done` carries every field
but the key points (its `translation` whole, `translation_checks`, `meta`), `key_points` the
rest; `head` and `paragraph` events send parts of `translation` ahead, as they are made.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any, Literal

from pydantic import BaseModel, Field

from service.results import (
    ArticleSentence,
    Meta,
    PointGrounding,
    SummarizeResult,
    TranslateResult,
    Translation,
    TranslationCheck,
)
from service.text.html import BlockKind


class HeadEvent(BaseModel):
    """The translated headline and standfirst, before paragraph 0 (only when one was sent)."""

    event: Literal["head"] = "head"
    title: str | None
    standfirst: str | None
    sentences: list[ArticleSentence] = Field(
        description="Their sentences, with their ids in `translation.sentences`."
    )


class ParagraphEvent(BaseModel):
    """One paragraph of `translation.paragraphs`, sent once it and every one before it are
    translated (glossary terms restored): index 0, 1, 2, ... in article order."""

    event: Literal["paragraph"] = "paragraph"
    index: int = Field(description="Its index in `translation.paragraphs`.")
    text: str = Field(description="Its English, as `translation.paragraphs[index]`.")
    kind: BlockKind | None = Field(
        None, description="HTML input: its block's kind, as `translation.blocks[index].kind`."
    )
    sentences: list[ArticleSentence] = Field(
        description="Its sentences as in `translation.sentences` (ids over the whole article)."
    )


class KeyPointsEvent(BaseModel):
    """/summarize only: the key points, after the last paragraph."""

    event: Literal["key_points"] = "key_points"
    key_points: list[str]
    summary: str
    grounding: list[PointGrounding] = Field(default_factory=list)


class DoneEvent(BaseModel):
    """The last event of a stream that succeeded: every field of the JSON response but those
    of `key_points`."""

    event: Literal["done"] = "done"
    translation: Translation
    translation_checks: list[TranslationCheck] = Field(default_factory=list)
    meta: Meta


class ErrorEvent(BaseModel):
    """The last event of a stream that failed after it started: the one error envelope."""

    event: Literal["error"] = "error"
    error: dict[str, Any] = Field(description="`code`, `message`, `request_id`.")


ProgressEvent = HeadEvent | ParagraphEvent | KeyPointsEvent
"""What the pipeline sends while it works."""
StreamEvent = ProgressEvent | DoneEvent | ErrorEvent
EventSink = Callable[[ProgressEvent], None]
"""Hears each event as it is made, in order (from whichever thread makes it)."""

Result = SummarizeResult | TranslateResult


def part_sentences(
    translation: Translation, part: int | Literal["title", "standfirst"]
) -> list[ArticleSentence]:
    """The sentences of one paragraph (or of the title or standfirst) of `translation`."""
    return [s for s in translation.sentences if s.paragraph == part]


def head_event(translation: Translation) -> HeadEvent | None:
    """The head event of a translation, None when it has neither title nor standfirst."""
    if translation.title is None and translation.standfirst is None:
        return None
    sentences = [s for s in translation.sentences if s.paragraph in ("title", "standfirst")]
    return HeadEvent(
        title=translation.title, standfirst=translation.standfirst, sentences=sentences
    )


def paragraph_event(translation: Translation, index: int) -> ParagraphEvent:
    blocks = translation.blocks
    return ParagraphEvent(
        index=index,
        text=translation.paragraphs[index],
        kind=blocks[index].kind if blocks is not None else None,
        sentences=part_sentences(translation, index),
    )


def replay(result: Result, emit: EventSink) -> None:
    """Send the events of a finished result (a cached one), all at once, as the pipeline
    would have sent them."""
    translation = result.translation
    if (head := head_event(translation)) is not None:
        emit(head)
    for index in range(len(translation.paragraphs)):
        emit(paragraph_event(translation, index))
    if isinstance(result, SummarizeResult):
        emit(key_points_event(result))


def key_points_event(result: SummarizeResult) -> KeyPointsEvent:
    return KeyPointsEvent(
        key_points=result.key_points, summary=result.summary, grounding=result.grounding
    )


def done_event(result: Result) -> DoneEvent:
    return DoneEvent(
        translation=result.translation,
        translation_checks=result.translation_checks,
        meta=result.meta,
    )


def rebuild(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The JSON response from a stream's events (as decoded JSON): `done`'s fields and
    `key_points`' fields, less `event`. What a client does that wants the whole result."""
    out: dict[str, Any] = {}
    for event in events:
        if event["event"] in ("key_points", "done"):
            out.update({k: v for k, v in event.items() if k != "event"})
    return out


_END = object()


class EventStream:
    """Runs `work(emit)` in a worker thread and yields what it emits, then `done` from the
    result it returns. `first()` waits for the first event (or the failure), so that a caller
    can still answer an early error (a full queue, say) with its usual status; a failure after
    that ends the stream with an `error` event made by `on_error`.

    A consumer that stops early leaves the work to finish on its own (its result is cached and
    counted as for a JSON request)."""

    def __init__(
        self,
        work: Callable[[EventSink], Result],
        on_error: Callable[[BaseException], ErrorEvent],
        name: str = "stream",
    ) -> None:
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._on_error = on_error
        self._work = work
        self._head: list[Any] = []
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            result = self._work(self._queue.put)
        except BaseException as exc:  # reported to the consumer, which decides how
            self._queue.put(_Failure(exc))
        else:
            self._queue.put(done_event(result))
        self._queue.put(_END)

    def first(self) -> None:
        """Wait for the first item; raise the work's exception if it failed before any event."""
        item = self._queue.get()
        if isinstance(item, _Failure):
            self._queue.get()  # _END
            raise item.exc
        self._head.append(item)

    def __iter__(self) -> Iterator[StreamEvent]:
        while True:
            item = self._head.pop() if self._head else self._queue.get()
            if item is _END:
                return
            if isinstance(item, _Failure):
                yield self._on_error(item.exc)
                continue
            yield item


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc
