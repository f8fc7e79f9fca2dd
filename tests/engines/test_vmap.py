"""The vocabulary map builder: rules from token pairs, the file CTranslate2 reads, and on the
tiny Marian (int8), the memorized pairs translate the same with `use_vmap` as without."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.engines.vmap import (
    VMAP_FILE,
    VocabularyMap,
    build_vmap,
    model_translations,
    model_vocabularies,
)
from tests.conftest import DATA, _load_script

PAIRS = [
    (["▁le", "▁chat", "</s>"], ["▁the", "▁cat", "</s>"]),
    (["▁le", "▁chien", "</s>"], ["▁the", "▁dog", "</s>"]),
    (["▁Paris", "</s>"], ["▁Paris", "</s>"]),
]
SOURCE = ["</s>", "▁le", "▁chat", "▁chien", "▁Paris", "<unused 7>"]
TARGET = ["</s>", "▁the", "▁cat", "▁dog", "▁Paris", "<unused 7>"]


def test_always_set_covers_the_most_frequent_output_tokens() -> None:
    vmap = build_vmap(PAIRS, SOURCE, TARGET, coverage=0.5)
    # 8 output tokens: </s> (3) and ▁the (2) make 5/8 >= 0.5.
    assert vmap.always == ["</s>", "▁the"]


def test_rules_hold_identity_and_cooccurring_tokens_beyond_the_always_set() -> None:
    vmap = build_vmap(PAIRS, SOURCE, TARGET, coverage=0.5, per_token=8)
    assert vmap.rules["▁Paris"] == ["▁Paris"]  # identity first, then what co-occurs
    assert vmap.rules["▁chat"] == ["▁cat"]
    assert set(vmap.rules["▁le"]) == {"▁cat", "▁dog"}
    assert "<unused 7>" not in vmap.rules  # a space cannot be written in a rule


def test_per_token_bounds_each_rule() -> None:
    vmap = build_vmap(PAIRS, SOURCE, TARGET, coverage=0.0, per_token=1)
    assert all(len(targets) <= 2 for targets in vmap.rules.values())  # identity + 1


def test_file_round_trip_and_batch_candidates(tmp_path: Path) -> None:
    vmap = build_vmap(PAIRS, SOURCE, TARGET, coverage=0.5)
    path = vmap.write(tmp_path)
    assert path.name == VMAP_FILE
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first == "\t</s> ▁the"  # the empty source: candidates of every batch
    again = VocabularyMap.read(tmp_path)
    assert again == vmap
    assert again.candidates([["▁chat"]]) == {"</s>", "▁the", "▁cat"}


@pytest.fixture(scope="module")
def tiny_ct2(test_models: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("vmap") / "translation"
    _load_script("convert_models").convert(test_models / "translation", out, "int8")
    return out


def test_memorized_pairs_translate_the_same_with_the_map(
    tiny_ct2: Path, memorized_pairs: list[tuple[str, str]]
) -> None:
    import ctranslate2  # type: ignore[import-untyped]

    from service.engines.ct2 import load_tokenizer

    corpus = (DATA / "flores_devtest_400.fr").read_text(encoding="utf-8").splitlines()
    source_vocabulary, target_vocabulary = model_vocabularies(tiny_ct2)
    vmap = build_vmap(model_translations(tiny_ct2, corpus), source_vocabulary, target_vocabulary)
    vmap.write(tiny_ct2)
    translator = ctranslate2.Translator(str(tiny_ct2), device="cpu", compute_type="int8")
    tokenizer = load_tokenizer(tiny_ct2)
    for french, english in memorized_pairs:  # one at a time: the fewest candidates
        plain = model_translations(tiny_ct2, [french], translator=translator)[0][1]
        mapped = model_translations(tiny_ct2, [french], translator=translator, use_vmap=True)
        assert mapped[0][1] == plain
        ids = tokenizer.convert_tokens_to_ids(plain)
        assert tokenizer.decode(ids, skip_special_tokens=True).strip() == english
    # The map is much smaller than the vocabulary the output layer scores without it.
    sizes = [len(vmap.candidates([tokenizer.tokenize(f)])) for f, _ in memorized_pairs]
    assert max(sizes) < len(target_vocabulary) / 2
