"""Evaluate the service's models: FLORES-200 BLEU and chrF, and OrangeSum key-point flags and ROUGE.

Anyone can rerun it. The models come from the service's own settings (``service.config.Settings``,
so ``DEPECHE_TRANSLATION_MODEL``, ``DEPECHE_ENGINE``, ``DEPECHE_PRECISION``... apply) and run
through the service's own pipeline (``Pipeline.load``, ``Pipeline.translate``,
``Pipeline.summarize``): what is measured is what the API answers.

Translation
    The French side of FLORES-200 devtest goes through ``Pipeline.translate`` in articles of
    ``CHUNK_LINES`` lines, one FLORES line per paragraph, so the service segments and batches
    them as it does any article; each paragraph of the answer is the hypothesis of its line.
    BLEU and chrF are sacrebleu's corpus scores with its default settings (13a tokenization,
    exp smoothing; chrF with char order 6, beta 2), against the English side.

Summaries
    Each OrangeSum article (French body and headline) goes through ``Pipeline.summarize`` with
    the default options (``options.unsupported = "flag"``, so every point is kept). Reported:
    - the share of key points whose ``grounding[].supported`` is false, and per check ``kind``
      the checks made and how many were unsupported (``null`` with a note when the pipeline's
      result carries no ``grounding``: no number is made up);
    - ROUGE-1/2/L/Lsum F1 (rouge-score, Porter stemmer) of the key points against the French
      reference summary translated by the same service. That is a proxy: the reference passes
      through the translator, so translation errors and wording move the score too.
    - timings per article, from the answers' ``meta.timings_ms``, and totals.

Usage::

    python scripts/evaluate.py                                 # all of FLORES and OrangeSum
    python scripts/evaluate.py --limit 20 --json eval.json     # a quick look
    python scripts/evaluate.py --skip-summary --flores DIR     # translation only

Exit status: 0, 1 when an article failed (the others still count; the report names it), 2 when
the data or the models could not be loaded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, TextIO

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.article import ArticleInput  # noqa: E402  (the service's own pipeline)
from service.config import Settings  # noqa: E402
from service.device import DeviceUnavailableError, available_cores  # noqa: E402
from service.engines.loader import ModelLoadError  # noqa: E402
from service.errors import DepecheError  # noqa: E402
from service.logs import configure_logging  # noqa: E402
from service.pipeline import Pipeline  # noqa: E402
from service.text.segment import split_sentences  # noqa: E402

DEFAULT_FLORES = ROOT.parent / "shared" / "data" / "parallel"
DEFAULT_ARTICLES = ROOT.parent / "shared" / "data" / "articles" / "fr_news.jsonl"
FLORES_FR = "flores200_devtest.fr"
FLORES_EN = "flores200_devtest.en"
# FLORES lines per article sent to the pipeline: enough for full batches, small enough that the
# progress bar moves and no chunk comes near DEPECHE_MAX_CHARS (32 lines are about 5,000 chars).
CHUNK_LINES = 32
ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")
CHECK_KINDS = ("number", "date", "name", "negation")  # the contract's kinds, always reported
ROUGE_NOTE = (
    "proxy: the key points against the OrangeSum reference summary (French, written by the "
    "article's author) translated into English by this service; translation errors and "
    "wording move it too, and OrangeSum references are one-sentence abstracts, not the "
    "CNN/DailyMail highlights the published ROUGE figures of the summarizer were measured on"
)
NO_GROUNDING_NOTE = (
    "the pipeline's summarize result has no `grounding`: unsupported_rate and checks_by_kind "
    "are null, not measured"
)
# Published figures of the default models (README "Evaluation"), shown beside ours when the
# same model runs. The FLORES-101 and FLORES-200 devtest French and English sides are identical.
PUBLISHED: dict[str, dict[str, str]] = {
    "Helsinki-NLP/opus-mt-fr-en": {
        "BLEU": "37.8 on newstest2014, 41.7 on FLORES-101 devtest (model card)",
    },
    "Helsinki-NLP/opus-mt-tc-big-fr-en": {"BLEU": "46.0 on FLORES-101 devtest (model card)"},
    "sshleifer/distilbart-cnn-12-6": {
        "ROUGE": "ROUGE-1/2/Lsum 44.24/21.27/41.21 on CNN/DailyMail (model card)",
    },
}


class EvaluationError(Exception):
    """The data cannot be evaluated as given (missing file, mismatched lines, failed chunk)."""


# ---- metrics: pure functions on fixed data ---------------------------------------------------


def translation_scores(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, Any]:
    """Corpus BLEU and chrF (sacrebleu defaults, one reference per line) and their signatures."""
    from sacrebleu.metrics.bleu import BLEU
    from sacrebleu.metrics.chrf import CHRF

    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses for {len(references)} references")
    if not hypotheses:
        raise ValueError("no sentence to score")
    bleu, chrf = BLEU(), CHRF()
    refs = [list(references)]
    bleu_score = bleu.corpus_score(list(hypotheses), refs)
    chrf_score = chrf.corpus_score(list(hypotheses), refs)
    return {
        "bleu": bleu_score.score,
        "chrf": chrf_score.score,
        "bleu_signature": str(bleu.get_signature()),
        "chrf_signature": str(chrf.get_signature()),
        "sentences": len(hypotheses),
    }


def rouge_pairs(predictions: Sequence[str], references: Sequence[str]) -> list[dict[str, float]]:
    """ROUGE F1 of each prediction against its reference (rouge-score, Porter stemmer).

    Sentences are separated by newlines in both, which is what rougeLsum reads."""
    from rouge_score import rouge_scorer  # type: ignore[import-untyped]

    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
    pairs = []
    for prediction, reference in zip(predictions, references, strict=True):
        scores = scorer.score(reference, prediction)  # rouge-score's order: target first
        pairs.append({kind: float(scores[kind].fmeasure) for kind in ROUGE_TYPES})
    return pairs


def rouge_scores(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float | None]:
    """Mean ROUGE F1 over the pairs (rouge1, rouge2, rougeL, rougeLsum); None when no pair."""
    pairs = rouge_pairs(predictions, references)
    return {
        kind: statistics.fmean(pair[kind] for pair in pairs) if pairs else None
        for kind in ROUGE_TYPES
    }


def flag_rates(groundings: Iterable[Sequence[Mapping[str, Any]]]) -> dict[str, Any]:
    """Key points flagged unsupported and checks per kind, over articles' `grounding` lists.

    Each entry has the contract's shape (`text`, `sources`, `checks`, `supported`, `replaced`);
    a point counts as unsupported when `supported` is false, a check when its `supported` is."""
    articles = points = unsupported = replaced = flagged_articles = 0
    by_kind: dict[str, dict[str, int]] = {
        kind: {"checks": 0, "unsupported": 0} for kind in CHECK_KINDS
    }
    for grounding in groundings:
        articles += 1
        article_unsupported = 0
        for point in grounding:
            points += 1
            if point.get("supported") is False:
                article_unsupported += 1
            if point.get("replaced"):
                replaced += 1
            for check in point.get("checks") or []:
                counts = by_kind.setdefault(str(check.get("kind")), {"checks": 0, "unsupported": 0})
                counts["checks"] += 1
                if check.get("supported") is False:
                    counts["unsupported"] += 1
        unsupported += article_unsupported
        flagged_articles += article_unsupported > 0
    return {
        "articles": articles,
        "key_points": points,
        "unsupported": unsupported,
        "unsupported_rate": unsupported / points if points else None,
        "replaced": replaced,
        "articles_with_unsupported": flagged_articles,
        "checks_by_kind": {
            kind: {
                **counts,
                "unsupported_rate": counts["unsupported"] / counts["checks"]
                if counts["checks"]
                else None,
            }
            for kind, counts in by_kind.items()
        },
    }


def translation_check_counts(
    checks: Iterable[Sequence[Mapping[str, Any]]],
) -> dict[str, int]:
    """Top-level `translation_checks` of several answers, counted per `problem`."""
    counts = {"missing": 0, "added": 0}
    for answer in checks:
        for check in answer:
            problem = str(check.get("problem"))
            counts[problem] = counts.get(problem, 0) + 1
    return counts


def timing_stats(values_ms: Sequence[float]) -> dict[str, float | None]:
    """Total, mean, median and max of per-article timings, in milliseconds."""
    if not values_ms:
        return {"total": 0.0, "mean": None, "median": None, "max": None}
    return {
        "total": round(sum(values_ms), 1),
        "mean": round(statistics.fmean(values_ms), 1),
        "median": round(statistics.median(values_ms), 1),
        "max": round(max(values_ms), 1),
    }


# ---- data ------------------------------------------------------------------------------------


def read_flores(folder: Path, limit: int | None) -> tuple[list[str], list[str]]:
    """French and English lines of FLORES-200 devtest in `folder`, the first `limit` of them."""
    pair = [folder / FLORES_FR, folder / FLORES_EN]
    for path in pair:
        if not path.is_file():
            raise EvaluationError(
                f"{path} not found: pass --flores DIR (a folder with {FLORES_FR} and "
                f"{FLORES_EN}) or --skip-translation"
            )
    french, english = (path.read_text(encoding="utf-8").splitlines() for path in pair)
    if len(french) != len(english):
        raise EvaluationError(f"{len(french)} French lines for {len(english)} English lines")
    empty = [
        n
        for n, (fr, en) in enumerate(zip(french, english, strict=True), 1)
        if not fr.strip() or not en.strip()
    ]
    if empty:
        raise EvaluationError(
            f"empty FLORES line(s) at {empty[:5]}: one sentence per line expected"
        )
    return french[:limit], english[:limit]


def read_articles(path: Path, limit: int | None) -> list[dict[str, Any]]:
    """OrangeSum records (`id`, `title`, `text`, `summary_fr`), the first `limit` of them."""
    if not path.is_file():
        raise EvaluationError(f"{path} not found: pass --articles FILE or --skip-summary")
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        record = json.loads(line)
        missing = [key for key in ("id", "text", "summary_fr") if not record.get(key)]
        if missing:
            raise EvaluationError(f"{path}:{number}: no {', '.join(missing)}")
        records.append(record)
        if limit is not None and len(records) == limit:
            break
    return records


# ---- runs through the service's pipeline -----------------------------------------------------


def _bar(total: int, desc: str, unit: str) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True)


def evaluate_translation(
    pipeline: Pipeline, french: Sequence[str], english: Sequence[str]
) -> dict[str, Any]:
    """Translate the French lines with the service, then score them against the English."""
    hypotheses: list[str] = []
    checks: list[list[dict[str, Any]]] = []
    has_checks = True
    tokens_in = tokens_out = 0
    translate_ms = 0.0
    started = time.perf_counter()
    with _bar(len(french), "FLORES", "sentence") as bar:
        for first in range(0, len(french), CHUNK_LINES):
            chunk = french[first : first + CHUNK_LINES]
            article = ArticleInput(text="\n\n".join(chunk), source_lang="fr")
            try:
                result = pipeline.translate(article)
            except DepecheError as exc:
                raise EvaluationError(
                    f"FLORES lines {first + 1}-{first + len(chunk)}: {exc.message}"
                ) from exc
            paragraphs = result.translation.paragraphs
            if len(paragraphs) != len(chunk):
                # Never score a shifted corpus: one line, one paragraph, or stop.
                raise EvaluationError(
                    f"FLORES lines {first + 1}-{first + len(chunk)}: {len(paragraphs)} "
                    f"paragraphs came back for {len(chunk)} lines"
                )
            hypotheses.extend(paragraphs)
            document = result.model_dump()
            if "translation_checks" in document:
                checks.append(document["translation_checks"])
            else:
                has_checks = False
            tokens_in += result.meta.tokens.translation_input
            tokens_out += result.meta.tokens.translation_output
            translate_ms += result.meta.timings_ms.translate
            bar.update(len(chunk))
    wall_s = time.perf_counter() - started
    scores = translation_scores(hypotheses, english)
    return {
        **scores,
        "dataset": "FLORES-200 devtest fra_Latn -> eng_Latn",
        "translation_checks": translation_check_counts(checks) if has_checks else None,
        "tokens": {"input": tokens_in, "output": tokens_out},
        "timings": {
            "wall_s": round(wall_s, 2),
            "translate_ms": round(translate_ms, 1),
            "sentences_per_s": round(len(french) / wall_s, 2) if wall_s else None,
            "output_tokens_per_s": round(tokens_out / wall_s, 1) if wall_s else None,
        },
        "hypotheses": hypotheses,
    }


@dataclass
class _ArticleRun:
    record: dict[str, Any]  # what the report keeps of the article
    key_points: list[str]
    reference_en: str
    grounding: list[dict[str, Any]] | None
    translation_checks: list[dict[str, Any]] | None


def grounding_of(answer: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """The `grounding` list of a summarize answer (as JSON), None when it carries none."""
    grounding = answer.get("grounding")
    return list(grounding) if isinstance(grounding, list) else None


def _run_article(pipeline: Pipeline, article: Mapping[str, Any]) -> _ArticleRun:
    started = time.perf_counter()
    result = pipeline.summarize(
        ArticleInput(text=article["text"], title=article.get("title") or None, source_lang="fr")
    )
    summarize_wall = time.perf_counter() - started
    reference = pipeline.translate(ArticleInput(text=article["summary_fr"], source_lang="fr"))
    answer = result.model_dump()
    grounding = grounding_of(answer)
    timings = result.meta.timings_ms
    unsupported = (
        [point["text"] for point in grounding if point.get("supported") is False]
        if grounding is not None
        else None
    )
    record = {
        "id": article["id"],
        "words": len(article["text"].split()),
        "key_points": result.key_points,
        "reference_en": reference.translation.text,
        "unsupported": len(unsupported) if unsupported is not None else None,
        "unsupported_points": unsupported,
        "checks": sum(len(point.get("checks") or []) for point in grounding)
        if grounding is not None
        else None,
        "strategy": result.meta.strategy,
        "chunks": result.meta.chunks,
        "warnings": result.meta.warnings,
        "timings_ms": {
            "segment": timings.segment,
            "translate": timings.translate,
            "summarize": timings.summarize,
            "total": timings.total,
            "wall": round(summarize_wall * 1000, 1),
            "reference_translate": reference.meta.timings_ms.total,
        },
    }
    checks = answer.get("translation_checks")
    return _ArticleRun(
        record=record,
        key_points=result.key_points,
        reference_en=reference.translation.text,
        grounding=grounding,
        translation_checks=list(checks) if isinstance(checks, list) else None,
    )


def _failure(article_id: str, exc: Exception) -> dict[str, str]:
    """A failed article as the report names it: the service's error code, or the exception's
    type when it is a bug (what the API would answer as 500 internal_error)."""
    if isinstance(exc, DepecheError):
        return {"id": article_id, "code": exc.code, "message": exc.message}
    return {"id": article_id, "code": "internal_error", "message": f"{type(exc).__name__}: {exc}"}


def evaluate_summaries(
    pipeline: Pipeline, articles: Sequence[Mapping[str, Any]]
) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """Summarize each article with the service; flag rates, ROUGE proxy and timings."""
    runs: list[_ArticleRun] = []
    failures: list[dict[str, str]] = []
    started = time.perf_counter()
    with _bar(len(articles), "OrangeSum", "article") as bar:
        for article in articles:
            try:
                runs.append(_run_article(pipeline, article))
            except Exception as exc:  # one article's failure, even a bug, is reported
                failures.append(_failure(str(article["id"]), exc))
                bar.write(f"error: {article['id']}: {failures[-1]['message']}", file=sys.stderr)
            bar.update(1)
    wall_s = time.perf_counter() - started

    predictions = ["\n".join(run.key_points) for run in runs]
    references = ["\n".join(split_sentences(run.reference_en, "en")) for run in runs]
    for run, pair in zip(runs, rouge_pairs(predictions, references), strict=True):
        run.record["rouge"] = pair
    grounded = [run.grounding for run in runs]
    has_grounding = bool(runs) and all(g is not None for g in grounded)
    flags = flag_rates(g for g in grounded if g is not None) if has_grounding else None
    has_checks = bool(runs) and all(run.translation_checks is not None for run in runs)
    per_article = [run.record for run in runs]
    summary = {
        "dataset": "OrangeSum abstract test split (French news, author-written abstracts)",
        "articles": len(runs),
        "failed": len(failures),
        "key_points": sum(len(run.key_points) for run in runs),
        "unsupported": flags["unsupported"] if flags else None,
        "unsupported_rate": flags["unsupported_rate"] if flags else None,
        "articles_with_unsupported": flags["articles_with_unsupported"] if flags else None,
        "replaced": flags["replaced"] if flags else None,
        "checks_by_kind": flags["checks_by_kind"] if flags else None,
        "grounding_note": None if flags else NO_GROUNDING_NOTE,
        "rouge": rouge_scores(predictions, references),
        "rouge_note": ROUGE_NOTE,
        "translation_checks": translation_check_counts(
            run.translation_checks for run in runs if run.translation_checks is not None
        )
        if has_checks
        else None,
        "timings": {
            "wall_s": round(wall_s, 2),
            "article_total_ms": timing_stats([r["timings_ms"]["total"] for r in per_article]),
            "translate_ms": timing_stats([r["timings_ms"]["translate"] for r in per_article]),
            "summarize_ms": timing_stats([r["timings_ms"]["summarize"] for r in per_article]),
            "reference_translate_ms": timing_stats(
                [r["timings_ms"]["reference_translate"] for r in per_article]
            ),
        },
        "per_article": per_article,
    }
    return summary, failures


# ---- report ----------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def machine_info(pipeline: Pipeline) -> dict[str, Any]:
    """The machine and library versions the figures were measured with."""
    gpu = None
    torch = sys.modules.get("torch")  # only when a model runs on transformers: never import it
    if torch is not None and pipeline.device.device == "cuda":
        gpu = torch.cuda.get_device_name(0)
    return {
        "cpu": _cpu_model(),
        "cores": available_cores(),
        "gpu": gpu,
        "device": pipeline.device.label,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "packages": {
            name: _version(name)
            for name in ("torch", "transformers", "ctranslate2", "sacrebleu", "rouge-score")
        },
    }


def _pct(value: float | None, scale: float = 1.0) -> str:
    return "n/a" if value is None else f"{value * scale:.2f}"


def print_report(report: dict[str, Any], out: TextIO) -> None:
    """The report as readable tables."""
    machine = report["machine"]
    out.write(f"Dépêche evaluation, {report['date']}\n")
    out.write(f"machine: {machine['cpu']}, {machine['cores']} cores")
    out.write(f", GPU {machine['gpu']}" if machine["gpu"] else "")
    out.write(f"; device {machine['device']}\n\nmodels\n")
    for model in report["models"]:
        out.write(
            f"  {model['task']:<12} {model['id']} @ {model['revision']}  ({model['engine']})\n"
        )
    published = {m["task"]: PUBLISHED.get(m["id"], {}) for m in report["models"]}

    translation = report["translation"]
    if translation is not None:
        out.write(
            f"\nTranslation: {translation['dataset']}, {translation['sentences']} sentences\n"
        )
        out.write(f"  BLEU  {translation['bleu']:6.2f}   {translation['bleu_signature']}\n")
        out.write(f"  chrF  {translation['chrf']:6.2f}   {translation['chrf_signature']}\n")
        if "BLEU" in published.get("translation", {}):
            out.write(f"  published: BLEU {published['translation']['BLEU']}\n")
        checks = translation["translation_checks"]
        if checks is not None:
            out.write(f"  number checks: {checks['missing']} missing, {checks['added']} added\n")
        timings = translation["timings"]
        out.write(
            f"  time  {timings['wall_s']:.1f} s, {timings['sentences_per_s']} sentences/s, "
            f"{timings['output_tokens_per_s']} output tokens/s\n"
        )

    summary = report["summary"]
    if summary is not None:
        out.write(
            f"\nSummaries: {summary['dataset']}, {summary['articles']} articles, "
            f"{summary['key_points']} key points"
            + (f", {summary['failed']} failed" if summary["failed"] else "")
            + "\n"
        )
        if summary["unsupported_rate"] is None:
            out.write(f"  unsupported key points: n/a ({summary['grounding_note']})\n")
        else:
            out.write(
                f"  unsupported key points: {summary['unsupported']} / {summary['key_points']} "
                f"({_pct(summary['unsupported_rate'], 100)} %), in "
                f"{summary['articles_with_unsupported']} article(s)\n"
            )
            out.write(f"  {'check kind':<12} {'checks':>7} {'unsupported':>12} {'rate %':>7}\n")
            for kind, counts in summary["checks_by_kind"].items():
                out.write(
                    f"  {kind:<12} {counts['checks']:>7} {counts['unsupported']:>12} "
                    f"{_pct(counts['unsupported_rate'], 100):>7}\n"
                )
        rouge = summary["rouge"]
        out.write(
            "  ROUGE F1 x 100 (proxy: vs the reference translated by the service): "
            + ", ".join(f"{kind} {_pct(rouge[kind], 100)}" for kind in ROUGE_TYPES)
            + "\n"
        )
        checks = summary["translation_checks"]
        if checks is not None:
            out.write(
                f"  number checks of the articles' translations: {checks['missing']} missing, "
                f"{checks['added']} added\n"
            )
        if "ROUGE" in published.get("summary", {}):
            out.write(f"  published: {published['summary']['ROUGE']}\n")
        stats = summary["timings"]["article_total_ms"]
        out.write(
            f"  time per article: mean {stats['mean']} ms, median {stats['median']} ms, max "
            f"{stats['max']} ms; all articles {summary['timings']['wall_s']:.1f} s "
            "(reference translations included)\n"
        )
        if summary["per_article"]:
            out.write(
                f"\n  {'article':<34} {'words':>5} {'points':>6} {'unsup':>5} {'R-1':>6} "
                f"{'R-2':>6} {'R-L':>6} {'total ms':>9}\n"
            )
            for row in summary["per_article"]:
                unsupported = "n/a" if row["unsupported"] is None else row["unsupported"]
                out.write(
                    f"  {row['id']:<34} {row['words']:>5} {len(row['key_points']):>6} "
                    f"{unsupported:>5} {_pct(row['rouge']['rouge1'], 100):>6} "
                    f"{_pct(row['rouge']['rouge2'], 100):>6} "
                    f"{_pct(row['rouge']['rougeL'], 100):>6} {row['timings_ms']['total']:>9.1f}\n"
                )
    for failure in report["failures"]:
        out.write(f"\nfailed: {failure['id']}: {failure['code']}: {failure['message']}\n")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Evaluate the service's models: FLORES-200 BLEU/chrF, OrangeSum key points.",
    )
    parser.add_argument(
        "--flores",
        type=Path,
        default=DEFAULT_FLORES,
        metavar="DIR",
        help=f"folder with {FLORES_FR} and {FLORES_EN} (default: ../shared/data/parallel)",
    )
    parser.add_argument(
        "--articles",
        type=Path,
        default=DEFAULT_ARTICLES,
        metavar="FILE",
        help="OrangeSum JSON lines (default: ../shared/data/articles/fr_news.jsonl)",
    )
    parser.add_argument(
        "--limit",
        type=int,
        metavar="N",
        help="only the first N FLORES sentences and the first N articles",
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the report as JSON")
    parser.add_argument("--skip-translation", action="store_true", help="no FLORES run")
    parser.add_argument("--skip-summary", action="store_true", help="no OrangeSum run")
    parser.add_argument(
        "--keep-hypotheses",
        action="store_true",
        help="keep every FLORES translation in the JSON report",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    if args.skip_translation and args.skip_summary:
        parser.error("nothing to do: both --skip-translation and --skip-summary")
    settings = Settings()
    configure_logging("warning")
    if settings.offline:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

    try:  # the data first: a typo in a path must not cost a model load
        flores = None if args.skip_translation else read_flores(args.flores, args.limit)
        articles = None if args.skip_summary else read_articles(args.articles, args.limit)
    except (EvaluationError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        pipeline = Pipeline.load(settings)
    except (ModelLoadError, DeviceUnavailableError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    failures: list[dict[str, str]] = []
    try:
        translation = evaluate_translation(pipeline, *flores) if flores else None
        summary = None
        if articles is not None:
            summary, failures = evaluate_summaries(pipeline, articles)
        report: dict[str, Any] = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "models": [model.model_dump() for model in pipeline.models()],
            "machine": machine_info(pipeline),
            "data": {
                "flores": None if flores is None else str(args.flores),
                "articles": None if articles is None else str(args.articles),
                "limit": args.limit,
            },
            "counts": {
                "flores_sentences": translation["sentences"] if translation else 0,
                "articles": summary["articles"] if summary else 0,
                "key_points": summary["key_points"] if summary else 0,
                "checks": sum(k["checks"] for k in summary["checks_by_kind"].values())
                if summary and summary["checks_by_kind"] is not None
                else None,
                "failures": len(failures),
            },
            "translation": translation,
            "summary": summary,
            "failures": failures,
        }
    except EvaluationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        pipeline.close()

    hypotheses = translation.pop("hypotheses") if translation else None
    if args.keep_hypotheses and translation is not None:
        translation["hypotheses"] = hypotheses
    print_report(report, sys.stdout)
    if args.json:
        args.json.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", "utf-8")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
