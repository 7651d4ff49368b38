"""An in-memory `CredentialRepository` for unit tests, atomic like one MongoDB document."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from datetime import datetime

from credreg_revocation.domain import CredentialRecord
from credreg_shared.api_keys import KeptApiKey
from credreg_shared.events.cloudevents import KafkaRecord
from credreg_shared.events.lifecycle import ACTIVE


@dataclass
class _Entry:
    record: CredentialRecord
    applied: set[str] = field(default_factory=set)
    claimed_by: str | None = None
    outbox: tuple[str, KafkaRecord] | None = None


class InMemoryCredentialRepository:
    """Each method yields to the event loop once, then reads and writes without interleaving."""

    def __init__(self) -> None:
        self.entries: dict[str, _Entry] = {}
        self.markers: dict[str, tuple[str, datetime]] = {}
        """Event id → (credential id, when)."""

    def status_of(self, credential_id: str) -> str | None:
        """The stored status, for assertions."""
        entry = self.entries.get(credential_id)
        return entry.record.status if entry else None

    async def get(self, credential_id: str) -> CredentialRecord | None:
        """One credential's record, or None when the view does not know it."""
        await asyncio.sleep(0)
        entry = self.entries.get(credential_id)
        return entry.record if entry else None

    async def record_issued(
        self, credential_id: str, *, issuer_id: str, holder_id: str, event_id: str
    ) -> bool:
        """Remember an issued credential (active unless a later status is known); False if seen."""
        await asyncio.sleep(0)
        entry = self.entries.get(credential_id)
        if entry is None:
            record = CredentialRecord(credential_id, issuer_id, holder_id, ACTIVE)
            self.entries[credential_id] = _Entry(record, {event_id})
            return True
        if event_id in entry.applied:
            return False
        entry.record = replace(entry.record, issuer_id=issuer_id, holder_id=holder_id)
        entry.applied.add(event_id)
        return True

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
        """Move to `status` if now in one of `sources`; the event is marked applied either way."""
        await asyncio.sleep(0)
        entry = self.entries.get(credential_id)
        if entry is None:
            record = CredentialRecord(credential_id, issuer_id, holder_id, status)
            self.entries[credential_id] = _Entry(record, {event_id})
            return True
        if event_id in entry.applied:
            return False
        if entry.record.status in sources:
            entry.record = replace(entry.record, status=status)
        entry.applied.add(event_id)
        return True

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
        """Atomically move an owned credential from `sources` to `status`, its event in the
        outbox; the record before."""
        await asyncio.sleep(0)
        entry = self.entries.get(credential_id)
        if entry is None or entry.record.issuer_id != issuer_id:
            return None
        if entry.record.status not in sources or entry.outbox is not None:
            return None
        before = entry.record
        entry.record = replace(before, status=status)
        entry.claimed_by = event_id
        entry.applied.add(event_id)
        if outbox is not None:
            entry.outbox = (event_id, outbox)
        return before

    async def release(self, credential_id: str, *, event_id: str, status: str) -> bool:
        """Undo the claim made with `event_id` (back to `status`); False if it is not there."""
        await asyncio.sleep(0)
        entry = self.entries.get(credential_id)
        if entry is None or entry.claimed_by != event_id:
            return False
        entry.record = replace(entry.record, status=status)
        entry.claimed_by = None
        entry.outbox = None
        entry.applied.discard(event_id)
        self.markers.pop(event_id, None)
        return True

    async def mark_pending(self, credential_id: str, *, event_id: str, at: datetime) -> None:
        """Note, before claiming, that `credential_id` may get an outbox event `event_id`."""
        await asyncio.sleep(0)
        self.markers[event_id] = (credential_id, at)

    async def pending(self, *, before: datetime) -> list[tuple[str, str]]:
        """(credential id, event id) of the markers written before `before`."""
        await asyncio.sleep(0)
        return [(c, event_id) for event_id, (c, at) in self.markers.items() if at < before]

    async def outbox(self, credential_id: str) -> tuple[str, KafkaRecord] | None:
        """The credential's outbox event (event id, record), if one waits for the broker."""
        await asyncio.sleep(0)
        entry = self.entries.get(credential_id)
        return entry.outbox if entry else None

    async def published(self, credential_id: str, *, event_id: str) -> None:
        """The broker has event `event_id`: drop it from the outbox, and its marker."""
        await asyncio.sleep(0)
        entry = self.entries.get(credential_id)
        if entry is not None and entry.outbox is not None and entry.outbox[0] == event_id:
            entry.outbox = None
        self.markers.pop(event_id, None)


class InMemoryInstitutionKeys:
    """`InstitutionKeys` in memory."""

    def __init__(self) -> None:
        self.keys: dict[str, KeptApiKey] = {}

    async def issued(self, digest: str, key: KeptApiKey) -> None:
        """Remember a key (unless it is revoked already)."""
        await asyncio.sleep(0)
        self.keys.setdefault(digest, key)

    async def revoked(self, digest: str, institution: str) -> None:
        """Mark a key revoked, for good."""
        await asyncio.sleep(0)
        found = self.keys.get(digest, KeptApiKey(institution=institution, scopes=frozenset()))
        self.keys[digest] = replace(found, revoked=True)

    async def find(self, digest: str) -> KeptApiKey | None:
        """A key by its digest."""
        await asyncio.sleep(0)
        return self.keys.get(digest)
