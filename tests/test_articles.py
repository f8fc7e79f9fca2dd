"""The article service's domain request: the stored form of a job, read back without the API."""

from __future__ import annotations

from service.api.jobs import JobRequest
from service.api.schemas import SummarizeRequest
from service.article import ArticleInput
from service.articles import ResultCache, SummaryRequest, summarize_article
from service.pipeline import Pipeline
from service.stream import ProgressEvent


def test_the_stored_body_is_the_summarize_body_of_earlier_versions() -> None:
    # The job format earlier versions stored: the request body dumped, glossary resolved.
    body = JobRequest.model_validate(
        {
            "html": "<p>Un article.</p>",
            "title": "Titre",
            "captions": ["Une légende."],
            "format": "html",
            "glossary": {"ONU": "UN"},
            "do_not_translate": ["Libération"],
            "options": {"max_points": 4, "unsupported": "drop"},
            "callback_url": "https://cms.example.org/hook",
        }
    )
    earlier = body.model_dump(mode="json", exclude={"callback_url"})
    request = body.summary_request(body.article())
    assert request.to_body() == earlier
    assert SummaryRequest.from_body(earlier) == request
    assert set(request.to_body()) == set(SummarizeRequest.model_fields)


def test_a_sparse_stored_body_takes_the_defaults() -> None:
    request = SummaryRequest.from_body({"text": "Un article.", "callback_url": None})
    assert request == SummaryRequest(ArticleInput(text="Un article."))
    assert request.max_points is None
    assert request.unsupported == "flag"


def test_a_cached_summary_replays_its_events(
    pipeline: Pipeline, memorized_pairs: list[tuple[str, str]]
) -> None:
    request = SummaryRequest(ArticleInput(text="\n\n".join(fr for fr, _ in memorized_pairs[:2])))
    cache = ResultCache(4)
    first: list[ProgressEvent] = []
    again: list[ProgressEvent] = []
    result, hit = summarize_article(pipeline, cache, request, emit=first.append)
    assert not hit
    cached, hit = summarize_article(pipeline, cache, request, emit=again.append)
    assert hit
    assert cached == result
    assert again == first
    assert [e.event for e in first] == ["paragraph", "paragraph", "key_points"]
