"""Key points checked against a hand-written article, translation checks, flag/drop/replace."""

from __future__ import annotations

import pytest

from service.grounding.checks import (
    ArticleIndex,
    check_pairs,
    check_translation,
    ground_points,
    translation_warning,
)
from service.grounding.policy import ground_summary
from service.grounding.sentences import Pair, sentence_pairs
from service.results import ArticleSentence, PointGrounding

ARTICLE = [
    (
        "title",
        "Poutine et Kim Jong-Un pourraient se rencontrer en Russie",
        "Putin and Kim Jong-Un could meet in Russia",
    ),
    (
        0,
        "La Maison Blanche a indiqué, ce lundi 4 septembre, que Vladimir Poutine souhaitait un échange.",
        "The White House said on Monday, September 4, that Vladimir Putin wanted an exchange.",
    ),
    (
        1,
        "Dmitri Peskov n’a pas confirmé la tenue d’une rencontre.",
        "Dmitry Peskov did not confirm that a meeting would take place.",
    ),
    (
        1,
        "Vladivostok accueillera le 8e Forum économique oriental du 10 au 13 septembre 2023.",
        "Vladivostok will host the 8th Eastern Economic Forum from 10 to 13 September 2023.",
    ),
    (
        2,
        "Le bureau a déclaré que dix-neuf des blessés étaient des policiers.",
        "The office said nineteen of the injured were police officers.",
    ),
    (
        2,
        "La hausse atteint 1,5 % et le plan 2,5 milliards d’euros.",
        "The rise reaches 1.5% and the plan €2.5 billion.",
    ),
    (
        3,
        "Selon la Corée du Sud, la livraison n’est pas anodine.",
        "According to South Korea, the delivery is not insignificant.",
    ),
    (
        3,
        "Moscou n’a rien dit sur la livraison d’armes.",
        "Moscow said something about the arms delivery.",
    ),  # the translation lost the negation
    (
        4,
        "Adrienne Watson a parlé aux journalistes.",
        "Adrian Watsen spoke to reporters.",
    ),  # the translation garbled the name
]


@pytest.fixture(scope="module")
def sentences() -> list[ArticleSentence]:
    return [
        ArticleSentence(id=i, paragraph=paragraph, source=fr, text=en)  # type: ignore[arg-type]
        for i, (paragraph, fr, en) in enumerate(ARTICLE)
    ]


@pytest.fixture(scope="module")
def index(sentences: list[ArticleSentence]) -> ArticleIndex:
    return ArticleIndex(sentences, french=True)


def checks(entry: PointGrounding) -> dict[tuple[str, str], tuple[bool, list[int]]]:
    return {(c.kind, c.value): (c.supported, c.found_in) for c in entry.checks}


def test_a_faithful_point(index: ArticleIndex) -> None:
    entry = index.ground("Nineteen of the injured were police officers, the office said.")
    assert entry.supported
    assert checks(entry) == {("number", "19"): (True, [4])}
    assert entry.sources[0].sentence == 4
    assert entry.sources[0].paragraph == 2
    assert entry.sources[0].score == 1.0


def test_a_wrong_number(index: ArticleIndex) -> None:
    entry = index.ground("The office said 18 of the injured were police officers.")
    assert not entry.supported
    (check,) = entry.checks
    assert (check.kind, check.value, check.supported, check.found_in) == ("number", "18", False, [])
    assert check.note == 'unsupported number "18" (not in the article)'
    assert entry.sources[0].sentence == 4  # it still says where it comes from


def test_numbers_in_other_forms(index: ArticleIndex) -> None:
    entry = index.ground("The rise reached 1.5 percent, and the plan 2.5 billion euros.")
    assert checks(entry) == {
        ("number", "1.5%"): (True, [5]),
        ("number", "€2.5 billion"): (True, [5]),
    }
    wrong = index.ground("The rise reached 1.5 points, and the plan $2.5 billion.")
    assert checks(wrong) == {
        ("number", "1.5"): (False, []),
        ("number", "$2.5 billion"): (False, []),
    }


def test_dates_and_names(index: ArticleIndex) -> None:
    entry = index.ground("The White House spoke on Monday, September 4, of Vladimir Putin.")
    assert entry.supported
    assert checks(entry) == {
        ("date", "Monday"): (True, [1]),
        ("date", "September 4"): (True, [1]),
        ("name", "White House"): (True, [1]),
        ("name", "Vladimir Putin"): (True, [1]),
    }
    wrong = index.ground("The White House spoke on Tuesday, September 5.")
    assert checks(wrong)[("date", "Tuesday")] == (False, [])
    assert checks(wrong)[("date", "September 5")] == (False, [])


def test_a_date_range_and_its_year(index: ArticleIndex) -> None:
    entry = index.ground(
        "Vladivostok hosts the 8th Eastern Economic Forum from September 10 to 13."
    )
    assert entry.supported
    assert checks(entry)[("date", "September 10")] == (True, [3])
    assert checks(entry)[("date", "September 13")] == (True, [3])
    assert checks(entry)[("number", "8th")] == (True, [3])
    other_year = index.ground("The forum opens on September 10, 2022.")
    (date,) = [c for c in other_year.checks if c.kind == "date"]
    assert (date.supported, date.note) == (
        False,
        'unsupported date "September 10, 2022" (not in the article)',
    )
    # September 4 has no year in the article, and the article never says 2022.
    no_year = index.ground("The White House spoke on September 4, 2022.")
    (date,) = [c for c in no_year.checks if c.kind == "date"]
    assert (date.supported, date.note) == (
        False,
        'unsupported date "September 4, 2022" (the article gives no 2022)',
    )
    assert index.ground("The White House spoke on September 4, 2023.").supported


def test_names_are_matched_without_case_or_accents_and_in_the_french(index: ArticleIndex) -> None:
    assert index.ground("Kim Jong Un could meet Putin in RUSSIA.").checks[0].supported
    # The English garbled the name; the French has it.
    entry = index.ground("Adrienne Watson spoke to reporters.")
    assert checks(entry) == {("name", "Adrienne Watson"): (True, [8])}
    assert checks(index.ground("Barack Obama spoke to reporters."))[("name", "Barack Obama")] == (
        False,
        [],
    )


def test_a_dropped_negation(index: ArticleIndex) -> None:
    entry = index.ground("Dmitry Peskov confirmed that a meeting would take place.")
    assert not entry.supported
    (check,) = [c for c in entry.checks if c.kind == "negation"]
    assert (check.value, check.supported) == ("not", False)
    assert check.note == 'drops the negation "not" of its source sentence 2'


def test_an_added_negation_and_a_kept_one(index: ArticleIndex) -> None:
    added = index.ground("The White House did not say that Vladimir Putin wanted an exchange.")
    (check,) = [c for c in added.checks if c.kind == "negation"]
    assert not check.supported
    assert check.note == 'negation "not" is not in its source sentence 1'
    kept = index.ground("Dmitry Peskov did not confirm a meeting.")
    (check,) = [c for c in kept.checks if c.kind == "negation"]
    assert (check.supported, check.found_in) == (True, [2])
    assert kept.supported


def test_a_negation_of_a_clause_the_point_leaves_out_is_not_dropped(index: ArticleIndex) -> None:
    entry = index.ground("According to South Korea, the delivery happened.")
    assert [c.kind for c in entry.checks if c.kind == "negation"] == []


def test_a_negation_the_translation_lost(index: ArticleIndex) -> None:
    entry = index.ground("Moscow said something about the arms delivery.")
    (check,) = entry.checks[-1:]
    assert check.kind == "negation"
    assert not check.supported
    assert check.note == (
        'its source sentence 7 is negated in the French ("ne ... rien") but not in the English'
    )


def test_a_point_with_nothing_in_common(index: ArticleIndex) -> None:
    entry = index.ground("Bananas are yellow.")
    assert entry.sources == []
    assert entry.checks == []
    assert entry.supported  # no fact to contradict; `sources` says it rests on nothing


def test_english_input_never_looks_at_a_french_side(sentences: list[ArticleSentence]) -> None:
    english = [s.model_copy(update={"source": s.text}) for s in sentences]
    (entry,) = ground_points(["Adrienne Watson spoke to reporters."], english, french=False)
    assert not entry.supported


def test_translation_checks_sentence_by_sentence(sentences: list[ArticleSentence]) -> None:
    assert check_translation(sentences, french=True) == []
    assert check_translation(sentences, french=False) == []
    wrong = [
        ArticleSentence(
            id=0,
            paragraph=0,
            source="Il y a 19 blessés et 1,5 %.",
            text="There are 18 injured and 1.5.",
        ),
        ArticleSentence(
            id=1, paragraph=0, source="Le 1er septembre 2023.", text="On September 1st, 2022."
        ),
        ArticleSentence(
            id=2,
            paragraph=1,
            source="Dix-neuf blessés, 2 345 euros, le 8e.",
            text="Nineteen injured, €2,345, the 8th.",
        ),
    ]
    found = [(c.sentence, c.value, c.problem) for c in check_translation(wrong, french=True)]
    assert found == [
        (0, "19", "missing"),
        (0, "1.5%", "missing"),
        (0, "18", "added"),
        (0, "1.5", "added"),
        (1, "2023", "missing"),
        (1, "2022", "added"),
    ]
    assert translation_warning(check_translation(wrong, french=True)) == (
        "6 number(s) differ between the French and the English in 2 sentence(s): "
        "see translation_checks"
    )
    assert translation_warning([]) is None


def test_a_number_repeated_in_the_french_must_be_repeated_in_the_english() -> None:
    pair = Pair((0,), "19 morts, puis 19 blessés.", ("19 dead, then injured.",))
    assert [(c.value, c.problem) for c in check_pairs([pair])] == [("19", "missing")]


def test_a_paragraph_pair_reports_added_numbers_on_their_sentence() -> None:
    pair = Pair((3, 4), "Il y a 19 morts et 20 blessés.", ("There are 19 dead.", "And 21 injured."))
    assert [(c.sentence, c.value, c.problem) for c in check_pairs([pair])] == [
        (3, "20", "missing"),
        (4, "21", "added"),
    ]
    assert sentence_pairs([]) == []


POINTS = [
    "Nineteen of the injured were police officers, the office said.",
    "The office said 18 of the injured were police officers.",  # unsupported, source 4
    "Dmitry Peskov did not confirm a meeting.",
    "Bananas are 42 percent yellow.",  # unsupported, no source at all
]


def test_flag_keeps_every_point(sentences: list[ArticleSentence]) -> None:
    result = ground_summary(POINTS, sentences, "flag")
    assert result.key_points == POINTS
    assert [g.supported for g in result.grounding] == [True, False, True, False]
    assert result.warnings == [
        "2 of 4 key point(s) state a fact the article does not support "
        "(grounding[].supported is false)"
    ]


def test_drop_leaves_unsupported_points_out(sentences: list[ArticleSentence]) -> None:
    result = ground_summary(POINTS, sentences, "drop")
    assert result.key_points == [POINTS[0], POINTS[2]]
    assert [g.text for g in result.grounding] == result.key_points
    assert result.warnings == [
        'key point 2 left out as unsupported: unsupported number "18" (not in the article)',
        'key point 4 left out as unsupported: unsupported number "42%" (not in the article)',
        "only 2 key point(s) remain after leaving out unsupported ones, fewer than 3",
    ]


def test_replace_puts_the_best_source_in_place(sentences: list[ArticleSentence]) -> None:
    result = ground_summary(POINTS, sentences, "replace")
    assert result.key_points == [POINTS[0], sentences[4].text, POINTS[2]]
    replaced = result.grounding[1]
    assert replaced.replaced
    assert replaced.original == POINTS[1]
    assert replaced.text == sentences[4].text
    assert replaced.supported
    assert replaced.sources[0].sentence == 4
    assert not result.grounding[0].replaced
    assert result.grounding[0].original is None
    assert result.warnings == [  # 3 points remain: no warning about their count
        'key point 2 replaced by sentence 4, its best source: unsupported number "18" (not in '
        "the article)",
        'key point 4 left out as unsupported: unsupported number "42%" (not in the article); no '
        "sentence of the article covers it",
    ]


def test_replace_never_repeats_a_point(sentences: list[ArticleSentence]) -> None:
    points = [sentences[4].text, "The office said 18 of the injured were police officers."]
    result = ground_summary(points, sentences, "replace")
    assert result.key_points == [sentences[4].text]
    assert result.warnings[0].endswith("its best source, sentence 4, is already a key point")
    assert result.warnings[1] == (
        "only 1 key point(s) remain after leaving out unsupported ones, fewer than 3"
    )
