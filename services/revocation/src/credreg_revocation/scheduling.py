"""Expiry over time: issued credentials go into the schedule, and the scheduler announces
`credential.expiring` and `credential.expired` when they fall due.

Exactly once: one replica at a time holds the scheduler's lease (MongoDB, compare-and-set);
each notice is claimed on its credential's document (its kind joins ``announced`` in the same
conditional update that moves the status), and its event id is derived from the credential and
the kind. A replica that dies after claiming leaves its bucket closed but not done: the next
holder reads the bucket again and publishes every notice claimed in it, under the same ids,
which consumers apply once.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from credreg_revocation.expiry import (
    BUCKET,
    DEFAULT_LEAD_DAYS,
    EXPIRED_KIND,
    EXPIRED_SOURCES,
    Announcement,
    bucket_of,
    by_bucket,
    dues,
    eligible,
    entry,
    next_bucket,
    notice,
    parse_entry,
    target_status,
)
from credreg_revocation.ports import CredentialRepository, ExpiryPolicies, ExpirySchedule
from credreg_shared.errors import PublishUnavailable, StorageUnavailable
from credreg_shared.events.cloudevents import Envelope, derived_envelope, derived_event_id
from credreg_shared.events.lifecycle import ACTIVE
from credreg_shared.events.models import Renewal
from credreg_shared.messaging.ports import EventPublisher
from credreg_shared.workers import StoppableLoop

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


class LeadTimes:
    """Each institution's lead times (its policy, else the default), read at most every
    `ttl` seconds: every issued credential needs them, and they seldom change."""

    def __init__(
        self,
        policies: ExpiryPolicies,
        default: tuple[int, ...] = DEFAULT_LEAD_DAYS,
        *,
        ttl: float = 5.0,
    ) -> None:
        self.policies = policies
        self.default = default
        self.ttl = ttl
        self._read: dict[str, tuple[float, tuple[int, ...]]] = {}

    async def of(self, institution: str) -> tuple[int, ...]:
        """The lead times `institution` gives notice at, in days."""
        now = time.monotonic()
        kept = self._read.get(institution)
        if kept is not None and now - kept[0] < self.ttl:
            return kept[1]
        found = await self.policies.lead_days(institution) or self.default
        self._read[institution] = (now, found)
        return found

    def forget(self, institution: str) -> None:
        """Read the institution's lead times again next time (this process changed them)."""
        self._read.pop(institution, None)


class ExpiryScheduling:
    """Puts an issued credential's notices into the schedule (the projection's side)."""

    def __init__(self, *, schedule: ExpirySchedule, leads: LeadTimes, clock: Clock = utc_now):
        self.schedule = schedule
        self.leads = leads
        self.clock = clock

    async def plan(self, credential_id: str, *, issuer_id: str, valid_until: datetime) -> None:
        """Schedule the notices of a credential valid until `valid_until`."""
        now = self.clock()
        planned = dues(credential_id, valid_until, await self.leads.of(issuer_id), now)
        await self.add(by_bucket(planned, await self.schedule.opened(now)))

    async def add(self, buckets: dict[str, list[str]]) -> None:
        """Add entries by bucket; a bucket the scheduler closed meanwhile hands them on."""
        for bucket, entries in buckets.items():
            target = bucket
            while True:
                await self.schedule.add(target, entries)
                closed = await self.schedule.closed()
                # Closed after our write: the scheduler read the bucket later, and saw them.
                if closed is None or target > closed:
                    break
                # Perhaps closed before: add them again past it (a claim happens once).
                target = next_bucket(closed)


class ExpiryScheduler:
    """Announces the notices that fell due, bucket after bucket, under a lease.

    After downtime it catches up on every bucket since the last one done, in order.
    """

    def __init__(
        self,
        *,
        schedule: ExpirySchedule,
        credentials: CredentialRepository,
        policies: ExpiryPolicies,
        publisher: EventPublisher,
        topic: str,
        source: str,
        leads: LeadTimes | None = None,
        lease: timedelta = timedelta(seconds=30),
        poll: float = 2.0,
        page: int = 500,
        clock: Clock = utc_now,
        holder: str | None = None,
    ) -> None:
        self.schedule = schedule
        self.credentials = credentials
        self.policies = policies
        self.publisher = publisher
        self.topic = topic
        self.source = source
        self.leads = leads or LeadTimes(policies)
        self.lease = lease
        self.poll = poll
        self.page = page
        self.clock = clock
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.scheduling = ExpiryScheduling(schedule=schedule, leads=self.leads, clock=clock)
        self.loop = StoppableLoop()

    def stop(self) -> None:
        """Return after the current bucket."""
        self.loop.stop()

    async def run(self) -> None:
        """Rounds until stopped; outages pause a round, never end the loop; the lease is
        given up on the way out, so another replica takes over at once."""
        try:
            while not self.loop.stopping:
                try:
                    await self.run_once()
                except (StorageUnavailable, PublishUnavailable):
                    log.warning("expiry scheduler paused: will retry", exc_info=True)
                await self.loop.pause(self.poll)
        finally:
            try:
                await self.schedule.release(self.holder)
            except StorageUnavailable:
                log.warning("could not give the expiry lease up; it lapses", exc_info=True)

    async def run_once(self) -> int:
        """Announce every bucket that is past and not done yet; the notices published.

        It first closes every past bucket in one step (writers then hand on what they add
        to them), then reads only the buckets that hold entries, in order.
        """
        now = self.clock()
        state = await self.schedule.acquire(self.holder, now=now, until=now + self.lease)
        if state is None:
            return 0
        # Closed by an earlier holder (or an earlier run of this one) and not done: it may
        # have claimed notices there without publishing them.
        recovering_through, closed = state.closed, state.closed
        last_past = bucket_of(now - BUCKET)
        if last_past > closed:
            if not await self.schedule.close(
                self.holder, last_past, after=closed, until=now + self.lease
            ):
                log.warning("expiry lease lost before bucket %s", last_past)
                return 0
            closed = last_past
        published = 0
        for bucket in await self.schedule.buckets_between(state.done, closed):
            if self.loop.stopping:
                return published
            published += await self.announce(bucket, recovering=bucket <= recovering_through)
            if not await self._finish(bucket):
                return published
        await self._finish(closed)
        return published

    async def _finish(self, bucket: str) -> bool:
        if await self.schedule.finish(self.holder, bucket, until=self.clock() + self.lease):
            return True
        log.warning("expiry lease lost in bucket %s", bucket)
        return False

    async def announce(self, bucket: str, *, recovering: bool = False) -> int:
        """Claim and publish every notice of one closed bucket; the notices published.

        `recovering`: the bucket was closed by a holder that may have died between claims
        and publication, so every notice claimed in it is published (again, same ids).
        """
        entries = [parse_entry(text) for text in await self.schedule.entries(bucket)]
        published = 0
        for first in range(0, len(entries), self.page):
            page = entries[first : first + self.page]
            published += await self._announce(page, recovering=recovering)
        return published

    async def _announce(self, entries: Sequence[tuple[str, str]], *, recovering: bool) -> int:
        now = self.clock()
        ids = list(dict.fromkeys(credential_id for _, credential_id in entries))
        records = await self.credentials.get_many(ids)
        issuers = {record.issuer_id for record in records.values()}
        leads = {issuer: await self.leads.of(issuer) for issuer in issuers}
        claims: dict[tuple[str, str], Announcement] = {}
        waiting = []
        for kind, credential_id in entries:
            record = records.get(credential_id)
            if record is None or not eligible(
                record, kind, lead_days=leads[record.issuer_id], now=now
            ):
                continue
            if record.busy:
                # A revocation, suspension or reinstatement is on its way to the log: after it.
                waiting.append(entry(kind, credential_id))
                continue
            claims[(kind, credential_id)] = Announcement(
                credential_id,
                kind,
                derived_event_id(credential_id, kind),
                target_status(kind),
                EXPIRED_SOURCES if kind == EXPIRED_KIND else frozenset({ACTIVE}),
            )
        await self.credentials.announce(list(claims.values()))
        claimed = await self.credentials.get_many(ids) if claims else records
        events: dict[str, Envelope] = {}
        renewals: dict[tuple[str, str], Renewal | None] = {}
        for kind, credential_id in entries:
            record = claimed.get(credential_id)
            if record is None or kind not in record.announced or record.valid_until is None:
                continue
            if not recovering and (kind, credential_id) not in claims:
                continue  # announced before (its event came back from the log)
            renewal = await self._renewal(renewals, record.issuer_id, record.achievement_id)
            envelope = derived_envelope(
                notice(record, kind, renewal), source=self.source, purpose=kind, time=now
            )
            events[envelope.id] = envelope
        if events:
            await self.publisher.publish_many(list(events.values()), topic=self.topic)
        if waiting:
            await self.scheduling.add({await self.schedule.opened(now): waiting})
        return len(events)

    async def _renewal(
        self,
        known: dict[tuple[str, str], Renewal | None],
        institution: str,
        achievement_id: str | None,
    ) -> Renewal | None:
        if achievement_id is None:
            return None
        key = (institution, achievement_id)
        if key not in known:
            known[key] = await self.policies.renewal(institution, achievement_id)
        return known[key]


class ExpiryPolicy:
    """Institutions set their lead times and their achievements' renewal instructions."""

    def __init__(self, policies: ExpiryPolicies, leads: LeadTimes) -> None:
        self.policies = policies
        self.leads = leads

    async def lead_days(self, institution: str) -> tuple[int, ...]:
        """The lead times in force for `institution` (the default until it sets its own)."""
        return await self.leads.of(institution)

    async def set_lead_days(self, institution: str, lead_days: Sequence[int]) -> tuple[int, ...]:
        """Replace the lead times (longest first) of credentials scheduled from now on."""
        kept = tuple(sorted(set(lead_days), reverse=True))
        await self.policies.set_lead_days(institution, kept)
        self.leads.forget(institution)
        return kept

    async def renewal(self, institution: str, achievement_id: str) -> Renewal | None:
        """The renewal instructions of one achievement, if any."""
        return await self.policies.renewal(institution, achievement_id)

    async def set_renewal(
        self, institution: str, achievement_id: str, renewal: Renewal | None
    ) -> None:
        """Attach (or, with None, remove) an achievement's renewal instructions."""
        await self.policies.set_renewal(institution, achievement_id, renewal)
