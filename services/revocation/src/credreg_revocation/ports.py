"""The revocation service's ports: what its use case and projection ask of storage and the log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from credreg_revocation.domain import CredentialRecord
from credreg_revocation.expiry import Announcement, ClockState
from credreg_shared.api_keys import InstitutionKeys
from credreg_shared.events.cloudevents import KafkaRecord
from credreg_shared.events.models import Renewal
from credreg_shared.issuance import IssueCredential
from credreg_shared.messaging.ports import EventPublisher


class CredentialRepository(Protocol):
    """The ownership view; every write is one atomic single-document update."""

    async def get(self, credential_id: str) -> CredentialRecord | None:
        """One credential's record, or None when the view does not know it."""
        ...

    async def get_many(self, credential_ids: Sequence[str]) -> dict[str, CredentialRecord]:
        """The records of those credentials the view knows, by id."""
        ...

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
        ...

    async def record_announced(self, credential_id: str, *, kind: str, event_id: str) -> None:
        """Note an expiry notice read from the log (a replay must not announce it again)."""
        ...

    async def announce(self, claims: Sequence[Announcement]) -> None:
        """Claim each notice: its kind joins ``announced`` (and its status moves) only if it
        is not announced yet, the status is one of its sources and no outbox waits; one
        conditional single-document update per claim, sent together."""
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
        superseded_by: str | None = None,
        changes: int | None = None,
    ) -> CredentialRecord | None:
        """Atomically move an `issuer_id` credential from `sources` to `status`, marking
        `event_id` applied, counting one more change and keeping `outbox` (its event, to
        publish) and `superseded_by` in the same write; only while it has had exactly `changes`
        changes, when given. The record as it was before, or None when nothing matched."""
        ...

    async def release(self, credential_id: str, *, event_id: str, status: str) -> bool:
        """Undo the claim made with `event_id` (back to `status`, its outbox dropped, the change
        uncounted); False if it is not there."""
        ...

    # The outbox: a claim keeps its event in the credential's document until the broker has
    # it; a pending marker (written first, in a small collection) lets the relay find it.

    async def mark_pending(self, credential_id: str, *, event_id: str, at: datetime) -> None:
        """Note, before claiming, that `credential_id` may get an outbox event `event_id`
        (nothing when a concurrent request for the same change noted it already)."""
        ...

    async def forget_pending(self, credential_id: str, *, event_id: str) -> None:
        """Drop the marker of `event_id` after a claim that did not happen, unless the
        credential's outbox holds that very event (a concurrent request for the same change
        claimed it: its marker stays until the broker has it)."""
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


class ExpirySchedule(Protocol):
    """Notices by ten-second bucket, and the scheduler's clock; every read is by ``_id``.

    The clock gates the buckets: the scheduler *closes* a bucket before it reads it, and a
    writer that finds its bucket closed after adding to it adds again to a later one (a notice
    twice in the schedule is harmless: its claim succeeds once).
    """

    async def opened(self, now: datetime) -> str:
        """The first bucket not closed yet (a new clock starts just before `now`)."""
        ...

    async def add(self, bucket: str, entries: Sequence[str]) -> None:
        """Add entries to a bucket (in a new slot: never a growing document)."""
        ...

    async def closed(self) -> str | None:
        """The last bucket closed, None before the clock exists."""
        ...

    async def entries(self, bucket: str) -> list[str]:
        """Every entry of a bucket, each once, in the order added."""
        ...

    async def buckets_between(self, after: str, through: str) -> list[str]:
        """The buckets after `after` up to `through` that hold entries, in order."""
        ...

    async def acquire(self, holder: str, *, now: datetime, until: datetime) -> ClockState | None:
        """Hold the scheduler's lease until `until` (free, expired or ours); None if another
        replica holds it."""
        ...

    async def close(self, holder: str, bucket: str, *, after: str, until: datetime) -> bool:
        """Close every bucket up to `bucket` (the last closed was `after`) and extend the
        lease; False if the lease is lost or the clock moved."""
        ...

    async def finish(self, holder: str, bucket: str, *, until: datetime) -> bool:
        """Every notice up to `bucket` is announced (its entries can go); False if the lease
        is lost."""
        ...

    async def release(self, holder: str) -> None:
        """Give the lease up (a stopping replica: another takes over at once)."""
        ...


class ExpiryPolicies(Protocol):
    """Each institution's lead times, and its renewal instructions per achievement."""

    async def lead_days(self, institution: str) -> tuple[int, ...] | None:
        """The institution's lead times, None when it never set them."""
        ...

    async def set_lead_days(self, institution: str, lead_days: tuple[int, ...]) -> None:
        """Replace the institution's lead times."""
        ...

    async def renewal(self, institution: str, achievement_id: str) -> Renewal | None:
        """How to renew one of the institution's achievements, if it said."""
        ...

    async def set_renewal(
        self, institution: str, achievement_id: str, renewal: Renewal | None
    ) -> None:
        """Attach renewal instructions to an achievement (None removes them)."""
        ...


@dataclass(frozen=True)
class IssuedReplacement:
    """A credential the issuer issued (or had issued under the same Idempotency-Key)."""

    credential_id: str
    event_id: str
    credential: dict[str, Any]


class CredentialIssuer(Protocol):
    """The issuer service's public API, for "reissue and supersede"."""

    async def issue(
        self, command: IssueCredential, *, authorization: str, idempotency_key: str
    ) -> IssuedReplacement:
        """Issue as the caller (its own credentials); the issuer's refusals as
        `ReplacementRefused`, its outages as `Unavailable`."""
        ...


@dataclass(frozen=True)
class Adapters:
    """The ports the use case and the projection need: real adapters, or fakes in unit tests."""

    credentials: CredentialRepository
    publisher: EventPublisher
    keys: InstitutionKeys
    schedule: ExpirySchedule
    policies: ExpiryPolicies
    issuer: CredentialIssuer
