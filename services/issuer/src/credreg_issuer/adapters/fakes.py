"""In-memory `IdempotencyRecords` (with failure switches) and institutions, for unit tests."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime

from credreg_issuer.institutions import ApiKey, Institution, InstitutionExists, SigningKey
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


class InMemoryInstitutions:
    """`InstitutionStore` in memory: ids and digests unique, rotation by compare-and-set."""

    def __init__(self) -> None:
        self.institutions: dict[str, Institution] = {}
        self.keys: dict[str, ApiKey] = {}

    async def create(self, institution: Institution) -> None:
        """Store a new institution; `InstitutionExists` if its id is taken."""
        await asyncio.sleep(0)
        if institution.id in self.institutions:
            raise InstitutionExists(f"institution {institution.id} exists already")
        self.institutions[institution.id] = institution

    async def get(self, institution_id: str) -> Institution | None:
        """One institution by its DID."""
        await asyncio.sleep(0)
        return self.institutions.get(institution_id)

    async def all(self) -> list[Institution]:
        """Every institution, by id."""
        await asyncio.sleep(0)
        return [self.institutions[i] for i in sorted(self.institutions)]

    async def add_key(self, institution_id: str, key: SigningKey, *, replacing: str) -> bool:
        """Add `key` and make it active if `replacing` is still the active key; False if not."""
        await asyncio.sleep(0)
        found = self.institutions.get(institution_id)
        if found is None or found.active_key != replacing:
            return False
        self.institutions[institution_id] = found.model_copy(
            update={"keys": [*found.keys, key], "active_key": key.id}
        )
        return True

    async def add_api_key(self, key: ApiKey) -> None:
        """Store a new API key (by its digest)."""
        await asyncio.sleep(0)
        self.keys[key.digest] = key

    async def api_key(self, digest: str) -> ApiKey | None:
        """The API key with this digest."""
        await asyncio.sleep(0)
        return self.keys.get(digest)

    async def api_keys(self, institution_id: str) -> list[ApiKey]:
        """An institution's API keys, revoked ones included."""
        await asyncio.sleep(0)
        return [k for k in self.keys.values() if k.institution == institution_id]

    async def revoke_api_key(self, institution_id: str, key_id: str, at: datetime) -> bool:
        """Mark one of the institution's API keys revoked; False if it has no such key."""
        await asyncio.sleep(0)
        for digest, key in self.keys.items():
            if key.institution == institution_id and key.id == key_id:
                if key.revoked_at is None:
                    self.keys[digest] = key.model_copy(update={"revoked_at": at})
                return True
        return False
