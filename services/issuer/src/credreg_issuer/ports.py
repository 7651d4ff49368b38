"""The issuer's ports: Idempotency-Key records (one per institution and key) and the publisher."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from credreg_issuer.institutions import ApiKey, Institution, SigningKey
from credreg_issuer.status_lists import StatusList
from credreg_shared.events.cloudevents import Envelope, KafkaRecord, from_record, to_record
from credreg_shared.messaging.ports import EventPublisher


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

    @classmethod
    def of(
        cls, envelope: Envelope, *, institution_id: str, key: str, request_digest: str
    ) -> IdempotencyRecord:
        """A new, not yet published record for an event."""
        return cls(institution_id, key, request_digest, to_record(envelope))

    @property
    def envelope(self) -> Envelope:
        """The stored event, decoded."""
        return from_record(self.event.key, self.event.value, self.event.headers)


class IdempotencyRecords(Protocol):
    """Idempotency-Key records; unique per (institution, key), single-document writes only."""

    # Outages raise `credreg_shared.errors.StorageUnavailable`, never a driver error.

    async def reserve(self, record: IdempotencyRecord) -> IdempotencyRecord:
        """Store `record` unless its (institution, key) is taken; the stored record either way."""
        ...

    async def mark_published(self, institution_id: str, key: str) -> None:
        """Note that the record's event was acknowledged by the broker."""
        ...

    async def claim_publication(
        self, institution_id: str, key: str, *, until: datetime, now: datetime
    ) -> bool:
        """Lease the publication of an unpublished record until `until`, unless another request
        holds an unexpired lease (or it is published); True if this request got it."""
        ...

    async def release_publication(self, institution_id: str, key: str) -> None:
        """Give the lease up (the publish failed): the next request may publish at once."""
        ...

    async def get(self, institution_id: str, key: str) -> IdempotencyRecord | None:
        """The record stored under (institution, key)."""
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

    async def claim(self, list_id: str, index: int, credential_id: str) -> bool:
        """Claim an index for a credential; False if another credential holds it."""
        ...

    async def record_entry(self, credential_id: str, list_id: str, index: int) -> tuple[str, int]:
        """Remember a credential's (list, index) unless it has one; the one it has either way."""
        ...

    async def entry_of(self, credential_id: str) -> tuple[str, int] | None:
        """A credential's (list, index)."""
        ...

    async def count_allocated(self, list_id: str) -> int:
        """Count one more allocated index of the list; the new count."""
        ...

    async def revoke(self, list_id: str, index: int, at: datetime) -> None:
        """Add the index to the list's revoked set (idempotent) in one atomic write."""
        ...

    async def move_to_list(self, institution_id: str, current: str | None, following: str) -> bool:
        """Point the institution at its next list if it still points at `current`."""
        ...


@dataclass(frozen=True)
class Adapters:
    """What the issuer's use cases need: Idempotency-Key records, the publisher, institutions."""

    records: IdempotencyRecords
    publisher: EventPublisher
    institutions: InstitutionStore
    status_lists: StatusListStore
