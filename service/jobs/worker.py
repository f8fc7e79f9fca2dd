"""`python -m service worker`: a process that only runs jobs, for several workers on one queue.

It loads the models, starts the job workers (DEPECHE_JOBS_WORKERS, or --workers) on the
configured queue, and stops on SIGTERM or SIGINT: it takes no new job, gives the running one
up to DEPECHE_SHUTDOWN_GRACE_S to finish, and otherwise puts it back in the queue for the next
worker.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from types import FrameType

from service.config import Settings
from service.device import DeviceUnavailableError
from service.engines.loader import ModelLoadError
from service.jobs.system import JobSystem
from service.pipeline import Pipeline

log = logging.getLogger(__name__)

EXIT_LOAD_FAILED = 2


def run_worker(settings: Settings, workers: int | None = None) -> int:
    """Run jobs until told to stop; 2 if the models or the job store cannot be loaded."""
    count = settings.jobs_workers if workers is None else workers
    count = max(count, 1)
    try:
        pipeline = Pipeline.load(settings)
    except (ModelLoadError, DeviceUnavailableError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_LOAD_FAILED
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s; stopping", signal.Signals(signum).name)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, on_signal)
    jobs = JobSystem(settings, lambda: pipeline)
    jobs.start(workers=count)
    if jobs.error is not None:
        print(f"error: {jobs.error}", file=sys.stderr)
        pipeline.close()
        return EXIT_LOAD_FAILED
    log.info("worker running %d job thread(s) on the %s queue", count, settings.jobs_backend)
    stop.wait()
    jobs.stop()
    pipeline.close()
    return 0
