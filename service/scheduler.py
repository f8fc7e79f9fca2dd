"""Batching across requests: one scheduler per model gathers every caller's texts into
token-budgeted batches, filled oldest first and length-sorted inside, and hands each caller its
own outputs, in order; a thread budget the schedulers share keeps the two models' calls within
the cores."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

from service.engines.base import Encoded, Generated, GenerationSettings, Seq2SeqEngine
from service.errors import InferenceFailedError, OverloadedError

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""Called with (units done, units in all) as work advances."""
OutputSink = Callable[[int, str], None]
"""Called with (index of the text, its output) as each output lands, from a worker thread:
what streaming builds on (a paragraph is sent once all its sentences are in)."""
BatchObserver = Callable[[str, int], None]
"""Called with (model task, texts in the batch) before each model call (metrics)."""


def fill_batch(sizes: Sequence[int], budget: int) -> list[int]:
    """The first items, in the order given, while the padded size stays within budget: the
    batch that serves the oldest work first (a stream's first paragraph is not held back by
    the rest of the article). Sorted inside by length, longest first; an item larger than the
    budget gets a batch of its own.
    """
    taken: list[int] = []
    longest = 0
    for index, size in enumerate(sizes):
        widest = max(longest, size)
        if taken and (len(taken) + 1) * widest > budget:
            break
        taken.append(index)
        longest = widest
    return sorted(taken, key=lambda i: sizes[i], reverse=True)


def plan_batches(sizes: Sequence[int], budget: int) -> list[list[int]]:
    """Group item indices into batches, longest first, so that padded size stays within budget.

    A batch's cost is its item count times its longest item; an item larger than the budget
    gets a batch of its own.
    """
    order = sorted(range(len(sizes)), key=lambda i: sizes[i], reverse=True)
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order:
        longest = sizes[current[0]] if current else sizes[index]
        if current and (len(current) + 1) * longest > budget:
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches


class ThreadBudget:
    """Threads that model calls may use at once, shared by the schedulers of both models: a
    call takes as many as it runs on and waits, first come first served, while the rest are
    in use. On a 2-core CPU the two models' four one-thread workers would otherwise run four
    calls on two cores; within the budget two run, each with a core, and the others wait with
    their batches unstarted. A batch that waited takes in, before it starts, what arrived for
    its model meanwhile (`BatchScheduler._top_up`): without that the budget cost about 8 % of
    the articles a minute at 16 clients, with it the throughput is back and the 16-client peak
    stays below the unbudgeted one (docs/benchmarks/cpu-2026-12-02-memory.md, fifth and sixth
    sessions)."""

    def __init__(self, threads: int) -> None:
        if threads < 1:
            raise ValueError("a thread budget needs at least one thread")
        self.threads = threads
        self._free = threads
        self._waiting: deque[object] = deque()
        self._cond = threading.Condition()
        self.waits = 0  # calls that had to wait for threads (metrics, tests)

    @contextmanager
    def hold(self, threads: int) -> Iterator[bool]:
        """Hold `threads` (at most the whole budget) while the block runs; gives whether it
        had to wait for them."""
        wanted = min(max(threads, 0), self.threads)
        if wanted == 0:
            yield False
            return
        turn = object()
        with self._cond:
            self._waiting.append(turn)
            waited = self._waiting[0] is not turn or self._free < wanted
            self.waits += waited
            while self._waiting[0] is not turn or self._free < wanted:
                self._cond.wait()
            self._waiting.popleft()
            self._free -= wanted
            self._cond.notify_all()  # the next in line may fit in what is left
        try:
            yield waited
        finally:
            with self._cond:
                self._free += wanted
                self._cond.notify_all()


@dataclass
class _Request:
    """One caller's encoded texts and the slots their outputs land in."""

    items: list[Encoded]
    settings: GenerationSettings
    progress: Progress | None
    on_output: OutputSink | None = None
    lead: int = 0
    """How many of the first items want a batch of their own ahead of the rest (a stream's
    head and first paragraph); 0 once taken, or when nothing leads."""
    outputs: list[str | None] = field(init=False)
    output_tokens: list[int] = field(init=False)
    """Each output's tokens, as the engine counted them."""
    remaining: int = field(init=False)
    error: BaseException | None = None
    done: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.outputs = [None] * len(self.items)
        self.output_tokens = [0] * len(self.items)
        self.remaining = len(self.items)


@dataclass(frozen=True)
class _Item:
    request: _Request
    index: int

    @property
    def encoded(self) -> Encoded:
        return self.request.items[self.index]

    @property
    def size(self) -> int:
        return self.request.items[self.index].size


class Ticket:
    """One submitted request (`BatchScheduler.submit`): `wait` blocks until all its outputs are
    in and returns them, or raises what failed it."""

    def __init__(self, request: _Request | None) -> None:
        self._request = request  # None: nothing was asked

    @property
    def done(self) -> bool:
        return self._request is None or self._request.done.is_set()

    def wait(self) -> Generated:
        return gather([self])

    def _result(self) -> tuple[list[str], int, list[int]]:
        """Outputs, input tokens and each output's tokens, once done."""
        request = self._request
        if request is None:
            return [], 0, []
        request.done.wait()
        if request.error is not None:
            raise request.error
        outputs = [text if text is not None else "" for text in request.outputs]
        return outputs, sum(item.size for item in request.items), request.output_tokens


def gather(tickets: Sequence[Ticket]) -> Generated:
    """Wait for every ticket (the first failure raises); their outputs in ticket order, counted
    as one request of all their items would be."""
    texts: list[str] = []
    input_tokens = 0
    per_output: list[int] = []
    for ticket in tickets:
        outputs, read, written = ticket._result()
        texts.extend(outputs)
        input_tokens += read
        per_output.extend(written)
    return Generated(texts, input_tokens, sum(per_output), tuple(per_output))


class BatchScheduler:
    """Runs one model for all callers: a bounded queue, short gathering, shared batches.

    Callers block in `run` until their own texts are done, or `submit` them and wait on the
    ticket later. Texts of different callers share batches when they use the same generation
    settings. The queue holds at most `max_queued` texts; beyond it `submit` (and so `run`)
    raises OverloadedError (429) at once rather than letting latency grow without bound.

    `workers` threads call the engine, so up to that many batches run at once (CTranslate2
    runs `inter_threads` calls in parallel). When less than a full batch per idle worker is
    waiting, as with one article's sentences, the work is shared out: each idle worker takes
    its part, instead of one worker taking it all while the others wait. A request may name
    a lead (its first few texts: a stream's head and first paragraph); while another worker
    is idle too, the lead goes first in a batch of its own, so that it lands in the time of a
    small batch, and the rest is shared out as if the lead's worker were idle already.

    With a `budget` (shared with the other model's scheduler), each model call first holds
    `threads_per_call` of its threads: the engine's intra threads, or none for an engine that
    reports no layout.

    With `sub_batch` (0: off), a batch taken at low load (a share among idle workers, or the
    last of what waited, as each worker's part of one article is; a lead excepted) of more
    texts than that goes to the engine with `GenerationSettings.sub_batch` set: the engine
    decodes it that many at a time, so a call's working memory (it grows with texts x beams)
    is smaller where nothing else waits. Batches that leave work waiting, under load, run
    whole: splitting them costs throughput.

    A model call that raises fails the requests of that batch only (InferenceFailedError,
    with the engine's exception as its cause); their texts still queued are dropped, and the
    workers go on serving everyone else.
    """

    def __init__(
        self,
        engine: Seq2SeqEngine,
        *,
        batch_tokens: int,
        wait_ms: float,
        max_queued: int,
        workers: int = 1,
        budget: ThreadBudget | None = None,
        sub_batch: int = 0,
    ) -> None:
        self.engine = engine
        self.sub_batch = sub_batch
        self.budget = budget
        threads = engine.info.threads
        self.threads_per_call = threads.intra if threads is not None else 0
        self.batch_tokens = batch_tokens
        self.wait_s = wait_ms / 1000
        self.max_queued = max_queued
        self._queue: list[_Item] = []
        self._cond = threading.Condition()
        self._closed = False
        self._idle = 0  # workers waiting in _take, ready to run a batch
        self._leading = 0  # workers running a lead batch: idle again soon
        self.workers = workers
        self.batches_run = 0
        self.batches_failed = 0
        self.on_batch: BatchObserver | None = None
        self._threads = [
            threading.Thread(target=self._work, name=f"{engine.info.task}-batcher-{i}", daemon=True)
            for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    @property
    def queued(self) -> int:
        with self._cond:
            return len(self._queue)

    def run(
        self,
        items: Sequence[Encoded],
        settings: GenerationSettings,
        progress: Progress | None = None,
        on_output: OutputSink | None = None,
        lead: int = 0,
    ) -> Generated:
        """Generate one output per encoded text (`engine.encode`), in order; blocks until all
        are done: `submit`, then `Ticket.wait`."""
        return self.submit(items, settings, progress, on_output, lead).wait()

    def submit(
        self,
        items: Sequence[Encoded],
        settings: GenerationSettings,
        progress: Progress | None = None,
        on_output: OutputSink | None = None,
        lead: int = 0,
    ) -> Ticket:
        """Queue one output per encoded text and return at once; `Ticket.wait` gives them, in
        order. Batches are sized from the items' own token counts: nothing is tokenized here.
        `on_output` hears each output as it lands (any order), before the ticket is done. The
        first `lead` items go first in a batch of their own when another worker is idle to
        start on the rest (a stream's first paragraph). A full queue raises OverloadedError
        here, not from `wait`."""
        if not items:
            return Ticket(None)
        lead = lead if 0 < lead < len(items) else 0  # all of it or nothing: no lead
        request = _Request(list(items), settings, progress, on_output, lead)
        with self._cond:
            if self._closed:
                raise RuntimeError("the scheduler is closed")
            if self._queue and len(self._queue) + len(items) > self.max_queued:
                raise OverloadedError(
                    f"The {self.engine.info.task} queue is full ({len(self._queue)} waiting, "
                    f"limit {self.max_queued}, DEPECHE_MAX_QUEUED_SENTENCES): retry shortly."
                )
            self._queue.extend(_Item(request, i) for i in range(len(items)))
            self._cond.notify_all()
        return Ticket(request)

    def close(self) -> None:
        """Stop the workers once the queue is empty."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=5)

    def _take(self) -> tuple[list[_Item], bool, bool] | None:
        """Wait for work, gather for up to wait_s more, then take one batch's worth: a share
        of it when other workers are idle too, or a request's lead alone. With the batch:
        whether it is a lead batch, and whether it was taken at low load (a share among idle
        workers, or the last of what waited with its settings)."""
        with self._cond:
            self._idle += 1
            try:
                return self._take_locked()
            finally:
                self._idle -= 1

    def _take_locked(self) -> tuple[list[_Item], bool, bool] | None:
        """None only once the scheduler is closed and the queue is empty."""
        while True:
            while not self._queue and not self._closed:
                self._cond.wait()
            if not self._queue:
                return None
            deadline = time.monotonic() + self.wait_s
            while (remaining := deadline - time.monotonic()) > 0 and not self._closed:
                budget_full = sum(item.size for item in self._queue) >= self.batch_tokens
                if budget_full:
                    break
                self._cond.wait(remaining)
            if self._queue:
                break
            # Another worker took everything while we gathered: wait for more (returning None
            # here would end this worker's thread for good).
        settings = self._queue[0].request.settings
        candidates = [item for item in self._queue if item.request.settings == settings]
        oldest = candidates[0].request
        leads = False
        if oldest.lead and self._idle > 1:
            # Its lead alone (what of it fits one batch), while another worker is idle to
            # start on the rest; the rest is shared as if this worker were idle already. Lead
            # texts an earlier batch took (one that filled up from an older request) are gone.
            lead = [c for c in candidates if c.request is oldest and c.index < oldest.lead]
            oldest.lead = 0
            if lead:
                candidates, leads = lead, True
                self._leading += 1
        sizes = [item.size for item in candidates]
        # Arrival order (oldest request first, each in index order), not longest-first over the
        # whole queue: the first paragraph of a streamed article goes in the first batch.
        budget = self.batch_tokens if leads else self._budget(sizes)
        batch = [candidates[i] for i in fill_batch(sizes, budget)]
        taken = {id(item) for item in batch}
        self._queue = [item for item in self._queue if id(item) not in taken]
        # A lead runs whole: it is there to land first.
        quiet = not leads and (budget < self.batch_tokens or len(batch) == len(candidates))
        return batch, leads, quiet

    def _budget(self, sizes: list[int]) -> int:
        """The token budget of the next batch: `batch_tokens`, or, with other workers idle, the
        padded cost of all that waits divided among the idle workers (so they all get work)."""
        sharing = self._idle + self._leading  # a lead batch's worker is back in a moment
        if sharing <= 1:
            return self.batch_tokens
        share = math.ceil(len(sizes) * max(sizes) / sharing)
        return min(self.batch_tokens, share)

    def _work(self) -> None:
        while (taken := self._take()) is not None:
            batch, leads, quiet = taken
            try:
                self._run_batch(batch, leads, quiet)
            finally:
                if leads:
                    with self._cond:
                        self._leading -= 1

    def _run_batch(self, batch: list[_Item], leads: bool = False, quiet: bool = False) -> None:
        try:
            with self._threads_held() as waited:
                if waited and not leads:
                    # What arrived while this batch waited for threads joins it (a lead
                    # stays small: it is there to land first).
                    taken = len(batch)
                    batch = self._top_up(batch)
                    quiet = quiet and len(batch) == taken  # what joined it was waiting too
                if self.on_batch is not None:
                    self.on_batch(self.engine.info.task, len(batch))
                generated = self.engine.generate(
                    [item.encoded for item in batch], self._settings_for(batch, quiet)
                )
        except BaseException as exc:  # fail this batch's callers, never the worker thread
            self._fail(batch, exc)
            return
        self.batches_run += 1
        for item, text, tokens in zip(batch, generated.texts, generated.per_output, strict=True):
            self._finish(item, text, tokens, None)

    def _settings_for(self, batch: list[_Item], quiet: bool) -> GenerationSettings:
        """The batch's settings, with `sub_batch` where it was taken at low load and holds
        more texts than that."""
        settings = batch[0].request.settings
        if not self.sub_batch or not quiet or len(batch) <= self.sub_batch:
            return settings
        return replace(settings, sub_batch=self.sub_batch)

    @contextmanager
    def _threads_held(self) -> Iterator[bool]:
        """Hold this model's call's threads from the shared budget, if there is one; gives
        whether the call had to wait for them."""
        if self.budget is None:
            yield False
            return
        with self.budget.hold(self.threads_per_call) as waited:
            yield waited

    def _top_up(self, batch: list[_Item]) -> list[_Item]:
        """`batch` and, oldest first, the queued texts with its settings while the padded size
        stays within `batch_tokens` (as `fill_batch` fills a batch); sorted longest first."""
        settings = batch[0].request.settings
        longest, count = max(item.size for item in batch), len(batch)
        added: list[_Item] = []
        with self._cond:
            for item in self._queue:
                if item.request.settings != settings:
                    continue
                widest = max(longest, item.size)
                if (count + 1) * widest > self.batch_tokens:
                    break
                added.append(item)
                longest, count = widest, count + 1
            if not added:
                return batch
            taken = {id(item) for item in added}
            self._queue = [item for item in self._queue if id(item) not in taken]
        return sorted([*batch, *added], key=lambda item: item.size, reverse=True)

    def _fail(self, batch: list[_Item], exc: BaseException) -> None:
        """Fail every request with a text in `batch`, each with an error of its own (one
        shared exception would collect every caller's traceback), and drop their other texts
        still queued: a failed request needs none of them."""
        task = self.engine.info.task
        log.error(
            "%s model call failed on a batch of %d text(s); failing only its requests",
            task,
            len(batch),
            exc_info=exc,
        )
        with self._cond:
            self.batches_failed += 1
            failed = {id(item.request): item.request for item in batch}
            dropped = [item for item in self._queue if id(item.request) in failed]
            if dropped:
                self._queue = [item for item in self._queue if id(item.request) not in failed]
            for request in failed.values():
                if request.error is None:
                    request.error = _inference_error(task, len(batch), exc)
        for item in [*batch, *dropped]:
            self._finish(item, None, 0, None)

    def _finish(
        self, item: _Item, text: str | None, tokens: int, error: BaseException | None
    ) -> None:
        request = item.request
        with self._cond:
            request.outputs[item.index] = text
            request.output_tokens[item.index] = tokens
            request.error = request.error or error
            request.remaining -= 1
            left = request.remaining
            failed = request.error is not None
        if request.on_output is not None and text is not None and not failed:
            try:
                request.on_output(item.index, text)
            except Exception:  # a caller's sink must not end this worker thread
                log.exception("an output callback failed; the request goes on")
        if request.progress is not None and not failed:
            try:
                request.progress(len(request.items) - left, len(request.items))
            except Exception:  # a caller's reporting must not end this worker thread
                log.exception("a progress callback failed; the request goes on")
        if left == 0:
            request.done.set()


def _inference_error(task: str, size: int, exc: BaseException) -> BaseException:
    """What a caller of a failed batch gets: InferenceFailedError naming the exception's class
    (its text stays in the log, it may hold internals), or a non-Exception as it was."""
    if not isinstance(exc, Exception):
        return exc
    error = InferenceFailedError(
        f"The {task} model failed on a batch of {size} text(s) that held part of this request "
        f"({type(exc).__name__}); other requests were not affected and a retry may succeed. "
        "Quote the request id when reporting it."
    )
    error.__cause__ = exc
    return error
