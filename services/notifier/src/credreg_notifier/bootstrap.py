"""The notifier's composition root: real adapters by default, fakes injectable for tests."""

from __future__ import annotations

import dataclasses
import logging
from datetime import timedelta

import httpx
from fastapi import FastAPI

from credreg_notifier import api
from credreg_notifier.adapters.fakes import InMemoryHolderEvents
from credreg_notifier.adapters.handoff import InProcessHandoff
from credreg_notifier.adapters.holder_events import InProcessWakeups, MongoHolderEvents
from credreg_notifier.adapters.mongo import (
    INDEXES,
    MongoDeliveries,
    MongoOwnerQuotas,
    MongoSubscriptions,
)
from credreg_notifier.adapters.prometheus import PrometheusDeliveryOutcomes
from credreg_notifier.adapters.secrets import SealedSecrets
from credreg_notifier.adapters.webhooks import DnsWebhookTargets, HttpxWebhookSender
from credreg_notifier.domain import RetrySchedule
from credreg_notifier.ports import Adapters, HolderEventStore, HolderWakeups
from credreg_notifier.projection import DeliveryPlanner
from credreg_notifier.settings import NotifierSettings
from credreg_notifier.use_cases import HolderStreams, Limits, StreamTiming, Subscriptions
from credreg_notifier.workers import DeliveryWorker, StreamWatcher
from credreg_shared.api_keys import InstitutionKeysProjection, KeptKeys
from credreg_shared.caller_auth import install_callers
from credreg_shared.credentials.key_encryption import KeyEncryptionKeyring
from credreg_shared.kept_keys import MongoInstitutionKeys
from credreg_shared.messaging.handlers import HandlerRegistry
from credreg_shared.runtime import Platform, ServiceDefinition, build_service_app

log = logging.getLogger(__name__)

HANDOFF_GRACE = timedelta(seconds=5)
"""A planned delivery is handed to this process's lanes; others may claim it after this."""
MARKER_DELETES = 32
"""Settled deliveries' due markers dropped per command."""


def real_adapters(platform: Platform, settings: NotifierSettings) -> Adapters:
    """The ports over the platform's database, a real HTTP client and the app's metrics."""
    targets = DnsWebhookTargets(allow_private=settings.allow_private_webhook_targets)
    # No proxy from the environment: a delivery connects to the very address its target check
    # resolved (see adapters/webhooks.py), never through a hop that resolves it again.
    client = httpx.AsyncClient(trust_env=False)
    # Closed at shutdown, after the delivery worker (its only user) has stopped.
    platform.close_on_shutdown(client.aclose)
    return Adapters(
        subscriptions=MongoSubscriptions(platform.db),
        deliveries=MongoDeliveries(
            platform.db, handoff_grace=HANDOFF_GRACE, gather_marker_deletes=MARKER_DELETES
        ),
        targets=targets,
        sender=HttpxWebhookSender(
            client, targets=targets, timeout_seconds=settings.webhook_timeout_seconds
        ),
        outcomes=PrometheusDeliveryOutcomes(platform.metrics),
        quotas=MongoOwnerQuotas(platform.db),
        keys=MongoInstitutionKeys(platform.db),
        vault=secret_vault(settings),
        holder_events=MongoHolderEvents(platform.db),
        wakeups=InProcessWakeups(),
        handoff=InProcessHandoff(),
    )


async def index_subscriptions(adapters: Adapters) -> None:
    """List subscriptions stored before matching read target documents (once per database)."""
    if isinstance(adapters.subscriptions, MongoSubscriptions):
        listed = await adapters.subscriptions.index_existing()
        if listed:
            log.info("subscriptions listed under their targets", extra={"count": listed})


def with_streams(adapters: Adapters) -> Adapters:
    """`adapters` with an in-memory holder event store and wake-ups where they have none
    (fakes built before live streams)."""
    return dataclasses.replace(
        adapters,
        holder_events=adapters.holder_events or InMemoryHolderEvents(),
        wakeups=adapters.wakeups or InProcessWakeups(),
    )


def secret_vault(settings: NotifierSettings) -> SealedSecrets | None:
    """Secrets sealed under the configured key-encryption key, or kept as they are without one."""
    if settings.key_encryption_key is None:
        log.warning("CREDREG_KEY_ENCRYPTION_KEY is not set: webhook secrets are stored unencrypted")
        return None
    return SealedSecrets(
        KeyEncryptionKeyring.from_string(settings.key_encryption_key.get_secret_value())
    )


def subscriptions(adapters: Adapters, settings: NotifierSettings) -> Subscriptions:
    """The use cases behind the routes."""
    return Subscriptions(
        subscriptions=adapters.subscriptions,
        deliveries=adapters.deliveries,
        targets=adapters.targets,
        quotas=adapters.quotas,
        vault=adapters.vault,
        limits=Limits(
            per_owner=settings.subscriptions_per_owner,
            created_per_minute=settings.subscriptions_created_per_minute,
            secret_overlap=timedelta(hours=settings.secret_overlap_hours),
        ),
    )


def stream_ports(adapters: Adapters) -> tuple[HolderEventStore, HolderWakeups]:
    """The store and the wake-ups that live streams need (fakes may leave them out)."""
    if adapters.holder_events is None or adapters.wakeups is None:
        raise ValueError("live streams need holder_events and wakeups (see with_streams)")
    return adapters.holder_events, adapters.wakeups


def holder_streams(adapters: Adapters, settings: NotifierSettings) -> HolderStreams:
    """The live streams behind ``GET /v1/holders/{holder_id}/events``."""
    events, wakeups = stream_ports(adapters)
    return HolderStreams(
        events=events,
        wakeups=wakeups,
        timing=StreamTiming(
            poll_seconds=settings.stream_poll_seconds,
            heartbeat_seconds=settings.stream_heartbeat_seconds,
            gap_grace_seconds=settings.stream_gap_grace_seconds,
            recheck_seconds=settings.stream_recheck_seconds,
        ),
    )


def stream_watcher(adapters: Adapters, settings: NotifierSettings) -> StreamWatcher:
    """The worker that wakes open streams for events other replicas stored."""
    events, wakeups = stream_ports(adapters)
    return StreamWatcher(
        events=events,
        wakeups=wakeups,
        poll_seconds=settings.stream_poll_seconds,
    )


def projection(adapters: Adapters, settings: NotifierSettings) -> HandlerRegistry:
    """The consumer's handlers: deliveries to plan, and institutions' keys to learn."""
    others = HandlerRegistry()
    if adapters.keys is not None:
        InstitutionKeysProjection(adapters.keys).register(others)
    return planner(adapters, settings).register(HandlerRegistry(), also=others)


def planner(adapters: Adapters, settings: NotifierSettings | None = None) -> DeliveryPlanner:
    """The consumer's handlers: lifecycle events go to holders' streams and become deliveries."""
    return DeliveryPlanner(
        subscriptions=adapters.subscriptions,
        deliveries=adapters.deliveries,
        holder_events=adapters.holder_events,
        wakeups=adapters.wakeups,
        handoff=adapters.handoff,
        lease=(timedelta(seconds=settings.webhook_lease_seconds) if settings is not None else None),
    )


def delivery_worker(settings: NotifierSettings, adapters: Adapters) -> DeliveryWorker:
    """A delivery worker configured by `settings`."""
    return DeliveryWorker(
        deliveries=adapters.deliveries,
        subscriptions=adapters.subscriptions,
        sender=adapters.sender,
        outcomes=adapters.outcomes,
        schedule=RetrySchedule(
            max_attempts=settings.webhook_max_attempts,
            base_seconds=settings.webhook_backoff_base_seconds,
            max_seconds=settings.webhook_backoff_max_seconds,
        ),
        lease=timedelta(seconds=settings.webhook_lease_seconds),
        attempt_timeout=timedelta(seconds=settings.webhook_timeout_seconds),
        poll_seconds=settings.delivery_poll_seconds,
        concurrency=settings.delivery_concurrency,
        vault=adapters.vault,
        handoff=adapters.handoff,
    )


def build_app(
    settings: NotifierSettings | None = None, *, fakes: Adapters | None = None
) -> FastAPI:
    """The notifier: routes, plus the Kafka consumer and the delivery worker in its lifespan.

    With `fakes`, the routes run over them and nothing is connected or started; unit tests
    drive `DeliveryPlanner` and `DeliveryWorker` themselves.
    """
    config = settings or NotifierSettings()
    definition = ServiceDefinition[Adapters](
        api=api,
        indexes=INDEXES,
        adapters=lambda platform: real_adapters(platform, config),
        use_cases=lambda adapters: [
            subscriptions(adapters, config),
            holder_streams(adapters, config),
            KeptKeys(adapters.keys),
        ],
        projection=lambda adapters: projection(adapters, config),
        workers=lambda adapters: {
            "deliveries": delivery_worker(config, adapters),
            "streams": stream_watcher(adapters, config),
        },
        startup=index_subscriptions,
    )
    app = build_service_app(
        definition, config, fakes=with_streams(fakes) if fakes is not None else None
    )
    install_callers(app, config)
    return app
