"""An in-memory `CredentialRepository` for unit tests, atomic like one MongoDB document."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from credreg_revocation.domain import CredentialRecord
from credreg_revocation.expiry import BUCKET, Announcement, ClockState, bucket_of, next_bucket
from credreg_revocation.ports import IssuedReplacement
from credreg_shared.events.cloudevents import KafkaRecord
from credreg_shared.events.lifecycle import ACTIVE
from credreg_shared.events.models import Renewal
from credreg_shared.issuance import IssueCredential


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
        return _as_read(entry) if entry else None

    async def get_many(self, credential_ids: Sequence[str]) -> dict[str, CredentialRecord]:
        """The records of those credentials the view knows, by id."""
        await asyncio.sleep(0)
        return {i: _as_read(self.entries[i]) for i in credential_ids if i in self.entries}

    async def record_issued(
        self,
        credential_id: str,
        *,
        issuer_id: str,
        holder_id: str,
        event_id: str,
        valid_until: datetime | None = None,
        achievement_id: str | None = None,
    ) -> bool:
        """Remember an issued credential (active unless a later status is known); False if seen."""
        await asyncio.sleep(0)
        entry = self.entries.get(credential_id)
        if entry is None:
            entry = self.entries[credential_id] = _Entry(
                CredentialRecord(credential_id, issuer_id, holder_id, ACTIVE)
            )
        if event_id in entry.applied:
            return False
        entry.record = replace(entry.record, issuer_id=issuer_id, holder_id=holder_id)
        if valid_until is not None:
            entry.record = replace(entry.record, valid_until=valid_until)
        if achievement_id is not None:
            entry.record = replace(entry.record, achievement_id=achievement_id)
        entry.applied.add(event_id)
        return True

    async def record_announced(self, credential_id: str, *, kind: str, event_id: str) -> None:
        """Note an expiry notice read from the log (a replay must not announce it again)."""
        await asyncio.sleep(0)
        entry = self.entries.get(credential_id)
        if entry is not None and event_id not in entry.applied:
            entry.record = replace(entry.record, announced=entry.record.announced | {kind})
            entry.applied.add(event_id)

    async def announce(self, claims: Sequence[Announcement]) -> None:
        """Claim each notice that is not announced yet, from its sources, with no outbox."""
        await asyncio.sleep(0)
        for claim in claims:
            entry = self.entries.get(claim.credential_id)
            if (
                entry is None
                or entry.record.status not in claim.sources
                or claim.kind in entry.record.announced
                or entry.outbox is not None
            ):
                continue
            entry.record = replace(
                entry.record,
                status=claim.status or entry.record.status,
                announced=entry.record.announced | {claim.kind},
            )
            entry.applied.add(claim.event_id)

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
            record = CredentialRecord(credential_id, issuer_id, holder_id, status, changes=1)
            self.entries[credential_id] = _Entry(record, {event_id})
            return True
        if event_id in entry.applied:
            return False
        moved = entry.record.status if entry.record.status not in sources else status
        entry.record = replace(entry.record, status=moved, changes=entry.record.changes + 1)
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
        superseded_by: str | None = None,
        changes: int | None = None,
    ) -> CredentialRecord | None:
        """Atomically move an owned credential from `sources` to `status`, its event in the
        outbox; the record before."""
        await asyncio.sleep(0)
        entry = self.entries.get(credential_id)
        if entry is None or entry.record.issuer_id != issuer_id:
            return None
        if entry.record.status not in sources or entry.outbox is not None:
            return None
        if changes is not None and entry.record.changes != changes:
            return None
        before = entry.record
        entry.record = replace(
            before, status=status, superseded_by=superseded_by, changes=before.changes + 1
        )
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
        entry.record = replace(entry.record, status=status, changes=entry.record.changes - 1)
        entry.claimed_by = None
        entry.outbox = None
        entry.applied.discard(event_id)
        self.markers.pop(event_id, None)
        return True

    async def mark_pending(self, credential_id: str, *, event_id: str, at: datetime) -> None:
        """Note, before claiming, that `credential_id` may get an outbox event `event_id`."""
        await asyncio.sleep(0)
        self.markers.setdefault(event_id, (credential_id, at))

    async def forget_pending(self, credential_id: str, *, event_id: str) -> None:
        """Drop the marker unless the outbox holds its event."""
        await asyncio.sleep(0)
        entry = self.entries.get(credential_id)
        if entry is not None and entry.outbox is not None and entry.outbox[0] == event_id:
            return
        self.markers.pop(event_id, None)

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


def _as_read(entry: _Entry) -> CredentialRecord:
    return replace(entry.record, busy=entry.outbox is not None)


class InMemoryExpirySchedule:
    """`ExpirySchedule` in memory, one step per call like the MongoDB documents."""

    def __init__(self) -> None:
        self.buckets: dict[str, list[list[str]]] = {}
        self.clock: ClockState | None = None

    async def opened(self, now: datetime) -> str:
        """The first bucket not closed yet (a new clock starts just before `now`)."""
        await asyncio.sleep(0)
        if self.clock is None:
            start = bucket_of(now - BUCKET)
            self.clock = ClockState(closed=start, done=start, holder=None, lease_until=None)
        return next_bucket(self.clock.closed)

    async def add(self, bucket: str, entries: Sequence[str]) -> None:
        """Add entries to a bucket."""
        await asyncio.sleep(0)
        self.buckets.setdefault(bucket, []).append(list(entries))

    async def closed(self) -> str | None:
        """The last bucket closed, None before the clock exists."""
        await asyncio.sleep(0)
        return self.clock.closed if self.clock else None

    async def entries(self, bucket: str) -> list[str]:
        """Every entry of a bucket, each once, in the order added."""
        await asyncio.sleep(0)
        return list(dict.fromkeys(e for slot in self.buckets.get(bucket, []) for e in slot))

    async def buckets_between(self, after: str, through: str) -> list[str]:
        """The buckets after `after` up to `through` that hold entries, in order."""
        await asyncio.sleep(0)
        return sorted(b for b in self.buckets if after < b <= through)

    async def acquire(self, holder: str, *, now: datetime, until: datetime) -> ClockState | None:
        """Hold the lease until `until` (free, expired or ours); None otherwise."""
        await self.opened(now)
        clock = self.clock
        if clock is None:
            return None
        if clock.holder not in (None, holder) and clock.lease_until and clock.lease_until > now:
            return None
        self.clock = replace(clock, holder=holder, lease_until=until)
        return self.clock

    async def close(self, holder: str, bucket: str, *, after: str, until: datetime) -> bool:
        """Close `bucket` (the one after `after`) and extend the lease."""
        await asyncio.sleep(0)
        if self.clock is None or self.clock.holder != holder or self.clock.closed != after:
            return False
        self.clock = replace(self.clock, closed=bucket, lease_until=until)
        return True

    async def finish(self, holder: str, bucket: str, *, until: datetime) -> bool:
        """Every notice of `bucket` is announced."""
        await asyncio.sleep(0)
        if self.clock is None or self.clock.holder != holder:
            return False
        self.clock = replace(self.clock, done=bucket, lease_until=until)
        self.buckets.pop(bucket, None)
        return True

    async def release(self, holder: str) -> None:
        """Give the lease up."""
        await asyncio.sleep(0)
        if self.clock is not None and self.clock.holder == holder:
            self.clock = replace(self.clock, holder=None, lease_until=None)


class InMemoryExpiryPolicies:
    """`ExpiryPolicies` in memory."""

    def __init__(self) -> None:
        self.leads: dict[str, tuple[int, ...]] = {}
        self.renewals: dict[tuple[str, str], Renewal] = {}

    async def lead_days(self, institution: str) -> tuple[int, ...] | None:
        """The institution's lead times, None when it never set them."""
        await asyncio.sleep(0)
        return self.leads.get(institution)

    async def set_lead_days(self, institution: str, lead_days: tuple[int, ...]) -> None:
        """Replace the institution's lead times."""
        await asyncio.sleep(0)
        self.leads[institution] = lead_days

    async def renewal(self, institution: str, achievement_id: str) -> Renewal | None:
        """How to renew one of the institution's achievements, if it said."""
        await asyncio.sleep(0)
        return self.renewals.get((institution, achievement_id))

    async def set_renewal(
        self, institution: str, achievement_id: str, renewal: Renewal | None
    ) -> None:
        """Attach renewal instructions to an achievement (None removes them)."""
        await asyncio.sleep(0)
        if renewal is None:
            self.renewals.pop((institution, achievement_id), None)
        else:
            self.renewals[(institution, achievement_id)] = renewal


class InMemoryCredentialIssuer:
    """`CredentialIssuer` in memory: one credential per Idempotency-Key, handed to `on_issued`
    (a test feeds it to the projection, as the log would) unless `refuse_with` is set."""

    def __init__(self) -> None:
        self.calls: list[tuple[IssueCredential, str, str]] = []
        self.refuse_with: Exception | None = None
        self.on_issued: Callable[[str, IssueCredential], Awaitable[None]] | None = None

    async def issue(
        self, command: IssueCredential, *, authorization: str, idempotency_key: str
    ) -> IssuedReplacement:
        """Issue (again, for a key seen before) unless told to refuse."""
        await asyncio.sleep(0)
        if self.refuse_with is not None:
            raise self.refuse_with
        self.calls.append((command, authorization, idempotency_key))
        credential_id = f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, idempotency_key)}"
        if self.on_issued is not None:
            await self.on_issued(credential_id, command)
        return IssuedReplacement(credential_id, f"e-{credential_id}", {"id": credential_id})
