"""Webhook deliveries: one per (subscription, event), retried with backoff, then dead.

A delivery is ``pending`` until a worker claims it (``in_flight``, under a lease), then
``delivered``, ``pending`` again with a later ``next_attempt_at``, or ``dead`` once its attempts
are spent. Its id is the ``webhook-id``: the same on every retry, so a wallet that deduplicates
by it sees each notice once.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from credreg_shared.events.cloudevents import Envelope, format_time
from credreg_shared.storage.client import Document

PENDING, IN_FLIGHT, DELIVERED, DEAD = "pending", "in_flight", "delivered", "dead"
DELIVERY_NAMESPACE = uuid.UUID("0f6d5b52-9c1e-4a57-8d37-2b1f3c9a7e44")
MAX_ERROR_CHARS = 500


def delivery_id(subscription_id: str, event_id: str) -> str:
    """The same (subscription, event) always gives the same delivery id and ``webhook-id``."""
    return f"msg_{uuid.uuid5(DELIVERY_NAMESPACE, json.dumps([subscription_id, event_id])).hex}"


def notice_body(envelope: Envelope) -> str:
    """The webhook body, as the exact JSON text that is signed and sent on every attempt."""
    notice = {
        "type": envelope.type,
        "timestamp": format_time(envelope.time),
        "data": envelope.data.model_dump(mode="json"),
    }
    return json.dumps(notice, separators=(",", ":"), ensure_ascii=False)


def new_delivery(subscription_id: str, envelope: Envelope, now: datetime) -> Document:
    """A pending delivery of `envelope` to one subscription, due at once."""
    return {
        "_id": delivery_id(subscription_id, envelope.id),
        "subscription_id": subscription_id,
        "event_id": envelope.id,
        "type": envelope.type,
        "body": notice_body(envelope),
        "status": PENDING,
        "attempts": 0,
        "last_error": None,
        "next_attempt_at": now,
        "created_at": now,
    }


@dataclass(frozen=True)
class RetrySchedule:
    """How often and how far apart a failing delivery is tried."""

    max_attempts: int
    base_seconds: float
    max_seconds: float

    def delay(self, attempts: int) -> timedelta:
        """The wait after `attempts` failed attempts: base · 2^(attempts-1), capped."""
        exponent = min(max(attempts - 1, 0), 62)  # keeps the float finite for any count
        return timedelta(seconds=min(self.max_seconds, self.base_seconds * 2.0**exponent))


@dataclass(frozen=True)
class Settlement:
    """What an attempt leaves behind: the new status, the error and when to try next."""

    status: str
    last_error: str | None = None
    next_attempt_at: datetime | None = None


def settle(attempts: int, error: str | None, schedule: RetrySchedule, now: datetime) -> Settlement:
    """The state after attempt number `attempts` ended with `error` (None: a 2xx answer)."""
    if error is None:
        return Settlement(DELIVERED)
    error = error[:MAX_ERROR_CHARS]
    if attempts >= schedule.max_attempts:
        return Settlement(DEAD, error)
    return Settlement(PENDING, error, now + schedule.delay(attempts))


def shown(delivery: Document) -> dict[str, Any]:
    """A delivery as the API lists it."""
    fields = ("event_id", "type", "status", "attempts", "last_error", "next_attempt_at")
    return {"id": delivery["_id"], **{key: delivery.get(key) for key in fields}}


class DeliveryRepository(Protocol):
    """Where deliveries are kept; every method is one single-document atomic operation."""

    async def add_once(self, delivery: Document) -> bool:
        """Insert a delivery; False when one with its id exists (a redelivered event)."""
        ...

    async def claim_due(
        self, *, now: datetime, lease_until: datetime, lease_token: str
    ) -> Document | None:
        """Take one due delivery (or one whose lease ran out): in flight, attempts + 1."""
        ...

    async def settle(self, delivery_id: str, lease_token: str, settlement: Settlement) -> bool:
        """Record an attempt's outcome; False when the lease was lost to another worker."""
        ...

    async def of_subscription(self, subscription_id: str, *, limit: int) -> list[Document]:
        """A subscription's deliveries, oldest first, at most `limit`."""
        ...
