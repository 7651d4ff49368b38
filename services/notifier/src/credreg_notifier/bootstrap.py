"""The notifier's composition root: subscriptions, the delivery planner and worker, routes."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

import httpx
from fastapi import FastAPI

from credreg_notifier import api
from credreg_notifier.deliveries import INDEXES as DELIVERY_INDEXES
from credreg_notifier.deliveries import DeliveryPlanner, DeliveryWorker
from credreg_notifier.settings import NotifierSettings
from credreg_notifier.subscriptions import INDEXES as SUBSCRIPTION_INDEXES
from credreg_notifier.subscriptions import SubscriptionStore
from credreg_shared.messaging import HandlerRegistry
from credreg_shared.runtime import ServiceRuntime, service_lifespan
from credreg_shared.web import create_app


def build_app(settings: NotifierSettings | None = None) -> FastAPI:
    """The notifier app; its lifespan runs the consumer and the delivery worker."""
    config = settings or NotifierSettings()

    def attach(app: FastAPI, runtime: ServiceRuntime) -> None:
        app.state.settings = config
        app.state.db = runtime.db
        app.state.subscriptions = SubscriptionStore(runtime.db)

    def handlers(runtime: ServiceRuntime) -> HandlerRegistry:
        planner = DeliveryPlanner(runtime.db, SubscriptionStore(runtime.db))
        return planner.register(HandlerRegistry())

    def workers(runtime: ServiceRuntime) -> dict[str, Coroutine[Any, Any, None]]:
        client = httpx.AsyncClient()
        worker = DeliveryWorker(runtime.db, SubscriptionStore(runtime.db), config, client)
        return {"deliveries": deliver_until_cancelled(worker, client)}

    lifespan = service_lifespan(
        config,
        indexes=[*SUBSCRIPTION_INDEXES, *DELIVERY_INDEXES],
        on_start=attach,
        handlers=handlers,
        workers=workers,
    )
    app = create_app(
        title="credreg notifier",
        version="0.1.0",
        lifespan=lifespan,
        description="Wallets subscribe; revocation and expiry notices arrive as signed webhooks.",
    )
    app.include_router(api.router)
    return app


async def deliver_until_cancelled(worker: DeliveryWorker, client: httpx.AsyncClient) -> None:
    """Run the worker; close its HTTP client when the service stops."""
    try:
        await worker.run()
    finally:
        await client.aclose()
