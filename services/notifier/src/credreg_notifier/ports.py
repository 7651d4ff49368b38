"""What the notifier's use cases, projection and worker ask of the outside world.

Repository methods raise `credreg_shared.errors.StorageUnavailable` when the database is away,
never a driver error; everything else they answer is in their docstrings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from credreg_notifier.domain import Settlement
from credreg_shared.storage.ports import Document


class SubscriptionRepository(Protocol):
    """Where subscriptions are kept."""

    async def add(self, subscription: Document) -> None:
        """Store a new subscription (its ``_id`` is new)."""
        ...

    async def get(self, subscription_id: str) -> Document | None:
        """One subscription, or None."""
        ...

    async def remove(self, subscription_id: str) -> bool:
        """Delete a subscription; False when there was none."""
        ...

    async def matching(self, *, credential_id: str, holder_id: str) -> list[Document]:
        """Subscriptions to this credential or to its holder."""
        ...


class DeliveryRepository(Protocol):
    """Where deliveries are kept; every method is one single-document atomic operation."""

    async def add_once(self, delivery: Document) -> bool:
        """Insert a delivery; False when one with its id exists (a redelivered event)."""
        ...

    async def claim_due(
        self, *, now: datetime, lease_until: datetime, lease_token: str
    ) -> Document | None:
        """Take one due delivery (or one whose lease ran out): in flight, attempts + 1.

        Pending deliveries come first, earliest ``next_attempt_at`` first; None when none is due.
        """
        ...

    async def settle(self, delivery_id: str, lease_token: str, settlement: Settlement) -> bool:
        """Record an attempt's outcome; False when the lease was lost to another worker."""
        ...

    async def of_subscription(self, subscription_id: str, *, limit: int) -> list[Document]:
        """A subscription's deliveries without their bodies, oldest first, at most `limit`."""
        ...


class WebhookTargets(Protocol):
    """Decides whether a webhook URL may be called now (its host's addresses included)."""

    async def check(self, url: str) -> None:
        """Raise `domain.TargetRefused` unless `url` is a target the notifier may call."""
        ...


class WebhookSender(Protocol):
    """Sends one signed notice; answers None on success, else what went wrong."""

    async def send(self, *, url: str, secret: str, message_id: str, body: str) -> str | None:
        """POST `body` to `url`, signed with `secret` under ``webhook-id`` `message_id`."""
        ...


class DeliveryOutcomes(Protocol):
    """Observes each recorded attempt (metrics)."""

    def record(self, status: str) -> None:
        """Count one attempt that left its delivery in `status`."""
        ...


@dataclass(frozen=True)
class Adapters:
    """The notifier's ports, filled with real adapters (bootstrap) or fakes (unit tests)."""

    subscriptions: SubscriptionRepository
    deliveries: DeliveryRepository
    targets: WebhookTargets
    sender: WebhookSender
    outcomes: DeliveryOutcomes
