"""What the pipeline returns: one set of models shared by the API, the CLI and the docs."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from service.text.html import BlockKind


class ThreadsUsed(BaseModel):
    """How a model uses the CPU (DEPECHE_*_INTER_THREADS / *_INTRA_THREADS)."""

    inter: int = Field(description="Model calls that run in parallel.")
    intra: int = Field(description="Threads inside one model call.")


class ModelUsed(BaseModel):
    """One model that worked on the article."""

    task: Literal["translation", "summary"]
    id: str = Field(description="Hub id, or the local folder when the hub id is unknown.")
    revision: str = Field(description="Hub commit or tag; `local` for an unrecorded folder.")
    engine: str = Field(description="Inference engine, e.g. `transformers`.")
    threads: ThreadsUsed | None = Field(
        None, description="Thread layout: parallel calls (inter) x threads per call (intra)."
    )


class Coverage(BaseModel):
    """Proof that nothing was dropped: source sentences versus sentences translated."""

    sentences: int = Field(description="Source sentences, title included.")
    translated: int = Field(description="Sentences that received a translation.")
    split: int = Field(
        0, description="Sentences longer than the model window, translated in pieces."
    )


class Timings(BaseModel):
    """Wall-clock milliseconds per stage."""

    segment: float = 0.0
    translate: float = 0.0
    summarize: float = 0.0
    ground: float = 0.0
    """Sentences indexed, key points grounded and checked, translation checked."""
    total: float = 0.0


class TokenCounts(BaseModel):
    """Tokens read and written by each model."""

    translation_input: int = 0
    translation_output: int = 0
    summary_input: int = 0
    summary_output: int = 0


class CacheUse(BaseModel):
    """What the paragraph cache saved: parts (headline, standfirst, body paragraphs, captions)
    whose translation was reused from an earlier article, versus translated now."""

    paragraphs_reused: int = 0
    paragraphs_translated: int = 0


class GlossaryUse(BaseModel):
    """One term of the glossary, of do_not_translate, or protected automatically, as found in
    the article, and whether its English is in the translation."""

    source: str = Field(
        description="The term as the glossary or do_not_translate gives it; for `protected`, "
        "the URL, address, handle or hashtag as the article has it."
    )
    target: str = Field(
        description="The English it must become: the glossary's target; the term itself for "
        "`do_not_translate` (kept as the article spells it) and `protected`."
    )
    kind: Literal["glossary", "do_not_translate", "protected"]
    sentences: list[int] = Field(
        description="Ids (as in `translation.sentences`) of the sentences whose French holds it."
    )
    applied: bool = Field(
        description="True only when the English of every one of those sentences holds the "
        "target (as often as the French holds the term)."
    )


class Meta(BaseModel):
    """How the result was made."""

    models: list[ModelUsed]
    device: str = Field(
        description="Device and the precision the models run in, e.g. `cpu (float32)`, "
        "`cpu (int8)` under CTranslate2, or each model's when they differ."
    )
    timings_ms: Timings
    coverage: Coverage
    tokens: TokenCounts
    strategy: Literal["single", "map_reduce"] | None = Field(
        None, description="Summary strategy; null when no summary was asked for."
    )
    chunks: int = Field(0, description="Chunks summarized in the first pass (1 for `single`).")
    source_lang: str | None = Field(
        None,
        description="Language the article was treated as: `fr` (translated) or `en` (translation "
        "skipped), from `source_lang` in the request or detected.",
    )
    warnings: list[str] = Field(default_factory=list)
    cache: CacheUse | None = Field(
        None,
        description="Paragraphs reused from the translation cache versus translated now; null "
        "when translation was skipped (English input).",
    )
    glossary: list[GlossaryUse] = Field(
        default_factory=list,
        description="Each glossary term, do_not_translate term and protected URL, e-mail "
        "address, @handle or #hashtag found in the article, with the sentences that hold it "
        "and whether its English is in their translation (empty when none was found).",
    )


class TranslatedBlock(BaseModel):
    """One block of an HTML article, translated."""

    kind: BlockKind = Field(description="The source tag: `p`, `h1`–`h6`, `li`, …")
    text: str = Field(description="The English text of the block.")


# --- Grounding: addressable sentences, key points checked against them (README "Grounding and
# checks"); built by service.grounding.

PartName = Literal["title", "standfirst", "caption"]


class ArticleSentence(BaseModel):
    """One sentence of the article, French and English, addressable by its id."""

    id: int = Field(description="0, 1, ... over the whole article, in reading order.")
    paragraph: int | PartName = Field(
        description="Index into `translation.paragraphs` for body sentences; `title`, "
        "`standfirst` or `caption` for the other parts."
    )
    caption: int | None = Field(
        None, description="Index into `translation.captions` when `paragraph` is `caption`."
    )
    source: str = Field(description="The sentence as sent (French; the original for English).")
    text: str = Field(description="Its English (the original for English input).")


class SourceRef(BaseModel):
    """A sentence a key point rests on."""

    sentence: int = Field(description="The sentence's id in `translation.sentences`.")
    paragraph: int | PartName = Field(description="Its paragraph, as in `translation.sentences`.")
    score: float = Field(
        ge=0,
        le=1,
        description="Share of the point's content words (stemmed, function words left out) "
        "that the sentence's English has.",
    )


CheckKind = Literal["number", "date", "name", "negation"]


class FactCheck(BaseModel):
    """One fact of a key point, looked up in the article."""

    kind: CheckKind
    value: str = Field(
        description="The fact in canonical form (`19`, `1.5%`, `€2.5 billion`, `September 4`, "
        "`Kim Jong-Un`), or for `negation` the negation word at stake (`not`, `n't`)."
    )
    supported: bool = Field(description="Whether the article says it (see README).")
    found_in: list[int] = Field(
        default_factory=list, description="Ids of the sentences that say it."
    )
    note: str | None = Field(
        None, description="Why it is not supported, in plain words; null when supported."
    )


class PointGrounding(BaseModel):
    """Where one key point comes from and whether its facts are in the article."""

    text: str = Field(description="The key point (as in `key_points`).")
    sources: list[SourceRef] = Field(
        default_factory=list, description="The sentences it rests on, best first (up to 3)."
    )
    checks: list[FactCheck] = Field(default_factory=list)
    supported: bool = Field(description="True when every check is supported.")
    replaced: bool = Field(
        False,
        description='True when `options.unsupported` = "replace" put the best source '
        "sentence's English in place of an unsupported point.",
    )
    original: str | None = Field(None, description="The point before it was replaced.")


class TranslationCheck(BaseModel):
    """A number that one sentence's French and English do not share."""

    sentence: int = Field(description="The sentence's id in `translation.sentences`.")
    kind: Literal["number"] = "number"
    value: str = Field(description="The number in canonical form, e.g. `1.5%`.")
    problem: Literal["missing", "added"] = Field(
        description="`missing`: in the French, not in the English; `added`: the other way."
    )


class VerifyResult(BaseModel):
    """Answer of POST /verify: the checks of /summarize on the text sent, no model involved."""

    grounding: list[PointGrounding] = Field(description="One entry per key point, in order.")
    translation_checks: list[TranslationCheck] = Field(
        description="Numbers of a French sentence missing from its English, or the other way."
    )
    sentences: list[ArticleSentence] = Field(
        description="The sentences of `translation` (and `source`), with their ids."
    )


class Translation(BaseModel):
    """The English article, paragraph for paragraph (for English input: the original text)."""

    title: str | None = Field(description="The translated headline, when one was sent.")
    standfirst: str | None = Field(
        None, description="The translated standfirst, when one was sent."
    )
    captions: list[str] = Field(
        default_factory=list, description="The translated captions, one per caption sent, in order."
    )
    paragraphs: list[str] = Field(
        description="One English paragraph per source paragraph (per block for HTML input)."
    )
    text: str = Field(description="Title, standfirst and paragraphs joined with blank lines.")
    blocks: list[TranslatedBlock] | None = Field(
        None, description="HTML input only: the blocks in document order, kind and English text."
    )
    html: str | None = Field(
        None,
        description='With `"format": "html"`: the paragraphs or blocks as clean HTML, built from '
        "scratch (tags only, no attributes, text escaped).",
    )
    sentences: list[ArticleSentence] = Field(
        default_factory=list,
        description="Every sentence in reading order (headline, standfirst, paragraphs, "
        "captions), French and English, with the ids `grounding` refers to.",
    )


class TranslateResult(BaseModel):
    """Answer of POST /translate."""

    translation: Translation
    translation_checks: list[TranslationCheck] = Field(
        default_factory=list,
        description="Numbers of a French sentence missing from its English, or the other way.",
    )
    meta: Meta


class SummarizeResult(BaseModel):
    """Answer of POST /summarize."""

    translation: Translation
    key_points: list[str] = Field(description="3 to 6 short English sentences, in article order.")
    summary: str = Field(description="The English summary the key points come from.")
    grounding: list[PointGrounding] = Field(
        default_factory=list,
        description="One entry per key point, same order: its source sentences and checks.",
    )
    translation_checks: list[TranslationCheck] = Field(
        default_factory=list,
        description="Numbers of a French sentence missing from its English, or the other way.",
    )
    meta: Meta
