"""The one logging setup of the service, CLI and server alike."""

from __future__ import annotations

import logging
import warnings

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(level: str = "info") -> None:
    """Plain one-line records on stderr; quiets the libraries' chatter below warnings."""
    logging.basicConfig(level=level.upper(), format=FORMAT, force=True)
    for noisy in ("transformers", "huggingface_hub", "httpx", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    # transformers warns about generation flags of older configs on every call; not actionable.
    warnings.filterwarnings("ignore", module="transformers")
