"""The revocation service's composition root: real adapters by default, fakes injectable."""

from __future__ import annotations

from fastapi import FastAPI

from credreg_revocation import api
from credreg_revocation.adapters.mongo_credentials import INDEXES, MongoCredentialRepository
from credreg_revocation.handlers import OwnershipProjection, StatusChanges
from credreg_revocation.ports import CredentialRepository
from credreg_revocation.settings import RevocationSettings
from credreg_shared.auth import install_api_keys
from credreg_shared.events import CREDENTIALS_TOPIC
from credreg_shared.messaging import EventPublisher, HandlerRegistry
from credreg_shared.runtime import ServiceRuntime, service_lifespan
from credreg_shared.web import create_app

TITLE = "credreg revocation"
VERSION = "0.1.0"
DESCRIPTION = "Issuers revoke, suspend and reinstate credentials; every view hears of it."


def handlers(runtime: ServiceRuntime) -> HandlerRegistry:
    """The consumer's event → handler table over the service's own view."""
    return OwnershipProjection(MongoCredentialRepository(runtime.db)).register(HandlerRegistry())


def build_app(
    settings: RevocationSettings | None = None,
    *,
    credentials: CredentialRepository | None = None,
    publisher: EventPublisher | None = None,
) -> FastAPI:
    """The revocation app: HTTP API plus the Kafka consumer, both started by the lifespan.

    With `credentials` and `publisher` (fakes), the app serves the API from them and connects
    to nothing; unit tests then feed the view through `OwnershipProjection` themselves.
    """
    config = settings or RevocationSettings()

    def attach(app: FastAPI, credentials: CredentialRepository, publisher: EventPublisher) -> None:
        app.state.status_changes = StatusChanges(
            credentials=credentials,
            publisher=publisher,
            topic=config.topic(CREDENTIALS_TOPIC),
            source=config.source,
            publish_timeout=config.publish_timeout_seconds,
        )

    if (credentials is None) != (publisher is None):
        raise ValueError("inject both fakes (credentials and publisher) or neither")
    if credentials is not None and publisher is not None:
        app = create_app(title=TITLE, version=VERSION, description=DESCRIPTION)
        attach(app, credentials, publisher)
    else:

        def on_start(app: FastAPI, runtime: ServiceRuntime) -> None:
            attach(app, MongoCredentialRepository(runtime.db), runtime.publisher)

        lifespan = service_lifespan(config, indexes=INDEXES, on_start=on_start, handlers=handlers)
        app = create_app(title=TITLE, version=VERSION, lifespan=lifespan, description=DESCRIPTION)
    install_api_keys(app, config.api_keys)
    app.include_router(api.router)
    return app
