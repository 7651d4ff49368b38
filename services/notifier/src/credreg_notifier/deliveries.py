"""Webhook deliveries: one document per (subscription, event), sent with retries, then dead.

Inserting the delivery is the consumer's whole effect (``_id`` derived from subscription and
event, so a redelivered event adds nothing). A worker claims due deliveries one at a time with
a conditional update and a lease, so replicas never send one attempt twice at once and a
crashed worker's claim expires. ``webhook-id`` is the delivery id: the same on every retry, so
a wallet that deduplicates by it sees each notice once.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from standardwebhooks.webhooks import Webhook

from credreg_notifier.settings import NotifierSettings
from credreg_notifier.subscriptions import SubscriptionStore
from credreg_shared.events import models
from credreg_shared.events.cloudevents import Envelope, format_time
from credreg_shared.messaging import HandlerRegistry
from credreg_shared.storage import MongoIdempotentCollection, index
from credreg_shared.storage.client import Document

log = logging.getLogger(__name__)
COLLECTION = "deliveries"
INDEXES = [
    index(COLLECTION, ("status", 1), ("next_attempt_at", 1)),
    index(COLLECTION, ("subscription_id", 1)),
]
PENDING, IN_FLIGHT, DELIVERED, DEAD = "pending", "in_flight", "delivered", "dead"
NOTICE_EVENTS = (
    models.CredentialRevoked,
    models.CredentialSuspended,
    models.CredentialReinstated,
    models.CredentialExpired,
    models.CredentialExpiring,
)
DELIVERY_NAMESPACE = uuid.UUID("0f6d5b52-9c1e-4a57-8d37-2b1f3c9a7e44")


def delivery_id(subscription_id: str, event_id: str) -> str:
    """The same (subscription, event) always gives the same delivery and ``webhook-id``."""
    return f"msg_{uuid.uuid5(DELIVERY_NAMESPACE, json.dumps([subscription_id, event_id])).hex}"


def backoff(attempts: int, *, base: float, cap: float) -> float:
    """Seconds to wait after `attempts` failed attempts: exponential, capped."""
    return float(min(cap, base * 2 ** (attempts - 1)))


def notice(envelope: Envelope) -> dict[str, Any]:
    """The webhook body: the event's type, time and data."""
    return {
        "type": envelope.type,
        "timestamp": format_time(envelope.time),
        "data": envelope.data.model_dump(mode="json"),
    }


class DeliveryPlanner:
    """The consumer side: one delivery per matching subscription and event."""

    def __init__(self, db: AsyncDatabase[Document], subscriptions: SubscriptionStore) -> None:
        self.deliveries = MongoIdempotentCollection(db[COLLECTION])
        self.subscriptions = subscriptions

    async def on_event(self, envelope: Envelope) -> None:
        """Queue a delivery for every subscription this event concerns."""
        event = envelope.data_as(models.CredentialEvent)
        body = json.dumps(notice(envelope), separators=(",", ":"))
        for subscription in await self.subscriptions.matching(event.credential_id, event.holder_id):
            await self.deliveries.insert_once(
                {
                    "_id": delivery_id(subscription["_id"], envelope.id),
                    "subscription_id": subscription["_id"],
                    "event_id": envelope.id,
                    "type": envelope.type,
                    "body": body,
                    "status": PENDING,
                    "attempts": 0,
                    "next_attempt_at": datetime.now(UTC),
                    "created_at": datetime.now(UTC),
                }
            )

    def register(self, registry: HandlerRegistry) -> HandlerRegistry:
        """The event → handler table."""
        for kind in NOTICE_EVENTS:
            registry.register(kind, self.on_event)
        return registry


class DeliveryWorker:
    """Sends due deliveries, signed per Standard Webhooks, with backoff and a dead letter."""

    def __init__(
        self,
        db: AsyncDatabase[Document],
        subscriptions: SubscriptionStore,
        settings: NotifierSettings,
        client: httpx.AsyncClient,
    ) -> None:
        self.collection = db[COLLECTION]
        self.subscriptions = subscriptions
        self.settings = settings
        self.client = client

    async def run(self) -> None:
        """Deliver forever; idle polls wait `delivery_poll_seconds`."""
        while True:
            if not await self.deliver_one():
                await asyncio.sleep(self.settings.delivery_poll_seconds)

    async def claim(self) -> Document | None:
        """Take one due delivery (or one whose worker's lease ran out)."""
        now = datetime.now(UTC)
        lease = {"$set": {"status": IN_FLIGHT, "lease_until": now + self._lease()}}
        for due in (
            {"status": PENDING, "next_attempt_at": {"$lte": now}},
            {"status": IN_FLIGHT, "lease_until": {"$lte": now}},
        ):
            claimed = await self.collection.find_one_and_update(
                due, lease, return_document=ReturnDocument.AFTER
            )
            if claimed is not None:
                return claimed
        return None

    async def deliver_one(self) -> bool:
        """Send one due delivery; False when nothing was due."""
        delivery = await self.claim()
        if delivery is None:
            return False
        subscription = await self.subscriptions.get(delivery["subscription_id"])
        if subscription is None:
            await self._finish(delivery, DEAD, "subscription deleted")
            return True
        error = await self.send(delivery, subscription)
        if error is None:
            await self._finish(delivery, DELIVERED, None)
        elif delivery["attempts"] + 1 >= self.settings.webhook_max_attempts:
            await self._finish(delivery, DEAD, error)
            log.warning("webhook delivery dead", extra={"delivery": delivery["_id"]})
        else:
            await self._retry_later(delivery, error)
        return True

    async def send(self, delivery: Document, subscription: Document) -> str | None:
        """POST the signed notice; None on a 2xx answer, else what went wrong."""
        sent_at = datetime.now(UTC)
        signature = Webhook(subscription["secret"]).sign(delivery["_id"], sent_at, delivery["body"])
        headers = {
            "content-type": "application/json",
            "webhook-id": delivery["_id"],
            "webhook-timestamp": str(int(sent_at.timestamp())),
            "webhook-signature": signature,
        }
        try:
            response = await self.client.post(
                subscription["url"],
                content=delivery["body"].encode(),
                headers=headers,
                timeout=self.settings.webhook_timeout_seconds,
                follow_redirects=False,
            )
        except httpx.HTTPError as error:
            return f"{type(error).__name__}: {error}"[:500]
        return None if response.is_success else f"HTTP {response.status_code}"

    async def _finish(self, delivery: Document, status: str, error: str | None) -> None:
        await self.collection.update_one(
            {"_id": delivery["_id"], "status": IN_FLIGHT},
            {
                "$set": {"status": status, "last_error": error, "finished_at": datetime.now(UTC)},
                "$inc": {"attempts": 1},
                "$unset": {"lease_until": ""},
            },
        )

    async def _retry_later(self, delivery: Document, error: str) -> None:
        attempts = delivery["attempts"] + 1
        delay = backoff(
            attempts,
            base=self.settings.webhook_backoff_base_seconds,
            cap=self.settings.webhook_backoff_max_seconds,
        )
        await self.collection.update_one(
            {"_id": delivery["_id"], "status": IN_FLIGHT},
            {
                "$set": {
                    "status": PENDING,
                    "attempts": attempts,
                    "last_error": error,
                    "next_attempt_at": datetime.now(UTC) + timedelta(seconds=delay),
                },
                "$unset": {"lease_until": ""},
            },
        )

    def _lease(self) -> timedelta:
        return timedelta(seconds=self.settings.webhook_lease_seconds)


async def deliveries_of(db: AsyncDatabase[Document], subscription_id: str) -> list[dict[str, Any]]:
    """What happened to a subscription's notices (dead letters included)."""
    cursor = db[COLLECTION].find({"subscription_id": subscription_id}).sort("created_at", 1)
    fields = ("event_id", "type", "status", "attempts", "last_error", "next_attempt_at")
    return [{"id": d["_id"], **{k: d.get(k) for k in fields}} async for d in cursor]
