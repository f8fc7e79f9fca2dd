"""TEST-ONLY canned answers in CONTRACT.md's shape, for the page's rendering tests.

Hand-written, not model output: the French and English are the memorized FLORES pairs plus a
few hand-made sentences, one with a planted translation error (a dropped number) and one key
point with a planted wrong number. `fake_verify` stands in for POST /verify with a deliberately
crude rule (numbers and capitalised words looked up in the English, sources by shared words) so
the page's handling of /verify answers can be tested before the real route exists; it checks
the page, never the service's rules.
"""

from __future__ import annotations

import re
from typing import Any

# (paragraph, French, English); paragraph "title" / int / "caption".
SENTENCES: list[tuple[Any, str, str]] = [
    ("title", "Bachmann abandonne la course", "Bachmann drops out of the race"),
    (
        0,
        "Bachmann, qui avait gagné le « vote de paille » d’Âmes en août, décida de mettre un "
        "terme à sa campagne.",
        "Bachmann, who won the Ames Straw Poll in August, decided to end her campaign.",
    ),
    (
        0,
        "Il a qualifié les rumeurs de « bavardages et de bêtises politiques ».",
        'He referred to the rumors as "political chatter and silliness".',
    ),
    (
        1,
        "Suite à l’accident, Gibson a été transporté à l’hôpital, mais a succombé immédiatement "
        "après.",
        "After the accident occurred, Gibson was transported to a hospital but died shortly "
        "afterwards.",
    ),
    (
        2,
        "Le bureau du gouverneur a déclaré que dix-neuf des blessés étaient des officiers de "
        "police.",
        "The governor's office said nineteen of the injured were police officers.",
    ),
    (2, "L’incendie a touché 3 bâtiments.", "The fire hit buildings."),  # planted: "3" dropped
    (
        2,
        "Les reportages télévisés montrent de la fumée blanche provenant de l'usine.",
        "Television reports show white smoke coming from the plant.",
    ),
    (
        3,
        "Il a produit plus de 1000 timbres pour la Suède et 28 autres pays.",
        "He produced over 1,000 stamps for Sweden and 28 other countries.",
    ),
    ("caption", "Michele Bachmann à Ames, en août.", "Michele Bachmann in Ames, in August."),
]

TITLE_FR = SENTENCES[0][1]
BODY_FR = [
    " ".join(fr for p, fr, _ in SENTENCES if p == index) for index in range(4)
]  # what the editor pastes, one paragraph a line
PARAGRAPHS_EN = [" ".join(en for p, _, en in SENTENCES if p == index) for index in range(4)]

KEY_POINTS = [
    "Bachmann decided to end her campaign after winning the Ames Straw Poll in August.",
    "The governor's office said nineteen of the injured were police officers.",
    "He produced over 1,000 stamps for Sweden and 19 other countries.",  # planted: 19, not 28
]


def _check(kind: str, value: str, found_in: list[int]) -> dict[str, Any]:
    return {"kind": kind, "value": value, "supported": bool(found_in), "found_in": found_in}


GROUNDING = [
    {
        "text": KEY_POINTS[0],
        "sources": [{"sentence": 1, "paragraph": 0, "score": 0.86}],
        "checks": [
            _check("name", "Bachmann", [0, 1, 8]),
            _check("name", "Ames", [1, 8]),
            _check("date", "August", [1, 8]),
        ],
        "supported": True,
        "replaced": False,
    },
    {
        "text": KEY_POINTS[1],
        "sources": [{"sentence": 4, "paragraph": 2, "score": 0.97}],
        "checks": [_check("number", "nineteen", [4])],
        "supported": True,
        "replaced": False,
    },
    {
        "text": KEY_POINTS[2],
        "sources": [{"sentence": 7, "paragraph": 3, "score": 0.81}],
        "checks": [
            _check("number", "1,000", [7]),
            _check("name", "Sweden", [7]),
            _check("number", "19", []),
        ],
        "supported": False,
        "replaced": False,
    },
]

TRANSLATION_CHECKS = [{"sentence": 5, "kind": "number", "value": "3", "problem": "missing"}]

GLOSSARY = [
    {"source": "Suède", "target": "Sweden", "kind": "glossary", "sentences": [7], "applied": True},
    {
        "source": "usine",
        "target": "factory",
        "kind": "glossary",
        "sentences": [6],
        "applied": False,
    },
]


def sentences() -> list[dict[str, Any]]:
    return [
        {
            "id": i,
            "paragraph": p,
            "caption": 0 if p == "caption" else None,
            "source": fr,
            "text": en,
        }
        for i, (p, fr, en) in enumerate(SENTENCES)
    ]


def summarize_answer() -> dict[str, Any]:
    title_en = SENTENCES[0][2]
    return {
        "translation": {
            "title": title_en,
            "standfirst": None,
            "captions": [SENTENCES[-1][2]],
            "paragraphs": PARAGRAPHS_EN,
            "text": "\n\n".join([title_en, *PARAGRAPHS_EN]),
            "blocks": None,
            "html": None,
            "sentences": sentences(),
        },
        "key_points": KEY_POINTS,
        "grounding": GROUNDING,
        "translation_checks": TRANSLATION_CHECKS,
        "summary": " ".join(KEY_POINTS),
        "meta": {
            "models": [],
            "device": "cpu (float32)",
            "timings_ms": {
                "segment": 1.0,
                "translate": 900.0,
                "summarize": 1500.0,
                "total": 2410.0,
            },
            "coverage": {"sentences": 9, "translated": 9, "split": 0},
            "tokens": {},
            "strategy": "single",
            "chunks": 1,
            "source_lang": "fr",
            "warnings": ["1 translation check: a number of the French is missing in the English"],
            "cache": None,
            "glossary": GLOSSARY,
        },
    }


def job(status: str, stage: str, done: int = 0, total: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "id": "c0ffee00c0ffee00c0ffee00c0ffee00",
        "status": status,
        "progress": {
            "stage": stage,
            "done": done,
            "total": total,
            "fraction": done / total if total else 0.0,
        },
        "created_at": "2026-11-28T09:00:00Z",
        "updated_at": "2026-11-28T09:00:01Z",
        "runs": 1,
        "request_id": "contract-test",
        **extra,
    }


JOB_STATES = [
    job("queued", "queued"),
    job("running", "translating", 4, 9),
    job("running", "summarizing", 9, 9),
    job("done", "done", 9, 9, result=summarize_answer()),
]

_NUMBER = re.compile(r"\d[\d,.]*\d|\d|\b(?:nineteen|twenty-eight)\b", re.I)
_NAME = re.compile(r"(?<=\s)[A-Z][a-z]+")


def fake_verify(body: dict[str, Any]) -> dict[str, Any]:
    """A crude stand-in for POST /verify (see the module docstring). Its sentence ids count the
    paragraphs' sentences only, as the contract says, so the page must map them to its own."""
    verify_sentences = [
        {"id": i, "paragraph": p, "source": fr, "text": en}
        for i, (p, fr, en) in enumerate(s for s in SENTENCES if isinstance(s[0], int))
    ]
    assert [
        " ".join(s["text"] for s in verify_sentences if s["paragraph"] == i) for i in range(4)
    ] == (body["translation"]), "the page sent another English than the article's"
    grounding = []
    for point in body["key_points"]:
        checks = []
        for kind, pattern in (("number", _NUMBER), ("name", _NAME)):
            for value in dict.fromkeys(pattern.findall(point)):
                found = [s["id"] for s in verify_sentences if value.lower() in s["text"].lower()]
                checks.append(_check(kind, value, found))
        words = set(re.findall(r"[a-z]{4,}", point.lower()))
        scored = [
            (len(words & set(re.findall(r"[a-z]{4,}", s["text"].lower()))) / max(len(words), 1), s)
            for s in verify_sentences
        ]
        best = [(score, s) for score, s in sorted(scored, key=lambda x: -x[0]) if score >= 0.3][:2]
        grounding.append(
            {
                "text": point,
                "sources": [
                    {"sentence": s["id"], "paragraph": s["paragraph"], "score": round(score, 2)}
                    for score, s in best
                ],
                "checks": checks,
                "supported": all(c["supported"] for c in checks),
                "replaced": False,
            }
        )
    return {"grounding": grounding, "translation_checks": [], "sentences": verify_sentences}
