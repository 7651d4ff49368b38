"""What a wallet can do with its subscriptions: subscribe, look up, unsubscribe, list deliveries."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from credreg_notifier.domain import (
    SubscriptionNotFound,
    SubscriptionRequest,
    check_secret,
    new_secret,
    new_subscription,
    public,
    shown,
    utc_now,
)
from credreg_notifier.ports import DeliveryRepository, SubscriptionRepository, WebhookTargets
from credreg_shared.storage.ports import Document

MAX_LISTED_DELIVERIES = 500


class Subscriptions:
    """A wallet's subscriptions (holder-token auth arrives in a later issue)."""

    def __init__(
        self,
        *,
        subscriptions: SubscriptionRepository,
        deliveries: DeliveryRepository,
        targets: WebhookTargets,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.subscriptions = subscriptions
        self.deliveries = deliveries
        self.targets = targets
        self.clock = clock

    async def subscribe(self, request: SubscriptionRequest) -> dict[str, Any]:
        """Store a subscription; the answer carries its signing secret (shown this once).

        Raises `TargetRefused` for a URL the notifier will not call and `InvalidSecret` for a
        given secret that is not a Standard Webhooks secret; nothing is stored then.
        """
        await self.targets.check(request.url)
        secret = request.secret if request.secret is not None else new_secret()
        check_secret(secret)
        subscription = new_subscription(request, secret, self.clock())
        await self.subscriptions.add(subscription)
        return {**public(subscription), "secret": secret}

    async def get(self, subscription_id: str) -> dict[str, Any]:
        """The subscription without its secret; `SubscriptionNotFound` if there is none."""
        return public(await self._existing(subscription_id))

    async def unsubscribe(self, subscription_id: str) -> None:
        """Remove the subscription; its pending deliveries die when next due."""
        if not await self.subscriptions.remove(subscription_id):
            raise SubscriptionNotFound(subscription_id)

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
            raise SubscriptionNotFound(subscription_id)
        return found
