"""The delivery worker: claims due deliveries, sends them signed, records each outcome."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from pymongo.errors import AutoReconnect, ConnectionFailure

from credreg_notifier.deliveries import (
    DEAD,
    DELIVERED,
    DeliveryRepository,
    RetrySchedule,
    Settlement,
    settle,
)
from credreg_notifier.planner import utc_now
from credreg_notifier.subscriptions import SubscriptionRepository

log = logging.getLogger(__name__)
# The database being away is not a delivery's fault: wait and go on, keep the process.
DATABASE_OUTAGES = (ConnectionFailure, AutoReconnect)


class WebhookSender(Protocol):
    """Sends one signed notice; answers None on success, else what went wrong."""

    async def send(self, *, url: str, secret: str, message_id: str, body: str) -> str | None:
        """POST `body` to `url`, signed with `secret` under ``webhook-id`` `message_id`."""
        ...


class DeliveryWorker:
    """Sends due deliveries; each attempt is claimed under a lease so replicas never overlap."""

    def __init__(
        self,
        *,
        deliveries: DeliveryRepository,
        subscriptions: SubscriptionRepository,
        sender: WebhookSender,
        schedule: RetrySchedule,
        lease: timedelta,
        poll_seconds: float = 0.2,
        concurrency: int = 1,
        clock: Callable[[], datetime] = utc_now,
        on_outcome: Callable[[str], None] | None = None,
    ) -> None:
        self.deliveries = deliveries
        self.subscriptions = subscriptions
        self.sender = sender
        self.schedule = schedule
        self.lease = lease
        self.poll_seconds = poll_seconds
        self.concurrency = concurrency
        self.clock = clock
        self.on_outcome = on_outcome

    async def run(self) -> None:
        """Deliver until cancelled, with `concurrency` attempts at a time."""
        async with asyncio.TaskGroup() as group:
            for lane in range(self.concurrency):
                group.create_task(self._deliver_forever(), name=f"deliveries-{lane}")

    async def _deliver_forever(self) -> None:
        while True:
            try:
                busy = await self.deliver_one()
            except DATABASE_OUTAGES:
                log.warning("database unavailable; deliveries wait", exc_info=True)
                busy = False
            if not busy:
                await asyncio.sleep(self.poll_seconds)

    async def deliver_one(self) -> bool:
        """Make one due attempt; False when nothing was due."""
        token = uuid.uuid4().hex
        now = self.clock()
        delivery = await self.deliveries.claim_due(
            now=now, lease_until=now + self.lease, lease_token=token
        )
        if delivery is None:
            return False
        subscription = await self.subscriptions.get(delivery["subscription_id"])
        if subscription is None:
            outcome = Settlement(DEAD, "subscription deleted")
        elif delivery["attempts"] > self.schedule.max_attempts:
            # Reclaimed after workers died mid-attempt until the budget was spent.
            outcome = Settlement(DEAD, delivery.get("last_error") or "attempts exhausted")
        else:
            error = await self.sender.send(
                url=subscription["url"],
                secret=subscription["secret"],
                message_id=delivery["_id"],
                body=delivery["body"],
            )
            outcome = settle(delivery["attempts"], error, self.schedule, self.clock())
        recorded = await self.deliveries.settle(delivery["_id"], token, outcome)
        if recorded and self.on_outcome is not None:
            self.on_outcome(outcome.status)
        context = {
            "delivery_id": delivery["_id"],
            "subscription_id": delivery["subscription_id"],
            "attempt": delivery["attempts"],
            "status": outcome.status,
            "error": outcome.last_error,
        }
        if not recorded:
            log.warning("delivery lease lost before the outcome was recorded", extra=context)
        elif outcome.status == DEAD:
            log.warning("webhook delivery dead", extra=context)
        elif outcome.status != DELIVERED:
            log.info("webhook delivery failed; will retry", extra=context)
        return True
