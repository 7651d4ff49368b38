"""The registry's composition root: real adapters by default, fakes injectable for unit tests."""

from __future__ import annotations

from fastapi import FastAPI

from credreg_registry import api
from credreg_registry.adapters.mongo import INDEXES, MongoViewDocuments, MongoViewStore
from credreg_registry.ports import Adapters
from credreg_registry.projection import CredentialProjection
from credreg_registry.settings import RegistrySettings
from credreg_registry.use_cases import RegistryQueries
from credreg_shared.messaging.handlers import HandlerRegistry
from credreg_shared.runtime import Platform, ServiceDefinition, build_service_app


def real_adapters(platform: Platform) -> Adapters:
    """The view in the registry's own database, read and written."""
    return Adapters(documents=MongoViewDocuments(platform.db), store=MongoViewStore(platform.db))


def build_app(
    settings: RegistrySettings | None = None, *, fakes: Adapters | None = None
) -> FastAPI:
    """The registry app: HTTP API plus the Kafka consumer, both started by the lifespan.

    With `fakes`, the app serves the API from them and connects to nothing (no consumer).
    """
    config = settings or RegistrySettings()
    definition = ServiceDefinition(
        api=api,
        indexes=INDEXES,
        adapters=real_adapters,
        use_cases=lambda adapters: [RegistryQueries(documents=adapters.documents)],
        projection=lambda adapters: CredentialProjection(adapters.store).register(
            HandlerRegistry()
        ),
    )
    return build_service_app(definition, config, fakes=fakes)
