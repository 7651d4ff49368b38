"""The revocation service's ports: what its use case and projection ask of storage and the log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from credreg_revocation.domain import CredentialRecord
from credreg_shared.api_keys import KeptApiKey
from credreg_shared.events.cloudevents import KafkaRecord
from credreg_shared.messaging.ports import EventPublisher


class CredentialRepository(Protocol):
    """The ownership view; every write is one atomic single-document update."""

    async def get(self, credential_id: str) -> CredentialRecord | None:
        """One credential's record, or None when the view does not know it."""
        ...

    async def record_issued(
        self, credential_id: str, *, issuer_id: str, holder_id: str, event_id: str
    ) -> bool:
        """Remember an issued credential (active unless a later status is known); False if seen."""
        ...

    async def record_status(
        self,
        credential_id: str,
        *,
        issuer_id: str,
        holder_id: str,
        event_id: str,
        status: str,
        sources: frozenset[str],
    ) -> bool:
        """Move to `status` if now in one of `sources`; the event is marked applied either way.

        False when the event was applied before (a redelivery, or this service's own event).
        """
        ...

    async def claim(
        self,
        credential_id: str,
        *,
        issuer_id: str,
        event_id: str,
        status: str,
        sources: frozenset[str],
        outbox: KafkaRecord | None = None,
    ) -> CredentialRecord | None:
        """Atomically move an `issuer_id` credential from `sources` to `status`, marking
        `event_id` applied and keeping `outbox` (its event, to publish) in the same write; the
        record as it was before, or None when nothing matched."""
        ...

    async def release(self, credential_id: str, *, event_id: str, status: str) -> bool:
        """Undo the claim made with `event_id` (back to `status`, its outbox dropped); False if
        it is not there."""
        ...

    # The outbox: a claim keeps its event in the credential's document until the broker has
    # it; a pending marker (written first, in a small collection) lets the relay find it.

    async def mark_pending(self, credential_id: str, *, event_id: str, at: datetime) -> None:
        """Note, before claiming, that `credential_id` may get an outbox event `event_id`."""
        ...

    async def pending(self, *, before: datetime) -> list[tuple[str, str]]:
        """(credential id, event id) of the markers written before `before`."""
        ...

    async def outbox(self, credential_id: str) -> tuple[str, KafkaRecord] | None:
        """The credential's outbox event (event id, record), if one waits for the broker."""
        ...

    async def published(self, credential_id: str, *, event_id: str) -> None:
        """The broker has event `event_id`: drop it from the outbox, and its marker."""
        ...


class InstitutionKeys(Protocol):
    """Institutions' API keys as announced on the log (by digest); single-document upserts."""

    async def issued(self, digest: str, key: KeptApiKey) -> None:
        """Remember a key (unless it is revoked already)."""
        ...

    async def revoked(self, digest: str, institution: str) -> None:
        """Mark a key revoked, for good."""
        ...

    async def find(self, digest: str) -> KeptApiKey | None:
        """A key by its digest."""
        ...


@dataclass(frozen=True)
class Adapters:
    """The ports the use case and the projection need: real adapters, or fakes in unit tests."""

    credentials: CredentialRepository
    publisher: EventPublisher
    keys: InstitutionKeys
