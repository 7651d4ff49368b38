"""The revocation service's composition root: real adapters by default, fakes injectable."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI

from credreg_revocation import api
from credreg_revocation.adapters.issuer_http import HttpCredentialIssuer
from credreg_revocation.adapters.mongo import INDEXES, MongoCredentialRepository
from credreg_revocation.adapters.mongo_expiry import MongoExpiryPolicies, MongoExpirySchedule
from credreg_revocation.ports import Adapters
from credreg_revocation.projection import OwnershipProjection
from credreg_revocation.scheduling import (
    Clock,
    ExpiryPolicy,
    ExpiryScheduler,
    ExpiryScheduling,
    LeadTimes,
    utc_now,
)
from credreg_revocation.settings import RevocationSettings
from credreg_revocation.supersession import Supersessions
from credreg_revocation.use_cases import OutboxRelay, StatusChanges
from credreg_shared.api_keys import InstitutionKeysProjection, KeptKeys
from credreg_shared.auth import ApiKeyTable, institution_resolver
from credreg_shared.caller_auth import kept_key
from credreg_shared.events import CREDENTIALS_TOPIC
from credreg_shared.kept_keys import MongoInstitutionKeys
from credreg_shared.messaging import HandlerRegistry
from credreg_shared.runtime import Platform, ServiceDefinition, build_service_app
from credreg_shared.workers import Worker

MARKER_DELETES = 32
"""Published events' outbox markers dropped per command."""


def real_adapters(platform: Platform, settings: RevocationSettings) -> Adapters:
    """The ownership view in the service's database, the platform's publisher, the issuer."""
    return Adapters(
        credentials=MongoCredentialRepository(platform.db, gather_marker_deletes=MARKER_DELETES),
        publisher=platform.publisher,
        keys=MongoInstitutionKeys(platform.db),
        schedule=MongoExpirySchedule(platform.db),
        policies=MongoExpiryPolicies(platform.db),
        issuer=HttpCredentialIssuer(settings.issuer_url),
    )


def build_app(
    settings: RevocationSettings | None = None,
    *,
    fakes: Adapters | None = None,
    clock: Clock = utc_now,
) -> FastAPI:
    """The revocation app: HTTP API plus the Kafka consumer, both started by the lifespan.

    With `fakes`, the app serves the API from them and connects to nothing; unit tests then
    feed the view through `OwnershipProjection` themselves. `clock` rules expiry and
    reinstatement (tests move it by hand).
    """
    config = settings or RevocationSettings()

    def status_changes(adapters: Adapters) -> StatusChanges:
        return StatusChanges(
            credentials=adapters.credentials,
            publisher=adapters.publisher,
            topic=config.topic(CREDENTIALS_TOPIC),
            source=config.source,
            clock=clock,
        )

    kept_leads: dict[int, LeadTimes] = {}

    def lead_times(adapters: Adapters) -> LeadTimes:
        # One per app: a change through the API is seen by its scheduler and projection at once.
        if id(adapters) not in kept_leads:
            kept_leads[id(adapters)] = LeadTimes(adapters.policies, config.expiry_default_lead_days)
        return kept_leads[id(adapters)]

    def use_cases(adapters: Adapters) -> list[object]:
        return [
            status_changes(adapters),
            KeptKeys(adapters.keys),
            ExpiryPolicy(adapters.policies, lead_times(adapters)),
            Supersessions(
                changes=status_changes(adapters),
                issuer=adapters.issuer,
                wait_seconds=config.supersede_wait_seconds,
            ),
        ]

    def workers(adapters: Adapters) -> dict[str, Worker]:
        # Past the longest a request may wait for the ack: the relay never races a live one.
        grace = timedelta(seconds=config.publish_timeout_seconds + 5)
        relay = OutboxRelay(status_changes(adapters), grace=grace, poll=config.outbox_poll_seconds)
        scheduler = ExpiryScheduler(
            schedule=adapters.schedule,
            credentials=adapters.credentials,
            policies=adapters.policies,
            publisher=adapters.publisher,
            topic=config.topic(CREDENTIALS_TOPIC),
            source=config.source,
            leads=lead_times(adapters),
            lease=timedelta(seconds=config.expiry_lease_seconds),
            poll=config.expiry_poll_seconds,
            clock=clock,
        )
        return {"outbox": relay, "expiry": scheduler}

    def projection(adapters: Adapters) -> HandlerRegistry:
        scheduling = ExpiryScheduling(
            schedule=adapters.schedule, leads=lead_times(adapters), clock=clock
        )
        ownership = OwnershipProjection(adapters.credentials, scheduling)
        return InstitutionKeysProjection(adapters.keys).register(
            ownership.register(HandlerRegistry())
        )

    definition = ServiceDefinition[Adapters](
        api=api,
        indexes=INDEXES,
        adapters=lambda platform: real_adapters(platform, config),
        use_cases=use_cases,
        workers=workers,
        projection=projection,
    )
    app = build_service_app(definition, config, fakes=fakes)
    # Keys from settings, or kept by the issuer and announced on the log with the revoke scope.
    app.state.authenticate = institution_resolver(
        ApiKeyTable(config.api_keys), kept_key, scope="revoke"
    )
    return app
