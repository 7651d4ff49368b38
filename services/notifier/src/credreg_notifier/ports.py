"""What the notifier's use cases, projection and worker ask of the outside world.

Repository methods raise `credreg_shared.errors.StorageUnavailable` when the database is away,
never a driver error; everything else they answer is in their docstrings.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from credreg_notifier.domain import Handed, HolderEvent, Settlement
from credreg_shared.api_keys import InstitutionKeys
from credreg_shared.storage.ports import Document

Target = tuple[str, str, str]
"""What a notice names: (credential id, holder id, issuer id)."""
StreamItem = tuple[str, str, str, str]
"""An event for a holder's stream: (holder id, event id, kind, body)."""


class SubscriptionRepository(Protocol):
    """Where subscriptions are kept."""

    async def add(self, subscription: Document) -> None:
        """Store a new subscription (its ``_id`` is new)."""
        ...

    async def get(self, subscription_id: str) -> Document | None:
        """One subscription, or None."""
        ...

    async def remove(self, subscription_id: str) -> bool:
        """Delete a subscription; False when there was none."""
        ...

    async def matching(
        self, *, credential_id: str, holder_id: str, issuer_id: str
    ) -> list[Document]:
        """Subscriptions to this credential, to its holder or to its issuer: at least each
        one's ``_id`` and ``owner`` (the planner needs no more)."""
        ...

    async def matching_many(self, targets: Sequence[Target]) -> list[list[Document]]:
        """`matching` for each (credential, holder, issuer) of a batch, in one read."""
        ...

    async def owned_by(self, owner: str, *, limit: int) -> list[Document]:
        """An owner's subscriptions (at most `limit`), oldest first."""
        ...

    async def replace_secret(
        self, subscription_id: str, *, secret: str, previous: str, previous_until: datetime
    ) -> bool:
        """Put a new (stored) secret in, keeping the previous one until `previous_until`;
        False when the subscription is gone."""
        ...


class OwnerQuotas(Protocol):
    """How many subscriptions each owner keeps and creates; single-document atomic counters."""

    async def reserve(self, owner: str, *, limit: int) -> bool:
        """Take one of the owner's `limit` places; False when all are taken."""
        ...

    async def release(self, owner: str) -> None:
        """Give a place back (a subscription removed, or never stored)."""
        ...

    async def count_creation(self, owner: str, *, minute: str, limit: int) -> bool:
        """Count a creation in `minute`; False when the owner made `limit` already."""
        ...


class DeliveryRepository(Protocol):
    """Where deliveries are kept; every method is one single-document atomic operation."""

    async def add_once(self, delivery: Document) -> bool:
        """Insert a delivery; False when one with its id exists (a redelivered event)."""
        ...

    async def add_many_once(self, deliveries: Sequence[Document]) -> set[str]:
        """Insert a batch's deliveries; the ids inserted now (not those that existed)."""
        ...

    async def claim_due(
        self, *, now: datetime, lease_until: datetime, lease_token: str
    ) -> Document | None:
        """Take one due delivery (or one whose lease ran out): in flight, attempts + 1.

        Pending deliveries come first, earliest ``next_attempt_at`` first; None when none is due.
        """
        ...

    async def claim(
        self, delivery_id: str, *, now: datetime, lease_until: datetime, lease_token: str
    ) -> Document | None:
        """Take this delivery as `claim_due` would, if it is due (or its lease ran out);
        None when it is not (settled, in flight, not due yet, or unknown)."""
        ...

    async def settle(self, delivery_id: str, lease_token: str, settlement: Settlement) -> bool:
        """Record an attempt's outcome; False when the lease was lost to another worker."""
        ...

    async def of_subscription(self, subscription_id: str, *, limit: int) -> list[Document]:
        """A subscription's deliveries without their bodies, oldest first, at most `limit`."""
        ...


class DeliveryHandoff(Protocol):
    """Hands deliveries planned by this process's consumer straight to its delivery lanes,
    so that a fresh notice waits for no poll (a lost hand-off only waits for the next one)."""

    def room(self) -> int:
        """How many offers now would be queued (not dropped as the queue is full)."""
        ...

    def offer(self, delivery_id: str, claimed: Document | None = None) -> None:
        """Queue a delivery for the lanes (with itself, when born claimed by this process);
        dropped when the queue is full."""
        ...

    async def take(self, seconds: float) -> Handed | None:
        """The next delivery handed over, or None after `seconds`."""
        ...


class HolderEventStore(Protocol):
    """Each holder's lifecycle events, numbered 1, 2, 3… in the order stored.

    Every method is single-document atomic operations and reads by ``_id``. A number is
    counted before its event is written, so a reader may find a number not written yet (its
    writer is between the two, or died there): it waits, and after a grace period `skip`s it.
    """

    async def append_once(self, holder_id: str, *, event_id: str, kind: str, body: str) -> bool:
        """Store an event under the holder's next number; False when `event_id` is stored
        already (a redelivered or replayed event)."""
        ...

    async def append_many_once(self, items: Sequence[StreamItem]) -> list[bool]:
        """`append_once` of each (holder, event id, kind, body) of a batch, numbered in order
        (but for an event whose number a reader skipped meanwhile: it takes a later one); for
        each, False when it was stored already."""
        ...

    async def last_seq(self, holder_id: str) -> int:
        """The highest number counted for the holder (0 before its first event)."""
        ...

    async def last_seqs(self, holder_ids: Sequence[str]) -> dict[str, int]:
        """`last_seq` of several holders in one read (holders without events are absent)."""
        ...

    async def read(self, holder_id: str, seqs: Sequence[int]) -> dict[int, HolderEvent | None]:
        """The written numbers among `seqs`: their events, or None for a skipped number; a
        number not written yet is absent."""
        ...

    async def skip(self, holder_id: str, seq: int) -> None:
        """Mark a number that was counted but never written as empty for good (its writer
        died); its event, when redelivered, takes a later number. Nothing when it is written."""
        ...


class HolderWakeups(Protocol):
    """Wakes this process's streams of a holder as soon as its own consumer stored an event."""

    def listening(self, holder_id: str) -> contextlib.AbstractContextManager[HolderWakeup]:
        """Be woken for `holder_id` while inside the context."""
        ...

    def wake(self, holder_id: str) -> None:
        """Wake every stream of `holder_id` in this process."""
        ...

    def listened(self) -> list[str]:
        """The holders with an open stream in this process."""
        ...


class HolderWakeup(Protocol):
    """One stream's wake-up call."""

    def clear(self) -> None:
        """Forget earlier calls (before reading the store)."""
        ...

    async def wait(self, seconds: float) -> bool:
        """Return when woken (True), or after `seconds` (False)."""
        ...


class WebhookTargets(Protocol):
    """Decides whether a webhook URL may be called now (its host's addresses included)."""

    async def check(self, url: str) -> None:
        """Raise `domain.TargetRefused` unless `url` is a target the notifier may call."""
        ...


class WebhookSender(Protocol):
    """Sends one signed notice; answers None on success, else what went wrong."""

    async def send(
        self, *, url: str, secret: str, message_id: str, body: str, also: Sequence[str] = ()
    ) -> str | None:
        """POST `body` to `url`, signed with `secret` (and with each of `also`: a rotated-out
        secret in its overlap window) under ``webhook-id`` `message_id`."""
        ...


class SecretVault(Protocol):
    """Keeps subscriptions' signing secrets sealed at rest (bound to their subscription)."""

    def seal(self, subscription_id: str, secret: str) -> str:
        """The stored form of a secret."""
        ...

    def open(self, subscription_id: str, stored: str) -> str:
        """The secret behind a stored form."""
        ...


class DeliveryOutcomes(Protocol):
    """Observes each recorded attempt (metrics)."""

    def record(self, status: str) -> None:
        """Count one attempt that left its delivery in `status`."""
        ...


@dataclass(frozen=True)
class Adapters:
    """The notifier's ports, filled with real adapters (bootstrap) or fakes (unit tests)."""

    subscriptions: SubscriptionRepository
    deliveries: DeliveryRepository
    targets: WebhookTargets
    sender: WebhookSender
    outcomes: DeliveryOutcomes
    quotas: OwnerQuotas
    keys: InstitutionKeys | None = None
    """Institutions' API keys kept by the issuer, as the log announced them."""
    vault: SecretVault | None = None
    """Seals secrets at rest; None keeps them as they are (no key-encryption key set)."""
    holder_events: HolderEventStore | None = None
    """Holders' live-stream events; None (fakes built before streams) gets an in-memory one."""
    wakeups: HolderWakeups | None = None
    """In-process stream wake-ups; None gets a new one (bootstrap)."""
    handoff: DeliveryHandoff | None = None
    """Planned deliveries handed to the lanes in process; None: the lanes poll only."""
