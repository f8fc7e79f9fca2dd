"""The runtime tokenizers of converted folders (service.engines.codec) against transformers.

The converter writes `runtime_tokenizer.json` for both tiny models; read back without
transformers, each must give transformers' ids, tokens and decoded text: on real FLORES
sentences in both languages, on the converter's probes, and on generated text that mixes
special tokens, language codes, odd spaces and letters no vocabulary holds.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.engines.codec import (
    BACKEND,
    RECORD,
    MarianCodec,
    TokenizersCodec,
    TransformersCodec,
    load_codec,
    mismatch,
    write_record,
)
from service.engines.convert import CODEC_PROBES
from service.engines.ct2 import load_tokenizer
from tests.conftest import DATA

KINDS = {"translation": MarianCodec, "summary": TokenizersCodec}

FLORES = [
    *(DATA / "flores_devtest_400.fr").read_text(encoding="utf-8").splitlines()[:150],
    *(DATA / "flores_devtest_400.en").read_text(encoding="utf-8").splitlines()[:150],
]

PIECES = st.one_of(
    st.text(max_size=16),
    st.sampled_from(
        ["</s>", "<unk>", "<pad>", "<s>", "<mask>", ">>fr<<", " ", "  ", "\n", "\t", "▁", "’", " ."]
    ),
)
TEXTS = st.lists(PIECES, max_size=6).map("".join)


@pytest.fixture(scope="module")
def tokenizers(ct2_models: Path) -> dict[str, Any]:
    return {task: load_tokenizer(ct2_models / task) for task in KINDS}


@pytest.mark.parametrize("task", list(KINDS))
def test_the_converter_writes_a_record_that_loads_without_transformers(
    ct2_models: Path, task: str
) -> None:
    folder = ct2_models / task
    record = json.loads((folder / RECORD).read_text(encoding="utf-8"))
    assert record["format"] == 1
    assert (folder / BACKEND).is_file() == (task == "summary")
    assert isinstance(load_codec(folder), KINDS[task])


@pytest.mark.parametrize("task", list(KINDS))
def test_codec_matches_transformers_on_real_sentences_and_probes(
    ct2_models: Path, tokenizers: dict[str, Any], task: str
) -> None:
    codec = load_codec(ct2_models / task)
    assert mismatch(codec, tokenizers[task], [*FLORES, *CODEC_PROBES]) is None
    assert codec.eos_token == tokenizers[task].eos_token
    assert codec.model_max_length == tokenizers[task].model_max_length


@pytest.mark.parametrize("task", list(KINDS))
def test_codec_matches_transformers_on_generated_text(
    ct2_models: Path, tokenizers: dict[str, Any], task: str
) -> None:
    codec = load_codec(ct2_models / task)

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(TEXTS, min_size=1, max_size=3))
    def check(batch: list[str]) -> None:
        assert mismatch(codec, tokenizers[task], batch) is None

    check()


def test_codec_decodes_ids_no_text_encodes_to(ct2_models: Path, tokenizers: dict[str, Any]) -> None:
    """What a model generates need not be what any text encodes to: every id, in any order."""
    for task in KINDS:
        tokenizer, codec = tokenizers[task], load_codec(ct2_models / task)
        size = len(tokenizer)
        sequences = [list(range(start, min(start + 40, size))) for start in range(0, size, 40)]
        sequences.append(list(reversed(range(size))))
        assert codec.decode(sequences) == tokenizer.batch_decode(
            sequences, skip_special_tokens=True
        )
        for ids in sequences:
            assert codec.ids_to_tokens(ids) == tokenizer.convert_ids_to_tokens(ids)


def test_a_folder_without_a_record_tokenizes_through_transformers(
    ct2_models: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "translation"
    shutil.copytree(ct2_models / "translation", folder)
    (folder / RECORD).unlink()
    codec = load_codec(folder)
    assert isinstance(codec, TransformersCodec)
    assert codec.encode(FLORES[:3]) == load_codec(ct2_models / "translation").encode(FLORES[:3])


def test_a_record_of_another_format_is_ignored(ct2_models: Path, tmp_path: Path) -> None:
    folder = tmp_path / "summary"
    shutil.copytree(ct2_models / "summary", folder)
    record = json.loads((folder / RECORD).read_text(encoding="utf-8"))
    (folder / RECORD).write_text(json.dumps({**record, "format": 99}), encoding="utf-8")
    assert isinstance(load_codec(folder), TransformersCodec)


def test_a_tokenizer_the_codec_cannot_reproduce_gets_no_record(
    ct2_models: Path, tmp_path: Path
) -> None:
    from transformers import AddedToken

    folder = tmp_path / "translation"
    shutil.copytree(ct2_models / "translation", folder)
    tokenizer = load_tokenizer(folder)
    tokenizer.add_tokens([AddedToken("<sep>", lstrip=True)])
    why = write_record(tokenizer, folder, CODEC_PROBES)
    assert why is not None
    assert "strips spaces" in why
    assert not (folder / RECORD).exists()
    assert isinstance(load_codec(folder), TransformersCodec)


def test_a_record_that_disagrees_with_transformers_is_not_written(
    ct2_models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "translation"
    shutil.copytree(ct2_models / "translation", folder)
    tokenizer = load_tokenizer(folder)
    monkeypatch.setattr(MarianCodec, "encode", lambda self, texts: [[0] for _ in texts])
    why = write_record(tokenizer, folder, CODEC_PROBES)
    assert why is not None
    assert "encodes to" in why
    assert not (folder / RECORD).exists()
