"""The expiry schedule and the institutions' expiry policies in the service's own database.

Buckets are counters (``expiry_buckets``, one per ten seconds that has notices) and their
entries live in insert-only *slots* (``expiry_slots``, ``<bucket>#<n>``), so that reading a
bucket is two lookups by ``_id`` and no document grows. ``expiry_days`` lists, per day, the
buckets that have entries: catching up on a month of downtime reads 31 of them, not 267,840
buckets. The clock (``expiry_clock``) is one
document: the last bucket closed, the last announced, and the lease of the replica that runs
the scheduler, changed only by compare-and-set.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from credreg_revocation.expiry import (
    BUCKET,
    ClockState,
    bucket_of,
    day_of,
    days_between,
    next_bucket,
)
from credreg_shared.events.models import Renewal
from credreg_shared.storage import Document, storage_adapter

CLOCK = "expiry_clock"
BUCKETS = "expiry_buckets"
SLOTS = "expiry_slots"
DAYS = "expiry_days"
POLICIES = "expiry_policies"
RENEWALS = "renewals"
CLOCK_ID = "clock"
SLOTS_PER_READ = 1000
LISTED_KEPT = 10_000


@storage_adapter
class MongoExpirySchedule:
    """`ExpirySchedule` over ``expiry_clock``, ``expiry_buckets`` and ``expiry_slots``."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.clock: AsyncCollection[Document] = db[CLOCK]
        self.buckets: AsyncCollection[Document] = db[BUCKETS]
        self.slots: AsyncCollection[Document] = db[SLOTS]
        self.days: AsyncCollection[Document] = db[DAYS]
        # Buckets this process listed in their day's index (bounded): a bucket stays listed
        # until it is finished, and a writer to a finished bucket is sent past it anyway.
        self._listed: OrderedDict[str, None] = OrderedDict()

    async def opened(self, now: datetime) -> str:
        """The first bucket not closed yet (a new clock starts just before `now`)."""
        closed = await self.closed()
        if closed is None:
            start = bucket_of(now - BUCKET)
            try:
                await self.clock.update_one(
                    {"_id": CLOCK_ID},
                    {"$setOnInsert": {"closed": start, "done": start}},
                    upsert=True,
                )
            except DuplicateKeyError:
                pass  # another writer created it first
            closed = await self.closed() or start
        return next_bucket(closed)

    async def add(self, bucket: str, entries: Sequence[str]) -> None:
        """Add entries to a bucket (in a new slot: never a growing document)."""
        # The day's index first: a bucket it does not list is never read.
        if bucket not in self._listed:
            await self.days.update_one(
                {"_id": day_of(bucket)}, {"$addToSet": {"buckets": bucket}}, upsert=True
            )
            self._listed[bucket] = None
            if len(self._listed) > LISTED_KEPT:
                self._listed.popitem(last=False)
        counter = await self.buckets.find_one_and_update(
            {"_id": bucket},
            {"$inc": {"slots": 1}},
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        slot = int(counter["slots"]) - 1 if counter else 0  # (an upsert returns the document)
        await self.slots.insert_one({"_id": f"{bucket}#{slot}", "entries": list(entries)})

    async def closed(self) -> str | None:
        """The last bucket closed, None before the clock exists."""
        found = await self.clock.find_one({"_id": CLOCK_ID}, {"closed": 1})
        return str(found["closed"]) if found else None

    async def entries(self, bucket: str) -> list[str]:
        """Every entry of a bucket, each once, in the order added."""
        counter = await self.buckets.find_one({"_id": bucket})
        count = int(counter["slots"]) if counter else 0
        found: dict[str, None] = {}
        for first in range(0, count, SLOTS_PER_READ):
            ids = [f"{bucket}#{n}" for n in range(first, min(first + SLOTS_PER_READ, count))]
            # A slot counted but never written (its writer died between the two) is skipped;
            # the writer's event is redelivered and adds its entries again.
            slots = {d["_id"]: d["entries"] async for d in self.slots.find({"_id": {"$in": ids}})}
            for slot_id in ids:
                found.update(dict.fromkeys(slots.get(slot_id, ())))
        return list(found)

    async def buckets_between(self, after: str, through: str) -> list[str]:
        """The buckets after `after` up to `through` that hold entries, in order."""
        days = days_between(after, through)
        found: set[str] = set()
        for first in range(0, len(days), SLOTS_PER_READ):
            wanted = {"_id": {"$in": days[first : first + SLOTS_PER_READ]}}
            async for day in self.days.find(wanted):
                found.update(b for b in day["buckets"] if after < b <= through)
        return sorted(found)

    async def acquire(self, holder: str, *, now: datetime, until: datetime) -> ClockState | None:
        """Hold the scheduler's lease until `until` (free, expired or ours); None otherwise."""
        if await self.closed() is None:
            await self.opened(now)
        found = await self.clock.find_one_and_update(
            {
                "_id": CLOCK_ID,
                "$or": [{"holder": holder}, {"holder": None}, {"lease_until": {"$lte": now}}],
            },
            {"$set": {"holder": holder, "lease_until": until}},
            return_document=ReturnDocument.AFTER,
        )
        return _state(found) if found else None

    async def close(self, holder: str, bucket: str, *, after: str, until: datetime) -> bool:
        """Close `bucket` (the one after `after`) and extend the lease."""
        moved = await self.clock.update_one(
            {"_id": CLOCK_ID, "holder": holder, "closed": after},
            {"$set": {"closed": bucket, "lease_until": until}},
        )
        return moved.matched_count == 1

    async def finish(self, holder: str, bucket: str, *, until: datetime) -> bool:
        """Every notice of `bucket` is announced; its slots can go."""
        moved = await self.clock.update_one(
            {"_id": CLOCK_ID, "holder": holder},
            {"$set": {"done": bucket, "lease_until": until}},
        )
        if moved.matched_count != 1:
            return False
        # (FerretDB 1.x answers a findAndModify that removes without the document: read first.)
        counter = await self.buckets.find_one({"_id": bucket})
        if counter is not None:
            # (A writer that adds to the bucket after this finds it closed and adds again to
            # a later bucket; what it left here is never read.)
            slots = [f"{bucket}#{n}" for n in range(int(counter["slots"]))]
            for first in range(0, len(slots), SLOTS_PER_READ):
                wanted = {"_id": {"$in": slots[first : first + SLOTS_PER_READ]}}
                await self.slots.delete_many(wanted)
            await self.buckets.delete_one({"_id": bucket})
            await self.days.update_one({"_id": day_of(bucket)}, {"$pull": {"buckets": bucket}})
        return True

    async def release(self, holder: str) -> None:
        """Give the lease up."""
        await self.clock.update_one(
            {"_id": CLOCK_ID, "holder": holder}, {"$set": {"holder": None, "lease_until": None}}
        )


def _state(document: Document) -> ClockState:
    return ClockState(
        closed=str(document["closed"]),
        done=str(document["done"]),
        holder=document.get("holder"),
        lease_until=document.get("lease_until"),
    )


def _renewal_id(institution: str, achievement_id: str) -> str:
    return json.dumps([institution, achievement_id])


@storage_adapter
class MongoExpiryPolicies:
    """`ExpiryPolicies` over ``expiry_policies`` (by institution) and ``renewals``."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.policies: AsyncCollection[Document] = db[POLICIES]
        self.renewals: AsyncCollection[Document] = db[RENEWALS]

    async def lead_days(self, institution: str) -> tuple[int, ...] | None:
        """The institution's lead times, None when it never set them."""
        found = await self.policies.find_one({"_id": institution})
        return tuple(int(days) for days in found["lead_days"]) if found else None

    async def set_lead_days(self, institution: str, lead_days: tuple[int, ...]) -> None:
        """Replace the institution's lead times."""
        await self.policies.update_one(
            {"_id": institution}, {"$set": {"lead_days": list(lead_days)}}, upsert=True
        )

    async def renewal(self, institution: str, achievement_id: str) -> Renewal | None:
        """How to renew one of the institution's achievements, if it said."""
        found = await self.renewals.find_one({"_id": _renewal_id(institution, achievement_id)})
        return Renewal(url=found["url"], text=found["text"]) if found else None

    async def set_renewal(
        self, institution: str, achievement_id: str, renewal: Renewal | None
    ) -> None:
        """Attach renewal instructions to an achievement (None removes them)."""
        key = {"_id": _renewal_id(institution, achievement_id)}
        if renewal is None:
            await self.renewals.delete_one(key)
            return
        fields: dict[str, Any] = {"url": renewal.url, "text": renewal.text}
        await self.renewals.update_one(key, {"$set": fields}, upsert=True)
