"""The registry's view in its MongoDB database: every read by ``_id``, every write in bulk."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
from pymongo import InsertOne, ReturnDocument, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from credreg_registry.holder_layout import (
    POSTING_CHUNK,
    SEARCH_CONSENTS,
    SEARCH_HEADS,
    SEARCH_POSTINGS,
    posting_chunk_id,
)
from credreg_registry.layout import (
    BODIES,
    COUNTERS,
    CREDENTIALS,
    LINES,
    LIST_HEADS,
    LISTS,
    VIEW_GENERATION,
    ChunkWrite,
    Generation,
    ViewChanges,
    ViewSnapshot,
    chunk_counts,
)
from credreg_shared.storage import Document, IndexSpec, storage_adapter
from credreg_shared.storage.ports import APPLIED_EVENTS_FIELD

log = logging.getLogger(__name__)

INDEXES: list[IndexSpec] = []
"""None: every read is by ``_id`` (see ``layout``)."""

DUPLICATE_KEY = 11000


class ViewConflict(Exception):
    """Another writer created a credential document this batch meant to create; fold again."""


STORED_AS_TEXT = ("achievement",)
"""Fields of a credential document stored as JSON text. FerretDB inserts and reads a nested
document much slower than a string (150,000 states: 12,000 against 18,000-19,600 inserts/s,
20 read by ``$in`` at p50 3.3-3.8 against 2.1-2.2 ms); the achievement never changes after its
``issued`` event, and no query looks inside it. Documents written before are read as they are."""


_JSON = msgspec.json.Encoder()
"""Writes `STORED_AS_TEXT` fields (a tenth of ``json.dumps``'s time; the text is parsed back)."""


def stored_credential(document: Mapping[str, Any]) -> Document:
    """A credential document (or a ``$set`` of its fields) as stored: `STORED_AS_TEXT` as text."""
    return {
        name: _JSON.encode(value).decode()
        if name in STORED_AS_TEXT and isinstance(value, dict)
        else value
        for name, value in document.items()
    }


def loaded_credential(document: Document) -> Document:
    """A stored credential document as the view's code reads it (`STORED_AS_TEXT` parsed)."""
    for name in STORED_AS_TEXT:
        if isinstance(document.get(name), str):
            document[name] = json.loads(document[name])
    return document


def _loaded(collection: str, documents: list[Document]) -> list[Document]:
    return [loaded_credential(d) for d in documents] if collection == CREDENTIALS else documents


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
        found = await self.db[collection].find_one({"_id": document_id}, _without(without))
        return None if found is None else _loaded(collection, [found])[0]

    async def find_many(
        self, collection: str, document_ids: Sequence[str], *, without: Sequence[str] = ()
    ) -> list[Document]:
        """The documents that exist among these ids, in no particular order."""
        if not document_ids:
            return []
        cursor = self.db[collection].find({"_id": {"$in": list(document_ids)}}, _without(without))
        return _loaded(collection, await cursor.to_list(None))

    async def find_all(self, collection: str) -> list[Document]:
        """Every document of a small collection (the counters)."""
        return _loaded(collection, await self.db[collection].find({}).to_list(None))


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
        lists: Sequence[str],
        counter_ids: Sequence[str],
        count_lists: Sequence[str] = (),
    ) -> ViewSnapshot:
        """The credential documents, list heads and counted offsets a batch needs, and the
        chunk counts of `count_lists`, all read at once."""
        heads = asyncio.ensure_future(self._heads(lists))
        credentials, counters, list_chunks = await asyncio.gather(
            self.documents.find_many(CREDENTIALS, credential_ids),
            self.documents.find_many(COUNTERS, counter_ids),
            chunk_counts(self._existing_chunks, count_lists, heads),
        )
        return ViewSnapshot(
            credentials={d["_id"]: d for d in credentials},
            list_heads=await heads,
            counted_offsets={d["_id"]: d["offset"] for d in counters},
            list_chunks=list_chunks,
        )

    async def _heads(self, lists: Sequence[str]) -> dict[str, int]:
        return {d["_id"]: d["chunks"] for d in await self.documents.find_many(LIST_HEADS, lists)}

    async def _existing_chunks(self, ids: Sequence[str]) -> set[str]:
        found = await self.documents.find_many(LISTS, ids, without=("ids",))
        return {d["_id"] for d in found}

    async def save(self, changes: ViewChanges) -> None:
        """Write a folded batch: counters, then credentials, then list chunks, then heads."""
        await self._save_counters(changes)
        await self._save_bodies(changes)
        await self._save_credentials(changes)
        await asyncio.gather(self._save_lines(changes), self._save_chunks(changes.chunk_writes()))
        # A head only after its chunks: it never counts a chunk that is not there.
        heads = changes.head_writes()
        if heads:
            await self.db[LIST_HEADS].bulk_write(
                [
                    UpdateOne({"_id": list_id}, {"$max": {"chunks": n}}, upsert=True)
                    for list_id, n in heads.items()
                ],
                ordered=False,
            )

    async def _save_lines(self, changes: ViewChanges) -> None:
        """Insert the lines of new credentials; replace the others (and any that exist)."""
        new = [changes.lines[i] for i in changes.new_lines]
        replaced = [i for i in changes.lines if i not in changes.new_lines]
        if new:
            try:
                await self.db[LINES].insert_many(new, ordered=False)
            except BulkWriteError as error:
                _only_duplicates(error)
                replaced += [new[f["index"]]["_id"] for f in error.details["writeErrors"]]
        if replaced:
            await self.db[LINES].bulk_write(
                [
                    UpdateOne({"_id": i}, {"$set": _without_id(changes.lines[i])}, upsert=True)
                    for i in replaced
                ],
                ordered=False,
            )

    async def _save_chunks(self, writes: Sequence[ChunkWrite]) -> None:
        """Insert the chunks the batch opened; add to those that exist (mended, or taken)."""
        new = [w for w in writes if w.new]
        existing = [w for w in writes if not w.new]
        if new:
            try:
                await self.db[LISTS].insert_many([w.document() for w in new], ordered=False)
            except BulkWriteError as error:
                _only_duplicates(error)
                # Another writer, or this one before a restart, opened these chunks first.
                taken = {failure["index"] for failure in error.details["writeErrors"]}
                existing += [w for n, w in enumerate(new) if n in taken]
        if existing:
            await self.db[LISTS].bulk_write(
                [UpdateOne({"_id": w.document_id}, w.update(), upsert=True) for w in existing],
                ordered=False,
            )

    async def _save_bodies(self, changes: ViewChanges) -> None:
        """Insert the credentials as issued; one there already (a redelivery) is the same."""
        await asyncio.gather(*(self._insert_bodies(part) for part in _halves(changes.bodies)))

    async def _insert_bodies(self, bodies: list[Document]) -> None:
        try:
            await self.db[BODIES].insert_many(bodies, ordered=False)
        except BulkWriteError as error:
            _only_duplicates(error)

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
        new = [stored_credential(c.document) for c in changes.credentials if c.original is None]
        updates = [
            UpdateOne(
                {"_id": c.document["_id"], APPLIED_EVENTS_FIELD: {"$nin": list(c.new_events)}},
                _stored_update(c.update()),
            )
            for c in changes.credentials
            if c.original is not None
        ]
        await asyncio.gather(
            *(self._insert_new(part) for part in _halves(new)),
            *([self.db[CREDENTIALS].bulk_write(updates, ordered=False)] if updates else []),
        )

    async def _insert_new(self, documents: list[Document]) -> None:
        try:
            await self.db[CREDENTIALS].insert_many(documents, ordered=False)
        except BulkWriteError as error:
            _only_duplicates(error)
            raise ViewConflict("a credential document appeared meanwhile") from error


def _stored_update(update: Document) -> Document:
    """A credential update with the fields it sets as stored."""
    if "$set" in update:
        return {**update, "$set": stored_credential(update["$set"])}
    return update


def _without_id(document: Document) -> Document:
    return {name: value for name, value in document.items() if name != "_id"}


def _halves(documents: list[Document]) -> list[list[Document]]:
    """A batch of inserts in two, sent at once: FerretDB encodes each on its own connection
    while SQLite writes the other (about 10 % more documents per second on two cores)."""
    half = (len(documents) + 1) // 2
    return [part for part in (documents[:half], documents[half:]) if part]


def _only_duplicates(error: BulkWriteError) -> None:
    """Re-raise a bulk error unless every failure in it is a duplicate ``_id``."""
    failures = error.details.get("writeErrors", [])
    if not failures or any(f.get("code") != DUPLICATE_KEY for f in failures):
        raise error


@storage_adapter
class SwitchableViewDocuments:
    """``ViewDocuments`` over the database of the generation that serves; switched in place."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.current = MongoViewDocuments(db)

    def switch_to(self, db: AsyncDatabase[Document]) -> None:
        """Read from `db` from now on."""
        self.current = MongoViewDocuments(db)

    async def find_one(
        self, collection: str, document_id: str, *, without: Sequence[str] = ()
    ) -> Document | None:
        """One document, or None; fields in `without` left out."""
        return await self.current.find_one(collection, document_id, without=without)

    async def find_many(
        self, collection: str, document_ids: Sequence[str], *, without: Sequence[str] = ()
    ) -> list[Document]:
        """The documents that exist among these ids, in no particular order."""
        return await self.current.find_many(collection, document_ids, without=without)

    async def find_all(self, collection: str) -> list[Document]:
        """Every document of a small collection (the counters)."""
        return await self.current.find_all(collection)


ACTIVE = "active"


@storage_adapter
class MongoGenerationPointer:
    """``GenerationPointer``: one document in the base database."""

    def __init__(self, base: AsyncDatabase[Document]) -> None:
        self.pointers = base[VIEW_GENERATION]

    async def active(self, base_group: str) -> Generation:
        """The generation that serves now (generation 0 is written by `base_group`)."""
        found = await self.pointers.find_one({"_id": ACTIVE})
        if found is None:
            return Generation(0, base_group)
        return Generation(int(found["generation"]), str(found["group"]))

    async def switch(self, expected: int, generation: Generation) -> bool:
        """Move from generation `expected` on; False when another rebuild moved it first."""
        fields = {"generation": generation.number, "group": generation.group}
        if expected == 0:
            try:
                await self.pointers.insert_one({"_id": ACTIVE, **fields})
                return True
            except DuplicateKeyError:
                pass
        moved = await self.pointers.update_one(
            {"_id": ACTIVE, "generation": expected}, {"$set": fields}
        )
        return moved.modified_count == 1


CHALLENGES = "holder_challenges"


@storage_adapter
class MongoChallenges:
    """`Challenges` in the service's base database (not a view generation: a rebuild keeps them)."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection: AsyncCollection[Document] = db[CHALLENGES]

    async def create(self, holder_id: str, *, expires_at: datetime) -> str:
        """A new unguessable challenge for `holder_id`."""
        challenge = secrets.token_urlsafe(32)
        await self.collection.insert_one(
            {"_id": challenge, "holder_id": holder_id, "expires_at": expires_at}
        )
        return challenge

    async def take(self, challenge: str) -> tuple[str, datetime] | None:
        """(holder id, expiry) of a challenge, deleted so that it serves once."""
        found = await self.collection.find_one({"_id": challenge})
        if found is None:
            return None
        # Of two concurrent takers, only the one whose delete removed it may use it.
        deleted = await self.collection.delete_one({"_id": challenge})
        if deleted.deleted_count != 1:
            return None
        expires_at: datetime = found["expires_at"]
        if expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=UTC)
        return str(found["holder_id"]), expires_at


@storage_adapter
class MongoReadsById:
    """Reads by ``_id`` in any collection of one database: the stores built on them (holders'
    data, pathways) read nothing else."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.db = db

    async def find_one(self, collection: str, document_id: str) -> Document | None:
        """One document, or None."""
        return await self.db[collection].find_one({"_id": document_id})

    async def find_many(self, collection: str, document_ids: Sequence[str]) -> list[Document]:
        """The documents that exist among these ids, in no particular order."""
        if not document_ids:
            return []
        cursor = self.db[collection].find({"_id": {"$in": list(dict.fromkeys(document_ids))}})
        return await cursor.to_list(None)


@storage_adapter
class MongoHolderStore(MongoReadsById):
    """`HolderStore` in the service's base database (see ``holder_layout``)."""

    async def set_consent(
        self, credential_id: str, fields: Mapping[str, Any], *, claim_posting: bool
    ) -> Document | None:
        """Set a consent's fields (created if absent), claiming its posting in the same write;
        answers the document as it was before (None: new)."""
        update = {**fields, "posted": True} if claim_posting else dict(fields)
        before: Document | None = await self.db[SEARCH_CONSENTS].find_one_and_update(
            {"_id": credential_id},
            {"$set": update},
            upsert=True,
            return_document=ReturnDocument.BEFORE,
        )
        return before

    async def unclaim_posting(self, credential_id: str) -> None:
        """Forget that a consent's postings were claimed."""
        await self.db[SEARCH_CONSENTS].update_one(
            {"_id": credential_id}, {"$unset": {"posted": ""}}
        )

    async def append_posting(self, key: str, credential_id: str) -> None:
        """A slot from the list's head (``$inc``), then the id added to that slot's chunk."""
        head = await self.db[SEARCH_HEADS].find_one_and_update(
            {"_id": key}, {"$inc": {"n": 1}}, upsert=True, return_document=ReturnDocument.AFTER
        )
        assert head is not None  # noqa: S101 - an upsert answers the document after it
        chunk = (int(head["n"]) - 1) // POSTING_CHUNK
        await self.db[SEARCH_POSTINGS].update_one(
            {"_id": posting_chunk_id(chunk, key)},
            {"$addToSet": {"ids": credential_id}},
            upsert=True,
        )

    async def insert(self, collection: str, document: Document) -> None:
        """Insert a new document."""
        await self.db[collection].insert_one(dict(document))

    async def add_to_list(self, collection: str, document_id: str, field: str, value: str) -> None:
        """Add `value` to the array `field` of a document (created if absent)."""
        await self.db[collection].update_one(
            {"_id": document_id}, {"$addToSet": {field: value}}, upsert=True
        )

    async def remove_from_list(
        self, collection: str, document_id: str, field: str, values: Sequence[str]
    ) -> None:
        """Remove `values` from the array `field` of a document."""
        await self.db[collection].update_one(
            {"_id": document_id}, {"$pullAll": {field: list(values)}}
        )

    async def set_fields(
        self, collection: str, document_id: str, fields: Mapping[str, Any]
    ) -> bool:
        """Set fields of an existing document; False when there is none."""
        result = await self.db[collection].update_one({"_id": document_id}, {"$set": dict(fields)})
        return result.matched_count == 1
