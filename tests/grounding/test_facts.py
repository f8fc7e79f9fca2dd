"""Facts read from hand-written English and French sentences: numbers, dates, names, negation."""

from __future__ import annotations

import pytest

from service.grounding.facts import (
    capitalised_words,
    find_dates,
    find_numbers,
    fold,
    names,
    negation,
    prepare,
    text_facts,
)

NBSP, NNBSP = "\u00a0", "\u202f"


def numbers(text: str, lang: str) -> list[str]:
    return [n.value for n in find_numbers(text, lang)]  # type: ignore[arg-type]


def dates(text: str, lang: str) -> list[str]:
    return [d.value for d in find_dates(text, lang)]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("lang", "text", "expected"),
    [
        # separators, French and English
        ("fr", "Une hausse de 1,5 % du PIB.", ["1.5%"]),
        ("fr", f"Une hausse de 1,5{NBSP}% du PIB.", ["1.5%"]),
        ("fr", f"Une hausse de 1,5{NNBSP}% du PIB.", ["1.5%"]),
        ("fr", "Une hausse de 1,5%.", ["1.5%"]),
        ("en", "A rise of 1.5% in output.", ["1.5%"]),
        ("en", "A rise of 1.5 per cent, then 2 percent.", ["1.5%", "2%"]),
        ("fr", "Une baisse de cinq pour cent.", ["5%"]),
        ("fr", "La ville compte 2 345 habitants.", ["2,345"]),
        ("fr", f"La ville compte 2{NBSP}345 habitants.", ["2,345"]),
        ("fr", f"La ville compte 2{NNBSP}345 habitants.", ["2,345"]),
        ("fr", "La ville compte 2.345 habitants.", ["2,345"]),
        ("en", "The town has 2,345 people.", ["2,345"]),
        ("fr", "Soit 10 000 000 de personnes.", ["10,000,000"]),
        ("en", "Some 10,000,000 people.", ["10,000,000"]),
        ("fr", "Il a produit plus de 1000 timbres.", ["1,000"]),
        ("en", "He produced over 1,000 stamps.", ["1,000"]),
        ("fr", "Le taux est de 0,25.", ["0.25"]),
        ("en", "The rate is 0.25.", ["0.25"]),
        ("fr", "Un score de 1,500 points.", ["1.5"]),  # one group after a comma: a decimal
        ("en", "A ratio of 1,5 in English text.", ["1.5"]),  # a French decimal leaking through
        # money
        ("fr", "Un plan de 2,5 milliards d’euros.", ["€2.5 billion"]),
        ("fr", "Un plan de 2,5 milliards d'euros.", ["€2.5 billion"]),
        ("en", "A plan of €2.5 billion.", ["€2.5 billion"]),
        ("en", "A plan of 2.5 billion euros.", ["€2.5 billion"]),
        ("en", "It cost $2.5bn, then £3m.", ["$2.5 billion", "£3 million"]),
        ("fr", "Un budget de 3 M€ et de 5 k€.", ["€3 million", "€5 thousand"]),
        ("fr", "Un budget de 3M€.", ["€3 million"]),
        ("fr", "Un budget de 3,5 Mds€.", ["€3.5 billion"]),
        ("fr", "Il a coûté 40 €.", ["€40"]),
        ("fr", "Il a coûté 40 euros.", ["€40"]),
        ("en", "It cost US$40.", ["$40"]),
        ("fr", "2 millions de dollars", ["$2 million"]),
        ("fr", "Un billion d'euros.", ["€1 trillion"]),  # a French billion is 10^12
        ("en", "One trillion euros.", ["€1 trillion"]),
        # ordinals
        ("fr", "Le 8e Forum économique.", ["8th"]),
        ("en", "The 8th Eastern Economic Forum.", ["8th"]),
        ("fr", "La 1re édition et le 2ème tour.", ["1st", "2nd"]),
        ("en", "The 21st and the 3rd.", ["21st", "3rd"]),
        ("fr", "Au XXe siècle.", ["20th"]),
        ("fr", "Au XIXe siècle.", ["19th"]),
        # spelled out
        ("en", "The office said nineteen of the injured were officers.", ["19"]),
        ("fr", "Le bureau a déclaré que dix-neuf des blessés étaient policiers.", ["19"]),
        ("fr", "Quatre-vingt-dix-sept personnes.", ["97"]),
        ("fr", "Soixante-dix ans et soixante et onze jours.", ["70", "71"]),
        ("fr", "Vingt et un soldats, vingt-et-un chars.", ["21", "21"]),
        ("fr", "Quatre-vingts ans.", ["80"]),
        ("fr", "Deux cent mille manifestants.", ["200,000"]),
        ("fr", "Mille deux cents timbres.", ["1,200"]),
        ("fr", "Un million de personnes.", ["1 million"]),
        ("en", "Two hundred and fifty thousand people.", ["250,000"]),
        ("en", "Twenty-one days, then a hundred more.", ["21", "100"]),
        ("en", "A million people.", ["1 million"]),
        ("en", "The two countries.", ["2"]),
        ("fr", "Les deux pays.", ["2"]),
        # not numbers
        ("fr", "Un des blessés, une femme, un bâtiment neuf.", []),
        ("en", "One of the injured; a woman.", []),
        ("en", "Billions of dollars and thousands of people.", []),
        ("fr", "Des millions de personnes, des milliards d'euros.", []),
        ("en", "COVID-19, the G7, 5G networks and the F-16.", []),
        # clock times
        ("fr", "À 10h30, puis à 22 h.", ["10:30", "22:00"]),
        ("en", "At 10:30 pm, then 9 a.m.", ["22:30", "9:00"]),
    ],
)
def test_numbers(lang: str, text: str, expected: list[str]) -> None:
    assert numbers(text, lang) == expected


@pytest.mark.parametrize(
    ("french", "english"),
    [
        ("1,5 %", "1.5%"),
        ("2 345", "2,345"),
        (f"2{NNBSP}345", "2,345"),
        ("dix-neuf", "nineteen"),
        ("2,5 milliards", "2.5 billion"),
        ("2,5 milliards", "2,500,000,000"),
        ("8e", "8th"),
        ("1er", "1st"),
        ("mille", "1,000"),
        ("3 M€", "€3 million"),
        ("22h", "10 pm"),
        ("22h", "22"),
    ],
)
def test_french_and_english_forms_match(french: str, english: str) -> None:
    (fr,) = find_numbers(f"Il y a {french} ici.", "fr")
    (en,) = find_numbers(f"There are {english} here.", "en")
    assert fr.matches(en)
    assert en.matches(fr)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("15%", "15"),  # a percentage is not a count
        ("€3 million", "$3 million"),  # another currency
        ("2.5 billion", "2.5 million"),
        ("28", "38"),
        ("10:30", "10"),
    ],
)
def test_different_numbers_do_not_match(a: str, b: str) -> None:
    (x,) = find_numbers(f"It was {a} then.", "en")
    (y,) = find_numbers(f"It was {b} then.", "en")
    assert not x.matches(y)


def test_a_currency_on_one_side_only_still_matches() -> None:
    (fr,) = find_numbers("Un plan de 2,5 milliards.", "fr")
    (en,) = find_numbers("A plan of €2.5 billion.", "en")
    assert fr.matches(en)


@pytest.mark.parametrize(
    ("lang", "text", "expected"),
    [
        ("fr", "Ce lundi 4 septembre, à Moscou.", ["Monday", "September 4"]),
        ("en", "On Monday, September 4, in Moscow.", ["Monday", "September 4"]),
        ("en", "On 4 September 2023.", ["September 4, 2023"]),
        ("en", "On the 4th of September.", ["September 4"]),
        ("en", "On Sept. 4, 2023.", ["September 4, 2023"]),
        ("fr", "Le 1er septembre 2023.", ["September 1, 2023"]),
        ("fr", "Du 10 au 13 septembre.", ["September 10", "September 13"]),
        ("en", "From September 10-13.", ["September 10", "September 13"]),
        ("en", "From 10 to 13 September.", ["September 10", "September 13"]),
        ("fr", "Le vote de paille en août.", ["August"]),
        ("en", "The straw poll in August.", ["August"]),
        ("fr", "En mars 2022, puis en 2023.", ["March 2022", "2023"]),
        ("en", "In May 2022, they may come.", ["May 2022"]),
        ("en", "They may come in May.", []),  # `May` alone is too often a verb
        ("fr", "Mercredi dernier, la planète Mars.", ["Wednesday"]),
        ("en", "Last Wednesday.", ["Wednesday"]),
        ("en", "In the 1990s.", ["1990"]),
        ("en", "In 2019, 5,000 people came.", ["2019"]),
        ("en", "It cost $2023.", []),
    ],
)
def test_dates(lang: str, text: str, expected: list[str]) -> None:
    assert dates(text, lang) == expected


def test_dates_match_across_languages() -> None:
    (fr,) = find_dates("le 4 septembre", "fr")
    (en,) = find_dates("on September 4", "en")
    assert fr.matches(en)
    assert en.matches(fr)
    (with_year,) = find_dates("on September 4, 2023", "en")
    assert with_year.matches(fr)  # the French gives no year: not a contradiction
    (other_year,) = find_dates("le 4 septembre 2022", "fr")
    assert not with_year.matches(other_year)


def test_dates_are_not_also_numbers() -> None:
    facts = text_facts("Le 4 septembre 2023, 19 blessés.", "fr")
    assert [n.value for n in facts.numbers] == ["19"]
    # ... but a translation must carry the day and the year over, so they count there.
    assert [n.value for n in facts.plain_numbers()] == ["19", "4", "2023"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Vladimir Putin and Kim Jong-Un could meet in Russia, says the New York Post.",
            ["Vladimir Putin", "Kim Jong-Un", "Russia", "New York Post"],
        ),
        ("The governor's office said nineteen were injured.", []),
        ("Mr Peskov, the Kremlin spokesman, spoke on Monday.", ["Peskov", "Kremlin"]),
        ("President Putin met Xi Jinping.", ["Putin", "Xi Jinping"]),
        ("The Ministry of Unification said so.", ["Ministry of Unification"]),
        ("Putin's plan, says the U.S. and the UN.", ["U.S.", "UN"]),
        ("Xi Jinping would like to meet him.", ["Xi Jinping"]),
        ("Television reports show smoke.", []),
        ("« Nous y allons », a dit Adrienne Watson.", ["Adrienne Watson"]),
        ("He wrote to the G7 in 2023.", []),
    ],
)
def test_names(text: str, expected: list[str]) -> None:
    assert [n.text for n in names(text)] == expected


def test_a_sentence_initial_word_is_a_name_when_known() -> None:
    text = "Bachmann won the Ames Straw Poll."
    assert [n.text for n in names(text)] == ["Ames Straw Poll"]
    assert [n.text for n in names(text, {"bachmann"})] == ["Bachmann", "Ames Straw Poll"]


def test_names_fold_case_and_accents() -> None:
    (name,) = names("They met in Âmes.")
    assert name.tokens == ("ames",)
    assert fold("ÉLYSÉE") == fold("Elysee") == "elysee"
    (acronym,) = names("The UN said so.")
    assert acronym.acronyms == ("UN",)


def test_capitalised_words_skip_sentence_starts_and_elisions() -> None:
    words = capitalised_words("Le vote de paille d’Âmes. Selon Washington, Kim a parlé.")
    assert words == {"ames", "washington", "kim"}


@pytest.mark.parametrize(
    ("lang", "text", "expected"),
    [
        ("en", "Peskov did not confirm the meeting.", "not"),
        ("en", "Peskov didn't confirm it.", "n't"),
        ("en", "Peskov didn’t confirm it.", "n't"),
        ("en", "He never came.", "never"),
        ("en", "There was no meeting.", "no"),
        ("en", "Moscow had nothing to say.", "nothing"),
        ("en", "He left without a word.", "without"),
        ("en", "He cannot come.", "cannot"),
        ("en", "Peskov confirmed the meeting.", None),
        ("en", "No. 10 said so.", None),
        ("en", "Not only this, but that.", None),
        ("fr", "Peskov n’a pas confirmé la rencontre.", "ne ... pas"),
        ("fr", "Peskov n'a pas confirmé la rencontre.", "ne ... pas"),
        ("fr", "Il ne viendra plus.", "ne ... plus"),
        ("fr", "Il ne l’a jamais dit.", "ne ... jamais"),
        ("fr", "Moscou n’avait «rien à dire».", "ne ... rien"),
        ("fr", "Aucun accord n’a été trouvé.", "aucun"),
        ("fr", "Il est parti sans un mot.", "sans"),
        ("fr", "Il viendra sans doute.", None),
        ("fr", "Il ne fait que passer.", None),
        ("fr", "Peskov a confirmé la rencontre.", None),
    ],
)
def test_negation(lang: str, text: str, expected: str | None) -> None:
    assert negation(text, lang) == expected  # type: ignore[arg-type]


def test_prepare_unifies_typography() -> None:
    assert prepare(f"l’État{NBSP}: 1{NNBSP}000 ‑ 1ᵉʳ") == "l'État : 1 000 - 1er"
