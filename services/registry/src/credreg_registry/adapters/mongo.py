"""The registry's view in its MongoDB database: every read by ``_id``, every write in bulk."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from pymongo import InsertOne, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from credreg_registry.layout import (
    COUNTERS,
    CREDENTIALS,
    PORTFOLIOS,
    POSTINGS,
    Tail,
    ViewChanges,
    ViewSnapshot,
    bucket_id,
)
from credreg_shared.storage import Document, IndexSpec, storage_adapter
from credreg_shared.storage.ports import APPLIED_EVENTS_FIELD

log = logging.getLogger(__name__)

INDEXES: list[IndexSpec] = []
"""None: every read is by ``_id`` (see ``layout``)."""

DUPLICATE_KEY = 11000


class ViewConflict(Exception):
    """Another writer created a credential document this batch meant to create; fold again."""


def _without(fields: Sequence[str]) -> dict[str, int] | None:
    return {name: 0 for name in fields} or None


@storage_adapter
class MongoViewDocuments:
    """``ViewDocuments`` over the registry's database."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db

    async def find_one(
        self, collection: str, document_id: str, *, without: Sequence[str] = ()
    ) -> Document | None:
        """One document, or None; fields in `without` left out."""
        return await self.db[collection].find_one({"_id": document_id}, _without(without))

    async def find_many(
        self, collection: str, document_ids: Sequence[str], *, without: Sequence[str] = ()
    ) -> list[Document]:
        """The documents that exist among these ids, in no particular order."""
        if not document_ids:
            return []
        cursor = self.db[collection].find({"_id": {"$in": list(document_ids)}}, _without(without))
        return await cursor.to_list(None)

    async def find_all(self, collection: str) -> list[Document]:
        """Every document of a small collection (the counters)."""
        return await self.db[collection].find({}).to_list(None)


@storage_adapter
class MongoViewStore:
    """``ViewStore``: reads a batch's documents with ``$in`` on ``_id``, writes unordered bulks."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db
        self.documents = MongoViewDocuments(db)

    async def snapshot(
        self,
        *,
        credential_ids: Sequence[str],
        holders: Sequence[str],
        competency_keys: Sequence[str],
        counter_ids: Sequence[str],
    ) -> ViewSnapshot:
        """The credential documents, bucket tails and counted offsets a batch needs."""
        credentials, portfolio_tails, posting_tails, counters = await asyncio.gather(
            self.documents.find_many(CREDENTIALS, credential_ids),
            self._tails(PORTFOLIOS, holders),
            self._tails(POSTINGS, competency_keys),
            self.documents.find_many(COUNTERS, counter_ids),
        )
        return ViewSnapshot(
            credentials={d["_id"]: d for d in credentials},
            portfolio_tails=portfolio_tails,
            posting_tails=posting_tails,
            counted_offsets={d["_id"]: d["offset"] for d in counters},
        )

    async def _tails(self, collection: str, keys: Sequence[str]) -> dict[str, Tail]:
        """Each key's last bucket and its count (absent keys have no bucket yet)."""
        if not keys:
            return {}
        heads = await self._counts(collection, [bucket_id(0, key) for key in keys], keys)
        later = {key: head["last"] for key, head in heads.items() if head.get("last", 0) > 0}
        lasts = await self._counts(
            collection, [bucket_id(last, key) for key, last in later.items()], list(later)
        )
        tails = {}
        for key, head in heads.items():
            last = head.get("last", 0)
            counted = lasts.get(key, {}) if last > 0 else head
            tails[key] = Tail(last=last, count=counted.get("count", 0))
        return tails

    async def _counts(
        self, collection: str, ids: list[str], keys: Sequence[str]
    ) -> dict[str, Document]:
        if not ids:
            return {}
        key_of = dict(zip(ids, keys, strict=True))
        cursor = self.db[collection].find({"_id": {"$in": ids}}, {"last": 1, "count": 1})
        return {key_of[d["_id"]]: d async for d in cursor}

    async def save(self, changes: ViewChanges) -> None:
        """Write a folded batch: counters, then credentials, then portfolio and postings."""
        await self._save_counters(changes)
        await self._save_credentials(changes)
        by_collection: dict[str, list[UpdateOne]] = defaultdict(list)
        for collection, document_id, update in changes.bucket_updates():
            by_collection[collection].append(UpdateOne({"_id": document_id}, update, upsert=True))
        await asyncio.gather(
            *(
                self.db[collection].bulk_write(operations, ordered=False)
                for collection, operations in by_collection.items()
            )
        )

    async def _save_counters(self, changes: ViewChanges) -> None:
        operations: list[InsertOne[Document] | UpdateOne] = []
        for change in changes.counters:
            if change.expected is None:
                operations.append(
                    InsertOne({"_id": change.counter_id, "offset": change.offset, **change.deltas})
                )
            else:
                update: dict[str, Any] = {"$set": {"offset": change.offset}}
                if change.deltas:
                    update["$inc"] = dict(change.deltas)
                operations.append(
                    UpdateOne({"_id": change.counter_id, "offset": change.expected}, update)
                )
        if not operations:
            return
        try:
            result = await self.db[COUNTERS].bulk_write(operations, ordered=False)
        except BulkWriteError as error:
            _only_duplicates(error)
            log.warning("another consumer counted some of these partitions first")
            return
        if result.matched_count + result.inserted_count < len(operations):
            log.warning("another consumer counted some of these partitions first")

    async def _save_credentials(self, changes: ViewChanges) -> None:
        new = [c.document for c in changes.credentials if c.original is None]
        updates = [
            UpdateOne(
                {"_id": c.document["_id"], APPLIED_EVENTS_FIELD: {"$nin": list(c.new_events)}},
                c.update(),
            )
            for c in changes.credentials
            if c.original is not None
        ]
        if new:
            try:
                await self.db[CREDENTIALS].insert_many(new, ordered=False)
            except BulkWriteError as error:
                _only_duplicates(error)
                raise ViewConflict("a credential document appeared meanwhile") from error
        if updates:
            await self.db[CREDENTIALS].bulk_write(updates, ordered=False)


def _only_duplicates(error: BulkWriteError) -> None:
    """Re-raise a bulk error unless every failure in it is a duplicate ``_id``."""
    failures = error.details.get("writeErrors", [])
    if not failures or any(f.get("code") != DUPLICATE_KEY for f in failures):
        raise error
