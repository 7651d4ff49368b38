"""The issuer's MongoDB adapters: Idempotency-Key records in its own database, and INDEXES.

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

from credreg_issuer.ports import IdempotencyRecord
from credreg_shared.events.cloudevents import KafkaRecord
from credreg_shared.storage import Document, index, storage_adapter

COLLECTION = "idempotency_keys"
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
