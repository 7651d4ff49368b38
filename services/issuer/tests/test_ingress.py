"""Issuance requests over Kafka, over fakes: answered on the results topic, issued once."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from credreg_issuer.adapters.fakes import in_memory_adapters
from credreg_issuer.bootstrap import build_app
from credreg_issuer.ingress import AnswerIssuanceRequests
from credreg_issuer.use_cases import IssueCredentials, ManageInstitutions
from credreg_shared.events import CREDENTIALS_TOPIC, models
from credreg_shared.events.cloudevents import from_record, new_envelope
from credreg_shared.messaging import InMemoryPublisher
from credreg_shared.messaging.handlers import ConsumedEvent

from .fixtures import ADMIN, body, keeping_settings

UNI_A = "did:web:issuer.example:institutions:uni-a"
UNI_B = "did:web:issuer.example:institutions:uni-b"
PREFIX = "unit.credreg.issuance-requests"
RESULTS = "unit.credreg.issuance-results"


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass
class Ingress:
    answer: AnswerIssuanceRequests
    publisher: InMemoryPublisher
    offset: int = 0

    async def send(self, *requests: tuple[str, models.IssuanceRequested]) -> None:
        events = []
        for slug, request in requests:
            self.offset += 1
            envelope = new_envelope(request, source="urn:registrar:uni-a")
            events.append(ConsumedEvent(envelope, f"{PREFIX}.{slug}", 0, self.offset))
        await self.answer.apply(events)

    def results(self) -> list[models.IssuanceResult]:
        return [
            from_record(r.key, r.value, r.headers).data_as(models.IssuanceResult)
            for r in self.publisher.records
            if r.topic == RESULTS
        ]

    def issued(self) -> list[str]:
        return [
            r.key.decode() for r in self.publisher.records if r.topic.endswith(CREDENTIALS_TOPIC)
        ]


def request(request_id: str, institution: str = UNI_A, **changes: Any) -> models.IssuanceRequested:
    return models.IssuanceRequested(
        request_id=request_id, institution_id=institution, credential=body(**changes)
    )


@pytest.fixture
async def ingress() -> AsyncIterator[Ingress]:
    settings = keeping_settings()
    publisher = InMemoryPublisher()
    app = build_app(settings, fakes=in_memory_adapters(publisher=publisher))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://issuer") as client:
        for slug in ("uni-a", "uni-b"):
            created = await client.post(
                "/v1/institutions", json={"slug": slug, "name": slug}, headers=ADMIN
            )
            assert created.status_code == 201
    answer = AnswerIssuanceRequests(
        issue=app.state.use_cases[IssueCredentials],
        institutions=app.state.use_cases[ManageInstitutions],
        publisher=publisher,
        requests_prefix=PREFIX,
        results_topic=RESULTS,
        source="urn:credreg:issuer",
    )
    yield Ingress(answer, publisher)


async def test_a_request_is_issued_and_answered_accepted(ingress: Ingress) -> None:
    await ingress.send(("uni-a", request("r-1")))

    (result,) = ingress.results()
    assert result.status == "accepted"
    assert result.request_id == "r-1" and result.institution_id == UNI_A
    assert ingress.issued() == [result.credential_id]
    issued = next(r for r in ingress.publisher.records if r.topic.endswith(CREDENTIALS_TOPIC))
    assert dict(issued.headers)["ce_id"].decode() == result.issued_event_id
    assert json.loads(issued.value)["credential"]["proof"]  # signed by the institution's key


async def test_a_redelivered_request_is_answered_the_same_and_issued_once(
    ingress: Ingress,
) -> None:
    envelope = new_envelope(request("r-1"), source="urn:registrar:uni-a")
    delivered = ConsumedEvent(envelope, f"{PREFIX}.uni-a", 0, 1)
    await ingress.answer.apply([delivered])
    await ingress.answer.apply([delivered])
    # The registrar sending the same request again (a new record) is the same request too.
    await ingress.send(("uni-a", request("r-1")))

    results = ingress.results()
    assert {r.credential_id for r in results} == {results[0].credential_id}
    assert len(ingress.issued()) == 1
    answers = [r for r in ingress.publisher.records if r.topic == RESULTS]
    ids = [dict(a.headers)["ce_id"] for a in answers]
    assert ids[0] == ids[1] != ids[2]  # a redelivered record: the same answer, one event id


async def test_requests_that_cannot_be_issued_are_answered_rejected_with_reasons(
    ingress: Ingress,
) -> None:
    await ingress.send(
        ("uni-a", request("r-1")),
        ("uni-b", request("r-2")),  # uni-a's request on uni-b's topic
        ("uni-a", request("r-3", valid_until="2001-01-01T00:00:00Z")),
        ("uni-a", request("r-1", name="Something else")),  # r-1 reused for another credential
        ("nobody", request("r-4")),
    )

    answered = ingress.results()
    first, reused = [r for r in answered if r.request_id == "r-1"]
    results = {r.request_id: r for r in answered}
    assert first.status == "accepted"
    assert [r.status for r in answered].count("rejected") == 4
    assert results["r-2"].errors[0].field == "institution_id"
    assert UNI_B in results["r-2"].errors[0].message
    assert results["r-3"].errors[0].field == "credential"
    assert "valid_until" in results["r-3"].errors[0].message
    assert reused.errors[0].field == "request_id"
    assert "no institution owns" in results["r-4"].errors[0].message
    assert len(ingress.issued()) == 1


async def test_an_unreadable_request_is_answered_rejected_when_its_key_names_it(
    ingress: Ingress,
) -> None:
    await ingress.answer.on_dead_letter(
        Record(f"{PREFIX}.uni-a", 0, 7, b"r-9", b"not json"), "malformed_data: not JSON"
    )
    await ingress.answer.on_dead_letter(Record(f"{PREFIX}.uni-a", 0, 8, None, b"x"), "no key")

    (result,) = ingress.results()
    assert result.request_id == "r-9" and result.status == "rejected"
    assert result.institution_id == UNI_A
    assert "not JSON" in result.errors[0].message
