"""Finding 2: a retry is answered as its first attempt was, even once `valid_until` has passed.

On every path (`POST /v1/credentials`, batch items, Kafka requests, pathway awards) the
validity window is checked against the clock only for a key with no stored record; a new
request past its window is still refused as before. The first attempt is either acknowledged
or stopped by a broker outage after its record was stored (the retry must then publish it).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from credreg_issuer.adapters.fakes import InMemoryIdempotencyRecords, in_memory_adapters
from credreg_issuer.batch_issuance import IssueBatches
from credreg_issuer.bootstrap import build_app
from credreg_issuer.domain import credential_id_for
from credreg_issuer.ingress import AnswerIssuanceRequests
from credreg_issuer.pathway_awards import AwardStackedCredentials, award_key
from credreg_issuer.use_cases import IssueCredentials, ManageInstitutions
from credreg_shared.errors import PublishUnavailable
from credreg_shared.events import CREDENTIALS_TOPIC, models
from credreg_shared.events.cloudevents import Envelope, from_record, new_envelope
from credreg_shared.messaging import InMemoryPublisher
from credreg_shared.messaging.handlers import ConsumedEvent

from .fixtures import ADMIN, Clock, body, keeping_settings

pytestmark = pytest.mark.timeout(30)

DID = "did:web:issuer.example:institutions:uni-a"
T0 = datetime(2025, 1, 6, 9, tzinfo=UTC)
"""When the first attempt is made (any instant: only the clock counts, never the real time)."""
VALID_UNTIL = T0 + timedelta(days=1)
PAST_IT = timedelta(days=2)
"""How far the clock moves between the first attempt and the retry: past `VALID_UNTIL`."""
WINDOW = "Value error, valid_until must be after valid_from (default: now)"
REQUESTS = "unit.credreg.issuance-requests"
RESULTS = "unit.credreg.issuance-results"
PATHWAYS = "unit.credreg.pathways"
BROKER = ["acknowledged", "broker-down"]
"""How the first attempt ended: issued, or its record stored but its event not acknowledged."""


def expiring(**changes: Any) -> Any:
    """A body without `valid_from` whose window closes at `VALID_UNTIL`."""
    return body(valid_until=VALID_UNTIL.isoformat(), **changes)


@dataclass
class World:
    """One kept institution's issuer over fakes, on a clock the test moves."""

    app: FastAPI
    client: httpx.AsyncClient
    publisher: InMemoryPublisher
    records: InMemoryIdempotencyRecords
    clock: Clock
    api_key: str

    def headers(self, idempotency_key: str | None = None) -> dict[str, str]:
        keyed = {"Idempotency-Key": idempotency_key} if idempotency_key else {}
        return {"Authorization": f"Bearer {self.api_key}", **keyed}

    async def post(self, payload: Any, idempotency_key: str | None = None) -> httpx.Response:
        return await self.client.post(
            "/v1/credentials", json=payload, headers=self.headers(idempotency_key)
        )

    async def post_batch(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        answer = await self.client.post(
            "/v1/credential-batches", json={"items": items}, headers=self.headers()
        )
        assert answer.status_code == 202, answer.text
        view: dict[str, Any] = answer.json()
        return view

    async def batch(self, batch_id: str) -> dict[str, Any]:
        answer = await self.client.get(f"/v1/credential-batches/{batch_id}", headers=self.headers())
        assert answer.status_code == 200, answer.text
        view: dict[str, Any] = answer.json()
        return view

    @property
    def issue(self) -> IssueCredentials:
        issue: IssueCredentials = self.app.state.use_cases[IssueCredentials]
        return issue

    @property
    def batches(self) -> IssueBatches:
        batches: IssueBatches = self.app.state.use_cases[IssueBatches]
        return batches

    def issued(self) -> list[str]:
        """The credential ids on the credentials topic, in order."""
        return [
            r.key.decode() for r in self.publisher.records if r.topic.endswith(CREDENTIALS_TOPIC)
        ]

    def down(self) -> None:
        self.publisher.fail_with = PublishUnavailable("the event log did not acknowledge")

    def up(self) -> None:
        self.publisher.fail_with = None


@pytest.fixture
async def world() -> AsyncIterator[World]:
    clock = Clock(T0)
    publisher, records = InMemoryPublisher(), InMemoryIdempotencyRecords()
    fakes = in_memory_adapters(publisher=publisher, records=records)
    app = build_app(keeping_settings(), fakes=fakes, clock=clock)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://issuer") as client:
        created = await client.post(
            "/v1/institutions", json={"slug": "uni-a", "name": "Uni A"}, headers=ADMIN
        )
        assert created.status_code == 201, created.text
        api_key = (await client.post(f"/v1/institutions/{DID}/api-keys", headers=ADMIN)).json()
        yield World(app, client, publisher, records, clock, api_key["key"])


# --- POST /v1/credentials ------------------------------------------------------------------


@pytest.mark.parametrize("first_attempt", BROKER)
async def test_a_retried_post_after_valid_until_answers_the_issued_credential(
    world: World, first_attempt: str
) -> None:
    if first_attempt == "broker-down":
        world.down()
        first = await world.post(expiring(), "enrolment-1")
        assert first.status_code == 503, first.text
        world.up()
    else:
        first = await world.post(expiring(), "enrolment-1")
        assert first.status_code == 201, first.text
    world.clock.move(PAST_IT)

    again = await world.post(expiring(), "enrolment-1")

    assert again.status_code == 201, again.text
    assert again.json()["id"] == credential_id_for(DID, "enrolment-1")
    if first_attempt == "acknowledged":
        assert again.json() == first.json()
    assert world.issued() == [credential_id_for(DID, "enrolment-1")]
    assert again.json()["credential"]["validFrom"] == T0.isoformat().replace("+00:00", "Z")


async def test_a_new_post_past_its_valid_until_is_still_a_422_problem(world: World) -> None:
    world.clock.move(PAST_IT)

    keyed = await world.post(expiring(), "enrolment-2")
    unkeyed = await world.post(expiring())

    for answer in (keyed, unkeyed):
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.json() == {
            "type": "about:blank",
            "title": "Unprocessable Content",
            "status": 422,
            "instance": "/v1/credentials",
            "detail": "The request is not valid; see errors.",
            "errors": [{"loc": ["body"], "msg": WINDOW, "type": "value_error"}],
        }
    assert world.issued() == []
    assert await world.records.get_many(DID, ["enrolment-2"]) == {}


async def test_a_key_of_another_body_is_still_a_409_after_the_window(world: World) -> None:
    assert (await world.post(expiring(), "enrolment-3")).status_code == 201
    world.clock.move(PAST_IT)

    other = await world.post(expiring(name="Another course"), "enrolment-3")

    assert other.status_code == 409, other.text
    assert len(world.issued()) == 1


# --- batches ---------------------------------------------------------------------------------


@pytest.mark.parametrize("first_attempt", BROKER)
async def test_a_batch_item_re_posted_after_valid_until_reports_its_credential(
    world: World, first_attempt: str
) -> None:
    item = {"idempotency_key": "row-1", "credential": expiring()}
    first = await world.post_batch([item])
    if first_attempt == "broker-down":
        world.down()
        with pytest.raises(PublishUnavailable):
            await world.batches.run(first["id"])
        world.up()
    else:
        assert await world.batches.run(first["id"])
    world.clock.move(PAST_IT)

    if first_attempt == "broker-down":
        assert await world.batches.run(first["id"])  # resumed once the broker is back
    again = await world.post_batch([item, {"idempotency_key": "row-2", "credential": expiring()}])
    assert again["counts"] == {"total": 2, "accepted": 0, "rejected": 1, "pending": 1}
    assert await world.batches.run(again["id"])

    issued = credential_id_for(DID, "row-1")
    (resumed,) = (await world.batch(first["id"]))["results"]
    reposted, new = (await world.batch(again["id"]))["results"]
    assert (resumed["status"], resumed["credential_id"]) == ("accepted", issued)
    assert (reposted["status"], reposted["credential_id"]) == ("accepted", issued)
    assert new["status"] == "rejected"
    assert new["errors"] == [{"field": "credential", "message": WINDOW}]
    assert world.issued() == [issued]


async def test_a_new_batch_item_whose_window_passes_before_its_chunk_runs_is_rejected(
    world: World,
) -> None:
    posted = await world.post_batch([{"idempotency_key": "row-3", "credential": expiring()}])
    assert posted["counts"]["pending"] == 1
    world.clock.move(PAST_IT)

    assert await world.batches.run(posted["id"])

    (result,) = (await world.batch(posted["id"]))["results"]
    assert result["status"] == "rejected"
    assert result["errors"] == [{"field": "credential", "message": WINDOW}]
    assert world.issued() == []


# --- Kafka requests ------------------------------------------------------------------------


def ingress_of(world: World) -> AnswerIssuanceRequests:
    return AnswerIssuanceRequests(
        issue=world.issue,
        institutions=world.app.state.use_cases[ManageInstitutions],
        publisher=world.publisher,
        requests_prefix=REQUESTS,
        results_topic=RESULTS,
        source="urn:credreg:issuer",
    )


def delivery(request_id: str, offset: int) -> ConsumedEvent:
    requested = models.IssuanceRequested(
        request_id=request_id, institution_id=DID, credential=expiring()
    )
    envelope = new_envelope(requested, source="urn:registrar:uni-a")
    return ConsumedEvent(envelope, f"{REQUESTS}.uni-a", 0, offset)


def results(world: World) -> list[models.IssuanceResult]:
    return [
        from_record(r.key, r.value, r.headers).data_as(models.IssuanceResult)
        for r in world.publisher.records
        if r.topic == RESULTS
    ]


@pytest.mark.parametrize("first_attempt", BROKER)
async def test_a_kafka_request_redelivered_after_valid_until_is_answered_accepted(
    world: World, first_attempt: str
) -> None:
    ingress, delivered = ingress_of(world), delivery("r-1", 1)
    if first_attempt == "broker-down":
        world.down()
        with pytest.raises(PublishUnavailable):
            await ingress.apply([delivered])
        world.up()
    else:
        await ingress.apply([delivered])
    world.clock.move(PAST_IT)

    await ingress.apply([delivered, delivery("r-2", 2)])

    answered = {r.request_id: r for r in results(world)}
    issued = credential_id_for(DID, "r-1")
    assert (answered["r-1"].status, answered["r-1"].credential_id) == ("accepted", issued)
    assert answered["r-2"].status == "rejected"
    assert [(e.field, e.message) for e in answered["r-2"].errors] == [("credential", WINDOW)]
    assert world.issued() == [issued]


# --- pathway awards --------------------------------------------------------------------------


def completion(holder: str) -> Envelope:
    award = {
        "achievement": {"name": "Data Analyst", "competencies": [{"name": "Analyse data"}]},
        "valid_until": VALID_UNTIL.isoformat(),
    }
    completed = models.PathwayCompleted(
        pathway_id="data-analyst",
        issuer_id=DID,
        holder_id=holder,
        credential_ids=("urn:uuid:a", "urn:uuid:b"),
        award=award,
    )
    return new_envelope(completed, source="urn:credreg:registry")


@pytest.mark.parametrize("first_attempt", BROKER)
async def test_a_completion_redelivered_after_its_award_expired_is_issued_once(
    world: World, first_attempt: str, caplog: pytest.LogCaptureFixture
) -> None:
    awards, completed = AwardStackedCredentials(issue=world.issue), completion("did:example:ada")
    delivered = ConsumedEvent(completed, PATHWAYS, 0, 1)
    if first_attempt == "broker-down":
        world.down()
        with pytest.raises(PublishUnavailable):
            await awards.apply([delivered])
        world.up()
    else:
        await awards.apply([delivered])
    world.clock.move(PAST_IT)

    with caplog.at_level(logging.INFO, logger="credreg_issuer.pathway_awards"):
        new = ConsumedEvent(completion("did:example:bo"), PATHWAYS, 0, 2)
        await awards.apply([delivered, new])

    key, issued = award_key(completed.id), credential_id_for(DID, award_key(completed.id))
    assert world.issued() == [issued]
    messages = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert (logging.INFO, f"pathway award {key}: credential {issued}") in messages
    refused = [message for level, message in messages if level == logging.ERROR]
    assert refused == [f"pathway award {award_key(new.envelope.id)} not issued ({WINDOW}); skipped"]
