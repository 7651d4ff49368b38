"""Subscriptions and deliveries in the notifier's own MongoDB database."""

from __future__ import annotations

from datetime import datetime

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from credreg_notifier.domain import IN_FLIGHT, PENDING, Settlement
from credreg_shared.storage import Document, MongoIdempotentCollection, index, storage_adapter

SUBSCRIPTIONS = "subscriptions"
DELIVERIES = "deliveries"
QUOTAS = "owner_quotas"
INDEXES = [
    index(SUBSCRIPTIONS, ("holder_id", 1)),
    index(SUBSCRIPTIONS, ("credential_id", 1)),
    index(SUBSCRIPTIONS, ("issuer_id", 1)),
    index(SUBSCRIPTIONS, ("owner", 1), ("created_at", 1)),
    index(DELIVERIES, ("status", 1), ("next_attempt_at", 1)),
    index(DELIVERIES, ("status", 1), ("lease_until", 1)),
    index(DELIVERIES, ("subscription_id", 1), ("created_at", 1)),
]


@storage_adapter
class MongoSubscriptions:
    """``SubscriptionRepository`` over the ``subscriptions`` collection."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[SUBSCRIPTIONS]

    async def add(self, subscription: Document) -> None:
        """Store a new subscription."""
        await self.collection.insert_one(dict(subscription))

    async def get(self, subscription_id: str) -> Document | None:
        """One subscription, or None."""
        return await self.collection.find_one({"_id": subscription_id})

    async def remove(self, subscription_id: str) -> bool:
        """Delete a subscription; False when there was none."""
        return (await self.collection.delete_one({"_id": subscription_id})).deleted_count == 1

    async def matching(
        self, *, credential_id: str, holder_id: str, issuer_id: str
    ) -> list[Document]:
        """Subscriptions to this credential, to its holder or to its issuer."""
        query = {
            "$or": [
                {"credential_id": credential_id},
                {"holder_id": holder_id},
                {"issuer_id": issuer_id},
            ]
        }
        return [subscription async for subscription in self.collection.find(query)]

    async def owned_by(self, owner: str, *, limit: int) -> list[Document]:
        """An owner's subscriptions (at most `limit`), oldest first."""
        found = self.collection.find({"owner": owner}).sort("created_at", 1).limit(limit)
        return [subscription async for subscription in found]

    async def replace_secret(
        self, subscription_id: str, *, secret: str, previous: str, previous_until: datetime
    ) -> bool:
        """Put a new secret in, keeping the previous one until `previous_until`."""
        changed = await self.collection.update_one(
            {"_id": subscription_id},
            {
                "$set": {
                    "secret": secret,
                    "previous_secret": previous,
                    "previous_until": previous_until,
                }
            },
        )
        return changed.matched_count == 1


@storage_adapter
class MongoOwnerQuotas:
    """``OwnerQuotas`` over ``owner_quotas``: ``_id`` = owner (places taken) or owner|minute
    (creations in that minute)."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[QUOTAS]

    async def reserve(self, owner: str, *, limit: int) -> bool:
        """Take one of the owner's places, by compare-and-increment."""
        return await self._increment(owner, limit)

    async def release(self, owner: str) -> None:
        """Give a place back."""
        await self.collection.update_one(
            {"_id": owner, "count": {"$gt": 0}}, {"$inc": {"count": -1}}
        )

    async def count_creation(self, owner: str, *, minute: str, limit: int) -> bool:
        """Count a creation in `minute`; False past `limit`."""
        return await self._increment(f"{owner}|{minute}", limit)

    async def _increment(self, counter: str, limit: int) -> bool:
        if await self._below_limit(counter, limit):
            return True
        try:
            await self.collection.insert_one({"_id": counter, "count": 1})
        except DuplicateKeyError:
            # There already: at the limit, or a racing first insert won just now (then the
            # conditional increment takes a place after all).
            return await self._below_limit(counter, limit)
        return True

    async def _below_limit(self, counter: str, limit: int) -> bool:
        moved = await self.collection.update_one(
            {"_id": counter, "count": {"$lt": limit}}, {"$inc": {"count": 1}}
        )
        return moved.matched_count == 1


@storage_adapter
class MongoDeliveries:
    """``DeliveryRepository`` over the ``deliveries`` collection."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[DELIVERIES]
        self.inserts = MongoIdempotentCollection(self.collection)

    async def add_once(self, delivery: Document) -> bool:
        """Insert a delivery; False when its (subscription, event) id exists already."""
        return await self.inserts.insert_once(delivery)

    async def claim_due(
        self, *, now: datetime, lease_until: datetime, lease_token: str
    ) -> Document | None:
        """Take one due delivery, or one whose worker's lease ran out (the worker died)."""
        claim = {
            "$set": {"status": IN_FLIGHT, "lease_until": lease_until, "lease_token": lease_token},
            "$inc": {"attempts": 1},
        }
        for due in (
            {"status": PENDING, "next_attempt_at": {"$lte": now}},
            {"status": IN_FLIGHT, "lease_until": {"$lte": now}},
        ):
            claimed = await self.collection.find_one_and_update(
                due, claim, sort=[("next_attempt_at", 1)], return_document=ReturnDocument.AFTER
            )
            if claimed is not None:
                return claimed
        return None

    async def settle(self, delivery_id: str, lease_token: str, settlement: Settlement) -> bool:
        """Record the outcome if this worker still holds the lease."""
        result = await self.collection.update_one(
            {"_id": delivery_id, "status": IN_FLIGHT, "lease_token": lease_token},
            {
                "$set": {
                    "status": settlement.status,
                    "last_error": settlement.last_error,
                    "next_attempt_at": settlement.next_attempt_at,
                },
                "$unset": {"lease_until": "", "lease_token": ""},
            },
        )
        return result.modified_count == 1

    async def of_subscription(self, subscription_id: str, *, limit: int) -> list[Document]:
        """A subscription's deliveries without their bodies, oldest first, at most `limit`."""
        cursor = self.collection.find({"subscription_id": subscription_id}, {"body": 0})
        return [delivery async for delivery in cursor.sort("created_at", 1).limit(limit)]
