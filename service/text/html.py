"""HTML articles to text blocks (selectolax/Lexbor), and blocks back to clean, escaped HTML."""

from __future__ import annotations

import html as html_lib
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from selectolax.lexbor import LexborHTMLParser, LexborNode

BlockKind = Literal["p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "figcaption"]
ListType = Literal["ul", "ol"]

# Elements whose text becomes a block of their kind.
_KIND_OF: dict[str, BlockKind] = {
    "p": "p", "h1": "h1", "h2": "h2", "h3": "h3", "h4": "h4", "h5": "h5", "h6": "h6",
    "li": "li", "blockquote": "blockquote", "figcaption": "figcaption",
}  # fmt: skip
# These win over a `p` or heading nested inside them: `<li><p>x</p></li>` is a list item.
_OUTER_KIND = frozenset({"li", "blockquote", "figcaption"})
_LISTS = frozenset({"ul", "ol"})
# Block-level containers: they end the text before them, and text directly inside them (outside
# any block child) becomes a paragraph, the way a browser shows it on its own line.
_CONTAINERS = frozenset(
    {
        "address", "article", "aside", "body", "caption", "center", "dd", "details", "dialog",
        "div", "dl", "dt", "fieldset", "figure", "footer", "form", "header", "hgroup", "hr",
        "html", "legend", "main", "menu", "nav", "ol", "pre", "search", "section", "summary",
        "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul",
    }
)  # fmt: skip
_WHOLE_PAGE = re.compile(r"<\s*(html|body)[\s>]", re.IGNORECASE)
# Never text of the article: code, embeds, metadata, form controls, media fallbacks.
_DROPPED = frozenset(
    {
        "audio", "button", "canvas", "embed", "head", "iframe", "math", "noscript", "object",
        "script", "select", "style", "svg", "template", "textarea", "title", "video",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Block:
    """One block of an article: its kind (the source tag) and its text, whitespace collapsed.

    `list_type` is `ul` or `ol` for list items. `group` numbers runs of consecutive blocks that
    came from one source list or one blockquote, so they can be wrapped together again.
    """

    kind: BlockKind
    text: str
    list_type: ListType | None = None
    group: int | None = None


@dataclass(frozen=True)
class _Frame:
    tag: str
    kind: BlockKind | None  # the kind its text gets, when it defines one
    list_type: ListType | None
    group: int | None


def collapse_whitespace(text: str) -> str:
    """NFC, one space between words, no leading or trailing space (no-break spaces included)."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def _walk(node: LexborNode) -> Iterator[tuple[str, LexborNode]]:
    """Depth-first `enter`/`leave`/`text` events without recursion (deep HTML is legal)."""
    stack: list[tuple[LexborNode, bool]] = [(node, False)]
    while stack:
        current, leaving = stack.pop()
        if leaving:
            yield "leave", current
            continue
        if current.is_text_node:
            yield "text", current
            continue
        if not current.is_element_node:
            continue  # comments, doctype, processing instructions
        tag = current.tag or ""
        if tag in _DROPPED:
            continue
        yield "enter", current
        stack.append((current, True))
        children = list(current.iter(include_text=True))
        stack.extend((child, False) for child in reversed(children))


class _Collector:
    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self.frames: list[_Frame] = []
        self.buffer: list[str] = []
        self.next_group = 0

    def _context(self) -> tuple[BlockKind, ListType | None, int | None]:
        inner: BlockKind | None = None
        for frame in reversed(self.frames):
            if frame.kind in _OUTER_KIND:
                return frame.kind, frame.list_type, frame.group
            if inner is None and frame.kind is not None:
                inner = frame.kind
        return inner or "p", None, None

    def flush(self) -> None:
        text = collapse_whitespace("".join(self.buffer))
        self.buffer.clear()
        if text:
            kind, list_type, group = self._context()
            self.blocks.append(Block(kind, text, list_type, group))

    def enter(self, tag: str) -> None:
        if tag == "br":
            self.buffer.append(" ")
            return
        kind = _KIND_OF.get(tag)
        if kind is None and tag not in _CONTAINERS:
            return  # inline: a, span, em, strong, img…; only their text counts
        self.flush()
        list_type: ListType | None = None
        group: int | None = None
        if tag in _LISTS or tag == "blockquote":
            self.next_group += 1
            group = self.next_group
        if tag == "li":
            parent_list = next((f for f in reversed(self.frames) if f.tag in _LISTS), None)
            if parent_list is None:  # a stray <li>: a list of its own
                self.next_group += 1
            list_type = parent_list.list_type if parent_list else "ul"
            group = parent_list.group if parent_list else self.next_group
        elif tag in _LISTS:
            list_type = "ol" if tag == "ol" else "ul"
        self.frames.append(_Frame(tag, kind, list_type, group))

    def leave(self, tag: str) -> None:
        if tag in _KIND_OF or tag in _CONTAINERS:
            self.flush()
            self.frames.pop()


def _renumber_groups(blocks: list[Block]) -> list[Block]:
    """Number groups 1, 2, 3… by runs of consecutive blocks, so equal structure compares equal."""
    out: list[Block] = []
    run = 0
    previous: tuple[str, int | None] | None = None
    for block in blocks:
        if block.group is None:
            out.append(block)
            previous = None
            continue
        key = (block.kind, block.group)
        if key != previous:
            run += 1
            previous = key
        out.append(replace(block, group=run))
    return out


@dataclass(frozen=True)
class ParsedHtml:
    """The blocks of an HTML article, and what was left out when only a page's article was
    kept: `scope` names the element kept (None: the whole document), `dropped` counts the blocks
    outside it."""

    blocks: list[Block]
    scope: str | None = None
    dropped: int = 0


def _blocks_of(node: LexborNode) -> list[Block]:
    collector = _Collector()
    for event, current in _walk(node):
        if event == "text":
            collector.buffer.append(current.text_content or "")
        elif event == "enter":
            collector.enter(current.tag or "")
        else:
            collector.leave(current.tag or "")
    collector.flush()
    return _renumber_groups(collector.blocks)


def _only(nodes: list[LexborNode]) -> LexborNode | None:
    return nodes[0] if len(nodes) == 1 else None


def _lineage(node: LexborNode) -> list[LexborNode]:
    chain: list[LexborNode] = []
    current: LexborNode | None = node
    while current is not None:
        chain.append(current)
        current = current.parent
    return chain


def _article_scope(tree: LexborHTMLParser) -> tuple[LexborNode, str] | None:
    """The element that holds a whole page's article, with its headline and lead: the one
    `itemprop="articleBody"`, else the one `<article>`, else the one `<main>`, widened to the
    nearest ancestor that also holds the page's one `<h1>`. None when the page has no single
    such element (then the whole page is kept)."""
    found = None
    for selector in ('[itemprop="articleBody"]', "article", "main"):
        found = _only(tree.css(selector))
        if found is not None:
            break
    if found is None:
        return None
    headline = _only(tree.css("h1"))
    scope = found
    if headline is not None:
        ids = {node.mem_id for node in _lineage(found)}
        common = next((n for n in _lineage(headline) if n.mem_id in ids), None)
        if common is not None and common.tag not in ("body", "html"):
            scope = common
    classes = (scope.attributes.get("class") or "").split()
    return scope, (scope.tag or "element") + "".join(f".{name}" for name in classes[:2])


def parse_html(html: str, *, extract_article: bool = True) -> ParsedHtml:
    """The text blocks of an HTML article or page, in document order.

    `p`, `h1`–`h6`, `li`, `blockquote` and `figcaption` become blocks of that kind; text directly
    inside containers (`div`, `section`, `td`…) becomes a `p` block. `<br>` is a space. Scripts,
    styles, embeds, `noscript`, `template`, form controls, comments and all attributes are
    dropped; entities are decoded by the parser.

    With `extract_article`, a whole page (`<html>` or `<body>` in the markup) that holds one
    identifiable article keeps only that article (`_article_scope`), and says how many blocks of
    the rest (menus, related links, footer) it left out. A fragment is always kept whole.
    """
    tree = LexborHTMLParser(html, scripting=True)
    body = tree.body
    if body is None:
        return ParsedHtml([])
    if extract_article and _WHOLE_PAGE.search(html):
        found = _article_scope(tree)
        if found is not None:
            scope, name = found
            everything = _blocks_of(body)
            kept = _blocks_of(scope)
            if kept and len(kept) < len(everything):
                return ParsedHtml(kept, name, len(everything) - len(kept))
    return ParsedHtml(_blocks_of(body))


def parse_blocks(html: str) -> list[Block]:
    """Every text block of an HTML document or fragment (`parse_html` without extraction)."""
    return parse_html(html, extract_article=False).blocks


def render_html(blocks: Sequence[Block]) -> str:
    """Clean HTML for `blocks`, built from scratch: each block in its tag, its text escaped.

    Consecutive list items of one source list share one `<ul>`/`<ol>`; paragraphs of one
    blockquote share one `<blockquote>`. No attribute is ever written.
    """
    parts: list[str] = []
    i = 0
    while i < len(blocks):
        block = blocks[i]
        j = i + 1
        if block.group is not None:
            while j < len(blocks) and (blocks[j].kind, blocks[j].group) == (
                block.kind,
                block.group,
            ):
                j += 1
        run = blocks[i:j]
        if block.kind == "li":
            tag = block.list_type or "ul"
            items = "".join(f"<li>{_escape(b.text)}</li>" for b in run)
            parts.append(f"<{tag}>{items}</{tag}>")
        elif block.kind == "blockquote" and len(run) > 1:
            inner = "".join(f"<p>{_escape(b.text)}</p>" for b in run)
            parts.append(f"<blockquote>{inner}</blockquote>")
        elif block.kind == "figcaption":  # a caption belongs in a figure to be valid HTML
            parts.extend(
                f"<figure><figcaption>{_escape(b.text)}</figcaption></figure>" for b in run
            )
        else:
            parts.extend(f"<{b.kind}>{_escape(b.text)}</{b.kind}>" for b in run)
        i = j
    return "\n".join(parts)


def _escape(text: str) -> str:
    return html_lib.escape(text, quote=True)
