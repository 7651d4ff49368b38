"""Issuing with fakes: one event per credential, idempotent retries, broker down → 503."""

from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError

from credreg_issuer.idempotency import InMemoryIdempotencyRecords
from credreg_issuer.requests import IssueRequest
from credreg_issuer.service import IssuerService
from credreg_shared.credentials.schema_validation import achievement_credential_errors
from credreg_shared.events import models
from credreg_shared.messaging import InMemoryPublisher
from credreg_shared.web import ProblemError

UNI = "did:web:uni.example"
TOPIC = "t.credreg.credentials"


def request(holder: str = "did:example:ada", name: str = "Data Literacy") -> IssueRequest:
    return IssueRequest.model_validate(
        {
            "holder_id": holder,
            "achievement": {
                "name": name,
                "competencies": [{"name": "Read charts", "code": "DL-1"}, {"name": "Clean data"}],
                "hours": 12.5,
                "delivery_mode": "online",
            },
        }
    )


def service(publisher: InMemoryPublisher) -> IssuerService:
    return IssuerService(
        publisher=publisher, records=InMemoryIdempotencyRecords(), topic=TOPIC, source="urn:t"
    )


async def test_issue_publishes_one_schema_valid_credential_event() -> None:
    publisher = InMemoryPublisher()
    answer = await service(publisher).issue(request(), institution=UNI, idempotency_key=None)
    [envelope] = publisher.envelopes(TOPIC)
    event = envelope.data_as(models.CredentialIssued)
    assert answer["id"] == event.credential_id == envelope.subject
    assert event.issuer_id == UNI
    assert [c.name for c in event.competencies] == ["Read charts", "Clean data"]
    assert event.credential["credentialSubject"]["id"] == "did:example:ada"
    assert achievement_credential_errors(event.credential) == []


async def test_a_learner_without_a_did_is_identified_by_a_salted_hash_only() -> None:
    publisher = InMemoryPublisher()
    await service(publisher).issue(request("student-4711"), institution=UNI, idempotency_key=None)
    credential: dict[str, Any] = (
        publisher.envelopes(TOPIC)[0].data_as(models.CredentialIssued).credential
    )
    assert "student-4711" not in str(credential)
    assert credential["credentialSubject"]["identifier"][0]["hashed"] is True


async def test_the_same_idempotency_key_answers_the_same_and_publishes_once() -> None:
    publisher = InMemoryPublisher()
    issuer = service(publisher)
    first = await issuer.issue(request(), institution=UNI, idempotency_key="k-1")
    second = await issuer.issue(request(), institution=UNI, idempotency_key="k-1")
    other = await issuer.issue(request(), institution=UNI, idempotency_key="k-2")
    assert first == second
    assert other["id"] != first["id"]
    assert len(publisher.envelopes(TOPIC)) == 2
    with pytest.raises(ProblemError) as conflict:
        await issuer.issue(request(name="Other"), institution=UNI, idempotency_key="k-1")
    assert conflict.value.status == 409


async def test_broker_down_is_a_503_and_a_retry_after_recovery_publishes() -> None:
    publisher = InMemoryPublisher(fail_with=KafkaConnectionError())
    issuer = service(publisher)
    with pytest.raises(ProblemError) as down:
        await issuer.issue(request(), institution=UNI, idempotency_key="k-1")
    assert down.value.status == 503
    assert publisher.envelopes(TOPIC) == []
    publisher.fail_with = None
    answer = await issuer.issue(request(), institution=UNI, idempotency_key="k-1")
    assert [e.subject for e in publisher.envelopes(TOPIC)] == [answer["id"]]


def test_validity_window_must_be_ordered() -> None:
    with pytest.raises(ValueError, match="valid_until must be after valid_from"):
        IssueRequest.model_validate(
            {
                **request().model_dump(),
                "valid_from": "2027-01-01T00:00:00Z",
                "valid_until": "2026-01-01T00:00:00Z",
            }
        )
