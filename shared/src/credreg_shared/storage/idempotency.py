"""Exactly-once effects from at-least-once delivery, with single-document atomic writes only.

Kafka redelivers a record whenever a consumer dies between its write and its offset commit,
and FerretDB has no multi-document transactions. So an effect and the proof that it happened
must live in the **same document** and change in **one** atomic update:

* ``apply_once(document_id, event_id, update)`` runs ``update`` on the document only if the
  event id is not yet in the document's ``applied_events`` array, and adds it in the same
  update (filter ``{"_id": id, "applied_events": {"$ne": event_id}}`` plus
  ``$addToSet``). A redelivered event matches nothing: ``ALREADY_APPLIED``. There is no window
  in which the effect exists without its marker, or the marker without its effect.
* ``insert_once(document)`` is the same idea for effects that create one document per event:
  the document's ``_id`` is derived from the event (its id, or a UUIDv5 of it), so the unique
  ``_id`` index turns a second insert into ``False``.

A handler therefore never needs "insert a marker, then apply": that order loses the effect if
the process dies between the two writes, and the reverse order applies it twice.

``ProcessedEvents`` (one marker document per event id) is for work whose effects are not a
single document (calling a webhook, publishing a derived event). Record the marker **after**
the work, and make the work itself idempotent (deterministic ids, dedupe keys at the receiver);
the marker then only lets a redelivery skip work already finished. It is not, on its own, a
guarantee of exactly-once.

Limits: the ``applied_events`` array grows by one id per event applied to that document, so
use ``apply_once`` on documents that receive a bounded number of events (one credential's
lifecycle); for documents that absorb unbounded streams, write one document per event with
``insert_once`` instead. ``$push`` with ``$slice`` would bound the array on MongoDB, but
FerretDB 1.24 ignores ``$slice``.

Isolation: MongoDB applies one update to one document atomically. FerretDB 1.24 (SQLite) does
not: concurrent updates of one document lose writes (40 concurrent ``$inc`` leave 5 to 20), and
two conditional updates can both match. Inserts are safe there (the unique ``_id`` holds). So
``MongoIdempotentCollection`` also serialises its own updates per document id inside the
process; across processes, Kafka's one-consumer-per-partition ownership (key = credential id)
keeps one writer per document, except briefly during a rebalance. On FerretDB, effects that
many processes write to one document at once need ``insert_once`` documents instead.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from credreg_shared.storage.errors import storage_adapter
from credreg_shared.storage.ports import (
    APPLIED_EVENTS_FIELD,
    Document,
    EffectOutcome,
    EventId,
    update_with_marker,
)

# An upsert that loses a race to create the document is retried once, as a plain update.
_ATTEMPTS = 2


class _PerDocumentLocks:
    """One asyncio lock per document key, dropped when no task holds or awaits it."""

    def __init__(self) -> None:
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._users: dict[tuple[str, str], int] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: tuple[str, str]) -> AsyncIterator[None]:
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with lock:
                yield
        finally:
            self._users[key] -= 1
            if not self._users[key]:
                del self._users[key]
                del self._locks[key]


# Shared by every adapter in the process, so two adapters on one collection also take turns.
_document_locks = _PerDocumentLocks()


@storage_adapter
class MongoIdempotentCollection:
    """``IdempotentCollection`` over a PyMongo async collection."""

    def __init__(
        self, collection: AsyncCollection[Document], *, applied_field: str = APPLIED_EVENTS_FIELD
    ) -> None:
        self.collection = collection
        self.applied_field = applied_field

    async def get(self, document_id: str) -> Document | None:
        """The document with this ``_id``, or None."""
        return await self.collection.find_one({"_id": document_id})

    async def apply_once(
        self,
        document_id: str,
        event_id: EventId,
        update: Mapping[str, Any],
        *,
        upsert: bool = True,
    ) -> EffectOutcome:
        """Apply ``update`` and record ``event_id`` in one atomic single-document update."""
        event = str(event_id)
        marked = update_with_marker(update, event, self.applied_field)
        async with _document_locks.hold((self.collection.full_name, document_id)):
            return await self._apply_once(document_id, event, marked, upsert=upsert)

    async def _apply_once(
        self, document_id: str, event: str, marked: Document, *, upsert: bool
    ) -> EffectOutcome:
        not_yet_applied = {"_id": document_id, self.applied_field: {"$ne": event}}
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                result = await self.collection.update_one(not_yet_applied, marked, upsert=upsert)
            except DuplicateKeyError:
                # The filter missed an existing document and the upsert then collided with it:
                # either the event is in it, or a concurrent event created it first.
                if await self._has_applied(document_id, event):
                    return EffectOutcome.ALREADY_APPLIED
                if attempt == _ATTEMPTS:
                    raise
                continue
            if result.matched_count or result.upserted_id is not None:
                return EffectOutcome.APPLIED
            existing = await self.get(document_id)
            if existing is None:
                return EffectOutcome.NO_DOCUMENT
            if event in existing.get(self.applied_field, ()):
                return EffectOutcome.ALREADY_APPLIED
        raise RuntimeError(f"could not apply {event} to {document_id}: document kept changing")

    async def insert_once(self, document: Mapping[str, Any]) -> bool:
        """Insert the document; False when one with the same ``_id`` exists already."""
        if "_id" not in document:
            raise ValueError("insert_once needs an _id derived from the event")
        try:
            await self.collection.insert_one(dict(document))
        except DuplicateKeyError:
            return False
        return True

    async def _has_applied(self, document_id: str, event_id: str) -> bool:
        found = await self.collection.find_one(
            {"_id": document_id, self.applied_field: event_id}, projection={"_id": 1}
        )
        return found is not None
