"""Response examples for the OpenAPI document, built from the response models themselves so
they can never drift from the schema (tests validate each one against its endpoint's model).

The English text is a hand-written rendition of the short request example, for illustration;
it is not model output.
"""

from __future__ import annotations

from typing import Any

from service import __version__
from service.grounding.checks import check_translation
from service.grounding.policy import ground_summary
from service.grounding.sentences import build_sentences
from service.grounding.verify import verify_text
from service.results import (
    CacheUse,
    Coverage,
    Meta,
    ModelUsed,
    SummarizeResult,
    ThreadsUsed,
    Timings,
    TokenCounts,
    TranslateResult,
    Translation,
)
from service.text.segment import segment_parts

_TITLE = "Putin and Kim Jong-Un could meet in Russia"
_PARAGRAPHS = [
    "According to Washington, Vladimir Putin and Kim Jong-Un could meet soon in Russia.",
    "It would be a wish of the Russian president, while the two countries are accused of "
    "negotiating arms deliveries.",
]
_MODELS = [
    ModelUsed(
        task="translation",
        id="Helsinki-NLP/opus-mt-fr-en",
        revision="b4a9a384c2ec68a224bbd2ee3fd5df0c71ca5b1b",
        engine="ctranslate2 (int8)",
        threads=ThreadsUsed(inter=2, intra=1),
    ),
    ModelUsed(
        task="summary",
        id="sshleifer/distilbart-cnn-12-6",
        revision="a4f8f3ea906ed274767e9906dbaede7531d660ff",
        engine="ctranslate2 (int8)",
        threads=ThreadsUsed(inter=2, intra=1),
    ),
]
# The French the English above renders, one sentence per part, for the sentence ids.
_SOURCE_TITLE = "Poutine et Kim Jong-Un pourraient se rencontrer en Russie"
_SOURCE = [
    "Selon Washington, Vladimir Poutine et Kim Jong-Un pourraient se rencontrer prochainement "
    "en Russie.",
    "Il s’agirait d’un souhait du président russe, alors que les deux pays sont accusés de "
    "négocier des livraisons d’armes.",
]
_SENTENCES = build_sentences(segment_parts(_SOURCE, _SOURCE_TITLE), [_TITLE, *_PARAGRAPHS])
_TRANSLATION = Translation(
    title=_TITLE,
    paragraphs=_PARAGRAPHS,
    text="\n\n".join([_TITLE, *_PARAGRAPHS]),
    sentences=_SENTENCES,
)


def _meta(*, summary: bool) -> Meta:
    return Meta(
        models=_MODELS if summary else _MODELS[:1],
        device="cpu (int8)",
        timings_ms=Timings(
            segment=1.2,
            translate=612.4,
            summarize=1480.9 if summary else 0.0,
            total=2101.3 if summary else 619.0,
        ),
        coverage=Coverage(sentences=3, translated=3),
        tokens=TokenCounts(
            translation_input=61,
            translation_output=52,
            summary_input=58 if summary else 0,
            summary_output=41 if summary else 0,
        ),
        strategy="single" if summary else None,
        chunks=1 if summary else 0,
        source_lang="fr",
        cache=CacheUse(paragraphs_reused=0, paragraphs_translated=3),
    )


_KEY_POINTS = [
    "Vladimir Putin and Kim Jong-Un could meet soon in Russia, according to Washington.",
    "The meeting would be a wish of the Russian president.",
    "The two countries are accused of negotiating arms deliveries.",
]
SUMMARIZE_RESULT = SummarizeResult(
    translation=_TRANSLATION,
    key_points=_KEY_POINTS,
    # The grounding of these points, computed by the service's own checks (no model involved).
    grounding=ground_summary(_KEY_POINTS, _SENTENCES).grounding,
    translation_checks=check_translation(_SENTENCES, french=True),
    summary="Vladimir Putin and Kim Jong-Un could meet soon in Russia, according to "
    "Washington. The meeting would be a wish of the Russian president. The two countries are "
    "accused of negotiating arms deliveries.",
    meta=_meta(summary=True),
)

TRANSLATE_RESULT = TranslateResult(translation=_TRANSLATION, meta=_meta(summary=False))

# /verify: an editor's points, one of them with a wrong number and one with a name the article
# does not have; the answer is what the service computes for them.
VERIFY_REQUEST: dict[str, Any] = {
    "translation": _PARAGRAPHS,
    "source": _SOURCE,
    "key_points": [
        "Vladimir Putin and Kim Jong-Un could meet soon in Russia, according to Washington.",
        "The three countries are accused of negotiating arms deliveries.",
        "Xi Jinping would like to meet the Russian president.",
    ],
}
VERIFY_RESULT = verify_text(
    VERIFY_REQUEST["translation"],
    VERIFY_REQUEST["source"],
    VERIFY_REQUEST["key_points"],
    max_chars=100_000,
)

HEALTH = {
    "status": "ok",
    "version": __version__,
    "ready": True,
    "device": "cpu (int8)",
    "requested_device": "auto",
    "preset": "balanced",
    "load_error": None,
    "load_warnings": [],
}

READY = {
    "status": "ready",
    "device": "cpu (int8)",
    "models": [model.model_dump(mode="json") for model in _MODELS],
}


def example(value: Any, description: str = "Successful Response") -> dict[str, Any]:
    """An OpenAPI response entry with one JSON example (a model is dumped as JSON)."""
    dump = getattr(value, "model_dump", None)
    body = dump(mode="json") if callable(dump) else value
    return {"description": description, "content": {"application/json": {"example": body}}}
