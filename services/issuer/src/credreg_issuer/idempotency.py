"""Idempotency-Key records: a retried request answers what the first one did, publishing once.

A record is written only after the broker acknowledged the event. A crash between the two
leaves no record; the retry then publishes again with the same credential id and event id,
which every consumer deduplicates.
"""

from __future__ import annotations

from typing import Any, Protocol

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from credreg_shared.storage.client import Document

COLLECTION = "idempotency_keys"


class IdempotencyRecords(Protocol):
    """Where answered idempotency keys are kept."""

    async def find(self, institution: str, key: str) -> Document | None:
        """The record of an answered key, or None."""
        ...

    async def remember(self, institution: str, key: str, record: dict[str, Any]) -> None:
        """Store the answer of a key (a concurrent duplicate is fine: same answer)."""
        ...


class MongoIdempotencyRecords:
    """Idempotency records in the issuer's own database."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self.collection = db[COLLECTION]

    async def find(self, institution: str, key: str) -> Document | None:
        """The record of an answered key, or None."""
        return await self.collection.find_one({"_id": record_id(institution, key)})

    async def remember(self, institution: str, key: str, record: dict[str, Any]) -> None:
        """Store the answer of a key (a concurrent duplicate is fine: same answer)."""
        try:
            await self.collection.insert_one({"_id": record_id(institution, key), **record})
        except DuplicateKeyError:
            return


class InMemoryIdempotencyRecords:
    """The fake for unit tests."""

    def __init__(self) -> None:
        self.records: dict[str, Document] = {}

    async def find(self, institution: str, key: str) -> Document | None:
        """The record of an answered key, or None."""
        return self.records.get(record_id(institution, key))

    async def remember(self, institution: str, key: str, record: dict[str, Any]) -> None:
        """Store the answer of a key."""
        self.records.setdefault(record_id(institution, key), dict(record))


def record_id(institution: str, key: str) -> str:
    """Keys are scoped per institution."""
    return f"{institution}\n{key}"
