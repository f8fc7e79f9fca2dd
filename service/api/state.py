"""What the running API holds: settings, the pipeline once loaded, and why loading failed."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from service.config import Settings
from service.device import DeviceUnavailableError
from service.engines.loader import ModelLoadError
from service.errors import ModelsNotReadyError
from service.pipeline import Pipeline, PipelineFactory
from service.text.language import load_detector

log = logging.getLogger(__name__)


class ServiceState:
    """Models load in a background thread so /health answers at once and /ready tells the truth."""

    def __init__(
        self,
        settings: Settings,
        pipeline: Pipeline | None,
        factory: PipelineFactory,
        on_load_failure: Callable[[str], None] | None,
    ) -> None:
        self.settings = settings
        self.pipeline = pipeline
        self.load_error: str | None = None
        self._factory = factory
        self._on_load_failure = on_load_failure
        self._thread: threading.Thread | None = None

    def start_loading(self) -> None:
        """Load the models in the background unless a pipeline was handed in."""
        if self.pipeline is not None or self._thread is not None:
            return
        self._thread = threading.Thread(target=self._load, name="model-loader", daemon=True)
        self._thread.start()

    def wait_loaded(self, timeout: float | None = None) -> None:
        """Block until loading has finished, well or badly (tests and the CLI use this)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def _load(self) -> None:
        try:
            pipeline = self._factory(self.settings)
            pipeline.check()
        except (ModelLoadError, DeviceUnavailableError) as exc:
            self._fail(str(exc))
        except Exception as exc:  # report anything else the same way, with its traceback logged
            log.exception("model loading failed")
            self._fail(f"Model loading failed unexpectedly ({type(exc).__name__}: {exc}).")
        else:
            self.pipeline = pipeline
            log.info("models ready on %s", pipeline.device.label)
            # Ready already: the language detector loads next, so that the first article does
            # not wait a second for it (one that comes sooner waits for it as before).
            try:
                load_detector()
            except Exception:  # the first article will try again, and report it
                log.exception("the language detector failed to load")

    def _fail(self, message: str) -> None:
        self.load_error = message
        log.error("%s", message)
        if self._on_load_failure is not None:
            self._on_load_failure(message)

    def require_pipeline(self) -> Pipeline:
        """The loaded pipeline, or a 503 that says whether models are loading or failed."""
        if self.pipeline is not None:
            return self.pipeline
        if self.load_error is not None:
            raise ModelsNotReadyError(f"The models failed to load: {self.load_error}")
        raise ModelsNotReadyError("The models are still loading; retry in a few seconds.")
