"""The CLI's text output: each key point's flags in plain words, then the translation checks."""

from __future__ import annotations

import io

import pytest

from service.api.examples import SUMMARIZE_RESULT, TRANSLATE_RESULT
from service.cli import _print_text
from service.grounding.policy import ground_summary
from service.results import TranslationCheck

CHECKS = [
    TranslationCheck(sentence=2, value="1.5%", problem="missing"),
    TranslationCheck(sentence=2, value="18", problem="added"),
]


def test_summarize_prints_flags_sources_and_checks() -> None:
    sentences = SUMMARIZE_RESULT.translation.sentences
    points = [*SUMMARIZE_RESULT.key_points[:2], "The three countries are accused of negotiating."]
    grounded = ground_summary(points, sentences, "replace")
    result = SUMMARIZE_RESULT.model_copy(
        update={
            "key_points": grounded.key_points,
            "grounding": grounded.grounding,
            "translation_checks": CHECKS,
        }
    )
    out = io.StringIO()
    _print_text(result, out)
    text, translation = out.getvalue().split("\nTranslation:\n")
    assert text.splitlines() == [
        "Key points:",
        f"- {points[0]}",
        "  from sentence 1 (100%), 0 (67%)",
        f"- {points[1]}",
        "  from sentence 2 (75%)",
        f"- {sentences[2].text}",
        f'  ! replaced by sentence 2; the point was: "{points[2]}"',
        "  from sentence 2 (100%)",
        "",
        "Translation checks:",
        '- sentence 2: number "1.5%" is in the French but not in the English',
        '- sentence 2: number "18" is in the English but not in the French',
    ]
    assert translation == SUMMARIZE_RESULT.translation.text + "\n"


def test_flagged_points_and_points_without_source() -> None:
    sentences = SUMMARIZE_RESULT.translation.sentences
    points = ["The three countries are accused of negotiating.", "Bananas are yellow."]
    grounded = ground_summary(points, sentences, "flag")
    result = SUMMARIZE_RESULT.model_copy(
        update={"key_points": grounded.key_points, "grounding": grounded.grounding}
    )
    out = io.StringIO()
    _print_text(result, out)
    assert out.getvalue().startswith(
        "Key points:\n"
        f"- {points[0]}\n"
        '  ! unsupported number "3" (not in the article)\n'
        "  from sentence 2 (75%)\n"
        f"- {points[1]}\n"
        "  (no sentence of the article shares its words)\n"
        "\nTranslation:\n"
    )


def test_translate_keeps_stdout_for_the_english(capsys: pytest.CaptureFixture[str]) -> None:
    result = TRANSLATE_RESULT.model_copy(update={"translation_checks": CHECKS})
    out = io.StringIO()
    _print_text(result, out)
    assert out.getvalue() == TRANSLATE_RESULT.translation.text + "\n"
    assert capsys.readouterr().err.splitlines() == [
        'check: sentence 2: number "1.5%" is in the French but not in the English',
        'check: sentence 2: number "18" is in the English but not in the French',
    ]
