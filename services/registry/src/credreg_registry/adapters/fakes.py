"""The registry's view in memory, for unit tests: the same layout and updates as MongoDB's."""

from __future__ import annotations

import copy
import secrets
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from credreg_registry.layout import (
    BODIES,
    COUNTERS,
    CREDENTIALS,
    LINES,
    LIST_HEADS,
    LISTS,
    ViewChanges,
    ViewSnapshot,
)
from credreg_shared.storage.fakes import apply_update
from credreg_shared.storage.ports import APPLIED_EVENTS_FIELD, Document


class InMemoryView:
    """``ViewDocuments`` and ``ViewStore`` over dictionaries (collection → ``_id`` → document)."""

    def __init__(self) -> None:
        self.collections: dict[str, dict[str, Document]] = defaultdict(dict)

    async def find_one(
        self, collection: str, document_id: str, *, without: Sequence[str] = ()
    ) -> Document | None:
        """One document, or None; fields in `without` left out."""
        found = self.collections[collection].get(document_id)
        if found is None:
            return None
        return {k: copy.deepcopy(v) for k, v in found.items() if k not in without}

    async def find_many(
        self, collection: str, document_ids: Sequence[str], *, without: Sequence[str] = ()
    ) -> list[Document]:
        """The documents that exist among these ids."""
        found = [await self.find_one(collection, i, without=without) for i in document_ids]
        return [d for d in found if d is not None]

    async def find_all(self, collection: str) -> list[Document]:
        """Every document of the collection."""
        return copy.deepcopy(list(self.collections[collection].values()))

    async def snapshot(
        self,
        *,
        credential_ids: Sequence[str],
        lists: Sequence[str],
        counter_ids: Sequence[str],
    ) -> ViewSnapshot:
        """The credential documents, list heads and counted offsets a batch needs."""
        return ViewSnapshot(
            credentials={d["_id"]: d for d in await self.find_many(CREDENTIALS, credential_ids)},
            list_heads={d["_id"]: d["chunks"] for d in await self.find_many(LIST_HEADS, lists)},
            counted_offsets={
                d["_id"]: d["offset"] for d in await self.find_many(COUNTERS, counter_ids)
            },
        )

    async def save(self, changes: ViewChanges) -> None:
        """Write a folded batch as MongoDB would (compare-and-set counters, updates, upserts)."""
        self._save_counters(changes)
        for body in changes.bodies:
            self.collections[BODIES].setdefault(body["_id"], copy.deepcopy(body))
        credentials = self.collections[CREDENTIALS]
        for credential in changes.credentials:
            document_id = credential.document["_id"]
            if credential.original is None:
                credentials[document_id] = copy.deepcopy(credential.document)
                continue
            current = credentials[document_id]
            if not set(credential.new_events) & set(current.get(APPLIED_EVENTS_FIELD, [])):
                credentials[document_id] = apply_update(current, credential.update(), insert=False)
        for credential_id, shown in changes.lines.items():
            self.collections[LINES][credential_id] = copy.deepcopy(shown)
        chunks = self.collections[LISTS]
        for write in changes.chunk_writes():
            existing = chunks.get(write.document_id)
            chunks[write.document_id] = apply_update(
                existing or {"_id": write.document_id}, write.update(), insert=existing is None
            )
        heads = self.collections[LIST_HEADS]
        for list_id, count in changes.head_writes().items():
            head = heads.setdefault(list_id, {"_id": list_id, "chunks": 0})
            head["chunks"] = max(head["chunks"], count)

    def _save_counters(self, changes: ViewChanges) -> None:
        counters = self.collections[COUNTERS]
        for change in changes.counters:
            current = counters.get(change.counter_id)
            if change.expected is None and current is None:
                counters[change.counter_id] = {
                    "_id": change.counter_id,
                    "offset": change.offset,
                    **change.deltas,
                }
            elif current is not None and current["offset"] == change.expected:
                current["offset"] = change.offset
                for name, delta in change.deltas.items():
                    current[name] = current.get(name, 0) + delta


class InMemoryChallenges:
    """`Challenges` in memory."""

    def __init__(self) -> None:
        self.kept: dict[str, tuple[str, datetime]] = {}

    async def create(self, holder_id: str, *, expires_at: datetime) -> str:
        """A new unguessable challenge for `holder_id`."""
        challenge = secrets.token_urlsafe(32)
        self.kept[challenge] = (holder_id, expires_at)
        return challenge

    async def take(self, challenge: str) -> tuple[str, datetime] | None:
        """(holder id, expiry) of a challenge, removed so that it serves once."""
        return self.kept.pop(challenge, None)
