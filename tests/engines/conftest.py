"""Fixtures of the engine tests: the tiny models converted to CTranslate2 once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import _load_script


@pytest.fixture(scope="session")
def ct2_models(test_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both tiny models converted in float32 (the weights transformers runs), in-process."""
    converter = _load_script("convert_models")
    out = tmp_path_factory.mktemp("ct2")
    for task in ("translation", "summary"):
        converter.convert(test_models / task, out / task, "float32")
    return out
