"""The issuer's MongoDB adapters: Idempotency-Key records and institutions, and INDEXES.

The document ``_id`` is the (institution, key) pair, so the unique ``_id`` index makes the
first insert win and every later one a `DuplicateKeyError` (safe on FerretDB too, where only
inserts are isolated); the record is one document, written by one insert and one update.
PyMongo's outages leave as `StorageUnavailable` (`storage_adapter`).
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from pydantic import TypeAdapter
from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from credreg_issuer.batches import Batch, BatchChunk, ItemResult, tally
from credreg_issuer.institutions import ApiKey, Institution, InstitutionExists, SigningKey
from credreg_issuer.ports import IdempotencyRecord
from credreg_issuer.status_lists import (
    LIST_LENGTH,
    StatusList,
    revoked_chunk_id,
    revoked_chunk_ids,
)
from credreg_shared.events.cloudevents import KafkaRecord
from credreg_shared.storage import Document, index, insert_new, storage_adapter

COLLECTION = "idempotency_keys"
PUBLISHED = "idempotency_published"
INSTITUTIONS = "institutions"
API_KEYS = "api_keys"
STATUS_LISTS = "status_lists"
STATUS_REVOKED = "status_list_revoked"
STATUS_CLAIMS = "status_claims"
STATUS_ENTRIES = "status_entries"
BATCHES = "batches"
BATCH_CHUNKS = "batch_chunks"
BATCH_RESULTS = "batch_results"
# The (institution, key) pair is the unique `_id`; the credential id is derived from it.
INDEXES = [index(COLLECTION, "credential_id", unique=True)]


def record_id(institution_id: str, key: str) -> str:
    """One id per (institution, key): keys are scoped to the institution that sent them."""
    return json.dumps([institution_id, key])


@storage_adapter
class MongoIdempotencyRecords:
    """`IdempotencyRecords` over ``idempotency_keys`` (the records) and ``idempotency_published``
    (one small marker per record whose event the broker acknowledged: inserting those is several
    times cheaper than rewriting the records, which carry the whole event)."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection: AsyncCollection[Document] = db[COLLECTION]
        self.published: AsyncCollection[Document] = db[PUBLISHED]

    async def reserve(self, record: IdempotencyRecord) -> IdempotencyRecord:
        """Store `record` unless its (institution, key) is taken; the stored record either way."""
        document = as_document(record)
        try:
            await self.collection.insert_one(document)
        except DuplicateKeyError:
            found = await self.get(record.institution_id, record.key)
            if found is None:
                raise RuntimeError(f"idempotency record {document['_id']} vanished") from None
            return found
        return record

    async def release_publication(self, institution_id: str, key: str) -> None:
        """Give the lease up (the publish failed): the next request may publish at once."""
        await self.collection.update_one(
            {"_id": record_id(institution_id, key), "published": False},
            {"$set": {"publishing_until": None}},
        )

    async def get(self, institution_id: str, key: str) -> IdempotencyRecord | None:
        """The record stored under (institution, key)."""
        return (await self.get_many(institution_id, [key])).get(key)

    async def get_many(
        self, institution_id: str, keys: Sequence[str]
    ) -> dict[str, IdempotencyRecord]:
        """The records stored under these keys (one ``$in`` on ``_id``, and one on the markers
        when some are found: new keys, the usual case, cost one read)."""
        if not keys:
            return {}
        ids = [record_id(institution_id, key) for key in keys]
        found = await self.collection.find({"_id": {"$in": ids}}).to_list(None)
        published = await self._published_ids([d["_id"] for d in found])
        return {d["key"]: as_record(d, published=d["_id"] in published) for d in found}

    async def reserve_many(
        self, records: Sequence[IdempotencyRecord], *, lease_until: datetime | None = None
    ) -> tuple[dict[str, IdempotencyRecord], set[str]]:
        """One unordered insert (the new records leased to the caller until `lease_until`); the
        stored record of every key, and the keys this call stored."""
        if not records:
            return {}, set()
        documents = [as_document(r) for r in records]
        if lease_until is not None:
            for document in documents:
                document["publishing_until"] = lease_until
        taken = await insert_new(self.collection, documents)
        stored = {r.key: r for r in records}
        if taken:
            keys = [records[n].key for n in taken]
            stored.update(await self.get_many(records[0].institution_id, keys))
        return stored, {r.key for n, r in enumerate(records) if n not in set(taken)}

    async def claim_publications(
        self, institution_id: str, keys: Sequence[str], *, until: datetime, now: datetime
    ) -> set[str]:
        """One update of every free lease to a fresh owner, then a read of which it got."""
        if not keys:
            return set()
        owner = uuid.uuid4().hex
        ids = [record_id(institution_id, key) for key in keys]
        await self.collection.update_many(
            {"_id": {"$in": ids}, **_lease_free(now)},
            {"$set": {"publishing_until": until, "lease_owner": owner}},
        )
        held = self.collection.find({"_id": {"$in": ids}, "lease_owner": owner}, {"key": 1})
        got = {d["_id"]: d["key"] async for d in held}
        published = await self._published_ids(list(got))
        return {key for document_id, key in got.items() if document_id not in published}

    async def mark_many_published(self, institution_id: str, keys: Sequence[str]) -> None:
        """One unordered insert of the markers (a marker there already is the same)."""
        await insert_new(
            self.published,
            [{"_id": record_id(institution_id, key), "at": datetime.now(UTC)} for key in keys],
        )

    async def _published_ids(self, ids: Sequence[str]) -> set[str]:
        if not ids:
            return set()
        found = self.published.find({"_id": {"$in": list(ids)}}, {"_id": 1})
        return {d["_id"] async for d in found}


def _lease_free(now: datetime) -> Document:
    return {
        "published": False,
        "$or": [{"publishing_until": None}, {"publishing_until": {"$lt": now}}],
    }


def as_document(record: IdempotencyRecord) -> Document:
    """The record as stored (the event's bytes as BSON binary, unchanged)."""
    return {
        "_id": record_id(record.institution_id, record.key),
        "institution_id": record.institution_id,
        "key": record.key,
        "request_digest": record.request_digest,
        "credential_id": record.event.key.decode(),
        "event": {
            "key": record.event.key,
            "value": record.event.value,
            # Documents, not pairs: FerretDB 1.x stores no nested arrays.
            "headers": [{"name": name, "value": value} for name, value in record.event.headers],
        },
        "published": record.published,
        "created_at": datetime.now(UTC),
    }


def as_record(document: Document, *, published: bool = False) -> IdempotencyRecord:
    """A stored document back as a record (published: its marker exists)."""
    event = document["event"]
    return IdempotencyRecord(
        institution_id=document["institution_id"],
        key=document["key"],
        request_digest=document["request_digest"],
        event=KafkaRecord(
            key=bytes(event["key"]),
            value=bytes(event["value"]),
            headers=[(str(h["name"]), bytes(h["value"])) for h in event["headers"]],
        ),
        # Records marked before the markers existed carry the flag themselves.
        published=published or bool(document["published"]),
    )


@storage_adapter
class MongoInstitutions:
    """`InstitutionStore` over ``institutions`` (``_id`` = DID) and ``api_keys`` (``_id`` =
    the key's SHA-256, so that authenticating a request is one lookup by ``_id``)."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.institutions: AsyncCollection[Document] = db[INSTITUTIONS]
        self.keys: AsyncCollection[Document] = db[API_KEYS]

    async def create(self, institution: Institution) -> None:
        """Store a new institution; `InstitutionExists` if its id is taken."""
        try:
            await self.institutions.insert_one(institution.to_document())
        except DuplicateKeyError:
            raise InstitutionExists(f"institution {institution.id} exists already") from None

    async def get(self, institution_id: str) -> Institution | None:
        """One institution by its DID."""
        found = await self.institutions.find_one({"_id": institution_id})
        return Institution.from_document(found) if found else None

    async def all(self) -> list[Institution]:
        """Every institution, by id (a handful: an admin listing, never a hot path)."""
        cursor = self.institutions.find({}).sort("_id", 1)
        return [Institution.from_document(d) async for d in cursor]

    async def add_key(self, institution_id: str, key: SigningKey, *, replacing: str) -> bool:
        """Add `key` and make it active if `replacing` is still the active key; False if not."""
        result = await self.institutions.update_one(
            {"_id": institution_id, "active_key": replacing},
            {"$push": {"keys": key.model_dump(mode="python")}, "$set": {"active_key": key.id}},
        )
        return result.modified_count == 1

    async def replace_keys(
        self, institution_id: str, keys: list[SigningKey], *, active_key: str
    ) -> bool:
        """Store re-sealed `keys` if `active_key` is still the active one; False if not."""
        result = await self.institutions.update_one(
            {"_id": institution_id, "active_key": active_key},
            {"$set": {"keys": [k.model_dump(mode="python") for k in keys]}},
        )
        return result.matched_count == 1

    async def add_api_key(self, key: ApiKey) -> None:
        """Store a new API key (by its digest)."""
        await self.keys.insert_one({"_id": key.digest, **key.model_dump(exclude={"digest"})})

    async def api_key(self, digest: str) -> ApiKey | None:
        """The API key with this digest."""
        found = await self.keys.find_one({"_id": digest})
        return ApiKey.model_validate({**found, "digest": found["_id"]}) if found else None

    async def api_keys(self, institution_id: str) -> list[ApiKey]:
        """An institution's API keys, revoked ones included."""
        cursor = self.keys.find({"institution": institution_id}).sort("created_at", 1)
        return [ApiKey.model_validate({**d, "digest": d["_id"]}) async for d in cursor]

    async def revoke_api_key(self, institution_id: str, key_id: str, at: datetime) -> bool:
        """Mark one of the institution's API keys revoked; False if it has no such key."""
        found = await self.keys.find_one({"institution": institution_id, "id": key_id})
        if found is None:
            return False
        await self.keys.update_one(
            {"_id": found["_id"], "revoked_at": None}, {"$set": {"revoked_at": at}}
        )
        return True


@storage_adapter
class MongoStatusLists:
    """`StatusListStore` over ``status_lists`` (``_id`` = list id), ``status_claims`` (``_id`` =
    ``<list>/<index>``: the unique ``_id`` makes the first claim win across replicas) and
    ``status_entries`` (``_id`` = credential id)."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.lists: AsyncCollection[Document] = db[STATUS_LISTS]
        self.revoked: AsyncCollection[Document] = db[STATUS_REVOKED]
        self.claims: AsyncCollection[Document] = db[STATUS_CLAIMS]
        self.entries: AsyncCollection[Document] = db[STATUS_ENTRIES]
        self.institutions: AsyncCollection[Document] = db[INSTITUTIONS]

    async def ensure_list(self, status_list: StatusList) -> None:
        """Create the list unless it exists."""
        try:
            await self.lists.insert_one(status_list.to_document())
        except DuplicateKeyError:
            pass  # another replica created it first: the same list

    async def get_list(self, list_id: str) -> StatusList | None:
        """One list, with the revoked indices of all its chunks (one ``$in``)."""
        found = await self.lists.find_one({"_id": list_id})
        if found is None:
            return None
        ids = revoked_chunk_ids(list_id, int(found.get("length", LIST_LENGTH)))
        chunks = [chunk async for chunk in self.revoked.find({"_id": {"$in": ids}})]
        return StatusList.model_validate(
            {
                **found,
                "id": found["_id"],
                # Lists written before the chunks kept their set in the list document.
                "revoked": sorted({*found.get("revoked", ()), *_revoked_in(chunks)}),
                "version": int(found.get("version", 0)) + sum(int(c["version"]) for c in chunks),
                "updated_at": max([found["updated_at"], *(c["updated_at"] for c in chunks)]),
            }
        )

    async def entry_of(self, credential_id: str) -> tuple[str, int] | None:
        """A credential's (list, index)."""
        found = await self.entries.find_one({"_id": credential_id})
        return (str(found["list"]), int(found["index"])) if found else None

    async def count_allocated(self, list_id: str, n: int = 1) -> int:
        """Count `n` more allocated indices of the list; the new count."""
        found = await self.lists.find_one_and_update(
            {"_id": list_id}, {"$inc": {"allocated": n}}, return_document=ReturnDocument.AFTER
        )
        return int(found["allocated"]) if found else 0

    async def entries_of(self, credential_ids: Sequence[str]) -> dict[str, tuple[str, int]]:
        """The (list, index) of each credential that has one (one ``$in``)."""
        if not credential_ids:
            return {}
        found = self.entries.find({"_id": {"$in": list(credential_ids)}})
        return {d["_id"]: (str(d["list"]), int(d["index"])) async for d in found}

    async def held(self, list_id: str, indices: Sequence[int]) -> set[int]:
        """One ``$in`` on ``_id``."""
        ids = [_claim_id(list_id, index) for index in indices]
        found = self.claims.find({"_id": {"$in": ids}}, {"_id": 1})
        return {_claimed_index(d) async for d in found}

    async def claim_many(self, list_id: str, claims: Mapping[int, str]) -> set[int]:
        """One unordered insert of the claims; an index taken before is held only if by the
        same credential (a retry)."""
        wanted = list(claims.items())
        taken = await insert_new(
            self.claims,
            [{"_id": _claim_id(list_id, index), "credential_id": c} for index, c in wanted],
        )
        held = {index for n, (index, _) in enumerate(wanted) if n not in set(taken)}
        if taken:
            ids = [_claim_id(list_id, wanted[n][0]) for n in taken]
            async for found in self.claims.find({"_id": {"$in": ids}}):
                index = _claimed_index(found)
                if found["credential_id"] == claims[index]:
                    held.add(index)
        return held

    async def record_entries(
        self, entries: Mapping[str, tuple[str, int]]
    ) -> dict[str, tuple[str, int]]:
        """One unordered insert; credentials that had an entry keep theirs."""
        wanted = list(entries.items())
        taken = await insert_new(
            self.entries,
            [{"_id": c, "list": list_id, "index": index} for c, (list_id, index) in wanted],
        )
        recorded = dict(entries)
        if taken:
            recorded.update(await self.entries_of([wanted[n][0] for n in taken]))
        return recorded

    async def revoke(self, list_id: str, index: int, at: datetime) -> None:
        """Add the index to its chunk's revoked set (idempotent) in one atomic write."""
        # One update of one small document: concurrent revocations all land (MongoDB makes it
        # atomic; the local FerretDB serialises updates with the launcher's lock). An index
        # there already matches nothing, and the upsert then meets the existing `_id`.
        with contextlib.suppress(DuplicateKeyError):
            await self.revoked.update_one(
                {"_id": revoked_chunk_id(list_id, index), "revoked": {"$ne": index}},
                {
                    "$addToSet": {"revoked": index},
                    "$inc": {"version": 1},
                    "$max": {"updated_at": at},
                    "$setOnInsert": {"list": list_id},
                },
                upsert=True,
            )

    async def move_to_list(self, institution_id: str, current: str | None, following: str) -> bool:
        """Point the institution at its next list if it still points at `current`."""
        result = await self.institutions.update_one(
            {"_id": institution_id, "status_list": current}, {"$set": {"status_list": following}}
        )
        return result.modified_count == 1


def _claim_id(list_id: str, index: int) -> str:
    """The ``status_claims`` id of an index of a list."""
    return f"{list_id}/{index}"


def _claimed_index(claim: Document) -> int:
    """The index a ``status_claims`` document claims."""
    return int(claim["_id"].rsplit("/", 1)[1])


def _revoked_in(chunks: list[Document]) -> list[int]:
    return [int(index) for chunk in chunks for index in chunk.get("revoked", ())]


RESULTS = TypeAdapter(list[ItemResult])


def _chunk_id(batch_id: str, number: int) -> str:
    return f"{batch_id}:{number}"


@storage_adapter
class MongoBatches:
    """`BatchStore` over ``batches`` (``_id`` = batch id), ``batch_chunks`` and
    ``batch_results`` (``_id`` = ``<batch>:<chunk>``): every read is by ``_id``."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.batches: AsyncCollection[Document] = db[BATCHES]
        self.chunk_documents: AsyncCollection[Document] = db[BATCH_CHUNKS]
        self.result_documents: AsyncCollection[Document] = db[BATCH_RESULTS]

    async def create(self, batch: Batch, chunks: Sequence[BatchChunk]) -> Batch:
        """The chunks first, then the batch: a batch found is a batch whole."""
        # As JSON text: FerretDB reads and writes one string several times faster than the
        # same items as an array of documents.
        await insert_new(
            self.chunk_documents,
            [{"_id": _chunk_id(c.batch_id, c.number), "json": c.model_dump_json()} for c in chunks],
        )
        document = {
            "_id": batch.id,
            **batch.model_dump(mode="python"),
            "done": False,
            "lease_owner": None,
            "lease_until": None,
        }
        try:
            await self.batches.insert_one(document)
        except DuplicateKeyError:
            found = await self.get(batch.id)
            if found is None:
                raise RuntimeError(f"batch {batch.id} vanished") from None
            return found
        return batch

    async def get(self, batch_id: str) -> Batch | None:
        """One batch."""
        found = await self.batches.find_one({"_id": batch_id})
        return Batch.model_validate(found) if found else None

    async def chunks(self, batch_id: str, numbers: Sequence[int]) -> dict[int, BatchChunk]:
        """These chunks of a batch, by number."""
        if not numbers:
            return {}
        ids = [_chunk_id(batch_id, n) for n in numbers]
        found = self.chunk_documents.find({"_id": {"$in": ids}})
        chunks = [BatchChunk.model_validate_json(d["json"]) async for d in found]
        return {chunk.number: chunk for chunk in chunks}

    async def results(self, batch_id: str, numbers: Sequence[int]) -> dict[int, list[ItemResult]]:
        """The results of those of these chunks that are issued, by number."""
        if not numbers:
            return {}
        ids = [_chunk_id(batch_id, n) for n in numbers]
        found = self.result_documents.find({"_id": {"$in": ids}})
        return {
            int(d["_id"].rsplit(":", 1)[1]): RESULTS.validate_json(d["json"]) async for d in found
        }

    async def save_results(self, batch_id: str, number: int, results: list[ItemResult]) -> None:
        """Insert the results (the first stored stay), then set the tally of what is stored."""
        document_id = _chunk_id(batch_id, number)
        stored = results
        try:
            await self.result_documents.insert_one(
                {"_id": document_id, "json": RESULTS.dump_json(results).decode()}
            )
        except DuplicateKeyError:
            stored = (await self.results(batch_id, [number]))[number]
        await self.batches.update_one(
            {"_id": batch_id}, {"$set": {f"tallies.{number}": tally(stored).model_dump()}}
        )

    async def claim(self, batch_id: str, *, owner: str, until: datetime, now: datetime) -> bool:
        """One compare-and-set of the batch's lease."""
        result = await self.batches.update_one(
            {
                "_id": batch_id,
                "done": False,
                "$or": [
                    {"lease_until": None},
                    {"lease_until": {"$lt": now}},
                    {"lease_owner": owner},
                ],
            },
            {"$set": {"lease_owner": owner, "lease_until": until}},
        )
        return result.matched_count == 1

    async def finish(self, batch_id: str, at: datetime) -> None:
        """Mark the batch done."""
        await self.batches.update_one(
            {"_id": batch_id, "done": False}, {"$set": {"done": True, "finished_at": at}}
        )

    async def unfinished(self) -> list[str]:
        """The ids of the batches not done yet, oldest first (few: batches, not items)."""
        cursor = self.batches.find({"done": False}, {"_id": 1}).sort("created_at", 1)
        return [d["_id"] async for d in cursor]
