"""The issuer's composition root: real adapters by default, the use case, the routes."""

from __future__ import annotations

from fastapi import FastAPI

from credreg_issuer import api
from credreg_issuer.idempotency import MongoIdempotencyRecords
from credreg_issuer.service import IssuerService
from credreg_issuer.settings import IssuerSettings
from credreg_shared.auth import install_api_keys
from credreg_shared.runtime import ServiceRuntime, service_lifespan
from credreg_shared.web import create_app


def build_app(settings: IssuerSettings | None = None) -> FastAPI:
    """The issuer app; its lifespan connects Mongo and Kafka."""
    config = settings or IssuerSettings()

    def attach(app: FastAPI, runtime: ServiceRuntime) -> None:
        app.state.issuer = IssuerService(
            publisher=runtime.publisher,
            records=MongoIdempotencyRecords(runtime.db),
            topic=runtime.credentials_topic,
            source=config.source,
        )

    app = create_app(
        title="credreg issuer",
        version="0.1.0",
        lifespan=service_lifespan(config, indexes=[], on_start=attach),
        description="Registrars issue Open Badges 3.0 micro-credentials.",
    )
    install_api_keys(app, config.api_keys)
    app.include_router(api.router)
    return app
