"""The revocation service's composition root: ownership view, use case, routes."""

from __future__ import annotations

from fastapi import FastAPI

from credreg_revocation import api
from credreg_revocation.ownership import INDEXES, OwnershipView
from credreg_revocation.revoking import Revoker
from credreg_revocation.settings import RevocationSettings
from credreg_shared.auth import install_api_keys
from credreg_shared.messaging import HandlerRegistry
from credreg_shared.runtime import ServiceRuntime, service_lifespan
from credreg_shared.web import create_app


def build_app(settings: RevocationSettings | None = None) -> FastAPI:
    """The revocation app; its lifespan connects Mongo, Kafka and the consumer."""
    config = settings or RevocationSettings()

    def attach(app: FastAPI, runtime: ServiceRuntime) -> None:
        app.state.revoker = Revoker(
            ownership=OwnershipView(runtime.db),
            publisher=runtime.publisher,
            topic=runtime.credentials_topic,
            source=config.source,
        )

    def handlers(runtime: ServiceRuntime) -> HandlerRegistry:
        return OwnershipView(runtime.db).register(HandlerRegistry())

    lifespan = service_lifespan(config, indexes=INDEXES, on_start=attach, handlers=handlers)
    app = create_app(
        title="credreg revocation",
        version="0.1.0",
        lifespan=lifespan,
        description="Issuers revoke credentials; every wallet and verifier hears of it.",
    )
    install_api_keys(app, config.api_keys)
    app.include_router(api.router)
    return app
