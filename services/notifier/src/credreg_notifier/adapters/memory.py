"""In-memory repositories with the MongoDB adapters' semantics, for unit tests."""

from __future__ import annotations

import copy
from datetime import datetime

from credreg_notifier.deliveries import IN_FLIGHT, PENDING, Settlement
from credreg_shared.storage.client import Document


class InMemorySubscriptions:
    """``SubscriptionRepository`` in a dict."""

    def __init__(self) -> None:
        self.documents: dict[str, Document] = {}

    async def add(self, subscription: Document) -> None:
        """Store a copy; a taken id fails like a unique ``_id``."""
        if subscription["_id"] in self.documents:
            raise KeyError(f"duplicate subscription id {subscription['_id']!r}")
        self.documents[subscription["_id"]] = copy.deepcopy(subscription)

    async def get(self, subscription_id: str) -> Document | None:
        """A copy of one subscription, or None."""
        found = self.documents.get(subscription_id)
        return copy.deepcopy(found) if found is not None else None

    async def remove(self, subscription_id: str) -> bool:
        """Delete; False when there was none."""
        return self.documents.pop(subscription_id, None) is not None

    async def matching(self, *, credential_id: str, holder_id: str) -> list[Document]:
        """Subscriptions to this credential or to its holder."""
        return [
            copy.deepcopy(s)
            for s in self.documents.values()
            if s.get("credential_id") == credential_id or s.get("holder_id") == holder_id
        ]


class InMemoryDeliveries:
    """``DeliveryRepository`` in a dict; each call is atomic, as one MongoDB operation is."""

    def __init__(self) -> None:
        self.documents: dict[str, Document] = {}

    async def add_once(self, delivery: Document) -> bool:
        """Insert a copy; False when the id is taken."""
        if delivery["_id"] in self.documents:
            return False
        self.documents[delivery["_id"]] = copy.deepcopy(delivery)
        return True

    async def claim_due(
        self, *, now: datetime, lease_until: datetime, lease_token: str
    ) -> Document | None:
        """Take the earliest due delivery, or one whose lease ran out."""
        due = [
            d
            for d in self.documents.values()
            if (d["status"] == PENDING and d["next_attempt_at"] <= now)
            or (d["status"] == IN_FLIGHT and d["lease_until"] <= now)
        ]
        if not due:
            return None
        claimed = min(due, key=lambda d: (d["status"] != PENDING, d["next_attempt_at"]))
        claimed.update(
            status=IN_FLIGHT,
            lease_until=lease_until,
            lease_token=lease_token,
            attempts=claimed["attempts"] + 1,
        )
        return copy.deepcopy(claimed)

    async def settle(self, delivery_id: str, lease_token: str, settlement: Settlement) -> bool:
        """Record the outcome if the lease is still `lease_token`'s."""
        delivery = self.documents.get(delivery_id)
        if delivery is None or delivery.get("lease_token") != lease_token:
            return False
        if delivery["status"] != IN_FLIGHT:
            return False
        delivery.update(
            status=settlement.status,
            last_error=settlement.last_error,
            next_attempt_at=settlement.next_attempt_at,
        )
        delivery.pop("lease_until", None)
        delivery.pop("lease_token", None)
        return True

    async def of_subscription(self, subscription_id: str, *, limit: int) -> list[Document]:
        """A subscription's deliveries, oldest first."""
        found = [d for d in self.documents.values() if d["subscription_id"] == subscription_id]
        return copy.deepcopy(sorted(found, key=lambda d: d["created_at"])[:limit])
