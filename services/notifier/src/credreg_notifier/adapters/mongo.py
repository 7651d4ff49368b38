"""Subscriptions and deliveries in the notifier's own MongoDB database."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import datetime, timedelta

from pymongo import ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from credreg_notifier.domain import (
    DEAD,
    DELIVERED,
    IN_FLIGHT,
    PENDING,
    Settlement,
    subscription_targets,
    utc_now,
)
from credreg_notifier.ports import Target
from credreg_shared.storage import (
    DeferredDeletes,
    Document,
    index,
    insert_new,
    storage_adapter,
)

SUBSCRIPTIONS = "subscriptions"
DELIVERIES = "deliveries"
TARGETS = "subscription_targets"
DUE = "deliveries_due"
QUOTAS = "owner_quotas"
MIGRATIONS = "migrations"
INDEXES = [
    index(SUBSCRIPTIONS, ("owner", 1), ("created_at", 1)),
    index(DELIVERIES, ("subscription_id", 1), ("created_at", 1)),
    index(DUE, ("due_at", 1)),
]
CLAIM_SCAN = 50
"""Due markers looked at by one `claim_due`: enough to get past deliveries in flight."""
ORPHAN_GRACE = timedelta(minutes=1)
"""A marker whose delivery is still missing this long after it was written is dropped."""


@storage_adapter
class MongoSubscriptions:
    """``SubscriptionRepository`` over ``subscriptions``, each also listed (id and owner) in
    the ``subscription_targets`` document of the holder, credential or issuer it names
    (``_id`` ``holder:<id>``…), so that matching an event is one read by ``_id``.

    The entry is written before the subscription and removed after it: a crash in between
    leaves an entry without a subscription, whose deliveries die at once ("subscription
    deleted"), never a subscription that hears nothing.
    """

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[SUBSCRIPTIONS]
        self.targets = db[TARGETS]
        self.migrations = db[MIGRATIONS]

    async def add(self, subscription: Document) -> None:
        """Store a new subscription, listed first under the target it names."""
        entry = {"id": subscription["_id"], "owner": subscription.get("owner")}
        for target in subscription_targets(subscription):
            await self.targets.update_one(
                {"_id": target}, {"$addToSet": {"subscribers": entry}}, upsert=True
            )
        await self.collection.insert_one(dict(subscription))

    async def get(self, subscription_id: str) -> Document | None:
        """One subscription, or None."""
        return await self.collection.find_one({"_id": subscription_id})

    async def remove(self, subscription_id: str) -> bool:
        """Delete a subscription, then its entry under its target; False when there was none."""
        found = await self.collection.find_one({"_id": subscription_id})
        if found is None:
            return False
        if (await self.collection.delete_one({"_id": subscription_id})).deleted_count != 1:
            return False
        entry = {"id": subscription_id, "owner": found.get("owner")}
        for target in subscription_targets(found):
            await self.targets.update_one({"_id": target}, {"$pull": {"subscribers": entry}})
        return True

    async def matching(
        self, *, credential_id: str, holder_id: str, issuer_id: str
    ) -> list[Document]:
        """Subscriptions to this credential, to its holder or to its issuer: one read by
        ``_id`` of their three target documents."""
        return (await self.matching_many([(credential_id, holder_id, issuer_id)]))[0]

    async def matching_many(self, targets: Sequence[Target]) -> list[list[Document]]:
        """`matching` for each target of a batch: one read by ``_id`` of every target document
        they name."""
        keys = [_target_keys(target) for target in targets]
        wanted = sorted({key for named in keys for key in named})
        subscribers: dict[str, list[Document]] = {}
        async for document in self.targets.find({"_id": {"$in": wanted}}):
            subscribers[document["_id"]] = list(document.get("subscribers", ()))
        matched = []
        for named in keys:
            found: dict[str, Document] = {}
            for key in named:
                for entry in subscribers.get(key, ()):
                    found.setdefault(entry["id"], {"_id": entry["id"], "owner": entry["owner"]})
            matched.append(list(found.values()))
        return matched

    async def index_existing(self) -> int:
        """List every subscription stored before the target documents existed under its
        target, once per database; the number listed."""
        done = {"_id": "subscription-targets"}
        if await self.migrations.find_one(done) is not None:
            return 0
        listed = 0
        async for subscription in self.collection.find({}):
            entry = {"id": subscription["_id"], "owner": subscription.get("owner")}
            for target in subscription_targets(subscription):
                await self.targets.update_one(
                    {"_id": target}, {"$addToSet": {"subscribers": entry}}, upsert=True
                )
            listed += 1
        with contextlib.suppress(DuplicateKeyError):
            await self.migrations.insert_one(done)
        return listed

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
    """``DeliveryRepository`` over ``deliveries``, with a due marker per unsettled delivery in
    ``deliveries_due`` (``_id`` = the delivery's, ``due_at``).

    On FerretDB over SQLite anything but a read by ``_id`` scans its whole collection, and
    ``deliveries`` keeps every notice ever planned; the markers hold only the deliveries not yet
    settled, so a look for due work scans a handful of small documents, and every claim is by
    ``_id``. A marker is written before its delivery and dropped after it is settled, so a
    crash between the two leaves a marker too many (tidied when next looked at), never a
    delivery without one.
    """

    def __init__(
        self,
        db: AsyncDatabase[Document],
        *,
        handoff_grace: timedelta = timedelta(0),
        gather_marker_deletes: int = 1,
    ) -> None:
        self.collection = db[DELIVERIES]
        self.markers = db[DUE]
        self.settled_markers = DeferredDeletes(self.markers, batch=gather_marker_deletes)
        """Markers of settled deliveries, dropped a batch at a time (one lingering is tidied
        by the next look that finds it: its delivery is settled)."""
        self.handoff_grace = handoff_grace
        """How long a new delivery's marker waits before any lane may claim it from there:
        the lanes of the process that planned it were handed it, and should not also find it
        while they send it."""

    async def add_once(self, delivery: Document) -> bool:
        """Insert a delivery; False when its (subscription, event) id exists already."""
        return delivery["_id"] in await self.add_many_once([delivery])

    async def add_many_once(self, deliveries: Sequence[Document]) -> set[str]:
        """Insert a batch's deliveries, their markers first: two commands for the batch; the
        ids inserted now (a redelivered event's existed already)."""
        since = utc_now()
        await insert_new(self.markers, [self._marker(d, since) for d in deliveries])
        existed = set(await insert_new(self.collection, deliveries))
        return {d["_id"] for n, d in enumerate(deliveries) if n not in existed}

    def _marker(self, delivery: Document, since: datetime) -> Document:
        # Born claimed: any lane may take it once the lease is over (its process died);
        # pending: once its planner's lanes had the time to take it from the hand-off.
        due_at = (
            delivery["lease_until"]
            if delivery["status"] == IN_FLIGHT
            else delivery["next_attempt_at"] + self.handoff_grace
        )
        return {"_id": delivery["_id"], "due_at": due_at, "since": since}

    async def claim(
        self, delivery_id: str, *, now: datetime, lease_until: datetime, lease_token: str
    ) -> Document | None:
        """Take this delivery if it is due (or its lease ran out); None otherwise."""
        for due in (_pending_due(now), _lease_over(now)):
            claimed = await self._claim({"_id": delivery_id, **due}, lease_until, lease_token)
            if claimed is not None:
                return claimed
        await self._tidy(delivery_id)
        return None

    async def claim_due(
        self, *, now: datetime, lease_until: datetime, lease_token: str
    ) -> Document | None:
        """Take one due delivery, or one whose worker's lease ran out (the worker died)."""
        found = self.markers.find({"due_at": {"$lte": now}}, {"_id": 1})
        due = [marker["_id"] async for marker in found.sort("due_at", 1).limit(CLAIM_SCAN)]
        for condition in (_pending_due(now), _lease_over(now)):
            for delivery_id in due:
                claimed = await self._claim(
                    {"_id": delivery_id, **condition}, lease_until, lease_token
                )
                if claimed is not None:
                    return claimed
        for delivery_id in due:
            await self._tidy(delivery_id)
        return None

    async def _claim(
        self, query: Document, lease_until: datetime, lease_token: str
    ) -> Document | None:
        return await self.collection.find_one_and_update(
            query,
            {
                "$set": {
                    "status": IN_FLIGHT,
                    "lease_until": lease_until,
                    "lease_token": lease_token,
                },
                "$inc": {"attempts": 1},
            },
            return_document=ReturnDocument.AFTER,
        )

    async def _tidy(self, delivery_id: str) -> None:
        """Bring a marker that could not be claimed in line with its delivery: gone once the
        delivery is settled (or was never written), else due when the delivery may next be
        claimed (its retry time, or the end of its lease)."""
        delivery = await self.collection.find_one(
            {"_id": delivery_id}, {"status": 1, "next_attempt_at": 1, "lease_until": 1}
        )
        if delivery is None:
            # Its writer may still be between the marker and the delivery: give it time.
            await self.markers.delete_one(
                {"_id": delivery_id, "since": {"$lte": utc_now() - ORPHAN_GRACE}}
            )
        elif delivery["status"] in (DELIVERED, DEAD):
            await self.markers.delete_one({"_id": delivery_id})
        else:
            key = "lease_until" if delivery["status"] == IN_FLIGHT else "next_attempt_at"
            await self.markers.update_one({"_id": delivery_id}, {"$set": {"due_at": delivery[key]}})

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
        if result.modified_count != 1:
            return False
        if settlement.status == PENDING:
            await self.markers.update_one(
                {"_id": delivery_id}, {"$set": {"due_at": settlement.next_attempt_at}}
            )
        else:
            await self.settled_markers.add(delivery_id)
        return True

    async def of_subscription(self, subscription_id: str, *, limit: int) -> list[Document]:
        """A subscription's deliveries without their bodies, oldest first, at most `limit`."""
        cursor = self.collection.find({"subscription_id": subscription_id}, {"body": 0})
        return [delivery async for delivery in cursor.sort("created_at", 1).limit(limit)]


def _target_keys(target: Target) -> list[str]:
    credential_id, holder_id, issuer_id = target
    return [f"credential:{credential_id}", f"holder:{holder_id}", f"issuer:{issuer_id}"]


def _pending_due(at: datetime) -> Document:
    return {"status": PENDING, "next_attempt_at": {"$lte": at}}


def _lease_over(at: datetime) -> Document:
    return {"status": IN_FLIGHT, "lease_until": {"$lte": at}}
