"""The FastAPI application factory: wiring, middleware and model loading at startup."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi_offline import FastAPIOffline

from service import __version__
from service.api.auth import require_api_key
from service.api.auth import router as usage_router
from service.api.batch import router as batch_router
from service.api.docs import DocsPolicy
from service.api.errors import install_error_handlers
from service.api.glossaries import router as glossaries_router
from service.api.jobs import router as jobs_router
from service.api.keys import ApiKeys
from service.api.metrics import ObserveRequests
from service.api.metrics import router as metrics_router
from service.api.middleware import RequestContext
from service.api.page import router as page_router
from service.api.routes import router
from service.api.state import ServiceState
from service.api.verify import router as verify_router
from service.articles import ResultCache
from service.config import Settings
from service.jobs.system import JobSystem
from service.metrics import Metrics
from service.pipeline import Pipeline, PipelineFactory
from service.usage import open_usage

DESCRIPTION = """
Turns a French news article into an English translation, paragraph for paragraph, and 3–6 key
points. Nothing is silently dropped: `meta.coverage` counts source and translated sentences, and
`meta.strategy` says whether the summary read the article in one pass or chunk by chunk.
Every error has the shape `{"error": {"code", "message", "request_id"}}`.
"""


def create_app(
    settings: Settings | None = None,
    *,
    pipeline: Pipeline | None = None,
    pipeline_factory: PipelineFactory = Pipeline.load,
    on_load_failure: Callable[[str], None] | None = None,
) -> FastAPI:
    """Build the app. With no `pipeline`, models load in the background once the app starts."""
    settings = settings or Settings()
    # Read at scrape time; `state` and `jobs` exist by then.
    metrics = Metrics(pipeline=lambda: state.pipeline, job_counts=lambda: jobs.counts())

    def observed_factory(factory_settings: Settings) -> Pipeline:
        loaded = pipeline_factory(factory_settings)
        loaded.observe(metrics)
        return loaded

    if pipeline is not None:
        pipeline.observe(metrics)
    state = ServiceState(settings, pipeline, observed_factory, on_load_failure)
    # workers start once models load
    results = ResultCache(settings.cache_size)  # /summarize, /translate, batch and jobs share it
    jobs = JobSystem(settings, lambda: state.pipeline, metrics=metrics, results=results)
    usage = open_usage(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.start_loading()
        jobs.start()
        yield
        jobs.stop()
        usage.close()

    # FastAPIOffline serves /docs and /redoc with Swagger UI's and ReDoc's files from the
    # service itself (no CDN: the newsroom server may be offline); no online validator badge.
    app = FastAPIOffline(
        title="Dépêche",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        swagger_ui_parameters={"validatorUrl": None},
    )
    # What `service.api.deps` hands the routes: the one place they reach app.state.
    app.state.depeche = state
    app.state.jobs = jobs
    app.state.api_keys = ApiKeys.from_settings(settings)
    app.state.usage = usage
    app.state.results = results
    app.state.metrics = metrics
    app.add_middleware(RequestContext, settings=settings)
    app.add_middleware(DocsPolicy)  # the docs pages may load nothing from another host
    # Added after RequestContext, so it wraps it: it sees that middleware's answers too.
    app.add_middleware(ObserveRequests, metrics=metrics)
    install_error_handlers(app)
    _include_routers(app)
    return app


def _include_routers(app: FastAPI) -> None:
    """Every route of the service, with the API key where the route does not declare it."""
    keyed = [Depends(require_api_key)]  # /health, /ready and the docs stay open
    app.include_router(router)  # /summarize and /translate declare the key themselves
    app.include_router(batch_router, dependencies=keyed)
    app.include_router(jobs_router, dependencies=keyed)
    app.include_router(usage_router, dependencies=keyed)
    app.include_router(glossaries_router, dependencies=keyed)
    app.include_router(page_router)  # the editor's page: open; its script sends the key
    app.include_router(metrics_router)  # keyed unless DEPECHE_METRICS_PUBLIC=true
    app.include_router(verify_router)  # /verify declares the key itself
