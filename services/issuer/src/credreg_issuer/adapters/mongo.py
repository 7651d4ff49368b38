"""The issuer's MongoDB adapters: Idempotency-Key records and institutions, and INDEXES.

The document ``_id`` is the (institution, key) pair, so the unique ``_id`` index makes the
first insert win and every later one a `DuplicateKeyError` (safe on FerretDB too, where only
inserts are isolated); the record is one document, written by one insert and one update.
PyMongo's outages leave as `StorageUnavailable` (`storage_adapter`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from pymongo import ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from credreg_issuer.institutions import ApiKey, Institution, InstitutionExists, SigningKey
from credreg_issuer.ports import IdempotencyRecord
from credreg_issuer.status_lists import StatusList
from credreg_shared.events.cloudevents import KafkaRecord
from credreg_shared.storage import Document, index, storage_adapter

COLLECTION = "idempotency_keys"
INSTITUTIONS = "institutions"
API_KEYS = "api_keys"
STATUS_LISTS = "status_lists"
STATUS_CLAIMS = "status_claims"
STATUS_ENTRIES = "status_entries"
# The (institution, key) pair is the unique `_id`; the credential id is derived from it.
INDEXES = [index(COLLECTION, "credential_id", unique=True)]


def record_id(institution_id: str, key: str) -> str:
    """One id per (institution, key): keys are scoped to the institution that sent them."""
    return json.dumps([institution_id, key])


@storage_adapter
class MongoIdempotencyRecords:
    """`IdempotencyRecords` over the ``idempotency_keys`` collection."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection: AsyncCollection[Document] = db[COLLECTION]

    async def reserve(self, record: IdempotencyRecord) -> IdempotencyRecord:
        """Store `record` unless its (institution, key) is taken; the stored record either way."""
        document = as_document(record)
        try:
            await self.collection.insert_one(document)
        except DuplicateKeyError:
            found = await self.collection.find_one({"_id": document["_id"]})
            if found is None:
                raise RuntimeError(f"idempotency record {document['_id']} vanished") from None
            return as_record(found)
        return record

    async def mark_published(self, institution_id: str, key: str) -> None:
        """Note that the record's event was acknowledged by the broker."""
        await self.collection.update_one(
            {"_id": record_id(institution_id, key)},
            {"$set": {"published": True, "published_at": datetime.now(UTC)}},
        )

    async def claim_publication(
        self, institution_id: str, key: str, *, until: datetime, now: datetime
    ) -> bool:
        """Lease the publication unless another request holds an unexpired lease (one atomic
        update of the record: of concurrent requests, one wins)."""
        result = await self.collection.update_one(
            _lease_filter(institution_id, key, now), {"$set": {"publishing_until": until}}
        )
        return result.modified_count == 1

    async def release_publication(self, institution_id: str, key: str) -> None:
        """Give the lease up (the publish failed): the next request may publish at once."""
        await self.collection.update_one(
            {"_id": record_id(institution_id, key), "published": False},
            {"$set": {"publishing_until": None}},
        )

    async def get(self, institution_id: str, key: str) -> IdempotencyRecord | None:
        """The record stored under (institution, key)."""
        found = await self.collection.find_one({"_id": record_id(institution_id, key)})
        return as_record(found) if found else None


def _lease_filter(institution_id: str, key: str, now: datetime) -> Document:
    return {
        "_id": record_id(institution_id, key),
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


def as_record(document: Document) -> IdempotencyRecord:
    """A stored document back as a record."""
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
        published=bool(document["published"]),
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
        """One list."""
        found = await self.lists.find_one({"_id": list_id})
        return StatusList.model_validate({**found, "id": found["_id"]}) if found else None

    async def claim(self, list_id: str, index: int, credential_id: str) -> bool:
        """Claim an index for a credential; False if another credential holds it."""
        claim_id = f"{list_id}/{index}"
        try:
            await self.claims.insert_one({"_id": claim_id, "credential_id": credential_id})
        except DuplicateKeyError:
            found = await self.claims.find_one({"_id": claim_id})
            return found is not None and found["credential_id"] == credential_id
        return True

    async def record_entry(self, credential_id: str, list_id: str, index: int) -> tuple[str, int]:
        """Remember a credential's (list, index) unless it has one; the one it has either way."""
        try:
            await self.entries.insert_one({"_id": credential_id, "list": list_id, "index": index})
        except DuplicateKeyError:
            found = await self.entry_of(credential_id)
            if found is None:
                raise RuntimeError(f"status entry of {credential_id} vanished") from None
            return found
        return list_id, index

    async def entry_of(self, credential_id: str) -> tuple[str, int] | None:
        """A credential's (list, index)."""
        found = await self.entries.find_one({"_id": credential_id})
        return (str(found["list"]), int(found["index"])) if found else None

    async def count_allocated(self, list_id: str) -> int:
        """Count one more allocated index of the list; the new count."""
        found = await self.lists.find_one_and_update(
            {"_id": list_id}, {"$inc": {"allocated": 1}}, return_document=ReturnDocument.AFTER
        )
        return int(found["allocated"]) if found else 0

    async def revoke(self, list_id: str, index: int, at: datetime) -> None:
        """Add the index to the list's revoked set (idempotent) in one atomic write."""
        # One update of one document: concurrent revocations of one list all land (MongoDB
        # makes it atomic; the local FerretDB serialises updates with the launcher's lock).
        await self.lists.update_one(
            {"_id": list_id, "revoked": {"$ne": index}},
            {"$addToSet": {"revoked": index}, "$inc": {"version": 1}, "$set": {"updated_at": at}},
        )

    async def move_to_list(self, institution_id: str, current: str | None, following: str) -> bool:
        """Point the institution at its next list if it still points at `current`."""
        result = await self.institutions.update_one(
            {"_id": institution_id, "status_list": current}, {"$set": {"status_list": following}}
        )
        return result.modified_count == 1
