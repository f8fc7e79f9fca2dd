"""The cross-request scheduler: shared batches, each caller's own outputs, a bounded queue."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest

from service.device import ThreadLayout
from service.engines.base import Encoded, Generated, GenerationSettings
from service.errors import InferenceFailedError, OverloadedError
from service.scheduler import BatchScheduler, ThreadBudget, gather
from tests.fakes import RecordingEngine, run_texts

DEFAULTS = GenerationSettings()


def test_sixteen_callers_share_batches_and_get_their_own_texts() -> None:
    engine = RecordingEngine(window=64)
    scheduler = BatchScheduler(engine, batch_tokens=10_000, wait_ms=50, max_queued=10_000)
    start = threading.Barrier(16)

    def call(caller: int) -> list[str]:
        texts = [f"appelant {caller} phrase {i} " + "mot " * ((caller + i) % 5) for i in range(12)]
        start.wait()
        result = run_texts(scheduler, texts, DEFAULTS)
        assert result.texts == [f"<{t}>" for t in texts]
        return result.texts

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(call, range(16)))
    scheduler.close()
    assert len(results) == 16
    assert sorted(engine.inputs) == sorted(t.strip("<>") for r in results for t in r)
    callers_per_batch = [len({text.split()[1] for text in batch}) for batch in engine.batches]
    assert max(callers_per_batch) > 1, "concurrent requests should share batches"
    assert len(engine.batches) < 16


def test_batches_respect_the_token_budget_and_length_order() -> None:
    engine = RecordingEngine(window=64)
    scheduler = BatchScheduler(engine, batch_tokens=30, wait_ms=0, max_queued=1000)
    texts = ["un " * n for n in (1, 9, 3, 7, 5, 2)]
    assert run_texts(scheduler, texts, DEFAULTS).texts == [f"<{t}>" for t in texts]
    for batch in engine.batches:
        sizes = engine.count_tokens(batch)
        assert len(batch) == 1 or len(batch) * max(sizes) <= 30
        assert sizes == sorted(sizes, reverse=True)
    scheduler.close()


class BlockingEngine(RecordingEngine):
    """Holds every batch until released, so the queue can fill up."""

    def __init__(self) -> None:
        super().__init__(window=64)
        self.release = threading.Event()
        self.started = threading.Event()

    def generate(self, inputs: Sequence[Encoded], settings: GenerationSettings) -> Generated:
        self.started.set()
        self.release.wait(10)
        return super().generate(inputs, settings)


def test_full_queue_is_refused_at_once() -> None:
    engine = BlockingEngine()
    scheduler = BatchScheduler(engine, batch_tokens=8, wait_ms=0, max_queued=5)
    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(run_texts, scheduler, ["a"], DEFAULTS)
        assert engine.started.wait(5)
        second = pool.submit(run_texts, scheduler, ["b", "c", "d", "e"], DEFAULTS)
        deadline = time.monotonic() + 5
        while scheduler.queued < 4 and time.monotonic() < deadline:
            time.sleep(0.005)
        with pytest.raises(OverloadedError, match="DEPECHE_MAX_QUEUED_SENTENCES"):
            run_texts(scheduler, ["f", "g"], DEFAULTS)
        engine.release.set()
        assert first.result(5).texts == ["<a>"]
        assert second.result(5).texts == ["<b>", "<c>", "<d>", "<e>"]
    scheduler.close()


def test_engine_failure_reaches_the_caller_as_inference_failed() -> None:
    class Failing(RecordingEngine):
        def generate(self, inputs: Sequence[Encoded], settings: GenerationSettings) -> Generated:
            raise RuntimeError("model exploded")

    scheduler = BatchScheduler(Failing(window=64), batch_tokens=100, wait_ms=0, max_queued=100)
    with pytest.raises(
        InferenceFailedError, match=r"translation model failed.*RuntimeError"
    ) as info:
        run_texts(scheduler, ["une phrase"], DEFAULTS)
    assert info.value.status == 500
    assert info.value.code == "inference_failed"
    assert isinstance(info.value.__cause__, RuntimeError)
    assert "model exploded" not in info.value.message, "the engine's text stays in the log"
    assert scheduler.batches_failed == 1
    scheduler.close()


class PoisonEngine(RecordingEngine):
    """Raises on any batch holding `poison`; can hold that batch until released."""

    def __init__(self, hold: bool = False) -> None:
        super().__init__(window=64)
        self.hold = hold
        self.failing = threading.Event()
        self.release = threading.Event()

    def generate(self, inputs: Sequence[Encoded], settings: GenerationSettings) -> Generated:
        if any("poison" in item.text for item in inputs):
            self.failing.set()
            if self.hold:
                self.release.wait(10)
            raise RuntimeError("device fault")
        return super().generate(inputs, settings)


def test_a_failing_batch_fails_only_its_requests_and_the_scheduler_keeps_serving() -> None:
    engine = PoisonEngine(hold=True)
    scheduler = BatchScheduler(engine, batch_tokens=4096, wait_ms=0, max_queued=100)
    with ThreadPoolExecutor(max_workers=2) as pool:
        failing = pool.submit(run_texts, scheduler, ["poison", "autre"], DEFAULTS)
        assert engine.failing.wait(5)
        other = pool.submit(run_texts, scheduler, ["un", "deux"], DEFAULTS)  # queued: another batch
        deadline = time.monotonic() + 5
        while scheduler.queued < 2 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert scheduler.queued == 2
        engine.release.set()
        with pytest.raises(InferenceFailedError):
            failing.result(5)
        assert other.result(5).texts == ["<un>", "<deux>"]
    # Afterwards the same worker thread serves new work as before.
    assert run_texts(scheduler, ["trois"], DEFAULTS).texts == ["<trois>"]
    assert scheduler.batches_failed == 1
    assert all(thread.is_alive() for thread in scheduler._threads)
    scheduler.close()


def test_requests_sharing_the_failed_batch_each_get_their_own_error() -> None:
    engine = PoisonEngine()
    scheduler = BatchScheduler(engine, batch_tokens=4096, wait_ms=100, max_queued=100)
    start = threading.Barrier(2)

    def call(texts: list[str]) -> BaseException | None:
        start.wait()
        try:
            run_texts(scheduler, texts, DEFAULTS)
        except InferenceFailedError as exc:
            return exc
        return None

    with ThreadPoolExecutor(max_workers=2) as pool:
        errors = list(pool.map(call, [["poison"], ["innocent"]]))
    assert engine.batches == [], "both texts were in the one failing batch"
    first, second = errors
    assert first is not None
    assert second is not None
    assert first is not second
    scheduler.close()


def test_a_failed_request_leaves_its_other_texts_unrun() -> None:
    # One text per batch: the first batch fails, and the request's other texts, still queued,
    # are dropped instead of being run for a caller that already failed.
    engine = PoisonEngine()
    scheduler = BatchScheduler(engine, batch_tokens=2, wait_ms=0, max_queued=100)
    progress: list[tuple[int, int]] = []
    with pytest.raises(InferenceFailedError):
        run_texts(
            scheduler,
            ["poison", "b", "c", "d", "e"],
            DEFAULTS,
            lambda d, t: progress.append((d, t)),
        )
    assert scheduler.queued == 0
    assert engine.inputs == [], "the longest-first plan runs `poison` first; nothing after"
    assert progress == [], "no progress reported for dropped texts"
    assert run_texts(scheduler, ["f"], DEFAULTS).texts == ["<f>"]
    scheduler.close()


def test_a_raising_progress_callback_does_not_stop_the_worker() -> None:
    scheduler = BatchScheduler(
        RecordingEngine(window=64), batch_tokens=100, wait_ms=0, max_queued=100
    )

    def broken(done: int, total: int) -> None:
        raise OSError("the job table is gone")

    assert run_texts(scheduler, ["a", "b"], DEFAULTS, broken).texts == ["<a>", "<b>"]
    assert run_texts(scheduler, ["c"], DEFAULTS).texts == ["<c>"]
    assert all(thread.is_alive() for thread in scheduler._threads)
    scheduler.close()


def test_each_output_is_heard_as_it_lands_before_run_returns() -> None:
    scheduler = BatchScheduler(
        RecordingEngine(window=64), batch_tokens=3, wait_ms=0, max_queued=100
    )
    heard: list[tuple[int, str]] = []
    texts = ["un", "deux deux", "trois trois trois", "quatre"]
    result = run_texts(
        scheduler, texts, DEFAULTS, on_output=lambda i, text: heard.append((i, text))
    )
    scheduler.close()
    assert sorted(heard) == [(i, f"<{t}>") for i, t in enumerate(texts)]
    assert result.texts == [f"<{t}>" for t in texts]


def test_a_raising_output_callback_does_not_stop_the_worker() -> None:
    scheduler = BatchScheduler(
        RecordingEngine(window=64), batch_tokens=100, wait_ms=0, max_queued=100
    )

    def broken(index: int, text: str) -> None:
        raise OSError("the client went away")

    assert run_texts(scheduler, ["a", "b"], DEFAULTS, on_output=broken).texts == ["<a>", "<b>"]
    assert all(thread.is_alive() for thread in scheduler._threads)
    scheduler.close()


def test_different_settings_never_share_a_batch() -> None:
    engine = RecordingEngine(window=64)
    scheduler = BatchScheduler(engine, batch_tokens=1000, wait_ms=30, max_queued=100)
    with ThreadPoolExecutor(max_workers=2) as pool:
        greedy = pool.submit(run_texts, scheduler, ["un", "deux"], GenerationSettings(num_beams=1))
        beams = pool.submit(run_texts, scheduler, ["trois"], GenerationSettings(num_beams=4))
        assert greedy.result(5).texts == ["<un>", "<deux>"]
        assert beams.result(5).texts == ["<trois>"]
    assert sorted(map(sorted, engine.batches)) == [["deux", "un"], ["trois"]]
    scheduler.close()


class ConcurrencyEngine(RecordingEngine):
    """Takes a while per batch and records how many batches ran at the same time."""

    def __init__(self, seconds: float = 0.2) -> None:
        super().__init__(window=64)
        self.seconds = seconds
        self.active = 0
        self.most_active = 0
        self._count = threading.Lock()

    def generate(self, inputs: Sequence[Encoded], settings: GenerationSettings) -> Generated:
        with self._count:
            self.active += 1
            self.most_active = max(self.most_active, self.active)
        time.sleep(self.seconds)
        with self._count:
            self.active -= 1
        return super().generate(inputs, settings)


@pytest.mark.parametrize("workers", [2, 3])
def test_one_article_is_shared_out_among_idle_workers(workers: int) -> None:
    # One caller's twelve short texts fit one batch; with several idle workers (CTranslate2
    # inter_threads > 1) they are split so that every worker runs a part at the same time.
    engine = ConcurrencyEngine()
    scheduler = BatchScheduler(
        engine, batch_tokens=4096, wait_ms=20, max_queued=1000, workers=workers
    )
    texts = [f"phrase {i} " + "mot " * (i % 4) for i in range(12)]
    started = time.monotonic()
    assert run_texts(scheduler, texts, DEFAULTS).texts == [f"<{t}>" for t in texts]
    elapsed = time.monotonic() - started
    scheduler.close()
    assert len(engine.batches) == workers
    assert engine.most_active == workers
    assert sorted(engine.inputs) == sorted(texts)
    assert elapsed < engine.seconds * 2, "the parts should run side by side"


def test_a_single_worker_keeps_one_batch() -> None:
    engine = ConcurrencyEngine(seconds=0.01)
    scheduler = BatchScheduler(engine, batch_tokens=4096, wait_ms=20, max_queued=1000)
    texts = [f"phrase {i}" for i in range(12)]
    assert run_texts(scheduler, texts, DEFAULTS).texts == [f"<{t}>" for t in texts]
    scheduler.close()
    assert len(engine.batches) == 1
    assert engine.most_active == 1


class FirstBatchBlocks(RecordingEngine):
    """Holds the batch that contains `premier` until released; every other batch runs at once."""

    def __init__(self) -> None:
        super().__init__(window=64)
        self.release = threading.Event()
        self.started = threading.Event()

    def generate(self, inputs: Sequence[Encoded], settings: GenerationSettings) -> Generated:
        if "premier" in [item.text for item in inputs]:
            self.started.set()
            self.release.wait(10)
        return super().generate(inputs, settings)


def test_a_busy_worker_leaves_a_full_batch_to_the_idle_one() -> None:
    # Two workers, one held by a long batch: the other is the only one waiting, so it takes
    # everything in one batch instead of a share.
    engine = FirstBatchBlocks()
    scheduler = BatchScheduler(engine, batch_tokens=4096, wait_ms=0, max_queued=1000, workers=2)
    with ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(run_texts, scheduler, ["premier"], DEFAULTS)
        assert engine.started.wait(5)
        texts = [f"phrase {i}" for i in range(10)]
        assert run_texts(scheduler, texts, DEFAULTS).texts == [f"<{t}>" for t in texts]
        assert len(engine.batches) == 1  # the blocked batch has not been recorded yet
        engine.release.set()
        assert first.result(5).texts == ["<premier>"]
    scheduler.close()


def test_workers_outlive_rounds_where_another_worker_took_everything() -> None:
    # A worker that finds the queue emptied by another one while it gathered goes back to
    # waiting; it used to end its thread, leaving fewer workers after every small request.
    engine = RecordingEngine(window=64)
    scheduler = BatchScheduler(engine, batch_tokens=4096, wait_ms=5, max_queued=100, workers=3)
    for i in range(5):
        assert run_texts(scheduler, [f"phrase {i}"], DEFAULTS).texts == [f"<phrase {i}>"]
    time.sleep(0.05)  # past every worker's gathering wait
    assert all(thread.is_alive() for thread in scheduler._threads)
    scheduler.close()
    assert not any(thread.is_alive() for thread in scheduler._threads)


def test_batches_fill_in_arrival_order_so_the_first_paragraph_comes_first() -> None:
    # Longest-first over the whole queue would run the long sentences at the end of the
    # article first; a stream's first paragraph must be in the first batch.
    engine = RecordingEngine(window=64)
    scheduler = BatchScheduler(engine, batch_tokens=40, wait_ms=0, max_queued=1000)
    texts = ["court", "bref", *["mot " * 19 for _ in range(3)], "fin"]
    assert run_texts(scheduler, texts, DEFAULTS).texts == [f"<{t}>" for t in texts]
    scheduler.close()
    assert sorted(engine.batches[0]) == ["bref", "court"]
    for batch in engine.batches:
        sizes = engine.count_tokens(batch)
        assert len(batch) == 1 or len(batch) * max(sizes) <= 40
        assert sizes == sorted(sizes, reverse=True)


def test_an_older_request_is_served_before_a_newer_one() -> None:
    engine = FirstBatchBlocks()
    scheduler = BatchScheduler(engine, batch_tokens=6, wait_ms=0, max_queued=1000)
    with ThreadPoolExecutor(max_workers=3) as pool:
        blocker = pool.submit(run_texts, scheduler, ["premier"], DEFAULTS)
        assert engine.started.wait(5)
        older = pool.submit(run_texts, scheduler, ["a", "b", "c"], DEFAULTS)
        deadline = time.monotonic() + 5
        while scheduler.queued < 3 and time.monotonic() < deadline:
            time.sleep(0.005)
        newer = pool.submit(run_texts, scheduler, ["un mot plus long"], DEFAULTS)
        while scheduler.queued < 4 and time.monotonic() < deadline:
            time.sleep(0.005)
        engine.release.set()
        assert blocker.result(5).texts == ["<premier>"]
        assert older.result(5).texts == ["<a>", "<b>", "<c>"]
        assert newer.result(5).texts == ["<un mot plus long>"]
    scheduler.close()
    assert engine.batches[1] == ["a", "b", "c"], "longest-first would have run the newer first"


def test_submit_returns_at_once_and_the_ticket_waits_for_the_outputs() -> None:
    engine = BlockingEngine()
    scheduler = BatchScheduler(engine, batch_tokens=64, wait_ms=0, max_queued=100)
    ticket = scheduler.submit(engine.encode(["a b", "c"]), DEFAULTS)
    assert engine.started.wait(5)
    assert not ticket.done  # the engine holds the batch: submit did not wait for it
    engine.release.set()
    generated = ticket.wait()
    assert ticket.done
    assert generated.texts == ["<a b>", "<c>"]
    assert generated.input_tokens == 5
    assert scheduler.submit([], DEFAULTS).wait() == Generated([], 0, 0, ())
    scheduler.close()


def test_a_full_queue_refuses_the_submit_itself() -> None:
    engine = BlockingEngine()
    scheduler = BatchScheduler(engine, batch_tokens=8, wait_ms=0, max_queued=2)
    first = scheduler.submit(engine.encode(["a"]), DEFAULTS)
    assert engine.started.wait(5)
    second = scheduler.submit(engine.encode(["b", "c"]), DEFAULTS)
    with pytest.raises(OverloadedError):
        scheduler.submit(engine.encode(["d"]), DEFAULTS)
    engine.release.set()
    assert gather([first, second]).texts == ["<a>", "<b>", "<c>"]
    scheduler.close()


def test_a_failed_ticket_raises_from_wait() -> None:
    engine = PoisonEngine()
    scheduler = BatchScheduler(engine, batch_tokens=1000, wait_ms=0, max_queued=100)
    ticket = scheduler.submit(engine.encode(["fine", "poison here"]), DEFAULTS)
    with pytest.raises(InferenceFailedError):
        ticket.wait()
    with pytest.raises(InferenceFailedError):
        gather([scheduler.submit(engine.encode(["ok"]), DEFAULTS), ticket])
    scheduler.close()


def test_gathered_tickets_count_as_one_request_of_all_their_items() -> None:
    # Three tickets in one batch: each gets its outputs' tokens, summed, as one `run` of the
    # same items would report them.
    engine = BlockingEngine()
    scheduler = BatchScheduler(engine, batch_tokens=1000, wait_ms=50, max_queued=100)
    texts = ["one two", "three", "four five six"]
    tickets = [scheduler.submit(engine.encode([text]), DEFAULTS) for text in texts]
    engine.release.set()
    gathered = gather(tickets)
    alone = run_texts(scheduler, texts, DEFAULTS)
    assert gathered == alone
    assert len(engine.batches[0]) == 3  # one shared batch
    scheduler.close()


def test_each_caller_in_a_shared_batch_gets_its_own_outputs_token_count() -> None:
    # Seven tokens in 13 characters, two in 17: a share by length would give 4 and 5.
    engine = BlockingEngine()
    scheduler = BatchScheduler(engine, batch_tokens=1000, wait_ms=50, max_queued=100)
    words, word = (
        scheduler.submit(engine.encode(["a b c d e f"]), DEFAULTS),
        scheduler.submit(engine.encode(["extraordinarily"]), DEFAULTS),
    )
    engine.release.set()
    assert (words.wait().output_tokens, word.wait().output_tokens) == (7, 2)
    assert gather([words, word]).per_output == (7, 2)
    assert len(engine.batches[0]) == 2  # one shared batch
    scheduler.close()


def test_an_engine_result_must_count_each_output() -> None:
    with pytest.raises(ValueError, match="counted as"):
        Generated(["a", "b"], 4, 5, (5,))
    with pytest.raises(ValueError, match="counted as"):
        Generated(["a", "b"], 4, 5, (2, 2))


class SettingsEngine(ConcurrencyEngine):
    """Records the settings of every call (and takes a while per call, as a model does)."""

    def __init__(self) -> None:
        super().__init__(seconds=0.05)
        self.calls: list[tuple[tuple[str, ...], GenerationSettings]] = []

    @property
    def settings(self) -> list[GenerationSettings]:
        return [settings for _, settings in self.calls]

    def generate(self, inputs: Sequence[Encoded], settings: GenerationSettings) -> Generated:
        self.calls.append((tuple(item.text for item in inputs), settings))
        return super().generate(inputs, settings)


def test_a_batch_taken_at_low_load_is_decoded_in_sub_batches() -> None:
    # Six texts, all that waits: sub_batch is passed on; the outputs and their order are the
    # engine's as ever. Four texts (no more than sub_batch) run whole.
    engine = SettingsEngine()
    scheduler = BatchScheduler(engine, batch_tokens=100, wait_ms=20, max_queued=100, sub_batch=4)
    texts = [f"phrase {i}" for i in range(6)]
    assert run_texts(scheduler, texts, DEFAULTS).texts == [f"<{t}>" for t in texts]
    assert run_texts(scheduler, texts[:4], DEFAULTS).texts == [f"<{t}>" for t in texts[:4]]
    assert engine.settings == [replace(DEFAULTS, sub_batch=4), DEFAULTS]
    scheduler.close()


def test_a_full_batch_that_leaves_work_waiting_runs_whole() -> None:
    # Forty 3-token texts, a 100-token budget: 33 fill the first batch and leave 7 waiting
    # (load: it runs whole); the 7 are the last of it (split).
    engine = SettingsEngine()
    scheduler = BatchScheduler(engine, batch_tokens=100, wait_ms=20, max_queued=100, sub_batch=4)
    texts = [f"phrase {i}" for i in range(40)]
    assert run_texts(scheduler, texts, DEFAULTS).texts == [f"<{t}>" for t in texts]
    assert [len(batch) for batch in engine.batches] == [33, 7]
    assert engine.settings == [DEFAULTS, replace(DEFAULTS, sub_batch=4)]
    scheduler.close()


def test_each_share_among_idle_workers_is_decoded_in_sub_batches() -> None:
    # Two idle workers share twelve texts: the first share leaves the other waiting, and is
    # split all the same (a share is low load); so is the rest.
    engine = SettingsEngine()
    scheduler = BatchScheduler(
        engine, batch_tokens=4096, wait_ms=20, max_queued=100, workers=2, sub_batch=4
    )
    texts = [f"phrase {i}" for i in range(12)]
    assert run_texts(scheduler, texts, DEFAULTS).texts == [f"<{t}>" for t in texts]
    assert sorted(len(batch) for batch in engine.batches) == [6, 6]
    assert engine.settings == [replace(DEFAULTS, sub_batch=4)] * 2
    scheduler.close()


def test_a_lead_runs_whole_and_the_rest_in_sub_batches() -> None:
    # A stream's lead is there to land first: it is never split; the shares after it are.
    engine = SettingsEngine()
    scheduler = BatchScheduler(
        engine, batch_tokens=4096, wait_ms=20, max_queued=100, workers=2, sub_batch=2
    )
    texts = [f"phrase {i}" for i in range(12)]
    generated = scheduler.run(engine.encode(texts), DEFAULTS, lead=3)
    assert generated.texts == [f"<{t}>" for t in texts]
    scheduler.close()
    by_texts = {frozenset(texts): settings for texts, settings in engine.calls}
    assert by_texts[frozenset(texts[:3])] == DEFAULTS
    rest = [(batch, settings) for batch, settings in engine.calls if batch[0] not in texts[:3]]
    assert sum(len(batch) for batch, _ in rest) == 9
    # Batches of more texts than sub_batch are split; one of two or fewer runs as it is.
    for batch, settings in rest:
        assert settings == (replace(DEFAULTS, sub_batch=2) if len(batch) > 2 else DEFAULTS)


def test_without_sub_batch_every_batch_runs_whole() -> None:
    engine = SettingsEngine()
    scheduler = BatchScheduler(engine, batch_tokens=100, wait_ms=20, max_queued=100)
    run_texts(scheduler, [f"phrase {i}" for i in range(6)], DEFAULTS)
    assert engine.settings == [DEFAULTS]
    scheduler.close()


class SizedEngine(ConcurrencyEngine):
    """Takes `seconds` per text in the batch, as a model call grows with its batch."""

    def generate(self, inputs: Sequence[Encoded], settings: GenerationSettings) -> Generated:
        time.sleep(self.seconds * (len(inputs) - 1))
        return super().generate(inputs, settings)


def test_a_lead_runs_first_alone_and_the_rest_is_shared_as_if_its_worker_were_idle() -> None:
    # A stream's head and first paragraph (the lead) land in the time of a small batch: one
    # worker runs them alone while the other starts on half the rest; the lead's worker then
    # takes the other half.
    engine = SizedEngine(seconds=0.1)  # per text: the lead 0.2 s, a half 0.5 s
    scheduler = BatchScheduler(engine, batch_tokens=4096, wait_ms=20, max_queued=1000, workers=2)
    texts = [f"phrase {i}" for i in range(12)]
    landed: list[tuple[float, int]] = []
    started = time.monotonic()

    def heard(index: int, _text: str) -> None:
        landed.append((time.monotonic() - started, index))

    generated = scheduler.run(engine.encode(texts), DEFAULTS, on_output=heard, lead=2)
    scheduler.close()
    assert generated.texts == [f"<{t}>" for t in texts]
    assert engine.batches[0] == ["phrase 0", "phrase 1"]  # 0.2 s: it ends first
    # The rest in halves, not all of it on the worker that was idle.
    assert sorted(map(len, engine.batches[1:])) == [5, 5]
    lead_landed = max(t for t, index in landed if index < 2)
    assert lead_landed < 0.2 + 0.2  # a small batch's time, not half the article's (0.5 s)
    assert max(t for t, _ in landed) < 0.7 + 0.3  # the lead, then a half, beside a half


def test_a_lead_is_ignored_by_a_single_worker_and_when_it_is_everything() -> None:
    engine = ConcurrencyEngine(seconds=0.01)
    scheduler = BatchScheduler(engine, batch_tokens=4096, wait_ms=20, max_queued=1000)
    texts = [f"phrase {i}" for i in range(6)]
    assert scheduler.run(engine.encode(texts), DEFAULTS, lead=2).texts == [f"<{t}>" for t in texts]
    scheduler.close()
    assert len(engine.batches) == 1  # a small batch first would only cost here
    two = ConcurrencyEngine(seconds=0.01)
    scheduler = BatchScheduler(two, batch_tokens=4096, wait_ms=20, max_queued=1000, workers=2)
    assert scheduler.run(two.encode(texts), DEFAULTS, lead=6).texts == [f"<{t}>" for t in texts]
    scheduler.close()
    assert sorted(map(len, two.batches)) == [3, 3]  # shared out as without a lead


def test_a_lead_taken_in_an_older_requests_batch_does_not_hold_the_request_up() -> None:
    # A batch that fills up from an older request takes the newer one's lead texts too (one
    # idle worker: no lead batch); the rest of the newer request still runs and lands.
    engine = FirstBatchBlocks()
    scheduler = BatchScheduler(engine, batch_tokens=12, wait_ms=0, max_queued=1000, workers=2)
    with ThreadPoolExecutor(max_workers=3) as pool:
        blocked = pool.submit(run_texts, scheduler, ["premier"], DEFAULTS)
        assert engine.started.wait(5)  # one worker held: the other is the only idle one
        older = scheduler.submit(engine.encode(["a", "b"]), DEFAULTS)
        newer = scheduler.submit(engine.encode([f"n{i}" for i in range(8)]), DEFAULTS, lead=2)
        assert [f"<{t}>" for t in ["a", "b"]] == older.wait().texts
        assert newer.wait().texts == [f"<n{i}>" for i in range(8)]
        engine.release.set()
        assert blocked.result(5).texts == ["<premier>"]
    scheduler.close()


class SharedCoresEngine(ConcurrencyEngine):
    """A model whose calls run on `intra` threads each, counting calls across every engine
    that shares `counter` (the two models of one service)."""

    def __init__(self, counter: ConcurrencyEngine, intra: int = 1, task: str = "translation"):
        super().__init__(seconds=0.1)
        self.info = replace(self.info, task=task, threads=ThreadLayout(inter=2, intra=intra))  # type: ignore[arg-type]
        self.counter = counter

    def generate(self, inputs: Sequence[Encoded], settings: GenerationSettings) -> Generated:
        with self.counter._count:
            self.counter.active += 1
            self.counter.most_active = max(self.counter.most_active, self.counter.active)
        try:
            return super().generate(inputs, settings)
        finally:
            with self.counter._count:
                self.counter.active -= 1


def _two_models(budget: ThreadBudget | None) -> tuple[ConcurrencyEngine, list[BatchScheduler]]:
    counter = ConcurrencyEngine()
    schedulers = [
        BatchScheduler(
            SharedCoresEngine(counter, task=task),
            batch_tokens=4,
            wait_ms=1,
            max_queued=1000,
            workers=2,
            budget=budget,
        )
        for task in ("translation", "summary")
    ]
    return counter, schedulers


def _busy(schedulers: list[BatchScheduler]) -> None:
    """Eight one-text requests on each model at once, every output checked."""
    texts = [f"mot{i}" for i in range(8)]
    with ThreadPoolExecutor(16) as pool:
        futures = [
            pool.submit(scheduler.run, scheduler.engine.encode([text]), DEFAULTS)
            for scheduler in schedulers
            for text in texts
        ]
        outputs = [future.result().texts for future in futures]
    assert outputs == [[f"<{text}>"] for _ in schedulers for text in texts]
    for scheduler in schedulers:
        scheduler.close()


def test_a_shared_thread_budget_keeps_both_models_calls_within_the_cores() -> None:
    # Two models with two one-thread workers each: four calls would run at once on two cores;
    # with a budget of two threads, two run and the others wait with their batches.
    budget = ThreadBudget(2)
    counter, schedulers = _two_models(budget)
    _busy(schedulers)
    assert counter.most_active == 2
    assert budget.waits > 0
    assert budget._free == 2  # every thread given back


def test_without_a_budget_every_worker_of_both_models_runs_at_once() -> None:
    counter, schedulers = _two_models(None)
    _busy(schedulers)
    assert counter.most_active == 4


def test_a_call_wider_than_the_budget_takes_all_of_it_and_still_runs() -> None:
    budget = ThreadBudget(2)
    counter = ConcurrencyEngine()
    scheduler = BatchScheduler(
        SharedCoresEngine(counter, intra=8),
        batch_tokens=4,
        wait_ms=1,
        max_queued=100,
        workers=2,
        budget=budget,
    )
    _busy([scheduler])
    assert counter.most_active == 1  # each call held the whole budget


def test_the_budget_serves_waiting_calls_first_come_first_served() -> None:
    # A call that needs both threads, queued while one is held, is not overtaken by a later
    # one-thread call that would fit: first come, first served.
    budget = ThreadBudget(2)
    order: list[str] = []
    holding = threading.Event()
    release = threading.Event()

    def hold(name: str, threads: int, wait: threading.Event | None = None) -> None:
        with budget.hold(threads):
            order.append(name)
            if wait is not None:
                holding.set()
                wait.wait(5)

    first = threading.Thread(target=hold, args=("first", 1, release))
    first.start()
    assert holding.wait(5)
    wide = threading.Thread(target=hold, args=("wide", 2))
    wide.start()
    while budget.waits < 1:
        time.sleep(0.005)
    narrow = threading.Thread(target=hold, args=("narrow", 1))
    narrow.start()
    while budget.waits < 2:
        time.sleep(0.005)
    release.set()
    for thread in (first, wide, narrow):
        thread.join(5)
    assert order == ["first", "wide", "narrow"]


def test_a_budget_needs_a_thread() -> None:
    with pytest.raises(ValueError, match="at least one thread"):
        ThreadBudget(0)


def test_a_batch_that_waited_for_threads_takes_in_what_arrived_meanwhile() -> None:
    # The translation model holds the whole budget; a summary text arrives and its worker
    # takes it, then waits. Three more arrive meanwhile: once the threads are free, they join
    # the waiting batch (within its token budget) instead of running one call each.
    budget = ThreadBudget(1)
    holder = FirstBatchBlocks()
    holder.info = replace(holder.info, threads=ThreadLayout(inter=1, intra=1))
    summary = SharedCoresEngine(ConcurrencyEngine(), task="summary")
    summary.seconds = 0.0
    translating = BatchScheduler(holder, batch_tokens=64, wait_ms=1, max_queued=100, budget=budget)
    summarizing = BatchScheduler(
        summary, batch_tokens=8, wait_ms=1, max_queued=100, workers=1, budget=budget
    )
    held = translating.submit(holder.encode(["premier"]), DEFAULTS)
    assert holder.started.wait(5)
    first = summarizing.submit(summary.encode(["un"]), DEFAULTS)
    while budget.waits < 1:  # the summary worker took "un" and waits for the thread
        time.sleep(0.005)
    later = [summarizing.submit(summary.encode([t]), DEFAULTS) for t in ("deux", "trois", "quatre")]
    holder.release.set()
    assert gather([first, *later]).texts == ["<un>", "<deux>", "<trois>", "<quatre>"]
    assert held.wait().texts == ["<premier>"]
    # Each text is 2 tokens: a budget of 8 holds all four in the batch that waited.
    assert sorted(map(sorted, summary.batches)) == [["deux", "quatre", "trois", "un"]]
    translating.close()
    summarizing.close()
