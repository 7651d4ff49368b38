"""The notifier's composition root: real adapters by default, fakes injectable for tests."""

from __future__ import annotations

from datetime import timedelta

import httpx
from fastapi import FastAPI

from credreg_notifier import api
from credreg_notifier.adapters.mongo import INDEXES, MongoDeliveries, MongoSubscriptions
from credreg_notifier.adapters.prometheus import PrometheusDeliveryOutcomes
from credreg_notifier.adapters.webhooks import DnsWebhookTargets, HttpxWebhookSender
from credreg_notifier.domain import RetrySchedule
from credreg_notifier.ports import Adapters
from credreg_notifier.projection import DeliveryPlanner
from credreg_notifier.settings import NotifierSettings
from credreg_notifier.use_cases import Subscriptions
from credreg_notifier.workers import DeliveryWorker
from credreg_shared.messaging.handlers import HandlerRegistry
from credreg_shared.runtime import Platform, ServiceDefinition, build_service_app


def real_adapters(platform: Platform, settings: NotifierSettings) -> Adapters:
    """The ports over the platform's database, a real HTTP client and the app's metrics."""
    targets = DnsWebhookTargets(allow_private=settings.allow_private_webhook_targets)
    client = httpx.AsyncClient()
    # Closed at shutdown, after the delivery worker (its only user) has stopped.
    platform.close_on_shutdown(client.aclose)
    return Adapters(
        subscriptions=MongoSubscriptions(platform.db),
        deliveries=MongoDeliveries(platform.db),
        targets=targets,
        sender=HttpxWebhookSender(
            client, targets=targets, timeout_seconds=settings.webhook_timeout_seconds
        ),
        outcomes=PrometheusDeliveryOutcomes(platform.metrics),
    )


def subscriptions(adapters: Adapters) -> Subscriptions:
    """The use cases behind the routes."""
    return Subscriptions(
        subscriptions=adapters.subscriptions,
        deliveries=adapters.deliveries,
        targets=adapters.targets,
    )


def planner(adapters: Adapters) -> DeliveryPlanner:
    """The consumer's handlers: lifecycle events become deliveries."""
    return DeliveryPlanner(subscriptions=adapters.subscriptions, deliveries=adapters.deliveries)


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
        poll_seconds=settings.delivery_poll_seconds,
        concurrency=settings.delivery_concurrency,
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
        use_cases=lambda adapters: [subscriptions(adapters)],
        projection=lambda adapters: planner(adapters).register(HandlerRegistry()),
        workers=lambda adapters: {"deliveries": delivery_worker(config, adapters)},
    )
    return build_service_app(definition, config, fakes=fakes)
