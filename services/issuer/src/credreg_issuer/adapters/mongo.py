"""The issuer's MongoDB adapters: Idempotency-Key records and institutions, and INDEXES.

The document ``_id`` is the (institution, key) pair, so the unique ``_id`` index makes the
first insert win and every later one a `DuplicateKeyError` (safe on FerretDB too, where only
inserts are isolated); the record is one document, written by one insert and one update.
PyMongo's outages leave as `StorageUnavailable` (`storage_adapter`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from credreg_issuer.institutions import ApiKey, Institution, InstitutionExists, SigningKey
from credreg_issuer.ports import IdempotencyRecord
from credreg_shared.events.cloudevents import KafkaRecord
from credreg_shared.storage import Document, index, storage_adapter

COLLECTION = "idempotency_keys"
INSTITUTIONS = "institutions"
API_KEYS = "api_keys"
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
