"""The issue use case over fakes: ids, one event per credential, idempotent retries, outages."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import pytest

from credreg_issuer.adapters.fakes import InMemoryIdempotencyRecords
from credreg_issuer.cpu import run_inline
from credreg_issuer.domain import CredentialSigner, IdempotencyKeyReused, credential_id_for
from credreg_issuer.use_cases import ISSUE_PIECE, IssueCredentials
from credreg_shared.credentials.schema_validation import achievement_credential_errors
from credreg_shared.errors import PublishUnavailable, StorageUnavailable
from credreg_shared.events import models
from credreg_shared.events.cloudevents import KafkaRecord, derived_event_id
from credreg_shared.messaging import InMemoryPublisher
from credreg_shared.testing import eventually

from .fixtures import OTHER_UNI, UNI, command

TOPIC = "unit.credreg.credentials"
URN_UUID = re.compile(
    r"urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"
)


class Issuer:
    """The use case wired to fakes."""

    def __init__(self, lease: timedelta = timedelta(seconds=15)) -> None:
        self.publisher = InMemoryPublisher()
        self.records = InMemoryIdempotencyRecords()
        self.use_case = IssueCredentials(
            publisher=self.publisher,
            records=self.records,
            signer=CredentialSigner({}),
            topic=TOPIC,
            source="urn:credreg:issuer",
            publication_lease=lease,
        )

    def published(self) -> list[models.CredentialIssued]:
        return [e.data_as(models.CredentialIssued) for e in self.publisher.envelopes(TOPIC)]


def test_credential_ids_are_fresh_without_a_key_and_derived_with_one() -> None:
    fresh = {credential_id_for(UNI, None) for _ in range(3)}
    assert len(fresh) == 3
    assert all(URN_UUID.fullmatch(i) for i in fresh)
    derived = credential_id_for(UNI, "k-1")
    assert URN_UUID.fullmatch(derived)
    assert derived == credential_id_for(UNI, "k-1")
    assert len({derived, credential_id_for(UNI, "k-2"), credential_id_for(OTHER_UNI, "k-1")}) == 3


def test_with_a_secret_ids_are_keyed_so_a_known_key_does_not_give_the_id_away() -> None:
    keyed = credential_id_for(UNI, "k-1", secret=b"deployment secret")
    assert keyed == credential_id_for(UNI, "k-1", secret=b"deployment secret")
    assert keyed != credential_id_for(UNI, "k-1"), "not the unkeyed derivation"
    assert keyed != credential_id_for(UNI, "k-1", secret=b"another secret")
    assert keyed != credential_id_for(OTHER_UNI, "k-1", secret=b"deployment secret")
    assert keyed.startswith("urn:uuid:")


async def test_issue_publishes_one_schema_valid_event_keyed_by_the_credential_id() -> None:
    issuer = Issuer()
    envelope = await issuer.use_case.handle(command(), institution=UNI)
    [record] = issuer.publisher.on(TOPIC)
    [event] = issuer.published()
    assert record.key == event.credential_id.encode() == envelope.subject.encode()
    assert URN_UUID.fullmatch(event.credential_id)
    assert envelope.id == derived_event_id(event.credential_id, "issued")
    assert (event.issuer_id, event.holder_id) == (UNI, "did:example:ada")
    assert [c.name for c in event.competencies] == ["Read charts", "Clean data"]
    credential: dict[str, Any] = event.credential
    assert credential["id"] == event.credential_id
    assert credential["issuer"]["id"] == UNI
    assert credential["credentialSubject"]["id"] == "did:example:ada"
    achievement = credential["credentialSubject"]["achievement"]
    assert achievement["achievementType"] == "MicroCredential"
    assert achievement["learningHours"] == "12.5"
    assert achievement["alignment"][1]["targetUrl"] == "https://skills.example/clean-data"
    assert "proof" not in credential
    assert achievement_credential_errors(credential) == []


async def test_a_learner_without_a_did_is_identified_by_a_salted_hash_only() -> None:
    issuer = Issuer()
    await issuer.use_case.handle(command("student-4711"), institution=UNI)
    [event] = issuer.published()
    assert "student-4711" not in str(event.credential)
    [identity] = event.credential["credentialSubject"]["identifier"]
    assert identity["hashed"] is True
    assert achievement_credential_errors(event.credential) == []


async def test_the_same_key_answers_the_same_credential_and_publishes_once() -> None:
    issuer = Issuer()
    first = await issuer.use_case.handle(command(), institution=UNI, idempotency_key="k-1")
    again = await issuer.use_case.handle(command(), institution=UNI, idempotency_key="k-1")
    assert again == first
    assert first.subject == credential_id_for(UNI, "k-1")
    assert len(issuer.published()) == 1
    other_key = await issuer.use_case.handle(command(), institution=UNI, idempotency_key="k-2")
    other_uni = await issuer.use_case.handle(
        command(), institution=OTHER_UNI, idempotency_key="k-1"
    )
    assert len({first.subject, other_key.subject, other_uni.subject}) == 3
    assert len(issuer.published()) == 3


async def test_a_key_reused_for_another_request_is_refused_and_publishes_nothing() -> None:
    issuer = Issuer()
    await issuer.use_case.handle(command(), institution=UNI, idempotency_key="k-1")
    with pytest.raises(IdempotencyKeyReused):
        await issuer.use_case.handle(command(name="Other"), institution=UNI, idempotency_key="k-1")
    assert len(issuer.published()) == 1


async def test_concurrent_requests_with_one_key_issue_one_credential() -> None:
    issuer = Issuer()
    answers = await asyncio.gather(
        *[
            issuer.use_case.handle(command(), institution=UNI, idempotency_key="k-1")
            for _ in range(5)
        ]
    )
    assert len({answer.model_dump_json() for answer in answers}) == 1
    # Racing requests may each publish, but only the one stored event: consumers see one.
    published = issuer.publisher.envelopes(TOPIC)
    assert {e.model_dump_json() for e in published} == {answers[0].model_dump_json()}


NOT_CONFIRMED = "no credential is confirmed as issued: retry with the same Idempotency-Key"


def not_acknowledged(cause: str) -> PublishUnavailable:
    """What the Kafka publisher raises when the broker did not ack in time."""
    return PublishUnavailable(f"the event log did not acknowledge ({cause})")


@pytest.mark.parametrize("cause", ["KafkaConnectionError", "KafkaTimeoutError", "TimeoutError"])
async def test_broker_down_is_unavailable_and_the_retry_publishes_the_stored_event(
    cause: str,
) -> None:
    issuer = Issuer()
    issuer.publisher.fail_with = failure = not_acknowledged(cause)
    with pytest.raises(PublishUnavailable, match=f"\\({cause}\\); {NOT_CONFIRMED}") as raised:
        await issuer.use_case.handle(command(), institution=UNI, idempotency_key="k-1")
    assert raised.value.__cause__ is failure
    with pytest.raises(PublishUnavailable, match=NOT_CONFIRMED):
        await issuer.use_case.handle(command(), institution=UNI)
    assert issuer.publisher.records == []
    [pending] = issuer.records.records.values()
    assert pending.published is False

    issuer.publisher.fail_with = None
    answer = await issuer.use_case.handle(command(), institution=UNI, idempotency_key="k-1")
    # The retry publishes the event stored by the failed attempt, not a new credential: its
    # very bytes.
    assert answer == pending.envelope
    assert issuer.publisher.envelopes(TOPIC) == [answer]
    [sent] = issuer.publisher.records
    assert (sent.key, sent.value, list(sent.headers)) == (
        pending.event.key,
        pending.event.value,
        pending.event.headers,
    )
    assert issuer.records.records[(UNI, "k-1")].published is True
    await issuer.use_case.handle(command(), institution=UNI, idempotency_key="k-1")
    assert len(issuer.publisher.records) == 1


async def test_database_down_is_unavailable_and_nothing_is_published() -> None:
    issuer = Issuer()
    issuer.records.fail_with = failure = StorageUnavailable(
        "the database is unavailable (ServerSelectionTimeoutError)"
    )
    with pytest.raises(
        StorageUnavailable, match=r"\(ServerSelectionTimeoutError\); nothing was"
    ) as raised:
        await issuer.use_case.handle(command(), institution=UNI, idempotency_key="k-1")
    assert raised.value.__cause__ is failure
    assert issuer.publisher.records == []


async def test_acknowledged_but_unmarked_is_issued_and_a_retry_republishes_the_same_event() -> None:
    issuer = Issuer(lease=timedelta(seconds=0.3))
    issuer.records.fail_marking_with = StorageUnavailable("the database is unavailable")
    first = await issuer.use_case.handle(command(), institution=UNI, idempotency_key="k-1")
    issuer.records.fail_marking_with = None
    # The first request's lease still holds: the retry waits for it to run out, then publishes.
    again = await issuer.use_case.handle(command(), institution=UNI, idempotency_key="k-1")
    assert again == first
    # Same event id twice on the log: consumers deduplicate it.
    assert [e.id for e in issuer.publisher.envelopes(TOPIC)] == [first.id, first.id]
    await issuer.use_case.handle(command(), institution=UNI, idempotency_key="k-1")
    assert len(issuer.publisher.records) == 2


async def test_concurrent_retries_with_one_key_publish_one_record() -> None:
    issuer = Issuer()
    answers = await asyncio.gather(
        *(
            issuer.use_case.handle(command(), institution=UNI, idempotency_key="k-50")
            for _ in range(50)
        )
    )
    assert len({a.id for a in answers}) == 1
    assert len(issuer.publisher.records) == 1  # not one per retry


async def test_a_failed_publication_lets_the_next_retry_publish_at_once() -> None:
    issuer = Issuer()
    issuer.publisher.fail_with = PublishUnavailable("the event log did not acknowledge")
    with pytest.raises(PublishUnavailable):
        await issuer.use_case.handle(command(), institution=UNI, idempotency_key="k-2")
    issuer.publisher.fail_with = None
    async with asyncio.timeout(1):  # no wait for a lease: the failed request gave it up
        await issuer.use_case.handle(command(), institution=UNI, idempotency_key="k-2")
    assert len(issuer.publisher.records) == 1


class HeldPublisher(InMemoryPublisher):
    """Holds every publication of stored events until `release` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()

    async def publish_encoded(self, records: Sequence[KafkaRecord], *, topic: str) -> None:
        await self.release.wait()
        await super().publish_encoded(records, topic=topic)


async def test_issue_many_signs_two_pieces_ahead_while_one_publishes_and_issues_each_once() -> None:
    issuer = Issuer()
    issuer.use_case.publisher = publisher = HeldPublisher()
    signed: list[str] = []

    async def counting(function: Callable[..., Any], /, *args: Any) -> Any:
        events = await run_inline(function, *args)
        signed.extend(event.key.decode() for event in events)  # encoded by the signing process
        return events

    issuer.use_case.run_cpu = counting
    keys = [f"row-{n:03d}" for n in range(ISSUE_PIECE * 4)]
    commands = {key: command(f"did:example:{key}") for key in keys}
    while_first_publishes = ISSUE_PIECE * 3  # the first piece and the two after it

    async def three_pieces_signed() -> int | None:
        return len(signed) if len(signed) >= while_first_publishes else None

    async with asyncio.timeout(10):
        issuing = asyncio.create_task(issuer.use_case.issue_many(UNI, commands))
        signing = "three pieces signed while the first publishes"
        assert await eventually(three_pieces_signed, signing, patience=5) == while_first_publishes
        for _ in range(20):
            await asyncio.sleep(0)
        assert len(signed) == while_first_publishes  # no further: two pieces ahead at most
        assert publisher.records == []
        publisher.release.set()
        issued = await issuing
    published = [r.key.decode() for r in publisher.on(TOPIC) if r.key]
    # Two pieces are signed at once, so their signings interleave; each is signed once.
    assert sorted(published) == sorted(signed)
    assert set(published) == {issued.records[key].event.key.decode() for key in keys}
    assert len(published) == len(keys)
