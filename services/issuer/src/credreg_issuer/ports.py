"""The issuer's ports: Idempotency-Key records (one per institution and key) and the publisher."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from credreg_issuer.batches import Batch, BatchChunk, ItemResult
from credreg_issuer.cpu import CpuRunner, run_inline
from credreg_issuer.institutions import ApiKey, Institution, SigningKey
from credreg_issuer.status_lists import StatusList
from credreg_shared.events.cloudevents import Envelope, KafkaRecord, from_record, to_record
from credreg_shared.messaging.ports import EventPublisher, RecordPublisher

TopicCreator = Callable[[Mapping[str, int]], Awaitable[object]]
"""Creates the missing topics of a topic → partitions map."""


@dataclass(frozen=True)
class IdempotencyRecord:
    """The event an Idempotency-Key stands for, exactly as published (or to be published).

    It is stored *before* the first publish: a retry after a failed publish or a crash
    republishes these very bytes (same credential, same event id) instead of building a new
    credential, and `published` only says that an earlier attempt saw the broker's ack.
    """

    institution_id: str
    key: str
    request_digest: str
    event: KafkaRecord
    published: bool = False
    built_from: Envelope | None = field(default=None, compare=False, repr=False)
    """The envelope a new record was made of (a stored one is decoded from `event`)."""

    @classmethod
    def of(
        cls, envelope: Envelope, *, institution_id: str, key: str, request_digest: str
    ) -> IdempotencyRecord:
        """A new, not yet published record for an event."""
        return cls(institution_id, key, request_digest, to_record(envelope), built_from=envelope)

    @property
    def event_id(self) -> str:
        """The stored event's id (its ``ce_id`` header), without decoding the event."""
        return dict(self.event.headers)["ce_id"].decode()

    @property
    def envelope(self) -> Envelope:
        """The stored event, decoded (or as built, for a new record)."""
        if self.built_from is not None:
            return self.built_from
        return from_record(self.event.key, self.event.value, self.event.headers)


class IdempotencyRecords(Protocol):
    """Idempotency-Key records; unique per (institution, key), single-document writes only."""

    # Outages raise `credreg_shared.errors.StorageUnavailable`, never a driver error.

    async def reserve(self, record: IdempotencyRecord) -> IdempotencyRecord:
        """Store `record` unless its (institution, key) is taken; the stored record either way."""
        ...

    async def release_publication(self, institution_id: str, key: str) -> None:
        """Give the lease up (the publish failed): the next request may publish at once."""
        ...

    # The same, for many keys of one institution at once (batches): one round trip each.

    async def get_many(
        self, institution_id: str, keys: Sequence[str]
    ) -> dict[str, IdempotencyRecord]:
        """The records stored under these keys (key → record; absent keys left out)."""
        ...

    async def reserve_many(
        self, records: Sequence[IdempotencyRecord], *, lease_until: datetime | None = None
    ) -> tuple[dict[str, IdempotencyRecord], set[str]]:
        """`reserve` for each record of one institution, the new ones leased to the caller
        until `lease_until` (no claim needed); every key's stored record, and the keys stored
        by this call."""
        ...

    async def claim_publications(
        self, institution_id: str, keys: Sequence[str], *, until: datetime, now: datetime
    ) -> set[str]:
        """Lease the publication of each unpublished record until `until`, unless another
        request holds an unexpired lease (or it is published); the keys this caller got."""
        ...

    async def mark_many_published(self, institution_id: str, keys: Sequence[str]) -> None:
        """Note that the records' events were acknowledged by the broker."""
        ...


class InstitutionStore(Protocol):
    """Institutions and their API keys; every change is one single-document atomic write."""

    # Outages raise `credreg_shared.errors.StorageUnavailable`, never a driver error.

    async def create(self, institution: Institution) -> None:
        """Store a new institution; `InstitutionExists` if its id is taken."""
        ...

    async def get(self, institution_id: str) -> Institution | None:
        """One institution by its DID."""
        ...

    async def all(self) -> list[Institution]:
        """Every institution, by id."""
        ...

    async def add_key(self, institution_id: str, key: SigningKey, *, replacing: str) -> bool:
        """Add `key` and make it active if `replacing` is still the active key; False if not."""
        ...

    async def replace_keys(
        self, institution_id: str, keys: list[SigningKey], *, active_key: str
    ) -> bool:
        """Store re-sealed `keys` if `active_key` is still the active one; False if not."""
        ...

    async def add_api_key(self, key: ApiKey) -> None:
        """Store a new API key (by its digest)."""
        ...

    async def api_key(self, digest: str) -> ApiKey | None:
        """The API key with this digest."""
        ...

    async def api_keys(self, institution_id: str) -> list[ApiKey]:
        """An institution's API keys, revoked ones included."""
        ...

    async def revoke_api_key(self, institution_id: str, key_id: str, at: datetime) -> bool:
        """Mark one of the institution's API keys revoked; False if it has no such key."""
        ...


class StatusListStore(Protocol):
    """Status lists, their claimed indices and each credential's entry; single-document writes."""

    # Outages raise `credreg_shared.errors.StorageUnavailable`, never a driver error.

    async def ensure_list(self, status_list: StatusList) -> None:
        """Create the list unless it exists."""
        ...

    async def get_list(self, list_id: str) -> StatusList | None:
        """One list."""
        ...

    async def entry_of(self, credential_id: str) -> tuple[str, int] | None:
        """A credential's (list, index)."""
        ...

    async def count_allocated(self, list_id: str, n: int = 1) -> int:
        """Count `n` more allocated indices of the list; the new count."""
        ...

    async def entries_of(self, credential_ids: Sequence[str]) -> dict[str, tuple[str, int]]:
        """The (list, index) of each credential that has one."""
        ...

    async def held(self, list_id: str, indices: Sequence[int]) -> set[int]:
        """Those of these indices of the list that a credential holds (one read)."""
        ...

    async def claim_many(self, list_id: str, claims: Mapping[int, str]) -> set[int]:
        """Claim each index for its credential (the first claim wins, across replicas); the
        indices now held by their credential."""
        ...

    async def record_entries(
        self, entries: Mapping[str, tuple[str, int]]
    ) -> dict[str, tuple[str, int]]:
        """Remember each credential's (list, index) unless it has one; credential → the entry it
        has either way."""
        ...

    async def revoke(self, list_id: str, index: int, at: datetime) -> None:
        """Add the index to the list's revoked set (idempotent) in one atomic write."""
        ...

    async def move_to_list(self, institution_id: str, current: str | None, following: str) -> bool:
        """Point the institution at its next list if it still points at `current`."""
        ...


class BatchStore(Protocol):
    """Batches, their chunks of items and the chunks' results; single-document writes only."""

    # Outages raise `credreg_shared.errors.StorageUnavailable`, never a driver error.

    async def create(self, batch: Batch, chunks: Sequence[BatchChunk]) -> Batch:
        """Store a new batch and its chunks unless its id is taken; the stored batch either way."""
        ...

    async def get(self, batch_id: str) -> Batch | None:
        """One batch."""
        ...

    async def chunks(self, batch_id: str, numbers: Sequence[int]) -> dict[int, BatchChunk]:
        """These chunks of a batch, by number."""
        ...

    async def results(self, batch_id: str, numbers: Sequence[int]) -> dict[int, list[ItemResult]]:
        """The results of those of these chunks that are issued, by number."""
        ...

    async def save_results(self, batch_id: str, number: int, results: list[ItemResult]) -> None:
        """Store a chunk's results (the first stored stay) and its tally in the batch."""
        ...

    async def claim(self, batch_id: str, *, owner: str, until: datetime, now: datetime) -> bool:
        """Lease the batch's issuance to `owner` unless another holds an unexpired lease."""
        ...

    async def finish(self, batch_id: str, at: datetime) -> None:
        """Mark the batch done."""
        ...

    async def unfinished(self) -> list[str]:
        """The ids of the batches not done yet, oldest first."""
        ...


@dataclass(frozen=True)
class Adapters:
    """What the issuer's use cases need: Idempotency-Key records, the publisher, institutions."""

    records: IdempotencyRecords
    publisher: EventPublisher
    institutions: InstitutionStore
    status_lists: StatusListStore
    batches: BatchStore
    run_cpu: CpuRunner = run_inline
    """Where signing runs: a process pool in the service, inline in unit tests."""
    dead_letters: RecordPublisher | None = None
    """The broker's raw publisher (the Kafka ingress dead-letters with it); None in unit tests."""
    ensure_topics: TopicCreator | None = None
    """Creates topics (and their DLQs) that are missing; None in unit tests."""
