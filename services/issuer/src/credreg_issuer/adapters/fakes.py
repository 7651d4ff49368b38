"""In-memory issuer ports (idempotency records with failure switches, institutions, status
lists, batches), for unit tests."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from credreg_issuer.batches import Batch, BatchChunk, ItemResult, tally
from credreg_issuer.institutions import ApiKey, Institution, InstitutionExists, SigningKey
from credreg_issuer.ports import Adapters, IdempotencyRecord
from credreg_issuer.status_lists import StatusList
from credreg_shared.messaging import InMemoryPublisher
from credreg_shared.messaging.ports import EventPublisher


class InMemoryIdempotencyRecords:
    """First insert wins, like the unique ``_id`` index; set `fail_with` for a database outage."""

    def __init__(self) -> None:
        self.records: dict[tuple[str, str], IdempotencyRecord] = {}
        self.leases: dict[tuple[str, str], datetime] = {}
        # Set these to what the MongoDB adapter raises for an outage: `StorageUnavailable`.
        self.fail_with: Exception | None = None
        self.fail_marking_with: Exception | None = None

    async def reserve(self, record: IdempotencyRecord) -> IdempotencyRecord:
        """Store `record` unless its (institution, key) is taken; the stored record either way."""
        await asyncio.sleep(0)
        if self.fail_with is not None:
            raise self.fail_with
        return self.records.setdefault((record.institution_id, record.key), record)

    async def _mark(self, institution_id: str, key: str) -> None:
        await asyncio.sleep(0)
        failure = self.fail_marking_with or self.fail_with
        if failure is not None:
            raise failure
        found = self.records.get((institution_id, key))
        if found is not None:
            self.records[(institution_id, key)] = replace(found, published=True)

    async def _claim(
        self, institution_id: str, key: str, *, until: datetime, now: datetime
    ) -> bool:
        await asyncio.sleep(0)
        if self.fail_with is not None:
            raise self.fail_with
        found = self.records.get((institution_id, key))
        lease = self.leases.get((institution_id, key))
        if found is None or found.published or (lease is not None and lease > now):
            return False
        self.leases[(institution_id, key)] = until
        return True

    async def release_publication(self, institution_id: str, key: str) -> None:
        """Give the lease up (the publish failed): the next request may publish at once."""
        await asyncio.sleep(0)
        self.leases.pop((institution_id, key), None)

    async def get_many(
        self, institution_id: str, keys: Sequence[str]
    ) -> dict[str, IdempotencyRecord]:
        """The records stored under these keys."""
        await asyncio.sleep(0)
        if self.fail_with is not None:
            raise self.fail_with
        found = {key: self.records.get((institution_id, key)) for key in keys}
        return {key: record for key, record in found.items() if record is not None}

    async def reserve_many(
        self, records: Sequence[IdempotencyRecord], *, lease_until: datetime | None = None
    ) -> tuple[dict[str, IdempotencyRecord], set[str]]:
        """`reserve` for each record, the new ones leased until `lease_until`."""
        stored, new = {}, set()
        for record in records:
            taken = (record.institution_id, record.key) in self.records
            stored[record.key] = await self.reserve(record)
            if not taken:
                new.add(record.key)
                if lease_until is not None:
                    self.leases[(record.institution_id, record.key)] = lease_until
        return stored, new

    async def claim_publications(
        self, institution_id: str, keys: Sequence[str], *, until: datetime, now: datetime
    ) -> set[str]:
        """Lease the publication of each key unless another request holds an unexpired lease."""
        return {key for key in keys if await self._claim(institution_id, key, until=until, now=now)}

    async def mark_many_published(self, institution_id: str, keys: Sequence[str]) -> None:
        """Note that the records' events were acknowledged by the broker."""
        for key in keys:
            await self._mark(institution_id, key)


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

    async def replace_keys(
        self, institution_id: str, keys: list[SigningKey], *, active_key: str
    ) -> bool:
        """Store re-sealed `keys` if `active_key` is still the active one; False if not."""
        await asyncio.sleep(0)
        found = self.institutions.get(institution_id)
        if found is None or found.active_key != active_key:
            return False
        self.institutions[institution_id] = found.model_copy(update={"keys": keys})
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


class InMemoryStatusLists:
    """`StatusListStore` in memory: first claim wins, revocations are set additions."""

    def __init__(self, institutions: InMemoryInstitutions) -> None:
        self.institutions = institutions
        self.lists: dict[str, StatusList] = {}
        self.claims: dict[tuple[str, int], str] = {}
        self.entries: dict[str, tuple[str, int]] = {}

    async def ensure_list(self, status_list: StatusList) -> None:
        """Create the list unless it exists."""
        await asyncio.sleep(0)
        self.lists.setdefault(status_list.id, status_list)

    async def get_list(self, list_id: str) -> StatusList | None:
        """One list."""
        await asyncio.sleep(0)
        return self.lists.get(list_id)

    async def entry_of(self, credential_id: str) -> tuple[str, int] | None:
        """A credential's (list, index)."""
        await asyncio.sleep(0)
        return self.entries.get(credential_id)

    async def count_allocated(self, list_id: str, n: int = 1) -> int:
        """Count `n` more allocated indices of the list; the new count."""
        await asyncio.sleep(0)
        found = self.lists[list_id]
        self.lists[list_id] = found.model_copy(update={"allocated": found.allocated + n})
        return found.allocated + n

    async def entries_of(self, credential_ids: Sequence[str]) -> dict[str, tuple[str, int]]:
        """The (list, index) of each credential that has one."""
        await asyncio.sleep(0)
        return {c: self.entries[c] for c in credential_ids if c in self.entries}

    async def held(self, list_id: str, indices: Sequence[int]) -> set[int]:
        """Those of these indices of the list that a credential holds."""
        await asyncio.sleep(0)
        return {index for index in indices if (list_id, index) in self.claims}

    async def claim_many(self, list_id: str, claims: Mapping[int, str]) -> set[int]:
        """Claim each index for its credential: the first claim wins."""
        await asyncio.sleep(0)
        return {
            index for index, c in claims.items() if self.claims.setdefault((list_id, index), c) == c
        }

    async def record_entries(
        self, entries: Mapping[str, tuple[str, int]]
    ) -> dict[str, tuple[str, int]]:
        """Remember each credential's entry unless it has one; the one it has either way."""
        await asyncio.sleep(0)
        return {c: self.entries.setdefault(c, entry) for c, entry in entries.items()}

    async def revoke(self, list_id: str, index: int, at: datetime) -> None:
        """Add the index to the list's revoked set (idempotent) in one atomic write."""
        await asyncio.sleep(0)
        found = self.lists[list_id]
        if index not in found.revoked:
            self.lists[list_id] = found.model_copy(
                update={
                    "revoked": [*found.revoked, index],
                    "version": found.version + 1,
                    "updated_at": at,
                }
            )

    async def move_to_list(self, institution_id: str, current: str | None, following: str) -> bool:
        """Point the institution at its next list if it still points at `current`."""
        await asyncio.sleep(0)
        found = self.institutions.institutions.get(institution_id)
        if found is None or found.status_list != current:
            return False
        self.institutions.institutions[institution_id] = found.model_copy(
            update={"status_list": following}
        )
        return True


class InMemoryBatches:
    """`BatchStore` in memory: first stored wins, leases by compare-and-set."""

    def __init__(self) -> None:
        self.batches: dict[str, Batch] = {}
        self.stored_chunks: dict[tuple[str, int], BatchChunk] = {}
        self.stored_results: dict[tuple[str, int], list[ItemResult]] = {}
        self.leases: dict[str, tuple[str, datetime]] = {}

    async def create(self, batch: Batch, chunks: Sequence[BatchChunk]) -> Batch:
        """Store a new batch and its chunks unless its id is taken; the stored batch either way."""
        await asyncio.sleep(0)
        for chunk in chunks:
            self.stored_chunks.setdefault((chunk.batch_id, chunk.number), chunk)
        return self.batches.setdefault(batch.id, batch)

    async def get(self, batch_id: str) -> Batch | None:
        """One batch."""
        await asyncio.sleep(0)
        return self.batches.get(batch_id)

    async def chunks(self, batch_id: str, numbers: Sequence[int]) -> dict[int, BatchChunk]:
        """These chunks of a batch, by number."""
        await asyncio.sleep(0)
        found = {n: self.stored_chunks.get((batch_id, n)) for n in numbers}
        return {n: chunk for n, chunk in found.items() if chunk is not None}

    async def results(self, batch_id: str, numbers: Sequence[int]) -> dict[int, list[ItemResult]]:
        """The results of those of these chunks that are issued, by number."""
        await asyncio.sleep(0)
        found = {n: self.stored_results.get((batch_id, n)) for n in numbers}
        return {n: results for n, results in found.items() if results is not None}

    async def save_results(self, batch_id: str, number: int, results: list[ItemResult]) -> None:
        """Store a chunk's results (the first stored stay) and its tally in the batch."""
        await asyncio.sleep(0)
        stored = self.stored_results.setdefault((batch_id, number), results)
        batch = self.batches[batch_id]
        self.batches[batch_id] = batch.model_copy(
            update={"tallies": {**batch.tallies, str(number): tally(stored)}}
        )

    async def claim(self, batch_id: str, *, owner: str, until: datetime, now: datetime) -> bool:
        """Lease the batch's issuance to `owner` unless another holds an unexpired lease."""
        await asyncio.sleep(0)
        batch = self.batches.get(batch_id)
        holder = self.leases.get(batch_id)
        if batch is None or batch.finished_at is not None:
            return False
        if holder is not None and holder[0] != owner and holder[1] >= now:
            return False
        self.leases[batch_id] = (owner, until)
        return True

    async def finish(self, batch_id: str, at: datetime) -> None:
        """Mark the batch done."""
        await asyncio.sleep(0)
        batch = self.batches[batch_id]
        if batch.finished_at is None:
            self.batches[batch_id] = batch.model_copy(update={"finished_at": at})

    async def unfinished(self) -> list[str]:
        """The ids of the batches not done yet, oldest first."""
        await asyncio.sleep(0)
        waiting = [b for b in self.batches.values() if b.finished_at is None]
        return [b.id for b in sorted(waiting, key=lambda b: b.created_at)]


def in_memory_adapters(
    *, records: InMemoryIdempotencyRecords | None = None, publisher: EventPublisher | None = None
) -> Adapters:
    """Every port of the issuer in memory (unit tests): institutions and their status lists."""
    institutions = InMemoryInstitutions()
    return Adapters(
        records=records or InMemoryIdempotencyRecords(),
        publisher=publisher or InMemoryPublisher(),
        institutions=institutions,
        status_lists=InMemoryStatusLists(institutions),
        batches=InMemoryBatches(),
    )
