"""Placeholders: what the model is given, how the English goes back, and the report that never
calls a term applied when its English is not there."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.glossary.matching import TermIndex
from service.glossary.protect import count_in, protect_sentence, report, restore
from service.glossary.terms import request_terms

TERMS = TermIndex(
    request_terms(
        (("Conseil de sécurité nationale", "National Security Council"), ("ONU", "UN")),
        ("Kim Jong-Un",),
    )
)


def test_each_term_becomes_a_numbered_placeholder() -> None:
    protected = protect_sentence(
        "Le Conseil de sécurité nationale a reçu Kim Jong-Un, puis https://a.fr/x.", TERMS
    )
    assert protected.text == "Le 801 a reçu 802, puis 803."
    assert [(o.term.kind, o.text, o.placeholder) for o in protected.occurrences] == [
        ("glossary", "Conseil de sécurité nationale", "801"),
        ("do_not_translate", "Kim Jong-Un", "802"),
        ("protected", "https://a.fr/x", "803"),
    ]
    assert protected.protected


def test_numbers_of_the_sentence_are_never_placeholders() -> None:
    protected = protect_sentence("En 801, l'ONU comptait 802 membres.", TERMS)
    assert protected.text == "En 801, le 803 comptait 802 membres."


def test_elision_before_a_term_is_undone() -> None:
    assert protect_sentence("Selon l’ONU et d'ONU, qu’ONU.", TERMS).text == (
        "Selon le 801 et de 802, que 803."
    )
    assert protect_sentence("L'ONU.", TERMS).text == "Le 801."


def test_a_sentence_without_terms_goes_through_unchanged() -> None:
    protected = protect_sentence("Il pleut sur Paris.", TERMS)
    assert protected.text == "Il pleut sur Paris."
    assert not protected.protected
    assert protected.occurrences == ()


def test_the_english_goes_back_in_place_of_each_placeholder() -> None:
    protected = protect_sentence("Kim Jong-Un a écrit à l'ONU.", TERMS)
    assert restore(protected, "801 wrote to the 802.") == "Kim Jong-Un wrote to the UN."


@pytest.mark.parametrize(
    "output",
    [
        "He wrote to the UN.",  # dropped
        "801 wrote to the 802 and 802.",  # repeated
        "801 wrote to the 8020.",  # changed into another number
        "801 wrote to the 1,802.",  # part of a thousands group
        "801 wrote to the 802.5 of them.",  # part of a decimal
    ],
)
def test_a_placeholder_lost_or_changed_is_detected(output: str) -> None:
    protected = protect_sentence("Kim Jong-Un a écrit à l'ONU.", TERMS)
    assert restore(protected, output) is None


def test_a_target_that_holds_a_placeholder_number_is_not_mistaken_for_one() -> None:
    index = TermIndex(request_terms((("Escadron", "802 Squadron"), ("ONU", "UN")), ()))
    protected = protect_sentence("Escadron et ONU.", index)
    assert restore(protected, "801 and 802.") == "802 Squadron and UN."


def test_counting_is_exact_and_on_word_boundaries() -> None:
    assert count_in("The UN and UNESCO.", "UN") == 1
    assert count_in("The un.", "UN") == 0  # case counts: the glossary's English as written
    assert count_in("Lire https://a.fr/x.", "https://a.fr/x") == 1
    assert count_in("Café", "Cafe\u0301") == 1  # NFC on both sides


def test_the_report_says_applied_only_where_the_english_holds_the_target() -> None:
    first = protect_sentence("L'ONU a parlé.", TERMS)
    second = protect_sentence("L'ONU et l'ONU se taisent.", TERMS)
    third = protect_sentence("Kim Jong-Un répond.", TERMS)
    uses, warnings = report(
        [first, second, third],
        ["The UN spoke.", "The UN and the United Nations are silent.", "Kim Jong-Un answers."],
    )
    assert [(u.source, u.target, u.kind, u.sentences, u.applied) for u in uses] == [
        ("ONU", "UN", "glossary", [0, 1], False),  # sentence 1 holds it twice, its English once
        ("Kim Jong-Un", "Kim Jong-Un", "do_not_translate", [2], True),
    ]
    assert warnings == [
        'glossary: "ONU" is not translated as "UN" in sentence(s) 1: the translation model '
        "did not keep it"
    ]


def test_do_not_translate_expects_the_article_spelling() -> None:
    protected = protect_sentence("KIM JONG-UN répond.", TERMS)
    (use,), _ = report([protected], ["KIM JONG-UN answers."])
    assert (use.source, use.target, use.applied) == ("Kim Jong-Un", "Kim Jong-Un", True)
    (use,), warnings = report([protected], ["Kim Jong-Un answers."])
    assert not use.applied
    assert warnings == [
        'do_not_translate term "Kim Jong-Un" did not come through unchanged in sentence(s) 0'
    ]


def test_warnings_are_capped() -> None:
    index = TermIndex(request_terms(tuple((f"mot{i}", f"word{i}") for i in range(15)), ()))
    sentences = [protect_sentence(" ".join(f"mot{i}" for i in range(15)) + ".", index)]
    uses, warnings = report(sentences, ["nothing."])
    assert len(uses) == 15
    assert not any(u.applied for u in uses)
    assert len(warnings) == 11
    assert warnings[-1] == "5 more term(s) not applied (meta.glossary)"


def test_the_placeholder_survives_the_marian_tokenizers(test_models: Path) -> None:
    """Through the tiny Marian's SentencePiece models (trained like the real one's), source
    and target side: no <unk>, and decoding gives the placeholder back."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(test_models / "translation")
    protected = protect_sentence("Selon l'ONU, Kim Jong-Un viendra le 3 mai.", TERMS)
    for ids in (
        tokenizer(protected.text)["input_ids"],
        tokenizer(text_target="According to the 801, 802 will come on 3 May.")["input_ids"],
    ):
        assert tokenizer.unk_token_id not in ids
        decoded = tokenizer.decode(ids, skip_special_tokens=True)
        assert "801" in decoded
        assert "802" in decoded
