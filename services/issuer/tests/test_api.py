"""The HTTP route over fakes: 201 with Location, 401, 422/409/503 as problem+json."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from credreg_issuer.adapters.fakes import (
    InMemoryIdempotencyRecords,
    in_memory_adapters,
)
from credreg_issuer.bootstrap import build_app
from credreg_issuer.domain import credential_id_for
from credreg_issuer.settings import IssuerSettings
from credreg_shared.credentials.canonicalization import canonicalize_rdf
from credreg_shared.credentials.report import Outcome
from credreg_shared.credentials.verification import verify_credential
from credreg_shared.errors import PublishUnavailable, StorageUnavailable
from credreg_shared.events import CREDENTIALS_TOPIC, models
from credreg_shared.messaging import InMemoryPublisher

from .fixtures import UNI, body

AS_UNI = {"Authorization": "Bearer key-uni"}
SETTINGS = IssuerSettings(
    api_keys={"key-uni": UNI},
    topic_namespace="unit.",
    credentials_url="https://registry.example/v1/credentials",
)
TOPIC = SETTINGS.topic(CREDENTIALS_TOPIC)


@dataclass
class Api:
    client: httpx.AsyncClient
    publisher: InMemoryPublisher
    records: InMemoryIdempotencyRecords

    async def issue(self, payload: Any, headers: Any = None) -> httpx.Response:
        return await self.client.post(
            "/v1/credentials", json=payload, headers=AS_UNI if headers is None else headers
        )


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    publisher, records = InMemoryPublisher(), InMemoryIdempotencyRecords()
    app = build_app(
        SETTINGS,
        fakes=in_memory_adapters(records=records, publisher=publisher),
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://issuer") as client:
        yield Api(client, publisher, records)


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    return problem


async def test_issue_answers_201_with_the_credential_and_its_location(api: Api) -> None:
    response = await api.issue(body())
    assert response.status_code == 201, response.text
    answer = response.json()
    [event] = api.publisher.envelopes(TOPIC)
    issued = event.data_as(models.CredentialIssued)
    assert answer == {
        "id": issued.credential_id,
        "issuer_id": UNI,
        "holder_id": "did:example:ada",
        "event_id": event.id,
        "credential": issued.credential,
    }
    assert response.headers["location"] == (
        f"https://registry.example/v1/credentials/{issued.credential_id}"
    )


async def test_in_person_is_written_in_the_credential_vocabulary(api: Api) -> None:
    payload = body()
    payload["achievement"]["delivery_mode"] = "in_person"
    response = await api.issue(payload)
    assert response.status_code == 201, response.text
    achievement = response.json()["credential"]["credentialSubject"]["achievement"]
    assert achievement["deliveryMode"] == "in-person"


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic a2V5LXVuaQ=="}],
    ids=["missing", "unknown", "not-bearer"],
)
async def test_without_a_known_key_it_is_401_and_nothing_is_published(
    api: Api, headers: dict[str, str]
) -> None:
    assert_problem(await api.issue(body(), headers=headers), 401)
    assert api.publisher.records == []


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"holder_id": "did:example:ada"},
        "not an object",
        body(holder=""),
        body(holder="   "),
        body(unexpected="field"),
        {**body(), "achievement": {"name": "No competencies", "competencies": []}},
    ],
    ids=[
        "empty",
        "no-achievement",
        "not-object",
        "empty-holder",
        "blank-holder",
        "extra",
        "no-competencies",
    ],
)
async def test_junk_bodies_are_422_problems_and_publish_nothing(api: Api, payload: Any) -> None:
    problem = assert_problem(await api.issue(payload), 422)
    assert problem.get("errors") or problem.get("detail")
    assert api.publisher.records == []


def with_competency(**competency: str) -> Any:
    """A valid body whose first competency has these fields."""
    payload = body()
    payload["achievement"]["competencies"][0] = {"name": "Read charts", **competency}
    return payload


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (body(name="Data\x00Literacy"), "name"),
        (body(name="Data\x1bLiteracy"), "name"),
        (
            {**body(), "achievement": {**body()["achievement"], "description": "a\x0bb"}},
            "description",
        ),
        (with_competency(code="DL\x07-1"), "code"),
        (with_competency(name="Read\x1fcharts"), "name"),
    ],
    ids=["nul", "escape", "vertical-tab", "bell-in-code", "unit-separator"],
)
async def test_c0_control_characters_are_422_and_publish_nothing(
    api: Api, payload: Any, field: str
) -> None:
    problem = assert_problem(await api.issue(payload), 422)
    errors = problem["errors"]
    assert any(e["loc"][-1] == field and "control character U+" in e["msg"] for e in errors), errors
    assert api.publisher.records == []


async def test_tab_line_feed_and_carriage_return_are_kept(api: Api) -> None:
    payload = {**body(), "achievement": {**body()["achievement"], "description": "a\tb\nc\r\nd"}}
    response = await api.issue(payload)
    assert response.status_code == 201, response.text
    achievement = response.json()["credential"]["credentialSubject"]["achievement"]
    assert achievement["description"] == "a\tb\nc\r\nd"


async def test_a_too_long_idempotency_key_is_a_422(api: Api) -> None:
    headers = {**AS_UNI, "Idempotency-Key": "k" * 201}
    assert_problem(await api.issue(body(), headers=headers), 422)


async def test_the_idempotency_key_replays_the_same_201_and_publishes_once(api: Api) -> None:
    headers = {**AS_UNI, "Idempotency-Key": "enrolment-42"}
    first = await api.issue(body(), headers=headers)
    again = await api.issue(body(), headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert len(api.publisher.records) == 1
    other = await api.issue(body(name="Another course"), headers=headers)
    assert_problem(other, 409)
    assert len(api.publisher.records) == 1


async def test_broker_down_is_a_503_problem_and_claims_nothing(api: Api) -> None:
    api.publisher.fail_with = PublishUnavailable(
        "the event log did not acknowledge (KafkaConnectionError)"
    )
    problem = assert_problem(await api.issue(body()), 503)
    assert "no credential is confirmed as issued" in problem["detail"]
    assert api.publisher.records == []


async def test_a_broker_that_never_acknowledges_is_a_503_and_the_retry_issues_one(
    api: Api,
) -> None:
    # What the Kafka publisher raises once its bounded wait for the ack is over.
    api.publisher.fail_with = PublishUnavailable("the event log did not acknowledge (TimeoutError)")
    headers = {**AS_UNI, "Idempotency-Key": "enrolment-7"}
    problem = assert_problem(await api.issue(body(), headers=headers), 503)
    assert problem["detail"] == (
        "the event log did not acknowledge (TimeoutError); no credential is confirmed as "
        "issued: retry with the same Idempotency-Key to issue at most one"
    )
    assert api.publisher.records == []

    api.publisher.fail_with = None
    retried = await api.issue(body(), headers=headers)
    assert retried.status_code == 201, retried.text
    assert retried.json()["id"] == credential_id_for(UNI, "enrolment-7")
    again = await api.issue(body(), headers=headers)
    assert again.json() == retried.json()
    assert len(api.publisher.records) == 1


async def test_database_down_is_a_503_problem_and_publishes_nothing(api: Api) -> None:
    api.records.fail_with = StorageUnavailable("the database is unavailable (AutoReconnect)")
    headers = {**AS_UNI, "Idempotency-Key": "enrolment-8"}
    problem = assert_problem(await api.issue(body(), headers=headers), 503)
    assert problem["detail"] == "the database is unavailable (AutoReconnect); nothing was issued"
    assert api.publisher.records == []


async def test_the_route_is_documented_with_its_problems(api: Api) -> None:
    spec = (await api.client.get("/openapi.json")).json()
    responses = spec["paths"]["/v1/credentials"]["post"]["responses"]
    assert {"201", "401", "409", "422", "503"} <= set(responses)


QUALITY_MARKERS = {
    "assessment": {"type": "project", "description": "A capstone graded by two examiners."},
    "accreditations": [
        {
            "accreditor": {"id": "https://quality.example.org", "name": "Quality Board"},
            "id": "https://quality.example.org/accreditations/2026-114",
        }
    ],
    "industry_partners": [{"id": "https://partner.example.com", "name": "Partner Inc."}],
}


async def test_quality_markers_are_issued_in_the_extension_context(api: Api) -> None:
    payload = body()
    payload["achievement"].update(QUALITY_MARKERS)
    response = await api.issue(payload)
    assert response.status_code == 201, response.text
    credential = response.json()["credential"]
    assert "https://w3id.org/credreg/v1" in credential["@context"]
    achievement = credential["credentialSubject"]["achievement"]
    assert achievement["assessment"] == {
        "type": ["AssessmentMethod"],
        "assessmentType": "project",
        "description": "A capstone graded by two examiners.",
    }
    (accreditation,) = achievement["accreditation"]
    assert accreditation["id"] == "https://quality.example.org/accreditations/2026-114"
    assert accreditation["accreditor"]["name"] == "Quality Board"
    assert achievement["industryPartner"][0]["id"] == "https://partner.example.com"
    report = verify_credential(credential)
    assert report.check("schema").outcome is Outcome.PASSED, report.check("schema")
    # Every marker is a term of the context: it survives RDF canonicalisation.
    nquads = canonicalize_rdf(credential)
    for term in ("assessment", "accreditation", "accreditor", "industryPartner"):
        assert f"<https://w3id.org/credreg#{term}>" in nquads


@pytest.mark.parametrize(
    "markers",
    [
        {"assessment": {"type": "exam"}},
        {"accreditations": [{"accreditor": {"id": "not a url"}}]},
        {"industry_partners": [{"id": "https://p.example", "name": "P\x07"}]},
    ],
    ids=["assessment-without-description", "identifier-with-spaces", "control-character"],
)
async def test_bad_quality_markers_are_422(api: Api, markers: dict[str, Any]) -> None:
    payload = body()
    payload["achievement"].update(markers)
    assert_problem(await api.issue(payload), 422)
    assert api.publisher.records == []


async def test_with_an_id_secret_a_known_idempotency_key_does_not_give_the_id_away() -> None:
    publisher, records = InMemoryPublisher(), InMemoryIdempotencyRecords()
    settings = SETTINGS.model_copy(update={"credential_id_secret": SecretStr("deployment key")})
    app = build_app(settings, fakes=in_memory_adapters(records=records, publisher=publisher))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://issuer"
    ) as client:
        api = Api(client, publisher, records)
        headers = {**AS_UNI, "Idempotency-Key": "enrolment-8"}
        first = await api.issue(body(), headers=headers)
        again = await api.issue(body(), headers=headers)
    assert first.status_code == 201, first.text
    assert again.json()["id"] == first.json()["id"], "a retry names the same credential"
    assert first.json()["id"] != credential_id_for(UNI, "enrolment-8")
    assert first.json()["id"] == credential_id_for(UNI, "enrolment-8", secret=b"deployment key")
