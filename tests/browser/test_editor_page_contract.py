"""The page's rendering of CONTRACT.md's fields, on canned answers (tests/browser/contract_answers).

The page is served by the real service, but the browser's calls to /jobs and /verify are
answered with canned, hand-written answers: these tests check what the page does with
sentences, grounding, translation checks and glossary entries of the contract's shape, before
the service produces them. The same behaviours run against the real service in
test_editor_page.py once the fields land there.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import contract_answers as canned
from tests.browser.conftest import DESKTOP, PHONE, Editor, Server, open_editor

pytestmark = pytest.mark.slow  # a browser


class CannedService:
    """Answers the page's /jobs and /verify calls with the canned answers; records problems."""

    def __init__(self, editor: Editor) -> None:
        self.polls = 0
        self.problems: list[str] = []
        page = editor.page
        page.route(re.compile(r"/jobs$"), self.submit)
        page.route(re.compile(r"/jobs/[0-9a-f]+$"), self.poll)
        page.route(re.compile(r"/verify$"), self.verify)

    def submit(self, route: Any) -> None:
        route.fulfill(status=202, json=canned.JOB_STATES[0])

    def poll(self, route: Any) -> None:
        self.polls += 1
        route.fulfill(json=canned.JOB_STATES[min(self.polls, len(canned.JOB_STATES) - 1)])

    def verify(self, route: Any) -> None:
        try:
            answer = canned.fake_verify(json.loads(route.request.post_data or "{}"))
        except AssertionError as exc:
            self.problems.append(str(exc))
            error = {"code": "invalid_request", "message": str(exc), "request_id": "canned"}
            route.fulfill(status=422, json={"error": error})
            return
        route.fulfill(json=answer)


def open_canned(editor: Editor) -> CannedService:
    service = CannedService(editor)
    editor.open()
    editor.paste("\n".join(canned.BODY_FR), headline=canned.TITLE_FR)
    editor.run()
    return service


@pytest.fixture
def canned_editor(editor: Editor) -> Iterator[tuple[Editor, CannedService]]:
    service = open_canned(editor)
    yield editor, service
    assert not service.problems, service.problems
    assert not editor.errors, editor.errors


def ids(editor: Editor, selector: str) -> list[int]:
    found: list[int] = editor.page.eval_on_selector_all(
        selector, "nodes => nodes.map(n => Number(n.dataset.sentence))"
    )
    return found


def points(editor: Editor) -> Any:
    return editor.page.locator("#key-points .key-point")


def supported(editor: Editor) -> list[str | None]:
    return [
        points(editor).nth(i).get_attribute("data-supported") for i in range(points(editor).count())
    ]


def verify_done(editor: Editor) -> None:
    editor.wait(
        "!document.getElementById('key-points').ariaBusy"
        " && !document.querySelector('#key-points [data-stale]')"
    )


def in_viewport(editor: Editor, selector: str) -> bool:
    box = editor.page.locator(selector).bounding_box()
    height = editor.page.viewport_size["height"]
    return bool(box and box["y"] >= 0 and box["y"] + box["height"] <= height)


def test_sentences_points_flags_checks_and_glossary_are_shown(
    canned_editor: tuple[Editor, CannedService],
) -> None:
    editor, _ = canned_editor
    page = editor.page
    assert editor.progress()[:2] == ["Sending…", "Waiting in the queue…"]
    assert "Translating: 4 of 9 sentences" in editor.progress()
    assert "Writing the key points…" in editor.progress()
    assert editor.progress()[-1] == "Done."

    # Sentence against sentence, with the contract's ids, in both columns.
    every = list(range(len(canned.SENTENCES)))
    assert ids(editor, "#translation [data-sentence]") == every
    assert ids(editor, "#french [data-sentence]") == every
    assert editor.texts("#translation .sentence .text") == [en for _, _, en in canned.SENTENCES]
    assert editor.texts("#french .sentence .text") == [fr for _, fr, _ in canned.SENTENCES]

    # Key points with their flags in plain words.
    assert editor.texts("#key-points .kp-text") == canned.KEY_POINTS
    assert supported(editor) == ["true", "true", "false"]
    assert points(editor).nth(2).locator(".flag").all_inner_texts() == [
        "Number 19 not found in the article"
    ]
    assert points(editor).nth(0).locator(".flag").count() == 0
    assert "Checked: Bachmann, Ames, August" in points(editor).nth(0).inner_text()

    # The translation check, on its sentence (both columns marked, the note on the English).
    assert ids(editor, "#translation .sentence.flagged") == [5]
    assert ids(editor, "#french .sentence.flagged") == [5]
    assert editor.texts('#translation [data-sentence="5"] .note') == [
        "The French has the number 3; the English does not"
    ]

    # Glossary terms: marked where found; the one not applied says so.
    assert editor.texts('#french [data-sentence="7"] mark.term') == ["Suède"]
    assert editor.texts('#translation [data-sentence="7"] mark.term') == ["Sweden"]
    assert editor.texts('#french [data-sentence="6"] mark.term-missing') == ["usine"]
    assert editor.texts('#translation [data-sentence="6"] .note') == [
        "Glossary: “usine” → “factory”, not applied in the English"
    ]
    summary = page.inner_text("#article-summary")
    assert "9 sentences" in summary
    assert "1 translation check " in summary
    assert "2 glossary terms (1 not applied)" in summary
    assert canned.summarize_answer()["meta"]["warnings"][0] in page.inner_text("#warnings")

    # Clicking a point lights its sources in both columns and brings them into view.
    page.mouse.wheel(0, -10_000)
    points(editor).nth(2).locator(".badge").click()
    page.wait_for_timeout(700)  # the smooth scroll
    assert ids(editor, "#translation .sentence.highlight") == [7]
    assert ids(editor, "#french .sentence.highlight") == [7]
    assert in_viewport(editor, '#translation [data-sentence="7"]')
    assert points(editor).nth(2).get_attribute("class") == "key-point selected"
    points(editor).nth(1).locator(".badge").click()
    assert ids(editor, ".sentence.highlight") == [4, 4]
    editor.screenshot("desktop-contract")


def test_edited_points_are_checked_again_and_their_sources_update(
    canned_editor: tuple[Editor, CannedService],
) -> None:
    editor, _ = canned_editor
    page = editor.page
    third = points(editor).nth(2).locator("[contenteditable]")

    # Fixing the wrong number: the point is checked again and its flag goes.
    third.fill(canned.KEY_POINTS[2].replace("19", "28"))
    assert points(editor).nth(2).get_attribute("data-stale") == "true"
    with page.expect_request(re.compile(r"/verify$")) as sent:
        third.press("Enter")
    body = json.loads(sent.value.post_data)
    assert body == {
        "translation": canned.PARAGRAPHS_EN,
        "source": canned.BODY_FR,
        "key_points": [*canned.KEY_POINTS[:2], canned.KEY_POINTS[2].replace("19", "28")],
    }
    verify_done(editor)
    assert supported(editor) == ["true", "true", "true"]
    assert points(editor).nth(2).locator(".flag").count() == 0
    # /verify counts the paragraphs' sentences only; the page maps them back to its own ids.
    points(editor).nth(2).locator(".badge").click()
    assert ids(editor, "#translation .sentence.highlight") == [7]

    # Making one up: a new number is flagged, through #verify this time.
    first = points(editor).nth(0).locator("[contenteditable]")
    first.fill("Bachmann won the Ames Straw Poll in 2012.")
    page.click("#verify")
    verify_done(editor)
    assert supported(editor) == ["false", "true", "true"]
    assert points(editor).nth(0).locator(".flag").all_inner_texts() == [
        "Number 2012 not found in the article"
    ]
    assert page.inner_text("#verify-status") == "Checked: 1 point to look at."

    # Escape gives back the last checked text.
    first.click()
    page.keyboard.type(" Really.")
    page.keyboard.press("Escape")
    assert first.inner_text() == "Bachmann won the Ames Straw Poll in 2012."

    # Removing and adding points: each change is checked again.
    with page.expect_request(re.compile(r"/verify$")) as sent:
        points(editor).nth(0).locator(".remove-point").click()
    assert len(json.loads(sent.value.post_data)["key_points"]) == 2
    verify_done(editor)
    page.click("#add-point")
    page.keyboard.type("Television reports show white smoke.")
    with page.expect_request(re.compile(r"/verify$")) as sent:
        page.keyboard.press("Enter")
    assert (
        json.loads(sent.value.post_data)["key_points"][-1] == "Television reports show white smoke."
    )
    verify_done(editor)
    assert points(editor).count() == 3
    points(editor).nth(2).locator(".badge").click()
    assert ids(editor, "#translation .sentence.highlight") == [6]

    # The copy button gives the points as they are now.
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=editor.base)
    page.click("#copy-points")
    editor.wait("document.getElementById('copy-status').textContent.startsWith('The key points')")
    assert page.evaluate("navigator.clipboard.readText()") == "\n".join(
        f"- {text}" for text in editor.texts("#key-points .kp-text")
    )
    editor.screenshot("desktop-contract-edited")


@pytest.fixture
def canned_phone(
    browser: Any, server: Server, tmp_path: Path
) -> Iterator[tuple[Editor, CannedService]]:
    for editor in open_editor(browser, server.base, tmp_path, PHONE):
        service = open_canned(editor)
        yield editor, service
        assert not service.problems
        assert not editor.errors


def test_phone_width_with_every_field(canned_phone: tuple[Editor, CannedService]) -> None:
    editor, _ = canned_phone
    page = editor.page
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    french = page.locator("#french").bounding_box()
    english = page.locator("#translation").bounding_box()
    assert french
    assert english
    assert french["y"] + french["height"] <= english["y"]
    points(editor).nth(2).locator(".show-sources").click()
    page.wait_for_timeout(700)
    assert in_viewport(editor, '#french [data-sentence="7"]')  # the first, in reading order
    assert ids(editor, ".sentence.highlight") == [7, 7]
    editor.screenshot("phone-contract")


def test_desktop_pairs_stay_aligned(canned_editor: tuple[Editor, CannedService]) -> None:
    editor, _ = canned_editor
    assert editor.page.viewport_size == DESKTOP
    rows = editor.page.evaluate(
        """() => [...document.querySelectorAll('#translation .sentence')].map(en => {
            const fr = document.querySelector(`#french [data-sentence="${en.dataset.sentence}"]`);
            const a = fr.getBoundingClientRect(), b = en.getBoundingClientRect();
            return [a.top, b.top, a.height, b.height, a.right <= b.left];
        })"""
    )
    assert len(rows) == len(canned.SENTENCES)
    for fr_top, en_top, fr_height, en_height, beside in rows:
        assert abs(fr_top - en_top) < 1
        assert abs(fr_height - en_height) < 1
        assert beside
