"""How a route reaches what the app holds: one `Annotated` dependency per shared object.

`create_app` puts the objects on `app.state`; routes name what they need (`state: StateDep`,
`pipeline: PipelineDep`...) and never read `app.state` themselves, so this module is the one
place that knows where each object lives.
"""

from __future__ import annotations

import threading
from typing import Annotated, cast

from fastapi import Depends, FastAPI, Request

from service.api.keys import ApiKeys
from service.api.state import ServiceState
from service.articles import ResultCache
from service.config import Settings
from service.glossary.store import GlossaryStore, open_glossaries
from service.jobs.system import JobSystem
from service.metrics import Metrics
from service.pipeline import Pipeline
from service.usage import UsageStore

_opening = threading.Lock()


def state_of(app: FastAPI) -> ServiceState:
    """The settings, the pipeline once loaded, and why loading failed (the CLI's `serve` reads
    it off the app it built)."""
    state: ServiceState = app.state.depeche
    return state


def jobs_of(app: FastAPI) -> JobSystem:
    jobs: JobSystem = app.state.jobs
    return jobs


def get_state(request: Request) -> ServiceState:
    return state_of(request.app)


def get_settings(request: Request) -> Settings:
    return get_state(request).settings


def get_pipeline(request: Request) -> Pipeline:
    """The loaded pipeline, or a 503 saying whether the models are loading or failed."""
    return get_state(request).require_pipeline()


def get_jobs(request: Request) -> JobSystem:
    return jobs_of(request.app)


def get_results(request: Request) -> ResultCache:
    return cast(ResultCache, request.app.state.results)


def get_usage(request: Request) -> UsageStore:
    return cast(UsageStore, request.app.state.usage)


def get_api_keys(request: Request) -> ApiKeys:
    return cast(ApiKeys, request.app.state.api_keys)


def get_metrics(request: Request) -> Metrics:
    return cast(Metrics, request.app.state.metrics)


def glossary_store(request: Request) -> GlossaryStore:
    """The app's glossary store, opened on first use from its settings (the jobs backend): an
    article request without `glossary_id` never opens it."""
    state = request.app.state
    store: GlossaryStore | None = getattr(state, "glossaries", None)
    if store is None:
        with _opening:
            store = getattr(state, "glossaries", None)
            if store is None:
                store = open_glossaries(get_settings(request))
                state.glossaries = store
    return store


StateDep = Annotated[ServiceState, Depends(get_state)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
PipelineDep = Annotated[Pipeline, Depends(get_pipeline)]
JobsDep = Annotated[JobSystem, Depends(get_jobs)]
ResultsDep = Annotated[ResultCache, Depends(get_results)]
UsageDep = Annotated[UsageStore, Depends(get_usage)]
ApiKeysDep = Annotated[ApiKeys, Depends(get_api_keys)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
GlossariesDep = Annotated[GlossaryStore, Depends(glossary_store)]
