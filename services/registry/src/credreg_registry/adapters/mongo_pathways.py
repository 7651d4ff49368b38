"""Stackable pathways in the registry's base database (see ``credreg_registry.pathways``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from pymongo import UpdateOne
from pymongo.errors import DuplicateKeyError

from credreg_registry.adapters.mongo import MongoReadsById
from credreg_registry.pathway_layout import (
    BACKFILL_QUEUE,
    COMPLETIONS,
    COMPONENTS,
    HOLDER_PATHWAYS,
    OUTBOX,
    PATHWAY_INDEX,
    PATHWAYS,
    QUEUE_ID,
    index_key,
)
from credreg_shared.storage import Document, storage_adapter


@storage_adapter
class MongoPathwayStore(MongoReadsById):
    """``PathwayStore``: every read by ``_id``; the claim is a single insert (unique ``_id``)."""

    async def put_definition(self, document: Document, *, dropped: Sequence[str]) -> None:
        """Keep a definition, list it under its achievements, unlist it from `dropped`."""
        pathway_id = document["_id"]
        await self.db[PATHWAYS].replace_one({"_id": pathway_id}, document, upsert=True)
        keys = [index_key(document["issuer_id"], a) for a in document["achievement_ids"]]
        await self.list_pathway(pathway_id, add=keys, remove=dropped)

    async def list_pathway(
        self, pathway_id: str, *, add: Sequence[str], remove: Sequence[str]
    ) -> None:
        """List a pathway under `add`, unlist it from `remove` (one unordered bulk)."""
        # A plain value: FerretDB ignores `$pull` with `$in`.
        writes = [
            UpdateOne({"_id": k}, {"$addToSet": {"pathways": pathway_id}}, upsert=True) for k in add
        ] + [UpdateOne({"_id": k}, {"$pull": {"pathways": pathway_id}}) for k in remove]
        if writes:
            await self.db[PATHWAY_INDEX].bulk_write(writes, ordered=False)

    async def delete_definition(self, pathway_id: str, *, event_id: str, at: datetime) -> bool:
        """Mark the definition `event_id` deleted; False when it is not the one kept."""
        found = await self.db[PATHWAYS].update_one(
            {"_id": pathway_id, "event_id": event_id, "deleted_at": None},
            {"$set": {"deleted_at": at}},
        )
        return found.matched_count == 1

    async def save_backfill(
        self, pathway_id: str, *, event_id: str, rev: int, backfill: Document
    ) -> bool:
        """Replace the back-fill if nobody wrote it since `rev` (one conditional update)."""
        found = await self.db[PATHWAYS].update_one(
            {"_id": pathway_id, "event_id": event_id, "backfill.rev": rev, "deleted_at": None},
            {"$set": {"backfill": dict(backfill)}},
        )
        return found.matched_count == 1

    async def queue_backfill(self, entry: str) -> None:
        """Queue a back-fill (kept once)."""
        await self.db[BACKFILL_QUEUE].update_one(
            {"_id": QUEUE_ID}, {"$addToSet": {"entries": entry}}, upsert=True
        )

    async def dequeue_backfill(self, entry: str) -> None:
        """Drop a back-fill from the queue."""
        await self.db[BACKFILL_QUEUE].update_one({"_id": QUEUE_ID}, {"$pull": {"entries": entry}})

    async def add_components(self, members: Mapping[str, Sequence[str]]) -> None:
        """Add credential ids to components (created if absent)."""
        if not members:
            return
        await self.db[COMPONENTS].bulk_write(
            [
                UpdateOne({"_id": key}, {"$addToSet": {"ids": {"$each": list(ids)}}}, upsert=True)
                for key, ids in sorted(members.items())
            ],
            ordered=False,
        )

    async def add_holder_pathways(self, started: Mapping[str, Sequence[str]]) -> None:
        """Note that holders started these pathways (one unordered bulk)."""
        if not started:
            return
        await self.db[HOLDER_PATHWAYS].bulk_write(
            [
                UpdateOne(
                    {"_id": holder_id},
                    {"$addToSet": {"pathways": {"$each": list(pathway_ids)}}},
                    upsert=True,
                )
                for holder_id, pathway_ids in sorted(started.items())
            ],
            ordered=False,
        )

    async def mark_pending(self, key: str, *, at: datetime) -> None:
        """The outbox marker of a completion about to be claimed (kept if there is one)."""
        try:
            await self.db[OUTBOX].insert_one({"_id": key, "at": at})
        except DuplicateKeyError:
            pass  # a marker waits already: the relay looks at the claim either way

    async def claim(self, key: str, document: Document) -> bool:
        """Insert the completion; False when it was claimed before (by anyone)."""
        try:
            await self.db[COMPLETIONS].insert_one(document)
        except DuplicateKeyError:
            return False
        return True

    async def published(self, key: str) -> None:
        """The completion's event is on the log: flag it and drop its marker."""
        await self.db[COMPLETIONS].update_one({"_id": key}, {"$set": {"published": True}})
        await self.db[OUTBOX].delete_one({"_id": key})

    async def pending(self, *, before: datetime) -> list[str]:
        """The keys of the markers written before `before` (a handful: only the completions
        whose event the broker has not confirmed yet)."""
        found = self.db[OUTBOX].find({"at": {"$lt": before}})
        return [str(d["_id"]) async for d in found]

    async def drop_marker(self, key: str) -> None:
        """Drop a marker whose claim was never made."""
        await self.db[OUTBOX].delete_one({"_id": key})
