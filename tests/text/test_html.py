"""HTML to blocks and back: structure, dropped markup, escaping, and the real OrangeSum pages."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from service.text.html import Block, parse_blocks, parse_html, render_html
from tests.conftest import DATA, ROOT

FIXTURES = DATA / "html"
# The project's shared/ folder lies beside the checkout (here and in CI).
REAL_PAGES = ROOT.parent / "shared" / "data" / "articles" / "html"
REAL_RECORDS = REAL_PAGES.parent / "fr_news.jsonl"

PLANTED = ("alert", "onerror", "onclick", "javascript", "<script", "<img", "<svg", "src=", "href=")


def kinds_and_texts(blocks: list[Block]) -> list[tuple[str, str]]:
    return [(b.kind, b.text) for b in blocks]


def test_article_fixture_blocks() -> None:
    blocks = parse_blocks((FIXTURES / "article.html").read_text(encoding="utf-8"))
    assert kinds_and_texts(blocks) == [
        ("h1", "Le Parlement adopte la réforme"),
        ("p", "Les députés ont voté mardi, après deux semaines de débats."),
        ("figcaption", "L’Assemblée nationale, le 12 mars."),
        ("h2", "Un vote serré"),
        # <br> is a space; whitespace is collapsed
        ("p", "Le texte a été adopté par 289 voix contre 270, après une nuit de discussions."),
        # entities decoded, no-break spaces made plain
        ("p", "Le ministre s’est dit « satisfait » & soulagé."),
        ("blockquote", "Nous avons tenu nos engagements."),
        ("blockquote", "Le travail continue."),
        ("li", "Entrée en vigueur en janvier"),
        ("li", "Coût estimé : 2,5 milliards d’euros"),
        ("li", "Premier décret"),
        ("li", "Second décret"),
        # text directly inside a div is a paragraph too
        ("p", "Texte libre dans un bloc sans paragraphe."),
        ("p", "Le Sénat doit examiner le texte en avril."),
    ]
    assert [b.list_type for b in blocks if b.kind == "li"] == ["ul", "ul", "ol", "ol"]
    # One group per source list and per blockquote
    assert [b.group for b in blocks if b.kind in ("li", "blockquote")] == [1, 1, 2, 2, 3, 3]
    text = " ".join(b.text for b in blocks)
    for hidden in ("ignorer", "apparaître", "commentaire", "vidéo", "JavaScript", "modèle"):
        assert hidden not in text


def test_rendered_html_keeps_the_structure() -> None:
    blocks = parse_blocks((FIXTURES / "article.html").read_text(encoding="utf-8"))
    assert render_html(blocks).splitlines() == [
        "<h1>Le Parlement adopte la réforme</h1>",
        "<p>Les députés ont voté mardi, après deux semaines de débats.</p>",
        "<figure><figcaption>L’Assemblée nationale, le 12 mars.</figcaption></figure>",
        "<h2>Un vote serré</h2>",
        "<p>Le texte a été adopté par 289 voix contre 270, après une nuit de discussions.</p>",
        "<p>Le ministre s’est dit « satisfait » &amp; soulagé.</p>",
        "<blockquote><p>Nous avons tenu nos engagements.</p><p>Le travail continue.</p></blockquote>",
        "<ul><li>Entrée en vigueur en janvier</li><li>Coût estimé : 2,5 milliards d’euros</li></ul>",
        "<ol><li>Premier décret</li><li>Second décret</li></ol>",
        "<p>Texte libre dans un bloc sans paragraphe.</p>",
        "<p>Le Sénat doit examiner le texte en avril.</p>",
    ]


@pytest.mark.parametrize("name", ["article.html", "sanitize.html"])
def test_blocks_round_trip_through_rendered_html(name: str) -> None:
    blocks = parse_blocks((FIXTURES / name).read_text(encoding="utf-8"))
    assert blocks
    assert parse_blocks(render_html(blocks)) == blocks


def test_planted_script_handler_and_javascript_url_do_not_survive() -> None:
    source = (
        "<p>Avant.</p><script>alert(1)</script>"
        "<p><img src=x onerror=alert(1)>Après l'image.</p>"
        '<p>Un <a href="javascript:alert(1)">lien</a> ici.</p>'
    )
    for html in (source, (FIXTURES / "sanitize.html").read_text(encoding="utf-8")):
        blocks = parse_blocks(html)
        rendered = render_html(blocks)
        for planted in PLANTED:
            assert all(planted not in b.text for b in blocks), planted
            assert planted not in rendered, planted
        assert any("lien" in b.text for b in blocks)
    assert kinds_and_texts(parse_blocks(source)) == [
        ("p", "Avant."),
        ("p", "Après l'image."),
        ("p", "Un lien ici."),
    ]


def test_text_that_looks_like_markup_is_escaped() -> None:
    blocks = parse_blocks("<p>&lt;script&gt;alert(1)&lt;/script&gt; &amp; «&nbsp;cité&nbsp;»</p>")
    assert blocks == [Block("p", "<script>alert(1)</script> & « cité »")]
    assert render_html(blocks) == "<p>&lt;script&gt;alert(1)&lt;/script&gt; &amp; « cité »</p>"
    # Only tags come from the renderer; translated text can never open one.
    assert render_html([Block("h2", '"><img src=x onerror=alert(1)>')]) == (
        "<h2>&quot;&gt;&lt;img src=x onerror=alert(1)&gt;</h2>"
    )


def test_loose_text_fragments_and_mixed_containers() -> None:
    assert parse_blocks("Juste du texte, <b>sans</b> balise.") == [
        Block("p", "Juste du texte, sans balise.")
    ]
    assert kinds_and_texts(parse_blocks("<div>Avant <p>dedans</p> après</div>")) == [
        ("p", "Avant"),
        ("p", "dedans"),
        ("p", "après"),
    ]
    assert kinds_and_texts(parse_blocks("<li><p>Item en paragraphe</p></li>")) == [
        ("li", "Item en paragraphe")
    ]
    assert parse_blocks("") == []
    assert parse_blocks("<script>alert(1)</script><p> \n </p>") == []


def test_nested_lists_are_flattened_in_order() -> None:
    blocks = parse_blocks("<ol><li>Un<ul><li>Un bis</li></ul></li><li>Deux</li></ol>")
    assert [(b.text, b.list_type) for b in blocks] == [
        ("Un", "ol"),
        ("Un bis", "ul"),
        ("Deux", "ol"),
    ]
    assert render_html(blocks) == (
        "<ol><li>Un</li></ol>\n<ul><li>Un bis</li></ul>\n<ol><li>Deux</li></ol>"
    )


def test_deeply_nested_html_does_not_overflow() -> None:
    depth = 5000
    html = "<div>" * depth + "<p>Tout au fond.</p>" + "</div>" * depth
    assert parse_blocks(html) == [Block("p", "Tout au fond.")]


def _real_cases() -> list[tuple[Path, dict[str, str]]]:
    if not REAL_PAGES.is_dir() or not REAL_RECORDS.is_file():
        return []
    records = {
        record["id"]: record
        for record in map(json.loads, REAL_RECORDS.read_text(encoding="utf-8").splitlines())
    }
    return [(page, records[page.stem]) for page in sorted(REAL_PAGES.glob("*.html"))]


@pytest.mark.skipif(not _real_cases(), reason="no OrangeSum pages in shared/data/articles")
@pytest.mark.parametrize(
    ("page", "record"), _real_cases(), ids=[page.stem for page, _ in _real_cases()]
)
def test_real_orangesum_pages(page: Path, record: dict[str, str]) -> None:
    """Full scraped pages (site chrome, scripts, embeds): every body paragraph of the dataset
    lies within one block, the headline is an h1, and no script text leaks."""
    raw = page.read_text(encoding="utf-8")
    blocks = parse_blocks(raw)
    assert ("h1", " ".join(record["title"].split())) in kinds_and_texts(blocks)
    for paragraph in record["text"].split("\n\n"):
        paragraph = " ".join(paragraph.split())
        assert any(paragraph in b.text for b in blocks), paragraph[:80]
    joined = "\n".join(b.text for b in blocks)
    scripts = [
        " ".join(body.split())
        for body in re.findall(r"<script[^>]*>(.*?)</script>", raw, flags=re.DOTALL)
    ]
    assert any(scripts)  # the pages do carry inline scripts
    for script in scripts:
        assert len(script) < 20 or script[:40] not in joined
    for code in ("function(", "window.", "document.", "var "):
        assert code not in joined
    assert parse_blocks(render_html(blocks)) == blocks


PAGE_ARTICLE = [
    ("h1", "Le Sénat vote le budget"),
    ("p", "Le texte a été adopté dans la nuit, après trois jours de débats."),
    ("p", "Les sénateurs ont voté le projet de loi de finances à une large majorité."),
    ("p", "Le gouvernement salue « un vote responsable »."),
]


def test_a_whole_page_keeps_its_article_with_headline_and_lead() -> None:
    page = (FIXTURES / "page.html").read_text(encoding="utf-8")
    parsed = parse_html(page)
    assert kinds_and_texts(parsed.blocks) == PAGE_ARTICLE
    assert parsed.scope == "div.story-page"  # the article body widened to the page's one h1
    everything = parse_blocks(page)
    assert parsed.dropped == len(everything) - len(PAGE_ARTICLE) == 6
    assert ("li", "Accueil") in kinds_and_texts(everything)
    assert parse_html(page, extract_article=False).blocks == everything


def test_fragments_and_ambiguous_pages_are_kept_whole() -> None:
    fragment = "<nav><p>Menu</p></nav><article><h1>Titre</h1><p>Corps.</p></article>"
    assert parse_html(fragment) == parse_html(fragment, extract_article=False)
    assert parse_html(fragment).dropped == 0
    two = "<html><body><p>Menu</p><article><p>Un.</p></article><article><p>Deux.</p></article>"
    assert kinds_and_texts(parse_html(two).blocks) == [("p", "Menu"), ("p", "Un."), ("p", "Deux.")]
    bare = "<html><body><p>Pas d’article ici.</p></body></html>"
    assert parse_html(bare).dropped == 0


@pytest.mark.skipif(not _real_cases(), reason="no OrangeSum pages in shared/data/articles")
@pytest.mark.parametrize(
    ("page", "record"), _real_cases(), ids=[page.stem for page, _ in _real_cases()]
)
def test_real_orangesum_pages_keep_only_their_article(page: Path, record: dict[str, str]) -> None:
    """The headline, the lead (the dataset's summary) and every body paragraph are kept; about
    a hundred blocks of menus and footers are not."""
    parsed = parse_html(page.read_text(encoding="utf-8"))
    assert parsed.blocks[0] == Block("h1", " ".join(record["title"].split()))
    texts = [b.text for b in parsed.blocks]
    lead = " ".join(record["summary_fr"].split())
    assert any(lead[:60] in text for text in texts)
    for paragraph in record["text"].split("\n\n"):
        paragraph = " ".join(paragraph.split())
        assert any(paragraph in text for text in texts), paragraph[:80]
    assert len(parsed.blocks) <= 20
    assert parsed.dropped >= 80
