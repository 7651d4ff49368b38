"""The registry's composition root: real adapters by default, the projection, the routes."""

from __future__ import annotations

from fastapi import FastAPI

from credreg_registry import api
from credreg_registry.projection import CredentialProjection
from credreg_registry.queries import INDEXES, VIEW, CredentialQueries
from credreg_registry.settings import RegistrySettings
from credreg_shared.messaging import HandlerRegistry
from credreg_shared.runtime import ServiceRuntime, service_lifespan
from credreg_shared.storage import MongoIdempotentCollection
from credreg_shared.web import create_app


def handlers(runtime: ServiceRuntime) -> HandlerRegistry:
    """The registry's event → handler table over its own view collection."""
    view = MongoIdempotentCollection(runtime.db[VIEW])
    return CredentialProjection(view).register(HandlerRegistry())


def attach(app: FastAPI, runtime: ServiceRuntime) -> None:
    """Give the routes their queries object."""
    app.state.queries = CredentialQueries(runtime.db)


def build_app(settings: RegistrySettings | None = None) -> FastAPI:
    """The registry app: HTTP API plus the consumer, started by the lifespan."""
    settings = settings or RegistrySettings()
    lifespan = service_lifespan(settings, indexes=INDEXES, on_start=attach, handlers=handlers)
    app = create_app(
        title="credreg registry",
        version="0.1.0",
        lifespan=lifespan,
        description="Portfolios and verification of every credential in the event log.",
    )
    app.include_router(api.router)
    return app
