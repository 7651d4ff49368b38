"""The issuer in-process over the real Kafka and MongoDB-wire server.

Each test builds the app through the composition root with its own topic namespace and
database and runs its lifespan (indexes, topics, producer). What reached the log is read back
from the topic up to its end offsets: every 201 came after the broker's ack, so an event that
is not there by then never will be.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from credreg_issuer.adapters.mongo import COLLECTION, MongoIdempotencyRecords
from credreg_issuer.bootstrap import build_app
from credreg_issuer.settings import IssuerSettings
from credreg_shared.events import CREDENTIALS_TOPIC, models
from credreg_shared.events.cloudevents import Envelope
from credreg_shared.testing import SettingsFactory, read_log, serving

from .fixtures import OTHER_UNI, UNI, body

pytestmark = pytest.mark.integration

AS_UNI = {"Authorization": "Bearer key-uni"}
AS_OTHER = {"Authorization": "Bearer key-other"}


@dataclass
class Issuer:
    """The running issuer: its settings and a client of its routes."""

    settings: IssuerSettings
    client: httpx.AsyncClient

    async def log(self) -> list[tuple[bytes | None, Envelope]]:
        """Every record now on the credentials topic, decoded: (key, envelope)."""
        return await read_log(
            self.settings.kafka_bootstrap_servers,
            self.settings.topic(CREDENTIALS_TOPIC),
            self.settings.topic_partitions,
        )


@pytest.fixture
async def issuer(service_settings: SettingsFactory) -> AsyncIterator[Issuer]:
    """The issuer app with its lifespan running, over this test's own database and topics."""
    settings: IssuerSettings = await service_settings(
        IssuerSettings, api_keys={"key-uni": UNI, "key-other": OTHER_UNI}
    )
    async with serving(build_app(settings), base_url="http://issuer") as client:
        yield Issuer(settings, client)


def assert_problem(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["status"] == status


async def test_issue_puts_one_credential_issued_event_on_the_topic(issuer: Issuer) -> None:
    settings, client = issuer.settings, issuer.client
    assert (await client.get("/readyz")).status_code == 200
    response = await client.post("/v1/credentials", json=body(), headers=AS_UNI)
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    # The registry's credential route (issuer and holder read it there).
    assert response.headers["location"] == f"{settings.credentials_url}/{answer['id']}"
    assert settings.credentials_url.endswith("/v1/credentials")
    [(key, envelope)] = await issuer.log()
    assert key == answer["id"].encode()
    assert envelope.id == answer["event_id"]
    assert envelope.source == settings.source
    issued = envelope.data_as(models.CredentialIssued)
    assert (issued.credential_id, issued.issuer_id, issued.holder_id) == (
        answer["id"],
        UNI,
        "did:example:ada",
    )
    assert issued.credential == answer["credential"]


async def test_refused_requests_are_problems_and_put_nothing_on_the_topic(issuer: Issuer) -> None:
    client = issuer.client
    bad_body = await client.post("/v1/credentials", json={"holder_id": ""}, headers=AS_UNI)
    assert_problem(bad_body, 422)
    bad_key = await client.post(
        "/v1/credentials", json=body(), headers={"Authorization": "Bearer not-a-key"}
    )
    assert_problem(bad_key, 401)
    no_key = await client.post("/v1/credentials", json=body())
    assert_problem(no_key, 401)
    assert await issuer.log() == []


async def test_an_idempotency_key_issues_one_credential_and_one_event(
    issuer: Issuer, mongo_db: AsyncDatabase[dict[str, Any]]
) -> None:
    client = issuer.client

    def post(headers: dict[str, str], name: str = "Data Literacy") -> Awaitable[httpx.Response]:
        return client.post("/v1/credentials", json=body(name=name), headers=headers)

    keyed = {**AS_UNI, "Idempotency-Key": "enrolment-42"}
    first = await post(keyed)
    assert first.status_code == 201, first.text
    retries = await asyncio.gather(*[post(keyed) for _ in range(3)])
    assert [r.status_code for r in retries] == [201] * 3
    assert all(r.json() == first.json() for r in retries)
    assert_problem(await post(keyed, name="Another course"), 409)
    # The same key from another institution is another credential.
    other = await post({**AS_OTHER, "Idempotency-Key": "enrolment-42"})
    assert other.status_code == 201, other.text
    assert other.json()["id"] != first.json()["id"]

    events = [envelope for _, envelope in await issuer.log()]
    ours = [e for e in events if e.subject == first.json()["id"]]
    assert [e.id for e in ours] == [first.json()["event_id"]]
    assert len(events) == 2
    record = await mongo_db[COLLECTION].find_one({"credential_id": first.json()["id"]})
    assert record is not None
    assert (record["institution_id"], record["key"]) == (UNI, "enrolment-42")
    # Published: the broker's ack is recorded as the record's marker.
    stored = await MongoIdempotencyRecords(mongo_db).get(UNI, "enrolment-42")
    assert stored is not None and stored.published


async def test_fifty_concurrent_retries_with_one_key_put_one_record_on_the_log(
    issuer: Issuer,
) -> None:
    headers = {**AS_UNI, "Idempotency-Key": "convocation-retry"}
    answers = await asyncio.gather(
        *(issuer.client.post("/v1/credentials", json=body(), headers=headers) for _ in range(50))
    )
    assert {a.status_code for a in answers} == {201}
    assert len({a.json()["id"] for a in answers}) == 1
    records = [envelope for _, envelope in await issuer.log()]
    assert len(records) == 1, [e.id for e in records]
