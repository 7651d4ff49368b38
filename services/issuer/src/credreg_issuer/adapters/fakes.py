"""In-memory `IdempotencyRecords` for unit tests, with failure switches."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from credreg_issuer.ports import IdempotencyRecord


class InMemoryIdempotencyRecords:
    """First insert wins, like the unique ``_id`` index; set `fail_with` for a database outage."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], IdempotencyRecord] = {}
        # Set these to what the MongoDB adapter raises for an outage: `StorageUnavailable`.
        self.fail_with: Exception | None = None
        self.fail_marking_with: Exception | None = None

    async def reserve(self, record: IdempotencyRecord) -> IdempotencyRecord:
        """Store `record` unless its (institution, key) is taken; the stored record either way."""
        await asyncio.sleep(0)
        if self.fail_with is not None:
            raise self.fail_with
        return self.records.setdefault((record.institution_id, record.key), record)

    async def mark_published(self, institution_id: str, key: str) -> None:
        """Note that the record's event was acknowledged by the broker."""
        await asyncio.sleep(0)
        failure = self.fail_marking_with or self.fail_with
        if failure is not None:
            raise failure
        found = self.records.get((institution_id, key))
        if found is not None:
            self.records[(institution_id, key)] = replace(found, published=True)
