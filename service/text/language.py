"""Which language an article is in (py3langid), with a French default for short or unclear text."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

# Below this many characters (title and body, whitespace collapsed), a guess needs SHORT_CONFIDENCE.
SHORT_TEXT_CHARS = 40
# Probability the classifier must give its best language before we believe it. Measured on
# every word-boundary prefix (up to 80 characters) of the 400 FLORES lines, French and English,
# and of 50 OrangeSum titles: wrong guesses never reached 0.62, whatever the length.
CONFIDENCE = 0.7
SHORT_CONFIDENCE = 0.9
# Enough text to be sure; the classifier reads this many characters at most.
MAX_DETECTION_CHARS = 10_000
DEFAULT_LANGUAGE = "fr"

_lock = threading.Lock()
_identifier: Any = None


@dataclass(frozen=True)
class Detection:
    """The language to work in, and what the classifier said about it."""

    language: str = DEFAULT_LANGUAGE
    guess: str | None = None  # the classifier's best language
    probability: float = 0.0  # its probability, 0 to 1
    fallback: bool = False  # True when the guess was not trusted and the default was used
    short: bool = False  # True for text under SHORT_TEXT_CHARS


def _classifier() -> Any:
    """py3langid's bundled model with normalized probabilities, loaded once (about 1 s), its
    automaton and feature table held sparse (`langid_compact`: the same scores, 12 MiB in
    place of 73)."""
    global _identifier
    with _lock:
        if _identifier is None:
            from service.process import give_back_freed_memory
            from service.text.langid_compact import load_compact

            _identifier = load_compact(norm_probs=True)
            # Unpacking the model leaves ~20 MB of freed buffers in the heap: give them back.
            give_back_freed_memory()
        return _identifier


def load_detector() -> None:
    """Load the classifier now (about 1 s), so that the first article does not wait for it."""
    _classifier()


def classify(text: str) -> tuple[str, float]:
    """The classifier's best language for `text` (ISO 639 code) and its probability."""
    language, probability = _classifier().classify(text[:MAX_DETECTION_CHARS])
    return str(language), float(probability)


def detect_language(text: str) -> Detection:
    """The language of `text`, trusting the classifier only when it is confident.

    Rule: the classifier's best language is used when its probability is at least 0.7, or at
    least 0.9 for text under 40 characters. Otherwise the text is taken as French, the
    language the service is for: short titles and one-line tests ("Bonjour.") give the
    classifier too little to go on, and an unclear guess should not refuse an article.
    """
    sample = " ".join(text[: MAX_DETECTION_CHARS * 2].split())[:MAX_DETECTION_CHARS]
    if not sample:
        return Detection(fallback=True, short=True)
    guess, probability = classify(sample)
    short = len(sample) < SHORT_TEXT_CHARS
    if probability >= (SHORT_CONFIDENCE if short else CONFIDENCE):
        return Detection(guess, guess, probability, short=short)
    return Detection(DEFAULT_LANGUAGE, guess, probability, fallback=True, short=short)
