"""The notifier's composition root: real adapters by default, fakes injectable for tests."""

from __future__ import annotations

from collections.abc import Coroutine
from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from credreg_notifier import api
from credreg_notifier.adapters.mongo import INDEXES, MongoDeliveries, MongoSubscriptions
from credreg_notifier.adapters.webhooks import HttpxWebhookSender
from credreg_notifier.deliveries import DeliveryRepository, RetrySchedule
from credreg_notifier.metrics import DeliveryMetrics
from credreg_notifier.planner import DeliveryPlanner
from credreg_notifier.service import Subscriptions
from credreg_notifier.settings import NotifierSettings
from credreg_notifier.subscriptions import SubscriptionRepository
from credreg_notifier.worker import DeliveryWorker, WebhookSender
from credreg_shared.messaging import HandlerRegistry
from credreg_shared.runtime import Lifespan, ServiceRuntime, service_lifespan
from credreg_shared.web import create_app, metrics_registry


def build_app(settings: NotifierSettings | None = None) -> FastAPI:
    """The notifier with MongoDB, the Kafka consumer and the delivery worker in its lifespan."""
    config = settings or NotifierSettings()

    metrics: list[DeliveryMetrics] = []

    def attach(app: FastAPI, runtime: ServiceRuntime) -> None:
        attach_subscriptions(
            app, config, MongoSubscriptions(runtime.db), MongoDeliveries(runtime.db)
        )
        metrics.append(DeliveryMetrics(metrics_registry(app)))

    def handlers(runtime: ServiceRuntime) -> HandlerRegistry:
        planner = DeliveryPlanner(
            subscriptions=MongoSubscriptions(runtime.db), deliveries=MongoDeliveries(runtime.db)
        )
        return planner.register(HandlerRegistry())

    def workers(runtime: ServiceRuntime) -> dict[str, Coroutine[Any, Any, None]]:
        return {"deliveries": deliver_over_http(config, runtime, metrics[0])}

    lifespan = service_lifespan(
        config, indexes=INDEXES, on_start=attach, handlers=handlers, workers=workers
    )
    return routes_app(lifespan)


def routes_app(lifespan: Lifespan | None = None) -> FastAPI:
    """The app with its routes; `attach_subscriptions` (or the lifespan) supplies the adapters."""
    app = create_app(
        title="credreg notifier",
        version="0.1.0",
        lifespan=lifespan,
        description="Wallets subscribe; revocation and expiry notices arrive as signed webhooks.",
    )
    app.include_router(api.router)
    return app


def attach_subscriptions(
    app: FastAPI,
    settings: NotifierSettings,
    subscriptions: SubscriptionRepository,
    deliveries: DeliveryRepository,
) -> None:
    """Give the routes their use cases over these repositories."""
    app.state.subscriptions = Subscriptions(
        subscriptions=subscriptions,
        deliveries=deliveries,
        allow_private_targets=settings.allow_private_webhook_targets,
    )


def build_worker(
    settings: NotifierSettings,
    *,
    subscriptions: SubscriptionRepository,
    deliveries: DeliveryRepository,
    sender: WebhookSender,
    metrics: DeliveryMetrics | None = None,
) -> DeliveryWorker:
    """A delivery worker configured by `settings`."""
    return DeliveryWorker(
        deliveries=deliveries,
        subscriptions=subscriptions,
        sender=sender,
        schedule=RetrySchedule(
            max_attempts=settings.webhook_max_attempts,
            base_seconds=settings.webhook_backoff_base_seconds,
            max_seconds=settings.webhook_backoff_max_seconds,
        ),
        lease=timedelta(seconds=settings.webhook_lease_seconds),
        poll_seconds=settings.delivery_poll_seconds,
        concurrency=settings.delivery_concurrency,
        on_outcome=metrics.record if metrics is not None else None,
    )


async def deliver_over_http(
    settings: NotifierSettings, runtime: ServiceRuntime, metrics: DeliveryMetrics
) -> None:
    """Run the worker with a real HTTP client until cancelled; then close the client."""
    async with httpx.AsyncClient() as client:
        sender = HttpxWebhookSender(
            client,
            timeout_seconds=settings.webhook_timeout_seconds,
            allow_private=settings.allow_private_webhook_targets,
        )
        worker = build_worker(
            settings,
            subscriptions=MongoSubscriptions(runtime.db),
            deliveries=MongoDeliveries(runtime.db),
            sender=sender,
            metrics=metrics,
        )
        await worker.run()
