"""Stored glossaries over HTTP (POST/GET /glossaries, GET/DELETE /glossaries/{id}), and how an
article request's `glossary_id` is resolved into its terms."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Protocol

from fastapi import APIRouter, Body, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from service.api.deps import GlossariesDep, glossary_store
from service.api.errors import ErrorEnvelope
from service.api.examples import example
from service.article import ArticleInput
from service.errors import GlossaryNotFoundError, InvalidGlossaryError, UnknownGlossaryError
from service.glossary.store import GlossaryInfo, GlossaryStore, StoredGlossary
from service.glossary.terms import (
    MAX_ENTRIES,
    MAX_GLOSSARIES,
    MAX_NAME_CHARS,
    MAX_TERM_CHARS,
    check_entries,
    check_name,
    check_request_terms,
    merge_terms,
    parse_entries,
)

router = APIRouter(tags=["glossaries"])


class ArticleRequest(Protocol):
    """What an article request body (`service.api.schemas._ArticleBase`) offers here."""

    @property
    def glossary_id(self) -> str | None: ...

    def article(self) -> ArticleInput: ...


def resolved_article(request: Request, body: ArticleRequest) -> ArticleInput:
    """The article of an article request with its stored glossary merged in: the request's own
    terms are checked first, then laid over the stored entries."""
    article = body.article()
    check_request_terms(article.glossary, article.do_not_translate)
    glossary_id = body.glossary_id
    if glossary_id is None:
        return article
    stored = glossary_store(request).get(glossary_id)
    if stored is None:
        raise UnknownGlossaryError(
            f"No stored glossary has the id {glossary_id!r} (`glossary_id`): list them with "
            "GET /glossaries."
        )
    glossary, do_not_translate = merge_terms(
        stored.entries, article.glossary, article.do_not_translate
    )
    return replace(article, glossary=glossary, do_not_translate=do_not_translate)


class GlossaryCreate(BaseModel):
    """Body of POST /glossaries."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description=f"What the newsroom calls it; 1 to {MAX_NAME_CHARS} characters.")
    entries: dict[str, str] | str = Field(
        description="French term -> English term, as an object, or as text: one "
        "`source<TAB>target` (tsv) or `source,target` (csv, quoted as spreadsheets write it) "
        f"line per entry. At most {MAX_ENTRIES:,} entries of {MAX_TERM_CHARS} characters; "
        "empty, whitespace-padded or duplicate source terms (case and accents ignored) and "
        "empty targets are refused with 422 naming the entry."
    )
    entries_format: Literal["tsv", "csv"] | None = Field(
        None, description="How `entries` is written when it is text: `tsv` or `csv`."
    )


class GlossarySummary(BaseModel):
    """A stored glossary, without its entries."""

    id: str
    name: str
    entry_count: int
    created_at: datetime


class GlossaryPublic(GlossarySummary):
    """A stored glossary with its entries."""

    entries: dict[str, str]


class GlossaryList(BaseModel):
    """Answer of GET /glossaries: every stored glossary, oldest first."""

    glossaries: list[GlossarySummary]


def _summary(info: GlossaryInfo) -> GlossarySummary:
    return GlossarySummary(
        id=info.id,
        name=info.name,
        entry_count=info.entry_count,
        created_at=datetime.fromtimestamp(info.created_at, UTC),
    )


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorEnvelope, "description": description}


_EXAMPLES: dict[str, Any] = {
    "object": {
        "summary": "Entries as an object",
        "value": {
            "name": "Politique internationale",
            "entries": {
                "Conseil de sécurité nationale": "National Security Council",
                "ONU": "UN",
            },
        },
    },
    "tsv": {
        "summary": "Entries as TSV text",
        "value": {
            "name": "Institutions",
            "entries": "Assemblée nationale\tNational Assembly\nSénat\tSenate\n",
            "entries_format": "tsv",
        },
    },
}
_UNAVAILABLE = _error("The glossary store (SQLite file or Redis) cannot be reached.")
_CREATED = datetime(2026, 11, 28, 9, 0, 0, tzinfo=UTC)
_SUMMARY_EXAMPLE = GlossarySummary(
    id="5d1c0b7a9e3f4a2c8b6d0e1f2a3b4c5d",
    name="Politique internationale",
    entry_count=2,
    created_at=_CREATED,
)
_PUBLIC_EXAMPLE = GlossaryPublic(
    **_SUMMARY_EXAMPLE.model_dump(), entries=dict(_EXAMPLES["object"]["value"]["entries"])
)


@router.post(
    "/glossaries",
    status_code=201,
    responses={
        201: example(_SUMMARY_EXAMPLE, "The glossary, stored; `Location` names it."),
        409: _error(f"The service holds {MAX_GLOSSARIES} glossaries already."),
        413: _error(f"More than {MAX_ENTRIES:,} entries."),
        422: _error("An empty name, or a bad entry (the message names it)."),
        503: _UNAVAILABLE,
    },
)
def create_glossary(
    store: GlossariesDep,
    body: Annotated[GlossaryCreate, Body(openapi_examples=_EXAMPLES)],
    response: Response,
) -> GlossarySummary:
    """Store a glossary for `glossary_id` in article requests. It is kept with the jobs
    (SQLite or Redis) and never changes: to edit one, store the new version, then delete the
    old."""
    check_name(body.name)
    if isinstance(body.entries, str):
        if body.entries_format is None:
            raise InvalidGlossaryError(
                'The entries are text: say how they are written with "entries_format": "tsv" '
                'or "csv".'
            )
        entries, places = parse_entries(body.entries, body.entries_format)
        check_entries(entries, places)
    elif body.entries_format is not None:
        raise InvalidGlossaryError(
            "`entries_format` describes text entries; these are an object: leave it out."
        )
    else:
        entries = tuple(body.entries.items())
        check_entries(entries)
    info = store.create(body.name, entries)
    response.headers["Location"] = f"/glossaries/{info.id}"
    return _summary(info)


@router.get(
    "/glossaries",
    responses={200: example(GlossaryList(glossaries=[_SUMMARY_EXAMPLE])), 503: _UNAVAILABLE},
)
def list_glossaries(store: GlossariesDep) -> GlossaryList:
    """Every stored glossary (id, name, entry count, creation time), oldest first."""
    return GlossaryList(glossaries=[_summary(info) for info in store.list()])


def _found(store: GlossaryStore, glossary_id: str) -> StoredGlossary:
    stored = store.get(glossary_id)
    if stored is None:
        raise GlossaryNotFoundError(f"No glossary has the id {glossary_id!r}.")
    return stored


@router.get(
    "/glossaries/{glossary_id}",
    responses={
        200: example(_PUBLIC_EXAMPLE),
        404: _error("No glossary with this id."),
        503: _UNAVAILABLE,
    },
)
def get_glossary(glossary_id: str, store: GlossariesDep) -> GlossaryPublic:
    """A stored glossary with its entries, in the order they were given."""
    stored = _found(store, glossary_id)
    return GlossaryPublic(**_summary(stored.info).model_dump(), entries=dict(stored.entries))


@router.delete(
    "/glossaries/{glossary_id}",
    status_code=204,
    response_class=Response,
    responses={404: _error("No glossary with this id."), 503: _UNAVAILABLE},
)
def delete_glossary(glossary_id: str, store: GlossariesDep) -> Response:
    """Delete a stored glossary. Jobs already submitted with it keep its entries."""
    if not store.delete(glossary_id):
        raise GlossaryNotFoundError(f"No glossary has the id {glossary_id!r}.")
    return Response(status_code=204)
