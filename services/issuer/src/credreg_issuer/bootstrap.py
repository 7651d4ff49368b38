"""The issuer's composition root: real adapters by default, fakes injectable."""

from __future__ import annotations

from fastapi import FastAPI

from credreg_issuer import api
from credreg_issuer.adapters.mongo_idempotency import INDEXES, MongoIdempotencyRecords
from credreg_issuer.handlers import IssueCredentials
from credreg_issuer.ports import IdempotencyRecords
from credreg_issuer.settings import IssuerSettings
from credreg_issuer.signing import CredentialSigner
from credreg_shared.auth import install_api_keys
from credreg_shared.events import CREDENTIALS_TOPIC
from credreg_shared.messaging import EventPublisher
from credreg_shared.runtime import ServiceRuntime, service_lifespan
from credreg_shared.web import create_app

TITLE = "credreg issuer"
VERSION = "0.1.0"
DESCRIPTION = "Registrars issue Open Badges 3.0 micro-credentials; each one is an event."


def build_app(
    settings: IssuerSettings | None = None,
    *,
    records: IdempotencyRecords | None = None,
    publisher: EventPublisher | None = None,
) -> FastAPI:
    """The issuer app. Its lifespan connects MongoDB (indexes) and Kafka (topics, producer).

    With `records` and `publisher` (fakes), the app serves the API from them and connects to
    nothing. The issuer only produces, so it runs no consumer.
    """
    config = settings or IssuerSettings()
    signer = CredentialSigner(config.signing_key_pairs(), cryptosuite=config.signing_cryptosuite)

    def attach(app: FastAPI, records: IdempotencyRecords, publisher: EventPublisher) -> None:
        app.state.issue_credentials = IssueCredentials(
            publisher=publisher,
            records=records,
            signer=signer,
            topic=config.topic(CREDENTIALS_TOPIC),
            source=config.source,
            publish_timeout=config.publish_timeout_seconds,
        )

    if (records is None) != (publisher is None):
        raise ValueError("inject both fakes (records and publisher) or neither")
    if records is not None and publisher is not None:
        app = create_app(title=TITLE, version=VERSION, description=DESCRIPTION)
        attach(app, records, publisher)
    else:

        def on_start(app: FastAPI, runtime: ServiceRuntime) -> None:
            attach(app, MongoIdempotencyRecords(runtime.db), runtime.publisher)

        lifespan = service_lifespan(config, indexes=INDEXES, on_start=on_start)
        app = create_app(title=TITLE, version=VERSION, lifespan=lifespan, description=DESCRIPTION)
    app.state.credentials_url = config.credentials_url
    install_api_keys(app, config.api_keys)
    app.include_router(api.router)
    return app
