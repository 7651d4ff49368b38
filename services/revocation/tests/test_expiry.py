"""Expiry over fakes, on a clock the tests move: notices at each lead time and at validUntil,
each once (two replicas, a crash before the broker's ack, redelivery), catch-up after downtime,
no notice for revoked credentials, and suspension past validUntil staying expired."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from credreg_revocation.adapters.fakes import (
    InMemoryCredentialRepository,
    InMemoryExpiryPolicies,
    InMemoryExpirySchedule,
)
from credreg_revocation.domain import (
    REINSTATEMENT,
    REVOCATION,
    SUSPENSION,
    ChangeStatus,
    TransitionNotAllowed,
)
from credreg_revocation.expiry import (
    BUCKET,
    Due,
    bucket_of,
    by_bucket,
    days_between,
    dues,
    next_bucket,
)
from credreg_revocation.projection import OwnershipProjection
from credreg_revocation.scheduling import (
    ExpiryPolicy,
    ExpiryScheduler,
    ExpiryScheduling,
    LeadTimes,
)
from credreg_revocation.use_cases import StatusChanges
from credreg_shared.errors import PublishUnavailable
from credreg_shared.events import models, samples
from credreg_shared.events.cloudevents import (
    Envelope,
    KafkaRecord,
    derived_event_id,
    new_envelope,
    to_record,
)
from credreg_shared.messaging import HandlerRegistry, InMemoryPublisher

TOPIC = "t.credreg.credentials"
ISSUER, HOLDER = samples.SAMPLE_ISSUER, samples.SAMPLE_HOLDER
ACHIEVEMENT = "https://issuer.credreg.example/achievements/cpr-2026"
T0 = datetime(2026, 11, 29, 12, 0, 3, tzinfo=UTC)
UNTIL = T0 + timedelta(days=90)
RENEWAL = models.Renewal(url="https://uni.example/renew", text="Take the refresher.")


class Clock:
    """Time the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def at(self, moment: datetime) -> None:
        self.now = moment


class Service:
    """The projection, the scheduler (or two) and the status changes over one set of fakes."""

    def __init__(self) -> None:
        self.clock = Clock(T0)
        self.credentials = InMemoryCredentialRepository()
        self.schedule = InMemoryExpirySchedule()
        self.policies = InMemoryExpiryPolicies()
        self.publisher = InMemoryPublisher()
        self.leads = LeadTimes(self.policies)
        self.policy = ExpiryPolicy(self.policies, self.leads)
        scheduling = ExpiryScheduling(schedule=self.schedule, leads=self.leads, clock=self.clock)
        self.projection = OwnershipProjection(self.credentials, scheduling)
        self.registry = self.projection.register(HandlerRegistry())
        self.changes = StatusChanges(
            credentials=self.credentials,
            publisher=self.publisher,
            topic=TOPIC,
            source="urn:t",
            clock=self.clock,
        )

    def scheduler(self, holder: str = "replica-a") -> ExpiryScheduler:
        return ExpiryScheduler(
            schedule=self.schedule,
            credentials=self.credentials,
            policies=self.policies,
            publisher=self.publisher,
            topic=TOPIC,
            source="urn:t",
            leads=self.leads,
            clock=self.clock,
            holder=holder,
            page=3,
        )

    async def deliver(self, envelope: Envelope) -> None:
        for handler in self.registry.handlers_for(envelope.event_type):
            await handler(envelope)

    async def issue(self, credential_id: str, valid_until: datetime | None = UNTIL) -> Envelope:
        data = samples.credential_issued(credential_id, HOLDER).model_copy(
            update={"valid_until": valid_until}
        )
        envelope = new_envelope(data, source="urn:issuer", time=self.clock())
        await self.deliver(envelope)
        return envelope

    def notices(self) -> list[tuple[str, str, int | None]]:
        """(type, credential, lead days) of every notice published, in order."""
        found = []
        for envelope in self.publisher.envelopes(TOPIC):
            data = envelope.data
            if isinstance(data, models.CredentialExpiring):
                found.append(("expiring", data.credential_id, data.lead_days))
            elif isinstance(data, models.CredentialExpired):
                found.append(("expired", data.credential_id, None))
        return found

    async def status(self, credential_id: str) -> str | None:
        record = await self.credentials.get(credential_id)
        return record.status if record else None


@pytest.fixture
def service() -> Service:
    return Service()


# --- the schedule's arithmetic ----------------------------------------------------------


def test_buckets_are_ten_seconds_named_by_their_start() -> None:
    assert bucket_of(datetime(2026, 11, 29, 19, 5, 17, 999, tzinfo=UTC)) == "2026-11-29T19:05:10"
    assert next_bucket("2026-11-29T23:59:50") == "2026-11-30T00:00:00"
    assert days_between("2026-11-29T23:59:50", "2026-12-01T00:00:00") == [
        "2026-11-30",
        "2026-12-01",
    ]
    assert BUCKET == timedelta(seconds=10)


def test_dues_give_one_notice_per_lead_time_and_one_at_expiry() -> None:
    found = dues("c", UNTIL, (60, 7), T0)
    assert found == [
        Due("c", "expired", UNTIL),
        Due("c", "expiring:7", UNTIL - timedelta(days=7)),
        Due("c", "expiring:60", UNTIL - timedelta(days=60)),
    ]


def test_lead_times_already_reached_give_one_notice_at_once_the_shortest() -> None:
    soon = T0 + timedelta(days=10)
    assert dues("c", soon, (60, 30, 7), T0) == [
        Due("c", "expired", soon),
        Due("c", "expiring:7", soon - timedelta(days=7)),
        Due("c", "expiring:30", T0),
    ]
    assert dues("c", T0 - timedelta(days=1), (30,), T0) == [
        Due("c", "expired", T0 - timedelta(days=1))
    ], "already expired: no expiring notice"


def test_a_due_time_in_a_closed_bucket_goes_to_the_first_open_one() -> None:
    first_open = bucket_of(T0)
    planned = [Due("c", "expired", T0 - timedelta(days=3)), Due("c", "expiring:7", UNTIL)]
    assert by_bucket(planned, first_open) == {
        first_open: ["expired|c"],
        bucket_of(UNTIL): ["expiring:7|c"],
    }


# --- the scheduler --------------------------------------------------------------------------


async def test_notices_at_each_lead_time_then_expiry_each_once(service: Service) -> None:
    await service.policies.set_lead_days(ISSUER, (60, 7))
    await service.policy.set_renewal(ISSUER, ACHIEVEMENT, RENEWAL)
    await service.issue("c-1")
    scheduler = service.scheduler()
    assert await scheduler.run_once() == 0
    service.clock.at(UNTIL - timedelta(days=60) - timedelta(seconds=1))
    assert await scheduler.run_once() == 0, "not before its time"
    service.clock.at(UNTIL - timedelta(days=60) + BUCKET)
    assert await scheduler.run_once() == 1
    assert await scheduler.run_once() == 0, "never twice"
    service.clock.at(UNTIL - timedelta(days=7) + BUCKET)
    assert await scheduler.run_once() == 1
    service.clock.at(UNTIL + BUCKET)
    assert await scheduler.run_once() == 1
    assert service.notices() == [
        ("expiring", "c-1", 60),
        ("expiring", "c-1", 7),
        ("expired", "c-1", None),
    ]
    assert await service.status("c-1") == "expired"
    envelopes = service.publisher.envelopes(TOPIC)
    assert [e.id for e in envelopes] == [
        derived_event_id("c-1", kind) for kind in ("expiring:60", "expiring:7", "expired")
    ]
    for envelope in envelopes:
        assert isinstance(envelope.data, models.CredentialExpiring | models.CredentialExpired)
        assert envelope.data.renewal == RENEWAL
        assert envelope.data.valid_until == UNTIL


async def test_the_default_lead_time_is_thirty_days(service: Service) -> None:
    await service.issue("c-1")
    service.clock.at(UNTIL - timedelta(days=30) + BUCKET)
    assert await service.scheduler().run_once() == 1
    assert service.notices() == [("expiring", "c-1", 30)]


async def test_after_downtime_it_catches_up_on_everything_due_and_goes_on(
    service: Service,
) -> None:
    await service.policies.set_lead_days(ISSUER, (7,))
    for n, days in enumerate((1, 2, 3)):
        await service.issue(f"c-{n}", T0 + timedelta(days=days))
    # Three credentials issued within their lead time: an expiring notice each, at once.
    service.clock.at(T0 + BUCKET)
    assert await service.scheduler().run_once() == 3
    service.clock.at(T0 + timedelta(days=2, hours=12))  # down for two and a half days
    assert await service.scheduler().run_once() == 2
    assert [n for n in service.notices() if n[0] == "expired"] == [
        ("expired", "c-0", None),
        ("expired", "c-1", None),
    ]
    service.clock.at(T0 + timedelta(days=4))
    assert await service.scheduler().run_once() == 1
    assert await service.status("c-2") == "expired"


async def test_two_replicas_announce_each_notice_once(service: Service) -> None:
    for n in range(20):
        await service.issue(f"c-{n}", T0 + timedelta(hours=1, seconds=n))
    a, b = service.scheduler("a"), service.scheduler("b")
    counts = []
    for moment in (T0 + BUCKET, T0 + timedelta(hours=2)):
        service.clock.at(moment)
        counts += await asyncio.gather(a.run_once(), b.run_once(), a.run_once(), b.run_once())
    expected = {("expiring", f"c-{n}", 30) for n in range(20)} | {
        ("expired", f"c-{n}", None) for n in range(20)
    }
    assert sum(counts) == 40
    assert sorted(service.notices()) == sorted(expected)


async def test_a_replica_holding_the_lease_keeps_the_other_out_until_it_lapses(
    service: Service,
) -> None:
    await service.issue("c-1", T0 + timedelta(minutes=5))
    a, b = service.scheduler("a"), service.scheduler("b")
    a.lease = timedelta(minutes=10)
    service.clock.at(T0 + BUCKET)
    assert await a.run_once() == 1  # the expiring notice, at once; a holds the lease
    service.clock.at(T0 + timedelta(minutes=5) + BUCKET)
    assert await b.run_once() == 0, "a's lease has not lapsed"
    service.clock.at(T0 + timedelta(minutes=11))
    assert await b.run_once() == 1
    assert service.notices()[-1] == ("expired", "c-1", None)


async def test_a_replica_that_dies_before_the_ack_leaves_the_notice_to_the_next(
    service: Service,
) -> None:
    await service.issue("c-1", T0 + timedelta(minutes=5))
    service.clock.at(T0 + timedelta(minutes=10))
    service.publisher.fail_with = PublishUnavailable("no ack")
    with pytest.raises(PublishUnavailable):
        await service.scheduler("a").run_once()
    assert await service.status("c-1") == "expired", "claimed before the publish"
    service.publisher.fail_with = None
    # "a" is gone; its lease lapses, and "b" reads the bucket that "a" closed again.
    service.clock.at(T0 + timedelta(minutes=11))
    assert await service.scheduler("b").run_once() == 1
    # (Its expiring notice was never sent: the credential had expired when its turn came.)
    assert service.notices() == [("expired", "c-1", None)]


async def test_revoked_and_superseded_credentials_get_no_expiry_notices(
    service: Service,
) -> None:
    await service.policies.set_lead_days(ISSUER, (1,))
    for name in ("old", "new", "revoked"):
        await service.issue(name, T0 + timedelta(days=3))
    await service.changes.handle(ChangeStatus("revoked", ISSUER, REVOCATION, reason="fraud"))
    await service.changes.handle(
        ChangeStatus("old", ISSUER, REVOCATION, reason="superseded", superseded_by="new")
    )
    for moment in (T0 + timedelta(days=2, minutes=1), T0 + timedelta(days=4)):
        service.clock.at(moment)
        await service.scheduler().run_once()
    assert sorted(service.notices()) == [("expired", "new", None), ("expiring", "new", 1)]
    assert await service.status("old") == "revoked"


async def test_suspended_past_valid_until_expires_and_stays_expired(service: Service) -> None:
    await service.issue("c-1", T0 + timedelta(days=1))
    await service.changes.handle(ChangeStatus("c-1", ISSUER, SUSPENSION, reason="audit"))
    service.clock.at(T0 + timedelta(days=2))
    # Before the scheduler ran: the reinstatement is refused all the same.
    with pytest.raises(TransitionNotAllowed, match="expired"):
        await service.changes.handle(ChangeStatus("c-1", ISSUER, REINSTATEMENT))
    await service.scheduler().run_once()
    assert ("expired", "c-1", None) in service.notices()
    assert await service.status("c-1") == "expired"
    with pytest.raises(TransitionNotAllowed):
        await service.changes.handle(ChangeStatus("c-1", ISSUER, REINSTATEMENT))


async def test_a_credential_busy_with_a_change_gets_its_notice_in_a_later_bucket(
    service: Service,
) -> None:
    await service.issue("c-1", T0 + timedelta(minutes=5))
    service.clock.at(T0 + timedelta(minutes=5) + BUCKET)
    # A suspension claimed, its event still in the outbox (its request waits for the ack).
    record = await service.credentials.get("c-1")
    assert record is not None
    await service.credentials.claim(
        "c-1",
        issuer_id=ISSUER,
        event_id="e-suspension",
        status="suspended",
        sources=frozenset({"active"}),
        outbox=_record_of(samples.credential_revoked("c-1")),
    )
    scheduler = service.scheduler()
    await scheduler.run_once()
    assert ("expired", "c-1", None) not in service.notices()
    await service.credentials.published("c-1", event_id="e-suspension")
    service.clock.at(service.clock() + BUCKET * 2)
    await scheduler.run_once()
    assert ("expired", "c-1", None) in service.notices()
    assert await service.status("c-1") == "expired"


async def test_an_entry_added_to_a_bucket_closed_meanwhile_is_handed_on(
    service: Service,
) -> None:
    scheduling = ExpiryScheduling(
        schedule=service.schedule, leads=service.leads, clock=service.clock
    )
    first = await service.schedule.opened(T0)
    scheduler = service.scheduler()
    service.clock.at(T0 + timedelta(minutes=1))
    await scheduler.run_once()  # closes `first` and the buckets after it
    closed = await service.schedule.closed()
    assert closed is not None and closed >= first
    await scheduling.add({first: ["expired|late"]})
    assert "expired|late" in await service.schedule.entries(next_bucket(closed))


async def test_a_lead_time_the_institution_dropped_gives_no_notice(service: Service) -> None:
    await service.policies.set_lead_days(ISSUER, (60, 7))
    await service.issue("c-1")
    await service.policy.set_lead_days(ISSUER, [7])
    service.clock.at(UNTIL - timedelta(days=7) + BUCKET)
    await service.scheduler().run_once()
    assert service.notices() == [("expiring", "c-1", 7)]


async def test_a_redelivered_issuance_schedules_nothing_new(service: Service) -> None:
    envelope = await service.issue("c-1", T0 + timedelta(days=40))
    await service.deliver(envelope)
    assert [len(slots) for slots in service.schedule.buckets.values()] == [1, 1]


async def test_notices_read_back_from_the_log_are_not_announced_again(
    service: Service,
) -> None:
    await service.issue("c-1", T0 + timedelta(days=60))
    data = models.CredentialExpiring(
        credential_id="c-1", issuer_id=ISSUER, holder_id=HOLDER, valid_until=UNTIL, lead_days=30
    )
    replayed = new_envelope(data, source="urn:t", event_id=derived_event_id("c-1", "expiring:30"))
    await service.deliver(replayed)
    service.clock.at(T0 + timedelta(days=31))
    assert await service.scheduler().run_once() == 0


async def test_a_stopped_scheduler_gives_its_lease_up(service: Service) -> None:
    a = service.scheduler("a")
    a.poll = 3600
    task = asyncio.create_task(a.run())
    await asyncio.sleep(0.05)
    a.stop()
    await asyncio.wait_for(task, timeout=5)
    assert await service.schedule.acquire("b", now=T0, until=T0 + BUCKET) is not None


async def test_credentials_without_valid_until_are_never_scheduled(service: Service) -> None:
    await service.issue("c-1", None)
    service.clock.at(T0 + timedelta(days=3650))
    assert await service.scheduler().run_once() == 0
    assert service.schedule.buckets == {}


def _record_of(data: models.CredentialEvent) -> KafkaRecord:
    return to_record(new_envelope(data, source="urn:t"))
