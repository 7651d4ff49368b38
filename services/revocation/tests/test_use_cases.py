"""The status change use case over fakes: 404, 403, 409, 202, 503, one winner among concurrent
requests, a claim that never outlives a publish that did not succeed, and the view the
projection builds from the log (the service's own events included) ruling what may change."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from credreg_revocation.adapters.fakes import InMemoryCredentialRepository
from credreg_revocation.api import ERROR_STATUSES
from credreg_revocation.domain import (
    REINSTATEMENT,
    REVOCATION,
    SUSPENSION,
    ChangeStatus,
    InvalidReplacement,
    NotTheIssuer,
    Transition,
    TransitionNotAllowed,
    UnknownCredential,
)
from credreg_revocation.projection import OwnershipProjection
from credreg_revocation.use_cases import OutboxRelay, StatusChanges
from credreg_shared.errors import DomainError, PublishUnavailable, Unavailable
from credreg_shared.events import models, samples
from credreg_shared.events.cloudevents import Envelope, new_envelope, to_record
from credreg_shared.messaging import HandlerRegistry, InMemoryPublisher
from credreg_shared.web.problems import PLATFORM_ERROR_STATUSES

TOPIC = "t.credreg.credentials"
CREDENTIAL = "urn:uuid:6f1c2a64-0000-4000-8000-000000000001"
OWNER, OTHER = samples.SAMPLE_ISSUER, "did:web:other-university.example"
HOLDER = samples.SAMPLE_HOLDER
# What the chassis answers for each refusal or outage, as the app installs it.
STATUSES = {**PLATFORM_ERROR_STATUSES, **ERROR_STATUSES}


class Service:
    """The use case, its fakes and the projection, wired as the composition root would."""

    def __init__(self, publisher: InMemoryPublisher | None = None) -> None:
        self.credentials = InMemoryCredentialRepository()
        self.publisher = publisher or InMemoryPublisher()
        self.changes = StatusChanges(
            credentials=self.credentials, publisher=self.publisher, topic=TOPIC, source="urn:t"
        )
        self.projection = OwnershipProjection(self.credentials)
        self.registry = self.projection.register(HandlerRegistry())

    async def deliver(self, envelope: Envelope) -> None:
        """Hand one event to its handlers, as the consumer runner does."""
        for handler in self.registry.handlers_for(envelope.event_type):
            await handler(envelope)

    async def issue(self, credential_id: str = CREDENTIAL) -> Envelope:
        envelope = new_envelope(samples.credential_issued(credential_id, HOLDER), source="urn:i")
        await self.deliver(envelope)
        return envelope

    def published(self) -> list[Envelope]:
        return self.publisher.envelopes(TOPIC)


def revoke(by: str = OWNER, reason: str = "competency out of date") -> ChangeStatus:
    return ChangeStatus(CREDENTIAL, by, REVOCATION, reason=reason)


def lifecycle(kind: type[models.CredentialEvent], **extra: object) -> Envelope:
    data = kind.model_validate(
        {"credential_id": CREDENTIAL, "issuer_id": OWNER, "holder_id": HOLDER, **extra}
    )
    return new_envelope(data, source="urn:elsewhere")


async def outcome(service: Service, command: ChangeStatus) -> int:
    """The HTTP status the use case's answer maps to."""
    try:
        await service.changes.handle(command)
    except (DomainError, Unavailable) as refused:
        return STATUSES[type(refused)]
    return 202


def no_ack(cause: Exception) -> PublishUnavailable:
    """What the Kafka publisher raises when the broker does not acknowledge within its wait."""
    error = PublishUnavailable(f"the event log did not acknowledge ({type(cause).__name__})")
    error.__cause__ = cause
    return error


@pytest.fixture
def service() -> Service:
    return Service()


async def test_owner_revokes_and_the_event_carries_the_request(service: Service) -> None:
    await service.issue()
    await service.issue("urn:uuid:new")  # the replacement: same holder, same institution
    command = ChangeStatus(
        CREDENTIAL, OWNER, REVOCATION, reason="superseded", superseded_by="urn:uuid:new"
    )
    changed = await service.changes.handle(command)
    [event] = service.published()
    assert (changed.credential_id, changed.status, changed.event_id) == (
        CREDENTIAL,
        "revoked",
        event.id,
    )
    data = event.data_as(models.CredentialRevoked)
    assert (data.issuer_id, data.holder_id, data.reason, data.superseded_by) == (
        OWNER,
        HOLDER,
        "superseded",
        "urn:uuid:new",
    )
    assert event.subject == CREDENTIAL
    assert service.publisher.on(TOPIC)[0].key == CREDENTIAL.encode()
    assert service.credentials.status_of(CREDENTIAL) == "revoked"


async def test_unknown_is_404_and_another_institution_is_403_with_nothing_changed(
    service: Service,
) -> None:
    with pytest.raises(UnknownCredential):
        await service.changes.handle(revoke())
    assert await outcome(service, revoke()) == 404
    await service.issue()
    with pytest.raises(NotTheIssuer):
        await service.changes.handle(revoke(by=OTHER))
    assert await outcome(service, revoke(by=OTHER)) == 403
    assert service.published() == []
    assert service.credentials.status_of(CREDENTIAL) == "active"


async def test_second_revocation_is_409(service: Service) -> None:
    await service.issue()
    await service.changes.handle(revoke())
    with pytest.raises(TransitionNotAllowed, match="already revoked"):
        await service.changes.handle(revoke())
    assert await outcome(service, revoke()) == 409
    assert len(service.published()) == 1


async def test_concurrent_revocations_publish_exactly_one_event(service: Service) -> None:
    await service.issue()
    answers = await asyncio.gather(*[outcome(service, revoke()) for _ in range(10)])
    assert sorted(answers) == [202] + [409] * 9
    assert len(service.published()) == 1


async def test_concurrent_revocation_and_suspension_have_one_winner(service: Service) -> None:
    await service.issue()
    suspend = ChangeStatus(CREDENTIAL, OWNER, SUSPENSION)
    answers = await asyncio.gather(outcome(service, revoke()), outcome(service, suspend))
    assert sorted(answers) == [202, 409]
    assert len(service.published()) == 1


async def test_broker_down_undoes_the_claim_and_a_retry_succeeds(service: Service) -> None:
    await service.issue()
    broker_down = no_ack(ConnectionRefusedError())
    service.publisher.fail_with = broker_down
    with pytest.raises(PublishUnavailable) as refused:
        await service.changes.handle(revoke())
    assert str(refused.value) == (
        "the event log did not acknowledge (ConnectionRefusedError); no change is confirmed"
    )
    assert refused.value.__cause__ is broker_down
    assert service.credentials.status_of(CREDENTIAL) == "active"
    assert service.published() == []
    service.publisher.fail_with = None
    changed = await service.changes.handle(revoke())
    assert changed.status == "revoked"
    assert len(service.published()) == 1


async def test_a_retry_after_an_unacknowledged_publish_repeats_its_event_id() -> None:
    # The broker may store a record whose ack never came: the retry must publish under the same
    # id, so that consumers apply the change once, whichever copies reach the log.
    attempted: list[str] = []

    class LateBroker(InMemoryPublisher):
        async def publish(self, envelope: Envelope, *, topic: str | None = None) -> None:
            attempted.append(envelope.id)
            if len(attempted) < 3:
                raise no_ack(TimeoutError())
            await super().publish(envelope, topic=topic)

    service = Service(LateBroker())
    await service.issue()
    suspend = ChangeStatus(CREDENTIAL, OWNER, SUSPENSION)
    assert [await outcome(service, suspend) for _ in range(3)] == [503, 503, 202]
    assert len(set(attempted)) == 1, "a retried request published under a new id"
    [event] = service.published()
    assert event.id == attempted[0]
    # The next change of the credential gets an id of its own.
    await service.changes.handle(ChangeStatus(CREDENTIAL, OWNER, REINSTATEMENT))
    await service.changes.handle(suspend)
    ids = [e.id for e in service.published()]
    assert len(ids) == len(set(ids)) == 3


async def test_a_view_rebuilt_from_the_log_derives_new_ids_past_the_logged_changes() -> None:
    # Replayed from offset 0, the view counts every change on the log, so the next change's
    # derived id is one no consumer has seen (else it would be dropped as a repeat).
    first = Service()
    await first.issue()
    for transition in (SUSPENSION, REINSTATEMENT):
        await first.changes.handle(ChangeStatus(CREDENTIAL, OWNER, transition))
    logged = first.published()
    rebuilt = Service()
    await rebuilt.issue()
    for event in logged:
        data = event.data_as(models.CredentialEvent)
        await rebuilt.credentials.record_status(
            CREDENTIAL,
            issuer_id=data.issuer_id,
            holder_id=data.holder_id,
            event_id=event.id,
            status="suspended" if "suspended" in event.type else "active",
            sources=frozenset({"active", "suspended"}),
        )
    changed = await rebuilt.changes.handle(ChangeStatus(CREDENTIAL, OWNER, SUSPENSION))
    assert changed.event_id not in {event.id for event in logged}


async def test_a_broker_that_never_answers_in_time_is_a_503_with_the_claim_undone() -> None:
    # The real bound on the wait is the Kafka publisher's (tested in shared): past it, the
    # publisher raises PublishUnavailable, as this one does at once.
    service = Service(InMemoryPublisher(fail_with=no_ack(TimeoutError())))
    await service.issue()
    assert await outcome(service, revoke()) == 503
    assert service.credentials.status_of(CREDENTIAL) == "active"
    assert service.credentials.entries[CREDENTIAL].claimed_by is None


async def test_a_cancelled_publish_undoes_the_claim() -> None:
    publishing = asyncio.Event()

    class HangingPublisher(InMemoryPublisher):
        async def publish(self, envelope: Envelope, *, topic: str | None = None) -> None:
            publishing.set()
            await asyncio.Event().wait()

    service = Service(HangingPublisher())
    await service.issue()
    request = asyncio.create_task(service.changes.handle(revoke()))
    await asyncio.wait_for(publishing.wait(), timeout=5)
    assert service.credentials.status_of(CREDENTIAL) == "revoked", "claimed while publishing"
    request.cancel()
    with pytest.raises(asyncio.CancelledError):
        await request
    assert service.credentials.status_of(CREDENTIAL) == "active"
    assert service.credentials.entries[CREDENTIAL].claimed_by is None


async def test_a_failed_revocation_of_a_suspended_credential_leaves_it_suspended(
    service: Service,
) -> None:
    await service.issue()
    await service.changes.handle(ChangeStatus(CREDENTIAL, OWNER, SUSPENSION, reason="audit"))
    service.publisher.fail_with = no_ack(ConnectionRefusedError())
    assert await outcome(service, revoke()) == 503
    assert service.credentials.status_of(CREDENTIAL) == "suspended"


async def test_a_revocation_without_reason_is_refused_before_any_claim(service: Service) -> None:
    await service.issue()
    with pytest.raises(ValueError, match="reason"):
        await service.changes.handle(ChangeStatus(CREDENTIAL, OWNER, REVOCATION))
    assert service.credentials.status_of(CREDENTIAL) == "active"
    assert service.credentials.entries[CREDENTIAL].claimed_by is None


async def test_an_unexpected_publish_error_also_undoes_the_claim(service: Service) -> None:
    await service.issue()
    service.publisher.fail_with = RuntimeError("bug")
    with pytest.raises(RuntimeError):
        await service.changes.handle(revoke())
    assert service.credentials.status_of(CREDENTIAL) == "active"


@pytest.mark.parametrize(
    ("steps", "answers", "final"),
    [
        ([SUSPENSION, REINSTATEMENT, REVOCATION], [202, 202, 202], "revoked"),
        ([SUSPENSION, SUSPENSION], [202, 409], "suspended"),
        ([REINSTATEMENT], [409], "active"),
        ([SUSPENSION, REVOCATION, REINSTATEMENT], [202, 202, 409], "revoked"),
    ],
)
async def test_suspension_and_reinstatement_follow_the_lifecycle(
    service: Service, steps: list[Transition], answers: list[int], final: str
) -> None:
    await service.issue()
    got = [
        await outcome(service, ChangeStatus(CREDENTIAL, OWNER, step, reason="audit"))
        for step in steps
    ]
    assert got == answers
    assert service.credentials.status_of(CREDENTIAL) == final
    assert [e.event_type for e in service.published()] == [
        step.event.event_type for step, answer in zip(steps, answers, strict=True) if answer == 202
    ]


# The view the projection builds from the log (own events included) rules what may change.


async def test_own_events_coming_back_from_the_log_change_nothing(service: Service) -> None:
    await service.issue()
    await service.changes.handle(ChangeStatus(CREDENTIAL, OWNER, SUSPENSION))
    await service.changes.handle(ChangeStatus(CREDENTIAL, OWNER, REINSTATEMENT))
    before = dict(service.credentials.entries[CREDENTIAL].__dict__)
    for envelope in service.published():
        assert not await service.credentials.record_status(
            CREDENTIAL,
            issuer_id=OWNER,
            holder_id=HOLDER,
            event_id=envelope.id,
            status="suspended",
            sources=frozenset({"active"}),
        ), "an event id the claim recorded must be a no-op"
        await service.deliver(envelope)
    assert service.credentials.entries[CREDENTIAL].__dict__ == before
    assert service.credentials.status_of(CREDENTIAL) == "active"


async def test_a_status_event_before_its_issuance_is_kept(service: Service) -> None:
    await service.deliver(lifecycle(models.CredentialRevoked, reason="fraud"))
    await service.issue()
    assert service.credentials.status_of(CREDENTIAL) == "revoked"
    record = await service.credentials.get(CREDENTIAL)
    assert record is not None and record.issuer_id == OWNER
    assert await outcome(service, revoke()) == 409


async def test_expiry_from_the_log_blocks_revocation_and_suspension(service: Service) -> None:
    await service.issue()
    await service.deliver(lifecycle(models.CredentialExpired, valid_until=samples.VALID_UNTIL))
    assert await outcome(service, revoke()) == 409
    assert await outcome(service, ChangeStatus(CREDENTIAL, OWNER, SUSPENSION)) == 409
    assert service.published() == []


class DiesBeforeTheAck:
    """A publisher whose process dies while it waits for the ack: nothing after it runs."""

    class Died(BaseException):
        """Stands for the process's death (no `except` of the use case sees a real one)."""

    async def publish(self, envelope: Envelope, *, topic: str | None = None) -> None:
        raise self.Died

    async def publish_many(self, envelopes: object, *, topic: str | None = None) -> None:
        raise self.Died


async def test_a_replacement_of_another_institution_or_not_in_force_is_refused(
    service: Service,
) -> None:
    await service.issue()
    theirs = "urn:uuid:theirs"
    data = samples.credential_issued(theirs, HOLDER).model_copy(update={"issuer_id": OTHER})
    await service.deliver(new_envelope(data, source="urn:i"))
    await service.issue("urn:uuid:revoked-one")
    await service.deliver(
        new_envelope(
            models.CredentialRevoked(
                credential_id="urn:uuid:revoked-one", issuer_id=OWNER, holder_id=HOLDER, reason="x"
            ),
            source="urn:elsewhere",
        )
    )

    for replacement, reason in (
        (theirs, "issued by another institution"),
        ("urn:uuid:revoked-one", "is revoked, not active"),
    ):
        command = ChangeStatus(
            CREDENTIAL, OWNER, REVOCATION, reason="superseded", superseded_by=replacement
        )
        with pytest.raises(InvalidReplacement, match=reason):
            await service.changes.handle(command)
        assert STATUSES[InvalidReplacement] == 422
    assert service.published() == []
    assert service.credentials.status_of(CREDENTIAL) == "active"


async def test_a_change_whose_process_died_before_the_ack_is_published_by_the_relay() -> None:
    service = Service()
    await service.issue()
    # What a kill -9 between the claim and the ack leaves: the claim with its event in the
    # outbox (the use case's undo never ran).
    dying = StatusChanges(
        credentials=service.credentials,
        publisher=DiesBeforeTheAck(),
        topic=TOPIC,
        source="urn:t",
    )
    undo = service.credentials.release
    service.credentials.release = no_undo  # type: ignore[method-assign]
    with pytest.raises(DiesBeforeTheAck.Died):
        await dying.handle(revoke())
    service.credentials.release = undo  # type: ignore[method-assign]
    assert service.published() == []
    assert service.credentials.status_of(CREDENTIAL) == "revoked"

    now = datetime.now(UTC)
    relay = OutboxRelay(service.changes, grace=timedelta(seconds=15), clock=lambda: now)
    assert await relay.relay_once() == 0  # too young: a request may still be waiting for it
    later = OutboxRelay(service.changes, grace=timedelta(seconds=15), clock=lambda: now + HOUR)

    assert await later.relay_once() == 1
    [event] = service.published()
    assert event.data_as(models.CredentialRevoked).reason == "competency out of date"
    assert await later.relay_once() == 0  # published once
    assert await service.credentials.outbox(CREDENTIAL) is None
    # A retry of the request meets the revocation, not a stuck claim.
    assert await outcome(service, revoke()) == 409


async def test_a_new_change_waits_for_an_earlier_event_still_in_the_outbox(
    service: Service,
) -> None:
    await service.issue()
    event = lifecycle(models.CredentialSuspended, reason="under review")
    long_ago = datetime.now(UTC) - HOUR
    await service.credentials.mark_pending(CREDENTIAL, event_id=event.id, at=long_ago)
    await service.credentials.claim(
        CREDENTIAL,
        issuer_id=OWNER,
        event_id=event.id,
        status="suspended",
        sources=frozenset({"active"}),
        outbox=to_record(event),
    )

    # Revoking a suspended credential is allowed, but not before the suspension is on the log.
    assert await outcome(service, revoke()) == 503
    assert await OutboxRelay(service.changes, grace=timedelta(seconds=15)).relay_once() == 1
    assert await outcome(service, revoke()) == 202

    assert [e.type for e in service.published()] == [
        models.CredentialSuspended.event_type,
        models.CredentialRevoked.event_type,
    ]
    assert service.credentials.status_of(CREDENTIAL) == "revoked"


async def no_undo(credential_id: str, *, event_id: str, status: str) -> bool:
    raise DiesBeforeTheAck.Died  # the process is gone: its undo never runs


HOUR = timedelta(hours=1)
