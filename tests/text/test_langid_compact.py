"""The sparse automaton gives py3langid's own states, features and scores, in less memory."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier
from py3langid.modelio import load_model

from service.text.langid_compact import Automaton, FeatureTable, load_compact
from tests.conftest import DATA


@pytest.fixture(scope="module")
def dense() -> LanguageIdentifier:
    return LanguageIdentifier.from_model_file(MODEL_DIR / MODEL_FILE, norm_probs=True)


@pytest.fixture(scope="module")
def compact() -> LanguageIdentifier:
    return load_compact()


def _texts() -> list[str]:
    lines = [
        line
        for name in ("flores_devtest_400.fr", "flores_devtest_400.en")
        for line in (DATA / name).read_text(encoding="utf-8").splitlines()
    ]
    articles = [
        json.loads(line) for line in (DATA / "orangesum_3.jsonl").read_text("utf-8").splitlines()
    ]
    texts = lines + [f"{a['title']} {a['text']}" for a in articles]
    rng = random.Random(0)
    # Text no model was built for: other scripts, digits, punctuation runs, raw bytes.
    texts += ["Das ist gut.", "Это хорошо.", "これは良いです。", "1234 5678 !!! ???", ""]
    texts += [bytes(rng.randrange(256) for _ in range(300)).decode("latin-1") for _ in range(20)]
    return texts


def test_every_transition_of_py3langid_automaton_is_rebuilt_exactly() -> None:
    _, _, _, nextmove, row, output = load_model(MODEL_DIR / MODEL_FILE)
    automaton = Automaton(nextmove, row, output)
    automaton.verify(nextmove, row)  # all 104,583 states x 256 bytes, or it raises
    rows = np.frombuffer(nextmove, dtype=np.uint32).reshape(-1, 256)
    row_of = np.frombuffer(row, dtype=np.uint16 if row.itemsize == 2 else np.uint32)
    rng = random.Random(1)
    for _ in range(2000):  # and the walk itself, one step at a time
        state, byte = rng.randrange(len(row_of)), rng.randrange(256)
        assert automaton.step(state, byte) == rows[row_of[state], byte]


def test_a_changed_transition_is_caught() -> None:
    _, _, _, nextmove, row, output = load_model(MODEL_DIR / MODEL_FILE)
    automaton = Automaton(nextmove, row, output)
    nextmove[12345] = (nextmove[12345] + 1) % len(row)
    with pytest.raises(ValueError, match="differs"):
        automaton.verify(nextmove, row)


def test_the_features_and_scores_are_py3langids(
    dense: LanguageIdentifier, compact: LanguageIdentifier
) -> None:
    from py3langid.langid import visit_counts

    for text in _texts():
        encoded = dense._encode(text)
        assert compact.automaton.counts(encoded) == visit_counts(
            dense.tk_nextmove, dense._rowbase, dense.tk_output, encoded
        )
        assert compact.classify(text) == dense.classify(text), text[:60]
        assert compact.rank(text) == dense.rank(text)


def test_it_holds_a_fraction_of_the_dense_automaton() -> None:
    _, _, _, nextmove, row, output = load_model(MODEL_DIR / MODEL_FILE)
    automaton = Automaton(nextmove, row, output)
    sparse = (
        sum(
            len(part) * (part.itemsize if hasattr(part, "itemsize") else 1)
            for part in (automaton.start, automaton.labels, automaton.child, automaton.fail)
        )
        + len(automaton.output) * automaton.output.itemsize
    )
    dense_bytes = len(nextmove) * nextmove.itemsize + len(row) * row.itemsize
    assert sparse < dense_bytes / 10


def test_the_feature_table_gives_py3langids_rows_bit_for_bit() -> None:
    dense = np.asarray(load_model(MODEL_DIR / MODEL_FILE)[0])
    table = FeatureTable(dense)
    every = table[np.arange(dense.shape[0])]
    assert every.dtype == dense.dtype
    assert np.array_equal(every.view(np.uint16), dense.view(np.uint16))
    rng = np.random.default_rng(2)
    picked = rng.integers(0, dense.shape[0], size=500)  # repeats and any order, as scoring asks
    assert np.array_equal(table[picked].view(np.uint16), dense[picked].view(np.uint16))
    assert table[np.array([], dtype=np.intp)].shape == (0, dense.shape[1])
    assert table.nbytes < dense.nbytes / 2.5


def test_a_small_table_with_its_own_common_values() -> None:
    dense = np.array(
        [[1.5, -2.0, 0.0], [1.5, -3.0, 0.0], [7.0, -2.0, -0.0], [1.5, -2.0, 0.0]],
        dtype=np.float16,
    )
    table = FeatureTable(dense)
    assert table.common.tolist() == [1.5, -2.0, 0.0]
    # -0.0 equals 0.0 as a number but not as bits: it is kept as an entry of its own.
    assert np.array_equal(
        table[np.array([2, 1, 2])].view(np.uint16), dense[[2, 1, 2]].view(np.uint16)
    )
    assert table.values.tolist() == [-3.0, 7.0, -0.0]
