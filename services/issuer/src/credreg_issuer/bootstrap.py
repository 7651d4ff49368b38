"""The issuer's composition root: its service definition on the shared chassis."""

from __future__ import annotations

from fastapi import FastAPI

from credreg_issuer import api
from credreg_issuer.adapters.mongo import INDEXES, MongoIdempotencyRecords
from credreg_issuer.domain import CredentialSigner
from credreg_issuer.ports import Adapters
from credreg_issuer.settings import IssuerSettings
from credreg_issuer.use_cases import IssueCredentials
from credreg_shared.auth import install_api_keys
from credreg_shared.events import CREDENTIALS_TOPIC
from credreg_shared.runtime import Platform, ServiceDefinition, build_service_app


def real_adapters(platform: Platform) -> Adapters:
    """The issuer's ports over the platform's MongoDB database and Kafka publisher."""
    return Adapters(records=MongoIdempotencyRecords(platform.db), publisher=platform.publisher)


def build_app(settings: IssuerSettings | None = None, *, fakes: Adapters | None = None) -> FastAPI:
    """The issuer app: real adapters in its lifespan, or `fakes` and no connection at all.

    The issuer only produces, so it runs no consumer and no worker.
    """
    config = settings or IssuerSettings()
    signer = CredentialSigner(config.signing_key_pairs(), cryptosuite=config.signing_cryptosuite)

    def use_cases(adapters: Adapters) -> list[object]:
        return [
            IssueCredentials(
                publisher=adapters.publisher,
                records=adapters.records,
                signer=signer,
                topic=config.topic(CREDENTIALS_TOPIC),
                source=config.source,
            )
        ]

    definition = ServiceDefinition(
        api=api,
        indexes=INDEXES,
        adapters=real_adapters,
        use_cases=use_cases,
    )
    app = build_service_app(definition, config, fakes=fakes)
    # Where the registry serves credential views: the 201's Location starts with it.
    app.state.credentials_url = config.credentials_url
    install_api_keys(app, config.api_keys)
    return app
