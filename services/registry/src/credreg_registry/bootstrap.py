"""The registry's composition root: real adapters by default, fakes injectable for unit tests."""

from __future__ import annotations

from fastapi import FastAPI

from credreg_registry import api
from credreg_registry.adapters.mongo_view import INDEXES, MongoCredentialReader, view_writer
from credreg_registry.ports import CredentialReader
from credreg_registry.projection import CredentialProjection
from credreg_registry.settings import RegistrySettings
from credreg_shared.messaging import HandlerRegistry
from credreg_shared.runtime import ServiceRuntime, service_lifespan
from credreg_shared.web import create_app

TITLE = "credreg registry"
VERSION = "0.1.0"
DESCRIPTION = "Portfolios and verification of every credential in the event log."


def handlers(runtime: ServiceRuntime) -> HandlerRegistry:
    """The registry's event → handler table over its own view collection."""
    return CredentialProjection(view_writer(runtime.db)).register(HandlerRegistry())


def attach(app: FastAPI, runtime: ServiceRuntime) -> None:
    """Give the routes their reader once the database is connected."""
    app.state.reader = MongoCredentialReader(runtime.db)


def build_app(
    settings: RegistrySettings | None = None, *, reader: CredentialReader | None = None
) -> FastAPI:
    """The registry app: HTTP API plus the Kafka consumer, both started by the lifespan.

    With `reader` (a fake), the app serves the API from it and connects to nothing.
    """
    if reader is not None:
        app = create_app(title=TITLE, version=VERSION, description=DESCRIPTION)
        app.state.reader = reader
    else:
        config = settings or RegistrySettings()
        lifespan = service_lifespan(config, indexes=INDEXES, on_start=attach, handlers=handlers)
        app = create_app(title=TITLE, version=VERSION, lifespan=lifespan, description=DESCRIPTION)
    app.include_router(api.router)
    return app
