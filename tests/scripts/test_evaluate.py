"""scripts/evaluate.py: its metrics are sacrebleu's and rouge-score's own, its flag rates follow
the grounding contract, it pairs every hypothesis with its own reference, and it runs end to end.

The figures of the tiny models mean nothing; the end-to-end test checks the report's shape.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sacrebleu
from rouge_score import rouge_scorer  # type: ignore[import-untyped]

from service.config import Settings
from service.device import DeviceChoice
from service.pipeline import Pipeline
from service.results import SummarizeResult
from service.text.segment import normalize_text, split_sentences
from tests.conftest import DATA, ROOT, _load_script, model_env
from tests.fakes import RecordingEngine

evaluate = _load_script("evaluate")

ARTICLES = DATA / "orangesum_3.jsonl"

HYPOTHESES = [
    "The cat sat on the mat near the door.",
    "Prices rose by 2.5% in September, the ministry said.",
    "He never said that he would resign.",
    "Rain is expected tomorrow in the north.",
]
REFERENCES = [
    "The cat was sitting on the mat by the door.",
    "Prices rose 2.5% in September, according to the ministry.",
    "He did not say he would resign.",
    "Tomorrow, rain is expected in the north of the country.",
]


def _flores_lines(count: int) -> tuple[list[str], list[str]]:
    french = (DATA / "flores_devtest_400.fr").read_text(encoding="utf-8").splitlines()
    english = (DATA / "flores_devtest_400.en").read_text(encoding="utf-8").splitlines()
    return french[:count], english[:count]


def _flores_dir(folder: Path, count: int) -> Path:
    """A folder shaped like ../shared/data/parallel, holding the first `count` FLORES lines."""
    french, english = _flores_lines(count)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "flores200_devtest.fr").write_text("\n".join(french) + "\n", encoding="utf-8")
    (folder / "flores200_devtest.en").write_text("\n".join(english) + "\n", encoding="utf-8")
    return folder


def test_translation_scores_are_sacrebleus_own() -> None:
    scores = evaluate.translation_scores(HYPOTHESES, REFERENCES)
    assert scores["bleu"] == sacrebleu.corpus_bleu(HYPOTHESES, [REFERENCES]).score
    assert scores["chrf"] == sacrebleu.corpus_chrf(HYPOTHESES, [REFERENCES]).score
    assert 0 < scores["bleu"] < 100
    assert 0 < scores["chrf"] < 100
    assert scores["sentences"] == 4
    assert scores["bleu_signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp")
    assert "nc:6|nw:0" in scores["chrf_signature"]
    # Corpus scores, not a mean of sentence scores.
    sentence_mean = statistics.fmean(
        sacrebleu.sentence_bleu(h, [r]).score for h, r in zip(HYPOTHESES, REFERENCES, strict=True)
    )
    assert scores["bleu"] != pytest.approx(sentence_mean)


def test_translation_scores_refuse_unpaired_lines() -> None:
    with pytest.raises(ValueError, match="3 hypotheses for 4 references"):
        evaluate.translation_scores(HYPOTHESES[:3], REFERENCES)
    with pytest.raises(ValueError, match="no sentence"):
        evaluate.translation_scores([], [])


def test_rouge_scores_are_rouge_scores_own() -> None:
    predictions = ["\n".join(HYPOTHESES[:2]), HYPOTHESES[2], "\n".join(HYPOTHESES[3:])]
    references = ["\n".join(REFERENCES[:2]), REFERENCES[2], "\n".join(REFERENCES[3:])]
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"], use_stemmer=True)
    expected = [scorer.score(ref, pred) for pred, ref in zip(predictions, references, strict=True)]

    pairs = evaluate.rouge_pairs(predictions, references)
    for pair, direct in zip(pairs, expected, strict=True):
        assert pair == {kind: direct[kind].fmeasure for kind in evaluate.ROUGE_TYPES}
    means = evaluate.rouge_scores(predictions, references)
    for kind in evaluate.ROUGE_TYPES:
        assert means[kind] == statistics.fmean(d[kind].fmeasure for d in expected)
        assert 0 < means[kind] < 1
    # rougeLsum reads the newlines: it differs from rougeL on the two-sentence pair.
    assert pairs[0]["rougeLsum"] != pairs[0]["rougeL"]
    assert evaluate.rouge_scores([], []) == dict.fromkeys(evaluate.ROUGE_TYPES)
    with pytest.raises(ValueError, match="2 predictions for 3 references"):
        evaluate.rouge_pairs(predictions[:2], references)


def _point(text: str, supported: bool, *checks: tuple[str, str, bool]) -> dict[str, Any]:
    """One grounding entry of the contract's shape."""
    return {
        "text": text,
        "sources": [{"sentence": 0, "paragraph": 0, "score": 0.5}],
        "checks": [
            {"kind": kind, "value": value, "supported": ok, "found_in": [0] if ok else []}
            for kind, value, ok in checks
        ],
        "supported": supported,
        "replaced": False,
    }


def test_flag_rates_count_points_and_checks_per_kind() -> None:
    first = [
        _point(
            "Prices rose 2.5% on Monday.", True, ("number", "2.5%", True), ("date", "Monday", True)
        ),
        _point(
            "Macron met Merkel in 2019.",
            False,
            ("name", "Macron", True),
            ("name", "Merkel", True),
            ("number", "2019", False),
        ),
        _point("The plan was approved.", True),
    ]
    second = [
        _point("The law was not passed.", False, ("negation", "not", False)),
        {**_point("Paris said so.", True, ("name", "Paris", True)), "replaced": True},
    ]
    third: list[dict[str, Any]] = []  # an article with no key point at all

    rates = evaluate.flag_rates([first, second, third])

    assert rates["articles"] == 3
    assert rates["key_points"] == 5
    assert rates["unsupported"] == 2
    assert rates["unsupported_rate"] == 2 / 5
    assert rates["articles_with_unsupported"] == 2
    assert rates["replaced"] == 1
    assert rates["checks_by_kind"] == {
        "number": {"checks": 2, "unsupported": 1, "unsupported_rate": 0.5},
        "date": {"checks": 1, "unsupported": 0, "unsupported_rate": 0.0},
        "name": {"checks": 3, "unsupported": 0, "unsupported_rate": 0.0},
        "negation": {"checks": 1, "unsupported": 1, "unsupported_rate": 1.0},
    }


def test_flag_rates_without_points_is_no_rate_not_zero() -> None:
    rates = evaluate.flag_rates([[], []])
    assert rates["key_points"] == 0
    assert rates["unsupported_rate"] is None
    assert all(c["unsupported_rate"] is None for c in rates["checks_by_kind"].values())


def test_grounding_is_read_only_when_the_answer_has_it() -> None:
    assert evaluate.grounding_of({"key_points": ["a"]}) is None
    entry = _point("a", True)
    assert evaluate.grounding_of({"key_points": ["a"], "grounding": [entry]}) == [entry]


def test_translation_checks_are_counted_per_problem() -> None:
    answers = [
        [{"sentence": 1, "kind": "number", "value": "19", "problem": "missing"}],
        [],
        [
            {"sentence": 0, "kind": "number", "value": "1.5%", "problem": "added"},
            {"sentence": 3, "kind": "number", "value": "8th", "problem": "missing"},
        ],
    ]
    assert evaluate.translation_check_counts(answers) == {"missing": 2, "added": 1}


def _oracle_pipeline(pairs: dict[str, str], summary: str) -> Pipeline:
    """The real pipeline around stand-in engines: a translator that knows `pairs` exactly and a
    summarizer that always writes `summary`. No model weights; the harness is what runs."""
    known = {normalize_text(fr).strip(): en for fr, en in pairs.items()}  # as segment_parts sees it
    translator = RecordingEngine(window=512, transform=lambda text: known.get(text, "?"))
    summarizer = RecordingEngine(window=1024, transform=lambda _text: summary, task="summary")
    return Pipeline(translator, summarizer, DeviceChoice("cpu", "float32"), Settings(cache_size=0))


def test_each_hypothesis_is_scored_against_its_own_reference() -> None:
    """An exact translator scores 100 and an exact summary 1.0: nothing is shifted or mixed up,
    across chunks (the excerpt spans two) and between articles."""
    french, english = _flores_lines(80)
    single = [
        (fr, en)
        for fr, en in zip(french, english, strict=True)
        if len(split_sentences(fr, "fr")) == 1
    ]
    assert len(single) > evaluate.CHUNK_LINES
    pairs = dict(single)
    reference_fr, reference_en = single[0]
    pipeline = _oracle_pipeline(pairs, summary=reference_en)
    try:
        translation = evaluate.evaluate_translation(
            pipeline, [fr for fr, _ in single], [en for _, en in single]
        )
        assert translation["bleu"] == pytest.approx(100)
        assert translation["chrf"] == pytest.approx(100)
        assert translation["hypotheses"] == [en for _, en in single]

        article = {
            "id": "oracle",
            "title": None,
            "text": "\n\n".join(fr for fr, _ in single[1:6]),
            "summary_fr": reference_fr,
        }
        summary, failures = evaluate.evaluate_summaries(pipeline, [article, article])
    finally:
        pipeline.close()
    assert failures == []
    assert summary["rouge"] == dict.fromkeys(evaluate.ROUGE_TYPES, pytest.approx(1.0))
    assert summary["per_article"][0]["key_points"] == [reference_en]
    assert summary["per_article"][0]["reference_en"] == reference_en


def test_a_failed_article_is_named_and_the_others_still_count() -> None:
    french, english = _flores_lines(4)
    pipeline = _oracle_pipeline(dict(zip(french, english, strict=True)), summary=english[0])
    articles = [
        {"id": "empty", "title": None, "text": " \n ", "summary_fr": french[0]},
        {"id": "fine", "title": None, "text": "\n\n".join(french[1:]), "summary_fr": french[0]},
    ]
    try:
        summary, failures = evaluate.evaluate_summaries(pipeline, articles)
    finally:
        pipeline.close()
    assert failures == [{"id": "empty", "code": "empty_text", "message": failures[0]["message"]}]
    assert summary["failed"] == 1
    assert [a["id"] for a in summary["per_article"]] == ["fine"]
    assert summary["rouge"]["rouge1"] == pytest.approx(1.0)


def test_missing_data_fails_before_any_model_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = evaluate.main(["--flores", str(tmp_path / "nowhere"), "--skip-summary"])
    assert status == 2
    assert "flores200_devtest.fr not found" in capsys.readouterr().err


@pytest.mark.slow
def test_end_to_end_on_the_tiny_models(tmp_path: Path, settings: Settings) -> None:
    flores = _flores_dir(tmp_path / "parallel", 40)
    out = tmp_path / "eval.json"
    result = subprocess.run(
        [
            sys.executable,
            "scripts/evaluate.py",
            "--flores",
            str(flores),
            "--articles",
            str(ARTICLES),
            "--limit",
            "3",
            "--json",
            str(out),
        ],
        cwd=ROOT,
        env=model_env(settings),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert "FLORES: 100%" in result.stderr  # the progress bars
    assert "OrangeSum: 100%" in result.stderr
    assert "BLEU" in result.stdout
    assert "orangesum-abstract-test-6378" in result.stdout  # the per-article table

    report = json.loads(out.read_text(encoding="utf-8"))
    assert [m["task"] for m in report["models"]] == ["translation", "summary"]
    assert all(m["id"] and m["revision"] and m["engine"] for m in report["models"])
    assert report["machine"]["cores"] >= 1
    assert report["machine"]["device"].startswith("cpu")
    assert report["counts"]["flores_sentences"] == 3
    assert report["counts"]["articles"] == 3
    assert report["failures"] == []

    translation = report["translation"]
    assert isinstance(translation["bleu"], float)
    assert isinstance(translation["chrf"], float)
    assert translation["sentences"] == 3
    assert "hypotheses" not in translation

    summary = report["summary"]
    assert summary["articles"] == 3
    assert summary["key_points"] == sum(len(a["key_points"]) for a in summary["per_article"])
    assert set(summary["rouge"]) == {"rouge1", "rouge2", "rougeL", "rougeLsum"}
    assert all(isinstance(v, float) and 0 <= v <= 1 for v in summary["rouge"].values())
    assert "proxy" in summary["rouge_note"]
    for article in summary["per_article"]:
        assert article["reference_en"].strip()
        assert set(article["timings_ms"]) >= {
            "translate",
            "summarize",
            "total",
            "reference_translate",
        }
        assert article["timings_ms"]["total"] > 0
    assert summary["timings"]["article_total_ms"]["total"] > 0

    if "grounding" in SummarizeResult.model_fields:
        assert isinstance(summary["unsupported_rate"], float)
        assert set(summary["checks_by_kind"]) >= {"number", "date", "name", "negation"}
        assert summary["grounding_note"] is None
    else:  # grounding not merged yet: said so, never a made-up figure
        assert summary["unsupported_rate"] is None
        assert summary["checks_by_kind"] is None
        assert "no `grounding`" in summary["grounding_note"]
