"""The revocation service's composition root: real adapters by default, fakes injectable."""

from __future__ import annotations

from fastapi import FastAPI

from credreg_revocation import api
from credreg_revocation.adapters.mongo import INDEXES, MongoCredentialRepository
from credreg_revocation.ports import Adapters
from credreg_revocation.projection import OwnershipProjection
from credreg_revocation.settings import RevocationSettings
from credreg_revocation.use_cases import StatusChanges
from credreg_shared.auth import install_api_keys
from credreg_shared.events import CREDENTIALS_TOPIC
from credreg_shared.messaging import HandlerRegistry
from credreg_shared.runtime import Platform, ServiceDefinition, build_service_app


def real_adapters(platform: Platform) -> Adapters:
    """The ownership view in the service's database, and the platform's publisher."""
    return Adapters(
        credentials=MongoCredentialRepository(platform.db), publisher=platform.publisher
    )


def build_app(
    settings: RevocationSettings | None = None, *, fakes: Adapters | None = None
) -> FastAPI:
    """The revocation app: HTTP API plus the Kafka consumer, both started by the lifespan.

    With `fakes`, the app serves the API from them and connects to nothing; unit tests then
    feed the view through `OwnershipProjection` themselves.
    """
    config = settings or RevocationSettings()

    def use_cases(adapters: Adapters) -> list[object]:
        return [
            StatusChanges(
                credentials=adapters.credentials,
                publisher=adapters.publisher,
                topic=config.topic(CREDENTIALS_TOPIC),
                source=config.source,
            )
        ]

    definition = ServiceDefinition[Adapters](
        api=api,
        indexes=INDEXES,
        adapters=real_adapters,
        use_cases=use_cases,
        projection=lambda adapters: OwnershipProjection(adapters.credentials).register(
            HandlerRegistry()
        ),
    )
    app = build_service_app(definition, config, fakes=fakes)
    install_api_keys(app, config.api_keys)
    return app
