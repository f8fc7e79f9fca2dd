"""Glossary entries and do_not_translate terms: the checks (as DeepL makes them), CSV/TSV
parsing, the matching key, and how a stored glossary and a request's own terms merge."""

from __future__ import annotations

import pytest

from service.errors import GlossaryTooLargeError, InvalidGlossaryError
from service.glossary.terms import (
    MAX_DO_NOT_TRANSLATE,
    MAX_ENTRIES,
    MAX_TERM_CHARS,
    check_do_not_translate,
    check_entries,
    check_name,
    fold,
    match_key,
    merge_terms,
    parse_entries,
)


def test_the_matching_key_ignores_case_accents_apostrophes_dashes_and_spacing() -> None:
    assert match_key("Conseil de Sécurité  Nationale") == "conseil de securite nationale"
    assert match_key("Kim Jong‑Un") == match_key("KIM JONG-UN") == "kim jong-un"
    assert match_key("l’Élysée") == match_key("l'elysee")
    assert match_key("Straße") == "strasse"


def test_fold_maps_each_folded_character_back_to_the_original() -> None:
    folded, origin = fold("Été  à")
    assert folded == "ete a"
    assert [origin[i] for i in range(len(folded))] == [0, 1, 2, 3, 5]


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([("", "x")], 'entry "": the source term is empty'),
        ([(" ONU", "UN")], 'entry " ONU": the source term starts or ends with whitespace'),
        ([("ONU ", "UN")], "starts or ends with whitespace"),
        ([("ONU", "")], 'entry "ONU": the target term is empty'),
        ([("ONU", "UN ")], 'entry "ONU": the target term starts or ends with whitespace'),
        ([("O\tNU", "UN")], "control character"),
        ([("...", "x")], "no letter or digit"),
        ([("a" * (MAX_TERM_CHARS + 1), "x")], f"longer than {MAX_TERM_CHARS}"),
        ([("Élysée", "Elysee"), ("elysee", "Elysée Palace")], 'entry "elysee" duplicates "Élysée"'),
    ],
)
def test_bad_entries_are_refused_naming_the_entry(
    entries: list[tuple[str, str]], message: str
) -> None:
    with pytest.raises(InvalidGlossaryError) as raised:
        check_entries(entries)
    assert message in raised.value.message
    assert raised.value.status == 422


def test_entry_places_name_the_line() -> None:
    with pytest.raises(InvalidGlossaryError) as raised:
        check_entries([("ONU", "UN"), ("Sénat", "")], ["line 1", "line 2"])
    assert 'entry line 2 "Sénat": the target term is empty' in raised.value.message


def test_a_good_glossary_passes_and_too_many_entries_are_413() -> None:
    check_entries([("Conseil de sécurité nationale", "National Security Council"), ("ONU", "UN")])
    with pytest.raises(GlossaryTooLargeError) as raised:
        check_entries([(f"terme {i}", "term") for i in range(MAX_ENTRIES + 1)])
    assert raised.value.status == 413
    assert f"limit of {MAX_ENTRIES}" in raised.value.message


def test_do_not_translate_is_checked_against_itself_and_the_glossary() -> None:
    check_do_not_translate(["Kim Jong-Un", "Libération"], [("ONU", "UN")])
    with pytest.raises(InvalidGlossaryError, match="duplicates"):
        check_do_not_translate(["Libération", "liberation"], [])
    with pytest.raises(InvalidGlossaryError, match="also the glossary source"):
        check_do_not_translate(["onu"], [("ONU", "UN")])
    with pytest.raises(InvalidGlossaryError, match="is empty"):
        check_do_not_translate([""], [])
    with pytest.raises(GlossaryTooLargeError):
        check_do_not_translate([f"Nom{i}" for i in range(MAX_DO_NOT_TRANSLATE + 1)], [])


def test_names_must_hold_something() -> None:
    check_name("Politique")
    with pytest.raises(InvalidGlossaryError, match="empty"):
        check_name("  ")


def test_tsv_and_csv_entries_are_parsed_with_their_line_numbers() -> None:
    entries, places = parse_entries("ONU\tUN\n\nSénat\tSenate\n", "tsv")
    assert entries == (("ONU", "UN"), ("Sénat", "Senate"))
    assert places == ["line 1", "line 3"]
    entries, _ = parse_entries('"Paris, France",Paris\r\n"dit ""non""",said "no"\n', "csv")
    assert entries == (("Paris, France", "Paris"), ('dit "non"', 'said "no"'))


@pytest.mark.parametrize(
    ("text", "entries_format", "message"),
    [
        ("ONU\tUN\tde trop\n", "tsv", "Line 1 of the TSV entries has 3 field(s), not 2"),
        ("ONU,UN\nSénat\n", "csv", "Line 2 of the CSV entries has 1 field(s), not 2"),
        ('"ONU,UN\n', "csv", "cannot be read"),
    ],
)
def test_malformed_rows_are_refused(text: str, entries_format: str, message: str) -> None:
    with pytest.raises(InvalidGlossaryError) as raised:
        parse_entries(text, entries_format)  # type: ignore[arg-type]
    assert message in raised.value.message


def test_padded_cells_survive_parsing_so_the_check_refuses_them() -> None:
    entries, places = parse_entries("ONU \tUN\n", "tsv")
    with pytest.raises(InvalidGlossaryError, match="whitespace"):
        check_entries(entries, places)


def test_request_terms_override_the_stored_glossary() -> None:
    stored = (("ONU", "UN"), ("Sénat", "Senate"), ("Libération", "Liberation"))
    glossary, do_not_translate = merge_terms(stored, (("onu", "United Nations"),), ("LIBÉRATION",))
    assert glossary == (("Sénat", "Senate"), ("onu", "United Nations"))
    assert do_not_translate == ("LIBÉRATION",)
