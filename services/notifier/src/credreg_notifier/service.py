"""Subscription use cases behind the HTTP routes: subscribe, look up, unsubscribe, deliveries."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from credreg_notifier.deliveries import DeliveryRepository, shown
from credreg_notifier.planner import utc_now
from credreg_notifier.subscriptions import (
    InvalidSecret,
    SubscriptionRepository,
    SubscriptionRequest,
    check_secret,
    new_secret,
    new_subscription,
    public,
)
from credreg_notifier.targets import TargetRefused, check_target
from credreg_shared.storage.client import Document
from credreg_shared.web import ProblemError

MAX_LISTED_DELIVERIES = 500


class Subscriptions:
    """What a wallet can do with its subscriptions (holder-token auth arrives in a later issue)."""

    def __init__(
        self,
        *,
        subscriptions: SubscriptionRepository,
        deliveries: DeliveryRepository,
        allow_private_targets: bool,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.subscriptions = subscriptions
        self.deliveries = deliveries
        self.allow_private_targets = allow_private_targets
        self.clock = clock

    async def subscribe(self, request: SubscriptionRequest) -> dict[str, Any]:
        """Store a subscription; the answer carries its signing secret (shown this once)."""
        try:
            await check_target(request.url, allow_private=self.allow_private_targets)
            secret = request.secret if request.secret is not None else new_secret()
            check_secret(secret)
        except (TargetRefused, InvalidSecret) as refused:
            raise ProblemError(422, detail=str(refused)) from refused
        subscription = new_subscription(request, secret, self.clock())
        await self.subscriptions.add(subscription)
        return {**public(subscription), "secret": secret}

    async def get(self, subscription_id: str) -> dict[str, Any]:
        """The subscription without its secret, or a 404 problem."""
        return public(await self._existing(subscription_id))

    async def unsubscribe(self, subscription_id: str) -> None:
        """Remove the subscription; its pending deliveries die when next due."""
        if not await self.subscriptions.remove(subscription_id):
            raise ProblemError(404, detail=f"no subscription {subscription_id!r}")

    async def deliveries_of(self, subscription_id: str) -> dict[str, Any]:
        """The subscription's notices with status, attempts and last error (dead letters too)."""
        subscription = await self._existing(subscription_id)
        found = await self.deliveries.of_subscription(
            subscription["_id"], limit=MAX_LISTED_DELIVERIES
        )
        return {"subscription_id": subscription["_id"], "deliveries": [shown(d) for d in found]}

    async def _existing(self, subscription_id: str) -> Document:
        found = await self.subscriptions.get(subscription_id)
        if found is None:
            raise ProblemError(404, detail=f"no subscription {subscription_id!r}")
        return found
